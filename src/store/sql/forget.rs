//! Making the database's own files forget a destroyed key's bytes once its sealed blob and
//! wrapped data key were emptied: a checkpoint of SQLite's write-ahead log, a rewrite of
//! PostgreSQL's `keys` table.

use sqlx::AnyPool;

use super::row::Dialect;

/// Sets how long the rewrite of `keys` after a key's destruction (PostgreSQL) waits for its
/// lock before giving up: readers that queue behind it wait at most this long.
const SET_REWRITE_LOCK_TIMEOUT: &str = "SET lock_timeout = '5s'";

/// How long the rewrite first waits for transactions older than the destruction to end.
const OLDER_SNAPSHOTS_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Other sessions of this database holding a snapshot taken in a transaction begun before `$1`
/// (microseconds since the epoch): those that may still see a destroyed key's old row version,
/// which a rewrite must then keep.
const OLDER_SNAPSHOTS: &str = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
     AND pid <> pg_backend_pid() AND backend_xmin IS NOT NULL \
     AND (extract(epoch FROM xact_start) * 1000000)::bigint < $1";

/// After a key was destroyed (its sealed blob and wrapped data key emptied by a committed
/// UPDATE): makes the database's own files forget the bytes. Best effort: a failure is
/// logged, and the next destruction's pass covers this key as well.
///
/// - SQLite: `secure_delete` already zeroed the freed bytes in the database file; the
///   write-ahead log is checkpointed and truncated, since its frames may still hold the page
///   as it was.
/// - PostgreSQL has no `secure_delete`: the UPDATE left the old row version (in the heap,
///   or in the TOAST table for a large blob) where it was, and a plain VACUUM only marks it
///   free, leaving its bytes in the page's free space (seen on PostgreSQL 15). So the table
///   is rewritten with `VACUUM FULL keys` (the TOAST table with it) into new files; the old
///   ones are truncated at commit. A rewrite keeps a row version that an open snapshot can
///   still see, so it first waits (at most 5 s, `OLDER_SNAPSHOTS_WAIT`) for the database's
///   transactions begun before the destruction to end. It takes an ACCESS EXCLUSIVE lock on
///   `keys` for the rewrite (a few rows per client: milliseconds), waiting at most 5 s for
///   it (`SET_REWRITE_LOCK_TIMEOUT`), on a connection of its own that is then closed so the
///   session setting reaches no other query. It needs the table's owner, which keyward is
///   (it creates its tables).
///
/// Beyond reach (docs/security.md, "Destroyed keys are gone"): PostgreSQL's write-ahead log
/// segments that logged the key until they are recycled, WAL archives, backups and disk
/// blocks not yet overwritten; and a row version that a transaction open for longer than the
/// wait can still see (or one a replication slot holds back), which the next rewrite
/// removes. Each is sealed under the KEK.
pub(super) async fn old_pages(pool: &AnyPool, dialect: Dialect, destroyed: bool) {
    if !destroyed {
        return;
    }
    match dialect {
        Dialect::Sqlite => {
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await {
                tracing::warn!(error = %e, "write-ahead log not checkpointed after destroying a key");
            }
        }
        Dialect::Postgres => match rewrite_keys_table(pool).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "a transaction older than a key's destruction was still open when the keys table was \
                 rewritten: the old row version it can see stays until the next destruction's rewrite"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "keys table not rewritten after destroying a key: the old row version stays in the \
                 table's free space until the next destruction rewrites it"
            ),
        },
    }
}

/// `VACUUM FULL keys` under a lock timeout, outside any transaction (PostgreSQL only), once
/// the transactions begun before it ended or `OLDER_SNAPSHOTS_WAIT` passed: whether they had.
async fn rewrite_keys_table(pool: &AnyPool) -> Result<bool, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    // `lock_timeout` is a session setting: the connection is closed rather than returned.
    conn.close_on_drop();
    let started: i64 = sqlx::query_scalar("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint")
        .fetch_one(&mut *conn)
        .await?;
    let step = std::time::Duration::from_millis(20);
    let mut waited = std::time::Duration::ZERO;
    let settled = loop {
        let older: i64 = sqlx::query_scalar(OLDER_SNAPSHOTS).bind(started).fetch_one(&mut *conn).await?;
        if older == 0 {
            break true;
        }
        if waited >= OLDER_SNAPSHOTS_WAIT {
            break false;
        }
        tokio::time::sleep(step).await;
        waited += step;
    };
    sqlx::query(SET_REWRITE_LOCK_TIMEOUT).execute(&mut *conn).await?;
    sqlx::query("VACUUM FULL keys").execute(&mut *conn).await?;
    Ok(settled)
}
