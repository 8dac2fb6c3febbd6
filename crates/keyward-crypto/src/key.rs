//! Private and public keys: generation, PKCS#8/PKCS#1/SEC1/SPKI import and export.

use std::fmt;

use der::Decode;
use der::asn1::ObjectIdentifier;
use p256::elliptic_curve::Generate;
use pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPublicKey};
use pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use zeroize::Zeroizing;

use crate::alg::KeyKind;
use crate::error::Error;
use crate::pem::{PemBlock, pem_lf};
use crate::spec::KeySpec;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// A private key in custody. Its material is zeroized on drop and never printed.
#[derive(Clone)]
pub enum PrivateKey {
    /// An RSA key.
    Rsa(Box<rsa::PrivateKey>),
    /// A P-256 key.
    P256(p256::SecretKey),
    /// A P-384 key.
    P384(p384::SecretKey),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}, [secret key elided])", self.kind())
    }
}

impl PrivateKey {
    /// Generates a key with the RustCrypto implementations and the given RNG.
    pub fn generate(spec: KeySpec, rng: crate::Rng<'_>) -> Result<Self, Error> {
        match spec {
            KeySpec::Rsa(bits) => {
                KeySpec::rsa(bits)?;
                let key = rsa::PrivateKey::new(rng, bits).map_err(|_| Error::Signing)?;
                Ok(Self::Rsa(Box::new(key)))
            }
            KeySpec::P256 => Ok(Self::P256(p256::SecretKey::generate_from_rng(rng))),
            KeySpec::P384 => Ok(Self::P384(p384::SecretKey::generate_from_rng(rng))),
        }
    }

    /// The key's kind (and RSA size).
    pub fn kind(&self) -> KeyKind {
        match self {
            Self::Rsa(k) => KeyKind::Rsa { bits: k.size() * 8 },
            Self::P256(_) => KeyKind::P256,
            Self::P384(_) => KeyKind::P384,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            Self::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
            Self::P256(k) => PublicKey::P256(k.public_key()),
            Self::P384(k) => PublicKey::P384(k.public_key()),
        }
    }

    /// Reads a private key PEM: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1
    /// (`EC PRIVATE KEY`). Encrypted PKCS#8 is refused with a clear error.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let blocks = PemBlock::parse_all(pem)?;
        for block in &blocks {
            match block.label.as_str() {
                "PRIVATE KEY" => return Self::from_pkcs8_der(&block.der),
                "RSA PRIVATE KEY" => return Self::from_pkcs1_der(&block.der),
                "EC PRIVATE KEY" => return Self::from_sec1_der(&block.der),
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(Error::Pem("encrypted private keys are not supported; decrypt it first".into()));
                }
                _ => {}
            }
        }
        let labels: Vec<&str> = blocks.iter().map(|b| b.label.as_str()).collect();
        Err(Error::Pem(format!(
            "expected a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY PEM block, found {}",
            labels.join(", ")
        )))
    }

    /// Reads DER in any of the forms [`PrivateKey::from_pem`] takes.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        Self::from_pkcs8_der(der)
            .or_else(|_| Self::from_pkcs1_der(der))
            .or_else(|_| Self::from_sec1_der(der))
            .map_err(|_| Error::KeyDecode { what: "private key (PKCS#8, PKCS#1 or SEC1 DER)" })
    }

    /// Reads a PKCS#8 `PrivateKeyInfo`.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        let info =
            pkcs8::PrivateKeyInfoRef::from_der(der).map_err(|_| Error::KeyDecode { what: "PKCS#8 private key" })?;
        let malformed = Error::KeyDecode { what: "PKCS#8 private key" };
        match (info.algorithm.oid, info.algorithm.parameters_oid().ok()) {
            (RSA_ENCRYPTION, _) => {
                rsa::PrivateKey::from_pkcs8_der(der).map(|k| Self::Rsa(Box::new(k))).map_err(|_| malformed)
            }
            (EC_PUBLIC_KEY, Some(SECP256R1)) => {
                p256::SecretKey::from_pkcs8_der(der).map(Self::P256).map_err(|_| malformed)
            }
            (EC_PUBLIC_KEY, Some(SECP384R1)) => {
                p384::SecretKey::from_pkcs8_der(der).map(Self::P384).map_err(|_| malformed)
            }
            (EC_PUBLIC_KEY, curve) => Err(Error::UnsupportedKeyType(format!(
                "EC curve {}; expected P-256 or P-384",
                curve.map(|c| c.to_string()).unwrap_or_else(|| "unnamed".into())
            ))),
            (oid, _) => Err(Error::UnsupportedKeyType(format!("algorithm {oid}"))),
        }
    }

    /// Reads a PKCS#1 `RSAPrivateKey`.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, Error> {
        rsa::PrivateKey::from_pkcs1_der(der)
            .map(|k| Self::Rsa(Box::new(k)))
            .map_err(|_| Error::KeyDecode { what: "PKCS#1 RSA private key" })
    }

    /// Reads a SEC1 `ECPrivateKey` on P-256 or P-384.
    pub fn from_sec1_der(der: &[u8]) -> Result<Self, Error> {
        let malformed = || Error::KeyDecode { what: "SEC1 EC private key" };
        let parsed = sec1::EcPrivateKey::from_der(der).map_err(|_| malformed())?;
        let p256 = || p256::SecretKey::from_sec1_der(der).map(Self::P256).map_err(|_| malformed());
        let p384 = || p384::SecretKey::from_sec1_der(der).map(Self::P384).map_err(|_| malformed());
        match parsed.parameters.and_then(|p| p.named_curve()) {
            Some(SECP256R1) => p256(),
            Some(SECP384R1) => p384(),
            Some(other) => Err(Error::UnsupportedKeyType(format!("EC curve {other}; expected P-256 or P-384"))),
            None => match parsed.private_key.len() {
                32 => p256(),
                48 => p384(),
                _ => Err(malformed()),
            },
        }
    }

    /// PKCS#8 DER, zeroized on drop.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let doc = match self {
            Self::Rsa(k) => k.to_pkcs8_der(),
            Self::P256(k) => k.to_pkcs8_der(),
            Self::P384(k) => k.to_pkcs8_der(),
        }
        .map_err(|e| Error::Encoding(e.to_string()))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// PKCS#8 PEM (`PRIVATE KEY`, `\n` line endings), zeroized on drop.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, Error> {
        let der = self.to_pkcs8_der()?;
        Ok(Zeroizing::new(pem_lf("PRIVATE KEY", &der)?))
    }
}

