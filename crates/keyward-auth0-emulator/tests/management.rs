//! The Management API over real HTTP: credentials, client authentication methods, connection
//! keys, scopes, limits, and refusals of bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use keyward_crypto::{CertArtifacts, Certificate, KeySpec, aws_lc_generate};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn is_timestamp(v: &Value) -> bool {
    let s = v.as_str().unwrap_or("");
    s.len() == 24 && s.ends_with('Z') && s.as_bytes()[19] == b'.'
}

#[tokio::test]
async fn credential_lifecycle_matches_auth0() {
    let env = env().await;
    let key = rsa_key();
    let (status, cred) = env.create_credential(APP, &key, "RS256").await;
    assert_eq!(status, StatusCode::CREATED, "{cred}");
    let id = cred["id"].as_str().unwrap();
    assert!(id.starts_with("cred_") && id.len() == 27);
    assert_eq!(cred["kid"], key.public_key().thumbprint().unwrap());
    assert_eq!(cred["alg"], "RS256");
    assert_eq!(cred["credential_type"], "public_key");
    assert!(is_timestamp(&cred["created_at"]) && is_timestamp(&cred["updated_at"]));
    for absent in ["pem", "expires_at", "name", "thumbprint_sha256", "subject_dn"] {
        assert!(cred.get(absent).is_none(), "{absent} in {cred}");
    }

    let list: Value = env.get(&format!("/api/v2/clients/{APP}/credentials")).await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let one = env.get(&format!("/api/v2/clients/{APP}/credentials/{id}")).await;
    assert_eq!(one.status(), StatusCode::OK);

    let patched = env
        .patch(&format!("/api/v2/clients/{APP}/credentials/{id}"), json!({"expires_at": "2096-05-13T11:33:13+02:00"}))
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["expires_at"], "2096-05-13T09:33:13.000Z");
    let cleared: Value = env
        .patch(&format!("/api/v2/clients/{APP}/credentials/{id}"), json!({"expires_at": null}))
        .await
        .json()
        .await
        .unwrap();
    assert!(cleared.get("expires_at").is_none());

    // Attached: cannot be deleted. Detached: 204, and again 204.
    let (s, client) = env.attach(APP, &[id]).await;
    assert_eq!(s, StatusCode::OK, "{client}");
    assert_eq!(client["client_authentication_methods"]["private_key_jwt"]["credentials"], json!([{"id": id}]));
    assert!(client.get("client_secret").is_none() && client.get("token_endpoint_auth_method").is_none());
    assert_envelope(
        env.delete(&format!("/api/v2/clients/{APP}/credentials/{id}")).await,
        400,
        "Cannot delete credential still associated with a client",
    )
    .await;
    assert_eq!(env.attach(APP, &[]).await.0, StatusCode::OK);
    assert_eq!(env.delete(&format!("/api/v2/clients/{APP}/credentials/{id}")).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(env.delete(&format!("/api/v2/clients/{APP}/credentials/{id}")).await.status(), StatusCode::NO_CONTENT);
    assert_envelope(
        env.get(&format!("/api/v2/clients/{APP}/credentials/{id}")).await,
        404,
        "Credential does not exist",
    )
    .await;
}

