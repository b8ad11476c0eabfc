//! Cases of the `GuardStore` role: the audit log, guardrail actions, and durable guard
//! state (pause and quarantine).

use super::{Backend, TestResult, t};
use charter_knowledge::{PauseRecord, StoreError};
use charter_model::{ActionKind, Timestamp};
use std::collections::BTreeSet;
use std::sync::Arc;

pub async fn audit_log_returns_newest_first_up_to_the_limit(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    for i in 0..5 {
        store
            .audit(
                t(i),
                "policy.approved",
                &serde_json::json!({ "policy": i, "by": "ops", "p": 0.1 + 0.2 }),
            )
            .await?;
    }
    let log = store.audit_log(3).await?;
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].at, t(4));
    assert_eq!(log[0].kind, "policy.approved");
    assert_eq!(
        log[0].body,
        serde_json::json!({ "policy": 4, "by": "ops", "p": 0.1 + 0.2 })
    );
    assert_eq!(log[2].at, t(2));
    assert!(log[0].seq > log[1].seq && log[1].seq > log[2].seq);
    assert_eq!(store.audit_log(100).await?.len(), 5);
    assert!(store.audit_log(0).await?.is_empty());
    Ok(())
}

pub async fn actions_since_filters_by_time(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    store
        .record_action("api", ActionKind::ScaleOut, t(10))
        .await?;
    store
        .record_action("db", ActionKind::Restart, t(30))
        .await?;
    store
        .record_action("api", ActionKind::Throttle, t(20))
        .await?;
    assert_eq!(
        store.actions_since(t(20)).await?,
        vec![
            ("api".to_string(), ActionKind::Throttle, t(20)),
            ("db".to_string(), ActionKind::Restart, t(30)),
        ]
    );
    Ok(())
}

/// `last_record_at`: the latest time any record of the loop is dated, across tables
/// (where `charter demo --db` continues its virtual time).
pub async fn the_latest_record_is_found_across_tables(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    assert_eq!(store.last_record_at().await?, None);
    store
        .record_action("api", ActionKind::ScaleOut, t(10))
        .await?;
    assert_eq!(store.last_record_at().await?, Some(t(10)));
    store
        .audit(t(40), "pause", &serde_json::json!({"by": "bob"}))
        .await?;
    store
        .record_action("db", ActionKind::Restart, t(30))
        .await?;
    assert_eq!(store.last_record_at().await?, Some(t(40)));
    // Judged at t(20), the action dated t(30) counts as taken at t(20).
    assert_eq!(
        store.actions_as_of(t(20), t(0)).await?,
        vec![
            ("api".to_string(), ActionKind::ScaleOut, t(10)),
            ("db".to_string(), ActionKind::Restart, t(20)),
        ]
    );
    Ok(())
}

pub async fn guard_state_is_a_durable_key_value_of_json(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
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

    let reopened = backend.open().await?;
    assert_eq!(
        reopened.guard_state("limits").await?,
        Some(serde_json::json!({"max": 4}))
    );
    Ok(())
}

pub async fn pause_and_quarantine_survive_a_reopen(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
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

    let reopened = backend.open().await?;
    assert_eq!(reopened.pause().await?, Some(pause));
    assert_eq!(reopened.quarantined().await?, quarantined);
    Ok(())
}

pub async fn a_corrupt_pause_record_is_an_error_not_a_resume(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    store
        .put_guard_state(charter_knowledge::GUARD_PAUSED, &serde_json::json!("yes"))
        .await?;
    let got = store.pause().await;
    assert!(matches!(got, Err(StoreError::Decode { .. })), "{got:?}");
    Ok(())
}