/// A public key: RSA, P-256 or P-384.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// An RSA key.
    Rsa(rsa::PublicKey),
    /// A P-256 key.
    P256(p256::PublicKey),
    /// A P-384 key.
    P384(p384::PublicKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.kind())
    }
}

impl PublicKey {
    /// The key's kind (and RSA size).
    pub fn kind(&self) -> KeyKind {
        match self {
            Self::Rsa(k) => KeyKind::Rsa { bits: k.size() * 8 },
            Self::P256(_) => KeyKind::P256,
            Self::P384(_) => KeyKind::P384,
        }
    }

    /// Reads an X.509 `SubjectPublicKeyInfo`.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        let malformed = || Error::KeyDecode { what: "SPKI public key" };
        let info = spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|_| malformed())?;
        match (info.algorithm.oid, info.algorithm.parameters_oid().ok()) {
            (RSA_ENCRYPTION, _) => rsa::PublicKey::from_public_key_der(der).map(Self::Rsa).map_err(|_| malformed()),
            (EC_PUBLIC_KEY, Some(SECP256R1)) => {
                p256::PublicKey::from_public_key_der(der).map(Self::P256).map_err(|_| malformed())
            }
            (EC_PUBLIC_KEY, Some(SECP384R1)) => {
                p384::PublicKey::from_public_key_der(der).map(Self::P384).map_err(|_| malformed())
            }
            (EC_PUBLIC_KEY, curve) => Err(Error::UnsupportedKeyType(format!(
                "EC curve {}; expected P-256 or P-384",
                curve.map(|c| c.to_string()).unwrap_or_else(|| "unnamed".into())
            ))),
            (oid, _) => Err(Error::UnsupportedKeyType(format!("algorithm {oid}"))),
        }
    }

    /// Reads a PKCS#1 `RSAPublicKey`.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, Error> {
        rsa::PublicKey::from_pkcs1_der(der)
            .map(Self::Rsa)
            .map_err(|_| Error::KeyDecode { what: "PKCS#1 RSA public key" })
    }

    /// The `SubjectPublicKeyInfo` DER.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, Error> {
        let doc = match self {
            Self::Rsa(k) => k.to_public_key_der(),
            Self::P256(k) => k.to_public_key_der(),
            Self::P384(k) => k.to_public_key_der(),
        }
        .map_err(|e| Error::Encoding(e.to_string()))?;
        Ok(doc.as_bytes().to_vec())
    }

    /// SPKI PEM (`PUBLIC KEY`, `\n` line endings).
    pub fn to_spki_pem(&self) -> Result<String, Error> {
        pem_lf("PUBLIC KEY", &self.to_spki_der()?)
    }

    /// The `subjectPublicKey` bits: PKCS#1 `RSAPublicKey` DER for RSA, the uncompressed SEC1
    /// point for EC.
    pub fn raw_public_key(&self) -> Result<Vec<u8>, Error> {
        match self {
            Self::Rsa(k) => k.to_pkcs1_der().map(|d| d.as_bytes().to_vec()).map_err(|e| Error::Encoding(e.to_string())),
            Self::P256(k) => Ok(k.to_sec1_bytes().into_vec()),
            Self::P384(k) => Ok(k.to_sec1_bytes().into_vec()),
        }
    }

    /// RSA modulus and exponent, big-endian without leading zeros.
    pub(crate) fn rsa_n_e(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        match self {
            Self::Rsa(k) => Some((trim(&k.n_bytes()), trim(&k.e_bytes()))),
            _ => None,
        }
    }

    /// EC affine coordinates (x, y), each padded to the field size.
    pub(crate) fn ec_x_y(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        let point = match self {
            Self::P256(k) => k.to_sec1_bytes(),
            Self::P384(k) => k.to_sec1_bytes(),
            Self::Rsa(_) => return None,
        };
        // Uncompressed SEC1: 0x04 || x || y, both coordinates of equal length.
        let coords = point.get(1..)?;
        let (x, y) = coords.split_at(coords.len() / 2);
        Some((x.to_vec(), y.to_vec()))
    }
}

fn trim(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len().saturating_sub(1));
    bytes[first..].to_vec()
}
