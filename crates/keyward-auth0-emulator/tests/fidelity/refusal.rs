//! Checks shared by the bad-input tests: a refusal has Auth0's status, content type and error
//! body (validated against the envelope schemas), and the emulator still answers afterwards.

use reqwest::Response;
use serde_json::Value;

use super::oas::Oas;
use crate::common::{APP, Env};

/// A Management API refusal: `status`, `application/json; charset=utf-8`, the
/// `{statusCode, error, message, errorCode?}` envelope with a message containing `message`, and
/// the rate-limit headers. Returns the body.
pub async fn management(oas: &Oas, r: Response, status: u16, message: &str, what: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "{what}");
    assert_eq!(r.headers()["content-type"], "application/json; charset=utf-8", "{what}");
    assert!(r.headers().contains_key("x-ratelimit-remaining"), "{what}");
    let text = r.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
    let errors = oas.validate(oas.component("ManagementErrorEnvelope"), &body);
    assert!(errors.is_empty(), "{what}: {errors:?} in {body}");
    assert_eq!(body["statusCode"], status, "{what}");
    let m = body["message"].as_str().unwrap_or_default();
    assert!(m.contains(message), "{what}: {m:?} lacks {message:?}");
    body
}

/// A 400 payload-validation refusal (`errorCode: invalid_body`).
pub async fn invalid_body(oas: &Oas, r: Response, message: &str, what: &str) -> Value {
    let body = management(oas, r, 400, message, what).await;
    assert_eq!(body["error"], "Bad Request", "{what}");
    assert_eq!(body["errorCode"], "invalid_body", "{what}: {body}");
    body
}

/// An Authentication API refusal: `status`, `application/json`, `{error, error_description}`.
pub async fn oauth(oas: &Oas, r: Response, status: u16, error: &str, description: &str, what: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "{what}");
    assert_eq!(r.headers()["content-type"], "application/json", "{what}");
    let text = r.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
    let errors = oas.validate(oas.component("AuthErrorResponse"), &body);
    assert!(errors.is_empty(), "{what}: {errors:?} in {body}");
    assert_eq!(body["error"], error, "{what}: {body}");
    let d = body["error_description"].as_str().unwrap_or_default();
    assert!(d.contains(description), "{what}: {d:?} lacks {description:?}");
    body
}

/// The emulator did not fall over: the Management API, the token endpoint's neighbour and the
/// control API all still answer.
pub async fn still_answers(env: &Env, what: &str) {
    let r = env.get(&format!("/api/v2/clients/{APP}/credentials")).await;
    assert_eq!(r.status().as_u16(), 200, "after {what}");
    let r = env.http.get(env.url("/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "after {what}");
    let r = env.http.get(env.url("/__emulator/state")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "after {what}");
}
