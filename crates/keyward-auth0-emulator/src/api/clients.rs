//! `GET` and `PATCH /api/v2/clients/{client_id}`: reading a client and attaching credentials
//! through `client_authentication_methods` (CONTRACT.md §2).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};

use super::{object, only, scopes};
use crate::app::Shared;
use crate::auth::Scopes;
use crate::envelope::{ApiError, json_response};

/// The methods a client can authenticate with by credential.
const METHODS: [&str; 3] = ["private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth"];
/// Secret-based methods a client can switch back to.
const SECRET_METHODS: [&str; 3] = ["client_secret_post", "client_secret_basic", "none"];

fn shows_keys(scopes: &Scopes) -> bool {
    ["read:client_keys", "read:client_credentials", "update:client_credentials", "update:client_keys"]
        .iter()
        .any(|s| scopes.has(s))
}

pub(crate) async fn get_client(
    State(s): State<Arc<Shared>>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let scopes = scopes(&s, &headers)?;
    scopes.require_any(&["read:clients", "read:client_keys", "read:client_credentials", "read:client_summary"])?;
    let t = s.tenant();
    let c = t.clients.get(&client_id).ok_or_else(ApiError::client_not_found)?;
    Ok(json_response(StatusCode::OK, &c.to_json(shows_keys(&scopes))))
}

/// What a PATCH asks of `client_authentication_methods`.
enum MethodsChange {
    Unchanged,
    Clear,
    Set(String, Vec<String>),
}

pub(crate) async fn patch_client(
    State(s): State<Arc<Shared>>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let scopes = scopes(&s, &headers)?;
    scopes.require_any(&["update:clients", "update:client_keys", "update:client_credentials"])?;
    let body = object(&body, false)?;
    only(
        &body,
        &["name", "description", "client_authentication_methods", "token_endpoint_auth_method", "jwt_configuration"],
    )?;
    if body.contains_key("client_authentication_methods") && !scopes.has("update:client_credentials") {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Some fields cannot be updated with the permissions granted by the bearer token scopes",
            Some("insufficient_scope"),
        ));
    }
    let slot = s.tenant().limits.slot;
    let methods = parse_methods(body.get("client_authentication_methods"), slot)?;
    let tepm = match body.get("token_endpoint_auth_method") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(m)) if SECRET_METHODS.contains(&m.as_str()) => Some(Some(m.clone())),
        Some(Value::String(m)) => {
            return Err(ApiError::invalid_body(&format!("No enum match for: \"{m}\""), "token_endpoint_auth_method"));
        }
        Some(other) => return Err(super::wrong_type("string,null", other, "token_endpoint_auth_method")),
    };
    let name = super::opt_str(&body, "name")?;
    let jwt_alg = match body.get("jwt_configuration") {
        None => None,
        Some(Value::Object(o)) => super::opt_str(o, "alg")?,
        Some(other) => return Err(super::wrong_type("object", other, "jwt_configuration")),
    };

    let client = s.update(|t| {
        let c = t.clients.get_mut(&client_id).ok_or_else(ApiError::client_not_found)?;
        if let Some(n) = name {
            c.name = n;
        }
        if let Some(a) = jwt_alg {
            c.jwt_alg = a;
        }
        match (methods, tepm) {
            (MethodsChange::Set(..), Some(Some(_))) => {
                return Err(ApiError::bad_request(
                    "The properties token_endpoint_auth_method and client_authentication_methods cannot be used together",
                ));
            }
            (MethodsChange::Set(method, ids), tepm) => {
                if c.token_endpoint_auth_method.is_some() && tepm.is_none() {
                    return Err(ApiError::bad_request(
                        "token_endpoint_auth_method must be set to null to use client_authentication_methods",
                    ));
                }
                if c.jwt_alg != "RS256" {
                    return Err(ApiError::bad_request(
                        "jwt_configuration.alg must be RS256 to use client_authentication_methods",
                    ));
                }
                for id in &ids {
                    if !c.credentials.iter().any(|cr| &cr.id == id) {
                        return Err(ApiError::invalid_body(
                            &format!("Credential {id} does not exist"),
                            &format!("client_authentication_methods.{method}.credentials"),
                        ));
                    }
                }
                c.token_endpoint_auth_method = None;
                c.auth_methods = Some(BTreeMap::from([(method, ids)]));
            }
            (MethodsChange::Clear, Some(Some(m))) => {
                c.auth_methods = None;
                c.token_endpoint_auth_method = Some(m);
            }
            (MethodsChange::Clear, _) => {
                return Err(ApiError::bad_request(
                    "client_authentication_methods and token_endpoint_auth_method cannot both be null",
                ));
            }
            (MethodsChange::Unchanged, Some(Some(m))) => {
                if c.auth_methods.is_some() {
                    return Err(ApiError::bad_request(
                        "The properties token_endpoint_auth_method and client_authentication_methods cannot be used together",
                    ));
                }
                c.token_endpoint_auth_method = Some(m);
            }
            (MethodsChange::Unchanged, Some(None)) if c.auth_methods.is_none() => {
                return Err(ApiError::bad_request(
                    "client_authentication_methods and token_endpoint_auth_method cannot both be null",
                ));
            }
            (MethodsChange::Unchanged, _) => {}
        }
        Ok::<_, ApiError>(c.clone())
    })?;
    Ok(json_response(StatusCode::OK, &client.to_json(shows_keys(&scopes))))
}

