//! Fenced writes of leased work: each runs in one transaction with the check that the writer
//! still holds the lease token it claimed, so a replica that paused past its lease (and woke up
//! as if nothing happened) cannot change a key, a rotation or what Auth0 is told to delete.
//! Key rows are never written whole: each write names the state it expects. Also the claims and
//! renewals of the leases on rotations (connection rotations' leases are in `connections`).

use sqlx::{AnyConnection, AnyPool, Row};

use super::row::{claim_lease, fetch_one_as, open_states};
use super::{keys, rotations};
use crate::Error;
use crate::clock::Timestamp;
use crate::store::types::{KeyRecord, Lease, RotationRecord, RotationState};

/// Compare-and-set of a rotation's mutable fields, on one connection (a transaction's or the
/// pool's), fenced by the lease token the writer claimed. The write renews the lease for
/// `ttl_ms`, or frees it once the rotation waits for nobody (ACTIVE until retirement, COMPLETED,
/// FAILED). A writer whose token is no longer the row's gets [`Error::LeaseLost`]; one that lost
/// a race under its own lease (a stale version) gets [`Error::Conflict`].
async fn cas_rotation(
    conn: &mut AnyConnection,
    r: &mut RotationRecord,
    now: Timestamp,
    ttl_ms: i64,
) -> Result<(), Error> {
    let expires_at = match r.state {
        RotationState::Active | RotationState::Completed | RotationState::Failed => Timestamp::EPOCH,
        _ => now.plus_ms(ttl_ms),
    };
    let done = sqlx::query(
        "UPDATE rotations SET state = $1, new_key_id = $2, old_key_id = $3, new_credential_id = $4, \
         old_credential_id = $5, retire_at = $6, error = $7, updated_at = $8, version = version + 1, \
         lease_expires_at = $11, removed = $13, old_departed_at = $14, old_departed_how = $15 \
         WHERE rotation_id = $9 AND version = $10 AND lease_token = $12",
    )
    .bind(r.state.as_str())
    .bind(r.new_key_id.clone())
    .bind(r.old_key_id.clone())
    .bind(r.new_credential_id.clone())
    .bind(r.old_credential_id.clone())
    .bind(r.retire_at)
    .bind(r.error.clone())
    .bind(now)
    .bind(r.rotation_id.clone())
    .bind(r.version)
    .bind(expires_at)
    .bind(r.lease.token)
    .bind(crate::store::removed::to_json(&r.removed))
    .bind(r.old_departed.map(|d| d.at))
    .bind(r.old_departed.map(|d| d.how.as_str()))
    .execute(&mut *conn)
    .await
    .map_err(Error::database)?;
    if done.rows_affected() != 1 {
        return Err(why_refused(conn, &r.rotation_id, r.lease.token).await);
    }
    r.version += 1;
    r.updated_at = now;
    r.lease.expires_at = expires_at;
    Ok(())
}

/// Why a fenced write changed no row: the lease passed to another replica (its token moved on),
/// or a writer under the same lease got there first (the version moved on).
async fn why_refused(conn: &mut AnyConnection, rotation_id: &str, token: i64) -> Error {
    let current: Result<Option<i64>, _> =
        sqlx::query_scalar("SELECT lease_token FROM rotations WHERE rotation_id = $1")
            .bind(rotation_id.to_owned())
            .fetch_optional(&mut *conn)
            .await;
    match current {
        Ok(Some(t)) if t != token => Error::LeaseLost { rotation: format!("rotation {rotation_id}") },
        Ok(Some(_)) => Error::Conflict(format!("rotation {rotation_id} changed concurrently")),
        Ok(None) => Error::NotFound(format!("rotation {rotation_id}")),
        Err(e) => Error::database(e),
    }
}

/// Extends the lease on `r` to `expires_at` if `r`'s token and version are still the row's;
/// [`Error::LeaseLost`] (or Conflict) otherwise. Never revives a lease another replica claimed:
/// a claim always raises the token.
async fn fence(conn: &mut AnyConnection, r: &RotationRecord, expires_at: Timestamp) -> Result<(), Error> {
    let done = sqlx::query(
        "UPDATE rotations SET lease_expires_at = $1 WHERE rotation_id = $2 AND lease_owner = $3 \
         AND lease_token = $4 AND version = $5",
    )
    .bind(expires_at)
    .bind(r.rotation_id.clone())
    .bind(r.lease.owner.clone())
    .bind(r.lease.token)
    .bind(r.version)
    .execute(&mut *conn)
    .await
    .map_err(Error::database)?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(why_refused(conn, &r.rotation_id, r.lease.token).await) }
}

