//! `/oauth/token` refusals `token.rs` does not already cover: the 2048-byte assertion limit at its
//! exact boundary, assertions that are not JWTs or not signed the way the credential says, and
//! malformed token requests. Each gets Auth0's status and `{error, error_description}` body, and
//! the emulator still answers (and still issues tokens) afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fidelity;

use std::time::{SystemTime, UNIX_EPOCH};

use base64ct::{Base64UrlUnpadded, Encoding};
use common::*;
use fidelity::oas::Oas;
use fidelity::refusal;
use keyward_crypto::{Algorithm, Backend, KeySpec, PrivateKey, aws_lc_generate, sign_compact, signer_for};
use reqwest::StatusCode;
use serde_json::{Value, json};

const API: &str = "https://api.demo.local/";
const BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// demo-app with one attached RS256 credential.
async fn app() -> (Env, PrivateKey) {
    let env = env().await;
    let key = rsa_key();
    let (_, cred) = env.create_credential(APP, &key, "RS256").await;
    assert_eq!(env.attach(APP, &[cred["id"].as_str().unwrap()]).await.0, StatusCode::OK);
    (env, key)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn claims(env: &Env, jti: &str, pad: usize) -> String {
    let t = now();
    json!({"iss": APP, "sub": APP, "aud": format!("https://{}/", env.domain), "iat": t, "exp": t + 60, "jti": jti,
        "pad": "p".repeat(pad)})
    .to_string()
}

fn sign(key: &PrivateKey, alg: Algorithm, claims: &str) -> String {
    let signer = signer_for(Backend::fastest(), key, alg).unwrap();
    sign_compact(&*signer, None, None, claims.as_bytes(), &mut rand_core::UnwrapErr(getrandom::SysRng)).unwrap()
}

/// A signed assertion for demo-app with `pad` extra characters in a claim.
fn padded(env: &Env, key: &PrivateKey, alg: Algorithm, jti: &str, pad: usize) -> String {
    sign(key, alg, &claims(env, jti, pad))
}

/// The longest signed assertion of at most 2048 bytes and the shortest longer one. (Unpadded
/// base64 never has a length of 1 mod 4, so not every length exists.)
fn either_side_of_2048(env: &Env, key: &PrivateKey) -> (String, String) {
    let probe = padded(env, key, Algorithm::RS256, "edge", 0);
    let fixed = probe.len() - Base64UrlUnpadded::encoded_len(claims(env, "edge", 0).as_bytes());
    let length = |c: &str| fixed + Base64UrlUnpadded::encoded_len(c.as_bytes());
    let all: Vec<String> = (0..2048).map(|pad| claims(env, &format!("edge-{pad}"), pad)).collect();
    let under = all.iter().filter(|c| length(c) <= 2048).max_by_key(|c| length(c)).unwrap();
    let over = all.iter().filter(|c| length(c) > 2048).min_by_key(|c| length(c)).unwrap();
    (sign(key, Algorithm::RS256, under), sign(key, Algorithm::RS256, over))
}

#[tokio::test]
async fn the_2048_byte_limit_holds_at_its_edge() {
    let (env, key) = app().await;
    let oas = Oas::load();
    let (under, over) = either_side_of_2048(&env, &key);
    assert!(under.len() >= 2046 && over.len() <= 2051, "{} {}", under.len(), over.len());
    let (s, body) = env.exchange(APP, &under, API).await;
    assert_eq!(s, StatusCode::OK, "{} bytes: {body}", under.len());
    let r = token_form(&env, &over).await;
    refusal::oauth(&oas, r, 401, "invalid_client", "2048", "an assertion just over 2048 bytes").await;
    // Long garbage is refused on its size before anything tries to parse it.
    let r = token_form(&env, &"x.".repeat(5000)).await;
    refusal::oauth(&oas, r, 401, "invalid_client", "2048", "10 KB of garbage").await;
    refusal::still_answers(&env, "oversize assertions").await;
}

/// A private_key_jwt token request for demo-app with `assertion`.
async fn token_form(env: &Env, assertion: &str) -> reqwest::Response {
    form(
        env,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", BEARER),
            ("client_assertion", assertion),
            ("audience", API),
        ],
    )
    .await
}

async fn form(env: &Env, fields: &[(&str, &str)]) -> reqwest::Response {
    env.http.post(env.url("/oauth/token")).form(fields).send().await.unwrap()
}

