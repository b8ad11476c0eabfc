//! Conformance tests of the SQLite knowledge store: round trips, restarts, the journal,
//! learning summaries and open errors.

use charter_knowledge::{
    ExecutionRecord, GuardStore, Incidents, Journal, JournalRecord, JournalStatus, LearningStore,
    NextIds, OutcomeRecord, SCHEMA_VERSION, SqliteStore, Store, StoreError, SuccessRate,
};
use charter_model::{
    Action, ActionKind, ApprovalState, CauseClass, Diagnosis, Hypothesis, Incident, IncidentState,
    Outcome, OutcomeClass, Pattern, Policy, Rejected, Severity, Signal, Timestamp, Violation,
    ViolationState,
};
use std::sync::Arc;
use tempfile::TempDir;

type TestResult = Result<(), Box<dyn std::error::Error>>;

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
        prior: Default::default(),
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
        state: if finished { "done" } else { "verifying" }.into(),
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

async fn temp_store() -> Result<(TempDir, SqliteStore), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(&dir.path().join("charter.db")).await?;
    Ok((dir, store))
}

#[tokio::test]
async fn empty_store_hands_out_id_one() -> TestResult {
    let (_dir, store) = temp_store().await?;
    assert_eq!(
        store.next_ids().await?,
        NextIds {
            incident: 1,
            policy: 1,
            execution: 1
        }
    );
    assert_eq!(store.schema_version().await?, SCHEMA_VERSION);
    Ok(())
}

#[tokio::test]
async fn incidents_upsert_by_id_and_open_excludes_resolved() -> TestResult {
    let (_dir, store) = temp_store().await?;
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

#[tokio::test]
async fn violations_are_appended_per_incident_in_order() -> TestResult {
    let (_dir, store) = temp_store().await?;
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

#[tokio::test]
async fn diagnoses_round_trip_with_patterns() -> TestResult {
    let (_dir, store) = temp_store().await?;
    store.save_diagnosis(&diagnosis(3, 110)).await?;
    store.save_diagnosis(&diagnosis(9, 115)).await?;
    store.save_diagnosis(&diagnosis(3, 120)).await?;
    assert_eq!(
        store.diagnoses(3).await?,
        vec![diagnosis(3, 110), diagnosis(3, 120)]
    );
    Ok(())
}

#[tokio::test]
async fn policies_upsert_and_filter_by_incident_and_approval() -> TestResult {
    let (_dir, store) = temp_store().await?;
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
    assert_eq!(store.policies(Some(2)).await?, vec![rejected]);
    assert_eq!(store.policies(None).await?.len(), 3);
    assert_eq!(
        store.pending_policies().await?,
        vec![policy(2, 1, ApprovalState::Pending)]
    );
    Ok(())
}

#[tokio::test]
async fn journal_is_append_only_and_idempotent() -> TestResult {
    let (_dir, store) = temp_store().await?;
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

#[tokio::test]
async fn unfinished_journal_finds_an_intent_without_a_result() -> TestResult {
    let (_dir, store) = temp_store().await?;
    // Execution 1: step 0 applied, step 1 failed, step 2 crashed mid-way.
    store
        .journal_step(&journal_row(1, 0, JournalStatus::Intent, 10))
        .await?;
    store
        .journal_step(&journal_row(1, 0, JournalStatus::Applied, 11))
        .await?;
    store
        .journal_step(&journal_row(1, 1, JournalStatus::Intent, 12))
        .await?;
    store
        .journal_step(&journal_row(1, 1, JournalStatus::Failed, 13))
        .await?;
    store
        .journal_step(&journal_row(1, 2, JournalStatus::Intent, 14))
        .await?;
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

#[tokio::test]
async fn executions_upsert_and_list_unfinished() -> TestResult {
    let (_dir, store) = temp_store().await?;
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

#[tokio::test]
async fn outcomes_round_trip_in_order() -> TestResult {
    let (_dir, store) = temp_store().await?;
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

#[tokio::test]
async fn audit_log_returns_newest_first_up_to_the_limit() -> TestResult {
    let (_dir, store) = temp_store().await?;
    for i in 0..5 {
        store
            .audit(
                t(i),
                "policy.approved",
                &serde_json::json!({ "policy": i, "by": "ops" }),
            )
            .await?;
    }
    let log = store.audit_log(3).await?;
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].at, t(4));
    assert_eq!(log[0].kind, "policy.approved");
    assert_eq!(log[0].body, serde_json::json!({ "policy": 4, "by": "ops" }));
    assert_eq!(log[2].at, t(2));
    assert!(log[0].seq > log[1].seq && log[1].seq > log[2].seq);
    assert_eq!(store.audit_log(100).await?.len(), 5);
    Ok(())
}

#[tokio::test]
async fn actions_since_filters_by_time() -> TestResult {
    let (_dir, store) = temp_store().await?;
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

#[tokio::test]
async fn success_rates_count_resolved_as_success_and_others_as_failure() -> TestResult {
    let (_dir, store) = temp_store().await?;
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

#[tokio::test]
async fn everything_survives_a_restart_and_ids_continue() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("knowledge").with_extension("db");
    {
        let store = SqliteStore::open(&path).await?;
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
        store
            .journal_step(&journal_row(4, 0, JournalStatus::Intent, 10))
            .await?;
        store
            .journal_step(&journal_row(4, 0, JournalStatus::Applied, 11))
            .await?;
        store
            .journal_step(&journal_row(4, 1, JournalStatus::Intent, 12))
            .await?;
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
        // WAL mode: the commits sit in the write-ahead log until a checkpoint.
        assert!(path.with_extension("db-wal").exists());
        // Dropped without close(): nothing may depend on a clean shutdown.
    }

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await?);
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

    // A clean close leaves a store that opens again at the same schema version.
    let reopened = SqliteStore::open(&path).await?;
    assert_eq!(reopened.schema_version().await?, SCHEMA_VERSION);
    assert_eq!(reopened.incidents().await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn next_ids_follow_the_largest_saved_ids() -> TestResult {
    let (_dir, store) = temp_store().await?;
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
    assert_eq!(store.next_ids().await?.incident, 2);
    Ok(())
}

#[tokio::test]
async fn a_closed_store_reports_query_errors() -> TestResult {
    let (_dir, store) = temp_store().await?;
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
    Ok(())
}
