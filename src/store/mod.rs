//! The durable store: managed keys (sealed), rotations and audit events, on SQLite (the
//! embedded default) or PostgreSQL (several replicas), behind one [`Store`] trait. The
//! database enforces the saga's invariants: one open rotation and one active key per client,
//! one rotation per request_id, and compare-and-set updates.

mod audit;
mod custody;
mod filter;
mod method;
pub(crate) mod removed;
mod sql;
mod types;

pub use audit::{AuditEvent, AuditKind};
pub use custody::TOKEN_KEY_KEK_ID;
pub use filter::RotationFilter;
pub use method::CredentialMethod;
pub use removed::{Departed, Departure, Removal, RemovedCredential};
pub use sql::SqlStore;
pub use types::{
    ConnectionKeyRecord, ConnectionRotationRecord, Inserted, InventorySnapshotRecord, KeyRecord, KeyState, Lease,
    PolicyKind, PolicyRecord, PolicySource, RevocationRecord, RevocationState, RotationRecord, RotationState,
    SigningKeyRecord, SigningKeyRotationRecord,
};

use crate::Error;
use crate::clock::Timestamp;

/// What the rotation engine, the signer and the CLI need from storage: every concept's store,
/// and what the database is.
pub trait Store:
    RotationStore
    + KeyStore
    + ConnectionStore
    + SigningKeyStore
    + PolicyStore
    + RevocationStore
    + AuditStore
    + InventoryStore
    + Send
    + Sync
    + 'static
{
    /// What kind of database it is (`sqlite`, `postgres`), as `keyward status` shows it.
    fn kind(&self) -> &'static str;
    /// How long a lease lasts past its claim or a saga write renewing it (milliseconds).
    fn lease_ttl_ms(&self) -> i64;
}

