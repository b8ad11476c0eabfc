//! Cases across every role: a fresh store, pruning, a restart, and a closed store.

use super::{
    Backend, TestResult, alert, diagnosis, execution, incident, journal_row, outcome, policy, t,
    violation,
};
use charter_knowledge::{JournalStatus, NextIds, StoreError};
use charter_model::{ActionKind, ApprovalState, IncidentState, OutcomeClass, ViolationState};
use charter_model::{ExecutionId, IncidentId, PolicyId};
use std::sync::Arc;

pub async fn empty_store_hands_out_id_one(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    assert_eq!(
        store.next_ids().await?,
        NextIds {
            incident: IncidentId(1),
            policy: PolicyId(1),
            execution: ExecutionId(1)
        }
    );
    assert!(store.incidents().await?.is_empty());
    assert!(store.outcomes().await?.is_empty());
    assert!(store.success_rates().await?.is_empty());
    assert!(store.kind_success_rates().await?.is_empty());
    assert!(store.audit_log(10).await?.is_empty());
    assert_eq!(store.policy(PolicyId(1)).await?, None);
    Ok(())
}

pub async fn pruning_keeps_open_incidents_unfinished_journals_and_evidence(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    // Everything below happened long ago (before t(1000)).
    store
        .save_incident(&incident(1, IncidentState::Open))
        .await?;
    store
        .save_incident(&incident(2, IncidentState::Resolved))
        .await?;
    store
        .record_violation(
            Some(IncidentId(1)),
            &violation("latency_p99", "api", ViolationState::Firing),
        )
        .await?;
    store.save_diagnosis(&diagnosis(1, 150)).await?;
    store
        .save_policy(&policy(1, 1, ApprovalState::Pending))
        .await?;
    store.save_execution(&execution(1, false)).await?;
    store
        .journal_step(&journal_row(1, 0, JournalStatus::Intent, 10))
        .await?;
    store
        .save_outcome(&outcome(
            1,
            ActionKind::ScaleOut,
            "latency_p99",
            "api",
            OutcomeClass::Resolved,
            20.0,
        ))
        .await?;
    store
        .audit(t(10), "policy.created", &serde_json::json!({"id": 1}))
        .await?;
    store
        .record_action("api", ActionKind::ScaleOut, t(10))
        .await?;
    store
        .record_action("api", ActionKind::ScaleOut, t(2000))
        .await?;

    // One violation, one diagnosis and one guardrail action are history.
    assert_eq!(store.prune_history(t(1000)).await?, 3);
    assert!(store.violations(IncidentId(1)).await?.is_empty());
    assert!(store.diagnoses(IncidentId(1)).await?.is_empty());
    assert_eq!(
        store.actions_since(t(0)).await?,
        vec![("api".to_string(), ActionKind::ScaleOut, t(2000))]
    );
    // The rest is kept: open work and learning evidence.
    assert_eq!(
        store.open_incidents().await?,
        vec![incident(1, IncidentState::Open)]
    );
    assert_eq!(store.incidents().await?.len(), 2);
    assert_eq!(store.pending_policies().await?.len(), 1);
    assert_eq!(
        store.unfinished_executions().await?,
        vec![execution(1, false)]
    );
    assert_eq!(
        store.unfinished_journal().await?,
        vec![journal_row(1, 0, JournalStatus::Intent, 10)]
    );
    assert_eq!(store.outcomes().await?.len(), 1);
    assert_eq!(store.audit_log(10).await?.len(), 1);
    // Nothing left to prune.
    assert_eq!(store.prune_history(t(1000)).await?, 0);
    Ok(())
}

pub async fn everything_survives_a_restart_and_ids_continue(
    backend: Arc<dyn Backend>,
) -> TestResult {
    {
        let store = backend.open().await?;
        store
            .save_incident(&incident(7, IncidentState::Remediating))
            .await?;
        store
            .save_incident(&incident(3, IncidentState::Resolved))
            .await?;
        store
            .record_violation(
                Some(IncidentId(7)),
                &violation("latency_p99", "api", ViolationState::Firing),
            )
            .await?;
        store.save_diagnosis(&diagnosis(7, 150)).await?;
        store
            .save_policy(&policy(12, 7, ApprovalState::AutoApproved))
            .await?;
        store.save_execution(&execution(4, false)).await?;
        for (step, status, at) in [
            (0, JournalStatus::Intent, 10),
            (0, JournalStatus::Applied, 11),
            (1, JournalStatus::Intent, 12),
        ] {
            store
                .journal_step(&journal_row(4, step, status, at))
                .await?;
        }
        store
            .save_outcome(&outcome(
                4,
                ActionKind::ScaleOut,
                "latency_p99",
                "api",
                OutcomeClass::Resolved,
                20.0,
            ))
            .await?;
        store
            .record_action("api", ActionKind::ScaleOut, t(10))
            .await?;
        store
            .audit(t(10), "execution.started", &serde_json::json!({"id": 4}))
            .await?;
        // Dropped without close(): nothing may depend on a clean shutdown.
    }

    let store = backend.open().await?;
    assert_eq!(
        store.incidents().await?,
        vec![
            incident(3, IncidentState::Resolved),
            incident(7, IncidentState::Remediating)
        ]
    );
    assert_eq!(
        store.open_incidents().await?,
        vec![incident(7, IncidentState::Remediating)]
    );
    assert_eq!(
        store.violations(IncidentId(7)).await?,
        vec![violation("latency_p99", "api", ViolationState::Firing)]
    );
    assert_eq!(
        store.diagnoses(IncidentId(7)).await?,
        vec![diagnosis(7, 150)]
    );
    assert_eq!(
        store.policies(None).await?,
        vec![policy(12, 7, ApprovalState::AutoApproved)]
    );
    assert_eq!(
        store.unfinished_executions().await?,
        vec![execution(4, false)]
    );
    assert_eq!(store.journal(ExecutionId(4)).await?.len(), 3);
    assert_eq!(
        store.unfinished_journal().await?,
        vec![journal_row(4, 1, JournalStatus::Intent, 12)]
    );
    assert_eq!(store.outcomes().await?.len(), 1);
    assert_eq!(
        store.actions_since(t(0)).await?,
        vec![("api".to_string(), ActionKind::ScaleOut, t(10))]
    );
    assert_eq!(store.audit_log(10).await?.len(), 1);
    // Outcome 4 refers to policy 104 and incident 204: ids seen anywhere are taken.
    assert_eq!(
        store.next_ids().await?,
        NextIds {
            incident: IncidentId(205),
            policy: PolicyId(105),
            execution: ExecutionId(5)
        }
    );
    store.close().await;

    // A clean close leaves a store that opens again.
    let reopened = backend.open().await?;
    assert_eq!(reopened.incidents().await?.len(), 2);
    Ok(())
}

pub async fn a_closed_store_reports_query_errors(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    store.close().await;
    let err = store.incidents().await.err();
    assert!(
        matches!(
            err,
            Some(StoreError::Query {
                what: "read incidents",
                ..
            })
        ),
        "{err:?}"
    );
    for _ in 0..2 {
        let err = store.save_alerts(&[alert("a1", 100)]).await.err();
        assert!(
            matches!(
                err,
                Some(StoreError::Query {
                    what: "save alerts",
                    ..
                })
            ),
            "{err:?}"
        );
    }
    Ok(())
}
