//! The conformance suite of the knowledge store: one set of cases that every backend
//! must pass, so that `SqliteStore` and `PostgresStore` mean the same thing by every
//! [`Store`] method.
//!
//! A backend test file provides a `fresh` function returning a [`Backend`] on an empty
//! store of its own, and expands [`conformance_tests!`], which generates one
//! `#[tokio::test]` per case. Each case opens the store through the backend (again, to
//! simulate a restart), and [`run`] destroys the backend's storage afterwards, even
//! when the case panics.

#![allow(dead_code)]

use async_trait::async_trait;
use charter_knowledge::{
    ExecutionRecord, ExecutionState, JournalRecord, JournalStatus, LearnedPrior, LeaseGrant,
    NextIds, OutcomeRecord, PauseRecord, Store, StoreError, SuccessRate,
};
use charter_model::{
    Action, ActionKind, Alert, AlertStatus, ApprovalState, CauseClass, Diagnosis, Hypothesis,
    Incident, IncidentState, Outcome, OutcomeClass, Pattern, Policy, Rejected, Severity, Signal,
    Timestamp, Violation, ViolationState,
};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type TestResult = Result<(), BoxError>;

/// One backend's storage for one test: opened as often as a case likes (each open is a
/// restart), destroyed once at the end.
// ?Send: `SqliteStore::open` is awaited here, and rustc cannot prove its future
// Send in a generic context (the sqlx executor lifetimes); `run` uses a LocalSet.
#[async_trait(?Send)]
pub trait Backend: Send + Sync + 'static {
    /// Open the store on this backend's storage.
    async fn open(&self) -> Result<Arc<dyn Store>, BoxError>;

    /// Remove the storage (a database, a directory).
    async fn destroy(&self);
}

/// Run `case` on `backend`, then destroy the backend's storage whatever happened.
pub async fn run<F, Fut>(backend: Arc<dyn Backend>, case: F) -> TestResult
where
    F: FnOnce(Arc<dyn Backend>) -> Fut,
    Fut: Future<Output = TestResult> + 'static,
{
    // A task of its own, so that a failed assertion (a panic) still reaches the
    // cleanup below; a local one, because the case's futures need not be Send.
    let local = tokio::task::LocalSet::new();
    let outcome = local
        .run_until(async { tokio::task::spawn_local(case(backend.clone())).await })
        .await;
    backend.destroy().await;
    match outcome {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(e.into()),
    }
}

