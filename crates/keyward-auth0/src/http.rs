//! The transport: one HTTP exchange with retries, rate-limit bookkeeping, and the split between
//! idempotent calls (retried) and non-idempotent ones (an ambiguous failure is `UnknownOutcome`).

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, RequestBuilder, StatusCode};

use crate::config::Config;
use crate::error::{Answer, Error, Resource, classify};
use crate::ratelimit::{RateLimit, retry_after};
use crate::retry::jitter;

/// Answers larger than this are refused as a protocol error (Auth0's are a few KiB).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Characters left as they are in a path segment: RFC 3986 unreserved.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes one path segment. Empty, `.` and `..` are refused: a URL parser would drop or
/// resolve them and the request would reach another resource.
pub(crate) fn segment(value: &str) -> Result<String, Error> {
    if value.is_empty() || value == "." || value == ".." {
        return Err(Error::InvalidArgument(format!("not a usable path segment: {value:?}")));
    }
    Ok(utf8_percent_encode(value, SEGMENT).to_string())
}

/// Whether a call may be repeated without changing its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// GET, DELETE, and the token request (each attempt carries a fresh assertion).
    Idempotent,
    /// POST creating or rotating something, PATCH.
    NonIdempotent,
}

/// What one call is.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub operation: &'static str,
    pub resource: Resource,
    pub method: Method,
    pub idempotency: Idempotency,
}

/// A successful (2xx) answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The HTTP client plus what it has learnt about the rate limit.
#[derive(Debug)]
pub(crate) struct Http {
    pub client: reqwest::Client,
    pub config: Config,
    /// Latest `x-ratelimit-*` of the Management API and of the Authentication API (separate
    /// buckets at Auth0).
    last_rate_limit: Mutex<LastRateLimits>,
}

#[derive(Debug, Default, Clone, Copy)]
struct LastRateLimits {
    management: Option<RateLimit>,
    authentication: Option<RateLimit>,
}

/// How one attempt ended, before the retry decision.
enum Attempt {
    Done(Reply),
    Failed(Answer, RateLimit, Option<Duration>),
    /// The request may not have been sent: safe to retry for any call.
    NotSent(reqwest::Error),
    /// The request was (or may have been) sent and no answer came back.
    NoAnswer(String, Option<reqwest::Error>),
    /// Not worth retrying.
    Fatal(Error),
}

impl Http {
    pub fn new(config: Config) -> Result<Self, Error> {
        config.validate()?;
        let mut builder = reqwest::Client::builder()
            .tls_backend_rustls()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("keyward-auth0/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.extra_root_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| Error::Config(format!("extra_root_ca_pem: {e}")))?;
            if certs.is_empty() {
                return Err(Error::Config("extra_root_ca_pem holds no certificate".to_owned()));
            }
            builder =
                if config.extra_roots_only { builder.tls_certs_only(certs) } else { builder.tls_certs_merge(certs) };
        }
        let client = builder.build().map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(Self { client, config, last_rate_limit: Mutex::default() })
    }

    /// The rate-limit headers of the most recent Management API answer that carried them.
    pub fn last_rate_limit(&self) -> Option<RateLimit> {
        self.last_rate_limit.lock().map(|g| g.management).unwrap_or(None)
    }

    /// The same for the Authentication API (`/oauth/token`).
    pub fn last_token_rate_limit(&self) -> Option<RateLimit> {
        self.last_rate_limit.lock().map(|g| g.authentication).unwrap_or(None)
    }

    fn record(&self, resource: Resource, rate_limit: RateLimit) {
        if rate_limit.is_present()
            && let Ok(mut g) = self.last_rate_limit.lock()
        {
            match resource {
                Resource::Token => g.authentication = Some(rate_limit),
                Resource::Client | Resource::Credential | Resource::Connection | Resource::SigningKey => {
                    g.management = Some(rate_limit)
                }
            }
        }
    }

    /// Sends the request `build` makes (called again for each attempt) and retries per policy.
    pub async fn send<F>(&self, call: Call, build: F) -> Result<Reply, Error>
    where
        F: FnMut() -> Result<RequestBuilder, Error>,
    {
        use tracing::Instrument;
        let span = tracing::info_span!(
            "auth0",
            otel.name = call.operation,
            otel.kind = "client",
            auth0.operation = call.operation,
            http.request.method = %call.method,
            http.response.status_code = tracing::field::Empty,
        );
        self.send_in_span(call, build).instrument(span).await
    }

