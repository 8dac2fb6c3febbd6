//! JWS algorithms and key kinds, and parsing an algorithm's name (its own small error,
//! [`UnknownAlgorithm`], which the crate's [`crate::Error`] converts from: the error enum
//! names algorithms, so algorithms do not name it).

use std::fmt;
use std::str::FromStr;

/// The JWS algorithms keyward signs with: Auth0's connection-key set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, 32-byte salt.
    PS256,
    /// RSASSA-PSS with SHA-384, MGF1-SHA-384, 48-byte salt.
    PS384,
    /// ECDSA on P-256 with SHA-256, R||S.
    ES256,
    /// ECDSA on P-384 with SHA-384, R||S.
    ES384,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 7] =
        [Self::RS256, Self::RS384, Self::RS512, Self::PS256, Self::PS384, Self::ES256, Self::ES384];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
        }
    }

    /// Whether Auth0 accepts this algorithm for a client credential (`private_key_jwt`):
    /// RS256, RS384 and PS256 only (CONTRACT.md §1.2, §1.5).
    pub fn is_client_credential_alg(self) -> bool {
        matches!(self, Self::RS256 | Self::RS384 | Self::PS256)
    }

    /// The key kind this algorithm needs.
    pub fn key_family(self) -> KeyFamily {
        match self {
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 => KeyFamily::Rsa,
            Self::ES256 => KeyFamily::Ec(KeyKind::P256),
            Self::ES384 => KeyFamily::Ec(KeyKind::P384),
        }
    }

    /// Whether a key of `kind` can sign with this algorithm.
    pub fn fits(self, kind: KeyKind) -> bool {
        match self.key_family() {
            KeyFamily::Rsa => matches!(kind, KeyKind::Rsa { .. }),
            KeyFamily::Ec(k) => k == kind,
        }
    }

    /// The algorithm used to self-sign a certificate for a key of this kind, which Auth0 fixes
    /// per key type (CONTRACT.md §3.2): sha256WithRSA, ecdsa-with-SHA256 or -SHA384.
    pub fn for_certificate(kind: KeyKind) -> Algorithm {
        match kind {
            KeyKind::Rsa { .. } => Self::RS256,
            KeyKind::P256 => Self::ES256,
            KeyKind::P384 => Self::ES384,
        }
    }

    /// The default algorithm for a key kind (RS256, ES256, ES384).
    pub fn default_for(kind: KeyKind) -> Algorithm {
        Self::for_certificate(kind)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an [`Algorithm`]: a name keyward does not support (`none`, `HS256`,
/// `ES512`, a typo, ...), at most 32 characters of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAlgorithm(pub String);

impl fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unsupported algorithm {:?}; expected one of RS256, RS384, RS512, PS256, PS384, ES256, ES384", self.0)
    }
}

impl std::error::Error for UnknownAlgorithm {}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, UnknownAlgorithm> {
        Self::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| UnknownAlgorithm(s.chars().take(32).collect()))
    }
}

impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Algorithm {
    /// From its JWS name; anything else is an error, never a default.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Which kind of key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    /// Any RSA key.
    Rsa,
    /// That exact curve.
    Ec(KeyKind),
}

/// The kind of a key, with its size for RSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// RSA with a modulus of `bits` bits.
    Rsa {
        /// Modulus size.
        bits: usize,
    },
    /// NIST P-256.
    P256,
    /// NIST P-384.
    P384,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rsa { bits } => write!(f, "RSA-{bits}"),
            Self::P256 => f.write_str("P-256"),
            Self::P384 => f.write_str("P-384"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_typed() {
        for a in Algorithm::ALL {
            assert_eq!(a.as_str().parse::<Algorithm>().ok(), Some(a));
        }
        for bad in ["none", "HS256", "ES512", "rs256", ""] {
            assert!(matches!(bad.parse::<Algorithm>(), Err(UnknownAlgorithm(_))));
            assert!(serde_json::from_value::<Algorithm>(serde_json::json!(bad)).is_err());
        }
        let a: Algorithm = serde_json::from_value(serde_json::json!("PS256")).unwrap();
        assert_eq!(a, Algorithm::PS256);
    }

    #[test]
    fn client_credential_predicate() {
        let ok: Vec<_> = Algorithm::ALL.into_iter().filter(|a| a.is_client_credential_alg()).collect();
        assert_eq!(ok, [Algorithm::RS256, Algorithm::RS384, Algorithm::PS256]);
    }

    #[test]
    fn fits() {
        assert!(Algorithm::PS384.fits(KeyKind::Rsa { bits: 3072 }));
        assert!(!Algorithm::ES256.fits(KeyKind::P384));
        assert!(!Algorithm::RS256.fits(KeyKind::P256));
    }
}
