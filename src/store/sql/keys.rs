//! Managed keys in SQL: their sealed material and the state the signer goes by. Reads, the
//! signer's fenced-by-state writes (extending `last_signed_exp`, beginning a retirement), KEK
//! rewrapping, and the insert that a generated key's fenced transaction runs.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::row::{fetch_all_as, fetch_one_as, fetch_optional_as};
use crate::Error;
use crate::clock::Timestamp;
use crate::seal::Sealed;
use crate::store::types::{KeyRecord, KeyState};

macro_rules! key_columns {
    () => {
        "key_id, tenant, client_id, kid, algorithm, key_bits, public_key_pem, cert_pem, pkcs, fingerprint, thumbprint, \
         thumbprint_sha256, subject_dn, kek_id, wrapped_dek, sealed_key, credential_id, state, created_at, expires_at, \
         activated_at, retire_at, last_signed_exp, method"
    };
}

fn from_row(row: &AnyRow) -> Result<KeyRecord, Error> {
    let get_err = Error::database;
    let bits: i64 = row.try_get("key_bits").map_err(get_err)?;
    Ok(KeyRecord {
        key_id: row.try_get("key_id").map_err(get_err)?,
        tenant: row.try_get("tenant").map_err(get_err)?,
        client_id: row.try_get("client_id").map_err(get_err)?,
        kid: row.try_get("kid").map_err(get_err)?,
        // A name this build does not know is an error, never a default.
        algorithm: row
            .try_get::<String, _>("algorithm")
            .map_err(get_err)?
            .parse()
            .map_err(|e| Error::Corrupt(format!("key algorithm: {e}")))?,
        key_bits: u32::try_from(bits).map_err(|_| Error::Corrupt(format!("key_bits {bits}")))?,
        public_key_pem: row.try_get("public_key_pem").map_err(get_err)?,
        cert_pem: row.try_get("cert_pem").map_err(get_err)?,
        pkcs: row.try_get("pkcs").map_err(get_err)?,
        fingerprint: row.try_get("fingerprint").map_err(get_err)?,
        thumbprint: row.try_get("thumbprint").map_err(get_err)?,
        thumbprint_sha256: row.try_get("thumbprint_sha256").map_err(get_err)?,
        subject_dn: row.try_get("subject_dn").map_err(get_err)?,
        sealed: Sealed {
            kek_id: row.try_get("kek_id").map_err(get_err)?,
            wrapped_dek: row.try_get("wrapped_dek").map_err(get_err)?,
            ciphertext: row.try_get("sealed_key").map_err(get_err)?,
        },
        credential_id: row.try_get("credential_id").map_err(get_err)?,
        method: row.try_get::<String, _>("method").map_err(get_err)?.parse()?,
        state: row.try_get::<String, _>("state").map_err(get_err)?.parse()?,
        created_at: row.try_get("created_at").map_err(get_err)?,
        expires_at: row.try_get("expires_at").map_err(get_err)?,
        activated_at: row.try_get("activated_at").map_err(get_err)?,
        retire_at: row.try_get("retire_at").map_err(get_err)?,
        last_signed_exp: row.try_get("last_signed_exp").map_err(get_err)?,
    })
}

/// Inserts a generated key on `conn` (the transaction that also moves its rotation on).
pub(super) async fn insert(conn: &mut AnyConnection, k: &KeyRecord) -> Result<(), Error> {
    sqlx::query(concat!(
        "INSERT INTO keys (",
        key_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
         $16, $17, $18, $19, $20, $21, $22, $23, $24)"
    ))
    .bind(k.key_id.clone())
    .bind(k.tenant.clone())
    .bind(k.client_id.clone())
    .bind(k.kid.clone())
    .bind(k.algorithm.as_str())
    .bind(i64::from(k.key_bits))
    .bind(k.public_key_pem.clone())
    .bind(k.cert_pem.clone())
    .bind(k.pkcs.clone())
    .bind(k.fingerprint.clone())
    .bind(k.thumbprint.clone())
    .bind(k.thumbprint_sha256.clone())
    .bind(k.subject_dn.clone())
    .bind(k.sealed.kek_id.clone())
    .bind(k.sealed.wrapped_dek.clone())
    .bind(k.sealed.ciphertext.clone())
    .bind(k.credential_id.clone())
    .bind(k.state.as_str())
    .bind(k.created_at)
    .bind(k.expires_at)
    .bind(k.activated_at)
    .bind(k.retire_at)
    .bind(k.last_signed_exp)
    .bind(k.method.as_str())
    .execute(&mut *conn)
    .await
    .map_err(Error::database)?;
    Ok(())
}

/// Overwrites a key's mutable fields whole, unconditionally (see `SqlStore::overwrite_key`).
pub(super) async fn overwrite(pool: &AnyPool, k: &KeyRecord) -> Result<(), Error> {
    let done = sqlx::query(
        "UPDATE keys SET credential_id = $1, state = $2, expires_at = $3, activated_at = $4, retire_at = $5, \
         last_signed_exp = $6, kek_id = $7, wrapped_dek = $8, sealed_key = $9 WHERE key_id = $10",
    )
    .bind(k.credential_id.clone())
    .bind(k.state.as_str())
    .bind(k.expires_at)
    .bind(k.activated_at)
    .bind(k.retire_at)
    .bind(k.last_signed_exp)
    .bind(k.sealed.kek_id.clone())
    .bind(k.sealed.wrapped_dek.clone())
    .bind(k.sealed.ciphertext.clone())
    .bind(k.key_id.clone())
    .execute(pool)
    .await
    .map_err(Error::database)?;
    if done.rows_affected() != 1 {
        return Err(Error::NotFound(format!("key {}", k.key_id)));
    }
    Ok(())
}

