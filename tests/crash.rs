//! Crash at every saga state, then restart: the real `keyward` binary (test builds carry the
//! `fault-injection` feature) exits with code 86 right after persisting the state named in
//! `KEYWARD_FAULT_EXIT_AFTER`; started again on the same store and the same Auth0, it resumes the
//! rotation without being asked, and the invariants hold. SQLite through `keyward dev` (its
//! emulated tenant dies with it and comes back from its state file), PostgreSQL through
//! `keyward serve --config` against an emulator that outlives the crash.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use keyward::grpc::proto::{self, RotationState as PbState};
use keyward::seal::Kek;
use keyward::store::{CredentialMethod, KeyStore, RotationState, RotationStore};
use keyward_auth0_emulator::{EmulatorConfig, Seed};
use support::*;

const SEED: &str = include_str!("../crates/keyward-auth0-emulator/examples/seed.json");

/// Every state the saga persists, in order; the last two are reached by background retirement.
const STATES: [&str; 8] =
    ["PLANNED", "KEY_GENERATED", "SLOT_FREED", "REGISTERED", "ATTACHED", "ACTIVE", "RETIRED", "COMPLETED"];

/// How to start keyward against one store and one emulated Auth0.
struct Target {
    name: &'static str,
    args: Vec<String>,
    token: String,
    store_url: String,
    kek_file: PathBuf,
    /// Where the emulator's URL is (re)written by `keyward dev`, or the URL itself.
    emulator: Emulator,
}

enum Emulator {
    UrlFile(PathBuf),
    Running(keyward_auth0_emulator::RunningEmulator),
}

impl Target {
    fn start(&self, fault: Option<&str>) -> Keyward {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        match fault {
            Some(f) => start(&args, &[("KEYWARD_FAULT_EXIT_AFTER", f)]),
            None => start(&args, &[]),
        }
    }

    fn emulator_url(&self) -> String {
        match &self.emulator {
            Emulator::UrlFile(p) => std::fs::read_to_string(p).unwrap().trim().to_owned(),
            Emulator::Running(e) => e.base_url(),
        }
    }

    fn token(&self) -> String {
        if self.token.is_empty() {
            let Emulator::UrlFile(p) = &self.emulator else { unreachable!() };
            std::fs::read_to_string(p.with_file_name("token")).unwrap().trim().to_owned()
        } else {
            self.token.clone()
        }
    }
}

fn request(request_id: &str, grace: Option<Duration>, method: &str) -> proto::RotateClientCredentialRequest {
    proto::RotateClientCredentialRequest {
        method: method.into(),
        tenant: "dev".into(),
        client_id: APP.into(),
        request_id: request_id.into(),
        grace_period: grace.map(|g| prost_types::Duration { seconds: g.as_secs() as i64, nanos: 0 }),
        ..Default::default()
    }
}

/// Crashes a rotation of `method` ("" = private_key_jwt) after every state. A JAR run starts with a
/// private_key_jwt key as well, which its crashes must leave alone.
async fn crash_at_every_state(t: &Target, method: &str) {
    let name = t.name;
    let jar = method == "signed_request_object";
    // A first rotation, so that every crash below happens with an active key to keep.
    let k = t.start(None);
    if jar {
        let pk = k.client(&t.token()).await.rotate_client_credential(request("first-pkjwt", None, "")).await.unwrap();
        assert_eq!(pk.into_inner().rotation.unwrap().state, PbState::Completed as i32, "{name}");
    }
    let first = k.client(&t.token()).await.rotate_client_credential(request("first", None, method)).await.unwrap();
    assert_eq!(first.into_inner().rotation.unwrap().state, PbState::Completed as i32, "{name}");
    k.kill();

    for state in STATES {
        let late = matches!(state, "RETIRED" | "COMPLETED");
        let rid = format!("crash-after-{state}");
        let mut k = t.start(Some(state));
        let answer = k
            .client(&t.token())
            .await
            .rotate_client_credential(request(&rid, late.then_some(Duration::from_secs(1)), method))
            .await;
        if late {
            // The crash comes when an old key retires: in the background after this rotation
            // finished, or during it, when it evicts an earlier rotation's retiring key early
            // to free an Auth0 slot (that rotation then becomes RETIRED and COMPLETED).
            if let Ok(r) = answer {
                assert_eq!(r.into_inner().rotation.unwrap().state, PbState::Active as i32, "{name} {state}");
            }
        } else {
            assert!(answer.is_err(), "{name} {state}: the process should have died mid-call");
        }
        let (code, out) = k.wait_exit(&format!("{name} {state}"), Duration::from_secs(60));
        assert_eq!(code, Some(86), "{name} {state}: {out:#?}");

        // Restarted without the fault: the rotation resumes by itself.
        let k = t.start(None);
        let store = open_store(&t.store_url).await;
        let want = if late { RotationState::Completed } else { RotationState::Active };
        let r = eventually(&format!("{name} {state}: the rotation to resume"), || async {
            store.rotation_by_request("dev", &rid).await.unwrap().filter(|r| r.state == want)
        })
        .await;
        assert!(r.new_credential_id.is_some(), "{name} {state}: {r:?}");
        if jar {
            check_jar_invariants(&format!("{name} after a crash at {state}"), &t.emulator_url(), &store).await;
            k.kill();
            continue;
        }
        check_invariants(
            &format!("{name} after a crash at {state}"),
            &t.emulator_url(),
            &store,
            &kek_ring(&t.kek_file).all(),
        )
        .await;
        // Nothing was lost: the store and Auth0 agree on the client's active credential.
        let keys = store.keys("dev", APP).await.unwrap();
        let active = keys.iter().find(|k| k.state == keyward::store::KeyState::Active).unwrap();
        let app = app(&t.emulator_url()).await;
        assert!(
            app["credentials"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["kid"] == active.kid.as_str() && c["attached"] == true),
            "{name} {state}: the active key is not attached at Auth0: {app}"
        );
        k.kill();
    }
}

