//! Clients (applications): `GET` and `PATCH /api/v2/clients/{id}` for `client_authentication_methods`
//! (CONTRACT.md §2).

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::client::{Auth0Client, NO_BODY, Request};
use crate::error::{Error, Resource};
use crate::http::segment;
use crate::requests::SecretMethod;

/// The parts of a client keyward reads. Unknown fields are ignored; `client_secret` is a secret.
#[derive(Debug, Clone, Deserialize)]
pub struct Client {
    /// The client id.
    pub client_id: String,
    /// The application's name.
    #[serde(default)]
    pub name: Option<String>,
    /// `native`, `spa`, `regular_web`, `non_interactive`, …; absent on some clients.
    #[serde(default)]
    pub app_type: Option<String>,
    /// `client_secret_post`, `client_secret_basic`, `none`, …; Auth0 leaves it out while
    /// `private_key_jwt` is active.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// Credential-based methods; only returned with `read:client_keys` or `read:client_credentials`.
    #[serde(default)]
    pub client_authentication_methods: Option<ClientAuthenticationMethods>,
    /// JAR settings (a top-level client property): its credentials cannot be deleted while
    /// attached. Only returned with `read:client_keys` or `read:client_credentials`.
    #[serde(default)]
    pub signed_request_object: Option<CredentialList>,
    /// Token Vault privileged access (a top-level client property), with its credentials.
    #[serde(default)]
    pub token_vault_privileged_access: Option<CredentialList>,
    /// `jwt_configuration.alg` and friends.
    #[serde(default)]
    pub jwt_configuration: Option<JwtConfiguration>,
    /// Only with `read:client_keys`, and not while private_key_jwt is active.
    #[serde(default)]
    pub client_secret: Option<SecretString>,
}

impl Client {
    /// Whether `private_key_jwt` is the client's authentication method.
    pub fn uses_private_key_jwt(&self) -> bool {
        self.client_authentication_methods.as_ref().is_some_and(|m| m.private_key_jwt.is_some())
    }

    /// The credential ids attached to the client's top-level `signed_request_object` (JAR).
    pub fn signed_request_object_credential_ids(&self) -> Vec<&str> {
        self.signed_request_object
            .as_ref()
            .map(|l| l.credentials.iter().map(|c| c.id.as_str()).collect())
            .unwrap_or_default()
    }

    /// Every credential id attached anywhere: any of `client_authentication_methods`, the
    /// top-level `signed_request_object` and `token_vault_privileged_access`. Auth0 refuses to
    /// delete any of them.
    pub fn attached_anywhere(&self) -> Vec<&str> {
        let mut ids: Vec<&str> =
            self.client_authentication_methods.as_ref().map(|m| m.attached_ids()).unwrap_or_default();
        for list in [&self.signed_request_object, &self.token_vault_privileged_access].into_iter().flatten() {
            ids.extend(list.credentials.iter().map(|c| c.id.as_str()));
        }
        ids
    }

    /// The credential ids attached to `private_key_jwt` (empty when none or not active).
    pub fn private_key_jwt_credential_ids(&self) -> Vec<&str> {
        self.client_authentication_methods
            .as_ref()
            .and_then(|m| m.private_key_jwt.as_ref())
            .map(|m| m.credentials.iter().map(|c| c.id.as_str()).collect())
            .unwrap_or_default()
    }
}

/// `jwt_configuration`.
#[derive(Debug, Clone, Deserialize)]
pub struct JwtConfiguration {
    /// The signing algorithm for the client's ID tokens; must be RS256 for
    /// `client_authentication_methods`.
    #[serde(default)]
    pub alg: Option<String>,
}

/// `client_authentication_methods`: which credentials each method accepts.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClientAuthenticationMethods {
    /// `private_key_jwt` (public_key credentials).
    #[serde(default)]
    pub private_key_jwt: Option<CredentialList>,
    /// `tls_client_auth` (cert_subject_dn credentials).
    #[serde(default)]
    pub tls_client_auth: Option<CredentialList>,
    /// `self_signed_tls_client_auth` (x509_cert credentials).
    #[serde(default)]
    pub self_signed_tls_client_auth: Option<CredentialList>,
    /// JAR (`signed_request_object`): its credentials cannot be deleted while attached either.
    #[serde(default)]
    pub signed_request_object: Option<CredentialList>,
    /// Other methods Auth0 may add, kept as JSON.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl ClientAuthenticationMethods {
    /// Every credential id attached to any method (a credential in this list cannot be deleted).
    pub fn attached_ids(&self) -> Vec<&str> {
        let typed = [
            &self.private_key_jwt,
            &self.tls_client_auth,
            &self.self_signed_tls_client_auth,
            &self.signed_request_object,
        ];
        let mut ids: Vec<&str> =
            typed.into_iter().flatten().flat_map(|l| l.credentials.iter().map(|c| c.id.as_str())).collect();
        for v in self.other.values() {
            if let Some(list) = v.get("credentials").and_then(|c| c.as_array()) {
                ids.extend(list.iter().filter_map(|c| c.get("id").and_then(|i| i.as_str())));
            }
        }
        ids
    }
}

