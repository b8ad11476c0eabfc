//! The conformance suite of the knowledge store: one set of cases that every backend
//! must pass, so that `SqliteStore` and `PostgresStore` mean the same thing by every
//! [`Store`] method.
//!
//! A backend test file provides a `fresh` function returning a [`Backend`] on an empty
//! store of its own, and expands [`conformance_tests!`], which generates one
//! `#[tokio::test]` per case. Each case opens the store through the backend (again, to
//! simulate a restart), and [`run`] destroys the backend's storage afterwards, even
//! when the case panics.
//!
//! The cases are grouped by the store role they exercise: `incidents`, `journal`,
//! `guard_state`, `learning`, `alerts`, `changes` and `lease`; `whole_store` has the cases that
//! span every role (a fresh store, pruning, a restart, a closed store).

#![allow(dead_code)]

mod alerts;
mod changes;
mod guard_state;
mod incidents;
mod journal;
mod learning;
mod lease;
mod whole_store;

pub use alerts::*;
pub use changes::*;
pub use guard_state::*;
pub use incidents::*;
pub use journal::*;
pub use learning::*;
pub use lease::*;
pub use whole_store::*;

use async_trait::async_trait;
use charter_knowledge::{
    ExecutionRecord, ExecutionState, JournalRecord, JournalStatus, OutcomeRecord, Store,
};
use charter_model::{
    Action, ActionKind, Alert, AlertStatus, ApprovalState, CauseClass, Diagnosis, ExecutionId,
    Hypothesis, Incident, IncidentId, IncidentState, Outcome, OutcomeClass, Pattern, Policy,
    PolicyContext, PolicyId, Rejected, Severity, Signal, Timestamp, Violation, ViolationState,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

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
            the_latest_record_is_found_across_tables,
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
            pruning_alerts_drops_old_receipts_and_keeps_the_cursor_valid,
            a_firing_alert_re_sent_later_is_refiled_with_its_new_receipt,
            a_replayed_change_is_recorded_once,
            changes_since_is_exclusive_and_recent_changes_newest_first,
            changes_survive_a_restart_and_a_replay_after_it_is_still_one,
            the_same_change_from_two_senders_at_once_is_new_once,
            pruning_changes_drops_old_receipts_and_keeps_the_cursor_valid,
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
        id: IncidentId(id),
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
        incident_id: IncidentId(incident_id),
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
        id: PolicyId(id),
        incident_id: IncidentId(incident_id),
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
        context: Some(PolicyContext {
            objective: "latency_p99".into(),
            cause: CauseClass::Overload,
        }),
    }
}

fn journal_row(execution_id: u64, step: u32, status: JournalStatus, at: i64) -> JournalRecord {
    JournalRecord {
        execution_id: ExecutionId(execution_id),
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
        id: ExecutionId(id),
        policy_id: PolicyId(id + 10),
        incident_id: IncidentId(id + 20),
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
            execution_id: ExecutionId(execution_id),
            policy_id: PolicyId(execution_id + 100),
            incident_id: IncidentId(execution_id + 200),
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
