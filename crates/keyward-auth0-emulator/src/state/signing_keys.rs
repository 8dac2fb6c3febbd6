//! The tenant's signing keys (CONTRACT.md §4): the key that signs access tokens (current), the
//! one queued to replace it (next), the one it replaced (previous) and the last revoked ones,
//! each with an Auth0-shaped certificate (CN = tenant domain, 5000 days).
//!
//! Where the contract is silent:
//! - A rotation while a previous key is still unrevoked revokes that older key (`revoked_at` =
//!   the rotation time): only one previous key exists, only it can be revoked, and a key that can
//!   no longer be revoked must not stay trusted, so it leaves the JWKS as a revoked key would.
//! - Private keys are kept only while a key can still sign (current or next); a key that becomes
//!   previous loses its private half.
//! - PEMs (`cert`, `pkcs7`) use `\r\n` line ends but no final one, as recorded.
//! - The list is ordered current, next, previous, then revoked keys newest first; the last
//!   [`KEPT_REVOKED`] revoked keys are kept (the Dashboard shows the last 3), older ones dropped.

use std::time::{Duration, SystemTime};

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use keyward_crypto::{
    Algorithm, Backend, Certificate, CertificateParams, KeySpec, PrivateKey, aws_lc_generate, degenerate_pkcs7,
    fingerprint, pem_crlf, signer_for, thumbprint,
};
use rand_core::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::util::{now_timestamp, rng};

/// Auth0's tenant signing certificates live exactly 5000 days (CONTRACT.md §4).
const CERT_LIFETIME: Duration = Duration::from_secs(5000 * 24 * 60 * 60);
/// Revoked keys listed (the Dashboard lists the last 3 revoked).
pub(crate) const KEPT_REVOKED: usize = 3;
/// Characters of a tenant key id (`xCjTTTG-z1h76pkzCGq-f`): base64url.
const KID_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const KID_LEN: usize = 21;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SigningKeyStatus {
    Current,
    Next,
    Previous,
    Revoked,
}

/// One tenant signing key.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SigningKey {
    pub kid: String,
    /// PKCS#8 PEM while the key can still sign (current or next).
    pub private_key_pem: Option<String>,
    pub cert: String,
    pub pkcs7: String,
    pub fingerprint: String,
    pub thumbprint: String,
    pub status: SigningKeyStatus,
    pub current_since: Option<String>,
    pub current_until: Option<String>,
    pub revoked_at: Option<String>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("status", &self.status)
            .field("private_key_pem", &self.private_key_pem.as_ref().map(|_| "[secret key elided]"))
            .finish_non_exhaustive()
    }
}

/// Why a revocation is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RevokeError {
    NotFound,
    NotPrevious,
}

/// The tenant's keys, in Auth0's list order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct SigningKeys(pub Vec<SigningKey>);

impl SigningKeys {
    /// A fresh tenant's keys: a current and a next key.
    pub fn provision(domain: &str) -> Result<Self, Error> {
        let mut current = new_signing_key(domain, aws_lc_generate(KeySpec::Rsa(2048))?, random_kid())?;
        current.status = SigningKeyStatus::Current;
        current.current_since = Some(now_timestamp());
        let next = new_signing_key(domain, aws_lc_generate(KeySpec::Rsa(2048))?, random_kid())?;
        Ok(Self(vec![current, next]))
    }

    /// Keys for a state file written before signing keys were modelled: its one key becomes
    /// current under its old kid (its RFC 7638 thumbprint), so tokens it signed still verify.
    pub fn from_legacy(domain: &str, pem: &str) -> Result<Self, Error> {
        let key = PrivateKey::from_pem(pem)?;
        let kid = key.public_key().thumbprint()?;
        let mut current = new_signing_key(domain, key, kid)?;
        current.status = SigningKeyStatus::Current;
        current.current_since = Some(now_timestamp());
        let next = new_signing_key(domain, aws_lc_generate(KeySpec::Rsa(2048))?, random_kid())?;
        Ok(Self(vec![current, next]))
    }

    pub fn get(&self, kid: &str) -> Option<&SigningKey> {
        self.0.iter().find(|k| k.kid == kid)
    }

    /// The key that signs access tokens.
    pub fn current(&self) -> Option<&SigningKey> {
        self.0.iter().find(|k| k.status == SigningKeyStatus::Current)
    }

    /// The keys a token may be verified with (the JWKS): current, next, and previous.
    pub fn published(&self) -> impl Iterator<Item = &SigningKey> {
        self.0.iter().filter(|k| k.status != SigningKeyStatus::Revoked)
    }

