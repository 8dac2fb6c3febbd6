//! keyward's pure crypto core.
//!
//! Keys, JWKs and thumbprints, Auth0-shaped self-signed certificates and PKCS#7, the Auth0
//! artifact strings, and JWS compact signing and verification for RS256/384/512, PS256/384 and
//! ES256/384. Nothing here does I/O, spawns tasks, reads the clock or a global RNG: time and
//! randomness are arguments, like rustls leaves network I/O to its caller.
//!
//! Signing goes through the [`Signer`] trait with two backends: [`RustCryptoSigner`] (always
//! built; the reference) and, with the `aws-lc` feature, [`AwsLcSigner`] (AWS-LC, several times
//! faster for RSA).

mod alg;
mod artifacts;
mod assertion;
mod b64;
mod error;
mod jwk;
mod jws;
mod key;
mod pem;
mod pkcs7;
mod signer;
mod spec;
mod x509;

pub use alg::{Algorithm, KeyFamily, KeyKind, UnknownAlgorithm};
pub use artifacts::{CertArtifacts, fingerprint, thumbprint, thumbprint_sha256};
pub use assertion::{AssertionParams, MAX_ASSERTION_LIFETIME, client_assertion};
pub use error::{Error, JwsError};
pub use jwk::{Jwk, Jwks};
pub use jws::{Header, Verified, check_time_claims, decode_header, sign_compact, verify_compact, verify_signature};
pub use key::{PrivateKey, PublicKey};
pub use pem::{PemBlock, pem_crlf};
pub use pkcs7::{certificates_from_pkcs7, degenerate_pkcs7};
#[cfg(feature = "aws-lc")]
pub use signer::{AwsLcSigner, aws_lc_generate, aws_lc_verify};
pub use signer::{Backend, RustCryptoSigner, Signer, signer_for};
pub use spec::KeySpec;
pub use x509::{Certificate, CertificateParams, DEFAULT_CERT_LIFETIME};

/// The random number generator every randomised operation takes as an argument.
pub type Rng<'a> = &'a mut dyn rand_core::CryptoRng;