/// One `#[tokio::test]` per conformance case. `$fresh` is an async function returning
/// `Result<Option<Arc<dyn Backend>>, BoxError>`; `None` skips (only when the developer
/// explicitly asked for it).
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:path) => {
        $crate::conformance_tests!(
            $fresh;
            empty_store_hands_out_id_one,
            incidents_upsert_by_id_and_open_excludes_resolved,
            violations_are_appended_per_incident_in_order,
            a_batch_of_violations_is_stored_whole_and_in_order,
            diagnoses_round_trip_with_patterns,
            policies_upsert_and_filter_by_incident_and_approval,
            journal_is_append_only_and_idempotent,
            the_same_journal_row_from_two_writers_is_new_once,
            unfinished_journal_finds_an_intent_without_a_result,
            a_compensation_that_ended_is_not_unfinished,
            an_applied_row_keeps_its_prior_across_a_reopen,
            executions_upsert_and_list_unfinished,
            outcomes_round_trip_in_order,
            audit_log_returns_newest_first_up_to_the_limit,
            actions_since_filters_by_time,
            guard_state_is_a_durable_key_value_of_json,
            pause_and_quarantine_survive_a_reopen,
            a_corrupt_pause_record_is_an_error_not_a_resume,
            success_rates_count_resolved_as_success_and_others_as_failure,
            pruning_keeps_open_incidents_unfinished_journals_and_evidence,
            everything_survives_a_restart_and_ids_continue,
            next_ids_follow_the_largest_saved_ids,
            a_closed_store_reports_query_errors,
            a_batch_of_alerts_is_stored_and_reported_new_per_alert,
            an_empty_batch_of_alerts_stores_nothing,
            a_retried_batch_of_alerts_changes_nothing,
            the_same_episode_twice_in_one_batch_is_new_once,
            resolving_an_alert_refiles_it_under_a_new_seq,
            alerts_since_is_exclusive_and_ascending,
            recent_alerts_are_newest_first_up_to_the_limit,
            a_mixed_batch_reports_each_alert_and_refiles_changes_in_order,
            a_large_batch_of_alerts_is_stored_whole,
            concurrent_batches_of_alerts_are_all_stored,
            the_same_batch_from_two_senders_at_once_is_new_once,
            alerts_survive_a_restart_and_seq_keeps_growing,
            imported_priors_replace_their_source_and_come_back_sorted,
            the_lease_goes_to_one_replica_and_passes_on_expiry,
            a_restarted_replica_retakes_its_lease_under_a_new_epoch,
            a_released_lease_passes_at_once,
            concurrent_acquirers_get_one_lease,
            journal_claims_are_fenced_by_the_lease_epoch,
            a_claim_inside_the_lease_margin_is_fenced,
            a_newer_leader_claims_an_unsent_intent_again,
        );
    };
    ($fresh:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() -> $crate::conformance::TestResult {
                match $fresh().await? {
                    Some(backend) => {
                        $crate::conformance::run(backend, $crate::conformance::$case).await
                    }
                    None => Ok(()),
                }
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

fn t(secs: i64) -> Timestamp {
    Timestamp::from_secs(secs)
}

fn incident(id: u64, state: IncidentState) -> Incident {
    Incident {
        id,
        opened_at: t(100 + id as i64),
        state,
        violations: vec!["latency_p99@api".into(), "errors@frontend".into()],
        root_cause: Some("api: overload".into()),
        resolved_at: (state == IncidentState::Resolved).then(|| t(900)),
        attempts: 1,
    }
}

fn violation(objective: &str, component: &str, state: ViolationState) -> Violation {
    Violation {
        objective: objective.into(),
        component: component.into(),
        signal: Signal::Latency,
        state,
        severity: (state == ViolationState::Firing).then_some(Severity::Critical),
        since: t(100),
        firing_since: (state == ViolationState::Firing).then(|| t(160)),
        resolved_at: None,
        // Not exactly representable in decimal: must read back bit for bit.
        value: Some(1.2345678901234567),
        worst: Some(2.5),
        flaps: 0,
        alerted: false,
    }
}

fn diagnosis(incident_id: u64, at: i64) -> Diagnosis {
    Diagnosis {
        incident_id,
        at: t(at),
        hypotheses: vec![Hypothesis {
            component: "db".into(),
            cause: CauseClass::PoolExhaustion,
            confidence: 0.8123,
            symptoms: vec!["latency_p99@api".into()],
            evidence: vec!["pool utilization at 100% since onset".into()],
        }],
        patterns: vec![
            Pattern::Burst {
                start: t(100),
                end: t(130),
                onsets: 3,
            },
            Pattern::Propagation {
                from: "db".into(),
                to: vec!["api".into()],
                lead_secs: 12.5,
            },
        ],
    }
}

fn scale_out(component: &str) -> Action {
    Action::new(ActionKind::ScaleOut, component).with_param("step", 2)
}

fn policy(id: u64, incident_id: u64, approval: ApprovalState) -> Policy {
    Policy {
        id,
        incident_id,
        created_at: t(200),
        actions: vec![
            scale_out("api"),
            Action::new(ActionKind::Reconfigure, "db")
                .with_param("key", "pool_size")
                .with_param("value", 50),
        ],
        waits_secs: vec![],
        main: 0,
        targets: vec!["latency_p99@api".into()],
        p_success: 0.7,
        expected_benefit: 12.25,
        cost: 3.0,
        score: 5.575,
        rationale: "api is overloaded".into(),
        rejected: vec![Rejected {
            action: Action::new(ActionKind::Restart, "api"),
            score: Some(1.5),
            reason: "irreversible and less likely to help".into(),
        }],
        approval,
    }
}

fn journal_row(execution_id: u64, step: u32, status: JournalStatus, at: i64) -> JournalRecord {
    JournalRecord {
        execution_id,
        step,
        idempotency_key: format!("{execution_id}-{step}"),
        epoch: 0,
        action: scale_out("api"),
        status,
        detail: format!("{status} at {at}"),
        prior: BTreeMap::new(),
        at: t(at),
    }
}

fn execution(id: u64, finished: bool) -> ExecutionRecord {
    ExecutionRecord {
        id,
        policy_id: id + 10,
        incident_id: id + 20,
        started_at: t(300),
        finished_at: finished.then(|| t(400)),
        state: if finished {
            ExecutionState::Resolved
        } else {
            ExecutionState::Applying
        },
        actions: vec![scale_out("api")],
    }
}

fn outcome(
    execution_id: u64,
    kind: ActionKind,
    objective: &str,
    component: &str,
    class: OutcomeClass,
    time_to_effect_secs: f64,
) -> OutcomeRecord {
    OutcomeRecord {
        outcome: Outcome {
            execution_id,
            policy_id: execution_id + 100,
            incident_id: execution_id + 200,
            at: t(500),
            class,
            rolled_back: class == OutcomeClass::Worsened,
            time_to_effect_secs,
            violations_before: 3.0,
            violations_after: if class.is_success() { 0.0 } else { 3.0 },
            detail: format!("{class}"),
        },
        action_kind: kind,
        component: component.into(),
        objective: objective.into(),
        cause: Some(CauseClass::Overload),
    }
}

/// A mapped, firing alert.
fn alert(fingerprint: &str, starts_secs: i64) -> Alert {
    Alert {
        fingerprint: fingerprint.into(),
        status: AlertStatus::Firing,
        starts_at: t(starts_secs),
        ends_at: None,
        labels: BTreeMap::from([
            ("alertname".to_string(), "latency_p99".to_string()),
            ("service".to_string(), "api".to_string()),
            ("severity".to_string(), "critical".to_string()),
        ]),
        annotations: BTreeMap::from([(
            "summary".to_string(),
            "p99 latency above 1s on api".to_string(),
        )]),
        objective: Some("latency_p99".into()),
        component: Some("api".into()),
        severity: Some(Severity::Critical),
        received_at: t(starts_secs + 30),
        seq: 0,
    }
}

fn resolved(mut alert: Alert, at_secs: i64) -> Alert {
    alert.status = AlertStatus::Resolved;
    alert.ends_at = Some(t(at_secs));
    alert.received_at = t(at_secs + 5);
    alert
}

fn unmapped(mut alert: Alert) -> Alert {
    alert
        .labels
        .insert("alertname".into(), "NodeDiskFull".into());
    alert.objective = None;
    alert.component = None;
    alert.severity = None;
    alert
}

/// The stored form: the same alert with the store's sequence number.
fn with_seq(mut alert: Alert, seq: u64) -> Alert {
    alert.seq = seq;
    alert
}

// ---------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------

pub async fn empty_store_hands_out_id_one(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    assert_eq!(
        store.next_ids().await?,
        NextIds {
            incident: 1,
            policy: 1,
            execution: 1
        }
    );
    assert!(store.incidents().await?.is_empty());
    assert!(store.outcomes().await?.is_empty());
    assert!(store.success_rates().await?.is_empty());
    assert!(store.kind_success_rates().await?.is_empty());
    assert!(store.audit_log(10).await?.is_empty());
    assert_eq!(store.policy(1).await?, None);
    Ok(())
}

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

    store.record_violation(Some(4), &pending).await?;
    store.record_violation(None, &other).await?;
    store.record_violation(Some(4), &firing).await?;
    store.record_violation(Some(4), &resolved).await?;

    assert_eq!(
        store.violations(4).await?,
        vec![pending.clone(), firing.clone(), resolved.clone()]
    );
    assert!(store.violations(5).await?.is_empty());
    // Filed under their latest transition: pending/unknown at 100, firing at 160,
    // resolved at 600.
    assert_eq!(
        store.violation_history(t(150)).await?,
        vec![firing, resolved.clone()]
    );
    assert_eq!(store.violation_history(t(601)).await?, vec![]);
    assert_eq!(store.violation_history(t(0)).await?.len(), 4);
    assert_eq!(store.prune_history(t(500)).await?, 3);
    assert_eq!(store.violations(4).await?, vec![resolved]);
    Ok(())
}

pub async fn a_batch_of_violations_is_stored_whole_and_in_order(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    // More rows than one multi-row statement takes, on two incidents and none.
    let batch: Vec<(Option<u64>, Violation)> = (0..1_203u64)
        .map(|i| {
            let mut v = violation("latency_p99", &format!("c{i}"), ViolationState::Pending);
            v.since = t(1_000 + i as i64);
            (
                match i % 3 {
                    0 => Some(7),
                    1 => Some(8),
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
            .filter(|(i, _)| *i == Some(id))
            .map(|(_, v)| v.clone())
            .collect()
    };
    assert_eq!(store.violations(7).await?, of(7));
    assert_eq!(store.violations(8).await?, of(8));
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
        store.diagnoses(3).await?,
        vec![diagnosis(3, 110), diagnosis(3, 120)]
    );
    assert!(store.diagnoses(4).await?.is_empty());
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
        store.policies(Some(1)).await?,
        vec![
            policy(1, 1, ApprovalState::AutoApproved),
            policy(2, 1, ApprovalState::Pending)
        ]
    );
    assert_eq!(store.policies(Some(2)).await?, vec![rejected.clone()]);
    assert_eq!(store.policies(None).await?.len(), 3);
    assert_eq!(
        store.pending_policies().await?,
        vec![policy(2, 1, ApprovalState::Pending)]
    );
    assert_eq!(store.policy(3).await?, Some(rejected.clone()));
    assert_eq!(store.policy(4).await?, None);
    assert_eq!(
        store.recent_policies(2).await?,
        vec![rejected, policy(2, 1, ApprovalState::Pending)]
    );
    assert!(store.recent_policies(0).await?.is_empty());
    assert_eq!(store.recent_policies(usize::MAX).await?.len(), 3);
    Ok(())
}

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
        store.journal(5).await?,
        vec![intent.clone(), applied, compensated]
    );
    assert!(store.journal(6).await?.is_empty());

    let mut other_key = intent;
    other_key.idempotency_key = "someone-else".into();
    let err = store.journal_step(&other_key).await;
    assert!(
        matches!(
            err,
            Err(StoreError::JournalConflict {
                execution_id: 5,
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
    assert_eq!(store.journal(8).await?.len(), 20);
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
    let journal = store.journal(3).await?;
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

pub async fn outcomes_round_trip_in_order(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    let first = outcome(
        2,
        ActionKind::Rollback,
        "errors",
        "orders",
        OutcomeClass::Resolved,
        42.125,
    );
    let mut second = outcome(
        1,
        ActionKind::ScaleOut,
        "latency_p99",
        "api",
        OutcomeClass::Worsened,
        0.1,
    );
    second.cause = None;
    store.save_outcome(&first).await?;
    store.save_outcome(&second).await?;
    assert_eq!(store.outcomes().await?, vec![first, second]);
    Ok(())
}

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

pub async fn success_rates_count_resolved_as_success_and_others_as_failure(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    let lat = "latency_p99";
    for (class, tte) in [
        (OutcomeClass::Resolved, 30.0),
        (OutcomeClass::Resolved, 60.0),
        (OutcomeClass::Improved, 5.0),
        (OutcomeClass::NoEffect, 5.0),
        (OutcomeClass::Worsened, 5.0),
        (OutcomeClass::Failed, 5.0),
    ] {
        store
            .save_outcome(&outcome(1, ActionKind::ScaleOut, lat, "api", class, tte))
            .await?;
    }
    store
        .save_outcome(&outcome(
            2,
            ActionKind::ScaleOut,
            lat,
            "frontend",
            OutcomeClass::Failed,
            1.0,
        ))
        .await?;
    store
        .save_outcome(&outcome(
            3,
            ActionKind::Restart,
            "errors",
            "api",
            OutcomeClass::Resolved,
            10.0,
        ))
        .await?;

    let rate = |kind, objective: &str, component: &str, successes, total, mean| SuccessRate {
        kind,
        objective: objective.into(),
        component: component.into(),
        successes,
        total,
        mean_time_to_effect_secs: mean,
    };
    assert_eq!(
        store.success_rates().await?,
        vec![
            rate(ActionKind::ScaleOut, lat, "api", 2, 6, 45.0),
            rate(ActionKind::ScaleOut, lat, "frontend", 0, 1, 0.0),
            rate(ActionKind::Restart, "errors", "api", 1, 1, 10.0),
        ]
    );
    assert_eq!(
        store.kind_success_rates().await?,
        vec![(ActionKind::ScaleOut, 2, 7), (ActionKind::Restart, 1, 1)]
    );
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
            Some(1),
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
    assert!(store.violations(1).await?.is_empty());
    assert!(store.diagnoses(1).await?.is_empty());
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
                Some(7),
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
        store.violations(7).await?,
        vec![violation("latency_p99", "api", ViolationState::Firing)]
    );
    assert_eq!(store.diagnoses(7).await?, vec![diagnosis(7, 150)]);
    assert_eq!(
        store.policies(None).await?,
        vec![policy(12, 7, ApprovalState::AutoApproved)]
    );
    assert_eq!(
        store.unfinished_executions().await?,
        vec![execution(4, false)]
    );
    assert_eq!(store.journal(4).await?.len(), 3);
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
            incident: 205,
            policy: 105,
            execution: 5
        }
    );
    store.close().await;

    // A clean close leaves a store that opens again.
    let reopened = backend.open().await?;
    assert_eq!(reopened.incidents().await?.len(), 2);
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
            incident: 42,
            policy: 18,
            execution: 10
        }
    );
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

pub async fn a_batch_of_alerts_is_stored_and_reported_new_per_alert(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    let batch = vec![
        alert("a1", 100),
        unmapped(alert("b2", 110)),
        alert("c3", 120),
    ];
    assert_eq!(store.save_alerts(&batch).await?, vec![true, true, true]);

    let stored = store.alerts_since(0).await?;
    assert_eq!(stored.len(), 3);
    let seqs: Vec<u64> = stored.iter().map(|a| a.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(seqs[0] > 0);
    for (got, sent) in stored.iter().zip(&batch) {
        assert_eq!(got, &with_seq(sent.clone(), got.seq));
    }
    assert_eq!(stored[1].objective, None);
    assert_eq!(stored[1].component, None);
    Ok(())
}

pub async fn an_empty_batch_of_alerts_stores_nothing(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    assert_eq!(store.save_alerts(&[]).await?, Vec::<bool>::new());
    assert!(store.recent_alerts(10).await?.is_empty());
    Ok(())
}

pub async fn a_retried_batch_of_alerts_changes_nothing(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    let batch = vec![alert("a1", 100), alert("b2", 110)];
    store.save_alerts(&batch).await?;
    let before = store.alerts_since(0).await?;

    // An Alertmanager retry or an HA peer: same episodes, received later.
    let mut again = batch.clone();
    for a in &mut again {
        a.received_at = t(999);
    }
    assert_eq!(store.save_alerts(&again).await?, vec![false, false]);
    assert_eq!(store.alerts_since(0).await?, before);
    // A new start time is a new episode.
    assert_eq!(store.save_alerts(&[alert("a1", 500)]).await?, vec![true]);
    assert_eq!(store.recent_alerts(10).await?.len(), 3);
    Ok(())
}

pub async fn the_same_episode_twice_in_one_batch_is_new_once(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    let batch = vec![alert("a1", 100), alert("a1", 100)];
    assert_eq!(store.save_alerts(&batch).await?, vec![true, false]);
    assert_eq!(store.recent_alerts(10).await?.len(), 1);
    Ok(())
}

pub async fn resolving_an_alert_refiles_it_under_a_new_seq(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    store
        .save_alerts(&[alert("a1", 100), alert("b2", 110)])
        .await?;
    let seen = store.alerts_since(0).await?;
    let last = seen.iter().map(|a| a.seq).max().unwrap_or(0);

    let resolved = resolved(alert("a1", 100), 400);
    assert_eq!(
        store.save_alerts(std::slice::from_ref(&resolved)).await?,
        vec![false]
    );

    // A poller that has seen everything up to `last` sees the change.
    let changed = store.alerts_since(last).await?;
    assert_eq!(changed.len(), 1);
    assert!(changed[0].seq > last);
    assert_eq!(changed[0], with_seq(resolved.clone(), changed[0].seq));

    // Still one row per episode; the resolved one is the newest.
    let all = store.recent_alerts(10).await?;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].fingerprint, "a1");
    assert_eq!(all[0].status, AlertStatus::Resolved);
    assert_eq!(all[0].ends_at, Some(t(400)));

    // The resolved notification retried changes nothing more.
    assert_eq!(store.save_alerts(&[resolved]).await?, vec![false]);
    assert_eq!(store.recent_alerts(10).await?, all);
    Ok(())
}

