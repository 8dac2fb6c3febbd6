//! Emergency revocation of a client credential: a saga of its own. Signing stops first, in the
//! store (the key becomes RETIRED: no replica raises its signing horizon again, and every
//! replica's key cache drops it on its next poll of the key version); then the credential is
//! detached and deleted at Auth0 and the key material destroyed. Each state is persisted before
//! the next step and every step can run again after a crash or a lost lease: the Auth0 calls
//! only ever remove the revoked credential, so a stale replica repeating one does no harm. A
//! revocation is never compensated: once signing stopped it only goes forward.

use keyward_auth0::Error as Auth0Error;
use sha2::{Digest, Sha256};

use super::{Engine, hex, requester, uuid_v4};
use crate::Error;
use crate::store::{
    AuditEvent, AuditKind, CredentialMethod, KeyRecord, KeyState, Lease, RevocationRecord, RevocationState,
};
use crate::telemetry::metrics::metrics;
use crate::tenant::Tenant;

/// The longest reason accepted (it is audited).
const MAX_REASON_CHARS: usize = 512;

/// A request to revoke a client credential now.
#[derive(Debug, Clone, Default)]
pub struct RevokeRequest {
    /// Tenant name.
    pub tenant: String,
    /// Auth0 client id.
    pub client_id: String,
    /// The Auth0 credential id (`cred_…`).
    pub credential_id: String,
    /// Why: audited.
    pub reason: String,
    /// Allow revoking the client's ACTIVE key (the client is left with none).
    pub force: bool,
    /// Idempotency key.
    pub request_id: Option<String>,
    /// Who asks (empty: `keyward`).
    pub requested_by: String,
}

/// A revocation and where it left the client.
#[derive(Debug, Clone)]
pub struct Revoked {
    /// The revocation.
    pub revocation: RevocationRecord,
    /// The revoked key's kid.
    pub kid: String,
    /// The client's ACTIVE key afterwards, if it has one.
    pub active: Option<KeyRecord>,
}

pub(super) fn validate(req: &RevokeRequest) -> Result<(), Error> {
    if req.credential_id.is_empty() || req.credential_id.chars().count() > 128 {
        return Err(Error::arg("credential_id", "must be 1 to 128 characters"));
    }
    let reason = req.reason.trim();
    if reason.is_empty() {
        return Err(Error::arg("reason", "is required: say why the credential is revoked (it is audited)"));
    }
    if reason.chars().count() > MAX_REASON_CHARS || reason.chars().any(char::is_control) {
        return Err(Error::arg("reason", "must be at most 512 characters, without control characters"));
    }
    if let Some(id) = &req.request_id
        && (id.is_empty() || id.chars().count() > 128)
    {
        return Err(Error::arg("request_id", "must be 1 to 128 characters"));
    }
    Ok(())
}

/// The hash a retried revocation is compared by.
pub(super) fn request_hash(req: &RevokeRequest) -> String {
    hex(&Sha256::digest(format!(
        "{}\0{}\0{}\0{}\0{}",
        req.tenant,
        req.client_id,
        req.credential_id,
        req.reason.trim(),
        req.force
    )))
}

/// The managed key `req` names, or NOT_FOUND naming the credential (cut to 128 characters).
pub(super) fn revoked_key<'a>(keys: &'a [KeyRecord], req: &RevokeRequest) -> Result<&'a KeyRecord, Error> {
    keys.iter().find(|k| k.credential_id.as_deref() == Some(req.credential_id.as_str())).ok_or_else(|| {
        Error::NotFound(format!(
            "credential_id {:?}: keyward manages no key with this credential for client {:?} in tenant {:?}",
            req.credential_id.chars().take(128).collect::<String>(),
            req.client_id,
            req.tenant
        ))
    })
}

/// Why a key in `state` (of `method`) may not be revoked (with `force` or not), if it may not.
pub(super) fn refusal(state: KeyState, method: CredentialMethod, force: bool, credential_id: &str) -> Option<String> {
    match state {
        KeyState::Pending => Some(format!(
            "credential {credential_id} belongs to a rotation in progress; let it finish (or fail), then revoke"
        )),
        KeyState::Retired => Some(format!(
            "credential {credential_id} is retired already: its key signs no more and its retirement removes it from Auth0"
        )),
        KeyState::Active if !force => Some(format!(
            "credential {credential_id} holds the client's active {method} key; revoking it leaves the client with no \
             active key: rotate first and revoke the old credential, or pass force"
        )),
        KeyState::Active | KeyState::Retiring => None,
    }
}

