//! Scheduled rotation and leases, on SQLite and PostgreSQL against the real emulator: a due
//! client is rotated by exactly one of two replicas polling at once, policies from the config
//! file cannot be changed over the API, due work is handed out disjointly, and a replica that
//! lost its lease cannot write a later saga step (fencing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/records.rs"]
mod records;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use keyward::clock::{Clock, ManualClock, SharedClock, SystemClock, Timestamp, wall_now};
use keyward::config::{Defaults, PolicyConfig, PolicyTarget, SchedulerConfig};
use keyward::context::Context;
use keyward::custody::Custody;
use keyward::rotation::{Engine, RotateRequest};
use keyward::schedule::{self, PolicyInput};
use keyward::seal::Kek;
use keyward::store::{
    Lease, PolicyKind, PolicyRecord, PolicySource, PolicyStore, RotationState, RotationStore, SqlStore, Store,
};
use keyward::tenant::Tenant;
use keyward_crypto::Algorithm;
use records::{lease, rotation};
use support::rng;

const SEED: &str = include_str!("../crates/keyward-auth0-emulator/examples/seed.json");
const APP: &str = "demo-app";
const CONN: &str = "con_demooidc0000001";
const DAY_MS: i64 = 86_400_000;

/// Store URLs: SQLite always, PostgreSQL (a fresh schema) when configured.
async fn urls(dir: &std::path::Path) -> Vec<(&'static str, String)> {
    let mut out = vec![("sqlite", format!("sqlite://{}", dir.join("k.db").display()))];
    if let Some(url) = support::pg_schema_url().await {
        out.push(("postgres", url));
    }
    out
}

fn scheduler() -> SchedulerConfig {
    SchedulerConfig {
        enabled: true,
        tick: Duration::from_secs(1),
        jitter: Duration::from_secs(3600),
        lease_ttl: Duration::from_secs(30),
        ..SchedulerConfig::default()
    }
}

/// Two replicas (engines with their own names and Auth0 clients) over one store and tenant.
async fn replicas(url: &str, base_url: &str, tenant: &keyward::config::TenantConfig) -> Vec<Arc<Engine>> {
    replicas_on(url, base_url, tenant, SystemClock::shared()).await
}

