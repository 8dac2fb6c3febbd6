//! `/.well-known/jwks.json` and `/.well-known/openid-configuration` of the tenant.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::auth::Issuer;
use crate::envelope::{ApiError, json_response};
use crate::shared::Shared;

/// The tenant's signing keys that verify tokens: current, next, and previous until it is revoked.
pub(crate) async fn jwks(State(s): State<Arc<Shared>>) -> Result<Response, ApiError> {
    let keys = s.tenant().signing_keys.clone();
    let jwks = Issuer::jwks(&keys).map_err(|e| {
        tracing::error!("publishing the JWKS: {e}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", None)
    })?;
    Ok(json_response(StatusCode::OK, &jwks))
}

pub(crate) async fn openid_configuration(State(s): State<Arc<Shared>>) -> Response {
    let d = s.tenant().domain.clone();
    json_response(
        StatusCode::OK,
        &json!({
            "issuer": format!("https://{d}/"),
            "authorization_endpoint": format!("https://{d}/authorize"),
            "token_endpoint": format!("https://{d}/oauth/token"),
            "jwks_uri": format!("https://{d}/.well-known/jwks.json"),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS384", "PS256"],
            "id_token_signing_alg_values_supported": ["HS256", "RS256", "PS256"],
            "response_types_supported": ["code", "token", "id_token"],
            "subject_types_supported": ["public"],
        }),
    )
}
