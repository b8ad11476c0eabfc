//! The journal keeps the prior state startup recovery needs, and a compensation that
//! ended counts as finished.

use charter_knowledge::{
    Journal, JournalRecord, JournalStatus, SCHEMA_VERSION, SqliteStore, Store,
};
use charter_model::ExecutionId;
use charter_model::{Action, ActionKind, Timestamp};
use std::collections::BTreeMap;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn row(step: u32, status: JournalStatus, key: &str) -> JournalRecord {
    JournalRecord {
        execution_id: ExecutionId(3),
        step,
        idempotency_key: key.into(),
        epoch: 0,
        action: Action::new(ActionKind::ScaleOut, "api").with_param("step", 2),
        status,
        detail: String::new(),
        prior: BTreeMap::new(),
        at: Timestamp::from_secs(10),
    }
}

#[tokio::test]
async fn an_applied_row_keeps_its_prior_across_a_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("charter.db");
    let mut applied = row(0, JournalStatus::Applied, "3-0");
    applied.prior = BTreeMap::from([("replicas".to_string(), "3".to_string())]);
    {
        let store = SqliteStore::open(&path).await?;
        store
            .journal_step(&row(0, JournalStatus::Intent, "3-0"))
            .await?;
        store.journal_step(&applied).await?;
        store.close().await;
    }
    let store = SqliteStore::open(&path).await?;
    let journal = store.journal(ExecutionId(3)).await?;
    assert_eq!(journal.len(), 2);
    assert_eq!(journal[0].prior, BTreeMap::new());
    assert_eq!(journal[1], applied);
    Ok(())
}

#[tokio::test]
async fn a_compensation_that_ended_is_not_unfinished() -> TestResult {
    let store = SqliteStore::open_in_memory().await?;
    store
        .journal_step(&row(0, JournalStatus::Intent, "3-0"))
        .await?;
    store
        .journal_step(&row(0, JournalStatus::Applied, "3-0"))
        .await?;
    store
        .journal_step(&row(1000, JournalStatus::Intent, "3-0-undo"))
        .await?;
    assert_eq!(
        store.unfinished_journal().await?,
        vec![row(1000, JournalStatus::Intent, "3-0-undo")]
    );
    store
        .journal_step(&row(1000, JournalStatus::Compensated, "3-0-undo"))
        .await?;
    assert_eq!(store.unfinished_journal().await?, vec![]);
    Ok(())
}

#[tokio::test]
async fn journal_rows_written_before_version_4_read_back_without_a_prior() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("charter.db");
    {
        // A file written by a build that knew only schema version 1.
        use sqlx::Connection;
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
                .await?;
        sqlx::raw_sql(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL)",
        )
        .execute(&mut conn)
        .await?;
        sqlx::raw_sql(include_str!("../migrations/sqlite/0001_initial.sql"))
            .execute(&mut conn)
            .await?;
        sqlx::query(
            "INSERT INTO schema_version (version, description) VALUES (1, 'initial schema')",
        )
        .execute(&mut conn)
        .await?;
        sqlx::query(
            "INSERT INTO journal \
               (execution_id, step, status, idempotency_key, epoch, at_ms, action, detail) \
             VALUES (3, 0, 'applied', '3-0', 0, 10000, \
               '{\"kind\":\"scale_out\",\"component\":\"api\"}', 'done')",
        )
        .execute(&mut conn)
        .await?;
        conn.close().await?;
    }
    let store = SqliteStore::open(&path).await?;
    assert_eq!(store.schema_version().await?, SCHEMA_VERSION);
    let journal = store.journal(ExecutionId(3)).await?;
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].detail, "done");
    assert!(journal[0].prior.is_empty());
    Ok(())
}
