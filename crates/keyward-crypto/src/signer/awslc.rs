//! The accelerated backend on AWS-LC (`aws-lc-rs`), for the load-tested signing path.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, RsaKeyPair, UnparsedPublicKey};

use super::{Signer, check_key_for_alg};
use crate::alg::Algorithm;
use crate::error::{Error, JwsError};
use crate::key::{PrivateKey, PublicKey};
use crate::spec::KeySpec;

enum Inner {
    Rsa(RsaKeyPair, &'static dyn sig::RsaEncoding),
    Ec(EcdsaKeyPair),
}

/// A key held by AWS-LC.
pub struct AwsLcSigner {
    alg: Algorithm,
    public: PublicKey,
    inner: Inner,
    rng: SystemRandom,
}

impl std::fmt::Debug for AwsLcSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AwsLcSigner({}, {:?}, [secret key elided])", self.alg, self.public)
    }
}

impl AwsLcSigner {
    /// A signer for `key` with `alg`; refuses an algorithm that does not fit the key.
    pub fn new(key: &PrivateKey, alg: Algorithm) -> Result<Self, Error> {
        let public = key.public_key();
        check_key_for_alg(&public, alg)?;
        let pkcs8 = key.to_pkcs8_der()?;
        let rejected = |_| Error::KeyDecode { what: "PKCS#8 private key (AWS-LC)" };
        let inner = match alg {
            Algorithm::RS256 => Inner::Rsa(RsaKeyPair::from_pkcs8(&pkcs8).map_err(rejected)?, &sig::RSA_PKCS1_SHA256),
            Algorithm::RS384 => Inner::Rsa(RsaKeyPair::from_pkcs8(&pkcs8).map_err(rejected)?, &sig::RSA_PKCS1_SHA384),
            Algorithm::RS512 => Inner::Rsa(RsaKeyPair::from_pkcs8(&pkcs8).map_err(rejected)?, &sig::RSA_PKCS1_SHA512),
            Algorithm::PS256 => Inner::Rsa(RsaKeyPair::from_pkcs8(&pkcs8).map_err(rejected)?, &sig::RSA_PSS_SHA256),
            Algorithm::PS384 => Inner::Rsa(RsaKeyPair::from_pkcs8(&pkcs8).map_err(rejected)?, &sig::RSA_PSS_SHA384),
            Algorithm::ES256 => {
                Inner::Ec(EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).map_err(rejected)?)
            }
            Algorithm::ES384 => {
                Inner::Ec(EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P384_SHA384_FIXED_SIGNING, &pkcs8).map_err(rejected)?)
            }
        };
        Ok(Self { alg, public, inner, rng: SystemRandom::new() })
    }
}

impl Signer for AwsLcSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, _rng: crate::Rng<'_>, message: &[u8]) -> Result<Vec<u8>, Error> {
        match &self.inner {
            Inner::Rsa(kp, encoding) => {
                let mut out = vec![0u8; kp.public_modulus_len()];
                kp.sign(*encoding, &self.rng, message, &mut out).map_err(|_| Error::Signing)?;
                Ok(out)
            }
            Inner::Ec(kp) => Ok(kp.sign(&self.rng, message).map_err(|_| Error::Signing)?.as_ref().to_vec()),
        }
    }
}

/// Generates a key with AWS-LC (RSA keygen is far faster than the pure-Rust one) and returns
/// it as a [`PrivateKey`]. AWS-LC draws from its own DRBG.
pub fn generate(spec: KeySpec) -> Result<PrivateKey, Error> {
    let failed = |_| Error::Signing;
    let der: Vec<u8> = match spec {
        KeySpec::Rsa(bits) => {
            let size = match KeySpec::rsa(bits)? {
                KeySpec::Rsa(3072) => aws_lc_rs::rsa::KeySize::Rsa3072,
                KeySpec::Rsa(4096) => aws_lc_rs::rsa::KeySize::Rsa4096,
                _ => aws_lc_rs::rsa::KeySize::Rsa2048,
            };
            let kp = RsaKeyPair::generate(size).map_err(failed)?;
            let der = kp.as_der().map_err(failed)?;
            der.as_ref().to_vec()
        }
        KeySpec::P256 => EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING)
            .and_then(|kp| kp.to_pkcs8v1())
            .map_err(failed)?
            .as_ref()
            .to_vec(),
        KeySpec::P384 => EcdsaKeyPair::generate(&sig::ECDSA_P384_SHA384_FIXED_SIGNING)
            .and_then(|kp| kp.to_pkcs8v1())
            .map_err(failed)?
            .as_ref()
            .to_vec(),
    };
    let der = zeroize::Zeroizing::new(der);
    PrivateKey::from_pkcs8_der(&der)
}

/// Verifies a JWS-form signature with AWS-LC.
pub fn verify(alg: Algorithm, key: &PublicKey, message: &[u8], signature: &[u8]) -> Result<(), Error> {
    check_key_for_alg(key, alg)?;
    let params: &'static dyn sig::VerificationAlgorithm = match alg {
        Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
    };
    let raw = key.raw_public_key()?;
    UnparsedPublicKey::new(params, raw).verify(message, signature).map_err(|_| Error::Jws(JwsError::Verification))
}
