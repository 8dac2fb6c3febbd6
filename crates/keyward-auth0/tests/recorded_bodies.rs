//! The adapter's types read every shape of Auth0's answers seen in real recordings (tests/data).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keyward_auth0::{
    Client, ClientCredential, ConnectionKey, RevokedSigningKey, RotatedSigningKey, SigningKey, SigningKeyDate,
};
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
fn signing_keys_2023() {
    let keys: Vec<SigningKey> = load("go-auth0_list_signing_keys_2023.json");
    assert_eq!(keys.len(), 2);
    let flags: Vec<(bool, bool, bool, bool)> =
        keys.iter().map(|k| (k.current, k.next, k.previous, k.revoked)).collect();
    // go-auth0's recording marks both keys previous; the flags are read as sent.
    assert_eq!(flags, [(true, false, true, false), (false, true, true, false)]);
    assert_eq!(keys[0].kid, "111111111111111111111");
    assert_eq!(keys[1].kid, "222222222222222222222");
    for k in &keys {
        assert_eq!(k.kid.len(), 21);
        assert!(k.cert.starts_with("-----BEGIN CERTIFICATE-----") && k.cert.ends_with("-----END CERTIFICATE-----"));
        assert!(k.pkcs7.as_deref().is_some_and(|p| p.starts_with("-----BEGIN PKCS7-----")));
        assert_eq!(k.fingerprint.as_deref(), Some("[REDACTED]"));
        assert_eq!(k.thumbprint.as_deref(), Some("[REDACTED]"));
        assert!(k.current_since.is_none() && k.current_until.is_none() && k.revoked_at.is_none());
    }

    let one: SigningKey = load("go-auth0_get_signing_key_2023.json");
    assert_eq!(one, keys[0]);

    let rotated: RotatedSigningKey = load("go-auth0_rotate_signing_key_2023.json");
    assert_eq!(rotated.kid, "111111111111111111111");
    assert_eq!(rotated.cert, keys[0].cert);

    let revoked: RevokedSigningKey = load("go-auth0_revoke_signing_key_2023.json");
    assert_eq!(revoked.kid, "111111111111111111111");
    let at = revoked.revoked_at.as_ref().and_then(SigningKeyDate::time).expect("revoked_at parses");
    assert_eq!(at, time::macros::datetime!(2023-01-25 18:39:44.691729 UTC));
    assert_eq!(revoked.revoked_at.as_ref().and_then(SigningKeyDate::as_str), Some("2023-01-25T19:39:44.691729+01:00"));
    let full: SigningKey = load("go-auth0_revoke_signing_key_2023.json");
    assert_eq!(full.revoked_at, revoked.revoked_at);
}

#[test]
fn signing_key_dates_as_objects_and_unknown_fields() {
    // The recorded key with the OAS's other date shape (an object), nulls, and fields Auth0 may add.
    let mut v: serde_json::Value = load("go-auth0_get_signing_key_2023.json");
    v["current_since"] = serde_json::json!({"$date": "2023-01-25T18:39:44.691Z"});
    v["current_until"] = serde_json::json!({});
    v["revoked_at"] = serde_json::Value::Null;
    v["next"] = serde_json::Value::Null;
    v["algorithm"] = "RS256".into();
    v["key_use"] = serde_json::json!({"nested": [1, 2]});
    let k: SigningKey = serde_json::from_value(v).unwrap();
    assert_eq!(k.current_since, Some(SigningKeyDate::Other(serde_json::json!({"$date": "2023-01-25T18:39:44.691Z"}))));
    assert_eq!(k.current_since.as_ref().and_then(SigningKeyDate::time), None);
    assert_eq!(k.current_until, Some(SigningKeyDate::Other(serde_json::json!({}))));
    assert_eq!(k.revoked_at, None);
    assert!(k.current && !k.next);
}

#[test]
fn token_answer() {
    let v: serde_json::Value = load("go-auth0_token_2023.json");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 86400);
}
