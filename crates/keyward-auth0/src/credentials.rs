//! Client credentials: `/api/v2/clients/{client_id}/credentials[/{credential_id}]` (CONTRACT.md §1).

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::client::{Auth0Client, NO_BODY, Request};
use crate::error::{Error, Resource};
use crate::http::segment;
use crate::requests::{NewCredential, ser_time};

/// A client credential as Auth0 returns it. Every field but `id` is optional: Auth0 leaves out
/// `name` when none was given, and `expires_at` when there is no expiry (2023 answers sent `null`
/// instead; both read as `None`). Timestamps are kept as Auth0's strings; see
/// [`expires_at_time`](Self::expires_at_time).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ClientCredential {
    /// `cred_…`.
    pub id: String,
    /// `public_key`, `cert_subject_dn` or `x509_cert`.
    #[serde(default)]
    pub credential_type: Option<String>,
    /// Key id (RFC 7638 thumbprint unless a custom kid was given); `public_key` only.
    #[serde(default)]
    pub kid: Option<String>,
    /// `RS256`, `RS384` or `PS256`; `public_key` only.
    #[serde(default)]
    pub alg: Option<String>,
    /// Friendly name.
    #[serde(default)]
    pub name: Option<String>,
    /// `cert_subject_dn` only.
    #[serde(default)]
    pub subject_dn: Option<String>,
    /// `x509_cert` only.
    #[serde(default)]
    pub thumbprint_sha256: Option<String>,
    /// ISO-8601 UTC with milliseconds.
    #[serde(default)]
    pub created_at: Option<String>,
    /// ISO-8601 UTC with milliseconds.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// ISO-8601 UTC with milliseconds, when the credential expires.
    #[serde(default)]
    pub expires_at: Option<String>,
}

impl ClientCredential {
    /// `expires_at` parsed; `None` when absent, null or not RFC 3339.
    pub fn expires_at_time(&self) -> Option<OffsetDateTime> {
        self.expires_at.as_deref().and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
    }
}

#[derive(Serialize)]
struct PatchCredential {
    #[serde(serialize_with = "ser_time")]
    expires_at: Option<OffsetDateTime>,
}

fn credentials_path(client_id: &str) -> Result<String, Error> {
    Ok(format!("/clients/{}/credentials", segment(client_id)?))
}

fn credential_path(client_id: &str, credential_id: &str) -> Result<String, Error> {
    Ok(format!("{}/{}", credentials_path(client_id)?, segment(credential_id)?))
}

impl Auth0Client {
    /// `GET /clients/{client_id}/credentials`. The order is not stable.
    pub async fn list_credentials(&self, client_id: &str) -> Result<Vec<ClientCredential>, Error> {
        self.management_json(Request {
            operation: "list_credentials",
            resource: Resource::Client,
            method: Method::GET,
            path: credentials_path(client_id)?,
            body: NO_BODY,
            expected: &[StatusCode::OK],
        })
        .await
    }

    /// `POST /clients/{client_id}/credentials` (201). Not retried on an ambiguous failure:
    /// [`Error::UnknownOutcome`] means list and match by kid before trying again.
    pub async fn create_credential(&self, client_id: &str, new: &NewCredential) -> Result<ClientCredential, Error> {
        self.management_json(Request {
            operation: "create_credential",
            resource: Resource::Client,
            method: Method::POST,
            path: credentials_path(client_id)?,
            body: Some(new),
            expected: &[StatusCode::CREATED, StatusCode::OK],
        })
        .await
    }

    /// `GET /clients/{client_id}/credentials/{credential_id}`.
    pub async fn get_credential(&self, client_id: &str, credential_id: &str) -> Result<ClientCredential, Error> {
        self.management_json(Request {
            operation: "get_credential",
            resource: Resource::Credential,
            method: Method::GET,
            path: credential_path(client_id, credential_id)?,
            body: NO_BODY,
            expected: &[StatusCode::OK],
        })
        .await
    }

    /// `PATCH /clients/{client_id}/credentials/{credential_id}` with `expires_at` (null clears it).
    /// Auth0 answers 200 (its OAS says 201; both are accepted).
    pub async fn update_credential_expiry(
        &self,
        client_id: &str,
        credential_id: &str,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<ClientCredential, Error> {
        self.management_json(Request {
            operation: "update_credential",
            resource: Resource::Credential,
            method: Method::PATCH,
            path: credential_path(client_id, credential_id)?,
            body: Some(&PatchCredential { expires_at }),
            expected: &[StatusCode::OK, StatusCode::CREATED],
        })
        .await
    }

    /// `DELETE /clients/{client_id}/credentials/{credential_id}` (204). Auth0 has answered 204 for
    /// an already-deleted credential; a 404 is [`Error::CredentialNotFound`].
    pub async fn delete_credential(&self, client_id: &str, credential_id: &str) -> Result<(), Error> {
        self.management(Request {
            operation: "delete_credential",
            resource: Resource::Credential,
            method: Method::DELETE,
            path: credential_path(client_id, credential_id)?,
            body: NO_BODY,
            expected: &[StatusCode::NO_CONTENT, StatusCode::OK],
        })
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::CredentialAlg;

    #[test]
    fn create_leaves_unset_fields_out() {
        let json = serde_json::to_value(NewCredential::public_key("PEM")).unwrap();
        assert_eq!(json, serde_json::json!({"credential_type": "public_key", "pem": "PEM"}));
        let mut full = NewCredential::public_key("PEM");
        full.name = Some("k1".into());
        full.alg = Some(CredentialAlg::PS256);
        full.kid = Some("kid-0123456789".into());
        full.expires_at = Some(time::macros::datetime!(2030-01-02 03:04:05.678_901 +02:00));
        let json = serde_json::to_value(full).unwrap();
        assert_eq!(json["alg"], "PS256");
        assert_eq!(json["expires_at"], "2030-01-02T01:04:05.678Z");
        assert!(json.get("parse_expiry_from_cert").is_none());
    }

    #[test]
    fn patch_sends_null_to_clear() {
        let json = serde_json::to_string(&PatchCredential { expires_at: None }).unwrap();
        assert_eq!(json, r#"{"expires_at":null}"#);
        let t = time::macros::datetime!(2096-05-13 09:33:13 UTC);
        let json = serde_json::to_string(&PatchCredential { expires_at: Some(t) }).unwrap();
        assert_eq!(json, r#"{"expires_at":"2096-05-13T09:33:13Z"}"#);
    }

    #[test]
    fn credential_variants_parse() {
        let null_expiry: ClientCredential = serde_json::from_str(
            r#"{"id":"cred_1","credential_type":"public_key","kid":"k","alg":"RS256","name":"","created_at":"2023-05-16T08:57:30.562Z","updated_at":"2023-05-16T08:57:30.562Z","expires_at":null}"#,
        )
        .unwrap();
        assert_eq!(null_expiry.expires_at, None);
        let no_name: ClientCredential = serde_json::from_str(r#"{"id":"cred_2","credential_type":"public_key","kid":"k","alg":"RS256","created_at":"x","updated_at":"x","extra":1}"#).unwrap();
        assert_eq!(no_name.name, None);
        let with_expiry: ClientCredential =
            serde_json::from_str(r#"{"id":"cred_3","expires_at":"2096-05-13T09:33:13.000Z"}"#).unwrap();
        assert_eq!(with_expiry.expires_at_time().map(|t| t.year()), Some(2096));
    }
}
