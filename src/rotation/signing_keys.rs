//! Tenant signing-key rotation: record the request (and the key set before) → ask Auth0 to
//! rotate → read the set back and verify every key → record the history and schedule the
//! previous key's revocation. A request_id is recorded before Auth0 is asked; a retry, or the
//! background task once the lease lapsed, reconciles by reading the key list, so one request
//! never rotates twice.

use keyward_auth0::{Error as Auth0Error, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::signing_key_verify::{VerifiedSigningKey, verify_signing_key};
use super::verifiers::{self, VerifierStatus};
use super::{Engine, hex, uuid_v4};
use crate::Error;
use crate::clock::Timestamp;
use crate::store::{AuditEvent, AuditKind, Lease, SigningKeyRecord, SigningKeyRotationRecord};
use crate::tenant::Tenant;

/// The rotation's states, as stored.
pub(crate) mod state {
    /// Recorded; Auth0 asked or about to be, not yet read back.
    pub const PENDING: &str = "pending";
    /// Rotated and verified; the previous key waits for its revocation.
    pub const WAITING: &str = "waiting";
    /// The previous key's revocation is under way.
    pub const REVOKING: &str = "revoking";
    /// The previous key is revoked, or there was none.
    pub const COMPLETED: &str = "completed";
    /// Auth0 refused, or a key failed verification.
    pub const FAILED: &str = "failed";
}

/// What a rotation records beyond its columns (JSON in `detail`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyDetail {
    /// The unrevoked kids before the rotation, and the current one.
    pub before: Vec<String>,
    /// The current kid before the rotation.
    pub before_current: Option<String>,
    /// The key set after the rotation, each verified.
    pub keys: Vec<VerifiedSigningKey>,
    /// The new current and next kids.
    pub current_kid: Option<String>,
    /// The new next kid.
    pub next_kid: Option<String>,
    /// The verifiers and whether they show `current_kid`.
    pub verifiers: Vec<VerifierStatus>,
    /// Whether keyward revokes the previous key by itself.
    pub auto_revoke: bool,
    /// When keyward revoked the previous key (or saw it revoked).
    pub revoked_at: Option<Timestamp>,
    /// How the previous key left: `revoked` (by keyward) or what else happened.
    pub revoked_how: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// A signing-key rotation: its row and its detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeysRotation {
    /// The stored row.
    pub record: SigningKeyRotationRecord,
    /// Its detail.
    pub detail: SigningKeyDetail,
}

impl SigningKeysRotation {
    pub(crate) fn from_record(record: SigningKeyRotationRecord) -> Result<Self, Error> {
        let detail = serde_json::from_str(&record.detail)
            .map_err(|e| Error::Corrupt(format!("signing-key rotation {}: {e}", record.id)))?;
        Ok(Self { record, detail })
    }

    /// The verifiers that do not show the current key yet.
    pub fn lagging(&self) -> Vec<&VerifierStatus> {
        self.detail.verifiers.iter().filter(|v| !v.shows_current).collect()
    }

    /// Whether every key verified.
    pub fn verified(&self) -> bool {
        !self.detail.keys.is_empty() && self.detail.keys.iter().all(|k| k.problems.is_empty())
    }

    /// Writes the detail back into the row.
    pub(crate) fn sync(&mut self) -> Result<(), Error> {
        self.record.detail = serde_json::to_string(&self.detail).map_err(Error::encode("a signing-key rotation"))?;
        Ok(())
    }
}

/// The unrevoked kids of a key set, and its current kid.
fn live(keys: &[SigningKey]) -> (Vec<String>, Option<String>) {
    let mut kids: Vec<String> = keys.iter().filter(|k| !k.revoked).map(|k| k.kid.clone()).collect();
    kids.sort();
    (kids, keys.iter().find(|k| k.current && !k.revoked).map(|k| k.kid.clone()))
}

/// Whether Auth0's answer left the outcome open (the rotation may or may not have happened).
fn unknown(e: &Auth0Error) -> bool {
    matches!(e, Auth0Error::UnknownOutcome { .. } | Auth0Error::Unavailable { .. } | Auth0Error::Transport { .. })
}

/// How often a rotation that only waits for a caller's revocation is looked at (1 h).
const IDLE_CHECK_MS: i64 = 3_600_000;

