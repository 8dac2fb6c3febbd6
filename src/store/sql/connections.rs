//! Connection key rotations in SQL: one row per request_id holding the recorded result, and the
//! history of the connection keys keyward saw, and the leases on them.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::row::{fetch_one_as, fetch_optional_as, is_unique_violation, lease_from_row};
use crate::Error;
use crate::clock::Timestamp;
use crate::store::types::{ConnectionKeyRecord, ConnectionRotationRecord, Lease};

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

/// When the connection's keys were last rotated to completion through keyward.
pub(super) async fn last_rotated(
    pool: &AnyPool,
    tenant: &str,
    connection_id: &str,
) -> Result<Option<Timestamp>, Error> {
    // Finished rotations only: their recorded result is `{"state":"done",…}`.
    let query = sqlx::query(
        "SELECT MAX(created_at) AS at FROM connection_rotations WHERE tenant = $1 AND connection_id = $2 \
         AND result NOT LIKE '{\"state\":\"pending\"%'",
    )
    .bind(tenant.to_owned())
    .bind(connection_id.to_owned());
    fetch_one_as(query, pool, |row| row.try_get::<Option<Timestamp>, _>("at").map_err(Error::database)).await
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

/// Claims a connection rotation's lease (see [`Store::claim_connection_rotation`]).
///
/// [`Store::claim_connection_rotation`]: crate::store::Store::claim_connection_rotation
pub(super) async fn claim_connection_rotation(
    pool: &AnyPool,
    id: &str,
    owner: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<Option<Lease>, Error> {
    let query = sqlx::query(
        "UPDATE connection_rotations SET lease_owner = $1, lease_token = lease_token + 1, lease_expires_at = $2 \
         WHERE id = $3 AND (lease_owner IS NULL OR lease_owner = $1 OR lease_expires_at <= $4) RETURNING lease_token",
    )
    .bind(owner.to_owned())
    .bind(expires_at)
    .bind(id.to_owned())
    .bind(now);
    let token =
        fetch_optional_as(query, pool, |row| row.try_get::<i64, _>("lease_token").map_err(Error::database)).await?;
    Ok(token.map(|token| Lease { owner: Some(owner.to_owned()), token, expires_at }))
}

fn connection_lease_lost(id: &str) -> Error {
    Error::LeaseLost { rotation: format!("connection rotation {id}") }
}

/// Renews a connection rotation's lease if its token is still the row's.
pub(super) async fn renew_connection_lease(
    pool: &AnyPool,
    id: &str,
    lease: &Lease,
    now: Timestamp,
    ttl_ms: i64,
) -> Result<Lease, Error> {
    let expires_at = now.plus_ms(ttl_ms);
    let done = sqlx::query(
        "UPDATE connection_rotations SET lease_expires_at = $1 WHERE id = $2 AND lease_owner = $3 AND lease_token = $4",
    )
    .bind(expires_at)
    .bind(id.to_owned())
    .bind(lease.owner.clone())
    .bind(lease.token)
    .execute(pool)
    .await
    .map_err(Error::database)?;
    if done.rows_affected() != 1 {
        return Err(connection_lease_lost(id));
    }
    Ok(Lease { expires_at, ..lease.clone() })
}

/// Records a connection rotation's result and frees its lease, fenced by the lease's token.
pub(super) async fn finish_connection_rotation(
    pool: &AnyPool,
    id: &str,
    lease: &Lease,
    result: &str,
    verified: bool,
) -> Result<(), Error> {
    let done = sqlx::query(
        "UPDATE connection_rotations SET result = $1, verified = $2, lease_owner = NULL, lease_expires_at = 0 \
         WHERE id = $3 AND lease_token = $4",
    )
    .bind(result.to_owned())
    .bind(i64::from(verified))
    .bind(id.to_owned())
    .bind(lease.token)
    .execute(pool)
    .await
    .map_err(Error::database)?;
    if done.rows_affected() != 1 {
        return Err(connection_lease_lost(id));
    }
    Ok(())
}
