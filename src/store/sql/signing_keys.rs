//! Tenant signing-key rotations in SQL: one row per rotation with its leased, fenced state, and
//! the history of the signing keys keyward saw.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::row::{fetch_all_as, fetch_one_as, fetch_optional_as, is_unique_violation, lease_from_row};
use crate::Error;
use crate::clock::Timestamp;
use crate::store::types::{Lease, SigningKeyRecord, SigningKeyRotationRecord};

const COLUMNS: &str = "id, tenant, request_id, request_hash, state, detail, previous_kid, rotated_at, \
     revoke_not_before, next_check_at, requested_by, created_at, updated_at, lease_owner, lease_token, lease_expires_at";

fn from_row(row: &AnyRow) -> Result<SigningKeyRotationRecord, Error> {
    let e = Error::database;
    Ok(SigningKeyRotationRecord {
        id: row.try_get("id").map_err(e)?,
        tenant: row.try_get("tenant").map_err(e)?,
        request_id: row.try_get("request_id").map_err(e)?,
        request_hash: row.try_get("request_hash").map_err(e)?,
        state: row.try_get("state").map_err(e)?,
        detail: row.try_get("detail").map_err(e)?,
        previous_kid: row.try_get("previous_kid").map_err(e)?,
        rotated_at: row.try_get("rotated_at").map_err(e)?,
        revoke_not_before: row.try_get("revoke_not_before").map_err(e)?,
        next_check_at: row.try_get("next_check_at").map_err(e)?,
        requested_by: row.try_get("requested_by").map_err(e)?,
        created_at: row.try_get("created_at").map_err(e)?,
        updated_at: row.try_get("updated_at").map_err(e)?,
        lease: lease_from_row(row)?,
    })
}

/// Records a rotation; `false` when its request_id is known or the tenant has a pending one.
pub(super) async fn insert(pool: &AnyPool, r: &SigningKeyRotationRecord) -> Result<bool, Error> {
    let sql = format!(
        "INSERT INTO signing_key_rotations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
         $14, $15, $16)"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(r.id.clone())
        .bind(r.tenant.clone())
        .bind(r.request_id.clone())
        .bind(r.request_hash.clone())
        .bind(r.state.clone())
        .bind(r.detail.clone())
        .bind(r.previous_kid.clone())
        .bind(r.rotated_at)
        .bind(r.revoke_not_before)
        .bind(r.next_check_at)
        .bind(r.requested_by.clone())
        .bind(r.created_at)
        .bind(r.updated_at)
        .bind(r.lease.owner.clone())
        .bind(r.lease.token)
        .bind(r.lease.expires_at)
        .execute(pool)
        .await;
    match done {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(Error::database(e)),
    }
}

/// A rotation by id.
pub(super) async fn by_id(pool: &AnyPool, id: &str) -> Result<Option<SigningKeyRotationRecord>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM signing_key_rotations WHERE id = $1");
    fetch_optional_as(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.to_owned()), pool, from_row).await
}

/// A rotation by request_id.
pub(super) async fn by_request(
    pool: &AnyPool,
    tenant: &str,
    request_id: &str,
) -> Result<Option<SigningKeyRotationRecord>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM signing_key_rotations WHERE tenant = $1 AND request_id = $2");
    fetch_optional_as(
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_owned()).bind(request_id.to_owned()),
        pool,
        from_row,
    )
    .await
}

/// The tenant's rotations, newest first, at most `limit`.
pub(super) async fn of_tenant(
    pool: &AnyPool,
    tenant: &str,
    limit: i64,
) -> Result<Vec<SigningKeyRotationRecord>, Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM signing_key_rotations WHERE tenant = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
    );
    fetch_all_as(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_owned()).bind(limit), pool, from_row).await
}

/// Rotations with work left (pending, waiting, revoking) due by `now` whose lease is free,
/// lapsed or `owner`'s, oldest first.
pub(super) async fn due(
    pool: &AnyPool,
    now: Timestamp,
    owner: Option<&str>,
) -> Result<Vec<SigningKeyRotationRecord>, Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM signing_key_rotations WHERE state IN ('pending', 'waiting', 'revoking') \
         AND next_check_at <= $1 AND (lease_owner IS NULL OR lease_expires_at <= $1 OR lease_owner = $2) \
         ORDER BY created_at"
    );
    fetch_all_as(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(owner.map(str::to_owned)), pool, from_row).await
}

