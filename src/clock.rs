//! Time as keyward keeps it: a [`Timestamp`] (UNIX milliseconds), read through a [`Clock`].
//! Imports nothing of keyward.
//!
//! The store, the rotation engine, the scheduler and the signer read time from one shared
//! [`SharedClock`] ([`SystemClock`] in service; a [`ManualClock`] in tests that move time
//! instead of sleeping). Records keep their times as [`Timestamp`]s; the database and the wire
//! carry the same instant as a bare integer of milliseconds.

use std::fmt::{self, Debug};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// An instant, in UNIX milliseconds. Ordered and copyable; arithmetic saturates instead of
/// overflowing. Serialised (JSON, the database) as the bare number of milliseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const EPOCH: Self = Self(0);
    /// The latest instant a timestamp can hold.
    pub const MAX: Self = Self(i64::MAX);

    /// The instant `ms` milliseconds after the UNIX epoch (before it when negative).
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// The instant `secs` seconds after the UNIX epoch (saturating).
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// Milliseconds since the UNIX epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the UNIX epoch (rounded down, as JWT `iat`/`exp` are).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// `t` as a timestamp (the epoch for times before it, saturating far after it).
    pub fn from_system(t: SystemTime) -> Self {
        Self(
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0),
        )
    }

    /// The same instant as a [`SystemTime`] (for what signs certificates and tokens).
    pub fn to_system(self) -> SystemTime {
        let since = Duration::from_millis(self.0.unsigned_abs());
        if self.0 >= 0 { SystemTime::UNIX_EPOCH + since } else { SystemTime::UNIX_EPOCH - since }
    }

    /// The instant `ms` milliseconds later (earlier when negative), saturating.
    pub const fn plus_ms(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// The instant `d` later, saturating.
    pub fn plus(self, d: Duration) -> Self {
        self.plus_ms(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    /// Milliseconds from `earlier` to `self` (negative when `earlier` is later), saturating.
    pub const fn millis_since(self, earlier: Self) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// The same instant as a `time` date-time (`None` outside the years it can represent).
    pub fn to_offset_date_time(self) -> Option<time::OffsetDateTime> {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000).ok()
    }

    /// The time from `earlier` to `self`, zero when `earlier` is not earlier.
    pub fn duration_since(self, earlier: Self) -> Duration {
        Duration::from_millis(u64::try_from(self.millis_since(earlier)).unwrap_or(0))
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Self;

    /// The instant `d` later, saturating.
    fn add(self, d: Duration) -> Self {
        self.plus(d)
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Self;

    /// The instant `d` earlier, saturating.
    fn sub(self, d: Duration) -> Self {
        self.plus_ms(i64::try_from(d.as_millis()).map_or(i64::MIN, |ms| -ms))
    }
}

/// RFC 3339 in UTC (`2026-12-07T14:23:14.5Z`), for messages; the number of milliseconds where
/// the instant is beyond the years RFC 3339 can write.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_offset_date_time().and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()) {
            Some(text) => f.write_str(&text),
            None => write!(f, "{} ms after the epoch", self.0),
        }
    }
}

impl Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// `t` in UNIX milliseconds (0 before the epoch, saturating far after it).
pub fn millis(t: SystemTime) -> i64 {
    Timestamp::from_system(t).as_millis()
}

/// The system's current time. For places that truly want the wall clock and hold no
/// [`Clock`] (the command line, tests); the engine, store, scheduler and signer use their
/// injected clock instead.
pub fn wall_now() -> Timestamp {
    Timestamp::from_system(SystemTime::now())
}

/// Where keyward reads the current time.
pub trait Clock: Send + Sync + Debug {
    /// Now.
    fn now(&self) -> Timestamp;

