//! The signer path without the network, beside the raw signature it wraps, in one run: cache
//! lookup, the horizon check, the hop to the signing pool, the claims, the signature and the
//! compact encoding of a client assertion, for each client-credential algorithm.
//!
//! `cargo bench --bench signer`. The key is made by a real rotation against the in-process
//! emulator, so the cache holds exactly what the service would.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use keyward::config::{Defaults, ManagementAuth, TenantConfig};
use keyward::context::Context;
use keyward::rotation::{Engine, RotateRequest};
use keyward::seal::Kek;
use keyward::signing::Signing;
use keyward::store::SqlStore;
use keyward::tenant::Tenant;
use keyward_auth0_emulator::{EmulatorConfig, Seed};
use keyward_crypto::Algorithm;

const SEED: &str = include_str!("../crates/keyward-auth0-emulator/examples/seed.json");

fn signer_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (engine, signing) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let seed = Seed::from_json(SEED).unwrap();
        let config = EmulatorConfig { seed, domain: Some("bench.keyward.local".into()), ..Default::default() };
        let emu = keyward_auth0_emulator::start(listener, config).await.unwrap();
        let tenant = TenantConfig {
            name: "dev".into(),
            domain: "bench.keyward.local".into(),
            base_url: Some(emu.base_url()),
            ca_file: None,
            management_client_id: "keyward-management".into(),
            management_auth: ManagementAuth::Secret("dev-management-secret-change-me".to_owned().into()),
            clients: ["demo-app".to_owned()].into(),
            connections: Default::default(),
            signing: Default::default(),
            custody: Default::default(),
            signing_keys: Default::default(),
            inventory: Default::default(),
        };
        let store =
            Arc::new(SqlStore::connect(&format!("sqlite://{}", dir.path().join("k.db").display())).await.unwrap());
        let kek = Arc::new(Kek::generate(&mut rand_core::UnwrapErr(getrandom::SysRng)));
        let defaults = Defaults { grace_period: Duration::ZERO, algorithm: Algorithm::RS256, key_bits: 2048 };
        let tenants = BTreeMap::from([("dev".to_owned(), Tenant::connect(tenant).unwrap())]);
        let ctx = Context::new(store, tenants, kek);
        let engine = Arc::new(Engine::new(&ctx, defaults));
        std::mem::forget(emu);
        (engine, Arc::new(Signing::new(&ctx, Default::default()).unwrap()))
    });
    let mut group = c.benchmark_group("signer_path");
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        rt.block_on(async {
            let req = RotateRequest {
                tenant: "dev".into(),
                client_id: "demo-app".into(),
                algorithm: Some(alg),
                grace_period: Some(Duration::ZERO),
                ..Default::default()
            };
            engine.rotate_client(&req).await.unwrap();
            signing.cache().refresh(true).await.unwrap();
        });
        group.bench_function(format!("sign_client_assertion/{alg}-2048"), |b| {
            b.iter(|| rt.block_on(signing.sign_client_assertion("bench", "dev", "demo-app", None, None)).unwrap());
        });
        let key = signing.cache().get("dev", "demo-app").unwrap().active.clone().unwrap();
        group.bench_function(format!("raw_signature/{alg}-2048"), |b| {
            let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
            b.iter(|| key.signer.sign(&mut rng, black_box(&[b'k'; 300])).unwrap());
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3));
    targets = signer_path
}
criterion_main!(benches);
