//! The tenant signing-key calls against a stub Auth0 over HTTP, answering with recorded bodies:
//! paths, methods, statuses, escaping, and typed errors for bad answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::stub::{Reply, stub};
use keyward_auth0::Error;

const LIST: &str = include_str!("data/go-auth0_list_signing_keys_2023.json");
const GET: &str = include_str!("data/go-auth0_get_signing_key_2023.json");
const ROTATE: &str = include_str!("data/go-auth0_rotate_signing_key_2023.json");
const REVOKE: &str = include_str!("data/go-auth0_revoke_signing_key_2023.json");
const KID: &str = "111111111111111111111";
const NOT_FOUND: &str = r#"{"statusCode":404,"error":"Not Found","message":"Signing key not found."}"#;

fn recorded(method: &str, target: &str) -> Reply {
    match (method, target) {
        ("GET", "/api/v2/keys/signing") => Reply::json(200, LIST),
        ("GET", "/api/v2/keys/signing/111111111111111111111") => Reply::json(200, GET),
        ("POST", "/api/v2/keys/signing/rotate") => Reply::json(201, ROTATE),
        ("PUT", "/api/v2/keys/signing/111111111111111111111/revoke") => Reply::json(200, REVOKE),
        _ => Reply::json(404, NOT_FOUND),
    }
}

#[tokio::test]
async fn the_four_calls_use_the_documented_paths() {
    let server = stub(recorded).await;
    let auth0 = server.client();
    let keys = auth0.list_signing_keys().await.unwrap();
    assert_eq!(keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), [KID, "222222222222222222222"]);
    let key = auth0.get_signing_key(KID).await.unwrap();
    assert_eq!(key, keys[0]);
    let rotated = auth0.rotate_signing_key().await.unwrap();
    assert_eq!(rotated.kid, KID);
    assert!(rotated.cert.starts_with("-----BEGIN CERTIFICATE-----"));
    let revoked = auth0.revoke_signing_key(KID).await.unwrap();
    assert_eq!(revoked.kid, KID);
    assert_eq!(revoked.revoked_at.and_then(|d| d.time()).map(|t| t.unix_timestamp()), Some(1_674_671_984));
    assert_eq!(
        server.management_log(),
        [
            "GET /api/v2/keys/signing",
            "GET /api/v2/keys/signing/111111111111111111111",
            "POST /api/v2/keys/signing/rotate",
            "PUT /api/v2/keys/signing/111111111111111111111/revoke",
        ]
    );
}

#[tokio::test]
async fn an_unknown_kid_is_signing_key_not_found() {
    let server = stub(recorded).await;
    let auth0 = server.client();
    let e = auth0.get_signing_key("nope").await.unwrap_err();
    assert!(matches!(e, Error::SigningKeyNotFound { ref message } if message == "Signing key not found."), "{e:?}");
    let e = auth0.revoke_signing_key("a/b?c").await.unwrap_err();
    assert!(matches!(e, Error::SigningKeyNotFound { .. }), "{e:?}");
    // The kid stays one path segment.
    assert_eq!(server.management_log(), ["GET /api/v2/keys/signing/nope", "PUT /api/v2/keys/signing/a%2Fb%3Fc/revoke"]);
    for bad in ["", ".", ".."] {
        assert!(matches!(auth0.get_signing_key(bad).await, Err(Error::InvalidArgument(_))));
        assert!(matches!(auth0.revoke_signing_key(bad).await, Err(Error::InvalidArgument(_))));
    }
    assert_eq!(server.management_log().len(), 2, "nothing sent for an unusable kid");
}

#[tokio::test]
async fn malformed_answers_are_protocol_errors() {
    for body in ["", "<html>", "{}", r#"[{"kid":1,"cert":"c"}]"#, r#"[{"cert":"c"}]"#, r#"{"kid":"k"}"#, "null"] {
        let server = stub(move |_, _: &str| Reply::json(200, body)).await;
        let auth0 = server.client();
        let e = auth0.list_signing_keys().await.unwrap_err();
        assert!(matches!(e, Error::Protocol { status: 200, .. }), "{body}: {e:?}");
        let e = auth0.get_signing_key(KID).await.unwrap_err();
        assert!(matches!(e, Error::Protocol { .. }), "{body}: {e:?}");
        let e = auth0.revoke_signing_key(KID).await.unwrap_err();
        assert!(matches!(e, Error::Protocol { .. }), "{body}: {e:?}");
        let e = auth0.rotate_signing_key().await.unwrap_err();
        assert!(matches!(e, Error::Protocol { .. }), "{body}: {e:?}");
    }
    // A status the call does not document is a protocol error too, even with a good body.
    let server = stub(|_, _: &str| Reply::json(202, ROTATE)).await;
    let e = server.client().rotate_signing_key().await.unwrap_err();
    assert!(matches!(e, Error::Protocol { status: 202, .. }), "{e:?}");
}

#[tokio::test]
async fn rotate_is_never_repeated_blindly() {
    // Auth0 allows 5 rotations a day: a 429 that resets tomorrow fails at once.
    let server = stub(|_, _: &str| Reply::rate_limited(common::now_epoch() + 86_400)).await;
    let e = server.client().rotate_signing_key().await.unwrap_err();
    assert!(matches!(e, Error::RateLimited { .. }), "{e:?}");
    assert_eq!(server.management_log(), ["POST /api/v2/keys/signing/rotate"]);

    // A 5xx leaves the rotation's outcome unknown: not retried.
    let server = stub(|_, _: &str| Reply::json(503, "")).await;
    let e = server.client().rotate_signing_key().await.unwrap_err();
    assert!(matches!(e, Error::UnknownOutcome { operation: "rotate_signing_key", .. }), "{e:?}");
    assert_eq!(server.management_log().len(), 1);

    // A read is retried.
    let server = stub(|_, _: &str| Reply::json(503, "")).await;
    let e = server.client().list_signing_keys().await.unwrap_err();
    assert!(matches!(e, Error::Unavailable { status: Some(503), .. }), "{e:?}");
    assert_eq!(server.management_log().len(), 3);
}
