//! `/api/v2/clients/{client_id}/credentials[/{credential_id}]` (CONTRACT.md §1).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use keyward_crypto::{Certificate, KeyKind, PemBlock, PublicKey};
use serde_json::Value;

use super::{object, only, opt_bool, opt_str, scopes};
use crate::envelope::{ApiError, json_response, no_content};
use crate::shared::Shared;
use crate::state::{Client, Credential, Tenant};
use crate::util::{base58_id, normalise_timestamp, now_timestamp};

/// Longest PEM accepted.
const MAX_PEM: usize = 16 * 1024;

fn client<'a>(t: &'a Tenant, id: &str) -> Result<&'a Client, ApiError> {
    t.clients.get(id).ok_or_else(ApiError::client_not_found)
}

fn client_mut<'a>(t: &'a mut Tenant, id: &str) -> Result<&'a mut Client, ApiError> {
    t.clients.get_mut(id).ok_or_else(ApiError::client_not_found)
}

pub(crate) async fn list(
    State(s): State<Arc<Shared>>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    scopes(&s, &headers)?.require_any(&["read:client_credentials"])?;
    let t = s.tenant();
    let list: Vec<Value> = client(&t, &client_id)?.credentials.iter().map(Credential::to_json).collect();
    Ok(json_response(StatusCode::OK, &Value::Array(list)))
}

