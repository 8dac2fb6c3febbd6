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
//! describes the scenarios and what they found. The harness (the replicas, the load, the
//! drivers, the faults, the end-state checks and the reports) is in tests/support/chaos/.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/chaos/mod.rs"]
mod chaos_harness;
#[path = "support/rig.rs"]
mod rig;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use chaos_harness::drivers::{Driven, first_keys, spawn_drivers};
use chaos_harness::faults::{Ageing, Auth0Faults, HOUR_MS, backing_off, scheduled};
use chaos_harness::invariants::{check_driven_completed, check_signed_in_every_phase};
use chaos_harness::kills::Killer;
use chaos_harness::load::{Load, spawn_sign_workers};
use chaos_harness::metrics::Metrics;
use chaos_harness::postgres::{PgKills, named_connections, named_store_url};
use chaos_harness::probes::{Probes, spawn_probe_workers, wait_recovered};
use chaos_harness::replicas::Fleet;
use chaos_harness::report::{self, Run, report, states_count};
use chaos_harness::rng::Rng;
use chaos_harness::world::World;
use chaos_harness::{STATES, rotations_wanted};
use keyward::clock::{Timestamp, wall_now};
use keyward::store::{KeyState, KeyStore, PolicyStore, RotationState, RotationStore};
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// 1. Replicas killed mid-rotation

