//! When to retry and how long to wait: `Retry-After`, then `x-ratelimit-reset` (epoch seconds),
//! then exponential backoff; capped and jittered.

use std::time::{Duration, SystemTime};

use crate::ratelimit::RateLimit;

/// How calls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts per call, including the first (1 disables retries).
    pub max_attempts: u32,
    /// First backoff delay for 5xx/408/transport failures; doubles per attempt.
    pub base_delay: Duration,
    /// The longest single wait. When Auth0 asks for a longer wait on a 429 (its bucket resets later
    /// than this), the call fails at once with [`Error::RateLimited`](crate::Error::RateLimited)
    /// rather than retrying into a certain 429.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 3, base_delay: Duration::from_millis(500), max_delay: Duration::from_secs(10) }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }

    /// The wait before the next attempt after a 429, or `None` when the server's wait exceeds
    /// `max_delay`. `jitter` is a uniform sample in `[0, 1)`; the server-directed wait is stretched
    /// by up to 20 % so that clients sharing a bucket do not return together.
    pub fn rate_limit_delay(
        &self,
        retry_after: Option<Duration>,
        rate_limit: &RateLimit,
        attempt: u32,
        now: SystemTime,
        jitter: f64,
    ) -> Option<Duration> {
        let server =
            retry_after.or_else(|| rate_limit.reset.map(|at| at.duration_since(now).unwrap_or(Duration::ZERO)));
        let Some(wait) = server else {
            return Some(self.backoff_delay(attempt, jitter));
        };
        if wait > self.max_delay {
            return None;
        }
        // An already-passed reset: the bucket has refilled, but wait a little (up to one base
        // delay) so that the retries of many clients spread out.
        let jittered =
            if wait.is_zero() { self.base_delay.mul_f64(unit(jitter)) } else { wait.mul_f64(1.0 + 0.2 * unit(jitter)) };
        Some(jittered.min(self.max_delay))
    }

    /// Exponential backoff after a 5xx/408/transport failure: `base · 2^(attempt−1)` ±10 %, capped.
    /// `attempt` is the 1-based number of the attempt that failed.
    pub fn backoff_delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(20);
        let raw = self.base_delay.saturating_mul(1u32 << exp);
        raw.mul_f64(0.9 + 0.2 * unit(jitter)).min(self.max_delay)
    }
}

fn unit(x: f64) -> f64 {
    if x.is_finite() { x.clamp(0.0, 1.0) } else { 0.0 }
}

/// A uniform sample in `[0, 1)` from the OS RNG (0.5 if it is unavailable: jitter is not security).
pub(crate) fn jitter() -> f64 {
    let mut b = [0u8; 4];
    match getrandom::fill(&mut b) {
        Ok(()) => f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn policy() -> RetryPolicy {
        RetryPolicy { max_attempts: 3, base_delay: Duration::from_millis(500), max_delay: Duration::from_secs(10) }
    }
    const NOW: u64 = 1_700_000_000;
    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }
    fn reset(secs: u64) -> RateLimit {
        RateLimit { limit: Some(10), remaining: Some(0), reset: Some(at(secs)) }
    }

    #[test]
    fn retry_after_wins_over_reset() {
        let p = policy();
        let d = p.rate_limit_delay(Some(Duration::from_secs(2)), &reset(NOW + 9), 1, at(NOW), 0.0);
        assert_eq!(d, Some(Duration::from_secs(2)));
        let d = p.rate_limit_delay(Some(Duration::from_secs(2)), &reset(NOW + 9), 1, at(NOW), 0.999);
        let d = d.unwrap();
        assert!(d >= Duration::from_secs(2) && d <= Duration::from_millis(2400), "{d:?}");
    }

    #[test]
    fn reset_is_epoch_seconds_not_a_delay() {
        let p = policy();
        // Reset 3 s in the future: wait 3 s (not 1.7 billion seconds).
        let d = p.rate_limit_delay(None, &reset(NOW + 3), 1, at(NOW), 0.0).unwrap();
        assert_eq!(d, Duration::from_secs(3));
        for j in [0.0, 0.3, 0.7, 0.9999] {
            let d = p.rate_limit_delay(None, &reset(NOW + 3), 1, at(NOW), j).unwrap();
            assert!(d >= Duration::from_secs(3) && d <= Duration::from_millis(3600), "{d:?}");
        }
    }

    #[test]
    fn reset_in_the_past_waits_at_most_one_base_delay() {
        let p = policy();
        for j in [0.0, 0.5, 0.9999] {
            let d = p.rate_limit_delay(None, &reset(NOW - 5), 1, at(NOW), j).unwrap();
            assert!(d <= p.base_delay, "{d:?}");
        }
    }

    #[test]
    fn waits_beyond_the_cap_give_up() {
        let p = policy();
        assert_eq!(p.rate_limit_delay(None, &reset(NOW + 11), 1, at(NOW), 0.0), None);
        assert_eq!(p.rate_limit_delay(Some(Duration::from_secs(60)), &reset(NOW), 1, at(NOW), 0.0), None);
        // Exactly at the cap: jitter never pushes the wait over it.
        let d = p.rate_limit_delay(None, &reset(NOW + 10), 1, at(NOW), 0.9999).unwrap();
        assert_eq!(d, p.max_delay);
    }

    #[test]
    fn no_headers_falls_back_to_backoff() {
        let p = policy();
        let d = p.rate_limit_delay(None, &RateLimit::default(), 2, at(NOW), 0.5).unwrap();
        assert_eq!(d, p.backoff_delay(2, 0.5));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_cap() {
        let p = policy();
        assert_eq!(p.backoff_delay(1, 0.5), Duration::from_millis(500));
        assert_eq!(p.backoff_delay(2, 0.5), Duration::from_millis(1000));
        assert_eq!(p.backoff_delay(3, 0.5), Duration::from_millis(2000));
        assert_eq!(p.backoff_delay(1, 0.0), Duration::from_millis(450));
        assert!(p.backoff_delay(1, 0.9999) <= Duration::from_millis(550));
        assert_eq!(p.backoff_delay(40, 0.9), p.max_delay);
        assert_eq!(p.backoff_delay(u32::MAX, f64::NAN), p.max_delay);
    }

    #[test]
    fn jitter_is_in_unit_interval() {
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
