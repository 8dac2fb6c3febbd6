//! `/api/v2/connections/{id}` and its keys: get, create, rotate (CONTRACT.md §3).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use keyward_crypto::Algorithm;
use serde_json::{Value, json};

use super::{object, only, opt_str, scopes};
use crate::envelope::{ApiError, json_response};
use crate::shared::Shared;
use crate::state::{Connection, ConnectionKey};

pub(crate) async fn get_connection(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    scopes(&s, &headers)?.require_any(&["read:connections"])?;
    let t = s.tenant();
    let c = t.connections.get(&id).ok_or_else(ApiError::connection_not_found)?;
    let body = json!({"id": c.id, "name": c.name, "strategy": c.strategy, "options": c.options, "enabled_clients": [], "realms": [c.name]});
    Ok(json_response(StatusCode::OK, &body))
}

pub(crate) async fn get_keys(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    scopes(&s, &headers)?.require_any(&["read:connections_keys"])?;
    let t = s.tenant();
    let c = t.connections.get(&id).ok_or_else(ApiError::connection_not_found)?;
    if !c.can_hold_keys() {
        return Err(ApiError::bad_request("keys are not available for this connection"));
    }
    Ok(json_response(StatusCode::OK, &Value::Array(c.keys.iter().map(ConnectionKey::to_json).collect())))
}

/// The optional `{"signing_alg": …}` body of create and rotate.
fn signing_alg(body: &Bytes) -> Result<Option<Algorithm>, ApiError> {
    let o = object(body, true)?;
    only(&o, &["signing_alg"])?;
    opt_str(&o, "signing_alg")?
        .map(|a| a.parse().map_err(|_| ApiError::invalid_body(&format!("No enum match for: \"{a}\""), "signing_alg")))
        .transpose()
}

fn connection_mut<'a>(t: &'a mut crate::state::Tenant, id: &str) -> Result<&'a mut Connection, ApiError> {
    t.connections.get_mut(id).ok_or_else(ApiError::connection_not_found)
}

fn internal(e: crate::error::Error) -> ApiError {
    tracing::error!("connection key generation: {e}");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", None)
}

pub(crate) async fn create_keys(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    scopes(&s, &headers)?.require_any(&["create:connections_keys"])?;
    let alg = signing_alg(&body)?;
    let keys = s.update(|t| {
        let c = connection_mut(t, &id)?;
        if !c.can_hold_keys() {
            return Err(ApiError::bad_request("keys are not available for this connection"));
        }
        if !c.keys.is_empty() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "Keys have already been created for this connection.",
                None,
            ));
        }
        if let Some(a) = alg {
            c.options.insert("token_endpoint_auth_signing_alg".into(), json!(a.as_str()));
        }
        c.provision_keys().map_err(internal)?;
        Ok::<_, ApiError>(c.keys.clone())
    })?;
    Ok(json_response(StatusCode::CREATED, &Value::Array(keys.iter().map(ConnectionKey::to_json).collect())))
}

pub(crate) async fn rotate_keys(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    scopes(&s, &headers)?.require_all(&["create:connections_keys", "update:connections_keys"])?;
    let alg = signing_alg(&body)?;
    let key = s.update(|t| {
        let c = connection_mut(t, &id)?;
        if !c.can_hold_keys() {
            return Err(ApiError::bad_request("Key rotation is not supported on this connection"));
        }
        if !c.uses_private_key_jwt() && c.keys.is_empty() {
            return Err(ApiError::bad_request("Connection is not configured to use JWT Client Authentication"));
        }
        if c.keys.is_empty() {
            c.provision_keys().map_err(internal)?;
        }
        c.rotate_keys(alg).map_err(internal)
    })?;
    Ok(json_response(StatusCode::CREATED, &key.to_json()))
}
