//! Retirement: old keys leave Auth0 and lose their key material once their grace period and
//! every assertion they signed are over, under their rotation's lease; their rotations complete.

use keyward_auth0::Error as Auth0Error;

use super::Engine;
use super::method::ids;
use crate::Error;
use crate::clock::Timestamp;
use crate::store::{AuditKind, CredentialMethod, Departed, Departure};
use crate::store::{KeyRecord, KeyState, RevocationState, RotationRecord, RotationState};
use crate::telemetry::metrics::metrics;
use crate::tenant::Tenant;

/// Logs one retirement failure and keeps the first.
fn note(first: &mut Option<Error>, e: Error, what: &str, id: &str, client: &str) {
    tracing::warn!(%what, %id, %client, error = %e, "retirement deferred");
    first.get_or_insert(e);
}

impl Engine {
    /// Retires every retiring key whose time has come: marks it retired in the store atomically
    /// with the check that no assertion it signed is still live (from then on no replica can
    /// raise its horizon and sign with it), then detaches and deletes it at Auth0 and destroys
    /// the sealed key; its rotation becomes COMPLETED. Returns how many were retired.
    pub async fn retire_due(&self, now: Timestamp) -> Result<usize, Error> {
        // One key's or rotation's failure (an Auth0 outage for one client) must not hold up the
        // others: each is tried, the first error is reported after all were.
        let mut first = None;
        let mut done = 0;
        for key in self.store.keys_in_state(KeyState::Retiring).await? {
            if key.retire_at.is_some_and(|t| t > now) || key.last_signed_exp.is_some_and(|t| t > now) {
                continue;
            }
            let (id, client) = (key.key_id.clone(), key.client_id.clone());
            match self.retire_one(key, now).await {
                Ok(retired) => done += usize::from(retired),
                Err(e) => note(&mut first, e, "key", &id, &client),
            }
        }
        // Retirements a stopped process began but did not finish.
        for key in self.store.keys_retired_unfinished().await? {
            let (id, client) = (key.key_id.clone(), key.client_id.clone());
            if let Err(e) = self.finish_interrupted(key).await {
                note(&mut first, e, "key", &id, &client);
            }
        }
        // Rotations left ACTIVE although their old key is gone, or RETIRED: complete them.
        let mut rotations = self.store.rotations_in_state(RotationState::Active).await?;
        rotations.extend(self.store.rotations_in_state(RotationState::Retired).await?);
        for r in rotations {
            let (id, client) = (r.rotation_id.clone(), r.client_id.clone());
            if let Err(e) = self.complete_stranded(r).await {
                note(&mut first, e, "rotation", &id, &client);
            }
        }
        // Token objects of keys retired, revoked or never recorded: destroyed once nothing uses them.
        if let Err(e) = self.sweep_token().await {
            tracing::warn!(error = %e, "token sweep skipped");
            first.get_or_insert(e);
        }
        match first {
            Some(e) if done == 0 => Err(e),
            _ => Ok(done),
        }
    }

    /// Retires one due key; `false` when it must wait after all (signed again meanwhile) or
    /// another replica holds its rotation.
    async fn retire_one(&self, key: KeyRecord, now: Timestamp) -> Result<bool, Error> {
        let Ok(tenant) = self.tenant(&key.tenant) else { return Ok(false) };
        let Some(rotation) = self.retirement_lease(&key.key_id).await? else { return Ok(false) };
        if !self.store.begin_retirement(&key.key_id, now, false).await? {
            return Ok(false);
        }
        self.key_changed.notify_one();
        self.finish_retirement(tenant, key, rotation).await?;
        Ok(true)
    }

    async fn finish_interrupted(&self, key: KeyRecord) -> Result<(), Error> {
        let Ok(tenant) = self.tenant(&key.tenant) else { return Ok(()) };
        let Some(rotation) = self.retirement_lease(&key.key_id).await? else { return Ok(()) };
        self.finish_retirement(tenant, key, rotation).await
    }

