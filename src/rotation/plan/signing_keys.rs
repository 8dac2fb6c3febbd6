//! The plans of a tenant signing-key rotation (refused while an earlier previous key must stay;
//! Auth0's promotion; the verifiers to wait for and the previous key's revocation at
//! rotation + max_token_lifetime) and of the previous key's revocation on demand (the same
//! rules as `RevokeTenantSigningKey`, with the verifiers read now).

use keyward_auth0::{Error as Auth0Error, SigningKey};

use super::connection::{KeySet, promotion};
use super::{Action, Plan, PlannedStep};
use crate::Error;
use crate::clock::Timestamp;
use crate::config::SigningKeysPolicy;
use crate::rotation::Engine;
use crate::rotation::signing_key_revoke::{not_rotated_by_keyward, not_yet, rotation_failed};
use crate::rotation::signing_key_wait::{SigningKeysRotation, blockers, state};
use crate::rotation::signing_keys::request_hash;
use crate::rotation::verifiers;

/// Auth0's limit on signing-key rotations (CONTRACT.md §7).
const RATE_NOTE: &str = "Auth0 allows 5 signing-key rotations a day per tenant; a refused one is not retried";

/// The steps of a signing-key rotation of `keys` at `now` under `policy`.
pub(crate) fn rotation_steps(keys: &[SigningKey], policy: &SigningKeysPolicy, now: Timestamp) -> Vec<PlannedStep> {
    let live = |k: &&SigningKey| !k.revoked;
    let set = KeySet {
        current: keys.iter().filter(live).find(|k| k.current).map(|k| k.kid.clone()),
        next: keys.iter().filter(live).find(|k| k.next).map(|k| k.kid.clone()),
        previous: keys.iter().filter(live).filter(|k| k.previous).map(|k| k.kid.clone()).collect(),
    };
    let mut out = promotion(
        &set,
        "Auth0 generates a new next key with its certificate",
        (Action::Revoke, "Auth0 revokes an unrevoked previous key at the next rotation"),
    );
    let Some(current) = set.current else { return out };
    for url in &policy.verifiers {
        out.push(PlannedStep::now(
            Action::Wait,
            url,
            "this verifier must show the new current key before the previous key is revoked",
        ));
    }
    let lifetime = humantime::format_duration(policy.max_token_lifetime);
    let why = if policy.auto_revoke {
        format!(
            "keyward revokes it by itself once max_token_lifetime ({lifetime}) has passed and every verifier shows the new current key"
        )
    } else {
        format!(
            "may be revoked once max_token_lifetime ({lifetime}) has passed and every verifier shows the new current \
             key (keyward revoke signing-key; auto_revoke is off)"
        )
    };
    out.push(PlannedStep::now(Action::Revoke, current, why).at(now.plus(policy.max_token_lifetime)));
    out
}

impl Engine {
    /// What [`Engine::rotate_signing_keys`] would do now; changes nothing.
    pub async fn plan_rotate_signing_keys(&self, tenant: &str, request_id: Option<&str>) -> Result<Plan, Error> {
        let t = self.tenants.get(tenant)?;
        if let Some(req) = request_id
            && let Some(existing) = self.store.signing_key_rotation_by_request(tenant, req).await?
        {
            if existing.request_hash != request_hash(tenant) {
                return Err(Error::arg("request_id", "was already used for a different request"));
            }
            return Ok(Plan::noted(format!(
                "request_id {req:?} names signing-key rotation {} ({}): the real call returns it as it stands and \
                 never rotates twice",
                existing.id, existing.state
            )));
        }
        if let Some(why) = self.previous_must_stay(t).await? {
            return Ok(Plan::refused(why));
        }
        let keys = self.bounded("list_signing_keys", t.auth0.list_signing_keys()).await?;
        let steps = rotation_steps(&keys, &t.config.signing_keys, self.clock.now());
        let notes = vec![
            RATE_NOTE.to_owned(),
            "every key Auth0 returns is then verified (certificate, CN, fingerprint, thumbprint, PKCS#7) and recorded"
                .to_owned(),
        ];
        Ok(Plan { steps, refusal: None, notes })
    }