#[tokio::test]
async fn sqlite_via_keyward_dev_survives_a_crash_at_every_state() {
    let (_dir, path) = tempdir();
    let dir = path.join("dev");
    let target = Target {
        name: "sqlite",
        args: vec!["dev".into(), "--dir".into(), dir.display().to_string(), "--listen".into(), "127.0.0.1:0".into()],
        token: String::new(),
        store_url: format!("sqlite://{}", dir.join("keyward.db").display()),
        kek_file: dir.join("kek"),
        emulator: Emulator::UrlFile(dir.join("emulator-url")),
    };
    crash_at_every_state(&target, "").await;
}

#[tokio::test]
async fn sqlite_via_keyward_dev_survives_a_crash_at_every_state_of_a_jar_rotation() {
    let (_dir, path) = tempdir();
    let dir = path.join("dev");
    let target = Target {
        name: "sqlite jar",
        args: vec!["dev".into(), "--dir".into(), dir.display().to_string(), "--listen".into(), "127.0.0.1:0".into()],
        token: String::new(),
        store_url: format!("sqlite://{}", dir.join("keyward.db").display()),
        kek_file: dir.join("kek"),
        emulator: Emulator::UrlFile(dir.join("emulator-url")),
    };
    crash_at_every_state(&target, "signed_request_object").await;
}

/// After a crashed JAR rotation resumed: at most 4 records, one active key per method, each
/// attached at Auth0, no keyward credential orphaned, and the private_key_jwt key (never touched
/// by the JAR rotations) still exchanges at /oauth/token.
async fn check_jar_invariants(name: &str, base_url: &str, store: &dyn keyward::store::Store) {
    let app = app(base_url).await;
    let creds = app["credentials"].as_array().unwrap();
    assert!(creds.len() <= 4, "{name}: more than 4 stored: {app}");
    let keys = store.keys("dev", APP).await.unwrap();
    for c in creds.iter().filter(|c| c["attached"] == false) {
        assert!(keys.iter().all(|k| k.kid != c["kid"].as_str().unwrap()), "{name}: {} is orphaned: {app}", c["id"]);
    }
    let active: Vec<_> = keys.iter().filter(|k| k.state == keyward::store::KeyState::Active).collect();
    let pk: Vec<_> = active.iter().filter(|k| k.method == CredentialMethod::PrivateKeyJwt).collect();
    let jar: Vec<_> = active.iter().filter(|k| k.method == CredentialMethod::SignedRequestObject).collect();
    assert_eq!((pk.len(), jar.len()), (1, 1), "{name}: {active:?}");
    for k in [pk[0], jar[0]] {
        let at_auth0 = creds.iter().any(|c| c["kid"] == k.kid.as_str() && c["attached"] == true);
        assert!(at_auth0, "{name}: the active {} key is not attached: {app}", k.method);
    }
    let pkjwt = app["client_authentication_methods"]["private_key_jwt"]["credentials"].as_array().unwrap();
    assert_eq!(pkjwt.len(), 1, "{name}: a JAR rotation touched private_key_jwt: {app}");
    assert_eq!(Some(pkjwt[0]["id"].as_str().unwrap()), pk[0].credential_id.as_deref(), "{name}: {app}");
}

/// A `keyward serve` configuration for the emulated tenant at `emulator_url`.
pub fn write_config(dir: &Path, store_url: &str, emulator_url: &str, token: &str) -> PathBuf {
    let kek = dir.join("kek");
    std::fs::write(&kek, Kek::generate(&mut rng()).to_text().as_str()).unwrap();
    let hash: String = keyward::grpc::token_hash(token).iter().map(|b| format!("{b:02x}")).collect();
    let config = format!(
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
clients = ["{APP}"]
connections = ["con_demooidc0000001"]
"#,
        kek = kek.display()
    );
    let path = dir.join("keyward.toml");
    std::fs::write(&path, config).unwrap();
    path
}

// The emulator lives on this test's runtime while the test blocks waiting for processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_via_keyward_serve_survives_a_crash_at_every_state() {
    let Some(store_url) = pg_schema_url().await else { return };
    let (_dir, dir) = tempdir();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = EmulatorConfig {
        seed: Seed::from_json(SEED).unwrap(),
        domain: Some(DOMAIN.into()),
        control: true,
        ..Default::default()
    };
    let emulator = keyward_auth0_emulator::start(listener, config).await.unwrap();
    let token = format!("crash-test-{}", random_hex(16));
    let config = write_config(&dir, &store_url, &emulator.base_url(), &token);
    let target = Target {
        name: "postgres",
        args: vec!["serve".into(), "--config".into(), config.display().to_string()],
        token,
        store_url,
        kek_file: dir.join("kek"),
        emulator: Emulator::Running(emulator),
    };
    crash_at_every_state(&target, "").await;
}
