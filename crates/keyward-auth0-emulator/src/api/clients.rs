//! `GET /api/v2/clients` (paginated list), `GET` and `PATCH /api/v2/clients/{client_id}`:
//! reading clients and attaching credentials through `client_authentication_methods`
//! (CONTRACT.md §2).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::query::{self, Query};
use super::{object, only, scopes};
use crate::auth::Scopes;
use crate::envelope::{ApiError, json_response};
use crate::shared::Shared;
use crate::state::{Client, SignedRequestObject, TokenVaultAccess};

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

/// The query parameters of `GET /api/v2/clients` (OAS `get_clients`).
const LIST_PARAMS: [&str; 12] = [
    "fields",
    "include_fields",
    "page",
    "per_page",
    "include_totals",
    "from",
    "take",
    "is_global",
    "is_first_party",
    "app_type",
    "external_client_id",
    "q",
];

/// `GET /api/v2/clients`: every client rendered as `GET /clients/{id}` renders it (same scopes,
/// same members), filtered by `is_global`, `is_first_party` and `app_type`, then paged by `page`
/// and `per_page` (default 50, at most 100) in client_id order, then cut to `fields`.
/// `include_totals=true` wraps the page as `{start, limit, total, clients}`: the OAS schema
/// (`ListClientsOffsetPaginatedResponseContent`, no additional properties) has no `length`, and
/// recorded offset-paginated answers of other lists carry none either. Checkpoint pagination
/// (`from`, `take`), `q` and `external_client_id` are not emulated and are refused.
pub(crate) async fn list_clients(
    State(s): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let scopes = scopes(&s, &headers)?;
    scopes.require_any(&["read:clients", "read:client_keys", "read:client_credentials", "read:client_summary"])?;
    let q = Query::parse(raw.as_deref(), &LIST_PARAMS)?;
    for unsupported in ["from", "take", "q", "external_client_id"] {
        if q.get(unsupported).is_some() {
            return Err(query::invalid("not supported by the emulator", unsupported));
        }
    }
    let page = q.integer("page", None)?.unwrap_or(0);
    let per_page = q.integer("per_page", Some(query::MAX_PER_PAGE))?.unwrap_or(query::DEFAULT_PER_PAGE);
    let include_totals = q.boolean("include_totals")?.unwrap_or(false);
    let (is_global, is_first_party) = (q.boolean("is_global")?, q.boolean("is_first_party")?);
    let app_types: Option<Vec<&str>> = q.get("app_type").map(|a| a.split(',').map(str::trim).collect());
    let fields = q.fields()?;

    let show_keys = shows_keys(&scopes);
    let matching: Vec<Value> = s
        .tenant()
        .clients
        .values()
        .map(|c| c.to_json(show_keys))
        // No emulated client is global.
        .filter(|_| is_global != Some(true))
        .filter(|c| is_first_party.is_none_or(|f| c["is_first_party"] == f))
        .filter(|c| app_types.as_ref().is_none_or(|a| a.iter().any(|t| c["app_type"] == *t)))
        .collect();
    let total = matching.len();
    let start = page.saturating_mul(per_page);
    let clients: Vec<Value> = matching.into_iter().skip(start).take(per_page).map(|c| fields.apply(c)).collect();
    let body = if include_totals {
        json!({"start": start, "limit": per_page, "total": total, "clients": clients})
    } else {
        Value::Array(clients)
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// What a PATCH asks of `client_authentication_methods`.
enum MethodsChange {
    Unchanged,
    Clear,
    Set(String, Vec<String>),
}

/// The members of `UpdateClientRequestContent` (OAS) the emulator models.
const MODELLED: [&str; 7] = [
    "name",
    "client_secret",
    "jwt_configuration",
    "token_endpoint_auth_method",
    "client_authentication_methods",
    "signed_request_object",
    "token_vault_privileged_access",
];

/// The other members of `UpdateClientRequestContent`: a PATCH may name them (Auth0's SDKs and
/// Terraform send whole client objects) and they are accepted but not kept. Anything else is
/// refused, as the OAS's `additionalProperties: false` says.
const UNMODELLED: [&str; 48] = [
    "description",
    "logo_uri",
    "callbacks",
    "oidc_logout",
    "oidc_backchannel_logout",
    "session_transfer",
    "allowed_origins",
    "web_origins",
    "grant_types",
    "client_aliases",
    "allowed_clients",
    "allowed_logout_urls",
    "encryption_key",
    "sso",
    "cross_origin_authentication",
    "cross_origin_loc",
    "sso_disabled",
    "custom_login_page_on",
    "is_token_endpoint_ip_header_trusted",
    "app_type",
    "is_first_party",
    "oidc_conformant",
    "custom_login_page",
    "custom_login_page_preview",
    "token_quota",
    "form_template",
    "addons",
    "client_metadata",
    "mobile",
    "initiate_login_uri",
    "native_social_login",
    "fedcm_login",
    "refresh_token",
    "default_organization",
    "organization_usage",
    "organization_require_behavior",
    "organization_discovery_methods",
    "require_pushed_authorization_requests",
    "require_proof_of_possession",
    "compliance_level",
    "skip_non_verifiable_callback_uri_confirmation_prompt",
    "token_exchange",
    "par_request_expiry",
    "express_configuration",
    "my_organization_configuration",
    "async_approval_notification_channels",
    "third_party_security_mode",
    "redirection_policy",
];

fn forbidden_fields() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "Some fields cannot be updated with the permissions granted by the bearer token scopes",
        Some("insufficient_scope"),
    )
}