    /// Completes a rotation whose old key is gone (ACTIVE) or that stopped at RETIRED, under its
    /// lease and only if it is still in that state once the lease is taken (another replica may
    /// have completed it in between).
    async fn complete_stranded(&self, r: RotationRecord) -> Result<(), Error> {
        if r.state == RotationState::Active {
            let Some(old) = &r.old_key_id else { return Ok(()) };
            let gone = self
                .store
                .key(old)
                .await?
                .is_none_or(|k| k.state == KeyState::Retired && k.sealed.ciphertext.is_empty());
            if !gone {
                return Ok(());
            }
        }
        let mut r = match self.hold(r).await {
            Ok(r) => r,
            Err(Error::Aborted(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        match r.state {
            RotationState::Active => {
                r.state = RotationState::Retired;
                if let Some(old) = r.old_key_id.clone() {
                    r.old_departed = Some(self.departed(&old, Departure::Retired).await?);
                }
                self.store.update_rotation(&mut r).await?;
                self.audit(&r, AuditKind::RotationRetired, "{}").await;
                self.complete(&mut r).await
            }
            RotationState::Retired => self.complete(&mut r).await,
            _ => Ok(()),
        }
    }

    /// The lease on the rotation retiring `key_id`: `Some(None)` when no rotation retires it,
    /// `None` when another replica holds the lease.
    pub(super) async fn retirement_lease(&self, key_id: &str) -> Result<Option<Option<RotationRecord>>, Error> {
        match self.store.rotation_by_old_key(key_id).await? {
            Some(r) if matches!(r.state, RotationState::Active | RotationState::Retired) => match self.hold(r).await {
                Ok(r) => Ok(Some(Some(r))),
                Err(Error::Aborted(_)) => Ok(None),
                Err(e) => Err(e),
            },
            _ => Ok(Some(None)),
        }
    }

    /// Detach and delete a retired key at Auth0, destroy its sealed key, complete its rotation;
    /// under the rotation's lease when there is one. A lost lease abandons the work to the
    /// replica that holds it now.
    async fn finish_retirement(
        &self,
        tenant: &Tenant,
        key: KeyRecord,
        rotation: Option<RotationRecord>,
    ) -> Result<(), Error> {
        let snapshot = rotation.clone();
        match self.retire_at_auth0(tenant, key, rotation).await {
            Err(Error::LeaseLost { .. }) => {
                if let Some(r) = &snapshot {
                    self.abandoned(r, "retirement");
                }
                Ok(())
            }
            other => other,
        }
    }

    async fn retire_at_auth0(
        &self,
        tenant: &Tenant,
        key: KeyRecord,
        rotation: Option<RotationRecord>,
    ) -> Result<(), Error> {
        // may_remove renews the rotation's lease (when there is one) with its check.
        if let Some(cred) = key.credential_id.clone()
            && self.may_remove(rotation.as_ref(), &key.tenant, &key.client_id, &cred, None).await?
        {
            match self.detach_and_delete(tenant, &key.client_id, &cred, key.method).await {
                // The application is gone at Auth0, and its credentials with it.
                Ok(()) | Err(Error::Auth0(Auth0Error::ClientNotFound { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        self.close_retirement(key, rotation, Departure::Retired).await
    }

    /// Takes `credential` off the client's list for `method` (read right before) and deletes
    /// it; a credential already gone is fine. Callers have checked that nothing refers to it.
    pub(super) async fn detach_and_delete(
        &self,
        tenant: &Tenant,
        client_id: &str,
        credential: &str,
        method: CredentialMethod,
    ) -> Result<(), Error> {
        self.detach(tenant, client_id, credential, method).await?;
        self.delete_credential(tenant, client_id, credential).await
    }

    /// Takes `credential` off the client's list for `method` (its key's: private_key_jwt or
    /// signed_request_object), read right before, if it is on it. Another method's list is never
    /// touched: a credential also attached there stays, and Auth0 then refuses its delete.
    pub(super) async fn detach(
        &self,
        tenant: &Tenant,
        client_id: &str,
        credential: &str,
        method: CredentialMethod,
    ) -> Result<(), Error> {
        let client = self.bounded("get_client", tenant.auth0.get_client(client_id)).await?;
        let attached = ids(&client, method);
        if attached.iter().any(|id| id == credential) {
            let keep: Vec<&str> = attached.iter().filter(|id| *id != credential).map(String::as_str).collect();
            self.set_list(tenant, &client, method, &keep).await?;
        }
        Ok(())
    }

    /// Deletes `credential` at Auth0; one already gone is fine.
    pub(super) async fn delete_credential(
        &self,
        tenant: &Tenant,
        client_id: &str,
        credential: &str,
    ) -> Result<(), Error> {
        match self.bounded("delete_credential", tenant.auth0.delete_credential(client_id, credential)).await {
            Ok(()) | Err(Auth0Error::CredentialNotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// How and when `key_id` left, as its rotation records it: by its revocation if one stopped
    /// it (a key revoked while retiring), else by `how`, now.
    async fn departed(&self, key_id: &str, how: Departure) -> Result<Departed, Error> {
        Ok(match self.store.revocation_of_key(key_id).await? {
            Some(rev) if !matches!(rev.state, RevocationState::Planned | RevocationState::Failed) => {
                Departed { how: Departure::Revoked, at: rev.updated_at }
            }
            _ => Departed { how, at: self.clock.now() },
        })
    }

    /// Destroys a retired key's sealed key and moves its rotation to RETIRED and COMPLETED, the
    /// first two in one transaction fenced by the rotation's lease.
    pub(super) async fn close_retirement(
        &self,
        key: KeyRecord,
        rotation: Option<RotationRecord>,
        how: Departure,
    ) -> Result<(), Error> {
        if let Some(r) = &rotation {
            self.fault.stall(r.state).await;
        }
        let departed = self.departed(&key.key_id, how).await?;
        match rotation {
            Some(r) if r.state == RotationState::Active => {
                let mut next = r;
                next.state = RotationState::Retired;
                next.old_departed = Some(departed);
                self.store.close_retirement(&key.key_id, Some(&mut next)).await?;
                self.key_changed.notify_one();
                self.audit(&next, AuditKind::RotationRetired, "{}").await;
                self.fault.after(next.state);
                self.complete(&mut next).await?;
            }
            _ => {
                self.store.close_retirement(&key.key_id, None).await?;
                self.key_changed.notify_one();
            }
        }
        Ok(())
    }

    /// RETIRED → COMPLETED.
    /// A lost lease abandons the step to the replica that holds it now, which completes it.
    async fn complete(&self, r: &mut RotationRecord) -> Result<(), Error> {
        self.fault.stall(r.state).await;
        let before = r.clone();
        r.state = RotationState::Completed;
        match self.store.update_rotation(r).await {
            Ok(()) => {}
            Err(Error::LeaseLost { .. }) => {
                self.abandoned(&before, "retirement");
                *r = before;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        metrics().rotation("client", "completed");
        self.audit(r, AuditKind::RotationCompleted, "{}").await;
        self.fault.after(r.state);
        Ok(())
    }
}
