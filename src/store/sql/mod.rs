//! [`Store`] on SQLite or PostgreSQL through sqlx's `Any` driver: the same SQL for both
//! (`$N` placeholders, partial unique indexes, integer flags and millisecond timestamps), with
//! a migration set per dialect.
//!
//! Each concept's SQL and row mapping has a module of its own (`rotations`, `keys`, `fence`,
//! `connections`, `policies`, `revocations`, `audit`, `inventory`), built on the shared helpers in `row`;
//! `forget` makes the database's files forget destroyed keys; `pool` connects and migrates.
//! This module implements [`Store`] by handing each call to its concept's module.

mod audit;
mod connections;
mod fence;
mod forget;
mod inventory;
mod keys;
mod policies;
mod pool;
mod revocations;
mod rotations;
mod row;
mod signing_keys;

use sqlx::AnyPool;

use super::types::{
    ConnectionKeyRecord, ConnectionRotationRecord, Inserted, KeyRecord, KeyState, Lease, PolicyKind, PolicyRecord,
    RevocationRecord, RotationRecord, RotationState, SigningKeyRecord, SigningKeyRotationRecord,
};
use super::{
    AuditEvent, AuditKind, AuditStore, ConnectionStore, InventorySnapshotRecord, InventoryStore, KeyStore, PolicyStore,
    RevocationStore, RotationFilter, RotationStore, SigningKeyStore, Store,
};
use crate::Error;
use crate::clock::Timestamp;
use crate::clock::{SharedClock, SystemClock};
use crate::seal::Sealed;
use row::Dialect;

/// The SQL store.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
    lease_ttl_ms: i64,
    clock: SharedClock,
}

/// How long a lease lasts unless a saga step renews it (the default of `[scheduler] lease_ttl`).
const DEFAULT_LEASE_TTL_MS: i64 = 30_000;

impl SqlStore {
    /// Connects to `sqlite://PATH` (created when missing) or `postgres://…` and applies the
    /// migrations.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let (pool, dialect) = pool::open(url).await?;
        let store = Self { pool, dialect, lease_ttl_ms: DEFAULT_LEASE_TTL_MS, clock: SystemClock::shared() };
        pool::migrate(&store.pool, dialect).await?;
        Ok(store)
    }

    /// Reads lease expiries and `updated_at` times from `clock` (the system clock by default).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets how long the lease on a rotation lasts past each saga write.
    pub fn with_lease_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.lease_ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        self
    }

    /// Overwrites a key's mutable fields whole, unconditionally. For tests and repairs only:
    /// the service writes keys through [`Store`]'s fenced, state-checked methods and never
    /// through this one.
    pub async fn overwrite_key(&self, k: &KeyRecord) -> Result<(), Error> {
        keys::overwrite(&self.pool, k).await
    }

    /// The database in use.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl Store for SqlStore {
    fn kind(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    fn lease_ttl_ms(&self) -> i64 {
        self.lease_ttl_ms
    }
}

#[async_trait::async_trait]
impl RotationStore for SqlStore {
    async fn insert_rotation(&self, r: &RotationRecord) -> Result<Inserted, Error> {
        rotations::insert(&self.pool, r).await
    }

    async fn rotation(&self, rotation_id: &str) -> Result<Option<RotationRecord>, Error> {
        rotations::by_id(&self.pool, rotation_id).await
    }

    async fn rotation_by_request(&self, tenant: &str, request_id: &str) -> Result<Option<RotationRecord>, Error> {
        rotations::by_request(&self.pool, tenant, request_id).await
    }

    async fn rotation_by_old_key(&self, key_id: &str) -> Result<Option<RotationRecord>, Error> {
        rotations::by_old_key(&self.pool, key_id).await
    }

    async fn list_rotations(&self, filter: &RotationFilter, limit: i64) -> Result<Vec<RotationRecord>, Error> {
        rotations::list(&self.pool, filter, limit).await
    }

    async fn open_rotations(&self) -> Result<Vec<RotationRecord>, Error> {
        rotations::open(&self.pool).await
    }