pub(crate) async fn patch_client(
    State(s): State<Arc<Shared>>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let scopes = scopes(&s, &headers)?;
    scopes.require_any(&[
        "update:clients",
        "update:client_keys",
        "update:client_credentials",
        "update:client_token_vault_privileged_access",
    ])?;
    let body = object(&body, false)?;
    let allowed: Vec<&str> = MODELLED.iter().chain(UNMODELLED.iter()).copied().collect();
    only(&body, &allowed)?;
    let credentials_scope = scopes.has("update:client_credentials");
    if (body.contains_key("client_authentication_methods") || body.contains_key("signed_request_object"))
        && !credentials_scope
    {
        return Err(forbidden_fields());
    }
    if body.contains_key("token_vault_privileged_access")
        && !credentials_scope
        && !scopes.has("update:client_token_vault_privileged_access")
    {
        return Err(forbidden_fields());
    }
    if body.contains_key("client_secret") && !scopes.has("update:client_keys") {
        return Err(forbidden_fields());
    }
    let slot = s.tenant().limits.slot;
    let methods = parse_methods(body.get("client_authentication_methods"), slot)?;
    let jar = parse_jar(body.get("signed_request_object"), slot)?;
    let vault = parse_vault(body.get("token_vault_privileged_access"), slot)?;
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
    let secret = super::opt_str(&body, "client_secret")?;
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
        if let Some(secret) = secret {
            c.client_secret = Some(secret);
        }
        if let Some(a) = jwt_alg {
            c.jwt_alg = a;
        }
        match jar {
            None => {}
            Some(None) => c.signed_request_object = None,
            Some(Some(change)) => {
                if let Some(ids) = &change.credentials {
                    existing(c, ids, "signed_request_object.credentials")?;
                }
                let jar = c.signed_request_object.get_or_insert_with(Default::default);
                jar.required = change.required.or(jar.required);
                jar.credentials = change.credentials.or(jar.credentials.take());
            }
        }
        match vault {
            None => {}
            Some(None) => c.token_vault_privileged_access = None,
            Some(Some(v)) => {
                existing(c, &v.credentials, "token_vault_privileged_access.credentials")?;
                c.token_vault_privileged_access = Some(v);
            }
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
                existing(c, &ids, &format!("client_authentication_methods.{method}.credentials"))?;
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

/// Refuses ids that are not credentials of the client.
fn existing(c: &Client, ids: &[String], path: &str) -> Result<(), ApiError> {
    match ids.iter().find(|id| !c.credentials.iter().any(|cr| &cr.id == *id)) {
        Some(id) => Err(ApiError::invalid_body(&format!("Credential {id} does not exist"), path)),
        None => Ok(()),
    }
}

/// A `credentials: [{"id": …}]` list: at most `slot` items, each `{id}` only, no duplicates.
fn credential_ids(value: &Value, path: &str, slot: usize) -> Result<Vec<String>, ApiError> {
    let list = match value {
        Value::Array(a) => a,
        other => return Err(super::wrong_type("array", other, path)),
    };
    if list.len() > slot {
        return Err(ApiError::invalid_body(&format!("Array is too long ({}), maximum {slot}", list.len()), path));
    }
    let mut ids: Vec<String> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let Value::Object(item) = item else { return Err(super::wrong_type("object", item, &format!("{path}[{i}]"))) };
        only(item, &["id"])?;
        let id = super::opt_str(item, "id")?
            .ok_or_else(|| ApiError::invalid_body("Missing required property: id", &format!("{path}[{i}]")))?;
        if let Some(j) = ids.iter().position(|x| *x == id) {
            return Err(ApiError::invalid_body(&format!("Array items are not unique (indexes {j} and {i})"), path));
        }
        ids.push(id);
    }
    Ok(ids)
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
    let entry = match entry {
        Value::Object(e) => e,
        other => return Err(super::wrong_type("object", other, &format!("{prop}.{method}"))),
    };
    only(entry, &["credentials"])?;
    let list = entry
        .get("credentials")
        .ok_or_else(|| ApiError::invalid_body("Missing required property: credentials", &format!("{prop}.{method}")))?;
    let ids = credential_ids(list, &format!("{prop}.{method}.credentials"), slot)?;
    Ok(MethodsChange::Set(method.clone(), ids))
}

/// `signed_request_object`: absent (`None`), null (`Some(None)`) or the members sent.
fn parse_jar(value: Option<&Value>, slot: usize) -> Result<Option<Option<SignedRequestObject>>, ApiError> {
    let prop = "signed_request_object";
    let o = match value {
        None => return Ok(None),
        Some(Value::Null) => return Ok(Some(None)),
        Some(Value::Object(o)) => o,
        Some(other) => return Err(super::wrong_type("object,null", other, prop)),
    };
    only(o, &["required", "credentials"])?;
    let required = match o.get("required") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => return Err(super::wrong_type("boolean", other, &format!("{prop}.required"))),
    };
    let credentials =
        o.get("credentials").map(|v| credential_ids(v, &format!("{prop}.credentials"), slot)).transpose()?;
    Ok(Some(Some(SignedRequestObject { required, credentials })))
}