pub async fn alerts_since_is_exclusive_and_ascending(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    let batch: Vec<Alert> = (0..5).map(|i| alert(&format!("f{i}"), 100 + i)).collect();
    store.save_alerts(&batch).await?;
    let all = store.alerts_since(0).await?;
    let after_second = store.alerts_since(all[1].seq).await?;
    assert_eq!(after_second, all[2..].to_vec());
    assert!(store.alerts_since(all[4].seq).await?.is_empty());
    Ok(())
}

pub async fn recent_alerts_are_newest_first_up_to_the_limit(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    for i in 0..4 {
        store
            .save_alerts(&[alert(&format!("f{i}"), 100 + i)])
            .await?;
    }
    let recent = store.recent_alerts(3).await?;
    let fingerprints: Vec<&str> = recent.iter().map(|a| a.fingerprint.as_str()).collect();
    assert_eq!(fingerprints, ["f3", "f2", "f1"]);
    assert!(store.recent_alerts(0).await?.is_empty());
    assert_eq!(store.recent_alerts(usize::MAX).await?.len(), 4);
    Ok(())
}

pub async fn a_mixed_batch_reports_each_alert_and_refiles_changes_in_order(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    store
        .save_alerts(&[alert("a1", 100), alert("b2", 110)])
        .await?;
    let last = store.alerts_since(0).await?.iter().map(|a| a.seq).max();

    let batch = vec![
        alert("c3", 120),
        alert("a1", 100),
        resolved(alert("b2", 110), 300),
        // An episode and its resolution in the same webhook.
        alert("d4", 130),
        resolved(alert("d4", 130), 310),
    ];
    assert_eq!(
        store.save_alerts(&batch).await?,
        vec![true, false, false, true, false]
    );
    let changed = store.alerts_since(last.unwrap_or(0)).await?;
    let summary: Vec<(&str, AlertStatus)> = changed
        .iter()
        .map(|a| (a.fingerprint.as_str(), a.status))
        .collect();
    assert_eq!(
        summary,
        [
            ("c3", AlertStatus::Firing),
            ("b2", AlertStatus::Resolved),
            ("d4", AlertStatus::Resolved),
        ]
    );
    assert_eq!(store.recent_alerts(10).await?.len(), 4);
    Ok(())
}

