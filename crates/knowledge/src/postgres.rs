//! [`PostgresStore`]: the knowledge store on a PostgreSQL server, for installations
//! that already run one or that want several Charter replicas to share their knowledge.
//!
//! The tables, the versions of the schema, the queries and the meaning of every method
//! are [`SqlStore`]'s, as for [`crate::SqliteStore`] (`tests/conformance` runs the same
//! suite against both); this module connects, migrates under an advisory lock and is
//! the PostgreSQL [`Dialect`]. [`alerts`] holds the alert writer.

mod alerts;

use crate::error::StoreError;
use crate::sql::{self, Dialect, MIGRATIONS, Migration, SCHEMA_VERSION, SqlStore};
use async_trait::async_trait;
use charter_model::Alert;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgQueryResult};
use std::str::FromStr;
use std::time::Duration;

/// A few connections serve the loop, the executor, the alert ingest and the API; a
/// server shared by replicas should not be flooded by any one of them.
const MAX_CONNECTIONS: u32 = 4;

/// How long a caller waits for a free connection (or a new one) before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Advisory lock held while the schema is migrated, so that replicas starting at once
/// apply each migration exactly once. Advisory locks are per database.
const MIGRATION_LOCK: i64 = 0x4348_4152_5445_5201; // "CHARTER" 01

/// The PostgreSQL schema version this build creates and understands: SQLite's, as
/// every migration is written for both.
pub const POSTGRES_SCHEMA_VERSION: i64 = SCHEMA_VERSION;

/// The PostgreSQL knowledge store.
///
/// Every write is one autocommitted statement or one transaction, and the sessions run
/// with `synchronous_commit=on`, which flushes the WAL before the commit returns, so a
/// record is durable when the method returns `Ok` (given a server with `fsync` on).
pub type PostgresStore = SqlStore<PostgresDialect>;

/// PostgreSQL as a [`Dialect`], with what an open store keeps besides its pool.
#[derive(Debug, Clone)]
pub struct PostgresDialect {
    /// The URL without its password, for messages.
    url: String,
}

impl PostgresStore {
    /// Connect to `url` (`postgres://user:password@host:port/database`) and bring the
    /// schema up to [`POSTGRES_SCHEMA_VERSION`]. The database must exist.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let redacted = redact_url(url);
        let connect_err = |source: sqlx::Error| StoreError::Connect {
            url: redacted.clone(),
            source: source.into(),
        };
        // synchronous_commit=on whatever the server's default: a write is acknowledged
        // only once its WAL is flushed (the durability every Store write promises).
        let options = PgConnectOptions::from_str(url)
            .map_err(connect_err)?
            .application_name("charter")
            .options([("synchronous_commit", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        let store = SqlStore {
            pool,
            dialect: PostgresDialect { url: redacted },
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The connection URL with any password replaced by `***`.
    pub fn url(&self) -> &str {
        &self.dialect.url
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut found = 0;
        for migration in MIGRATIONS {
            if migration.version <= found {
                continue;
            }
            found = self.apply(migration).await?;
        }
        Ok(())
    }

    /// Apply `migration` unless the database is already there; returns the version the
    /// database is at afterwards.
    async fn apply(&self, migration: &Migration) -> Result<i64, StoreError> {
        let err = |source: sqlx::Error| StoreError::Migrate {
            version: migration.version,
            description: migration.description,
            source: source.into(),
        };
        // DDL is transactional in PostgreSQL: a failed migration leaves nothing behind.
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_version (\
                 version BIGINT PRIMARY KEY, \
                 description TEXT NOT NULL)",
        )
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        let current = sql::version_in(&mut tx).await.map_err(err)?;
        if current > POSTGRES_SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: current,
                known: POSTGRES_SCHEMA_VERSION,
            });
        }
        if current >= migration.version {
            return Ok(current);
        }
        sql::apply_in(&mut tx, migration, migration.postgres)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(migration.version)
    }
}

#[async_trait]
impl Dialect for PostgresDialect {
    type DB = sqlx::Postgres;

    const NOW_MS: &'static str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";
    // SUM of a bigint is numeric in PostgreSQL; cast it back.
    const SUM_SUCCESS: &'static str = "SUM(success)::BIGINT";
    const REPLACE_PRIOR: &'static str = "INSERT INTO";
    const REPLACE_PRIOR_END: &'static str = " \
        ON CONFLICT (action_kind, objective, component, source) DO UPDATE SET \
          alpha = excluded.alpha, beta = excluded.beta, \
          time_to_effect_secs = excluded.time_to_effect_secs, \
          weight = excluded.weight, imported_at_ms = excluded.imported_at_ms";
    // Byte order, as SQLite sorts text, whatever the server's locale.
    const BYTE_ORDER: &'static str = " COLLATE \"C\"";
    // "CHARTER" 03: see migrations/postgres/0007_changes.sql.
    const LOCK_CHANGES: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(4848196820721291779)");

    fn placeholders(rows: usize, columns: usize) -> String {
        let row = |r: usize| {
            let params: Vec<String> = (1..=columns)
                .map(|c| format!("${}", r * columns + c))
                .collect();
            format!("({})", params.join(", "))
        };
        (0..rows).map(row).collect::<Vec<_>>().join(", ")
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    async fn save_alerts(&self, pool: &PgPool, alerts: &[Alert]) -> Result<Vec<bool>, StoreError> {
        alerts::save(pool, alerts).await
    }

    async fn close(&self, pool: &PgPool) {
        pool.close().await;
    }
}

/// `url` with the password of its user info replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_across_rows() {
        assert_eq!(PostgresDialect::placeholders(1, 2), "($1, $2)");
        assert_eq!(
            PostgresDialect::placeholders(2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
    }

    #[test]
    fn redacting_a_url_hides_only_the_password() {
        assert_eq!(
            redact_url("postgres://charter:s3cr3t@db.example:5432/charter?sslmode=require"),
            "postgres://charter:***@db.example:5432/charter?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://charter@127.0.0.1:5432/k"),
            "postgres://charter@127.0.0.1:5432/k"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
