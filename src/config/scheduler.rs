//! `[scheduler]`: whether and how often this replica runs scheduled rotations, and the leases
//! that keep two replicas from running the same one.

use std::time::Duration;

use serde::Deserialize;

use super::source::Setting;

const DEFAULT_TICK: Duration = Duration::from_secs(30);
const DEFAULT_JITTER: Duration = Duration::from_secs(3600);
const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

const TICK: Setting = Setting::file("scheduler.tick");
const JITTER: Setting = Setting::file("scheduler.jitter");
const LEASE_TTL: Setting = Setting::file("scheduler.lease_ttl");
const LEASE_RENEW_INTERVAL: Setting = Setting::file("scheduler.lease_renew_interval");

#[derive(Debug, Default, Deserialize)]
pub(super) struct SchedulerFile {
    enabled: Option<bool>,
    tick: Option<String>,
    jitter: Option<String>,
    lease_ttl: Option<String>,
    lease_renew_interval: Option<String>,
}

/// How a lease is kept: renewed every `renew`, and each Auth0 call under it bounded by
/// `call_deadline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    /// How long a lease lasts past its last renewal.
    pub ttl: Duration,
    /// How often a step in progress renews its lease.
    pub renew: Duration,
    /// The longest an Auth0 call made under the lease may take (retries and rate-limit waits
    /// included): the TTL less one renewal interval, so a call that began right after a renewal
    /// ends while the lease still has a renewal interval to run.
    pub call_deadline: Duration,
}

impl LeaseTiming {
    /// The timing for a lease of `ttl`, renewed every `renew` (default: a third of the TTL).
    /// The renewal interval must be at least 100 ms and at most half the TTL, so a renewal can
    /// be late by a whole interval and the lease still holds.
    pub fn new(ttl: Duration, renew: Option<Duration>) -> Result<Self, String> {
        let renew = renew.unwrap_or(ttl / 3);
        if ttl < Duration::from_secs(1) {
            return Err(format!("scheduler.lease_ttl: {ttl:?} is shorter than 1s"));
        }
        if renew < Duration::from_millis(100) || renew > ttl / 2 {
            return Err(format!(
                "scheduler.lease_renew_interval: {renew:?} must be between 100ms and half of \
                 scheduler.lease_ttl ({ttl:?})"
            ));
        }
        Ok(Self { ttl, renew, call_deadline: ttl - renew })
    }
}

/// The rotation scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Whether this replica runs scheduled rotations.
    pub enabled: bool,
    /// How often it looks for due rotations.
    pub tick: Duration,
    /// Rotations start up to this much before they are due, spread per key.
    pub jitter: Duration,
    /// How long a lease lasts unless renewed.
    pub lease_ttl: Duration,
    /// How a lease is renewed while its work runs, and how long an Auth0 call under it may take
    /// (derived from `lease_ttl` and `lease_renew_interval`, validated against each other).
    pub lease: LeaseTiming,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        let lease = LeaseTiming {
            ttl: DEFAULT_LEASE_TTL,
            renew: DEFAULT_LEASE_TTL / 3,
            call_deadline: DEFAULT_LEASE_TTL - DEFAULT_LEASE_TTL / 3,
        };
        Self { enabled: true, tick: DEFAULT_TICK, jitter: DEFAULT_JITTER, lease_ttl: DEFAULT_LEASE_TTL, lease }
    }
}

/// Resolves `[scheduler]`, checking the lease's renewal against its TTL.
pub(super) fn resolve(file: Option<SchedulerFile>, errors: &mut Vec<String>) -> SchedulerConfig {
    let s = file.unwrap_or_default();
    let mut scheduler = SchedulerConfig {
        enabled: s.enabled.unwrap_or(true),
        tick: TICK.given(s.tick.as_deref()).duration(DEFAULT_TICK, errors),
        jitter: JITTER.given(s.jitter.as_deref()).duration(DEFAULT_JITTER, errors),
        lease_ttl: LEASE_TTL.given(s.lease_ttl.as_deref()).duration(DEFAULT_LEASE_TTL, errors),
        lease: SchedulerConfig::default().lease,
    };
    if scheduler.tick < Duration::from_millis(100) || scheduler.lease_ttl < Duration::from_secs(1) {
        errors.push("scheduler: tick must be at least 100ms and lease_ttl at least 1s".into());
    }
    let renew = LEASE_RENEW_INTERVAL.given(s.lease_renew_interval.as_deref()).duration(scheduler.lease_ttl / 3, errors);
    match LeaseTiming::new(scheduler.lease_ttl, Some(renew)) {
        Ok(timing) => scheduler.lease = timing,
        Err(e) => errors.push(e),
    }
    scheduler
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_is_validated() {
        let t = LeaseTiming::new(Duration::from_secs(30), None).unwrap();
        assert_eq!((t.renew, t.call_deadline), (Duration::from_secs(10), Duration::from_secs(20)));
        let err = LeaseTiming::new(Duration::from_secs(30), Some(Duration::from_secs(20))).unwrap_err();
        assert!(err.contains("lease_renew_interval") && err.contains("half"), "{err}");
        assert!(LeaseTiming::new(Duration::from_secs(30), Some(Duration::from_millis(50))).is_err());
        assert!(LeaseTiming::new(Duration::from_millis(500), None).is_err());
        assert!(LeaseTiming::new(Duration::from_secs(2), Some(Duration::from_secs(1))).is_ok());
    }
}