pub async fn a_large_batch_of_alerts_is_stored_whole(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    let batch: Vec<Alert> = (0..450).map(|i| alert(&format!("f{i:03}"), 100)).collect();
    assert_eq!(store.save_alerts(&batch).await?, vec![true; 450]);
    let stored = store.alerts_since(0).await?;
    assert_eq!(stored.len(), 450);
    for (got, sent) in stored.iter().zip(&batch) {
        assert_eq!(got.fingerprint, sent.fingerprint);
    }
    assert_eq!(store.save_alerts(&batch).await?, vec![false; 450]);
    assert_eq!(store.alerts_since(0).await?, stored);
    Ok(())
}

pub async fn concurrent_batches_of_alerts_are_all_stored(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let batch: Vec<Alert> = (0..20).map(|i| alert(&format!("t{t}-{i}"), 100)).collect();
                store.save_alerts(&batch).await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await??, vec![true; 20]);
    }
    let all = store.alerts_since(0).await?;
    assert_eq!(all.len(), 160);
    // Polling in between never misses a row: every seq is visible in order.
    let seqs: Vec<u64> = all.iter().map(|a| a.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    Ok(())
}

pub async fn the_same_batch_from_two_senders_at_once_is_new_once(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    // Alertmanager HA peers delivering the same group at the same moment.
    let batch: Vec<Alert> = (0..30).map(|i| alert(&format!("f{i}"), 100)).collect();
    let (a, b) = tokio::join!(store.save_alerts(&batch), store.save_alerts(&batch));
    let new = a?.into_iter().chain(b?).filter(|&n| n).count();
    assert_eq!(new, 30);
    assert_eq!(store.alerts_since(0).await?.len(), 30);
    Ok(())
}

