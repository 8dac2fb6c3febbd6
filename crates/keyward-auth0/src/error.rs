//! The crate's one error type, and the one mapping from an Auth0 answer (status + body) to it.
//!
//! This file holds [`Error`]; the mapping is in `classify.rs`.

mod classify;

use std::time::Duration;

use crate::ratelimit::RateLimit;

pub(crate) use classify::{Answer, Resource, classify};

/// A boxed error from a caller-supplied component (e.g. an [`AssertionProvider`](crate::AssertionProvider)).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything a call to Auth0 can fail with. Callers act on the variant; messages are Auth0's own
/// and never contain a client secret, token or assertion.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 404 for the client (application): `inexistent_client`.
    #[error("Auth0 client not found: {message}")]
    ClientNotFound {
        /// Auth0's message.
        message: String,
    },
    /// 404 for a client credential.
    #[error("Auth0 client credential not found: {message}")]
    CredentialNotFound {
        /// Auth0's message.
        message: String,
    },
    /// 404 for a connection: `inexistent_connection`.
    #[error("Auth0 connection not found: {message}")]
    ConnectionNotFound {
        /// Auth0's message.
        message: String,
    },
    /// 404 for a tenant signing key: `Signing key not found.`
    #[error("Auth0 signing key not found: {message}")]
    SigningKeyNotFound {
        /// Auth0's message.
        message: String,
    },
    /// 404 for something else (a path Auth0 does not know).
    #[error("Auth0 resource not found: {message}")]
    NotFound {
        /// Auth0's message.
        message: String,
        /// Auth0's `errorCode`, if any.
        error_code: Option<String>,
    },
    /// A method's credential list would exceed its 2 slots: `Array is too long (3), maximum 2`.
    #[error("credential slots full: {message}")]
    SlotFull {
        /// Auth0's message.
        message: String,
    },
    /// The client already holds the most credential records: `A client can have a maximum of 4 credentials.`
    #[error("credential pool full: {message}")]
    PoolFull {
        /// Auth0's message.
        message: String,
    },
    /// The public key is already registered on this client.
    #[error("duplicate credential key: {message}")]
    DuplicateKey {
        /// Auth0's message.
        message: String,
    },
    /// The credential is still attached to an authentication method and cannot be deleted.
    #[error("credential still attached: {message}")]
    StillAttached {
        /// Auth0's message.
        message: String,
    },
    /// 409 on connection keys: `Keys have already been created for this connection.`
    #[error("conflict: {message}")]
    Conflict {
        /// Auth0's message.
        message: String,
        /// Auth0's `errorCode`, if any.
        error_code: Option<String>,
    },
    /// 403 `insufficient_scope`: the Management API token lacks a scope.
    #[error("insufficient scope: {message}")]
    InsufficientScope {
        /// Auth0's message, naming the expected scopes.
        message: String,
    },
    /// 403 from the token endpoint or the Management API other than a scope: e.g. no client grant for
    /// the audience, or a grant type not allowed for the client.
    #[error("access denied ({error_code}): {message}")]
    AccessDenied {
        /// `error` (token endpoint) or `errorCode` (Management API).
        error_code: String,
        /// Auth0's description.
        message: String,
    },
    /// 429: Auth0's rate limit. `rate_limit.reset` says when the bucket refills.
    #[error("rate limited by Auth0 (reset at {:?})", rate_limit.reset)]
    RateLimited {
        /// The `x-ratelimit-*` headers of the 429.
        rate_limit: RateLimit,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// 401: client authentication failed at the token endpoint (`invalid_client`, `access_denied`),
    /// or the Management API rejected the access token.
    #[error("unauthorized ({error_code}): {message}")]
    Unauthorized {
        /// `error` (token endpoint), `errorCode`, or `unauthorized`.
        error_code: String,
        /// Auth0's description.
        message: String,
    },
    /// 400 (or another 4xx) that is none of the typed cases: Auth0's message and errorCode.
    #[error("invalid request ({status}, {error_code:?}): {message}")]
    InvalidRequest {
        /// HTTP status.
        status: u16,
        /// Auth0's message.
        message: String,
        /// Auth0's `errorCode` (`invalid_body`, `invalid_uri`, …) or token endpoint `error`.
        error_code: Option<String>,
    },
    /// Auth0 answered 5xx or 408 to an idempotent call on every attempt (a non-idempotent call
    /// gets [`Error::UnknownOutcome`] instead).
    #[error("Auth0 unavailable ({status:?}): {message}")]
    Unavailable {
        /// HTTP status, when Auth0 answered.
        status: Option<u16>,
        /// What happened.
        message: String,
    },
    /// A non-idempotent call (create, rotate, PATCH) failed in a way that leaves its effect
    /// unknown: a timeout, a connection dropped after the request was sent, or a 5xx. The caller
    /// must reconcile (e.g. list credentials and match by kid) before trying again.
    #[error("outcome of {operation} unknown: {reason}")]
    UnknownOutcome {
        /// The operation, e.g. `create_credential`.
        operation: &'static str,
        /// Why the outcome is unknown.
        reason: String,
    },
    /// Auth0's answer could not be understood (unexpected status, unparseable body). The call
    /// itself succeeded at Auth0 if the status was 2xx: reconcile as for `UnknownOutcome`.
    #[error("unexpected answer from Auth0 ({status}): {detail}")]
    Protocol {
        /// HTTP status.
        status: u16,
        /// What was wrong.
        detail: String,
    },
    /// A paged listing did not end within the adapter's bounds (pages or items), or a page added
    /// nothing new while Auth0 claimed more: a misbehaving Auth0, or something in between, cannot
    /// make a listing loop forever or grow without limit. Nothing partial is returned.
    #[error("{operation} stopped after {pages} pages and {items} items: {reason}")]
    Pagination {
        /// The listing, e.g. `list_clients`.
        operation: &'static str,
        /// Pages fetched.
        pages: u32,
        /// Distinct items collected.
        items: usize,
        /// Which bound was hit.
        reason: &'static str,
    },
    /// The request could not be sent (connection refused, DNS, TLS), or, for an idempotent call,
    /// timed out or lost its connection on every attempt.
    #[error("transport error: {detail}")]
    Transport {
        /// What happened.
        detail: String,
        /// The underlying error.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// The caller-supplied assertion provider failed.
    #[error("client assertion could not be produced")]
    Assertion {
        /// The provider's error.
        #[source]
        source: BoxError,
    },
    /// An argument cannot be sent as given (e.g. an empty id, or `..` as a path segment).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The configuration is invalid (bad domain, base URL or CA certificate).
    #[error("invalid configuration: {0}")]
    Config(String),
}
