//! The RustCrypto backend: `rsa`, `p256`, `p384`. Always built; the reference the accelerated
//! backend is tested against.

use rsa::{pkcs1v15, pss};
use sha2::{Sha256, Sha384, Sha512};
use signature::{RandomizedSigner, SignatureEncoding, Verifier};

use super::{Signer, check_key_for_alg};
use crate::alg::Algorithm;
use crate::error::{Error, JwsError};
use crate::key::{PrivateKey, PublicKey};

enum Inner {
    Rs256(pkcs1v15::SigningKey<Sha256>),
    Rs384(pkcs1v15::SigningKey<Sha384>),
    Rs512(pkcs1v15::SigningKey<Sha512>),
    Ps256(pss::SigningKey<Sha256>),
    Ps384(pss::SigningKey<Sha384>),
    Es256(p256::ecdsa::SigningKey),
    Es384(p384::ecdsa::SigningKey),
}

/// A key held by the RustCrypto implementations.
pub struct RustCryptoSigner {
    alg: Algorithm,
    public: PublicKey,
    inner: Inner,
}

impl std::fmt::Debug for RustCryptoSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RustCryptoSigner({}, {:?}, [secret key elided])", self.alg, self.public)
    }
}

impl RustCryptoSigner {
    /// A signer for `key` with `alg`; refuses an algorithm that does not fit the key.
    pub fn new(key: &PrivateKey, alg: Algorithm) -> Result<Self, Error> {
        let public = key.public_key();
        check_key_for_alg(&public, alg)?;
        let mismatch = || Error::AlgorithmKeyMismatch { alg, key: key.kind() };
        let inner = match (alg, key) {
            (Algorithm::RS256, PrivateKey::Rsa(k)) => Inner::Rs256(pkcs1v15::SigningKey::new((**k).clone())),
            (Algorithm::RS384, PrivateKey::Rsa(k)) => Inner::Rs384(pkcs1v15::SigningKey::new((**k).clone())),
            (Algorithm::RS512, PrivateKey::Rsa(k)) => Inner::Rs512(pkcs1v15::SigningKey::new((**k).clone())),
            // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
            (Algorithm::PS256, PrivateKey::Rsa(k)) => {
                Inner::Ps256(pss::SigningKey::new_with_salt_len((**k).clone(), 32))
            }
            (Algorithm::PS384, PrivateKey::Rsa(k)) => {
                Inner::Ps384(pss::SigningKey::new_with_salt_len((**k).clone(), 48))
            }
            (Algorithm::ES256, PrivateKey::P256(k)) => Inner::Es256(p256::ecdsa::SigningKey::from(k)),
            (Algorithm::ES384, PrivateKey::P384(k)) => Inner::Es384(p384::ecdsa::SigningKey::from(k)),
            _ => return Err(mismatch()),
        };
        Ok(Self { alg, public, inner })
    }
}

impl Signer for RustCryptoSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, rng: crate::Rng<'_>, message: &[u8]) -> Result<Vec<u8>, Error> {
        let failed = |_| Error::Signing;
        Ok(match &self.inner {
            Inner::Rs256(k) => k.try_sign_with_rng(rng, message).map_err(failed)?.to_vec(),
            Inner::Rs384(k) => k.try_sign_with_rng(rng, message).map_err(failed)?.to_vec(),
            Inner::Rs512(k) => k.try_sign_with_rng(rng, message).map_err(failed)?.to_vec(),
            Inner::Ps256(k) => k.try_sign_with_rng(rng, message).map_err(failed)?.to_vec(),
            Inner::Ps384(k) => k.try_sign_with_rng(rng, message).map_err(failed)?.to_vec(),
            Inner::Es256(k) => {
                let sig: p256::ecdsa::Signature = k.try_sign_with_rng(rng, message).map_err(failed)?;
                sig.to_bytes().to_vec()
            }
            Inner::Es384(k) => {
                let sig: p384::ecdsa::Signature = k.try_sign_with_rng(rng, message).map_err(failed)?;
                sig.to_bytes().to_vec()
            }
        })
    }
}

/// Verifies a JWS-form signature with the RustCrypto implementations. Every failure after the
/// key/algorithm check is the one opaque [`JwsError::Verification`].
pub(crate) fn verify(alg: Algorithm, key: &PublicKey, message: &[u8], sig: &[u8]) -> Result<(), Error> {
    check_key_for_alg(key, alg)?;
    let bad = |_| Error::Jws(JwsError::Verification);
    match (alg, key) {
        (Algorithm::RS256, PublicKey::Rsa(k)) => pkcs1v15_verify::<Sha256>(k, message, sig),
        (Algorithm::RS384, PublicKey::Rsa(k)) => pkcs1v15_verify::<Sha384>(k, message, sig),
        (Algorithm::RS512, PublicKey::Rsa(k)) => pkcs1v15_verify::<Sha512>(k, message, sig),
        (Algorithm::PS256, PublicKey::Rsa(k)) => pss_verify::<Sha256>(k, 32, message, sig),
        (Algorithm::PS384, PublicKey::Rsa(k)) => pss_verify::<Sha384>(k, 48, message, sig),
        (Algorithm::ES256, PublicKey::P256(k)) => {
            let sig = p256::ecdsa::Signature::from_slice(sig).map_err(bad)?;
            p256::ecdsa::VerifyingKey::from(k).verify(message, &sig).map_err(bad)
        }
        (Algorithm::ES384, PublicKey::P384(k)) => {
            let sig = p384::ecdsa::Signature::from_slice(sig).map_err(bad)?;
            p384::ecdsa::VerifyingKey::from(k).verify(message, &sig).map_err(bad)
        }
        _ => Err(Error::AlgorithmKeyMismatch { alg, key: key.kind() }),
    }
}

fn pkcs1v15_verify<D>(key: &rsa::PublicKey, message: &[u8], sig: &[u8]) -> Result<(), Error>
where
    D: sha2::Digest + der::oid::AssociatedOid,
{
    let bad = |_| Error::Jws(JwsError::Verification);
    let sig = pkcs1v15::Signature::try_from(sig).map_err(bad)?;
    pkcs1v15::VerifyingKey::<D>::new(key.clone()).verify(message, &sig).map_err(bad)
}

fn pss_verify<D>(key: &rsa::PublicKey, salt_len: usize, message: &[u8], sig: &[u8]) -> Result<(), Error>
where
    D: sha2::Digest + sha2::digest::FixedOutputReset,
{
    let bad = |_| Error::Jws(JwsError::Verification);
    let sig = pss::Signature::try_from(sig).map_err(bad)?;
    pss::VerifyingKey::<D>::new_with_salt_len(key.clone(), salt_len).verify(message, &sig).map_err(bad)
}
