//! Test support: an emulated tenant, adapter clients for it, a keyward-crypto assertion provider,
//! and a stub Auth0 on plain HTTP (`stub`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod stub;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use keyward_auth0::{AssertionProvider, Auth0Client, BoxError, ClientAuth, Config, RetryPolicy, Url};
use keyward_auth0_emulator::{EmulatorConfig, RunningEmulator, Seed, start};
use keyward_crypto::{AssertionParams, Backend, KeySpec, PrivateKey, Signer, client_assertion, signer_for};
use serde_json::{Value, json};

/// A domain that is not the emulator's address: identities use it, requests go to the base URL.
pub const DOMAIN: &str = "dev-tenant.keyward.local";
pub const MGMT: &str = "mgmt";
pub const MGMT_SECRET: &str = "mgmt-secret-value-4f9a";
pub const BASIC: &str = "mgmt-basic";
pub const BASIC_SECRET: &str = "basic-secret-value-77c1";
pub const READER: &str = "reader";
pub const READER_SECRET: &str = "reader-secret-value-0b2e";
pub const APP: &str = "app";
pub const APP_SECRET: &str = "app-secret-value-9d3f";
pub const API: &str = "https://api.keyward.test/";

pub const SEED: &str = r#"{
  "clients": [
    {"client_id": "mgmt", "name": "Management", "client_secret": "mgmt-secret-value-4f9a",
     "grants": [{"audience": "https://{domain}/api/v2/", "scope": [
        "read:clients", "update:clients", "read:client_keys", "update:client_keys",
        "read:client_credentials", "create:client_credentials", "update:client_credentials", "delete:client_credentials",
        "read:connections", "read:connections_keys", "create:connections_keys", "update:connections_keys",
        "read:signing_keys", "create:signing_keys", "update:signing_keys"]}]},
    {"client_id": "mgmt-basic", "name": "Basic", "client_secret": "basic-secret-value-77c1",
     "token_endpoint_auth_method": "client_secret_basic",
     "grants": [{"audience": "https://{domain}/api/v2/", "scope": ["read:clients", "read:client_keys"]}]},
    {"client_id": "reader", "name": "Reader", "client_secret": "reader-secret-value-0b2e",
     "grants": [{"audience": "https://{domain}/api/v2/", "scope": ["read:client_credentials"]}]},
    {"client_id": "app", "name": "App", "client_secret": "app-secret-value-9d3f", "jwt_configuration": {"alg": "RS256"},
     "grants": [{"audience": "https://api.keyward.test/", "scope": ["read:x", "write:x"]}]}
  ],
  "connections": [
    {"id": "con_pkjwt", "name": "pk-oidc", "strategy": "oidc",
     "options": {"type": "back_channel", "token_endpoint_auth_method": "private_key_jwt"}},
    {"id": "con_fresh", "name": "fresh-oidc", "strategy": "oidc", "options": {"type": "back_channel"}},
    {"id": "con_db", "name": "db", "strategy": "auth0", "options": {}}
  ]
}"#;

pub async fn emulator() -> RunningEmulator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let seed = Seed::from_json(SEED).unwrap();
    let config = EmulatorConfig { seed, domain: Some(DOMAIN.to_owned()), control: true, ..Default::default() };
    start(listener, config).await.unwrap()
}

pub fn config(emu: &RunningEmulator) -> Config {
    let mut c = Config::new(emu.domain()).with_base_url(Url::parse(&emu.base_url()).unwrap());
    // Keep retry waits short; tests assert attempts and order, never time.
    c.retry = RetryPolicy { max_attempts: 3, base_delay: Duration::from_millis(20), max_delay: Duration::from_secs(5) };
    c.timeout = Duration::from_secs(10);
    c
}

pub fn secret_post(id: &str, secret: &str) -> ClientAuth {
    ClientAuth::SecretPost { client_id: id.to_owned(), client_secret: secret.to_owned().into() }
}

pub fn client(emu: &RunningEmulator, auth: ClientAuth) -> Auth0Client {
    Auth0Client::new(config(emu), auth).unwrap()
}

pub fn mgmt(emu: &RunningEmulator) -> Auth0Client {
    client(emu, secret_post(MGMT, MGMT_SECRET))
}

pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// An RSA-2048 key pair for credentials.
pub struct TestKey {
    pub key: PrivateKey,
    pub public_pem: String,
    pub kid: String,
}

pub fn rsa_key() -> TestKey {
    let key = PrivateKey::generate(KeySpec::Rsa(2048), &mut os_rng()).unwrap();
    let public = key.public_key();
    TestKey { public_pem: public.to_spki_pem().unwrap(), kid: public.thumbprint().unwrap(), key }
}

/// Signs assertions with keyward-crypto, the way keyward's signer will.
pub struct CryptoAssertions {
    pub client_id: String,
    pub signer: Box<dyn Signer>,
    pub kid: Option<String>,
    pub audiences: std::sync::Mutex<Vec<String>>,
}

impl CryptoAssertions {
    pub fn new(client_id: &str, key: &TestKey, with_kid: bool) -> Arc<Self> {
        let signer = signer_for(Backend::RustCrypto, &key.key, keyward_crypto::Algorithm::RS256).unwrap();
        Arc::new(Self {
            client_id: client_id.to_owned(),
            signer,
            kid: with_kid.then(|| key.kid.clone()),
            audiences: Default::default(),
        })
    }
}

impl AssertionProvider for CryptoAssertions {
    fn assertion(&self, audience: &str) -> Result<String, BoxError> {
        self.audiences.lock().unwrap().push(audience.to_owned());
        let params = AssertionParams {
            client_id: &self.client_id,
            audience,
            now: SystemTime::now(),
            lifetime: Duration::from_secs(60),
            kid: self.kid.as_deref(),
        };
        Ok(client_assertion(&*self.signer, &params, &mut os_rng())?)
    }
}

/// The emulator's request log.
pub fn requests(emu: &RunningEmulator) -> Vec<Value> {
    emu.state()["requests"].as_array().cloned().unwrap_or_default()
}

/// (method, status) of each logged request whose path is `path`.
pub fn log_for(emu: &RunningEmulator, path: &str) -> Vec<(String, u64)> {
    requests(emu)
        .iter()
        .filter(|r| r["path"] == path)
        .map(|r| (r["method"].as_str().unwrap_or("").to_owned(), r["status"].as_u64().unwrap_or(999)))
        .collect()
}

/// Scripts faults through the control API.
pub async fn fault(emu: &RunningEmulator, fault: Value) {
    let r =
        reqwest::Client::new().post(format!("{}/__emulator/faults", emu.base_url())).json(&fault).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

pub fn now_epoch() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
}

pub fn status_fault(method: &str, path: &str, times: u32, status: u16, headers: Value) -> Value {
    json!({"method": method, "path_prefix": path, "times": times,
           "action": {"kind": "status", "status": status, "headers": headers}})
}
