//! The rotation saga against the real emulator over HTTP, on SQLite and PostgreSQL: happy path,
//! repeated rotations within Auth0's limits, retirement, slot refusals, unknown outcomes,
//! outages, idempotency and concurrency. The emulator's state is the independent witness.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use keyward::config::Defaults;
use keyward::context::Context;
use keyward::rotation::{Engine, RotateRequest};
use keyward::seal::{self, Kek, KeyIdentity};
use keyward::store::{AuditStore, KeyState, KeyStore, RotationState, RotationStore, SqlStore, Store};
use keyward::tenant::Tenant;
use keyward_auth0_emulator::RunningEmulator;
use keyward_crypto::Algorithm;
use serde_json::{Value, json};
use support::rng;

const SEED: &str = include_str!("../crates/keyward-auth0-emulator/examples/seed.json");
const APP: &str = "demo-app";

struct World {
    emu: RunningEmulator,
    engine: Engine,
    store: Arc<SqlStore>,
    kek: Arc<Kek>,
    http: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
}

async fn stores() -> Vec<(&'static str, Arc<SqlStore>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqlStore::connect(&format!("sqlite://{}", dir.path().join("k.db").display())).await.unwrap();
    let mut out: Vec<(&'static str, Arc<SqlStore>, Option<tempfile::TempDir>)> =
        vec![("sqlite", Arc::new(sqlite), Some(dir))];
    if let Some(url) = support::pg_schema_url().await {
        out.push(("postgres", Arc::new(SqlStore::connect(&url).await.unwrap()), None));
    }
    out
}

async fn world(store: Arc<SqlStore>, dir: Option<tempfile::TempDir>, seed: &str, grace: Duration) -> World {
    let (emu, tenant) = support::dev_tenant(seed, &[APP, "other-app"], &["con_demooidc0000001"]).await;
    let tenants = BTreeMap::from([("dev".to_owned(), Tenant::connect(tenant).unwrap())]);
    let kek = Arc::new(Kek::generate(&mut rng()));
    let defaults = Defaults { grace_period: grace, algorithm: Algorithm::RS256, key_bits: 2048 };
    let engine = Engine::new(&Context::new(store.clone() as Arc<dyn Store>, tenants, kek.clone()), defaults);
    World { emu, engine, store, kek, http: reqwest::Client::new(), _dir: dir }
}

fn request() -> RotateRequest {
    RotateRequest { tenant: "dev".into(), client_id: APP.into(), ..Default::default() }
}

impl World {
    async fn state(&self) -> Value {
        self.http.get(format!("{}/__emulator/state", self.emu.base_url())).send().await.unwrap().json().await.unwrap()
    }

    async fn app(&self) -> Value {
        self.state().await["clients"].as_array().unwrap().iter().find(|c| c["client_id"] == APP).unwrap().clone()
    }

    async fn fault(&self, f: Value) {
        self.http.post(format!("{}/__emulator/faults", self.emu.base_url())).json(&f).send().await.unwrap();
    }

    /// The invariants of the rotation-service issue, checked against the emulator and the store.
    async fn check_invariants(&self, name: &str) {
        let app = self.app().await;
        let creds = app["credentials"].as_array().unwrap();
        let attached: Vec<&Value> = creds.iter().filter(|c| c["attached"] == true).collect();
        assert!(attached.len() <= 2, "{name}: {app}");
        assert!(creds.len() <= 4, "{name}: {app}");
        let keys = self.store.keys("dev", APP).await.unwrap();
        for c in &attached {
            let id = c["id"].as_str().unwrap();
            if let Some(k) = keys.iter().find(|k| k.credential_id.as_deref() == Some(id)) {
                assert_ne!(k.state, KeyState::Retired, "{name}: attached credential {id} has no private key");
                let who = KeyIdentity { tenant: "dev", client_id: APP, key_id: &k.key_id };
                assert!(seal::open(&[&self.kek], who, &k.sealed).is_ok(), "{name}: {id}");
            }
        }
        // No keyward-created credential is orphaned: each is attached, or its key still retires.
        for c in creds.iter().filter(|c| c["attached"] == false) {
            let id = c["id"].as_str().unwrap();
            assert!(keys.iter().all(|k| k.credential_id.as_deref() != Some(id)), "{name}: orphan {id}");
        }
        // The active key works for a private_key_jwt token exchange.
        if let Some(active) = keys.iter().find(|k| k.state == KeyState::Active) {
            let (status, body) = self.exchange_with(active).await;
            assert_eq!(status, 200, "{name}: {body}");
        }
    }

    async fn exchange_with(&self, key: &keyward::store::KeyRecord) -> (u16, Value) {
        support::exchange(&self.emu.base_url(), &[&self.kek], key).await
    }
}

#[tokio::test]
async fn first_rotation_activates_a_working_key() {
    for (name, store, dir) in stores().await {
        let w = world(store, dir, SEED, Duration::from_secs(600)).await;
        let out = w.engine.rotate_client(&request()).await.unwrap();
        assert_eq!(out.rotation.state, RotationState::Completed, "{name}: nothing to retire on the first rotation");
        let key = out.credential.unwrap();
        assert_eq!(key.state, KeyState::Active);
        let app = w.app().await;
        assert_eq!(app["credentials"].as_array().unwrap().len(), 1, "{name}");
        assert_eq!(app["credentials"][0]["kid"], key.kid);
        assert_eq!(app["credentials"][0]["attached"], true);
        assert_eq!(app["credentials"][0]["id"].as_str(), key.credential_id.as_deref());
        // The certificate artifacts are Auth0-shaped and the emulator's kid matches ours.
        let cert = keyward_crypto::Certificate::from_pem(&key.cert_pem).unwrap();
        assert_eq!(cert.public_key().unwrap().thumbprint().unwrap(), key.kid);
        w.check_invariants(name).await;
        let events = w.store.audit_after(0, 100).await.unwrap();
        assert!(events.iter().any(|e| e.kind == "rotation.registered"), "{name}");
    }
}

#[tokio::test]
async fn a_rotation_keeps_the_active_keys_algorithm_and_size_unless_asked() {
    use keyward_crypto::Algorithm;
    for (name, store, dir) in stores().await {
        let w = world(store, dir, SEED, Duration::from_secs(600)).await;
        // The first key takes the configured defaults.
        let first = w.engine.rotate_client(&request()).await.unwrap().credential.unwrap();
        assert_eq!((first.algorithm, first.key_bits), (Algorithm::RS256, 2048), "{name}");
        // Asked for RS384/3072, then rotated plainly: the choice sticks.
        let asked = RotateRequest { algorithm: Some(Algorithm::RS384), key_bits: Some(3072), ..request() };
        let second = w.engine.rotate_client(&asked).await.unwrap().credential.unwrap();
        assert_eq!((second.algorithm, second.key_bits), (Algorithm::RS384, 3072), "{name}");
        let third = w.engine.rotate_client(&request()).await.unwrap().credential.unwrap();
        assert_eq!((third.algorithm, third.key_bits), (Algorithm::RS384, 3072), "{name}: a plain rotation keeps it");
        // Asking for an algorithm alone keeps the RSA size.
        let ps = RotateRequest { algorithm: Some(Algorithm::PS256), ..request() };
        let fourth = w.engine.rotate_client(&ps).await.unwrap().credential.unwrap();
        assert_eq!((fourth.algorithm, fourth.key_bits), (Algorithm::PS256, 3072), "{name}");
        let (status, body) = w.exchange_with(&fourth).await;
        assert_eq!(status, 200, "{name}: {body}");
        w.check_invariants(name).await;
    }
}

#[tokio::test]
async fn ten_rotations_stay_within_auth0_limits() {
    for (name, store, dir) in stores().await {
        let w = world(store, dir, SEED, Duration::from_secs(600)).await;
        let mut last = None;
        for i in 0..10 {
            let out = w.engine.rotate_client(&request()).await.unwrap_or_else(|e| panic!("{name} rotation {i}: {e}"));
            last = out.credential;
            w.check_invariants(name).await;
        }
        let keys = w.store.keys("dev", APP).await.unwrap();
        let active: Vec<_> = keys.iter().filter(|k| k.state == KeyState::Active).collect();
        let retiring: Vec<_> = keys.iter().filter(|k| k.state == KeyState::Retiring).collect();
        assert_eq!(active.len(), 1, "{name}");
        assert_eq!(active[0].key_id, last.unwrap().key_id, "{name}: the newest key is active");
        assert!(retiring.len() <= 1, "{name}: {retiring:?}");
        assert!(keys.iter().filter(|k| k.state == KeyState::Retired).all(|k| k.sealed.ciphertext.is_empty()));
    }
}

#[tokio::test]
async fn old_key_retires_after_the_grace_period() {
    for (name, store, dir) in stores().await {
        let w = world(store, dir, SEED, Duration::from_millis(1)).await;
        w.engine.rotate_client(&request()).await.unwrap();
        let second = w.engine.rotate_client(&request()).await.unwrap();
        assert_eq!(second.rotation.state, RotationState::Active);
        let old = second.previous.unwrap();
        assert_eq!(old.state, KeyState::Retiring);
        // Both keys work during the grace period.
        assert_eq!(w.exchange_with(&old).await.0, 200, "{name}");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = keyward::clock::wall_now();
        assert_eq!(w.engine.retire_due(now).await.unwrap(), 1, "{name}");
        let app = w.app().await;
        let ids: Vec<&str> = app["credentials"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [second.credential.unwrap().credential_id.unwrap()], "{name}");
        assert_eq!(w.store.key(&old.key_id).await.unwrap().unwrap().state, KeyState::Retired);
        assert_eq!(w.engine.rotation(&second.rotation.rotation_id).await.unwrap().state, RotationState::Completed);
        w.check_invariants(name).await;
    }
}

#[tokio::test]
async fn unmanaged_slots_refuse_without_eviction_and_nothing_changes() {
    for (name, store, dir) in stores().await {
        let w = world(store, dir, SEED, Duration::from_secs(600)).await;
        // Two credentials keyward does not manage, both attached.
        let token = support::management_token(&w.http, &w.emu.base_url()).await;
        support::hand_made_credentials(&w.http, &w.emu.base_url(), &token, &["by hand 1", "by hand 2"]).await;
        let before = w.app().await;
        let err = w.engine.rotate_client(&request()).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, keyward::Error::FailedPrecondition(_)), "{name}: {err}");
        assert!(msg.contains("unmanaged") && msg.contains("evict_unmanaged"), "{name}: {msg}");
        assert_eq!(w.app().await["credentials"], before["credentials"], "{name}: nothing changed at Auth0");
        // With permission, one unmanaged credential makes room.
        let out = w.engine.rotate_client(&RotateRequest { evict_unmanaged: true, ..request() }).await.unwrap();
        assert_eq!(out.credential.unwrap().state, KeyState::Active, "{name}");
        w.check_invariants(name).await;
    }
}

