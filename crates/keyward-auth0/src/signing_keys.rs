//! The tenant's signing keys: `/api/v2/keys/signing[/rotate | /{kid}[/revoke]]` (CONTRACT.md §4).

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::client::{Auth0Client, NO_BODY, Request};
use crate::de::flag;
use crate::error::{Error, Resource};
use crate::http::segment;

/// One of the tenant's signing keys (the keys Auth0 signs its tokens with). Only `kid` and `cert`
/// are required; status flags that are absent or null read as `false`; unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SigningKey {
    /// A 21-character random id (not a thumbprint).
    pub kid: String,
    /// The certificate, PEM.
    pub cert: String,
    /// The certificate as PKCS#7, PEM (`pkcs7` here, unlike connection keys' `pkcs`).
    #[serde(default)]
    pub pkcs7: Option<String>,
    /// The key Auth0 signs with now.
    #[serde(default, deserialize_with = "flag")]
    pub current: bool,
    /// The key that becomes current at the next rotation.
    #[serde(default, deserialize_with = "flag")]
    pub next: bool,
    /// A key that was current before; its tokens validate until it is revoked.
    #[serde(default, deserialize_with = "flag")]
    pub previous: bool,
    /// Revoked: no longer in the tenant's JWKS.
    #[serde(default, deserialize_with = "flag")]
    pub revoked: bool,
    /// When the key became current.
    #[serde(default)]
    pub current_since: Option<SigningKeyDate>,
    /// When the key stopped being current.
    #[serde(default)]
    pub current_until: Option<SigningKeyDate>,
    /// When the key was revoked.
    #[serde(default)]
    pub revoked_at: Option<SigningKeyDate>,
    /// SHA-1 of the DER certificate, uppercase hex with `:`.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// SHA-1 of the DER certificate, uppercase hex.
    #[serde(default)]
    pub thumbprint: Option<String>,
}

/// A date of a signing key. The OAS (`SigningKeysDate`) allows a string or an object; a string
/// is kept as Auth0 sent it, anything else as its JSON, so an unexpected shape never fails the
/// whole answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningKeyDate {
    /// A timestamp string, e.g. `2023-01-25T19:39:44.691Z`.
    Text(String),
    /// Any other JSON value (the OAS allows an object).
    Other(serde_json::Value),
}

impl SigningKeyDate {
    /// The string form, if Auth0 sent a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Text(s) => Some(s),
            Self::Other(_) => None,
        }
    }

    /// The string parsed as RFC 3339; `None` for an object or a string that is not RFC 3339.
    pub fn time(&self) -> Option<OffsetDateTime> {
        self.as_str().and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
    }
}

impl<'de> Deserialize<'de> for SigningKeyDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Self::Text(s),
            other => Self::Other(other),
        })
    }
}

/// `POST /keys/signing/rotate`'s answer: the key Auth0 generated as the new next key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RotatedSigningKey {
    /// The new key's id.
    pub kid: String,
    /// The new key's certificate, PEM.
    pub cert: String,
}

/// `PUT /keys/signing/{kid}/revoke`'s answer: the key that was revoked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RevokedSigningKey {
    /// The revoked key's id.
    pub kid: String,
    /// The revoked key's certificate, PEM.
    pub cert: String,
    /// When it was revoked, if Auth0 says (the OAS answer holds only `kid` and `cert`).
    #[serde(default)]
    pub revoked_at: Option<SigningKeyDate>,
}

const SIGNING_KEYS: &str = "/keys/signing";

fn signing_key_path(kid: &str) -> Result<String, Error> {
    Ok(format!("{SIGNING_KEYS}/{}", segment(kid)?))
}

impl Auth0Client {
    /// `GET /keys/signing`: every signing key of the tenant (current, next, previous, revoked).
    pub async fn list_signing_keys(&self) -> Result<Vec<SigningKey>, Error> {
        self.management_json(Request {
            operation: "list_signing_keys",
            resource: Resource::SigningKey,
            method: Method::GET,
            path: SIGNING_KEYS.to_owned(),
            body: NO_BODY,
            expected: &[StatusCode::OK],
        })
        .await
    }

