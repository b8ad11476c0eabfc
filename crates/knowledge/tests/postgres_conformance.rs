//! The conformance suite (`conformance/mod.rs`) against [`PostgresStore`].
//!
//! `CHARTER_TEST_POSTGRES_URL` names a server and a user allowed to create databases
//! (`scripts/test` starts one); each test creates a database of its own under a unique
//! name and drops it at the end, so tests run in parallel. Without the variable the
//! tests fail, saying to run `scripts/test`; `CHARTER_SKIP_POSTGRES=1` skips them for
//! local work.

mod conformance;

use async_trait::async_trait;
use charter_knowledge::{PostgresStore, Store};
use conformance::{Backend, BoxError};
use sqlx::Connection;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

struct Postgres {
    admin_url: String,
    database: String,
    url: String,
}

#[async_trait(?Send)]
impl Backend for Postgres {
    async fn open(&self) -> Result<Arc<dyn Store>, BoxError> {
        Ok(Arc::new(PostgresStore::connect(&self.url).await?))
    }

    async fn destroy(&self) {
        // FORCE ends the connections of pools the case did not close.
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database);
        match sqlx::PgConnection::connect(&self.admin_url).await {
            Ok(mut admin) => {
                if let Err(e) = sqlx::raw_sql(&sql).execute(&mut admin).await {
                    eprintln!("cannot drop test database {}: {e}", self.database);
                }
                let _ = admin.close().await;
            }
            Err(e) => eprintln!("cannot drop test database {}: {e}", self.database),
        }
    }
}

/// `url` with its database (the path) replaced by `database`.
fn with_database(url: &str, database: &str) -> Result<String, BoxError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("CHARTER_TEST_POSTGRES_URL is not a URL (postgres://user@host:port/db)")?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
    Ok(format!("{scheme}://{authority}/{database}{query}"))
}

async fn fresh() -> Result<Option<Arc<dyn Backend>>, BoxError> {
    Ok(fresh_database()
        .await?
        .map(|pg| -> Arc<dyn Backend> { Arc::new(pg) }))
}

/// A new, empty database on the test server; `None` when skipping was asked for.
async fn fresh_database() -> Result<Option<Postgres>, BoxError> {
    let admin_url = match std::env::var("CHARTER_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ if std::env::var("CHARTER_SKIP_POSTGRES").as_deref() == Ok("1") => {
            eprintln!("CHARTER_SKIP_POSTGRES=1: PostgreSQL conformance test skipped");
            return Ok(None);
        }
        _ => {
            return Err(
                "CHARTER_TEST_POSTGRES_URL is not set: run scripts/test, which starts \
                        a PostgreSQL server for the conformance suite (or set \
                        CHARTER_SKIP_POSTGRES=1 to skip these tests for local work)"
                    .into(),
            );
        }
    };
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .subsec_nanos();
    let database = format!(
        "charter_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .map_err(|e| format!("cannot connect to CHARTER_TEST_POSTGRES_URL: {e}"))?;
    sqlx::raw_sql(&format!("CREATE DATABASE {database}"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    let url = with_database(&admin_url, &database)?;
    Ok(Some(Postgres {
        admin_url,
        database,
        url,
    }))
}

conformance_tests!(fresh);

#[test]
fn the_database_of_a_url_is_replaced() -> Result<(), BoxError> {
    assert_eq!(
        with_database("postgres://u:p@127.0.0.1:5432/postgres", "t1")?,
        "postgres://u:p@127.0.0.1:5432/t1"
    );
    assert_eq!(
        with_database("postgres://u@h:1/postgres?sslmode=disable", "t1")?,
        "postgres://u@h:1/t1?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://u@h:1", "t1")?,
        "postgres://u@h:1/t1"
    );
    Ok(())
}

/// A schema newer than this build is refused, as with SQLite.
#[tokio::test]
async fn a_schema_newer_than_this_build_is_refused() -> conformance::TestResult {
    let Some(pg) = fresh_database().await? else {
        return Ok(());
    };
    let url = pg.url.clone();
    conformance::run(Arc::new(pg), |backend| async move {
        let store = backend.open().await?;
        store.close().await;
        // A newer Charter migrated the database.
        let mut conn = sqlx::PgConnection::connect(&url).await?;
        sqlx::query("INSERT INTO schema_version (version, description) VALUES ($1, 'future')")
            .bind(charter_knowledge::POSTGRES_SCHEMA_VERSION + 1)
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let err = PostgresStore::connect(&url).await.err();
        assert!(
            matches!(err, Some(charter_knowledge::StoreError::SchemaTooNew { found, known })
                if found == known + 1),
            "{err:?}"
        );
        Ok(())
    })
    .await
}

/// A wrong password fails with a message that names the server but not the password.
#[tokio::test]
async fn a_refused_connection_names_the_url_without_its_password() -> conformance::TestResult {
    let Some(pg) = fresh_database().await? else {
        return Ok(());
    };
    let url = pg.url.clone();
    conformance::run(Arc::new(pg), |_| async move {
        let (scheme, rest) = url.split_once("://").ok_or("not a url")?;
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let wrong = format!("{scheme}://charter_nobody:wrong-secret@{host}");
        let err = PostgresStore::connect(&wrong)
            .await
            .err()
            .ok_or("connected")?;
        let message = err.to_string();
        assert!(message.contains("charter_nobody:***@"), "{message}");
        assert!(!message.contains("wrong-secret"), "{message}");
        Ok(())
    })
    .await
}
