//! Scenario 3's world: Auth0 Management API faults scripted at the emulator, and active keys
//! aged past their policy so that the scheduler keeps rotating.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use keyward::clock::{Timestamp, wall_now};
use keyward::store::{PolicyRecord, RotationRecord};
use serde_json::{Value, json};

use super::rng::Rng;
use super::world::World;
use crate::support;

pub const HOUR_MS: i64 = 3_600_000;

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

/// The Auth0 faults scripted so far, by kind.
#[derive(Default)]
pub struct Auth0Faults {
    pub scripted: BTreeMap<&'static str, u64>,
}

impl Auth0Faults {
    /// Scripts one random fault.
    pub async fn script(&mut self, world: &World, rng: &mut Rng) {
        let (kind, fault) = auth0_fault(rng);
        world.fault(fault).await;
        *self.scripted.entry(kind).or_default() += 1;
    }

    pub fn total(&self) -> u64 {
        self.scripted.values().sum()
    }

    /// The report's `faults`: what was scripted, and what the emulator's request log shows.
    pub async fn report(&self, world: &World) -> Value {
        let state = support::emulator_state(&world.base_url()).await;
        let log = state["requests"].as_array().unwrap();
        let logged = |note: &str, status: u64| {
            log.iter().filter(|r| r["note"] == note && (status == 0 || r["status"] == status)).count()
        };
        json!({
            "scripted": self.scripted,
            "scripted_total": self.total(),
            "answered_503": logged("scripted status", 503),
            "answered_429": logged("scripted status", 429),
            "dropped_before": logged("dropped before processing", 0),
        })
    }
}

/// Ages every fresh active key (younger than half an hour) by two hours, at most once a second,
/// so that the scheduler finds it due under a one-hour policy.
pub struct Ageing {
    pool: sqlx::PgPool,
    last: Instant,
    /// Rounds of ageing, and keys aged.
    pub rounds: u64,
    pub keys: u64,
}

impl Ageing {
    pub async fn new(store_url: &str) -> Self {
        let pool = sqlx::PgPool::connect(store_url).await.unwrap();
        Self { pool, last: Instant::now() - Duration::from_secs(60), rounds: 0, keys: 0 }
    }

    pub async fn age_fresh_keys(&mut self) {
        if self.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        let now = wall_now();
        let r = sqlx::query("UPDATE keys SET created_at = created_at - $1 WHERE state = 'active' AND created_at > $2")
            .bind(2 * HOUR_MS)
            .bind(now.plus_ms(-HOUR_MS / 2).as_millis())
            .execute(&self.pool)
            .await
            .unwrap();
        self.rounds += 1;
        self.keys += r.rows_affected();
        self.last = Instant::now();
    }
}

/// Whether the scheduler waits before trying `client` again, after a permanent failure.
pub fn backing_off(policies: &[PolicyRecord], client: &str, now: Timestamp) -> bool {
    policies.iter().any(|p| {
        p.target == client
            && p.last_result.as_deref().is_some_and(|r| r.starts_with("failed"))
            && p.due_at.is_some_and(|d| d > now)
    })
}

/// The scheduled rotations (request_id "sched-…").
pub fn scheduled(rotations: &[RotationRecord]) -> Vec<&RotationRecord> {
    rotations.iter().filter(|r| r.request_id.as_deref().is_some_and(|id| id.starts_with("sched-"))).collect()
}
