//! Connecting to SQLite or PostgreSQL (one writer for SQLite, with the pragmas that keep
//! destroyed keys out of free pages) and applying the dialect's migrations.

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use super::row::Dialect;
use crate::Error;

/// A pool on `sqlite://PATH` (created when missing) or `postgres://…`, and its dialect.
pub(super) async fn open(url: &str) -> Result<(AnyPool, Dialect), Error> {
    sqlx::any::install_default_drivers();
    let dialect = if url.starts_with("sqlite:") {
        Dialect::Sqlite
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Dialect::Postgres
    } else {
        return Err(Error::Config(vec!["store: the URL must start with sqlite:// or postgres://".into()]));
    };
    // Fail fast (UNAVAILABLE) while the database is unreachable rather than queueing callers.
    let options = AnyPoolOptions::new().acquire_timeout(std::time::Duration::from_secs(3));
    let pool = match dialect {
        // SQLite allows one writer; one connection serialises access without lock errors.
        Dialect::Sqlite => {
            let url = if url.contains('?') { url.to_owned() } else { format!("{url}?mode=rwc") };
            options
                .max_connections(1)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA busy_timeout = 5000",
                            "PRAGMA synchronous = FULL",
                            // Freed and overwritten content is zeroed, so a destroyed
                            // key's sealed blob does not linger in free pages.
                            "PRAGMA secure_delete = ON",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                        Ok(())
                    })
                })
                .connect(&url)
                .await
        }
        Dialect::Postgres => options.max_connections(8).connect(url).await,
    }
    .map_err(Error::database)?;
    Ok((pool, dialect))
}

/// Applies the dialect's migrations.
pub(super) async fn migrate(pool: &AnyPool, dialect: Dialect) -> Result<(), Error> {
    let result = match dialect {
        Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite").run(pool).await,
        Dialect::Postgres => sqlx::migrate!("./migrations/postgres").run(pool).await,
    };
    result.map_err(|e| Error::database(e.into()))
}
