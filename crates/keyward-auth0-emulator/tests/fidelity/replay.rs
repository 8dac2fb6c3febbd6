//! Replays the recorded Auth0 interactions of `tests/data/recorded_replays.json` against a fresh
//! emulator per recording and reports every difference from the recorded answer: status, content
//! type, rate-limit headers, body shape (see [`super::shape`]) and conformance to the patched OAS.

use std::collections::BTreeMap;
use std::time::Duration;

use keyward_auth0_emulator::Seed;
use keyward_crypto::{Algorithm, PrivateKey};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::oas::Oas;
use super::shape::{self, IdMap, Problems};
use crate::common;

const FIXTURE: &str = include_str!("../data/recorded_replays.json");
const MGMT_ID: &str = "replay-management";
const MGMT_SECRET: &str = "replay-management-secret";
/// Every scope the replayed Management calls need, including those that reveal secrets.
const SCOPES: [&str; 11] = [
    "read:clients",
    "update:clients",
    "read:client_keys",
    "update:client_keys",
    "read:client_credentials",
    "create:client_credentials",
    "update:client_credentials",
    "delete:client_credentials",
    "read:connections_keys",
    "create:connections_keys",
    "update:connections_keys",
];

#[derive(Debug, Clone, Deserialize)]
pub struct Fixture {
    pub allowances: BTreeMap<String, String>,
    pub skipped: BTreeMap<String, String>,
    pub pems: BTreeMap<String, String>,
    pub scenarios: Vec<Scenario>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Scenario {
    pub name: String,
    pub source: String,
    pub year: Option<u16>,
    pub seed: Value,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Step {
    #[serde(rename = "ref")]
    pub reference: String,
    /// Why a step that the recording does not hold as such is needed (seeding by API).
    #[serde(default)]
    pub setup: Option<String>,
    pub method: String,
    pub path: String,
    pub request_content_type: Option<String>,
    pub body: String,
    pub status: u16,
    pub content_type: Option<String>,
    pub response: Value,
    pub operation: String,
    pub allow: Vec<String>,
}

impl Scenario {
    /// The recorded (non-setup) step whose reference ends with `suffix` (e.g. `#3`).
    pub fn step_mut(&mut self, suffix: &str) -> &mut Step {
        self.steps
            .iter_mut()
            .find(|s| s.setup.is_none() && s.reference.ends_with(suffix))
            .unwrap_or_else(|| panic!("no recorded step {suffix}"))
    }
}

impl Step {
    pub fn allows(&self, code: &str) -> bool {
        self.allow.iter().any(|a| a == code)
    }

    /// Recorded bodies that cannot be held to the schema: a recorder artifact, or the 2025 rotate
    /// answer that §10 tells the emulator not to imitate.
    pub fn recorded_body_is_exempt(&self) -> bool {
        self.allows("recorder_redacted_body") || self.allows("rotate_kid_cert_only")
    }
}

pub fn fixture() -> Fixture {
    serde_json::from_str(FIXTURE).expect("recorded_replays.json parses")
}

/// What one replay found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub problems: Vec<String>,
    /// Recorded (non-setup) answers compared.
    pub compared: usize,
    /// Emulator bodies validated against a schema.
    pub validated: usize,
}

/// The schema an answer must satisfy: the operation's documented body, the error envelopes for
/// errors, nothing (an empty body) for a documented body-less success.
pub fn schema_for<'a>(oas: &'a Oas, operation: &str, status: u16) -> Result<Option<&'a Value>, String> {
    if status >= 400 {
        let name = if operation == "POST /oauth/token" { "AuthErrorResponse" } else { "ManagementErrorEnvelope" };
        return Ok(Some(oas.component(name)));
    }
    oas.response(operation, status).ok_or_else(|| format!("the OAS documents no {status} for {operation}"))
}

