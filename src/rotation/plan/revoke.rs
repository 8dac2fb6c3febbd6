//! The plan of a client-credential revocation: the refusals `RevokeCredential` gives (the key's
//! state, the client's only active key without force), then its saga's steps: signing stops,
//! the credential is detached and deleted where Auth0 still holds it, the key is destroyed.

use keyward_auth0::Error as Auth0Error;

use super::{Action, Plan, PlannedStep};
use crate::Error;
use crate::rotation::method::ids;
use crate::rotation::revocation::{refusal, request_hash, revoked_key, validate};
use crate::rotation::{Engine, RevokeRequest};
use crate::store::{KeyRecord, KeyState};

/// Where Auth0 stands on the credential: whether it holds it, and what private_key_jwt lists
/// (`None`: the application is gone at Auth0, and its credentials with it).
pub(crate) struct Standing {
    /// Auth0 holds the credential record.
    pub held: bool,
    /// The private_key_jwt list.
    pub attached: Vec<String>,
}

/// The steps revoking `key` takes, given what Auth0 holds (`None`: the application is gone).
pub(crate) fn steps(key: &KeyRecord, credential_id: &str, auth0: Option<&Standing>) -> Vec<PlannedStep> {
    let mut out = vec![PlannedStep::now(
        Action::StopSigning,
        credential_id,
        format!(
            "key {} ({}) becomes RETIRED in the store: no replica signs with it from then on, whatever its signed exp",
            key.kid,
            key.state.as_str()
        ),
    )];
    if let Some(a) = auth0 {
        if a.attached.iter().any(|id| id == credential_id) {
            let kept: Vec<&str> = a.attached.iter().filter(|id| *id != credential_id).map(String::as_str).collect();
            let kept = if kept.is_empty() {
                "nothing stays attached".to_owned()
            } else {
                format!("kept: {}", kept.join(", "))
            };
            out.push(
                PlannedStep::now(Action::Detach, credential_id, format!("taken off {} ({kept})", key.method))
                    .on(key.method.as_str()),
            );
        }
        if a.held {
            out.push(PlannedStep::now(
                Action::Delete,
                credential_id,
                "deleted at Auth0: assertions it signed are refused from then on",
            ));
        }
    }
    out.push(PlannedStep::now(Action::Destroy, &key.kid, "its private key material is destroyed"));
    out
}

impl Engine {
    /// What [`Engine::revoke`] would do now; changes nothing.
    pub async fn plan_revoke(&self, req: &RevokeRequest) -> Result<Plan, Error> {
        let tenant = self.managed_client(&req.tenant, &req.client_id)?;
        validate(req)?;
        let keys = self.store.keys(&req.tenant, &req.client_id).await?;
        let key = revoked_key(&keys, req)?;
        if let Some(existing) = self.store.revocation_of_key(&key.key_id).await? {
            if req.request_id.is_some()
                && existing.request_id == req.request_id
                && existing.request_hash != request_hash(req)
            {
                return Err(Error::arg("request_id", "was already used for a different request"));
            }
            return Ok(Plan::noted(format!(
                "credential {} is revoked already by revocation {} ({}): the real call returns it (driving it on if \
                 it is open) and revokes nothing new",
                req.credential_id, existing.revocation_id, existing.state
            )));
        }
        if let Some(why) = refusal(key.state, key.method, req.force, &req.credential_id) {
            return Ok(Plan::refused(why));
        }
        let auth0 = &tenant.auth0;
        let standing = match self.bounded("get_client", auth0.get_client(&req.client_id)).await {
            Ok(client) => {
                let creds = self.bounded("list_credentials", auth0.list_credentials(&req.client_id)).await?;
                let held = creds.iter().any(|c| c.id == req.credential_id);
                Some(Standing { held, attached: ids(&client, key.method) })
            }
            Err(Auth0Error::ClientNotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let mut plan = Plan { steps: steps(key, &req.credential_id, standing.as_ref()), ..Plan::default() };
        match &standing {
            None => plan.notes.push("the application is gone at Auth0: nothing to detach or delete there".into()),
            Some(s) if !s.held => {
                plan.notes.push("Auth0 no longer holds the credential: nothing to delete there".into())
            }
            Some(_) => {}
        }
        if key.state == KeyState::Active {
            plan.notes
                .push("force: the client is left with no ACTIVE key; signing for it fails until it is rotated".into());
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CredentialMethod;

    fn key(state: KeyState) -> KeyRecord {
        let mut k = crate::rotation::plan::client::tests::key("cred_a", state, None);
        k.kid = "kid-a".into();
        k
    }

    #[test]
    fn an_attached_credential_is_detached_then_deleted_then_destroyed() {
        let s = Standing { held: true, attached: vec!["cred_a".into(), "cred_b".into()] };
        let steps = steps(&key(KeyState::Retiring), "cred_a", Some(&s));
        let got: Vec<_> = steps.iter().map(|s| (s.action.as_str(), s.target.as_str())).collect();
        assert_eq!(got, [("stop_signing", "cred_a"), ("detach", "cred_a"), ("delete", "cred_a"), ("destroy", "kid-a")]);
        assert!(steps[1].reason.contains("kept: cred_b"), "{}", steps[1].reason);
    }

    #[test]
    fn what_auth0_no_longer_holds_is_not_planned_there() {
        let s = Standing { held: false, attached: Vec::new() };
        let got: Vec<_> = steps(&key(KeyState::Active), "cred_a", Some(&s)).iter().map(|s| s.action).collect();
        assert_eq!(got, [Action::StopSigning, Action::Destroy]);
        assert_eq!(steps(&key(KeyState::Active), "cred_a", None).len(), 2);
    }

    #[test]
    fn the_refusals_are_the_real_calls() {
        assert!(
            refusal(KeyState::Active, CredentialMethod::PrivateKeyJwt, false, "cred_a")
                .is_some_and(|m| m.contains("force"))
        );
        assert!(refusal(KeyState::Active, CredentialMethod::PrivateKeyJwt, true, "cred_a").is_none());
        assert!(refusal(KeyState::Retired, CredentialMethod::PrivateKeyJwt, true, "cred_a").is_some());
        assert!(refusal(KeyState::Retiring, CredentialMethod::PrivateKeyJwt, false, "cred_a").is_none());
    }
}
