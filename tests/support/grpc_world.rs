//! A keyward gRPC server bound to 127.0.0.1:0 over the real emulator and a real store (SQLite,
//! and PostgreSQL when KEYWARD_TEST_DATABASE_URL is set), plus what the gRPC tests share: a
//! tonic client with or without a bearer token, the emulator's state and request log as the
//! independent witness, openssl checks and a private_key_jwt token exchange.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use keyward::access::Access;
use keyward::config::Defaults;
use keyward::context::Context;
use keyward::grpc::proto::key_rotation_client::KeyRotationClient;
use keyward::grpc::{Deps, token_hash};
use keyward::rotation::Engine;
use keyward::seal::Kek;
use keyward::signing::Signing;
use keyward::store::{KeyRecord, SqlStore, Store};
use keyward::tenant::Tenant;
use keyward_auth0_emulator::RunningEmulator;
use keyward_crypto::Algorithm;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

pub const SEED: &str = include_str!("../../crates/keyward-auth0-emulator/examples/seed.json");
/// The seeded private_key_jwt application keyward manages.
pub const APP: &str = "demo-app";
/// Configured as managed but absent from the emulated tenant.
pub const GHOST_APP: &str = "other-app";
/// The seeded OIDC connection with private_key_jwt keys.
pub const CONN: &str = "con_demooidc0000001";
/// The accepted bearer tokens (configured by their SHA-256 only).
pub const TOKEN: &str = "kw-test-token-0f3a9c";
pub const SECOND_TOKEN: &str = "kw-test-token-second-77";

pub use crate::support::rng;

/// The stores to run against: SQLite in a temp dir always, PostgreSQL in a fresh schema when
/// KEYWARD_TEST_DATABASE_URL is set.
pub async fn stores() -> Vec<(&'static str, Arc<dyn Store>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqlStore::connect(&format!("sqlite://{}", dir.path().join("k.db").display())).await.unwrap();
    let mut out: Vec<(&'static str, Arc<dyn Store>, Option<tempfile::TempDir>)> =
        vec![("sqlite", Arc::new(sqlite), Some(dir))];
    if let Some(url) = crate::support::pg_schema_url().await {
        out.push(("postgres", Arc::new(SqlStore::connect(&url).await.unwrap()), None));
    }
    out
}

/// One emulated tenant, one store, one engine and the gRPC server in front of it.
pub struct World {
    pub name: &'static str,
    pub emu: RunningEmulator,
    pub engine: Arc<Engine>,
    pub store: Arc<dyn Store>,
    pub kek: Arc<Kek>,
    pub http: reqwest::Client,
    pub addr: SocketAddr,
    pub signing: Arc<Signing>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), keyward::Error>>>,
    _dir: Option<tempfile::TempDir>,
}

/// How the server in a [`World`] is set up.
pub struct Setup {
    pub access: Access,
    pub signer: keyward::config::SignerConfig,
    pub tls: Option<keyward::config::TlsConfig>,
    pub signing: keyward::config::SigningPolicy,
    pub limits: keyward::config::Limits,
    pub signing_keys: keyward::config::SigningKeysPolicy,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            access: Access::all_access(&[token_hash(TOKEN), token_hash(SECOND_TOKEN)]),
            signer: Default::default(),
            tls: None,
            signing: Default::default(),
            limits: Default::default(),
            signing_keys: Default::default(),
        }
    }
}

pub async fn world(name: &'static str, store: Arc<dyn Store>, dir: Option<tempfile::TempDir>) -> World {
    world_with(name, store, dir, Setup::default()).await
}

pub async fn world_with(
    name: &'static str,
    store: Arc<dyn Store>,
    dir: Option<tempfile::TempDir>,
    setup: Setup,
) -> World {
    let (emu, mut tenant) = crate::support::dev_tenant(SEED, &[APP, GHOST_APP], &[CONN, "con_notatauth0000"]).await;
    tenant.signing = setup.signing;
    tenant.signing_keys = setup.signing_keys;
    let tenants = BTreeMap::from([("dev".to_owned(), Tenant::connect(tenant).unwrap())]);
    let kek = Arc::new(Kek::generate(&mut rng()));
    let defaults = Defaults { grace_period: Duration::from_secs(600), algorithm: Algorithm::RS256, key_bits: 2048 };
    let ctx = Context::new(store.clone(), tenants, kek.clone());
    let engine = Arc::new(Engine::new(&ctx, defaults));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let signing = Arc::new(Signing::new(&ctx, setup.signer).unwrap());
    // As `keyward serve` does: reload the signer's keys when they change here or in the store.
    tokio::spawn(keyward::service::cache_refresher(signing.clone()));
    let deps = Deps {
        engine: engine.clone(),
        signing: signing.clone(),
        access: Arc::new(setup.access),
        tls: setup.tls,
        limits: setup.limits,
    };
    let server = tokio::spawn(keyward::grpc::run(
        listener,
        async move {
            let _ = rx.await;
        },
        deps,
    ));
    World {
        name,
        emu,
        engine,
        store,
        kek,
        http: reqwest::Client::new(),
        addr,
        signing,
        shutdown: Some(tx),
        server: Some(server),
        _dir: dir,
    }
}

