//! The plan of a client-credential rotation: the saga's steps in order (generate, make room as
//! `slots::plan` decides, create, attach, activate) and the old key's retirement at the time
//! `activate` would set, from the credentials Auth0 holds and the keys the store knows.

use std::collections::BTreeMap;

use keyward_auth0::ClientCredential;

use super::{Action, NEW, Plan, PlannedStep};
use crate::Error;
use crate::clock::Timestamp;
use crate::rotation::method::{elsewhere, ids};
use crate::rotation::request::stored_params;
use crate::rotation::room::managed;
use crate::rotation::saga::retire_at;
use crate::rotation::slots::{self, Managed};
use crate::rotation::{Engine, Params, RotateRequest};
use crate::store::{CredentialMethod, KeyRecord, KeyState, Removal};

/// What Auth0 holds for the client, as the slot step reads it.
pub(crate) struct AtAuth0 {
    /// Every credential record.
    pub creds: Vec<ClientCredential>,
    /// The rotation's method list (private_key_jwt or signed_request_object).
    pub attached: Vec<String>,
    /// What every other list holds: counted in the pool, never removed.
    pub elsewhere: Vec<String>,
    /// Whether the client authenticates with private_key_jwt already.
    pub uses_private_key_jwt: bool,
}

/// The steps of a rotation with `params` at `now`, given the client's keys and (unless the
/// client only signs locally) what Auth0 holds; `Err` is the refusal the slot step would give.
pub(crate) fn steps(
    params: &Params,
    keys: &[KeyRecord],
    auth0: Option<&AtAuth0>,
    now: Timestamp,
) -> Result<Vec<PlannedStep>, String> {
    let bits = if params.key_bits == 0 { String::new() } else { format!(" {}-bit", params.key_bits) };
    let mut out = vec![PlannedStep::now(
        Action::Generate,
        NEW,
        format!("{}{bits} key pair and self-signed certificate, custody {}", params.algorithm, params.custody.as_str()),
    )];
    if let Some(a) = auth0 {
        let records: Vec<String> = a.creds.iter().map(|c| c.id.clone()).collect();
        let managed: BTreeMap<String, Managed> = managed(keys, None);
        let list = params.method.as_str();
        let room = slots::plan(&records, &a.attached, &a.elsewhere, &managed, params.evict_unmanaged, now)
            .map_err(|why| format!("rotating the client's {list} credential: {why}"))?;
        for removed in slots::told(list, &room, &a.creds, &a.attached, &managed, now) {
            if removed.action == Removal::Evicted {
                let why = format!("{} (was {})", removed.reason, removed.state);
                out.push(PlannedStep::now(Action::Detach, &removed.credential_id, why).on(list));
            }
            let why = format!("{} (was {})", removed.reason, removed.state);
            out.push(PlannedStep::now(Action::Delete, &removed.credential_id, why));
        }
        let expiry = params.lifetime_ms.map_or("no expiry".to_owned(), |ms| {
            format!("expires at {}", now.plus_ms(i64::try_from(ms).unwrap_or(i64::MAX)))
        });
        out.push(PlannedStep::now(
            Action::Create,
            NEW,
            format!("public_key credential with kid = its RFC 7638 thumbprint, {}, {expiry}", params.algorithm),
        ));
        let beside = if room.attached_after.is_empty() {
            "alone".to_owned()
        } else {
            format!("beside {}", room.attached_after.join(", "))
        };
        let switch = if a.uses_private_key_jwt || params.method != CredentialMethod::PrivateKeyJwt {
            ""
        } else {
            "; the client switches to private_key_jwt"
        };
        out.push(PlannedStep::now(Action::Attach, NEW, format!("{beside}{switch}")).on(list));
    }
    out.push(PlannedStep::now(Action::Activate, NEW, "keyward signs for the client with the new key from then on"));
    // Only the old key of the same method retires: the client's other list keeps its key.
    if let Some(old) = keys.iter().find(|k| k.state == KeyState::Active && k.method == params.method) {
        let grace = i64::try_from(params.grace_ms).unwrap_or(i64::MAX);
        let at = retire_at(now, grace, old.last_signed_exp);
        let target = old.credential_id.clone().unwrap_or_else(|| old.kid.clone());
        let what =
            if auth0.is_some() { "detached, deleted at Auth0 and its key destroyed" } else { "its key destroyed" };
        let why = format!(
            "the old key {} retires after the grace period of {}s (and not before the last assertion it signed \
             expires): {what}",
            old.kid,
            params.grace_ms / 1000
        );
        let step = PlannedStep::now(Action::Retire, target, why).at(at);
        out.push(if auth0.is_some() { step.on(params.method.as_str()) } else { step });
    }
    Ok(out)
}