#[tokio::test]
async fn a_retiring_key_with_live_assertions_is_not_retired_early() {
    for (name, store, dir) in stores().await {
        let w = world(store, dir, SEED, Duration::from_secs(600)).await;
        w.engine.rotate_client(&request()).await.unwrap();
        w.engine.rotate_client(&request()).await.unwrap();
        // The retiring key signed an assertion that is still live for five minutes.
        let keys = w.store.keys("dev", APP).await.unwrap();
        let mut retiring = keys.iter().find(|k| k.state == KeyState::Retiring).unwrap().clone();
        let live_until = keyward::clock::wall_now().plus_ms(300_000);
        retiring.last_signed_exp = Some(live_until);
        w.store.overwrite_key(&retiring).await.unwrap();
        let before = w.app().await;

        let err = w.engine.rotate_client(&request()).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, keyward::Error::FailedPrecondition(_)), "{name}: {err}");
        assert!(msg.contains("can proceed at"), "{name}: the refusal names the time: {msg}");
        let app = w.app().await;
        let attached = |a: &Value| -> Vec<Value> {
            a["credentials"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["attached"] == true)
                .map(|c| c["id"].clone())
                .collect()
        };
        assert_eq!(attached(&app), attached(&before), "{name}: the live key stays attached");
        assert_eq!(w.store.key(&retiring.key_id).await.unwrap().unwrap().state, KeyState::Retiring, "{name}");
        w.check_invariants(name).await;

        // Once its assertions have expired, the next rotation retires it early at once.
        retiring.last_signed_exp = Some(keyward::clock::wall_now().plus_ms(-1));
        w.store.overwrite_key(&retiring).await.unwrap();
        w.engine.rotate_client(&request()).await.unwrap();
        assert_eq!(w.store.key(&retiring.key_id).await.unwrap().unwrap().state, KeyState::Retired, "{name}");
        w.check_invariants(name).await;
    }
}

