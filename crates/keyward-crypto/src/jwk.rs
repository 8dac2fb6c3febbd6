//! JWK (RFC 7517) public export and import, JWKS documents, RFC 7638 thumbprints.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::alg::Algorithm;
use crate::b64;
use crate::error::Error;
use crate::key::PublicKey;

/// A public JWK (RSA or EC). Private members are never emitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `RSA` or `EC`.
    pub kty: String,
    /// Key id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kid: Option<String>,
    /// Intended algorithm.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub alg: Option<String>,
    /// Intended use (`sig`).
    #[serde(rename = "use", skip_serializing_if = "Option::is_none", default)]
    pub key_use: Option<String>,
    /// RSA modulus.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub e: Option<String>,
    /// EC curve (`P-256`, `P-384`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub crv: Option<String>,
    /// EC x coordinate.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub y: Option<String>,
    /// Certificate chain (base64 DER), when published with one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x5c: Option<Vec<String>>,
}

/// A JWK Set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl PublicKey {
    /// The public JWK with `kid` set to the RFC 7638 thumbprint, `use: sig`, and `alg` if given.
    pub fn to_jwk(&self, alg: Option<Algorithm>) -> Result<Jwk, Error> {
        let mut jwk = self.bare_jwk()?;
        jwk.kid = Some(self.thumbprint()?);
        jwk.alg = alg.map(|a| a.as_str().to_owned());
        jwk.key_use = Some("sig".into());
        Ok(jwk)
    }

    /// The RFC 7638 JWK SHA-256 thumbprint, base64url: the `kid` Auth0 computes for
    /// credentials and connection keys (CONTRACT.md §1.3, §3.2).
    pub fn thumbprint(&self) -> Result<String, Error> {
        // RFC 7638 §3.2: the required members only, in lexicographic order, no white space.
        // base64url values and the fixed names need no JSON escaping.
        let jwk = self.bare_jwk()?;
        let canonical = match (&jwk.n, &jwk.e, &jwk.crv, &jwk.x, &jwk.y) {
            (Some(n), Some(e), _, _, _) => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            (_, _, Some(crv), Some(x), Some(y)) => format!(r#"{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}"#),
            _ => return Err(Error::Encoding("incomplete JWK".into())),
        };
        Ok(b64::encode(&Sha256::digest(canonical.as_bytes())))
    }

    fn bare_jwk(&self) -> Result<Jwk, Error> {
        let mut jwk = Jwk {
            kty: String::new(),
            kid: None,
            alg: None,
            key_use: None,
            n: None,
            e: None,
            crv: None,
            x: None,
            y: None,
            x5c: None,
        };
        if let Some((n, e)) = self.rsa_n_e() {
            jwk.kty = "RSA".into();
            jwk.n = Some(b64::encode(&n));
            jwk.e = Some(b64::encode(&e));
        } else if let Some((x, y)) = self.ec_x_y() {
            jwk.kty = "EC".into();
            jwk.crv = Some(if matches!(self, PublicKey::P256(_)) { "P-256" } else { "P-384" }.into());
            jwk.x = Some(b64::encode(&x));
            jwk.y = Some(b64::encode(&y));
        } else {
            return Err(Error::Encoding("key has no JWK form".into()));
        }
        Ok(jwk)
    }
}

impl Jwk {
    /// The public key this JWK describes. Private members, if present, are ignored.
    pub fn to_public_key(&self) -> Result<PublicKey, Error> {
        let field = |v: &Option<String>, name: &str| -> Result<Vec<u8>, Error> {
            let s = v.as_deref().ok_or_else(|| Error::Jwk(format!("{} JWK lacks \"{name}\"", self.kty)))?;
            b64::decode(s).ok_or_else(|| Error::Jwk(format!("\"{name}\" is not base64url")))
        };
        match self.kty.as_str() {
            "RSA" => {
                let n = field(&self.n, "n")?;
                let e = field(&self.e, "e")?;
                let der = pkcs1_public_der(&n, &e)?;
                PublicKey::from_pkcs1_der(&der).map_err(|_| Error::Jwk("invalid RSA public key".into()))
            }
            "EC" => {
                let x = field(&self.x, "x")?;
                let y = field(&self.y, "y")?;
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let bad = |_| Error::Jwk("invalid EC point".into());
                match self.crv.as_deref() {
                    Some("P-256") if x.len() == 32 && y.len() == 32 => {
                        p256::PublicKey::from_sec1_bytes(&point).map(PublicKey::P256).map_err(bad)
                    }
                    Some("P-384") if x.len() == 48 && y.len() == 48 => {
                        p384::PublicKey::from_sec1_bytes(&point).map(PublicKey::P384).map_err(bad)
                    }
                    Some("P-256" | "P-384") => Err(Error::Jwk("EC coordinates have the wrong length".into())),
                    other => Err(Error::Jwk(format!("unsupported curve {:?}", other.unwrap_or("")))),
                }
            }
            other => Err(Error::Jwk(format!("unsupported kty {:?}", other.chars().take(16).collect::<String>()))),
        }
    }
}

impl Jwks {
    /// Parses a JWKS document.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        serde_json::from_str(json).map_err(|e| Error::Jwk(format!("not a JWKS document: {e}")))
    }

    /// The key with this `kid`, or the only key when there is exactly one and no kid is asked.
    pub fn find(&self, kid: Option<&str>) -> Option<&Jwk> {
        match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
    }
}

/// DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn pkcs1_public_der(n: &[u8], e: &[u8]) -> Result<Vec<u8>, Error> {
    use der::Encode;
    let n = der::asn1::UintRef::new(n).map_err(|_| Error::Jwk("invalid RSA modulus".into()))?;
    let e = der::asn1::UintRef::new(e).map_err(|_| Error::Jwk("invalid RSA exponent".into()))?;
    pkcs1::RsaPublicKey { modulus: n, public_exponent: e }.to_der().map_err(|err| Error::Encoding(err.to_string()))
}
