//! `/api/v2/keys/signing`: list, get, rotate and revoke the tenant's signing keys
//! (CONTRACT.md §4).
//!
//! Where the contract is silent:
//! - Rotate answers the new **next** key (the OAS calls its members "Next key certificate" and
//!   "Next key id"), as the whole `SigningKeys` object: go-auth0's recording (TestSigningKey__Rotate)
//!   shows a whole object and the OAS schema (`cert`, `kid` required, additional properties
//!   allowed) admits it. Revoke answers the revoked key the same way, `revoked_at` included
//!   (TestSigningKey__Revoke).
//! - Revoking a key that is not the previous one is a 400 in the Management error envelope,
//!   message `Only the previous signing key can be revoked.` (Auth0's wording and errorCode are
//!   unrecorded, so no errorCode is sent); an unknown kid is 404 `Signing key not found.`.
//! - Rotation has its own bucket, 5 a day with a burst of 5 on every plan (CONTRACT.md §7.2),
//!   checked after the tenant-wide one; its `x-ratelimit-*` headers are the ones sent.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::scopes;
use crate::envelope::{ApiError, json_response};
use crate::shared::Shared;
use crate::state::{RevokeError, SigningKey};

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Signing key not found.", None)
}

/// `GET /api/v2/keys/signing`.
pub(crate) async fn list(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Result<Response, ApiError> {
    scopes(&s, &headers)?.require_any(&["read:signing_keys"])?;
    let keys: Vec<Value> = s.tenant().signing_keys.0.iter().map(SigningKey::to_json).collect();
    Ok(json_response(StatusCode::OK, &Value::Array(keys)))
}

/// `GET /api/v2/keys/signing/{kid}`.
pub(crate) async fn get_one(
    State(s): State<Arc<Shared>>,
    Path(kid): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    scopes(&s, &headers)?.require_any(&["read:signing_keys"])?;
    let t = s.tenant();
    let key = t.signing_keys.get(&kid).ok_or_else(not_found)?;
    Ok(json_response(StatusCode::OK, &key.to_json()))
}

/// `POST /api/v2/keys/signing/rotate`: 201 with the new next key. Any body is ignored (the OAS
/// defines none; go-auth0 sends `null`).
pub(crate) async fn rotate(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Result<Response, ApiError> {
    scopes(&s, &headers)?.require_all(&["create:signing_keys", "update:signing_keys"])?;
    let (allowed, limit) = s.runtime().signing_key_rotations.take();
    if !allowed {
        let mut resp = ApiError::rate_limited().into_response();
        limit.apply(&mut resp);
        return Ok(resp);
    }
    let key = s.update(|t| {
        let domain = t.domain.clone();
        t.signing_keys.rotate(&domain).map_err(|e| {
            tracing::error!("signing key generation: {e}");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", None)
        })
    })?;
    let mut resp = json_response(StatusCode::CREATED, &key.to_json());
    limit.apply(&mut resp);
    Ok(resp)
}

/// `PUT /api/v2/keys/signing/{kid}/revoke`: 200 with the revoked key; only the previous key.
pub(crate) async fn revoke(
    State(s): State<Arc<Shared>>,
    Path(kid): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    scopes(&s, &headers)?.require_any(&["update:signing_keys"])?;
    let key = s.update(|t| {
        t.signing_keys.revoke(&kid).map_err(|e| match e {
            RevokeError::NotFound => not_found(),
            RevokeError::NotPrevious => {
                ApiError::new(StatusCode::BAD_REQUEST, "Only the previous signing key can be revoked.", None)
            }
        })
    })?;
    Ok(json_response(StatusCode::OK, &key.to_json()))
}
