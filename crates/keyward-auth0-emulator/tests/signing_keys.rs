//! The tenant's signing keys over real HTTP (CONTRACT.md §4): list, get, rotate, revoke, their
//! scopes and rate limit, the certificates (checked with OpenSSL), the JWKS, and the access
//! tokens they sign: a token keeps verifying through a rotation and stops once its key is revoked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fidelity;

use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::*;
use fidelity::oas::Oas;
use fidelity::replay::schema_for;
use fidelity::shape::{is_fingerprint, is_hex_thumbprint, is_timestamp};
use keyward_crypto::{Algorithm, Certificate, Jwks, decode_header, verify_compact};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

const LIST: &str = "/api/v2/keys/signing";
const ROTATE: &str = "/api/v2/keys/signing/rotate";

/// The body of `r`, after checking its status and that it fits the OAS for `operation`.
async fn checked(r: Response, status: u16, operation: &str) -> Value {
    assert_eq!(r.status().as_u16(), status);
    assert_eq!(r.headers()["content-type"], "application/json; charset=utf-8");
    let body: Value = r.json().await.unwrap();
    let oas = Oas::load();
    let schema = schema_for(&oas, operation, status).unwrap().expect("a documented body");
    let errors = oas.validate(schema, &body);
    assert!(errors.is_empty(), "{operation} {status}: {errors:?}\n{body}");
    if status < 300 && operation != "GET /keys/signing" {
        // Rotate and revoke answer a whole key, which must also be a valid `SigningKeys` object.
        let errors = oas.validate(oas.component("SigningKeys"), &body);
        assert!(errors.is_empty(), "{operation}: {errors:?}");
    }
    body
}

async fn list(env: &Env) -> Vec<Value> {
    checked(env.get(LIST).await, 200, "GET /keys/signing").await.as_array().unwrap().clone()
}

async fn rotate(env: &Env) -> Value {
    checked(env.post(ROTATE, Value::Null).await, 201, "POST /keys/signing/rotate").await
}

async fn revoke(env: &Env, kid: &str) -> Response {
    env.http.put(env.url(&format!("{LIST}/{kid}/revoke"))).bearer_auth(&env.token).send().await.unwrap()
}

