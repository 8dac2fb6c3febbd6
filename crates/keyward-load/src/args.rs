//! The command line, and its validation into [`Settings`]: every refusal is a usage error.

use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Parser, ValueEnum};

use crate::error::Error;

/// Drives a running keyward over real gRPC/HTTP2 connections and reports throughput and latency.
///
/// Latency covers every call (successful or not); `rps` counts successful calls only.
#[derive(Debug, Parser)]
#[command(name = "keyward-load", version, about)]
pub struct Cli {
    /// keyward's gRPC endpoint (plaintext http://).
    #[arg(long, default_value = keyward_proto::DEFAULT_ENDPOINT)]
    endpoint: String,
    /// A file holding the bearer token (default: $KEYWARD_TOKEN, else .keyward-dev/token).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The RPC to drive.
    #[arg(long, value_enum)]
    rpc: Rpc,
    /// Tenant name as configured in keyward.
    #[arg(long)]
    tenant: String,
    /// Auth0 client_id.
    #[arg(long)]
    client: String,
    /// get-access-token: the API identifier (required). sign-client-assertion: the assertion's
    /// audience (default: the server's). sign-jwt: the `aud` claim.
    #[arg(long)]
    audience: Option<String>,
    /// get-access-token: the scope to ask for (space-separated).
    #[arg(long)]
    scope: Option<String>,
    /// sign-client-assertion: the assertion lifetime (default: the server's, 60 s).
    /// sign-jwt: `exp` = now + this (default 60s).
    #[arg(long, value_parser = parse_duration)]
    lifetime: Option<Duration>,
    /// Concurrent callers (each loops one call at a time).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// HTTP/2 connections the callers are spread over (default: min(concurrency, 4)).
    #[arg(long)]
    connections: Option<usize>,
    /// Threads that drive the calls (default 1: a single-threaded runtime costs the least CPU,
    /// which matters when the server under test shares the machine).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Run this long (default 10s unless --requests).
    #[arg(long, value_parser = parse_duration, conflicts_with = "requests")]
    duration: Option<Duration>,
    /// Stop after this many calls in total.
    #[arg(long)]
    requests: Option<u64>,
    /// Deadline of each call (sent as grpc-timeout and enforced here).
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    timeout: Duration,
    /// Rotate the client's credential this often during the load.
    #[arg(long, value_parser = parse_duration)]
    rotate_every: Option<Duration>,
    /// The grace period each rotation asks for (default: the server's).
    #[arg(long, value_parser = parse_duration, requires = "rotate_every")]
    rotate_grace: Option<Duration>,
    /// sign-client-assertion: exchange a sample of the assertions at Auth0's /oauth/token.
    #[arg(long)]
    verify: bool,
    /// The Auth0 base URL for --verify (default: the contents of .keyward-dev/emulator-url).
    #[arg(long, requires = "verify")]
    verify_url: Option<String>,
    /// The API audience asked for in each verifying exchange.
    #[arg(long, default_value = "https://api.demo.local/", requires = "verify")]
    verify_audience: String,
    /// Verify every Nth assertion (the first one always).
    #[arg(long, default_value_t = 50, requires = "verify")]
    verify_sample: u64,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
    /// Exit 1 (after the summary) when the share of failed calls is above this fraction, 0 to 1
    /// (default 0: any failed call fails the run).
    #[arg(long, value_name = "R", default_value_t = 0.0)]
    max_error_rate: f64,
}

/// The RPC a run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Rpc {
    /// Signer.SignClientAssertion
    SignClientAssertion,
    /// Signer.SignJwt
    SignJwt,
    /// Tokens.GetAccessToken
    GetAccessToken,
    /// Signer.GetJwks
    GetJwks,
}

impl Rpc {
    /// The name as given on the command line and printed in the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::SignClientAssertion => "sign-client-assertion",
            Self::SignJwt => "sign-jwt",
            Self::GetAccessToken => "get-access-token",
            Self::GetJwks => "get-jwks",
        }
    }
}

/// When a run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this long (calls in flight then finish).
    After(Duration),
    /// After this many calls in total.
    Requests(u64),
}

/// What every call is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Tenant name.
    pub tenant: String,
    /// Auth0 client_id.
    pub client: String,
    /// Audience (empty: none given).
    pub audience: String,
    /// Scope (empty: none given).
    pub scope: String,
    /// Assertion or JWT lifetime.
    pub lifetime: Option<Duration>,
}

/// Rotations during the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Interval between rotation starts.
    pub every: Duration,
    /// Grace period to ask for.
    pub grace: Option<Duration>,
}

/// Verification of sampled assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verify {
    /// Auth0 base URL; `None` until resolved from the dev directory.
    pub url: Option<String>,
    /// API audience for the exchange.
    pub audience: String,
    /// Every Nth assertion is verified.
    pub sample: u64,
}

