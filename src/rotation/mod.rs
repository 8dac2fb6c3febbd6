//! The rotation engine: the crash-safe client-credential saga (ARCHITECTURE.md), resumable at
//! any state, and the background retirement of old keys.

mod connection;
mod custody;
mod fault;
mod keygen;
mod lease;
mod method;
mod plan;
mod request;
mod retirement;
mod revocation;
mod room;
mod saga;
mod signing_key_revoke;
mod signing_key_verify;
mod signing_key_wait;
mod signing_keys;
mod slots;
mod verifiers;

use std::sync::Arc;
use std::time::Duration;

pub(crate) use crate::ids::{hex, uuid_v4};
pub use connection::{ConnectionRotated, VerifiedKey, verify_key};
pub use fault::FAULT_EXIT_CODE;
pub use lease::LeaseTiming;
pub use plan::{Action, NEW, PRIVATE_KEY_JWT, Plan, PlannedStep};
pub(crate) use request::{Params, requester};
pub use request::{RotateRequest, Rotated};
pub use revocation::{RevokeRequest, Revoked};
pub use signing_key_verify::{VerifiedSigningKey, verify_signing_key};
pub use signing_key_wait::{SigningKeyDetail, SigningKeysRotation};
pub use verifiers::VerifierStatus;

use crate::Error;
use crate::clock::{SharedClock, Timestamp};
use crate::config::Defaults;
use crate::context::Context;
use crate::seal::Kek;
use crate::store::{AuditEvent, AuditKind, Inserted, RotationRecord, RotationState, Store};
use crate::telemetry::{InFlight, InFlightGuard};
use crate::tenant::{Tenant, Tenants};

