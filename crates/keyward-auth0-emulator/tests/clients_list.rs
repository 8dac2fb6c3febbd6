//! `GET /api/v2/clients` over real HTTP: offset pagination with and without totals, `fields`
//! and `include_fields`, the same member visibility as `GET /api/v2/clients/{id}`, filters,
//! scopes, and refusals of bad query strings; every answer checked against the OAS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fidelity;

use std::collections::BTreeSet;

use common::*;
use fidelity::oas::Oas;
use fidelity::replay::schema_for;
use keyward_auth0_emulator::Seed;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Clients in the seed besides the example's two.
const EXTRA: usize = 9;

/// The example seed plus [`EXTRA`] clients and two readers with narrower scopes.
fn seed() -> Seed {
    let mut seed: Value = serde_json::from_str(SEED).unwrap();
    let clients = seed["clients"].as_array_mut().unwrap();
    for i in 0..EXTRA {
        clients.push(json!({"client_id": format!("extra-{i:02}"), "name": format!("Extra {i}"), "client_secret": format!("s{i}"), "grants": []}));
    }
    let reader = |id: &str, scope: &[&str]| json!({"client_id": id, "name": id, "client_secret": "rs", "grants": [{"audience": "https://{domain}/api/v2/", "scope": scope}]});
    clients.push(reader("reader", &["read:clients"]));
    clients.push(reader("nobody", &["read:signing_keys"]));
    // Walking every page size takes ~55 Management API calls, more than Auth0's burst of 50: on
    // a fast machine they all land within the burst's refill and the last ones would be 429.
    // Rate limits are tested elsewhere (tests/control.rs, tests/management.rs).
    seed["limits"]["burst"] = json!(1000);
    Seed::from_json(&seed.to_string()).unwrap()
}

const TOTAL: usize = EXTRA + 4;

/// GET `path` with `token`; the body after checking status, content type and the OAS.
async fn get(env: &Env, token: &str, path: &str, status: u16) -> Value {
    let r = env.http.get(env.url(path)).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), status, "{path}");
    assert_eq!(r.headers()["content-type"], "application/json; charset=utf-8");
    let body: Value = r.json().await.unwrap();
    let oas = Oas::load();
    let schema = schema_for(&oas, "GET /clients", status).unwrap().unwrap();
    let errors = oas.validate(schema, &body);
    assert!(errors.is_empty(), "{path}: {errors:?}\n{body}");
    body
}

async fn token_of(env: &Env, id: &str) -> String {
    secret_token(&env.http, &env.base, id, "rs", &format!("https://{}/api/v2/", env.domain)).await
}

fn ids(clients: &Value) -> Vec<String> {
    clients.as_array().unwrap().iter().map(|c| c["client_id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn pages_cover_every_client_exactly_once() {
    let env = env_with(seed()).await;
    let all = get(&env, &env.token, "/api/v2/clients", 200).await;
    assert_eq!(all.as_array().unwrap().len(), TOTAL, "no parameters: one page of up to 50");

    for per_page in [1, 3, 5, TOTAL, 100] {
        let mut seen = Vec::new();
        let mut page = 0;
        loop {
            let body = get(
                &env,
                &env.token,
                &format!("/api/v2/clients?page={page}&per_page={per_page}&include_totals=true"),
                200,
            )
            .await;
            assert_eq!(body.as_object().unwrap().keys().collect::<Vec<_>>(), ["start", "limit", "total", "clients"]);
            assert_eq!(
                (body["start"].as_u64(), body["limit"].as_u64()),
                (Some((page * per_page) as u64), Some(per_page as u64))
            );
            assert_eq!(body["total"], TOTAL);
            let got = ids(&body["clients"]);
            assert!(got.len() <= per_page);
            if got.is_empty() {
                break;
            }
            // Without totals the same page is the bare array.
            let bare = get(&env, &env.token, &format!("/api/v2/clients?page={page}&per_page={per_page}"), 200).await;
            assert_eq!(bare, body["clients"]);
            seen.extend(got);
            page += 1;
        }
        assert_eq!(seen.len(), TOTAL, "per_page {per_page}: {seen:?}");
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), TOTAL, "per_page {per_page}: a client listed twice");
        assert_eq!(unique, ids(&all).iter().collect(), "per_page {per_page}");
    }
    // The OAS wrapper has no `length` (additionalProperties: false): a page carrying one would not fit.
    let oas = Oas::load();
    let with_length = json!({"start": 0, "limit": 1, "length": 1, "total": 1, "clients": [all[0].clone()]});
    assert!(!oas.validate(schema_for(&oas, "GET /clients", 200).unwrap().unwrap(), &with_length).is_empty());
    let empty = get(&env, &env.token, "/api/v2/clients?per_page=0&include_totals=true", 200).await;
    assert_eq!((empty["clients"].clone(), empty["total"].clone()), (json!([]), json!(TOTAL)));
}

