//! The tenant's verifiers: copies of its JWKS (an API gateway's, a service's) that must show a
//! new current signing key before the previous one is revoked. Each is fetched with a timeout
//! and a bounded body, without following redirects, and polled with bounded exponential backoff.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest JWKS read (bytes).
pub(crate) const MAX_JWKS_BYTES: usize = 1 << 20;
/// The first retry waits this long, each later one twice the one before...
const BACKOFF_BASE_MS: i64 = 1_000;
/// ...up to this.
const BACKOFF_CAP_MS: i64 = 5 * 60 * 1_000;

/// Where one verifier stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifierStatus {
    /// Its JWKS URL, as configured.
    pub jwks_url: String,
    /// Its JWKS lists the current kid.
    pub shows_current: bool,
    /// Why not, when it does not.
    pub problem: Option<String>,
    /// When it was last fetched.
    pub checked_at: Option<Timestamp>,
    /// Fetches so far.
    pub attempts: u32,
    /// When it is fetched next (while it lags).
    pub next_check_at: Option<Timestamp>,
}

impl VerifierStatus {
    /// Not yet fetched.
    pub fn new(jwks_url: &str) -> Self {
        Self {
            jwks_url: jwks_url.to_owned(),
            shows_current: false,
            problem: Some("not checked yet".into()),
            checked_at: None,
            attempts: 0,
            next_check_at: None,
        }
    }
}

/// How long to wait after the `attempts`-th failed fetch: 1 s, 2 s, 4 s, … up to 5 min.
pub(crate) fn backoff_ms(attempts: u32) -> i64 {
    let doublings = attempts.saturating_sub(1).min(20);
    (BACKOFF_BASE_MS << doublings).min(BACKOFF_CAP_MS)
}

#[derive(Deserialize)]
struct JwksKids {
    keys: Vec<KidOnly>,
}

#[derive(Deserialize)]
struct KidOnly {
    #[serde(default)]
    kid: Option<String>,
}

/// The HTTP client verifiers are fetched with (timeouts, no redirects); the error in words.
pub(crate) fn http() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))
}

/// Whether the JWKS at `url` lists `kid`: `Ok(())`, or why not in words.
pub(crate) async fn shows(http: &reqwest::Client, url: &str, kid: &str) -> Result<(), String> {
    let mut resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| if e.is_timeout() { "timed out".to_owned() } else { "unreachable".to_owned() })?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status().as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|_| "the response broke off".to_owned())? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(format!("the JWKS is larger than {MAX_JWKS_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    let jwks: JwksKids = serde_json::from_slice(&body).map_err(|_| "not a JWKS (JSON with keys)".to_owned())?;
    if jwks.keys.iter().any(|k| k.kid.as_deref() == Some(kid)) {
        Ok(())
    } else {
        Err(format!("does not list the current kid {kid}"))
    }
}

/// Fetches every verifier that lags and is due by `now` (all of them when `force`), updating its
/// status; returns whether all of them show `kid` now.
pub(crate) async fn poll(statuses: &mut [VerifierStatus], kid: &str, now: Timestamp, force: bool) -> bool {
    let client = match http() {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "verifiers not polled");
            None
        }
    };
    for v in statuses.iter_mut().filter(|v| !v.shows_current) {
        if !force && v.next_check_at.is_some_and(|t| t > now) {
            continue;
        }
        let outcome = match &client {
            Some(c) => shows(c, &v.jwks_url, kid).await,
            None => Err("no HTTP client".to_owned()),
        };
        v.attempts = v.attempts.saturating_add(1);
        v.checked_at = Some(now);
        match outcome {
            Ok(()) => {
                v.shows_current = true;
                v.problem = None;
                v.next_check_at = None;
            }
            Err(problem) => {
                tracing::info!(jwks_url = %v.jwks_url, %problem, "verifier lags");
                v.problem = Some(problem);
                v.next_check_at = Some(now.plus_ms(backoff_ms(v.attempts)));
            }
        }
    }
    statuses.iter().all(|v| v.shows_current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_bounded() {
        assert_eq!(backoff_ms(0), 1_000);
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(4), 8_000);
        assert_eq!(backoff_ms(10), BACKOFF_CAP_MS);
        assert_eq!(backoff_ms(u32::MAX), BACKOFF_CAP_MS);
    }
}
