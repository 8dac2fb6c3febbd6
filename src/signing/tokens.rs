//! Auth0 access tokens for the clients keyward holds keys for: one Auth0 client per (tenant,
//! client) authenticating with private_key_jwt from the key cache, whose token cache gives
//! caching until 10 s before expiry and single flight for concurrent misses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyward_auth0::{AccessToken, AssertionProvider, Auth0Client, BoxError, ClientAuth};
use keyward_crypto::{AssertionParams, client_assertion};

use super::KeyCache;
use crate::Error;
use crate::telemetry::metrics::{ResultLabel, metrics};
use crate::tenant::Tenant;

/// The lifetime of the assertions exchanged for tokens.
pub(super) const ASSERTION_LIFETIME: Duration = Duration::from_secs(60);

/// Signs a client's assertions with its active key from the cache. Runs only on a token cache
/// miss, on the calling task (one RSA signature per exchange).
struct CachedKeyAssertions {
    cache: Arc<KeyCache>,
    tenant: String,
    client_id: String,
}

impl AssertionProvider for CachedKeyAssertions {
    fn assertion(&self, audience: &str) -> Result<String, BoxError> {
        let keys = self.cache.get(&self.tenant, &self.client_id).ok_or("the client has no keys loaded")?;
        let key = keys.active.as_ref().ok_or("the client has no active key")?;
        let params = AssertionParams {
            client_id: &self.client_id,
            audience,
            now: self.cache.clock().now_system(),
            lifetime: ASSERTION_LIFETIME,
            kid: Some(&key.kid),
        };
        let assertion = client_assertion(&*key.signer, &params, &mut crate::rng::thread_rng())?;
        key.signatures.inc();
        Ok(assertion)
    }
}

/// The Auth0 clients that exchange assertions, by (tenant, client).
pub(super) struct Exchangers {
    cache: Arc<KeyCache>,
    /// Each client's token cache bound (audience and scope pairs).
    entries: usize,
    clients: Mutex<HashMap<(String, String), Auth0Client>>,
}

impl Exchangers {
    pub(super) fn new(cache: Arc<KeyCache>, entries: usize) -> Self {
        Self { cache, entries, clients: Mutex::new(HashMap::new()) }
    }

    fn client(&self, t: &Tenant, tenant: &str, client_id: &str) -> Result<Auth0Client, Error> {
        let mut clients = self.clients.lock().map_err(|_| Error::Unavailable("token exchangers poisoned".into()))?;
        if let Some(c) = clients.get(&(tenant.to_owned(), client_id.to_owned())) {
            return Ok(c.clone());
        }
        let provider = Arc::new(CachedKeyAssertions {
            cache: self.cache.clone(),
            tenant: tenant.to_owned(),
            client_id: client_id.to_owned(),
        });
        let auth = ClientAuth::PrivateKeyJwt { client_id: client_id.to_owned(), provider };
        let c = t.auth0.with_client_auth_and_cache(auth, self.entries)?;
        clients.insert((tenant.to_owned(), client_id.to_owned()), c.clone());
        Ok(c)
    }

    pub(super) async fn get(
        &self,
        t: &Tenant,
        tenant: &str,
        client_id: &str,
        audience: &str,
        scope: Option<&str>,
    ) -> Result<AccessToken, Error> {
        let started = tokio::time::Instant::now();
        let token = self.client(t, tenant, client_id)?.get_token(audience, scope).await?;
        // A token received during this call came from an exchange (this call's or one it
        // shared through single flight): a miss.
        let received = token.expires_at().checked_sub(token.expires_in());
        let result = if received.is_some_and(|r| r >= started) { "miss" } else { "hit" };
        metrics().token_cache.get_or_create(&ResultLabel { result }).inc();
        Ok(token)
    }
}
