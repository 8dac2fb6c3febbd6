//! The KEY_GENERATED → SLOT_FREED step: making room at Auth0 for one more credential (at most
//! 2 attached to the rotation's method list, 4 stored across all lists), as `slots::plan`
//! decides, and recording what it removes before it removes it. Only the rotation's own list is
//! ever changed; what another method's list holds is counted and left alone.

use std::collections::BTreeMap;

use keyward_auth0::Error as Auth0Error;

use super::method::{elsewhere, ids};
use super::slots::{self, Managed};
use super::{Engine, Params};
use crate::Error;
use crate::store::{AuditKind, Departure, KeyRecord, KeyState, RotationRecord, RotationState};
use crate::tenant::Tenant;

/// What keyward knows of the credentials it manages for a client, by credential id, leaving out
/// `except` (the key of the rotation making room).
pub(super) fn managed(keys: &[KeyRecord], except: Option<&str>) -> BTreeMap<String, Managed> {
    keys.iter()
        .filter(|k| Some(k.key_id.as_str()) != except)
        .filter_map(|k| {
            let cred = k.credential_id.clone()?;
            let retiring_until = (k.state == KeyState::Retiring).then_some(k.last_signed_exp);
            Some((cred, Managed { active: k.state == KeyState::Active, retiring_until }))
        })
        .collect()
}

impl Engine {
    /// KEY_GENERATED → SLOT_FREED: room for one more credential, attached and stored.
    pub(super) async fn free_slot(&self, tenant: &Tenant, r: &mut RotationRecord, p: &Params) -> Result<(), Error> {
        let auth0 = &tenant.auth0;
        let creds = self.bounded("list_credentials", auth0.list_credentials(&r.client_id)).await?;
        let records: Vec<String> = creds.iter().map(|c| c.id.clone()).collect();
        let client = self.bounded("get_client", auth0.get_client(&r.client_id)).await?;
        let attached = ids(&client, p.method);
        let others = elsewhere(&client, p.method);
        let keys = self.store.keys(&r.tenant, &r.client_id).await?;
        let managed = managed(&keys, r.new_key_id.as_deref());
        let now = self.clock.now();
        let plan = slots::plan(&records, &attached, &others, &managed, p.evict_unmanaged, now).map_err(|why| {
            Error::FailedPrecondition(format!("rotating the client's {} credential: {why}", p.method))
        })?;
        // An interrupted attempt's removals stand only where they happened.
        r.removed.retain(|e| !records.contains(&e.credential_id));
        if plan.detach.is_empty() && plan.delete.is_empty() {
            self.fault.stall(r.state).await;
            r.state = RotationState::SlotFreed;
            return self.store.update_rotation(r).await;
        }
        // Nothing leaves Auth0 or the store unless this replica still holds the rotation, and
        // what will leave is recorded first (beside what an interrupted attempt already removed):
        // the write is fenced by the lease and renews it.
        self.fault.stall(r.state).await;
        r.removed.extend(slots::told(p.method.as_str(), &plan, &creds, &attached, &managed, now));
        self.store.update_rotation(r).await?;
        // Retiring keys of ours that make room: retired in the store first, atomically with the
        // check that nothing they signed is live, so no replica signs with them from here on.
        let mut evicted: Vec<(KeyRecord, Option<RotationRecord>)> = Vec::new();
        for id in plan.delete.iter().chain(&plan.detach) {
            let Some(k) = keys.iter().find(|k| k.credential_id.as_deref() == Some(id.as_str())) else { continue };
            if k.state == KeyState::Active || evicted.iter().any(|(e, _)| e.key_id == k.key_id) {
                continue;
            }
            // The rotation that was retiring it (if any) is completed with it.
            let Some(rotation) = self.retirement_lease(&k.key_id).await? else {
                return Err(Error::Unavailable(format!("key {} is being retired by another replica", k.key_id)));
            };
            if k.state == KeyState::Retiring {
                if !self.store.begin_retirement(&k.key_id, now, true).await? {
                    return Err(Error::Unavailable(format!(
                        "key {} signed again or is being retired; retry",
                        k.key_id
                    )));
                }
                self.key_changed.notify_one();
            }
            evicted.push((k.clone(), rotation));
        }
        if !plan.detach.is_empty() {
            for id in &plan.detach {
                if !self.may_remove(Some(r), &r.tenant, &r.client_id, id, None).await? {
                    return Err(Error::Unavailable(format!("credential {id} came into use; the step is retried")));
                }
            }
            // The attached list is set whole: it must still be the one the plan was made from
            // (read right after may_remove renewed the lease).
            let now_client = self.bounded("get_client", auth0.get_client(&r.client_id)).await?;
            if ids(&now_client, p.method) != attached {
                return Err(Error::Unavailable(
                    "the client's attached credentials changed; the step is retried".into(),
                ));
            }
            let keep: Vec<&str> = plan.attached_after.iter().map(String::as_str).collect();
            self.set_list(tenant, &now_client, p.method, &keep).await?;
        }
        for id in &plan.delete {
            if !self.may_remove(Some(r), &r.tenant, &r.client_id, id, None).await? {
                return Err(Error::Unavailable(format!("credential {id} came into use; the step is retried")));
            }
            match self.bounded("delete_credential", auth0.delete_credential(&r.client_id, id)).await {
                Ok(()) | Err(Auth0Error::CredentialNotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            self.audit(r, AuditKind::CredentialEvicted, &format!("{:?}", id)).await;
        }
        for (key, rotation) in evicted {
            self.close_retirement(key, rotation, Departure::Evicted).await?;
        }
        self.fault.stall(r.state).await;
        r.state = RotationState::SlotFreed;
        self.store.update_rotation(r).await
    }
}
