//! `[limits]`: what one caller, or a flood of them, can hold on the gRPC and admin ports. Each
//! key has a `KEYWARD_…` environment variable that overrides the file and a `keyward serve`
//! flag named after it that overrides both.

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
    handshake_timeout: Option<String>,
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
    /// How long a new connection may take to send its first bytes of protocol (the HTTP/2
    /// preface, or the TLS handshake): past it the connection is closed and its slot freed
    /// (keepalive pings only start once the preface is in).
    pub handshake_timeout: Duration,
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
            handshake_timeout: Duration::from_secs(10),
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: 1024,
        }
    }
}

/// `[limits]` given on the command line (`keyward serve --max-connections 64` …), as typed:
/// checked with the file's values and reported the same way. Each flag is named after its key.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Limits (override [limits] and its KEYWARD_… variables)")]
pub struct LimitOverrides {
    /// HTTP/2 streams one connection may have open (limits.max_concurrent_streams), overriding
    /// the file and KEYWARD_MAX_CONCURRENT_STREAMS.
    #[arg(long, value_name = "N")]
    pub max_concurrent_streams: Option<String>,
    /// Connections open at once per port (limits.max_connections), overriding the file and
    /// KEYWARD_MAX_CONNECTIONS.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<String>,
    /// Requests one connection may have in service (limits.max_concurrent_requests_per_connection),
    /// overriding the file and KEYWARD_MAX_CONCURRENT_REQUESTS_PER_CONNECTION.
    #[arg(long, value_name = "N")]
    pub max_concurrent_requests_per_connection: Option<String>,
    /// The longest an RPC may run, e.g. 30s (limits.request_timeout), overriding the file and
    /// KEYWARD_REQUEST_TIMEOUT.
    #[arg(long, value_name = "DURATION")]
    pub request_timeout: Option<String>,
    /// How often an idle connection is pinged (limits.http2_keepalive_interval), overriding the
    /// file and KEYWARD_HTTP2_KEEPALIVE_INTERVAL.
    #[arg(long, value_name = "DURATION")]
    pub http2_keepalive_interval: Option<String>,
    /// How long a ping may go unanswered (limits.http2_keepalive_timeout), overriding the file
    /// and KEYWARD_HTTP2_KEEPALIVE_TIMEOUT.
    #[arg(long, value_name = "DURATION")]
    pub http2_keepalive_timeout: Option<String>,
    /// The largest header block a request may send, in bytes (limits.max_header_list_size),
    /// overriding the file and KEYWARD_MAX_HEADER_LIST_SIZE.
    #[arg(long, value_name = "BYTES")]
    pub max_header_list_size: Option<String>,
    /// How long a new connection may take to open its protocol (limits.handshake_timeout),
    /// overriding the file and KEYWARD_HANDSHAKE_TIMEOUT.
    #[arg(long, value_name = "DURATION")]
    pub handshake_timeout: Option<String>,
}

/// A key's value from its flag (`--max-connections`) or else its environment variable
/// (`KEYWARD_MAX_CONNECTIONS`), with the name to report it under.
fn given<'a>(key: &str, flag: Option<&'a String>, env: &'a HashMap<String, String>) -> Option<(&'a str, String)> {
    if let Some(text) = flag {
        return Some((text, format!("--{} (limits.{key})", key.replace('_', "-"))));
    }
    let var = format!("KEYWARD_{}", key.to_ascii_uppercase());
    env.get(&var).map(|text| (text.as_str(), format!("{var} (limits.{key})")))
}

/// A number: flag > environment > file > default, within `range`.
fn number<T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display>(
    key: &str,
    (flag, file): (Option<&String>, Option<T>),
    default: T,
    range: (T, T),
    env: &HashMap<String, String>,
    errors: &mut Vec<String>,
) -> T {
    let (value, name) = match given(key, flag, env) {
        Some((text, name)) => match text.trim().parse::<T>() {
            Ok(v) => (v, name),
            Err(_) => {
                errors.push(format!("{name}: not a number"));
                return default;
            }
        },
        None => (file.unwrap_or(default), format!("limits.{key}")),
    };
    if value < range.0 || value > range.1 {
        errors.push(format!("{name}: {value} is not between {} and {}", range.0, range.1));
        return default;
    }
    value
}

/// A duration: flag > environment > file > default, within `range`.
fn duration(
    key: &str,
    (flag, file): (Option<&String>, Option<&String>),
    default: Duration,
    range: (Duration, Duration),
    env: &HashMap<String, String>,
    errors: &mut Vec<String>,
) -> Duration {
    let (text, name) = match given(key, flag, env) {
        Some((text, name)) => (text, name),
        None => match file {
            Some(text) => (text.as_str(), format!("limits.{key}")),
            None => return default,
        },
    };
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d >= range.0 && d <= range.1 => d,
        Ok(_) => {
            errors.push(format!("{name}: must be between {:?} and {:?}", range.0, range.1));
            default
        }
        Err(e) => {
            errors.push(format!("{name}: {e}"));
            default
        }
    }
}