    async fn send_in_span<F>(&self, call: Call, mut build: F) -> Result<Reply, Error>
    where
        F: FnMut() -> Result<RequestBuilder, Error>,
    {
        let policy = self.config.retry;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let last = attempt >= policy.max_attempts;
            let outcome = self.attempt(call.operation, call.resource, build()?).await;
            let (error, delay) = match outcome {
                Attempt::Done(reply) => return Ok(reply),
                Attempt::Fatal(error) => return Err(error),
                Attempt::Failed(answer, rate_limit, retry_after_delay) => {
                    let status = answer.status;
                    let error = classify(call.resource, answer, rate_limit, retry_after_delay);
                    match status {
                        429 => {
                            let delay = policy.rate_limit_delay(
                                retry_after_delay,
                                &rate_limit,
                                attempt,
                                SystemTime::now(),
                                jitter(),
                            );
                            (error, delay)
                        }
                        408 | 500..=599 if call.idempotency == Idempotency::NonIdempotent => {
                            return Err(Error::UnknownOutcome {
                                operation: call.operation,
                                reason: format!("Auth0 answered {status}: {error}"),
                            });
                        }
                        408 | 500..=599 => (error, Some(policy.backoff_delay(attempt, jitter()))),
                        _ => return Err(error),
                    }
                }
                Attempt::NotSent(e) => {
                    let error = Error::Transport { detail: format!("{} failed: {e}", call.operation), source: Some(e) };
                    (error, Some(policy.backoff_delay(attempt, jitter())))
                }
                Attempt::NoAnswer(reason, source) => match call.idempotency {
                    Idempotency::NonIdempotent => {
                        return Err(Error::UnknownOutcome { operation: call.operation, reason });
                    }
                    Idempotency::Idempotent => {
                        let error = Error::Transport { detail: format!("{}: {reason}", call.operation), source };
                        (error, Some(policy.backoff_delay(attempt, jitter())))
                    }
                },
            };
            match delay {
                Some(delay) if !last => {
                    tracing::debug!(operation = call.operation, attempt, ?delay, error = %error, "retrying Auth0 call");
                    tokio::time::sleep(delay).await;
                }
                _ => return Err(error),
            }
        }
    }

    fn observe(&self, operation: &'static str, status: Option<u16>, rate_limit: &RateLimit) {
        if let Some(s) = status {
            tracing::Span::current().record("http.response.status_code", s);
        }
        if let Some(o) = &self.config.observer {
            o.answered(operation, status, rate_limit);
        }
    }

    async fn attempt(&self, operation: &'static str, resource: Resource, request: RequestBuilder) -> Attempt {
        let sent = request.send().await;
        if sent.is_err() {
            self.observe(operation, None, &RateLimit::default());
        }
        let mut response = match sent {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Attempt::NotSent(e),
            Err(e) if e.is_builder() => {
                let detail = format!("request could not be built: {e}");
                return Attempt::Fatal(Error::Transport { detail, source: Some(e) });
            }
            Err(e) => {
                let reason = if e.is_timeout() { "timed out waiting for an answer" } else { "connection lost" };
                return Attempt::NoAnswer(format!("{reason}: {e}"), Some(e));
            }
        };
        let status = response.status();
        let rate_limit = RateLimit::from_headers(response.headers());
        let retry = retry_after(response.headers(), SystemTime::now());
        self.record(resource, rate_limit);
        self.observe(operation, Some(status.as_u16()), &rate_limit);
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY {
                        let detail = format!("answer body larger than {MAX_BODY} bytes");
                        return Attempt::Fatal(Error::Protocol { status: status.as_u16(), detail });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Attempt::NoAnswer(format!("answer {status} cut short: {e}"), Some(e));
                }
            }
        }
        tracing::debug!(%status, limit = ?rate_limit.limit, remaining = ?rate_limit.remaining, "Auth0 answered");
        if status.is_success() {
            Attempt::Done(Reply { status: status.as_u16(), body })
        } else {
            Attempt::Failed(Answer::parse(status.as_u16(), &body), rate_limit, retry)
        }
    }
}

/// Parses a successful JSON answer; the error names the position, never the content (a client's
/// JSON can hold its secret).
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(reply: &Reply) -> Result<T, Error> {
    serde_json::from_slice(&reply.body).map_err(|e| Error::Protocol {
        status: reply.status,
        detail: format!("unexpected JSON ({:?} error at line {} column {})", e.classify(), e.line(), e.column()),
    })
}

/// Checks that a reply has the status Auth0 documents for the call.
pub(crate) fn expect_status(reply: &Reply, expected: &[StatusCode]) -> Result<(), Error> {
    if expected.iter().any(|s| s.as_u16() == reply.status) {
        Ok(())
    } else {
        Err(Error::Protocol { status: reply.status, detail: format!("expected status {expected:?}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("cred_1m7sfABoNTTKYwTQ8qt6tX").unwrap(), "cred_1m7sfABoNTTKYwTQ8qt6tX");
        assert_eq!(segment("a/b").unwrap(), "a%2Fb");
        assert_eq!(segment("a b?c#d%e").unwrap(), "a%20b%3Fc%23d%25e");
        assert_eq!(segment("auth0|x").unwrap(), "auth0%7Cx");
        assert_eq!(segment("é").unwrap(), "%C3%A9");
        assert_eq!(segment("..a").unwrap(), "..a");
        for bad in ["", ".", ".."] {
            assert!(matches!(segment(bad), Err(Error::InvalidArgument(_))), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_segment_encodes_to_one_segment(s in "\\PC{1,40}") {
            if let Ok(enc) = segment(&s) {
                proptest::prop_assert!(enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
                let decoded = percent_encoding::percent_decode_str(&enc).decode_utf8().map(|d| d.into_owned());
                proptest::prop_assert_eq!(decoded.ok(), Some(s.clone()));
                let url = Config::new("t.auth0.com").management_url(&format!("/clients/{enc}/credentials")).unwrap();
                proptest::prop_assert_eq!(url.path_segments().map(|p| p.count()), Some(5));
            } else {
                proptest::prop_assert!(s == "." || s == "..");
            }
        }
    }

    #[test]
    fn encoded_segments_stay_in_place() {
        let c = Config::new("t.auth0.com");
        let url = c.management_url(&format!("/clients/{}/credentials", segment("../../x").unwrap())).unwrap();
        assert_eq!(url.path(), "/api/v2/clients/..%2F..%2Fx/credentials");
    }

    #[test]
    fn parse_errors_do_not_leak_content() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            n: u64,
        }
        let reply = Reply { status: 200, body: br#"{"n":"s3cr3t-value"}"#.to_vec() };
        let e = parse_json::<T>(&reply).unwrap_err();
        assert!(!format!("{e} {e:?}").contains("s3cr3t"), "{e}");
    }
}
