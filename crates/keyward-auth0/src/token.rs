//! Access tokens: the client credentials request to `/oauth/token`, and the per-audience cache with
//! single flight (N concurrent callers cause one token request).
//!
//! This file holds the token, [`AccessToken`]; the request for one is in `exchange.rs`, the cache
//! in `cache.rs`.

mod cache;
mod exchange;

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use tokio::time::Instant;

pub(crate) use cache::{DEFAULT_CACHE_ENTRIES, TokenCache};
pub(crate) use exchange::request_token;

/// An access token from `/oauth/token`. `Debug` never shows the token.
#[derive(Clone)]
pub struct AccessToken {
    token: SecretString,
    token_type: String,
    expires_in: Duration,
    scope: Option<String>,
    received_at: Instant,
}

impl AccessToken {
    /// The bearer token.
    pub fn secret(&self) -> &SecretString {
        &self.token
    }

    /// `token_type`, normally `Bearer`.
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// `expires_in` as Auth0 gave it.
    pub fn expires_in(&self) -> Duration {
        self.expires_in
    }

    /// When the token expires (by the local clock at receipt).
    pub fn expires_at(&self) -> Instant {
        self.received_at + self.expires_in
    }

    /// The granted scopes, space-separated, when Auth0 said.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token as `/oauth/token` would give it; the cache's tests use it too.
    pub(super) fn token(secret: &str, secs: u64) -> AccessToken {
        AccessToken {
            token: SecretString::from(secret.to_owned()),
            token_type: "Bearer".into(),
            expires_in: Duration::from_secs(secs),
            scope: None,
            received_at: Instant::now(),
        }
    }

    #[test]
    fn debug_hides_the_token() {
        let t = token("eyJ.super-secret.sig", 86400);
        assert!(!format!("{t:?}").contains("super-secret"));
    }
}
