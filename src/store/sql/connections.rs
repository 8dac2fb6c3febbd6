//! Connection key rotations in SQL: one row per request_id holding the recorded result, and the
//! history of the connection keys keyward saw. Their leases are in `fence`.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::row::{fetch_one_as, fetch_optional_as, is_unique_violation, lease_from_row};
use crate::Error;
use crate::store::types::{ConnectionKeyRecord, ConnectionRotationRecord};

fn from_row(row: &AnyRow) -> Result<ConnectionRotationRecord, Error> {
    let get_err = Error::database;
    Ok(ConnectionRotationRecord {
        id: row.try_get("id").map_err(get_err)?,
        tenant: row.try_get("tenant").map_err(get_err)?,
        connection_id: row.try_get("connection_id").map_err(get_err)?,
        request_id: row.try_get("request_id").map_err(get_err)?,
        request_hash: row.try_get("request_hash").map_err(get_err)?,
        result: row.try_get("result").map_err(get_err)?,
        verified: row.try_get::<i64, _>("verified").map_err(get_err)? != 0,
        created_at: row.try_get("created_at").map_err(get_err)?,
        lease: lease_from_row(row)?,
        requested_by: row.try_get("requested_by").map_err(get_err)?,
    })
}

/// Records a connection rotation; `false` when its request_id is already recorded.
pub(super) async fn insert(pool: &AnyPool, c: &ConnectionRotationRecord) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO connection_rotations (id, tenant, connection_id, request_id, request_hash, result, verified, \
         created_at, lease_owner, lease_token, lease_expires_at, requested_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(c.id.clone())
    .bind(c.tenant.clone())
    .bind(c.connection_id.clone())
    .bind(c.request_id.clone())
    .bind(c.request_hash.clone())
    .bind(c.result.clone())
    .bind(i64::from(c.verified))
    .bind(c.created_at)
    .bind(c.lease.owner.clone())
    .bind(c.lease.token)
    .bind(c.lease.expires_at)
    .bind(c.requested_by.clone())
    .execute(pool)
    .await;
    match done {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(Error::database(e)),
    }
}

/// A connection rotation by request_id.
pub(super) async fn by_request(
    pool: &AnyPool,
    tenant: &str,
    request_id: &str,
) -> Result<Option<ConnectionRotationRecord>, Error> {
    let query = sqlx::query(
        "SELECT id, tenant, connection_id, request_id, request_hash, result, verified, created_at, lease_owner, \
         lease_token, lease_expires_at, requested_by FROM connection_rotations WHERE tenant = $1 AND request_id = $2",
    )
    .bind(tenant.to_owned())
    .bind(request_id.to_owned());
    fetch_optional_as(query, pool, from_row).await
}

/// When the connection's keys were last rotated to completion through keyward (UNIX ms).
pub(super) async fn last_rotated(pool: &AnyPool, tenant: &str, connection_id: &str) -> Result<Option<i64>, Error> {
    // Finished rotations only: their recorded result is `{"state":"done",…}`.
    let query = sqlx::query(
        "SELECT MAX(created_at) AS at FROM connection_rotations WHERE tenant = $1 AND connection_id = $2 \
         AND result NOT LIKE '{\"state\":\"pending\"%'",
    )
    .bind(tenant.to_owned())
    .bind(connection_id.to_owned());
    fetch_one_as(query, pool, |row| row.try_get::<Option<i64>, _>("at").map_err(Error::database)).await
}

/// Records what keyward saw of a connection key: first seen once, then status, verdict and
/// last seen.
pub(super) async fn record_key(pool: &AnyPool, k: &ConnectionKeyRecord) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO connection_keys (tenant, connection_id, kid, algorithm, subject_dn, cert, fingerprint, thumbprint, \
         pkcs, status, verified, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (tenant, connection_id, kid) DO UPDATE SET status = excluded.status, \
         verified = excluded.verified, last_seen = excluded.last_seen",
    )
    .bind(k.tenant.clone())
    .bind(k.connection_id.clone())
    .bind(k.kid.clone())
    .bind(k.algorithm.clone())
    .bind(k.subject_dn.clone())
    .bind(k.cert.clone())
    .bind(k.fingerprint.clone())
    .bind(k.thumbprint.clone())
    .bind(k.pkcs.clone())
    .bind(k.status.clone())
    .bind(i64::from(k.verified))
    .bind(k.seen_at)
    .bind(k.seen_at)
    .execute(pool)
    .await
    .map_err(Error::database)?;
    Ok(())
}
