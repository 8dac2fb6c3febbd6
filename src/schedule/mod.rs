//! Scheduled rotation: per client a maximum key age, per connection an interval. Every replica
//! recomputes when each target is due (jitter spreads keys apart, an optional daily window
//! holds rotations back until it opens); due targets are picked up under a lease in the store,
//! so with several replicas on one PostgreSQL exactly one runs each due rotation. The rotation
//! itself carries a request_id derived from the due time: a replica that takes over after
//! another died resumes the same rotation rather than starting a second one.

mod policy;

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use policy::{PolicyInput, SIGNING_KEYS_TARGET, apply_config, delete_policy, get_policy, set_policy};

use crate::Error;
use crate::clock::Timestamp;
use crate::config::{RotationWindow, SchedulerConfig};
use crate::ids::hex;
use crate::rotation::{Engine, RotateRequest};
use crate::store::{CredentialMethod, KeyRecord, KeyState, PolicyKind, PolicyRecord};
use crate::telemetry::metrics::{OutcomeLabel, metrics};

/// How many due targets one replica takes per tick.
const BATCH: i64 = 4;
/// The requester recorded for scheduled rotations.
pub const SCHEDULER: &str = "scheduler";
/// How long a failed scheduled rotation waits before the next attempt.
const RETRY_AFTER_FAILURE_MS: i64 = 5 * 60 * 1000;

/// A policy with where its target stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyStatus {
    /// The stored policy.
    pub policy: PolicyRecord,
    /// Tenant name (as in the policy).
    pub tenant: String,
    /// Client or connection id.
    pub target: String,
    /// Age of the client's active key, or time since the connection's last scheduled rotation.
    pub key_age_ms: Option<i64>,
    /// When the next scheduled rotation starts (jitter and window applied).
    pub due_at: Option<Timestamp>,
    /// Past the maximum age.
    pub overdue: bool,
}

/// Where every policy's target stands at `now`.
pub async fn statuses(engine: &Engine, now: Timestamp) -> Result<Vec<PolicyStatus>, Error> {
    statuses_with(engine, now, Duration::ZERO, None).await
}

/// The same, given every ACTIVE key (a caller that has read them already).
pub async fn statuses_given_keys(
    engine: &Engine,
    now: Timestamp,
    active: &[KeyRecord],
) -> Result<Vec<PolicyStatus>, Error> {
    statuses_with(engine, now, Duration::ZERO, Some(active)).await
}

async fn statuses_with(
    engine: &Engine,
    now: Timestamp,
    jitter: Duration,
    active: Option<&[KeyRecord]>,
) -> Result<Vec<PolicyStatus>, Error> {
    let store = engine.store();
    let policies = store.policies().await?;
    let loaded;
    let active = match active {
        Some(keys) => keys,
        None if policies.iter().any(|p| p.kind == PolicyKind::Client) => {
            loaded = store.keys_in_state(KeyState::Active).await?;
            &loaded[..]
        }
        None => &[],
    };
    let mut out = Vec::with_capacity(policies.len());
    for p in policies {
        let base = match p.kind {
            PolicyKind::Client => {
                // Client policies rotate private_key_jwt keys; a JAR key's age is not theirs.
                active
                    .iter()
                    .find(|k| {
                        k.tenant == p.tenant && k.client_id == p.target && k.method == CredentialMethod::PrivateKeyJwt
                    })
                    .map(|k| k.created_at)
            }
            // Any finished rotation counts, scheduled or asked for.
            PolicyKind::Connection => {
                store.last_connection_rotation(&p.tenant, &p.target).await?.max(p.last_rotated_at)
            }
            PolicyKind::SigningKeys => store.last_signing_key_rotation(&p.tenant).await?.max(p.last_rotated_at),
        };
        // A target keyward has never rotated is due one period after its policy was set.
        let since = base.unwrap_or(p.updated_at);
        let deadline = since.plus_ms(p.max_age_ms);
        let early = jitter_ms(&p, since, jitter);
        let window = p.window.as_deref().and_then(|w| w.parse::<RotationWindow>().ok());
        let due = next_open(deadline.plus_ms(-early), window);
        out.push(PolicyStatus {
            tenant: p.tenant.clone(),
            target: p.target.clone(),
            key_age_ms: base.map(|b| now.millis_since(b)),
            due_at: Some(due),
            overdue: now > deadline,
            policy: p,
        });
    }
    Ok(out)
}

/// How much earlier than its deadline a target rotates: a stable spread per (target, key) up to
/// `jitter`, never more than a quarter of the period.
fn jitter_ms(p: &PolicyRecord, since: Timestamp, jitter: Duration) -> i64 {
    let cap = i64::try_from(jitter.as_millis()).unwrap_or(i64::MAX).min(p.max_age_ms / 4);
    if cap <= 0 {
        return 0;
    }
    let digest = Sha256::digest(format!("{}\0{}\0{}\0{}", p.tenant, p.kind, p.target, since.as_millis()));
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::try_from(u64::from_be_bytes(first) % u64::try_from(cap).unwrap_or(1)).unwrap_or(0)
}

