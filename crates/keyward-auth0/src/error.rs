//! The crate's one error type, and the one mapping from an Auth0 answer (status + body) to it.

use std::time::Duration;

use serde::Deserialize;

use crate::ratelimit::RateLimit;

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

/// The Management API envelope `{statusCode, error, message, errorCode}` and the Authentication
/// API's `{error, error_description}`; every field optional so any JSON object parses.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Envelope {
    #[serde(default, rename = "statusCode")]
    _status_code: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<serde_json::Value>,
    #[serde(default, rename = "errorCode")]
    error_code: Option<serde_json::Value>,
    #[serde(default)]
    error_description: Option<serde_json::Value>,
}

fn as_text(v: &Option<serde_json::Value>) -> Option<String> {
    match v {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    }
}

/// Which resource a call is about, to tell 404s apart when Auth0's envelope does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource {
    /// `/clients/{id}` and its credential list.
    Client,
    /// `/clients/{id}/credentials/{credential_id}`.
    Credential,
    /// `/connections/{id}` and its keys.
    Connection,
    /// `/oauth/token`.
    Token,
}

/// The parsed error answer: the fields the mapping needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub status: u16,
    /// `errorCode` (Management) or `error` (Authentication API, or Management when no errorCode).
    pub code: Option<String>,
    pub message: String,
}

impl Answer {
    /// Parses an error body; a body that is not a JSON object keeps its (truncated) text as message.
    pub fn parse(status: u16, body: &[u8]) -> Self {
        match serde_json::from_slice::<Envelope>(body) {
            Ok(env) => {
                let management = env.error_code.is_some() || env.message.is_some();
                let (code, message) = if management {
                    (as_text(&env.error_code), as_text(&env.message).unwrap_or_default())
                } else {
                    (as_text(&env.error), as_text(&env.error_description).unwrap_or_default())
                };
                Self { status, code, message }
            }
            Err(_) => Self { status, code: None, message: truncate(&String::from_utf8_lossy(body), 200) },
        }
    }
}

/// Shortens `s` to at most `max` bytes on a char boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

const SLOT_FULL: &str = "Array is too long";
const POOL_FULL: &str = "A client can have a maximum of";
const DUPLICATE_KEY: &str = "credentials contains public keys that already exist in client";
const STILL_ATTACHED: &str = "Cannot delete credential still associated with a client";

/// The one mapping from an Auth0 error answer (not 2xx) to [`Error`]. `rate_limit` is the
/// answer's `x-ratelimit-*` headers; `retry_after` its parsed `Retry-After`.
pub(crate) fn classify(
    resource: Resource,
    answer: Answer,
    rate_limit: RateLimit,
    retry_after: Option<Duration>,
) -> Error {
    let Answer { status, code, message } = answer;
    let code_is = |c: &str| code.as_deref() == Some(c);
    match status {
        429 => Error::RateLimited { rate_limit, retry_after },
        401 => Error::Unauthorized { error_code: code.unwrap_or_else(|| "unauthorized".to_owned()), message },
        403 if code_is("insufficient_scope") || message.starts_with("Insufficient scope") => {
            Error::InsufficientScope { message }
        }
        403 => Error::AccessDenied { error_code: code.unwrap_or_else(|| "forbidden".to_owned()), message },
        404 => not_found(resource, code, message),
        409 => Error::Conflict { message, error_code: code },
        400 if message.contains(SLOT_FULL) => Error::SlotFull { message },
        400 if message.starts_with(POOL_FULL) => Error::PoolFull { message },
        400 if message.contains(DUPLICATE_KEY) => Error::DuplicateKey { message },
        400 if message.contains(STILL_ATTACHED) => Error::StillAttached { message },
        400 if resource == Resource::Token && (code_is("invalid_client") || code_is("access_denied")) => {
            Error::Unauthorized { error_code: code.unwrap_or_default(), message }
        }
        408 | 500..=599 => Error::Unavailable { status: Some(status), message },
        400..=499 => Error::InvalidRequest { status, message, error_code: code },
        0..=399 | 600..=u16::MAX => Error::Protocol { status, detail: format!("unexpected status: {message}") },
    }
}

