//! [`Store`] on SQLite or PostgreSQL through sqlx's `Any` driver: the same SQL for both
//! (`$N` placeholders, partial unique indexes, integer flags and millisecond timestamps), with
//! a migration set per dialect.

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use super::Store;
use super::sql_fence::{cas_rotation, now_ms};
use super::sql_policies as policies;
use super::sql_revocation as revocations;
use super::types::{
    AuditEvent, ConnectionKeyRecord, ConnectionRotationRecord, Inserted, KeyRecord, KeyState, Lease, PolicyKind,
    PolicyRecord, RevocationRecord, RotationRecord, RotationState,
};
use crate::Error;
use crate::seal::Sealed;

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: one file, one connection at a time.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The SQL store.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
    lease_ttl_ms: i64,
}

/// How long a lease lasts unless a saga step renews it (the default of `[scheduler] lease_ttl`).
const DEFAULT_LEASE_TTL_MS: i64 = 30_000;

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

// Column lists as macros, so every query is one `concat!`ed literal (sqlx refuses SQL built at
// run time).
macro_rules! rotation_columns {
    () => {
        "rotation_id, tenant, client_id, state, request_id, request_hash, params, new_key_id, old_key_id, \
         new_credential_id, old_credential_id, retire_at, error, created_at, updated_at, version, lease_owner, \
         lease_token, lease_expires_at, requested_by"
    };
}
macro_rules! key_columns {
    () => {
        "key_id, tenant, client_id, kid, algorithm, key_bits, public_key_pem, cert_pem, pkcs, fingerprint, thumbprint, \
         thumbprint_sha256, subject_dn, kek_id, wrapped_dek, sealed_key, credential_id, state, created_at, expires_at, \
         activated_at, retire_at, last_signed_exp"
    };
}
macro_rules! open_states {
    () => {
        "('planned', 'key_generated', 'slot_freed', 'registered', 'attached')"
    };
}

impl SqlStore {
    /// Connects to `sqlite://PATH` (created when missing) or `postgres://…` and applies the
    /// migrations.
    pub async fn connect(url: &str) -> Result<Self, Error> {
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
        let store = Self { pool, dialect, lease_ttl_ms: DEFAULT_LEASE_TTL_MS };
        store.migrate().await?;
        Ok(store)
    }

