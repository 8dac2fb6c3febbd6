//! Signing for callers that never hold a private key: client assertions, JWTs, JWKS and Auth0
//! access tokens, all from the in-memory key cache, with the signatures computed on the bounded
//! CPU pool.
//!
//! Before handing out a signature that expires at `exp`, the signer makes sure the store knows
//! the key may be live until then (`last_signed_exp`), raising that horizon a minute at a time;
//! rotation never retires a key, early or on schedule, before its horizon has passed. So the
//! database sees at most one write per key per minute, and no assertion keyward signed is ever
//! orphaned by a rotation.

mod audience;
mod cache;
mod claims;
mod counters;
mod pool;
mod request_object;
mod tokens;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use keyward_crypto::{AssertionParams, client_assertion, sign_compact};

pub use cache::{ClientKeys, KeyCache, LoadedKey};
pub use counters::Counters;
pub use pool::SignPool;
pub use request_object::SignedRequestObject;

use crate::Error;
use crate::clock::{SharedClock, Timestamp};
use crate::config::SignerConfig;
use crate::context::Context;
use crate::store::{CredentialMethod, Store};
use crate::tenant::Tenants;

/// Assertion lifetimes: 60 s unless asked, never more than Auth0's 300 s.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
const MAX_LIFETIME: Duration = Duration::from_secs(300);
/// How far past a signature's `exp` the stored horizon is raised, so that the store is written
/// at most about once a minute per key.
const HORIZON_SLACK_MS: i64 = 60_000;
/// The largest claims document SignJwt accepts.
const MAX_CLAIMS: usize = 16 * 1024;

/// A signed client assertion.
#[derive(Debug, Clone)]
pub struct SignedAssertion {
    /// The compact JWS.
    pub assertion: String,
    /// The signing key's kid.
    pub kid: String,
    /// Its Auth0 credential id.
    pub credential_id: String,
    /// Its algorithm.
    pub algorithm: String,
    /// `exp`, UNIX ms.
    pub expires_at: Timestamp,
}

/// Client assertions and access tokens are for Auth0 clients; a signing-only client has no
/// credential at Auth0.
fn not_local(policy: &crate::config::SigningPolicy, client_id: &str) -> Result<(), Error> {
    if policy.local_clients.contains(client_id) {
        return Err(Error::FailedPrecondition(format!(
            "client {client_id:?} is signing-only (not registered at Auth0); use SignJwt and GetJwks"
        )));
    }
    Ok(())
}

/// How long a readiness check waits for the store.
pub const STORE_PROBE: Duration = Duration::from_secs(2);

/// The signing service.
pub struct Signing {
    store: Arc<dyn Store>,
    tenants: Arc<Tenants>,
    clock: SharedClock,
    key_changed: Arc<tokio::sync::Notify>,
    cache: Arc<KeyCache>,
    pool: SignPool,
    tokens: tokens::Exchangers,
    counters: Counters,
    draining: std::sync::atomic::AtomicBool,
    /// The PKCS#11 token, probed for readiness.
    custody: Option<keyward_pkcs11::Token>,
    /// How long a call the full pool refused is held before its answer.
    overload_pushback: Duration,
}

impl std::fmt::Debug for Signing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signing").field("threads", &self.pool.threads()).finish_non_exhaustive()
    }
}

impl Signing {
    /// A signer over the context's store and tenants, opening keys with any KEK of its ring
    /// and reading its clock.
    pub fn new(ctx: &Context, config: SignerConfig) -> Result<Self, Error> {
        let keks = std::iter::once(ctx.keks.current.clone()).chain(ctx.keks.previous.iter().cloned()).collect();
        let cache = KeyCache::new(ctx.store.clone(), keks, ctx.clock.clone())
            .with_custody(ctx.custody.clone())
            .with_inline_ec(config.inline_ec);
        let cache = Arc::new(cache);
        let pool = SignPool::new(config.threads, config.queue)?;
        let counters = Counters::new(ctx.store.clone());
        Ok(Self {
            store: ctx.store.clone(),
            tenants: ctx.tenants.clone(),
            clock: ctx.clock.clone(),
            key_changed: ctx.key_changed.clone(),
            tokens: tokens::Exchangers::new(cache.clone(), config.token_cache_entries),
            cache,
            pool,
            counters,
            draining: std::sync::atomic::AtomicBool::new(false),
            custody: ctx.custody.clone(),
            overload_pushback: config.overload_pushback,
        })
    }