/// Claims the lease on a rotation for `owner` until `expires_at` when it is free, lapsed or
/// already `owner`'s, raising its fencing token; the rotation as claimed.
pub(super) async fn claim_rotation(
    pool: &AnyPool,
    rotation_id: &str,
    owner: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<Option<RotationRecord>, Error> {
    let sql = "UPDATE rotations SET lease_owner = $1, lease_token = lease_token + 1, lease_expires_at = $2 \
               WHERE rotation_id = $3 AND (lease_owner IS NULL OR lease_owner = $1 OR lease_expires_at <= $4)";
    if !claim_lease(pool, sql, rotation_id, owner, now, expires_at).await? {
        return Ok(None);
    }
    rotations::by_id(pool, rotation_id).await
}

/// Renews the lease on `r` until `now + ttl_ms` (see [`fence`]); the new expiry.
pub(super) async fn renew(pool: &AnyPool, r: &RotationRecord, now: Timestamp, ttl_ms: i64) -> Result<Lease, Error> {
    let mut conn = pool.acquire().await.map_err(Error::database)?;
    let expires_at = now.plus_ms(ttl_ms);
    fence(&mut conn, r, expires_at).await?;
    Ok(Lease { owner: r.lease.owner.clone(), token: r.lease.token, expires_at })
}

/// [`cas_rotation`] on a connection of its own.
pub(super) async fn update_rotation(
    pool: &AnyPool,
    r: &mut RotationRecord,
    now: Timestamp,
    ttl_ms: i64,
) -> Result<(), Error> {
    let mut conn = pool.acquire().await.map_err(Error::database)?;
    cas_rotation(&mut conn, r, now, ttl_ms).await
}

/// Stores a generated key and moves its rotation on, in one transaction fenced by the
/// rotation's lease.
pub(super) async fn save_generated_key(
    pool: &AnyPool,
    k: &KeyRecord,
    r: &mut RotationRecord,
    now: Timestamp,
    ttl_ms: i64,
) -> Result<(), Error> {
    let mut tx = pool.begin().await.map_err(Error::database)?;
    keys::insert(&mut tx, k).await?;
    let mut updated = r.clone();
    cas_rotation(&mut tx, &mut updated, now, ttl_ms).await?;
    tx.commit().await.map_err(Error::database)?;
    *r = updated;
    Ok(())
}

/// Makes `new_key` active and `old_key` retiring until `retire_at`, and moves the rotation on,
/// in one transaction fenced by the rotation's lease.
pub(super) async fn activate(
    pool: &AnyPool,
    r: &mut RotationRecord,
    new_key: &str,
    old_key: Option<&str>,
    retire_at: Timestamp,
    now: Timestamp,
    ttl_ms: i64,
) -> Result<(), Error> {
    let mut tx = pool.begin().await.map_err(Error::database)?;
    // The fence first: a replica that lost the lease learns that, whatever the keys say.
    let mut updated = r.clone();
    cas_rotation(&mut tx, &mut updated, now, ttl_ms).await?;
    if let Some(old) = old_key {
        sqlx::query("UPDATE keys SET state = 'retiring', retire_at = $1 WHERE key_id = $2 AND state = 'active'")
            .bind(retire_at)
            .bind(old.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(Error::database)?;
    }
    let done =
        sqlx::query("UPDATE keys SET state = 'active', activated_at = $1 WHERE key_id = $2 AND state = 'pending'")
            .bind(now)
            .bind(new_key.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(Error::database)?;
    if done.rows_affected() != 1 {
        return Err(Error::Conflict(format!("key {new_key} is not pending")));
    }
    tx.commit().await.map_err(Error::database)?;
    *r = updated;
    Ok(())
}

/// Records the registered credential on the rotation's new key (still PENDING, with no other
/// credential) and moves the rotation on, in one transaction fenced by the rotation's lease.
pub(super) async fn save_registered(
    pool: &AnyPool,
    r: &mut RotationRecord,
    key_id: &str,
    credential_id: &str,
    now: Timestamp,
    ttl_ms: i64,
) -> Result<(), Error> {
    let mut tx = pool.begin().await.map_err(Error::database)?;
    let mut updated = r.clone();
    cas_rotation(&mut tx, &mut updated, now, ttl_ms).await?;
    let done = sqlx::query(
        "UPDATE keys SET credential_id = $1 WHERE key_id = $2 AND state = 'pending' \
         AND (credential_id IS NULL OR credential_id = $1)",
    )
    .bind(credential_id.to_owned())
    .bind(key_id.to_owned())
    .execute(&mut *tx)
    .await
    .map_err(Error::database)?;
    if done.rows_affected() != 1 {
        return Err(Error::Conflict(format!("key {key_id} is no longer pending, or holds another credential")));
    }
    tx.commit().await.map_err(Error::database)?;
    *r = updated;
    Ok(())
}

/// Marks `r` FAILED and destroys its new key, in one transaction fenced by the rotation's lease.
/// Only a PENDING key that no other open rotation names is destroyed: a key another replica
/// activated meanwhile is never touched.
pub(super) async fn save_failed(
    pool: &AnyPool,
    r: &mut RotationRecord,
    now: Timestamp,
    ttl_ms: i64,
) -> Result<bool, Error> {
    let mut tx = pool.begin().await.map_err(Error::database)?;
    let mut updated = r.clone();
    cas_rotation(&mut tx, &mut updated, now, ttl_ms).await?;
    let mut wiped = false;
    if let Some(key_id) = &r.new_key_id {
        let done = sqlx::query(concat!(
            "UPDATE keys SET state = 'retired', wrapped_dek = $2, sealed_key = $2 WHERE key_id = $1 \
             AND state = 'pending' AND NOT EXISTS (SELECT 1 FROM rotations WHERE new_key_id = $1 \
             AND rotation_id <> $3 AND state IN ",
            open_states!(),
            ")"
        ))
        .bind(key_id.clone())
        .bind(Vec::<u8>::new())
        .bind(r.rotation_id.clone())
        .execute(&mut *tx)
        .await
        .map_err(Error::database)?;
        wiped = done.rows_affected() == 1;
    }
    tx.commit().await.map_err(Error::database)?;
    *r = updated;
    Ok(wiped)
}

/// Destroys a RETIRED key's sealed material (never an active, retiring or pending one, nor one
/// an open rotation names as its new key) and, when given, moves its rotation on (fenced), in one
/// transaction. `false` when the key was not destroyed.
pub(super) async fn close_retirement(
    pool: &AnyPool,
    key_id: &str,
    rotation: Option<&mut RotationRecord>,
    now: Timestamp,
    ttl_ms: i64,
) -> Result<bool, Error> {
    let mut tx = pool.begin().await.map_err(Error::database)?;
    let mut updated = None;
    if let Some(r) = rotation.as_deref() {
        let mut next = r.clone();
        cas_rotation(&mut tx, &mut next, now, ttl_ms).await?;
        updated = Some(next);
    }
    let done = sqlx::query(concat!(
        "UPDATE keys SET wrapped_dek = $2, sealed_key = $2 WHERE key_id = $1 AND state = 'retired' \
         AND NOT EXISTS (SELECT 1 FROM rotations WHERE new_key_id = $1 AND state IN ",
        open_states!(),
        ")"
    ))
    .bind(key_id.to_owned())
    .bind(Vec::<u8>::new())
    .execute(&mut *tx)
    .await
    .map_err(Error::database)?;
    tx.commit().await.map_err(Error::database)?;
    if let (Some(r), Some(next)) = (rotation, updated) {
        *r = next;
    }
    Ok(done.rows_affected() == 1)
}

/// Whether a client's Auth0 credential may be detached or deleted: no key keyward may still sign
/// or activate with (PENDING, ACTIVE, RETIRING; `own_key` aside) and no other open rotation names
/// it. Checked by credential id, never by kid. Under `fence`, in one transaction with the check
/// (and renewal) of its lease until `lease_until`.
pub(super) async fn may_remove_credential(
    pool: &AnyPool,
    fence_on: Option<&RotationRecord>,
    tenant: &str,
    client_id: &str,
    credential_id: &str,
    own_key: Option<&str>,
    lease_until: Timestamp,
) -> Result<bool, Error> {
    let mut tx = pool.begin().await.map_err(Error::database)?;
    if let Some(r) = fence_on {
        fence(&mut tx, r, lease_until).await?;
    }
    let query = sqlx::query(concat!(
        "SELECT (SELECT count(*) FROM keys WHERE tenant = $1 AND client_id = $2 AND credential_id = $3 \
         AND state IN ('pending', 'active', 'retiring') AND key_id <> $4) AS keys_using, \
         (SELECT count(*) FROM rotations WHERE tenant = $1 AND client_id = $2 AND new_credential_id = $3 \
         AND rotation_id <> $5 AND state IN ",
        open_states!(),
        ") AS rotations_using"
    ))
    .bind(tenant.to_owned())
    .bind(client_id.to_owned())
    .bind(credential_id.to_owned())
    .bind(own_key.unwrap_or("").to_owned())
    .bind(fence_on.map(|r| r.rotation_id.clone()).unwrap_or_default());
    let free = fetch_one_as(query, &mut *tx, |row| {
        let count = |c: &str| row.try_get::<i64, _>(c).map_err(|e| Error::Corrupt(e.to_string()));
        Ok(count("keys_using")? == 0 && count("rotations_using")? == 0)
    })
    .await?;
    tx.commit().await.map_err(Error::database)?;
    Ok(free)
}