/// A key by id.
pub(super) async fn by_id(pool: &AnyPool, key_id: &str) -> Result<Option<KeyRecord>, Error> {
    let query = sqlx::query(concat!("SELECT ", key_columns!(), " FROM keys WHERE key_id = $1")).bind(key_id.to_owned());
    fetch_optional_as(query, pool, from_row).await
}

/// A client's keys, oldest first.
pub(super) async fn of_client(pool: &AnyPool, tenant: &str, client_id: &str) -> Result<Vec<KeyRecord>, Error> {
    let query = sqlx::query(concat!(
        "SELECT ",
        key_columns!(),
        " FROM keys WHERE tenant = $1 AND client_id = $2 ORDER BY created_at, key_id"
    ))
    .bind(tenant.to_owned())
    .bind(client_id.to_owned());
    fetch_all_as(query, pool, from_row).await
}

/// Every key in `state`, oldest first.
pub(super) async fn in_state(pool: &AnyPool, state: KeyState) -> Result<Vec<KeyRecord>, Error> {
    let query =
        sqlx::query(concat!("SELECT ", key_columns!(), " FROM keys WHERE state = $1 ORDER BY created_at, key_id"))
            .bind(state.as_str());
    fetch_all_as(query, pool, from_row).await
}

/// Every key still holding key material whose data key a KEK other than `kek_id` wraps (a key
/// in the token has no data key).
pub(super) async fn sealed_by_other(pool: &AnyPool, kek_id: &str) -> Result<Vec<KeyRecord>, Error> {
    let query = sqlx::query(concat!(
        "SELECT ",
        key_columns!(),
        " FROM keys WHERE kek_id <> $1 AND kek_id <> 'pkcs11' AND state <> 'retired' ORDER BY created_at, key_id"
    ))
    .bind(kek_id.to_owned());
    fetch_all_as(query, pool, from_row).await
}

/// Retired keys that still hold key material, no open revocation aside, oldest first.
pub(super) async fn retired_unfinished(pool: &AnyPool) -> Result<Vec<KeyRecord>, Error> {
    let query = sqlx::query(concat!(
        "SELECT ",
        key_columns!(),
        " FROM keys WHERE state = 'retired' AND length(sealed_key) > 0 AND key_id NOT IN \
         (SELECT key_id FROM revocations WHERE state NOT IN ('completed', 'failed')) ORDER BY created_at, key_id"
    ));
    fetch_all_as(query, pool, from_row).await
}

/// Replaces a key's wrapped data key if `old_kek_id` still wraps it; whether it did.
pub(super) async fn rewrap(pool: &AnyPool, key_id: &str, old_kek_id: &str, sealed: &Sealed) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE keys SET kek_id = $1, wrapped_dek = $2 WHERE key_id = $3 AND kek_id = $4 AND state <> 'retired'",
    )
    .bind(sealed.kek_id.clone())
    .bind(sealed.wrapped_dek.clone())
    .bind(key_id.to_owned())
    .bind(old_kek_id.to_owned())
    .execute(pool)
    .await
    .map_err(Error::database)?;
    Ok(done.rows_affected() == 1)
}

/// The fingerprint of the signing-relevant key states (see `Store::key_version`).
pub(super) async fn version(pool: &AnyPool) -> Result<String, Error> {
    let query = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(MAX(activated_at), 0) AS BIGINT) AS act, \
         CAST(COALESCE(SUM(CASE WHEN state = 'retired' THEN 1 ELSE 0 END), 0) AS BIGINT) AS gone, \
         CAST(COALESCE(SUM(CASE WHEN state = 'retiring' THEN 1 ELSE 0 END), 0) AS BIGINT) AS retiring FROM keys",
    );
    fetch_one_as(query, pool, |row| {
        let get =
            |c: &str| -> Result<i64, Error> { row.try_get::<i64, _>(c).map_err(|e| Error::Corrupt(e.to_string())) };
        Ok(format!("{}:{}:{}:{}", get("n")?, get("act")?, get("gone")?, get("retiring")?))
    })
    .await
}

/// Raises a live (active or retiring) key's `last_signed_exp` to at least `until`; whether the
/// key was live.
pub(super) async fn extend_signed_exp(pool: &AnyPool, key_id: &str, until: Timestamp) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE keys SET last_signed_exp = CASE WHEN last_signed_exp IS NULL OR last_signed_exp < $1 \
         THEN $1 ELSE last_signed_exp END WHERE key_id = $2 AND state IN ('active', 'retiring')",
    )
    .bind(until)
    .bind(key_id.to_owned())
    .execute(pool)
    .await
    .map_err(Error::database)?;
    Ok(done.rows_affected() == 1)
}

/// Marks a retiring key retired once no assertion it signed is live at `now` and (unless
/// `early`) its retire time has come; whether it did.
pub(super) async fn begin_retirement(pool: &AnyPool, key_id: &str, now: Timestamp, early: bool) -> Result<bool, Error> {
    // Early (evicted for a slot): the grace period is waived, live assertions never are.
    let retire_at_limit = if early { Timestamp::MAX } else { now };
    let done = sqlx::query(
        "UPDATE keys SET state = 'retired' WHERE key_id = $1 AND state = 'retiring' \
         AND (retire_at IS NULL OR retire_at <= $3) AND (last_signed_exp IS NULL OR last_signed_exp <= $2)",
    )
    .bind(key_id.to_owned())
    .bind(now)
    .bind(retire_at_limit)
    .execute(pool)
    .await
    .map_err(Error::database)?;
    Ok(done.rows_affected() == 1)
}
