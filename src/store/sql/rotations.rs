//! Client credential rotations in SQL: the saga's rows, inserted once per request_id and per
//! client while one is open, and read back by id, request, retiring key or state.

use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::row::{fetch_all_as, fetch_optional_as, is_unique_violation, lease_from_row, open_states};
use crate::Error;
use crate::clock::Timestamp;
use crate::store::Departed;
use crate::store::RotationFilter;
use crate::store::removed;
use crate::store::types::{Inserted, RotationRecord, RotationState};

// Column lists as macros, so every query is one `concat!`ed literal (sqlx refuses SQL built at
// run time).
macro_rules! rotation_columns {
    () => {
        "rotation_id, tenant, client_id, state, request_id, request_hash, params, new_key_id, old_key_id, \
         new_credential_id, old_credential_id, retire_at, error, created_at, updated_at, version, lease_owner, \
         lease_token, lease_expires_at, requested_by, removed, old_departed_at, old_departed_how"
    };
}

fn from_row(row: &AnyRow) -> Result<RotationRecord, Error> {
    let get_err = Error::database;
    let rotation_id: String = row.try_get("rotation_id").map_err(get_err)?;
    Ok(RotationRecord {
        rotation_id: rotation_id.clone(),
        tenant: row.try_get("tenant").map_err(get_err)?,
        client_id: row.try_get("client_id").map_err(get_err)?,
        state: row.try_get::<String, _>("state").map_err(get_err)?.parse()?,
        request_id: row.try_get("request_id").map_err(get_err)?,
        request_hash: row.try_get("request_hash").map_err(get_err)?,
        params: row.try_get("params").map_err(get_err)?,
        new_key_id: row.try_get("new_key_id").map_err(get_err)?,
        old_key_id: row.try_get("old_key_id").map_err(get_err)?,
        new_credential_id: row.try_get("new_credential_id").map_err(get_err)?,
        old_credential_id: row.try_get("old_credential_id").map_err(get_err)?,
        retire_at: row.try_get("retire_at").map_err(get_err)?,
        error: row.try_get("error").map_err(get_err)?,
        created_at: row.try_get("created_at").map_err(get_err)?,
        updated_at: row.try_get("updated_at").map_err(get_err)?,
        version: row.try_get("version").map_err(get_err)?,
        lease: lease_from_row(row)?,
        requested_by: row.try_get("requested_by").map_err(get_err)?,
        removed: removed::from_json(&rotation_id, &row.try_get::<String, _>("removed").map_err(get_err)?)?,
        old_departed: match (
            row.try_get::<Option<Timestamp>, _>("old_departed_at").map_err(get_err)?,
            row.try_get::<Option<String>, _>("old_departed_how").map_err(get_err)?,
        ) {
            (Some(at), Some(how)) => Some(Departed { how: how.parse()?, at }),
            _ => None,
        },
    })
}

/// Inserts a PLANNED rotation, or says which known rotation stands in its way: the one with its
/// request_id, else the client's open one.
pub(super) async fn insert(pool: &AnyPool, r: &RotationRecord) -> Result<Inserted, Error> {
    let inserted = sqlx::query(concat!(
        "INSERT INTO rotations (",
        rotation_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
    ))
    .bind(r.rotation_id.clone())
    .bind(r.tenant.clone())
    .bind(r.client_id.clone())
    .bind(r.state.as_str())
    .bind(r.request_id.clone())
    .bind(r.request_hash.clone())
    .bind(r.params.clone())
    .bind(r.new_key_id.clone())
    .bind(r.old_key_id.clone())
    .bind(r.new_credential_id.clone())
    .bind(r.old_credential_id.clone())
    .bind(r.retire_at)
    .bind(r.error.clone())
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(r.version)
    .bind(r.lease.owner.clone())
    .bind(r.lease.token)
    .bind(r.lease.expires_at)
    .bind(r.requested_by.clone())
    .bind(removed::to_json(&r.removed))
    .bind(r.old_departed.map(|d| d.at))
    .bind(r.old_departed.map(|d| d.how.as_str()))
    .execute(pool)
    .await;
    match inserted {
        Ok(_) => Ok(Inserted::New),
        Err(e) if is_unique_violation(&e) => {
            if let Some(req) = &r.request_id
                && let Some(existing) = by_request(pool, &r.tenant, req).await?
            {
                return Ok(Inserted::SameRequest(existing));
            }
            let open = sqlx::query(concat!(
                "SELECT ",
                rotation_columns!(),
                " FROM rotations WHERE tenant = $1 AND client_id = $2 AND state IN ",
                open_states!()
            ))
            .bind(r.tenant.clone())
            .bind(r.client_id.clone());
            match fetch_optional_as(open, pool, from_row).await? {
                Some(open) => Ok(Inserted::Busy(open)),
                None => Err(Error::database(e)),
            }
        }
        Err(e) => Err(Error::database(e)),
    }
}

