//! One scenario's world: an emulated tenant, a PostgreSQL schema, a KEK and a `keyward serve`
//! config for them, and the scenario's directory.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keyward::store::{RotationRecord, RotationState, RotationStore, SqlStore};
use serde_json::{Value, json};

use super::{API, TOKEN};
use crate::rig::{ServeConfig, write_kek, write_serve_config};
use crate::support;

/// The scenario's directory (configs, KEK, the replicas' logs): removed after a passing run,
/// kept and named after a failing one.
pub struct Workdir {
    dir: Option<tempfile::TempDir>,
    pub path: PathBuf,
}

impl Workdir {
    fn new() -> Self {
        let (dir, path) = support::tempdir();
        Self { dir: Some(dir), path }
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(d) = self.dir.take()
        {
            eprintln!("chaos: the replicas' logs and configs are kept in {}", d.keep().display());
        }
    }
}

/// The emulator's example seed plus `clients` (private_key_jwt, allowed to call the demo API),
/// with rate limits high enough that only scripted 429s happen.
fn seed(clients: &[String]) -> String {
    let mut seed: Value = serde_json::from_str(support::SEED_JSON).unwrap();
    let list = seed["clients"].as_array_mut().unwrap();
    for c in clients {
        list.push(json!({
            "client_id": c,
            "name": format!("chaos {c}"),
            "token_endpoint_auth_method": "private_key_jwt",
            "jwt_configuration": { "alg": "RS256" },
            "grants": [{ "audience": API, "scope": ["read:demo"] }]
        }));
    }
    seed["limits"] = json!({ "slot": 2, "pool": 4, "burst": 5000, "per_second": 2000 });
    seed.to_string()
}

/// One emulated tenant, one PostgreSQL schema, one KEK, and a `keyward serve` config for them.
pub struct World {
    pub work: Workdir,
    pub emu: keyward_auth0_emulator::RunningEmulator,
    pub store_url: String,
    pub store: Arc<SqlStore>,
    pub kek_file: PathBuf,
    pub config: PathBuf,
    pub clients: Vec<String>,
    pub http: reqwest::Client,
}

impl World {
    /// `settings` is TOML placed before `[tenants.dev]`, `extra` after it (sections only). The
    /// replicas reach the store at `replica_store` (default: `store_url`, which the test uses).
    pub async fn new(
        store_url: &str,
        replica_store: Option<&str>,
        clients: Vec<String>,
        settings: &str,
        extra: &str,
    ) -> Self {
        let work = Workdir::new();
        let (emu, _) = support::dev_tenant(&seed(&clients), &[], &[]).await;
        let kek_file = work.path.join("kek");
        write_kek(&kek_file);
        let list = clients.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ");
        let config = work.path.join("keyward.toml");
        write_serve_config(
            &config,
            &ServeConfig {
                store_url: replica_store.unwrap_or(store_url),
                kek_file: &kek_file,
                token: TOKEN,
                base_url: &emu.base_url(),
                settings,
                managed: &format!("clients = [{list}]"),
                extra,
            },
        );
        // The configuration is valid as `serve` reads it (exit 0, nothing bound).
        let check = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args(["config", "check", "--config", &config.display().to_string()])
            .output()
            .unwrap();
        assert!(check.status.success(), "keyward config check: {}", String::from_utf8_lossy(&check.stderr));
        let store = Arc::new(support::open_store(store_url).await);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Self { work, emu, store_url: store_url.to_owned(), store, kek_file, config, clients, http }
    }

    pub fn base_url(&self) -> String {
        self.emu.base_url()
    }

    /// Scripts an emulator fault (crates/keyward-auth0-emulator/src/faults.rs).
    pub async fn fault(&self, fault: Value) {
        let r = self.http.post(format!("{}/__emulator/faults", self.base_url())).json(&fault).send().await.unwrap();
        assert!(r.status().is_success(), "{fault}: {}", r.status());
    }

    /// Auth0 answers credential creation and client updates `delay_ms` late, so that rotations
    /// stay open long enough for kills to land inside them.
    pub async fn slow_auth0_writes(&self, delay_ms: u64) {
        for method in ["POST", "PATCH"] {
            self.fault(json!({"method": method, "path_prefix": "/api/v2/clients/", "times": 1_000_000,
                              "action": {"kind": "delay", "delay_ms": delay_ms}}))
                .await;
        }
    }

    /// Removes every scripted fault still standing.
    pub async fn clear_faults(&self) {
        let r = self.http.delete(format!("{}/__emulator/faults", self.base_url())).send().await.unwrap();
        assert!(r.status().is_success());
    }

    /// Every rotation in the store.
    pub async fn rotations(&self) -> Vec<RotationRecord> {
        let mut all = Vec::new();
        for state in RotationState::ALL {
            all.extend(self.store.rotations_in_state(*state).await.unwrap());
        }
        all
    }

    pub async fn unfinished(&self) -> Vec<RotationRecord> {
        self.rotations()
            .await
            .into_iter()
            .filter(|r| !matches!(r.state, RotationState::Completed | RotationState::Failed))
            .collect()
    }
}
