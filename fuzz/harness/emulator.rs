//! Fuzz harnesses for the Auth0 emulator's request bodies: `/oauth/token` (form and JSON
//! bodies, client assertions, Basic credentials) and the Management API's JSON bodies, sent to
//! the emulator's axum router in-process (`keyward_auth0_emulator::router` and
//! `tower::ServiceExt::oneshot`).
//!
//! Shared, through `#[path]`, by the cargo-fuzz targets in `fuzz/fuzz_targets/` and by
//! `crates/keyward-auth0-emulator/tests/fuzz_regressions.rs`, which replays the committed corpus
//! and crash inputs under `cargo test`. The invariants: no panic, no 5xx for any input, and the
//! tenant is unchanged after each input (what an input changed is undone through the API).
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use keyward_auth0_emulator::{EmulatorConfig, Seed, router};
use keyward_crypto::{Algorithm, Backend, KeySpec, PrivateKey, Signer, aws_lc_generate, sign_compact, signer_for};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

/// The tenant's domain (assertions' `aud` is `https://DOMAIN/`).
pub const DOMAIN: &str = "tenant.fuzz.local";
const MGMT: &str = "fuzz-management";
const MGMT_SECRET: &str = "fuzz-management-secret";
/// A private_key_jwt client with two attached credentials (RS256 and PS256).
pub const APP: &str = "fuzz-app";
/// A client_secret_basic client.
const BASIC_APP: &str = "fuzz-basic-app";
const BASIC_SECRET: &str = "fuzz-basic-secret";
const API: &str = "https://api.fuzz.local/";
/// An oidc connection with keys (create answers 409) and a samlp one that cannot hold keys
/// (rotate answers 400): both parse the body first, and neither generates a key.
const CONN_KEYS: &str = "con_fuzzoidc000001";
const CONN_NO_KEYS: &str = "con_fuzzsaml000001";

