//! [`Auth0Client`]: one tenant, one Management/Authentication client identity, a token cache.

use std::fmt;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client_auth::ClientAuth;
use crate::config::Config;
use crate::error::{Error, Resource};
use crate::http::{Call, Http, Idempotency, Reply, expect_status, parse_json};
use crate::ratelimit::RateLimit;
use crate::token::{AccessToken, TokenCache, request_token};

/// A client of one Auth0 tenant's Management and Authentication APIs, authenticating as one
/// application. Cheap to clone; clones share the connection pool and the token cache.
#[derive(Clone)]
pub struct Auth0Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: Arc<Http>,
    auth: ClientAuth,
    tokens: TokenCache,
}

impl fmt::Debug for Auth0Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth0Client")
            .field("config", &self.inner.http.config)
            .field("auth", &self.inner.auth)
            .field("tokens", &self.inner.tokens)
            .finish()
    }
}

/// A Management API request.
pub(crate) struct Request<'a, B: Serialize + ?Sized> {
    pub operation: &'static str,
    pub resource: Resource,
    pub method: Method,
    /// Below `/api/v2`, with percent-encoded segments.
    pub path: String,
    pub body: Option<&'a B>,
    pub expected: &'a [StatusCode],
}

impl Auth0Client {
    /// A client for `config`'s tenant, authenticating with `auth`.
    pub fn new(config: Config, auth: ClientAuth) -> Result<Self, Error> {
        if auth.client_id().is_empty() {
            return Err(Error::Config("client_id must not be empty".to_owned()));
        }
        let http = Arc::new(Http::new(config)?);
        Ok(Self { inner: Arc::new(Inner { http, auth, tokens: TokenCache::default() }) })
    }

    /// A client for the same tenant that authenticates as another application (e.g. one whose
    /// key keyward holds, to exchange its assertions for access tokens). It shares this client's
    /// configuration and connection pool, and has its own token cache.
    pub fn with_client_auth(&self, auth: ClientAuth) -> Result<Self, Error> {
        self.with_client_auth_and_cache(auth, crate::token::DEFAULT_CACHE_ENTRIES)
    }

    /// [`Auth0Client::with_client_auth`] with a token cache of at most `entries` audience and
    /// scope pairs (least recently used ones go first).
    pub fn with_client_auth_and_cache(&self, auth: ClientAuth, entries: usize) -> Result<Self, Error> {
        if auth.client_id().is_empty() {
            return Err(Error::Config("client_id must not be empty".to_owned()));
        }
        let http = self.inner.http.clone();
        Ok(Self { inner: Arc::new(Inner { http, auth, tokens: TokenCache::with_capacity(entries) }) })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.http.config
    }

    /// The client id this client authenticates as.
    pub fn client_id(&self) -> &str {
        self.inner.auth.client_id()
    }

    /// The `x-ratelimit-*` headers of the most recent Management API answer that carried them
    /// (429s included): the tenant's global Management bucket.
    pub fn last_rate_limit(&self) -> Option<RateLimit> {
        self.inner.http.last_rate_limit()
    }

    /// The `x-ratelimit-*` headers of the most recent `/oauth/token` answer (its own bucket).
    pub fn last_token_rate_limit(&self) -> Option<RateLimit> {
        self.inner.http.last_token_rate_limit()
    }

    /// An access token for `audience` (optionally narrowed to `scope`, space-separated), from the
    /// cache while it has more than the leeway (10 s) left, else from `/oauth/token`. Concurrent
    /// callers for the same audience and scope share one request.
    pub async fn get_token(&self, audience: &str, scope: Option<&str>) -> Result<AccessToken, Error> {
        let inner = &self.inner;
        inner
            .tokens
            .get(audience, scope, inner.http.config.token_leeway, || {
                request_token(&inner.http, &inner.auth, audience, scope)
            })
            .await
    }

    /// A token request that bypasses the cache (each call is one client credentials exchange).
    pub async fn request_token(&self, audience: &str, scope: Option<&str>) -> Result<AccessToken, Error> {
        request_token(&self.inner.http, &self.inner.auth, audience, scope).await
    }

    /// The Management API token (audience `https://{domain}/api/v2/`), cached.
    pub async fn management_token(&self) -> Result<AccessToken, Error> {
        self.get_token(&self.inner.http.config.management_audience(), None).await
    }

    /// Sends a Management API request with the cached token. A 401 drops the token and tries once
    /// more with a fresh one (Auth0 rejected the request, so repeating it is safe).
    pub(crate) async fn management<B: Serialize + ?Sized>(&self, req: Request<'_, B>) -> Result<Reply, Error> {
        let http = &self.inner.http;
        let url = http.config.management_url(&req.path)?;
        let idempotency = if matches!(req.method, Method::GET | Method::DELETE | Method::HEAD) {
            Idempotency::Idempotent
        } else {
            Idempotency::NonIdempotent
        };
        let call = Call { operation: req.operation, resource: req.resource, method: req.method.clone(), idempotency };
        let audience = http.config.management_audience();
        let mut renewed = false;
        loop {
            let token = self.get_token(&audience, None).await?;
            let result = http
                .send(call.clone(), || {
                    let mut b = http
                        .client
                        .request(call.method.clone(), url.clone())
                        .bearer_auth(token.secret().expose_secret());
                    if let Some(body) = req.body {
                        b = b.json(body);
                    }
                    Ok(b)
                })
                .await;
            match result {
                Err(Error::Unauthorized { .. }) if !renewed => {
                    renewed = true;
                    self.inner.tokens.invalidate(&audience, None, &token).await;
                }
                Err(e) => return Err(e),
                Ok(reply) => {
                    expect_status(&reply, req.expected)?;
                    return Ok(reply);
                }
            }
        }
    }

    /// [`management`](Self::management) and parse the JSON answer.
    pub(crate) async fn management_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        req: Request<'_, B>,
    ) -> Result<T, Error> {
        let reply = self.management(req).await?;
        parse_json(&reply)
    }
}

/// No request body.
pub(crate) const NO_BODY: Option<&()> = None;
