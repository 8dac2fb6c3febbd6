//! Reliability under failure (issue 8), bounded and on loopback only; each scenario stops by
//! itself and prints one `CHAOS_REPORT {json}` line (scripts/reliability.sh collects them into
//! docs/reliability.md):
//!
//! 1. three `keyward serve` replicas on one PostgreSQL schema and one emulated Auth0, under a
//!    signing load whose every assertion is exchanged at the emulator, while at least
//!    `KEYWARD_CHAOS_ROTATIONS` (default 30) client rotations are driven and replicas die at saga
//!    points (`KEYWARD_FAULT_EXIT_AFTER`) and at random moments (SIGKILL), or freeze past their
//!    lease (SIGSTOP for 4-9 s, then SIGCONT) and wake up as if nothing happened;
//! 2. the replicas' PostgreSQL connections killed (`pg_terminate_backend`) while rotations are in
//!    flight: RPCs succeed or fail fast with UNAVAILABLE, and the service recovers;
//! 3. Auth0 Management API faults (503s, 429 storms, connections dropped before and after
//!    processing) during scheduled rotations on two replicas, whose keys the test keeps ageing;
//!    the replicas' metrics must agree with the store.
//!
//! Afterwards every rotation is COMPLETED or FAILED, Auth0 holds exactly each client's active
//! credential (nothing orphaned, nothing lost), and no assertion handed out was refused.
//! Nothing here asserts on timing: progress is polled with generous deadlines. Without
//! `KEYWARD_TEST_DATABASE_URL` each scenario prints a NOTE and returns. docs/reliability.md
//! describes the scenarios and what they found.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyward::grpc::proto::{
    self, audit_client::AuditClient, key_rotation_client::KeyRotationClient, signer_client::SignerClient,
};
use keyward::rotation::millis_now;
use keyward::seal::{self, KeyIdentity};
use keyward::store::{KeyState, RotationRecord, RotationState, SqlStore, Store};
use serde_json::{Value, json};
use support::Keyward;
use tonic::Code;
use tonic::transport::Channel;

const TOKEN: &str = "kw-chaos-token-5f0c2a9e";
/// Client deadlines: signing and reads, and a whole rotation (Auth0 answers slowly on purpose).
const SIGN_DEADLINE: Duration = Duration::from_secs(10);
const READ_DEADLINE: Duration = Duration::from_secs(15);
const ROTATE_DEADLINE: Duration = Duration::from_secs(60);
const API: &str = "https://api.demo.local/";
/// Every state the saga persists (`KEYWARD_FAULT_EXIT_AFTER` values).
const STATES: [&str; 8] =
    ["planned", "key_generated", "slot_freed", "registered", "attached", "active", "retired", "completed"];

/// How many rotations each scenario drives (`KEYWARD_CHAOS_ROTATIONS`, default 30).
fn rotations_wanted() -> usize {
    std::env::var("KEYWARD_CHAOS_ROTATIONS").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(30)
}

// ---------------------------------------------------------------------------------------------
// Small tools