async fn jwks(env: &Env) -> Value {
    env.http.get(env.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap()
}

fn kids_where(keys: &[Value], flag: &str) -> Vec<String> {
    keys.iter().filter(|k| k[flag] == true).map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

fn jwks_kids(jwks: &Value) -> Vec<String> {
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

/// Verifies `token` as a relying party would: the JWKS key its kid names, checked by
/// keyward-crypto (from `n`/`e`) and by OpenSSL (from `x5c`). `None` when the JWKS lacks the kid.
fn verify_with_jwks(token: &str, jwks: &Value) -> Option<bool> {
    let kid = decode_header(token).unwrap().kid.unwrap();
    let set: Jwks = serde_json::from_value(jwks.clone()).unwrap();
    let jwk = set.find(Some(&kid))?;
    let ours = verify_compact(token, &jwk.to_public_key().unwrap(), Some(Algorithm::RS256)).is_ok();
    let entry = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).unwrap();
    let theirs = openssl::verifies_rs256(token, &openssl::pem_from_x5c(entry["x5c"][0].as_str().unwrap()));
    assert_eq!(ours, theirs, "keyward-crypto and OpenSSL disagree");
    Some(ours)
}

async fn management_token(env: &Env) -> String {
    secret_token(&env.http, &env.base, MGMT, MGMT_SECRET, &format!("https://{}/api/v2/", env.domain)).await
}

#[tokio::test]
async fn a_fresh_tenant_has_a_current_and_a_next_key_of_auth0s_shape() {
    let env = env().await;
    let keys = list(&env).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!((keys[0]["current"].clone(), keys[1]["next"].clone()), (json!(true), json!(true)));
    for k in &keys {
        let kid = k["kid"].as_str().unwrap();
        assert_eq!(kid.len(), 21, "{kid}");
        assert!(kid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{kid}");
        assert!(
            is_fingerprint(k["fingerprint"].as_str().unwrap()) && is_hex_thumbprint(k["thumbprint"].as_str().unwrap())
        );
        assert_eq!(k["revoked"], false);
        assert!(k.get("revoked_at").is_none() && k.get("current_until").is_none());
        // Every flag is sent, false ones included (go-auth0's recordings).
        for flag in ["current", "next", "previous", "revoked"] {
            assert!(k[flag].is_boolean(), "{flag} in {k}");
        }
        let cert = k["cert"].as_str().unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----\r\n") && cert.ends_with("-----END CERTIFICATE-----"));
        assert!(!cert.replace("\r\n", "").contains('\n'), "CR LF line ends only");
        let pkcs7 = k["pkcs7"].as_str().unwrap();
        assert!(pkcs7.starts_with("-----BEGIN PKCS7-----\r\n") && pkcs7.ends_with("-----END PKCS7-----"));
        assert!(k.get("pkcs").is_none(), "tenant keys carry pkcs7, connection keys pkcs");

        // The certificate, as OpenSSL reads it: self-signed, CN = tenant domain, RSA-2048.
        let x = openssl::x509(cert);
        assert_eq!(x.subject, format!("subject=CN={}", env.domain));
        assert_eq!(x.issuer, format!("issuer=CN={}", env.domain));
        assert!(x.self_signed, "openssl verify refuses it");
        assert!(x.text.contains("Public-Key: (2048 bit)") && x.text.contains("sha256WithRSAEncryption"));
        assert_eq!(x.sha1_fingerprint, k["fingerprint"]);
        assert_eq!(x.sha1_fingerprint.replace(':', ""), k["thumbprint"]);
        let parsed = Certificate::from_pem(cert).unwrap();
        let lifetime = parsed.not_after().duration_since(parsed.not_before()).unwrap();
        assert_eq!(lifetime, Duration::from_secs(5000 * 86_400));
        // The PKCS#7 holds exactly that certificate.
        let bundled = openssl::pkcs7_certs(pkcs7);
        let body = |pem: &str| {
            pem.lines()
                .skip_while(|l| !l.starts_with("-----BEGIN"))
                .skip(1)
                .take_while(|l| !l.starts_with("-----END"))
                .collect::<String>()
        };
        assert_eq!(body(&bundled), body(&cert.replace("\r\n", "\n")));
    }
    let current = &keys[0];
    assert!(is_timestamp(current["current_since"].as_str().unwrap()));
    assert_eq!(
        checked(env.get(&format!("{LIST}/{}", current["kid"].as_str().unwrap())).await, 200, "GET /keys/signing/{kid}")
            .await,
        *current
    );
    let missing =
        assert_envelope(env.get(&format!("{LIST}/{}", "x".repeat(21))).await, 404, "Signing key not found.").await;
    checked_envelope(&missing);
}

fn checked_envelope(body: &Value) {
    let oas = Oas::load();
    let errors = oas.validate(oas.component("ManagementErrorEnvelope"), body);
    assert!(errors.is_empty(), "{errors:?}");
}

#[tokio::test]
async fn the_jwks_publishes_current_next_and_previous_with_x5c_and_x5t() {
    let env = env().await;
    let keys = list(&env).await;
    let set = jwks(&env).await;
    assert_eq!(
        jwks_kids(&set),
        kids_where(&keys, "current").into_iter().chain(kids_where(&keys, "next")).collect::<Vec<_>>()
    );
    for (jwk, key) in set["keys"].as_array().unwrap().iter().zip(&keys) {
        assert_eq!(
            (jwk["alg"].clone(), jwk["use"].clone(), jwk["kty"].clone()),
            (json!("RS256"), json!("sig"), json!("RSA"))
        );
        // x5c is the key's certificate; x5t the base64url SHA-1 of its DER (from OpenSSL's fingerprint).
        let pem = openssl::pem_from_x5c(jwk["x5c"][0].as_str().unwrap());
        let x = openssl::x509(&pem);
        assert_eq!(x.sha1_fingerprint, key["fingerprint"]);
        let sha1: Vec<u8> = x.sha1_fingerprint.split(':').map(|b| u8::from_str_radix(b, 16).unwrap()).collect();
        assert_eq!(jwk["x5t"], Base64UrlUnpadded::encode_string(&sha1));
    }
    // The token the environment holds names the current key.
    let kid = decode_header(&env.token).unwrap().kid.unwrap();
    assert_eq!(vec![kid], kids_where(&keys, "current"));
    assert_eq!(verify_with_jwks(&env.token, &set), Some(true));
}

/// End to end: a token signed before a rotation verifies after it, with the JWKS and at the
/// emulator, until the previous key is revoked; then it fails both ways.
#[tokio::test]
async fn a_token_survives_rotation_and_dies_with_revocation() {
    let mut env = env().await;
    let before = list(&env).await;
    let (k1, k2) = (kids_where(&before, "current").remove(0), kids_where(&before, "next").remove(0));
    let old_token = env.token.clone();

    let rotated = rotate(&env).await;
    let k3 = rotated["kid"].as_str().unwrap().to_owned();
    assert_eq!(rotated["next"], true, "rotate answers the new next key: {rotated}");
    assert!(![&k1, &k2].contains(&&k3));
    let after = list(&env).await;
    assert_eq!(
        (kids_where(&after, "current"), kids_where(&after, "next"), kids_where(&after, "previous")),
        (vec![k2.clone()], vec![k3.clone()], vec![k1.clone()])
    );
    let previous = after.iter().find(|k| k["kid"] == k1.as_str()).unwrap();
    assert!(is_timestamp(previous["current_until"].as_str().unwrap()));
    assert_eq!(previous["current_since"], before[0]["current_since"]);
    let promoted = after.iter().find(|k| k["kid"] == k2.as_str()).unwrap();
    assert_eq!(promoted["current_since"], previous["current_until"]);

    let set = jwks(&env).await;
    let mut published = jwks_kids(&set);
    published.sort();
    let mut expected = vec![k1.clone(), k2.clone(), k3.clone()];
    expected.sort();
    assert_eq!(published, expected);
    assert_eq!(verify_with_jwks(&old_token, &set), Some(true), "the old token verifies after rotation");
    assert_eq!(env.get(LIST).await.status(), StatusCode::OK, "the emulator still accepts it");

    // New tokens are signed by the promoted key.
    let new_token = management_token(&env).await;
    assert_eq!(decode_header(&new_token).unwrap().kid.as_deref(), Some(k2.as_str()));
    assert_eq!(verify_with_jwks(&new_token, &set), Some(true));

    let revoked = checked(revoke(&env, &k1).await, 200, "PUT /keys/signing/{kid}/revoke").await;
    assert_eq!((revoked["kid"].as_str(), revoked["revoked"].clone()), (Some(k1.as_str()), json!(true)));
    assert!(is_timestamp(revoked["revoked_at"].as_str().unwrap()));
    assert_eq!(revoked["previous"], false);
    let set = jwks(&env).await;
    assert_eq!(jwks_kids(&set), vec![k2.clone(), k3.clone()]);
    assert_eq!(verify_with_jwks(&old_token, &set), None, "the revoked key left the JWKS");
    for jwk in set["keys"].as_array().unwrap() {
        assert!(!openssl::verifies_rs256(&old_token, &openssl::pem_from_x5c(jwk["x5c"][0].as_str().unwrap())));
    }
    assert_envelope(env.get(LIST).await, 401, "Invalid signature").await;

    // The revoked key is still listed (the last 3 are), and readable.
    env.token = new_token;
    let listed = list(&env).await;
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[2], revoked);
    assert_eq!(checked(env.get(&format!("{LIST}/{k1}")).await, 200, "GET /keys/signing/{kid}").await, revoked);
}

#[tokio::test]
async fn only_the_previous_key_can_be_revoked_and_a_refusal_changes_nothing() {
    let mut env = env().await;
    let keys = list(&env).await;
    let jwks_before = jwks(&env).await;
    for kid in kids_where(&keys, "current").into_iter().chain(kids_where(&keys, "next")) {
        let body = assert_envelope(revoke(&env, &kid).await, 400, "Only the previous signing key can be revoked").await;
        checked_envelope(&body);
    }
    assert_envelope(revoke(&env, "nosuchkeynosuchkey123").await, 404, "Signing key not found.").await;
    assert_eq!(list(&env).await, keys);
    assert_eq!(jwks(&env).await, jwks_before);

    // Revoked keys cannot be revoked again either.
    rotate(&env).await;
    env.token = management_token(&env).await;
    let previous = kids_where(&list(&env).await, "previous").remove(0);
    assert_eq!(revoke(&env, &previous).await.status(), StatusCode::OK);
    let settled = list(&env).await;
    assert_envelope(revoke(&env, &previous).await, 400, "Only the previous signing key can be revoked").await;
    assert_eq!(list(&env).await, settled);
}

/// Five rotations a day: the last three revoked keys stay listed, a rotation over an unrevoked
/// previous key revokes it, and the sixth rotation is refused with the rotation bucket's headers.
#[tokio::test]
async fn revoked_keys_kept_three_and_rotation_limited_to_five_a_day() {
    let mut env = env().await;
    let mut revoked_in_order = Vec::new();
    for _ in 0..3 {
        rotate(&env).await;
        // A token of the new current key: revoking the previous one ends the old token.
        env.token = management_token(&env).await;
        let previous = kids_where(&list(&env).await, "previous").remove(0);
        assert_eq!(revoke(&env, &previous).await.status(), StatusCode::OK);
        revoked_in_order.push(previous);
    }
    rotate(&env).await;
    env.token = management_token(&env).await;
    let unrevoked = kids_where(&list(&env).await, "previous").remove(0);
    let fifth = env.post(ROTATE, Value::Null).await;
    assert_eq!(fifth.headers()["x-ratelimit-limit"], "5");
    assert_eq!(fifth.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(fifth.status(), StatusCode::CREATED);
    env.token = management_token(&env).await;

    let keys = list(&env).await;
    let revoked: Vec<&str> = keys.iter().filter(|k| k["revoked"] == true).map(|k| k["kid"].as_str().unwrap()).collect();
    // Newest first: the previous key the fifth rotation displaced, then the last two revoked.
    assert_eq!(revoked, vec![unrevoked.as_str(), revoked_in_order[2].as_str(), revoked_in_order[1].as_str()]);
    assert_eq!(keys.len(), 6);
    assert!(!jwks_kids(&jwks(&env).await).contains(&unrevoked));
    assert_envelope(env.get(&format!("{LIST}/{}", revoked_in_order[0])).await, 404, "Signing key not found.").await;

    let sixth = env.post(ROTATE, Value::Null).await;
    assert_eq!(sixth.headers()["x-ratelimit-limit"], "5");
    assert_eq!(sixth.headers()["x-ratelimit-remaining"], "0");
    let reset: u64 = sixth.headers()["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(reset > now + 3600, "a token comes back hours later, not seconds: {reset} vs {now}");
    assert_envelope(sixth, 429, "Global limit has been reached").await;
    assert_eq!(list(&env).await, keys, "a refused rotation changes nothing");
}

#[tokio::test]
async fn scopes_are_auth0s() {
    let seed = SEED.replace(
        r#""client_id": "demo-app","#,
        r#""client_id": "reader", "name": "Reader", "client_secret": "rs", "grants": [{"audience": "https://{domain}/api/v2/", "scope": ["read:signing_keys", "update:signing_keys"]}]}, {"client_id": "other", "name": "Other", "client_secret": "os", "grants": [{"audience": "https://{domain}/api/v2/", "scope": ["create:signing_keys", "read:clients"]}]}, {"client_id": "demo-app","#,
    );
    let env = env_with(keyward_auth0_emulator::Seed::from_json(&seed).unwrap()).await;
    let aud = format!("https://{}/api/v2/", env.domain);
    let reader = secret_token(&env.http, &env.base, "reader", "rs", &aud).await;
    let other = secret_token(&env.http, &env.base, "other", "os", &aud).await;
    let as_ = |token: &str, method: reqwest::Method, path: &str| {
        env.http.request(method, env.url(path)).bearer_auth(token.to_owned()).send()
    };
    let forbidden = assert_envelope(
        as_(&reader, reqwest::Method::POST, ROTATE).await.unwrap(),
        403,
        "Insufficient scope, expected all of: create:signing_keys, update:signing_keys",
    )
    .await;
    assert_eq!(forbidden["errorCode"], "insufficient_scope");
    assert_envelope(as_(&other, reqwest::Method::POST, ROTATE).await.unwrap(), 403, "expected all of").await;
    assert_envelope(as_(&other, reqwest::Method::GET, LIST).await.unwrap(), 403, "expected any of: read:signing_keys")
        .await;
    let kid = kids_where(&list(&env).await, "current").remove(0);
    assert_envelope(
        as_(&other, reqwest::Method::GET, &format!("{LIST}/{kid}")).await.unwrap(),
        403,
        "expected any of: read:signing_keys",
    )
    .await;
    assert_envelope(
        as_(&other, reqwest::Method::PUT, &format!("{LIST}/{kid}/revoke")).await.unwrap(),
        403,
        "expected any of: update:signing_keys",
    )
    .await;
    // The reader may read, and reach revoke's own checks.
    assert_eq!(as_(&reader, reqwest::Method::GET, LIST).await.unwrap().status(), StatusCode::OK);
    assert_envelope(
        as_(&reader, reqwest::Method::PUT, &format!("{LIST}/{kid}/revoke")).await.unwrap(),
        400,
        "previous",
    )
    .await;
    assert_envelope(env.http.get(env.url(LIST)).send().await.unwrap(), 401, "Missing authentication").await;
    assert_eq!(list(&env).await.len(), 2, "nothing rotated");
}

/// The keys live in the tenant: a restart from the state file and a control-API reset keep them,
/// private halves are kept only for keys that can still sign, and a state file from before
/// signing keys were modelled loads with its one key current under its old kid.
#[tokio::test]
async fn keys_survive_restart_and_reset_and_old_state_files_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tenant.json");
    let config = |seed: keyward_auth0_emulator::Seed| keyward_auth0_emulator::EmulatorConfig {
        seed,
        domain: Some("tenant.test.local".into()),
        state_file: Some(file.clone()),
        control: true,
        ..Default::default()
    };
    let listener = || async { tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap() };
    let seed = keyward_auth0_emulator::Seed::from_json(SEED).unwrap();
    let emu = keyward_auth0_emulator::start(listener().await, config(seed.clone())).await.unwrap();
    let http = reqwest::Client::new();
    let (base, domain) = (emu.base_url(), emu.domain());
    let mut env = Env {
        token: secret_token(&http, &base, MGMT, MGMT_SECRET, &format!("https://{domain}/api/v2/")).await,
        emu,
        http,
        base,
        domain,
    };
    rotate(&env).await;
    env.token = management_token(&env).await;
    let previous = kids_where(&list(&env).await, "previous").remove(0);
    assert_eq!(revoke(&env, &previous).await.status(), StatusCode::OK);
    let keys = list(&env).await;
    assert_eq!(env.emu.state()["signing_keys"], json!(keys), "the control API shows the same keys");

    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    for k in saved["signing_keys"].as_array().unwrap() {
        let can_sign = k["status"] == "current" || k["status"] == "next";
        assert_eq!(k["private_key_pem"].is_string(), can_sign, "{}", k["status"]);
    }
    assert!(!env.emu.state().to_string().contains("PRIVATE KEY"), "the control API shows no private key");

    assert_eq!(env.http.post(env.url("/__emulator/reset")).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(list(&env).await, keys, "a reset keeps the keys");
    let Env { emu, http, token, .. } = env;
    emu.shutdown().await;

    let emu =
        keyward_auth0_emulator::start(listener().await, config(keyward_auth0_emulator::Seed::default())).await.unwrap();
    assert!(emu.restored());
    let env = Env { base: emu.base_url(), domain: emu.domain(), emu, http, token };
    assert_eq!(list(&env).await, keys, "a restart keeps the keys, and the token from before still verifies");
    let Env { emu, http, .. } = env;
    emu.shutdown().await;

    // A state file of the older format: one `signing_key_pem`, no `signing_keys`.
    let legacy = rsa_key();
    let mut old = saved.clone();
    old.as_object_mut().unwrap().remove("signing_keys");
    old["signing_key_pem"] = json!(legacy.to_pkcs8_pem().unwrap().to_string());
    std::fs::write(&file, old.to_string()).unwrap();
    let emu =
        keyward_auth0_emulator::start(listener().await, config(keyward_auth0_emulator::Seed::default())).await.unwrap();
    let (base, domain) = (emu.base_url(), emu.domain());
    let token = secret_token(&http, &base, MGMT, MGMT_SECRET, &format!("https://{domain}/api/v2/")).await;
    let env = Env { emu, http, base, domain, token };
    let migrated = list(&env).await;
    let old_kid = legacy.public_key().thumbprint().unwrap();
    assert_eq!(kids_where(&migrated, "current"), vec![old_kid.clone()]);
    assert_eq!(kids_where(&migrated, "next").len(), 1);
    assert_eq!(decode_header(&env.token).unwrap().kid, Some(old_kid));
    assert_eq!(verify_with_jwks(&env.token, &jwks(&env).await), Some(true));
    env.emu.shutdown().await;
}
