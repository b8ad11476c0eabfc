//! Guardrail state in the SQLite store: the generic key/value, the kill switch and
//! the quarantined components, across a reopen of the same file.

use charter_knowledge::{GUARD_PAUSED, GuardStore, PauseRecord, SqliteStore, Store, StoreError};
use charter_model::Timestamp;
use std::collections::BTreeSet;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::test]
async fn guard_state_is_a_durable_key_value_of_json() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("k.db");
    let store = SqliteStore::open(&path).await?;
    assert_eq!(store.guard_state("anything").await?, None);
    store
        .put_guard_state("limits", &serde_json::json!({"max": 3}))
        .await?;
    store
        .put_guard_state("limits", &serde_json::json!({"max": 4}))
        .await?;
    assert_eq!(
        store.guard_state("limits").await?,
        Some(serde_json::json!({"max": 4}))
    );
    store.close().await;

    let reopened = SqliteStore::open(&path).await?;
    assert_eq!(
        reopened.guard_state("limits").await?,
        Some(serde_json::json!({"max": 4}))
    );
    Ok(())
}

#[tokio::test]
async fn pause_and_quarantine_survive_a_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("k.db");
    let store = SqliteStore::open(&path).await?;
    assert_eq!(store.pause().await?, None);
    assert!(store.quarantined().await?.is_empty());
    let pause = PauseRecord {
        paused: true,
        by: "alice".into(),
        reason: "database migration".into(),
        at: Timestamp(1_700_000_000_000),
    };
    store.save_pause(&pause).await?;
    let quarantined: BTreeSet<String> = ["db".to_string(), "cache".to_string()].into();
    store.save_quarantined(&quarantined).await?;
    store.close().await;

    let reopened = SqliteStore::open(&path).await?;
    assert_eq!(reopened.pause().await?, Some(pause));
    assert_eq!(reopened.quarantined().await?, quarantined);
    Ok(())
}

#[tokio::test]
async fn a_corrupt_pause_record_is_an_error_not_a_resume() -> TestResult {
    let store = SqliteStore::open_in_memory().await?;
    store
        .put_guard_state(GUARD_PAUSED, &serde_json::json!("yes"))
        .await?;
    assert!(matches!(
        store.pause().await,
        Err(StoreError::Decode { .. })
    ));
    Ok(())
}
