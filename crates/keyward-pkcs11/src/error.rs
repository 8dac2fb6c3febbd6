//! The crate's one error type, and how PKCS#11 return values map onto it.

use std::path::PathBuf;

use cryptoki::error::{Error as CkError, RvError};

/// Everything that can go wrong talking to the token.
///
/// Messages never include the PIN or key material: the PIN is never an argument of any
/// variant, and a failed decryption is one opaque [`Error::Decrypt`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The PKCS#11 module could not be loaded or initialised.
    #[error("PKCS#11 module {path}: {source}")]
    Module {
        /// The module's path as configured.
        path: PathBuf,
        /// Why loading or `C_Initialize` failed.
        source: CkError,
    },
    /// No slot holds a token with this label.
    #[error("no PKCS#11 token labelled {label:?}")]
    TokenNotFound {
        /// The label looked for.
        label: String,
    },
    /// Logging in as the user failed (wrong PIN, PIN locked, ...). Never carries the PIN.
    #[error("PKCS#11 login to token {label:?} failed: {reason}")]
    Login {
        /// The token's label.
        label: String,
        /// The return value's name (e.g. `PinIncorrect`).
        reason: String,
    },
    /// The token is gone or not usable right now (removed, sessions closed, device error, ...);
    /// the pool reconnects by itself when it comes back.
    #[error("PKCS#11 token unavailable during {op}: {rv}")]
    Unavailable {
        /// The operation that found out.
        op: &'static str,
        /// The return value's name, or why reconnecting failed.
        rv: String,
    },
    /// Every session is in use and none became free within the wait.
    #[error("all {sessions} PKCS#11 sessions busy for {waited_ms} ms")]
    Busy {
        /// The pool's size.
        sessions: usize,
        /// How long the caller waited.
        waited_ms: u128,
    },
    /// An object with this label already exists.
    #[error("a PKCS#11 object labelled {label:?} already exists")]
    AlreadyExists {
        /// The label.
        label: String,
    },
    /// No object with this label (of the needed class) exists.
    #[error("no PKCS#11 key labelled {label:?}")]
    KeyNotFound {
        /// The label.
        label: String,
    },
    /// AES-GCM decryption failed: wrong key, IV, AAD, or tampered ciphertext or tag. Opaque.
    #[error("decryption failed")]
    Decrypt,
    /// The algorithm does not fit the key.
    #[error(transparent)]
    Crypto(#[from] keyward_crypto::Error),
    /// The token returned something we cannot use (a malformed public key or signature).
    #[error("unexpected token output: {0}")]
    Malformed(&'static str),
    /// Any other PKCS#11 failure.
    #[error("PKCS#11 {op} failed: {source}")]
    Pkcs11 {
        /// The operation.
        op: &'static str,
        /// The library's error.
        source: CkError,
    },
}

impl Error {
    /// Whether the token is gone or unusable right now (readiness fails; retry later).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// Maps a library error of `op`, classifying the token-gone return values.
    pub(crate) fn from_ck(op: &'static str, e: CkError) -> Self {
        match rv_of(&e) {
            Some(rv) if is_gone(rv) => Self::Unavailable { op, rv: format!("{rv:?}") },
            _ => Self::Pkcs11 { op, source: e },
        }
    }
}

/// The PKCS#11 return value inside a library error, if it is one.
pub(crate) fn rv_of(e: &CkError) -> Option<RvError> {
    match e {
        CkError::Pkcs11(rv, _) => Some(*rv),
        _ => None,
    }
}

/// Return values meaning the token, its slot, or our sessions or login are gone.
pub(crate) fn is_gone(rv: RvError) -> bool {
    matches!(
        rv,
        RvError::DeviceRemoved
            | RvError::TokenNotPresent
            | RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::DeviceError
            | RvError::CryptokiNotInitialized
            | RvError::UserNotLoggedIn
            | RvError::SlotIdInvalid
            | RvError::TokenNotRecognized
    )
}

/// Return values meaning a cached object handle no longer names the object.
pub(crate) fn is_stale_handle(e: &CkError) -> bool {
    matches!(rv_of(e), Some(RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid))
}
