//! JWS algorithms, key kinds and key generation specs.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

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

impl FromStr for Algorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| Error::UnknownAlgorithm(s.chars().take(32).collect()))
    }
}

impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
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

/// What key to generate: RSA 2048/3072/4096, P-256 or P-384.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySpec {
    /// RSA with this many bits (validated by [`KeySpec::rsa`]).
    Rsa(usize),
    /// NIST P-256.
    P256,
    /// NIST P-384.
    P384,
}

impl KeySpec {
    /// RSA sizes keyward generates.
    pub const RSA_SIZES: [usize; 3] = [2048, 3072, 4096];

    /// An RSA spec, refusing sizes other than 2048, 3072 and 4096.
    pub fn rsa(bits: usize) -> Result<Self, Error> {
        if Self::RSA_SIZES.contains(&bits) { Ok(Self::Rsa(bits)) } else { Err(Error::UnsupportedKeySize { bits }) }
    }

    /// The spec for an algorithm: RSA of `rsa_bits` (2048 when `None`) or the algorithm's
    /// curve. Bits given for an EC algorithm are refused.
    pub fn for_algorithm(alg: Algorithm, rsa_bits: Option<usize>) -> Result<Self, Error> {
        match (alg.key_family(), rsa_bits) {
            (KeyFamily::Rsa, bits) => Self::rsa(bits.unwrap_or(2048)),
            (KeyFamily::Ec(_), Some(bits)) => Err(Error::UnsupportedKeySize { bits }),
            (KeyFamily::Ec(KeyKind::P384), None) => Ok(Self::P384),
            (KeyFamily::Ec(_), None) => Ok(Self::P256),
        }
    }

    /// The kind of key this spec makes.
    pub fn kind(self) -> KeyKind {
        match self {
            Self::Rsa(bits) => KeyKind::Rsa { bits },
            Self::P256 => KeyKind::P256,
            Self::P384 => KeyKind::P384,
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
            assert!(matches!(bad.parse::<Algorithm>(), Err(Error::UnknownAlgorithm(_))));
        }
    }

    #[test]
    fn client_credential_predicate() {
        let ok: Vec<_> = Algorithm::ALL.into_iter().filter(|a| a.is_client_credential_alg()).collect();
        assert_eq!(ok, [Algorithm::RS256, Algorithm::RS384, Algorithm::PS256]);
    }

    #[test]
    fn key_sizes() {
        for bits in [2048, 3072, 4096] {
            assert_eq!(KeySpec::rsa(bits).ok(), Some(KeySpec::Rsa(bits)));
        }
        for bits in [0, 1024, 2047, 2049, 8192] {
            assert!(matches!(KeySpec::rsa(bits), Err(Error::UnsupportedKeySize { .. })));
        }
        assert!(KeySpec::for_algorithm(Algorithm::ES256, Some(2048)).is_err());
        assert_eq!(KeySpec::for_algorithm(Algorithm::ES384, None).ok(), Some(KeySpec::P384));
        assert_eq!(KeySpec::for_algorithm(Algorithm::PS256, None).ok(), Some(KeySpec::Rsa(2048)));
    }

    #[test]
    fn fits() {
        assert!(Algorithm::PS384.fits(KeyKind::Rsa { bits: 3072 }));
        assert!(!Algorithm::ES256.fits(KeyKind::P384));
        assert!(!Algorithm::RS256.fits(KeyKind::P256));
    }
}