/// [`replicas`] whose stores and engines all read `clock`.
async fn replicas_on(
    url: &str,
    base_url: &str,
    tenant: &keyward::config::TenantConfig,
    clock: SharedClock,
) -> Vec<Arc<Engine>> {
    let kek = Arc::new(Kek::generate(&mut rng()));
    let defaults = Defaults { grace_period: Duration::ZERO, algorithm: Algorithm::RS256, key_bits: 2048 };
    let mut out = Vec::new();
    for name in ["replica-a", "replica-b"] {
        let mut t = tenant.clone();
        t.base_url = Some(base_url.to_owned());
        let tenants = BTreeMap::from([("dev".to_owned(), Tenant::connect(t).unwrap())]);
        let store: Arc<dyn Store> = Arc::new(SqlStore::connect(url).await.unwrap().with_clock(clock.clone()));
        let ctx = Context::new(store, tenants, kek.clone()).with_replica(name).with_clock(clock.clone());
        let engine = Engine::new(&ctx, defaults.clone());
        out.push(Arc::new(engine));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_due_client_is_rotated_once_by_one_of_two_replicas() {
    let dir = tempfile::tempdir().unwrap();
    for (name, url) in urls(dir.path()).await {
        let (emu, tenant) = support::dev_tenant(SEED, &[APP], &[CONN]).await;
        let clock = Arc::new(ManualClock::starting_now());
        let engines = replicas_on(&url, &emu.base_url(), &tenant, clock.clone()).await;
        let (a, b) = (&engines[0], &engines[1]);
        let req = RotateRequest { tenant: "dev".into(), client_id: APP.into(), ..Default::default() };
        a.rotate_client(&req).await.unwrap();

        let input = PolicyInput {
            tenant: "dev".into(),
            kind: PolicyKind::Client,
            target: APP.into(),
            max_age: Duration::from_secs(90 * 86_400),
            window: None,
            custody: None,
        };
        // A policy may keep its keys in the token only on a server that has one.
        let in_token = PolicyInput { custody: Some(Custody::Pkcs11), ..input.clone() };
        let refused = schedule::set_policy(a, &in_token, "test").await.unwrap_err();
        assert!(refused.to_string().contains("custody: pkcs11"), "{name}: {refused}");
        let status = schedule::set_policy(a, &input, "test").await.unwrap();
        assert!(!status.overdue, "{name}: a fresh key is not overdue");
        let due = status.due_at.unwrap();
        assert!(due > clock.now().plus_ms(89 * DAY_MS) && due <= clock.now().plus_ms(90 * DAY_MS), "{name}: due {due}");
        assert_eq!(schedule::run_once(a, &scheduler()).await.unwrap(), 0, "{name}: nothing is due yet");

        // 100 days pass: the active key is now 100 days old.
        clock.advance(Duration::from_secs(100 * 86_400));
        let status = schedule::get_policy(a, "dev", PolicyKind::Client, APP).await.unwrap();
        assert!(status.overdue, "{name}: a 100-day-old key is overdue under a 90-day policy");

        let config = scheduler();
        let (ra, rb) = tokio::join!(schedule::run_once(a, &config), schedule::run_once(b, &config));
        assert_eq!(ra.unwrap() + rb.unwrap(), 1, "{name}: exactly one replica rotates");
        // Either replica retires the old key (no grace period) under the rotation's lease.
        let (xa, xb) = tokio::join!(a.retire_due(clock.now()), b.retire_due(clock.now()));
        assert_eq!(xa.unwrap() + xb.unwrap(), 1, "{name}: the old key is retired once");
        let rotations = a.store().rotations_in_state(RotationState::Completed).await.unwrap();
        assert_eq!(rotations.len(), 2, "{name}: the first rotation and the scheduled one: {rotations:#?}");
        let scheduled = rotations.iter().find(|r| r.request_id.as_deref().is_some_and(|id| id.starts_with("sched-")));
        let scheduled = scheduled.unwrap_or_else(|| panic!("{name}: no scheduled rotation: {rotations:#?}"));
        // Attribution: the scheduler asked, and every event of its rotation says so.
        assert_eq!(scheduled.requested_by, "scheduler", "{name}");
        let events = a.store().audit_after(0, 10_000).await.unwrap();
        let own: Vec<_> = events.iter().filter(|e| e.detail.contains(&scheduled.rotation_id)).collect();
        assert!(own.len() >= 3, "{name}: {own:#?}");
        assert!(own.iter().all(|e| e.actor == "scheduler"), "{name}: {own:#?}");
        let by_hand = rotations.iter().find(|r| r.rotation_id != scheduled.rotation_id).unwrap();
        assert_eq!(by_hand.requested_by, "keyward", "{name}: a library caller that names nobody");
        let status = schedule::get_policy(b, "dev", PolicyKind::Client, APP).await.unwrap();
        assert!(!status.overdue, "{name}: the new key is fresh");
        assert_eq!(status.policy.last_result.as_deref(), Some("rotated"), "{name}");
        assert_eq!(schedule::run_once(b, &scheduler()).await.unwrap(), 0, "{name}: not due again");
        emu.shutdown().await;
    }
}

#[tokio::test]
async fn config_policies_are_authoritative_and_api_policies_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    for (name, url) in urls(dir.path()).await {
        let (emu, tenant) = support::dev_tenant(SEED, &[APP], &[CONN]).await;
        let engines = replicas(&url, &emu.base_url(), &tenant).await;
        let e = &engines[0];
        let from_file = PolicyConfig {
            tenant: "dev".into(),
            target: PolicyTarget::Connection(CONN.into()),
            max_age: Duration::from_secs(180 * 86_400),
            window: Some("02:00-05:00".parse().unwrap()),
        };
        let signing_keys = PolicyConfig {
            tenant: "dev".into(),
            target: PolicyTarget::SigningKeys,
            max_age: Duration::from_secs(90 * 86_400),
            window: None,
        };
        schedule::apply_config(e, &[from_file.clone(), signing_keys]).await.unwrap();
        let owned =
            schedule::get_policy(e, "dev", PolicyKind::SigningKeys, schedule::SIGNING_KEYS_TARGET).await.unwrap();
        assert_eq!((owned.policy.source, owned.policy.max_age_ms), (PolicySource::Config, 90 * DAY_MS), "{name}");
        let over_the_file = PolicyInput {
            tenant: "dev".into(),
            kind: PolicyKind::SigningKeys,
            target: schedule::SIGNING_KEYS_TARGET.into(),
            max_age: Duration::from_secs(30 * 86_400),
            window: None,
            custody: None,
        };
        let refused = schedule::set_policy(e, &over_the_file, "test").await.unwrap_err();
        assert!(matches!(refused, keyward::Error::FailedPrecondition(_)), "{name}: the file owns it: {refused}");
        schedule::apply_config(e, std::slice::from_ref(&from_file)).await.unwrap();
        assert!(
            schedule::get_policy(e, "dev", PolicyKind::SigningKeys, schedule::SIGNING_KEYS_TARGET).await.is_err(),
            "{name}: dropped from the file, gone"
        );
        let input = PolicyInput {
            tenant: "dev".into(),
            kind: PolicyKind::Connection,
            target: CONN.into(),
            max_age: Duration::from_secs(86_400),
            window: None,
            custody: None,
        };
        let sealed = PolicyInput { custody: Some(Custody::Sealed), ..input.clone() };
        let refused = schedule::set_policy(e, &sealed, "test").await.unwrap_err();
        assert!(refused.to_string().starts_with("custody: applies to client policies only"), "{name}: {refused}");
        let refused = schedule::set_policy(e, &input, "test").await.unwrap_err();
        assert!(matches!(refused, keyward::Error::FailedPrecondition(_)), "{name}: {refused}");
        let kept = schedule::get_policy(e, "dev", PolicyKind::Connection, CONN).await.unwrap();
        assert_eq!(kept.policy.source, PolicySource::Config);
        assert_eq!(kept.policy.max_age_ms, 180 * DAY_MS, "{name}: unchanged by the refused call");
        let due = kept.due_at.unwrap();
        let minute_of_day = due.as_millis().rem_euclid(DAY_MS) / 60_000;
        assert!((120..300).contains(&minute_of_day), "{name}: due inside the window, at minute {minute_of_day}");

        // A rotation asked for by hand restarts the connection's interval.
        assert_eq!(kept.key_age_ms, None, "{name}: never rotated by keyward");
        e.rotate_connection("dev", CONN, None, None, "test").await.unwrap();
        let rotated = schedule::get_policy(e, "dev", PolicyKind::Connection, CONN).await.unwrap();
        assert!(rotated.key_age_ms.is_some_and(|age| (0..60_000).contains(&age)), "{name}: {rotated:?}");
        assert!(rotated.due_at.unwrap() > wall_now().plus_ms(179 * DAY_MS), "{name}: {rotated:?}");

        for (bad, field) in [
            (PolicyInput { max_age: Duration::from_secs(10), ..input.clone() }, "interval"),
            (
                PolicyInput {
                    window: Some("2-5".into()),
                    kind: PolicyKind::Client,
                    target: APP.into(),
                    ..input.clone()
                },
                "window",
            ),
            (PolicyInput { target: "con_unknown".into(), ..input.clone() }, "not managed"),
        ] {
            let e = schedule::set_policy(e, &bad, "test").await.unwrap_err().to_string();
            assert!(e.contains(field), "{name}: {e:?} should name {field}");
        }
        // Dropping it from the file removes it.
        schedule::apply_config(e, &[]).await.unwrap();
        assert!(schedule::get_policy(e, "dev", PolicyKind::Connection, CONN).await.is_err(), "{name}");
        emu.shutdown().await;
    }
}

fn policy(target: &str, due_at: Timestamp) -> PolicyRecord {
    PolicyRecord {
        tenant: "dev".into(),
        kind: PolicyKind::Client,
        target: target.into(),
        max_age_ms: DAY_MS,
        window: None,
        source: PolicySource::Api,
        updated_at: due_at,
        due_at: Some(due_at),
        last_rotated_at: None,
        last_result: None,
        lease: Lease::default(),
        custody: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn due_work_is_handed_out_disjointly_and_fenced() {
    let dir = tempfile::tempdir().unwrap();
    for (name, url) in urls(dir.path()).await {
        let store = Arc::new(SqlStore::connect(&url).await.unwrap());
        let now = wall_now();
        for i in 0..6 {
            store.put_policy(&policy(&format!("app-{i}"), now.plus_ms(-1000))).await.unwrap();
        }
        store.put_policy(&policy("later", now.plus_ms(DAY_MS))).await.unwrap();
        // A policy's custody is stored with it.
        store
            .put_policy(&PolicyRecord { custody: Some(Custody::Pkcs11), ..policy("token", now.plus_ms(DAY_MS)) })
            .await
            .unwrap();
        let stored = store.policies().await.unwrap();
        let custody = |t: &str| stored.iter().find(|p| p.target == t).unwrap().custody;
        assert_eq!((custody("token"), custody("later")), (Some(Custody::Pkcs11), None), "{name}");
        let (a, b) = tokio::join!(
            store.claim_due_policies("a", now, now.plus_ms(30_000), 4),
            store.claim_due_policies("b", now, now.plus_ms(30_000), 4)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let names = |v: &[PolicyRecord]| v.iter().map(|p| p.target.clone()).collect::<BTreeSet<_>>();
        assert!(names(&a).is_disjoint(&names(&b)), "{name}: {:?} / {:?}", names(&a), names(&b));
        assert_eq!(names(&a).len() + names(&b).len(), 6, "{name}: every due policy, none not due");
        // A lapsed lease can be claimed again; the old holder's result is then refused.
        let first = a.first().or(b.first()).unwrap().clone();
        let later = now.plus_ms(60_000);
        let again = store.claim_due_policies("c", later, later.plus_ms(30_000), 10).await.unwrap();
        assert_eq!(again.len(), 6, "{name}");
        assert!(!store.finish_policy(&first, "rotated", Some(now), None).await.unwrap(), "{name}: fenced");
        let current = again.iter().find(|p| p.target == first.target).unwrap();
        assert!(store.finish_policy(current, "rotated", Some(later), None).await.unwrap(), "{name}");

        // Rotations: the holder of a live lease keeps it; after it lapses another replica's
        // claim raises the token and the old holder's next write fails.
        let r = rotation("dev", APP).with_lease(lease("a", 1, now.plus_ms(30_000))).created_at(now).build();
        store.insert_rotation(&r).await.unwrap();
        assert!(store.claim_rotation(&r.rotation_id, "b", now, now.plus_ms(30_000)).await.unwrap().is_none(), "{name}");
        let mut stale = r.clone();
        let mut taken =
            store.claim_rotation(&r.rotation_id, "b", now.plus_ms(31_000), now.plus_ms(61_000)).await.unwrap().unwrap();
        assert_eq!(taken.lease.token, 2, "{name}");
        stale.state = RotationState::KeyGenerated;
        let refused = store.update_rotation(&mut stale).await.unwrap_err();
        // The stale writer learns that the lease moved on (not a mere race under its own lease).
        assert!(matches!(refused, keyward::Error::LeaseLost { .. }), "{name}: {refused}");
        // Renewal never revives a lease another replica took.
        assert!(matches!(store.renew_rotation_lease(&stale).await, Err(keyward::Error::LeaseLost { .. })), "{name}");
        let renewed = store.renew_rotation_lease(&taken).await.unwrap();
        assert_eq!((renewed.owner.as_deref(), renewed.token), (Some("b"), 2), "{name}");
        taken.state = RotationState::Failed;
        taken.error = Some("test".into());
        store.update_rotation(&mut taken).await.unwrap();
        let stored = store.rotation(&r.rotation_id).await.unwrap().unwrap();
        assert_eq!(stored.state, RotationState::Failed, "{name}: only the lease holder's write landed");
        assert_eq!(stored.lease.expires_at, Timestamp::EPOCH, "{name}: a finished rotation frees its lease");
    }
}

#[tokio::test]
async fn a_signing_keys_policy_rotates_the_tenant_keys_once_and_never_more_than_daily() {
    let dir = tempfile::tempdir().unwrap();
    for (name, url) in urls(dir.path()).await {
        let (emu, tenant) = support::dev_tenant(SEED, &[APP], &[CONN]).await;
        let clock = Arc::new(ManualClock::starting_now());
        let engines = replicas_on(&url, &emu.base_url(), &tenant, clock.clone()).await;
        let (a, b) = (&engines[0], &engines[1]);
        let input = PolicyInput {
            tenant: "dev".into(),
            kind: PolicyKind::SigningKeys,
            target: schedule::SIGNING_KEYS_TARGET.into(),
            max_age: Duration::from_secs(12 * 3600),
            window: None,
            custody: None,
        };
        // Auth0 allows 5 signing-key rotations a day: keyward schedules at most one.
        let refused = schedule::set_policy(a, &input, "test").await.unwrap_err();
        assert!(refused.to_string().starts_with("interval: must be at least 1 day"), "{name}: {refused}");
        let input = PolicyInput { max_age: Duration::from_secs(90 * 86_400), ..input };
        let status = schedule::set_policy(a, &input, "test").await.unwrap();
        assert!(!status.overdue, "{name}");
        assert_eq!(schedule::run_once(a, &scheduler()).await.unwrap(), 0, "{name}: nothing is due yet");

        clock.advance(Duration::from_secs(91 * 86_400));
        let config = scheduler();
        let (ra, rb) = tokio::join!(schedule::run_once(a, &config), schedule::run_once(b, &config));
        assert_eq!(ra.unwrap() + rb.unwrap(), 1, "{name}: exactly one replica rotates");
        let state: serde_json::Value =
            reqwest::get(format!("{}/__emulator/state", emu.base_url())).await.unwrap().json().await.unwrap();
        let rotations = state["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["method"] == "POST" && r["path"] == "/api/v2/keys/signing/rotate")
            .count();
        assert_eq!(rotations, 1, "{name}");
        let rows = a.store().signing_key_rotations("dev", 10).await.unwrap();
        assert_eq!(rows.len(), 1, "{name}");
        assert_eq!(rows[0].requested_by, "scheduler", "{name}");
        assert_eq!(rows[0].state, "waiting", "{name}");
        let status = schedule::get_policy(b, "dev", PolicyKind::SigningKeys, "*").await.unwrap();
        assert_eq!(status.policy.last_result.as_deref(), Some("rotated"), "{name}");
        assert!(!status.overdue, "{name}");
        assert_eq!(schedule::run_once(b, &scheduler()).await.unwrap(), 0, "{name}: not due again");
        emu.shutdown().await;
    }
}
