//! The plan of a connection-key rotation, and the key-set promotion Auth0 performs at a
//! rotation (next → current, current → previous, the old previous goes), which tenant signing
//! keys share.

use keyward_crypto::Algorithm;

use super::{Action, NEW, Plan, PlannedStep};
use crate::Error;
use crate::rotation::Engine;
use crate::rotation::connection::{pending_before, request_hash};

/// A key set by status, as Auth0 lists it (revoked keys left out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeySet {
    /// The key Auth0 signs with.
    pub current: Option<String>,
    /// The key that becomes current at the next rotation.
    pub next: Option<String>,
    /// Keys that were current before (still published).
    pub previous: Vec<String>,
}

/// What Auth0 does to `set` at a rotation, in words, with `old_previous` saying what becomes of
/// a previous key (connections drop it; a tenant's signing keys revoke it).
pub(crate) fn promotion(set: &KeySet, new_key: &str, old_previous: (Action, &str)) -> Vec<PlannedStep> {
    let mut out = Vec::new();
    for kid in &set.previous {
        out.push(PlannedStep::now(old_previous.0, kid, old_previous.1));
    }
    out.push(PlannedStep::now(Action::Generate, NEW, new_key));
    if let Some(next) = &set.next {
        out.push(PlannedStep::now(Action::Activate, next, "the next key becomes current: Auth0 signs with it"));
    }
    if let Some(current) = &set.current {
        out.push(PlannedStep::now(
            Action::Retire,
            current,
            "the current key becomes previous: still published, no longer signing",
        ));
    }
    out
}

impl Engine {
    /// What [`Engine::rotate_connection`] would do now; changes nothing.
    pub async fn plan_rotate_connection(
        &self,
        tenant: &str,
        connection_id: &str,
        alg: Option<Algorithm>,
        request_id: Option<&str>,
    ) -> Result<Plan, Error> {
        let t = self.tenants.managed_connection(tenant, connection_id)?;
        let mut notes = Vec::new();
        let keys = if let Some(req) = request_id
            && let Some(existing) = self.store.connection_rotation(tenant, req).await?
        {
            if existing.request_hash != request_hash(tenant, connection_id, alg)
                || existing.connection_id != connection_id
            {
                return Err(Error::arg("request_id", "was already used for a different request"));
            }
            let before = pending_before(&existing.result)
                .map_err(|e| Error::Corrupt(format!("connection rotation {}: {e}", existing.id)))?;
            let Some(before) = before else {
                return Ok(Plan::noted(format!(
                    "request_id {req:?} names connection rotation {}, done: the real call returns its recorded \
                     result and rotates nothing",
                    existing.id
                )));
            };
            let keys = self.bounded("get_connection_keys", t.auth0.get_connection_keys(connection_id)).await?;
            if keys.iter().map(|k| k.kid.clone()).collect::<Vec<_>>() != before {
                return Ok(Plan::noted(format!(
                    "request_id {req:?} names connection rotation {}, interrupted after Auth0 rotated: the real call \
                     only verifies and records the key set",
                    existing.id
                )));
            }
            notes.push(format!("request_id {req:?} names connection rotation {}, interrupted before Auth0 rotated: the real call finishes it", existing.id));
            keys
        } else {
            self.bounded("get_connection_keys", t.auth0.get_connection_keys(connection_id)).await?
        };
        let set = KeySet {
            current: keys.iter().find(|k| k.current).map(|k| k.kid.clone()),
            next: keys.iter().find(|k| k.next).map(|k| k.kid.clone()),
            previous: keys.iter().filter(|k| k.previous).map(|k| k.kid.clone()).collect(),
        };
        let alg = alg.map_or_else(|| "the connection's algorithm".to_owned(), |a| a.to_string());
        let new_key = format!("Auth0 generates a new next key ({alg}) with its certificate");
        let steps = promotion(&set, &new_key, (Action::Delete, "Auth0 keeps one previous key: this one is dropped"));
        notes.push(
            "every key Auth0 returns is then verified (certificate, PKCS#7, fingerprint, thumbprint, kid) and recorded"
                .into(),
        );
        Ok(Plan { steps, refusal: None, notes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_promotes_next_and_current_and_drops_the_previous() {
        let set = KeySet { current: Some("c".into()), next: Some("n".into()), previous: vec!["p".into()] };
        let s = promotion(&set, "new key", (Action::Delete, "dropped"));
        let got: Vec<_> = s.iter().map(|s| (s.action.as_str(), s.target.as_str())).collect();
        assert_eq!(got, [("delete", "p"), ("generate", "new"), ("activate", "n"), ("retire", "c")]);
        assert!(s.iter().all(|s| s.at.is_none()));
        let first = promotion(&KeySet::default(), "new key", (Action::Delete, "dropped"));
        assert_eq!(first.len(), 1);
    }
}
