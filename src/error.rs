//! The `keyward` crate's one error type.

use std::path::PathBuf;

use keyward_proto::code_name;

/// What can go wrong in keyward's commands and service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A crypto-core failure (bad key, unknown algorithm, bad signature, ...).
    #[error(transparent)]
    Crypto(#[from] keyward_crypto::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file that holds a private key would be overwritten.
    #[error("{0} already exists; pass --force to overwrite it")]
    WouldOverwrite(PathBuf),
    /// A command-line value that parsed but makes no sense.
    #[error("{flag}: {reason}")]
    InvalidArgument {
        /// The flag or argument.
        flag: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A KEK that is not 32 bytes of base64 or hex (the message never contains key material).
    #[error("KEK: {0}")]
    Kek(String),
    /// A sealed private key could not be opened: wrong KEK, moved or tampered ciphertext.
    #[error("a sealed private key could not be opened")]
    Seal,
    /// The database failed or could not be reached.
    #[error("database: {0}")]
    Database(String),
    /// A concurrent writer changed the record first.
    #[error("conflict: {0}")]
    Conflict(String),
    /// This replica's lease on a piece of leased work passed to another replica (it paused or
    /// stalled past the lease); the step was abandoned without side effects.
    #[error("{rotation} is now driven by another replica; this replica's step was abandoned")]
    LeaseLost {
        /// The leased work whose lease was lost (`rotation rot_…`, `revocation rev_…`).
        rotation: String,
    },
    /// The record does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A stored value that does not parse.
    #[error("corrupt store value: {0}")]
    Corrupt(String),
    /// Configuration problems, all of them.
    #[error("configuration: {}", .0.join("; "))]
    Config(Vec<String>),
    /// Auth0 answered with an error, or could not be reached.
    #[error("Auth0: {0}")]
    Auth0(#[from] keyward_auth0::Error),
    /// The request cannot proceed as things stand (Auth0 slots full of unmanaged credentials,
    /// a retiring key with live assertions, ...).
    #[error("{0}")]
    FailedPrecondition(String),
    /// Another operation holds the resource (an open rotation of the same client).
    #[error("{0}")]
    Aborted(String),
    /// Auth0 is unreachable or rate-limited; the operation stays resumable.
    #[error("{0}")]
    Unavailable(String),
    /// The caller is authenticated but not allowed to do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// Too much work queued (the signing pool is full); retry with backoff.
    #[error("{0}")]
    Overloaded(String),
    /// A keyward server refused a client command.
    #[error("{}: {message}", code_name(*.code))]
    Rpc {
        /// The gRPC status code.
        code: tonic::Code,
        /// The server's message.
        message: String,
    },
    /// Writing JSON output failed.
    #[error("encoding output: {0}")]
    Output(String),
}

impl Error {
    /// The process exit code for this error: 64 (EX_USAGE) for bad arguments and configuration
    /// (a server's INVALID_ARGUMENT included), 69 (EX_UNAVAILABLE) when a server cannot be
    /// reached, 77 (EX_NOPERM) for a refused token, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::InvalidArgument { .. } | Error::Config(_) => 64,
            Error::Rpc { code: tonic::Code::InvalidArgument, .. } => 64,
            Error::Rpc { code: tonic::Code::Unavailable, .. } => 69,
            Error::Rpc { code: tonic::Code::Unauthenticated | tonic::Code::PermissionDenied, .. } => 77,
            Error::Rpc { .. } => 1,
            Error::Crypto(_)
            | Error::Io { .. }
            | Error::WouldOverwrite(_)
            | Error::Output(_)
            | Error::Kek(_)
            | Error::Seal
            | Error::Database(_)
            | Error::Conflict(_)
            | Error::LeaseLost { .. }
            | Error::NotFound(_)
            | Error::Corrupt(_)
            | Error::Auth0(_)
            | Error::FailedPrecondition(_)
            | Error::Aborted(_)
            | Error::PermissionDenied(_)
            | Error::Overloaded(_) => 1,
            Error::Unavailable(_) => 69,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub(crate) fn database(e: sqlx::Error) -> Self {
        Error::Database(e.to_string())
    }

    pub(crate) fn arg(flag: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument { flag, reason: reason.into() }
    }
}

impl From<tonic::Status> for Error {
    fn from(s: tonic::Status) -> Self {
        Error::Rpc { code: s.code(), message: s.message().to_owned() }
    }
}

impl From<keyward_crypto::UnknownAlgorithm> for Error {
    fn from(e: keyward_crypto::UnknownAlgorithm) -> Self {
        Error::Crypto(e.into())
    }
}