/// A validated run.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// gRPC endpoint.
    pub endpoint: String,
    /// Bearer token file, if given.
    pub token_file: Option<PathBuf>,
    /// The RPC.
    pub rpc: Rpc,
    /// What calls are about.
    pub target: Target,
    /// Concurrent callers.
    pub concurrency: usize,
    /// HTTP/2 connections.
    pub connections: usize,
    /// Threads of the async runtime (1: single-threaded).
    pub threads: usize,
    /// When to stop.
    pub stop: Stop,
    /// Per-call deadline.
    pub timeout: Duration,
    /// Rotations during the load.
    pub rotation: Option<Rotation>,
    /// Verification of sampled assertions.
    pub verify: Option<Verify>,
    /// JSON output.
    pub json: bool,
    /// The largest share of failed calls (0 to 1) the run passes with.
    pub max_error_rate: f64,
}

/// The outcome of parsing: a run, or text clap wants printed (help, version).
#[derive(Debug)]
pub enum Parsed {
    /// Run with these settings.
    Run(Box<Settings>),
    /// Print this on stdout and exit 0.
    Info(String),
}

const DEFAULT_DURATION: Duration = Duration::from_secs(10);
const DEFAULT_MAX_CONNECTIONS: usize = 4;

/// Parses and validates `argv` (program name first).
pub fn parse<I, T>(argv: I) -> Result<Parsed, Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    match Cli::try_parse_from(argv) {
        Ok(cli) => cli.validate().map(|s| Parsed::Run(Box::new(s))),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            Ok(Parsed::Info(e.to_string()))
        }
        Err(e) => Err(Error::Args(one_line(&e.to_string()))),
    }
}

/// clap's multi-line message as one line: without the usage, the "try --help" hint and the
/// leading "error: ".
fn one_line(rendered: &str) -> String {
    let parts: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .collect();
    let joined = parts.join("; ");
    joined.strip_prefix("error: ").map(str::to_owned).unwrap_or(joined)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 10s, 2m, 500ms)"))
}

fn positive(flag: &'static str, d: Duration) -> Result<Duration, Error> {
    if d.is_zero() { Err(Error::usage(flag, "must be longer than zero")) } else { Ok(d) }
}

impl Cli {
    /// Checks what clap cannot: ranges and which flags apply to which RPC.
    pub fn validate(self) -> Result<Settings, Error> {
        if !(self.endpoint.starts_with("http://") || self.endpoint.starts_with("https://")) {
            return Err(Error::usage("--endpoint", format!("{:?} is not an http:// URL", self.endpoint)));
        }
        if self.endpoint.starts_with("https://") {
            return Err(Error::usage(
                "--endpoint",
                "TLS endpoints are not supported; use a plaintext http:// endpoint",
            ));
        }
        for (flag, value) in [("--tenant", &self.tenant), ("--client", &self.client)] {
            if value.trim().is_empty() {
                return Err(Error::usage(flag, "must not be empty"));
            }
        }
        if self.concurrency == 0 {
            return Err(Error::usage("--concurrency", "must be at least 1"));
        }
        let connections = match self.connections {
            None => self.concurrency.min(DEFAULT_MAX_CONNECTIONS),
            Some(0) => return Err(Error::usage("--connections", "must be at least 1")),
            Some(n) if n > self.concurrency => {
                return Err(Error::usage("--connections", format!("{n} exceeds --concurrency {}", self.concurrency)));
            }
            Some(n) => n,
        };
        if self.threads == 0 || self.threads > 256 {
            return Err(Error::usage("--threads", "must be between 1 and 256"));
        }
        let stop = match (self.duration, self.requests) {
            (Some(_), Some(_)) => return Err(Error::usage("--duration", "cannot be combined with --requests")),
            (Some(d), None) => Stop::After(positive("--duration", d)?),
            (None, Some(0)) => return Err(Error::usage("--requests", "must be at least 1")),
            (None, Some(n)) => Stop::Requests(n),
            (None, None) => Stop::After(DEFAULT_DURATION),
        };
        let timeout = positive("--timeout", self.timeout)?;
        self.check_rpc_flags()?;
        let rotation = match self.rotate_every {
            None => None,
            Some(every) => Some(Rotation { every: positive("--rotate-every", every)?, grace: self.rotate_grace }),
        };
        let verify = if self.verify { Some(self.verify_settings()?) } else { None };
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            return Err(Error::usage("--max-error-rate", "must be a fraction from 0 to 1 (e.g. 0.01 for 1%)"));
        }
        Ok(Settings {
            endpoint: self.endpoint,
            token_file: self.token_file,
            rpc: self.rpc,
            target: Target {
                tenant: self.tenant,
                client: self.client,
                audience: self.audience.unwrap_or_default(),
                scope: self.scope.unwrap_or_default(),
                lifetime: self.lifetime,
            },
            concurrency: self.concurrency,
            connections,
            threads: self.threads,
            stop,
            timeout,
            rotation,
            verify,
            json: self.json,
            max_error_rate: self.max_error_rate,
        })
    }

    /// Refuses flags the chosen RPC would silently ignore.
    fn check_rpc_flags(&self) -> Result<(), Error> {
        let rpc = self.rpc;
        let refuse = |flag: &'static str| Err(Error::usage(flag, format!("does not apply to --rpc {}", rpc.name())));
        if self.audience.is_some() && rpc == Rpc::GetJwks {
            return refuse("--audience");
        }
        if self.audience.as_deref().is_none_or(|a| a.trim().is_empty()) && rpc == Rpc::GetAccessToken {
            return Err(Error::usage("--audience", "is required with --rpc get-access-token (the API identifier)"));
        }
        if self.scope.is_some() && rpc != Rpc::GetAccessToken {
            return refuse("--scope");
        }
        if let Some(lifetime) = self.lifetime {
            if !matches!(rpc, Rpc::SignClientAssertion | Rpc::SignJwt) {
                return refuse("--lifetime");
            }
            positive("--lifetime", lifetime)?;
        }
        if self.verify && rpc != Rpc::SignClientAssertion {
            return refuse("--verify");
        }
        Ok(())
    }

    fn verify_settings(&self) -> Result<Verify, Error> {
        if self.verify_sample == 0 {
            return Err(Error::usage("--verify-sample", "must be at least 1"));
        }
        let url = match &self.verify_url {
            Some(u) => Some(check_base_url(u)?),
            None => None,
        };
        Ok(Verify { url, audience: self.verify_audience.clone(), sample: self.verify_sample })
    }
}

