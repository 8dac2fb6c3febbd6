//! The saga's steps. Each persists its state before the next starts; each can run again after
//! a crash at any point (it reconciles with Auth0 by listing credentials and matching kids).

use keyward_auth0::{CredentialAlg, Error as Auth0Error, NewCredential};
use tracing::Instrument;

use super::keygen::{self, KeyRequest};
use super::method::ids;
use super::slots;
use super::{Engine, Params};
use crate::Error;
use crate::clock::Timestamp;
use crate::custody::{Custody, token_key_label};
use crate::store::AuditKind;
use crate::store::{KeyRecord, KeyState, RotationRecord, RotationState};
use crate::telemetry::metrics::metrics;
use crate::tenant::Tenant;

/// Whether an error may pass by itself (the rotation stays open and resumable).
fn is_transient(e: &Error) -> bool {
    // A custody token that is away for now pauses the rotation like an Auth0 outage does.
    e.custody_unavailable()
        || matches!(
            e,
            Error::Unavailable(_)
                | Error::Database(_)
                | Error::Conflict(_)
                | Error::Auth0(
                    Auth0Error::RateLimited { .. }
                        | Auth0Error::Unavailable { .. }
                        | Auth0Error::Transport { .. }
                        | Auth0Error::UnknownOutcome { .. }
                )
        )
}

/// When the old key retires if the new one activates at `now`: after the grace period, and never
/// before the latest `exp` it signed.
pub(super) fn retire_at(now: Timestamp, grace_ms: i64, last_signed_exp: Option<Timestamp>) -> Timestamp {
    now.plus_ms(grace_ms).max(last_signed_exp.unwrap_or(Timestamp::EPOCH))
}

impl Engine {
    /// Runs `r` from its state to ACTIVE (or COMPLETED) or FAILED.
    pub(super) async fn drive(&self, tenant: &Tenant, mut r: RotationRecord) -> Result<RotationRecord, Error> {
        let params: Params =
            serde_json::from_str(&r.params).map_err(|e| Error::Corrupt(format!("rotation parameters: {e}")))?;
        if !matches!(r.state, RotationState::Active | RotationState::Completed | RotationState::Failed) {
            r = self.hold(r).await?;
        }
        loop {
            // Signing-only clients are never registered at Auth0: no slots, no credential.
            let local = tenant.config.signing.local_clients.contains(&r.client_id);
            if matches!(
                r.state,
                RotationState::Active | RotationState::Retired | RotationState::Completed | RotationState::Failed
            ) {
                return Ok(r);
            }
            let span = tracing::info_span!(
                "saga_step",
                otel.name = %format!("rotation step from {}", r.state),
                rotation = %r.rotation_id,
                tenant = %r.tenant,
                client = %r.client_id,
                from = %r.state,
            );
            let snapshot = r.clone();
            let step = async {
                match r.state {
                    RotationState::Planned => self.generate(&mut r, &params).await,
                    RotationState::KeyGenerated if local => self.advance(&mut r, RotationState::SlotFreed).await,
                    RotationState::SlotFreed if local => self.advance(&mut r, RotationState::Registered).await,
                    RotationState::Registered if local => self.advance(&mut r, RotationState::Attached).await,
                    RotationState::KeyGenerated => self.free_slot(tenant, &mut r, &params).await,
                    RotationState::SlotFreed => self.register(tenant, &mut r, &params).await,
                    RotationState::Registered => self.attach(tenant, &mut r, &params).await,
                    RotationState::Attached => self.activate(&mut r, &params).await,
                    RotationState::Active
                    | RotationState::Retired
                    | RotationState::Completed
                    | RotationState::Failed => Ok(()),
                }
            }
            .instrument(span);
            let step = self.with_heartbeat(&snapshot, step).await;
            match step {
                Ok(()) => {
                    tracing::info!(
                        tenant = %r.tenant, client = %r.client_id, rotation = %r.rotation_id, state = %r.state,
                        "rotation step done"
                    );
                    self.audit(&r, AuditKind::rotation(r.state), "{}").await;
                    if matches!(r.state, RotationState::Active | RotationState::Completed) {
                        metrics().rotation("client", "active");
                    }
                    if r.state == RotationState::Completed {
                        metrics().rotation("client", "completed");
                    }
                    self.fault.after(r.state);
                }
                Err(e @ Error::LeaseLost { .. }) => {
                    self.abandoned(&snapshot, "client");
                    return Err(e);
                }
                Err(e) if is_transient(&e) => {
                    self.audit(&r, AuditKind::RotationPaused, &format!("{:?}", e.to_string())).await;
                    return Err(Error::Unavailable(format!(
                        "rotation {} paused at {}: {e}; it resumes when retried",
                        r.rotation_id, r.state
                    )));
                }
                Err(e) => {
                    return match self.compensate(tenant, &mut r, &e).await {
                        Ok(()) => Ok(r),
                        Err(lost @ Error::LeaseLost { .. }) => {
                            self.abandoned(&snapshot, "client");
                            Err(lost)
                        }
                        Err(other) => Err(other),
                    };
                }
            }
        }
    }

