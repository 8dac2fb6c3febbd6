//! A rotation's credential list at Auth0, by method: what `private_key_jwt` or the client's
//! top-level `signed_request_object` (JAR) lists, what every other list holds (counted in the
//! pool of 4, never touched), and setting one list whole.

use keyward_auth0::{Client, Error as Auth0Error};

use super::Engine;
use crate::store::CredentialMethod;
use crate::tenant::Tenant;

/// The credential ids attached to `method`'s list.
pub(super) fn ids(client: &Client, method: CredentialMethod) -> Vec<String> {
    let list = match method {
        CredentialMethod::PrivateKeyJwt => client.private_key_jwt_credential_ids(),
        CredentialMethod::SignedRequestObject => client.signed_request_object_credential_ids(),
    };
    list.into_iter().map(str::to_owned).collect()
}

/// The credential ids attached to any list but `method`'s: another method's keys (or anything
/// else) that a rotation for `method` may count but never detach or delete.
pub(super) fn elsewhere(client: &Client, method: CredentialMethod) -> Vec<String> {
    let own = ids(client, method);
    let mut out: Vec<String> = Vec::new();
    for id in client.attached_anywhere() {
        if !own.iter().any(|o| o == id) && !out.iter().any(|o| o == id) {
            out.push(id.to_owned());
        }
    }
    out
}

impl Engine {
    /// Sets `method`'s list on the client to exactly `list` (read as `client` right before).
    /// private_key_jwt switches the client from a secret method on its first attach; JAR keeps
    /// the `required` flag as read.
    pub(super) async fn set_list(
        &self,
        tenant: &Tenant,
        client: &Client,
        method: CredentialMethod,
        list: &[&str],
    ) -> Result<Client, Auth0Error> {
        let auth0 = &tenant.auth0;
        match method {
            CredentialMethod::PrivateKeyJwt => {
                // Only an attach may switch the client (a detach leaves the method as it is).
                let switch = !list.is_empty() && !client.uses_private_key_jwt();
                self.bounded(
                    "set_private_key_jwt",
                    auth0.set_private_key_jwt_credentials(&client.client_id, list, switch),
                )
                .await
            }
            CredentialMethod::SignedRequestObject => {
                let required = client.signed_request_object.as_ref().and_then(|j| j.required);
                let set = auth0.set_signed_request_object_credentials(&client.client_id, list, required);
                self.bounded("set_signed_request_object", set).await
            }
        }
    }
}
