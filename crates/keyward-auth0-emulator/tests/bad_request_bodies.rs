//! Request bodies Auth0 refuses, on every Management endpoint the emulator serves: malformed
//! JSON, members the OAS closes off (`additionalProperties: false`) and values of the wrong JSON
//! type, found by walking each operation's request schema in `tests/data/oas_subset.json`
//! alongside a valid example body; and bodies past the size limit. Each refusal is 400 in
//! Auth0's envelope (413 for the size limit), changes nothing, and the emulator still answers;
//! each valid example is then accepted, so it is the mutation that was refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fidelity;

use common::*;
use fidelity::oas::{Oas, is_type};
use fidelity::refusal;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A body that differs from a valid example in one place, and where.
struct Mutation {
    at: String,
    body: Value,
}

/// Walks `example` with its schema, calling `visit(pointer, schema, value)` at every node.
fn walk(oas: &Oas, schema: &Value, value: &Value, at: &str, visit: &mut dyn FnMut(&str, &Value, &Value)) {
    let schema = oas.resolve(schema);
    // Of a oneOf/anyOf, the branch the example takes.
    for key in ["oneOf", "anyOf"] {
        if let Some(branch) = schema[key].as_array().and_then(|b| b.iter().find(|s| oas.validate(s, value).is_empty()))
        {
            walk(oas, branch, value, at, visit);
        }
    }
    visit(at, schema, value);
    match value {
        Value::Object(o) => {
            for (k, v) in o {
                if let Some(sub) = schema["properties"].get(k) {
                    walk(oas, sub, v, &format!("{at}/{k}"), visit);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                if let Some(sub) = schema.get("items") {
                    walk(oas, sub, v, &format!("{at}/{i}"), visit);
                }
            }
        }
        _ => {}
    }
}

fn replaced(example: &Value, at: &str, with: Value) -> Value {
    let mut body = example.clone();
    if at.is_empty() {
        return with;
    }
    *body.pointer_mut(at).unwrap() = with;
    body
}

/// One extra member in every object the schema closes.
fn unknown_members(oas: &Oas, schema: &Value, example: &Value) -> Vec<Mutation> {
    let mut out = Vec::new();
    walk(oas, schema, example, "", &mut |at, s, v| {
        if s.get("additionalProperties") == Some(&Value::Bool(false))
            && let Some(o) = v.as_object()
        {
            let mut o = o.clone();
            o.insert("unexpected_member".into(), json!(true));
            out.push(Mutation { at: at.to_owned(), body: replaced(example, at, Value::Object(o)) });
        }
    });
    out
}

/// A value of a JSON type the schema does not allow, wherever the schema names types.
fn wrong_types(oas: &Oas, schema: &Value, example: &Value) -> Vec<Mutation> {
    let mut out = Vec::new();
    walk(oas, schema, example, "", &mut |at, s, _| {
        let types: Vec<&str> = match &s["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => return,
        };
        let candidates = [json!(12345), json!("text"), json!(true), json!([1]), json!({"a": 1})];
        if let Some(bad) = candidates.into_iter().find(|c| !types.iter().any(|t| is_type(t, c))) {
            out.push(Mutation { at: at.to_owned(), body: replaced(example, at, bad) });
        }
    });
    out
}

/// One endpoint: how to reach it, its OAS operation and a valid body.
struct Endpoint {
    method: Method,
    path: String,
    operation: &'static str,
    example: Value,
    ok: StatusCode,
}

async fn send(env: &Env, e: &Endpoint, body: Vec<u8>) -> reqwest::Response {
    env.http
        .request(e.method.clone(), env.url(&e.path))
        .bearer_auth(&env.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A tenant whose `secret-app` has a credential `id`, and the endpoints with valid examples.
async fn endpoints() -> (Env, Vec<Endpoint>, String) {
    let seed = SEED.replace(
        r#""client_id": "demo-app","#,
        r#""client_id": "secret-app", "name": "Secret app", "client_secret": "shh", "grants": []}, {"client_id": "demo-app","#,
    );
    // Hundreds of requests in a burst: lift the rate limit, which is not under test here.
    let seed = seed.replace(r#""burst": 50, "per_second": 16"#, r#""burst": 100000, "per_second": 1000"#);
    let seed = seed.replace(
        r#""connections": ["#,
        r#""connections": [{"id": "con_plainoidc000001", "name": "plain-oidc", "strategy": "oidc", "options": {}},"#,
    );
    let env = env_with(keyward_auth0_emulator::Seed::from_json(&seed).unwrap()).await;
    let (s, cred) = env.create_credential("secret-app", &rsa_key(), "RS256").await;
    assert_eq!(s, StatusCode::CREATED);
    let id = cred["id"].as_str().unwrap().to_owned();
    let pem = rsa_key().public_key().to_spki_pem().unwrap();
    let ids = json!([{"id": id}]);
    let list = vec![
        Endpoint {
            method: Method::POST,
            path: "/api/v2/clients/secret-app/credentials".into(),
            operation: "POST /clients/{client_id}/credentials",
            example: json!({"credential_type": "public_key", "name": "example", "pem": pem, "alg": "RS256",
                "parse_expiry_from_cert": false, "expires_at": "2099-01-01T00:00:00.000Z", "kid": "example-kid-0001"}),
            ok: StatusCode::CREATED,
        },
        Endpoint {
            method: Method::PATCH,
            path: format!("/api/v2/clients/secret-app/credentials/{id}"),
            operation: "PATCH /clients/{client_id}/credentials/{credential_id}",
            example: json!({"expires_at": "2099-01-01T00:00:00.000Z"}),
            ok: StatusCode::OK,
        },
        Endpoint {
            method: Method::PATCH,
            path: "/api/v2/clients/secret-app".into(),
            operation: "PATCH /clients/{id}",
            example: json!({"name": "Renamed", "jwt_configuration": {"alg": "RS256"},
                "client_authentication_methods": {"private_key_jwt": {"credentials": ids}},
                "token_endpoint_auth_method": null,
                "signed_request_object": {"required": false, "credentials": ids},
                "token_vault_privileged_access": {"credentials": ids, "ip_allowlist": ["10.0.0.1"],
                    "grants": [{"connection": "github", "scopes": ["repo"]}]}}),
            ok: StatusCode::OK,
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v2/connections/con_plainoidc000001/keys".into(),
            operation: "POST /connections/{id}/keys",
            example: json!({"signing_alg": "RS256"}),
            ok: StatusCode::CREATED,
        },
        Endpoint {
            method: Method::POST,
            path: format!("/api/v2/connections/{CONN}/keys/rotate"),
            operation: "POST /connections/{id}/keys/rotate",
            example: json!({"signing_alg": "RS256"}),
            ok: StatusCode::CREATED,
        },
    ];
    (env, list, id)
}

#[tokio::test]
async fn closed_objects_refuse_unknown_members_and_declared_types_refuse_others() {
    let (env, endpoints, _) = endpoints().await;
    let oas = Oas::load();
    let before = env.state().await;
    let mut tried = 0;
    for e in &endpoints {
        let schema = oas.request(e.operation);
        assert!(oas.validate(schema, &e.example).is_empty(), "{}: the example itself breaks the OAS", e.operation);
        let unknown = unknown_members(&oas, schema, &e.example);
        let types = wrong_types(&oas, schema, &e.example);
        assert!(!unknown.is_empty() && !types.is_empty(), "{}", e.operation);
        for (kind, m) in unknown.iter().map(|m| ("unknown member", m)).chain(types.iter().map(|m| ("wrong type", m))) {
            let what = format!("{} {kind} at {:?}", e.operation, m.at);
            assert!(!oas.validate(schema, &m.body).is_empty(), "{what}: the OAS itself accepts it");
            let r = send(&env, e, m.body.to_string().into_bytes()).await;
            refusal::invalid_body(&oas, r, "Payload validation error", &what).await;
            refusal::still_answers(&env, &what).await;
            tried += 1;
        }
    }
    assert!(tried >= 30, "{tried}");
    let mut after = env.state().await;
    after["requests"] = before["requests"].clone();
    assert_eq!(after, before, "a refused request changed the tenant");
    for e in &endpoints {
        let r = send(&env, e, e.example.to_string().into_bytes()).await;
        assert_eq!(r.status(), e.ok, "{}: {}", e.operation, r.text().await.unwrap());
    }
}

#[tokio::test]
async fn malformed_json_is_refused_everywhere() {
    let (env, endpoints, _) = endpoints().await;
    let oas = Oas::load();
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let bodies: [(&str, Vec<u8>, &str); 6] = [
        ("truncated JSON", b"{\"expires_at\": ".to_vec(), "Invalid request payload JSON format"),
        ("not JSON", b"expires_at=2099-01-01".to_vec(), "Invalid request payload JSON format"),
        ("invalid UTF-8", vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'], "Invalid request payload JSON format"),
        ("20,000 nested arrays", deep.into_bytes(), "Invalid request payload JSON format"),
        ("a JSON string", b"\"public_key\"".to_vec(), "Expected type object but found type string"),
        ("a JSON array", b"[{}]".to_vec(), "Expected type object but found type array"),
    ];
    for e in &endpoints {
        for (what, body, message) in &bodies {
            let what = format!("{} with {what}", e.operation);
            refusal::management(&oas, send(&env, e, body.clone()).await, 400, message, &what).await;
            refusal::still_answers(&env, &what).await;
        }
    }
    // Where the OAS requires an object, an empty body or `null` is refused too; the key
    // endpoints take "an object or null".
    for e in &endpoints {
        for (body, message) in [(&b""[..], "Invalid request payload JSON format"), (b"null", "Expected type object")] {
            let r = send(&env, e, body.to_vec()).await;
            let what = format!("{} with {:?}", e.operation, String::from_utf8_lossy(body));
            if e.operation.starts_with("POST /connections") {
                assert_ne!(r.status(), StatusCode::BAD_REQUEST, "{what}");
            } else {
                refusal::management(&oas, r, 400, message, &what).await;
            }
        }
    }
}

#[tokio::test]
async fn bodies_past_the_size_limit_get_a_json_413() {
    let (env, endpoints, _) = endpoints().await;
    let oas = Oas::load();
    for e in &endpoints {
        let body = json!({"name": "x".repeat(70 * 1024)}).to_string().into_bytes();
        let what = format!("{} with a 70 KiB body", e.operation);
        refusal::management(&oas, send(&env, e, body).await, 413, "", &what).await;
        refusal::still_answers(&env, &what).await;
    }
    let r = env
        .http
        .post(env.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials&client_assertion={}", "a".repeat(70 * 1024)))
        .send()
        .await
        .unwrap();
    refusal::oauth(&oas, r, 413, "invalid_request", "", "a 70 KiB token request").await;
    refusal::still_answers(&env, "a 70 KiB token request").await;
}
