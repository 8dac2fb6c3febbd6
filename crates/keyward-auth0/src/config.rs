//! Where the tenant is and how to reach it: domain, custom domain, base URL override, trust, timeouts.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::error::Error;
use crate::ratelimit::RateLimit;
use crate::retry::RetryPolicy;

/// How to reach one Auth0 tenant.
///
/// Identity strings (the token issuer `https://{domain}/` used as assertion `aud`, and the
/// Management API audience `https://{domain}/api/v2/`) always come from the domains; requests go
/// to `base_url` when it is set (an emulator on `127.0.0.1:PORT`, or a proxy).
#[derive(Debug, Clone)]
pub struct Config {
    /// The tenant's canonical domain, e.g. `example.eu.auth0.com` (no scheme, no path).
    pub domain: String,
    /// The tenant's custom domain, if any. When set, the Authentication API (`/oauth/token`) is
    /// called on it and assertions use `https://{custom_domain}/` as `aud`, as Auth0 recommends;
    /// the Management API stays on the canonical domain and audience.
    pub custom_domain: Option<String>,
    /// Send every request here instead of `https://{domain}` (scheme, host, port; a path prefix
    /// is kept).
    pub base_url: Option<Url>,
    /// Extra trusted root CA certificates, PEM (one or more), added to the system roots.
    pub extra_root_ca_pem: Option<String>,
    /// Trust only `extra_root_ca_pem`, not the system roots (an emulator with a self-signed
    /// certificate on a machine without a system store).
    pub extra_roots_only: bool,
    /// Timeout of each HTTP attempt, from sending the request to the end of the body.
    pub timeout: Duration,
    /// Timeout for establishing a connection.
    pub connect_timeout: Duration,
    /// Retries.
    pub retry: RetryPolicy,
    /// Cached access tokens are reused until `expires_in − token_leeway` after they were issued.
    pub token_leeway: Duration,
    /// Told about every answer (or its absence), e.g. for metrics.
    pub observer: Option<Arc<dyn Observer>>,
}

/// Sees each HTTP exchange with Auth0: the operation, the status (`None` when no answer came)
/// and the rate-limit headers; never a body, a token or a secret.
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// One attempt ended.
    fn answered(&self, operation: &'static str, status: Option<u16>, rate_limit: &RateLimit);
}

impl Config {
    /// A configuration for `domain` with the defaults: 30 s per attempt, 10 s to connect,
    /// [`RetryPolicy::default`], 10 s token leeway.
    pub fn new(domain: impl Into<String>) -> Self {
        Self {
            domain: domain.into(),
            custom_domain: None,
            base_url: None,
            extra_root_ca_pem: None,
            extra_roots_only: false,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            token_leeway: Duration::from_secs(10),
            observer: None,
        }
    }

    /// Sets the base URL override.
    pub fn with_base_url(mut self, base_url: Url) -> Self {
        self.base_url = Some(base_url);
        self
    }

    /// Sets the tenant's custom domain (used for `/oauth/token` and the assertion `aud`).
    pub fn with_custom_domain(mut self, custom_domain: impl Into<String>) -> Self {
        self.custom_domain = Some(custom_domain.into());
        self
    }

    /// Sets an extra trusted root CA (PEM).
    pub fn with_extra_root_ca_pem(mut self, pem: impl Into<String>) -> Self {
        self.extra_root_ca_pem = Some(pem.into());
        self
    }

    /// Sets the observer of every exchange.
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the per-attempt timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `https://{domain}/`: the tenant issuer.
    pub fn issuer(&self) -> String {
        format!("https://{}/", self.domain)
    }

    /// The `aud` of client assertions: `https://{custom_domain or domain}/`.
    pub fn assertion_audience(&self) -> String {
        format!("https://{}/", self.custom_domain.as_deref().unwrap_or(&self.domain))
    }

