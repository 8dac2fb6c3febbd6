//! What every SQL concept module shares: running a query and mapping its rows to records, the
//! lease columns, unique violations, the open rotation states and the dialect.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Executor, Row};

use crate::Error;
use crate::clock::Timestamp;
use crate::store::types::Lease;

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: one file, one connection at a time.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A statement with its arguments bound, as `sqlx::query(…).bind(…)` builds it.
pub(super) type AnyQuery<'q> = Query<'q, Any, AnyArguments>;

// The rotation states before ACTIVE (one such rotation per client at most), as an SQL list.
macro_rules! open_states {
    () => {
        "('planned', 'key_generated', 'slot_freed', 'registered', 'attached')"
    };
}
pub(super) use open_states;

/// Runs `query` on `executor` (the pool, a connection or a transaction) and maps the row it
/// returns, if any, with `from_row`.
pub(super) async fn fetch_optional_as<'c, T>(
    query: AnyQuery<'_>,
    executor: impl Executor<'c, Database = Any>,
    from_row: impl FnOnce(&AnyRow) -> Result<T, Error>,
) -> Result<Option<T>, Error> {
    let row = query.fetch_optional(executor).await.map_err(Error::database)?;
    row.as_ref().map(from_row).transpose()
}

/// Runs `query` on `executor` and maps every row it returns with `from_row`, in order.
pub(super) async fn fetch_all_as<'c, T>(
    query: AnyQuery<'_>,
    executor: impl Executor<'c, Database = Any>,
    from_row: impl Fn(&AnyRow) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    let rows = query.fetch_all(executor).await.map_err(Error::database)?;
    rows.iter().map(from_row).collect()
}

/// Runs `query`, which returns exactly one row, on `executor` and maps that row with `from_row`.
pub(super) async fn fetch_one_as<'c, T>(
    query: AnyQuery<'_>,
    executor: impl Executor<'c, Database = Any>,
    from_row: impl FnOnce(&AnyRow) -> Result<T, Error>,
) -> Result<T, Error> {
    let row = query.fetch_one(executor).await.map_err(Error::database)?;
    from_row(&row)
}

/// The `lease_owner`, `lease_token` and `lease_expires_at` columns.
pub(super) fn lease_from_row(row: &AnyRow) -> Result<Lease, Error> {
    Ok(Lease {
        owner: row.try_get("lease_owner").map_err(Error::database)?,
        token: row.try_get("lease_token").map_err(Error::database)?,
        expires_at: row.try_get("lease_expires_at").map_err(Error::database)?,
    })
}

/// Whether a statement failed on a unique constraint (the row exists already).
pub(super) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Claims a lease with `sql`, an UPDATE binding $1 the owner, $2 the new expiry, $3 the row's id
/// and $4 now, which raises the row's fencing token: whether `owner` now holds it.
pub(super) async fn claim_lease(
    pool: &AnyPool,
    sql: &'static str,
    id: &str,
    owner: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<bool, Error> {
    let done = sqlx::query(sql)
        .bind(owner.to_owned())
        .bind(expires_at)
        .bind(id.to_owned())
        .bind(now)
        .execute(pool)
        .await
        .map_err(Error::database)?;
    Ok(done.rows_affected() == 1)
}

// A [`Timestamp`] binds and reads as the BIGINT of milliseconds both dialects store.
impl sqlx::Type<Any> for Timestamp {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <i64 as sqlx::Type<Any>>::type_info()
    }

    fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
        <i64 as sqlx::Type<Any>>::compatible(ty)
    }
}

impl sqlx::Encode<'_, Any> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut <Any as sqlx::Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <i64 as sqlx::Encode<'_, Any>>::encode_by_ref(&self.as_millis(), buf)
    }
}

impl<'r> sqlx::Decode<'r, Any> for Timestamp {
    fn decode(value: <Any as sqlx::Database>::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        <i64 as sqlx::Decode<'r, Any>>::decode(value).map(Timestamp::from_millis)
    }
}
