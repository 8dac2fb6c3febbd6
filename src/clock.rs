//! Time as keyward stores it: UNIX milliseconds. Imports nothing of keyward.

use std::time::SystemTime;

/// `t` in UNIX milliseconds (0 before the epoch, saturating far after it).
pub fn millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// The current time in UNIX milliseconds.
pub fn millis_now() -> i64 {
    millis(SystemTime::now())
}