    /// What [`Engine::revoke_signing_key`] would do now; changes nothing (the verifiers are read,
    /// as the real call reads them; nothing is recorded).
    pub async fn plan_revoke_signing_key(&self, tenant: &str, kid: &str) -> Result<Plan, Error> {
        let t = self.tenants.get(tenant)?;
        let rows = self.store.signing_key_rotations(tenant, 50).await?;
        let get = || self.bounded("get_signing_key", t.auth0.get_signing_key(kid));
        let Some(row) = rows.into_iter().find(|r| r.previous_kid.as_deref() == Some(kid)) else {
            let key = get().await.map_err(|e| Error::from(e).naming("kid", kid))?;
            return Ok(Plan::refused(not_rotated_by_keyward(kid, &key)));
        };
        let mut r = SigningKeysRotation::from_record(row)?;
        match r.record.state.as_str() {
            state::COMPLETED => {
                return Ok(Plan::noted(format!(
                    "kid {kid:?} is revoked already (rotation {}): the real call returns that rotation",
                    r.record.id
                )));
            }
            state::FAILED => return Ok(Plan::refused(rotation_failed(kid, &r))),
            _ => {}
        }
        let gone = match get().await {
            Ok(k) if k.revoked => Some("Auth0 shows it revoked already"),
            Ok(k) if k.previous => None,
            Ok(_) | Err(Auth0Error::SigningKeyNotFound { .. }) => Some("Auth0 no longer lists it as previous"),
            Err(e) => return Err(e.into()),
        };
        if let Some(why) = gone {
            return Ok(Plan::noted(format!(
                "{why}: the real call records that and completes rotation {} without asking Auth0",
                r.record.id
            )));
        }
        let now = self.clock.now();
        let mut notes = Vec::new();
        if r.record.state == state::WAITING {
            // The real call polls every lagging verifier first; so does the plan (reads only).
            self.sync_verifiers(t, &mut r);
            if let Some(current) = r.detail.current_kid.clone() {
                verifiers::poll(&mut r.detail.verifiers, &current, now, true).await;
            }
            let missing = blockers(&r, now);
            if !missing.is_empty() {
                let mut plan = Plan::refused(not_yet(kid, &missing));
                plan.notes.extend(r.lagging().iter().map(|v| format!("lagging verifier: {}", v.jwks_url)));
                return Ok(plan);
            }
        }
        notes.push(format!("rotation {} completes once Auth0 has revoked it", r.record.id));
        let why = "the previous key: max_token_lifetime has passed since its rotation and every verifier shows the current key";
        Ok(Plan { steps: vec![PlannedStep::now(Action::Revoke, kid, why)], refusal: None, notes })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn key(kid: &str, status: &str) -> SigningKey {
        serde_json::from_value(serde_json::json!({"kid": kid, "cert": "", status: true})).unwrap()
    }

    #[test]
    fn the_previous_key_is_revoked_after_max_token_lifetime_and_the_verifiers() {
        let keys = [key("p", "previous"), key("c", "current"), key("n", "next")];
        let policy = SigningKeysPolicy {
            max_token_lifetime: Duration::from_secs(3600),
            auto_revoke: true,
            verifiers: vec!["https://gw/jwks".into()],
        };
        let s = rotation_steps(&keys, &policy, Timestamp::from_millis(0));
        let got: Vec<_> = s.iter().map(|s| (s.action.as_str(), s.target.as_str())).collect();
        assert_eq!(
            got,
            [
                ("revoke", "p"),
                ("generate", "new"),
                ("activate", "n"),
                ("retire", "c"),
                ("wait", "https://gw/jwks"),
                ("revoke", "c")
            ]
        );
        assert_eq!(s[5].at, Some(Timestamp::from_millis(3_600_000)));
        assert!(s[0].at.is_none());
    }
}