    /// Now, as a [`SystemTime`] (for what signs certificates and tokens).
    fn now_system(&self) -> SystemTime {
        self.now().to_system()
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
    fn now(&self) -> Timestamp {
        wall_now()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    /// A clock standing at `now`.
    pub fn at(now: Timestamp) -> Self {
        Self { now_ms: AtomicI64::new(now.as_millis()) }
    }

    /// A clock standing at the system's current time.
    pub fn starting_now() -> Self {
        Self::at(wall_now())
    }

    /// Sets the time.
    pub fn set(&self, now: Timestamp) {
        self.now_ms.store(now.as_millis(), Ordering::SeqCst);
    }

    /// Moves the time forward by `by` (saturating).
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        // The closure always returns Some, so the update cannot fail.
        let _ = self.now_ms.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| Some(t.saturating_add(by)));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.now_ms.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(Timestamp::from_millis(1_000));
        assert_eq!(clock.now(), Timestamp::from_millis(1_000));
        assert_eq!(clock.now().as_millis(), 1_000);
        clock.advance(Duration::from_secs(100 * 24 * 3600));
        assert_eq!(clock.now().as_millis(), 1_000 + 100 * 24 * 3600 * 1000);
        clock.set(Timestamp::from_millis(5));
        assert_eq!(clock.now_system(), SystemTime::UNIX_EPOCH + Duration::from_millis(5));
        clock.set(Timestamp::from_millis(i64::MAX - 1));
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.now(), Timestamp::MAX);
        let shared: SharedClock = Arc::new(ManualClock::at(Timestamp::from_millis(-2_000)));
        assert_eq!(shared.now_system(), SystemTime::UNIX_EPOCH - Duration::from_secs(2));
    }

    #[test]
    fn system_clock_reads_the_wall_clock() {
        let before = wall_now();
        let now = SystemClock.now();
        assert!(now >= before && now <= wall_now());
        assert_eq!(Timestamp::from_system(SystemClock.now_system()).as_secs(), now.as_secs());
    }

    #[test]
    fn timestamp_arithmetic_saturates_and_rounds_down() {
        let t = Timestamp::from_millis(1_500);
        assert_eq!(t.as_secs(), 1);
        assert_eq!(Timestamp::from_millis(-1).as_secs(), -1);
        assert_eq!(t.plus(Duration::from_secs(2)), Timestamp::from_millis(3_500));
        assert_eq!(t.plus_ms(-500), Timestamp::from_secs(1));
        assert_eq!(t + Duration::from_millis(1), Timestamp::from_millis(1_501));
        assert_eq!(t - Duration::from_secs(2), Timestamp::from_millis(-500));
        assert_eq!(Timestamp::from_millis(i64::MIN + 1) - Duration::MAX, Timestamp::from_millis(i64::MIN));
        assert_eq!(Timestamp::MAX.plus_ms(1), Timestamp::MAX);
        assert_eq!(Timestamp::MAX.plus(Duration::MAX), Timestamp::MAX);
        assert_eq!(t.millis_since(Timestamp::from_secs(2)), -500);
        assert_eq!(t.duration_since(Timestamp::from_secs(2)), Duration::ZERO);
        assert_eq!(Timestamp::from_secs(2).duration_since(t), Duration::from_millis(500));
        assert_eq!(Timestamp::from_system(SystemTime::UNIX_EPOCH - Duration::from_secs(1)), Timestamp::EPOCH);
        assert_eq!(
            Timestamp::from_millis(123_456).to_system(),
            SystemTime::UNIX_EPOCH + Duration::from_millis(123_456)
        );
        assert_eq!(serde_json::to_string(&t).unwrap(), "1500");
        assert_eq!(serde_json::from_str::<Timestamp>("-7").unwrap(), Timestamp::from_millis(-7));
        assert_eq!(format!("{t:?}"), "1500ms");
        assert_eq!(Timestamp::from_millis(1_796_654_594_500).to_string(), "2026-12-07T14:43:14.5Z");
        assert_eq!(Timestamp::MAX.to_string(), format!("{} ms after the epoch", i64::MAX));
    }
}