    /// `https://{domain}/api/v2/`, with the trailing slash.
    pub fn management_audience(&self) -> String {
        format!("https://{}/api/v2/", self.domain)
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        for (what, d) in [("domain", Some(&self.domain)), ("custom_domain", self.custom_domain.as_ref())] {
            let Some(d) = d else { continue };
            let ok = !d.is_empty()
                && d.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'))
                && Url::parse(&format!("https://{d}/")).is_ok_and(|u| u.host_str().is_some());
            if !ok {
                return Err(Error::Config(format!("{what} must be a host name, optionally with a port: {d:?}")));
            }
        }
        if let Some(base) = &self.base_url
            && (!matches!(base.scheme(), "http" | "https") || base.host_str().is_none())
        {
            return Err(Error::Config(format!("base_url must be an http(s) URL with a host: {base}")));
        }
        if self.retry.max_attempts == 0 {
            return Err(Error::Config("retry.max_attempts must be at least 1".to_owned()));
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::Config("timeouts must be positive".to_owned()));
        }
        Ok(())
    }

    /// The URL the Management API's `path` (starting with `/`, already percent-encoded) is sent to.
    pub(crate) fn management_url(&self, path: &str) -> Result<Url, Error> {
        self.url(&self.domain, &format!("/api/v2{path}"))
    }

    /// The URL of `/oauth/token`.
    pub(crate) fn token_url(&self) -> Result<Url, Error> {
        self.url(self.custom_domain.as_deref().unwrap_or(&self.domain), "/oauth/token")
    }

    fn url(&self, domain: &str, path: &str) -> Result<Url, Error> {
        let text = match &self.base_url {
            Some(base) => format!("{}{path}", base.as_str().trim_end_matches('/')),
            None => format!("https://{domain}{path}"),
        };
        Url::parse(&text).map_err(|e| Error::Config(format!("bad URL {text:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_use_the_domain_and_requests_the_base_url() {
        let c = Config::new("dev-tenant.keyward.local")
            .with_base_url(Url::parse("http://127.0.0.1:4711").unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(c.issuer(), "https://dev-tenant.keyward.local/");
        assert_eq!(c.management_audience(), "https://dev-tenant.keyward.local/api/v2/");
        assert_eq!(c.management_url("/clients/a").unwrap().as_str(), "http://127.0.0.1:4711/api/v2/clients/a");
        assert_eq!(c.token_url().unwrap().as_str(), "http://127.0.0.1:4711/oauth/token");
        c.validate().unwrap();
    }

    #[test]
    fn custom_domain_for_the_authentication_api() {
        let c = Config::new("t.eu.auth0.com").with_custom_domain("login.example.com");
        assert_eq!(c.assertion_audience(), "https://login.example.com/");
        assert_eq!(c.management_audience(), "https://t.eu.auth0.com/api/v2/");
        assert_eq!(c.token_url().unwrap().as_str(), "https://login.example.com/oauth/token");
        assert_eq!(c.management_url("/clients").unwrap().as_str(), "https://t.eu.auth0.com/api/v2/clients");
    }

    #[test]
    fn base_url_path_prefix_is_kept() {
        let c = Config::new("t").with_base_url(Url::parse("https://proxy.local/auth0/").unwrap());
        assert_eq!(c.token_url().unwrap().as_str(), "https://proxy.local/auth0/oauth/token");
    }

    #[test]
    fn bad_config_is_rejected() {
        for d in ["", "https://t.auth0.com", "t.auth0.com/path", "a b", "t?x"] {
            assert!(Config::new(d).validate().is_err(), "{d}");
        }
        assert!(Config::new("127.0.0.1:8443").validate().is_ok());
        let mut c = Config::new("t.auth0.com");
        c.retry.max_attempts = 0;
        assert!(c.validate().is_err());
        let c = Config::new("t.auth0.com").with_base_url(Url::parse("ftp://x/").unwrap());
        assert!(c.validate().is_err());
    }
}