    /// `GET /keys/signing/{kid}`; an unknown kid is [`Error::SigningKeyNotFound`].
    pub async fn get_signing_key(&self, kid: &str) -> Result<SigningKey, Error> {
        self.management_json(Request {
            operation: "get_signing_key",
            resource: Resource::SigningKey,
            method: Method::GET,
            path: signing_key_path(kid)?,
            body: NO_BODY,
            expected: &[StatusCode::OK],
        })
        .await
    }

    /// `POST /keys/signing/rotate` (201): next → current, current → previous, and a new next,
    /// which is returned. Auth0 allows 5 a day: a 429 whose reset is beyond the retry policy's
    /// `max_delay` is [`Error::RateLimited`] at once. Not retried on an ambiguous failure:
    /// [`Error::UnknownOutcome`] means list the keys before rotating again.
    pub async fn rotate_signing_key(&self) -> Result<RotatedSigningKey, Error> {
        self.management_json(Request {
            operation: "rotate_signing_key",
            resource: Resource::SigningKey,
            method: Method::POST,
            path: format!("{SIGNING_KEYS}/rotate"),
            body: NO_BODY,
            expected: &[StatusCode::CREATED, StatusCode::OK],
        })
        .await
    }

    /// `PUT /keys/signing/{kid}/revoke` (200); Auth0 only revokes the previous key. An unknown
    /// kid is [`Error::SigningKeyNotFound`]. Not retried on an ambiguous failure
    /// ([`Error::UnknownOutcome`]: read the key back).
    pub async fn revoke_signing_key(&self, kid: &str) -> Result<RevokedSigningKey, Error> {
        self.management_json(Request {
            operation: "revoke_signing_key",
            resource: Resource::SigningKey,
            method: Method::PUT,
            path: format!("{}/revoke", signing_key_path(kid)?),
            body: NO_BODY,
            expected: &[StatusCode::OK],
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_shapes() {
        let short: SigningKey = serde_json::from_str(r#"{"kid":"k","cert":"c","next":null,"extra":[1]}"#).unwrap();
        assert!(!short.current && !short.next && !short.previous && !short.revoked);
        assert_eq!(short.current_since, None);
        let full: SigningKey = serde_json::from_str(
            r#"{"kid":"k","cert":"c","pkcs7":"p","current":true,"current_since":"2023-01-25T18:39:44.691Z",
                "current_until":{"date":"2024-01-01"},"revoked_at":null,"fingerprint":"AA:BB","thumbprint":"AABB"}"#,
        )
        .unwrap();
        assert!(full.current);
        assert_eq!(full.current_since.as_ref().and_then(SigningKeyDate::time).map(|t| t.year()), Some(2023));
        assert_eq!(full.current_until.as_ref().and_then(SigningKeyDate::as_str), None);
        assert_eq!(full.current_until.as_ref().and_then(SigningKeyDate::time), None);
        assert_eq!(full.revoked_at, None);
    }

    #[test]
    fn dates_of_any_shape() {
        for (json, text) in [(r#""x""#, Some("x")), ("{}", None), ("7", None), ("[]", None), ("true", None)] {
            let d: SigningKeyDate = serde_json::from_str(json).unwrap();
            assert_eq!(d.as_str(), text, "{json}");
            assert_eq!(d.time(), None);
        }
    }

    #[test]
    fn paths_are_escaped() {
        assert_eq!(signing_key_path("abc").unwrap(), "/keys/signing/abc");
        assert_eq!(signing_key_path("../rotate").unwrap(), "/keys/signing/..%2Frotate");
        assert!(matches!(signing_key_path(".."), Err(Error::InvalidArgument(_))));
    }
}
