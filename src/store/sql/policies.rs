//! Rotation policies in SQL: the scheduler's work queue. Replicas pick due rows up under a
//! lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent pickers get disjoint rows;
//! SQLite has one writer) and write the result back only while their fencing token is current.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::row::{Dialect, fetch_all_as, lease_from_row};
use crate::Error;
use crate::clock::Timestamp;
use crate::store::types::{PolicyKind, PolicyRecord};

macro_rules! policy_columns {
    () => {
        "tenant, kind, target, max_age_ms, rotation_window, source, updated_at, due_at, last_rotated_at, \
         last_result, lease_owner, lease_token, lease_expires_at, custody"
    };
}

fn from_row(row: &AnyRow) -> Result<PolicyRecord, Error> {
    let get = Error::database;
    Ok(PolicyRecord {
        tenant: row.try_get("tenant").map_err(get)?,
        kind: row.try_get::<String, _>("kind").map_err(get)?.parse()?,
        target: row.try_get("target").map_err(get)?,
        max_age_ms: row.try_get("max_age_ms").map_err(get)?,
        window: row.try_get("rotation_window").map_err(get)?,
        source: row.try_get::<String, _>("source").map_err(get)?.parse()?,
        updated_at: row.try_get("updated_at").map_err(get)?,
        due_at: row.try_get("due_at").map_err(get)?,
        last_rotated_at: row.try_get("last_rotated_at").map_err(get)?,
        last_result: row.try_get("last_result").map_err(get)?,
        lease: lease_from_row(row)?,
        custody: match row.try_get::<Option<String>, _>("custody").map_err(get)? {
            None => None,
            Some(text) => Some(text.parse().map_err(|_| Error::Corrupt(format!("policy custody {text:?}")))?),
        },
    })
}

pub(super) async fn put(pool: &AnyPool, p: &PolicyRecord) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO rotation_policies (tenant, kind, target, max_age_ms, rotation_window, source, updated_at, \
         due_at, custody) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (tenant, kind, target) DO UPDATE \
         SET max_age_ms = excluded.max_age_ms, rotation_window = excluded.rotation_window, source = excluded.source, \
         updated_at = excluded.updated_at, due_at = excluded.due_at, custody = excluded.custody",
    )
    .bind(p.tenant.clone())
    .bind(p.kind.as_str())
    .bind(p.target.clone())
    .bind(p.max_age_ms)
    .bind(p.window.clone())
    .bind(p.source.as_str())
    .bind(p.updated_at)
    .bind(p.due_at)
    .bind(p.custody.map(|c| c.as_str()))
    .execute(pool)
    .await
    .map_err(Error::database)?;
    Ok(())
}

pub(super) async fn delete(pool: &AnyPool, tenant: &str, kind: PolicyKind, target: &str) -> Result<bool, Error> {
    let done = sqlx::query("DELETE FROM rotation_policies WHERE tenant = $1 AND kind = $2 AND target = $3")
        .bind(tenant.to_owned())
        .bind(kind.as_str())
        .bind(target.to_owned())
        .execute(pool)
        .await
        .map_err(Error::database)?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn all(pool: &AnyPool) -> Result<Vec<PolicyRecord>, Error> {
    let query =
        sqlx::query(concat!("SELECT ", policy_columns!(), " FROM rotation_policies ORDER BY tenant, kind, target"));
    fetch_all_as(query, pool, from_row).await
}

pub(super) async fn set_due(
    pool: &AnyPool,
    tenant: &str,
    kind: PolicyKind,
    target: &str,
    due_at: Option<Timestamp>,
) -> Result<(), Error> {
    sqlx::query("UPDATE rotation_policies SET due_at = $1 WHERE tenant = $2 AND kind = $3 AND target = $4")
        .bind(due_at)
        .bind(tenant.to_owned())
        .bind(kind.as_str())
        .bind(target.to_owned())
        .execute(pool)
        .await
        .map_err(Error::database)?;
    Ok(())
}

pub(super) async fn claim_due(
    pool: &AnyPool,
    dialect: Dialect,
    owner: &str,
    now: Timestamp,
    expires_at: Timestamp,
    limit: i64,
) -> Result<Vec<PolicyRecord>, Error> {
    let query = match dialect {
        Dialect::Postgres => concat!(
            "UPDATE rotation_policies AS p SET lease_owner = $1, lease_token = p.lease_token + 1, \
             lease_expires_at = $2 FROM (SELECT tenant, kind, target FROM rotation_policies \
             WHERE due_at IS NOT NULL AND due_at <= $3 AND lease_expires_at <= $3 ORDER BY due_at LIMIT $4 \
             FOR UPDATE SKIP LOCKED) AS d WHERE p.tenant = d.tenant AND p.kind = d.kind AND p.target = d.target \
             RETURNING ",
            "p.tenant, p.kind, p.target, p.max_age_ms, p.rotation_window, p.source, p.updated_at, p.due_at, \
             p.last_rotated_at, p.last_result, p.lease_owner, p.lease_token, p.lease_expires_at, p.custody"
        ),
        Dialect::Sqlite => concat!(
            "UPDATE rotation_policies SET lease_owner = $1, lease_token = lease_token + 1, lease_expires_at = $2 \
             WHERE (tenant, kind, target) IN (SELECT tenant, kind, target FROM rotation_policies \
             WHERE due_at IS NOT NULL AND due_at <= $3 AND lease_expires_at <= $3 ORDER BY due_at LIMIT $4) \
             RETURNING ",
            policy_columns!()
        ),
    };
    let query = sqlx::query(query).bind(owner.to_owned()).bind(expires_at).bind(now).bind(limit);
    fetch_all_as(query, pool, from_row).await
}

pub(super) async fn finish(
    pool: &AnyPool,
    p: &PolicyRecord,
    result: &str,
    rotated_at: Option<Timestamp>,
    due_at: Option<Timestamp>,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE rotation_policies SET last_result = $1, last_rotated_at = COALESCE($2, last_rotated_at), \
         due_at = $3, lease_owner = NULL, lease_expires_at = 0 \
         WHERE tenant = $4 AND kind = $5 AND target = $6 AND lease_token = $7",
    )
    .bind(result.to_owned())
    .bind(rotated_at)
    .bind(due_at)
    .bind(p.tenant.clone())
    .bind(p.kind.as_str())
    .bind(p.target.clone())
    .bind(p.lease.token)
    .execute(pool)
    .await
    .map_err(Error::database)?;
    Ok(done.rows_affected() == 1)
}