    async fn rotations_in_state(&self, state: RotationState) -> Result<Vec<RotationRecord>, Error> {
        rotations::in_state(&self.pool, state).await
    }

    async fn update_rotation(&self, rotation: &mut RotationRecord) -> Result<(), Error> {
        fence::update_rotation(&self.pool, rotation, self.clock.now(), self.lease_ttl_ms).await
    }

    async fn save_generated_key(&self, k: &KeyRecord, rotation: &mut RotationRecord) -> Result<(), Error> {
        fence::save_generated_key(&self.pool, k, rotation, self.clock.now(), self.lease_ttl_ms).await
    }

    async fn activate(
        &self,
        rotation: &mut RotationRecord,
        new_key: &str,
        old_key: Option<&str>,
        retire_at: Timestamp,
    ) -> Result<(), Error> {
        fence::activate(&self.pool, rotation, new_key, old_key, retire_at, self.clock.now(), self.lease_ttl_ms).await
    }

    async fn renew_rotation_lease(&self, rotation: &RotationRecord) -> Result<Lease, Error> {
        fence::renew(&self.pool, rotation, self.clock.now(), self.lease_ttl_ms).await
    }

    async fn save_registered(
        &self,
        rotation: &mut RotationRecord,
        key_id: &str,
        credential_id: &str,
    ) -> Result<(), Error> {
        fence::save_registered(&self.pool, rotation, key_id, credential_id, self.clock.now(), self.lease_ttl_ms).await
    }

    async fn save_failed(&self, rotation: &mut RotationRecord) -> Result<bool, Error> {
        let wiped = fence::save_failed(&self.pool, rotation, self.clock.now(), self.lease_ttl_ms).await?;
        forget::old_pages(&self.pool, self.dialect, wiped).await;
        Ok(wiped)
    }

    async fn close_retirement(&self, key_id: &str, rotation: Option<&mut RotationRecord>) -> Result<bool, Error> {
        let wiped = fence::close_retirement(&self.pool, key_id, rotation, self.clock.now(), self.lease_ttl_ms).await?;
        forget::old_pages(&self.pool, self.dialect, wiped).await;
        Ok(wiped)
    }

    async fn may_remove_credential(
        &self,
        fence_on: Option<&RotationRecord>,
        tenant: &str,
        client_id: &str,
        credential_id: &str,
        own_key: Option<&str>,
    ) -> Result<bool, Error> {
        fence::may_remove_credential(
            &self.pool,
            fence_on,
            tenant,
            client_id,
            credential_id,
            own_key,
            self.clock.now().plus_ms(self.lease_ttl_ms),
        )
        .await
    }

    async fn claim_rotation(
        &self,
        rotation_id: &str,
        owner: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Option<RotationRecord>, Error> {
        fence::claim_rotation(&self.pool, rotation_id, owner, now, expires_at).await
    }
}

#[async_trait::async_trait]
impl KeyStore for SqlStore {
    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, Error> {
        keys::by_id(&self.pool, key_id).await
    }

    async fn keys(&self, tenant: &str, client_id: &str) -> Result<Vec<KeyRecord>, Error> {
        keys::of_client(&self.pool, tenant, client_id).await
    }

    async fn keys_in_state(&self, state: KeyState) -> Result<Vec<KeyRecord>, Error> {
        keys::in_state(&self.pool, state).await
    }

    async fn keys_sealed_by_other(&self, kek_id: &str) -> Result<Vec<KeyRecord>, Error> {
        keys::sealed_by_other(&self.pool, kek_id).await
    }

    async fn rewrap_key(&self, key_id: &str, old_kek_id: &str, sealed: &Sealed) -> Result<bool, Error> {
        keys::rewrap(&self.pool, key_id, old_kek_id, sealed).await
    }

    async fn key_version(&self) -> Result<String, Error> {
        keys::version(&self.pool).await
    }

    async fn extend_signed_exp(&self, key_id: &str, until: Timestamp) -> Result<bool, Error> {
        keys::extend_signed_exp(&self.pool, key_id, until).await
    }

