//! Inventory snapshots in SQL: one row per tenant, replaced by each inventory.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::row::fetch_optional_as;
use crate::Error;
use crate::store::InventorySnapshotRecord;

fn from_row(row: &AnyRow) -> Result<InventorySnapshotRecord, Error> {
    Ok(InventorySnapshotRecord {
        tenant: row.try_get("tenant").map_err(Error::database)?,
        taken_at: row.try_get("taken_at").map_err(Error::database)?,
        snapshot: row.try_get("snapshot").map_err(Error::database)?,
    })
}

/// The tenant's last snapshot.
pub(super) async fn get(pool: &AnyPool, tenant: &str) -> Result<Option<InventorySnapshotRecord>, Error> {
    let query = sqlx::query("SELECT tenant, taken_at, snapshot FROM inventory_snapshots WHERE tenant = $1")
        .bind(tenant.to_owned());
    fetch_optional_as(query, pool, from_row).await
}

/// Stores the tenant's snapshot in place of the last one.
pub(super) async fn put(pool: &AnyPool, r: &InventorySnapshotRecord) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO inventory_snapshots (tenant, taken_at, snapshot) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant) DO UPDATE SET taken_at = excluded.taken_at, snapshot = excluded.snapshot",
    )
    .bind(r.tenant.clone())
    .bind(r.taken_at)
    .bind(r.snapshot.clone())
    .execute(pool)
    .await
    .map_err(Error::database)?;
    Ok(())
}
