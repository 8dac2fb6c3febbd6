//! Access tokens: the tenant's current signing key signs real RS256 JWTs; Management calls are
//! checked for signature (against the published keys), expiry, audience and scopes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyward_crypto::{
    Algorithm, Backend, Certificate, PublicKey, Signer, decode_header, sign_compact, signer_for, verify_compact,
};
use serde_json::{Value, json};

use crate::envelope::ApiError;
use crate::error::Error;
use crate::state::{SigningKey, SigningKeys};
use crate::util::{now_secs, rng};

/// Access tokens live a day, as Auth0's Management tokens do by default.
pub(crate) const TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);

/// Signs access tokens with the tenant's current signing key and checks Management tokens
/// against its published keys (CONTRACT.md §4). The keys live in the tenant; this caches what is
/// costly to rebuild per request: the current key's signer and each key's parsed public key
/// (a kid is random and never reused, so its public key never changes).
#[derive(Default)]
pub(crate) struct Issuer {
    signer: Mutex<Option<(String, Arc<dyn Signer>)>>,
    public: Mutex<HashMap<String, PublicKey>>,
}

impl Issuer {
    /// The signer of `current`, from the cache when it is the key last used.
    fn signer(&self, current: &SigningKey) -> Result<Arc<dyn Signer>, Error> {
        let mut cached = self.signer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((kid, signer)) = cached.as_ref()
            && *kid == current.kid
        {
            return Ok(signer.clone());
        }
        let key =
            current.private_key().ok_or_else(|| Error::SigningKey("the current key has no private half".into()))??;
        let signer: Arc<dyn Signer> = Arc::from(signer_for(Backend::fastest(), &key, Algorithm::RS256)?);
        *cached = Some((current.kid.clone(), signer.clone()));
        Ok(signer)
    }

    /// The kid and public key of every published key (current, next, unrevoked previous),
    /// parsed once per key and cached.
    pub fn verification_keys(&self, keys: &SigningKeys) -> Vec<(String, PublicKey)> {
        let mut cache = self.public.lock().unwrap_or_else(|p| p.into_inner());
        keys.published()
            .filter_map(|k| {
                if let Some(public) = cache.get(&k.kid) {
                    return Some((k.kid.clone(), public.clone()));
                }
                let public = Certificate::from_pem(&k.cert).and_then(|c| c.public_key()).ok()?;
                cache.insert(k.kid.clone(), public.clone());
                Some((k.kid.clone(), public))
            })
            .collect()
    }

    /// Signs an access token for `client_id` and `audience` with `scope`, under `current`'s kid.
    pub fn issue(
        &self,
        current: &SigningKey,
        domain: &str,
        client_id: &str,
        audience: &str,
        scope: &str,
    ) -> Result<String, Error> {
        let iat = now_secs();
        let claims = json!({
            "iss": format!("https://{domain}/"),
            "sub": format!("{client_id}@clients"),
            "aud": audience,
            "iat": iat,
            "exp": iat + TOKEN_LIFETIME.as_secs(),
            "scope": scope,
            "gty": "client-credentials",
            "azp": client_id,
        });
        let payload = serde_json::to_vec(&claims).map_err(|e| Error::Tls(e.to_string()))?;
        let signer = self.signer(current)?;
        Ok(sign_compact(&*signer, Some(&current.kid), Some("JWT"), &payload, &mut rng())?)
    }

    /// The tenant's public JWKS: current, next and previous until it is revoked.
    pub fn jwks(keys: &SigningKeys) -> Result<Value, Error> {
        let keys = keys.published().map(SigningKey::to_jwk).collect::<Result<Vec<_>, _>>()?;
        Ok(json!({ "keys": keys }))
    }

    /// Checks a Management API bearer token against `keys` (from [`Issuer::verification_keys`])
    /// and returns its scopes.
    pub fn check_management(
        keys: &[(String, PublicKey)],
        domain: &str,
        authorization: Option<&str>,
    ) -> Result<Vec<String>, ApiError> {
        let Some(value) = authorization else {
            return Err(ApiError::unauthorized("Missing authentication"));
        };
        let Some(token) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")) else {
            return Err(ApiError::unauthorized("Bad HTTP authentication header format"));
        };
        let token = token.trim();
        // The published key the token names; a token naming none (or a revoked key) is tried
        // against every published key, so it fails as a bad signature.
        let kid = decode_header(token).map_err(|_| ApiError::unauthorized("Invalid token"))?.kid;
        let named: Vec<&PublicKey> =
            keys.iter().filter(|(k, _)| kid.as_deref() == Some(k.as_str())).map(|(_, p)| p).collect();
        let candidates = if named.is_empty() { keys.iter().map(|(_, p)| p).collect() } else { named };
        let mut outcome = Err(ApiError::unauthorized("Invalid token"));
        for public in candidates {
            outcome = verify_compact(token, public, Some(Algorithm::RS256)).map_err(|e| match e {
                keyward_crypto::Error::Jws(keyward_crypto::JwsError::Verification) => {
                    ApiError::unauthorized("Invalid signature received for JSON Web Token validation")
                }
                _ => ApiError::unauthorized("Invalid token"),
            });
            if outcome.is_ok() {
                break;
            }
        }
        let verified = outcome?;
        let claims = verified.claims().map_err(|_| ApiError::unauthorized("Invalid token"))?;
        let exp = claims.get("exp").and_then(|v| v.as_u64()).ok_or_else(|| ApiError::unauthorized("Invalid token"))?;
        if exp <= now_secs() {
            return Err(ApiError::unauthorized("Expired token received for JSON Web Token validation"));
        }
        if claims.get("iss").and_then(|v| v.as_str()) != Some(format!("https://{domain}/").as_str()) {
            return Err(ApiError::unauthorized("Invalid token"));
        }
        let audience = format!("https://{domain}/api/v2/");
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => *a == audience,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(audience.as_str())),
            _ => false,
        };
        if !aud_ok {
            return Err(ApiError::unauthorized(&format!(
                "Bad audience: {}",
                claims.get("aud").map(|a| a.to_string()).unwrap_or_default()
            )));
        }
        let scope = claims.get("scope").and_then(|v| v.as_str()).unwrap_or_default();
        Ok(scope.split_whitespace().map(str::to_owned).collect())
    }
}

/// The scopes a token carries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scopes(pub Vec<String>);

impl Scopes {
    pub fn has(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    /// 403 `expected any of` unless one of `scopes` is held.
    pub fn require_any(&self, scopes: &[&str]) -> Result<(), ApiError> {
        if scopes.iter().any(|s| self.has(s)) { Ok(()) } else { Err(ApiError::insufficient_scope(false, scopes)) }
    }

    /// 403 `expected all of` unless every one of `scopes` is held.
    pub fn require_all(&self, scopes: &[&str]) -> Result<(), ApiError> {
        if scopes.iter().all(|s| self.has(s)) { Ok(()) } else { Err(ApiError::insufficient_scope(true, scopes)) }
    }
}