/// Replays one recording against a fresh emulator.
pub async fn replay(fixture: &Fixture, scenario: &Scenario, oas: &Oas) -> Outcome {
    let mut seed = scenario.seed.clone();
    let mgmt = json!({"client_id": MGMT_ID, "name": "replay management", "client_secret": MGMT_SECRET,
        "grants": [{"audience": "https://{domain}/api/v2/", "scope": SCOPES}]});
    seed["clients"].as_array_mut().expect("seed clients").push(mgmt);
    let seed = Seed::from_json(&seed.to_string()).expect("scenario seed is valid");
    let emu = common::start_with(seed, Some("replay.test.local")).await;
    let http = reqwest::Client::new();
    let base = emu.base_url();
    let domain = emu.domain();
    let token = common::secret_token(&http, &base, MGMT_ID, MGMT_SECRET, &format!("https://{domain}/api/v2/")).await;
    let ctx = Ctx { http, base, domain, token };

    let mut run = Run { outcome: Outcome::default(), ids: IdMap::default(), kids: IdMap::default(), key: None };
    for step in &scenario.steps {
        let tag = format!("{} [{} {}]", step.reference, step.method, step.path);
        let problems = run.step(&ctx, fixture, step, oas).await;
        run.outcome.problems.extend(problems.into_iter().map(|p| format!("{tag}: {p}")));
    }
    emu.shutdown().await;
    run.outcome
}

struct Ctx {
    http: reqwest::Client,
    base: String,
    domain: String,
    token: String,
}

struct Run {
    outcome: Outcome,
    /// Recorded → emulated credential ids.
    ids: IdMap,
    /// Recorded → emulated connection key kids.
    kids: IdMap,
    /// The key behind the credential the replay attached for placeholder assertions.
    key: Option<PrivateKey>,
}

