//! Keys Auth0 refuses on `public_key` client credentials (CONTRACT.md §1.5, §10 "Minimum
//! behaviour" 1): EC and Ed25519 keys and 1024- and 8192-bit RSA keys in every encoding the OAS
//! names (SPKI, PKCS#1, certificate), private keys, and oversize PEMs. Each gets 400
//! `invalid_body` in Auth0's envelope, creates nothing, and leaves the emulator answering.
//! (`management.rs` already covers a P-256 SPKI, a 1024-bit SPKI, garbage PEMs and a 20,000-byte
//! non-PEM string.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fidelity;

use std::collections::BTreeMap;

use common::*;
use fidelity::oas::Oas;
use fidelity::refusal;
use keyward_crypto::{KeySpec, aws_lc_generate};
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEYS: &str = include_str!("data/credential_keys.json");

fn keys() -> BTreeMap<String, String> {
    let mut k: BTreeMap<String, String> = serde_json::from_str(KEYS).unwrap();
    k.remove("_about");
    k
}

async fn create(env: &Env, body: Value) -> reqwest::Response {
    env.post(&format!("/api/v2/clients/{APP}/credentials"), body).await
}

#[tokio::test]
async fn keys_auth0_refuses_get_400_and_create_nothing() {
    let (env, oas, keys) = (env().await, Oas::load(), keys());
    let pkcs8_private = rsa_key().to_pkcs8_pem().unwrap().to_string();
    let sec1_private = aws_lc_generate(KeySpec::P256).unwrap().to_pkcs8_pem().unwrap().to_string();
    let cases: [(&str, &str, &str); 9] = [
        ("rsa1024_pkcs1", &keys["rsa1024_pkcs1"], "2048 and 4096"),
        ("rsa1024_cert", &keys["rsa1024_cert"], "2048 and 4096"),
        ("rsa1024_spki", &keys["rsa1024_spki"], "2048 and 4096"),
        ("rsa8192_spki", &keys["rsa8192_spki"], "got 8192"),
        ("ec_p256_cert", &keys["ec_p256_cert"], "RSA"),
        ("ec_p384_spki", &keys["ec_p384_spki"], "RSA"),
        ("ed25519_spki", &keys["ed25519_spki"], ""),
        ("an RSA private key", &pkcs8_private, "PEM"),
        ("an EC private key", &sec1_private, "PEM"),
    ];
    for (what, pem, message) in cases {
        let r = create(&env, json!({"credential_type": "public_key", "pem": pem})).await;
        refusal::invalid_body(&oas, r, message, what).await;
        refusal::still_answers(&env, what).await;
    }
    // The certificate route with parse_expiry_from_cert is refused the same way.
    let r = create(
        &env,
        json!({"credential_type": "public_key", "pem": keys["rsa1024_cert"], "parse_expiry_from_cert": true}),
    )
    .await;
    refusal::invalid_body(&oas, r, "2048 and 4096", "1024-bit certificate with parse_expiry_from_cert").await;
    let list: Value = env.get(&format!("/api/v2/clients/{APP}/credentials")).await.json().await.unwrap();
    assert_eq!(list, json!([]));

    // PKCS#1 is one of the forms the OAS allows: a 2048-bit one is accepted, with the same kid
    // as its SPKI form would get.
    let r = create(&env, json!({"credential_type": "public_key", "pem": keys["rsa2048_pkcs1"]})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let cred: Value = r.json().await.unwrap();
    let kid = keyward_crypto::PublicKey::from_pem(&keys["rsa2048_pkcs1"]).unwrap().thumbprint().unwrap();
    assert_eq!(cred["kid"], kid);
}

#[tokio::test]
async fn oversize_pems_are_refused() {
    let (env, oas) = (env().await, Oas::load());
    let spki = rsa_key().public_key().to_spki_pem().unwrap();
    // A real key, but padded past the 16 KiB the emulator takes.
    let padded = format!("{spki}{}", "\n".repeat(17 * 1024));
    // Armour around far too much base64.
    let stuffed = format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", "QUFB".repeat(5000));
    // Two certificates' worth of PEM blocks followed by junk: only the first block counts, and it
    // must itself be acceptable.
    let chained = format!("{}{}", keys()["rsa1024_cert"], spki);
    for (what, pem, message) in [
        ("a valid key padded past 16 KiB", padded, "too long"),
        ("20 KB of base64 in PEM armour", stuffed, "too long"),
        ("a 1024-bit certificate chained before a good key", chained, "2048 and 4096"),
    ] {
        let r = create(&env, json!({"credential_type": "public_key", "pem": pem})).await;
        refusal::invalid_body(&oas, r, message, what).await;
        refusal::still_answers(&env, what).await;
    }
    let list: Value = env.get(&format!("/api/v2/clients/{APP}/credentials")).await.json().await.unwrap();
    assert_eq!(list, json!([]));
}