/// A rotation by id.
pub(super) async fn by_id(pool: &AnyPool, rotation_id: &str) -> Result<Option<RotationRecord>, Error> {
    let query = sqlx::query(concat!("SELECT ", rotation_columns!(), " FROM rotations WHERE rotation_id = $1"))
        .bind(rotation_id.to_owned());
    fetch_optional_as(query, pool, from_row).await
}

/// A rotation by its request_id.
pub(super) async fn by_request(
    pool: &AnyPool,
    tenant: &str,
    request_id: &str,
) -> Result<Option<RotationRecord>, Error> {
    let query =
        sqlx::query(concat!("SELECT ", rotation_columns!(), " FROM rotations WHERE tenant = $1 AND request_id = $2"))
            .bind(tenant.to_owned())
            .bind(request_id.to_owned());
    fetch_optional_as(query, pool, from_row).await
}

/// The rotation that is retiring `key_id`.
pub(super) async fn by_old_key(pool: &AnyPool, key_id: &str) -> Result<Option<RotationRecord>, Error> {
    let query = sqlx::query(concat!("SELECT ", rotation_columns!(), " FROM rotations WHERE old_key_id = $1"))
        .bind(key_id.to_owned());
    fetch_optional_as(query, pool, from_row).await
}

/// Every rotation in `state`, oldest first.
pub(super) async fn in_state(pool: &AnyPool, state: RotationState) -> Result<Vec<RotationRecord>, Error> {
    let query =
        sqlx::query(concat!("SELECT ", rotation_columns!(), " FROM rotations WHERE state = $1 ORDER BY created_at"))
            .bind(state.as_str());
    fetch_all_as(query, pool, from_row).await
}

/// Every rotation not yet ACTIVE or FAILED, oldest first.
pub(super) async fn open(pool: &AnyPool) -> Result<Vec<RotationRecord>, Error> {
    let query = sqlx::query(concat!(
        "SELECT ",
        rotation_columns!(),
        " FROM rotations WHERE state IN ",
        open_states!(),
        " ORDER BY created_at"
    ));
    fetch_all_as(query, pool, from_row).await
}

/// At most `limit` rotations matching `filter`, newest first (ties by id), after its cursor.
pub(super) async fn list(pool: &AnyPool, filter: &RotationFilter, limit: i64) -> Result<Vec<RotationRecord>, Error> {
    let (before_at, before_id) = filter.before.clone().unwrap_or((Timestamp::MAX, String::new()));
    let query = sqlx::query(concat!(
        "SELECT ",
        rotation_columns!(),
        " FROM rotations WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR client_id = $2) \
          AND ($3 = '' OR state = $3) AND (created_at < $4 OR (created_at = $4 AND $5 <> '' AND rotation_id < $5)) \
          AND ($7 = '' OR rotation_id LIKE $7 ESCAPE '!') ORDER BY created_at DESC, rotation_id DESC LIMIT $6"
    ))
    .bind(filter.tenant.clone().unwrap_or_default())
    .bind(filter.client_id.clone().unwrap_or_default())
    .bind(filter.state.map(|s| s.as_str()).unwrap_or_default())
    .bind(before_at)
    .bind(before_id)
    .bind(limit)
    .bind(filter.id_prefix.as_deref().map(like_prefix).unwrap_or_default());
    fetch_all_as(query, pool, from_row).await
}

/// A LIKE pattern matching what starts with `prefix` (its wildcards escaped with `!`).
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