pub(crate) async fn get_one(
    State(s): State<Arc<Shared>>,
    Path((client_id, credential_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    scopes(&s, &headers)?.require_any(&["read:client_credentials"])?;
    let t = s.tenant();
    let c = client(&t, &client_id)?;
    let cred = c.credentials.iter().find(|c| c.id == credential_id).ok_or_else(ApiError::credential_not_found)?;
    Ok(json_response(StatusCode::OK, &cred.to_json()))
}

pub(crate) async fn create(
    State(s): State<Arc<Shared>>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    scopes(&s, &headers)?.require_any(&["create:client_credentials"])?;
    let body = object(&body, false)?;
    only(
        &body,
        &["credential_type", "name", "subject_dn", "pem", "alg", "parse_expiry_from_cert", "expires_at", "kid"],
    )?;
    let credential_type = opt_str(&body, "credential_type")?
        .ok_or_else(|| ApiError::invalid_body("Missing required property: credential_type", ""))?;
    if !["public_key", "cert_subject_dn", "x509_cert"].contains(&credential_type.as_str()) {
        return Err(ApiError::invalid_body(&format!("No enum match for: \"{credential_type}\""), "credential_type"));
    }
    if credential_type != "public_key" {
        return Err(ApiError::bad_request(format!(
            "credential_type {credential_type} is not supported by this emulator"
        )));
    }
    let name = opt_str(&body, "name")?;
    if name.as_ref().is_some_and(|n| n.chars().count() > 128) {
        return Err(ApiError::invalid_body("String is too long, maximum 128", "name"));
    }
    if body.contains_key("subject_dn") {
        return Err(ApiError::bad_request("subject_dn cannot be used with credential_type public_key"));
    }
    let pem = opt_str(&body, "pem")?.ok_or_else(|| ApiError::invalid_body("Missing required property: pem", ""))?;
    if pem.len() > MAX_PEM {
        return Err(ApiError::invalid_body(
            &format!("String is too long ({} chars), maximum {MAX_PEM}", pem.len()),
            "pem",
        ));
    }
    let alg = opt_str(&body, "alg")?.unwrap_or_else(|| "RS256".into());
    if !["RS256", "RS384", "PS256"].contains(&alg.as_str()) {
        return Err(ApiError::invalid_body(&format!("No enum match for: \"{alg}\""), "alg"));
    }
    let parse_expiry = opt_bool(&body, "parse_expiry_from_cert")?.unwrap_or(false);
    let expires_at = match opt_str(&body, "expires_at")? {
        None => None,
        Some(e) => Some(normalise_timestamp(&e).ok_or_else(|| {
            ApiError::invalid_body(&format!("Object didn't pass validation for format date-time: {e}"), "expires_at")
        })?),
    };
    if parse_expiry && expires_at.is_some() {
        return Err(ApiError::bad_request("parse_expiry_from_cert and expires_at cannot be used together"));
    }
    let kid = opt_str(&body, "kid")?;
    if let Some(k) = &kid
        && (!(10..=64).contains(&k.len()) || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        return Err(ApiError::invalid_body(
            &format!("String does not match pattern ^([0-9a-zA-Z-_]{{10,64}})$: {k}"),
            "kid",
        ));
    }

    let (public, cert_expiry) = parse_public_key(&pem)?;
    let expires_at = if parse_expiry {
        Some(cert_expiry.ok_or_else(|| ApiError::bad_request("parse_expiry_from_cert requires a certificate PEM"))?)
    } else {
        expires_at
    };
    let spki = public.to_spki_pem().map_err(|_| ApiError::bad_request("Invalid PEM"))?;
    let kid = match kid {
        Some(k) => k,
        None => public.thumbprint().map_err(|_| ApiError::bad_request("Invalid PEM"))?,
    };

    let cred = s.update(|t| {
        let pool = t.limits.pool;
        let c = client_mut(t, &client_id)?;
        if c.credentials.iter().any(|existing| existing.public_key_pem == spki) {
            return Err(ApiError::bad_request("credentials contains public keys that already exist in client"));
        }
        if c.credentials.len() >= pool {
            return Err(ApiError::bad_request(format!("A client can have a maximum of {pool} credentials.")));
        }
        let now = now_timestamp();
        let cred = Credential {
            id: base58_id("cred_", 22),
            name,
            kid,
            alg,
            credential_type,
            public_key_pem: spki,
            created_at: now.clone(),
            updated_at: now,
            expires_at,
        };
        c.credentials.push(cred.clone());
        Ok::<_, ApiError>(cred)
    })?;
    Ok(json_response(StatusCode::CREATED, &cred.to_json()))
}

/// The RSA public key of a SPKI, PKCS#1 or certificate PEM (2048–4096 bits), and the
/// certificate's notAfter when it is one.
fn parse_public_key(pem: &str) -> Result<(PublicKey, Option<String>), ApiError> {
    let block = PemBlock::find(pem, &["PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE"])
        .map_err(|_| ApiError::bad_request("Invalid PEM: expected a public key or an X.509 certificate"))?;
    let (key, expiry) = if block.label == "CERTIFICATE" {
        let cert = Certificate::from_der(&block.der).map_err(|_| ApiError::bad_request("Invalid certificate"))?;
        let not_after = crate::util::timestamp(time::OffsetDateTime::from(cert.not_after()));
        (cert.public_key(), Some(not_after))
    } else {
        (PublicKey::from_pem(pem), None)
    };
    let key = key.map_err(|e| match e {
        keyward_crypto::Error::UnsupportedKeyType(_) => ApiError::bad_request("The public key must be an RSA key"),
        _ => ApiError::bad_request("Invalid PEM: the public key could not be parsed"),
    })?;
    match key.kind() {
        KeyKind::Rsa { bits } if (2048..=4096).contains(&bits) => Ok((key, expiry)),
        KeyKind::Rsa { bits } => {
            Err(ApiError::bad_request(format!("RSA key size must be between 2048 and 4096 bits, got {bits}")))
        }
        _ => Err(ApiError::bad_request("The public key must be an RSA key")),
    }
}

pub(crate) async fn patch(
    State(s): State<Arc<Shared>>,
    Path((client_id, credential_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    scopes(&s, &headers)?.require_any(&["update:client_credentials"])?;
    let body = object(&body, false)?;
    only(&body, &["expires_at"])?;
    let expires_at = match body.get("expires_at") {
        None => return Err(ApiError::invalid_body("Too few properties defined (0), minimum 1", "")),
        Some(Value::Null) => None,
        Some(Value::String(e)) => Some(normalise_timestamp(e).ok_or_else(|| {
            ApiError::invalid_body(&format!("Object didn't pass validation for format date-time: {e}"), "expires_at")
        })?),
        Some(other) => return Err(super::wrong_type("string,null", other, "expires_at")),
    };
    let cred = s.update(|t| {
        let c = client_mut(t, &client_id)?;
        let cred =
            c.credentials.iter_mut().find(|c| c.id == credential_id).ok_or_else(ApiError::credential_not_found)?;
        cred.expires_at = expires_at;
        cred.updated_at = now_timestamp();
        Ok::<_, ApiError>(cred.clone())
    })?;
    Ok(json_response(StatusCode::OK, &cred.to_json()))
}

pub(crate) async fn delete(
    State(s): State<Arc<Shared>>,
    Path((client_id, credential_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    scopes(&s, &headers)?.require_any(&["delete:client_credentials"])?;
    s.update(|t| {
        let c = client_mut(t, &client_id)?;
        if c.attached_ids().contains(&credential_id.as_str()) {
            return Err(ApiError::bad_request("Cannot delete credential still associated with a client"));
        }
        // Deleting a credential that is already gone answers 204, as Auth0 did (CONTRACT §10).
        c.credentials.retain(|cr| cr.id != credential_id);
        Ok::<_, ApiError>(())
    })?;
    Ok(no_content())
}
