//! The checks clap cannot make: ranges, and which flags apply to which RPC, turning a [`Cli`] into
//! [`Settings`].

use std::time::Duration;

use super::{Cli, Rotation, Rpc, Settings, Stop, Target, Verify};
use crate::error::Error;

const DEFAULT_DURATION: Duration = Duration::from_secs(10);
const DEFAULT_MAX_CONNECTIONS: usize = 4;

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
        if let Some(rate) = self.rate
            && !(rate.is_finite() && rate > 0.0 && rate <= 10_000_000.0)
        {
            return Err(Error::usage("--rate", "must be a number of calls per second above 0 (at most 10000000)"));
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
            rate: self.rate,
            backoff: !self.no_backoff,
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
    use crate::args::{Parsed, parse};

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
        for rate in ["0", "NaN", "inf", "1e9"] {
            assert!(refusal(&["--rate", rate]).starts_with("--rate"), "{rate}");
        }
        assert!(refusal(&["--rate=-5"]).starts_with("--rate"));
        assert_eq!(settings(&["--rate", "2500.5"]).rate, Some(2500.5));
        assert_eq!(settings(&[]).rate, None);
        assert!(settings(&[]).backoff && !settings(&["--no-backoff"]).backoff);
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
}
