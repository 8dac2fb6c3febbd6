//! A crash at every point of a tenant signing-key rotation, then a restart: the real `keyward
//! serve` (test builds carry the `fault-injection` feature) exits with code 86 right after the
//! point named in `KEYWARD_FAULT_EXIT_AFTER`; started again on the same store and the same
//! emulated Auth0 (which outlives the crash and keeps the request log), a retry with the same
//! request_id, or the background task, finishes the work: Auth0 rotated exactly once per request
//! and the previous key is revoked. SQLite always, PostgreSQL when configured.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use keyward::grpc::proto;
use keyward::seal::Kek;
use keyward::store::SigningKeyStore;
use keyward_auth0_emulator::{EmulatorConfig, RunningEmulator, Seed};
use serde_json::Value;
use support::*;

const SEED: &str = include_str!("../crates/keyward-auth0-emulator/examples/seed.json");
const POINTS: [&str; 4] =
    ["signing_keys:recorded", "signing_keys:rotated", "signing_keys:revoking", "signing_keys:revoked"];

fn config(dir: &Path, store_url: &str, emulator_url: &str, token: &str) -> String {
    let kek = dir.join("kek");
    std::fs::write(&kek, Kek::generate(&mut rng()).to_text().as_str()).unwrap();
    let hash: String = keyward::grpc::token_hash(token).iter().map(|b| format!("{b:02x}")).collect();
    let text = format!(
        r#"listen = "127.0.0.1:0"
store = "{store_url}"
[kek]
file = "{kek}"
[auth]
bearer_token_sha256 = ["{hash}"]
[tenants.dev]
domain = "{DOMAIN}"
base_url = "{emulator_url}"
management_client_id = "keyward-management"
management_client_secret = "dev-management-secret-change-me"
clients = ["demo-app"]
signing_keys = {{ max_token_lifetime = "1s", auto_revoke = true }}
"#,
        kek = kek.display()
    );
    let path = dir.join("keyward.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

async fn state(emu: &RunningEmulator) -> Value {
    emulator_state(&emu.base_url()).await
}

async fn rotations_at_auth0(emu: &RunningEmulator) -> usize {
    let s = state(emu).await;
    s["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/api/v2/keys/signing/rotate" && r["status"] == 201)
        .count()
}

/// The kid of the emulator's key with `flag` set.
async fn kid(emu: &RunningEmulator, flag: &str) -> Option<String> {
    let s = state(emu).await;
    s["signing_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k[flag] == true && k["revoked"] == false)
        .map(|k| k["kid"].as_str().unwrap().to_owned())
}

async fn crash_at_every_point(name: &str, store_url: &str) {
    let (_dir, dir) = tempdir();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let emu_config = EmulatorConfig {
        seed: Seed::from_json(SEED).unwrap(),
        domain: Some(DOMAIN.into()),
        control: true,
        ..Default::default()
    };
    let emu = keyward_auth0_emulator::start(listener, emu_config).await.unwrap();
    let token = format!("crash-test-{}", random_hex(16));
    let config = config(&dir, store_url, &emu.base_url(), &token);
    let args = ["serve", "--config", config.as_str()];
    let store = open_store(store_url).await;

    for (i, point) in POINTS.into_iter().enumerate() {
        let what = format!("{name} {point}");
        let rid = format!("crash-{i}");
        let next_before = kid(&emu, "next").await.unwrap();
        let mut k = start(&args, &[("KEYWARD_FAULT_EXIT_AFTER", point)]);
        let req = proto::RotateTenantSigningKeysRequest { tenant: "dev".into(), request_id: rid.clone(), plan: false };
        let answer = k.client(&token).await.rotate_tenant_signing_keys(req.clone()).await;
        if point.ends_with("recorded") || point.ends_with("rotated") {
            assert!(answer.is_err(), "{what}: the process should have died mid-call");
        } else {
            // The crash comes later, when the background task revokes the previous key.
            assert!(answer.is_ok(), "{what}: {answer:?}");
        }
        let (code, out) = k.wait_exit(&what, Duration::from_secs(60));
        assert_eq!(code, Some(86), "{what}: {out:#?}");

        // Restarted without the fault: the retry (or the background task) finishes the request.
        let k = start(&args, &[]);
        let r = k.client(&token).await.rotate_tenant_signing_keys(req).await.unwrap().into_inner();
        let r = r.rotation.unwrap();
        assert_eq!(r.current_kid, next_before, "{what}: the old next key is current");
        assert!(r.verified, "{what}");
        assert_eq!(rotations_at_auth0(&emu).await, i + 1, "{what}: Auth0 rotated once per request");
        let row = eventually(&format!("{what}: the previous key revoked"), || async {
            let row = store.signing_key_rotation_by_request("dev", &rid).await.unwrap().unwrap();
            (row.state == "completed").then_some(row)
        })
        .await;
        let previous = row.previous_kid.unwrap();
        let s = state(&emu).await;
        let k_prev = s["signing_keys"].as_array().unwrap().iter().find(|k| k["kid"] == previous.as_str()).cloned();
        // Revoked keys beyond the last 3 drop off the list; a listed one must be revoked.
        assert!(k_prev.is_none_or(|k| k["revoked"] == true), "{what}: {s}");
        assert_eq!(kid(&emu, "previous").await, None, "{what}: no unrevoked previous key is left");
        k.kill();
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_every_point_of_a_signing_key_rotation_resumes() {
    let (_dir, dir) = tempdir();
    crash_at_every_point("sqlite", &format!("sqlite://{}", dir.join("keyward.db").display())).await;
    if let Some(url) = pg_schema_url().await {
        crash_at_every_point("postgres", &url).await;
    }
}
