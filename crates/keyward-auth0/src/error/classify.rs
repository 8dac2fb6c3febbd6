//! The one mapping from an Auth0 error answer (status + body) to [`Error`]: the envelope parsed
//! into an [`Answer`], then classified by status, message and the [`Resource`] called.

use std::time::Duration;

use serde::Deserialize;

use super::Error;
use crate::ratelimit::RateLimit;

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
    /// `/keys/signing[/{kid}[/revoke]]`: the tenant's signing keys.
    SigningKey,
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
    if lower.contains("signing key") {
        Error::SigningKeyNotFound { message }
    } else if lower.contains("credential") {
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
            Resource::SigningKey => Error::SigningKeyNotFound { message },
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
        let e = map(
            Resource::SigningKey,
            404,
            r#"{"statusCode":404,"error":"Not Found","message":"Signing key not found."}"#,
        );
        assert!(matches!(e, Error::SigningKeyNotFound { ref message } if message == "Signing key not found."));
        let e = map(Resource::SigningKey, 404, r#"{"statusCode":404,"error":"Not Found","message":"Not Found"}"#);
        assert!(matches!(e, Error::SigningKeyNotFound { .. }));
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
