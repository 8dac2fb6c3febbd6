//! What key to generate, checked: RSA 2048/3072/4096, P-256 or P-384, and the spec an algorithm
//! needs.

use crate::alg::{Algorithm, KeyFamily, KeyKind};
use crate::error::Error;

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
}
