//! A multi-replica rig: one store (a PostgreSQL schema or a SQLite file), one emulated Auth0,
//! one KEK, and `keyward serve` replicas (test builds, with fault injection) started on them,
//! plus the test's own engine for setting the stage and the checks of the final state.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyward::config::Defaults;
use keyward::context::Context;
use keyward::grpc::proto;
use keyward::rotation::Engine;
use keyward::store::{AuditStore, KeyRecord, KeyState, KeyStore, RotationState, RotationStore, SqlStore, Store};
use keyward::tenant::Tenant;
use keyward_crypto::Algorithm;
use serde_json::Value;

use crate::support::*;

pub const CONNECTION: &str = "con_demooidc0000001";

/// How long A is held at the step by fault injection, long enough for the test to stop it.
pub const HOLD: &str = "2s";

/// One PostgreSQL schema, one emulated Auth0, one KEK, and a `keyward serve` config for them
/// with a short lease (2 s) and no grace period.
pub struct Rig {
    pub _dir: tempfile::TempDir,
    pub config: PathBuf,
    pub kek_file: PathBuf,
    pub emulator: keyward_auth0_emulator::RunningEmulator,
    pub tenant: keyward::config::TenantConfig,
    pub store: Arc<SqlStore>,
    pub token: String,
}

impl Rig {
    pub async fn new(store_url: &str) -> Self {
        let (dir, path) = tempdir();
        let (emulator, tenant) = dev_tenant(SEED_JSON, &[APP], &[CONNECTION]).await;
        let token = format!("pause-test-{}", random_hex(16));
        let kek_file = path.join("kek");
        write_kek(&kek_file);
        let config = path.join("keyward.toml");
        let managed = format!("clients = [\"{APP}\"]\nconnections = [\"{CONNECTION}\"]");
        write_serve_config(
            &config,
            &ServeConfig {
                store_url,
                kek_file: &kek_file,
                token: &token,
                base_url: &emulator.base_url(),
                settings: "[scheduler]\nenabled = false\nlease_ttl = \"2s\"",
                managed: &managed,
                extra: "",
            },
        );
        let store = Arc::new(open_store(store_url).await);
        Self { _dir: dir, config, kek_file, emulator, tenant, store, token }
    }

    pub fn base_url(&self) -> String {
        self.emulator.base_url()
    }

    /// A replica named `id`, held at `pause` (a saga state or `connection`) when set.
    pub fn replica(&self, id: &str, pause: Option<&str>) -> Replica {
        let hold = pause.map(|p| format!("{p}:{HOLD}"));
        match &hold {
            Some(h) => self.replica_with(id, &[("KEYWARD_FAULT_PAUSE_AT", h.as_str())]),
            None => self.replica_with(id, &[]),
        }
    }

    /// A replica named `id` with extra environment variables (fault injection).
    pub fn replica_with(&self, id: &str, extra: &[(&str, &str)]) -> Replica {
        serve(&self.config, id, extra)
    }

    /// An engine in this process (the test's own replica) for setting the stage.
    pub fn engine(&self) -> Engine {
        let tenants = BTreeMap::from([("dev".to_owned(), Tenant::connect(self.tenant.clone()).unwrap())]);
        let kek = kek_ring(&self.kek_file).current;
        let defaults = Defaults { grace_period: Duration::ZERO, algorithm: Algorithm::RS256, key_bits: 2048 };
        let ctx = Context::new(self.store.clone() as Arc<dyn Store>, tenants, kek).with_replica("test-setup");
        Engine::new(&ctx, defaults)
    }

    /// The final state: exactly one ACTIVE key, whose credential is the only one Auth0 holds
    /// for the client (attached; nothing orphaned, nothing unknown), every other key retired
    /// and wiped, the active key opens and Auth0 accepts it; every rotation finished.
    pub async fn check_final_state(&self, name: &str) {
        let keks = kek_ring(&self.kek_file);
        let keks = keks.all();
        check_invariants(name, &self.base_url(), &*self.store, &keks).await;
        check_one_active_key(name, &self.base_url(), &self.store, APP).await;
        for state in [
            RotationState::Planned,
            RotationState::KeyGenerated,
            RotationState::SlotFreed,
            RotationState::Registered,
            RotationState::Attached,
            RotationState::Active,
            RotationState::Retired,
        ] {
            let open = self.store.rotations_in_state(state).await.unwrap();
            assert!(open.is_empty(), "{name}: rotations left {state}: {open:#?}");
        }
    }

    /// The audit log's takeover events (`kind`) naming `from`.
    pub async fn takeovers(&self, kind: &str, from: &str) -> Vec<Value> {
        let events = self.store.audit_after(0, 10_000).await.unwrap();
        events
            .into_iter()
            .filter(|e| e.kind == kind)
            .map(|e| serde_json::from_str::<Value>(&e.detail).unwrap())
            // A rotation's events wrap theirs as {"rotation_id", "detail"}.
            .map(|d| if d["detail"].is_object() { d["detail"].clone() } else { d })
            .filter(|d| d.to_string().contains(from))
            .collect()
    }
}

/// A `keyward serve` child with everything it printed so far.
pub struct Replica {
    pub k: Keyward,
    pub lines: Vec<String>,
    pub id: String,
}