pub async fn alerts_survive_a_restart_and_seq_keeps_growing(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    store
        .save_alerts(&[alert("a1", 100), unmapped(alert("b2", 110))])
        .await?;
    let before = store.alerts_since(0).await?;
    store.close().await;
    drop(store);

    let reopened = backend.open().await?;
    assert_eq!(reopened.alerts_since(0).await?, before);
    // A retry after the restart is still recognised as a duplicate.
    assert_eq!(
        reopened.save_alerts(&[alert("a1", 100)]).await?,
        vec![false]
    );
    reopened
        .save_alerts(&[resolved(alert("a1", 100), 300)])
        .await?;
    let last = before.iter().map(|a| a.seq).max().unwrap_or(0);
    let changed = reopened.alerts_since(last).await?;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].status, AlertStatus::Resolved);
    Ok(())
}

fn prior(kind: ActionKind, component: &str, source: &str, alpha: f64) -> LearnedPrior {
    LearnedPrior {
        kind,
        objective: "latency_p99".into(),
        component: component.into(),
        source: source.into(),
        alpha,
        beta: 1.0 / 3.0,
        time_to_effect_secs: (alpha > 1.0).then_some(42.5),
        weight: 0.5,
        imported_at: t(1000),
    }
}

pub async fn imported_priors_replace_their_source_and_come_back_sorted(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    assert!(store.priors().await?.is_empty());
    let b_api = prior(ActionKind::Restart, "api", "b", 2.0);
    let a_db = prior(ActionKind::Restart, "db", "a", 0.5);
    let a_api = prior(ActionKind::Restart, "api", "a", 3.0);
    store
        .save_priors(&[b_api.clone(), a_db.clone(), a_api])
        .await?;
    // The same (context, source) again replaces its row.
    let a_api = prior(ActionKind::Restart, "api", "a", 7.25);
    store.save_priors(std::slice::from_ref(&a_api)).await?;
    store.close().await;

    let reopened = backend.open().await?;
    assert_eq!(reopened.priors().await?, vec![a_api, b_api, a_db]);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Leader lease and fencing
// ---------------------------------------------------------------------------------------

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn acquired(grant: &LeaseGrant) -> Option<u64> {
    match grant {
        LeaseGrant::Acquired { epoch, .. } => Some(*epoch),
        LeaseGrant::HeldBy(_) => None,
    }
}

pub async fn the_lease_goes_to_one_replica_and_passes_on_expiry(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    assert_eq!(store.lease().await?, None);
    let a = store.acquire_lease("a", ms(1500), ms(300)).await?;
    assert_eq!(acquired(&a), Some(1), "{a:?}");
    let b = store.acquire_lease("b", ms(1500), ms(300)).await?;
    match &b {
        LeaseGrant::HeldBy(l) => {
            assert_eq!((l.holder.as_str(), l.epoch), ("a", 1));
            assert!(l.expires_in_ms > 0 && l.expires_in_ms <= 1500, "{l:?}");
        }
        other => panic!("b must not get a held lease: {other:?}"),
    }
    assert!(store.renew_lease("a", 1, ms(1500), ms(300)).await?);
    // The renewal counts from now: the lease now ends later than it did.
    tokio::time::sleep(ms(1700)).await;
    let b = store.acquire_lease("b", ms(5000), ms(300)).await?;
    assert_eq!(acquired(&b), Some(2), "{b:?}");
    // The old holder can neither renew nor take it back.
    assert!(!store.renew_lease("a", 1, ms(1500), ms(300)).await?);
    let a = store.acquire_lease("a", ms(1500), ms(300)).await?;
    assert_eq!(acquired(&a), None, "{a:?}");
    let l = store.lease().await?.ok_or("lease missing")?;
    assert_eq!((l.holder.as_str(), l.epoch), ("b", 2));
    // It survives a restart of the store.
    store.close().await;
    let store = backend.open().await?;
    let l = store.lease().await?.ok_or("lease missing after reopen")?;
    assert_eq!((l.holder.as_str(), l.epoch), ("b", 2));
    Ok(())
}

pub async fn a_restarted_replica_retakes_its_lease_under_a_new_epoch(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    assert_eq!(
        acquired(&store.acquire_lease("a", ms(60_000), ms(1000)).await?),
        Some(1)
    );
    // Same replica id, unexpired lease: a restart, which fences the old process out.
    assert_eq!(
        acquired(&store.acquire_lease("a", ms(60_000), ms(1000)).await?),
        Some(2)
    );
    assert!(!store.renew_lease("a", 1, ms(60_000), ms(1000)).await?);
    assert!(store.renew_lease("a", 2, ms(60_000), ms(1000)).await?);
    Ok(())
}

pub async fn a_released_lease_passes_at_once(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    assert_eq!(
        acquired(&store.acquire_lease("a", ms(60_000), ms(1000)).await?),
        Some(1)
    );
    // Releasing under a stale epoch or another name does nothing.
    store.release_lease("a", 9).await?;
    store.release_lease("b", 1).await?;
    assert_eq!(
        acquired(&store.acquire_lease("b", ms(60_000), ms(1000)).await?),
        None
    );
    store.release_lease("a", 1).await?;
    assert_eq!(
        acquired(&store.acquire_lease("b", ms(60_000), ms(1000)).await?),
        Some(2)
    );
    Ok(())
}

pub async fn concurrent_acquirers_get_one_lease(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    let names: Vec<String> = (0..8).map(|i| format!("replica-{i}")).collect();
    let mut set = tokio::task::JoinSet::new();
    for n in &names {
        let (store, n) = (store.clone(), n.clone());
        set.spawn(async move {
            let grant = store.acquire_lease(&n, ms(60_000), ms(1000)).await;
            (n, grant)
        });
    }
    let mut winners = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (name, grant) = joined?;
        if let Some(epoch) = acquired(&grant?) {
            winners.push((name, epoch));
        }
    }
    assert_eq!(winners.len(), 1, "exactly one replica leads: {winners:?}");
    let l = store.lease().await?.ok_or("lease missing")?;
    assert_eq!((l.holder.clone(), l.epoch), winners[0].clone());
    Ok(())
}

