//! `[limits]`: what one caller, or a flood of them, can hold on the gRPC and admin ports. Each
//! key has a `KEYWARD_…` environment variable that overrides the file and a `keyward serve`
//! flag named after it that overrides both.

use std::time::Duration;

use serde::Deserialize;

use super::source::{Env, Setting};

#[derive(Debug, Default, Deserialize)]
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

// Each key: overridden by `KEYWARD_{KEY}` and by `--{key}`, a problem named by the layer that
// gave the value.
const MAX_CONCURRENT_STREAMS: Setting =
    Setting::flag("limits.max_concurrent_streams", "--max-concurrent-streams", "KEYWARD_MAX_CONCURRENT_STREAMS")
        .naming_the_layer();
const MAX_CONNECTIONS: Setting =
    Setting::flag("limits.max_connections", "--max-connections", "KEYWARD_MAX_CONNECTIONS").naming_the_layer();
const MAX_CONCURRENT_REQUESTS_PER_CONNECTION: Setting = Setting::flag(
    "limits.max_concurrent_requests_per_connection",
    "--max-concurrent-requests-per-connection",
    "KEYWARD_MAX_CONCURRENT_REQUESTS_PER_CONNECTION",
)
.naming_the_layer();
const REQUEST_TIMEOUT: Setting =
    Setting::flag("limits.request_timeout", "--request-timeout", "KEYWARD_REQUEST_TIMEOUT").naming_the_layer();
const HTTP2_KEEPALIVE_INTERVAL: Setting =
    Setting::flag("limits.http2_keepalive_interval", "--http2-keepalive-interval", "KEYWARD_HTTP2_KEEPALIVE_INTERVAL")
        .naming_the_layer();
const HTTP2_KEEPALIVE_TIMEOUT: Setting =
    Setting::flag("limits.http2_keepalive_timeout", "--http2-keepalive-timeout", "KEYWARD_HTTP2_KEEPALIVE_TIMEOUT")
        .naming_the_layer();
const MAX_HEADER_LIST_SIZE: Setting =
    Setting::flag("limits.max_header_list_size", "--max-header-list-size", "KEYWARD_MAX_HEADER_LIST_SIZE")
        .naming_the_layer();
const HANDSHAKE_TIMEOUT: Setting =
    Setting::flag("limits.handshake_timeout", "--handshake-timeout", "KEYWARD_HANDSHAKE_TIMEOUT").naming_the_layer();

/// Resolves `[limits]` with the `KEYWARD_…` variables and the flags (flag > environment > file
/// > default), reporting every problem.
pub(super) fn resolve(file: Option<LimitsFile>, flags: &LimitOverrides, env: &Env, errors: &mut Vec<String>) -> Limits {
    let f = file.unwrap_or_default();
    let d = Limits::default();
    let (ms, secs) = (Duration::from_millis, Duration::from_secs);
    Limits {
        max_concurrent_streams: MAX_CONCURRENT_STREAMS
            .pick(flags.max_concurrent_streams.as_deref(), env, f.max_concurrent_streams)
            .number(d.max_concurrent_streams, (1, 65_536), errors),
        max_connections: MAX_CONNECTIONS.pick(flags.max_connections.as_deref(), env, f.max_connections).number(
            d.max_connections,
            (1, 1_000_000),
            errors,
        ),
        max_concurrent_requests_per_connection: MAX_CONCURRENT_REQUESTS_PER_CONNECTION
            .pick(
                flags.max_concurrent_requests_per_connection.as_deref(),
                env,
                f.max_concurrent_requests_per_connection,
            )
            .number(d.max_concurrent_requests_per_connection, (1, 65_536), errors),
        request_timeout: REQUEST_TIMEOUT
            .pick(flags.request_timeout.as_deref(), env, f.request_timeout.as_deref())
            .duration_within(d.request_timeout, (ms(100), secs(3600)), errors),
        http2_keepalive_interval: HTTP2_KEEPALIVE_INTERVAL
            .pick(flags.http2_keepalive_interval.as_deref(), env, f.http2_keepalive_interval.as_deref())
            .duration_within(d.http2_keepalive_interval, (secs(1), secs(24 * 3600)), errors),
        http2_keepalive_timeout: HTTP2_KEEPALIVE_TIMEOUT
            .pick(flags.http2_keepalive_timeout.as_deref(), env, f.http2_keepalive_timeout.as_deref())
            .duration_within(d.http2_keepalive_timeout, (secs(1), secs(3600)), errors),
        max_header_list_size: MAX_HEADER_LIST_SIZE
            .pick(flags.max_header_list_size.as_deref(), env, f.max_header_list_size)
            .number(d.max_header_list_size, (1024, 1024 * 1024), errors),
        handshake_timeout: HANDSHAKE_TIMEOUT
            .pick(flags.handshake_timeout.as_deref(), env, f.handshake_timeout.as_deref())
            .duration_within(d.handshake_timeout, (ms(100), secs(300)), errors),
        ..d
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn every_key_has_its_flag_and_variable() {
        let flags: Vec<String> = <LimitOverrides as clap::Args>::augment_args(clap::Command::new("serve"))
            .get_arguments()
            .filter_map(|a| a.get_long().map(|long| format!("--{long}")))
            .collect();
        let keys = [
            (MAX_CONCURRENT_STREAMS, "max_concurrent_streams"),
            (MAX_CONNECTIONS, "max_connections"),
            (MAX_CONCURRENT_REQUESTS_PER_CONNECTION, "max_concurrent_requests_per_connection"),
            (REQUEST_TIMEOUT, "request_timeout"),
            (HTTP2_KEEPALIVE_INTERVAL, "http2_keepalive_interval"),
            (HTTP2_KEEPALIVE_TIMEOUT, "http2_keepalive_timeout"),
            (MAX_HEADER_LIST_SIZE, "max_header_list_size"),
            (HANDSHAKE_TIMEOUT, "handshake_timeout"),
        ];
        assert_eq!(keys.len(), flags.len(), "{flags:?}");
        for (setting, key) in keys {
            let (flag, var) = (format!("--{}", key.replace('_', "-")), format!("KEYWARD_{}", key.to_ascii_uppercase()));
            assert!(flags.contains(&flag), "{flag} is not a flag: {flags:?}");
            let env = HashMap::from([(var.clone(), "1".to_owned())]);
            assert_eq!(setting.pick(Some("1"), &env, None::<u32>).name(), format!("{flag} (limits.{key})"));
            assert_eq!(setting.pick(None, &env, None::<u32>).name(), format!("{var} (limits.{key})"));
            assert_eq!(setting.pick(None, &HashMap::new(), Some(1)).name(), format!("limits.{key}"));
        }
    }

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
        let (_, unknown) = super::super::unknown_keys::parse::<LimitsFile>("max_streams = 1").unwrap();
        assert_eq!(unknown, ["line 1: unknown key max_streams"], "unknown keys are refused");
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