#[tokio::test]
async fn unknown_outcomes_are_reconciled_and_outages_resume() {
    for (name, store, dir) in stores().await {
        let w = world(store, dir, SEED, Duration::from_secs(600)).await;
        // The create took effect but the answer was lost: matched by kid, not duplicated.
        w.fault(json!({"method": "POST", "path_prefix": format!("/api/v2/clients/{APP}/credentials"), "action": {"kind": "drop_after"}})).await;
        // The attach took effect but the answer was lost: confirmed by reading the client.
        w.fault(json!({"method": "PATCH", "path_prefix": format!("/api/v2/clients/{APP}"), "action": {"kind": "drop_after"}})).await;
        let out = w.engine.rotate_client(&request()).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(w.app().await["credentials"].as_array().unwrap().len(), 1, "{name}: no duplicate credential");
        assert_eq!(out.credential.unwrap().state, KeyState::Active);

        // Auth0 down: UNAVAILABLE, the rotation stays open, and a retry with the same request_id resumes it.
        w.fault(json!({"path_prefix": "/api/v2/", "times": 50, "action": {"kind": "status", "status": 503}})).await;
        let req = RotateRequest { request_id: Some("outage-1".into()), ..request() };
        let err = w.engine.rotate_client(&req).await.unwrap_err();
        assert!(matches!(err, keyward::Error::Unavailable(_)), "{name}: {err}");
        assert_eq!(w.store.open_rotations().await.unwrap().len(), 1, "{name}");
        w.http.delete(format!("{}/__emulator/faults", w.emu.base_url())).send().await.unwrap();
        let resumed = w.engine.rotate_client(&req).await.unwrap();
        assert_eq!(resumed.rotation.state, RotationState::Active, "{name}");
        assert_eq!(resumed.rotation.request_id.as_deref(), Some("outage-1"));
        w.check_invariants(name).await;
    }
}

