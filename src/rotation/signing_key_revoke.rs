//! Revoking a tenant's previous signing key: only once the tenant's longest token lifetime has
//! passed since the rotation that made it previous, and every configured verifier shows the new
//! current key. The background task polls the verifiers (bounded backoff) and revokes by itself
//! when `auto_revoke`; `RevokeTenantSigningKey` does it on demand under the same rules. The
//! state moves to REVOKING before Auth0 is asked, so a crash resumes by reading the key back.

use keyward_auth0::Error as Auth0Error;

use super::Engine;
use super::signing_key_wait::{SigningKeysRotation, blockers, state};
use super::signing_keys::outcome;
use super::verifiers::{self, VerifierStatus};
use crate::Error;
use crate::clock::Timestamp;
use crate::store::{AuditKind, Lease};
use crate::tenant::Tenant;

/// Who revokes: the background task, or a caller (with its request_id).
struct By<'a> {
    name: &'a str,
    request_id: Option<&'a str>,
    /// A caller asked (verifiers are polled now, whatever their backoff).
    caller: bool,
}

/// Why `kid`, which no rotation of keyward made previous, may not be revoked: what it is.
pub(super) fn not_rotated_by_keyward(kid: &str, key: &keyward_auth0::SigningKey) -> String {
    let what = if key.revoked {
        "is already revoked"
    } else if key.current {
        "is the current key; only the previous key can be revoked"
    } else if key.next {
        "is the next key; only the previous key can be revoked"
    } else {
        "became previous outside keyward, which cannot tell when the tokens it signed expire; \
         rotate through keyward (keyward rotate signing-keys) to have it revoked"
    };
    format!("kid {kid:?} {what}")
}

/// Why `kid` stays when the rotation that made it previous failed.
pub(super) fn rotation_failed(kid: &str, r: &SigningKeysRotation) -> String {
    format!(
        "kid {kid:?} stays: rotation {} that made it previous failed ({}); revoke it by hand once the current key \
         is trusted",
        r.record.id,
        r.detail.error.as_deref().unwrap_or("no reason recorded")
    )
}

/// Why `kid` may not be revoked yet, naming what is `missing`.
pub(super) fn not_yet(kid: &str, missing: &[String]) -> String {
    format!("kid {kid:?} may not be revoked yet: {}", missing.join("; "))
}

impl Engine {
    /// Revokes `kid`, the tenant's previous signing key, if the rules allow it now; otherwise
    /// FAILED_PRECONDITION naming what is missing. Revoking it again returns the same rotation.
    pub async fn revoke_signing_key(
        &self,
        tenant: &str,
        kid: &str,
        request_id: Option<&str>,
        requested_by: &str,
    ) -> Result<SigningKeysRotation, Error> {
        let t = self.tenants.get(tenant)?;
        let rows = self.store.signing_key_rotations(tenant, 50).await?;
        let Some(row) = rows.into_iter().find(|r| r.previous_kid.as_deref() == Some(kid)) else {
            // Not a key keyward rotated out: say what it is.
            let key = self
                .bounded("get_signing_key", t.auth0.get_signing_key(kid))
                .await
                .map_err(|e| Error::from(e).naming("kid", kid))?;
            return Err(Error::FailedPrecondition(not_rotated_by_keyward(kid, &key)));
        };
        let r = SigningKeysRotation::from_record(row)?;
        match r.record.state.as_str() {
            state::COMPLETED => return Ok(r),
            state::FAILED => return Err(Error::FailedPrecondition(rotation_failed(kid, &r))),
            _ => {}
        }
        let now = self.clock.now();
        let Some(lease) =
            self.store.claim_signing_key_rotation(&r.record.id, &self.owner, now, self.lease_until(now)).await?
        else {
            return Err(Error::Aborted(format!(
                "signing-key rotation {} is being worked on by replica {}; retry later",
                r.record.id,
                r.record.lease.owner.as_deref().unwrap_or("?")
            )));
        };
        let name = super::requester(requested_by);
        let by = By { name: &name, request_id, caller: true };
        let r = self.advance_signing_keys(t, r, lease, true, &by).await?;
        match r.record.state.as_str() {
            state::COMPLETED => Ok(r),
            _ => {
                let missing = blockers(&r, self.clock.now());
                let detail = serde_json::json!({
                    "rotation_id": r.record.id, "kid": kid, "request_id": request_id, "missing": missing,
                });
                self.audit_signing_keys(&r, AuditKind::SigningKeyRevokeRefused, by.name, detail).await;
                Err(Error::FailedPrecondition(not_yet(kid, &missing)))
            }
        }
    }

