//! The control API and what it scripts: faults, rate limits, reset/seed, persistence across
//! restarts, and the binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use keyward_auth0_emulator::{EmulatorConfig, Seed, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn scripted_status_delay_and_drops() {
    let env = env().await;
    let path = format!("/api/v2/clients/{APP}/credentials");
    env.fault(json!({"method": "GET", "path_prefix": path, "times": 2, "action": {"kind": "status", "status": 503}}))
        .await;
    assert_envelope(env.get(&path).await, 503, "Service Unavailable").await;
    assert_eq!(env.get(&path).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(env.get(&path).await.status(), StatusCode::OK);

    env.fault(json!({"path_prefix": path, "action": {"kind": "status", "status": 429, "headers": {"x-ratelimit-reset": "1700000000", "retry-after": "2"}}})).await;
    let r = env.get(&path).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "2");
    assert_eq!(r.headers()["x-ratelimit-reset"], "1700000000");

    env.fault(json!({"path_prefix": path, "action": {"kind": "delay", "delay_ms": 50}})).await;
    assert_eq!(env.get(&path).await.status(), StatusCode::OK);

    // Dropped before processing: no answer and nothing created.
    env.fault(json!({"method": "POST", "path_prefix": path, "action": {"kind": "drop_before"}})).await;
    let key = rsa_key();
    let pem = key.public_key().to_spki_pem().unwrap();
    let body = json!({"credential_type": "public_key", "pem": pem});
    assert!(env.http.post(env.url(&path)).bearer_auth(&env.token).json(&body).send().await.is_err());
    assert_eq!(env.get(&path).await.json::<Value>().await.unwrap(), json!([]));
    // Dropped after processing: no answer, but the credential exists.
    env.fault(json!({"method": "POST", "path_prefix": path, "action": {"kind": "drop_after"}})).await;
    assert!(env.http.post(env.url(&path)).bearer_auth(&env.token).json(&body).send().await.is_err());
    let list: Value = env.get(&path).await.json().await.unwrap();
    assert_eq!(list[0]["kid"], key.public_key().thumbprint().unwrap());

    // Tampered connection keys no longer match their certificates.
    env.fault(json!({"method": "GET", "path_prefix": format!("/api/v2/connections/{CONN}/keys"), "action": {"kind": "tamper", "field": "fingerprint"}})).await;
    let keys: Value = env.get(&format!("/api/v2/connections/{CONN}/keys")).await.json().await.unwrap();
    let cert = keyward_crypto::Certificate::from_pem(keys[0]["cert"].as_str().unwrap()).unwrap();
    assert_ne!(keys[0]["fingerprint"], keyward_crypto::fingerprint(cert.der()));
    let clean: Value = env.get(&format!("/api/v2/connections/{CONN}/keys")).await.json().await.unwrap();
    assert_eq!(clean[0]["fingerprint"], keyward_crypto::fingerprint(cert.der()));

    // The request log saw it all.
    let log = env.state().await["requests"].as_array().unwrap().clone();
    assert!(log.iter().any(|r| r["note"] == "dropped before processing"));
    assert!(log.iter().filter(|r| r["path"] == "/oauth/token").count() >= 1);
    let bad = env
        .http
        .post(env.url("/__emulator/faults"))
        .json(&json!({"path_prefix": "/", "action": {"kind": "explode"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn rate_limit_headers_and_429() {
    let seed = SEED.replace(r#""burst": 50, "per_second": 16"#, r#""burst": 4, "per_second": 0.01"#);
    let env = env_with(Seed::from_json(&seed).unwrap()).await;
    let path = format!("/api/v2/clients/{APP}/credentials");
    let mut seen = Vec::new();
    for _ in 0..4 {
        let r = env.get(&path).await;
        seen.push((r.status().as_u16(), r.headers()["x-ratelimit-remaining"].to_str().unwrap().to_owned()));
        assert_eq!(r.headers()["x-ratelimit-limit"], "4");
    }
    assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), [200, 200, 200, 200]);
    let r = env.get(&path).await;
    let reset: u64 = r.headers()["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(reset > now, "reset is epoch seconds in the future");
    let body = assert_envelope(r, 429, "Global limit has been reached").await;
    assert_eq!(body["errorCode"], "too_many_requests");
    // The token endpoint has its own bucket.
    secret_token(&env.http, &env.base, MGMT, MGMT_SECRET, &format!("https://{}/api/v2/", env.domain)).await;
}

#[tokio::test]
async fn reset_and_reseed() {
    let env = env().await;
    env.create_credential(APP, &rsa_key(), "RS256").await;
    assert_eq!(env.http.post(env.url("/__emulator/reset")).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(env.get(&format!("/api/v2/clients/{APP}/credentials")).await.json::<Value>().await.unwrap(), json!([]));
    // The signing key survives a reset: the old management token still works.
    let r = env.http.post(env.url("/__emulator/seed")).body(r#"{"clients": [], "bogus": 1}"#).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(env.get(&format!("/api/v2/clients/{APP}")).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn state_file_keeps_the_tenant_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tenant.json");
    let config = |seed: Seed| EmulatorConfig {
        seed,
        domain: Some("dev-tenant.keyward.local".into()),
        state_file: Some(file.clone()),
        control: true,
        ..Default::default()
    };
    let first =
        start(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(), config(Seed::from_json(SEED).unwrap()))
            .await
            .unwrap();
    assert!(!first.restored());
    let http = reqwest::Client::new();
    let token =
        secret_token(&http, &first.base_url(), MGMT, MGMT_SECRET, "https://dev-tenant.keyward.local/api/v2/").await;
    let key = rsa_key();
    let pem = key.public_key().to_spki_pem().unwrap();
    let r = http
        .post(format!("{}/api/v2/clients/{APP}/credentials", first.base_url()))
        .bearer_auth(&token)
        .json(&json!({"credential_type": "public_key", "pem": pem}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let keys_before = first.state()["connections"][0]["keys"].clone();
    first.shutdown().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // Restarted on another port with an empty seed: same domain, credential, keys and signing key.
    let second =
        start(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(), config(Seed::default())).await.unwrap();
    assert!(second.restored());
    assert_eq!(second.domain(), "dev-tenant.keyward.local");
    let state = second.state();
    let app = state["clients"].as_array().unwrap().iter().find(|c| c["client_id"] == APP).unwrap().clone();
    assert_eq!(app["credentials"][0]["kid"], key.public_key().thumbprint().unwrap());
    assert_eq!(state["connections"][0]["keys"], keys_before);
    let r = http
        .get(format!("{}/api/v2/clients/{APP}/credentials", second.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "a token from before the restart still verifies");
    second.shutdown().await;
    std::fs::write(&file, "{ not json").unwrap();
    let err =
        start(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(), config(Seed::default())).await.unwrap_err();
    assert!(err.to_string().contains("not an emulator state file"), "{err}");
}

#[test]
fn example_seed_parses_and_bad_seeds_are_refused() {
    let seed = Seed::from_json(SEED).unwrap();
    assert_eq!(seed.clients.len(), 2);
    assert_eq!(seed.limits.pool, 4);
    for (bad, why) in [
        (r#"{"clients": [], "extra": true}"#, "unknown field"),
        (r#"{"clients": [{"client_id": "a", "name": "A", "color": 1}]}"#, "unknown field"),
        (r#"{"clients": [{"client_id": "a", "name": "A", "token_endpoint_auth_method": "magic"}]}"#, "magic"),
        (r#"{"clients": [{"client_id": "a", "name": "A"}, {"client_id": "a", "name": "B"}]}"#, "duplicated"),
        (r#"{"limits": {"burst": 0}}"#, "positive"),
        (r#"[]"#, "invalid type"),
    ] {
        let err = Seed::from_json(bad).unwrap_err().to_string();
        assert!(err.contains(why), "{bad}: {err}");
    }
}

fn emulator_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keyward-auth0-emulator"))
}

#[test]
fn binary_prints_its_url_first_and_refuses_bad_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    std::fs::write(&seed, SEED).unwrap();
    let url_file = dir.path().join("url");
    let mut child = emulator_bin()
        .args(["--listen", "127.0.0.1:0", "--seed", seed.to_str().unwrap(), "--url-file", url_file.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.starts_with("listening on http://127.0.0.1:"), "{first}");
    assert_eq!(std::fs::read_to_string(&url_file).unwrap().trim(), first.trim().trim_start_matches("listening on "));

    std::fs::write(&seed, r#"{"clients": [], "nope": 1}"#).unwrap();
    let out = emulator_bin().args(["--seed", seed.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("nope"), "{err}");
    let out = emulator_bin().output().unwrap();
    assert_eq!(out.status.code(), Some(64));
}

/// A supervisor that stops reading the binary's stdout (here: never reads it) must not bring
/// the emulator down: its start-up lines used to be println!, which panics on a closed pipe.
#[tokio::test]
async fn binary_keeps_serving_when_nobody_reads_its_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    std::fs::write(&seed, SEED).unwrap();
    let url_file = dir.path().join("url");
    let mut child = emulator_bin()
        .args(["--seed", seed.to_str().unwrap(), "--url-file", url_file.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut url = String::new();
    for _ in 0..500 {
        if let Ok(text) = std::fs::read_to_string(&url_file) {
            url = text.trim().to_owned();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(url.starts_with("http://127.0.0.1:"), "no URL file");
    // The start-up lines are written right after the URL file; several requests give a crash
    // every chance to show.
    for _ in 0..5 {
        let r = reqwest::get(format!("{url}/.well-known/openid-configuration")).await;
        assert_eq!(r.map(|r| r.status().as_u16()).ok(), Some(200));
    }
    let exited = child.try_wait().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(exited.is_none(), "the emulator exited: {exited:?}");
}

#[tokio::test]
async fn binary_serves_https_that_a_real_client_trusts() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    std::fs::write(&seed, SEED).unwrap();
    let cert = dir.path().join("ca.pem");
    let mut child = emulator_bin()
        .args([
            "--seed",
            seed.to_str().unwrap(),
            "--tls-self-signed",
            "--tls-cert-out",
            cert.to_str().unwrap(),
            "--domain",
            "tls.test",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let url = first.trim().trim_start_matches("listening on ").to_owned();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let http = reqwest::Client::builder().tls_certs_only([ca]).build().unwrap();
    let r = http.get(format!("{url}/.well-known/openid-configuration")).send().await;
    let _ = child.kill();
    let _ = child.wait();
    let body: Value = r.unwrap().json().await.unwrap();
    assert_eq!(body["issuer"], "https://tls.test/");
}
