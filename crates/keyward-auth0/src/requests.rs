//! What a caller builds to ask Auth0 for a change: a new credential, the secret method a client
//! goes back to. Plain data (the endpoints that send them import this module, never the reverse).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The secret-based methods a client can switch back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretMethod {
    /// `client_secret_post`.
    ClientSecretPost,
    /// `client_secret_basic`.
    ClientSecretBasic,
}

/// Credential algorithms Auth0 accepts for `public_key` credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CredentialAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (Auth0's default).
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PSS with SHA-256.
    PS256,
}

impl TryFrom<keyward_crypto::Algorithm> for CredentialAlg {
    /// The algorithm, which Auth0 does not accept for a client credential.
    type Error = keyward_crypto::Algorithm;

    fn try_from(a: keyward_crypto::Algorithm) -> Result<Self, Self::Error> {
        use keyward_crypto::Algorithm as A;
        match a {
            A::RS256 => Ok(Self::RS256),
            A::RS384 => Ok(Self::RS384),
            A::PS256 => Ok(Self::PS256),
            other => Err(other),
        }
    }
}

/// `POST /clients/{id}/credentials`. Unset options are left out of the request (Auth0 rejects
/// `null` for optional create fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewCredential {
    /// `public_key` for `private_key_jwt`.
    pub credential_type: String,
    /// Friendly name (≤ 128 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// SPKI / PKCS#1 public key or X.509 certificate, PEM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
    /// Signing algorithm; Auth0 defaults to RS256.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg: Option<CredentialAlg>,
    /// Custom kid (`^[0-9a-zA-Z-_]{10,64}$`); Auth0 computes the RFC 7638 thumbprint without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Expiry; not together with `parse_expiry_from_cert`.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_time")]
    pub expires_at: Option<OffsetDateTime>,
    /// Take `expires_at` from the certificate's notAfter (`pem` must be a certificate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_expiry_from_cert: Option<bool>,
}

impl NewCredential {
    /// A `public_key` credential from a PEM, every option unset.
    pub fn public_key(pem: impl Into<String>) -> Self {
        Self {
            credential_type: "public_key".to_owned(),
            name: None,
            pem: Some(pem.into()),
            alg: None,
            kid: None,
            expires_at: None,
            parse_expiry_from_cert: None,
        }
    }
}

pub(crate) fn ser_time<S: serde::Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format_time(*t).map_err(serde::ser::Error::custom)?),
        None => s.serialize_none(),
    }
}

/// RFC 3339 in UTC, e.g. `2026-01-02T03:04:05.678Z` (Auth0 keeps milliseconds).
pub(crate) fn format_time(t: OffsetDateTime) -> Result<String, time::error::Format> {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t.replace_nanosecond(t.millisecond() as u32 * 1_000_000).unwrap_or(t);
    t.format(&Rfc3339)
}
