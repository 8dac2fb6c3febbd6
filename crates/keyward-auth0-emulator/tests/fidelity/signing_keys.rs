//! go-auth0's tenant signing-key recordings (`tests/data/recorded_signing_keys.json`) as shape
//! fixtures, replayed against a fresh emulator over real HTTP. Their values are the recorder's
//! redaction template (kids `111…`, `[REDACTED]` fingerprints, contradictory flags), so what is
//! compared is what survived redaction: status, content type, rate-limit headers, member names,
//! their order and JSON types, list length, kid length and PEM framing; and every answer, recorded
//! and emulated, must fit the OAS subset.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::oas::{Oas, type_of};
use super::replay::{rate_limit_headers, schema_for};
use super::shape::{Problems, is_fingerprint, is_hex_thumbprint, pem_shape};
use crate::common;

const FIXTURE: &str = include_str!("../data/recorded_signing_keys.json");
/// Members an emulated key may carry that the redacted recordings lack (all in the OAS schema).
const MAY_ADD: [&str; 3] = ["current_since", "current_until", "revoked_at"];

#[derive(Debug, Clone, Deserialize)]
pub struct Recordings {
    pub scenarios: Vec<Recording>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Recording {
    pub name: String,
    pub source: String,
    pub steps: Vec<Recorded>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Recorded {
    #[serde(rename = "ref")]
    pub reference: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub content_type: Option<String>,
    pub response: Value,
    pub operation: String,
}

pub fn recordings() -> Recordings {
    serde_json::from_str(FIXTURE).expect("recorded_signing_keys.json parses")
}

/// Replays one recording; returns the differences and how many answers were compared.
pub async fn replay(recording: &Recording, oas: &Oas) -> (Problems, usize) {
    let env = common::env().await;
    let mut problems = Problems::new();
    // Only a previous key can be revoked: a recording that revokes gets one by a rotation first.
    let rotated = recording.steps.iter().any(|s| s.method == "PUT");
    if rotated {
        let r = env.post("/api/v2/keys/signing/rotate", Value::Null).await;
        assert_eq!(r.status().as_u16(), 201, "setup rotation");
    }
    let mut compared = 0;
    for step in &recording.steps {
        let tag = format!("{} [{} {}]", step.reference, step.method, step.path);
        let path = emulated_path(&env, step).await;
        let method = Method::from_bytes(step.method.as_bytes()).expect("HTTP method");
        // go-auth0 sends a JSON `null` body on every call.
        let resp = env
            .http
            .request(method, env.url(&path))
            .bearer_auth(&env.token)
            .header("content-type", "application/json")
            .body("null")
            .send()
            .await
            .expect("the emulator answers");
        let mut p = rate_limit_headers(resp.headers());
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        if ct != step.content_type {
            p.push(format!("content-type {ct:?}, recorded {:?}", step.content_type));
        }
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status != step.status {
            p.push(format!("status {status}, recorded {}; body {body}", step.status));
        } else {
            // The setup rotation added a previous key the recorded tenant's list does not show.
            p.extend(compare(&step.response, &body, !rotated));
            let schema = schema_for(oas, &step.operation, status).map(|s| s.expect("a documented body"));
            match schema {
                Ok(schema) => {
                    for (who, value) in [("recorded", &step.response), ("emulated", &body)] {
                        p.extend(oas.validate(schema, value).into_iter().map(|e| format!("{who} answer vs OAS: {e}")));
                    }
                }
                Err(e) => p.push(e),
            }
            compared += 1;
        }
        problems.extend(p.into_iter().map(|x| format!("{tag}: {x}")));
    }
    env.emu.shutdown().await;
    (problems, compared)
}

/// The recorded path with its kid replaced by the emulator's key of the same role: the previous
/// key for a revocation, the current key for a read.
async fn emulated_path(env: &common::Env, step: &Recorded) -> String {
    let Some(rest) = step.path.strip_prefix("/api/v2/keys/signing/") else { return step.path.clone() };
    let recorded_kid = rest.split('/').next().unwrap_or_default();
    if recorded_kid == "rotate" {
        return step.path.clone();
    }
    let keys: Value = env.get("/api/v2/keys/signing").await.json().await.expect("a key list");
    let role = if step.method == "PUT" { "previous" } else { "current" };
    let kid = keys
        .as_array()
        .and_then(|ks| ks.iter().find(|k| k[role] == true))
        .and_then(|k| k["kid"].as_str())
        .unwrap_or_else(|| panic!("the emulator has no {role} key"));
    step.path.replacen(recorded_kid, kid, 1)
}

/// A recorded answer (a key or a list of keys) against the emulated one; `same_length`: lists
/// must be as long as recorded.
pub fn compare(rec: &Value, emu: &Value, same_length: bool) -> Problems {
    match (rec, emu) {
        (Value::Array(r), Value::Array(e)) => {
            let mut p = Problems::new();
            if r.len() != e.len() && (same_length || e.len() < r.len()) {
                p.push(format!("{} keys, recorded {}", e.len(), r.len()));
            }
            for (i, (r, e)) in r.iter().zip(e).enumerate() {
                p.extend(compare(r, e, same_length).into_iter().map(|x| format!("[{i}] {x}")));
            }
            p
        }
        (Value::Object(r), Value::Object(e)) => key(r, e),
        _ => vec![format!("recorded a {} but emulated a {}", type_of(rec), type_of(emu))],
    }
}

fn key(rec: &Map<String, Value>, emu: &Map<String, Value>) -> Problems {
    let mut p = Problems::new();
    let in_emu: Vec<&str> = emu.keys().map(String::as_str).filter(|k| rec.contains_key(*k)).collect();
    let in_rec: Vec<&str> = rec.keys().map(String::as_str).collect();
    if in_emu != in_rec {
        p.push(format!("members in order: recorded {in_rec:?}, emulated {:?}", emu.keys().collect::<Vec<_>>()));
    }
    for missing in rec.keys().filter(|k| !emu.contains_key(*k)) {
        p.push(format!("recorded member {missing} is missing"));
    }
    for extra in emu.keys().filter(|k| !rec.contains_key(*k) && !MAY_ADD.contains(&k.as_str())) {
        p.push(format!("member {extra} is not in the recording"));
    }
    for (k, r) in rec {
        if let Some(e) = emu.get(k)
            && type_of(r) != type_of(e)
        {
            p.push(format!("{k}: recorded {} but emulated {}", type_of(r), type_of(e)));
        }
    }
    for pem in ["cert", "pkcs7"] {
        if let (Some(Value::String(r)), Some(Value::String(e))) = (rec.get(pem), emu.get(pem)) {
            let ((rl, reol, _, rend), (el, eeol, _, eend)) = (pem_shape(r), pem_shape(e));
            if (rl.as_str(), reol, rend) != (el.as_str(), eeol, eend) {
                p.push(format!("{pem} framing: recorded {:?}, emulated {:?}", (rl, reol, rend), (el, eeol, eend)));
            }
        }
    }
    let text = |k: &str| emu.get(k).and_then(Value::as_str).unwrap_or_default();
    let recorded_kid_len = rec.get("kid").and_then(Value::as_str).map(str::len);
    if recorded_kid_len != Some(text("kid").len()) {
        p.push(format!("kid {:?} is not as long as the recorded one ({recorded_kid_len:?})", text("kid")));
    }
    if !is_fingerprint(text("fingerprint")) || !is_hex_thumbprint(text("thumbprint")) {
        p.push(format!("fingerprint/thumbprint not SHA-1 hex: {:?} {:?}", text("fingerprint"), text("thumbprint")));
    }
    p
}