/// Resolves `[limits]` with the `KEYWARD_…` variables and the flags (flag > environment > file
/// > default), reporting every problem.
pub(super) fn resolve(
    file: Option<LimitsFile>,
    flags: &LimitOverrides,
    env: &HashMap<String, String>,
    errors: &mut Vec<String>,
) -> Limits {
    let f = file.unwrap_or_default();
    let d = Limits::default();
    let secs = Duration::from_secs;
    Limits {
        max_concurrent_streams: number(
            "max_concurrent_streams",
            (flags.max_concurrent_streams.as_ref(), f.max_concurrent_streams),
            d.max_concurrent_streams,
            (1, 65_536),
            env,
            errors,
        ),
        max_connections: number(
            "max_connections",
            (flags.max_connections.as_ref(), f.max_connections),
            d.max_connections,
            (1, 1_000_000),
            env,
            errors,
        ),
        max_concurrent_requests_per_connection: number(
            "max_concurrent_requests_per_connection",
            (flags.max_concurrent_requests_per_connection.as_ref(), f.max_concurrent_requests_per_connection),
            d.max_concurrent_requests_per_connection,
            (1, 65_536),
            env,
            errors,
        ),
        request_timeout: duration(
            "request_timeout",
            (flags.request_timeout.as_ref(), f.request_timeout.as_ref()),
            d.request_timeout,
            (Duration::from_millis(100), secs(3600)),
            env,
            errors,
        ),
        http2_keepalive_interval: duration(
            "http2_keepalive_interval",
            (flags.http2_keepalive_interval.as_ref(), f.http2_keepalive_interval.as_ref()),
            d.http2_keepalive_interval,
            (secs(1), secs(24 * 3600)),
            env,
            errors,
        ),
        http2_keepalive_timeout: duration(
            "http2_keepalive_timeout",
            (flags.http2_keepalive_timeout.as_ref(), f.http2_keepalive_timeout.as_ref()),
            d.http2_keepalive_timeout,
            (secs(1), secs(3600)),
            env,
            errors,
        ),
        max_header_list_size: number(
            "max_header_list_size",
            (flags.max_header_list_size.as_ref(), f.max_header_list_size),
            d.max_header_list_size,
            (1024, 1024 * 1024),
            env,
            errors,
        ),
        handshake_timeout: duration(
            "handshake_timeout",
            (flags.handshake_timeout.as_ref(), f.handshake_timeout.as_ref()),
            d.handshake_timeout,
            (Duration::from_millis(100), secs(300)),
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
        assert_eq!(resolve(None, &LimitOverrides::default(), &HashMap::new(), &mut errors), Limits::default());
        let file: LimitsFile = toml::from_str("max_concurrent_streams = 8\nrequest_timeout = \"5s\"").unwrap();
        let env = HashMap::from([("KEYWARD_MAX_CONCURRENT_STREAMS".to_owned(), "16".to_owned())]);
        let l = resolve(Some(file), &LimitOverrides::default(), &env, &mut errors);
        assert_eq!((l.max_concurrent_streams, l.request_timeout), (16, Duration::from_secs(5)));
        assert!(errors.is_empty(), "{errors:?}");
        let file: LimitsFile = toml::from_str("max_connections = 0\nhttp2_keepalive_timeout = \"forever\"").unwrap();
        let env = HashMap::from([("KEYWARD_MAX_HEADER_LIST_SIZE".to_owned(), "lots".to_owned())]);
        resolve(Some(file), &LimitOverrides::default(), &env, &mut errors);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors.iter().any(|e| e.starts_with("limits.max_connections")), "{errors:?}");
        assert!(errors.iter().any(|e| e.starts_with("KEYWARD_MAX_HEADER_LIST_SIZE")), "{errors:?}");
        assert!(toml::from_str::<LimitsFile>("max_streams = 1").is_err(), "unknown keys are refused");
    }

    #[test]
    fn flags_win_over_the_environment_and_the_file() {
        let file = || -> LimitsFile {
            toml::from_str("max_connections = 8\nrequest_timeout = \"5s\"\nmax_header_list_size = 4096").unwrap()
        };
        let env = HashMap::from([
            ("KEYWARD_MAX_CONNECTIONS".to_owned(), "16".to_owned()),
            ("KEYWARD_REQUEST_TIMEOUT".to_owned(), "lots".to_owned()),
        ]);
        let flags = LimitOverrides {
            max_connections: Some("32".into()),
            request_timeout: Some("7s".into()),
            http2_keepalive_interval: Some("2m".into()),
            ..LimitOverrides::default()
        };
        let mut errors = Vec::new();
        let l = resolve(Some(file()), &flags, &env, &mut errors);
        assert!(errors.is_empty(), "a flag hides a bad environment value: {errors:?}");
        assert_eq!(
            (l.max_connections, l.request_timeout, l.http2_keepalive_interval, l.max_header_list_size),
            (32, Duration::from_secs(7), Duration::from_secs(120), 4096)
        );
        let l = resolve(Some(file()), &LimitOverrides::default(), &env, &mut errors);
        assert_eq!(l.max_connections, 16, "the environment wins over the file");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("KEYWARD_REQUEST_TIMEOUT (limits.request_timeout): "), "{errors:?}");

        let bad = LimitOverrides {
            max_concurrent_streams: Some("0".into()),
            max_header_list_size: Some("big".into()),
            http2_keepalive_timeout: Some("1ms".into()),
            ..LimitOverrides::default()
        };
        let mut errors = Vec::new();
        assert_eq!(resolve(None, &bad, &HashMap::new(), &mut errors), Limits::default());
        let text = errors.join("\n");
        for name in ["--max-concurrent-streams", "--max-header-list-size", "--http2-keepalive-timeout"] {
            assert!(text.contains(&format!("{name} (limits.")), "{name} missing in\n{text}");
        }
    }
}
