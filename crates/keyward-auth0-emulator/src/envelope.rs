//! Auth0's error bodies: the Management API envelope `{statusCode, error, message, errorCode}`
//! and the Authentication API's `{error, error_description}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// `application/json; charset=utf-8`, as Auth0 sends it.
pub(crate) const JSON: &str = "application/json; charset=utf-8";

/// The Authentication API's `/oauth/token` answers with plain `application/json` (REC-GO
/// `authentication__TestLoginWithClientCredentials__*.yaml`), unlike the Management API.
pub(crate) const OAUTH_JSON: &str = "application/json";

/// A JSON response with the Management API's content type.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    typed_json(status, body, JSON)
}

/// A JSON response with the Authentication API's content type.
pub(crate) fn oauth_json_response(status: StatusCode, body: &Value) -> Response {
    typed_json(status, body, OAUTH_JSON)
}

fn typed_json(status: StatusCode, body: &Value, content_type: &'static str) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// An empty 204, still labelled JSON as Auth0's Management API labels it (REC-GO, REC-TF).
pub(crate) fn no_content() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    resp
}

/// A Management API error.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub error_code: Option<&'static str>,
    /// 401s carry `attributes.error` instead of an errorCode.
    pub attributes: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>, error_code: Option<&'static str>) -> Self {
        Self { status, message: message.into(), error_code, attributes: false }
    }

    /// 400 payload validation (`invalid_body`), shaped like Auth0's messages.
    pub fn invalid_body(detail: &str, property: &str) -> Self {
        let message = if property.is_empty() {
            format!("Payload validation error: '{detail}'.")
        } else {
            format!("Payload validation error: '{detail}' on property {property}.")
        };
        Self::new(StatusCode::BAD_REQUEST, message, Some("invalid_body"))
    }

    /// 400 with a plain message and `invalid_body`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message, Some("invalid_body"))
    }

    pub fn client_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "The client does not exist", Some("inexistent_client"))
    }

    pub fn credential_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Credential does not exist", Some("inexistent_credential"))
    }

    pub fn connection_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "The connection does not exist", Some("inexistent_connection"))
    }

    pub fn unauthorized(message: &str) -> Self {
        Self { status: StatusCode::UNAUTHORIZED, message: message.into(), error_code: None, attributes: true }
    }

    pub fn insufficient_scope(all: bool, scopes: &[&str]) -> Self {
        let which = if all { "all" } else { "any" };
        Self::new(
            StatusCode::FORBIDDEN,
            format!("Insufficient scope, expected {which} of: {}", scopes.join(", ")),
            Some("insufficient_scope"),
        )
    }

    pub fn rate_limited() -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "Global limit has been reached", Some("too_many_requests"))
    }

    pub fn body(&self) -> Value {
        let mut v = json!({
            "statusCode": self.status.as_u16(),
            "error": self.status.canonical_reason().unwrap_or("Error"),
            "message": self.message,
        });
        if let Some(code) = self.error_code {
            v["errorCode"] = json!(code);
        }
        if self.attributes {
            v["attributes"] = json!({ "error": self.message });
        }
        v
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &self.body())
    }
}

/// An Authentication API (`/oauth/token`) error.
#[derive(Debug, Clone)]
pub(crate) struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self { status, error, description: description.into() }
    }

    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        oauth_json_response(self.status, &json!({"error": self.error, "error_description": self.description}))
    }
}
