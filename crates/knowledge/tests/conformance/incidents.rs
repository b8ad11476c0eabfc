//! Cases of the `Incidents` role: incidents, violations, diagnoses, policies and the
//! next ids.

use super::{Backend, TestResult, diagnosis, incident, journal_row, policy, t, violation};
use charter_knowledge::{JournalStatus, NextIds};
use charter_model::{ApprovalState, IncidentState, Timestamp, Violation, ViolationState};
use charter_model::{ExecutionId, IncidentId, PolicyId};
use std::sync::Arc;

pub async fn incidents_upsert_by_id_and_open_excludes_resolved(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    store
        .save_incident(&incident(2, IncidentState::Open))
        .await?;
    store
        .save_incident(&incident(1, IncidentState::Escalated))
        .await?;
    let resolved = incident(2, IncidentState::Resolved);
    store.save_incident(&resolved).await?;

    let all = store.incidents().await?;
    assert_eq!(all, vec![incident(1, IncidentState::Escalated), resolved]);
    let open = store.open_incidents().await?;
    assert_eq!(open, vec![incident(1, IncidentState::Escalated)]);
    Ok(())
}

pub async fn violations_are_appended_per_incident_in_order(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    let pending = violation("latency_p99", "api", ViolationState::Pending);
    let firing = violation("latency_p99", "api", ViolationState::Firing);
    let mut resolved = firing.clone();
    resolved.state = ViolationState::Resolved;
    resolved.resolved_at = Some(t(600));
    let other = violation("errors", "frontend", ViolationState::Unknown);

    store
        .record_violation(Some(IncidentId(4)), &pending)
        .await?;
    store.record_violation(None, &other).await?;
    store.record_violation(Some(IncidentId(4)), &firing).await?;
    store
        .record_violation(Some(IncidentId(4)), &resolved)
        .await?;

    assert_eq!(
        store.violations(IncidentId(4)).await?,
        vec![pending.clone(), firing.clone(), resolved.clone()]
    );
    assert!(store.violations(IncidentId(5)).await?.is_empty());
    // Filed under their latest transition: pending/unknown at 100, firing at 160,
    // resolved at 600.
    assert_eq!(
        store.violation_history(t(150)).await?,
        vec![firing, resolved.clone()]
    );
    assert_eq!(store.violation_history(t(601)).await?, vec![]);
    assert_eq!(store.violation_history(t(0)).await?.len(), 4);
    assert_eq!(store.prune_history(t(500)).await?, 3);
    assert_eq!(store.violations(IncidentId(4)).await?, vec![resolved]);
    Ok(())
}

pub async fn a_batch_of_violations_is_stored_whole_and_in_order(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    // More rows than one multi-row statement takes, on two incidents and none.
    let batch: Vec<(Option<IncidentId>, Violation)> = (0..1_203u64)
        .map(|i| {
            let mut v = violation("latency_p99", &format!("c{i}"), ViolationState::Pending);
            v.since = t(1_000 + i as i64);
            (
                match i % 3 {
                    0 => Some(IncidentId(7)),
                    1 => Some(IncidentId(8)),
                    _ => None,
                },
                v,
            )
        })
        .collect();
    store.record_violations(&batch).await?;
    store.record_violations(&[]).await?;
    let of = |id: u64| -> Vec<Violation> {
        batch
            .iter()
            .filter(|(i, _)| *i == Some(IncidentId(id)))
            .map(|(_, v)| v.clone())
            .collect()
    };
    assert_eq!(store.violations(IncidentId(7)).await?, of(7));
    assert_eq!(store.violations(IncidentId(8)).await?, of(8));
    let all: Vec<Violation> = batch.iter().map(|(_, v)| v.clone()).collect();
    assert_eq!(store.violation_history(t(0)).await?, all);
    Ok(())
}

pub async fn diagnoses_round_trip_with_patterns(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    store.save_diagnosis(&diagnosis(3, 110)).await?;
    store.save_diagnosis(&diagnosis(9, 115)).await?;
    store.save_diagnosis(&diagnosis(3, 120)).await?;
    assert_eq!(
        store.diagnoses(IncidentId(3)).await?,
        vec![diagnosis(3, 110), diagnosis(3, 120)]
    );
    assert!(store.diagnoses(IncidentId(4)).await?.is_empty());
    Ok(())
}

pub async fn policies_upsert_and_filter_by_incident_and_approval(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    store
        .save_policy(&policy(2, 1, ApprovalState::Pending))
        .await?;
    store
        .save_policy(&policy(1, 1, ApprovalState::AutoApproved))
        .await?;
    store
        .save_policy(&policy(3, 2, ApprovalState::Pending))
        .await?;
    let rejected = policy(
        3,
        2,
        ApprovalState::Rejected {
            by: "ops".into(),
            reason: "maintenance window".into(),
            at: Some(Timestamp(1_700_000_000_000)),
        },
    );
    store.save_policy(&rejected).await?;

    assert_eq!(
        store.policies(Some(IncidentId(1))).await?,
        vec![
            policy(1, 1, ApprovalState::AutoApproved),
            policy(2, 1, ApprovalState::Pending)
        ]
    );
    assert_eq!(
        store.policies(Some(IncidentId(2))).await?,
        vec![rejected.clone()]
    );
    assert_eq!(store.policies(None).await?.len(), 3);
    assert_eq!(
        store.pending_policies().await?,
        vec![policy(2, 1, ApprovalState::Pending)]
    );
    assert_eq!(store.policy(PolicyId(3)).await?, Some(rejected.clone()));
    assert_eq!(store.policy(PolicyId(4)).await?, None);
    assert_eq!(
        store.recent_policies(2).await?,
        vec![rejected, policy(2, 1, ApprovalState::Pending)]
    );
    assert!(store.recent_policies(0).await?.is_empty());
    assert_eq!(store.recent_policies(usize::MAX).await?.len(), 3);
    Ok(())
}

pub async fn next_ids_follow_the_largest_saved_ids(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    store
        .save_incident(&incident(41, IncidentState::Open))
        .await?;
    store
        .save_policy(&policy(17, 41, ApprovalState::Pending))
        .await?;
    store
        .journal_step(&journal_row(9, 0, JournalStatus::Intent, 1))
        .await?;
    assert_eq!(
        store.next_ids().await?,
        NextIds {
            incident: IncidentId(42),
            policy: PolicyId(18),
            execution: ExecutionId(10)
        }
    );
    Ok(())
}