/// xorshift64*: the random choices of a run (which replica, which state, when); the seed is in
/// the report and `KEYWARD_CHAOS_SEED` replays the choices (not the timings).
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn seeded(salt: u64) -> (Self, u64) {
        let seed = std::env::var("KEYWARD_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| u64::from_str_radix(&support::random_hex(8), 16).unwrap());
        (Self((seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1), seed)
    }

    fn fork(&mut self, salt: u64) -> Self {
        Self((self.next() ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo + 1))
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

fn authed<T>(message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    r
}

fn code_name(code: Code) -> String {
    format!("{code:?}").to_ascii_uppercase()
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, key: impl Into<String>) {
    *map.lock().unwrap().entry(key.into()).or_default() += 1;
}

/// The scenario's directory (configs, KEK, the replicas' logs): removed after a passing run,
/// kept and named after a failing one.
struct Workdir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl Workdir {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
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
struct World {
    work: Workdir,
    emu: keyward_auth0_emulator::RunningEmulator,
    store_url: String,
    store: Arc<SqlStore>,
    kek_file: PathBuf,
    config: PathBuf,
    clients: Vec<String>,
    http: reqwest::Client,
}

impl World {
    /// `settings` is TOML placed before `[tenants.dev]`, `extra` after it (sections only). The
    /// replicas reach the store at `replica_store` (default: `store_url`, which the test uses).
    async fn new(
        store_url: &str,
        replica_store: Option<&str>,
        clients: Vec<String>,
        settings: &str,
        extra: &str,
    ) -> Self {
        let work = Workdir::new();
        let (emu, _) = support::dev_tenant(&seed(&clients), &[], &[]).await;
        let kek_file = work.path.join("kek");
        std::fs::write(&kek_file, format!("{}\n", seal::Kek::generate(&mut support::rng()).to_text().as_str()))
            .unwrap();
        let list = clients.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ");
        let config = work.path.join("keyward.toml");
        std::fs::write(
            &config,
            format!(
                r#"listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
store = "{replica_store}"
[kek]
file = "{kek}"
[auth]
bearer_token_sha256 = ["{hash}"]
[defaults]
grace_period = "0s"
{settings}
[tenants.dev]
domain = "{domain}"
base_url = "{base}"
management_client_id = "keyward-management"
management_client_secret = "dev-management-secret-change-me"
clients = [{list}]
{extra}
"#,
                replica_store = replica_store.unwrap_or(store_url),
                kek = kek_file.display(),
                hash = support::sha256_hex(TOKEN),
                domain = support::DOMAIN,
                base = emu.base_url(),
            ),
        )
        .unwrap();
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

    fn base_url(&self) -> String {
        self.emu.base_url()
    }

    /// Scripts an emulator fault (crates/keyward-auth0-emulator/src/faults.rs).
    async fn fault(&self, fault: Value) {
        let r = self.http.post(format!("{}/__emulator/faults", self.base_url())).json(&fault).send().await.unwrap();
        assert!(r.status().is_success(), "{fault}: {}", r.status());
    }

    /// Every rotation in the store.
    async fn rotations(&self) -> Vec<RotationRecord> {
        let mut all = Vec::new();
        for state in RotationState::ALL {
            all.extend(self.store.rotations_in_state(*state).await.unwrap());
        }
        all
    }

    async fn unfinished(&self) -> Vec<RotationRecord> {
        self.rotations()
            .await
            .into_iter()
            .filter(|r| !matches!(r.state, RotationState::Completed | RotationState::Failed))
            .collect()
    }

    /// Polls until every rotation is COMPLETED or FAILED (old keys retired included).
    async fn wait_all_finished(&self, fleet: &mut Fleet, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let exits = fleet.watch();
            assert!(exits.is_empty(), "replicas exited while rotations finished: {exits:?}");
            let left = self.unfinished().await;
            if left.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                let lines: Vec<String> = left
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {} {} request {:?} lease {:?} until {} (now {}) old key {:?}",
                            r.rotation_id,
                            r.client_id,
                            r.state,
                            r.request_id,
                            r.lease.owner,
                            r.lease.expires_at,
                            millis_now(),
                            r.old_key_id
                        )
                    })
                    .collect();
                panic!("rotations still unfinished after {within:?}:\n{}", lines.join("\n"));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The final state, per client: exactly one ACTIVE key whose credential is the only one Auth0
    /// holds (attached, nothing orphaned), every other key retired and wiped, plus the
    /// rotation-service invariants (the active key opens and is accepted by Auth0). And every
    /// FAILED rotation was compensated: its new key is wiped and not at Auth0.
    async fn check_final_state(&self, name: &str) {
        let keks_ring = support::kek_ring(&self.kek_file);
        let keks = keks_ring.all();
        let state = support::emulator_state(&self.base_url()).await;
        for client in &self.clients {
            let at_auth0 =
                state["clients"].as_array().unwrap().iter().find(|c| c["client_id"] == client.as_str()).unwrap();
            let creds = at_auth0["credentials"].as_array().unwrap();
            let keys = self.store.keys("dev", client).await.unwrap();
            let active: Vec<_> = keys.iter().filter(|k| k.state == KeyState::Active).collect();
            assert_eq!(active.len(), 1, "{name}: {client} must have exactly one active key: {keys:#?}");
            let active = active[0];
            for k in keys.iter().filter(|k| k.key_id != active.key_id) {
                assert_eq!(k.state, KeyState::Retired, "{name}: {client}: key {} is left {}", k.key_id, k.state);
                assert!(
                    k.sealed.ciphertext.is_empty() && k.sealed.wrapped_dek.is_empty(),
                    "{name}: {client}: retired key {} still holds key material",
                    k.key_id
                );
            }
            let ids: Vec<(&str, bool)> =
                creds.iter().map(|c| (c["kid"].as_str().unwrap_or(""), c["attached"] == true)).collect();
            assert_eq!(
                ids,
                vec![(active.kid.as_str(), true)],
                "{name}: {client}: Auth0 must hold exactly the active credential, attached: {at_auth0}"
            );
            assert_eq!(creds[0]["id"].as_str(), active.credential_id.as_deref(), "{name}: {client}");
            let who = KeyIdentity { tenant: "dev", client_id: client, key_id: &active.key_id };
            assert!(seal::open(&keks, who, &active.sealed).is_ok(), "{name}: {client}: the active key does not open");
            let (status, body) = support::exchange(&self.base_url(), &keks, active).await;
            assert_eq!(status, 200, "{name}: {client}: the active key is refused by Auth0: {body}");
        }
        for r in self.rotations().await.into_iter().filter(|r| r.state == RotationState::Failed) {
            if let Some(id) = &r.new_key_id {
                let k = self.store.key(id).await.unwrap().unwrap();
                assert_eq!(
                    k.state,
                    KeyState::Retired,
                    "{name}: failed rotation {} left key {id} {}",
                    r.rotation_id,
                    k.state
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Replicas

/// Where a replica serves, for the load and the drivers (None while it is down).
#[derive(Debug, Clone)]
struct Endpoint {
    addr: String,
    admin: String,
    id: String,
    generation: u64,
    armed: bool,
}

type View = Arc<Mutex<Vec<Option<Endpoint>>>>;

struct Slot {
    proc: Option<Keyward>,
    id: String,
    armed: Option<&'static str>,
    log: std::fs::File,
    /// While SIGSTOPped: when to SIGCONT it, and where it serves meanwhile (hidden from the load).
    paused: Option<(Instant, Endpoint)>,
}

/// The `keyward serve` processes of a scenario, one per slot, restarted in place.
struct Fleet {
    config: PathBuf,
    slots: Vec<Slot>,
    view: View,
    generation: u64,
}

impl Fleet {
    fn new(world: &World, n: usize) -> Self {
        let slots = (0..n)
            .map(|i| Slot {
                proc: None,
                id: String::new(),
                armed: None,
                paused: None,
                log: std::fs::File::create(world.work.path.join(format!("replica-{i}.log"))).unwrap(),
            })
            .collect();
        Self { config: world.config.clone(), slots, view: Arc::new(Mutex::new(vec![None; n])), generation: 0 }
    }

    /// Starts slot `i` as replica `id`, exiting after `fault` when set.
    async fn start(&mut self, i: usize, id: &str, fault: Option<&'static str>) {
        assert!(self.slots[i].proc.is_none());
        let config = self.config.display().to_string();
        let env_id = id.to_owned();
        let k = tokio::task::spawn_blocking(move || {
            let mut env = vec![("KEYWARD_REPLICA_ID", env_id.as_str())];
            if let Some(f) = fault {
                env.push(("KEYWARD_FAULT_EXIT_AFTER", f));
            }
            support::start(&["serve", "--config", &config], &env)
        })
        .await
        .unwrap();
        self.generation += 1;
        let slot = &mut self.slots[i];
        writeln!(slot.log, "=== start {id} fault={fault:?}: {}", k.banner).unwrap();
        let admin = k.admin_addr().unwrap();
        self.view.lock().unwrap()[i] = Some(Endpoint {
            addr: k.addr.clone(),
            admin,
            id: id.to_owned(),
            generation: self.generation,
            armed: fault.is_some(),
        });
        slot.proc = Some(k);
        slot.id = id.to_owned();
        slot.armed = fault;
    }

    fn alive(&self, i: usize) -> bool {
        self.slots[i].proc.is_some()
    }

    fn endpoint(&self, i: usize) -> Endpoint {
        self.view.lock().unwrap()[i].clone().unwrap()
    }

    /// Copies what the replicas printed into their logs.
    fn drain(&mut self) {
        for s in &mut self.slots {
            if let Some(p) = &s.proc {
                for line in p.output_so_far() {
                    writeln!(s.log, "{}: {line}", s.id).unwrap();
                }
            }
        }
    }

    /// Replicas that exited by themselves since the last call: (slot, exit code, fault state).
    fn watch(&mut self) -> Vec<(usize, Option<i32>, Option<&'static str>)> {
        self.drain();
        let mut out = Vec::new();
        for (i, s) in self.slots.iter_mut().enumerate() {
            let Some(p) = &mut s.proc else { continue };
            if let Some(status) = p.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                for line in p.output_so_far() {
                    writeln!(s.log, "{}: {line}", s.id).unwrap();
                }
                writeln!(s.log, "=== {} exited: {status}", s.id).unwrap();
                s.proc = None;
                self.view.lock().unwrap()[i] = None;
                out.push((i, status.code(), s.armed.take()));
            }
        }
        out
    }

    /// SIGKILL, at whatever point the replica is.
    fn sigkill(&mut self, i: usize) {
        self.drain();
        self.view.lock().unwrap()[i] = None;
        let s = &mut self.slots[i];
        if let Some(p) = s.proc.take() {
            p.kill();
        }
        s.armed = None;
        writeln!(s.log, "=== {} SIGKILLed by the test", s.id).unwrap();
    }

    /// SIGSTOP for `how_long`: the replica freezes at whatever line it is, its leases lapse
    /// and other replicas take its work over; [`Fleet::wake_due`] resumes it.
    fn sigstop(&mut self, i: usize, how_long: Duration) {
        self.drain();
        let endpoint = self.view.lock().unwrap()[i].take().unwrap();
        let s = &mut self.slots[i];
        let pid = s.proc.as_ref().unwrap().child.id().to_string();
        assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
        writeln!(s.log, "=== {} SIGSTOPped by the test for {how_long:?}", s.id).unwrap();
        s.paused = Some((Instant::now() + how_long, endpoint));
    }

    fn paused(&self, i: usize) -> bool {
        self.slots[i].paused.is_some()
    }

    /// SIGCONT to every paused replica whose pause is over (all of them with `all`); how many.
    fn wake_due(&mut self, all: bool) -> usize {
        let mut woken = 0;
        for i in 0..self.slots.len() {
            let s = &mut self.slots[i];
            let Some((until, _)) = &s.paused else { continue };
            if !all && Instant::now() < *until {
                continue;
            }
            let (_, endpoint) = s.paused.take().unwrap();
            let pid = s.proc.as_ref().unwrap().child.id().to_string();
            assert!(std::process::Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
            writeln!(s.log, "=== {} SIGCONTinued by the test", s.id).unwrap();
            self.view.lock().unwrap()[i] = Some(endpoint);
            woken += 1;
        }
        woken
    }

    /// The tail of every replica's log, for a failure message.
    fn tails(&mut self, work: &Path) -> String {
        self.drain();
        let mut out = String::new();
        for i in 0..self.slots.len() {
            let text = std::fs::read_to_string(work.join(format!("replica-{i}.log"))).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- replica slot {i} (last 40 lines)\n"));
            for l in &lines[lines.len().saturating_sub(40)..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

fn random_endpoint(view: &View, rng: &mut Rng, prefer_armed: bool) -> Option<Endpoint> {
    let up: Vec<Endpoint> = view.lock().unwrap().iter().flatten().cloned().collect();
    if up.is_empty() {
        return None;
    }
    let armed: Vec<&Endpoint> = up.iter().filter(|e| e.armed).collect();
    if prefer_armed && !armed.is_empty() && rng.chance(70) {
        return Some(armed[rng.below(armed.len())].clone());
    }
    Some(up[rng.below(up.len())].clone())
}

async fn connect(addr: &str) -> Result<Channel, tonic::transport::Error> {
    Channel::from_shared(format!("http://{addr}")).unwrap().connect_timeout(Duration::from_secs(2)).connect().await
}

/// How one RPC ended.
#[derive(Debug)]
enum Outcome<T> {
    Ok(T),
    Status(tonic::Status),
    /// The replica could not be reached at all.
    Connect(String),
    /// The client's deadline fired: the RPC neither succeeded nor failed in time.
    Deadline,
}

impl<T> Outcome<T> {
    fn label(&self) -> String {
        match self {
            Outcome::Ok(_) => "OK".into(),
            Outcome::Status(s) => code_name(s.code()),
            Outcome::Connect(_) => "CONNECT".into(),
            Outcome::Deadline => "DEADLINE".into(),
        }
    }

    /// What went wrong, for a failure message.
    fn detail(&self) -> String {
        match self {
            Outcome::Ok(_) => "OK".into(),
            Outcome::Status(s) => format!("{:?}: {}", s.code(), s.message()),
            Outcome::Connect(e) => format!("cannot connect: {e}"),
            Outcome::Deadline => "the client's deadline fired".into(),
        }
    }
}

/// Sends an RPC with a client deadline (as grpc-timeout, also enforced here a second later).
async fn with_deadline<T, M>(
    mut req: tonic::Request<M>,
    deadline: Duration,
    call: impl AsyncFnOnce(tonic::Request<M>) -> Result<tonic::Response<T>, tonic::Status>,
) -> Outcome<T> {
    req.set_timeout(deadline);
    match tokio::time::timeout(deadline + Duration::from_secs(1), call(req)).await {
        Err(_) => Outcome::Deadline,
        Ok(Ok(r)) => Outcome::Ok(r.into_inner()),
        Ok(Err(s)) if s.code() == Code::DeadlineExceeded => Outcome::Deadline,
        Ok(Err(s)) if s.code() == Code::Cancelled && s.message().contains("Timeout") => Outcome::Deadline,
        Ok(Err(s)) => Outcome::Status(s),
    }
}

/// RotateClientCredential with a client deadline (sent as grpc-timeout, and enforced here).
async fn rotate_call(
    addr: &str,
    client: &str,
    request_id: &str,
    deadline: Duration,
) -> Outcome<proto::RotateClientCredentialResponse> {
    let channel = match connect(addr).await {
        Ok(c) => c,
        Err(e) => return Outcome::Connect(format!("{e:?}")),
    };
    let mut rpc = KeyRotationClient::new(channel);
    let req = authed(proto::RotateClientCredentialRequest {
        tenant: "dev".into(),
        client_id: client.into(),
        request_id: request_id.into(),
        ..Default::default()
    });
    with_deadline(req, deadline, async |r| rpc.rotate_client_credential(r).await).await
}

/// Whether a failed RPC is what a dying replica, a lease held elsewhere or a paused rotation
/// looks like (retry the same request_id).
fn transient(s: &tonic::Status) -> bool {
    match s.code() {
        Code::Aborted | Code::Unavailable => true,
        // A connection cut mid-call by a killed replica (h2/hyper errors carry no gRPC status).
        Code::Unknown | Code::Internal | Code::Cancelled => {
            let m = s.message().to_ascii_lowercase();
            m.contains("transport") || m.contains("connection") || m.contains("h2 protocol") || m.contains("stream")
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// The signing load

/// What the load saw.
#[derive(Default)]
struct Load {
    signed: AtomicU64,
    exchanged: AtomicU64,
    /// Assertions the emulator refused (must stay empty).
    failures: Mutex<Vec<String>>,
    /// Signing RPC outcomes other than OK, by "slot/CODE".
    sign_errors: Mutex<BTreeMap<String, u64>>,
    /// Signing RPC outcomes by code (all slots).
    sign_codes: Mutex<BTreeMap<String, u64>>,
    /// Successful signatures per slot.
    per_slot: Mutex<BTreeMap<usize, u64>>,
    /// When the never-killed replica (slot 0) signed successfully.
    stable_ok: Mutex<Vec<Instant>>,
    /// Error samples (first few messages).
    samples: Mutex<Vec<String>>,
    /// The longest time a failing signing call took to fail (ms).
    slowest_failure_ms: AtomicU64,
}

/// Exchanges an assertion at the emulator's token endpoint; 429s (none expected) are waited out.
async fn exchange(http: &reqwest::Client, base: &str, assertion: &str) -> (u16, String) {
    for _ in 0..20 {
        let r = http
            .post(format!("{base}/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion),
                ("audience", API),
            ])
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        if status != 429 {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (429, "rate limited 20 times".into())
}

/// Signs client assertions through the replica in `slot` (whichever process is there now), for
/// `clients` in turn, and exchanges every one at the emulator, until `stop`.
#[allow(clippy::too_many_arguments)]
async fn sign_worker(
    slot: usize,
    view: View,
    clients: Vec<String>,
    load: Arc<Load>,
    stop: Arc<AtomicBool>,
    http: reqwest::Client,
    base: String,
    pause: Duration,
) {
    let mut conn: Option<(u64, SignerClient<Channel>)> = None;
    let mut n = 0usize;
    while !stop.load(SeqCst) {
        let Some(ep) = view.lock().unwrap()[slot].clone() else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if conn.as_ref().is_none_or(|(g, _)| *g != ep.generation) {
            match connect(&ep.addr).await {
                Ok(c) => conn = Some((ep.generation, SignerClient::new(c))),
                Err(_) => {
                    bump(&load.sign_errors, format!("{slot}/CONNECT"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            }
        }
        let signer = &mut conn.as_mut().unwrap().1;
        let client = &clients[n % clients.len()];
        n += 1;
        let req = authed(proto::SignClientAssertionRequest {
            tenant: "dev".into(),
            client_id: client.clone(),
            audience: String::new(),
            lifetime: Some(prost_types::Duration { seconds: 10, nanos: 0 }),
        });
        let t0 = Instant::now();
        let outcome = with_deadline(req, SIGN_DEADLINE, async |r| signer.sign_client_assertion(r).await).await;
        bump(&load.sign_codes, outcome.label());
        match outcome {
            Outcome::Ok(a) => {
                load.signed.fetch_add(1, SeqCst);
                *load.per_slot.lock().unwrap().entry(slot).or_default() += 1;
                if slot == 0 {
                    load.stable_ok.lock().unwrap().push(Instant::now());
                }
                let (status, body) = exchange(&http, &base, &a.assertion).await;
                if status == 200 {
                    load.exchanged.fetch_add(1, SeqCst);
                } else {
                    load.failures.lock().unwrap().push(format!(
                        "{client} kid {} via {} at {}: {status} {body}",
                        a.kid,
                        ep.id,
                        millis_now()
                    ));
                }
            }
            other => {
                load.slowest_failure_ms.fetch_max(u64::try_from(t0.elapsed().as_millis()).unwrap(), SeqCst);
                bump(&load.sign_errors, format!("{slot}/{}", other.label()));
                let mut samples = load.samples.lock().unwrap();
                if samples.len() < 20 {
                    samples.push(format!("slot {slot} ({}): {}", ep.id, other.detail()));
                }
                // A transport failure: reconnect (the replica may be a new process).
                conn = None;
            }
        }
        tokio::time::sleep(pause).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Rotation drivers

/// What the rotation drivers saw.
#[derive(Default)]
struct Driven {
    /// Rotations that answered ACTIVE or COMPLETED (each a distinct request_id).
    ok: AtomicUsize,
    /// Slots handed out to drivers (never more than wanted).
    claimed: AtomicUsize,
    /// request_ids that succeeded.
    request_ids: Mutex<Vec<String>>,
    /// Their rotation ids.
    rotation_ids: Mutex<Vec<String>>,
    /// FAILED_PRECONDITION "can proceed at": a retiring key's assertions were still live.
    refusals: AtomicU64,
    /// Rotations that ended FAILED for another reason (compensated).
    failed: Mutex<Vec<String>>,
    /// RPC outcomes by code.
    codes: Mutex<BTreeMap<String, u64>>,
    /// The longest time a failing RotateClientCredential took to fail (ms).
    slowest_failure_ms: AtomicU64,
    /// Error samples.
    samples: Mutex<Vec<String>>,
}

/// Whether `client` may rotate again: no retiring key whose assertions may still be live.
async fn ready_to_rotate(store: &SqlStore, client: &str) -> bool {
    let now = millis_now();
    match store.keys("dev", client).await {
        Ok(keys) => keys.iter().all(|k| k.state != KeyState::Retiring || k.last_signed_exp.unwrap_or(0) + 1000 < now),
        Err(_) => false,
    }
}

/// Drives one rotation of `client` to success: retries the same request_id through any live
/// replica on ABORTED, UNAVAILABLE, transport errors and deadlines, and a new request_id after
/// a refusal or a compensated failure.
async fn drive_one(
    view: &View,
    rng: &mut Rng,
    client: &str,
    base_rid: &str,
    driven: &Driven,
    deadline: Duration,
    prefer_armed: bool,
) -> String {
    let mut rid = base_rid.to_owned();
    let mut retry = 0;
    let give_up = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(Instant::now() < give_up, "rotation {rid} of {client} did not finish within 300 s");
        let Some(ep) = random_endpoint(view, rng, prefer_armed) else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let t0 = Instant::now();
        let outcome = rotate_call(&ep.addr, client, &rid, deadline).await;
        bump(&driven.codes, outcome.label());
        let failed_after = u64::try_from(t0.elapsed().as_millis()).unwrap();
        if !matches!(outcome, Outcome::Ok(_)) {
            driven.slowest_failure_ms.fetch_max(failed_after, SeqCst);
            let mut samples = driven.samples.lock().unwrap();
            if samples.len() < 30 {
                samples.push(format!("{rid} via {}: {}", ep.id, outcome.detail()));
            }
        }
        match outcome {
            Outcome::Ok(r) => {
                let state = r.rotation.as_ref().unwrap().state();
                assert!(
                    matches!(state, proto::RotationState::Active | proto::RotationState::Completed),
                    "{rid}: answered {state:?}"
                );
                driven.ok.fetch_add(1, SeqCst);
                driven.request_ids.lock().unwrap().push(rid.clone());
                driven.rotation_ids.lock().unwrap().push(r.rotation.unwrap().rotation_id);
                return rid;
            }
            Outcome::Status(s) if transient(&s) => {}
            Outcome::Connect(_) | Outcome::Deadline => {}
            Outcome::Status(s) if s.code() == Code::FailedPrecondition => {
                if s.message().contains("can proceed at") {
                    driven.refusals.fetch_add(1, SeqCst);
                } else {
                    driven.failed.lock().unwrap().push(format!("{rid}: {}", s.message()));
                }
                retry += 1;
                rid = format!("{base_rid}-r{retry}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Outcome::Status(s) => panic!("{rid} via {}: unexpected {s:?}", ep.id),
        }
        tokio::time::sleep(rng.ms(100, 500)).await;
    }
}

/// Rotates clients from `queue` (each client by one driver at a time, once it is ready) until
/// `wanted` rotations were claimed.
#[allow(clippy::too_many_arguments)]
async fn rotation_driver(
    name: &'static str,
    view: View,
    store: Arc<SqlStore>,
    queue: Arc<Mutex<VecDeque<String>>>,
    driven: Arc<Driven>,
    wanted: usize,
    mut rng: Rng,
    deadline: Duration,
    prefer_armed: bool,
) {
    loop {
        let n = driven.claimed.fetch_add(1, SeqCst);
        if n >= wanted {
            return;
        }
        let client = loop {
            let candidates: Vec<String> = queue.lock().unwrap().iter().cloned().collect();
            let mut found = None;
            for c in candidates {
                if ready_to_rotate(&store, &c).await {
                    let mut q = queue.lock().unwrap();
                    if let Some(pos) = q.iter().position(|x| *x == c) {
                        q.remove(pos);
                        found = Some(c);
                        break;
                    }
                }
            }
            match found {
                Some(c) => break c,
                None => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        };
        let rid = format!("{name}-{n:04}-{}", support::random_hex(4));
        drive_one(&view, &mut rng, &client, &rid, &driven, deadline, prefer_armed).await;
        queue.lock().unwrap().push_back(client);
    }
}

/// The first rotation of every client (its first key), through slot 0.
async fn first_keys(world: &World, fleet: &Fleet) {
    let addr = fleet.endpoint(0).addr;
    for c in &world.clients {
        match rotate_call(&addr, c, &format!("first-{c}"), ROTATE_DEADLINE).await {
            Outcome::Ok(_) => {}
            other => panic!("first rotation of {c}: {other:?}"),
        }
    }
}

fn states_count(rotations: &[RotationRecord]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in rotations {
        *m.entry(r.state.as_str().to_owned()).or_default() += 1;
    }
    m
}

/// One line for scripts/reliability.sh (shown with `--nocapture`).
fn report(value: &Value) {
    println!("CHAOS_REPORT {value}");
}

/// Panics (with the replicas' logs) if a background task of the test failed.
async fn check_tasks(tasks: &mut Vec<tokio::task::JoinHandle<()>>, what: &str, fleet: &mut Fleet, work: &Path) {
    while let Some(i) = tasks.iter().position(tokio::task::JoinHandle::is_finished) {
        if let Err(e) = tasks.remove(i).await {
            panic!("{what} failed: {e}\n{}", fleet.tails(work));
        }
    }
}

/// The admin port's `/metrics` text.
async fn scrape(http: &reqwest::Client, admin: &str) -> String {
    let r = http.get(format!("http://{admin}/metrics")).send().await.unwrap();
    assert!(r.status().is_success(), "/metrics on {admin}: {}", r.status());
    r.text().await.unwrap()
}

/// Every series of the metric `name` (with its labels) and its value.
fn series(metrics: &str, name: &str) -> BTreeMap<String, f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Replicas killed mid-rotation

// The tests are named so that libtest (which runs them in name order, two at a time on two
// cores) starts the longest one first beside the second, and the third after the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s1_replicas_killed_mid_rotation_under_signing_load() {
    let Some(store_url) = support::pg_schema_url().await else { return };
    let t0 = Instant::now();
    let wanted = rotations_wanted();
    let (mut rng, seed) = Rng::seeded(1);
    let clients: Vec<String> = (0..(wanted / 2).clamp(3, 40)).map(|i| format!("chaos-app-{i:02}")).collect();
    let settings = "[scheduler]\nenabled = false\nlease_ttl = \"3s\"";
    let world = World::new(&store_url, None, clients.clone(), settings, "").await;
    let mut fleet = Fleet::new(&world, 3);
    fleet.start(0, "stable", None).await;
    first_keys(&world, &fleet).await;

    // Auth0 answers credential creation and client updates slowly (0.6 s each), so that a
    // rotation spends long enough between saga states for kills to land inside it.
    for method in ["POST", "PATCH"] {
        world
            .fault(json!({"method": method, "path_prefix": "/api/v2/clients/", "times": 1_000_000,
                           "action": {"kind": "delay", "delay_ms": 600}}))
            .await;
    }
    let mut generation = [0u32; 3];
    let first_fault = rng.pick(&STATES);
    fleet.start(1, "r1-g0", Some(first_fault)).await;
    fleet.start(2, "r2-g0", None).await;

    let load = Arc::new(Load::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for slot in 0..3 {
        workers.push(tokio::spawn(sign_worker(
            slot,
            fleet.view.clone(),
            clients.clone(),
            load.clone(),
            stop.clone(),
            world.http.clone(),
            world.base_url(),
            Duration::from_millis(40),
        )));
    }
    let driven = Arc::new(Driven::default());
    let queue = Arc::new(Mutex::new(clients.iter().cloned().collect::<VecDeque<_>>()));
    let mut drivers = Vec::new();
    for d in 0..3 {
        drivers.push(tokio::spawn(rotation_driver(
            "chaos",
            fleet.view.clone(),
            world.store.clone(),
            queue.clone(),
            driven.clone(),
            wanted,
            rng.fork(d),
            ROTATE_DEADLINE,
            true,
        )));
    }

    // Kill replicas 1 and 2 (never 0) until the drivers are done.
    let mut fault_exits: BTreeMap<&str, u64> = BTreeMap::new();
    let (mut sigkills, mut sigkills_holding_lease) = (0u64, 0u64);
    let (mut sigstops, mut sigstops_holding_lease) = (0u64, 0u64);
    let mut kill_times: Vec<Instant> = Vec::new();
    let mut last_kill = Instant::now();
    let mut quiet_kill = rng.ms(5000, 15000);
    let deadline = Instant::now() + Duration::from_secs(600);
    while driven.ok.load(SeqCst) < wanted {
        assert!(Instant::now() < deadline, "the drivers did not finish in 600 s\n{}", fleet.tails(&world.work.path));
        check_tasks(&mut drivers, "a rotation driver", &mut fleet, &world.work.path).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        fleet.wake_due(false);
        for (i, code, fault) in fleet.watch() {
            assert_eq!(
                code,
                Some(86),
                "replica slot {i} exited by itself, not by fault injection\n{}",
                fleet.tails(&world.work.path)
            );
            *fault_exits.entry(fault.unwrap()).or_default() += 1;
            kill_times.push(Instant::now());
            generation[i] += 1;
            // A new name: the dead replica's leases must lapse before anyone resumes its rotations.
            fleet.start(i, &format!("r{i}-g{}", generation[i]), None).await;
            last_kill = Instant::now();
        }
        // SIGKILL: preferably the replica driving an open rotation (a random saga point), else,
        // after a quiet spell, either killable replica at a random moment.
        if last_kill.elapsed() >= Duration::from_millis(2500) {
            let now = millis_now();
            let open = world.store.open_rotations().await.unwrap();
            let drivers_of_open: Vec<usize> = (1..3)
                .filter(|i| fleet.alive(*i) && !fleet.paused(*i))
                .filter(|i| {
                    let id = fleet.endpoint(*i).id;
                    open.iter().any(|r| r.lease.owner.as_deref() == Some(id.as_str()) && r.lease.expires_at > now)
                })
                .collect();
            let victim = if !drivers_of_open.is_empty() && rng.chance(30) {
                tokio::time::sleep(rng.ms(0, 400)).await;
                Some(rng.pick(&drivers_of_open))
            } else if last_kill.elapsed() >= quiet_kill {
                Some(1 + rng.below(2)).filter(|i| fleet.alive(*i) && !fleet.paused(*i))
            } else {
                None
            };
            if let Some(i) = victim {
                let id = fleet.endpoint(i).id;
                let now = millis_now();
                let open = world.store.open_rotations().await.unwrap();
                let holding =
                    open.iter().any(|r| r.lease.owner.as_deref() == Some(id.as_str()) && r.lease.expires_at > now);
                // A pause instead of a kill, the first time and 40% of the others: frozen past
                // its 3 s lease (its work is taken over), then resumed as if nothing happened.
                if sigstops == 0 || rng.chance(40) {
                    fleet.sigstop(i, rng.ms(4000, 9000));
                    sigstops += 1;
                    sigstops_holding_lease += u64::from(holding);
                    kill_times.push(Instant::now());
                    last_kill = Instant::now();
                    quiet_kill = rng.ms(5000, 15000);
                    continue;
                }
                if holding {
                    sigkills_holding_lease += 1;
                }
                fleet.sigkill(i);
                sigkills += 1;
                kill_times.push(Instant::now());
                last_kill = Instant::now();
                quiet_kill = rng.ms(5000, 15000);
                // Back under the same name half of the time (it resumes its own rotations at
                // start), else under a new one; armed with a fault more often than not.
                if rng.chance(50) {
                    generation[i] += 1;
                }
                let fault = rng.chance(60).then(|| rng.pick(&STATES));
                fleet.start(i, &format!("r{i}-g{}", generation[i]), fault).await;
            }
        }
    }
    for d in drivers {
        d.await.unwrap();
    }
    // No more kills or pauses: resume the paused, disarm what is still armed (a last SIGKILL),
    // then let everything finish while the load goes on.
    fleet.wake_due(true);
    for (i, g) in generation.iter_mut().enumerate().skip(1) {
        if fleet.slots[i].armed.is_some() {
            fleet.sigkill(i);
            sigkills += 1;
            kill_times.push(Instant::now());
            *g += 1;
            fleet.start(i, &format!("r{i}-g{g}"), None).await;
        }
    }
    let last_kill = Instant::now();
    let standing = world.http.delete(format!("{}/__emulator/faults", world.base_url())).send().await.unwrap();
    assert!(standing.status().is_success());
    world.wait_all_finished(&mut fleet, Duration::from_secs(300)).await;
    // The final phase lasts at least a few seconds of signing.
    while last_kill.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    let exits = fleet.watch();
    assert!(exits.is_empty(), "replicas exited after the kills stopped: {exits:?}\n{}", fleet.tails(&world.work.path));

    // Every phase: before the first kill, after each kill (before the next one, or within 10 s
    // when the next one came sooner), after the last one.
    let stable = load.stable_ok.lock().unwrap().clone();
    let first = kill_times.first().copied().unwrap_or(last_kill);
    assert!(stable.iter().any(|t| *t < first), "the stable replica did not sign before the first kill");
    for (n, k) in kill_times.iter().enumerate() {
        let until = kill_times.get(n + 1).copied().unwrap_or(last_kill).max(*k + Duration::from_secs(10));
        assert!(
            stable.iter().any(|t| *t > *k && *t <= until),
            "the stable replica did not sign between kill #{n} and {:?} later",
            until - *k
        );
    }
    assert!(stable.iter().any(|t| *t > last_kill), "the stable replica did not sign after the last kill");

    let failures = load.failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "assertions refused by Auth0: {failures:#?}\n{}", fleet.tails(&world.work.path));
    let stable_errors: Vec<(String, u64)> = load
        .sign_errors
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("0/"))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert!(
        stable_errors.iter().all(|(k, _)| k == "0/UNAVAILABLE"),
        "the stable replica failed signing calls: {stable_errors:?} {:#?}",
        load.samples.lock().unwrap()
    );
    let rotations = world.rotations().await;
    assert!(rotations.iter().all(|r| matches!(r.state, RotationState::Completed | RotationState::Failed)));
    for rid in driven.request_ids.lock().unwrap().iter() {
        let r = rotations.iter().find(|r| r.request_id.as_deref() == Some(rid.as_str())).unwrap();
        assert_eq!(r.state, RotationState::Completed, "{rid}: {r:?}");
    }
    world.check_final_state("replicas killed").await;
    assert!(sigkills > 0, "no replica was SIGKILLed");
    assert!(sigstops > 0, "no replica was SIGSTOPped");

    let failed_other = driven.failed.lock().unwrap().clone();
    report(&json!({
        "scenario": "replicas-killed",
        "seed": seed,
        "replicas": 3,
        "clients": clients.len(),
        "rotations": driven.ok.load(SeqCst),
        "rotations_in_store": states_count(&rotations),
        "kills": {
            "fault_exit": fault_exits,
            "fault_exit_total": fault_exits.values().sum::<u64>(),
            "sigkill": sigkills,
            "sigkill_holding_a_lease": sigkills_holding_lease,
            "sigstop": sigstops,
            "sigstop_holding_a_lease": sigstops_holding_lease,
        },
        "rotate_rpcs": *driven.codes.lock().unwrap(),
        "refusals": driven.refusals.load(SeqCst),
        "failed_rotations_other": failed_other.len(),
        "assertions": {
            "signed": load.signed.load(SeqCst),
            "exchanged": load.exchanged.load(SeqCst),
            "failures": failures.len(),
            "stable_replica_signed": stable.len(),
        },
        "sign_rpcs": *load.sign_codes.lock().unwrap(),
        "seconds": t0.elapsed().as_secs(),
    }));
    if !failed_other.is_empty() {
        eprintln!("rotations that failed (compensated) for another reason than a refusal: {failed_other:#?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. PostgreSQL connections killed mid-rotation

/// The store-reading RPCs the probes call.
const PROBES: [&str; 4] = ["GetRotation", "ListClientCredentials", "ListRotationPolicies", "ListAuditEvents"];

/// What the probes saw.
#[derive(Default)]
struct Probes {
    /// Outcomes by "Method/CODE".
    codes: Mutex<BTreeMap<String, u64>>,
    /// Outcomes other than OK and UNAVAILABLE (must stay empty).
    unexpected: Mutex<Vec<String>>,
    /// The longest time a failing probe took to fail (ms).
    slowest_failure_ms: AtomicU64,
}

/// One call of the probe `which` through `channel`.
async fn probe(channel: &Channel, which: usize, client: &str, rotation_id: &str) -> Outcome<()> {
    let mut rotation = KeyRotationClient::new(channel.clone());
    match PROBES[which] {
        "GetRotation" => {
            let req = authed(proto::GetRotationRequest { rotation_id: rotation_id.into() });
            unit(with_deadline(req, READ_DEADLINE, async |r| rotation.get_rotation(r).await).await)
        }
        "ListClientCredentials" => {
            let req = authed(proto::ListClientCredentialsRequest { tenant: "dev".into(), client_id: client.into() });
            unit(with_deadline(req, READ_DEADLINE, async |r| rotation.list_client_credentials(r).await).await)
        }
        "ListRotationPolicies" => {
            let req = authed(proto::ListRotationPoliciesRequest { tenant: "dev".into() });
            unit(with_deadline(req, READ_DEADLINE, async |r| rotation.list_rotation_policies(r).await).await)
        }
        _ => {
            let mut audit = AuditClient::new(channel.clone());
            let req = authed(proto::ListAuditEventsRequest { after_id: 0, limit: 20 });
            unit(with_deadline(req, READ_DEADLINE, async |r| audit.list_audit_events(r).await).await)
        }
    }
}

fn unit<T>(o: Outcome<T>) -> Outcome<()> {
    match o {
        Outcome::Ok(_) => Outcome::Ok(()),
        Outcome::Status(s) => Outcome::Status(s),
        Outcome::Connect(e) => Outcome::Connect(e),
        Outcome::Deadline => Outcome::Deadline,
    }
}

/// Calls the probes in turn through the replica in `slot` until `stop`.
#[allow(clippy::too_many_arguments)]
async fn probe_worker(
    slot: usize,
    view: View,
    clients: Vec<String>,
    driven: Arc<Driven>,
    probes: Arc<Probes>,
    stop: Arc<AtomicBool>,
    mut rng: Rng,
) {
    let mut conn: Option<(u64, Channel)> = None;
    while !stop.load(SeqCst) {
        let Some(ep) = view.lock().unwrap()[slot].clone() else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if conn.as_ref().is_none_or(|(g, _)| *g != ep.generation) {
            conn = Some((ep.generation, connect(&ep.addr).await.unwrap()));
        }
        let channel = &conn.as_ref().unwrap().1;
        let rotation_id = {
            let ids = driven.rotation_ids.lock().unwrap();
            if ids.is_empty() { String::new() } else { ids[rng.below(ids.len())].clone() }
        };
        let which = if rotation_id.is_empty() { 1 + rng.below(PROBES.len() - 1) } else { rng.below(PROBES.len()) };
        let client = rng.pick(&clients.iter().map(String::as_str).collect::<Vec<_>>()).to_owned();
        let t0 = Instant::now();
        let outcome = probe(channel, which, &client, &rotation_id).await;
        bump(&probes.codes, format!("{}/{}", PROBES[which], outcome.label()));
        match &outcome {
            Outcome::Ok(()) => {}
            other => {
                probes.slowest_failure_ms.fetch_max(u64::try_from(t0.elapsed().as_millis()).unwrap(), SeqCst);
                if !matches!(other, Outcome::Status(s) if s.code() == Code::Unavailable) {
                    probes.unexpected.lock().unwrap().push(format!(
                        "{} via {} after {:?}: {}",
                        PROBES[which],
                        ep.id,
                        t0.elapsed(),
                        other.detail()
                    ));
                }
            }
        }
        tokio::time::sleep(rng.ms(20, 80)).await;
    }
}

/// What the test did to the replicas' PostgreSQL connections.
#[derive(Debug, Default)]
struct PgKills {
    /// Single rounds of terminations.
    sweeps: u64,
    /// Spells during which every new connection was terminated as soon as it showed up.
    storms: u64,
    storm_ms: u64,
    /// Backends terminated, and of those, how many were running a query or a transaction.
    backends: u64,
    busy: u64,
}

/// Terminates every PostgreSQL backend named `app`: the replicas' store connections, and no one
/// else's (the test's own connections carry no such name).
async fn terminate_backends(admin: &sqlx::PgPool, app: &str, kills: &mut PgKills) {
    let rows: Vec<(Option<String>, Option<bool>)> = sqlx::query_as(
        "SELECT state, pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1 AND pid <> pg_backend_pid()",
    )
    .bind(app)
    .fetch_all(admin)
    .await
    .unwrap();
    for (state, killed) in rows {
        if killed == Some(true) {
            kills.backends += 1;
            if state.as_deref().is_some_and(|s| s != "idle") {
                kills.busy += 1;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s2_postgres_connections_killed_mid_rotation() {
    let Some(store_url) = support::pg_schema_url().await else { return };
    let admin_url = std::env::var("KEYWARD_TEST_DATABASE_URL").unwrap();
    let t0 = Instant::now();
    let wanted = rotations_wanted();
    let (mut rng, seed) = Rng::seeded(2);
    // The replicas' connections carry this application_name (sqlx takes it from the URL); the
    // test kills those and only those. The PostgreSQL server itself keeps running.
    let app = format!("kwchaos_{}", support::random_hex(6));
    let sep = if store_url.contains('?') { '&' } else { '?' };
    let replica_store = format!("{store_url}{sep}application_name={app}");
    // Signed throughout (rotated early, once: a signed key retires a minute after its last
    // signature), and rotated only (again and again).
    let signed: Vec<String> = (0..3).map(|i| format!("pg-signed-{i:02}")).collect();
    let rotated: Vec<String> = (0..6).map(|i| format!("pg-rotated-{i:02}")).collect();
    let clients: Vec<String> = signed.iter().chain(&rotated).cloned().collect();
    let settings = "[scheduler]\nenabled = false\nlease_ttl = \"3s\"";
    let world = World::new(&store_url, Some(&replica_store), clients.clone(), settings, "").await;
    let mut fleet = Fleet::new(&world, 2);
    fleet.start(0, "pg-a", None).await;
    fleet.start(1, "pg-b", None).await;
    first_keys(&world, &fleet).await;
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    let named: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
        .bind(&app)
        .fetch_one(&admin)
        .await
        .unwrap();
    assert!(named > 0, "no PostgreSQL connection is named {app}: the kills would miss the replicas");

    // Slow Auth0 writes keep rotations open long enough for kills to land inside them.
    for method in ["POST", "PATCH"] {
        world
            .fault(json!({"method": method, "path_prefix": "/api/v2/clients/", "times": 1_000_000,
                           "action": {"kind": "delay", "delay_ms": 300}}))
            .await;
    }
    let load = Arc::new(Load::default());
    let probes = Arc::new(Probes::default());
    let driven = Arc::new(Driven::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for slot in 0..2 {
        workers.push(tokio::spawn(sign_worker(
            slot,
            fleet.view.clone(),
            signed.clone(),
            load.clone(),
            stop.clone(),
            world.http.clone(),
            world.base_url(),
            Duration::from_millis(40),
        )));
        workers.push(tokio::spawn(probe_worker(
            slot,
            fleet.view.clone(),
            clients.clone(),
            driven.clone(),
            probes.clone(),
            stop.clone(),
            rng.fork(10 + slot as u64),
        )));
    }
    let queue = Arc::new(Mutex::new(clients.iter().cloned().collect::<VecDeque<_>>()));
    let mut drivers = Vec::new();
    for d in 0..3 {
        drivers.push(tokio::spawn(rotation_driver(
            "pg",
            fleet.view.clone(),
            world.store.clone(),
            queue.clone(),
            driven.clone(),
            wanted,
            rng.fork(d),
            ROTATE_DEADLINE,
            false,
        )));
    }

    // Kill the replicas' connections while rotations are open: single sweeps, and storms that
    // kill every new connection for a few seconds.
    let mut kills = PgKills::default();
    let deadline = Instant::now() + Duration::from_secs(600);
    while driven.ok.load(SeqCst) < wanted {
        assert!(Instant::now() < deadline, "the drivers did not finish in 600 s\n{}", fleet.tails(&world.work.path));
        check_tasks(&mut drivers, "a rotation driver", &mut fleet, &world.work.path).await;
        check_tasks(&mut workers, "a load or probe worker", &mut fleet, &world.work.path).await;
        let exits = fleet.watch();
        assert!(exits.is_empty(), "replicas exited: {exits:?}\n{}", fleet.tails(&world.work.path));
        tokio::time::sleep(rng.ms(200, 1200)).await;
        if world.store.open_rotations().await.unwrap().is_empty() && !rng.chance(25) {
            continue;
        }
        if rng.chance(30) {
            let length = rng.ms(1000, 4000);
            let until = Instant::now() + length;
            kills.storms += 1;
            kills.storm_ms += u64::try_from(length.as_millis()).unwrap();
            while Instant::now() < until {
                terminate_backends(&admin, &app, &mut kills).await;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        } else {
            kills.sweeps += 1;
            terminate_backends(&admin, &app, &mut kills).await;
        }
    }
    for d in drivers {
        d.await.unwrap();
    }

    // Recovery: every probe and a rotation succeed again on both replicas.
    let recovery = Instant::now();
    for (slot, rotated_client) in rotated.iter().take(2).enumerate() {
        let channel = connect(&fleet.endpoint(slot).addr).await.unwrap();
        let rid = driven.rotation_ids.lock().unwrap()[0].clone();
        for (which, name) in PROBES.iter().enumerate() {
            let (channel, rid, client) = (channel.clone(), rid.clone(), clients[0].clone());
            support::eventually(&format!("{name} on replica {slot} after the kills"), move || {
                let (channel, rid, client) = (channel.clone(), rid.clone(), client.clone());
                async move { matches!(probe(&channel, which, &client, &rid).await, Outcome::Ok(())).then_some(()) }
            })
            .await;
        }
        let addr = fleet.endpoint(slot).addr;
        let client = rotated_client.clone();
        let rid = format!("pg-recovered-{slot}-{}", support::random_hex(4));
        support::eventually(&format!("a rotation through replica {slot} after the kills"), move || {
            let (addr, client, rid) = (addr.clone(), client.clone(), rid.clone());
            async move { matches!(rotate_call(&addr, &client, &rid, ROTATE_DEADLINE).await, Outcome::Ok(_)).then_some(()) }
        })
        .await;
    }
    let recovered_in = recovery.elapsed();

    let standing = world.http.delete(format!("{}/__emulator/faults", world.base_url())).send().await.unwrap();
    assert!(standing.status().is_success());
    world.wait_all_finished(&mut fleet, Duration::from_secs(300)).await;
    stop.store(true, SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    let exits = fleet.watch();
    assert!(exits.is_empty(), "replicas exited: {exits:?}\n{}", fleet.tails(&world.work.path));

    // Meanwhile every call succeeded or failed with UNAVAILABLE (ABORTED: the rotation was being
    // driven by the other replica), and none ran into its deadline.
    let unexpected = probes.unexpected.lock().unwrap().clone();
    assert!(unexpected.is_empty(), "store reads that did not fail fast with UNAVAILABLE: {unexpected:#?}");
    let rotate_codes = driven.codes.lock().unwrap().clone();
    assert!(
        rotate_codes.keys().all(|c| ["OK", "UNAVAILABLE", "ABORTED"].contains(&c.as_str())),
        "RotateClientCredential: {rotate_codes:?} {:#?}",
        driven.samples.lock().unwrap()
    );
    let sign_codes = load.sign_codes.lock().unwrap().clone();
    assert!(
        sign_codes.keys().all(|c| ["OK", "UNAVAILABLE"].contains(&c.as_str())),
        "SignClientAssertion: {sign_codes:?} {:#?}",
        load.samples.lock().unwrap()
    );
    let failures = load.failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "assertions refused by Auth0: {failures:#?}");
    let failed_other = driven.failed.lock().unwrap().clone();
    assert!(failed_other.is_empty(), "rotations failed: {failed_other:#?}");
    let rotations = world.rotations().await;
    for rid in driven.request_ids.lock().unwrap().iter() {
        let r = rotations.iter().find(|r| r.request_id.as_deref() == Some(rid.as_str())).unwrap();
        assert_eq!(r.state, RotationState::Completed, "{rid}: {r:?}");
    }
    world.check_final_state("postgres connections killed").await;
    assert!(kills.backends > 0, "no connection was killed: {kills:?}");

    let probe_codes = probes.codes.lock().unwrap().clone();
    let unavailable =
        |m: &BTreeMap<String, u64>| m.iter().filter(|(k, _)| k.ends_with("UNAVAILABLE")).map(|(_, v)| v).sum::<u64>();
    report(&json!({
        "scenario": "postgres-connections-killed",
        "seed": seed,
        "replicas": 2,
        "clients": clients.len(),
        "rotations": driven.ok.load(SeqCst),
        "rotations_in_store": states_count(&rotations),
        "kills": {
            "sweeps": kills.sweeps,
            "storms": kills.storms,
            "storm_seconds": kills.storm_ms as f64 / 1000.0,
            "backends_terminated": kills.backends,
            "terminated_mid_query": kills.busy,
        },
        "rotate_rpcs": rotate_codes,
        "probe_rpcs": probe_codes,
        "sign_rpcs": sign_codes,
        "unavailable": unavailable(&rotate_codes) + unavailable(&probe_codes) + unavailable(&sign_codes),
        "deadline_exceeded": 0,
        "slowest_failure_ms": {
            "rotate": driven.slowest_failure_ms.load(SeqCst),
            "read": probes.slowest_failure_ms.load(SeqCst),
            "sign": load.slowest_failure_ms.load(SeqCst),
        },
        "recovered_after_kills_ms": u64::try_from(recovered_in.as_millis()).unwrap(),
        "assertions": {
            "signed": load.signed.load(SeqCst),
            "exchanged": load.exchanged.load(SeqCst),
            "failures": failures.len(),
        },
        "failed_rotations": failed_other.len(),
        "seconds": t0.elapsed().as_secs(),
    }));
}

// ---------------------------------------------------------------------------------------------
// 3. Auth0 faults during scheduled rotations

/// One scripted Auth0 Management API fault (crates/keyward-auth0-emulator/src/faults.rs): its
/// kind for the report, and the fault. Every POST under /api/v2/clients/ is a credential
/// creation, every PATCH a client update, every DELETE a credential deletion.
fn auth0_fault(rng: &mut Rng) -> (&'static str, Value) {
    let status = |status: u16, headers: Value| json!({"kind": "status", "status": status, "headers": headers});
    let on = |method: &str, times: usize, action: Value| json!({"method": method, "path_prefix": "/api/v2/clients/", "times": times, "action": action});
    let times = 1 + rng.below(3);
    match rng.below(12) {
        0 | 1 => ("503 on credential create", on("POST", times, status(503, json!({})))),
        2 => ("503 on client update", on("PATCH", times, status(503, json!({})))),
        3 => ("503 on reads", on("GET", times, status(503, json!({})))),
        4 | 5 => (
            "429 storm, retry-after 1 s",
            json!({"path_prefix": "/api/v2/", "times": 3 + rng.below(6),
                   "action": status(429, json!({"retry-after": "1"}))}),
        ),
        6 => (
            "429 beyond the retry cap, retry-after 30 s",
            json!({"path_prefix": "/api/v2/", "times": times, "action": status(429, json!({"retry-after": "30"}))}),
        ),
        7 => ("drop_before on credential create", on("POST", 1, json!({"kind": "drop_before"}))),
        8 => ("drop_before on client update", on("PATCH", 1, json!({"kind": "drop_before"}))),
        9 => ("drop_after on credential create", on("POST", 1, json!({"kind": "drop_after"}))),
        10 => ("drop_after on client update", on("PATCH", 1, json!({"kind": "drop_after"}))),
        _ => ("drop_after on credential delete", on("DELETE", 1, json!({"kind": "drop_after"}))),
    }
}

/// Whether the scheduler waits before trying `client` again, after a permanent failure.
fn backing_off(policies: &[keyward::store::PolicyRecord], client: &str, now: i64) -> bool {
    policies.iter().any(|p| {
        p.target == client
            && p.last_result.as_deref().is_some_and(|r| r.starts_with("failed"))
            && p.due_at.is_some_and(|d| d > now)
    })
}

/// The scheduled rotations (request_id "sched-…").
fn scheduled(rotations: &[RotationRecord]) -> Vec<&RotationRecord> {
    rotations.iter().filter(|r| r.request_id.as_deref().is_some_and(|id| id.starts_with("sched-"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_auth0_faults_during_scheduled_rotations() {
    let Some(store_url) = support::pg_schema_url().await else { return };
    let t0 = Instant::now();
    let wanted = rotations_wanted();
    let (mut rng, seed) = Rng::seeded(3);
    let clients: Vec<String> = (0..8).map(|i| format!("sched-app-{i:02}")).collect();
    // Keys older than an hour are due (jitter: up to a quarter of that earlier).
    let settings = "[scheduler]\nenabled = true\ntick = \"500ms\"\nlease_ttl = \"3s\"";
    let policies: String = clients
        .iter()
        .map(|c| format!("[[policies]]\ntenant = \"dev\"\nclient = \"{c}\"\nmax_key_age = \"1h\"\n"))
        .collect();
    let world = World::new(&store_url, None, clients.clone(), settings, &policies).await;
    let mut fleet = Fleet::new(&world, 2);
    fleet.start(0, "sched-a", None).await;
    fleet.start(1, "sched-b", None).await;
    first_keys(&world, &fleet).await;
    let pool = sqlx::PgPool::connect(&world.store_url).await.unwrap();
    const HOUR_MS: i64 = 3_600_000;

    // Age every fresh active key past its policy, again and again, so that the scheduler keeps
    // rotating; script Auth0 faults meanwhile (twice as many as rotations wanted), until at least
    // half of the rotations wanted are done under them; then clear the faults and go on until all are done and every client was rotated on
    // schedule again since (or backs off after a permanent failure).
    let mut faults: BTreeMap<&str, u64> = BTreeMap::new();
    let (mut agings, mut aged) = (0u64, 0u64);
    let mut last_aging = Instant::now() - Duration::from_secs(60);
    let mut faulting = true;
    let (mut done_under_faults, mut cleared_at) = (0, i64::MAX);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let rotations = world.rotations().await;
        let done = scheduled(&rotations).iter().filter(|r| r.state == RotationState::Completed).count();
        assert!(
            Instant::now() < deadline,
            "{done} of {wanted} scheduled rotations in 600 s: {:#?}\n{}",
            states_count(&rotations),
            fleet.tails(&world.work.path)
        );
        let exits = fleet.watch();
        assert!(exits.is_empty(), "replicas exited: {exits:?}\n{}", fleet.tails(&world.work.path));
        let scripted: u64 = faults.values().sum();
        if faulting && done >= wanted.div_ceil(2) && scripted >= 2 * wanted as u64 {
            let r = world.http.delete(format!("{}/__emulator/faults", world.base_url())).send().await.unwrap();
            assert!(r.status().is_success());
            faulting = false;
            done_under_faults = done;
            cleared_at = millis_now();
        }
        if !faulting && done >= wanted {
            let policies = world.store.policies().await.unwrap();
            let again = |c: &String| {
                scheduled(&rotations)
                    .iter()
                    .any(|r| r.client_id == *c && r.state == RotationState::Completed && r.created_at > cleared_at)
            };
            if clients.iter().all(|c| again(c) || backing_off(&policies, c, millis_now())) {
                break;
            }
        }
        if last_aging.elapsed() >= Duration::from_secs(1) {
            let now = millis_now();
            let r =
                sqlx::query("UPDATE keys SET created_at = created_at - $1 WHERE state = 'active' AND created_at > $2")
                    .bind(2 * HOUR_MS)
                    .bind(now - HOUR_MS / 2)
                    .execute(&pool)
                    .await
                    .unwrap();
            agings += 1;
            aged += r.rows_affected();
            last_aging = Instant::now();
        }
        // About two faults a second: enough to hit most rotations, few enough for them to finish.
        if faulting && rng.chance(80) {
            let (kind, fault) = auth0_fault(&mut rng);
            world.fault(fault).await;
            *faults.entry(kind).or_default() += 1;
        }
        tokio::time::sleep(rng.ms(250, 650)).await;
    }

    // Settle: no more aging, faults gone. Every client's key becomes fresh (or its policy backs
    // off after a permanent failure), and every rotation finishes.
    support::eventually("every due client rotated", || async {
        let now = millis_now();
        let policies = world.store.policies().await.unwrap();
        let mut settled = true;
        for c in &clients {
            let keys = world.store.keys("dev", c).await.unwrap();
            let fresh = keys.iter().any(|k| k.state == KeyState::Active && k.created_at > now - HOUR_MS / 2);
            settled &= fresh || backing_off(&policies, c, now);
        }
        settled.then_some(())
    })
    .await;
    world.wait_all_finished(&mut fleet, Duration::from_secs(300)).await;
    world.check_final_state("auth0 faults during scheduled rotations").await;

    let rotations = world.rotations().await;
    let sched = scheduled(&rotations);
    let sched_completed = sched.iter().filter(|r| r.state == RotationState::Completed).count();
    let sched_failed = sched.iter().filter(|r| r.state == RotationState::Failed).count();
    assert!(sched_completed >= wanted, "{sched_completed} scheduled rotations completed, {wanted} wanted");
    let completed = rotations.iter().filter(|r| r.state == RotationState::Completed).count();
    let failed = rotations.iter().filter(|r| r.state == RotationState::Failed).count();

    // The replicas' metrics agree with the store.
    let mut metrics = BTreeMap::<String, f64>::new();
    for i in 0..2 {
        let text = scrape(&world.http, &fleet.endpoint(i).admin).await;
        for name in ["keyward_scheduled_rotations_total", "keyward_rotations_total", "keyward_rotations_in_state"] {
            for (k, v) in series(&text, name) {
                *metrics.entry(k).or_default() += v;
            }
        }
        for (k, v) in series(&text, "keyward_auth0_requests_total") {
            if !k.contains("status=\"2") {
                *metrics.entry(k).or_default() += v;
            }
        }
    }
    let m = |k: &str| metrics.get(k).copied().unwrap_or(0.0) as usize;
    let started = m(r#"keyward_scheduled_rotations_total{outcome="started"}"#);
    let skipped = m(r#"keyward_scheduled_rotations_total{outcome="skipped"}"#);
    let sched_failures = m(r#"keyward_scheduled_rotations_total{outcome="failed"}"#);
    let facts = format!("{metrics:#?}\nstore: {:?}", states_count(&rotations));
    // Every scheduled rotation in the store was started by a counted attempt. An attempt ends
    // done (the rotation ACTIVE), skipped (busy elsewhere) or failed (paused or compensated), and
    // the attempt that planned a rotation that ended FAILED counted failed. (Attempts done may
    // outnumber rotations: when an attempt outlives its policy lease, another replica claims the
    // policy and joins the same rotation through its request_id.)
    assert!(started >= sched.len(), "started {started} < {} scheduled rotations\n{facts}", sched.len());
    assert!(started >= skipped + sched_failures, "{facts}");
    assert!(sched_failures >= sched_failed, "{facts}");
    // Each rotation is completed once, by one replica (tests/retirement.rs forces the race).
    assert_eq!(m(r#"keyward_rotations_total{kind="client",outcome="completed"}"#), completed, "{facts}");
    assert_eq!(m(r#"keyward_rotations_total{kind="client",outcome="failed"}"#), failed, "{facts}");
    let open: f64 = metrics.iter().filter(|(k, _)| k.starts_with("keyward_rotations_in_state")).map(|(_, v)| v).sum();
    assert_eq!(open, 0.0, "rotations still counted open: {facts}");

    let auth0_errors: BTreeMap<String, f64> = metrics
        .iter()
        .filter(|(k, _)| k.starts_with("keyward_auth0_requests_total"))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let state = support::emulator_state(&world.base_url()).await;
    let log = state["requests"].as_array().unwrap();
    let logged = |note: &str, status: u64| {
        log.iter().filter(|r| r["note"] == note && (status == 0 || r["status"] == status)).count()
    };
    report(&json!({
        "scenario": "auth0-faults-scheduled",
        "seed": seed,
        "replicas": 2,
        "clients": clients.len(),
        "scheduled_rotations": {
            "completed": sched_completed,
            "completed_under_faults": done_under_faults,
            "failed": sched_failed,
        },
        "rotations_in_store": states_count(&rotations),
        "agings": agings,
        "keys_aged": aged,
        "faults": {
            "scripted": faults,
            "scripted_total": faults.values().sum::<u64>(),
            "answered_503": logged("scripted status", 503),
            "answered_429": logged("scripted status", 429),
            "dropped_before": logged("dropped before processing", 0),
        },
        "scheduler_attempts": {
            "started": started,
            "done": started - skipped - sched_failures,
            "skipped": skipped,
            "failed": sched_failures,
        },
        "completed_metric_vs_store": [m(r#"keyward_rotations_total{kind="client",outcome="completed"}"#), completed],
        "auth0_calls_not_2xx": auth0_errors,
        "seconds": t0.elapsed().as_secs(),
    }));
}