impl Engine {
    /// What [`Engine::rotate_client`] would do now; changes nothing (no key is generated).
    pub async fn plan_rotate_client(&self, req: &RotateRequest) -> Result<Plan, Error> {
        let tenant = self.managed_client(&req.tenant, &req.client_id)?;
        let current = self.current_choice(&req.tenant, &req.client_id, req.method).await?;
        let local = tenant.config.signing.local_clients.contains(&req.client_id);
        let params = match self.params(req, local, current, tenant.config.custody.for_client(&req.client_id)) {
            Ok(p) => p,
            Err(Error::FailedPrecondition(why)) => return Ok(Plan::refused(why)),
            Err(e) => return Err(e),
        };
        let (_, hash) = stored_params(req, &params)?;
        if let Some(id) = &req.request_id
            && let Some(existing) = self.store.rotation_by_request(&req.tenant, id).await?
        {
            if existing.request_hash != hash {
                return Err(Error::arg("request_id", "was already used for a different request"));
            }
            return Ok(Plan::noted(format!(
                "request_id {id:?} names rotation {} ({}): the real call returns it (driving it on if it is open) \
                 and rotates nothing new",
                existing.rotation_id, existing.state
            )));
        }
        let open = self.store.open_rotations().await?;
        if let Some(open) = open.iter().find(|r| r.tenant == req.tenant && r.client_id == req.client_id) {
            return Ok(Plan::refused(format!(
                "rotation {} of client {} is in progress ({})",
                open.rotation_id, open.client_id, open.state
            )));
        }
        let keys = self.store.keys(&req.tenant, &req.client_id).await?;
        let at_auth0 = if local {
            None
        } else {
            let auth0 = &tenant.auth0;
            let creds = self.bounded("list_credentials", auth0.list_credentials(&req.client_id)).await?;
            let client = self.bounded("get_client", auth0.get_client(&req.client_id)).await?;
            Some(AtAuth0 {
                creds,
                attached: ids(&client, req.method),
                elsewhere: elsewhere(&client, req.method),
                uses_private_key_jwt: client.uses_private_key_jwt(),
            })
        };
        let now = self.clock.now();
        let mut plan = match steps(&params, &keys, at_auth0.as_ref(), now) {
            Ok(steps) => Plan { steps, ..Plan::default() },
            // The saga fails the rotation with this reason at its slot step.
            Err(why) => return Ok(Plan::refused(why)),
        };
        if local {
            plan.notes.push("the client only signs locally: nothing changes at Auth0".into());
        }
        for k in keys.iter().filter(|k| k.state == KeyState::Retiring) {
            if let Some(at) = k.retire_at
                && !plan.steps.iter().any(|s| Some(s.target.as_str()) == k.credential_id.as_deref())
            {
                plan.notes.push(format!(
                    "{} is already retiring from an earlier rotation (at {at}); this rotation leaves it be",
                    k.credential_id.as_deref().unwrap_or(&k.kid)
                ));
            }
        }
        plan.notes.push("times are as of now: the real call's retirement starts when its new key activates".into());
        Ok(plan)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::custody::Custody;
    use keyward_crypto::Algorithm;

    fn params(grace_ms: u64) -> Params {
        Params {
            algorithm: Algorithm::RS256,
            key_bits: 2048,
            grace_ms,
            lifetime_ms: None,
            evict_unmanaged: false,
            custody: Custody::Sealed,
            method: CredentialMethod::PrivateKeyJwt,
        }
    }

    pub(crate) fn key(id: &str, state: KeyState, last_signed_exp: Option<i64>) -> KeyRecord {
        KeyRecord {
            key_id: format!("key_{id}"),
            tenant: "t".into(),
            client_id: "c".into(),
            method: CredentialMethod::PrivateKeyJwt,
            kid: format!("kid-{id}"),
            algorithm: Algorithm::RS256,
            key_bits: 2048,
            public_key_pem: String::new(),
            cert_pem: String::new(),
            pkcs: String::new(),
            fingerprint: String::new(),
            thumbprint: String::new(),
            thumbprint_sha256: String::new(),
            subject_dn: String::new(),
            sealed: crate::seal::Sealed { kek_id: String::new(), wrapped_dek: Vec::new(), ciphertext: Vec::new() },
            credential_id: Some(id.to_owned()),
            state,
            created_at: Timestamp::EPOCH,
            expires_at: None,
            activated_at: None,
            retire_at: None,
            last_signed_exp: last_signed_exp.map(Timestamp::from_millis),
        }
    }

    fn at_auth0(records: &[&str], attached: &[&str]) -> AtAuth0 {
        let creds = records.iter().map(|id| serde_json::from_value(serde_json::json!({"id": id})).unwrap()).collect();
        AtAuth0 {
            creds,
            attached: attached.iter().map(|s| (*s).to_owned()).collect(),
            elsewhere: Vec::new(),
            uses_private_key_jwt: true,
        }
    }

    fn actions(s: &[PlannedStep]) -> Vec<(&str, &str)> {
        s.iter().map(|s| (s.action.as_str(), s.target.as_str())).collect()
    }

    #[test]
    fn a_first_rotation_generates_creates_attaches_and_activates() {
        let s = steps(&params(600_000), &[], Some(&at_auth0(&[], &[])), Timestamp::from_millis(0)).unwrap();
        assert_eq!(actions(&s), [("generate", "new"), ("create", "new"), ("attach", "new"), ("activate", "new")]);
    }

    #[test]
    fn a_full_pool_is_emptied_first_and_the_old_key_retires_after_the_grace_period() {
        let keys = [key("act", KeyState::Active, Some(1_000)), key("old", KeyState::Retiring, None)];
        let auth0 = at_auth0(&["act", "old", "u1", "u2"], &["act", "old"]);
        let now = Timestamp::from_millis(10_000);
        let s = steps(&params(60_000), &keys, Some(&auth0), now).unwrap();
        assert_eq!(
            actions(&s),
            [
                ("generate", "new"),
                ("detach", "old"),
                ("delete", "old"),
                ("create", "new"),
                ("attach", "new"),
                ("activate", "new"),
                ("retire", "act")
            ]
        );
        assert_eq!(s[1].method, super::super::PRIVATE_KEY_JWT);
        assert_eq!(s[6].at, Some(Timestamp::from_millis(70_000)));
        // A key whose assertions outlive the grace period retires when they expire.
        let late = [key("act", KeyState::Active, Some(99_000))];
        let s = steps(&params(0), &late, Some(&at_auth0(&["act"], &["act"])), now).unwrap();
        assert_eq!(s.last().unwrap().at, Some(Timestamp::from_millis(99_000)));
    }

    #[test]
    fn slots_held_by_unmanaged_credentials_refuse_as_the_saga_does() {
        let auth0 = at_auth0(&["u1", "u2"], &["u1", "u2"]);
        let err = steps(&params(0), &[], Some(&auth0), Timestamp::from_millis(0)).unwrap_err();
        assert!(err.contains("evict_unmanaged"), "{err}");
    }

    #[test]
    fn a_local_client_touches_nothing_at_auth0() {
        let keys = [key("act", KeyState::Active, None)];
        let s = steps(&params(0), &keys, None, Timestamp::from_millis(0)).unwrap();
        assert_eq!(actions(&s), [("generate", "new"), ("activate", "new"), ("retire", "act")]);
        assert!(s.iter().all(|s| s.method.is_empty()));
    }
}