    /// next → current, current → previous, a new next; an unrevoked older previous is revoked.
    /// Returns the new next key.
    pub fn rotate(&mut self, domain: &str) -> Result<SigningKey, Error> {
        let fresh = new_signing_key(domain, aws_lc_generate(KeySpec::Rsa(2048))?, random_kid())?;
        let now = now_timestamp();
        for k in &mut self.0 {
            match k.status {
                SigningKeyStatus::Previous => {
                    k.status = SigningKeyStatus::Revoked;
                    k.revoked_at = Some(now.clone());
                }
                SigningKeyStatus::Current => {
                    k.status = SigningKeyStatus::Previous;
                    k.current_until = Some(now.clone());
                    k.private_key_pem = None;
                }
                SigningKeyStatus::Next => {
                    k.status = SigningKeyStatus::Current;
                    k.current_since = Some(now.clone());
                }
                SigningKeyStatus::Revoked => {}
            }
        }
        self.0.push(fresh.clone());
        self.tidy();
        Ok(fresh)
    }

    /// Revokes the previous key `kid`; returns it.
    pub fn revoke(&mut self, kid: &str) -> Result<SigningKey, RevokeError> {
        let key = self.0.iter_mut().find(|k| k.kid == kid).ok_or(RevokeError::NotFound)?;
        if key.status != SigningKeyStatus::Previous {
            return Err(RevokeError::NotPrevious);
        }
        key.status = SigningKeyStatus::Revoked;
        key.revoked_at = Some(now_timestamp());
        key.private_key_pem = None;
        let revoked = key.clone();
        self.tidy();
        Ok(revoked)
    }

    /// Auth0's order; only the last [`KEPT_REVOKED`] revoked keys kept.
    fn tidy(&mut self) {
        let rank = |s: SigningKeyStatus| match s {
            SigningKeyStatus::Current => 0,
            SigningKeyStatus::Next => 1,
            SigningKeyStatus::Previous => 2,
            SigningKeyStatus::Revoked => 3,
        };
        // Timestamps have one format, so their strings sort as their times; newest revoked first.
        self.0.sort_by(|a, b| rank(a.status).cmp(&rank(b.status)).then_with(|| b.revoked_at.cmp(&a.revoked_at)));
        let mut revoked = 0;
        self.0.retain(|k| {
            if k.status != SigningKeyStatus::Revoked {
                return true;
            }
            revoked += 1;
            revoked <= KEPT_REVOKED
        });
    }
}

impl SigningKey {
    /// Auth0's `SigningKeys` object: every flag present (false included, as recorded), the
    /// dates only once they are known.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("kid".into(), json!(self.kid));
        o.insert("cert".into(), json!(self.cert));
        o.insert("pkcs7".into(), json!(self.pkcs7));
        o.insert("current".into(), json!(self.status == SigningKeyStatus::Current));
        o.insert("next".into(), json!(self.status == SigningKeyStatus::Next));
        o.insert("previous".into(), json!(self.status == SigningKeyStatus::Previous));
        if let Some(s) = &self.current_since {
            o.insert("current_since".into(), json!(s));
        }
        if let Some(s) = &self.current_until {
            o.insert("current_until".into(), json!(s));
        }
        o.insert("fingerprint".into(), json!(self.fingerprint));
        o.insert("thumbprint".into(), json!(self.thumbprint));
        o.insert("revoked".into(), json!(self.status == SigningKeyStatus::Revoked));
        if let Some(s) = &self.revoked_at {
            o.insert("revoked_at".into(), json!(s));
        }
        Value::Object(o)
    }

    /// The JWKS entry: `kty`, `use`, `n`, `e`, `kid`, `x5t` (base64url SHA-1 of the DER), `x5c`,
    /// `alg`, in the order Auth0 publishes them.
    pub fn to_jwk(&self) -> Result<Value, Error> {
        let cert = Certificate::from_pem(&self.cert)?;
        let jwk = cert.public_key()?.to_jwk(Some(Algorithm::RS256))?;
        let x5t = hex_to_bytes(&self.thumbprint).map(|b| Base64UrlUnpadded::encode_string(&b)).unwrap_or_default();
        Ok(json!({
            "kty": jwk.kty,
            "use": "sig",
            "n": jwk.n,
            "e": jwk.e,
            "kid": self.kid,
            "x5t": x5t,
            "x5c": [Base64::encode_string(cert.der())],
            "alg": "RS256",
        }))
    }

    /// The private key, for signing (current and next keys only).
    pub fn private_key(&self) -> Option<Result<PrivateKey, Error>> {
        self.private_key_pem.as_deref().map(|pem| PrivateKey::from_pem(pem).map_err(Error::from))
    }
}