    async fn begin_retirement(&self, key_id: &str, now: Timestamp, early: bool) -> Result<bool, Error> {
        keys::begin_retirement(&self.pool, key_id, now, early).await
    }

    async fn keys_retired_unfinished(&self) -> Result<Vec<KeyRecord>, Error> {
        keys::retired_unfinished(&self.pool).await
    }
}

#[async_trait::async_trait]
impl ConnectionStore for SqlStore {
    async fn insert_connection_rotation(&self, c: &ConnectionRotationRecord) -> Result<bool, Error> {
        connections::insert(&self.pool, c).await
    }

    async fn connection_rotation(
        &self,
        tenant: &str,
        request_id: &str,
    ) -> Result<Option<ConnectionRotationRecord>, Error> {
        connections::by_request(&self.pool, tenant, request_id).await
    }

    async fn last_connection_rotation(&self, tenant: &str, connection_id: &str) -> Result<Option<Timestamp>, Error> {
        connections::last_rotated(&self.pool, tenant, connection_id).await
    }

    async fn finish_connection_rotation(
        &self,
        id: &str,
        lease: &Lease,
        result: &str,
        verified: bool,
    ) -> Result<(), Error> {
        connections::finish_connection_rotation(&self.pool, id, lease, result, verified).await
    }

    async fn claim_connection_rotation(
        &self,
        id: &str,
        owner: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Option<Lease>, Error> {
        connections::claim_connection_rotation(&self.pool, id, owner, now, expires_at).await
    }

    async fn renew_connection_lease(&self, id: &str, lease: &Lease) -> Result<Lease, Error> {
        connections::renew_connection_lease(&self.pool, id, lease, self.clock.now(), self.lease_ttl_ms).await
    }

    async fn record_connection_key(&self, k: &ConnectionKeyRecord) -> Result<(), Error> {
        connections::record_key(&self.pool, k).await
    }
}

#[async_trait::async_trait]
impl SigningKeyStore for SqlStore {
    async fn insert_signing_key_rotation(&self, r: &SigningKeyRotationRecord) -> Result<bool, Error> {
        signing_keys::insert(&self.pool, r).await
    }

    async fn signing_key_rotation(&self, id: &str) -> Result<Option<SigningKeyRotationRecord>, Error> {
        signing_keys::by_id(&self.pool, id).await
    }

    async fn signing_key_rotation_by_request(
        &self,
        tenant: &str,
        request_id: &str,
    ) -> Result<Option<SigningKeyRotationRecord>, Error> {
        signing_keys::by_request(&self.pool, tenant, request_id).await
    }

    async fn signing_key_rotations(&self, tenant: &str, limit: i64) -> Result<Vec<SigningKeyRotationRecord>, Error> {
        signing_keys::of_tenant(&self.pool, tenant, limit).await
    }

    async fn signing_key_rotations_due(
        &self,
        now: Timestamp,
        owner: Option<&str>,
    ) -> Result<Vec<SigningKeyRotationRecord>, Error> {
        signing_keys::due(&self.pool, now, owner).await
    }

    async fn last_signing_key_rotation(&self, tenant: &str) -> Result<Option<Timestamp>, Error> {
        signing_keys::last_rotated(&self.pool, tenant).await
    }

    async fn claim_signing_key_rotation(
        &self,
        id: &str,
        owner: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Option<Lease>, Error> {
        signing_keys::claim(&self.pool, id, owner, now, expires_at).await
    }

    async fn save_signing_key_rotation(
        &self,
        r: &SigningKeyRotationRecord,
        lease: &Lease,
        release: bool,
    ) -> Result<Lease, Error> {
        let expires_at = self.clock.now().plus_ms(self.lease_ttl_ms);
        signing_keys::save(&self.pool, r, lease, release, expires_at).await
    }

    async fn record_signing_key(&self, k: &SigningKeyRecord) -> Result<(), Error> {
        signing_keys::record_key(&self.pool, k).await
    }

    async fn signing_keys(&self, tenant: &str) -> Result<Vec<SigningKeyRecord>, Error> {
        signing_keys::keys(&self.pool, tenant).await
    }
}

#[async_trait::async_trait]
impl PolicyStore for SqlStore {
    async fn put_policy(&self, policy: &PolicyRecord) -> Result<(), Error> {
        policies::put(&self.pool, policy).await
    }

