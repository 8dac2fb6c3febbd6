//! `[limits]`: what one caller, or a flood of them, can hold on the gRPC and admin ports. Each
//! key has a `KEYWARD_…` environment variable that overrides the file.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsFile {
    max_concurrent_streams: Option<u32>,
    max_connections: Option<usize>,
    max_concurrent_requests_per_connection: Option<usize>,
    request_timeout: Option<String>,
    http2_keepalive_interval: Option<String>,
    http2_keepalive_timeout: Option<String>,
    max_header_list_size: Option<u32>,
}

/// The transport limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// HTTP/2 streams one connection may have open (SETTINGS_MAX_CONCURRENT_STREAMS).
    pub max_concurrent_streams: u32,
    /// Connections open at once on the gRPC port (and, separately, the admin port); beyond it
    /// new connections wait in the listen queue while existing callers keep working.
    pub max_connections: usize,
    /// Requests one connection may have in service at once.
    pub max_concurrent_requests_per_connection: usize,
    /// The longest an RPC may run (DEADLINE_EXCEEDED past it; a rotation cut short stays
    /// resumable). Callers may ask for less with `grpc-timeout`.
    pub request_timeout: Duration,
    /// How often an idle connection is pinged.
    pub http2_keepalive_interval: Duration,
    /// How long a ping may go unanswered before the connection is closed.
    pub http2_keepalive_timeout: Duration,
    /// The largest header block a request may send, in bytes.
    pub max_header_list_size: u32,
    /// Streams a connection may reset before it is sent GOAWAY (h2's rapid-reset defence).
    pub max_pending_accept_reset_streams: usize,
    /// Streams the server may reset on one connection for its errors before GOAWAY (the defence
    /// against "MadeYouReset", CVE-2025-8671; off in tonic unless set).
    pub max_local_error_reset_streams: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 256,
            max_connections: 1024,
            max_concurrent_requests_per_connection: 256,
            request_timeout: Duration::from_secs(30),
            http2_keepalive_interval: Duration::from_secs(60),
            http2_keepalive_timeout: Duration::from_secs(20),
            max_header_list_size: 16 * 1024,
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: 1024,
        }
    }
}

fn number<T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display>(
    key: &str,
    var: &str,
    file: Option<T>,
    default: T,
    range: (T, T),
    env: &HashMap<String, String>,
    errors: &mut Vec<String>,
) -> T {
    let value = match env.get(var) {
        Some(text) => match text.trim().parse::<T>() {
            Ok(v) => v,
            Err(_) => {
                errors.push(format!("{var} (limits.{key}): not a number"));
                return default;
            }
        },
        None => file.unwrap_or(default),
    };
    if value < range.0 || value > range.1 {
        errors.push(format!("limits.{key}: {value} is not between {} and {}", range.0, range.1));
        return default;
    }
    value
}

fn duration(
    key: &str,
    var: &str,
    file: Option<&String>,
    default: Duration,
    range: (Duration, Duration),
    env: &HashMap<String, String>,
    errors: &mut Vec<String>,
) -> Duration {
    let Some(text) = env.get(var).or(file) else { return default };
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d >= range.0 && d <= range.1 => d,
        Ok(_) => {
            errors.push(format!("limits.{key}: must be between {:?} and {:?}", range.0, range.1));
            default
        }
        Err(e) => {
            errors.push(format!("limits.{key}: {e}"));
            default
        }
    }
}

/// Resolves `[limits]` with the `KEYWARD_…` overrides, reporting every problem.
pub(super) fn resolve(file: Option<LimitsFile>, env: &HashMap<String, String>, errors: &mut Vec<String>) -> Limits {
    let f = file.unwrap_or_default();
    let d = Limits::default();
    Limits {
        max_concurrent_streams: number(
            "max_concurrent_streams",
            "KEYWARD_MAX_CONCURRENT_STREAMS",
            f.max_concurrent_streams,
            d.max_concurrent_streams,
            (1, 65_536),
            env,
            errors,
        ),
        max_connections: number(
            "max_connections",
            "KEYWARD_MAX_CONNECTIONS",
            f.max_connections,
            d.max_connections,
            (1, 1_000_000),
            env,
            errors,
        ),
        max_concurrent_requests_per_connection: number(
            "max_concurrent_requests_per_connection",
            "KEYWARD_MAX_CONCURRENT_REQUESTS_PER_CONNECTION",
            f.max_concurrent_requests_per_connection,
            d.max_concurrent_requests_per_connection,
            (1, 65_536),
            env,
            errors,
        ),
        request_timeout: duration(
            "request_timeout",
            "KEYWARD_REQUEST_TIMEOUT",
            f.request_timeout.as_ref(),
            d.request_timeout,
            (Duration::from_millis(100), Duration::from_secs(3600)),
            env,
            errors,
        ),
        http2_keepalive_interval: duration(
            "http2_keepalive_interval",
            "KEYWARD_HTTP2_KEEPALIVE_INTERVAL",
            f.http2_keepalive_interval.as_ref(),
            d.http2_keepalive_interval,
            (Duration::from_secs(1), Duration::from_secs(24 * 3600)),
            env,
            errors,
        ),
        http2_keepalive_timeout: duration(
            "http2_keepalive_timeout",
            "KEYWARD_HTTP2_KEEPALIVE_TIMEOUT",
            f.http2_keepalive_timeout.as_ref(),
            d.http2_keepalive_timeout,
            (Duration::from_secs(1), Duration::from_secs(3600)),
            env,
            errors,
        ),
        max_header_list_size: number(
            "max_header_list_size",
            "KEYWARD_MAX_HEADER_LIST_SIZE",
            f.max_header_list_size,
            d.max_header_list_size,
            (1024, 1024 * 1024),
            env,
            errors,
        ),
        ..d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_bounds() {
        let mut errors = Vec::new();
        assert_eq!(resolve(None, &HashMap::new(), &mut errors), Limits::default());
        let file: LimitsFile = toml::from_str("max_concurrent_streams = 8\nrequest_timeout = \"5s\"").unwrap();
        let env = HashMap::from([("KEYWARD_MAX_CONCURRENT_STREAMS".to_owned(), "16".to_owned())]);
        let l = resolve(Some(file), &env, &mut errors);
        assert_eq!((l.max_concurrent_streams, l.request_timeout), (16, Duration::from_secs(5)));
        assert!(errors.is_empty(), "{errors:?}");
        let file: LimitsFile = toml::from_str("max_connections = 0\nhttp2_keepalive_timeout = \"forever\"").unwrap();
        let env = HashMap::from([("KEYWARD_MAX_HEADER_LIST_SIZE".to_owned(), "lots".to_owned())]);
        resolve(Some(file), &env, &mut errors);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors.iter().any(|e| e.starts_with("limits.max_connections")), "{errors:?}");
        assert!(errors.iter().any(|e| e.starts_with("KEYWARD_MAX_HEADER_LIST_SIZE")), "{errors:?}");
        assert!(toml::from_str::<LimitsFile>("max_streams = 1").is_err(), "unknown keys are refused");
    }
}
