//! Working under a lease. A replica can freeze at any line (a VM migration, a throttled
//! container, SIGSTOP) and wake up as if nothing happened, so the saga never trusts a lease it
//! checked earlier: right before each Auth0 call that changes state it renews the lease (which
//! fails once another replica claimed it), every store write it makes is fenced by the lease's
//! token, and Auth0 calls carry a deadline well inside the lease so that a step in flight ends
//! before the lease can lapse while the process runs. A heartbeat renews the lease while a step
//! runs, so a slow key generation or a slow Auth0 does not invite a takeover.

use std::future::Future;

use keyward_auth0::Error as Auth0Error;

use super::Engine;
use crate::Error;
pub use crate::config::LeaseTiming;
use crate::store::AuditKind;
use crate::store::RotationRecord;
use crate::telemetry::metrics::{LeaseLabels, metrics};

impl Engine {
    /// Right before an Auth0 call that changes state in the step `r` is in: renews the lease,
    /// or fails with [`Error::LeaseLost`] when another replica holds it now.
    pub(super) async fn guard(&self, r: &mut RotationRecord) -> Result<(), Error> {
        self.fault.stall(r.state).await;
        r.lease = self.store.renew_rotation_lease(r).await?;
        Ok(())
    }

    /// Right before detaching or deleting `credential`: whether it may go (no key keyward may
    /// sign or activate with and no other open rotation refers to it), checked in one
    /// transaction with the renewal of `r`'s lease when the work is leased.
    pub(super) async fn may_remove(
        &self,
        r: Option<&RotationRecord>,
        tenant: &str,
        client_id: &str,
        credential: &str,
        own_key: Option<&str>,
    ) -> Result<bool, Error> {
        if let Some(r) = r {
            self.fault.stall(r.state).await;
        }
        let free = self.store.may_remove_credential(r, tenant, client_id, credential, own_key).await?;
        if !free {
            tracing::warn!(
                tenant,
                client = client_id,
                credential,
                replica = %self.owner,
                "credential not removed: a key or another rotation refers to it"
            );
        }
        Ok(free)
    }

    /// An Auth0 call bounded by the lease's call deadline; past it, the outcome is unknown (the
    /// saga reconciles as for a timeout).
    pub(super) async fn bounded<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, Auth0Error>>,
    ) -> Result<T, Auth0Error> {
        let deadline = self.timing.call_deadline;
        tokio::time::timeout(deadline, call).await.unwrap_or_else(|_| {
            Err(Auth0Error::UnknownOutcome {
                operation,
                reason: format!("no answer within the lease's call deadline ({deadline:?})"),
            })
        })
    }

    /// Runs one step of `r` while renewing its lease every renewal interval. A renewal that
    /// finds the lease gone is logged; the step's own fence then stops it before its next side
    /// effect.
    pub(super) async fn with_heartbeat<T>(&self, r: &RotationRecord, step: impl Future<Output = T>) -> T {
        tokio::pin!(step);
        let mut tick = tokio::time::interval(self.timing.renew);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut lost = false;
        loop {
            tokio::select! {
                out = &mut step => return out,
                _ = tick.tick(), if !lost => {
                    if self.fault.stalled() {
                        continue;
                    }
                    if let Err(Error::LeaseLost { .. }) = self.store.renew_rotation_lease(r).await {
                        lost = true;
                        tracing::warn!(
                            tenant = %r.tenant,
                            client = %r.client_id,
                            rotation = %r.rotation_id,
                            replica = %self.owner,
                            step = %r.state,
                            "lease lost while the step ran; it stops before its next side effect"
                        );
                    }
                }
            }
        }
    }

    /// Logs and counts a step abandoned because its lease passed to another replica.
    pub(super) fn abandoned(&self, r: &RotationRecord, kind: &'static str) {
        self.step_abandoned(kind, &r.rotation_id, r.state.as_str(), &r.tenant, &r.client_id);
    }

    /// Logs and counts a step of `kind` work `id` (on `tenant`'s `subject`), from `step`,
    /// abandoned because its lease passed to another replica.
    pub(super) fn step_abandoned(&self, kind: &'static str, id: &str, step: &'static str, tenant: &str, subject: &str) {
        tracing::warn!(
            tenant,
            rotation = %id,
            replica = %self.owner,
            step,
            subject,
            "step abandoned: the lease passed to another replica, which drives the rotation now"
        );
        metrics().lease_lost_steps.get_or_create(&LeaseLabels { kind, step }).inc();
    }

    /// Logs and counts that this replica took `kind` work `id` (on `target`: tenant and
    /// subject), at `step`, over from `from`; the audit detail to record with it.
    pub(super) fn taken_over(
        &self,
        kind: &'static str,
        id: &str,
        target: (&str, &str),
        step: &'static str,
        from: &str,
        token: i64,
    ) -> serde_json::Value {
        let (tenant, subject) = target;
        tracing::warn!(
            tenant, subject, rotation = %id, from_replica = %from, replica = %self.owner, step,
            "work taken over from another replica"
        );
        metrics().lease_takeovers.get_or_create(&LeaseLabels { kind, step }).inc();
        serde_json::json!({ "from_replica": from, "to_replica": self.owner, "state": step, "lease_token": token })
    }

    /// Records that this replica took `r` over from `from` (audit event and log line).
    pub(super) async fn took_over(&self, r: &RotationRecord, from: &str, kind: &'static str) {
        let detail =
            self.taken_over(kind, &r.rotation_id, (&r.tenant, &r.client_id), r.state.as_str(), from, r.lease.token);
        self.audit(r, AuditKind::RotationTakenOver, &detail.to_string()).await;
    }
}