impl World {
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.endpoint()).unwrap().connect().await.unwrap()
    }

    /// A KeyRotation client on its own HTTP/2 connection.
    pub async fn client(&self) -> KeyRotationClient<Channel> {
        KeyRotationClient::new(self.channel().await)
    }

    /// Asks the server to stop and returns what `keyward::grpc::run` returned.
    pub async fn stop(&mut self) -> Result<(), keyward::Error> {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).unwrap();
        }
        let server = self.server.take().unwrap();
        // A guard against a hang, not a timing assertion.
        tokio::time::timeout(Duration::from_secs(60), server).await.expect("the server did not stop").unwrap()
    }

    pub async fn state(&self) -> Value {
        self.http.get(format!("{}/__emulator/state", self.emu.base_url())).send().await.unwrap().json().await.unwrap()
    }

    /// The tenant as the emulator holds it, without the request log.
    pub async fn tenant_state(&self) -> Value {
        let mut s = self.state().await;
        s.as_object_mut().unwrap().remove("requests");
        s
    }

    pub async fn app(&self) -> Value {
        self.state().await["clients"].as_array().unwrap().iter().find(|c| c["client_id"] == APP).unwrap().clone()
    }

    pub async fn app_credentials(&self) -> Vec<Value> {
        self.app().await["credentials"].as_array().unwrap().clone()
    }

    pub async fn connection_keys(&self) -> Vec<Value> {
        let s = self.state().await;
        let c = s["connections"].as_array().unwrap().iter().find(|c| c["id"] == CONN).unwrap().clone();
        c["keys"].as_array().unwrap().clone()
    }

    /// The emulator's request log.
    pub async fn requests(&self) -> Vec<Value> {
        self.state().await["requests"].as_array().unwrap().clone()
    }

    /// Management API requests logged after the first `since` entries.
    pub async fn management_requests_since(&self, since: usize) -> Vec<Value> {
        self.requests()
            .await
            .into_iter()
            .skip(since)
            .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/api/v2/")))
            .collect()
    }

    pub async fn fault(&self, f: Value) {
        let r = self.http.post(format!("{}/__emulator/faults", self.emu.base_url())).json(&f).send().await.unwrap();
        assert!(r.status().is_success(), "fault {f}: {}", r.text().await.unwrap());
    }

    pub async fn clear_faults(&self) {
        let r = self.http.delete(format!("{}/__emulator/faults", self.emu.base_url())).send().await.unwrap();
        assert!(r.status().is_success());
    }

    pub async fn management_token(&self) -> String {
        crate::support::management_token(&self.http, &self.emu.base_url()).await
    }

    /// The store's key for an Auth0 credential id.
    pub async fn key_for(&self, credential_id: &str) -> KeyRecord {
        self.store
            .keys("dev", APP)
            .await
            .unwrap()
            .into_iter()
            .find(|k| k.credential_id.as_deref() == Some(credential_id))
            .unwrap_or_else(|| panic!("{}: no key for {credential_id}", self.name))
    }

    /// A private_key_jwt token exchange at the emulator, signed with the store's sealed key.
    pub async fn exchange_with(&self, key: &KeyRecord) -> (u16, Value) {
        crate::support::exchange(&self.emu.base_url(), &[&self.kek], key).await
    }

    /// The Auth0 invariants of the rotation-service issue, against the emulator and the store.
    pub async fn check_invariants(&self) {
        crate::support::check_invariants(self.name, &self.emu.base_url(), &*self.store, &[&self.kek]).await;
    }
}

/// A request carrying `authorization: <value>` (raw bytes, so malformed values can be sent).
pub fn with_auth<T>(message: T, authorization: Option<&[u8]>) -> Request<T> {
    let mut r = Request::new(message);
    if let Some(v) = authorization {
        r.metadata_mut().insert("authorization", MetadataValue::try_from(v).unwrap());
    }
    r
}

/// A request with the valid bearer token.
pub fn authed<T>(message: T) -> Request<T> {
    with_auth(message, Some(format!("Bearer {TOKEN}").as_bytes()))
}

/// Runs openssl with `input` on stdin.
pub fn openssl(args: &[&str], input: &str) -> String {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl must be installed");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The certificate's SHA-1 fingerprint as openssl prints it (`AA:BB:…`).
pub fn openssl_fingerprint(cert_pem: &str) -> String {
    let out = openssl(&["x509", "-noout", "-fingerprint", "-sha1"], cert_pem);
    out.trim().split_once('=').unwrap().1.to_owned()
}

/// The certificates a PKCS#7 PEM holds, as openssl prints them (PEM, `\n` line ends).
pub fn openssl_pkcs7_certs(pkcs_pem: &str) -> String {
    openssl(&["pkcs7", "-print_certs"], pkcs_pem)
}

/// A PEM with `\r\n` line ends turned into `\n`, trimmed.
pub fn lf(pem: &str) -> String {
    pem.replace("\r\n", "\n").trim().to_owned()
}

/// UNIX milliseconds of a protobuf timestamp.
pub fn ms(t: &prost_types::Timestamp) -> i64 {
    t.seconds * 1000 + i64::from(t.nanos) / 1_000_000
}