fn not_found(resource: Resource, code: Option<String>, message: String) -> Error {
    let lower = message.to_ascii_lowercase();
    match code.as_deref() {
        Some("inexistent_client") => return Error::ClientNotFound { message },
        Some("inexistent_credential") => return Error::CredentialNotFound { message },
        Some("inexistent_connection") => return Error::ConnectionNotFound { message },
        _ => {}
    }
    if lower.contains("credential") {
        Error::CredentialNotFound { message }
    } else if lower.contains("client") {
        Error::ClientNotFound { message }
    } else if lower.contains("connection") {
        Error::ConnectionNotFound { message }
    } else {
        match resource {
            Resource::Client => Error::ClientNotFound { message },
            Resource::Credential => Error::CredentialNotFound { message },
            Resource::Connection => Error::ConnectionNotFound { message },
            Resource::Token => Error::NotFound { message, error_code: code },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(resource: Resource, status: u16, body: &str) -> Error {
        classify(resource, Answer::parse(status, body.as_bytes()), RateLimit::default(), None)
    }

    #[test]
    fn not_found_variants() {
        let e = map(
            Resource::Credential,
            404,
            r#"{"statusCode":404,"error":"Not Found","message":"The client does not exist","errorCode":"inexistent_client"}"#,
        );
        assert!(matches!(e, Error::ClientNotFound { ref message } if message == "The client does not exist"));
        let e = map(
            Resource::Client,
            404,
            r#"{"statusCode":404,"error":"Not Found","message":"The connection does not exist","errorCode":"inexistent_connection"}"#,
        );
        assert!(matches!(e, Error::ConnectionNotFound { .. }));
        let e = map(
            Resource::Client,
            404,
            r#"{"statusCode":404,"error":"Not Found","message":"Credential does not exist"}"#,
        );
        assert!(matches!(e, Error::CredentialNotFound { .. }));
        let e =
            map(Resource::Credential, 404, r#"{"statusCode":404,"error":"Not Found","message":"Client not found."}"#);
        assert!(matches!(e, Error::ClientNotFound { .. }));
        let e = map(
            Resource::Connection,
            404,
            r#"{"statusCode":404,"error":"Not Found","message":"Connection not found."}"#,
        );
        assert!(matches!(e, Error::ConnectionNotFound { .. }));
        // No hint in the body: the resource of the call decides.
        let e = map(Resource::Credential, 404, r#"{"statusCode":404,"error":"Not Found","message":"Not Found"}"#);
        assert!(matches!(e, Error::CredentialNotFound { .. }));
        let e = map(Resource::Token, 404, "<html>nope</html>");
        assert!(matches!(e, Error::NotFound { .. }));
    }

    #[test]
    fn limit_and_key_errors() {
        let e = map(
            Resource::Client,
            400,
            r#"{"statusCode":400,"error":"Bad Request","message":"Payload validation error: 'Array is too long (3), maximum 2' on property client_authentication_methods.private_key_jwt.credentials.","errorCode":"invalid_body"}"#,
        );
        assert!(matches!(e, Error::SlotFull { .. }));
        let e = map(
            Resource::Client,
            400,
            r#"{"statusCode":400,"error":"Bad Request","message":"A client can have a maximum of 4 credentials.","errorCode":"invalid_body"}"#,
        );
        assert!(
            matches!(e, Error::PoolFull { ref message } if message == "A client can have a maximum of 4 credentials.")
        );
        let e = map(
            Resource::Client,
            400,
            r#"{"statusCode":400,"error":"Bad Request","message":"credentials contains public keys that already exist in client","errorCode":"invalid_body"}"#,
        );
        assert!(matches!(e, Error::DuplicateKey { .. }));
        let e = map(
            Resource::Credential,
            400,
            r#"{"statusCode":400,"error":"Bad Request","message":"Cannot delete credential still associated with a client"}"#,
        );
        assert!(matches!(e, Error::StillAttached { .. }));
        let e = map(
            Resource::Connection,
            409,
            r#"{"statusCode":409,"error":"Conflict","message":"Keys have already been created for this connection."}"#,
        );
        assert!(matches!(e, Error::Conflict { .. }));
    }

    #[test]
    fn auth_errors() {
        let e = map(
            Resource::Client,
            403,
            r#"{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: read:clients, read:client_summary","errorCode":"insufficient_scope"}"#,
        );
        assert!(matches!(e, Error::InsufficientScope { ref message } if message.contains("read:client_summary")));
        let e = map(
            Resource::Client,
            401,
            r#"{"statusCode":401,"error":"Unauthorized","message":"Expired token received for JSON Web Token validation","attributes":{"error":"Expired token received for JSON Web Token validation"}}"#,
        );
        assert!(matches!(e, Error::Unauthorized { ref message, .. } if message.starts_with("Expired token")));
        let e = map(Resource::Token, 401, r#"{"error":"access_denied","error_description":"Unauthorized"}"#);
        assert!(matches!(e, Error::Unauthorized { ref error_code, .. } if error_code == "access_denied"));
        let e = map(
            Resource::Token,
            401,
            r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
        );
        assert!(matches!(e, Error::Unauthorized { ref error_code, .. } if error_code == "invalid_client"));
        let e = map(
            Resource::Token,
            403,
            r#"{"error":"access_denied","error_description":"Client is not authorized to access \"https://api/\". You need to create a \"client-grant\" associated to this API."}"#,
        );
        assert!(matches!(e, Error::AccessDenied { ref error_code, .. } if error_code == "access_denied"));
        let e = map(
            Resource::Token,
            403,
            r#"{"error":"unauthorized_client","error_description":"Grant type 'client_credentials' not allowed for the client.","error_uri":"https://auth0.com/docs/clients/client-grant-types"}"#,
        );
        assert!(matches!(e, Error::AccessDenied { ref error_code, .. } if error_code == "unauthorized_client"));
    }

    #[test]
    fn rate_limit_invalid_unavailable_protocol() {
        let e = map(
            Resource::Client,
            429,
            r#"{"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"}"#,
        );
        assert!(matches!(e, Error::RateLimited { .. }));
        let e = map(
            Resource::Client,
            400,
            r#"{"statusCode":400,"error":"Bad Request","message":"Path validation error: 'String is too long' on property id.","errorCode":"invalid_uri"}"#,
        );
        assert!(
            matches!(e, Error::InvalidRequest { status: 400, ref error_code, .. } if error_code.as_deref() == Some("invalid_uri"))
        );
        let e = map(
            Resource::Token,
            400,
            r#"{"error":"invalid_request","error_description":"Missing required parameter: audience"}"#,
        );
        assert!(
            matches!(e, Error::InvalidRequest { ref error_code, ref message, .. } if error_code.as_deref() == Some("invalid_request") && message.contains("audience"))
        );
        let e = map(Resource::Client, 503, "Service Unavailable");
        assert!(matches!(e, Error::Unavailable { status: Some(503), .. }));
        let e = map(Resource::Client, 408, "");
        assert!(matches!(e, Error::Unavailable { status: Some(408), .. }));
        let e = map(Resource::Client, 302, "");
        assert!(matches!(e, Error::Protocol { status: 302, .. }));
    }

    #[test]
    fn odd_bodies_do_not_panic() {
        for body in ["", "null", "[]", "42", "{\"message\":7}", "\u{0}\u{ff}", "{\"errorCode\":null}"] {
            let _ = map(Resource::Client, 400, body);
        }
        let long = "é".repeat(500);
        let a = Answer::parse(500, long.as_bytes());
        assert!(a.message.len() <= 204);
    }
}
