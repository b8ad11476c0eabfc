//! What only the SQLite store does: its file (write-ahead log, schema version, a
//! missing directory, a newer schema) and the in-memory store. What every backend
//! does is the conformance suite's (`sqlite_conformance.rs`, `conformance/mod.rs`).

use charter_knowledge::{Incidents, SCHEMA_VERSION, SqliteStore, Store, StoreError};
use charter_model::IncidentId;
use charter_model::{Incident, IncidentState, Timestamp};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn incident(id: u64, state: IncidentState) -> Incident {
    Incident {
        id: IncidentId(id),
        opened_at: Timestamp::from_secs(100 + id as i64),
        state,
        violations: vec!["latency_p99@api".into(), "errors@frontend".into()],
        root_cause: Some("api: overload".into()),
        resolved_at: None,
        attempts: 1,
    }
}

/// The file side of a restart; what a restart keeps is the conformance suite's
/// `everything_survives_a_restart_and_ids_continue`.
#[tokio::test]
async fn commits_go_to_the_wal_and_a_reopened_file_keeps_its_schema_version() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("knowledge").with_extension("db");
    {
        let store = SqliteStore::open(&path).await?;
        assert_eq!(store.schema_version().await?, SCHEMA_VERSION);
        store
            .save_incident(&incident(7, IncidentState::Remediating))
            .await?;
        // WAL mode: the commits sit in the write-ahead log until a checkpoint.
        assert!(path.with_extension("db-wal").exists());
        // Dropped without close(): nothing may depend on a clean shutdown.
    }

    let store = SqliteStore::open(&path).await?;
    assert_eq!(
        store.incidents().await?,
        vec![incident(7, IncidentState::Remediating)]
    );
    store.close().await;

    // A clean close leaves a store that opens again at the same schema version.
    let reopened = SqliteStore::open(&path).await?;
    assert_eq!(reopened.schema_version().await?, SCHEMA_VERSION);
    assert_eq!(reopened.incidents().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn opening_in_a_missing_directory_names_the_path() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("no-such-dir").join("charter.db");
    let err = match SqliteStore::open(&path).await {
        Ok(_) => return Err("opened a store in a missing directory".into()),
        Err(err) => err,
    };
    assert!(
        matches!(err, StoreError::MissingDirectory { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "message does not name the path: {message}"
    );
    assert!(message.contains("does not exist"), "{message}");
    assert!(!path.exists());
    Ok(())
}

#[tokio::test]
async fn a_schema_newer_than_this_build_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("charter.db");
    let store = SqliteStore::open(&path).await?;
    store.close().await;
    {
        // Simulate a newer Charter having migrated the file.
        use sqlx::Connection;
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await?;
        sqlx::query("INSERT INTO schema_version (version, description) VALUES ($1, 'future')")
            .bind(SCHEMA_VERSION + 1)
            .execute(&mut conn)
            .await?;
        conn.close().await?;
    }
    let err = SqliteStore::open(&path).await.err();
    assert!(
        matches!(err, Some(StoreError::SchemaTooNew { found, known }) if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION),
        "{err:?}"
    );
    Ok(())
}

#[tokio::test]
async fn in_memory_store_works_without_a_file() -> TestResult {
    let store = SqliteStore::open_in_memory().await?;
    assert_eq!(store.path(), None);
    store
        .save_incident(&incident(1, IncidentState::Open))
        .await?;
    assert_eq!(store.incidents().await?.len(), 1);
    assert_eq!(store.next_ids().await?.incident, IncidentId(2));
    Ok(())
}
