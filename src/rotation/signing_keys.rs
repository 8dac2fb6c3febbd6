//! Tenant signing-key rotation: record the request (and the key set before) → ask Auth0 to
//! rotate → read the set back and verify every key → record the history and schedule the
//! previous key's revocation. A request_id is recorded before Auth0 is asked; a retry, or the
//! background task once the lease lapsed, reconciles by reading the key list, so one request
//! never rotates twice.

use keyward_auth0::{Error as Auth0Error, SigningKey};
use sha2::{Digest, Sha256};

use super::signing_key_verify::{VerifiedSigningKey, verify_signing_key};
use super::signing_key_wait::{SigningKeyDetail, SigningKeysRotation};
use super::signing_key_wait::{blockers, next_check, state};
use super::verifiers::{self, VerifierStatus};
use super::{Engine, hex, uuid_v4};
use crate::Error;
use crate::store::{AuditEvent, AuditKind, Lease, SigningKeyRecord, SigningKeyRotationRecord};
use crate::tenant::Tenant;

/// The unrevoked kids of a key set, and its current kid.
fn live(keys: &[SigningKey]) -> (Vec<String>, Option<String>) {
    let mut kids: Vec<String> = keys.iter().filter(|k| !k.revoked).map(|k| k.kid.clone()).collect();
    kids.sort();
    (kids, keys.iter().find(|k| k.current && !k.revoked).map(|k| k.kid.clone()))
}

/// The hash a retried signing-key rotation is compared by.
pub(super) fn request_hash(tenant: &str) -> String {
    hex(&Sha256::digest(format!("signing_keys\0{tenant}")))
}

/// Whether Auth0's answer left the outcome open (the rotation may or may not have happened).
fn unknown(e: &Auth0Error) -> bool {
    matches!(e, Auth0Error::UnknownOutcome { .. } | Auth0Error::Unavailable { .. } | Auth0Error::Transport { .. })
}

impl Engine {
    /// Rotates a tenant's signing keys, verifies every key Auth0 returns, records the history
    /// and schedules the previous key's revocation. The same `request_id` never rotates twice and
    /// returns the rotation as it stands.
    pub async fn rotate_signing_keys(
        &self,
        tenant: &str,
        request_id: Option<&str>,
        requested_by: &str,
    ) -> Result<SigningKeysRotation, Error> {
        let t = self.tenants.get(tenant)?;
        let hash = request_hash(tenant);
        if let Some(req) = request_id
            && let Some(existing) = self.store.signing_key_rotation_by_request(tenant, req).await?
        {
            return self.resume_signing_keys(t, existing, &hash).await;
        }
        if let Some(why) = self.previous_must_stay(t).await? {
            return Err(Error::FailedPrecondition(why));
        }
        let keys = self.bounded("list_signing_keys", t.auth0.list_signing_keys()).await?;
        let (before, before_current) = live(&keys);
        let now = self.clock.now();
        let lease = Lease { owner: Some(self.owner.clone()), token: 1, expires_at: self.lease_until(now) };
        let policy = &t.config.signing_keys;
        let detail = SigningKeyDetail {
            before,
            before_current,
            verifiers: policy.verifiers.iter().map(|u| VerifierStatus::new(u)).collect(),
            auto_revoke: policy.auto_revoke,
            ..SigningKeyDetail::default()
        };
        let mut rotation = SigningKeysRotation {
            record: SigningKeyRotationRecord {
                id: format!("skrot_{}", uuid_v4()),
                tenant: tenant.to_owned(),
                request_id: request_id.map(str::to_owned),
                request_hash: hash.clone(),
                state: state::PENDING.to_owned(),
                detail: String::new(),
                previous_kid: None,
                rotated_at: None,
                revoke_not_before: None,
                next_check_at: lease.expires_at,
                requested_by: super::requester(requested_by),
                created_at: now,
                updated_at: now,
                lease: lease.clone(),
            },
            detail,
        };
        rotation.sync()?;
        if !self.store.insert_signing_key_rotation(&rotation.record).await? {
            if let Some(req) = request_id
                && let Some(existing) = self.store.signing_key_rotation_by_request(tenant, req).await?
            {
                return self.resume_signing_keys(t, existing, &hash).await;
            }
            return Err(Error::Aborted(format!(
                "a rotation of tenant {tenant:?}'s signing keys is already in progress; retry later"
            )));
        }
        self.fault.after_point("signing_keys:recorded");
        self.drive_signing_keys(t, rotation, lease).await
    }