impl Engine {
    /// Revokes a client credential: returns once the key is destroyed (or with UNAVAILABLE once
    /// signing stopped but Auth0 could not be reached: the revocation then resumes in the
    /// background, and when retried with the same request).
    pub async fn revoke(&self, req: &RevokeRequest) -> Result<Revoked, Error> {
        let tenant = self.managed_client(&req.tenant, &req.client_id)?;
        validate(req)?;
        let hash = request_hash(req);
        let keys = self.store.keys(&req.tenant, &req.client_id).await?;
        let key = revoked_key(&keys, req)?;
        // Revoked already (by this request or another): that revocation, driven on if open.
        if let Some(existing) = self.store.revocation_of_key(&key.key_id).await? {
            if req.request_id.is_some() && existing.request_id == req.request_id && existing.request_hash != hash {
                return Err(Error::arg("request_id", "was already used for a different request"));
            }
            return self.finish_revocation(tenant, existing).await;
        }
        if let Some(why) = refusal(key.state, key.method, req.force, &req.credential_id) {
            return Err(Error::FailedPrecondition(why));
        }
        let now = self.clock.now();
        let record = RevocationRecord {
            revocation_id: format!("rev_{}", uuid_v4()),
            tenant: req.tenant.clone(),
            client_id: req.client_id.clone(),
            credential_id: req.credential_id.clone(),
            key_id: key.key_id.clone(),
            state: RevocationState::Planned,
            request_id: req.request_id.clone(),
            request_hash: hash.clone(),
            reason: req.reason.trim().to_owned(),
            force: req.force,
            requested_by: requester(&req.requested_by),
            key_was: key.state.as_str().to_owned(),
            error: None,
            created_at: now,
            updated_at: now,
            version: 0,
            lease: Lease { owner: Some(self.owner.clone()), token: 1, expires_at: self.lease_until(now) },
        };
        let revocation = match self.store.insert_revocation(&record).await? {
            None => {
                let detail = serde_json::json!({
                    "credential_id": record.credential_id, "kid": key.kid, "reason": record.reason,
                    "force": record.force, "key_was": record.key_was,
                });
                self.audit_revocation(&record, AuditKind::RevocationPlanned, detail).await;
                self.fault.after_point("revocation:planned");
                record
            }
            Some(existing) if existing.request_id == req.request_id && existing.request_hash != hash => {
                return Err(Error::arg("request_id", "was already used for a different request"));
            }
            Some(existing) => existing,
        };
        self.finish_revocation(tenant, revocation).await
    }

    /// Drives `r` to its end and reports it (a FAILED revocation is its recorded error).
    async fn finish_revocation(&self, tenant: &Tenant, r: RevocationRecord) -> Result<Revoked, Error> {
        let r = self.drive_revocation(tenant, r).await?;
        if r.state == RevocationState::Failed {
            let why = r.error.as_deref().unwrap_or("no reason recorded");
            return Err(Error::FailedPrecondition(format!("revocation {} failed: {why}", r.revocation_id)));
        }
        let keys = self.store.keys(&r.tenant, &r.client_id).await?;
        let revoked = keys.iter().find(|k| k.key_id == r.key_id);
        let kid = revoked.map(|k| k.kid.clone()).unwrap_or_default();
        // The active key that matters is the one of the revoked key's method.
        let method = revoked.map(|k| k.method).unwrap_or_default();
        let active = keys.into_iter().find(|k| k.state == KeyState::Active && k.method == method);
        Ok(Revoked { revocation: r, kid, active })
    }

    /// Resumes open revocations whose lease lapsed (and, at start-up, those this replica's name
    /// still holds).
    pub async fn resume_revocations(&self, startup: bool) -> Vec<(String, Result<RevocationState, Error>)> {
        let open = match self.store.open_revocations().await {
            Ok(o) => o,
            Err(e) => return vec![("*".into(), Err(e))],
        };
        let now = self.clock.now();
        let mut out = Vec::new();
        for r in open {
            let mine = startup && r.lease.owner.as_deref() == Some(self.owner.as_str());
            if r.lease.expires_at > now && !mine {
                continue;
            }
            let id = r.revocation_id.clone();
            let result = match self.tenant(&r.tenant) {
                Ok(t) => self.drive_revocation(t, r).await.map(|r| r.state),
                Err(e) => Err(e),
            };
            out.push((id, result));
        }
        out
    }

    /// Takes the lease on `r` unless this replica holds it; ABORTED while another replica does.
    async fn hold_revocation(&self, r: RevocationRecord) -> Result<RevocationRecord, Error> {
        let now = self.clock.now();
        if r.lease.held_by(&self.owner, now) {
            return Ok(r);
        }
        let Some(claimed) =
            self.store.claim_revocation(&r.revocation_id, &self.owner, now, self.lease_until(now)).await?
        else {
            return Err(Error::Aborted(format!(
                "revocation {} is being driven by replica {}; retry later",
                r.revocation_id,
                r.lease.owner.as_deref().unwrap_or("?")
            )));
        };
        if let Some(from) = r.lease.owner.as_deref().filter(|o| *o != self.owner) {
            let detail = self.taken_over(
                "revocation",
                &claimed.revocation_id,
                (&claimed.tenant, &claimed.client_id),
                claimed.state.as_str(),
                from,
                claimed.lease.token,
            );
            self.audit_revocation(&claimed, AuditKind::RevocationTakenOver, detail).await;
        }
        Ok(claimed)
    }

