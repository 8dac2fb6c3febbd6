//! The adapter against the real emulator over HTTP: every call, every typed error, the token
//! cache, retries and unknown outcomes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use keyward_auth0::{ClientAuth, Error, NewCredential, SecretMethod, SigningKey, SigningKeyDate};
use keyward_crypto::Algorithm;
use secrecy::ExposeSecret;
use serde_json::json;

#[tokio::test]
async fn tokens_with_client_secret_post_and_basic() {
    let emu = emulator().await;
    let mgmt = mgmt(&emu);
    let t = mgmt.management_token().await.unwrap();
    assert_eq!(t.token_type(), "Bearer");
    assert!(t.expires_in().as_secs() > 60);
    let rl = mgmt.last_token_rate_limit().expect("rate-limit headers on the token answer");
    assert!(rl.limit.is_some() && rl.remaining.is_some() && rl.reset.is_some());
    assert_eq!(mgmt.last_rate_limit(), None);
    mgmt.list_credentials(APP).await.unwrap();
    let rl = mgmt.last_rate_limit().expect("rate-limit headers on Management answers");
    assert!(rl.limit.is_some() && rl.remaining.is_some() && rl.reset.is_some());

    let basic = client(
        &emu,
        ClientAuth::SecretBasic { client_id: BASIC.into(), client_secret: BASIC_SECRET.to_owned().into() },
    );
    let c = basic.get_client(APP).await.unwrap();
    assert_eq!(c.client_id, APP);
    assert_eq!(c.token_endpoint_auth_method.as_deref(), Some("client_secret_post"));
    assert_eq!(c.client_secret.as_ref().map(|s| s.expose_secret().to_owned()).as_deref(), Some(APP_SECRET));

    // The wrong method for the client, a wrong secret: 401.
    let wrong = client(&emu, secret_post(BASIC, BASIC_SECRET));
    assert!(matches!(wrong.management_token().await, Err(Error::Unauthorized { .. })));
    let wrong = client(&emu, secret_post(MGMT, "not-the-secret"));
    let e = wrong.management_token().await.unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    assert!(!format!("{e} {e:?} {wrong:?}").contains("not-the-secret"));

    // No client grant for the audience: 403 access_denied.
    let e = mgmt.get_token(API, None).await.unwrap_err();
    assert!(matches!(e, Error::AccessDenied { .. }), "{e:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn credential_lifecycle_and_typed_errors() {
    let emu = emulator().await;
    let auth0 = mgmt(&emu);
    let keys: Vec<TestKey> = (0..5).map(|_| rsa_key()).collect();

    assert!(auth0.list_credentials(APP).await.unwrap().is_empty());
    let mut named = NewCredential::public_key(&keys[0].public_pem);
    named.name = Some("first".into());
    let first = auth0.create_credential(APP, &named).await.unwrap();
    assert!(first.id.starts_with("cred_"));
    assert_eq!(first.kid.as_deref(), Some(keys[0].kid.as_str()));
    assert_eq!(first.alg.as_deref(), Some("RS256"));
    assert_eq!(first.name.as_deref(), Some("first"));
    assert_eq!(first.expires_at, None);
    let second = auth0.create_credential(APP, &NewCredential::public_key(&keys[1].public_pem)).await.unwrap();
    assert_eq!(second.name, None);

    let got = auth0.get_credential(APP, &first.id).await.unwrap();
    assert_eq!(got, first);
    let listed = auth0.list_credentials(APP).await.unwrap();
    assert_eq!(listed.len(), 2);

    // PATCH expires_at: set, then clear with null.
    let at = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let patched = auth0.update_credential_expiry(APP, &first.id, Some(at)).await.unwrap();
    assert_eq!(patched.expires_at_time().map(|t| t.unix_timestamp()), Some(at.unix_timestamp()));
    let cleared = auth0.update_credential_expiry(APP, &first.id, None).await.unwrap();
    assert_eq!(cleared.expires_at, None);

    // Duplicate key.
    let e = auth0.create_credential(APP, &NewCredential::public_key(&keys[0].public_pem)).await.unwrap_err();
    assert!(matches!(e, Error::DuplicateKey { .. }), "{e:?}");

    // Attach: the first switch from client_secret_post sends token_endpoint_auth_method: null.
    let c = auth0.set_private_key_jwt_credentials(APP, &[&first.id, &second.id], true).await.unwrap();
    assert!(c.uses_private_key_jwt());
    assert_eq!(c.private_key_jwt_credential_ids(), [first.id.as_str(), second.id.as_str()]);
    assert!(c.token_endpoint_auth_method.is_none() && c.client_secret.is_none());

    // Pool: 4 records per client.
    let third = auth0.create_credential(APP, &NewCredential::public_key(&keys[2].public_pem)).await.unwrap();
    let fourth = auth0.create_credential(APP, &NewCredential::public_key(&keys[3].public_pem)).await.unwrap();
    let e = auth0.create_credential(APP, &NewCredential::public_key(&keys[4].public_pem)).await.unwrap_err();
    assert!(matches!(e, Error::PoolFull { ref message } if message == "A client can have a maximum of 4 credentials."));

    // Slots: 2 per method; later rotations leave token_endpoint_auth_method out.
    let e = auth0.set_private_key_jwt_credentials(APP, &[&first.id, &second.id, &third.id], false).await.unwrap_err();
    assert!(matches!(e, Error::SlotFull { ref message } if message.contains("Array is too long (3), maximum 2")));
    let c = auth0.set_private_key_jwt_credentials(APP, &[&second.id, &third.id], false).await.unwrap();
    assert_eq!(c.private_key_jwt_credential_ids(), [second.id.as_str(), third.id.as_str()]);

    // Delete: attached is refused, detached goes.
    let e = auth0.delete_credential(APP, &second.id).await.unwrap_err();
    assert!(matches!(e, Error::StillAttached { .. }), "{e:?}");
    auth0.delete_credential(APP, &first.id).await.unwrap();
    auth0.delete_credential(APP, &fourth.id).await.unwrap();
    let e = auth0.get_credential(APP, &first.id).await.unwrap_err();
    assert!(matches!(e, Error::CredentialNotFound { .. }), "{e:?}");

    // Detach everything and go back to a secret.
    auth0.set_private_key_jwt_credentials(APP, &[], false).await.unwrap();
    let c = auth0.revert_to_client_secret(APP, SecretMethod::ClientSecretPost).await.unwrap();
    assert!(!c.uses_private_key_jwt());
    assert_eq!(c.token_endpoint_auth_method.as_deref(), Some("client_secret_post"));

    // Not found: client, and path segments stay segments.
    let e = auth0.get_client("no-such-client").await.unwrap_err();
    assert!(matches!(e, Error::ClientNotFound { .. }), "{e:?}");
    let e = auth0.list_credentials("no-such-client").await.unwrap_err();
    assert!(matches!(e, Error::ClientNotFound { .. }), "{e:?}");
    let e = auth0.get_credential("no-such-client", &second.id).await.unwrap_err();
    assert!(matches!(e, Error::ClientNotFound { .. }), "{e:?}");
    let e = auth0.get_client("app/credentials").await.unwrap_err();
    assert!(matches!(e, Error::ClientNotFound { .. }), "{e:?}");
    assert!(requests(&emu).iter().any(|r| r["path"] == "/api/v2/clients/app%2Fcredentials"));
    assert!(matches!(auth0.get_client("..").await, Err(Error::InvalidArgument(_))));
    emu.shutdown().await;
}

#[tokio::test]
async fn private_key_jwt_tokens_with_assertions_from_a_signer() {
    let emu = emulator().await;
    let auth0 = mgmt(&emu);
    let key = rsa_key();
    let cred = auth0.create_credential(APP, &NewCredential::public_key(&key.public_pem)).await.unwrap();
    auth0.set_private_key_jwt_credentials(APP, &[&cred.id], true).await.unwrap();

    for with_kid in [false, true] {
        let provider = CryptoAssertions::new(APP, &key, with_kid);
        let app = client(&emu, ClientAuth::PrivateKeyJwt { client_id: APP.into(), provider: provider.clone() });
        let token = app.get_token(API, Some("read:x")).await.unwrap();
        assert_eq!(token.scope(), Some("read:x"));
        // The assertion's aud is the tenant issuer, from the domain, not the base URL.
        assert_eq!(*provider.audiences.lock().unwrap(), [format!("https://{DOMAIN}/")]);
        // Cached: no second assertion.
        app.get_token(API, Some("read:x")).await.unwrap();
        assert_eq!(provider.audiences.lock().unwrap().len(), 1);
        // An uncached request makes a new assertion (new jti).
        app.request_token(API, None).await.unwrap();
        assert_eq!(provider.audiences.lock().unwrap().len(), 2);
    }

    // A derived client for the app shares the management client's pool, not its token cache.
    let provider = CryptoAssertions::new(APP, &key, false);
    let derived = auth0.with_client_auth(ClientAuth::PrivateKeyJwt { client_id: APP.into(), provider }).unwrap();
    assert_eq!(derived.client_id(), APP);
    assert_eq!(derived.get_token(API, None).await.unwrap().scope(), Some("read:x write:x"));
    assert!(matches!(derived.management_token().await, Err(Error::AccessDenied { .. })));
    auth0.management_token().await.unwrap();

    // A key that is not attached: invalid_client.
    let other = rsa_key();
    let provider = CryptoAssertions::new(APP, &other, false);
    let app = client(&emu, ClientAuth::PrivateKeyJwt { client_id: APP.into(), provider });
    let e = app.get_token(API, None).await.unwrap_err();
    assert!(matches!(e, Error::Unauthorized { ref error_code, .. } if error_code == "invalid_client"), "{e:?}");

    // A provider that fails.
    struct Failing;
    impl keyward_auth0::AssertionProvider for Failing {
        fn assertion(&self, _: &str) -> Result<String, keyward_auth0::BoxError> {
            Err("signer unavailable".into())
        }
    }
    let app = client(&emu, ClientAuth::PrivateKeyJwt { client_id: APP.into(), provider: Arc::new(Failing) });
    assert!(matches!(app.get_token(API, None).await, Err(Error::Assertion { .. })));
    emu.shutdown().await;
}

#[tokio::test]
async fn insufficient_scope() {
    let emu = emulator().await;
    let reader = client(&emu, secret_post(READER, READER_SECRET));
    assert!(reader.list_credentials(APP).await.unwrap().is_empty());
    let key = rsa_key();
    let e = reader.create_credential(APP, &NewCredential::public_key(&key.public_pem)).await.unwrap_err();
    assert!(matches!(e, Error::InsufficientScope { ref message } if message.contains("create:client_credentials")));
    let e = reader.get_connection_keys("con_pkjwt").await.unwrap_err();
    assert!(matches!(e, Error::InsufficientScope { .. }), "{e:?}");
    // Rotation needs both scopes: "expected all of".
    let e = reader.rotate_connection_keys("con_pkjwt", None).await.unwrap_err();
    assert!(matches!(e, Error::InsufficientScope { ref message } if message.contains("all of")), "{e:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn connections_and_keys() {
    let emu = emulator().await;
    let auth0 = mgmt(&emu);
    let conn = auth0.get_connection("con_pkjwt").await.unwrap();
    assert_eq!(conn.name.as_deref(), Some("pk-oidc"));
    assert_eq!(conn.strategy.as_deref(), Some("oidc"));

    let keys = auth0.get_connection_keys("con_pkjwt").await.unwrap();
    assert_eq!(keys.len(), 2);
    let (current, next) = (&keys[0], &keys[1]);
    assert!(current.current && !current.next && next.next);
    assert_eq!(current.subject_dn.as_deref(), Some("/CN=pk-oidc"));
    assert!(current.cert.ends_with("\r\n") && current.pkcs.is_some());

    let new_next = auth0.rotate_connection_keys("con_pkjwt", None).await.unwrap();
    assert!(new_next.next);
    let after = auth0.get_connection_keys("con_pkjwt").await.unwrap();
    assert_eq!(after.len(), 3);
    let find = |kid: &str| after.iter().find(|k| k.kid == kid).unwrap();
    assert!(find(&next.kid).current);
    assert!(find(&current.kid).previous);
    assert!(find(&new_next.kid).next);
    let rotated = auth0.rotate_connection_keys("con_pkjwt", Some(Algorithm::RS256)).await.unwrap();
    assert!(rotated.next);

    // Provisioning keys before the switch, once.
    let created = auth0.create_connection_keys("con_fresh", Some(Algorithm::RS256)).await.unwrap();
    assert_eq!(created.len(), 2);
    let e = auth0.create_connection_keys("con_fresh", None).await.unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e:?}");

    // A strategy without keys, and a missing connection.
    let e = auth0.get_connection_keys("con_db").await.unwrap_err();
    assert!(
        matches!(e, Error::InvalidRequest { status: 400, ref message, .. } if message.contains("keys are not available"))
    );
    for e in [
        auth0.get_connection("con_missing").await.unwrap_err(),
        auth0.get_connection_keys("con_missing").await.unwrap_err(),
        auth0.rotate_connection_keys("con_missing", None).await.unwrap_err(),
    ] {
        assert!(matches!(e, Error::ConnectionNotFound { .. }), "{e:?}");
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_cache_single_flight() {
    let emu = emulator().await;
    let auth0 = mgmt(&emu);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let auth0 = auth0.clone();
        tasks.push(tokio::spawn(async move { auth0.management_token().await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // 50 concurrent Management calls share the same cached token too.
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let auth0 = auth0.clone();
        tasks.push(tokio::spawn(async move { auth0.list_credentials(APP).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(log_for(&emu, "/oauth/token"), [("POST".to_owned(), 200)]);
    emu.shutdown().await;
}

#[tokio::test]
async fn retries_a_429_until_the_reset() {
    let emu = emulator().await;
    let auth0 = mgmt(&emu);
    auth0.management_token().await.unwrap();
    let path = "/api/v2/clients/app/credentials";
    // x-ratelimit-reset is epoch seconds: a reset at "now" means wait (briefly) and retry.
    let reset = now_epoch().to_string();
    let headers = json!({"x-ratelimit-limit": "50", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset});
    fault(&emu, status_fault("GET", path, 2, 429, headers)).await;
    assert!(auth0.list_credentials(APP).await.unwrap().is_empty());
    let get = |s: u64| ("GET".to_owned(), s);
    assert_eq!(log_for(&emu, path), [get(429), get(429), get(200)]);

    // A 429 is retried for non-idempotent calls too: Auth0 did not process the request.
    let key = rsa_key();
    fault(&emu, status_fault("POST", path, 1, 429, json!({"retry-after": "0"}))).await;
    auth0.create_credential(APP, &NewCredential::public_key(&key.public_pem)).await.unwrap();
    let posts: Vec<_> = log_for(&emu, path).into_iter().filter(|(m, _)| m == "POST").collect();
    assert_eq!(posts, [("POST".to_owned(), 429), ("POST".to_owned(), 201)]);

    // A reset beyond the cap is not waited for: RateLimited at once, with the headers.
    let later = now_epoch() + 3600;
    let headers =
        json!({"x-ratelimit-limit": "50", "x-ratelimit-remaining": "0", "x-ratelimit-reset": later.to_string()});
    fault(&emu, status_fault("GET", "/api/v2/connections/con_pkjwt", 5, 429, headers)).await;
    let e = auth0.get_connection("con_pkjwt").await.unwrap_err();
    match e {
        Error::RateLimited { rate_limit, .. } => {
            assert_eq!(rate_limit.limit, Some(50));
            assert_eq!(rate_limit.remaining, Some(0));
            let reset = rate_limit.reset.unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            assert_eq!(reset, later);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(log_for(&emu, "/api/v2/connections/con_pkjwt").len(), 1);
    // Retries exhausted: RateLimited after max_attempts.
    let reset = now_epoch().to_string();
    let headers = json!({"x-ratelimit-reset": reset});
    fault(&emu, status_fault("GET", "/api/v2/clients/mgmt", 3, 429, headers)).await;
    assert!(matches!(auth0.get_client(MGMT).await, Err(Error::RateLimited { .. })));
    assert_eq!(log_for(&emu, "/api/v2/clients/mgmt").len(), 3);
    emu.shutdown().await;
}

#[tokio::test]
async fn unknown_outcome_when_the_answer_is_lost() {
    let emu = emulator().await;
    let auth0 = mgmt(&emu);
    auth0.management_token().await.unwrap();
    let key = rsa_key();
    let path = "/api/v2/clients/app/credentials";
    fault(&emu, json!({"method": "POST", "path_prefix": path, "action": {"kind": "drop_after"}})).await;
    let e = auth0.create_credential(APP, &NewCredential::public_key(&key.public_pem)).await.unwrap_err();
    assert!(matches!(e, Error::UnknownOutcome { operation: "create_credential", .. }), "{e:?}");
    // Sent once, never retried; it took effect: reconcile by listing and matching the kid.
    assert_eq!(log_for(&emu, path), [("POST".to_owned(), 201)]);
    let listed = auth0.list_credentials(APP).await.unwrap();
    assert!(listed.iter().any(|c| c.kid.as_deref() == Some(key.kid.as_str())));

    // A 5xx on a non-idempotent call is an unknown outcome too.
    fault(&emu, status_fault("POST", "/api/v2/connections/con_pkjwt/keys/rotate", 1, 503, json!({}))).await;
    let e = auth0.rotate_connection_keys("con_pkjwt", None).await.unwrap_err();
    assert!(matches!(e, Error::UnknownOutcome { operation: "rotate_connection_keys", .. }), "{e:?}");
    assert_eq!(log_for(&emu, "/api/v2/connections/con_pkjwt/keys/rotate").len(), 1);

    // 408 on a PATCH: not repeated either.
    let cred = &listed[0];
    fault(&emu, status_fault("PATCH", path, 1, 408, json!({}))).await;
    let e = auth0.update_credential_expiry(APP, &cred.id, None).await.unwrap_err();
    assert!(matches!(e, Error::UnknownOutcome { operation: "update_credential", .. }), "{e:?}");

    // A PATCH whose connection drops before the answer.
    let cred = &listed[0];
    fault(&emu, json!({"method": "PATCH", "path_prefix": path, "action": {"kind": "drop_before"}})).await;
    let e = auth0.update_credential_expiry(APP, &cred.id, None).await.unwrap_err();
    assert!(matches!(e, Error::UnknownOutcome { .. }), "{e:?}");

    // Timeout on a non-idempotent call: unknown outcome.
    let mut config = config(&emu);
    config.timeout = std::time::Duration::from_millis(1000);
    let quick = keyward_auth0::Auth0Client::new(config, secret_post(MGMT, MGMT_SECRET)).unwrap();
    quick.management_token().await.unwrap();
    fault(&emu, json!({"method": "POST", "path_prefix": path, "action": {"kind": "delay", "delay_ms": 3000}})).await;
    let other = rsa_key();
    let e = quick.create_credential(APP, &NewCredential::public_key(&other.public_pem)).await.unwrap_err();
    assert!(matches!(e, Error::UnknownOutcome { .. }), "{e:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn idempotent_calls_are_retried() {
    let emu = emulator().await;
    let auth0 = mgmt(&emu);
    auth0.management_token().await.unwrap();
    let path = "/api/v2/clients/app/credentials";
    fault(
        &emu,
        json!([
            {"method": "GET", "path_prefix": path, "action": {"kind": "drop_before"}},
            {"method": "GET", "path_prefix": path, "action": {"kind": "status", "status": 503}},
            {"method": "GET", "path_prefix": path, "action": {"kind": "status", "status": 408}},
        ]),
    )
    .await;
    let mut patient = config(&emu);
    patient.retry.max_attempts = 4;
    let patient = keyward_auth0::Auth0Client::new(patient, secret_post(MGMT, MGMT_SECRET)).unwrap();
    assert!(patient.list_credentials(APP).await.unwrap().is_empty());
    let statuses: Vec<u64> = log_for(&emu, path).into_iter().map(|(_, s)| s).collect();
    assert_eq!(statuses, [0, 503, 408, 200]);

    // Exhausted: Unavailable with the last status.
    fault(&emu, status_fault("GET", "/api/v2/clients/mgmt", 3, 500, json!({}))).await;
    let e = auth0.get_client(MGMT).await.unwrap_err();
    assert!(matches!(e, Error::Unavailable { status: Some(500), .. }), "{e:?}");
    assert_eq!(log_for(&emu, "/api/v2/clients/mgmt").len(), 3);

    // DELETE is idempotent: a dropped answer is retried (and Auth0 answers 204 again).
    let key = rsa_key();
    let cred = auth0.create_credential(APP, &NewCredential::public_key(&key.public_pem)).await.unwrap();
    let cpath = format!("{path}/{}", cred.id);
    fault(&emu, json!({"method": "DELETE", "path_prefix": cpath, "action": {"kind": "drop_after"}})).await;
    auth0.delete_credential(APP, &cred.id).await.unwrap();
    assert_eq!(log_for(&emu, &cpath), [("DELETE".to_owned(), 204), ("DELETE".to_owned(), 204)]);

    // The token request is retried as well (with a fresh assertion each time).
    let fresh = mgmt(&emu);
    fault(&emu, status_fault("POST", "/oauth/token", 1, 503, json!({}))).await;
    fresh.management_token().await.unwrap();
    emu.shutdown().await;
}

#[tokio::test]
async fn debug_output_holds_no_secret() {
    let emu = emulator().await;
    let auth0 = mgmt(&emu);
    let token = auth0.management_token().await.unwrap();
    let c = auth0.get_client(APP).await.unwrap();
    let text = format!("{auth0:?} {token:?} {c:?} {:?}", auth0.config());
    for secret in [MGMT_SECRET, APP_SECRET, token.secret().expose_secret()] {
        assert!(!text.contains(secret), "{text}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn a_rejected_token_is_renewed_once() {
    let emu = emulator().await;
    let auth0 = mgmt(&emu);
    auth0.management_token().await.unwrap();
    let body = json!({"statusCode": 401, "error": "Unauthorized", "message": "Expired token received for JSON Web Token validation",
                      "attributes": {"error": "Expired token received for JSON Web Token validation"}});
    fault(
        &emu,
        json!({"method": "GET", "path_prefix": "/api/v2/clients/app", "times": 1,
                       "action": {"kind": "status", "status": 401, "body": body}}),
    )
    .await;
    assert_eq!(auth0.get_client(APP).await.unwrap().client_id, APP);
    assert_eq!(log_for(&emu, "/oauth/token").len(), 2);
    // The renewed token is cached again: no third request.
    auth0.management_token().await.unwrap();
    assert_eq!(log_for(&emu, "/oauth/token").len(), 2);

    // Rejected twice: Unauthorized, after exactly one renewal.
    fault(
        &emu,
        json!({"method": "GET", "path_prefix": "/api/v2/clients/app", "times": 2,
                       "action": {"kind": "status", "status": 401}}),
    )
    .await;
    let e = auth0.get_client(APP).await.unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    assert_eq!(log_for(&emu, "/oauth/token").len(), 3);
    emu.shutdown().await;
}

/// (current, next, previous, revoked) of each key.
fn key_flags(keys: &[SigningKey]) -> Vec<(bool, bool, bool, bool)> {
    keys.iter().map(|k| (k.current, k.next, k.previous, k.revoked)).collect()
}

#[tokio::test]
async fn signing_keys_list_get_rotate_revoke() {
    let emu = emulator().await;
    let auth0 = mgmt(&emu);
    let keys = auth0.list_signing_keys().await.unwrap();
    assert_eq!(key_flags(&keys), [(true, false, false, false), (false, true, false, false)]);
    let (current, next) = (keys[0].clone(), keys[1].clone());
    for k in &keys {
        assert_eq!(k.kid.len(), 21);
        assert!(k.cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(k.pkcs7.as_deref().is_some_and(|p| p.starts_with("-----BEGIN PKCS7-----")));
        assert!(k.fingerprint.is_some() && k.thumbprint.is_some());
    }
    assert!(current.current_since.as_ref().and_then(SigningKeyDate::time).is_some());
    assert_eq!(auth0.get_signing_key(&next.kid).await.unwrap(), next);

    // next → current, current → previous, and a new next, which rotate returns.
    let rotated = auth0.rotate_signing_key().await.unwrap();
    assert!(rotated.kid != current.kid && rotated.kid != next.kid);
    let after = auth0.list_signing_keys().await.unwrap();
    let find = |kid: &str| after.iter().find(|k| k.kid == kid).cloned().unwrap();
    assert!(find(&next.kid).current);
    assert!(find(&current.kid).previous);
    assert!(find(&current.kid).current_until.is_some());
    assert!(find(&rotated.kid).next);
    assert_eq!(find(&rotated.kid).cert, rotated.cert);

    // Only the previous key can be revoked.
    let e = auth0.revoke_signing_key(&next.kid).await.unwrap_err();
    assert!(matches!(e, Error::InvalidRequest { status: 400, .. }), "{e:?}");
    let revoked = auth0.revoke_signing_key(&current.kid).await.unwrap();
    assert_eq!((revoked.kid.as_str(), revoked.cert.as_str()), (current.kid.as_str(), current.cert.as_str()));
    assert!(revoked.revoked_at.as_ref().and_then(SigningKeyDate::time).is_some());
    // The cached token was signed by the key just revoked: rejected once, renewed once.
    let gone = auth0.get_signing_key(&current.kid).await.unwrap();
    assert!(gone.revoked && !gone.previous && !gone.current);
    assert_eq!(log_for(&emu, "/oauth/token").len(), 2);

    for e in [auth0.get_signing_key("no-such-kid").await, auth0.get_signing_key("a/b").await] {
        assert!(matches!(e, Err(Error::SigningKeyNotFound { .. })), "{e:?}");
    }
    let e = auth0.revoke_signing_key("no-such-kid").await.unwrap_err();
    assert!(matches!(e, Error::SigningKeyNotFound { .. }), "{e:?}");

    // Read needs read:signing_keys.
    let reader = client(&emu, secret_post(READER, READER_SECRET));
    let e = reader.list_signing_keys().await.unwrap_err();
    assert!(matches!(e, Error::InsufficientScope { .. }), "{e:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn signing_key_rotation_is_limited_to_five_a_day() {
    let emu = emulator().await;
    let auth0 = mgmt(&emu);
    for _ in 0..5 {
        auth0.rotate_signing_key().await.unwrap();
    }
    // The bucket refills in hours, beyond the retry policy's cap: RateLimited at once, one POST.
    let e = auth0.rotate_signing_key().await.unwrap_err();
    assert!(matches!(e, Error::RateLimited { .. }), "{e:?}");
    // Every second rotation revokes the key that signed the cached token: a 401, then a renewed
    // token and the same rotation again (Auth0 rejected it, so nothing happened).
    let statuses: Vec<u64> = log_for(&emu, "/api/v2/keys/signing/rotate").into_iter().map(|(_, s)| s).collect();
    let answered: Vec<u64> = statuses.iter().copied().filter(|s| *s != 401).collect();
    assert_eq!(answered, [201, 201, 201, 201, 201, 429], "{statuses:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn list_clients_reads_every_page() {
    let emu = emulator().await;
    let auth0 = mgmt(&emu);
    let all = auth0.list_clients(None).await.unwrap();
    let mut ids: Vec<&str> = all.iter().map(|c| c.client_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, [APP, MGMT, BASIC, READER]);
    let app = all.iter().find(|c| c.client_id == APP).unwrap();
    assert_eq!(app.token_endpoint_auth_method.as_deref(), Some("client_secret_post"));

    // Only the fields asked for (and client_id): keyward's view of who uses private_key_jwt.
    let key = rsa_key();
    let cred = auth0.create_credential(APP, &NewCredential::public_key(&key.public_pem)).await.unwrap();
    auth0.set_private_key_jwt_credentials(APP, &[&cred.id], true).await.unwrap();
    let methods = auth0.list_clients(Some(&["client_authentication_methods"])).await.unwrap();
    assert_eq!(methods.len(), 4);
    assert!(methods.iter().all(|c| c.name.is_none() && c.client_secret.is_none()));
    let app = methods.iter().find(|c| c.client_id == APP).unwrap();
    assert_eq!(app.private_key_jwt_credential_ids(), [cred.id.as_str()]);
    assert!(methods.iter().filter(|c| c.uses_private_key_jwt()).count() == 1);

    // 234 clients: three pages of 100.
    let mut seed: serde_json::Value = serde_json::from_str(SEED).unwrap();
    let clients = seed["clients"].as_array_mut().unwrap();
    clients.extend((0..230).map(|i| json!({"client_id": format!("bulk-{i:03}"), "name": format!("Bulk {i}")})));
    let r =
        reqwest::Client::new().post(format!("{}/__emulator/seed", emu.base_url())).json(&seed).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let before = log_for(&emu, "/api/v2/clients").len();
    let all = auth0.list_clients(Some(&["name"])).await.unwrap();
    assert_eq!(all.len(), 234);
    let distinct: std::collections::HashSet<&str> = all.iter().map(|c| c.client_id.as_str()).collect();
    assert_eq!(distinct.len(), 234);
    assert!(all.iter().all(|c| c.name.is_some()));
    assert_eq!(log_for(&emu, "/api/v2/clients").len() - before, 3);

    let page = auth0.list_clients_page(2, 100, None).await.unwrap();
    assert_eq!((page.start, page.limit, page.total, page.clients.len()), (Some(200), Some(100), Some(234), 34));
    emu.shutdown().await;
}