#[tokio::test]
async fn members_are_those_of_the_single_client_read_for_the_same_scopes() {
    let env = env_with(seed()).await;
    let reader = token_of(&env, "reader").await;
    for token in [&env.token, &reader] {
        let list = get(&env, token, "/api/v2/clients?per_page=100", 200).await;
        for c in list.as_array().unwrap() {
            let id = c["client_id"].as_str().unwrap();
            let one: Value = env
                .http
                .get(env.url(&format!("/api/v2/clients/{id}")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(*c, one);
        }
    }
    // Secrets and authentication methods only with read:client_keys / read:client_credentials.
    let full = get(&env, &env.token, "/api/v2/clients?per_page=100", 200).await;
    let limited = get(&env, &reader, "/api/v2/clients?per_page=100", 200).await;
    let find = |list: &Value, id: &str| list.as_array().unwrap().iter().find(|c| c["client_id"] == id).unwrap().clone();
    assert_eq!(find(&full, MGMT)["client_secret"], MGMT_SECRET);
    assert!(find(&full, APP)["client_authentication_methods"]["private_key_jwt"].is_object());
    for c in limited.as_array().unwrap() {
        assert!(c.get("client_secret").is_none() && c.get("client_authentication_methods").is_none(), "{c}");
    }
    // Asking for a hidden field does not reveal it.
    let asked = get(&env, &reader, "/api/v2/clients?fields=client_secret,client_authentication_methods", 200).await;
    assert!(asked.as_array().unwrap().iter().all(|c| c == &json!({})), "{asked}");
}

#[tokio::test]
async fn fields_include_and_exclude() {
    let env = env_with(seed()).await;
    let only = get(&env, &env.token, "/api/v2/clients?fields=client_id,name&include_fields=true", 200).await;
    for c in only.as_array().unwrap() {
        assert_eq!(c.as_object().unwrap().keys().collect::<Vec<_>>(), ["client_id", "name"]);
    }
    assert_eq!(
        get(&env, &env.token, "/api/v2/clients?fields=client_id,%20name", 200).await,
        only,
        "include by default"
    );
    let without =
        get(&env, &env.token, "/api/v2/clients?fields=client_id,name,jwt_configuration&include_fields=false", 200)
            .await;
    for c in without.as_array().unwrap() {
        let o = c.as_object().unwrap();
        assert!(!o.contains_key("client_id") && !o.contains_key("name") && !o.contains_key("jwt_configuration"), "{c}");
        assert!(o.contains_key("app_type") && o.contains_key("grant_types"), "{c}");
    }
    let paged = get(&env, &env.token, "/api/v2/clients?fields=name&page=1&per_page=2&include_totals=true", 200).await;
    assert_eq!(paged["clients"].as_array().unwrap().len(), 2);
    assert!(paged["clients"].as_array().unwrap().iter().all(|c| c.as_object().unwrap().keys().eq(["name"])));
}

#[tokio::test]
async fn filters_scopes_and_bad_query_strings() {
    let env = env_with(seed()).await;
    assert_eq!(get(&env, &env.token, "/api/v2/clients?is_first_party=false", 200).await, json!([]));
    assert_eq!(get(&env, &env.token, "/api/v2/clients?is_global=true", 200).await, json!([]));
    assert_eq!(get(&env, &env.token, "/api/v2/clients?app_type=spa,native", 200).await, json!([]));
    let machine = get(&env, &env.token, "/api/v2/clients?app_type=spa,non_interactive&is_first_party=true", 200).await;
    assert_eq!(machine.as_array().unwrap().len(), TOTAL);

    let nobody = token_of(&env, "nobody").await;
    assert_envelope(
        env.http.get(env.url("/api/v2/clients")).bearer_auth(&nobody).send().await.unwrap(),
        403,
        "Insufficient scope, expected any of: read:clients, read:client_keys, read:client_credentials, read:client_summary",
    )
    .await;
    assert_envelope(env.http.get(env.url("/api/v2/clients")).send().await.unwrap(), 401, "Missing authentication")
        .await;
    for (query, message) in [
        ("per_page=101", "Must be less than or equal to 100"),
        ("per_page=-1", "Must be greater than or equal to 0"),
        ("page=abc", "Expected type integer"),
        ("include_totals=yes", "Expected type boolean"),
        ("include_fields=1&fields=name", "Expected type boolean"),
        ("page=1&page=2", "on property page"),
        ("colour=blue", "Additional properties not allowed: colour"),
        ("q=name:x", "not supported by the emulator"),
        ("from=abc&take=2", "not supported by the emulator"),
    ] {
        let r = env.get(&format!("/api/v2/clients?{query}")).await;
        let body = assert_envelope(r, 400, message).await;
        assert_eq!(body["errorCode"], "invalid_query_string", "{query}");
        assert!(body["message"].as_str().unwrap().starts_with("Query validation error: "), "{body}");
    }
    assert_eq!(env.get("/api/v2/clients?per_page=100").await.status(), StatusCode::OK);
}