    /// PLANNED → KEY_GENERATED: the key pair, certificate and sealed key, stored with the
    /// state change in one transaction.
    async fn generate(&self, r: &mut RotationRecord, p: &Params) -> Result<(), Error> {
        let key_id = format!("key_{}", super::uuid_v4());
        let (tenant, client, kek) = (r.tenant.clone(), r.client_id.clone(), self.kek.clone());
        let now = self.clock.now_system();
        let algorithm = p.algorithm;
        let (bits, lifetime) = (p.key_bits, p.lifetime_ms.map(std::time::Duration::from_millis));
        let id = key_id.clone();
        // A key in the token is labelled with its rotation: should this attempt stop before the
        // store records it, the engine's token sweep destroys it once the rotation moves on.
        let in_token = match p.custody {
            Custody::Sealed => None,
            Custody::Pkcs11 => Some((self.token()?, token_key_label(&r.rotation_id, &key_id))),
        };
        let mut key = tokio::task::spawn_blocking(move || {
            let in_token = in_token.as_ref().map(|(t, l)| (t, l.as_str()));
            let req =
                KeyRequest { tenant: &tenant, client_id: &client, key_id: &id, algorithm, bits, lifetime, in_token };
            keygen::generate(&req, &kek, now)
        })
        .await
        .map_err(Error::resource("key generation"))??;
        key.method = p.method;
        self.fault.stall(r.state).await;
        let mut next = r.clone();
        next.state = RotationState::KeyGenerated;
        next.new_key_id = Some(key_id);
        self.store.save_generated_key(&key, &mut next).await?;
        *r = next;
        Ok(())
    }

    /// A step with nothing to do at Auth0 (signing-only clients).
    async fn advance(&self, r: &mut RotationRecord, to: RotationState) -> Result<(), Error> {
        self.fault.stall(r.state).await;
        r.state = to;
        self.store.update_rotation(r).await
    }