const SEED: &str = r#"{
  "clients": [
    {"client_id": "fuzz-management", "name": "Management", "client_secret": "fuzz-management-secret",
     "token_endpoint_auth_method": "client_secret_post",
     "grants": [{"audience": "https://{domain}/api/v2/", "scope": [
       "read:clients", "update:clients", "read:client_keys", "update:client_keys",
       "read:client_credentials", "create:client_credentials", "update:client_credentials",
       "delete:client_credentials", "read:connections", "read:connections_keys",
       "create:connections_keys", "update:connections_keys"]}]},
    {"client_id": "fuzz-app", "name": "Fuzz application", "token_endpoint_auth_method": "private_key_jwt",
     "jwt_configuration": {"alg": "RS256"},
     "grants": [{"audience": "https://api.fuzz.local/", "scope": ["read:x", "write:x"]}]},
    {"client_id": "fuzz-basic-app", "name": "Basic", "client_secret": "fuzz-basic-secret",
     "token_endpoint_auth_method": "client_secret_basic",
     "grants": [{"audience": "https://api.fuzz.local/", "scope": ["read:x"]}]}
  ],
  "connections": [
    {"id": "con_fuzzoidc000001", "name": "fuzz-oidc", "strategy": "oidc",
     "options": {"token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "RS256"}},
    {"id": "con_fuzzsaml000001", "name": "fuzz-saml", "strategy": "samlp", "options": {}}
  ],
  "limits": {"slot": 2, "pool": 4, "burst": 4000000000, "per_second": 1000000000}
}"#;

/// One emulated tenant, its management token and the keys behind the app's credentials.
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    app: Router,
    token: String,
    /// (credential id, kid, signer) for the RS256 and PS256 credentials.
    credentials: Vec<(String, String, Box<dyn Signer>)>,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// A fresh tenant: a management token, two credentials attached to [`APP`].
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        let seed = Seed::from_json(SEED).expect("seed");
        let config = EmulatorConfig { seed, domain: Some(DOMAIN.to_owned()), ..Default::default() };
        let app = router(&config).expect("emulator router");
        let mut h = Self { runtime, app, token: String::new(), credentials: Vec::new() };

        let body = json!({"grant_type": "client_credentials", "client_id": MGMT, "client_secret": MGMT_SECRET,
            "audience": format!("https://{DOMAIN}/api/v2/")});
        let (status, body) = h.send(Method::POST, "/oauth/token", Some("application/json"), None, body.to_string());
        assert_eq!(status, StatusCode::OK, "management token: {body}");
        h.token = body["access_token"].as_str().expect("access_token").to_owned();

        for alg in [Algorithm::RS256, Algorithm::PS256] {
            let key: PrivateKey = aws_lc_generate(KeySpec::Rsa(2048)).expect("RSA key");
            let signer = signer_for(Backend::fastest(), &key, alg).expect("signer");
            let pem = key.public_key().to_spki_pem().expect("SPKI PEM");
            let body = json!({"credential_type": "public_key", "pem": pem, "alg": alg.as_str()}).to_string();
            let path = format!("/api/v2/clients/{APP}/credentials");
            let (status, body) = h.management(Method::POST, &path, body);
            assert_eq!(status, StatusCode::CREATED, "credential: {body}");
            let id = body["id"].as_str().expect("credential id").to_owned();
            let kid = body["kid"].as_str().expect("credential kid").to_owned();
            h.credentials.push((id, kid, signer));
        }
        h.restore_app();
        h
    }

    /// Sends one request; returns the status and the body as JSON (`null` if it is not JSON).
    fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        authorization: Option<&str>,
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(c) = content_type {
            req = req.header(header::CONTENT_TYPE, c);
        }
        if let Some(a) = authorization {
            req = req.header(header::AUTHORIZATION, a);
        }
        let req = req.body(body.into()).expect("request");
        let app = self.app.clone();
        self.runtime.block_on(async move {
            let resp = app.oneshot(req).await.expect("the router is infallible");
            let status = resp.status();
            let bytes = to_bytes(resp.into_body(), 1 << 20).await.expect("response body");
            (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
        })
    }

    fn management(&self, method: Method, path: &str, body: impl Into<Body>) -> (StatusCode, Value) {
        let bearer = format!("Bearer {}", self.token);
        self.send(method, path, Some("application/json"), Some(&bearer), body)
    }

    /// Puts [`APP`] back as [`Harness::new`] left it: both credentials attached, no expiry,
    /// nothing else configured.
    fn restore_app(&self) {
        let creds: Vec<Value> = self.credentials.iter().map(|(id, _, _)| json!({"id": id})).collect();
        let body = json!({
            "name": "Fuzz application",
            "jwt_configuration": {"alg": "RS256"},
            "token_endpoint_auth_method": null,
            "client_authentication_methods": {"private_key_jwt": {"credentials": creds}},
            "signed_request_object": null,
            "token_vault_privileged_access": null,
        });
        let (status, body) = self.management(Method::PATCH, &format!("/api/v2/clients/{APP}"), body.to_string());
        assert_eq!(status, StatusCode::OK, "restoring {APP}: {body}");
        for (id, _, _) in &self.credentials {
            let path = format!("/api/v2/clients/{APP}/credentials/{id}");
            let (status, body) = self.management(Method::PATCH, &path, r#"{"expires_at":null}"#);
            assert_eq!(status, StatusCode::OK, "restoring credential {id}: {body}");
        }
    }

    /// `/oauth/token`. Byte 0 picks the form of the request, the rest is its input:
    ///
    /// - 0: a form body; 1: a JSON body; 2: a Basic `Authorization` header (with a fixed form
    ///   body); 3: a form body whose `client_assertion` is the input (an unsigned or foreign JWS);
    /// - 4: a claims payload signed by one of [`APP`]'s credential keys: byte 1 picks the
    ///   algorithm (RS256, PS256, or RS384 which no credential has), whether a kid is sent and
    ///   whether `client_id` is posted. In a JSON-object payload, `exp`, `iat` and `nbf`
    ///   integers within ±2^32 are taken relative to now, so a seed stays valid.
    pub fn token(&mut self, data: &[u8]) {
        let Some((&mode, rest)) = data.split_first() else { return };
        let form = "application/x-www-form-urlencoded";
        let (status, body) = match mode % 5 {
            0 => self.send(Method::POST, "/oauth/token", Some(form), None, rest.to_vec()),
            1 => self.send(Method::POST, "/oauth/token", Some("application/json"), None, rest.to_vec()),
            2 => {
                let Ok(value) = std::str::from_utf8(rest) else { return };
                let Ok(value) = header::HeaderValue::from_str(value) else { return };
                let Ok(value) = value.to_str() else { return };
                let body = format!("grant_type=client_credentials&audience={}", encode(API));
                self.send(Method::POST, "/oauth/token", Some(form), Some(value), body)
            }
            3 => {
                let assertion = String::from_utf8_lossy(rest);
                let body = assertion_form(&assertion, Some(APP));
                self.send(Method::POST, "/oauth/token", Some(form), None, body)
            }
            _ => {
                let Some((&options, claims)) = rest.split_first() else { return };
                let (alg, (_, kid, signer)) = match options % 3 {
                    0 => (Algorithm::RS256, &self.credentials[0]),
                    1 => (Algorithm::PS256, &self.credentials[1]),
                    _ => (Algorithm::RS384, &self.credentials[0]),
                };
                let unregistered;
                let signer: &dyn Signer = if alg == signer.algorithm() {
                    &**signer
                } else {
                    unregistered = unregistered_signer(alg);
                    &*unregistered
                };
                let kid = (options & 4 != 0).then_some(kid.as_str());
                let client_id = (options & 8 != 0).then_some(APP);
                let payload = relative_times(claims);
                let assertion =
                    sign_compact(signer, kid, Some("JWT"), &payload, &mut keyward_rng()).expect("signing an assertion");
                let body = assertion_form(&assertion, client_id);
                self.send(Method::POST, "/oauth/token", Some(form), None, body)
            }
        };
        assert!(!status.is_server_error(), "/oauth/token mode {mode} answered {status}: {body}");
        if status == StatusCode::OK {
            assert!(body["access_token"].is_string(), "200 without an access token: {body}");
        } else {
            assert!(body["error"].is_string(), "{status} without an OAuth error body: {body}");
        }
    }

    /// The Management API. Byte 0 picks the endpoint, the rest is its JSON body (or, for
    /// mode 6, the `Authorization` header; for mode 7, `PATH\nBODY` with byte 1 picking the
    /// method among GET, DELETE, PUT, HEAD and OPTIONS):
    ///
    /// 0: POST credentials; 1: PATCH a credential; 2: PATCH the client; 3: POST connection keys;
    /// 4: POST connection keys/rotate; 5: PATCH the client_secret_basic client; 6: GET the client;
    /// 7: any path.
    pub fn management_api(&mut self, data: &[u8]) {
        let Some((&mode, rest)) = data.split_first() else { return };
        let body = rest.to_vec();
        let cred = &self.credentials[0].0;
        let (method, path, status, response) = match mode % 8 {
            0 => self.call(Method::POST, format!("/api/v2/clients/{APP}/credentials"), body),
            1 => self.call(Method::PATCH, format!("/api/v2/clients/{APP}/credentials/{cred}"), body),
            2 => self.call(Method::PATCH, format!("/api/v2/clients/{APP}"), body),
            3 => self.call(Method::POST, format!("/api/v2/connections/{CONN_KEYS}/keys"), body),
            4 => self.call(Method::POST, format!("/api/v2/connections/{CONN_NO_KEYS}/keys/rotate"), body),
            5 => self.call(Method::PATCH, format!("/api/v2/clients/{BASIC_APP}"), body),
            6 => {
                let Ok(value) = std::str::from_utf8(rest) else { return };
                if header::HeaderValue::from_str(value).is_err() {
                    return;
                }
                let path = format!("/api/v2/clients/{APP}");
                let (status, response) = self.send(Method::GET, &path, None, Some(value), Body::empty());
                (Method::GET, path, status, response)
            }
            _ => {
                let Some((&m, rest)) = rest.split_first() else { return };
                let method = [Method::GET, Method::DELETE, Method::PUT, Method::HEAD, Method::OPTIONS]
                    [usize::from(m) % 5]
                    .clone();
                let mut parts = rest.splitn(2, |&b| b == b'\n');
                let Ok(path) = std::str::from_utf8(parts.next().unwrap_or_default()) else { return };
                if path.parse::<axum::http::Uri>().is_err() || !path.starts_with('/') {
                    return;
                }
                self.call(method, path.to_owned(), parts.next().unwrap_or_default().to_vec())
            }
        };
        assert!(!status.is_server_error(), "{method} {path} answered {status}: {response}");
        // Fixed paths: a refused body gets Auth0's JSON error envelope. (Mode 7 may meet axum's
        // own answers, e.g. an empty 405 for a method a route does not have.)
        if status.is_client_error() && mode % 8 < 7 {
            assert!(
                response["statusCode"].as_u64() == Some(u64::from(status.as_u16())) && response["message"].is_string(),
                "{method} {path}: {status} without an Auth0 error body: {response}"
            );
        }
        if !status.is_success() {
            return;
        }
        // Undo what succeeded, so every input meets the same tenant.
        match mode % 8 {
            0 => {
                let id = response["id"].as_str().expect("created credential id");
                let (status, body) =
                    self.management(Method::DELETE, &format!("/api/v2/clients/{APP}/credentials/{id}"), Body::empty());
                assert_eq!(status, StatusCode::NO_CONTENT, "deleting {id}: {body}");
            }
            1 | 2 => self.restore_app(),
            5 => {
                let body = r#"{"name":"Basic","token_endpoint_auth_method":"client_secret_basic","client_authentication_methods":null,"signed_request_object":null,"token_vault_privileged_access":null}"#;
                let (status, body) = self.management(Method::PATCH, &format!("/api/v2/clients/{BASIC_APP}"), body);
                assert_eq!(status, StatusCode::OK, "restoring {BASIC_APP}: {body}");
            }
            _ => {}
        }
    }

    fn call(&self, method: Method, path: String, body: Vec<u8>) -> (Method, String, StatusCode, Value) {
        let (status, response) = self.management(method.clone(), &path, body);
        (method, path, status, response)
    }
}

