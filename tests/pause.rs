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

#[path = "support/rig.rs"]
mod rig;
mod support;

use std::time::Duration;

use keyward::clock::wall_now;
use keyward::grpc::proto;
use keyward::rotation::RotateRequest;
use keyward::store::RotationState;
use rig::*;
use support::*;

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
    setup.retire_due(wall_now()).await.unwrap();

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
