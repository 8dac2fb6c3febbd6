//! The command line, and its validation into [`Settings`]: every refusal is a usage error.
//!
//! This file holds clap's [`Cli`], the [`Rpc`] it names and [`parse`]; the validated run is in
//! `settings.rs`, the checks that build it from a [`Cli`] in `validate.rs`.

mod settings;
mod validate;

use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Parser, ValueEnum};

use crate::error::Error;

pub use settings::{Rotation, Settings, Stop, Target, Verify};
pub use validate::check_base_url;

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
    /// Pace the callers to this many calls per second in all, spaced evenly (default: each
    /// caller calls again as soon as its answer arrives). Latency at a given share of peak
    /// throughput is measured this way. Callers that fall behind catch up by at most one call
    /// each.
    #[arg(long, value_name = "CALLS_PER_S")]
    rate: Option<f64>,
    /// Call again at once after RESOURCE_EXHAUSTED, as a hostile caller would (by default a
    /// refused caller backs off, as the status asks: 10 ms doubling to 1 s, jittered, until a
    /// call succeeds).
    #[arg(long)]
    no_backoff: bool,
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

/// The outcome of parsing: a run, or text clap wants printed (help, version).
#[derive(Debug)]
pub enum Parsed {
    /// Run with these settings.
    Run(Box<Settings>),
    /// Print this on stdout and exit 0.
    Info(String),
}

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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

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
    fn help_and_version_are_not_errors() {
        assert!(matches!(parse(["keyward-load", "--help"]), Ok(Parsed::Info(t)) if t.contains("--rotate-every")));
        assert!(matches!(parse(["keyward-load", "--version"]), Ok(Parsed::Info(_))));
    }
}
