//! The [`Signer`] trait behind which keys live, and its backends.

#[cfg(feature = "aws-lc")]
mod awslc;
mod rustcrypto;

use std::fmt;
use std::str::FromStr;

#[cfg(feature = "aws-lc")]
pub use awslc::{AwsLcSigner, generate as aws_lc_generate, verify as aws_lc_verify};
pub use rustcrypto::RustCryptoSigner;
pub(crate) use rustcrypto::verify as rustcrypto_verify;

use crate::alg::Algorithm;
use crate::error::Error;
use crate::key::{PrivateKey, PublicKey};

/// Something that signs with one key and one JWS algorithm: an in-memory key under either
/// backend, and later a sealed key or an HSM.
///
/// Signatures are in JWS form: PKCS#1 v1.5 or PSS bytes for RSA, fixed-size R||S for ECDSA.
pub trait Signer: Send + Sync + fmt::Debug {
    /// The algorithm this signer produces.
    fn algorithm(&self) -> Algorithm;
    /// The public half of the key.
    fn public_key(&self) -> &PublicKey;
    /// Signs `message`. `rng` supplies PSS salts, ECDSA hedging and RSA blinding for the
    /// RustCrypto backend; the AWS-LC backend draws those from AWS-LC's own DRBG.
    fn sign(&self, rng: crate::Rng<'_>, message: &[u8]) -> Result<Vec<u8>, Error>;
}

/// Which implementation signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The RustCrypto crates; always built; the reference.
    RustCrypto,
    /// AWS-LC through `aws-lc-rs`; built with the `aws-lc` feature.
    AwsLc,
}

impl Backend {
    /// The backend's name as the CLI spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RustCrypto => "rustcrypto",
            Self::AwsLc => "aws-lc",
        }
    }

    /// Whether this build includes the backend.
    pub fn is_available(self) -> bool {
        match self {
            Self::RustCrypto => true,
            Self::AwsLc => cfg!(feature = "aws-lc"),
        }
    }

    /// The fastest backend in this build.
    pub fn fastest() -> Self {
        if Self::AwsLc.is_available() { Self::AwsLc } else { Self::RustCrypto }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Backend {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "rustcrypto" => Ok(Self::RustCrypto),
            "aws-lc" => Ok(Self::AwsLc),
            other => Err(Error::UnknownBackend(other.chars().take(32).collect())),
        }
    }
}

/// A signer for `key` with `alg` on `backend`.
///
/// Refuses an algorithm that does not fit the key, and RSA keys under 2048 bits (RFC 7518 §3.3).
pub fn signer_for(backend: Backend, key: &PrivateKey, alg: Algorithm) -> Result<Box<dyn Signer>, Error> {
    check_key_for_alg(&key.public_key(), alg)?;
    match backend {
        Backend::RustCrypto => Ok(Box::new(RustCryptoSigner::new(key, alg)?)),
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc => Ok(Box::new(AwsLcSigner::new(key, alg)?)),
        #[cfg(not(feature = "aws-lc"))]
        Backend::AwsLc => Err(Error::UnknownBackend("aws-lc (not built into this binary)".into())),
    }
}

/// Checks that `alg` can be used with `key`: the right family or curve, and RSA of
/// 2048 to 8192 bits.
pub(crate) fn check_key_for_alg(key: &PublicKey, alg: Algorithm) -> Result<(), Error> {
    let kind = key.kind();
    if !alg.fits(kind) {
        return Err(Error::AlgorithmKeyMismatch { alg, key: kind });
    }
    if let crate::KeyKind::Rsa { bits } = kind
        && !(2048..=8192).contains(&bits)
    {
        return Err(Error::UnsupportedKeySize { bits });
    }
    Ok(())
}
