//! JAR request objects (RFC 9101): the caller's authorization request parameters, signed with
//! the client's active `signed_request_object` key under `typ: oauth-authz-req+jwt`.
//!
//! keyward owns the claims a verifier decides by: `iss` and `client_id` (the client), `aud` (the
//! tenant's issuer unless asked), `iat` = `nbf` (now), `exp` (now + lifetime) and a random `jti`.
//! A caller that sends one of them is refused rather than overridden, so what it asked for is
//! never silently not what was signed; a `client_id` equal to the client's is accepted (RFC 9101
//! §5 has clients send it in the object).

use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use keyward_crypto::sign_compact;
use serde_json::{Map, Value};

use super::{DEFAULT_LIFETIME, MAX_CLAIMS, MAX_LIFETIME, Signing, claims, not_local};
use crate::Error;
use crate::clock::Timestamp;
use crate::store::CredentialMethod;

/// The request object's `typ` header (RFC 9101 §10.8).
pub const REQUEST_OBJECT_TYP: &str = "oauth-authz-req+jwt";

/// Claims keyward sets and a caller may not send.
const OWNED: [&str; 6] = ["iss", "aud", "exp", "iat", "nbf", "jti"];

/// The longest `audience` accepted.
const MAX_AUDIENCE: usize = 2048;

/// A signed request object.
#[derive(Debug, Clone)]
pub struct SignedRequestObject {
    /// The compact JWS.
    pub request_object: String,
    /// The signing key's kid.
    pub kid: String,
    /// Its Auth0 credential id (on the client's signed_request_object list).
    pub credential_id: String,
    /// Its algorithm.
    pub algorithm: String,
    /// `exp`.
    pub expires_at: Timestamp,
    /// The `jti` keyward set.
    pub jti: String,
}

/// The caller's parameters as an object, checked: strict JSON (no key twice at any depth), an
/// object, within [`MAX_CLAIMS`], holding none of the claims keyward owns and no other client's
/// `client_id`.
fn parameters(claims_json: &str, client_id: &str) -> Result<Map<String, Value>, Error> {
    if claims_json.len() > MAX_CLAIMS {
        return Err(Error::arg("claims_json", "must be at most 16 KiB"));
    }
    claims::parse(claims_json)?;
    // Read again as a tree: the strict pass above already refused what serde_json would take
    // silently (a repeated key).
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(claims_json) else {
        return Err(Error::arg("claims_json", "must be a JSON object"));
    };
    if let Some(owned) = OWNED.iter().find(|c| object.contains_key(**c)) {
        return Err(Error::arg(
            "claims_json",
            format!("{owned:?} is set by keyward (iss, aud, exp, iat, nbf and jti are); leave it out"),
        ));
    }
    if let Some(other) = object.get("client_id")
        && other.as_str() != Some(client_id)
    {
        return Err(Error::arg("claims_json", "\"client_id\" must be the client's own id, or left out"));
    }
    Ok(object)
}

/// The audience: the tenant's issuer unless the caller names one.
fn audience(asked: Option<&str>, domain: &str) -> Result<String, Error> {
    match asked {
        None => Ok(format!("https://{domain}/")),
        Some(a) if a.is_empty() || a.len() > MAX_AUDIENCE || a.chars().any(char::is_control) => {
            Err(Error::arg("audience", "must be 1 to 2048 printable characters"))
        }
        Some(a) => Ok(a.to_owned()),
    }
}

impl Signing {
    /// A JAR request object for `client_id`, signed with its active signed_request_object key.
    pub async fn sign_request_object(
        &self,
        principal: &str,
        tenant: &str,
        client_id: &str,
        claims_json: &str,
        lifetime: Option<Duration>,
        asked_audience: Option<&str>,
    ) -> Result<SignedRequestObject, Error> {
        let config = &self.tenants.get(tenant)?.config;
        not_local(&config.signing, client_id)?;
        let mut object = parameters(claims_json, client_id)?;
        let lifetime = lifetime.unwrap_or(DEFAULT_LIFETIME);
        if lifetime < Duration::from_secs(1) || lifetime > MAX_LIFETIME {
            return Err(Error::arg("lifetime", "must be between 1 s and 300 s"));
        }
        let aud = audience(asked_audience, &config.domain)?;
        let key = self.active_for(tenant, client_id, CredentialMethod::SignedRequestObject).await?;
        // JWT times are whole seconds.
        let iat = Timestamp::from_secs(self.clock.now().as_secs());
        let exp = iat.plus(lifetime);
        self.ensure_horizon(&key, exp).await?;
        let mut id = [0u8; 16];
        rand_core::Rng::fill_bytes(&mut crate::rng::thread_rng(), &mut id);
        let jti = Base64UrlUnpadded::encode_string(&id);
        object.insert("iss".into(), client_id.into());
        object.insert("client_id".into(), client_id.into());
        object.insert("aud".into(), aud.into());
        object.insert("iat".into(), iat.as_secs().into());
        object.insert("nbf".into(), iat.as_secs().into());
        object.insert("exp".into(), exp.as_secs().into());
        object.insert("jti".into(), jti.clone().into());
        let payload = serde_json::to_vec(&object).map_err(Error::encode("request object claims"))?;
        let signing_key = key.clone();
        let request_object = self
            .sign_with(&key, move || {
                sign_compact(
                    &*signing_key.signer,
                    Some(&signing_key.kid),
                    Some(REQUEST_OBJECT_TYP),
                    &payload,
                    &mut crate::rng::thread_rng(),
                )
            })
            .await?
            .map_err(|e| key.signing_failed(e.into()))?;
        key.signatures.inc();
        self.counters.add(principal, tenant, client_id, "sign_request_object");
        Ok(SignedRequestObject {
            request_object,
            kid: key.kid.clone(),
            credential_id: key.credential_id.clone().unwrap_or_default(),
            algorithm: key.algorithm().to_string(),
            expires_at: exp,
            jti,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_refuse_what_keyward_owns_and_bad_json() {
        assert!(parameters(r#"{"response_type":"code","client_id":"app"}"#, "app").is_ok());
        for claim in OWNED {
            let err = parameters(&format!(r#"{{"{claim}":1}}"#), "app").unwrap_err().to_string();
            assert!(err.starts_with("claims_json") && err.contains(&format!("{claim:?}")), "{err}");
        }
        let err = parameters(r#"{"client_id":"other"}"#, "app").unwrap_err().to_string();
        assert!(err.contains("client_id"), "{err}");
        let err = parameters(r#"{"scope":"a","scope":"b"}"#, "app").unwrap_err().to_string();
        assert!(err.contains("appears twice"), "{err}");
        for not_object in ["[]", "1", "\"s\"", "null"] {
            assert!(parameters(not_object, "app").unwrap_err().to_string().contains("JSON object"), "{not_object}");
        }
        let big = format!(r#"{{"state":"{}"}}"#, "x".repeat(MAX_CLAIMS));
        assert!(parameters(&big, "app").unwrap_err().to_string().contains("16 KiB"));
    }

    #[test]
    fn audience_defaults_to_the_tenant_issuer() {
        assert_eq!(audience(None, "t.example").unwrap(), "https://t.example/");
        assert_eq!(audience(Some("https://par.example/"), "t.example").unwrap(), "https://par.example/");
        assert!(audience(Some(""), "t.example").is_err());
        assert!(audience(Some("a\nb"), "t.example").is_err());
    }
}