/// When the tenant's signing keys last rotated through keyward.
pub(super) async fn last_rotated(pool: &AnyPool, tenant: &str) -> Result<Option<Timestamp>, Error> {
    let query = sqlx::query("SELECT MAX(rotated_at) AS at FROM signing_key_rotations WHERE tenant = $1")
        .bind(tenant.to_owned());
    fetch_one_as(query, pool, |row| row.try_get::<Option<Timestamp>, _>("at").map_err(Error::database)).await
}

/// Claims a rotation's lease when it is free, lapsed or `owner`'s, raising its token.
pub(super) async fn claim(
    pool: &AnyPool,
    id: &str,
    owner: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<Option<Lease>, Error> {
    let query = sqlx::query(
        "UPDATE signing_key_rotations SET lease_owner = $1, lease_token = lease_token + 1, lease_expires_at = $2 \
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

fn lost(id: &str) -> Error {
    Error::LeaseLost { rotation: format!("signing-key rotation {id}") }
}

/// Writes the rotation's state fenced by `lease`'s token; keeps the lease until `expires_at`, or
/// frees it when `release`.
pub(super) async fn save(
    pool: &AnyPool,
    r: &SigningKeyRotationRecord,
    lease: &Lease,
    release: bool,
    expires_at: Timestamp,
) -> Result<Lease, Error> {
    let (owner, expires_at) = if release { (None, Timestamp::EPOCH) } else { (lease.owner.clone(), expires_at) };
    let done = sqlx::query(
        "UPDATE signing_key_rotations SET state = $1, detail = $2, previous_kid = $3, rotated_at = $4, \
         revoke_not_before = $5, next_check_at = $6, updated_at = $7, lease_owner = $8, lease_expires_at = $9 \
         WHERE id = $10 AND lease_token = $11",
    )
    .bind(r.state.clone())
    .bind(r.detail.clone())
    .bind(r.previous_kid.clone())
    .bind(r.rotated_at)
    .bind(r.revoke_not_before)
    .bind(r.next_check_at)
    .bind(r.updated_at)
    .bind(owner.clone())
    .bind(expires_at)
    .bind(r.id.clone())
    .bind(lease.token)
    .execute(pool)
    .await
    .map_err(Error::database)?;
    if done.rows_affected() != 1 {
        return Err(lost(&r.id));
    }
    Ok(Lease { owner, token: lease.token, expires_at })
}

/// Records what keyward saw of a signing key.
pub(super) async fn record_key(pool: &AnyPool, k: &SigningKeyRecord) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO signing_keys (tenant, kid, cert, pkcs7, fingerprint, thumbprint, status, verified, first_seen, \
         last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (tenant, kid) DO UPDATE SET \
         status = excluded.status, verified = excluded.verified, last_seen = excluded.last_seen",
    )
    .bind(k.tenant.clone())
    .bind(k.kid.clone())
    .bind(k.cert.clone())
    .bind(k.pkcs7.clone())
    .bind(k.fingerprint.clone())
    .bind(k.thumbprint.clone())
    .bind(k.status.clone())
    .bind(i64::from(k.verified))
    .bind(k.seen_at)
    .bind(k.seen_at)
    .execute(pool)
    .await
    .map_err(Error::database)?;
    Ok(())
}

/// The signing keys keyward saw for a tenant.
pub(super) async fn keys(pool: &AnyPool, tenant: &str) -> Result<Vec<SigningKeyRecord>, Error> {
    let query = sqlx::query(
        "SELECT tenant, kid, cert, pkcs7, fingerprint, thumbprint, status, verified, last_seen FROM signing_keys \
         WHERE tenant = $1 ORDER BY first_seen, kid",
    )
    .bind(tenant.to_owned());
    fetch_all_as(query, pool, |row| {
        let e = Error::database;
        Ok(SigningKeyRecord {
            tenant: row.try_get("tenant").map_err(e)?,
            kid: row.try_get("kid").map_err(e)?,
            cert: row.try_get("cert").map_err(e)?,
            pkcs7: row.try_get("pkcs7").map_err(e)?,
            fingerprint: row.try_get("fingerprint").map_err(e)?,
            thumbprint: row.try_get("thumbprint").map_err(e)?,
            status: row.try_get("status").map_err(e)?,
            verified: row.try_get::<i64, _>("verified").map_err(e)? != 0,
            seen_at: row.try_get("last_seen").map_err(e)?,
        })
    })
    .await
}