#[tokio::test]
async fn slot_pool_and_duplicate_limits() {
    let env = env().await;
    let keys: Vec<_> = (0..5).map(|_| rsa_key()).collect();
    let mut ids = Vec::new();
    for key in &keys[..4] {
        let (s, c) = env.create_credential(APP, key, "RS256").await;
        assert_eq!(s, StatusCode::CREATED);
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    let pem = keys[4].public_key().to_spki_pem().unwrap();
    let r = env
        .post(&format!("/api/v2/clients/{APP}/credentials"), json!({"credential_type": "public_key", "pem": pem}))
        .await;
    assert_envelope(r, 400, "A client can have a maximum of 4 credentials.").await;
    env.delete(&format!("/api/v2/clients/{APP}/credentials/{}", ids[3])).await;
    let pem = keys[0].public_key().to_spki_pem().unwrap();
    let r = env
        .post(&format!("/api/v2/clients/{APP}/credentials"), json!({"credential_type": "public_key", "pem": pem}))
        .await;
    assert_envelope(r, 400, "credentials contains public keys that already exist in client").await;

    let (s, body) = env.attach(APP, &[&ids[0], &ids[1], &ids[2]]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("Array is too long (3), maximum 2"), "{body}");
    assert_eq!(body["errorCode"], "invalid_body");
    let (s, body) = env.attach(APP, &[&ids[0], &ids[0]]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, _) = env.attach(APP, &["cred_doesnotexist00000000000"]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Nothing of that changed the client.
    let state = env.state().await;
    let app = state["clients"].as_array().unwrap().iter().find(|c| c["client_id"] == APP).unwrap().clone();
    assert!(app["credentials"].as_array().unwrap().iter().all(|c| c["attached"] == false));
}

#[tokio::test]
async fn bad_credential_input_gets_auth0s_status_and_changes_nothing() {
    let env = env().await;
    let path = format!("/api/v2/clients/{APP}/credentials");
    let rsa = rsa_key().public_key().to_spki_pem().unwrap();
    let ec = aws_lc_generate(KeySpec::P256).unwrap().public_key().to_spki_pem().unwrap();
    let small = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"])
        .output()
        .map(|o| String::from_utf8(o.stdout).unwrap())
        .unwrap();
    let small = keyward_crypto::PrivateKey::from_pem(&small).unwrap().public_key().to_spki_pem().unwrap();
    let cases = vec![
        (
            json!({"credential_type": "public_key", "pem": rsa, "color": "red"}),
            "Additional properties not allowed: color",
        ),
        (json!({"pem": rsa}), "credential_type"),
        (json!({"credential_type": "public_key", "pem": 42}), "Expected type string"),
        (
            json!({"credential_type": "public_key", "pem": rsa, "name": null}),
            "Expected type string but found type null",
        ),
        (json!({"credential_type": "public_key", "pem": rsa, "alg": "ES256"}), "No enum match"),
        (json!({"credential_type": "public_key", "pem": ec}), "RSA"),
        (json!({"credential_type": "public_key", "pem": small}), "2048"),
        (
            json!({"credential_type": "public_key", "pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}),
            "PEM",
        ),
        (json!({"credential_type": "public_key", "pem": "x".repeat(20_000)}), "too long"),
        (json!({"credential_type": "public_key", "pem": rsa, "expires_at": "tomorrow"}), "date-time"),
        (json!({"credential_type": "public_key", "pem": rsa, "kid": "short"}), "pattern"),
        (json!([1, 2]), "Expected type object"),
    ];
    for (body, expect) in cases {
        assert_envelope(env.post(&path, body.clone()).await, 400, expect).await;
    }
    let r = env
        .http
        .post(env.url(&path))
        .bearer_auth(&env.token)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_envelope(r, 400, "Invalid request payload JSON format").await;
    let list: Value = env.get(&path).await.json().await.unwrap();
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn certificate_pems_and_parse_expiry() {
    let env = env().await;
    let key = rsa_key();
    let signer =
        keyward_crypto::signer_for(keyward_crypto::Backend::fastest(), &key, keyward_crypto::Algorithm::RS256).unwrap();
    let cert = Certificate::self_signed(
        &*signer,
        &keyward_crypto::CertificateParams::new("client-cert", std::time::SystemTime::now()),
        &mut rand_core::UnwrapErr(getrandom::SysRng),
    )
    .unwrap();
    let pem = format!("{}\n", cert.to_pem().unwrap());
    let r = env
        .post(
            &format!("/api/v2/clients/{APP}/credentials"),
            json!({"credential_type": "public_key", "pem": pem, "parse_expiry_from_cert": true, "name": "from cert"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["kid"], key.public_key().thumbprint().unwrap());
    assert_eq!(c["name"], "from cert");
    assert!(is_timestamp(&c["expires_at"]));
    let spki = rsa_key().public_key().to_spki_pem().unwrap();
    let r = env
        .post(
            &format!("/api/v2/clients/{APP}/credentials"),
            json!({"credential_type": "public_key", "pem": spki, "parse_expiry_from_cert": true}),
        )
        .await;
    assert_envelope(r, 400, "certificate").await;
}

#[tokio::test]
async fn authentication_and_scopes() {
    let seed = SEED.replace(
        r#""client_id": "demo-app","#,
        r#""client_id": "reader", "name": "Reader", "client_secret": "rs", "grants": [{"audience": "https://{domain}/api/v2/", "scope": ["read:client_credentials", "create:connections_keys"]}]}, {"client_id": "demo-app","#,
    );
    let env = env_with(keyward_auth0_emulator::Seed::from_json(&seed).unwrap()).await;
    let path = format!("/api/v2/clients/{APP}/credentials");
    assert_envelope(env.http.get(env.url(&path)).send().await.unwrap(), 401, "Missing authentication").await;
    let body =
        assert_envelope(env.http.get(env.url(&path)).bearer_auth("a.b.c").send().await.unwrap(), 401, "Invalid token")
            .await;
    assert!(body["attributes"]["error"].is_string());
    // A token signed by another key.
    let forged =
        assertion("x", "y", &rsa_key(), keyward_crypto::Algorithm::RS256, None, std::time::Duration::from_secs(60));
    assert_envelope(env.http.get(env.url(&path)).bearer_auth(forged).send().await.unwrap(), 401, "Invalid signature")
        .await;
    // A token for another API.
    let other = secret_token(&env.http, &env.base, MGMT, MGMT_SECRET, &format!("https://{}/api/v2/", env.domain)).await;
    assert_eq!(env.http.get(env.url(&path)).bearer_auth(&other).send().await.unwrap().status(), StatusCode::OK);

    let reader = secret_token(&env.http, &env.base, "reader", "rs", &format!("https://{}/api/v2/", env.domain)).await;
    assert_eq!(env.http.get(env.url(&path)).bearer_auth(&reader).send().await.unwrap().status(), StatusCode::OK);
    let pem = rsa_key().public_key().to_spki_pem().unwrap();
    let r = env
        .http
        .post(env.url(&path))
        .bearer_auth(&reader)
        .json(&json!({"credential_type": "public_key", "pem": pem}))
        .send()
        .await
        .unwrap();
    let body = assert_envelope(r, 403, "Insufficient scope, expected any of: create:client_credentials").await;
    assert_eq!(body["errorCode"], "insufficient_scope");
    let r = env
        .http
        .post(env.url(&format!("/api/v2/connections/{CONN}/keys/rotate")))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_envelope(r, 403, "Insufficient scope, expected all of: create:connections_keys, update:connections_keys")
        .await;
}

#[tokio::test]
async fn client_authentication_method_switches() {
    let seed = SEED.replace(
        r#""client_id": "demo-app","#,
        r#""client_id": "secret-app", "name": "Secret app", "client_secret": "shh", "grants": []}, {"client_id": "demo-app","#,
    );
    let env = env_with(keyward_auth0_emulator::Seed::from_json(&seed).unwrap()).await;
    let before: Value = env.get("/api/v2/clients/secret-app").await.json().await.unwrap();
    assert_eq!(before["client_secret"], "shh");
    assert_eq!(before["token_endpoint_auth_method"], "client_secret_post");
    let (_, cred) = env.create_credential("secret-app", &rsa_key(), "RS256").await;
    let id = cred["id"].as_str().unwrap();
    // The first switch must null token_endpoint_auth_method.
    let (s, _) = env.attach("secret-app", &[id]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let body = json!({"client_authentication_methods": {"private_key_jwt": {"credentials": [{"id": id}]}}, "token_endpoint_auth_method": null});
    let after: Value = env.patch("/api/v2/clients/secret-app", body).await.json().await.unwrap();
    assert!(after.get("client_secret").is_none() && after.get("token_endpoint_auth_method").is_none(), "{after}");
    // Both null is refused; switching back restores the secret.
    let r = env
        .patch(
            "/api/v2/clients/secret-app",
            json!({"client_authentication_methods": null, "token_endpoint_auth_method": null}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let back: Value = env
        .patch(
            "/api/v2/clients/secret-app",
            json!({"client_authentication_methods": null, "token_endpoint_auth_method": "client_secret_basic"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(back["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(back["client_secret"], "shh");
    let two = json!({"client_authentication_methods": {"private_key_jwt": {"credentials": []}, "tls_client_auth": {"credentials": []}}, "token_endpoint_auth_method": null});
    assert_envelope(env.patch("/api/v2/clients/secret-app", two).await, 400, "maximum 1").await;
    assert_envelope(env.get("/api/v2/clients/nobody").await, 404, "The client does not exist").await;
}

#[tokio::test]
async fn connection_keys_rotate_like_auth0_and_verify() {
    let env = env().await;
    let keys: Value = env.get(&format!("/api/v2/connections/{CONN}/keys")).await.json().await.unwrap();
    let keys = keys.as_array().unwrap().clone();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["current"], true);
    assert!(keys[0]["current_since"].is_string());
    assert_eq!(keys[1]["next"], true);
    let order: Vec<&str> = keys[1].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        order,
        ["kid", "algorithm", "key_use", "subject_dn", "cert", "fingerprint", "thumbprint", "pkcs", "next"]
    );
    for k in &keys {
        let cert = Certificate::from_pem(k["cert"].as_str().unwrap()).unwrap();
        let a = CertArtifacts::from_certificate(&cert, None).unwrap();
        assert_eq!(
            (a.kid.as_str(), a.fingerprint.as_str(), a.pkcs.as_str()),
            (k["kid"].as_str().unwrap(), k["fingerprint"].as_str().unwrap(), k["pkcs"].as_str().unwrap())
        );
        assert_eq!(k["subject_dn"], "/CN=demo-oidc");
    }
    assert_eq!(env.post(&format!("/api/v2/connections/{CONN}/keys"), json!({})).await.status(), StatusCode::CONFLICT);

    let r = env
        .http
        .post(env.url(&format!("/api/v2/connections/{CONN}/keys/rotate")))
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let fresh: Value = r.json().await.unwrap();
    assert_eq!(fresh["next"], true);
    let after: Value = env.get(&format!("/api/v2/connections/{CONN}/keys")).await.json().await.unwrap();
    let after = after.as_array().unwrap();
    assert_eq!(after.len(), 3);
    assert_eq!((after[0]["kid"].clone(), after[0]["current"].clone()), (keys[1]["kid"].clone(), json!(true)));
    assert_eq!((after[1]["kid"].clone(), after[1]["previous"].clone()), (keys[0]["kid"].clone(), json!(true)));
    assert!(after[1].get("current_since").is_none());
    assert_eq!(after[2]["kid"], fresh["kid"]);
    // A second rotation keeps a single previous key.
    let es: Value = env
        .post(&format!("/api/v2/connections/{CONN}/keys/rotate"), json!({"signing_alg": "ES256"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(es["algorithm"], "ES256");
    let cert = Certificate::from_pem(es["cert"].as_str().unwrap()).unwrap();
    assert_eq!(cert.public_key().unwrap().kind(), keyward_crypto::KeyKind::P256);
    let third: Value = env.get(&format!("/api/v2/connections/{CONN}/keys")).await.json().await.unwrap();
    assert_eq!(third.as_array().unwrap().iter().filter(|k| k["previous"] == true).count(), 1);
    assert_envelope(
        env.post(&format!("/api/v2/connections/{CONN}/keys/rotate"), json!({"signing_alg": "HS256"})).await,
        400,
        "No enum match",
    )
    .await;
    assert_envelope(env.get("/api/v2/connections/con_missing/keys").await, 404, "The connection does not exist").await;
}

#[tokio::test]
async fn jar_and_token_vault_hold_credentials_like_auth_methods() {
    let env = env().await;
    let (_, a) = env.create_credential(APP, &rsa_key(), "RS256").await;
    let (_, b) = env.create_credential(APP, &rsa_key(), "RS256").await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let path = format!("/api/v2/clients/{APP}");
    // JAR merges: `required` alone keeps the credentials.
    let r = env.patch(&path, json!({"signed_request_object": {"credentials": [{"id": a}]}})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let client: Value =
        env.patch(&path, json!({"signed_request_object": {"required": true}})).await.json().await.unwrap();
    assert_eq!(client["signed_request_object"], json!({"required": true, "credentials": [{"id": a}]}));
    let vault = json!({"credentials": [{"id": b}], "ip_allowlist": ["10.0.0.1"], "grants": [{"connection": "github", "scopes": ["repo"]}]});
    let client: Value = env.patch(&path, json!({"token_vault_privileged_access": vault})).await.json().await.unwrap();
    assert_eq!(client["token_vault_privileged_access"], vault);
    for id in [a, b] {
        assert_envelope(
            env.delete(&format!("{path}/credentials/{id}")).await,
            400,
            "Cannot delete credential still associated with a client",
        )
        .await;
    }
    // Unknown ids and more than two are refused as for client_authentication_methods.
    let r = env
        .patch(&path, json!({"signed_request_object": {"credentials": [{"id": "cred_doesnotexist0000000000"}]}}))
        .await;
    assert_envelope(r, 400, "does not exist").await;
    let three = json!([{"id": a}, {"id": b}, {"id": a}]);
    assert_envelope(
        env.patch(&path, json!({"token_vault_privileged_access": {"credentials": three}})).await,
        400,
        "maximum 2",
    )
    .await;
    // null detaches; then the credentials can go.
    let client: Value = env
        .patch(&path, json!({"signed_request_object": null, "token_vault_privileged_access": null}))
        .await
        .json()
        .await
        .unwrap();
    assert!(client.get("signed_request_object").is_none() && client.get("token_vault_privileged_access").is_none());
    for id in [a, b] {
        assert_eq!(env.delete(&format!("{path}/credentials/{id}")).await.status(), StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn client_secret_rotation_needs_update_client_keys_and_takes_effect() {
    let seed = SEED.replace(
        r#""client_id": "demo-app","#,
        r#""client_id": "updater", "name": "U", "client_secret": "us", "grants": [{"audience": "https://{domain}/api/v2/", "scope": ["update:clients"]}]}, {"client_id": "demo-app","#,
    );
    let env = env_with(keyward_auth0_emulator::Seed::from_json(&seed).unwrap()).await;
    let updater = secret_token(&env.http, &env.base, "updater", "us", &format!("https://{}/api/v2/", env.domain)).await;
    let r = env
        .http
        .patch(env.url(&format!("/api/v2/clients/{MGMT}")))
        .bearer_auth(&updater)
        .json(&json!({"client_secret": "new-secret", "app_type": "non_interactive"}))
        .send()
        .await
        .unwrap();
    assert_envelope(r, 403, "Some fields cannot be updated").await;
    let r = env.patch(&format!("/api/v2/clients/{MGMT}"), json!({"client_secret": "new-secret"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let aud = format!("https://{}/api/v2/", env.domain);
    secret_token(&env.http, &env.base, MGMT, "new-secret", &aud).await;
}