    /// The background task: every signing-key rotation due for a look, under its lease (claimed
    /// with a fencing token, so a paused replica's late writes are refused): a PENDING one left by
    /// a crashed or paused replica is resumed, a WAITING one has its lagging verifiers polled and
    /// its previous key revoked once allowed (with `auto_revoke`), a REVOKING one is finished.
    /// Returns how many previous keys were revoked.
    pub async fn signing_keys_due(&self, now: Timestamp) -> Result<usize, Error> {
        self.signing_keys_work(now, None).await
    }

    /// At start-up: [`Engine::signing_keys_due`], also taking back what this replica's name
    /// still holds (its previous process crashed mid-step), without waiting for the lease to
    /// lapse. Only at start-up: nothing of this process can be driving them yet.
    pub async fn resume_signing_keys_at_start(&self) -> Result<usize, Error> {
        let owner = self.owner.clone();
        self.signing_keys_work(self.clock.now(), Some(&owner)).await
    }

    async fn signing_keys_work(&self, now: Timestamp, own: Option<&str>) -> Result<usize, Error> {
        let mut first = None;
        let mut revoked = 0;
        for row in self.store.signing_key_rotations_due(now, own).await? {
            let id = row.id.clone();
            let Ok(t) = self.tenant(&row.tenant) else { continue };
            let Some(lease) =
                self.store.claim_signing_key_rotation(&row.id, &self.owner, now, self.lease_until(now)).await?
            else {
                continue;
            };
            let result = match SigningKeysRotation::from_record(row) {
                Ok(r) if r.record.state == state::PENDING => {
                    let _running = self.running_rotation();
                    self.drive_signing_keys(t, r, lease).await
                }
                Ok(r) => {
                    let auto = r.detail.auto_revoke;
                    self.advance_signing_keys(
                        t,
                        r,
                        lease,
                        auto,
                        &By { name: "keyward", request_id: None, caller: false },
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(r)
                    if r.detail.revoked_how.as_deref() == Some("revoked")
                        && r.detail.revoked_at.is_some_and(|t| t >= now) =>
                {
                    revoked += 1
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(rotation = %id, error = %e, "signing-key rotation deferred");
                    first.get_or_insert(e);
                }
            }
        }
        match first {
            Some(e) if revoked == 0 => Err(e),
            _ => Ok(revoked),
        }
    }

    /// Under `lease`: checks the previous key is still Auth0's previous key, polls the lagging
    /// verifiers (all of them when a caller asks) and, when `revoke` and nothing blocks, revokes
    /// it. Saves where it stands and frees the lease.
    async fn advance_signing_keys(
        &self,
        t: &Tenant,
        mut r: SigningKeysRotation,
        lease: Lease,
        revoke: bool,
        by: &By<'_>,
    ) -> Result<SigningKeysRotation, Error> {
        let Some(kid) = r.record.previous_kid.clone() else {
            self.finish_signing_keys(&mut r, &lease, state::COMPLETED).await?;
            return Ok(r);
        };
        let key = match self.bounded("get_signing_key", t.auth0.get_signing_key(&kid)).await {
            Ok(k) => Some(k),
            Err(Auth0Error::SigningKeyNotFound { .. }) => None,
            Err(e) => {
                self.release_signing_keys(&mut r, &lease).await;
                return Err(e.into());
            }
        };
        let now = self.clock.now();
        match key {
            Some(k) if k.revoked => {
                // Revoked by keyward before a crash, by hand, or by Auth0 at a later rotation.
                let how = if r.record.state == state::REVOKING { "revoked" } else { "revoked outside keyward" };
                r.detail.revoked_how = Some(how.into());
                r.detail.revoked_at = Some(now);
                self.finish_signing_keys(&mut r, &lease, state::COMPLETED).await?;
                if how == "revoked" {
                    self.audit_revoked(&r, &kid, by).await;
                }
                return Ok(r);
            }
            Some(k) if k.previous => {}
            _ => {
                r.detail.revoked_how = Some("no longer listed as previous at Auth0".into());
                r.detail.revoked_at = Some(now);
                self.finish_signing_keys(&mut r, &lease, state::COMPLETED).await?;
                return Ok(r);
            }
        }
        if r.record.state == state::WAITING {
            self.sync_verifiers(t, &mut r);
            if let Some(current) = r.detail.current_kid.clone() {
                verifiers::poll(&mut r.detail.verifiers, &current, now, by.caller).await;
            }
            if !revoke || !blockers(&r, now).is_empty() {
                self.finish_signing_keys(&mut r, &lease, state::WAITING).await?;
                return Ok(r);
            }
            r.record.state = state::REVOKING.to_owned();
            r.record.updated_at = now;
            r.sync()?;
            let lease = self.store.save_signing_key_rotation(&r.record, &lease, false).await?;
            self.fault.after_point("signing_keys:revoking");
            return self.revoke_previous(t, r, lease, &kid, by).await;
        }
        self.revoke_previous(t, r, lease, &kid, by).await
    }

    /// Asks Auth0 to revoke `kid` (REVOKING is persisted); an unknown outcome is left for the
    /// next look, which reads the key back.
    async fn revoke_previous(
        &self,
        t: &Tenant,
        mut r: SigningKeysRotation,
        lease: Lease,
        kid: &str,
        by: &By<'_>,
    ) -> Result<SigningKeysRotation, Error> {
        self.fault.stall_at("signing_keys:revoking").await;
        let lease = self.store.save_signing_key_rotation(&r.record, &lease, false).await?;
        match self.bounded("revoke_signing_key", t.auth0.revoke_signing_key(kid)).await {
            Ok(_) => {}
            Err(e) => {
                // Auth0 may have revoked it (or refuses because it is no longer previous): the
                // next look reads the key back and finishes.
                self.release_signing_keys(&mut r, &lease).await;
                return Err(e.into());
            }
        }
        self.fault.after_point("signing_keys:revoked");
        r.detail.revoked_how = Some("revoked".into());
        r.detail.revoked_at = Some(self.clock.now());
        self.finish_signing_keys(&mut r, &lease, state::COMPLETED).await?;
        self.audit_revoked(&r, kid, by).await;
        outcome(r)
    }

    async fn audit_revoked(&self, r: &SigningKeysRotation, kid: &str, by: &By<'_>) {
        let detail = serde_json::json!({
            "rotation_id": r.record.id, "kid": kid, "request_id": by.request_id,
            "current_kid": r.detail.current_kid,
        });
        self.audit_signing_keys(r, AuditKind::SigningKeyRevoked, by.name, detail).await;
        crate::telemetry::metrics::metrics().rotation("signing_key_revocation", "completed");
    }

    /// Keeps the recorded verifiers in step with the tenant's configuration (added ones start
    /// unchecked, removed ones are dropped).
    pub(super) fn sync_verifiers(&self, t: &Tenant, r: &mut SigningKeysRotation) {
        let configured = &t.config.signing_keys.verifiers;
        r.detail.verifiers.retain(|v| configured.contains(&v.jwks_url));
        for url in configured {
            if !r.detail.verifiers.iter().any(|v| &v.jwks_url == url) {
                r.detail.verifiers.push(VerifierStatus::new(url));
            }
        }
    }

    /// Frees the lease without changing the state (an Auth0 failure: the next look retries).
    async fn release_signing_keys(&self, r: &mut SigningKeysRotation, lease: &Lease) {
        let state = r.record.state.clone();
        if let Err(e) = self.finish_signing_keys(r, lease, &state).await {
            tracing::warn!(rotation = %r.record.id, error = %e, "signing-key rotation lease not released");
        }
    }
}
