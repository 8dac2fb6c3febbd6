//! Emergency revocations in SQL: inserted once per key (and per request_id), claimed under a
//! lease with a fencing token, and moved on by fenced compare-and-set writes. Stopping a key and
//! destroying it happen in the same transaction as the revocation's state change.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::row::{claim_lease, fetch_all_as, fetch_optional_as, is_unique_violation, lease_from_row};
use crate::Error;
use crate::clock::Timestamp;
use crate::store::types::{Lease, RevocationRecord, RevocationState};

macro_rules! revocation_columns {
    () => {
        "revocation_id, tenant, client_id, credential_id, key_id, state, request_id, request_hash, reason, forced, \
         requested_by, key_was, error, created_at, updated_at, version, lease_owner, lease_token, lease_expires_at"
    };
}

fn from_row(row: &AnyRow) -> Result<RevocationRecord, Error> {
    let get = Error::database;
    let forced: i64 = row.try_get("forced").map_err(get)?;
    Ok(RevocationRecord {
        revocation_id: row.try_get("revocation_id").map_err(get)?,
        tenant: row.try_get("tenant").map_err(get)?,
        client_id: row.try_get("client_id").map_err(get)?,
        credential_id: row.try_get("credential_id").map_err(get)?,
        key_id: row.try_get("key_id").map_err(get)?,
        state: row.try_get::<String, _>("state").map_err(get)?.parse()?,
        request_id: row.try_get("request_id").map_err(get)?,
        request_hash: row.try_get("request_hash").map_err(get)?,
        reason: row.try_get("reason").map_err(get)?,
        force: forced != 0,
        requested_by: row.try_get("requested_by").map_err(get)?,
        key_was: row.try_get("key_was").map_err(get)?,
        error: row.try_get("error").map_err(get)?,
        created_at: row.try_get("created_at").map_err(get)?,
        updated_at: row.try_get("updated_at").map_err(get)?,
        version: row.try_get("version").map_err(get)?,
        lease: lease_from_row(row)?,
    })
}

/// Inserts `r`, or returns the revocation already recorded for its key or request_id.
pub(super) async fn insert(pool: &AnyPool, r: &RevocationRecord) -> Result<Option<RevocationRecord>, Error> {
    let inserted = sqlx::query(concat!(
        "INSERT INTO revocations (",
        revocation_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
    ))
    .bind(r.revocation_id.clone())
    .bind(r.tenant.clone())
    .bind(r.client_id.clone())
    .bind(r.credential_id.clone())
    .bind(r.key_id.clone())
    .bind(r.state.as_str())
    .bind(r.request_id.clone())
    .bind(r.request_hash.clone())
    .bind(r.reason.clone())
    .bind(i64::from(r.force))
    .bind(r.requested_by.clone())
    .bind(r.key_was.clone())
    .bind(r.error.clone())
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(r.version)
    .bind(r.lease.owner.clone())
    .bind(r.lease.token)
    .bind(r.lease.expires_at)
    .execute(pool)
    .await;
    match inserted {
        Ok(_) => Ok(None),
        Err(e) if is_unique_violation(&e) => {
            if let Some(req) = &r.request_id
                && let Some(existing) = by_request(pool, &r.tenant, req).await?
            {
                return Ok(Some(existing));
            }
            match of_key(pool, &r.key_id).await? {
                Some(existing) => Ok(Some(existing)),
                None => Err(Error::database(e)),
            }
        }
        Err(e) => Err(Error::database(e)),
    }
}

async fn by_request(pool: &AnyPool, tenant: &str, request_id: &str) -> Result<Option<RevocationRecord>, Error> {
    let query = sqlx::query(concat!(
        "SELECT ",
        revocation_columns!(),
        " FROM revocations WHERE tenant = $1 AND request_id = $2"
    ))
    .bind(tenant.to_owned())
    .bind(request_id.to_owned());
    fetch_optional_as(query, pool, from_row).await
}

/// A revocation by id.
pub(super) async fn by_id(pool: &AnyPool, id: &str) -> Result<Option<RevocationRecord>, Error> {
    let query = sqlx::query(concat!("SELECT ", revocation_columns!(), " FROM revocations WHERE revocation_id = $1"))
        .bind(id.to_owned());
    fetch_optional_as(query, pool, from_row).await
}

/// The revocation of `key_id`.
pub(super) async fn of_key(pool: &AnyPool, key_id: &str) -> Result<Option<RevocationRecord>, Error> {
    let query = sqlx::query(concat!("SELECT ", revocation_columns!(), " FROM revocations WHERE key_id = $1"))
        .bind(key_id.to_owned());
    fetch_optional_as(query, pool, from_row).await
}

/// Every open revocation, oldest first.
pub(super) async fn open(pool: &AnyPool) -> Result<Vec<RevocationRecord>, Error> {
    let query = sqlx::query(concat!(
        "SELECT ",
        revocation_columns!(),
        " FROM revocations WHERE state NOT IN ('completed', 'failed') ORDER BY created_at, revocation_id"
    ));
    fetch_all_as(query, pool, from_row).await
}

