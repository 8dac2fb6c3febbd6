//! A tenant's inventory (`KeyRotation.GetTenantInventory`): what Auth0 holds, read in full
//! (`read`), flagged (`flags`), compared with the last inventory for changes made outside keyward
//! (`drift`), and published as metrics and, when drift is found, an `inventory.drift` audit
//! event. Changes nothing at Auth0.

mod drift;
mod flags;
mod read;
mod types;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

pub use types::{
    ClientEntry, ConnectionKeyEntry, CredentialEntry, DriftEntry, DriftKind, DriftWhat, Flag, Gap, Inventory,
    SigningKeyEntry,
};

use crate::Error;
use crate::clock::Timestamp;
use crate::rotation::Engine;
use crate::store::{AuditEvent, AuditKind, InventorySnapshotRecord, PolicyKind, RotationFilter, Store};
use crate::telemetry::metrics::metrics;
use crate::tenant::Tenant;

/// The rotations read for the credentials they removed since the last inventory, newest first.
const MAX_ROTATIONS_READ: i64 = 1_000;
/// An `inventory.drift` audit event lists at most this many changes (and counts them all).
const MAX_AUDITED: usize = 50;

/// Takes the inventory of `tenant` for `actor` (audited as such when drift is found) and
/// stores what it saw for the next one to compare with.
pub async fn take(engine: &Engine, tenant: &str, actor: &str) -> Result<Inventory, Error> {
    let t = engine.tenant(tenant)?;
    let store = engine.store();
    let now = engine.clock().now();
    let rules = flags::Rules { now, expiry_window: t.config.inventory.expiry_window };

    // Auth0 first, then the store: a rotation that registers a key meanwhile is then already
    // keyward's when its record is compared.
    let mut clients = read::clients(&t.auth0, &t.config.clients).await?;
    let mut gaps = Vec::new();
    let mut connection_keys = read::connection_keys(&t.auth0, &t.config.connections, &mut gaps).await;
    let mut signing_keys = read::signing_keys(&t.auth0, &mut gaps).await;
    let ours = ours(&**store, t).await?;
    let policies = policies(&**store, tenant).await?;

    for c in &mut clients {
        let max_age = policies.get(&(PolicyKind::Client, c.client_id.clone())).copied();
        for r in &mut c.credentials {
            r.managed = ours.keys.get(&r.credential_id).copied();
            r.flags = rules.credential(r, max_age);
        }
    }
    for k in &mut connection_keys {
        let interval = policies.get(&(PolicyKind::Connection, k.connection_id.clone())).copied();
        k.flags = rules.connection_key(k, interval);
    }
    for k in &mut signing_keys {
        k.flags = rules.signing_key(k);
    }

    let snapshot = drift::Snapshot::of(&clients);
    let previous = store.inventory_snapshot(tenant).await?;
    let (drift, previous_taken_at) = match previous {
        None => (Vec::new(), None),
        Some(p) => match drift::Snapshot::from_json(&p.snapshot) {
            Ok(before) => {
                let mut ours = ours;
                ours.removed = removed_by_rotations(&**store, tenant).await?;
                (drift::diff(&before, &snapshot, &ours), Some(p.taken_at))
            }
            Err(e) => {
                tracing::warn!(tenant, error = %e, "the last inventory snapshot does not read; this one is a new baseline");
                (Vec::new(), None)
            }
        },
    };
    let record = InventorySnapshotRecord { tenant: tenant.to_owned(), taken_at: now, snapshot: snapshot.to_json()? };
    store.put_inventory_snapshot(&record).await?;

    let inventory = Inventory {
        tenant: tenant.to_owned(),
        taken_at: now,
        expiry_window: rules.expiry_window,
        clients,
        connection_keys,
        signing_keys,
        drift,
        previous_taken_at,
        gaps,
    };
    if !inventory.drift.is_empty() {
        audit_drift(&**store, &inventory, actor).await;
    }
    publish(&inventory);
    Ok(inventory)
}

/// keyward's keys in the tenant, by Auth0 credential id.
async fn ours(store: &dyn Store, t: &Tenant) -> Result<drift::Ours, Error> {
    let (mut keys, mut methods) = (BTreeMap::new(), BTreeMap::new());
    for client in &t.config.clients {
        for k in store.keys(&t.config.name, client).await? {
            if let Some(id) = k.credential_id {
                if k.method != crate::store::CredentialMethod::PrivateKeyJwt {
                    methods.insert(id.clone(), k.method.as_str());
                }
                keys.insert(id, k.state);
            }
        }
    }
    Ok(drift::Ours { keys, removed: BTreeSet::new(), methods })
}

/// The tenant's policies: (kind, target) → maximum key age or interval.
async fn policies(store: &dyn Store, tenant: &str) -> Result<HashMap<(PolicyKind, String), Duration>, Error> {
    Ok(store
        .policies()
        .await?
        .into_iter()
        .filter(|p| p.tenant == tenant)
        .map(|p| ((p.kind, p.target), Duration::from_millis(u64::try_from(p.max_age_ms).unwrap_or(0))))
        .collect())
}

/// The credentials keyward's rotations in the tenant removed at Auth0 (evicted or deleted to make
/// room), from its latest rotations. Credential ids are never reused, so a removal older than
/// the last inventory is harmless to include, and including it covers a removal recorded before
/// that inventory but carried out after it.
async fn removed_by_rotations(store: &dyn Store, tenant: &str) -> Result<BTreeSet<String>, Error> {
    let filter = RotationFilter { tenant: Some(tenant.to_owned()), ..RotationFilter::default() };
    Ok(store
        .list_rotations(&filter, MAX_ROTATIONS_READ)
        .await?
        .into_iter()
        .flat_map(|r| r.removed.into_iter())
        .map(|r| r.credential_id)
        .collect())
}

/// Records the drift found (counted, and the first changes listed) in the audit log.
async fn audit_drift(store: &dyn Store, inv: &Inventory, actor: &str) {
    let listed: Vec<serde_json::Value> = inv
        .drift
        .iter()
        .take(MAX_AUDITED)
        .map(|d| {
            serde_json::json!({"kind": d.kind.as_str(), "what": d.what.as_str(), "client_id": d.client_id,
                "credential_id": d.credential_id, "slot": d.slot})
        })
        .collect();
    let detail = serde_json::json!({
        "count": inv.drift.len(),
        "previous_taken_at": inv.previous_taken_at.map(|t| t.as_millis()),
        "drift": listed,
    });
    let event = AuditEvent::new(AuditKind::InventoryDrift, actor, &inv.tenant, "", detail.to_string());
    if let Err(e) = store.append_audit(&event).await {
        tracing::warn!(tenant = %inv.tenant, error = %e, "audit event inventory.drift not recorded");
    }
}

/// Sets the inventory gauges of the tenant (labels: the configured tenant, a fixed kind and a
/// fixed flag; never a client, credential or key name).
fn publish(inv: &Inventory) {
    let m = metrics();
    let totals = (inv.credentials().count(), inv.connection_keys.len(), inv.signing_keys.len());
    m.inventory_records(&inv.tenant, "all", totals);
    for flag in Flag::ALL {
        m.inventory_records(&inv.tenant, flag.as_str(), inv.flagged(flag));
    }
    m.inventory_drift(&inv.tenant, inv.drift.len());
    m.inventory_earliest_expiry(&inv.tenant, inv.earliest_managed_expiry().map(Timestamp::as_secs));
}