impl Replica {
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill").args([sig, &self.k.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill {sig}");
    }

    /// The value of a counter series on the replica's `/metrics` (0 when absent).
    pub async fn counter(&self, series: &str) -> f64 {
        let admin = self.k.admin_addr().unwrap();
        let text = reqwest::get(format!("http://{admin}/metrics")).await.unwrap().text().await.unwrap();
        text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
    }

    /// Waits (polling, up to two minutes) until the replica printed a line containing `needle`.
    pub async fn wait_for_line(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            self.lines.extend(self.k.output_so_far());
            if self.lines.iter().any(|l| l.contains(needle)) {
                return;
            }
            assert!(Instant::now() < deadline, "{}: never printed {needle:?}:\n{}", self.id, self.lines.join("\n"));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A `keyward serve` configuration for the emulated tenant `dev`, with no grace period.
pub struct ServeConfig<'a> {
    pub store_url: &'a str,
    pub kek_file: &'a Path,
    /// The bearer token callers present (the config holds its SHA-256).
    pub token: &'a str,
    /// The emulated Auth0.
    pub base_url: &'a str,
    /// TOML sections placed before `[tenants.dev]` (`[scheduler]`, …).
    pub settings: &'a str,
    /// The tenant's `clients = […]` (and `connections = […]`) lines.
    pub managed: &'a str,
    /// TOML placed after the tenant (sections only: `[[policies]]`, …).
    pub extra: &'a str,
}

/// Writes `config` as keyward.toml at `path`.
pub fn write_serve_config(path: &Path, config: &ServeConfig) {
    let ServeConfig { store_url, kek_file, token, base_url, settings, managed, extra } = config;
    std::fs::write(
        path,
        format!(
            r#"listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
store = "{store_url}"
[kek]
file = "{kek}"
[auth]
bearer_token_sha256 = ["{hash}"]
[defaults]
grace_period = "0s"
{settings}
[tenants.dev]
domain = "{DOMAIN}"
base_url = "{base_url}"
management_client_id = "keyward-management"
management_client_secret = "dev-management-secret-change-me"
{managed}
{extra}
"#,
            kek = kek_file.display(),
            hash = sha256_hex(token),
        ),
    )
    .unwrap();
}

/// Writes a fresh KEK (one line) at `path`.
pub fn write_kek(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("{}\n", keyward::seal::Kek::generate(&mut rng()).to_text().as_str())).unwrap();
    // A secret: `keyward config check` refuses one others can read.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Starts `keyward serve --config CONFIG` as replica `id`, with extra environment variables
/// (fault injection).
pub fn serve(config: &Path, id: &str, extra: &[(&str, &str)]) -> Replica {
    let config = config.display().to_string();
    let mut env = vec![("KEYWARD_REPLICA_ID", id)];
    env.extend_from_slice(extra);
    Replica { k: start(&["serve", "--config", &config], &env), lines: Vec::new(), id: id.to_owned() }
}

/// A client's keys at the end: exactly one ACTIVE key, every other one retired and wiped, and
/// Auth0 holds exactly the active key's credential, attached. The active key, every key, and the
/// client as Auth0 holds it.
pub async fn check_one_active_key(
    name: &str,
    base_url: &str,
    store: &SqlStore,
    client: &str,
) -> (KeyRecord, Vec<KeyRecord>, Value) {
    let keys = store.keys("dev", client).await.unwrap();
    let active: Vec<_> = keys.iter().filter(|k| k.state == KeyState::Active).collect();
    assert_eq!(active.len(), 1, "{name}: exactly one active key: {keys:#?}");
    let active = active[0].clone();
    for k in keys.iter().filter(|k| k.key_id != active.key_id) {
        assert_eq!(k.state, KeyState::Retired, "{name}: key {} is left {}", k.key_id, k.state);
        assert!(k.sealed.ciphertext.is_empty(), "{name}: retired key {} still holds key material", k.key_id);
    }
    let state = emulator_state(base_url).await;
    let at_auth0 = state["clients"].as_array().unwrap().iter().find(|c| c["client_id"] == client).unwrap().clone();
    let creds: Vec<(&str, bool)> = at_auth0["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["attached"] == true))
        .collect();
    assert_eq!(
        creds,
        vec![(active.credential_id.as_deref().unwrap(), true)],
        "{name}: Auth0 must hold exactly the active credential, attached: {at_auth0}"
    );
    (active, keys, at_auth0)
}

pub fn request(rid: &str, grace: Duration) -> proto::RotateClientCredentialRequest {
    proto::RotateClientCredentialRequest {
        tenant: "dev".into(),
        client_id: APP.into(),
        request_id: rid.into(),
        grace_period: Some(prost_types::Duration { seconds: grace.as_secs() as i64, nanos: 0 }),
        ..Default::default()
    }
}

/// Waits until the rotation asked with `rid` is in `want`.
pub async fn wait_rotation(store: &SqlStore, rid: &str, want: RotationState) -> keyward::store::RotationRecord {
    eventually(&format!("rotation {rid} to reach {want}"), || async {
        store.rotation_by_request("dev", rid).await.unwrap().filter(|r| r.state == want)
    })
    .await
}