    async fn drive_revocation(&self, tenant: &Tenant, mut r: RevocationRecord) -> Result<RevocationRecord, Error> {
        if !r.state.is_open() {
            return Ok(r);
        }
        r = self.hold_revocation(r).await?;
        while r.state.is_open() {
            let from = r.state;
            let step = match from {
                RevocationState::Planned => self.stop_signing(&mut r).await,
                RevocationState::SigningStopped => self.revocation_step(tenant, &mut r).await,
                RevocationState::Detached => self.revocation_step(tenant, &mut r).await,
                RevocationState::Deleted => self.advance_revocation(&mut r, RevocationState::Completed).await,
                RevocationState::Completed | RevocationState::Failed => Ok(()),
            };
            match step {
                Ok(()) => {
                    tracing::info!(
                        revocation = %r.revocation_id, tenant = %r.tenant, client = %r.client_id,
                        state = %r.state, "revocation step done"
                    );
                    let detail = serde_json::json!({ "credential_id": r.credential_id, "error": r.error });
                    self.audit_revocation(&r, AuditKind::revocation(r.state), detail).await;
                    if matches!(r.state, RevocationState::Completed | RevocationState::Failed) {
                        metrics().rotation("revocation", r.state.as_str());
                    }
                    self.fault.after_point(&format!("revocation:{}", r.state));
                }
                Err(e @ Error::LeaseLost { .. }) => {
                    self.step_abandoned("revocation", &r.revocation_id, from.as_str(), &r.tenant, &r.client_id);
                    return Err(e);
                }
                Err(e) => {
                    tracing::warn!(
                        revocation = %r.revocation_id, tenant = %r.tenant, client = %r.client_id,
                        state = %r.state, error = %e, "revocation paused"
                    );
                    let paused = format!(
                        "revocation {} of credential {}: signing stopped; Auth0 cleanup paused at {}: {e}; it resumes \
                         in the background and when retried",
                        r.revocation_id, r.credential_id, r.state
                    );
                    return Err(match e {
                        Error::Auth0(a) if !is_transient(&a) => Error::FailedPrecondition(paused),
                        _ => Error::Unavailable(paused),
                    });
                }
            }
        }
        Ok(r)
    }

    /// PLANNED → SIGNING_STOPPED, the key RETIRED in the same transaction; FAILED (nothing
    /// changed) when the key may not be stopped after all.
    async fn stop_signing(&self, r: &mut RevocationRecord) -> Result<(), Error> {
        self.fault.stall_at("revocation:planned").await;
        match self.advance_revocation(r, RevocationState::SigningStopped).await {
            Err(Error::FailedPrecondition(why)) => {
                let mut failed = r.clone();
                failed.state = RevocationState::Failed;
                failed.error = Some(why);
                self.store.save_revocation(&mut failed).await?;
                *r = failed;
                Ok(())
            }
            other => other,
        }
    }

    /// SIGNING_STOPPED → DETACHED, DETACHED → DELETED: one Auth0 call each, under a renewed lease.
    async fn revocation_step(&self, tenant: &Tenant, r: &mut RevocationRecord) -> Result<(), Error> {
        self.fault.stall_at(&format!("revocation:{}", r.state)).await;
        r.lease = self.store.renew_revocation_lease(r).await?;
        let (client, cred) = (r.client_id.clone(), r.credential_id.clone());
        let (done, next) = if r.state == RevocationState::SigningStopped {
            // Off its own method's list only (a JAR key's from signed_request_object).
            let method = self.store.key(&r.key_id).await?.map(|k| k.method).unwrap_or_default();
            (self.detach(tenant, &client, &cred, method).await, RevocationState::Detached)
        } else {
            (self.delete_credential(tenant, &client, &cred).await, RevocationState::Deleted)
        };
        match done {
            // The application is gone at Auth0, and its credentials with it.
            Ok(()) | Err(Error::Auth0(Auth0Error::ClientNotFound { .. })) => {}
            Err(e) => return Err(e),
        }
        self.advance_revocation(r, next).await
    }

    async fn advance_revocation(&self, r: &mut RevocationRecord, to: RevocationState) -> Result<(), Error> {
        let mut next = r.clone();
        next.state = to;
        self.store.save_revocation(&mut next).await?;
        if matches!(to, RevocationState::SigningStopped | RevocationState::Completed) {
            self.key_changed.notify_one();
        }
        *r = next;
        Ok(())
    }

    async fn audit_revocation(&self, r: &RevocationRecord, kind: AuditKind, mut detail: serde_json::Value) {
        detail["revocation_id"] = r.revocation_id.clone().into();
        let event = AuditEvent::new(kind, &r.requested_by, &r.tenant, &r.client_id, detail.to_string());
        if let Err(e) = self.store.append_audit(&event).await {
            tracing::error!(
                tenant = %r.tenant, client = %r.client_id, revocation = %r.revocation_id, error = %e,
                "audit event {kind} not recorded"
            );
        }
    }
}

/// Auth0 errors that pass by themselves.
fn is_transient(e: &Auth0Error) -> bool {
    matches!(
        e,
        Auth0Error::RateLimited { .. }
            | Auth0Error::Unavailable { .. }
            | Auth0Error::Transport { .. }
            | Auth0Error::UnknownOutcome { .. }
    )
}