    async fn delete_policy(&self, tenant: &str, kind: PolicyKind, target: &str) -> Result<bool, Error> {
        policies::delete(&self.pool, tenant, kind, target).await
    }

    async fn policies(&self) -> Result<Vec<PolicyRecord>, Error> {
        policies::all(&self.pool).await
    }

    async fn set_policy_due(
        &self,
        tenant: &str,
        kind: PolicyKind,
        target: &str,
        due_at: Option<Timestamp>,
    ) -> Result<(), Error> {
        policies::set_due(&self.pool, tenant, kind, target, due_at).await
    }

    async fn claim_due_policies(
        &self,
        owner: &str,
        now: Timestamp,
        expires_at: Timestamp,
        limit: i64,
    ) -> Result<Vec<PolicyRecord>, Error> {
        policies::claim_due(&self.pool, self.dialect, owner, now, expires_at, limit).await
    }

    async fn finish_policy(
        &self,
        policy: &PolicyRecord,
        result: &str,
        rotated_at: Option<Timestamp>,
        due_at: Option<Timestamp>,
    ) -> Result<bool, Error> {
        policies::finish(&self.pool, policy, result, rotated_at, due_at).await
    }
}

#[async_trait::async_trait]
impl RevocationStore for SqlStore {
    async fn insert_revocation(&self, r: &RevocationRecord) -> Result<Option<RevocationRecord>, Error> {
        revocations::insert(&self.pool, r).await
    }

    async fn revocation(&self, revocation_id: &str) -> Result<Option<RevocationRecord>, Error> {
        revocations::by_id(&self.pool, revocation_id).await
    }

    async fn revocation_of_key(&self, key_id: &str) -> Result<Option<RevocationRecord>, Error> {
        revocations::of_key(&self.pool, key_id).await
    }

    async fn open_revocations(&self) -> Result<Vec<RevocationRecord>, Error> {
        revocations::open(&self.pool).await
    }

    async fn claim_revocation(
        &self,
        revocation_id: &str,
        owner: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Option<RevocationRecord>, Error> {
        revocations::claim(&self.pool, revocation_id, owner, now, expires_at).await
    }

    async fn renew_revocation_lease(&self, revocation: &RevocationRecord) -> Result<Lease, Error> {
        revocations::renew(&self.pool, revocation, self.clock.now(), self.lease_ttl_ms).await
    }

    async fn save_revocation(&self, revocation: &mut RevocationRecord) -> Result<(), Error> {
        let destroyed = revocations::save(&self.pool, revocation, self.clock.now(), self.lease_ttl_ms).await?;
        forget::old_pages(&self.pool, self.dialect, destroyed).await;
        Ok(())
    }
}

#[async_trait::async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, e: &AuditEvent) -> Result<i64, Error> {
        let at = if e.at == Timestamp::EPOCH { self.clock.now() } else { e.at };
        audit::append(&self.pool, e, at).await
    }

    async fn last_audit(&self, kind: AuditKind) -> Result<Option<AuditEvent>, Error> {
        audit::last(&self.pool, kind).await
    }

    async fn audit_after(&self, after_id: i64, limit: i64) -> Result<Vec<AuditEvent>, Error> {
        audit::after(&self.pool, after_id, limit).await
    }
}

#[async_trait::async_trait]
impl InventoryStore for SqlStore {
    async fn inventory_snapshot(&self, tenant: &str) -> Result<Option<InventorySnapshotRecord>, Error> {
        inventory::get(&self.pool, tenant).await
    }

    async fn put_inventory_snapshot(&self, snapshot: &InventorySnapshotRecord) -> Result<(), Error> {
        inventory::put(&self.pool, snapshot).await
    }
}
