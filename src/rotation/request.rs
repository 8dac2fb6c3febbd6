//! What a caller asks a rotation for, and the parameters it runs with: the request as given,
//! checked against the limits and filled in from the active key or the configured defaults.

use std::time::Duration;

use keyward_crypto::Algorithm;
use serde::{Deserialize, Serialize};

use super::Engine;
use crate::Error;
use crate::custody::Custody;
use crate::store::{CredentialMethod, KeyRecord, RotationRecord};

/// The longest grace period and credential lifetime accepted.
const MAX_GRACE: Duration = Duration::from_secs(30 * 24 * 3600);
const MAX_LIFETIME: Duration = Duration::from_secs(10 * 366 * 24 * 3600);
const MIN_LIFETIME: Duration = Duration::from_secs(3600);

/// A request to rotate a client's credential; `None` fields take the configured defaults.
#[derive(Debug, Clone, Default)]
pub struct RotateRequest {
    /// Tenant name.
    pub tenant: String,
    /// Auth0 client id.
    pub client_id: String,
    /// RS256, RS384 or PS256.
    pub algorithm: Option<Algorithm>,
    /// 2048, 3072 or 4096.
    pub key_bits: Option<u32>,
    /// How long the old key stays attached after the new one is active.
    pub grace_period: Option<Duration>,
    /// The new credential's lifetime; none = no expiry.
    pub credential_lifetime: Option<Duration>,
    /// Idempotency key.
    pub request_id: Option<String>,
    /// Allow evicting credentials keyward does not manage.
    pub evict_unmanaged: bool,
    /// Who asks: the caller's principal, or `scheduler` (empty: `keyward`, a library caller).
    pub requested_by: String,
    /// Where the new key lives; `None` takes the tenant's configuration for the client.
    pub custody: Option<Custody>,
    /// Which credential list the new key is for (private_key_jwt unless asked).
    pub method: CredentialMethod,
}

/// The name recorded for a requester: `keyward` when none was given.
pub(crate) fn requester(name: &str) -> String {
    if name.is_empty() { "keyward".to_owned() } else { name.to_owned() }
}

/// The parameters a rotation was asked with, stored as JSON with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Params {
    pub algorithm: Algorithm,
    pub key_bits: u32,
    pub grace_ms: u64,
    pub lifetime_ms: Option<u64>,
    pub evict_unmanaged: bool,
    /// Left out of the stored JSON when sealed, so parameters stored before custody existed (and
    /// the request hashes over them) read and compare the same.
    #[serde(default, skip_serializing_if = "is_sealed")]
    pub custody: Custody,
    /// Left out when private_key_jwt, for the same reason (parameters stored before JAR keys).
    #[serde(default, skip_serializing_if = "is_private_key_jwt", with = "method_text")]
    pub method: CredentialMethod,
}

fn is_sealed(c: &Custody) -> bool {
    *c == Custody::Sealed
}

/// The parameters as stored with a rotation (JSON), and the hash a retried request is compared
/// by: the same tenant, client and parameters.
pub(super) fn stored_params(req: &RotateRequest, params: &Params) -> Result<(String, String), Error> {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_string(params).map_err(Error::encode("rotation parameters"))?;
    let hash = super::hex(&Sha256::digest(format!("{}\0{}\0{json}", req.tenant, req.client_id)));
    Ok((json, hash))
}

fn is_private_key_jwt(m: &CredentialMethod) -> bool {
    *m == CredentialMethod::PrivateKeyJwt
}

/// The method as its stored text.
mod method_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::store::CredentialMethod;

    pub(super) fn serialize<S: Serializer>(m: &CredentialMethod, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(m.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<CredentialMethod, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A rotation and its keys.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// The rotation.
    pub rotation: RotationRecord,
    /// The new key (active unless the rotation failed).
    pub credential: Option<KeyRecord>,
    /// The key it replaced.
    pub previous: Option<KeyRecord>,
}

impl Engine {
    /// The algorithm and RSA size of the client's ACTIVE key, which a rotation keeps unless it is
    /// asked for others (`None` before the first key).
    pub(super) async fn current_choice(
        &self,
        tenant: &str,
        client_id: &str,
        method: CredentialMethod,
    ) -> Result<Option<(Algorithm, u32)>, Error> {
        let keys = self.store.keys(tenant, client_id).await?;
        Ok(keys
            .iter()
            .find(|k| k.state == crate::store::KeyState::Active && k.method == method)
            .map(|k| (k.algorithm, k.key_bits)))
    }

    /// The rotation's parameters: what the request asks for, else what the active key has (an
    /// RSA size only from an RSA key), else the configured defaults.
    pub(super) fn params(
        &self,
        req: &RotateRequest,
        local: bool,
        current: Option<(Algorithm, u32)>,
        configured: Custody,
    ) -> Result<Params, Error> {
        let custody = req.custody.unwrap_or(configured);
        if custody == Custody::Pkcs11 && self.custody.is_none() {
            return Err(Error::FailedPrecondition(
                "custody: pkcs11 keeps the key in a PKCS#11 token, and this server has none ([kek] pkcs11)".into(),
            ));
        }
        let algorithm = req.algorithm.or(current.map(|(a, _)| a)).unwrap_or(self.defaults.algorithm);
        let current_bits = current.map(|(_, b)| b).filter(|b| *b != 0);
        if local && req.method == CredentialMethod::SignedRequestObject {
            // A signing-only client is not registered at Auth0: it has no JAR list to attach to.
            return Err(Error::arg("method", "signed_request_object needs a client registered at Auth0"));
        }
        if !algorithm.is_client_credential_alg() && !local {
            return Err(Error::arg("algorithm", format!("{algorithm} is not one of RS256, RS384, PS256")));
        }
        let ec = matches!(algorithm, Algorithm::ES256 | Algorithm::ES384);
        let key_bits = match (ec, req.key_bits) {
            (true, None) => 0,
            (true, Some(b)) => return Err(Error::arg("key_bits", format!("{b}: not accepted for {algorithm}"))),
            (false, b) => b.or(current_bits).unwrap_or(self.defaults.key_bits),
        };
        if !ec && ![2048, 3072, 4096].contains(&key_bits) {
            return Err(Error::arg("key_bits", format!("{key_bits} is not 2048, 3072 or 4096")));
        }
        let grace = req.grace_period.unwrap_or(self.defaults.grace_period);
        if grace > MAX_GRACE {
            return Err(Error::arg("grace_period", "must be at most 30 days"));
        }
        if let Some(l) = req.credential_lifetime
            && !(MIN_LIFETIME..=MAX_LIFETIME).contains(&l)
        {
            return Err(Error::arg("credential_lifetime", "must be between 1 hour and 10 years (or 0 for none)"));
        }
        if let Some(id) = &req.request_id
            && (id.is_empty() || id.chars().count() > 128)
        {
            return Err(Error::arg("request_id", "must be 1 to 128 characters"));
        }
        Ok(Params {
            algorithm,
            key_bits,
            grace_ms: u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
            lifetime_ms: req.credential_lifetime.map(|l| u64::try_from(l.as_millis()).unwrap_or(u64::MAX)),
            evict_unmanaged: req.evict_unmanaged,
            custody,
            method: req.method,
        })
    }
}