#[tokio::test]
async fn auth0_rate_limits_are_waited_out_or_paused_and_resumed() {
    for (name, store, dir) in stores().await {
        let w = world(store, dir, SEED, Duration::from_secs(600)).await;
        // One 429 whose x-ratelimit-reset (epoch seconds) is a second away: waited out.
        let reset = (keyward::clock::wall_now().as_secs() + 1).to_string();
        w.fault(json!({"method": "POST", "path_prefix": format!("/api/v2/clients/{APP}/credentials"), "times": 1,
            "action": {"kind": "status", "status": 429, "headers": {"x-ratelimit-limit": "50", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}}}))
            .await;
        let out = w.engine.rotate_client(&request()).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out.credential.unwrap().state, KeyState::Active, "{name}");
        let creates = w.state().await["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["method"] == "POST" && r["path"] == format!("/api/v2/clients/{APP}/credentials"))
            .count();
        assert_eq!(creates, 2, "{name}: the 429, then the retry after the reset");

        // Rate-limited beyond the adapter's patience: UNAVAILABLE, the rotation stays open and
        // resumes when the limit lifts.
        let far = (keyward::clock::wall_now().as_secs() + 3600).to_string();
        w.fault(json!({"path_prefix": "/api/v2/", "times": 100,
            "action": {"kind": "status", "status": 429, "headers": {"x-ratelimit-reset": far}}}))
            .await;
        let req = RotateRequest { request_id: Some("limited".into()), ..request() };
        let err = w.engine.rotate_client(&req).await.unwrap_err();
        assert!(matches!(err, keyward::Error::Unavailable(_)), "{name}: {err}");
        assert_eq!(w.store.open_rotations().await.unwrap().len(), 1, "{name}: resumable");
        w.http.delete(format!("{}/__emulator/faults", w.emu.base_url())).send().await.unwrap();
        let resumed = w.engine.resume_open(true).await;
        assert!(resumed.iter().all(|(_, r)| matches!(r, Ok(RotationState::Active))), "{name}: {resumed:?}");
        w.check_invariants(name).await;
    }
}

#[tokio::test]
async fn idempotency_and_concurrency() {
    for (name, store, dir) in stores().await {
        let w = Arc::new(world(store, dir, SEED, Duration::from_secs(600)).await);
        let req = RotateRequest { request_id: Some("req-42".into()), ..request() };
        let a = w.engine.rotate_client(&req).await.unwrap();
        let b = w.engine.rotate_client(&req).await.unwrap();
        assert_eq!(a.rotation.rotation_id, b.rotation.rotation_id, "{name}");
        assert_eq!(w.app().await["credentials"].as_array().unwrap().len(), 1);
        let other = RotateRequest { key_bits: Some(3072), ..req.clone() };
        let err = w.engine.rotate_client(&other).await.unwrap_err();
        assert!(matches!(err, keyward::Error::InvalidArgument { flag: "request_id", .. }), "{name}: {err}");

        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let w = w.clone();
                tokio::spawn(async move { w.engine.rotate_client(&request()).await })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(keyward::Error::Aborted(m)) => assert!(m.contains("in progress"), "{m}"),
                Err(e) => panic!("{name}: {e}"),
            }
        }
        assert!(ok >= 1, "{name}");
        w.check_invariants(name).await;
    }
}

