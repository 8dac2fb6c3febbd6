//! Background retirement across replicas and failures: a rotation that another replica
//! completes between this replica's listing and its lease claim is not completed twice (the
//! interleaving is forced with a PostgreSQL row lock, no timing), and one client whose Auth0
//! clean-up fails does not hold up the interrupted retirements of the others.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use keyward::clock::wall_now;
use keyward::clock::{Clock, ManualClock, SharedClock};
use keyward::config::Defaults;
use keyward::context::Context;
use keyward::rotation::{Engine, RotateRequest};
use keyward::seal::Kek;
use keyward::store::{AuditStore, KeyState, KeyStore, RotationState, RotationStore, SqlStore, Store};
use keyward::tenant::Tenant;
use keyward_crypto::Algorithm;
use serde_json::{Value, json};
use sqlx::Connection;

const APP: &str = "demo-app";
const OTHER: &str = "other-app";

/// Another client's clean-up at Auth0 cannot be done (the application was deleted there): the
/// interrupted retirement of this client still finishes.
#[tokio::test]
async fn one_clients_failing_cleanup_does_not_block_other_clients_retirements() {
    scenario(true).await;
}

/// The same without the other client's trouble.
#[tokio::test]
async fn control_without_the_other_clients_failure_the_interrupted_retirement_finishes() {
    scenario(false).await;
}