fn claim(execution_id: u64, step: u32, epoch: u64) -> JournalRecord {
    let mut row = journal_row(execution_id, step, JournalStatus::Intent, 10);
    row.epoch = epoch;
    row
}

pub async fn journal_claims_are_fenced_by_the_lease_epoch(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    // No lease was ever taken: a single replica claims under epoch 0, nobody else.
    assert!(store.journal_step(&claim(1, 0, 0)).await?);
    let err = store.journal_step(&claim(1, 1, 3)).await;
    assert!(
        matches!(
            err,
            Err(StoreError::Fenced {
                epoch: 3,
                current: None
            })
        ),
        "{err:?}"
    );

    assert_eq!(
        acquired(&store.acquire_lease("a", ms(60_000), ms(1000)).await?),
        Some(1)
    );
    // Once a lease exists, epoch 0 is stale too.
    let err = store.journal_step(&claim(2, 0, 0)).await;
    assert!(
        matches!(err, Err(StoreError::Fenced { epoch: 0, .. })),
        "{err:?}"
    );
    assert!(store.journal_step(&claim(2, 0, 1)).await?);
    // A repeated claim is idempotent, not fenced.
    assert!(!store.journal_step(&claim(2, 0, 1)).await?);
    // Results are facts: written whatever their epoch.
    let mut applied = journal_row(2, 0, JournalStatus::Applied, 11);
    applied.epoch = 1;
    assert!(store.journal_step(&applied).await?);

    store.release_lease("a", 1).await?;
    assert_eq!(
        acquired(&store.acquire_lease("b", ms(60_000), ms(1000)).await?),
        Some(2)
    );
    let err = store.journal_step(&claim(3, 0, 1)).await;
    match err {
        Err(StoreError::Fenced {
            epoch: 1,
            current: Some((holder, 2, left)),
        }) => {
            assert_eq!(holder, "b");
            assert!(left > 0);
        }
        other => panic!("a claim under the old epoch must be fenced: {other:?}"),
    }
    assert!(store.journal_step(&claim(3, 0, 2)).await?);
    // Fenced claims wrote nothing.
    assert_eq!(store.journal(1).await?.len(), 1);
    assert_eq!(store.journal(2).await?.len(), 2);
    assert_eq!(store.journal(3).await?, vec![claim(3, 0, 2)]);
    Ok(())
}

