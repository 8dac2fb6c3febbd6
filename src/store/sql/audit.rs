//! Audit events in SQL: appended, never changed, read by kind or after an id.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::row::{fetch_all_as, fetch_one_as, fetch_optional_as};
use crate::Error;
use crate::clock::Timestamp;
use crate::store::AuditEvent;

fn from_row(row: &AnyRow) -> Result<AuditEvent, Error> {
    let get_err = Error::database;
    Ok(AuditEvent {
        id: row.try_get("id").map_err(get_err)?,
        at: row.try_get("at").map_err(get_err)?,
        actor: row.try_get("actor").map_err(get_err)?,
        tenant: row.try_get("tenant").map_err(get_err)?,
        subject: row.try_get("subject").map_err(get_err)?,
        kind: row.try_get("kind").map_err(get_err)?,
        detail: row.try_get("detail").map_err(get_err)?,
    })
}

/// Appends an audit event that happened at `at`; its id.
pub(super) async fn append(pool: &AnyPool, e: &AuditEvent, at: Timestamp) -> Result<i64, Error> {
    let query = sqlx::query(
        "INSERT INTO audit_events (at, actor, tenant, subject, kind, detail) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(at)
    .bind(e.actor.clone())
    .bind(e.tenant.clone())
    .bind(e.subject.clone())
    .bind(e.kind.clone())
    .bind(e.detail.clone());
    fetch_one_as(query, pool, |row| row.try_get::<i64, _>(0).map_err(Error::database)).await
}

/// The latest audit event of `kind`.
pub(super) async fn last(pool: &AnyPool, kind: crate::store::AuditKind) -> Result<Option<AuditEvent>, Error> {
    let query = sqlx::query(
        "SELECT id, at, actor, tenant, subject, kind, detail FROM audit_events WHERE kind = $1 \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(kind.as_str());
    fetch_optional_as(query, pool, from_row).await
}

/// Audit events after `after_id`, oldest first, at most `limit`.
pub(super) async fn after(pool: &AnyPool, after_id: i64, limit: i64) -> Result<Vec<AuditEvent>, Error> {
    let query = sqlx::query(
        "SELECT id, at, actor, tenant, subject, kind, detail FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2",
    )
    .bind(after_id)
    .bind(limit);
    fetch_all_as(query, pool, from_row).await
}
