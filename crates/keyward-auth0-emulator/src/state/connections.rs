//! An emulated connection and its signing keys: next, current and previous, minted as Auth0
//! mints them (a self-signed certificate and its PKCS#7), rotated as Auth0 rotates them.

use std::time::SystemTime;

use keyward_crypto::{
    Algorithm, Backend, CertArtifacts, Certificate, CertificateParams, KeySpec, aws_lc_generate, signer_for,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::util::{now_timestamp, rng};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Connection {
    pub id: String,
    pub name: String,
    pub strategy: String,
    pub options: Map<String, Value>,
    pub keys: Vec<ConnectionKey>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum KeyStatus {
    Current,
    Next,
    Previous,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectionKey {
    pub kid: String,
    pub algorithm: String,
    pub key_use: String,
    pub subject_dn: String,
    pub cert: String,
    pub fingerprint: String,
    pub thumbprint: String,
    pub pkcs: String,
    pub status: KeyStatus,
    pub current_since: Option<String>,
}

impl Connection {
    /// Only okta and oidc connections have keys.
    pub fn can_hold_keys(&self) -> bool {
        matches!(self.strategy.as_str(), "okta" | "oidc")
    }

    /// Whether the connection authenticates to its IdP with private_key_jwt.
    pub fn uses_private_key_jwt(&self) -> bool {
        self.options.get("token_endpoint_auth_method").and_then(Value::as_str) == Some("private_key_jwt")
    }

    fn signing_alg(&self) -> Algorithm {
        self.options
            .get("token_endpoint_auth_signing_alg")
            .and_then(Value::as_str)
            .and_then(|a| a.parse().ok())
            .unwrap_or(Algorithm::RS256)
    }

    /// Creates the current and next keys.
    pub fn provision_keys(&mut self) -> Result<(), Error> {
        let alg = self.signing_alg();
        let now = now_timestamp();
        let mut current = new_connection_key(&self.name, alg, KeyStatus::Current)?;
        current.current_since = Some(now);
        let next = new_connection_key(&self.name, alg, KeyStatus::Next)?;
        self.keys = vec![current, next];
        Ok(())
    }

    /// next → current, current → previous (older previous keys dropped), a new next.
    /// Returns the new next key.
    pub fn rotate_keys(&mut self, alg: Option<Algorithm>) -> Result<ConnectionKey, Error> {
        let alg = alg.unwrap_or_else(|| self.signing_alg());
        let fresh = new_connection_key(&self.name, alg, KeyStatus::Next)?;
        let now = now_timestamp();
        self.keys.retain(|k| k.status != KeyStatus::Previous);
        for k in &mut self.keys {
            match k.status {
                KeyStatus::Current => {
                    k.status = KeyStatus::Previous;
                    k.current_since = None;
                }
                KeyStatus::Next => {
                    k.status = KeyStatus::Current;
                    k.current_since = Some(now.clone());
                }
                KeyStatus::Previous => {}
            }
        }
        // Auth0 lists [current, previous, next].
        self.keys.sort_by_key(|k| match k.status {
            KeyStatus::Current => 0,
            KeyStatus::Previous => 1,
            KeyStatus::Next => 2,
        });
        self.keys.push(fresh.clone());
        Ok(fresh)
    }
}

impl ConnectionKey {
    /// Auth0's key object: fields in Auth0's order, one status flag, false flags left out.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("kid".into(), json!(self.kid));
        o.insert("algorithm".into(), json!(self.algorithm));
        o.insert("key_use".into(), json!(self.key_use));
        o.insert("subject_dn".into(), json!(self.subject_dn));
        o.insert("cert".into(), json!(self.cert));
        o.insert("fingerprint".into(), json!(self.fingerprint));
        o.insert("thumbprint".into(), json!(self.thumbprint));
        o.insert("pkcs".into(), json!(self.pkcs));
        match self.status {
            KeyStatus::Current => {
                o.insert("current".into(), json!(true));
                if let Some(s) = &self.current_since {
                    o.insert("current_since".into(), json!(s));
                }
            }
            KeyStatus::Next => {
                o.insert("next".into(), json!(true));
            }
            KeyStatus::Previous => {
                o.insert("previous".into(), json!(true));
            }
        }
        Value::Object(o)
    }
}

/// A key pair and Auth0-shaped certificate for a connection; the private key is dropped.
fn new_connection_key(name: &str, alg: Algorithm, status: KeyStatus) -> Result<ConnectionKey, Error> {
    let spec = match alg {
        Algorithm::ES256 => KeySpec::P256,
        Algorithm::ES384 => KeySpec::P384,
        _ => KeySpec::Rsa(2048),
    };
    let key = aws_lc_generate(spec)?;
    let signer = signer_for(Backend::fastest(), &key, Algorithm::for_certificate(key.kind()))?;
    let cert = Certificate::self_signed(&*signer, &CertificateParams::new(name, SystemTime::now()), &mut rng())?;
    let a = CertArtifacts::from_certificate(&cert, Some(alg))?;
    Ok(ConnectionKey {
        kid: a.kid,
        algorithm: a.algorithm.to_string(),
        key_use: a.key_use.to_owned(),
        subject_dn: a.subject_dn,
        cert: a.cert,
        fingerprint: a.fingerprint,
        thumbprint: a.thumbprint,
        pkcs: a.pkcs,
        status,
        current_since: None,
    })
}