/// `token_vault_privileged_access`: absent, null, or a whole new value.
fn parse_vault(value: Option<&Value>, slot: usize) -> Result<Option<Option<TokenVaultAccess>>, ApiError> {
    let prop = "token_vault_privileged_access";
    let o = match value {
        None => return Ok(None),
        Some(Value::Null) => return Ok(Some(None)),
        Some(Value::Object(o)) => o,
        Some(other) => return Err(super::wrong_type("object,null", other, prop)),
    };
    only(o, &["credentials", "ip_allowlist", "grants"])?;
    let credentials = o
        .get("credentials")
        .ok_or_else(|| ApiError::invalid_body("Missing required property: credentials", prop))
        .and_then(|v| credential_ids(v, &format!("{prop}.credentials"), slot))?;
    let list = |key: &str, item: &str, ok: fn(&Value) -> bool| -> Result<Option<Vec<Value>>, ApiError> {
        match o.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => match a.iter().position(|v| !ok(v)) {
                Some(i) => Err(super::wrong_type(item, &a[i], &format!("{prop}.{key}[{i}]"))),
                None => Ok(Some(a.clone())),
            },
            Some(other) => Err(super::wrong_type("array", other, &format!("{prop}.{key}"))),
        }
    };
    let ip_allowlist = list("ip_allowlist", "string", Value::is_string)?;
    let grants = list("grants", "object", Value::is_object)?;
    Ok(Some(Some(TokenVaultAccess { credentials, ip_allowlist, grants })))
}
