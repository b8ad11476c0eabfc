//! Cases of the `Journal` role: the append-only step journal, its idempotency and
//! what is unfinished, and executions.

use super::{Backend, TestResult, execution, journal_row};
use charter_knowledge::{JournalStatus, StoreError};
use charter_model::ExecutionId;
use std::collections::BTreeMap;
use std::sync::Arc;

pub async fn journal_is_append_only_and_idempotent(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    let intent = journal_row(5, 0, JournalStatus::Intent, 10);
    let applied = journal_row(5, 0, JournalStatus::Applied, 11);
    let compensated = journal_row(5, 0, JournalStatus::Compensated, 12);
    assert!(store.journal_step(&intent).await?);
    assert!(store.journal_step(&applied).await?);
    assert!(store.journal_step(&compensated).await?);
    // A retried write of the same row is a no-op, not a second row.
    assert!(!store.journal_step(&intent).await?);
    assert_eq!(
        store.journal(ExecutionId(5)).await?,
        vec![intent.clone(), applied, compensated]
    );
    assert!(store.journal(ExecutionId(6)).await?.is_empty());

    let mut other_key = intent;
    other_key.idempotency_key = "someone-else".into();
    let err = store.journal_step(&other_key).await;
    assert!(
        matches!(
            err,
            Err(StoreError::JournalConflict {
                execution_id: ExecutionId(5),
                step: 0,
                ..
            })
        ),
        "{err:?}"
    );
    Ok(())
}

pub async fn the_same_journal_row_from_two_writers_is_new_once(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    for step in 0..20 {
        let row = journal_row(8, step, JournalStatus::Intent, 10);
        let (a, b) = tokio::join!(store.journal_step(&row), store.journal_step(&row));
        assert!(
            a? ^ b?,
            "step {step}: exactly one writer must see the row as new"
        );
    }
    assert_eq!(store.journal(ExecutionId(8)).await?.len(), 20);
    Ok(())
}

pub async fn unfinished_journal_finds_an_intent_without_a_result(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    // Execution 1: step 0 applied, step 1 failed, step 2 crashed mid-way.
    for (step, status, at) in [
        (0, JournalStatus::Intent, 10),
        (0, JournalStatus::Applied, 11),
        (1, JournalStatus::Intent, 12),
        (1, JournalStatus::Failed, 13),
        (2, JournalStatus::Intent, 14),
    ] {
        store
            .journal_step(&journal_row(1, step, status, at))
            .await?;
    }
    // Execution 2: its only step is in flight.
    store
        .journal_step(&journal_row(2, 0, JournalStatus::Intent, 15))
        .await?;

    assert_eq!(
        store.unfinished_journal().await?,
        vec![
            journal_row(1, 2, JournalStatus::Intent, 14),
            journal_row(2, 0, JournalStatus::Intent, 15)
        ]
    );

    store
        .journal_step(&journal_row(1, 2, JournalStatus::Applied, 16))
        .await?;
    assert_eq!(
        store.unfinished_journal().await?,
        vec![journal_row(2, 0, JournalStatus::Intent, 15)]
    );
    Ok(())
}

pub async fn a_compensation_that_ended_is_not_unfinished(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    let row = |step, status, key: &str| {
        let mut r = journal_row(3, step, status, 10);
        r.idempotency_key = key.into();
        r
    };
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

pub async fn an_applied_row_keeps_its_prior_across_a_reopen(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let mut applied = journal_row(3, 0, JournalStatus::Applied, 11);
    applied.prior = BTreeMap::from([("replicas".to_string(), "3".to_string())]);
    {
        let store = backend.open().await?;
        store
            .journal_step(&journal_row(3, 0, JournalStatus::Intent, 10))
            .await?;
        store.journal_step(&applied).await?;
        store.close().await;
    }
    let store = backend.open().await?;
    let journal = store.journal(ExecutionId(3)).await?;
    assert_eq!(journal.len(), 2);
    assert_eq!(journal[0].prior, BTreeMap::new());
    assert_eq!(journal[1], applied);
    Ok(())
}

pub async fn executions_upsert_and_list_unfinished(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    store.save_execution(&execution(2, false)).await?;
    store.save_execution(&execution(1, false)).await?;
    assert_eq!(
        store.unfinished_executions().await?,
        vec![execution(1, false), execution(2, false)]
    );
    store.save_execution(&execution(1, true)).await?;
    assert_eq!(
        store.executions().await?,
        vec![execution(1, true), execution(2, false)]
    );
    assert_eq!(
        store.unfinished_executions().await?,
        vec![execution(2, false)]
    );
    Ok(())
}