impl Run {
    async fn step(&mut self, ctx: &Ctx, fixture: &Fixture, step: &Step, oas: &Oas) -> Problems {
        let mut p = Problems::new();
        let mut body =
            fixture.pems.iter().fold(step.body.clone(), |b, (name, pem)| b.replace(&format!("{{{{{name}}}}}"), pem));
        for id in credential_ids_in(&format!("{}{body}", step.path)) {
            if self.ids.to_emulated(id).is_none() {
                p.push(format!("the request names {id}, which no earlier answer created"));
            }
        }
        body = self.ids.rewrite(&body);
        let path = self.ids.rewrite(&step.path);
        if step.allows("placeholder_assertion") {
            body = body.replace(
                "client_assertion=test-client_assertion",
                &format!("client_assertion={}", self.assertion(ctx, &body).await),
            );
        }

        let method = Method::from_bytes(step.method.as_bytes()).expect("HTTP method");
        let mut req = ctx.http.request(method, format!("{}{path}", ctx.base));
        if path.starts_with("/api/v2/") {
            req = req.bearer_auth(&ctx.token);
        }
        if let Some(ct) = &step.request_content_type {
            req = req.header("content-type", ct);
        }
        if !body.is_empty() {
            req = req.body(body);
        }
        let resp = req.send().await.expect("the emulator answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("a readable body");
        if status != step.status {
            p.push(format!("status {status}, recorded {}; body {text}", step.status));
            return p;
        }
        let ct = headers.get("content-type").and_then(|v| v.to_str().ok());
        if ct != step.content_type.as_deref() {
            p.push(format!("content-type {ct:?}, recorded {:?}", step.content_type));
        }
        p.extend(rate_limit_headers(&headers));

        let emulated: Value = if text.is_empty() {
            Value::Null
        } else {
            match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    p.push(format!("body is not JSON ({e}): {text}"));
                    return p;
                }
            }
        };
        match schema_for(oas, &step.operation, status) {
            Ok(Some(schema)) => {
                self.outcome.validated += 1;
                p.extend(
                    oas.validate(schema, &emulated).into_iter().map(|e| format!("emulated body breaks the OAS: {e}")),
                );
                if !step.recorded_body_is_exempt() && !step.response.is_null() {
                    p.extend(
                        oas.validate(schema, &step.response)
                            .into_iter()
                            .map(|e| format!("recorded body breaks the patched OAS: {e}")),
                    );
                }
            }
            Ok(None) => {
                self.outcome.validated += 1;
                if !text.is_empty() {
                    p.push(format!("the OAS documents no body, got {text}"));
                }
            }
            Err(e) => p.push(e),
        }
        if step.setup.is_some() && step.response.is_null() {
            return p;
        }
        if step.setup.is_none() {
            self.outcome.compared += 1;
        }
        p.extend(self.compare(step, &step.response, &emulated));
        p
    }

    fn compare(&mut self, step: &Step, rec: &Value, emu: &Value) -> Problems {
        let null_expiry = step.allows("expires_at_null");
        if step.status >= 400 {
            return if step.allows("recorder_redacted_body") {
                if emu["statusCode"] == json!(step.status) {
                    vec![]
                } else {
                    vec![format!("envelope statusCode {}", emu["statusCode"])]
                }
            } else if rec == emu {
                vec![]
            } else {
                vec![format!("error body {emu}, recorded {rec}")]
            };
        }
        match step.operation.as_str() {
            "POST /clients/{client_id}/credentials"
            | "GET /clients/{client_id}/credentials/{credential_id}"
            | "PATCH /clients/{client_id}/credentials/{credential_id}" => {
                shape::credential(rec, emu, null_expiry, &mut self.ids)
            }
            "GET /clients/{client_id}/credentials" => shape::credential_list(rec, emu, null_expiry, &mut self.ids),
            "GET /clients/{id}" | "PATCH /clients/{id}" => {
                shape::client(rec, emu, step.allows("secret_while_private_key_jwt"), &self.ids)
            }
            "GET /connections/{id}/keys" => shape::connection_keys(rec, emu, &mut self.kids),
            "POST /connections/{id}/keys/rotate" => {
                shape::connection_key(rec, emu, step.allows("rotate_kid_cert_only"), &mut self.kids)
            }
            "POST /oauth/token" => shape::token(rec, emu),
            "DELETE /clients/{client_id}/credentials/{credential_id}" => {
                if emu.is_null() {
                    vec![]
                } else {
                    vec![format!("a 204 with a body: {emu}")]
                }
            }
            other => vec![format!("no comparison for {other}")],
        }
    }

    /// A real assertion for the client the recorded request names (the recording holds a
    /// placeholder); on first use, a key is made and its credential attached to the client.
    async fn assertion(&mut self, ctx: &Ctx, body: &str) -> String {
        let client = form_value(body, "client_id").expect("the placeholder request names its client");
        if self.key.is_none() {
            let key = common::rsa_key();
            let pem = key.public_key().to_spki_pem().expect("SPKI");
            let url = |p: &str| format!("{}/api/v2/clients/{client}{p}", ctx.base);
            let created: Value = ctx
                .http
                .post(url("/credentials"))
                .bearer_auth(&ctx.token)
                .json(&json!({"credential_type": "public_key", "pem": pem}))
                .send()
                .await
                .expect("create")
                .json()
                .await
                .expect("credential");
            let attach =
                json!({"client_authentication_methods": {"private_key_jwt": {"credentials": [{"id": created["id"]}]}}});
            let r = ctx.http.patch(url("")).bearer_auth(&ctx.token).json(&attach).send().await.expect("attach");
            assert_eq!(r.status().as_u16(), 200, "attaching the replay's credential");
            self.key = Some(key);
        }
        let key = self.key.as_ref().expect("key");
        let aud = format!("https://{}/", ctx.domain);
        common::assertion(client, &aud, key, Algorithm::RS256, None, Duration::from_secs(60))
    }
}

fn form_value<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    body.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// Every `cred_…` identifier in a text.
pub fn credential_ids_in(text: &str) -> Vec<&str> {
    text.match_indices("cred_")
        .filter_map(|(i, _)| text.get(i..i + 27))
        .filter(|id| shape::is_credential_id(id))
        .collect()
}

/// `x-ratelimit-limit`, `-remaining` and `-reset` (epoch seconds), present and consistent.
pub fn rate_limit_headers(headers: &reqwest::header::HeaderMap) -> Problems {
    let num = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match (num("x-ratelimit-limit"), num("x-ratelimit-remaining"), num("x-ratelimit-reset")) {
        (Some(limit), Some(remaining), Some(reset)) if remaining <= limit && reset > 1_600_000_000 => vec![],
        other => vec![format!("x-ratelimit-limit/-remaining/-reset missing or inconsistent: {other:?}")],
    }
}