/// Tenant key PEMs end at `-----END …-----`, without the `\r\n` connection keys carry
/// (go-auth0's TestSigningKey__* recordings and the OAS examples agree).
fn without_final_eol(mut pem: String) -> String {
    while pem.ends_with(['\r', '\n']) {
        pem.pop();
    }
    pem
}

fn hex_to_bytes(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

/// 21 random base64url characters, as Auth0's tenant key ids.
fn random_kid() -> String {
    let mut bytes = [0u8; KID_LEN];
    rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| char::from(KID_ALPHABET[usize::from(b & 63)])).collect()
}

/// A next key for `key`: its certificate (CN = the domain, cut to X.520's 64 characters) and
/// the strings Auth0 reports for it.
fn new_signing_key(domain: &str, key: PrivateKey, kid: String) -> Result<SigningKey, Error> {
    let signer = signer_for(Backend::fastest(), &key, Algorithm::for_certificate(key.kind()))?;
    let cn: String = domain.chars().take(64).collect();
    let params = CertificateParams { lifetime: CERT_LIFETIME, ..CertificateParams::new(cn, SystemTime::now()) };
    let cert = Certificate::self_signed(&*signer, &params, &mut rng())?;
    let der = cert.der();
    Ok(SigningKey {
        kid,
        private_key_pem: Some(key.to_pkcs8_pem()?.to_string()),
        cert: without_final_eol(cert.to_pem_crlf()?),
        pkcs7: without_final_eol(pem_crlf("PKCS7", &degenerate_pkcs7(der)?)?),
        fingerprint: fingerprint(der),
        thumbprint: thumbprint(der),
        status: SigningKeyStatus::Next,
        current_since: None,
        current_until: None,
        revoked_at: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn flags(keys: &SigningKeys) -> Vec<(&str, SigningKeyStatus)> {
        keys.0.iter().map(|k| (k.kid.as_str(), k.status)).collect()
    }

    #[test]
    fn kids_are_21_base64url_characters_and_never_thumbprints() {
        let kid = random_kid();
        assert_eq!(kid.len(), 21);
        assert!(kid.bytes().all(|c| KID_ALPHABET.contains(&c)), "{kid}");
        assert_ne!(random_kid(), kid);
        assert_eq!(hex_to_bytes("0AFF"), Some(vec![0x0a, 0xff]));
        assert_eq!(hex_to_bytes("0AF"), None);
        assert_eq!(hex_to_bytes("ZZ"), None);
    }

    #[test]
    fn rotation_and_revocation_follow_auth0() {
        let mut keys = SigningKeys::provision("tenant.test.local").unwrap();
        let (k1, k2) = (keys.0[0].kid.clone(), keys.0[1].kid.clone());
        let k3 = keys.rotate("tenant.test.local").unwrap().kid;
        assert_eq!(
            flags(&keys),
            [
                (k2.as_str(), SigningKeyStatus::Current),
                (&k3, SigningKeyStatus::Next),
                (&k1, SigningKeyStatus::Previous)
            ]
        );
        assert!(keys.get(&k1).unwrap().private_key_pem.is_none(), "a previous key never signs again");
        assert_eq!(keys.revoke(&k2).unwrap_err(), RevokeError::NotPrevious);
        assert_eq!(keys.revoke(&k3).unwrap_err(), RevokeError::NotPrevious);
        assert_eq!(keys.revoke("nope").unwrap_err(), RevokeError::NotFound);
        assert_eq!(keys.published().count(), 3);

        // A second rotation revokes the unrevoked previous key.
        let k4 = keys.rotate("tenant.test.local").unwrap().kid;
        assert_eq!(keys.get(&k1).unwrap().status, SigningKeyStatus::Revoked);
        assert!(keys.get(&k1).unwrap().revoked_at.is_some());
        assert_eq!(keys.revoke(&k1).unwrap_err(), RevokeError::NotPrevious);
        let revoked = keys.revoke(&k2).unwrap();
        assert_eq!(revoked.status, SigningKeyStatus::Revoked);
        let published: Vec<&str> = keys.published().map(|k| k.kid.as_str()).collect();
        assert_eq!(published, [k3.as_str(), &k4]);
        assert_eq!(keys.current().unwrap().kid, k3);
    }

    #[test]
    fn debug_elides_the_private_key() {
        let keys = SigningKeys::provision("tenant.test.local").unwrap();
        let pem = keys.0[0].private_key_pem.clone().unwrap();
        let shown = format!("{keys:?}");
        assert!(shown.contains("[secret key elided]") && !shown.contains(&pem) && !shown.contains("PRIVATE KEY"));
    }
}
