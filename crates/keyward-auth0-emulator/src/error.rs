//! The emulator crate's one error type (start-up, seed and state-file failures).

use std::path::PathBuf;

/// What can stop the emulator from starting or saving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The seed document is not valid.
    #[error("seed: {0}")]
    Seed(String),
    /// The state file could not be read, parsed or written.
    #[error("state file {path}: {reason}")]
    StateFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Binding, TLS set-up or another I/O failure.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Key or certificate generation failed.
    #[error(transparent)]
    Crypto(#[from] keyward_crypto::Error),
    /// The tenant's signing keys are not usable (a state file edited by hand).
    #[error("signing key: {0}")]
    SigningKey(String),
    /// The TLS configuration could not be built.
    #[error("TLS: {0}")]
    Tls(String),
}