    /// A recorded rotation asked for again: its outcome, or the pending work taken over.
    async fn resume_signing_keys(
        &self,
        t: &Tenant,
        existing: SigningKeyRotationRecord,
        hash: &str,
    ) -> Result<SigningKeysRotation, Error> {
        if existing.request_hash != hash {
            return Err(Error::arg("request_id", "was already used for a different request"));
        }
        if existing.state != state::PENDING {
            return outcome(SigningKeysRotation::from_record(existing)?);
        }
        let now = self.clock.now();
        let Some(lease) =
            self.store.claim_signing_key_rotation(&existing.id, &self.owner, now, self.lease_until(now)).await?
        else {
            return Err(Error::Aborted(format!(
                "signing-key rotation {} is being driven by replica {}; retry later",
                existing.id,
                existing.lease.owner.as_deref().unwrap_or("?")
            )));
        };
        self.drive_signing_keys(t, SigningKeysRotation::from_record(existing)?, lease).await
    }

    /// Why rotating now is refused (FAILED_PRECONDITION) while an earlier rotation's previous key
    /// may not be revoked yet: Auth0 drops an unrevoked previous key at the next rotation, so
    /// rotating now would cut the tokens it signed short.
    pub(super) async fn previous_must_stay(&self, t: &Tenant) -> Result<Option<String>, Error> {
        let now = self.clock.now();
        for r in self.store.signing_key_rotations(&t.config.name, 20).await? {
            if r.state != state::WAITING && r.state != state::REVOKING {
                continue;
            }
            let r = SigningKeysRotation::from_record(r)?;
            let missing = blockers(&r, now);
            if !missing.is_empty() {
                return Ok(Some(format!(
                    "rotating now would make Auth0 drop previous key {} of rotation {} before it may be \
                     revoked: {}",
                    r.record.previous_kid.as_deref().unwrap_or("?"),
                    r.record.id,
                    missing.join("; ")
                )));
            }
        }
        Ok(None)
    }