    /// How long a call the full signing pool refused waits before its RESOURCE_EXHAUSTED
    /// answer (`[signer] overload_pushback`), before the caller's deadline clips it.
    pub fn overload_pushback(&self) -> Duration {
        self.overload_pushback
    }

    /// Marks this replica as shutting down (`/readyz` then answers 503).
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether this replica can serve (`/readyz`, `keyward status`): it is not draining, the
    /// store answers within [`STORE_PROBE`], the key cache has loaded, and the PKCS#11 token (if
    /// one is configured) answers.
    pub async fn readiness(&self) -> Result<(), String> {
        if self.draining() {
            return Err("shutting down".into());
        }
        match tokio::time::timeout(STORE_PROBE, self.store.key_version()).await {
            Err(_) => return Err("the store did not answer in time".into()),
            Ok(Err(e)) => return Err(format!("the store is unreachable: {e}")),
            Ok(Ok(_)) => {}
        }
        if !self.cache.loaded() {
            return Err("the signing keys are not loaded yet".into());
        }
        if let Some(token) = &self.custody {
            crate::custody::probe(token).await?;
        }
        Ok(())
    }

    /// Whether this replica is shutting down.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// The key cache (reloaded by the service's background task).
    pub fn cache(&self) -> &Arc<KeyCache> {
        &self.cache
    }

    /// The per-principal signing counters (flushed to the audit log by the background task).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The store it reads keys from.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock it reads.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Notified when this process activates or retires a key (the cache then reloads).
    pub fn key_changed(&self) -> &Arc<tokio::sync::Notify> {
        &self.key_changed
    }

    /// The client's keys with an active key for `method`: from memory; on a miss the cache is
    /// reloaded once if the store moved.
    async fn keys_for(
        &self,
        tenant: &str,
        client_id: &str,
        method: CredentialMethod,
    ) -> Result<Arc<ClientKeys>, Error> {
        self.tenants.managed_client(tenant, client_id)?;
        // Never sign with a key the store has not confirmed lately (it may have been revoked).
        self.cache.confirm().await?;
        if let Some(k) = self.cache.get(tenant, client_id).filter(|k| k.signing(method).is_some()) {
            return Ok(k);
        }
        self.cache.refresh(false).await?;
        self.cache.get(tenant, client_id).filter(|k| k.signing(method).is_some()).ok_or_else(|| match method {
            CredentialMethod::PrivateKeyJwt => Error::FailedPrecondition(format!(
                "client {client_id:?} in tenant {tenant:?} has no active key yet; rotate it first"
            )),
            CredentialMethod::SignedRequestObject => Error::FailedPrecondition(format!(
                "client {client_id:?} in tenant {tenant:?} has no active signed_request_object (JAR) key; rotate it \
                 with method signed_request_object first"
            )),
        })
    }

    /// The client's keys with an active private_key_jwt key.
    async fn keys(&self, tenant: &str, client_id: &str) -> Result<Arc<ClientKeys>, Error> {
        self.keys_for(tenant, client_id, CredentialMethod::PrivateKeyJwt).await
    }

    async fn active(&self, tenant: &str, client_id: &str) -> Result<Arc<LoadedKey>, Error> {
        self.active_for(tenant, client_id, CredentialMethod::PrivateKeyJwt).await
    }

    /// The key that signs for `method`.
    async fn active_for(
        &self,
        tenant: &str,
        client_id: &str,
        method: CredentialMethod,
    ) -> Result<Arc<LoadedKey>, Error> {
        self.keys_for(tenant, client_id, method)
            .await?
            .signing(method)
            .cloned()
            .ok_or_else(|| Error::FailedPrecondition(format!("client {client_id:?} has no active {method} key")))
    }

