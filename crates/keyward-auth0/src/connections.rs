//! Connections and their keys: `/api/v2/connections/{id}[/keys[/rotate]]` (CONTRACT.md §3).

use keyward_crypto::Algorithm;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::client::{Auth0Client, NO_BODY, Request};
use crate::de::flag;
use crate::error::{Error, Resource};
use crate::http::segment;

/// The parts of a connection keyward reads. Unknown fields are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Connection {
    /// `con_…`.
    pub id: String,
    /// The connection's name (the subject CN of its key certificates).
    #[serde(default)]
    pub name: Option<String>,
    /// `oidc`, `okta`, … (only those two have keys).
    #[serde(default)]
    pub strategy: Option<String>,
    /// Strategy options (e.g. `token_endpoint_auth_method`), as JSON.
    #[serde(default)]
    pub options: Option<serde_json::Value>,
}

/// One connection key. Only `kid` and `cert` are always present (a 2025 rotate answer held only
/// those); status flags that are false are left out by Auth0 and read as `false`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConnectionKey {
    /// RFC 7638 thumbprint of the key.
    pub kid: String,
    /// The certificate, PEM with `\r\n` line ends.
    pub cert: String,
    /// E.g. `RS256`.
    #[serde(default)]
    pub algorithm: Option<String>,
    /// `signing` or `encryption`.
    #[serde(default)]
    pub key_use: Option<String>,
    /// `/CN=<connection name>`.
    #[serde(default)]
    pub subject_dn: Option<String>,
    /// SHA-1 of the DER certificate, uppercase hex with `:`.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// SHA-1 of the DER certificate, uppercase hex.
    #[serde(default)]
    pub thumbprint: Option<String>,
    /// Degenerate PKCS#7 holding the certificate, PEM (`pkcs`, not `pkcs7`).
    #[serde(default)]
    pub pkcs: Option<String>,
    /// The key Auth0 signs with now.
    #[serde(default, deserialize_with = "flag")]
    pub current: bool,
    /// The key that becomes current at the next rotation.
    #[serde(default, deserialize_with = "flag")]
    pub next: bool,
    /// The key that was current before the last rotation.
    #[serde(default, deserialize_with = "flag")]
    pub previous: bool,
    /// When the key became current (Auth0: when the key set was created).
    #[serde(default)]
    pub current_since: Option<String>,
}

#[derive(Serialize)]
struct KeysBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    signing_alg: Option<Algorithm>,
}

fn connection_path(connection_id: &str) -> Result<String, Error> {
    Ok(format!("/connections/{}", segment(connection_id)?))
}

impl Auth0Client {
    /// `GET /connections/{id}`.
    pub async fn get_connection(&self, connection_id: &str) -> Result<Connection, Error> {
        self.management_json(Request {
            operation: "get_connection",
            resource: Resource::Connection,
            method: Method::GET,
            path: connection_path(connection_id)?,
            body: NO_BODY,
            expected: &[StatusCode::OK],
        })
        .await
    }

    /// `GET /connections/{id}/keys`: [current, next] or [current, previous, next].
    pub async fn get_connection_keys(&self, connection_id: &str) -> Result<Vec<ConnectionKey>, Error> {
        self.management_json(Request {
            operation: "get_connection_keys",
            resource: Resource::Connection,
            method: Method::GET,
            path: format!("{}/keys", connection_path(connection_id)?),
            body: NO_BODY,
            expected: &[StatusCode::OK],
        })
        .await
    }

    /// `POST /connections/{id}/keys` (201): provisions current and next before the connection
    /// switches to private_key_jwt. A second call is [`Error::Conflict`] (409).
    pub async fn create_connection_keys(
        &self,
        connection_id: &str,
        signing_alg: Option<Algorithm>,
    ) -> Result<Vec<ConnectionKey>, Error> {
        self.management_json(Request {
            operation: "create_connection_keys",
            resource: Resource::Connection,
            method: Method::POST,
            path: format!("{}/keys", connection_path(connection_id)?),
            body: Some(&KeysBody { signing_alg }),
            expected: &[StatusCode::CREATED, StatusCode::OK],
        })
        .await
    }

    /// `POST /connections/{id}/keys/rotate` (201): next → current, current → previous, and a new
    /// next, which is returned. Not retried on an ambiguous failure: [`Error::UnknownOutcome`]
    /// means read the keys back before rotating again.
    pub async fn rotate_connection_keys(
        &self,
        connection_id: &str,
        signing_alg: Option<Algorithm>,
    ) -> Result<ConnectionKey, Error> {
        self.management_json(Request {
            operation: "rotate_connection_keys",
            resource: Resource::Connection,
            method: Method::POST,
            path: format!("{}/keys/rotate", connection_path(connection_id)?),
            body: Some(&KeysBody { signing_alg }),
            expected: &[StatusCode::CREATED, StatusCode::OK],
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_shapes() {
        let short: ConnectionKey =
            serde_json::from_str(r#"{"kid":"k","cert":"-----BEGIN CERTIFICATE-----\r\n"}"#).unwrap();
        assert!(!short.current && !short.next && !short.previous);
        let full: ConnectionKey = serde_json::from_str(
            r#"{"kid":"k","algorithm":"RS256","key_use":"signing","subject_dn":"/CN=c","cert":"c","fingerprint":"AA:BB","thumbprint":"AABB","pkcs":"p","current":true,"current_since":"2025-05-30T17:22:07.722Z","next":null}"#,
        )
        .unwrap();
        assert!(full.current && !full.next);
        assert_eq!(full.pkcs.as_deref(), Some("p"));
    }

    #[test]
    fn keys_body() {
        assert_eq!(serde_json::to_string(&KeysBody { signing_alg: None }).unwrap(), "{}");
        assert_eq!(
            serde_json::to_string(&KeysBody { signing_alg: Some(Algorithm::PS256) }).unwrap(),
            r#"{"signing_alg":"PS256"}"#
        );
    }
}