/// A signer for `alg` with a key no credential holds (RS384 has no credential anyway).
fn unregistered_signer(alg: Algorithm) -> Box<dyn Signer> {
    use std::sync::OnceLock;
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    let key = KEY.get_or_init(|| aws_lc_generate(KeySpec::Rsa(2048)).expect("RSA key"));
    signer_for(Backend::fastest(), key, alg).expect("signer")
}

fn keyward_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// The token request for a client assertion.
fn assertion_form(assertion: &str, client_id: Option<&str>) -> String {
    let mut body = format!(
        "grant_type=client_credentials&audience={}&client_assertion_type={}&client_assertion={}",
        encode(API),
        encode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        encode(assertion)
    );
    if let Some(id) = client_id {
        body.push_str(&format!("&client_id={}", encode(id)));
    }
    body
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A JSON object's `exp`, `iat` and `nbf` within ±2^32 become now + value; anything else is
/// left as it is (so absolute and out-of-range times stay reachable).
fn relative_times(payload: &[u8]) -> Vec<u8> {
    let Ok(mut claims) = serde_json::from_slice::<Map<String, Value>>(payload) else { return payload.to_vec() };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    for name in ["exp", "iat", "nbf"] {
        if let Some(offset) = claims.get(name).and_then(Value::as_i64)
            && offset.unsigned_abs() < 1 << 32
        {
            claims.insert(name.to_owned(), json!(now.saturating_add_signed(offset)));
        }
    }
    serde_json::to_vec(&claims).unwrap_or_else(|_| payload.to_vec())
}