fn b64(v: &Value) -> String {
    Base64UrlUnpadded::encode_string(v.to_string().as_bytes())
}

#[tokio::test]
async fn assertions_that_are_not_properly_signed_jwts_are_invalid_client() {
    let (env, key) = app().await;
    let oas = Oas::load();
    let t = now();
    let claims = json!({"iss": APP, "sub": APP, "aud": format!("https://{}/", env.domain), "iat": t, "exp": t + 60, "jti": "u1"});
    let good = padded(&env, &key, Algorithm::RS256, "u2", 0);
    let parts: Vec<&str> = good.split('.').collect();
    let ec = aws_lc_generate(KeySpec::P256).unwrap();
    let es256 = {
        let signer = signer_for(Backend::fastest(), &ec, Algorithm::ES256).unwrap();
        sign_compact(&*signer, None, None, claims.to_string().as_bytes(), &mut rand_core::UnwrapErr(getrandom::SysRng))
            .unwrap()
    };
    let cases: Vec<(&str, String)> = vec![
        ("alg none, no signature", format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims))),
        (
            "HS256 header on an RSA signature",
            format!("{}.{}.{}", b64(&json!({"alg": "HS256", "typ": "JWT"})), parts[1], parts[2]),
        ),
        ("ES256 signature by a key the client does not have", es256),
        (
            "a header that is not JSON",
            format!("{}.{}.{}", Base64UrlUnpadded::encode_string(b"not json"), parts[1], parts[2]),
        ),
        (
            "a payload that is not JSON",
            format!("{}.{}.{}", parts[0], Base64UrlUnpadded::encode_string(b"[1,2"), parts[2]),
        ),
        ("a payload that is a JSON array", format!("{}.{}.{}", parts[0], b64(&json!([claims])), parts[2])),
        ("four segments", format!("{good}.AAAA")),
        ("a signature cut short", good[..good.len() - 10].to_owned()),
        ("an empty assertion", String::new()),
        ("claims swapped in under a valid signature", format!("{}.{}.{}", parts[0], b64(&claims), parts[2])),
    ];
    for (what, assertion) in cases {
        let r = token_form(&env, &assertion).await;
        refusal::oauth(&oas, r, 401, "invalid_client", "", what).await;
        refusal::still_answers(&env, what).await;
    }
    // None of that disturbed the client: its real assertions still work.
    let (s, body) = env.assertion_exchange(APP, &key, Algorithm::RS256, None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn malformed_token_requests_are_invalid_request() {
    let (env, key) = app().await;
    let oas = Oas::load();
    let assertion = padded(&env, &key, Algorithm::RS256, "m1", 0);
    let url = env.url("/oauth/token");
    let json_body = |body: &str| env.http.post(&url).header("content-type", "application/json").body(body.to_owned());
    let cases: Vec<(&str, reqwest::RequestBuilder, &str)> = vec![
        ("truncated JSON", json_body("{\"grant_type\": "), "could not be parsed"),
        ("a JSON array", json_body("[\"client_credentials\"]"), "could not be parsed"),
        ("a number where a string goes", json_body("{\"grant_type\": 5}"), "expected a string"),
        ("no content type", env.http.post(&url).body("grant_type=client_credentials"), "Content-Type"),
        (
            "text/plain",
            env.http.post(&url).header("content-type", "text/plain").body("grant_type=client_credentials"),
            "Content-Type",
        ),
        ("no grant_type", env.http.post(&url).form(&[("client_id", APP)]), "grant_type"),
        (
            "an unknown client_assertion_type",
            env.http.post(&url).form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:example:saml"),
                ("client_assertion", &assertion),
            ]),
            "client_assertion_type",
        ),
        (
            "a client_assertion_type without an assertion",
            env.http.post(&url).form(&[("grant_type", "client_credentials"), ("client_assertion_type", BEARER)]),
            "client_assertion",
        ),
    ];
    for (what, request, description) in cases {
        let r = request.send().await.unwrap();
        refusal::oauth(&oas, r, 400, "invalid_request", description, what).await;
        refusal::still_answers(&env, what).await;
    }
    // The assertion used above in a refused request was never consumed.
    let (s, body) = env.exchange(APP, &assertion, API).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}
