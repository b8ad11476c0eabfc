//! [`SqliteStore`]: the default backend, one SQLite file in WAL mode with `synchronous=FULL`.
//!
//! The queries are [`SqlStore`]'s; this module opens the file, migrates it and is the
//! SQLite [`Dialect`]. [`alerts`] holds the group-committing writer of webhook alerts.

mod alerts;

use crate::error::StoreError;
use crate::sql::{self, Dialect, MIGRATIONS, Migration, SCHEMA_VERSION, SqlStore};
use crate::writer_lock::WriterLock;
use async_trait::async_trait;
use charter_model::Alert;
use sqlx::Connection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// WAL lets readers run beside the one writer; a few connections are enough for the
/// loop, the executor and the API.
const MAX_CONNECTIONS: u32 = 4;

/// The SQLite knowledge store.
///
/// Every write is a single autocommitted statement (or one transaction), and with
/// `synchronous=FULL` SQLite syncs the WAL before the commit returns, so a record is on
/// disk when the method returns `Ok`.
pub type SqliteStore = SqlStore<SqliteDialect>;

/// SQLite as a [`Dialect`], with what an open store keeps besides its pool.
#[derive(Debug, Clone)]
pub struct SqliteDialect {
    path: Option<PathBuf>,
    /// Alert batches waiting for the one task that writes them (see [`alerts`]).
    alert_queue: Arc<alerts::AlertQueue>,
    /// The writer lock, when opened by [`SqliteStore::open_writer`]: held as long as
    /// any clone of the store lives.
    lock: Option<Arc<WriterLock>>,
}

impl SqliteStore {
    /// Open the database at `path` as its one writer — for the loop and startup
    /// recovery (`charter run`, `charter demo --db`): take its [`WriterLock`] (or fail
    /// naming the process that holds it), run `PRAGMA quick_check` (a damaged file is
    /// refused before anything reads or writes it), then open it as [`SqliteStore::open`]
    /// does. The lock is held until the last clone of the store is dropped.
    pub async fn open_writer(path: &Path) -> Result<SqliteStore, StoreError> {
        check_directory(path)?;
        let lock = Arc::new(WriterLock::acquire(path)?);
        let pool = Self::pool(path).await?;
        quick_check(&pool, path).await?;
        let mut store = SqliteStore::migrated(pool, Some(path.to_path_buf())).await?;
        store.dialect.lock = Some(lock);
        Ok(store)
    }

    /// Open (creating if missing) the database at `path` and bring its schema up to
    /// [`SCHEMA_VERSION`], without the writer lock: for commands that read (or import
    /// priors) beside a running daemon. SQLite itself serialises their statements.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        check_directory(path)?;
        let pool = Self::pool(path).await?;
        SqliteStore::migrated(pool, Some(path.to_path_buf())).await
    }

    async fn pool(path: &Path) -> Result<SqlitePool, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .after_release(|conn, _| {
                Box::pin(async move {
                    // A transaction whose COMMIT or statement failed (SQLITE_FULL, an
                    // I/O error) may have been rolled back by SQLite already; sqlx's
                    // ROLLBACK then fails and it still counts the transaction as open,
                    // so every later `begin` on this connection would fail. A dropped
                    // transaction queues its rollback: the ping waits for it (only then,
                    // so a normal release costs nothing). A connection still in a
                    // transaction after that is closed, not pooled.
                    if !conn.is_in_transaction() {
                        return Ok(true);
                    }
                    conn.ping().await?;
                    Ok(!conn.is_in_transaction())
                })
            })
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source: source.into(),
            })
    }

    /// A store that lives in memory and vanishes when dropped: for tests, demos and
    /// simulations that need no history.
    pub async fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true);
        // An in-memory database lives and dies with its connection, so the pool keeps
        // exactly one and never retires it.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: PathBuf::from(":memory:"),
                source: source.into(),
            })?;
        SqliteStore::migrated(pool, None).await
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.dialect.path.as_deref()
    }

    /// The store on `pool`, its schema brought up to [`SCHEMA_VERSION`].
    async fn migrated(pool: SqlitePool, path: Option<PathBuf>) -> Result<SqliteStore, StoreError> {
        let store = SqlStore {
            pool,
            dialect: SqliteDialect {
                path,
                alert_queue: Arc::default(),
                lock: None,
            },
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_version (\
                 version INTEGER PRIMARY KEY, \
                 description TEXT NOT NULL)",
        )
        .execute(&self.pool)
        .await
        .map_err(|source: sqlx::Error| StoreError::Migrate {
            version: 0,
            description: "schema version table",
            source: source.into(),
        })?;
        let found = self.schema_version().await?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                known: SCHEMA_VERSION,
            });
        }
        for migration in MIGRATIONS.iter().filter(|m| m.version > found) {
            self.apply(migration).await?;
        }
        Ok(())
    }

    async fn apply(&self, migration: &Migration) -> Result<(), StoreError> {
        let err = |source: sqlx::Error| StoreError::Migrate {
            version: migration.version,
            description: migration.description,
            source: source.into(),
        };
        // IMMEDIATE takes the write lock up front: two processes opening a fresh file at
        // once queue here, and the second sees the version the first wrote.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        if sql::version_in(&mut tx).await.map_err(err)? >= migration.version {
            return Ok(());
        }
        sql::apply_in(&mut tx, migration, migration.sqlite)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)
    }
}