    /// Sets how long the lease on a rotation lasts past each saga write.
    pub fn with_lease_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.lease_ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        self
    }

    /// Overwrites a key's mutable fields whole, unconditionally. For tests and repairs only:
    /// the service writes keys through [`Store`]'s fenced, state-checked methods and never
    /// through this one.
    pub async fn overwrite_key(&self, k: &KeyRecord) -> Result<(), Error> {
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
        .execute(&self.pool)
        .await
        .map_err(Error::database)?;
        if done.rows_affected() != 1 {
            return Err(Error::NotFound(format!("key {}", k.key_id)));
        }
        Ok(())
    }

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
    pub(super) async fn forget_old_pages(&self, destroyed: bool) {
        if !destroyed {
            return;
        }
        match self.dialect {
            Dialect::Sqlite => {
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await {
                    tracing::warn!(error = %e, "write-ahead log not checkpointed after destroying a key");
                }
            }
            Dialect::Postgres => match self.rewrite_keys_table().await {
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
    async fn rewrite_keys_table(&self) -> Result<bool, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
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

    /// The database in use.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    async fn migrate(&self) -> Result<(), Error> {
        let result = match self.dialect {
            Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&self.pool).await,
            Dialect::Postgres => sqlx::migrate!("./migrations/postgres").run(&self.pool).await,
        };
        result.map_err(|e| Error::Database(e.to_string()))
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn rotation_from_row(row: &AnyRow) -> Result<RotationRecord, Error> {
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

/// The `lease_owner`, `lease_token` and `lease_expires_at` columns.
pub(super) fn lease_from_row(row: &AnyRow) -> Result<Lease, Error> {
    Ok(Lease {
        owner: row.try_get("lease_owner").map_err(Error::database)?,
        token: row.try_get("lease_token").map_err(Error::database)?,
        expires_at: row.try_get("lease_expires_at").map_err(Error::database)?,
    })
}

fn key_from_row(row: &AnyRow) -> Result<KeyRecord, Error> {
    let get_err = Error::database;
    let bits: i64 = row.try_get("key_bits").map_err(get_err)?;
    Ok(KeyRecord {
        key_id: row.try_get("key_id").map_err(get_err)?,
        tenant: row.try_get("tenant").map_err(get_err)?,
        client_id: row.try_get("client_id").map_err(get_err)?,
        kid: row.try_get("kid").map_err(get_err)?,
        algorithm: row.try_get("algorithm").map_err(get_err)?,
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
        state: row.try_get::<String, _>("state").map_err(get_err)?.parse()?,
        created_at: row.try_get("created_at").map_err(get_err)?,
        expires_at: row.try_get("expires_at").map_err(get_err)?,
        activated_at: row.try_get("activated_at").map_err(get_err)?,
        retire_at: row.try_get("retire_at").map_err(get_err)?,
        last_signed_exp: row.try_get("last_signed_exp").map_err(get_err)?,
    })
}

fn audit_from_row(row: &AnyRow) -> Result<AuditEvent, Error> {
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

pub(super) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

#[async_trait::async_trait]
impl Store for SqlStore {
    async fn insert_rotation(&self, r: &RotationRecord) -> Result<Inserted, Error> {
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
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(Inserted::New),
            Err(e) if is_unique_violation(&e) => {
                if let Some(req) = &r.request_id
                    && let Some(existing) = self.rotation_by_request(&r.tenant, req).await?
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
                .bind(r.client_id.clone())
                .fetch_optional(&self.pool)
                .await
                .map_err(Error::database)?;
                match open {
                    Some(row) => Ok(Inserted::Busy(rotation_from_row(&row)?)),
                    None => Err(Error::database(e)),
                }
            }
            Err(e) => Err(Error::database(e)),
        }
    }

    async fn rotation(&self, rotation_id: &str) -> Result<Option<RotationRecord>, Error> {
        let row = sqlx::query(concat!("SELECT ", rotation_columns!(), " FROM rotations WHERE rotation_id = $1"))
            .bind(rotation_id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::database)?;
        row.as_ref().map(rotation_from_row).transpose()
    }

    async fn rotation_by_request(&self, tenant: &str, request_id: &str) -> Result<Option<RotationRecord>, Error> {
        let row = sqlx::query(concat!(
            "SELECT ",
            rotation_columns!(),
            " FROM rotations WHERE tenant = $1 AND request_id = $2"
        ))
        .bind(tenant.to_owned())
        .bind(request_id.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(Error::database)?;
        row.as_ref().map(rotation_from_row).transpose()
    }

    async fn rotation_by_old_key(&self, key_id: &str) -> Result<Option<RotationRecord>, Error> {
        let row = sqlx::query(concat!("SELECT ", rotation_columns!(), " FROM rotations WHERE old_key_id = $1"))
            .bind(key_id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::database)?;
        row.as_ref().map(rotation_from_row).transpose()
    }

    async fn rotations_in_state(&self, state: RotationState) -> Result<Vec<RotationRecord>, Error> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            rotation_columns!(),
            " FROM rotations WHERE state = $1 ORDER BY created_at"
        ))
        .bind(state.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(Error::database)?;
        rows.iter().map(rotation_from_row).collect()
    }

    async fn open_rotations(&self) -> Result<Vec<RotationRecord>, Error> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            rotation_columns!(),
            " FROM rotations WHERE state IN ",
            open_states!(),
            " ORDER BY created_at"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(Error::database)?;
        rows.iter().map(rotation_from_row).collect()
    }

    async fn update_rotation(&self, rotation: &mut RotationRecord) -> Result<(), Error> {
        let mut conn = self.pool.acquire().await.map_err(Error::database)?;
        cas_rotation(&mut conn, rotation, now_ms(), self.lease_ttl_ms).await
    }

    async fn save_generated_key(&self, k: &KeyRecord, rotation: &mut RotationRecord) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(Error::database)?;
        sqlx::query(concat!(
            "INSERT INTO keys (",
            key_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
             $16, $17, $18, $19, $20, $21, $22, $23)"
        ))
        .bind(k.key_id.clone())
        .bind(k.tenant.clone())
        .bind(k.client_id.clone())
        .bind(k.kid.clone())
        .bind(k.algorithm.clone())
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
        .execute(&mut *tx)
        .await
        .map_err(Error::database)?;
        let mut updated = rotation.clone();
        cas_rotation(&mut tx, &mut updated, now_ms(), self.lease_ttl_ms).await?;
        tx.commit().await.map_err(Error::database)?;
        *rotation = updated;
        Ok(())
    }

    async fn activate(
        &self,
        rotation: &mut RotationRecord,
        new_key: &str,
        old_key: Option<&str>,
        retire_at: i64,
    ) -> Result<(), Error> {
        let now = now_ms();
        let mut tx = self.pool.begin().await.map_err(Error::database)?;
        // The fence first: a replica that lost the lease learns that, whatever the keys say.
        let mut updated = rotation.clone();
        cas_rotation(&mut tx, &mut updated, now, self.lease_ttl_ms).await?;
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
        *rotation = updated;
        Ok(())
    }

    async fn renew_rotation_lease(&self, rotation: &RotationRecord) -> Result<Lease, Error> {
        super::sql_fence::renew(&self.pool, rotation, self.lease_ttl_ms).await
    }

    async fn save_registered(
        &self,
        rotation: &mut RotationRecord,
        key_id: &str,
        credential_id: &str,
    ) -> Result<(), Error> {
        super::sql_fence::save_registered(&self.pool, rotation, key_id, credential_id, self.lease_ttl_ms).await
    }

    async fn save_failed(&self, rotation: &mut RotationRecord) -> Result<bool, Error> {
        let wiped = super::sql_fence::save_failed(&self.pool, rotation, self.lease_ttl_ms).await?;
        self.forget_old_pages(wiped).await;
        Ok(wiped)
    }

    async fn close_retirement(&self, key_id: &str, rotation: Option<&mut RotationRecord>) -> Result<bool, Error> {
        let wiped = super::sql_fence::close_retirement(&self.pool, key_id, rotation, self.lease_ttl_ms).await?;
        self.forget_old_pages(wiped).await;
        Ok(wiped)
    }

    async fn may_remove_credential(
        &self,
        fence: Option<&RotationRecord>,
        tenant: &str,
        client_id: &str,
        credential_id: &str,
        own_key: Option<&str>,
    ) -> Result<bool, Error> {
        super::sql_fence::may_remove_credential(
            &self.pool,
            fence,
            tenant,
            client_id,
            credential_id,
            own_key,
            self.lease_ttl_ms,
        )
        .await
    }

    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, Error> {
        let row = sqlx::query(concat!("SELECT ", key_columns!(), " FROM keys WHERE key_id = $1"))
            .bind(key_id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::database)?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn keys(&self, tenant: &str, client_id: &str) -> Result<Vec<KeyRecord>, Error> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM keys WHERE tenant = $1 AND client_id = $2 ORDER BY created_at, key_id"
        ))
        .bind(tenant.to_owned())
        .bind(client_id.to_owned())
        .fetch_all(&self.pool)
        .await
        .map_err(Error::database)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn keys_in_state(&self, state: KeyState) -> Result<Vec<KeyRecord>, Error> {
        let rows =
            sqlx::query(concat!("SELECT ", key_columns!(), " FROM keys WHERE state = $1 ORDER BY created_at, key_id"))
                .bind(state.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(Error::database)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn keys_sealed_by_other(&self, kek_id: &str) -> Result<Vec<KeyRecord>, Error> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM keys WHERE kek_id <> $1 AND state <> 'retired' ORDER BY created_at, key_id"
        ))
        .bind(kek_id.to_owned())
        .fetch_all(&self.pool)
        .await
        .map_err(Error::database)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn rewrap_key(&self, key_id: &str, old_kek_id: &str, sealed: &Sealed) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE keys SET kek_id = $1, wrapped_dek = $2 WHERE key_id = $3 AND kek_id = $4 AND state <> 'retired'",
        )
        .bind(sealed.kek_id.clone())
        .bind(sealed.wrapped_dek.clone())
        .bind(key_id.to_owned())
        .bind(old_kek_id.to_owned())
        .execute(&self.pool)
        .await
        .map_err(Error::database)?;
        Ok(done.rows_affected() == 1)
    }

    async fn key_version(&self) -> Result<String, Error> {
        let row = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(MAX(activated_at), 0) AS BIGINT) AS act, \
             CAST(COALESCE(SUM(CASE WHEN state = 'retired' THEN 1 ELSE 0 END), 0) AS BIGINT) AS gone, \
             CAST(COALESCE(SUM(CASE WHEN state = 'retiring' THEN 1 ELSE 0 END), 0) AS BIGINT) AS retiring FROM keys",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(Error::database)?;
        let get =
            |c: &str| -> Result<i64, Error> { row.try_get::<i64, _>(c).map_err(|e| Error::Corrupt(e.to_string())) };
        Ok(format!("{}:{}:{}:{}", get("n")?, get("act")?, get("gone")?, get("retiring")?))
    }

    async fn extend_signed_exp(&self, key_id: &str, until: i64) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE keys SET last_signed_exp = CASE WHEN last_signed_exp IS NULL OR last_signed_exp < $1 \
             THEN $1 ELSE last_signed_exp END WHERE key_id = $2 AND state IN ('active', 'retiring')",
        )
        .bind(until)
        .bind(key_id.to_owned())
        .execute(&self.pool)
        .await
        .map_err(Error::database)?;
        Ok(done.rows_affected() == 1)
    }

    async fn begin_retirement(&self, key_id: &str, now: i64, early: bool) -> Result<bool, Error> {
        // Early (evicted for a slot): the grace period is waived, live assertions never are.
        let retire_at_limit = if early { i64::MAX } else { now };
        let done = sqlx::query(
            "UPDATE keys SET state = 'retired' WHERE key_id = $1 AND state = 'retiring' \
             AND (retire_at IS NULL OR retire_at <= $3) AND (last_signed_exp IS NULL OR last_signed_exp <= $2)",
        )
        .bind(key_id.to_owned())
        .bind(now)
        .bind(retire_at_limit)
        .execute(&self.pool)
        .await
        .map_err(Error::database)?;
        Ok(done.rows_affected() == 1)
    }

    async fn keys_retired_unfinished(&self) -> Result<Vec<KeyRecord>, Error> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM keys WHERE state = 'retired' AND length(sealed_key) > 0 AND key_id NOT IN \
             (SELECT key_id FROM revocations WHERE state NOT IN ('completed', 'failed')) ORDER BY created_at, key_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(Error::database)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn last_connection_rotation(&self, tenant: &str, connection_id: &str) -> Result<Option<i64>, Error> {
        // Finished rotations only: their recorded result is `{"state":"done",…}`.
        let row = sqlx::query(
            "SELECT MAX(created_at) AS at FROM connection_rotations WHERE tenant = $1 AND connection_id = $2 \
             AND result NOT LIKE '{\"state\":\"pending\"%'",
        )
        .bind(tenant.to_owned())
        .bind(connection_id.to_owned())
        .fetch_one(&self.pool)
        .await
        .map_err(Error::database)?;
        row.try_get::<Option<i64>, _>("at").map_err(Error::database)
    }

    async fn insert_connection_rotation(&self, c: &ConnectionRotationRecord) -> Result<bool, Error> {
        let done = sqlx::query(
            "INSERT INTO connection_rotations (id, tenant, connection_id, request_id, request_hash, result, verified, \
             created_at, lease_owner, lease_token, lease_expires_at, requested_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(c.id.clone())
        .bind(c.tenant.clone())
        .bind(c.connection_id.clone())
        .bind(c.request_id.clone())
        .bind(c.request_hash.clone())
        .bind(c.result.clone())
        .bind(i64::from(c.verified))
        .bind(c.created_at)
        .bind(c.lease.owner.clone())
        .bind(c.lease.token)
        .bind(c.lease.expires_at)
        .bind(c.requested_by.clone())
        .execute(&self.pool)
        .await;
        match done {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(Error::database(e)),
        }
    }

    async fn connection_rotation(
        &self,
        tenant: &str,
        request_id: &str,
    ) -> Result<Option<ConnectionRotationRecord>, Error> {
        let row = sqlx::query(
            "SELECT id, tenant, connection_id, request_id, request_hash, result, verified, created_at, lease_owner, \
             lease_token, lease_expires_at, requested_by FROM connection_rotations WHERE tenant = $1 AND request_id = $2",
        )
        .bind(tenant.to_owned())
        .bind(request_id.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(Error::database)?;
        let Some(row) = row else { return Ok(None) };
        let get_err = Error::database;
        Ok(Some(ConnectionRotationRecord {
            id: row.try_get("id").map_err(get_err)?,
            tenant: row.try_get("tenant").map_err(get_err)?,
            connection_id: row.try_get("connection_id").map_err(get_err)?,
            request_id: row.try_get("request_id").map_err(get_err)?,
            request_hash: row.try_get("request_hash").map_err(get_err)?,
            result: row.try_get("result").map_err(get_err)?,
            verified: row.try_get::<i64, _>("verified").map_err(get_err)? != 0,
            created_at: row.try_get("created_at").map_err(get_err)?,
            lease: lease_from_row(&row)?,
            requested_by: row.try_get("requested_by").map_err(get_err)?,
        }))
    }

    async fn finish_connection_rotation(
        &self,
        id: &str,
        lease: &Lease,
        result: &str,
        verified: bool,
    ) -> Result<(), Error> {
        super::sql_fence::finish_connection_rotation(&self.pool, id, lease, result, verified).await
    }

    async fn claim_connection_rotation(
        &self,
        id: &str,
        owner: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<Option<Lease>, Error> {
        super::sql_fence::claim_connection_rotation(&self.pool, id, owner, now, expires_at).await
    }

    async fn renew_connection_lease(&self, id: &str, lease: &Lease) -> Result<Lease, Error> {
        super::sql_fence::renew_connection_lease(&self.pool, id, lease, self.lease_ttl_ms).await
    }

    async fn record_connection_key(&self, k: &ConnectionKeyRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO connection_keys (tenant, connection_id, kid, algorithm, subject_dn, cert, fingerprint, thumbprint, \
             pkcs, status, verified, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (tenant, connection_id, kid) DO UPDATE SET status = excluded.status, \
             verified = excluded.verified, last_seen = excluded.last_seen",
        )
        .bind(k.tenant.clone())
        .bind(k.connection_id.clone())
        .bind(k.kid.clone())
        .bind(k.algorithm.clone())
        .bind(k.subject_dn.clone())
        .bind(k.cert.clone())
        .bind(k.fingerprint.clone())
        .bind(k.thumbprint.clone())
        .bind(k.pkcs.clone())
        .bind(k.status.clone())
        .bind(i64::from(k.verified))
        .bind(k.seen_at)
        .bind(k.seen_at)
        .execute(&self.pool)
        .await
        .map_err(Error::database)?;
        Ok(())
    }

    fn lease_ttl_ms(&self) -> i64 {
        self.lease_ttl_ms
    }

    async fn claim_rotation(
        &self,
        rotation_id: &str,
        owner: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<Option<RotationRecord>, Error> {
        let done = sqlx::query(
            "UPDATE rotations SET lease_owner = $1, lease_token = lease_token + 1, lease_expires_at = $2 \
             WHERE rotation_id = $3 AND (lease_owner IS NULL OR lease_owner = $1 OR lease_expires_at <= $4)",
        )
        .bind(owner.to_owned())
        .bind(expires_at)
        .bind(rotation_id.to_owned())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(Error::database)?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        self.rotation(rotation_id).await
    }

    async fn put_policy(&self, policy: &PolicyRecord) -> Result<(), Error> {
        policies::put(&self.pool, policy).await
    }

    async fn delete_policy(&self, tenant: &str, kind: PolicyKind, target: &str) -> Result<bool, Error> {
        policies::delete(&self.pool, tenant, kind, target).await
    }

    async fn policies(&self) -> Result<Vec<PolicyRecord>, Error> {
        policies::all(&self.pool).await
    }

    async fn set_policy_due(
        &self,
        tenant: &str,
        kind: PolicyKind,
        target: &str,
        due_at: Option<i64>,
    ) -> Result<(), Error> {
        policies::set_due(&self.pool, tenant, kind, target, due_at).await
    }

    async fn claim_due_policies(
        &self,
        owner: &str,
        now: i64,
        expires_at: i64,
        limit: i64,
    ) -> Result<Vec<PolicyRecord>, Error> {
        policies::claim_due(&self.pool, self.dialect, owner, now, expires_at, limit).await
    }

    async fn finish_policy(
        &self,
        policy: &PolicyRecord,
        result: &str,
        rotated_at: Option<i64>,
        due_at: Option<i64>,
    ) -> Result<bool, Error> {
        policies::finish(&self.pool, policy, result, rotated_at, due_at).await
    }

    async fn insert_revocation(&self, r: &RevocationRecord) -> Result<Option<RevocationRecord>, Error> {
        revocations::insert(&self.pool, r).await
    }

    async fn revocation(&self, revocation_id: &str) -> Result<Option<RevocationRecord>, Error> {
        revocations::by_id(&self.pool, revocation_id).await
    }

    async fn revocation_of_key(&self, key_id: &str) -> Result<Option<RevocationRecord>, Error> {
        revocations::of_key(&self.pool, key_id).await
    }

    async fn open_revocations(&self) -> Result<Vec<RevocationRecord>, Error> {
        revocations::open(&self.pool).await
    }

    async fn claim_revocation(
        &self,
        revocation_id: &str,
        owner: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<Option<RevocationRecord>, Error> {
        revocations::claim(&self.pool, revocation_id, owner, now, expires_at).await
    }

    async fn renew_revocation_lease(&self, revocation: &RevocationRecord) -> Result<Lease, Error> {
        revocations::renew(&self.pool, revocation, self.lease_ttl_ms).await
    }

    async fn save_revocation(&self, revocation: &mut RevocationRecord) -> Result<(), Error> {
        let destroyed = revocations::save(&self.pool, revocation, self.lease_ttl_ms).await?;
        self.forget_old_pages(destroyed).await;
        Ok(())
    }

    async fn append_audit(&self, e: &AuditEvent) -> Result<i64, Error> {
        let row = sqlx::query(
            "INSERT INTO audit_events (at, actor, tenant, subject, kind, detail) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(e.at)
        .bind(e.actor.clone())
        .bind(e.tenant.clone())
        .bind(e.subject.clone())
        .bind(e.kind.clone())
        .bind(e.detail.clone())
        .fetch_one(&self.pool)
        .await
        .map_err(Error::database)?;
        row.try_get::<i64, _>(0).map_err(Error::database)
    }

    async fn last_audit(&self, kind: &str) -> Result<Option<AuditEvent>, Error> {
        let row = sqlx::query(
            "SELECT id, at, actor, tenant, subject, kind, detail FROM audit_events WHERE kind = $1 \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(kind.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(Error::database)?;
        row.as_ref().map(audit_from_row).transpose()
    }

    async fn audit_after(&self, after_id: i64, limit: i64) -> Result<Vec<AuditEvent>, Error> {
        let rows = sqlx::query(
            "SELECT id, at, actor, tenant, subject, kind, detail FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::database)?;
        rows.iter().map(audit_from_row).collect()
    }
}
