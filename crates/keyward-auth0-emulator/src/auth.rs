//! Access tokens: the tenant signs real RS256 JWTs; Management calls are checked for signature,
//! expiry, audience and scopes.

use std::time::Duration;

use keyward_crypto::{Algorithm, Backend, Jwks, PublicKey, Signer, sign_compact, signer_for, verify_compact};
use serde_json::json;

use crate::envelope::ApiError;
use crate::error::Error;
use crate::util::{now_secs, rng};

/// Access tokens live a day, as Auth0's Management tokens do by default.
pub(crate) const TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);

/// The tenant's token signer.
pub(crate) struct Issuer {
    signer: Box<dyn Signer>,
    public: PublicKey,
    kid: String,
}

impl Issuer {
    pub fn new(key: &keyward_crypto::PrivateKey) -> Result<Self, Error> {
        let signer = signer_for(Backend::fastest(), key, Algorithm::RS256)?;
        let public = key.public_key();
        let kid = public.thumbprint()?;
        Ok(Self { signer, public, kid })
    }

    /// Signs an access token for `client_id` and `audience` with `scope`.
    pub fn issue(&self, domain: &str, client_id: &str, audience: &str, scope: &str) -> Result<String, Error> {
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
        Ok(sign_compact(&*self.signer, Some(&self.kid), Some("JWT"), &payload, &mut rng())?)
    }

    /// The tenant's public JWKS.
    pub fn jwks(&self) -> Result<Jwks, Error> {
        Ok(Jwks { keys: vec![self.public.to_jwk(Some(Algorithm::RS256))?] })
    }

    /// Checks a Management API bearer token and returns its scopes.
    pub fn check_management(&self, domain: &str, authorization: Option<&str>) -> Result<Vec<String>, ApiError> {
        let Some(value) = authorization else {
            return Err(ApiError::unauthorized("Missing authentication"));
        };
        let Some(token) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")) else {
            return Err(ApiError::unauthorized("Bad HTTP authentication header format"));
        };
        let verified = verify_compact(token.trim(), &self.public, Some(Algorithm::RS256)).map_err(|e| match e {
            keyward_crypto::Error::Jws(keyward_crypto::JwsError::Verification) => {
                ApiError::unauthorized("Invalid signature received for JSON Web Token validation")
            }
            _ => ApiError::unauthorized("Invalid token"),
        })?;
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
            Some(serde_json::Value::String(a)) => *a == audience,
            Some(serde_json::Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(audience.as_str())),
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
