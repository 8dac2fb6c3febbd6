//! Client credential rotations in SQL: the saga's rows, inserted once per request_id and per
//! client while one is open, and read back by id, request, retiring key or state.

use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::row::{fetch_all_as, fetch_optional_as, is_unique_violation, lease_from_row, open_states};
use crate::Error;
use crate::store::types::{Inserted, RotationRecord, RotationState};

// Column lists as macros, so every query is one `concat!`ed literal (sqlx refuses SQL built at
// run time).
macro_rules! rotation_columns {
    () => {
        "rotation_id, tenant, client_id, state, request_id, request_hash, params, new_key_id, old_key_id, \
         new_credential_id, old_credential_id, retire_at, error, created_at, updated_at, version, lease_owner, \
         lease_token, lease_expires_at, requested_by"
    };
}

fn from_row(row: &AnyRow) -> Result<RotationRecord, Error> {
    let get_err = Error::database;
    Ok(RotationRecord {
        rotation_id: row.try_get("rotation_id").map_err(get_err)?,
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
    })
}

/// Inserts a PLANNED rotation, or says which known rotation stands in its way: the one with its
/// request_id, else the client's open one.
pub(super) async fn insert(pool: &AnyPool, r: &RotationRecord) -> Result<Inserted, Error> {
    let inserted = sqlx::query(concat!(
        "INSERT INTO rotations (",
        rotation_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
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
