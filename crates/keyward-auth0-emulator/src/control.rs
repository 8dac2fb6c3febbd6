//! The control API under `/__emulator/` (loopback peers only): state, seed, reset, faults.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::envelope::{ApiError, json_response};
use crate::faults::Fault;
use crate::seed::Seed;
use crate::shared::{Runtime, Shared};
use crate::state::Tenant;

/// `GET /__emulator/state`: the tenant and the request log.
pub(crate) async fn state(State(s): State<Arc<Shared>>) -> Response {
    json_response(StatusCode::OK, &s.snapshot())
}

/// `POST /__emulator/seed`: replace the tenant with a new seed (keeping domain and signing keys).
pub(crate) async fn seed(State(s): State<Arc<Shared>>, body: Bytes) -> Result<Response, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("seed must be UTF-8 JSON"))?;
    let seed = Seed::from_json(text).map_err(|e| ApiError::bad_request(e.to_string()))?;
    reseed(&s, seed)
}

/// `POST /__emulator/reset`: back to the seed the tenant was made from.
pub(crate) async fn reset(State(s): State<Arc<Shared>>) -> Result<Response, ApiError> {
    let seed = s.tenant().seed.clone();
    reseed(&s, seed)
}

fn reseed(s: &Shared, seed: Seed) -> Result<Response, ApiError> {
    s.update(|t| {
        let fresh = Tenant::from_seed_with_keys(&seed, &t.domain, t.signing_keys.clone())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        *t = fresh;
        Ok::<_, ApiError>(())
    })?;
    let fresh = Runtime::new(&s.tenant());
    *s.runtime() = fresh;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /__emulator/faults`: one fault object or an array of them.
pub(crate) async fn add_faults(State(s): State<Arc<Shared>>, body: Bytes) -> Result<Response, ApiError> {
    let value: Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("faults: {e}")))?;
    let list = match value {
        Value::Array(a) => a,
        other => vec![other],
    };
    let faults: Vec<Fault> = list
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::bad_request(format!("faults: {e}")))?;
    let n = faults.len();
    let mut rt = s.runtime();
    faults.into_iter().for_each(|f| rt.faults.add(f));
    Ok(json_response(StatusCode::OK, &json!({ "added": n })))
}

/// `DELETE /__emulator/faults`: clear every scripted fault.
pub(crate) async fn clear_faults(State(s): State<Arc<Shared>>) -> Response {
    s.runtime().faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

impl Shared {
    /// The control API's state document.
    pub(crate) fn snapshot(&self) -> Value {
        let mut v = self.tenant().snapshot();
        v["requests"] = Value::Array(self.runtime().requests.clone());
        v
    }
}
