//! A replica frozen mid-step (SIGSTOP here; in production a VM migration, a throttled container,
//! a long pause in a sidecar) that wakes up after its lease passed to another replica must not
//! act on it. For every step of a client rotation, of the retirement of an old key and of a
//! connection rotation: replica A (`keyward serve`, test build) is held at the step by
//! `KEYWARD_FAULT_PAUSE_AT=STATE:DURATION` (after the step's reads, before its first side effect),
//! then really stopped with SIGSTOP; replica B, started meanwhile on the same PostgreSQL schema
//! and the same emulated Auth0, takes the work over once A's lease lapses and finishes it; A is
//! resumed with SIGCONT and must stand down (its RPC gets ABORTED, its log says the step was
//! abandoned). Afterwards the client has exactly one ACTIVE key, attached at Auth0; Auth0 holds
//! no credential keyward does not know; every other key is retired and wiped; the active key
//! opens and Auth0 accepts an assertion it signs; the takeover is in the audit log; and a
//! connection was rotated once, not twice. Nothing here asserts on timing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyward::config::Defaults;
use keyward::grpc::proto;
use keyward::rotation::{Engine, RotateRequest, millis_now};
use keyward::store::{KeyState, RotationState, SqlStore, Store};
use keyward::tenant::Tenant;
use keyward_crypto::Algorithm;
use serde_json::Value;
use support::*;

const CONNECTION: &str = "con_demooidc0000001";
/// How long A is held at the step by fault injection, long enough for the test to stop it.
const HOLD: &str = "2s";

/// One PostgreSQL schema, one emulated Auth0, one KEK, and a `keyward serve` config for them
/// with a short lease (2 s) and no grace period.
struct Rig {
    _dir: tempfile::TempDir,
    config: PathBuf,
    kek_file: PathBuf,
    emulator: keyward_auth0_emulator::RunningEmulator,
    tenant: keyward::config::TenantConfig,
    store: Arc<SqlStore>,
    token: String,
}