fn parse_methods(value: Option<&Value>, slot: usize) -> Result<MethodsChange, ApiError> {
    let prop = "client_authentication_methods";
    let o: &Map<String, Value> = match value {
        None => return Ok(MethodsChange::Unchanged),
        Some(Value::Null) => return Ok(MethodsChange::Clear),
        Some(Value::Object(o)) => o,
        Some(other) => return Err(super::wrong_type("object,null", other, prop)),
    };
    if o.len() != 1 {
        let detail = if o.is_empty() {
            "Too few properties defined (0), minimum 1".to_owned()
        } else {
            format!("Too many properties defined ({}), maximum 1", o.len())
        };
        return Err(ApiError::invalid_body(&detail, prop));
    }
    let Some((method, entry)) = o.iter().next() else { return Ok(MethodsChange::Unchanged) };
    if !METHODS.contains(&method.as_str()) {
        return Err(ApiError::invalid_body(&format!("Additional properties not allowed: {method}"), prop));
    }
    let path = format!("{prop}.{method}.credentials");
    let entry = match entry {
        Value::Object(e) => e,
        other => return Err(super::wrong_type("object", other, &format!("{prop}.{method}"))),
    };
    only(entry, &["credentials"])?;
    let list = match entry.get("credentials") {
        Some(Value::Array(a)) => a,
        Some(other) => return Err(super::wrong_type("array", other, &path)),
        None => {
            return Err(ApiError::invalid_body("Missing required property: credentials", &format!("{prop}.{method}")));
        }
    };
    if list.len() > slot {
        return Err(ApiError::invalid_body(&format!("Array is too long ({}), maximum {slot}", list.len()), &path));
    }
    let mut ids: Vec<String> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let Value::Object(item) = item else { return Err(super::wrong_type("object", item, &format!("{path}[{i}]"))) };
        only(item, &["id"])?;
        let id = super::opt_str(item, "id")?
            .ok_or_else(|| ApiError::invalid_body("Missing required property: id", &format!("{path}[{i}]")))?;
        if let Some(j) = ids.iter().position(|x| *x == id) {
            return Err(ApiError::invalid_body(&format!("Array items are not unique (indexes {j} and {i})"), &path));
        }
        ids.push(id);
    }
    Ok(MethodsChange::Set(method.clone(), ids))
}
