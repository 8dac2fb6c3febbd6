//! The `keyward` crate's one error type: what the service and the library fail with. The command
//! line wraps it in its own `cli::CliError`; gRPC callers see it through `grpc::status`.

use std::path::PathBuf;

/// What can go wrong in keyward's service and library. Every variant reaches a gRPC caller through
/// the one exhaustive mapping in `grpc::status`, and a command-line user through
/// `cli::CliError::exit_code`.
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
    /// A value that parsed but makes no sense: a request field, a flag or a configuration value.
    /// The caller sees `field: reason`.
    #[error("{flag}: {reason}")]
    InvalidArgument {
        /// The request field, flag or argument (`flag` for history: tests and callers match on
        /// it).
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
    Database(#[source] sqlx::Error),
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
    /// Auth0 does not know the client or connection a caller named; the message names the
    /// caller's field and value, since Auth0's own message does not. Made by `Error::naming`.
    #[error("{field} {value:?}: {source}")]
    UnknownAtAuth0 {
        /// The request field that named it (`client_id`, `connection_id`).
        field: &'static str,
        /// The value the caller sent.
        value: String,
        /// Auth0's answer (`ClientNotFound` or `ConnectionNotFound`).
        #[source]
        source: keyward_auth0::Error,
    },
    /// Auth0 failed a token exchange made for a caller (`GetAccessToken`): its refusals are the
    /// caller's, not keyward's, so they map differently from [`Error::Auth0`].
    #[error("token exchange: Auth0: {0}")]
    TokenExchange(#[source] keyward_auth0::Error),
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
    /// The operating system or a component refused keyward something it needs to serve (a
    /// socket, a thread, the server loop, the emulator); like [`Error::Unavailable`], a retry or
    /// a restart may succeed. Made by `Error::resource`.
    #[error("{what}: {source}")]
    Resource {
        /// What keyward needed (`signing pool`, `gRPC server`, ...).
        what: &'static str,
        /// Why it could not have it.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The caller is authenticated but not allowed to do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// Too much work queued (the signing pool is full); retry with backoff.
    #[error("{0}")]
    Overloaded(String),
    /// A value keyward builds could not be encoded to JSON (rotation parameters, a JWKS).
    #[error("encoding {what}: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The PKCS#11 token that holds the KEK or signing keys failed, or is gone for now
    /// ([`Error::custody_unavailable`] tells which). Never carries the PIN.
    #[error("custody backend pkcs11: {0}")]
    Custody(#[source] keyward_pkcs11::Error),
    /// The gRPC reflection service could not be built from the descriptor sets.
    #[error("reflection: {0}")]
    Reflection(#[source] tonic_reflection::server::Error),
}

impl Error {
    /// Whether this is the custody token being away or busy for now (retry later), rather than
    /// a failure that retrying does not fix.
    pub fn custody_unavailable(&self) -> bool {
        matches!(self, Error::Custody(c) if c.is_unavailable() || matches!(c, keyward_pkcs11::Error::Busy { .. }))
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// A database failure, its `sqlx` error kept as the source.
    pub(crate) fn database(e: sqlx::Error) -> Self {
        Error::Database(e)
    }

    /// A failure to get `what`, something keyward needs to serve ([`Error::Resource`]).
    pub(crate) fn resource<E>(what: &'static str) -> impl FnOnce(E) -> Self
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        move |e| Error::Resource { what, source: e.into() }
    }

    /// An encoding failure of `what`.
    pub(crate) fn encode(what: &'static str) -> impl FnOnce(serde_json::Error) -> Self {
        move |source| Error::Encode { what, source }
    }

    /// This error, with Auth0's "no such client/connection" naming the caller's `field` and
    /// `value` ([`Error::UnknownAtAuth0`]); any other error is returned unchanged.
    pub(crate) fn naming(self, field: &'static str, value: &str) -> Self {
        use keyward_auth0::Error as Auth0;
        match self {
            Error::Auth0(
                source @ (Auth0::ClientNotFound { .. }
                | Auth0::ConnectionNotFound { .. }
                | Auth0::SigningKeyNotFound { .. }),
            ) => Error::UnknownAtAuth0 { field, value: value.to_owned(), source },
            other => other,
        }
    }

    /// This error, with an Auth0 failure marked as the failure of a caller's token exchange
    /// ([`Error::TokenExchange`]); any other error is returned unchanged.
    pub(crate) fn in_token_exchange(self) -> Self {
        match self {
            Error::Auth0(a) => Error::TokenExchange(a),
            other => other,
        }
    }

    pub(crate) fn arg(flag: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument { flag, reason: reason.into() }
    }
}

impl From<keyward_crypto::UnknownAlgorithm> for Error {
    fn from(e: keyward_crypto::UnknownAlgorithm) -> Self {
        Error::Crypto(e.into())
    }
}