    /// SLOT_FREED → REGISTERED: the credential exists at Auth0 with our kid. A create whose
    /// outcome is unknown, or that Auth0 calls a duplicate, is matched by kid.
    async fn register(&self, tenant: &Tenant, r: &mut RotationRecord, p: &Params) -> Result<(), Error> {
        let auth0 = &tenant.auth0;
        let key = self.new_key(r).await?;
        let client_id = r.client_id.clone();
        let find = || async {
            let creds = self.bounded("list_credentials", auth0.list_credentials(&client_id)).await?;
            Ok::<_, Error>(creds.into_iter().find(|c| c.kid.as_deref() == Some(key.kid.as_str())).map(|c| c.id))
        };
        let mut created = None;
        let id = match find().await? {
            Some(id) => id,
            None => {
                let mut new = NewCredential::public_key(key.public_key_pem.clone());
                new.name = Some(format!("keyward {}", key.key_id));
                // Checked when the rotation was asked for; a stored value that is not a client
                // credential algorithm is corruption, never a default.
                let alg = CredentialAlg::try_from(p.algorithm).map_err(|a| {
                    Error::Corrupt(format!("rotation {}: {a} is not a client credential algorithm", r.rotation_id))
                })?;
                new.alg = Some(alg);
                new.expires_at = key.expires_at.and_then(Timestamp::to_offset_date_time);
                self.guard(r).await?;
                match self.bounded("create_credential", auth0.create_credential(&r.client_id, &new)).await {
                    Ok(c) => {
                        created = Some(c.id.clone());
                        c.id
                    }
                    Err(e @ (Auth0Error::UnknownOutcome { .. } | Auth0Error::DuplicateKey { .. })) => {
                        match find().await? {
                            Some(id) => id,
                            None => return Err(e.into()),
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let mut next = r.clone();
        next.new_credential_id = Some(id.clone());
        next.state = RotationState::Registered;
        match self.store.save_registered(&mut next, &key.key_id, &id).await {
            Ok(()) => {
                *r = next;
                Ok(())
            }
            Err(e @ Error::LeaseLost { .. }) => {
                if let Some(orphan) = created {
                    self.drop_duplicate(tenant, &key.key_id, &orphan).await;
                }
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// After losing the lease right after creating `credential` for `key_id`: the replica that
    /// took over registered the same key on its own if the key now names another credential;
    /// then ours is a duplicate nobody refers to, and is deleted. If the key names none yet, the
    /// other replica will match ours by kid and adopt it, so it stays.
    async fn drop_duplicate(&self, tenant: &Tenant, key_id: &str, credential: &str) {
        let Ok(Some(key)) = self.store.key(key_id).await else { return };
        if key.credential_id.as_deref().is_none_or(|c| c == credential) {
            return;
        }
        match self.may_remove(None, &key.tenant, &key.client_id, credential, None).await {
            Ok(true) => {
                let deleted =
                    self.bounded("delete_credential", tenant.auth0.delete_credential(&key.client_id, credential));
                match deleted.await {
                    Ok(()) | Err(Auth0Error::CredentialNotFound { .. }) => {
                        tracing::warn!(key = key_id, credential, replica = %self.owner, "deleted a duplicate credential this replica created before losing its lease");
                    }
                    Err(e) => tracing::warn!(key = key_id, credential, error = %e, "duplicate credential not deleted"),
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(key = key_id, credential, error = %e, "duplicate credential not checked"),
        }
    }

    async fn new_key(&self, r: &RotationRecord) -> Result<KeyRecord, Error> {
        let id =
            r.new_key_id.as_deref().ok_or_else(|| Error::Corrupt(format!("rotation {} has no key", r.rotation_id)))?;
        self.store
            .key(id)
            .await?
            .ok_or_else(|| Error::Corrupt(format!("key {id} of rotation {} is missing", r.rotation_id)))
    }

    /// REGISTERED → ATTACHED: the client's list for the rotation's method (private_key_jwt or
    /// JAR's signed_request_object) lists what was attached plus the new credential; confirmed
    /// by reading the client back. No other list is touched.
    async fn attach(&self, tenant: &Tenant, r: &mut RotationRecord, p: &Params) -> Result<(), Error> {
        let auth0 = &tenant.auth0;
        let new =
            r.new_credential_id.clone().ok_or_else(|| Error::Corrupt("registered without a credential".into()))?;
        // The attached list is set whole: read it right after confirming the lease.
        self.guard(r).await?;
        let client = self.bounded("get_client", auth0.get_client(&r.client_id)).await?;
        let mut attached = ids(&client, p.method);
        if !attached.contains(&new) {
            attached.push(new.clone());
            if attached.len() > slots::SLOT {
                return Err(Error::FailedPrecondition(format!(
                    "Auth0 {} slots changed during the rotation: {} are attached",
                    p.method,
                    attached.join(", ")
                )));
            }
            let list: Vec<&str> = attached.iter().map(String::as_str).collect();
            match self.set_list(tenant, &client, p.method, &list).await {
                Ok(_) | Err(Auth0Error::UnknownOutcome { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let check = self.bounded("get_client", auth0.get_client(&r.client_id)).await?;
            if !ids(&check, p.method).contains(&new) {
                return Err(Error::Unavailable(format!("credential {new} is not attached yet")));
            }
        }
        r.state = RotationState::Attached;
        self.store.update_rotation(r).await
    }

    /// ATTACHED → ACTIVE: signing moves to the new key; the old one retires after the grace
    /// period, and never before the last `exp` it signed.
    async fn activate(&self, r: &mut RotationRecord, p: &Params) -> Result<(), Error> {
        let new = r.new_key_id.clone().ok_or_else(|| Error::Corrupt("attached without a key".into()))?;
        let keys = self.store.keys(&r.tenant, &r.client_id).await?;
        // Only the key of the same method steps down: the client's other list keeps its key.
        let old = keys.iter().find(|k| k.state == KeyState::Active && k.method == p.method && k.key_id != new);
        let now = self.clock.now();
        let grace = i64::try_from(p.grace_ms).unwrap_or(i64::MAX);
        let retire_at = retire_at(now, grace, old.and_then(|k| k.last_signed_exp));
        self.fault.stall(r.state).await;
        let mut next = r.clone();
        next.state = RotationState::Active;
        next.old_key_id = old.map(|k| k.key_id.clone());
        next.old_credential_id = old.and_then(|k| k.credential_id.clone());
        next.retire_at = old.map(|_| retire_at);
        self.store.activate(&mut next, &new, old.map(|k| k.key_id.as_str()), retire_at).await?;
        self.key_changed.notify_one();
        if old.is_none() {
            // Nothing to retire: the rotation is done.
            next.state = RotationState::Completed;
            self.store.update_rotation(&mut next).await?;
        }
        *r = next;
        Ok(())
    }

    /// A permanent failure: delete what was registered (unless something adopted it since), keep
    /// the old key active, destroy the new key, record why; all of it under the lease.
    async fn compensate(&self, tenant: &Tenant, r: &mut RotationRecord, cause: &Error) -> Result<(), Error> {
        let key = match &r.new_key_id {
            Some(id) => self.store.key(id).await?,
            None => None,
        };
        if let Some(key) = &key
            && let Some(cred) = key.credential_id.clone().or_else(|| r.new_credential_id.clone())
            && self.may_remove(Some(r), &r.tenant, &r.client_id, &cred, Some(&key.key_id)).await?
        {
            // may_remove renewed the lease in the same transaction as its check.
            self.detach_and_delete(tenant, &r.client_id, &cred, key.method).await?;
        }
        let mut next = r.clone();
        next.state = RotationState::Failed;
        next.error = Some(cause.to_string());
        if self.store.save_failed(&mut next).await? {
            self.key_changed.notify_one();
        }
        *r = next;
        metrics().rotation("client", "failed");
        tracing::warn!(
            tenant = %r.tenant, client = %r.client_id, rotation = %r.rotation_id, cause = %cause,
            "rotation failed; the old key stays active"
        );
        self.audit(r, AuditKind::RotationFailed, &format!("{:?}", cause.to_string())).await;
        Ok(())
    }
}
