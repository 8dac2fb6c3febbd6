//! The emulated Auth0 endpoints.

pub(crate) mod clients;
pub(crate) mod connections;
pub(crate) mod credentials;
pub(crate) mod query;
pub(crate) mod signing_keys;
pub(crate) mod token;
pub(crate) mod wellknown;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use serde_json::{Map, Value};

use crate::auth::{Issuer, Scopes};
use crate::envelope::ApiError;
use crate::shared::Shared;

/// The caller's scopes, from its bearer token.
pub(crate) fn scopes(shared: &Shared, headers: &HeaderMap) -> Result<Scopes, ApiError> {
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    // The keys are looked up under the tenant lock; the signature is checked outside it.
    let (domain, keys) = {
        let t = shared.tenant();
        (t.domain.clone(), shared.issuer.verification_keys(&t.signing_keys))
    };
    Issuer::check_management(&keys, &domain, auth).map(Scopes)
}

/// A JSON object body. `allow_empty`: an empty body (or `null`) is an empty object.
pub(crate) fn object(body: &Bytes, allow_empty: bool) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) && allow_empty {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(Value::Null) if allow_empty => Ok(Map::new()),
        Ok(other) => {
            Err(ApiError::invalid_body(&format!("Expected type object but found type {}", type_name(&other)), ""))
        }
        Err(_) => Err(ApiError::new(axum::http::StatusCode::BAD_REQUEST, "Invalid request payload JSON format", None)),
    }
}

/// Refuses members outside `allowed` (`additionalProperties: false`).
pub(crate) fn only(map: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    let extra: Vec<&str> = map.keys().map(String::as_str).filter(|k| !allowed.contains(k)).collect();
    if extra.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_body(&format!("Additional properties not allowed: {}", extra.join(",")), ""))
    }
}

/// An optional string member; present-but-not-a-string (null included) is refused.
pub(crate) fn opt_str(map: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong_type("string", other, key)),
    }
}

/// An optional boolean member.
pub(crate) fn opt_bool(map: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong_type("boolean", other, key)),
    }
}

pub(crate) fn wrong_type(expected: &str, found: &Value, property: &str) -> ApiError {
    ApiError::invalid_body(&format!("Expected type {expected} but found type {}", type_name(found)), property)
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