    /// Drives a PENDING rotation under `lease`: rotates unless the key set shows Auth0 did
    /// already, then verifies and records.
    pub(crate) async fn drive_signing_keys(
        &self,
        t: &Tenant,
        mut rotation: SigningKeysRotation,
        mut lease: Lease,
    ) -> Result<SigningKeysRotation, Error> {
        let auth0 = &t.auth0;
        let listed = self.bounded("list_signing_keys", auth0.list_signing_keys()).await?;
        let changed = live(&listed) != (rotation.detail.before.clone(), rotation.detail.before_current.clone());
        let answer = if changed {
            None
        } else {
            // Auth0 rotates only while this replica still holds the request.
            self.fault.stall_at("signing_keys").await;
            rotation.record.updated_at = self.clock.now();
            lease = self.store.save_signing_key_rotation(&rotation.record, &lease, false).await?;
            match self.bounded("rotate_signing_key", auth0.rotate_signing_key()).await {
                Ok(k) => Some(k),
                Err(e) if unknown(&e) => None,
                Err(e) => {
                    let e = Error::from(e);
                    rotation.detail.error = Some(format!("Auth0 refused the rotation: {e}"));
                    self.finish_signing_keys(&mut rotation, &lease, state::FAILED).await?;
                    return Err(e);
                }
            }
        };
        self.fault.after_point("signing_keys:rotated");
        let keys = self.bounded("list_signing_keys", auth0.list_signing_keys()).await?;
        let (after, current) = live(&keys);
        if !changed
            && answer.is_none()
            && (after.clone(), current.clone())
                == (rotation.detail.before.clone(), rotation.detail.before_current.clone())
        {
            return Err(Error::Unavailable(format!(
                "the outcome of signing-key rotation {} is unknown; retry with the same request_id",
                rotation.record.id
            )));
        }
        let domain = &t.config.domain;
        let mut verified: Vec<VerifiedSigningKey> = keys.iter().map(|k| verify_signing_key(k, domain)).collect();
        // The rotate answer is a key Auth0 returned too: it must be the listed next key.
        if let Some(answer) = &answer {
            match verified.iter_mut().find(|k| k.kid == answer.kid) {
                Some(k) if k.cert.trim() != answer.cert.trim() => {
                    k.problems.push("rotate response: cert differs from the listed key's".to_owned());
                }
                Some(k) if !k.next => k.problems.push("rotate response: the new key is not listed as next".to_owned()),
                Some(_) => {}
                None => {
                    if let Some(k) = verified.iter_mut().find(|k| k.next) {
                        k.problems.push(format!("rotate response: kid {:?} is not in the key set", answer.kid));
                    }
                }
            }
        }
        // The old current key is now the previous one.
        let previous = verified.iter().find(|k| k.previous && !k.revoked).map(|k| k.kid.clone());
        if let (Some(old), Some(k)) = (&rotation.detail.before_current, verified.iter_mut().find(|k| k.current))
            && &k.kid == old
        {
            k.problems.push("the current key did not change".to_owned());
        }
        let now = self.clock.now();
        for k in &verified {
            if !k.problems.is_empty() {
                tracing::warn!(tenant = %t.config.name, kid = %k.kid, problems = ?k.problems, "signing key failed verification");
            }
            self.store
                .record_signing_key(&SigningKeyRecord {
                    tenant: t.config.name.clone(),
                    kid: k.kid.clone(),
                    cert: k.cert.clone(),
                    pkcs7: k.pkcs7.clone(),
                    fingerprint: k.fingerprint.clone(),
                    thumbprint: k.thumbprint.clone(),
                    status: k.status().to_owned(),
                    verified: k.problems.is_empty(),
                    seen_at: now,
                })
                .await?;
        }
        rotation.detail.current_kid = current.clone();
        rotation.detail.next_kid = verified.iter().find(|k| k.next && !k.revoked).map(|k| k.kid.clone());
        rotation.detail.keys = verified;
        rotation.record.rotated_at = Some(now);
        rotation.record.previous_kid = previous.clone();
        rotation.record.revoke_not_before = Some(now.plus(t.config.signing_keys.max_token_lifetime));
        let failures: Vec<String> = rotation
            .detail
            .keys
            .iter()
            .flat_map(|k| k.problems.iter().map(move |p| format!("key {}: {p}", k.kid)))
            .collect();
        let next = if !failures.is_empty() {
            rotation.detail.error = Some(format!("verification failed: {}", failures.join("; ")));
            state::FAILED
        } else if previous.is_none() {
            rotation.detail.revoked_how = Some("no previous key".into());
            state::COMPLETED
        } else {
            if let Some(kid) = &current {
                verifiers::poll(&mut rotation.detail.verifiers, kid, now, true).await;
            }
            state::WAITING
        };
        self.finish_signing_keys(&mut rotation, &lease, next).await?;
        let kind = if failures.is_empty() { AuditKind::SigningKeysRotated } else { AuditKind::SigningKeysUnverified };
        let detail = serde_json::json!({
            "rotation_id": rotation.record.id,
            "current_kid": rotation.detail.current_kid,
            "next_kid": rotation.detail.next_kid,
            "previous_kid": rotation.record.previous_kid,
            "problems": failures,
        });
        self.audit_signing_keys(&rotation, kind, &rotation.record.requested_by, detail).await;
        crate::telemetry::metrics::metrics()
            .rotation("signing_keys", if failures.is_empty() { "completed" } else { "failed" });
        outcome(rotation)
    }

    /// Moves the rotation to `to`, sets when the background looks next, frees the lease.
    pub(crate) async fn finish_signing_keys(
        &self,
        rotation: &mut SigningKeysRotation,
        lease: &Lease,
        to: &str,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        rotation.record.state = to.to_owned();
        rotation.record.updated_at = now;
        rotation.record.next_check_at = next_check(rotation, now);
        rotation.sync()?;
        let saved = self.store.save_signing_key_rotation(&rotation.record, lease, true).await;
        match saved {
            Ok(l) => {
                rotation.record.lease = l;
                Ok(())
            }
            Err(e) => {
                if matches!(e, Error::LeaseLost { .. }) {
                    self.step_abandoned("signing_keys", &rotation.record.id, "pending", &rotation.record.tenant, "");
                }
                Err(e)
            }
        }
    }

    pub(crate) async fn audit_signing_keys(
        &self,
        r: &SigningKeysRotation,
        kind: AuditKind,
        by: &str,
        detail: serde_json::Value,
    ) {
        let event = AuditEvent::new(kind, by, &r.record.tenant, "signing_keys", detail.to_string());
        if let Err(e) = self.store.append_audit(&event).await {
            tracing::error!(tenant = %r.record.tenant, error = %e, "audit event {kind} not recorded");
        }
    }
}

/// A FAILED rotation is its recorded error; anything else is the rotation.
pub(crate) fn outcome(r: SigningKeysRotation) -> Result<SigningKeysRotation, Error> {
    if r.record.state == state::FAILED {
        let why = r.detail.error.as_deref().unwrap_or("no reason recorded");
        return Err(Error::FailedPrecondition(format!(
            "signing-key rotation {} of tenant {:?} failed: {why}",
            r.record.id, r.record.tenant
        )));
    }
    Ok(r)
}