/// An http(s) base URL without a trailing slash.
pub fn check_base_url(raw: &str) -> Result<String, Error> {
    let trimmed = raw.trim().trim_end_matches('/');
    match reqwest::Url::parse(trimmed) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(trimmed.to_owned()),
        Ok(_) => Err(Error::usage("--verify-url", format!("{raw:?} is not an http(s) URL"))),
        Err(e) => Err(Error::usage("--verify-url", format!("{raw:?}: {e}"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const BASE: [&str; 7] =
        ["keyward-load", "--rpc", "sign-client-assertion", "--tenant", "dev", "--client", "demo-app"];

    fn parse_with(extra: &[&str]) -> Result<Parsed, Error> {
        parse(BASE.iter().chain(extra.iter()).copied())
    }

    fn settings(extra: &[&str]) -> Settings {
        match parse_with(extra) {
            Ok(Parsed::Run(s)) => *s,
            other => panic!("expected settings, got {other:?}"),
        }
    }

    fn refusal(extra: &[&str]) -> String {
        match parse_with(extra) {
            Err(e) => {
                assert_eq!(e.exit_code(), 64, "{e}");
                e.to_string()
            }
            Ok(p) => panic!("expected a refusal for {extra:?}, got {p:?}"),
        }
    }

    #[test]
    fn defaults() {
        let s = settings(&[]);
        assert_eq!(s.concurrency, 64);
        assert_eq!(s.connections, 4);
        assert_eq!(s.threads, 1);
        assert_eq!(s.stop, Stop::After(Duration::from_secs(10)));
        assert_eq!(s.endpoint, keyward_proto::DEFAULT_ENDPOINT);
        assert!(s.rotation.is_none() && s.verify.is_none() && !s.json);
        assert!(s.max_error_rate.abs() < f64::EPSILON, "any failed call fails the run by default");
    }

    #[test]
    fn connections_default_to_at_most_the_callers() {
        assert_eq!(settings(&["--concurrency", "2"]).connections, 2);
        assert_eq!(settings(&["--concurrency", "8", "--connections", "8"]).connections, 8);
    }

    #[test]
    fn duration_and_requests_conflict() {
        let msg = refusal(&["--duration", "5s", "--requests", "10"]);
        assert!(msg.contains("--duration") && msg.contains("--requests"), "{msg}");
        assert!(!msg.contains('\n') && !msg.contains("Usage"), "one line: {msg:?}");
    }

    #[test]
    fn zero_concurrency_requests_and_durations_are_refused() {
        assert!(refusal(&["--concurrency", "0"]).starts_with("--concurrency"));
        assert!(refusal(&["--threads", "0"]).starts_with("--threads"));
        assert!(refusal(&["--threads", "257"]).starts_with("--threads"));
        assert_eq!(settings(&["--threads", "2"]).threads, 2);
        assert!(refusal(&["--requests", "0"]).starts_with("--requests"));
        assert!(refusal(&["--duration", "0s"]).starts_with("--duration"));
        assert!(refusal(&["--connections", "0"]).starts_with("--connections"));
        assert!(refusal(&["--concurrency", "2", "--connections", "3"]).starts_with("--connections"));
        assert!(refusal(&["--rotate-every", "0s"]).starts_with("--rotate-every"));
        assert!(refusal(&["--verify", "--verify-url", "http://x", "--verify-sample", "0"]).starts_with("--verify"));
    }

    #[test]
    fn unknown_rpc_is_refused_on_one_line() {
        let msg = match parse(["keyward-load", "--rpc", "sign-everything", "--tenant", "t", "--client", "c"]) {
            Err(e @ Error::Args(_)) => e.to_string(),
            other => panic!("{other:?}"),
        };
        assert!(msg.contains("sign-everything") && msg.contains("sign-client-assertion"), "{msg}");
        assert!(!msg.contains('\n') && !msg.starts_with("error:"), "{msg:?}");
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(matches!(parse_with(&["--concurrency", "-3"]), Err(Error::Args(_))));
        assert!(matches!(parse_with(&["--duration", "soon"]), Err(Error::Args(_))));
        assert!(matches!(parse(["keyward-load", "--tenant", "t"]), Err(Error::Args(_))));
        assert!(refusal(&["--endpoint", "127.0.0.1:50051"]).starts_with("--endpoint"));
        assert!(refusal(&["--endpoint", "https://keyward:443"]).starts_with("--endpoint"));
        let blank = parse(["keyward-load", "--rpc", "get-jwks", "--tenant", " ", "--client", "c"]);
        assert!(matches!(blank, Err(Error::Usage { flag: "--tenant", .. })), "{blank:?}");
        assert!(refusal(&["--verify", "--verify-url", "not a url"]).starts_with("--verify-url"));
        assert!(refusal(&["--verify", "--verify-url", "ftp://host"]).starts_with("--verify-url"));
        for rate in ["1.5", "NaN", "inf"] {
            assert!(refusal(&["--max-error-rate", rate]).starts_with("--max-error-rate"), "{rate}");
        }
        assert!(matches!(parse_with(&["--max-error-rate", "some"]), Err(Error::Args(_))));
        assert!((settings(&["--max-error-rate", "0.25"]).max_error_rate - 0.25).abs() < f64::EPSILON);
    }

    #[test]
    fn flags_must_fit_the_rpc() {
        let jwks = |extra: &[&str]| {
            let mut argv = vec!["keyward-load", "--rpc", "get-jwks", "--tenant", "dev", "--client", "c"];
            argv.extend_from_slice(extra);
            parse(argv)
        };
        assert!(matches!(jwks(&["--verify"]), Err(Error::Usage { flag: "--verify", .. })));
        assert!(matches!(jwks(&["--audience", "x"]), Err(Error::Usage { flag: "--audience", .. })));
        assert!(matches!(jwks(&["--scope", "x"]), Err(Error::Usage { flag: "--scope", .. })));
        assert!(matches!(jwks(&["--lifetime", "30s"]), Err(Error::Usage { flag: "--lifetime", .. })));
        let token = |extra: &[&str]| {
            let mut argv = vec!["keyward-load", "--rpc", "get-access-token", "--tenant", "dev", "--client", "c"];
            argv.extend_from_slice(extra);
            parse(argv)
        };
        assert!(matches!(token(&[]), Err(Error::Usage { flag: "--audience", .. })));
        match token(&["--audience", "https://api.demo.local/", "--scope", "read:demo"]) {
            Ok(Parsed::Run(s)) => assert_eq!(s.target.scope, "read:demo"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn verify_and_rotation_settings() {
        let s = settings(&[
            "--verify",
            "--verify-url",
            "http://127.0.0.1:9/",
            "--rotate-every",
            "2s",
            "--rotate-grace",
            "0s",
            "--requests",
            "300",
        ]);
        let v = s.verify.unwrap();
        assert_eq!(v.url.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(v.audience, "https://api.demo.local/");
        assert_eq!(v.sample, 50);
        assert_eq!(s.rotation, Some(Rotation { every: Duration::from_secs(2), grace: Some(Duration::ZERO) }));
        assert_eq!(s.stop, Stop::Requests(300));
        assert!(settings(&["--verify"]).verify.unwrap().url.is_none());
        assert!(matches!(parse_with(&["--verify-url", "http://x"]), Err(Error::Args(_))));
        assert!(matches!(parse_with(&["--rotate-grace", "1s"]), Err(Error::Args(_))));
    }

    #[test]
    fn help_and_version_are_not_errors() {
        assert!(matches!(parse(["keyward-load", "--help"]), Ok(Parsed::Info(t)) if t.contains("--rotate-every")));
        assert!(matches!(parse(["keyward-load", "--version"]), Ok(Parsed::Info(_))));
    }
}