/// `{"credentials": [...]}` of one method.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CredentialList {
    /// The attached credentials. Auth0 returns `[{"id"}]` (2025+) or full credential objects
    /// (2023); both read as references. A null list reads as empty.
    #[serde(default, deserialize_with = "nullable_list")]
    pub credentials: Vec<CredentialRef>,
    /// `signed_request_object.required`.
    #[serde(default)]
    pub required: Option<bool>,
}

fn nullable_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<CredentialRef>, D::Error> {
    Ok(Option::<Vec<CredentialRef>>::deserialize(d)?.unwrap_or_default())
}

/// A reference to a credential: `{"id": "cred_…"}` (other fields of a full object are ignored), or
/// a bare id string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialRef {
    /// `cred_…`.
    pub id: String,
}

impl<'de> Deserialize<'de> for CredentialRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Obj {
            id: String,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Obj(Obj),
            Id(String),
        }
        Ok(match Either::deserialize(d)? {
            Either::Obj(o) => Self { id: o.id },
            Either::Id(id) => Self { id },
        })
    }
}

#[derive(Serialize)]
struct AttachPrivateKeyJwt<'a> {
    client_authentication_methods: MethodsBody<'a>,
    /// Sent as `null` only when switching from a secret method; left out otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_endpoint_auth_method: Option<()>,
}

#[derive(Serialize)]
struct MethodsBody<'a> {
    private_key_jwt: IdList<'a>,
}

#[derive(Serialize)]
struct IdList<'a> {
    credentials: Vec<IdRef<'a>>,
}

#[derive(Serialize)]
struct IdRef<'a> {
    id: &'a str,
}

#[derive(Serialize)]
struct AttachSignedRequestObject<'a> {
    signed_request_object: JarBody<'a>,
}

#[derive(Serialize)]
struct JarBody<'a> {
    /// Sent back as read, so a PATCH that only moves credentials never changes whether JAR is
    /// required; left out when the client had none.
    #[serde(skip_serializing_if = "Option::is_none")]
    required: Option<bool>,
    credentials: Vec<IdRef<'a>>,
}

#[derive(Serialize)]
struct RevertToSecret {
    client_authentication_methods: Option<()>,
    token_endpoint_auth_method: SecretMethod,
}

fn client_path(client_id: &str) -> Result<String, Error> {
    Ok(format!("/clients/{}", segment(client_id)?))
}

impl Auth0Client {
    /// `GET /clients/{client_id}`.
    pub async fn get_client(&self, client_id: &str) -> Result<Client, Error> {
        self.management_json(Request {
            operation: "get_client",
            resource: Resource::Client,
            method: Method::GET,
            path: client_path(client_id)?,
            body: NO_BODY,
            expected: &[StatusCode::OK],
        })
        .await
    }

    /// `PATCH /clients/{client_id}` setting `client_authentication_methods.private_key_jwt.credentials`
    /// to exactly `credential_ids` (at most 2; an empty list detaches all). `switch_from_secret`
    /// must be true on the first switch from a secret method: it sends
    /// `token_endpoint_auth_method: null` with it; later rotations leave that field out.
    pub async fn set_private_key_jwt_credentials(
        &self,
        client_id: &str,
        credential_ids: &[&str],
        switch_from_secret: bool,
    ) -> Result<Client, Error> {
        let body = AttachPrivateKeyJwt {
            client_authentication_methods: MethodsBody {
                private_key_jwt: IdList { credentials: credential_ids.iter().map(|id| IdRef { id }).collect() },
            },
            token_endpoint_auth_method: if switch_from_secret { Some(()) } else { None },
        };
        self.patch_client(client_id, &body).await
    }

