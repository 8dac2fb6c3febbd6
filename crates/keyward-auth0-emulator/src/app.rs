//! The router, and the middleware every request passes: request log, scripted faults, rate
//! limits and their headers.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use crate::envelope::{ApiError, OAuthError, json_response};
use crate::faults::{FaultAction, tamper};
use crate::shared::{Conn, Shared};

/// Largest request body accepted (Auth0's payloads are small).
const MAX_BODY: usize = 64 * 1024;
/// Request-log entries kept.
const MAX_LOG: usize = 10_000;

/// The emulator's router.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    use crate::api::{clients, connections, credentials, signing_keys, token, wellknown};
    use crate::control;
    Router::new()
        .route("/api/v2/clients", get(clients::list_clients))
        .route("/api/v2/clients/{client_id}", get(clients::get_client).patch(clients::patch_client))
        .route("/api/v2/clients/{client_id}/credentials", get(credentials::list).post(credentials::create))
        .route(
            "/api/v2/clients/{client_id}/credentials/{credential_id}",
            get(credentials::get_one).patch(credentials::patch).delete(credentials::delete),
        )
        .route("/api/v2/connections/{id}", get(connections::get_connection))
        .route("/api/v2/connections/{id}/keys", get(connections::get_keys).post(connections::create_keys))
        .route("/api/v2/connections/{id}/keys/rotate", post(connections::rotate_keys))
        .route("/api/v2/keys/signing", get(signing_keys::list))
        .route("/api/v2/keys/signing/rotate", post(signing_keys::rotate))
        .route("/api/v2/keys/signing/{kid}", get(signing_keys::get_one))
        .route("/api/v2/keys/signing/{kid}/revoke", put(signing_keys::revoke))
        .route("/oauth/token", post(token::token))
        .route("/.well-known/jwks.json", get(wellknown::jwks))
        .route("/.well-known/openid-configuration", get(wellknown::openid_configuration))
        .route("/__emulator/state", get(control::state))
        .route("/__emulator/seed", post(control::seed))
        .route("/__emulator/reset", post(control::reset))
        .route("/__emulator/faults", post(control::add_faults).delete(control::clear_faults))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), around))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

async fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "Not Found", None).into_response()
}

#[derive(Clone, Copy, PartialEq)]
enum Api {
    Management,
    Authentication,
    Other,
    Control,
}

fn classify(path: &str) -> Api {
    if path.starts_with("/__emulator/") {
        Api::Control
    } else if path.starts_with("/api/v2/") {
        Api::Management
    } else if path == "/oauth/token" {
        Api::Authentication
    } else {
        Api::Other
    }
}

/// The middleware: faults, rate limit, the handler, tampering, rate-limit headers, the log.
async fn around(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let conn = request.extensions().get::<Conn>().cloned();
    let api = classify(&path);

    if api == Api::Control {
        let loopback = conn.as_ref().is_some_and(|c| c.peer.ip().is_loopback());
        if !shared.control || !loopback {
            return ApiError::new(StatusCode::NOT_FOUND, "Not Found", None).into_response();
        }
        return next.run(request).await;
    }

    let fault = shared.runtime().faults.take(&method, &path);
    let kill = || {
        if let Some(c) = &conn {
            c.kill.notify_one();
        }
    };
    match &fault {
        Some(FaultAction::DropBefore) => {
            log(&shared, &method, &path, 0, "dropped before processing");
            kill();
            return std::future::pending().await;
        }
        Some(FaultAction::Status { status, headers, body }) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = body
                .clone()
                .unwrap_or_else(|| ApiError::new(status, status.canonical_reason().unwrap_or("Error"), None).body());
            let mut resp = json_response(status, &body);
            for (k, v) in headers {
                if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v.as_str())) {
                    resp.headers_mut().insert(k, v);
                }
            }
            log(&shared, &method, &path, status.as_u16(), "scripted status");
            return resp;
        }
        Some(FaultAction::Delay { delay_ms }) => tokio::time::sleep(std::time::Duration::from_millis(*delay_ms)).await,
        _ => {}
    }

    let limit = {
        let mut rt = shared.runtime();
        match api {
            Api::Management => Some(rt.management.take()),
            Api::Authentication => Some(rt.authentication.take()),
            _ => None,
        }
    };
    if let Some((false, headers)) = limit {
        let mut resp = match api {
            Api::Authentication => {
                OAuthError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", "Global limit has been reached")
                    .into_response()
            }
            _ => ApiError::rate_limited().into_response(),
        };
        headers.apply(&mut resp);
        log(&shared, &method, &path, 429, "rate limited");
        return resp;
    }

    let mut resp = next.run(request).await;
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE {
        resp = too_large(api);
    }
    if let Some(FaultAction::Tamper { field }) = &fault {
        resp = tamper_response(resp, field).await;
    }
    // An endpoint with its own bucket (signing key rotation) has set its headers already.
    if let Some((_, headers)) = limit
        && !resp.headers().contains_key("x-ratelimit-limit")
    {
        headers.apply(&mut resp);
    }
    log(&shared, &method, &path, resp.status().as_u16(), "");
    if matches!(fault, Some(FaultAction::DropAfter)) {
        kill();
        return std::future::pending().await;
    }
    resp
}

/// axum refuses a body over [`MAX_BODY`] in plain text; Auth0's APIs answer in their JSON shapes.
/// The wording is hapi's (the framework behind Auth0's "Invalid request payload JSON format");
/// Auth0's own 413 text is unrecorded.
fn too_large(api: Api) -> Response {
    let message = format!("Payload content length greater than maximum allowed: {MAX_BODY}");
    match api {
        Api::Authentication => {
            OAuthError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", message).into_response()
        }
        _ => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message, None).into_response(),
    }
}

async fn tamper_response(resp: Response, field: &str) -> Response {
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 * MAX_BODY).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    tamper(&mut value, field);
    let mut parts = parts;
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(value.to_string()))
}

fn log(shared: &Shared, method: &str, path: &str, status: u16, note: &str) {
    let mut rt = shared.runtime();
    if rt.requests.len() >= MAX_LOG {
        rt.requests.remove(0);
    }
    let mut entry = json!({ "method": method, "path": path, "status": status, "at": crate::util::now_timestamp() });
    if !note.is_empty() {
        entry["note"] = json!(note);
    }
    rt.requests.push(entry);
}
