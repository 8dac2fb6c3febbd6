//! Auth0's `x-ratelimit-*` headers and `Retry-After`, parsed from a response.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

/// The `x-ratelimit-limit`, `-remaining` and `-reset` headers of one answer. Each is `None` when
/// absent or unparseable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// Bucket size.
    pub limit: Option<u64>,
    /// Requests left in the bucket.
    pub remaining: Option<u64>,
    /// When the bucket refills (`x-ratelimit-reset` is UNIX epoch seconds, not a delay).
    pub reset: Option<SystemTime>,
}

impl RateLimit {
    /// Reads the headers (names are case-insensitive).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self {
            limit: header_u64(headers, "x-ratelimit-limit"),
            remaining: header_u64(headers, "x-ratelimit-remaining"),
            reset: header_u64(headers, "x-ratelimit-reset")
                .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s))),
        }
    }

    /// Whether any of the headers was present.
    pub fn is_present(&self) -> bool {
        self.limit.is_some() || self.remaining.is_some() || self.reset.is_some()
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `Retry-After` as a delay from `now`: delta-seconds, or an HTTP date (a date in the past is 0).
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    parse_retry_after(headers.get("retry-after")?.to_str().ok()?, now)
}

/// Parses a `Retry-After` value (RFC 9110 §10.2.3).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form servers must send.
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let dt = time::PrimitiveDateTime::parse(value, &format).ok()?.assume_utc();
    let secs = u64::try_from(dt.unix_timestamp()).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn headers_parse() {
        let mut h = HeaderMap::new();
        h.insert("X-RateLimit-Limit", HeaderValue::from_static("50"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1700000000"));
        let rl = RateLimit::from_headers(&h);
        assert_eq!(rl.limit, Some(50));
        assert_eq!(rl.remaining, Some(0));
        assert_eq!(rl.reset, Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
        assert!(rl.is_present());
        h.insert("x-ratelimit-reset", HeaderValue::from_static("soon"));
        assert_eq!(RateLimit::from_headers(&h).reset, None);
        assert!(!RateLimit::from_headers(&HeaderMap::new()).is_present());
    }

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_770); // Sun, 06 Nov 1994 08:49:30 GMT
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("tomorrow", now), None);
    }
}