/// SQLite's own error for a missing directory is "unable to open database file",
/// which does not say that the directory is what is missing.
fn check_directory(path: &Path) -> Result<(), StoreError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
            Err(StoreError::MissingDirectory {
                path: path.to_path_buf(),
                dir: dir.to_path_buf(),
            })
        }
        _ => Ok(()),
    }
}

/// The most problems `quick_check` is asked to list.
const QUICK_CHECK_ROWS: u32 = 10;

/// `PRAGMA quick_check` on the file behind `pool`: `Err(Corrupt)` unless it says `ok`.
/// A check that cannot run at all ("database disk image is malformed", "file is not a
/// database") is a corrupted store too.
async fn quick_check(pool: &SqlitePool, path: &Path) -> Result<(), StoreError> {
    let corrupt = |report: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        report,
    };
    let rows: Vec<String> = sqlx::query_scalar(&format!("PRAGMA quick_check({QUICK_CHECK_ROWS})"))
        .fetch_all(pool)
        .await
        .map_err(|e| corrupt(crate::error::DbError(e).to_string()))?;
    match rows.as_slice() {
        [ok] if ok == "ok" => Ok(()),
        [] => Err(corrupt("no answer".into())),
        problems => Err(corrupt(
            problems
                .iter()
                .map(|p| p.replace(['\n', '\r'], " "))
                .collect::<Vec<_>>()
                .join("; "),
        )),
    }
}

#[async_trait]
impl Dialect for SqliteDialect {
    type DB = sqlx::Sqlite;

    const NOW_MS: &'static str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";
    const SUM_SUCCESS: &'static str = "SUM(success)";
    const REPLACE_PRIOR: &'static str = "INSERT OR REPLACE INTO";
    const REPLACE_PRIOR_END: &'static str = "";
    // SQLite compares text by its bytes unless told otherwise.
    const BYTE_ORDER: &'static str = "";
    // A transaction whose first statement writes holds SQLite's only write lock until
    // it commits: writers are serialized already.
    const LOCK_CHANGES: Option<&'static str> = None;

    fn placeholders(rows: usize, columns: usize) -> String {
        alerts::placeholders(rows, columns)
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    async fn save_alerts(
        &self,
        pool: &SqlitePool,
        alerts: &[Alert],
    ) -> Result<Vec<bool>, StoreError> {
        alerts::save(pool, &self.alert_queue, alerts).await
    }

    fn write_status(&self) -> Result<(), String> {
        self.alert_queue.write_status()
    }

    async fn close(&self, pool: &SqlitePool) {
        // Fold the WAL into the main file so the database is a single file at rest. A
        // failed checkpoint loses nothing: the WAL is replayed on the next open.
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(pool)
            .await;
        pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GuardStore, Store};

    #[tokio::test]
    async fn a_store_is_passed_on_as_one_role() -> Result<(), Box<dyn std::error::Error>> {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().await?);
        let guard: Arc<dyn GuardStore> = store.clone();
        guard.put_guard_state("k", &serde_json::json!(1)).await?;
        assert_eq!(store.guard_state("k").await?, Some(serde_json::json!(1)));
        Ok(())
    }

    #[tokio::test]
    async fn open_sets_the_durability_pragmas() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = SqliteStore::open(&dir.path().join("k.db")).await?;
        let mut conn = store.pool.acquire().await?;
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await?;
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await?;
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await?;
        let busy_timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await?;
        assert_eq!(mode, "wal");
        assert_eq!(synchronous, 2, "synchronous=FULL");
        assert_eq!(foreign_keys, 1);
        assert_eq!(busy_timeout, BUSY_TIMEOUT.as_millis() as i64);
        Ok(())
    }
}
