//! A started emulator plus HTTP helpers for the emulator's tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod openssl;

use std::time::{Duration, SystemTime};

use keyward_auth0_emulator::{EmulatorConfig, RunningEmulator, Seed, start};
use keyward_crypto::{
    Algorithm, AssertionParams, Backend, KeySpec, PrivateKey, aws_lc_generate, client_assertion, signer_for,
};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

pub const SEED: &str = include_str!("../../examples/seed.json");
pub const MGMT: &str = "keyward-management";
pub const MGMT_SECRET: &str = "dev-management-secret-change-me";
pub const APP: &str = "demo-app";
pub const CONN: &str = "con_demooidc0000001";

pub struct Env {
    pub emu: RunningEmulator,
    pub http: Client,
    pub base: String,
    pub domain: String,
    pub token: String,
}

pub async fn start_with(seed: Seed, domain: Option<&str>) -> RunningEmulator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = EmulatorConfig { seed, domain: domain.map(str::to_owned), control: true, ..Default::default() };
    start(listener, config).await.unwrap()
}

/// The example seed, with a management token.
pub async fn env() -> Env {
    env_with(Seed::from_json(SEED).unwrap()).await
}

pub async fn env_with(seed: Seed) -> Env {
    let emu = start_with(seed, Some("tenant.test.local")).await;
    let http = Client::new();
    let base = emu.base_url();
    let domain = emu.domain();
    let token = secret_token(&http, &base, MGMT, MGMT_SECRET, &format!("https://{domain}/api/v2/")).await;
    Env { emu, http, base, domain, token }
}

pub async fn secret_token(http: &Client, base: &str, id: &str, secret: &str, audience: &str) -> String {
    let r = http
        .post(format!("{base}/oauth/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret, "audience": audience}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).bearer_auth(&self.token).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.http.post(self.url(path)).bearer_auth(&self.token).json(&body).send().await.unwrap()
    }

    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.http.patch(self.url(path)).bearer_auth(&self.token).json(&body).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.http.delete(self.url(path)).bearer_auth(&self.token).send().await.unwrap()
    }

    /// Creates a public_key credential for `client` from `key`; returns the response body.
    pub async fn create_credential(&self, client: &str, key: &PrivateKey, alg: &str) -> (StatusCode, Value) {
        let pem = key.public_key().to_spki_pem().unwrap();
        let r = self
            .post(
                &format!("/api/v2/clients/{client}/credentials"),
                json!({"credential_type": "public_key", "pem": pem, "alg": alg}),
            )
            .await;
        (r.status(), r.json().await.unwrap())
    }

    /// Attaches exactly `ids` to the client's private_key_jwt method.
    pub async fn attach(&self, client: &str, ids: &[&str]) -> (StatusCode, Value) {
        let creds: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
        let r = self
            .patch(
                &format!("/api/v2/clients/{client}"),
                json!({"client_authentication_methods": {"private_key_jwt": {"credentials": creds}}}),
            )
            .await;
        (r.status(), r.json().await.unwrap())
    }

    /// Exchanges a client assertion signed by `key` at /oauth/token.
    pub async fn assertion_exchange(
        &self,
        client: &str,
        key: &PrivateKey,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> (StatusCode, Value) {
        let assertion = assertion(client, &format!("https://{}/", self.domain), key, alg, kid, Duration::from_secs(60));
        self.exchange(client, &assertion, "https://api.demo.local/").await
    }

    pub async fn exchange(&self, client: &str, assertion: &str, audience: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.url("/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion),
                ("audience", audience),
            ])
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    pub async fn state(&self) -> Value {
        self.http.get(self.url("/__emulator/state")).send().await.unwrap().json().await.unwrap()
    }

    pub async fn fault(&self, fault: Value) {
        let r = self.http.post(self.url("/__emulator/faults")).json(&fault).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}

pub fn rsa_key() -> PrivateKey {
    aws_lc_generate(KeySpec::Rsa(2048)).unwrap()
}

pub fn assertion(
    client: &str,
    aud: &str,
    key: &PrivateKey,
    alg: Algorithm,
    kid: Option<&str>,
    lifetime: Duration,
) -> String {
    let signer = signer_for(Backend::fastest(), key, alg).unwrap();
    let params = AssertionParams { client_id: client, audience: aud, now: SystemTime::now(), lifetime, kid };
    client_assertion(&*signer, &params, &mut rand_core::UnwrapErr(getrandom::SysRng)).unwrap()
}

/// Asserts Auth0's Management error envelope.
pub async fn assert_envelope(r: Response, status: u16, message_contains: &str) -> Value {
    assert_eq!(r.status().as_u16(), status);
    assert_eq!(r.headers()["content-type"], "application/json; charset=utf-8");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["statusCode"], status, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(message_contains), "{message:?} lacks {message_contains:?}");
    body
}
