//! The crate's one error type.

use crate::alg::{Algorithm, KeyKind, UnknownAlgorithm};

/// Everything that can go wrong in the crypto core.
///
/// Messages never include key material. Signature verification failures are deliberately
/// opaque ([`JwsError::Verification`]), so no detail can become an oracle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An algorithm name we do not support (`none`, `HS256`, `ES512`, a typo, ...).
    #[error("unsupported algorithm {0:?}; expected one of RS256, RS384, RS512, PS256, PS384, ES256, ES384")]
    UnknownAlgorithm(String),
    /// RSA keys are generated at 2048, 3072 or 4096 bits only.
    #[error("unsupported RSA key size {bits}; expected 2048, 3072 or 4096")]
    UnsupportedKeySize {
        /// The size asked for.
        bits: usize,
    },
    /// The algorithm cannot be used with this key (e.g. ES256 with an RSA key).
    #[error("algorithm {alg} does not fit a {key} key")]
    AlgorithmKeyMismatch {
        /// The algorithm asked for.
        alg: Algorithm,
        /// The key it was asked of.
        key: KeyKind,
    },
    /// The key is of a type we do not handle (e.g. Ed25519, P-521, DSA).
    #[error("unsupported key type: {0}")]
    UnsupportedKeyType(String),
    /// Key bytes that do not decode as the expected structure.
    #[error("malformed {what}")]
    KeyDecode {
        /// What we tried to decode ("PKCS#8 private key", "SPKI public key", ...).
        what: &'static str,
    },
    /// PEM input that is not PEM, or has a label we do not take here.
    #[error("{0}")]
    Pem(String),
    /// A certificate that does not parse, or could not be built.
    #[error("certificate: {0}")]
    Certificate(String),
    /// A PKCS#7 document that does not parse as certs-only SignedData.
    #[error("PKCS#7: {0}")]
    Pkcs7(String),
    /// A JWK or JWKS document we cannot use.
    #[error("JWK: {0}")]
    Jwk(String),
    /// JWS creation or verification failed.
    #[error(transparent)]
    Jws(#[from] JwsError),
    /// A client assertion's lifetime is zero or longer than Auth0 accepts.
    #[error("assertion lifetime must be between 1 and 300 seconds, got {seconds}")]
    AssertionLifetime {
        /// The lifetime asked for.
        seconds: u64,
    },
    /// A signing backend name we do not know, or one not built in.
    #[error("unknown or unavailable signing backend {0:?}; expected rustcrypto or aws-lc")]
    UnknownBackend(String),
    /// A claim that cannot go into an assertion.
    #[error("invalid claim: {0}")]
    InvalidClaim(&'static str),
    /// The signing backend failed (an internal error, not a bad signature).
    #[error("signing failed")]
    Signing,
    /// Encoding an output structure failed (an internal error).
    #[error("encoding failed: {0}")]
    Encoding(String),
}

/// Why a JWS was refused. Everything except [`JwsError::Verification`] is about the token's
/// form; a signature that does not verify is always the one opaque `Verification`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwsError {
    /// Not three base64url segments, bad base64, bad JSON, missing or ill-typed fields.
    #[error("malformed JWS: {0}")]
    Malformed(&'static str),
    /// The header says `alg: none` (or another unsigned form).
    #[error("unsigned JWS (alg none) refused")]
    Unsigned,
    /// The header's `alg` is not the algorithm the caller expects.
    #[error("JWS alg {got} does not match the expected {expected}")]
    AlgorithmMismatch {
        /// The header's algorithm.
        got: String,
        /// What the caller expected.
        expected: Algorithm,
    },
    /// The signature does not verify.
    #[error("signature verification failed")]
    Verification,
    /// The claims' `exp` is in the past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// The claims' `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
}

impl From<UnknownAlgorithm> for Error {
    fn from(e: UnknownAlgorithm) -> Self {
        Error::UnknownAlgorithm(e.0)
    }
}