#[tokio::test]
async fn bad_requests_change_nothing() {
    for (name, store, dir) in stores().await {
        let w = world(store, dir, SEED, Duration::from_secs(600)).await;
        let cases: Vec<(RotateRequest, &str)> = vec![
            (RotateRequest { tenant: "nope".into(), ..request() }, "tenant"),
            (RotateRequest { client_id: "stranger".into(), ..request() }, "client"),
            (RotateRequest { algorithm: Some(Algorithm::ES256), ..request() }, "algorithm"),
            (RotateRequest { key_bits: Some(1024), ..request() }, "key_bits"),
            (RotateRequest { grace_period: Some(Duration::from_secs(365 * 24 * 3600)), ..request() }, "grace_period"),
            (RotateRequest { credential_lifetime: Some(Duration::from_secs(5)), ..request() }, "credential_lifetime"),
            (RotateRequest { request_id: Some("x".repeat(129)), ..request() }, "request_id"),
        ];
        for (req, field) in cases {
            let err = w.engine.rotate_client(&req).await.unwrap_err();
            assert!(err.to_string().contains(field), "{name}: {field}: {err}");
        }
        assert!(w.store.open_rotations().await.unwrap().is_empty());
        assert!(w.store.keys("dev", APP).await.unwrap().is_empty());
        assert_eq!(w.app().await["credentials"], json!([]), "{name}");
    }
}

/// The next rotation may evict a retiring key early to free an Auth0 slot (nothing it signed is
/// live): the key is retired through the store first (no replica can sign with it after that),
/// and the rotation that was retiring it completes instead of staying ACTIVE for ever.
#[tokio::test]
async fn a_key_evicted_early_completes_the_rotation_that_was_retiring_it() {
    for (name, store, dir) in stores().await {
        let w = world(store, dir, SEED, Duration::ZERO).await;
        w.engine.rotate_client(&request()).await.unwrap();
        let second = w.engine.rotate_client(&request()).await.unwrap().rotation;
        assert_eq!(second.state, RotationState::Active, "{name}: its old key waits for the background task");
        w.engine.rotate_client(&request()).await.unwrap();
        let r = w.store.rotation(&second.rotation_id).await.unwrap().unwrap();
        assert_eq!(r.state, RotationState::Completed, "{name}: its old key was evicted");
        let old = w.store.key(r.old_key_id.as_deref().unwrap()).await.unwrap().unwrap();
        assert_eq!(old.state, KeyState::Retired, "{name}");
        assert!(old.sealed.ciphertext.is_empty(), "{name}: the evicted key is destroyed");
        assert!(
            !w.store.extend_signed_exp(&old.key_id, keyward::clock::Timestamp::MAX).await.unwrap(),
            "{name}: it cannot sign"
        );
        support::check_invariants(name, &w.emu.base_url(), &*w.store, &[&w.kek]).await;
    }
}

/// A retiring key whose retirement began (marked retired) but whose Auth0 clean-up failed is
/// then evicted by the retried rotation: the rotation that was retiring it completes too.
#[tokio::test]
async fn an_evicted_key_whose_retirement_began_completes_its_rotation() {
    for (name, store, dir) in stores().await {
        let w = world(store, dir, SEED, Duration::from_secs(3600)).await;
        let req = |id: &str| RotateRequest { request_id: Some(id.into()), ..request() };
        w.engine.rotate_client(&req("r1")).await.unwrap();
        let r2 = w.engine.rotate_client(&req("r2")).await.unwrap().rotation;
        // Auth0 refuses the PATCH that would detach r2's old key: r3 pauses after retiring it.
        w.fault(json!({"method": "PATCH", "path_prefix": format!("/api/v2/clients/{APP}"), "times": 10,
                       "action": {"kind": "status", "status": 503}}))
            .await;
        assert!(w.engine.rotate_client(&req("r3")).await.is_err(), "{name}");
        w.http.delete(format!("{}/__emulator/faults", w.emu.base_url())).send().await.unwrap();
        let r3 = w.engine.rotate_client(&req("r3")).await.unwrap().rotation;
        assert_eq!(r3.state, RotationState::Active, "{name}");
        let r2 = w.store.rotation(&r2.rotation_id).await.unwrap().unwrap();
        assert_eq!(r2.state, RotationState::Completed, "{name}: its old key was evicted by r3");
        w.engine.retire_due(keyward::clock::wall_now() + Duration::from_secs(2 * 3600)).await.unwrap();
        let r3 = w.store.rotation(&r3.rotation_id).await.unwrap().unwrap();
        assert_eq!(r3.state, RotationState::Completed, "{name}");
        support::check_invariants(name, &w.emu.base_url(), &*w.store, &[&w.kek]).await;
    }
}
