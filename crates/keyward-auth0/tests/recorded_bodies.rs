//! The adapter's types read every shape of Auth0's answers seen in real recordings (tests/data).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keyward_auth0::{Client, ClientCredential, ConnectionKey};
use serde::de::DeserializeOwned;

fn load<T: DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn credentials_with_null_expiry_2023() {
    let list: Vec<ClientCredential> = load("go-auth0_list_credentials_2023.json");
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|c| c.id.starts_with("cred_") && c.expires_at.is_none()));
    assert_eq!(list[0].kid.as_deref(), Some("4e7yYf0TKdyTLbVnpq2wLN6mZ8t7eb9UJkMksyHj9iU"));
    assert_eq!(list[0].alg.as_deref(), Some("RS256"));
}

#[test]
fn patched_credential_with_expiry() {
    let c: ClientCredential = load("go-auth0_patch_credential_2023.json");
    let at = c.expires_at_time().expect("expires_at parses");
    assert_eq!(at.offset(), time::UtcOffset::UTC);
    assert_eq!(c.expires_at.as_deref(), Some("2023-05-16T09:07:30.535Z"));
}

#[test]
fn credential_without_name_or_expiry_2025() {
    let c: ClientCredential = load("tf_get_credential_no_name_2025.json");
    assert_eq!(c.name, None);
    assert_eq!(c.expires_at, None);
    assert_eq!(c.credential_type.as_deref(), Some("public_key"));
}

#[test]
fn clients_in_every_shape() {
    let full: Client = load("go-auth0_create_client_full_credentials_2023.json");
    assert!(full.uses_private_key_jwt());
    assert_eq!(full.private_key_jwt_credential_ids(), ["cred_vJFxjukD2mSP1s376kV7hV"]);

    let ids: Client = load("tf_get_client_private_key_jwt_2025.json");
    assert!(ids.uses_private_key_jwt());
    assert_eq!(ids.private_key_jwt_credential_ids(), ["cred_sTPG5XB9pSHu7JFzpDJ4Eo"]);
    assert!(ids.token_endpoint_auth_method.is_none() && ids.client_secret.is_none());
    let attached = ids.client_authentication_methods.as_ref().unwrap().attached_ids();
    assert_eq!(attached, ["cred_sTPG5XB9pSHu7JFzpDJ4Eo"]);

    let secret: Client = load("tf_get_client_secret_post_2025.json");
    assert!(!secret.uses_private_key_jwt());
    assert_eq!(secret.token_endpoint_auth_method.as_deref(), Some("client_secret_post"));
    assert!(secret.client_secret.is_some());
    assert!(!format!("{secret:?}").contains("REDACTED\""));
}

#[test]
fn connection_keys_2025() {
    let rotated: ConnectionKey = load("go-auth0_rotate_connection_keys_2025.json");
    assert_eq!(rotated.kid, "kv95ODc3eK9wz9BnQB32MOrp3iYu_TvdKrk6N54SskE");
    assert!(rotated.cert.starts_with("-----BEGIN CERTIFICATE-----\r\n"));
    assert!(rotated.fingerprint.is_none() && !rotated.next);

    let keys: Vec<ConnectionKey> = load("go-auth0_connection_keys_after_rotate_2025.json");
    let flags: Vec<(bool, bool, bool)> = keys.iter().map(|k| (k.current, k.previous, k.next)).collect();
    assert_eq!(flags, [(true, false, false), (false, true, false), (false, false, true)]);
    assert!(keys.iter().all(|k| k.pkcs.as_deref().is_some_and(|p| p.contains("PKCS7")) && k.thumbprint.is_some()));
    assert!(keys[1].current_since.is_none());
    assert!(keys.iter().any(|k| k.kid == rotated.kid && k.next));
}

#[test]
fn token_answer() {
    let v: serde_json::Value = load("go-auth0_token_2023.json");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 86400);
}