/// Runs rotations against the store and the tenants' Auth0.
pub struct Engine {
    store: Arc<dyn Store>,
    tenants: Arc<Tenants>,
    kek: Arc<Kek>,
    /// The PKCS#11 token keys with `pkcs11` custody are made and kept in.
    custody: Option<keyward_pkcs11::Token>,
    defaults: Defaults,
    fault: fault::FaultPoint,
    timing: LeaseTiming,
    key_changed: Arc<tokio::sync::Notify>,
    /// Where the engine and its scheduler read the time (the context's clock).
    clock: SharedClock,
    /// This replica's name in leases.
    owner: String,
    /// The rotations driven now (client and connection).
    running: InFlight,
    /// Set when the callers waiting on rotations should stop waiting (the drain is ending).
    interrupted: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("tenants", &self.tenants.names().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over the context's store and tenants, sealing keys under its current KEK,
    /// leasing work as its replica and reading its clock.
    pub fn new(ctx: &Context, defaults: Defaults) -> Self {
        let store = ctx.store.clone();
        let ttl = Duration::from_millis(u64::try_from(store.lease_ttl_ms()).unwrap_or(1).max(1));
        // The store's TTL as configured (validated with its renewal interval at start); tests
        // may use shorter ones, for which a third of the TTL is still a sound renewal interval.
        let renew = (ttl / 3).max(Duration::from_millis(1));
        Self {
            timing: LeaseTiming { ttl, renew, call_deadline: ttl - renew },
            store,
            tenants: ctx.tenants.clone(),
            kek: ctx.keks.current.clone(),
            custody: ctx.custody.clone(),
            defaults,
            fault: fault::FaultPoint::from_env(),
            key_changed: ctx.key_changed.clone(),
            clock: ctx.clock.clone(),
            owner: ctx.replica.clone(),
            running: InFlight::default(),
            interrupted: tokio::sync::watch::Sender::new(false),
        }
    }

    /// How many rotations (client and connection) this engine drives now, for callers or
    /// resumed at start.
    pub fn rotations_running(&self) -> usize {
        self.running.get()
    }

    /// Counts a rotation as running until the guard drops.
    pub(crate) fn running_rotation(&self) -> InFlightGuard {
        self.running.enter()
    }

    /// Answers the callers still waiting on a rotation UNAVAILABLE, naming it, instead of letting
    /// the process stop under them: the end of a shutdown drain. The rotation itself is left
    /// where its last persisted step put it, under this replica's lease, exactly as a crash
    /// would; it resumes at the next start (or on another replica once the lease lapses).
    pub fn interrupt_callers(&self) {
        self.interrupted.send_replace(true);
    }

    /// Resolves once [`Engine::interrupt_callers`] was called.
    pub async fn callers_interrupted(&self) {
        let mut rx = self.interrupted.subscribe();
        // The sender lives as long as the engine, which outlives this borrow.
        let _ = rx.wait_for(|interrupted| *interrupted).await;
    }

    /// Sets how leases are renewed and how long Auth0 calls under them may take (validated by
    /// [`LeaseTiming::new`] against the store's TTL).
    pub fn with_lease_timing(mut self, timing: LeaseTiming) -> Self {
        self.timing = timing;
        self
    }

    /// The clock this engine reads (the context's).
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// This replica's name in leases (the context's; how long leases last is the store's
    /// [`Store::lease_ttl_ms`], which every saga write renews them by).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// When a lease taken now lapses.
    pub(crate) fn lease_until(&self, now: Timestamp) -> Timestamp {
        now.plus_ms(self.store.lease_ttl_ms())
    }

    /// Takes the lease on `r` unless this replica holds it already; ABORTED while another
    /// replica's lease is live.
    async fn hold(&self, r: RotationRecord) -> Result<RotationRecord, Error> {
        let now = self.clock.now();
        if r.lease.held_by(&self.owner, now) {
            return Ok(r);
        }
        match self.store.claim_rotation(&r.rotation_id, &self.owner, now, self.lease_until(now)).await? {
            Some(claimed) => {
                if let Some(from) = r.lease.owner.as_deref().filter(|o| *o != self.owner) {
                    let kind = if matches!(claimed.state, RotationState::Active | RotationState::Retired) {
                        "retirement"
                    } else {
                        "client"
                    };
                    self.took_over(&claimed, from, kind).await;
                }
                Ok(claimed)
            }
            None => Err(Error::Aborted(format!(
                "rotation {} is being driven by replica {}; retry later",
                r.rotation_id,
                r.lease.owner.as_deref().unwrap_or("?")
            ))),
        }
    }

    /// Notified whenever this engine activates or retires a key (the context's; the signer
    /// reloads its cache).
    pub fn key_changed(&self) -> &Arc<tokio::sync::Notify> {
        &self.key_changed
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The configured tenants.
    pub fn tenants(&self) -> &Arc<Tenants> {
        &self.tenants
    }

    /// A configured tenant, or NOT_FOUND.
    pub fn tenant(&self, name: &str) -> Result<&Tenant, Error> {
        self.tenants.get(name)
    }

    /// The tenant, if it lets keyward manage `client_id`; else NOT_FOUND.
    pub fn managed_client(&self, tenant: &str, client_id: &str) -> Result<&Tenant, Error> {
        self.tenants.managed_client(tenant, client_id)
    }

    /// Rotates a client's credential and returns once the new key is ACTIVE (or the rotation
    /// FAILED with compensation). The same `request_id` returns the same rotation.
    pub async fn rotate_client(&self, req: &RotateRequest) -> Result<Rotated, Error> {
        let tenant = self.managed_client(&req.tenant, &req.client_id)?;
        let current = self.current_choice(&req.tenant, &req.client_id, req.method).await?;
        let local = tenant.config.signing.local_clients.contains(&req.client_id);
        let params = self.params(req, local, current, tenant.config.custody.for_client(&req.client_id))?;
        let (params_json, hash) = request::stored_params(req, &params)?;
        let now = self.clock.now();
        let record = RotationRecord {
            rotation_id: format!("rot_{}", uuid_v4()),
            tenant: req.tenant.clone(),
            client_id: req.client_id.clone(),
            state: RotationState::Planned,
            request_id: req.request_id.clone(),
            request_hash: hash.clone(),
            params: params_json,
            new_key_id: None,
            old_key_id: None,
            new_credential_id: None,
            old_credential_id: None,
            retire_at: None,
            error: None,
            created_at: now,
            updated_at: now,
            version: 0,
            lease: crate::store::Lease { owner: Some(self.owner.clone()), token: 1, expires_at: self.lease_until(now) },
            requested_by: requester(&req.requested_by),
            removed: Vec::new(),
            old_departed: None,
        };
        let rotation = match self.store.insert_rotation(&record).await? {
            Inserted::New => {
                self.audit(&record, AuditKind::RotationPlanned, "{}").await;
                self.fault.after(record.state);
                record
            }
            Inserted::SameRequest(existing) if existing.request_hash != hash => {
                return Err(Error::arg("request_id", "was already used for a different request"));
            }
            Inserted::SameRequest(existing) => existing,
            Inserted::Busy(open) => {
                return Err(Error::Aborted(format!(
                    "rotation {} of client {} is in progress ({})",
                    open.rotation_id, open.client_id, open.state
                )));
            }
        };
        let _running = self.running_rotation();
        let (id, tenant_name, client) =
            (rotation.rotation_id.clone(), rotation.tenant.clone(), rotation.client_id.clone());
        let done = tokio::select! {
            done = self.drive(tenant, rotation) => done?,
            () = self.callers_interrupted() => {
                // Dropping the saga mid-step is what a crash does, which it is built for.
                tracing::warn!(
                    tenant = %tenant_name, client = %client, rotation = %id,
                    "rotation interrupted by shutdown; it resumes at the next start"
                );
                return Err(Error::Unavailable(format!(
                    "rotation {id} interrupted by shutdown; it resumes when keyward restarts \
                     (keyward rotation get {id})"
                )));
            }
        };
        self.outcome(done).await
    }

    /// The rotation with its keys; a FAILED rotation is its recorded error.
    async fn outcome(&self, rotation: RotationRecord) -> Result<Rotated, Error> {
        if rotation.state == RotationState::Failed {
            let why = rotation.error.as_deref().unwrap_or("no reason recorded");
            return Err(Error::FailedPrecondition(format!(
                "rotation {} of client {} failed: {why}",
                rotation.rotation_id, rotation.client_id
            )));
        }
        let credential = match &rotation.new_key_id {
            Some(id) => self.store.key(id).await?,
            None => None,
        };
        let previous = match &rotation.old_key_id {
            Some(id) => self.store.key(id).await?,
            None => None,
        };
        Ok(Rotated { rotation, credential, previous })
    }

    /// Drives open rotations to ACTIVE or FAILED: those whose lease has lapsed (stalled by an
    /// outage, or left by a replica that died), and at start-up also those this replica's name
    /// still holds (it crashed and restarted). A live lease of another replica is left alone.
    pub async fn resume_open(&self, startup: bool) -> Vec<(String, Result<RotationState, Error>)> {
        let open = match self.store.open_rotations().await {
            Ok(o) => o,
            Err(e) => return vec![("*".into(), Err(e))],
        };
        let now = self.clock.now();
        let resumable = |r: &RotationRecord| {
            r.lease.expires_at <= now || (startup && r.lease.owner.as_deref() == Some(self.owner.as_str()))
        };
        let mut out = Vec::new();
        for r in open.into_iter().filter(resumable) {
            let _running = self.running_rotation();
            let id = r.rotation_id.clone();
            let result = match self.tenant(&r.tenant) {
                Ok(t) => self.drive(t, r).await.map(|r| r.state),
                Err(e) => Err(e),
            };
            out.push((id, result));
        }
        out
    }

    /// A rotation by id.
    pub async fn rotation(&self, rotation_id: &str) -> Result<RotationRecord, Error> {
        self.store.rotation(rotation_id).await?.ok_or_else(|| Error::NotFound(format!("rotation {rotation_id:?}")))
    }

    async fn audit(&self, r: &RotationRecord, kind: AuditKind, detail: &str) {
        let detail = format!(r#"{{"rotation_id":{:?},"detail":{detail}}}"#, r.rotation_id);
        let event = AuditEvent::new(kind, &r.requested_by, &r.tenant, &r.client_id, detail);
        if let Err(e) = self.store.append_audit(&event).await {
            tracing::warn!(
                tenant = %r.tenant, client = %r.client_id, rotation = %r.rotation_id, error = %e,
                "audit event {kind} not recorded"
            );
        }
    }
}