// The tests are named so that libtest (which runs them in name order, two at a time on two
// cores) starts the longest one first beside the second, and the third after the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s1_replicas_killed_mid_rotation_under_signing_load() {
    let Some(store_url) = support::pg_schema_url().await else { return };
    let started = Instant::now();
    let wanted = rotations_wanted();
    let (mut rng, seed) = Rng::seeded(1);
    let clients: Vec<String> = (0..(wanted / 2).clamp(3, 40)).map(|i| format!("chaos-app-{i:02}")).collect();
    let settings = "[scheduler]\nenabled = false\nlease_ttl = \"3s\"";
    let world = World::new(&store_url, None, clients.clone(), settings, "").await;
    // Replica 0 is never killed; replica 1 starts armed to exit after a random saga state.
    let mut fleet = Fleet::new(&world, 3);
    fleet.start(0, "stable", None).await;
    first_keys(&world, &fleet).await;
    // Auth0 answers credential creation and client updates slowly (0.6 s each), so that a
    // rotation spends long enough between saga states for kills to land inside it.
    world.slow_auth0_writes(600).await;
    fleet.start(1, "r1-g0", Some(rng.pick(&STATES))).await;
    fleet.start(2, "r2-g0", None).await;

    // Signing through every replica, and three drivers rotating (mostly through armed replicas).
    let load = Arc::new(Load::default());
    let stop = Arc::new(AtomicBool::new(false));
    let workers = spawn_sign_workers(&world, &fleet, 3, &clients, &load, &stop);
    let driven = Arc::new(Driven::default());
    let mut drivers = spawn_drivers("chaos", &world, &fleet, &clients, &driven, wanted, &mut rng, true);

    // Kill, freeze and restart replicas 1 and 2 (never 0) until the drivers are done.
    let mut killer = Killer::new(&mut rng);
    let deadline = Instant::now() + Duration::from_secs(600);
    while driven.ok.load(SeqCst) < wanted {
        assert!(Instant::now() < deadline, "the drivers did not finish in 600 s\n{}", fleet.tails());
        fleet.check_tasks(&mut drivers, "a rotation driver").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        killer.round(&world, &mut fleet, &mut rng).await;
    }
    for d in drivers {
        d.await.unwrap();
    }
    // No more kills or pauses, then let everything finish while the load goes on (at least a
    // few seconds of signing).
    let last_kill = killer.stop(&mut fleet).await;
    world.clear_faults().await;
    world.wait_all_finished(&mut fleet, Duration::from_secs(300)).await;
    while last_kill.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    fleet.assert_none_exited(" after the kills stopped");

    // The stable replica signed in every phase, without an error other than UNAVAILABLE, and
    // Auth0 accepted every assertion handed out.
    check_signed_in_every_phase(&load.stable_ok.lock().unwrap(), &killer.kill_times, last_kill);
    let failures = load.failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "assertions refused by Auth0: {failures:#?}\n{}", fleet.tails());
    let sign_errors = load.sign_errors.lock().unwrap().clone();
    let stable_errors: Vec<_> = sign_errors.iter().filter(|(k, _)| k.starts_with("0/")).collect();
    assert!(
        stable_errors.iter().all(|(k, _)| *k == "0/UNAVAILABLE"),
        "the stable replica failed signing calls: {stable_errors:?} {:#?}",
        load.samples.lock().unwrap()
    );
    // Every rotation finished, every driven one COMPLETED; the end state holds.
    let rotations = world.rotations().await;
    assert!(rotations.iter().all(|r| matches!(r.state, RotationState::Completed | RotationState::Failed)));
    check_driven_completed(&rotations, &driven);
    world.check_final_state("replicas killed").await;
    assert!(killer.sigkills() > 0, "no replica was SIGKILLed");
    assert!(killer.sigstops() > 0, "no replica was SIGSTOPped");

    let run =
        Run { scenario: "replicas-killed", seed, replicas: 3, clients: clients.len(), started, rotations: &rotations };
    report::replicas_killed(&run, &driven, &load, &killer);
    let failed_other = driven.failed.lock().unwrap().clone();
    if !failed_other.is_empty() {
        eprintln!("rotations that failed (compensated) for another reason than a refusal: {failed_other:#?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. PostgreSQL connections killed mid-rotation

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s2_postgres_connections_killed_mid_rotation() {
    let Some(store_url) = support::pg_schema_url().await else { return };
    let admin_url = std::env::var("KEYWARD_TEST_DATABASE_URL").unwrap();
    let started = Instant::now();
    let wanted = rotations_wanted();
    let (mut rng, seed) = Rng::seeded(2);
    // The replicas' connections carry an application_name of their own; the test kills those
    // and only those. The PostgreSQL server itself keeps running.
    let (replica_store, app) = named_store_url(&store_url);
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
    let named = named_connections(&admin, &app).await;
    assert!(named > 0, "no PostgreSQL connection is named {app}: the kills would miss the replicas");

    // Slow Auth0 writes keep rotations open long enough for kills to land inside them. Signing,
    // store-reading probes and three rotation drivers run through both replicas meanwhile.
    world.slow_auth0_writes(300).await;
    let load = Arc::new(Load::default());
    let probes = Arc::new(Probes::default());
    let driven = Arc::new(Driven::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = spawn_sign_workers(&world, &fleet, 2, &signed, &load, &stop);
    workers.extend(spawn_probe_workers(&fleet, 2, &clients, &driven, &probes, &stop, &mut rng));
    let mut drivers = spawn_drivers("pg", &world, &fleet, &clients, &driven, wanted, &mut rng, false);

    // Kill the replicas' connections while rotations are open: single sweeps, and storms that
    // kill every new connection for a few seconds.
    let mut kills = PgKills::default();
    let deadline = Instant::now() + Duration::from_secs(600);
    while driven.ok.load(SeqCst) < wanted {
        assert!(Instant::now() < deadline, "the drivers did not finish in 600 s\n{}", fleet.tails());
        fleet.check_tasks(&mut drivers, "a rotation driver").await;
        fleet.check_tasks(&mut workers, "a load or probe worker").await;
        fleet.assert_none_exited("");
        tokio::time::sleep(rng.ms(200, 1200)).await;
        if world.store.open_rotations().await.unwrap().is_empty() && !rng.chance(25) {
            continue;
        }
        kills.strike(&admin, &app, &mut rng).await;
    }
    for d in drivers {
        d.await.unwrap();
    }

    // Recovery: every probe and a rotation succeed again on both replicas.
    let recovered = wait_recovered(&fleet, &driven, &clients[0], &rotated).await;
    world.clear_faults().await;
    world.wait_all_finished(&mut fleet, Duration::from_secs(300)).await;
    stop.store(true, SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    fleet.assert_none_exited("");

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
    check_driven_completed(&rotations, &driven);
    world.check_final_state("postgres connections killed").await;
    assert!(kills.backends > 0, "no connection was killed: {kills:?}");

    let scenario = "postgres-connections-killed";
    let run = Run { scenario, seed, replicas: 2, clients: clients.len(), started, rotations: &rotations };
    report::postgres_killed(&run, &driven, &load, &probes, &kills, recovered);
}

// ---------------------------------------------------------------------------------------------
// 3. Auth0 faults during scheduled rotations

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_auth0_faults_during_scheduled_rotations() {
    let Some(store_url) = support::pg_schema_url().await else { return };
    let started = Instant::now();
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

    // Age every fresh active key past its policy, again and again, so that the scheduler keeps
    // rotating; script Auth0 faults meanwhile (twice as many as rotations wanted), until at least
    // half of the rotations wanted are done under them; then clear the faults and go on until
    // all are done and every client was rotated on schedule again since (or backs off after a
    // permanent failure).
    let mut ageing = Ageing::new(&world.store_url).await;
    let mut faults = Auth0Faults::default();
    let mut faulting = true;
    let (mut done_under_faults, mut cleared_at) = (0, Timestamp::MAX);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let rotations = world.rotations().await;
        let done = scheduled(&rotations).iter().filter(|r| r.state == RotationState::Completed).count();
        assert!(
            Instant::now() < deadline,
            "{done} of {wanted} scheduled rotations in 600 s: {:#?}\n{}",
            states_count(&rotations),
            fleet.tails()
        );
        fleet.assert_none_exited("");
        if faulting && done >= wanted.div_ceil(2) && faults.total() >= 2 * wanted as u64 {
            world.clear_faults().await;
            faulting = false;
            done_under_faults = done;
            cleared_at = wall_now();
        }
        if !faulting && done >= wanted {
            let policies = world.store.policies().await.unwrap();
            let again = |c: &String| {
                scheduled(&rotations)
                    .iter()
                    .any(|r| r.client_id == *c && r.state == RotationState::Completed && r.created_at > cleared_at)
            };
            if clients.iter().all(|c| again(c) || backing_off(&policies, c, wall_now())) {
                break;
            }
        }
        ageing.age_fresh_keys().await;
        // About two faults a second: enough to hit most rotations, few enough for them to finish.
        if faulting && rng.chance(80) {
            faults.script(&world, &mut rng).await;
        }
        tokio::time::sleep(rng.ms(250, 650)).await;
    }

    // Settle: no more aging, faults gone. Every client's key becomes fresh (or its policy backs
    // off after a permanent failure), and every rotation finishes.
    support::eventually("every due client rotated", || async {
        let now = wall_now();
        let policies = world.store.policies().await.unwrap();
        let mut settled = true;
        for c in &clients {
            let keys = world.store.keys("dev", c).await.unwrap();
            let fresh = keys.iter().any(|k| k.state == KeyState::Active && k.created_at > now.plus_ms(-HOUR_MS / 2));
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
    let metrics = Metrics::scrape(&world.http, &fleet, 2).await;
    let m = |k: &str| metrics.get(k);
    let started_attempts = m(r#"keyward_scheduled_rotations_total{outcome="started"}"#);
    let skipped = m(r#"keyward_scheduled_rotations_total{outcome="skipped"}"#);
    let sched_failures = m(r#"keyward_scheduled_rotations_total{outcome="failed"}"#);
    let facts = format!("{:#?}\nstore: {:?}", metrics.0, states_count(&rotations));
    // Every scheduled rotation in the store was started by a counted attempt. An attempt ends
    // done (the rotation ACTIVE), skipped (busy elsewhere) or failed (paused or compensated), and
    // the attempt that planned a rotation that ended FAILED counted failed. (Attempts done may
    // outnumber rotations: when an attempt outlives its policy lease, another replica claims the
    // policy and joins the same rotation through its request_id.)
    let n = sched.len();
    assert!(started_attempts >= n, "started {started_attempts} < {n} scheduled rotations\n{facts}");
    assert!(started_attempts >= skipped + sched_failures, "{facts}");
    assert!(sched_failures >= sched_failed, "{facts}");
    // Each rotation is completed once, by one replica (tests/retirement.rs forces the race).
    let completed_metric = m(r#"keyward_rotations_total{kind="client",outcome="completed"}"#);
    assert_eq!(completed_metric, completed, "{facts}");
    assert_eq!(m(r#"keyward_rotations_total{kind="client",outcome="failed"}"#), failed, "{facts}");
    assert_eq!(metrics.open_rotations(), 0.0, "rotations still counted open: {facts}");

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
        "agings": ageing.rounds,
        "keys_aged": ageing.keys,
        "faults": faults.report(&world).await,
        "scheduler_attempts": {
            "started": started_attempts,
            "done": started_attempts - skipped - sched_failures,
            "skipped": skipped,
            "failed": sched_failures,
        },
        "completed_metric_vs_store": [completed_metric, completed],
        "auth0_calls_not_2xx": metrics.auth0_errors(),
        "seconds": started.elapsed().as_secs(),
    }));
}