    /// Makes sure the store knows `key` may have signed until `exp` before it does.
    async fn ensure_horizon(&self, key: &LoadedKey, exp: Timestamp) -> Result<(), Error> {
        if exp.as_millis() <= key.horizon.load(Ordering::SeqCst) {
            return Ok(());
        }
        let _guard = key.horizon_lock.lock().await;
        if exp.as_millis() <= key.horizon.load(Ordering::SeqCst) {
            return Ok(());
        }
        let until = exp.plus_ms(HORIZON_SLACK_MS);
        if !self.store.extend_signed_exp(&key.key_id, until).await? {
            // Retired under us (by another replica): reload and let the caller retry.
            let _ = self.cache.refresh(true).await;
            return Err(Error::Unavailable("the client's key changed while signing; retry".into()));
        }
        key.horizon.fetch_max(until.as_millis(), Ordering::SeqCst);
        Ok(())
    }

    /// Runs `sign` (a signature with `key`): on the calling thread for keys that sign faster than
    /// a hop to the pool and back ([`LoadedKey::inline`]), else on the bounded pool, whose full
    /// queue is RESOURCE_EXHAUSTED.
    async fn sign_with<T: Send + 'static>(
        &self,
        key: &LoadedKey,
        sign: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        if key.inline { Ok(sign()) } else { self.pool.run(sign).await }
    }

    /// A private_key_jwt client assertion signed with the client's active key.
    pub async fn sign_client_assertion(
        &self,
        principal: &str,
        tenant: &str,
        client_id: &str,
        audience: Option<&str>,
        lifetime: Option<Duration>,
    ) -> Result<SignedAssertion, Error> {
        let config = &self.tenants.get(tenant)?.config;
        not_local(&config.signing, client_id)?;
        let audience = audience::resolve(audience, &config.domain, config.signing.legacy_audiences)?;
        let lifetime = lifetime.unwrap_or(DEFAULT_LIFETIME);
        if lifetime < Duration::from_secs(1) || lifetime > MAX_LIFETIME {
            return Err(Error::arg("lifetime", "must be between 1 s and 300 s (Auth0's limit)"));
        }
        let key = self.active(tenant, client_id).await?;
        let now = self.clock.now();
        // JWT times are whole seconds: the assertion's exp is now's second plus the lifetime.
        let exp = Timestamp::from_secs(now.as_secs()).plus(lifetime);
        self.ensure_horizon(&key, exp).await?;
        let now = now.to_system();
        let (signing_key, client) = (key.clone(), client_id.to_owned());
        let assertion = self
            .sign_with(&key, move || -> Result<String, Error> {
                let mut rng = crate::rng::thread_rng();
                match &audience {
                    audience::Audience::One(aud) => {
                        let params = AssertionParams {
                            client_id: &client,
                            audience: aud,
                            now,
                            lifetime,
                            kid: Some(&signing_key.kid),
                        };
                        Ok(client_assertion(&*signing_key.signer, &params, &mut rng)?)
                    }
                    audience::Audience::Many(list) => {
                        let claims = audience::claims(&client, list, now, lifetime);
                        Ok(sign_compact(&*signing_key.signer, Some(&signing_key.kid), None, &claims, &mut rng)?)
                    }
                }
            })
            .await?
            .map_err(|e| key.signing_failed(e))?;
        key.signatures.inc();
        self.counters.add(principal, tenant, client_id, "sign_client_assertion");
        Ok(SignedAssertion {
            assertion,
            kid: key.kid.clone(),
            credential_id: key.credential_id.clone().unwrap_or_default(),
            algorithm: key.algorithm().to_string(),
            expires_at: exp,
        })
    }

    /// Signs a caller's claims (a JSON object with `exp`) with the client's active key.
    pub async fn sign_jwt(
        &self,
        principal: &str,
        tenant: &str,
        client_id: &str,
        claims_json: &str,
        typ: Option<&str>,
    ) -> Result<(String, Arc<LoadedKey>), Error> {
        let config = &self.tenants.get(tenant)?.config;
        let policy = &config.signing;
        let max = policy.max_jwt_lifetime;
        if claims_json.len() > MAX_CLAIMS {
            return Err(Error::arg("claims_json", "must be at most 16 KiB"));
        }
        // Auth0-registered clients sign their assertions through SignClientAssertion, under its
        // audience, lifetime and jti rules; SignJwt is for signing-only clients unless the
        // tenant allows more, and even then never mints a client assertion.
        let auth0_client = !policy.local_clients.contains(client_id);
        if auth0_client && !policy.allow_sign_jwt_for_auth0_clients {
            return Err(Error::PermissionDenied(format!(
                "SignJwt signs for signing-only clients; {client_id:?} is registered at Auth0: use SignClientAssertion \
                 (or set allow_sign_jwt_for_auth0_clients for tenant {tenant:?})"
            )));
        }
        let claims = claims::parse(claims_json)?;
        if auth0_client && claims.is_client_assertion(client_id, &config.domain) {
            return Err(Error::PermissionDenied(
                "claims_json: claims shaped like an Auth0 client assertion (aud naming the tenant, or iss = sub = \
                 the client) are signed only by SignClientAssertion"
                    .into(),
            ));
        }
        let exp =
            claims.exp.ok_or_else(|| Error::arg("claims_json", "needs a numeric exp (seconds since the epoch)"))?;
        let now_s = self.clock.now().as_secs();
        if exp <= now_s || exp > now_s + i64::try_from(max.as_secs()).unwrap_or(0) {
            return Err(Error::arg("claims_json", format!("exp must be in the future and at most {max:?} away")));
        }
        if let Some(t) = typ
            && (t.is_empty() || t.len() > 64 || t.chars().any(char::is_control))
        {
            return Err(Error::arg("typ", "must be 1 to 64 printable characters"));
        }
        let key = self.active(tenant, client_id).await?;
        self.ensure_horizon(&key, Timestamp::from_secs(exp)).await?;
        let (signing_key, payload, typ) =
            (key.clone(), claims_json.as_bytes().to_vec(), typ.unwrap_or("JWT").to_owned());
        let jwt = self
            .sign_with(&key, move || {
                sign_compact(
                    &*signing_key.signer,
                    Some(&signing_key.kid),
                    Some(&typ),
                    &payload,
                    &mut crate::rng::thread_rng(),
                )
            })
            .await?
            .map_err(|e| key.signing_failed(e.into()))?;
        key.signatures.inc();
        self.counters.add(principal, tenant, client_id, "sign_jwt");
        Ok((jwt, key))
    }

    /// The public JWKS of the client's ACTIVE and RETIRING keys.
    pub async fn jwks(&self, tenant: &str, client_id: &str) -> Result<String, Error> {
        Ok(self.keys(tenant, client_id).await?.jwks.clone())
    }

    /// An Auth0 access token for the client, from the exchange cache or a fresh exchange.
    pub async fn access_token(
        &self,
        principal: &str,
        tenant: &str,
        client_id: &str,
        audience: &str,
        scope: Option<&str>,
    ) -> Result<keyward_auth0::AccessToken, Error> {
        let t = self.tenants.get(tenant)?;
        not_local(&t.config.signing, client_id)?;
        let key = self.active(tenant, client_id).await?;
        // A fresh exchange signs an assertion valid for tokens::ASSERTION_LIFETIME.
        let exp = self.clock.now().plus(tokens::ASSERTION_LIFETIME).plus_ms(1000);
        self.ensure_horizon(&key, exp).await?;
        let token = self.tokens.get(t, tenant, client_id, audience, scope).await.map_err(Error::in_token_exchange)?;
        self.counters.add(principal, tenant, client_id, "get_access_token");
        Ok(token)
    }
}