/// The first instant at or after `at` inside `window` (minute resolution).
fn next_open(at: Timestamp, window: Option<RotationWindow>) -> Timestamp {
    let Some(w) = window else { return at };
    if w.contains(at) {
        return at;
    }
    let day = Timestamp::from_millis(at.as_millis().div_euclid(86_400_000) * 86_400_000);
    let open = day.plus_ms(i64::from(w.start) * 60_000);
    if open > at { open } else { open.plus_ms(86_400_000) }
}

/// Runs the scheduler until the task is dropped.
pub async fn run(engine: Arc<Engine>, config: SchedulerConfig) {
    let mut tick = tokio::time::interval(config.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = run_once(&engine, &config).await {
            tracing::warn!(error = %e, "scheduler: tick skipped");
        }
    }
}

/// One pass: refresh due times, pick up due targets under a lease and rotate them.
pub async fn run_once(engine: &Engine, config: &SchedulerConfig) -> Result<usize, Error> {
    let store = engine.store();
    let now = engine.clock().now();
    for s in statuses_with(engine, now, config.jitter, None).await? {
        // A failed attempt's back-off stands until it passes.
        let backing_off = s.policy.last_result.as_deref().is_some_and(|r| r.starts_with("failed"))
            && s.policy.due_at.is_some_and(|d| d > now);
        if !backing_off && s.policy.due_at != s.due_at && s.policy.lease.expires_at <= now {
            store.set_policy_due(&s.tenant, s.policy.kind, &s.target, s.due_at).await?;
        }
    }
    let claimed = store.claim_due_policies(engine.owner(), now, engine.lease_until(now), BATCH).await?;
    let mut rotated = 0;
    for policy in claimed {
        rotated += usize::from(rotate_due(engine, &policy).await?);
    }
    Ok(rotated)
}

async fn rotate_due(engine: &Engine, p: &PolicyRecord) -> Result<bool, Error> {
    let store = engine.store();
    let now = engine.clock().now();
    let window = p.window.as_deref().and_then(|w| w.parse::<RotationWindow>().ok());
    if window.is_some_and(|w| !w.contains(now)) {
        count("skipped");
        store.finish_policy(p, "waiting for the rotation window", None, None).await?;
        return Ok(false);
    }
    // The same due time gives the same request_id on every replica: a takeover resumes.
    let request_id = format!(
        "sched-{}",
        &hex(&Sha256::digest(format!("{}\0{}\0{:?}", p.tenant, p.target, p.due_at.map(Timestamp::as_millis))))[..32]
    );
    let span = tracing::info_span!("scheduled_rotation", tenant = %p.tenant, target = %p.target, kind = %p.kind);
    let _entered = span.enter();
    count("started");
    let outcome = match p.kind {
        PolicyKind::Client => {
            let req = RotateRequest {
                tenant: p.tenant.clone(),
                client_id: p.target.clone(),
                request_id: Some(request_id),
                requested_by: SCHEDULER.into(),
                custody: p.custody,
                ..RotateRequest::default()
            };
            engine.rotate_client(&req).await.map(|_| ())
        }
        PolicyKind::Connection => {
            engine.rotate_connection(&p.tenant, &p.target, None, Some(&request_id), SCHEDULER).await.map(|_| ())
        }
        PolicyKind::SigningKeys => {
            engine.rotate_signing_keys(&p.tenant, Some(&request_id), SCHEDULER).await.map(|_| ())
        }
    };
    drop(_entered);
    match outcome {
        Ok(()) => {
            tracing::info!(tenant = %p.tenant, target = %p.target, "scheduled rotation done");
            store.finish_policy(p, "rotated", Some(engine.clock().now()), None).await?;
            Ok(true)
        }
        Err(Error::Aborted(why)) => {
            count("skipped");
            store.finish_policy(p, &format!("busy: {why}"), None, p.due_at).await?;
            Ok(false)
        }
        // Paused by an outage or a lost lease: the rotation stays open and resumes; the same
        // request_id picks it up at the next tick.
        Err(e @ (Error::Unavailable(_) | Error::Database(_) | Error::Conflict(_) | Error::LeaseLost { .. })) => {
            count("failed");
            tracing::warn!(tenant = %p.tenant, target = %p.target, error = %e, "scheduled rotation paused");
            store.finish_policy(p, &format!("paused: {e}"), None, p.due_at).await?;
            Ok(false)
        }
        Err(e) => {
            count("failed");
            tracing::warn!(tenant = %p.tenant, target = %p.target, error = %e, "scheduled rotation failed");
            let retry = engine.clock().now().plus_ms(RETRY_AFTER_FAILURE_MS);
            store.finish_policy(p, &format!("failed: {e}"), None, Some(retry)).await?;
            Ok(false)
        }
    }
}

fn count(outcome: &'static str) {
    metrics().scheduled_rotations.get_or_create(&OutcomeLabel { outcome }).inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_hold_the_due_time_until_they_open() {
        let w: RotationWindow = "02:00-05:00".parse().unwrap();
        let day = 20_000 * 86_400_000i64;
        let at = |h: i64| Timestamp::from_millis(day + h * 3_600_000);
        assert_eq!(next_open(at(3), Some(w)), at(3));
        assert_eq!(next_open(at(1), Some(w)), at(2));
        assert_eq!(next_open(at(6), Some(w)), at(26));
        assert_eq!(next_open(at(6), None), at(6));
    }
}