    /// `PATCH /clients/{client_id}` setting the top-level `signed_request_object.credentials` (JAR)
    /// to exactly `credential_ids` (at most 2), with `required` as the caller read it (`None`
    /// leaves it out). `client_authentication_methods` and `token_endpoint_auth_method` are not
    /// sent: JAR coexists with either (CONTRACT.md §2).
    pub async fn set_signed_request_object_credentials(
        &self,
        client_id: &str,
        credential_ids: &[&str],
        required: Option<bool>,
    ) -> Result<Client, Error> {
        let body = AttachSignedRequestObject {
            signed_request_object: JarBody {
                required,
                credentials: credential_ids.iter().map(|id| IdRef { id }).collect(),
            },
        };
        self.patch_client(client_id, &body).await
    }

    /// `PATCH /clients/{client_id}` back to a secret method: `client_authentication_methods: null`
    /// with `token_endpoint_auth_method`.
    pub async fn revert_to_client_secret(&self, client_id: &str, method: SecretMethod) -> Result<Client, Error> {
        let body = RevertToSecret { client_authentication_methods: None, token_endpoint_auth_method: method };
        self.patch_client(client_id, &body).await
    }

    async fn patch_client<B: Serialize>(&self, client_id: &str, body: &B) -> Result<Client, Error> {
        self.management_json(Request {
            operation: "patch_client",
            resource: Resource::Client,
            method: Method::PATCH,
            path: client_path(client_id)?,
            body: Some(body),
            expected: &[StatusCode::OK],
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_body_shapes() {
        let first = AttachPrivateKeyJwt {
            client_authentication_methods: MethodsBody {
                private_key_jwt: IdList { credentials: vec![IdRef { id: "cred_a" }, IdRef { id: "cred_b" }] },
            },
            token_endpoint_auth_method: Some(()),
        };
        assert_eq!(
            serde_json::to_string(&first).unwrap(),
            r#"{"client_authentication_methods":{"private_key_jwt":{"credentials":[{"id":"cred_a"},{"id":"cred_b"}]}},"token_endpoint_auth_method":null}"#
        );
        let later = AttachPrivateKeyJwt {
            client_authentication_methods: MethodsBody { private_key_jwt: IdList { credentials: vec![] } },
            token_endpoint_auth_method: None,
        };
        assert_eq!(
            serde_json::to_string(&later).unwrap(),
            r#"{"client_authentication_methods":{"private_key_jwt":{"credentials":[]}}}"#
        );
        let back = RevertToSecret {
            client_authentication_methods: None,
            token_endpoint_auth_method: SecretMethod::ClientSecretBasic,
        };
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            r#"{"client_authentication_methods":null,"token_endpoint_auth_method":"client_secret_basic"}"#
        );
    }

    #[test]
    fn jar_body_keeps_required_and_sends_nothing_else() {
        let body = AttachSignedRequestObject {
            signed_request_object: JarBody { required: Some(true), credentials: vec![IdRef { id: "cred_j" }] },
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"signed_request_object":{"required":true,"credentials":[{"id":"cred_j"}]}}"#
        );
        let none = AttachSignedRequestObject { signed_request_object: JarBody { required: None, credentials: vec![] } };
        assert_eq!(serde_json::to_string(&none).unwrap(), r#"{"signed_request_object":{"credentials":[]}}"#);
    }

    #[test]
    fn attached_anywhere_reads_every_list() {
        let c: Client = serde_json::from_str(
            r#"{"client_id":"app","client_authentication_methods":{"private_key_jwt":{"credentials":[{"id":"p"}]}},
                "signed_request_object":{"required":false,"credentials":[{"id":"j"}]},
                "token_vault_privileged_access":{"credentials":[{"id":"t"}]}}"#,
        )
        .unwrap();
        assert_eq!(c.attached_anywhere(), ["p", "j", "t"]);
        assert_eq!(c.signed_request_object_credential_ids(), ["j"]);
        assert_eq!(c.private_key_jwt_credential_ids(), ["p"]);
    }

    #[test]
    fn credential_refs_in_both_shapes() {
        let ids: CredentialList =
            serde_json::from_str(r#"{"credentials":[{"id":"cred_a"},{"id":"cred_b","name":"x","kid":"k"},"cred_c"]}"#)
                .unwrap();
        let got: Vec<_> = ids.credentials.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(got, ["cred_a", "cred_b", "cred_c"]);
        let null: CredentialList = serde_json::from_str(r#"{"credentials":null}"#).unwrap();
        assert!(null.credentials.is_empty());
    }

    #[test]
    fn client_secret_is_not_in_debug() {
        let c: Client = serde_json::from_str(
            r#"{"client_id":"app","client_secret":"very-secret-value","token_endpoint_auth_method":"client_secret_post"}"#,
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("very-secret-value"));
        assert!(!c.uses_private_key_jwt());
    }
}