/// Client-credential rotations: the saga's rows, their fenced writes and leases.
#[async_trait::async_trait]
pub trait RotationStore: Send + Sync {
    /// Inserts a PLANNED rotation unless its request_id is known or the client has an open one.
    async fn insert_rotation(&self, rotation: &RotationRecord) -> Result<Inserted, Error>;
    /// A rotation by id.
    async fn rotation(&self, rotation_id: &str) -> Result<Option<RotationRecord>, Error>;
    /// A rotation by its request_id.
    async fn rotation_by_request(&self, tenant: &str, request_id: &str) -> Result<Option<RotationRecord>, Error>;
    /// The rotation that is retiring `key_id`.
    async fn rotation_by_old_key(&self, key_id: &str) -> Result<Option<RotationRecord>, Error>;
    /// At most `limit` rotations matching `filter`, newest first.
    async fn list_rotations(&self, filter: &RotationFilter, limit: i64) -> Result<Vec<RotationRecord>, Error>;
    /// Every rotation not yet ACTIVE or FAILED.
    async fn open_rotations(&self) -> Result<Vec<RotationRecord>, Error>;
    /// Every rotation in `state`, oldest first.
    async fn rotations_in_state(&self, state: RotationState) -> Result<Vec<RotationRecord>, Error>;
    /// Writes `rotation` if nobody changed it since it was read (its `version`), and bumps the
    /// version in place. A lost race is [`Error::Conflict`].
    async fn update_rotation(&self, rotation: &mut RotationRecord) -> Result<(), Error>;
    /// Stores a generated key and moves its rotation on, in one transaction: no public key
    /// reaches Auth0 before its sealed private key is durable.
    async fn save_generated_key(&self, key: &KeyRecord, rotation: &mut RotationRecord) -> Result<(), Error>;
    /// Makes `new_key` the client's active key and `old_key` retiring until `retire_at`, and
    /// moves the rotation on, in one transaction.
    async fn activate(
        &self,
        rotation: &mut RotationRecord,
        new_key: &str,
        old_key: Option<&str>,
        retire_at: Timestamp,
    ) -> Result<(), Error>;
    /// Renews the lease on `rotation` by the TTL if its token and version are still the row's
    /// (the writer still holds it); [`Error::LeaseLost`] when another replica claimed it.
    async fn renew_rotation_lease(&self, rotation: &RotationRecord) -> Result<Lease, Error>;
    /// Records the credential Auth0 created for the rotation's new (still PENDING) key and moves
    /// the rotation on, in one transaction fenced by the rotation's lease.
    async fn save_registered(
        &self,
        rotation: &mut RotationRecord,
        key_id: &str,
        credential_id: &str,
    ) -> Result<(), Error>;
    /// Moves a rotation (set to FAILED by the caller) on and destroys its new key if that is still
    /// PENDING and no other open rotation names it, in one fenced transaction; whether the key
    /// was destroyed.
    async fn save_failed(&self, rotation: &mut RotationRecord) -> Result<bool, Error>;
    /// Destroys a RETIRED key's sealed material and, when given, moves its rotation on (fenced by
    /// its lease), in one transaction; whether the key was destroyed (never an active, retiring or
    /// pending key, nor one an open rotation names as its new key).
    async fn close_retirement(&self, key_id: &str, rotation: Option<&mut RotationRecord>) -> Result<bool, Error>;
    /// Whether a client's Auth0 credential may be detached or deleted: no PENDING, ACTIVE or
    /// RETIRING key other than `own_key` and no other open rotation refers to it (by credential
    /// id). With `fence`, checked in one transaction with (and renewing) that rotation's lease.
    async fn may_remove_credential(
        &self,
        fence: Option<&RotationRecord>,
        tenant: &str,
        client_id: &str,
        credential_id: &str,
        own_key: Option<&str>,
    ) -> Result<bool, Error>;
    /// Claims the lease on a rotation for `owner` until `expires_at` when it is free, lapsed or
    /// already `owner`'s, raising its fencing token; the rotation as claimed, or `None` when
    /// another replica holds it.
    async fn claim_rotation(
        &self,
        rotation_id: &str,
        owner: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Option<RotationRecord>, Error>;
}

/// Managed keys: sealed material, states, the signed horizon and KEK rewraps.
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync {
    /// A key by id.
    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, Error>;
    /// A client's keys, oldest first.
    async fn keys(&self, tenant: &str, client_id: &str) -> Result<Vec<KeyRecord>, Error>;
    /// Every key in a state (e.g. all active keys for the signer's cache, or for KEK rotation).
    async fn keys_in_state(&self, state: KeyState) -> Result<Vec<KeyRecord>, Error>;
    /// Every key whose data key is wrapped by a KEK other than `kek_id` and still holds key
    /// material (KEK rotation).
    async fn keys_sealed_by_other(&self, kek_id: &str) -> Result<Vec<KeyRecord>, Error>;
    /// Replaces a key's wrapped data key if it is still wrapped by `old_kek_id`; `false` when
    /// the key changed meanwhile (retired, or rewrapped by another run). Nothing else changes.
    async fn rewrap_key(&self, key_id: &str, old_kek_id: &str, sealed: &crate::seal::Sealed) -> Result<bool, Error>;
    /// A cheap fingerprint of the signing-relevant key states (which keys are active or
    /// retiring); replicas poll it to know when to reload their key caches.
    async fn key_version(&self) -> Result<String, Error>;
    /// Raises a live key's `last_signed_exp` to at least `until` before the signer
    /// hands out assertions expiring by then; `false` when the key is no longer active or
    /// retiring (it must not sign).
    async fn extend_signed_exp(&self, key_id: &str, until: Timestamp) -> Result<bool, Error>;
    /// Marks a retiring key retired, atomically with the check that no assertion it signed is
    /// still live at `now` and (unless `early`, when a rotation evicts it to free an Auth0 slot)
    /// that its retire time has come; `false` when it must wait. From then on
    /// [`KeyStore::extend_signed_exp`] refuses it, so no replica signs with it again.
    async fn begin_retirement(&self, key_id: &str, now: Timestamp, early: bool) -> Result<bool, Error>;
    /// Retired keys that still hold key material: retirements a stopped process began (Auth0
    /// cleanup and wiping still to do).
    async fn keys_retired_unfinished(&self) -> Result<Vec<KeyRecord>, Error>;
}

/// Tenant signing-key rotations, by request_id, under fenced leases, and the keys seen.
#[async_trait::async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Records a rotation; `false` when its request_id is known or the tenant has a pending one.
    async fn insert_signing_key_rotation(&self, record: &SigningKeyRotationRecord) -> Result<bool, Error>;
    /// A rotation by id.
    async fn signing_key_rotation(&self, id: &str) -> Result<Option<SigningKeyRotationRecord>, Error>;
    /// A rotation by request_id.
    async fn signing_key_rotation_by_request(
        &self,
        tenant: &str,
        request_id: &str,
    ) -> Result<Option<SigningKeyRotationRecord>, Error>;
    /// The tenant's rotations, newest first, at most `limit`.
    async fn signing_key_rotations(&self, tenant: &str, limit: i64) -> Result<Vec<SigningKeyRotationRecord>, Error>;
    /// Rotations with work left whose check is due by `now` and whose lease is free, lapsed or
    /// `owner`'s (a replica's own, left by its previous process: only at start-up).
    async fn signing_key_rotations_due(
        &self,
        now: Timestamp,
        owner: Option<&str>,
    ) -> Result<Vec<SigningKeyRotationRecord>, Error>;
    /// When the tenant's signing keys last rotated through keyward.
    async fn last_signing_key_rotation(&self, tenant: &str) -> Result<Option<Timestamp>, Error>;
    /// Claims a rotation's lease for `owner` until `expires_at` when it is free, lapsed or
    /// `owner`'s, raising its fencing token; `None` when another replica holds it.
    async fn claim_signing_key_rotation(
        &self,
        id: &str,
        owner: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Option<Lease>, Error>;
    /// Writes the rotation's state if `lease`'s token is still the row's ([`Error::LeaseLost`]
    /// otherwise), renewing the lease by the TTL, or freeing it when `release`.
    async fn save_signing_key_rotation(
        &self,
        record: &SigningKeyRotationRecord,
        lease: &Lease,
        release: bool,
    ) -> Result<Lease, Error>;
    /// Records what keyward saw of a signing key (first and last seen, status, verdict).
    async fn record_signing_key(&self, key: &SigningKeyRecord) -> Result<(), Error>;
    /// The signing keys keyward saw for a tenant, first seen first.
    async fn signing_keys(&self, tenant: &str) -> Result<Vec<SigningKeyRecord>, Error>;
}

/// Connection key rotations, by request_id, under leases, and the keys seen.
#[async_trait::async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Records a connection rotation; `false` when its request_id is already recorded.
    async fn insert_connection_rotation(&self, record: &ConnectionRotationRecord) -> Result<bool, Error>;
    /// A connection rotation by request_id.
    async fn connection_rotation(
        &self,
        tenant: &str,
        request_id: &str,
    ) -> Result<Option<ConnectionRotationRecord>, Error>;
    /// When the connection's keys were last rotated to completion through keyward.
    async fn last_connection_rotation(&self, tenant: &str, connection_id: &str) -> Result<Option<Timestamp>, Error>;
    /// Stores a connection rotation's result and frees its lease, if `lease` (its token) is still
    /// the row's; [`Error::LeaseLost`] otherwise.
    async fn finish_connection_rotation(
        &self,
        id: &str,
        lease: &Lease,
        result: &str,
        verified: bool,
    ) -> Result<(), Error>;
    /// Claims the lease on a connection rotation for `owner` until `expires_at` when it is free,
    /// lapsed or already `owner`'s, raising its token; `None` when another replica holds it.
    async fn claim_connection_rotation(
        &self,
        id: &str,
        owner: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Option<Lease>, Error>;
    /// Renews a connection rotation's lease by the TTL if `lease`'s token is still the row's;
    /// [`Error::LeaseLost`] when another replica claimed it.
    async fn renew_connection_lease(&self, id: &str, lease: &Lease) -> Result<Lease, Error>;
    /// Records what keyward saw of a connection key (first and last seen, status, verdict).
    async fn record_connection_key(&self, key: &ConnectionKeyRecord) -> Result<(), Error>;
}

/// Scheduled-rotation policies and their leases.
#[async_trait::async_trait]
pub trait PolicyStore: Send + Sync {
    /// Creates or replaces a policy (keeping its schedule bookkeeping when it exists).
    async fn put_policy(&self, policy: &PolicyRecord) -> Result<(), Error>;
    /// Deletes a policy; `false` when there was none.
    async fn delete_policy(&self, tenant: &str, kind: PolicyKind, target: &str) -> Result<bool, Error>;
    /// Every policy, ordered by tenant, kind and target.
    async fn policies(&self) -> Result<Vec<PolicyRecord>, Error>;
    /// Sets when a policy's target is next due.
    async fn set_policy_due(
        &self,
        tenant: &str,
        kind: PolicyKind,
        target: &str,
        due_at: Option<Timestamp>,
    ) -> Result<(), Error>;
    /// Picks up to `limit` policies due by `now` whose lease is free or lapsed and leases them
    /// to `owner` until `expires_at` (`FOR UPDATE SKIP LOCKED` on PostgreSQL: replicas polling
    /// at once get disjoint rows).
    async fn claim_due_policies(
        &self,
        owner: &str,
        now: Timestamp,
        expires_at: Timestamp,
        limit: i64,
    ) -> Result<Vec<PolicyRecord>, Error>;
    /// Records a scheduled rotation's result and next due time and frees the lease, if `lease`
    /// (its token) is still the current one; `false` when another replica took over.
    async fn finish_policy(
        &self,
        policy: &PolicyRecord,
        result: &str,
        rotated_at: Option<Timestamp>,
        due_at: Option<Timestamp>,
    ) -> Result<bool, Error>;
}

/// Emergency revocations: their saga rows, fenced writes and leases.
#[async_trait::async_trait]
pub trait RevocationStore: Send + Sync {
    /// Inserts a PLANNED revocation (its lease held by the inserter) unless one exists for the
    /// same key or request_id: then that one.
    async fn insert_revocation(&self, revocation: &RevocationRecord) -> Result<Option<RevocationRecord>, Error>;
    /// A revocation by id.
    async fn revocation(&self, revocation_id: &str) -> Result<Option<RevocationRecord>, Error>;
    /// The revocation of a key, if any.
    async fn revocation_of_key(&self, key_id: &str) -> Result<Option<RevocationRecord>, Error>;
    /// Every revocation not yet COMPLETED or FAILED.
    async fn open_revocations(&self) -> Result<Vec<RevocationRecord>, Error>;
    /// Claims the lease on a revocation (see [`RotationStore::claim_rotation`]).
    async fn claim_revocation(
        &self,
        revocation_id: &str,
        owner: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Option<RevocationRecord>, Error>;
    /// Renews the lease on a revocation by the TTL if its token and version are still the
    /// row's; [`Error::LeaseLost`] when another replica claimed it.
    async fn renew_revocation_lease(&self, revocation: &RevocationRecord) -> Result<Lease, Error>;
    /// Writes a revocation's state if its lease token and version are still the row's
    /// ([`Error::LeaseLost`] otherwise), renewing the lease while it is open. Moving to
    /// SIGNING_STOPPED marks its key RETIRED in the same transaction (refused, and the
    /// revocation FAILED, if the key is not ACTIVE or RETIRING or is ACTIVE without `force`);
    /// moving to COMPLETED destroys the key's sealed material in the same transaction.
    async fn save_revocation(&self, revocation: &mut RevocationRecord) -> Result<(), Error>;
}

/// The audit log: appended, never changed.
#[async_trait::async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an audit event; returns its id.
    async fn append_audit(&self, event: &AuditEvent) -> Result<i64, Error>;
    /// The latest audit event of `kind`.
    async fn last_audit(&self, kind: AuditKind) -> Result<Option<AuditEvent>, Error>;
    /// Audit events after `after_id`, oldest first, at most `limit`.
    async fn audit_after(&self, after_id: i64, limit: i64) -> Result<Vec<AuditEvent>, Error>;
}

/// The last inventory of each tenant, which the next one compares with (drift).
#[async_trait::async_trait]
pub trait InventoryStore: Send + Sync {
    /// The tenant's last inventory snapshot, if it has had one.
    async fn inventory_snapshot(&self, tenant: &str) -> Result<Option<InventorySnapshotRecord>, Error>;
    /// Replaces the tenant's snapshot.
    async fn put_inventory_snapshot(&self, snapshot: &InventorySnapshotRecord) -> Result<(), Error>;
}
