//! Auth0's official Python SDK (auth0-python, unmodified) against the emulator binary over TLS,
//! trusting only the emulator's own CA: to the SDK it is Auth0. The script
//! (tests/sdk/auth0_python_sdk.py) gets tokens with client_secret_post and with the SDK's own
//! private_key_jwt, manages a client credential, rotates connection keys, pages through the
//! clients, and lists, rotates and revokes the tenant's signing keys; the emulator's control API
//! confirms each effect independently. `.ci/run` installs the pinned SDK.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

const SEED: &str = include_str!("../examples/seed.json");

#[tokio::test]
async fn the_official_python_sdk_works_unmodified() {
    let probe = Command::new("python3").args(["-c", "import auth0"]).output().unwrap();
    assert!(
        probe.status.success(),
        "the official SDK is missing: python3 -m pip install auth0-python==6.8.0 (.ci/run does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    std::fs::write(&seed, SEED).unwrap();
    let ca = dir.path().join("ca.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyward-auth0-emulator"))
        .args(["--listen", "127.0.0.1:0", "--seed", seed.to_str().unwrap(), "--tls-self-signed", "--tls-cert-out"])
        .arg(&ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let url = first.trim().trim_start_matches("listening on ").to_owned();
    let domain = url.trim_start_matches("https://").to_owned();

    // A key pair made by openssl; the SDK registers the public half and signs with the private.
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir.path()).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}");
    };
    run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "priv.pem"]);
    run(&["pkey", "-in", "priv.pem", "-pubout", "-out", "pub.pem"]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/auth0_python_sdk.py");
    let out = Command::new("python3")
        .arg(&script)
        .args([domain.as_str(), "pub.pem", "priv.pem"])
        .current_dir(dir.path())
        .env("SSL_CERT_FILE", &ca)
        .env("REQUESTS_CA_BUNDLE", &ca)
        .output()
        .unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap()])
        .build()
        .unwrap();
    let state: Value = http.get(format!("{url}/__emulator/state")).send().await.unwrap().json().await.unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(out.status.success(), "the SDK script failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();

    assert_eq!(r["management_token_type"], "Bearer");
    assert_eq!(r["client_id"], "demo-app");
    let id = r["credential_id"].as_str().unwrap();
    assert!(id.starts_with("cred_") && id.len() == 27, "{id}");
    assert_eq!(r["listed"], serde_json::json!([id]));
    assert_eq!(r["read_kid"], r["kid"]);
    assert_eq!(r["attached"], serde_json::json!([id]));
    assert_eq!(r["app_token_type"], "Bearer", "the SDK's own private_key_jwt was accepted");
    assert_eq!(r["app_scope"], "read:demo write:demo");
    assert_eq!(r["after_delete"], serde_json::json!([]));
    let after = r["keys_after"].as_array().unwrap();
    assert_eq!(after.len(), 3, "{after:?}");
    let next: Vec<&Value> = after.iter().filter(|k| k["next"] == true).collect();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0]["kid"], r["rotated_kid"]);
    assert!(!r["keys_before"].as_array().unwrap().contains(&r["rotated_kid"]));

    // The emulator's own record of what the SDK did.
    let app = state["clients"].as_array().unwrap().iter().find(|c| c["client_id"] == "demo-app").unwrap();
    assert_eq!(app["credentials"], serde_json::json!([]), "deleted at the end: {app}");
    let keys = state["connections"][0]["keys"].as_array().unwrap();
    assert!(keys.iter().any(|k| k["kid"] == r["rotated_kid"] && k["next"] == true), "{keys:?}");
    let requests = state["requests"].as_array().unwrap();
    let seen = |method: &str, path: &str| requests.iter().any(|q| q["method"] == method && q["path"] == path);
    assert!(seen("POST", "/api/v2/clients/demo-app/credentials"));
    assert!(seen("DELETE", &format!("/api/v2/clients/demo-app/credentials/{id}")));
    assert!(seen("POST", "/api/v2/connections/con_demooidc0000001/keys/rotate"));

    // clients.list's pager: every client once, one a page (the empty page that ends it is not yielded).
    let every: Vec<&Value> = state["clients"].as_array().unwrap().iter().map(|c| &c["client_id"]).collect();
    assert_eq!(r["clients_paged"].as_array().unwrap().iter().collect::<Vec<_>>(), every);
    assert_eq!(r["clients_pages"], every.len());
    for members in r["clients_names_only"].as_array().unwrap() {
        assert_eq!(*members, serde_json::json!(["client_id", "name"]));
    }

    // Signing keys: the SDK listed, read, rotated and revoked; the emulator agrees.
    let before = r["signing_before"].as_array().unwrap();
    assert_eq!(before.len(), 2);
    assert_eq!((before[0]["current"].clone(), before[1]["next"].clone()), (Value::Bool(true), Value::Bool(true)));
    assert_eq!(r["signing_read"], serde_json::json!({"kid": before[0]["kid"], "pkcs7": true}));
    assert_eq!(r["signing_missing"], "Signing key not found.");
    let after = r["signing_after"].as_array().unwrap();
    let role = |flag: &str| after.iter().find(|k| k[flag] == true).unwrap()["kid"].clone();
    assert_eq!(
        (role("current"), role("previous"), role("next")),
        (before[1]["kid"].clone(), before[0]["kid"].clone(), r["signing_rotated_kid"].clone())
    );
    assert_eq!(r["signing_refused"], 400);
    assert_eq!(r["signing_revoked"], serde_json::json!({"kid": before[0]["kid"], "cert": true}));
    assert_eq!(r["old_token_after_revoke"], 401);
    let state_keys = state["signing_keys"].as_array().unwrap();
    assert_eq!(r["signing_final"].as_array().unwrap().len(), state_keys.len());
    let revoked: Vec<&Value> = state_keys.iter().filter(|k| k["revoked"] == true).map(|k| &k["kid"]).collect();
    assert_eq!(revoked, [&before[0]["kid"]]);
    assert!(seen("POST", "/api/v2/keys/signing/rotate"));
    assert!(seen("PUT", &format!("/api/v2/keys/signing/{}/revoke", before[0]["kid"].as_str().unwrap())));
}