pub async fn a_claim_inside_the_lease_margin_is_fenced(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    // A margin as long as the lease: no moment is far enough from its end to claim.
    assert_eq!(
        acquired(&store.acquire_lease("a", ms(1000), ms(1000)).await?),
        Some(1)
    );
    let err = store.journal_step(&claim(1, 0, 1)).await;
    match err {
        Err(StoreError::Fenced {
            epoch: 1,
            current: Some((holder, 1, _)),
        }) => assert_eq!(holder, "a"),
        other => panic!("a claim within the margin must be fenced: {other:?}"),
    }
    // Renewed with a sane margin, the same claim goes through.
    assert!(store.renew_lease("a", 1, ms(10_000), ms(1000)).await?);
    assert!(store.journal_step(&claim(1, 0, 1)).await?);
    Ok(())
}

pub async fn a_newer_leader_claims_an_unsent_intent_again(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    assert_eq!(
        acquired(&store.acquire_lease("a", ms(60_000), ms(1000)).await?),
        Some(1)
    );
    assert!(store.journal_step(&claim(1, 0, 1)).await?);
    // The same replica restarts (epoch 2) and claims the unsent intent again: the
    // row now carries the new epoch and time.
    assert_eq!(
        acquired(&store.acquire_lease("a", ms(60_000), ms(1000)).await?),
        Some(2)
    );
    let mut again = claim(1, 0, 2);
    again.at = t(20);
    assert!(store.journal_step(&again).await?);
    let rows = store.journal(1).await?;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].epoch, rows[0].at), (2, t(20)));
    // The older epoch cannot take it back, nor another key replace it.
    assert!(!store.journal_step(&claim(1, 0, 1)).await?);
    assert_eq!(store.journal(1).await?[0].epoch, 2);
    let mut other = claim(1, 0, 2);
    other.idempotency_key = "another".into();
    assert!(store.journal_step(&other).await.is_err());
    Ok(())
}
