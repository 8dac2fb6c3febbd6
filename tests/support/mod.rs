//! Running the real `keyward` binary (`dev` or `serve`) as a child process, talking to it over
//! gRPC, and checking the rotation invariants against the emulator and the store.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use keyward::grpc::proto::key_rotation_client::KeyRotationClient;
use keyward::seal::{self, KeyIdentity};
use keyward::store::{KeyRecord, KeyState, SqlStore, Store};
use keyward_crypto::{Algorithm, AssertionParams, Backend, PrivateKey, client_assertion, signer_for};
use serde_json::Value;
use tonic::transport::Channel;

pub const APP: &str = "demo-app";
pub const DOMAIN: &str = "dev-tenant.keyward.local";

pub fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand_core::Rng::fill_bytes(&mut rng(), &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A running keyward child process.
pub struct Keyward {
    pub child: Child,
    pub addr: String,
    /// The line that named the address (`keyward serve` also names its admin port there).
    pub banner: String,
    output: mpsc::Receiver<String>,
}

impl Drop for Keyward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `keyward ARGS` with `env`, and waits for the line that names its gRPC address.
// The child is waited for when the returned `Keyward` drops.
#[allow(clippy::zombie_processes)]
pub fn start(args: &[&str], env: &[(&str, &str)]) -> Keyward {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("KEYWARD_FAULT_EXIT_AFTER")
        .env_remove("KEYWARD_FAULT_PAUSE_AT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("keyward {args:?} did not start: {seen:#?}"));
        if let Some(rest) = line.split("serving keyward.v1 on ").nth(1) {
            let addr = rest.split_whitespace().next().unwrap().trim_end_matches(',').to_owned();
            return Keyward { child, addr, banner: line.clone(), output: rx };
        }
        seen.push(line);
    }
}

impl Keyward {
    pub async fn client(
        &self,
        token: &str,
    ) -> KeyRotationClient<tonic::service::interceptor::InterceptedService<Channel, Auth>> {
        let channel = Channel::from_shared(format!("http://{}", self.addr)).unwrap().connect().await.unwrap();
        KeyRotationClient::with_interceptor(channel, Auth(format!("Bearer {token}").parse().unwrap()))
    }

    /// Waits for the process to exit and returns its code and everything it printed since start.
    pub fn wait_exit(&mut self, what: &str, within: Duration) -> (Option<i32>, Vec<String>) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                return (status.code(), self.output.try_iter().collect());
            }
            assert!(
                Instant::now() < deadline,
                "{what}: keyward did not exit: {:#?}",
                self.output.try_iter().collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The admin port `keyward serve` named in its banner.
    pub fn admin_addr(&self) -> Option<String> {
        let rest = self.banner.split("admin on ").nth(1)?;
        Some(rest.split([' ', ',', ')']).next()?.to_owned())
    }

    /// Asks the process to stop (SIGTERM).
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Lines printed since start that have not been read yet.
    pub fn output_so_far(&self) -> Vec<String> {
        self.output.try_iter().collect()
    }

    /// Stops the process (SIGKILL: the harshest stop).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
pub struct Auth(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Auth {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

/// The emulator's control API.
pub async fn emulator_state(base_url: &str) -> Value {
    reqwest::get(format!("{base_url}/__emulator/state")).await.unwrap().json().await.unwrap()
}

pub async fn app(base_url: &str) -> Value {
    emulator_state(base_url).await["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == APP)
        .unwrap()
        .clone()
}

/// Opens a SQLite store file or a PostgreSQL URL as keyward does.
pub async fn open_store(url: &str) -> SqlStore {
    SqlStore::connect(url).await.unwrap()
}

/// Reads a KEK ring file.
pub fn kek_ring(path: &Path) -> keyward::kek::KekRing {
    keyward::kek::KekRing::parse(&std::fs::read_to_string(path).unwrap(), None).unwrap()
}

/// The rotation-service invariants, against the emulator (the independent witness) and the store.
pub async fn check_invariants(name: &str, base_url: &str, store: &dyn Store, keks: &[&seal::Kek]) {
    let app = app(base_url).await;
    let creds = app["credentials"].as_array().unwrap();
    let attached: Vec<&Value> = creds.iter().filter(|c| c["attached"] == true).collect();
    assert!(attached.len() <= 2, "{name}: more than 2 attached: {app}");
    assert!(creds.len() <= 4, "{name}: more than 4 stored: {app}");
    let keys = store.keys("dev", APP).await.unwrap();
    for c in &attached {
        if let Some(k) = keys.iter().find(|k| k.kid == c["kid"].as_str().unwrap()) {
            assert_ne!(k.state, KeyState::Retired, "{name}: attached credential {} lost its private key", c["id"]);
            let who = KeyIdentity { tenant: "dev", client_id: APP, key_id: &k.key_id };
            assert!(seal::open(keks, who, &k.sealed).is_ok(), "{name}: {} does not open", k.key_id);
        }
    }
    for c in creds.iter().filter(|c| c["attached"] == false) {
        assert!(
            keys.iter().all(|k| k.kid != c["kid"].as_str().unwrap()),
            "{name}: keyward-created credential {} is orphaned: {app}",
            c["id"]
        );
    }
    let active: Vec<&KeyRecord> = keys.iter().filter(|k| k.state == KeyState::Active).collect();
    assert!(active.len() <= 1, "{name}: two active keys");
    if let Some(active) = active.first() {
        let (status, body) = exchange(base_url, keks, active).await;
        assert_eq!(status, 200, "{name}: the active key does not work: {body}");
    }
}

/// A private_key_jwt client_credentials exchange at the emulator with a stored key.
pub async fn exchange(base_url: &str, keks: &[&seal::Kek], key: &KeyRecord) -> (u16, Value) {
    exchange_assertion(base_url, &assertion_with(keks, key)).await
}

/// A client assertion for the dev tenant signed with a stored key (its material still there).
pub fn assertion_with(keks: &[&seal::Kek], key: &KeyRecord) -> String {
    let who = KeyIdentity { tenant: &key.tenant, client_id: &key.client_id, key_id: &key.key_id };
    let der = seal::open(keks, who, &key.sealed).unwrap();
    let private = PrivateKey::from_der(&der).unwrap();
    let alg: Algorithm = key.algorithm;
    let signer = signer_for(Backend::fastest(), &private, alg).unwrap();
    let audience = format!("https://{DOMAIN}/");
    let params = AssertionParams {
        client_id: &key.client_id,
        audience: &audience,
        now: SystemTime::now(),
        lifetime: Duration::from_secs(60),
        kid: Some(&key.kid),
    };
    client_assertion(&*signer, &params, &mut rng()).unwrap()
}

/// A private_key_jwt client_credentials exchange of `assertion` at the emulator.
pub async fn exchange_assertion(base_url: &str, assertion: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base_url}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion),
            ("audience", "https://api.demo.local/"),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A PostgreSQL URL confined to a fresh schema, or None (with a note) when no database is set.
pub async fn pg_schema_url() -> Option<String> {
    use sqlx::Connection;
    let Ok(url) = std::env::var("KEYWARD_TEST_DATABASE_URL") else {
        eprintln!("NOTE: KEYWARD_TEST_DATABASE_URL is not set; the PostgreSQL half of this test did not run");
        return None;
    };
    let schema = format!("kw_{}", random_hex(8));
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut conn).await.unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{sep}options=-c%20search_path%3D{schema}"))
}

/// Polls `f` until it returns Some, for up to a minute.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A temporary directory that outlives the test's processes.
pub fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    (dir, path)
}

/// The emulated tenant `dev` on `seed`, in-process on 127.0.0.1:0 with its control API, and the
/// tenant configuration keyward uses for it (managing `clients` and `connections`).
pub async fn dev_tenant(
    seed: &str,
    clients: &[&str],
    connections: &[&str],
) -> (keyward_auth0_emulator::RunningEmulator, keyward::config::TenantConfig) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = keyward_auth0_emulator::EmulatorConfig {
        seed: keyward_auth0_emulator::Seed::from_json(seed).unwrap(),
        domain: Some(DOMAIN.into()),
        control: true,
        ..Default::default()
    };
    let emu = keyward_auth0_emulator::start(listener, config).await.unwrap();
    let tenant = keyward::config::TenantConfig {
        name: "dev".into(),
        domain: DOMAIN.into(),
        base_url: Some(emu.base_url()),
        ca_file: None,
        management_client_id: "keyward-management".into(),
        management_auth: keyward::config::ManagementAuth::Secret("dev-management-secret-change-me".to_owned().into()),
        clients: clients.iter().map(|c| (*c).to_owned()).collect(),
        connections: connections.iter().map(|c| (*c).to_owned()).collect(),
        signing: Default::default(),
        custody: Default::default(),
        signing_keys: Default::default(),
        inventory: Default::default(),
    };
    (emu, tenant)
}

/// The emulator's example seed (demo-app, the management client, connections).
pub const SEED_JSON: &str = include_str!("../../crates/keyward-auth0-emulator/examples/seed.json");

/// The hex SHA-256 of a bearer token, as keyward.toml takes it.
pub fn sha256_hex(token: &str) -> String {
    keyward::grpc::token_hash(token).iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `cmd` with its stdout closed before it writes (`… | head -c 0`): its exit code and
/// everything it said on stderr.
pub fn run_with_stdout_closed(cmd: &mut Command) -> (Option<i32>, String) {
    use std::io::Read;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (child.wait().unwrap().code(), err)
}

/// A Management API token from the emulator for keyward's own management application (as the
/// seed configures it), to change the tenant behind keyward's back.
pub async fn management_token(http: &reqwest::Client, base_url: &str) -> String {
    let r: Value = http
        .post(format!("{base_url}/oauth/token"))
        .json(&serde_json::json!({"grant_type": "client_credentials", "client_id": "keyward-management",
            "client_secret": "dev-management-secret-change-me", "audience": format!("https://{DOMAIN}/api/v2/")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_owned()
}

/// A credential made at Auth0 by hand (as the dashboard would) for [`APP`] and left unattached;
/// its id.
pub async fn stored_by_hand(http: &reqwest::Client, base_url: &str, token: &str, name: &str) -> String {
    let pem = keyward_crypto::aws_lc_generate(keyward_crypto::KeySpec::Rsa(2048))
        .unwrap()
        .public_key()
        .to_spki_pem()
        .unwrap();
    let created: Value = http
        .post(format!("{base_url}/api/v2/clients/{APP}/credentials"))
        .bearer_auth(token)
        .json(&serde_json::json!({"credential_type": "public_key", "pem": pem, "name": name}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["id"].as_str().unwrap().to_owned()
}

/// Credentials made at Auth0 by hand, one per name, attached to [`APP`]'s private_key_jwt in
/// place of whatever was; their ids.
pub async fn hand_made_credentials(http: &reqwest::Client, base_url: &str, token: &str, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in names {
        ids.push(stored_by_hand(http, base_url, token, name).await);
    }
    let attached: Vec<Value> = ids.iter().map(|id| serde_json::json!({"id": id})).collect();
    let r = http
        .patch(format!("{base_url}/api/v2/clients/{APP}"))
        .bearer_auth(token)
        .json(&serde_json::json!({"client_authentication_methods": {"private_key_jwt": {"credentials": attached}}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "attaching hand-made credentials: {}", r.status());
    ids
}

/// Runs `keyward ARGS` to completion with `env` (and no `KEYWARD_TOKEN` from the caller's
/// environment).
pub fn keyward_output(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.args(args).env_remove("KEYWARD_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The JSON a successful command printed.
pub fn stdout_json(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}