pub(crate) fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
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
        let hash = hex(&Sha256::digest(format!("signing_keys\0{tenant}")));
        if let Some(req) = request_id
            && let Some(existing) = self.store.signing_key_rotation_by_request(tenant, req).await?
        {
            return self.resume_signing_keys(t, existing, &hash).await;
        }
        self.refuse_if_previous_must_stay(t).await?;
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

    /// FAILED_PRECONDITION while an earlier rotation's previous key may not be revoked yet:
    /// Auth0 drops an unrevoked previous key at the next rotation, so rotating now would cut the
    /// tokens it signed short.
    async fn refuse_if_previous_must_stay(&self, t: &Tenant) -> Result<(), Error> {
        let now = self.clock.now();
        for r in self.store.signing_key_rotations(&t.config.name, 20).await? {
            if r.state != state::WAITING && r.state != state::REVOKING {
                continue;
            }
            let r = SigningKeysRotation::from_record(r)?;
            let missing = blockers(&r, now);
            if !missing.is_empty() {
                return Err(Error::FailedPrecondition(format!(
                    "rotating now would make Auth0 drop previous key {} of rotation {} before it may be \
                     revoked: {}",
                    r.record.previous_kid.as_deref().unwrap_or("?"),
                    r.record.id,
                    missing.join("; ")
                )));
            }
        }
        Ok(())
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
        rotation.record.revoke_not_before = Some(now.plus_ms(millis(t.config.signing_keys.max_token_lifetime)));
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

/// When the background task should look at `r` next: while the previous key waits, at the
/// earliest of the lagging verifiers' next polls and the time it may be revoked.
pub(crate) fn next_check(r: &SigningKeysRotation, now: Timestamp) -> Timestamp {
    match r.record.state.as_str() {
        state::WAITING => {
            let not_before = r.record.revoke_not_before.unwrap_or(now);
            let lagging = r.lagging();
            if !r.detail.auto_revoke && lagging.is_empty() && not_before <= now {
                // Nothing left to wait for, and only a caller revokes: look again (for a key
                // revoked elsewhere) now and then, not at every tick.
                return now.plus_ms(IDLE_CHECK_MS);
            }
            lagging.iter().filter_map(|v| v.next_check_at).chain([not_before]).min().unwrap_or(now)
        }
        state::PENDING | state::REVOKING => now,
        _ => Timestamp::MAX,
    }
}

/// What keeps the previous key of `r` from being revoked at `now` (by the recorded verifier
/// status): the time left and the lagging verifiers; empty when nothing does.
pub(crate) fn blockers(r: &SigningKeysRotation, now: Timestamp) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(not_before) = r.record.revoke_not_before
        && not_before > now
    {
        let left = std::time::Duration::from_millis(u64::try_from(not_before.millis_since(now)).unwrap_or(0));
        let left = humantime::format_duration(std::time::Duration::from_secs(left.as_secs().max(1)));
        out.push(format!(
            "{left} left until the tenant's longest token lifetime has passed since the rotation (at {})",
            not_before
        ));
    }
    let lagging: Vec<String> = r
        .lagging()
        .iter()
        .map(|v| format!("{} ({})", v.jwks_url, v.problem.as_deref().unwrap_or("not checked yet")))
        .collect();
    if !lagging.is_empty() {
        out.push(format!(
            "verifiers do not show the current key {} yet: {}",
            r.detail.current_kid.as_deref().unwrap_or("?"),
            lagging.join(", ")
        ));
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(auto_revoke: bool, verifiers: Vec<VerifierStatus>, not_before: i64) -> SigningKeysRotation {
        SigningKeysRotation {
            record: SigningKeyRotationRecord {
                id: "skrot_1".into(),
                tenant: "t".into(),
                request_id: None,
                request_hash: String::new(),
                state: state::WAITING.into(),
                detail: String::new(),
                previous_kid: Some("old".into()),
                rotated_at: Some(Timestamp::from_millis(0)),
                revoke_not_before: Some(Timestamp::from_millis(not_before)),
                next_check_at: Timestamp::EPOCH,
                requested_by: "ops".into(),
                created_at: Timestamp::EPOCH,
                updated_at: Timestamp::EPOCH,
                lease: Lease::default(),
            },
            detail: SigningKeyDetail {
                current_kid: Some("new".into()),
                verifiers,
                auto_revoke,
                ..SigningKeyDetail::default()
            },
        }
    }

    fn lagging(url: &str, next: i64) -> VerifierStatus {
        VerifierStatus {
            problem: Some("HTTP 503".into()),
            next_check_at: Some(Timestamp::from_millis(next)),
            ..VerifierStatus::new(url)
        }
    }

    #[test]
    fn blockers_name_the_time_left_and_each_lagging_verifier() {
        let now = Timestamp::from_millis(1_000);
        let r = waiting(true, vec![lagging("https://gw.example/j", 5_000)], 61_000);
        let b = blockers(&r, now);
        assert_eq!(b.len(), 2, "{b:?}");
        assert!(b[0].starts_with("1m left until the tenant's longest token lifetime"), "{}", b[0]);
        assert_eq!(b[1], "verifiers do not show the current key new yet: https://gw.example/j (HTTP 503)");
        let done = waiting(true, vec![VerifierStatus { shows_current: true, ..VerifierStatus::new("u") }], 500);
        assert!(blockers(&done, now).is_empty());
    }

    #[test]
    fn the_next_look_is_the_earliest_poll_or_the_revocation_time() {
        let now = Timestamp::from_millis(1_000);
        let r = waiting(true, vec![lagging("a", 9_000), lagging("b", 4_000)], 61_000);
        assert_eq!(next_check(&r, now), Timestamp::from_millis(4_000));
        assert_eq!(next_check(&waiting(true, Vec::new(), 61_000), now), Timestamp::from_millis(61_000));
        // Only a caller revokes and nothing is left to wait for: an hourly look, not every tick.
        assert_eq!(next_check(&waiting(false, Vec::new(), 500), now), now.plus_ms(IDLE_CHECK_MS));
        let mut done = waiting(true, Vec::new(), 0);
        done.record.state = state::COMPLETED.into();
        assert_eq!(next_check(&done, now), Timestamp::MAX);
    }
}