/// Claims the lease on a revocation when it is free, lapsed or already `owner`'s.
pub(super) async fn claim(
    pool: &AnyPool,
    id: &str,
    owner: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<Option<RevocationRecord>, Error> {
    let sql = "UPDATE revocations SET lease_owner = $1, lease_token = lease_token + 1, lease_expires_at = $2 \
               WHERE revocation_id = $3 AND state NOT IN ('completed', 'failed') \
               AND (lease_owner IS NULL OR lease_owner = $1 OR lease_expires_at <= $4)";
    if !claim_lease(pool, sql, id, owner, now, expires_at).await? {
        return Ok(None);
    }
    by_id(pool, id).await
}

/// Renews the lease on `r` if its token and version are still the row's.
pub(super) async fn renew(pool: &AnyPool, r: &RevocationRecord, now: Timestamp, ttl_ms: i64) -> Result<Lease, Error> {
    let expires_at = now.plus_ms(ttl_ms);
    let mut conn = pool.acquire().await.map_err(Error::database)?;
    let done = sqlx::query(
        "UPDATE revocations SET lease_expires_at = $1 WHERE revocation_id = $2 AND lease_token = $3 AND version = $4",
    )
    .bind(expires_at)
    .bind(r.revocation_id.clone())
    .bind(r.lease.token)
    .bind(r.version)
    .execute(&mut *conn)
    .await
    .map_err(Error::database)?;
    if done.rows_affected() != 1 {
        return Err(refused(&mut conn, r).await);
    }
    Ok(Lease { owner: r.lease.owner.clone(), token: r.lease.token, expires_at })
}

/// Why a fenced write changed nothing: the lease moved on, or a write under it raced.
async fn refused(conn: &mut AnyConnection, r: &RevocationRecord) -> Error {
    let current: Result<Option<i64>, _> =
        sqlx::query_scalar("SELECT lease_token FROM revocations WHERE revocation_id = $1")
            .bind(r.revocation_id.clone())
            .fetch_optional(&mut *conn)
            .await;
    match current {
        Ok(Some(t)) if t != r.lease.token => Error::LeaseLost { rotation: format!("revocation {}", r.revocation_id) },
        Ok(Some(_)) => Error::Conflict(format!("revocation {} changed concurrently", r.revocation_id)),
        Ok(None) => Error::NotFound(format!("revocation {}", r.revocation_id)),
        Err(e) => Error::database(e),
    }
}

/// The fenced write of `r`'s new state, with what that state means for its key, in one
/// transaction; whether key material was destroyed.
pub(super) async fn save(pool: &AnyPool, r: &mut RevocationRecord, now: Timestamp, ttl_ms: i64) -> Result<bool, Error> {
    let expires_at = if r.state.is_open() { now.plus_ms(ttl_ms) } else { Timestamp::EPOCH };
    let mut tx = pool.begin().await.map_err(Error::database)?;
    let done = sqlx::query(
        "UPDATE revocations SET state = $1, error = $2, updated_at = $3, version = version + 1, \
         lease_expires_at = $4 WHERE revocation_id = $5 AND version = $6 AND lease_token = $7",
    )
    .bind(r.state.as_str())
    .bind(r.error.clone())
    .bind(now)
    .bind(expires_at)
    .bind(r.revocation_id.clone())
    .bind(r.version)
    .bind(r.lease.token)
    .execute(&mut *tx)
    .await
    .map_err(Error::database)?;
    if done.rows_affected() != 1 {
        return Err(refused(&mut tx, r).await);
    }
    let mut destroyed = false;
    match r.state {
        RevocationState::SigningStopped => stop_key(&mut tx, r, now).await?,
        RevocationState::Completed => {
            let wiped = sqlx::query(
                "UPDATE keys SET wrapped_dek = $2, sealed_key = $2 WHERE key_id = $1 AND state = 'retired'",
            )
            .bind(r.key_id.clone())
            .bind(Vec::<u8>::new())
            .execute(&mut *tx)
            .await
            .map_err(Error::database)?;
            destroyed = wiped.rows_affected() == 1;
        }
        _ => {}
    }
    tx.commit().await.map_err(Error::database)?;
    r.version += 1;
    r.updated_at = now;
    r.lease.expires_at = expires_at;
    Ok(destroyed)
}

/// Marks the revoked key RETIRED (from then on no replica signs with it: `extend_signed_exp`
/// refuses it, and the key version every replica polls moves). An ACTIVE key only with `force`;
/// a key already RETIRED stays so; anything else is refused.
async fn stop_key(conn: &mut AnyConnection, r: &RevocationRecord, now: Timestamp) -> Result<(), Error> {
    let done = sqlx::query(
        "UPDATE keys SET state = 'retired', retire_at = $2 WHERE key_id = $1 \
         AND (state = 'retiring' OR (state = 'active' AND $3 = 1))",
    )
    .bind(r.key_id.clone())
    .bind(now)
    .bind(i64::from(r.force))
    .execute(&mut *conn)
    .await
    .map_err(Error::database)?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM keys WHERE key_id = $1")
        .bind(r.key_id.clone())
        .fetch_optional(&mut *conn)
        .await
        .map_err(Error::database)?;
    match state.as_deref() {
        Some("retired") => Ok(()),
        Some("active") => Err(Error::FailedPrecondition(format!(
            "credential {} holds the client's active key; revoking it leaves the client with no active key \
             (rotate first, or pass force)",
            r.credential_id
        ))),
        Some(other) => Err(Error::FailedPrecondition(format!(
            "credential {}'s key is {other}, not active or retiring",
            r.credential_id
        ))),
        None => Err(Error::NotFound(format!("key {}", r.key_id))),
    }
}
