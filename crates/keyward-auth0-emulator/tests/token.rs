//! `/oauth/token` over real HTTP: client_secret_post, client_secret_basic and private_key_jwt,
//! with Auth0's assertion rules and error bodies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use keyward_crypto::{Algorithm, sign_compact, signer_for};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn secret_methods_json_form_and_basic() {
    let env = env().await;
    let aud = format!("https://{}/api/v2/", env.domain);
    let form = env
        .http
        .post(env.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", MGMT),
            ("client_secret", MGMT_SECRET),
            ("audience", &aud),
            ("scope", "read:clients nope"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    assert!(form.headers().contains_key("x-ratelimit-reset"));
    let body: Value = form.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 86400);
    assert_eq!(body["scope"], "read:clients");

    // The access token is a real RS256 JWT that verifies under the tenant's JWKS.
    let jwks: keyward_crypto::Jwks =
        env.http.get(env.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    let kid = keyward_crypto::decode_header(token).unwrap().kid;
    let key = jwks.find(kid.as_deref()).unwrap().to_public_key().unwrap();
    let claims = keyward_crypto::verify_compact(token, &key, Some(Algorithm::RS256)).unwrap().claims().unwrap();
    assert_eq!(claims["iss"], format!("https://{}/", env.domain));
    assert_eq!(claims["sub"], format!("{MGMT}@clients"));
    assert_eq!(claims["gty"], "client-credentials");
    assert_eq!(claims["azp"], MGMT);

    // Basic is refused for a client configured for client_secret_post; a wrong secret too.
    let basic = env
        .http
        .post(env.url("/oauth/token"))
        .basic_auth(MGMT, Some(MGMT_SECRET))
        .json(&json!({"grant_type": "client_credentials", "audience": aud}))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    let wrong = env
        .http
        .post(env.url("/oauth/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": MGMT, "client_secret": "no", "audience": aud}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json::<Value>().await.unwrap()["error"], "access_denied");

    // No grant for the audience.
    let r = env
        .http
        .post(env.url("/oauth/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": MGMT, "client_secret": MGMT_SECRET, "audience": "https://api.demo.local/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "access_denied");
    assert!(body["error_description"].as_str().unwrap().contains("client-grant"));
    let r = env.http.post(env.url("/oauth/token")).json(&json!({"grant_type": "password"})).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn client_secret_basic_client() {
    let seed = SEED.replace(
        r#""client_id": "demo-app","#,
        r#""client_id": "basic-app", "name": "B", "client_secret": "b-secret", "token_endpoint_auth_method": "client_secret_basic", "grants": [{"audience": "https://api.demo.local/", "scope": []}]}, {"client_id": "demo-app","#,
    );
    let env = env_with(keyward_auth0_emulator::Seed::from_json(&seed).unwrap()).await;
    let r = env
        .http
        .post(env.url("/oauth/token"))
        .basic_auth("basic-app", Some("b-secret"))
        .form(&[("grant_type", "client_credentials"), ("audience", "https://api.demo.local/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.json::<Value>().await.unwrap().get("scope").is_none());
}

/// demo-app with one attached RS256 credential; returns (env, key, kid).
async fn private_key_jwt_app() -> (Env, keyward_crypto::PrivateKey, String) {
    let env = env().await;
    let key = rsa_key();
    let (_, cred) = env.create_credential(APP, &key, "RS256").await;
    env.attach(APP, &[cred["id"].as_str().unwrap()]).await;
    (env, key, cred["kid"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn private_key_jwt_exchange_and_replay() {
    let (env, key, kid) = private_key_jwt_app().await;
    let aud = format!("https://{}/", env.domain);
    let a = assertion(APP, &aud, &key, Algorithm::RS256, None, Duration::from_secs(60));
    let (s, body) = env.exchange(APP, &a, "https://api.demo.local/").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "read:demo write:demo");
    // The same jti again is refused.
    let (s, body) = env.exchange(APP, &a, "https://api.demo.local/").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    // With a kid header, and as JSON without client_id.
    let a = assertion(APP, &aud, &key, Algorithm::RS256, Some(&kid), Duration::from_secs(60));
    let r = env
        .http
        .post(env.url("/oauth/token"))
        .json(&json!({"grant_type": "client_credentials", "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": a, "audience": "https://api.demo.local/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn private_key_jwt_refusals() {
    let (env, key, _) = private_key_jwt_app().await;
    let aud = format!("https://{}/", env.domain);
    let lifetime = Duration::from_secs(60);
    let signer = signer_for(keyward_crypto::Backend::fastest(), &key, Algorithm::RS256).unwrap();
    let epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let sign = |claims: Value| {
        sign_compact(&*signer, None, None, claims.to_string().as_bytes(), &mut rand_core::UnwrapErr(getrandom::SysRng))
            .unwrap()
    };
    let base = |jti: &str| json!({"iss": APP, "sub": APP, "aud": aud, "iat": epoch, "exp": epoch + 60, "jti": jti});
    let mut cases: Vec<(String, &str)> = vec![
        (assertion(APP, "https://other/", &key, Algorithm::RS256, None, lifetime), "aud"),
        (assertion(APP, &format!("{aud}oauth/token"), &key, Algorithm::RS256, None, lifetime), "aud"),
        (assertion(APP, &aud, &rsa_key(), Algorithm::RS256, None, lifetime), "signature"),
        (assertion(APP, &aud, &key, Algorithm::PS256, None, lifetime), "signature"),
        (
            sign({
                let mut c = base("a1");
                c["exp"] = json!(epoch + 301);
                c
            }),
            "5 minutes",
        ),
        (
            sign({
                let mut c = base("a2");
                c["exp"] = json!(epoch - 100);
                c["iat"] = json!(epoch - 160);
                c
            }),
            "expired",
        ),
        (
            sign({
                let mut c = base("a3");
                c.as_object_mut().unwrap().remove("jti");
                c
            }),
            "jti",
        ),
        (
            sign({
                let mut c = base("a4");
                c["aud"] = json!([aud.clone()]);
                c
            }),
            "aud",
        ),
        (
            sign({
                let mut c = base("a5");
                c["sub"] = json!("someone-else");
                c
            }),
            "iss and sub",
        ),
        (
            sign({
                let mut c = base("a6");
                c["nbf"] = json!(epoch + 1000);
                c
            }),
            "nbf",
        ),
        (
            sign({
                let mut c = base("a7");
                c["pad"] = json!("x".repeat(2100));
                c
            }),
            "2048",
        ),
    ];
    cases.push(("not-a-jwt".into(), "valid JWT"));
    for (assertion, why) in cases {
        let (s, body) = env.exchange(APP, &assertion, "https://api.demo.local/").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{why}: {body}");
        assert_eq!(body["error"], "invalid_client", "{why}");
        assert!(body["error_description"].as_str().unwrap().contains(why), "{why}: {body}");
    }
}

#[tokio::test]
async fn only_attached_unexpired_credentials_authenticate() {
    let (env, key, _) = private_key_jwt_app().await;
    // A second, unattached key does not work; attached, it does.
    let other = rsa_key();
    let (_, cred) = env.create_credential(APP, &other, "RS256").await;
    let other_id = cred["id"].as_str().unwrap().to_owned();
    assert_eq!(env.assertion_exchange(APP, &other, Algorithm::RS256, None).await.0, StatusCode::UNAUTHORIZED);
    let state = env.state().await;
    let first_id = state["clients"].as_array().unwrap().iter().find(|c| c["client_id"] == APP).unwrap()["credentials"]
        [0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.attach(APP, &[&first_id, &other_id]).await;
    assert_eq!(env.assertion_exchange(APP, &other, Algorithm::RS256, None).await.0, StatusCode::OK);
    assert_eq!(env.assertion_exchange(APP, &key, Algorithm::RS256, None).await.0, StatusCode::OK);
    // Expired credentials stop working.
    env.patch(&format!("/api/v2/clients/{APP}/credentials/{other_id}"), json!({"expires_at": "2020-01-01T00:00:00Z"}))
        .await;
    assert_eq!(env.assertion_exchange(APP, &other, Algorithm::RS256, None).await.0, StatusCode::UNAUTHORIZED);
    // A PS256 credential only accepts PS256.
    let ps = rsa_key();
    env.attach(APP, &[&first_id]).await;
    let (_, cred) = env.create_credential(APP, &ps, "PS256").await;
    env.attach(APP, &[&first_id, cred["id"].as_str().unwrap()]).await;
    assert_eq!(env.assertion_exchange(APP, &ps, Algorithm::PS256, None).await.0, StatusCode::OK);
    assert_eq!(env.assertion_exchange(APP, &ps, Algorithm::RS256, None).await.0, StatusCode::UNAUTHORIZED);
}