impl Rig {
    async fn new(store_url: &str) -> Self {
        let (dir, path) = tempdir();
        let (emulator, tenant) = dev_tenant(SEED_JSON, &[APP], &[CONNECTION]).await;
        let token = format!("pause-test-{}", random_hex(16));
        let kek_file = path.join("kek");
        std::fs::write(&kek_file, keyward::seal::Kek::generate(&mut rng()).to_text().as_str()).unwrap();
        let config = path.join("keyward.toml");
        std::fs::write(
            &config,
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
[scheduler]
enabled = false
lease_ttl = "2s"
[tenants.dev]
domain = "{DOMAIN}"
base_url = "{base}"
management_client_id = "keyward-management"
management_client_secret = "dev-management-secret-change-me"
clients = ["{APP}"]
connections = ["{CONNECTION}"]
"#,
                kek = kek_file.display(),
                hash = sha256_hex(&token),
                base = emulator.base_url(),
            ),
        )
        .unwrap();
        let store = Arc::new(open_store(store_url).await);
        Self { _dir: dir, config, kek_file, emulator, tenant, store, token }
    }

    fn base_url(&self) -> String {
        self.emulator.base_url()
    }

    /// A replica named `id`, held at `pause` (a saga state or `connection`) when set.
    fn replica(&self, id: &str, pause: Option<&str>) -> Replica {
        let config = self.config.display().to_string();
        let hold = pause.map(|p| format!("{p}:{HOLD}"));
        let mut env = vec![("KEYWARD_REPLICA_ID", id)];
        if let Some(h) = &hold {
            env.push(("KEYWARD_FAULT_PAUSE_AT", h.as_str()));
        }
        Replica { k: start(&["serve", "--config", &config], &env), lines: Vec::new(), id: id.to_owned() }
    }

    /// An engine in this process (the test's own replica) for setting the stage.
    fn engine(&self) -> Engine {
        let tenants = BTreeMap::from([("dev".to_owned(), Tenant::connect(self.tenant.clone()).unwrap())]);
        let kek = kek_ring(&self.kek_file).current;
        let defaults = Defaults { grace_period: Duration::ZERO, algorithm: Algorithm::RS256, key_bits: 2048 };
        Engine::new(self.store.clone() as Arc<dyn Store>, tenants, kek, defaults).with_owner("test-setup")
    }

    /// The final state: exactly one ACTIVE key, whose credential is the only one Auth0 holds
    /// for the client (attached; nothing orphaned, nothing unknown), every other key retired
    /// and wiped, the active key opens and Auth0 accepts it; every rotation finished.
    async fn check_final_state(&self, name: &str) {
        let keks = kek_ring(&self.kek_file);
        let keks = keks.all();
        check_invariants(name, &self.base_url(), &*self.store, &keks).await;
        let keys = self.store.keys("dev", APP).await.unwrap();
        let active: Vec<_> = keys.iter().filter(|k| k.state == KeyState::Active).collect();
        assert_eq!(active.len(), 1, "{name}: exactly one active key: {keys:#?}");
        for k in keys.iter().filter(|k| k.key_id != active[0].key_id) {
            assert_eq!(k.state, KeyState::Retired, "{name}: key {} is left {}", k.key_id, k.state);
            assert!(k.sealed.ciphertext.is_empty(), "{name}: retired key {} still holds key material", k.key_id);
        }
        let app = app(&self.base_url()).await;
        let creds: Vec<(&str, bool)> = app["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].as_str().unwrap(), c["attached"] == true))
            .collect();
        assert_eq!(
            creds,
            vec![(active[0].credential_id.as_deref().unwrap(), true)],
            "{name}: Auth0 must hold exactly the active credential, attached: {app}"
        );
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
    async fn takeovers(&self, kind: &str, from: &str) -> Vec<Value> {
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
struct Replica {
    k: Keyward,
    lines: Vec<String>,
    id: String,
}

impl Replica {
    fn signal(&self, sig: &str) {
        let status = Command::new("kill").args([sig, &self.k.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill {sig}");
    }

    /// Waits (polling, up to two minutes) until the replica printed a line containing `needle`.
    /// The value of a counter series on the replica's `/metrics` (0 when absent).
    async fn counter(&self, series: &str) -> f64 {
        let admin = self.k.admin_addr().unwrap();
        let text = reqwest::get(format!("http://{admin}/metrics")).await.unwrap().text().await.unwrap();
        text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
    }

    async fn wait_for_line(&mut self, needle: &str) {
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

fn request(rid: &str, grace: Duration) -> proto::RotateClientCredentialRequest {
    proto::RotateClientCredentialRequest {
        tenant: "dev".into(),
        client_id: APP.into(),
        request_id: rid.into(),
        grace_period: Some(prost_types::Duration { seconds: grace.as_secs() as i64, nanos: 0 }),
        ..Default::default()
    }
}

/// Waits until the rotation asked with `rid` is in `want`.
async fn wait_rotation(store: &SqlStore, rid: &str, want: RotationState) -> keyward::store::RotationRecord {
    eventually(&format!("rotation {rid} to reach {want}"), || async {
        store.rotation_by_request("dev", rid).await.unwrap().filter(|r| r.state == want)
    })
    .await
}

/// The client-rotation steps, paused in turn; `late` ones are the retirement's.
async fn pause_at_client_step(rig: &Rig, state: &str) {
    let name = format!("paused at {state}");
    let late = matches!(state, "active" | "retired");
    // Set the stage with the test's own replica: an active key, and for the early steps a
    // retiring one beside it, so the rotation has to evict it to free an Auth0 slot.
    let setup = rig.engine();
    let grace = if late { Duration::ZERO } else { Duration::from_secs(3600) };
    let rid_setup = format!("setup-{state}");
    let stage = RotateRequest {
        tenant: "dev".into(),
        client_id: APP.into(),
        request_id: Some(rid_setup),
        grace_period: Some(grace),
        ..Default::default()
    };
    setup.rotate_client(&stage).await.unwrap();
    setup.retire_due(millis_now()).await.unwrap();

    // Replica A drives the rotation (or, for the late steps, the retirement of its old key) and
    // is held at the step, then stopped for real.
    let a_id = format!("replica-a-{state}");
    let mut a = rig.replica(&a_id, Some(state));
    let rid = format!("paused-{state}");
    let mut client = a.k.client(&rig.token).await;
    let grace = if late { Duration::from_secs(1) } else { Duration::ZERO };
    let req = request(&rid, grace);
    let call = tokio::spawn(async move {
        let mut r = tonic::Request::new(req);
        r.set_timeout(Duration::from_secs(120));
        client.rotate_client_credential(r).await
    });
    a.wait_for_line(&format!("stalling {HOLD} in the step from {state}")).await;
    a.signal("-STOP");

    // Replica B takes the work over once A's lease lapses, and finishes it.
    let b_id = format!("replica-b-{state}");
    let b = rig.replica(&b_id, None);
    let done = wait_rotation(&rig.store, &rid, RotationState::Completed).await;
    assert!(done.new_credential_id.is_some(), "{name}: {done:?}");

    // A wakes up as if nothing happened: it must stand down.
    a.signal("-CONT");
    let answer = call.await.unwrap();
    if late {
        let r = answer.unwrap_or_else(|s| panic!("{name}: the rotation itself finished before the pause: {s:?}"));
        assert_eq!(r.into_inner().rotation.unwrap().state, proto::RotationState::Active as i32, "{name}");
    } else {
        let status = answer.expect_err(&format!("{name}: A must not finish a rotation it lost"));
        assert_eq!(status.code(), tonic::Code::Aborted, "{name}: {status:?}");
        assert!(status.message().contains("another replica"), "{name}: {status:?}");
    }
    a.wait_for_line("step abandoned: the lease passed to another replica").await;
    let kind = if late { "retirement" } else { "client" };
    let lost = format!("keyward_lease_lost_steps_total{{kind=\"{kind}\",step=\"{state}\"}}");
    assert_eq!(a.counter(&lost).await, 1.0, "{name}: A counts the abandoned step");
    let taken_over = format!("keyward_lease_takeovers_total{{kind=\"{kind}\",step=\"{state}\"}}");
    assert_eq!(b.counter(&taken_over).await, 1.0, "{name}: B counts the takeover");
    let taken = rig.takeovers("rotation.taken_over", &a_id).await;
    assert!(
        taken.iter().any(|d| d["from_replica"] == a_id.as_str() && d["to_replica"] == b_id.as_str()),
        "{name}: the takeover is audited with both replicas: {taken:?}"
    );
    // Give A's wake-up every chance to do damage before looking.
    tokio::time::sleep(Duration::from_secs(1)).await;
    rig.check_final_state(&name).await;
    a.k.kill();
    b.k.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_replica_stands_down_at_every_client_and_retirement_step() {
    let Some(url) = pg_schema_url().await else { return };
    let rig = Rig::new(&url).await;
    // A first key, so every pause below happens with an active key to keep.
    rig.engine()
        .rotate_client(&RotateRequest { tenant: "dev".into(), client_id: APP.into(), ..Default::default() })
        .await
        .unwrap();
    for state in ["planned", "key_generated", "slot_freed", "registered", "attached", "active", "retired"] {
        pause_at_client_step(&rig, state).await;
    }
}

async fn connection_kids(base_url: &str) -> Vec<String> {
    let state = emulator_state(base_url).await;
    let con = state["connections"].as_array().unwrap().iter().find(|c| c["id"] == CONNECTION).unwrap().clone();
    con["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

fn rotate_connection(rid: &str) -> tonic::Request<proto::RotateConnectionKeysRequest> {
    let mut r = tonic::Request::new(proto::RotateConnectionKeysRequest {
        tenant: "dev".into(),
        connection_id: CONNECTION.into(),
        request_id: rid.into(),
        ..Default::default()
    });
    r.set_timeout(Duration::from_secs(120));
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_replica_does_not_rotate_a_connection_twice() {
    let Some(url) = pg_schema_url().await else { return };
    let rig = Rig::new(&url).await;
    let before = connection_kids(&rig.base_url()).await;

    let a_id = "replica-a-connection";
    let mut a = rig.replica(a_id, Some("connection"));
    let mut client = a.k.client(&rig.token).await;
    let call = tokio::spawn(async move { client.rotate_connection_keys(rotate_connection("con-once")).await });
    a.wait_for_line(&format!("stalling {HOLD} in the step from connection")).await;
    a.signal("-STOP");

    // The caller gives up on A and retries the same request on B, which waits out A's lease.
    let b_id = "replica-b-connection";
    let b = rig.replica(b_id, None);
    let mut b_client = b.k.client(&rig.token).await;
    let rotated = eventually("B to take the connection rotation over", || {
        let mut c = b_client.clone();
        async move {
            match c.rotate_connection_keys(rotate_connection("con-once")).await {
                Ok(r) => Some(r.into_inner()),
                Err(s) if s.code() == tonic::Code::Aborted => None,
                Err(s) => panic!("B: {s:?}"),
            }
        }
    })
    .await;
    let new_kid = rotated.key.unwrap().kid;
    b_client = b.k.client(&rig.token).await;

    a.signal("-CONT");
    let status = call.await.unwrap().expect_err("A must not finish a connection rotation it lost");
    assert_eq!(status.code(), tonic::Code::Aborted, "{status:?}");
    a.wait_for_line("step abandoned: the lease passed to another replica").await;
    let lost = r#"keyward_lease_lost_steps_total{kind="connection",step="pending"}"#;
    assert_eq!(a.counter(lost).await, 1.0, "A counts the abandoned step");
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Exactly one rotation happened at Auth0: one new key, the one B reported.
    let after = connection_kids(&rig.base_url()).await;
    let added: Vec<&String> = after.iter().filter(|k| !before.contains(k)).collect();
    assert_eq!(added, vec![&new_kid], "one rotation, not two: before {before:?}, after {after:?}");
    // The same request answered again returns the recorded result and rotates nothing.
    let again = b_client.rotate_connection_keys(rotate_connection("con-once")).await.unwrap().into_inner();
    assert_eq!(again.key.unwrap().kid, new_kid);
    assert_eq!(connection_kids(&rig.base_url()).await, after);
    let taken = rig.takeovers("connection.taken_over", a_id).await;
    assert!(
        taken.iter().any(|d| d["from_replica"] == a_id && d["to_replica"] == b_id),
        "the takeover is audited: {taken:?}"
    );
    a.k.kill();
    b.k.kill();
}