async fn scenario(other_deleted: bool) {
    let mut seed: Value = serde_json::from_str(support::SEED_JSON).unwrap();
    seed["clients"].as_array_mut().unwrap().push(json!({
        "client_id": OTHER, "name": "other", "token_endpoint_auth_method": "private_key_jwt",
        "jwt_configuration": { "alg": "RS256" }
    }));
    let (emu, tenant) = support::dev_tenant(&seed.to_string(), &[APP, OTHER], &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqlStore::connect(&format!("sqlite://{}", dir.path().join("k.db").display())).await.unwrap());
    let tenants = BTreeMap::from([("dev".to_owned(), Tenant::connect(tenant).unwrap())]);
    let defaults = Defaults { grace_period: Duration::ZERO, algorithm: Algorithm::RS256, key_bits: 2048 };
    let engine =
        Engine::new(&Context::new(store.clone(), tenants, Arc::new(Kek::generate(&mut support::rng()))), defaults);
    let rotate = |client: &str, id: &str| RotateRequest {
        tenant: "dev".into(),
        client_id: client.into(),
        request_id: Some(id.into()),
        ..Default::default()
    };

    // other-app's first key is older than demo-app's: the store lists it first.
    engine.rotate_client(&rotate(OTHER, "o1")).await.unwrap();
    engine.rotate_client(&rotate(APP, "a1")).await.unwrap();
    engine.rotate_client(&rotate(OTHER, "o2")).await.unwrap();
    let a2 = engine.rotate_client(&rotate(APP, "a2")).await.unwrap().rotation;
    let old = a2.old_key_id.clone().unwrap();

    // A replica began retiring demo-app's old key (marked it retired in the store) and died
    // before the Auth0 clean-up: the background task of any replica is to finish that.
    assert!(store.begin_retirement(&old, wall_now(), false).await.unwrap());

    // other-app was deleted at Auth0 (every read of it answers 404): its old key can never be
    // cleaned up there. That is other-app's problem, and should stay other-app's.
    let http = reqwest::Client::new();
    if other_deleted {
        http.post(format!("{}/__emulator/faults", emu.base_url()))
            .json(&json!({"method": "GET", "path_prefix": format!("/api/v2/clients/{OTHER}"), "times": 1_000_000,
                      "action": {"kind": "status", "status": 404}}))
            .send()
            .await
            .unwrap();
    }

    // The background task's passes (every 2 s in `keyward serve`).
    for pass in 0..5 {
        let r = engine.retire_due(wall_now().plus_ms(1000)).await;
        eprintln!("pass {pass}: {r:?}");
    }

    // demo-app's interrupted retirement is never finished: its rotation stays ACTIVE, its old
    // credential stays attached at Auth0 and its sealed private key is never destroyed.
    let a2 = store.rotation(&a2.rotation_id).await.unwrap().unwrap();
    let old = store.key(&old).await.unwrap().unwrap();
    let app = support::app(&emu.base_url()).await;
    let attached = app["credentials"].as_array().unwrap().iter().filter(|c| c["attached"] == true).count();
    assert_eq!(
        (a2.state, old.state, old.sealed.ciphertext.is_empty(), attached),
        (RotationState::Completed, KeyState::Retired, true, 1),
        "demo-app's retirement was never finished: rotation {}, old key {} (key material kept: {}), \
         {attached} credentials attached at Auth0",
        a2.state,
        old.state,
        !old.sealed.ciphertext.is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_completed_by_another_replica_is_not_completed_again() {
    let Some(url) = support::pg_schema_url().await else { return };
    let (_emu, tenant) = support::dev_tenant(support::SEED_JSON, &[support::APP], &[]).await;
    let kek = Arc::new(Kek::generate(&mut support::rng()));
    let defaults = Defaults { grace_period: Duration::ZERO, algorithm: Algorithm::RS256, key_bits: 2048 };
    // Every replica here reads one manual clock: C's lease lapses when the clock is moved on.
    let clock = Arc::new(ManualClock::starting_now());
    let shared: SharedClock = clock.clone();
    let engine = |owner: &str, store: Arc<dyn Store>| {
        let tenants = BTreeMap::from([("dev".to_owned(), Tenant::connect(tenant.clone()).unwrap())]);
        let ctx = Context::new(store, tenants, kek.clone()).with_replica(owner).with_clock(shared.clone());
        Engine::new(&ctx, defaults.clone())
    };
    let store_a: Arc<dyn Store> = Arc::new(SqlStore::connect(&url).await.unwrap().with_clock(shared.clone()));
    let a = engine("replica-a", store_a.clone());
    let rotate = |id: &str| RotateRequest {
        tenant: "dev".into(),
        client_id: support::APP.into(),
        request_id: Some(id.into()),
        ..Default::default()
    };
    a.rotate_client(&rotate("r1")).await.unwrap();
    let r2 = a.rotate_client(&rotate("r2")).await.unwrap().rotation;
    let old = r2.old_key_id.clone().unwrap();

    // Replica C retired r2's old key and died before completing r2 (fault injection's "retired"
    // point): r2 is RETIRED, its old key wiped, C's lease on it lapsed.
    let store_c =
        SqlStore::connect(&url).await.unwrap().with_lease_ttl(Duration::from_millis(1)).with_clock(shared.clone());
    let now = clock.now();
    let mut r = store_c.claim_rotation(&r2.rotation_id, "replica-c", now, now.plus_ms(1)).await.unwrap().unwrap();
    assert!(store_c.begin_retirement(&old, now, false).await.unwrap());
    r.state = RotationState::Retired;
    assert!(store_c.close_retirement(&old, Some(&mut r)).await.unwrap());
    clock.advance(Duration::from_millis(20));

    // Replica B is about to finish it too; hold its row for a moment.
    let mut b = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut b).await.unwrap();
    sqlx::query("SELECT 1 FROM rotations WHERE rotation_id = $1 FOR UPDATE")
        .bind(&r2.rotation_id)
        .execute(&mut b)
        .await
        .unwrap();

    // Replica A's background pass lists r2 as RETIRED and waits for the row to claim r2's lease.
    let pass_at = clock.now();
    let pass = tokio::spawn(async move { a.retire_due(pass_at).await });
    let watch = sqlx::PgPool::connect(&url).await.unwrap();
    support::eventually("replica A waiting for the rotation's row", || {
        let watch = watch.clone();
        async move {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                 AND query LIKE 'UPDATE rotations SET lease_owner%'",
            )
            .fetch_one(&watch)
            .await
            .unwrap();
            (waiting > 0).then_some(())
        }
    })
    .await;

    // Replica B completes r2 (what `Engine::complete` writes: COMPLETED, version + 1, lease
    // freed) and lets go of the row.
    sqlx::query(
        "UPDATE rotations SET state = 'completed', version = version + 1, lease_expires_at = 0, \
         updated_at = $2 WHERE rotation_id = $1",
    )
    .bind(&r2.rotation_id)
    .bind(clock.now().as_millis())
    .execute(&mut b)
    .await
    .unwrap();
    sqlx::query("COMMIT").execute(&mut b).await.unwrap();
    let store_b = SqlStore::connect(&url).await.unwrap();
    store_b
        .append_audit(&keyward::store::AuditEvent {
            id: 0,
            at: clock.now(),
            actor: "keyward".into(),
            tenant: "dev".into(),
            subject: support::APP.into(),
            kind: "rotation.completed".into(),
            detail: format!(r#"{{"rotation_id":{:?},"detail":{{}}}}"#, r2.rotation_id),
        })
        .await
        .unwrap();

    // Replica A's claim now succeeds (a finished rotation's lease is free), it reads r2 back
    // COMPLETED and completes it again.
    pass.await.unwrap().unwrap();
    let events = store_a.audit_after(0, 1000).await.unwrap();
    let completed: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "rotation.completed" && e.detail.contains(&r2.rotation_id))
        .map(|e| (e.id, e.detail.clone()))
        .collect();
    let stored = store_a.rotation(&r2.rotation_id).await.unwrap().unwrap();
    eprintln!("r2 now: state {} version {} lease {:?}", stored.state, stored.version, stored.lease);
    assert_eq!(
        completed.len(),
        1,
        "r2 was completed {} times (audit: {completed:?}); keyward_rotations_total{{outcome=\"completed\"}} \
         counted it as often",
        completed.len()
    );
}
