//! Time as keyward stores it: UNIX milliseconds, read through a [`Clock`]. Imports nothing of
//! keyward.
//!
//! The store, the rotation engine, the scheduler and the signer read time from one shared
//! [`SharedClock`] ([`SystemClock`] in service; a [`ManualClock`] in tests that move time
//! instead of sleeping). Records keep their times as plain `i64` UNIX milliseconds.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

/// `t` in UNIX milliseconds (0 before the epoch, saturating far after it).
pub fn millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// The system's current time in UNIX milliseconds. For places that truly want the wall clock
/// and hold no [`Clock`] (the command line, the admin page); the engine, store, scheduler and
/// signer use their injected clock instead.
pub fn millis_now() -> i64 {
    millis(SystemTime::now())
}

/// Where keyward reads the current time.
pub trait Clock: Send + Sync + Debug {
    /// Now, in UNIX milliseconds.
    fn now_ms(&self) -> i64;

    /// Now, as a [`SystemTime`] (for what signs certificates and tokens).
    fn now(&self) -> SystemTime {
        let ms = self.now_ms();
        let since = Duration::from_millis(ms.unsigned_abs());
        if ms >= 0 { SystemTime::UNIX_EPOCH + since } else { SystemTime::UNIX_EPOCH - since }
    }
}

/// The clock shared by the store, engine, scheduler and signer of one service.
pub type SharedClock = Arc<dyn Clock>;

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// A system clock as a [`SharedClock`].
    pub fn shared() -> SharedClock {
        Arc::new(Self)
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        millis_now()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    /// A clock standing at `now_ms` (UNIX milliseconds).
    pub fn at(now_ms: i64) -> Self {
        Self { now_ms: AtomicI64::new(now_ms) }
    }

    /// A clock standing at the system's current time.
    pub fn starting_now() -> Self {
        Self::at(millis_now())
    }

    /// Sets the time (UNIX milliseconds).
    pub fn set(&self, now_ms: i64) {
        self.now_ms.store(now_ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `by` (saturating).
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        // The closure always returns Some, so the update cannot fail.
        let _ = self.now_ms.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| Some(t.saturating_add(by)));
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance(Duration::from_secs(100 * 24 * 3600));
        assert_eq!(clock.now_ms(), 1_000 + 100 * 24 * 3600 * 1000);
        clock.set(5);
        assert_eq!(clock.now_ms(), 5);
        assert_eq!(clock.now(), SystemTime::UNIX_EPOCH + Duration::from_millis(5));
        clock.set(i64::MAX - 1);
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.now_ms(), i64::MAX);
        let shared: SharedClock = Arc::new(ManualClock::at(-2_000));
        assert_eq!(shared.now(), SystemTime::UNIX_EPOCH - Duration::from_secs(2));
    }

    #[test]
    fn system_clock_reads_the_wall_clock() {
        let before = millis_now();
        let now = SystemClock.now_ms();
        assert!(now >= before && now <= millis_now());
        assert_eq!(millis(SystemClock.now()) / 1000, now / 1000);
    }
}
