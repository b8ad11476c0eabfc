//! Startup recovery against a fake actuator and a SQLite store in a temporary
//! directory: each test writes the journal a crashed process would have left.

use charter_execute::{Actuator, ActuatorError, Applied, ComponentState};
use charter_knowledge::{
    ExecutionRecord, ExecutionState, JournalRecord, JournalStatus, SqliteStore, prelude::*,
};
use charter_model::{Action, ActionKind, IncidentState, Timestamp};
use charter_model::{ExecutionId, IncidentId, PolicyId};
use charter_orchestrator::recovery::{RecoveryOutcome, StepDecision, recover};
use charter_orchestrator::{Controller, RecoveryReport};
use charter_sim::Scenario;
use charter_testkit::{actuators, incident, simulator, westworld};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tempfile::TempDir;

const CRASH: Timestamp = Timestamp(1_767_225_600_000);
const RESTART: Timestamp = Timestamp(1_767_225_660_000);

/// An actuator whose memory of keys the test sets; it records every apply.
#[derive(Default)]
struct Fake {
    /// What `status` answers per key (absent: never applied). `Err` is "cannot tell".
    known: Mutex<BTreeMap<String, Result<Option<Applied>, String>>>,
    /// Keys whose apply fails.
    failing: Vec<String>,
    /// Every apply, in order.
    applies: Mutex<Vec<(String, Action)>>,
}

impl Fake {
    fn knows(&self, key: &str, answer: Result<Option<Applied>, String>) {
        self.known
            .lock()
            .expect("lock")
            .insert(key.to_string(), answer);
    }

    fn applies(&self) -> Vec<(String, Action)> {
        self.applies.lock().expect("lock").clone()
    }
}

/// What an `#[async_trait]` method returns; written out because this crate does not
/// depend on `async-trait` itself.
type Answer<'t, T> = Pin<Box<dyn Future<Output = Result<T, ActuatorError>> + Send + 't>>;

impl Actuator for Fake {
    fn apply<'a, 'b, 'c, 't>(&'a self, key: &'b str, action: &'c Action) -> Answer<'t, Applied>
    where
        'a: 't,
        'b: 't,
        'c: 't,
        Self: 't,
    {
        Box::pin(async move {
            self.applies
                .lock()
                .expect("lock")
                .push((key.to_string(), action.clone()));
            if self.failing.iter().any(|k| k == key) {
                self.knows(key, Ok(None));
                return Err(ActuatorError::Failed("the api server said no".into()));
            }
            let applied = Applied {
                prior: BTreeMap::new(),
                detail: format!("did {action}"),
            };
            self.knows(key, Ok(Some(applied.clone())));
            Ok(applied)
        })
    }

    fn describe<'a, 'b, 't>(&'a self, _component: &'b str) -> Answer<'t, ComponentState>
    where
        'a: 't,
        'b: 't,
        Self: 't,
    {
        Box::pin(async move { Ok(ComponentState::default()) })
    }

    fn status<'a, 'b, 't>(&'a self, key: &'b str) -> Answer<'t, Option<Applied>>
    where
        'a: 't,
        'b: 't,
        Self: 't,
    {
        Box::pin(async move {
            self.known
                .lock()
                .expect("lock")
                .get(key)
                .cloned()
                .unwrap_or(Ok(None))
                .map_err(ActuatorError::Failed)
        })
    }
}

fn applied(replicas: u32) -> Applied {
    Applied {
        prior: BTreeMap::from([("replicas".to_string(), replicas.to_string())]),
        detail: format!("{replicas} → {} replicas", replicas + 2),
    }
}

fn scale_out(component: &str) -> Action {
    Action::new(ActionKind::ScaleOut, component).with_param("step", 2)
}

/// A store holding what a crashed process left: execution 7 of incident 3, unfinished.
struct Crashed {
    _dir: TempDir,
    store: Arc<SqliteStore>,
}

impl Crashed {
    async fn new(actions: &[Action]) -> Crashed {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("charter.db"))
                .await
                .expect("store"),
        );
        store
            .save_incident(
                &incident(3)
                    .opened_at(CRASH)
                    .state(IncidentState::Remediating)
                    .violations(["cpu_utilization@api"])
                    .root_cause("api")
                    .attempts(1)
                    .build(),
            )
            .await
            .expect("incident");
        store
            .save_execution(&ExecutionRecord {
                id: ExecutionId(7),
                policy_id: PolicyId(5),
                incident_id: IncidentId(3),
                started_at: CRASH,
                finished_at: None,
                state: ExecutionState::Applying,
                actions: actions.to_vec(),
            })
            .await
            .expect("execution");
        Crashed { _dir: dir, store }
    }

    /// Journal a row of execution 7 as the controller writes it.
    async fn row(&self, step: u32, status: JournalStatus, action: &Action, prior: Option<Applied>) {
        let key = if step >= 1000 {
            format!("7-{}-undo", step - 1000)
        } else {
            format!("7-{step}")
        };
        let (detail, prior) = match prior {
            Some(a) => (a.detail, a.prior),
            None => (String::new(), BTreeMap::new()),
        };
        self.store
            .journal_step(&JournalRecord {
                execution_id: ExecutionId(7),
                step,
                idempotency_key: key,
                epoch: 0,
                action: action.clone(),
                status,
                detail,
                prior,
                at: CRASH,
            })
            .await
            .expect("journal");
    }

    async fn recover(&self, fake: Arc<Fake>) -> RecoveryReport {
        let charter = westworld();
        let actuators = actuators(&charter, fake);
        recover(&charter, &actuators, self.store.as_ref(), RESTART)
            .await
            .expect("recovered")
    }

    async fn journal(&self) -> Vec<(u32, JournalStatus, String)> {
        self.store
            .journal(ExecutionId(7))
            .await
            .expect("journal")
            .into_iter()
            .map(|r| (r.step, r.status, r.idempotency_key))
            .collect()
    }

    async fn state(&self) -> (Option<Timestamp>, ExecutionState) {
        let e = self
            .store
            .executions()
            .await
            .expect("executions")
            .into_iter()
            .find(|e| e.id == ExecutionId(7))
            .expect("execution 7");
        (e.finished_at, e.state)
    }

    async fn audits(&self, kind: &str) -> usize {
        self.store
            .audit_log(1000)
            .await
            .expect("audit")
            .iter()
            .filter(|a| a.kind == kind)
            .count()
    }
}

fn decisions(report: &RecoveryReport) -> Vec<(u32, &'static str)> {
    report
        .executions
        .iter()
        .flat_map(|e| e.steps.iter().map(|s| (s.step, s.decision.name())))
        .collect()
}

#[tokio::test]
async fn an_intent_the_actuator_applied_is_journaled_applied_and_compensated_once() {
    let action = scale_out("api");
    let crashed = Crashed::new(std::slice::from_ref(&action)).await;
    crashed.row(0, JournalStatus::Intent, &action, None).await;
    let fake = Arc::new(Fake::default());
    fake.knows("7-0", Ok(Some(applied(3))));

    let report = crashed.recover(fake.clone()).await;
    assert_eq!(
        decisions(&report),
        vec![(0, "applied_before_crash"), (0, "compensated")]
    );
    assert_eq!(report.executions[0].outcome, RecoveryOutcome::Recovered);
    assert!(!report.executions[0].escalated);
    let inverse = action.inverse(&applied(3).prior).expect("reversible");
    assert_eq!(fake.applies(), vec![("7-0-undo".to_string(), inverse)]);
    assert_eq!(
        crashed.journal().await,
        vec![
            (0, JournalStatus::Intent, "7-0".into()),
            (0, JournalStatus::Applied, "7-0".into()),
            (1000, JournalStatus::Intent, "7-0-undo".into()),
            (1000, JournalStatus::Compensated, "7-0-undo".into()),
        ]
    );
    let rows = crashed
        .store
        .journal(ExecutionId(7))
        .await
        .expect("journal");
    assert_eq!(rows[1].prior, applied(3).prior, "the prior is journaled");
    assert_eq!(
        crashed.state().await,
        (Some(RESTART), ExecutionState::Recovered)
    );
    // The forward action counts toward the guardrails, at the time of its intent.
    assert_eq!(
        crashed.store.actions_since(CRASH).await.expect("actions"),
        vec![("api".to_string(), ActionKind::ScaleOut, CRASH)]
    );
    assert!(
        report.to_string().contains("compensated with scale_in"),
        "{report}"
    );

    // A second start finds nothing left to do and applies nothing.
    let again = crashed.recover(fake.clone()).await;
    assert!(again.is_empty(), "{again}");
    assert_eq!(fake.applies().len(), 1);
}

#[tokio::test]
async fn an_intent_the_actuator_never_saw_is_failed_and_nothing_is_applied() {
    let action = scale_out("api");
    let crashed = Crashed::new(std::slice::from_ref(&action)).await;
    crashed.row(0, JournalStatus::Intent, &action, None).await;
    let fake = Arc::new(Fake::default());

    let report = crashed.recover(fake.clone()).await;
    assert_eq!(decisions(&report), vec![(0, "not_applied")]);
    assert_eq!(report.executions[0].outcome, RecoveryOutcome::Recovered);
    assert!(
        fake.applies().is_empty(),
        "a forward step is never re-applied"
    );
    let rows = crashed
        .store
        .journal(ExecutionId(7))
        .await
        .expect("journal");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].status, JournalStatus::Failed);
    assert_eq!(rows[1].detail, "not applied before the crash");
    assert_eq!(
        crashed.state().await,
        (Some(RESTART), ExecutionState::Recovered)
    );
    assert!(
        crashed
            .store
            .unfinished_journal()
            .await
            .expect("read")
            .is_empty()
    );
}

#[tokio::test]
async fn a_started_execution_without_a_journaled_step_is_closed_without_acting() {
    let crashed = Crashed::new(&[scale_out("api")]).await;
    let fake = Arc::new(Fake::default());
    let report = crashed.recover(fake.clone()).await;
    assert_eq!(report.executions.len(), 1);
    assert!(report.executions[0].steps.is_empty());
    assert!(fake.applies().is_empty());
    assert_eq!(
        crashed.state().await,
        (Some(RESTART), ExecutionState::Recovered)
    );
}

#[tokio::test]
async fn applied_steps_are_compensated_in_reverse_order() {
    let actions = [
        scale_out("api"),
        Action::new(ActionKind::Throttle, "api").with_param("rate", 250),
        scale_out("catalog"),
    ];
    let crashed = Crashed::new(&actions).await;
    let throttled = Applied {
        prior: BTreeMap::new(),
        detail: "limited to 250/s".into(),
    };
    crashed
        .row(0, JournalStatus::Intent, &actions[0], None)
        .await;
    crashed
        .row(0, JournalStatus::Applied, &actions[0], Some(applied(2)))
        .await;
    crashed
        .row(1, JournalStatus::Intent, &actions[1], None)
        .await;
    crashed
        .row(1, JournalStatus::Applied, &actions[1], Some(throttled))
        .await;
    crashed
        .row(2, JournalStatus::Intent, &actions[2], None)
        .await;
    let fake = Arc::new(Fake::default());
    fake.knows("7-2", Ok(Some(applied(4))));

    let report = crashed.recover(fake.clone()).await;
    let keys: Vec<String> = fake.applies().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec!["7-2-undo", "7-1-undo", "7-0-undo"]);
    let undo: Vec<Action> = fake.applies().into_iter().map(|(_, a)| a).collect();
    assert_eq!(undo[0].param("to_replicas"), Some("4"));
    assert_eq!(undo[1].param("rate"), Some("none"));
    assert_eq!(undo[2].param("to_replicas"), Some("2"));
    assert!(undo.iter().all(|a| a.compensation));
    assert_eq!(report.executions[0].outcome, RecoveryOutcome::Recovered);
}

#[tokio::test]
async fn a_compensation_already_applied_before_the_crash_is_not_applied_again() {
    let action = scale_out("api");
    let inverse = action.inverse(&applied(3).prior).expect("reversible");
    let crashed = Crashed::new(std::slice::from_ref(&action)).await;
    crashed.row(0, JournalStatus::Intent, &action, None).await;
    crashed
        .row(0, JournalStatus::Applied, &action, Some(applied(3)))
        .await;
    crashed
        .row(1000, JournalStatus::Intent, &inverse, None)
        .await;
    let fake = Arc::new(Fake::default());
    fake.knows(
        "7-0-undo",
        Ok(Some(Applied {
            prior: BTreeMap::new(),
            detail: "5 → 3 replicas".into(),
        })),
    );

    let report = crashed.recover(fake.clone()).await;
    assert!(fake.applies().is_empty(), "{:?}", fake.applies());
    assert_eq!(
        report.executions[0].steps[0].decision,
        StepDecision::Compensated {
            inverse: inverse.clone(),
            now: false
        }
    );
    assert_eq!(
        crashed.journal().await.last(),
        Some(&(1000, JournalStatus::Compensated, "7-0-undo".to_string()))
    );
    assert_eq!(report.executions[0].outcome, RecoveryOutcome::Recovered);
}

#[tokio::test]
async fn a_journaled_compensation_the_actuator_never_saw_is_applied_under_its_key() {
    let action = scale_out("api");
    let inverse = action.inverse(&applied(3).prior).expect("reversible");
    let crashed = Crashed::new(std::slice::from_ref(&action)).await;
    crashed.row(0, JournalStatus::Intent, &action, None).await;
    crashed
        .row(0, JournalStatus::Applied, &action, Some(applied(3)))
        .await;
    crashed
        .row(1000, JournalStatus::Intent, &inverse, None)
        .await;
    let fake = Arc::new(Fake::default());

    let report = crashed.recover(fake.clone()).await;
    assert_eq!(fake.applies(), vec![("7-0-undo".to_string(), inverse)]);
    assert_eq!(report.executions[0].outcome, RecoveryOutcome::Recovered);
    // The intent was already journaled; only the result is added.
    assert_eq!(crashed.journal().await.len(), 4);
}

#[tokio::test]
async fn a_failing_compensation_quarantines_and_escalates_once() {
    let action = scale_out("api");
    let crashed = Crashed::new(std::slice::from_ref(&action)).await;
    crashed.row(0, JournalStatus::Intent, &action, None).await;
    crashed
        .row(0, JournalStatus::Applied, &action, Some(applied(3)))
        .await;
    let fake = Arc::new(Fake {
        failing: vec!["7-0-undo".into()],
        ..Fake::default()
    });

    let report = crashed.recover(fake.clone()).await;
    assert_eq!(decisions(&report), vec![(0, "compensation_failed")]);
    let e = &report.executions[0];
    assert_eq!(e.outcome, RecoveryOutcome::RecoveryFailed);
    assert!(e.escalated);
    assert_eq!(report.quarantined, ["api".to_string()].into());
    assert_eq!(
        crashed.store.quarantined().await.expect("read"),
        ["api".to_string()].into(),
        "the quarantine is persisted"
    );
    assert_eq!(
        crashed.state().await,
        (Some(RESTART), ExecutionState::RecoveryFailed)
    );
    let incident = crashed.store.incidents().await.expect("incidents");
    assert_eq!(incident[0].state, IncidentState::Escalated);
    assert_eq!(crashed.audits("escalation").await, 1);
    assert_eq!(
        crashed.journal().await.last(),
        Some(&(1000, JournalStatus::Failed, "7-0-undo".to_string()))
    );

    // The next start neither retries the compensation nor escalates again.
    let again = crashed.recover(fake.clone()).await;
    assert!(again.is_empty(), "{again}");
    assert_eq!(fake.applies().len(), 1);
    assert_eq!(crashed.audits("escalation").await, 1);
}

#[tokio::test]
async fn an_unknown_status_is_escalated_and_settled_by_a_later_start() {
    let actions = [scale_out("api"), scale_out("catalog")];
    let crashed = Crashed::new(&actions).await;
    crashed
        .row(0, JournalStatus::Intent, &actions[0], None)
        .await;
    crashed
        .row(0, JournalStatus::Applied, &actions[0], Some(applied(3)))
        .await;
    crashed
        .row(1, JournalStatus::Intent, &actions[1], None)
        .await;
    let fake = Arc::new(Fake::default());
    fake.knows("7-1", Err("connection refused".into()));

    let report = crashed.recover(fake.clone()).await;
    assert_eq!(decisions(&report), vec![(1, "unknown"), (0, "compensated")]);
    let e = &report.executions[0];
    assert_eq!(e.outcome, RecoveryOutcome::RecoveryFailed);
    assert!(e.escalated);
    assert_eq!(
        report.quarantined,
        ["api".to_string(), "catalog".to_string()].into()
    );
    // Nothing is guessed: the intent stays without a result, step 1 is not applied.
    let keys: Vec<String> = fake.applies().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec!["7-0-undo"]);
    assert_eq!(
        crashed
            .store
            .unfinished_journal()
            .await
            .expect("read")
            .iter()
            .map(|r| r.idempotency_key.clone())
            .collect::<Vec<_>>(),
        vec!["7-1"]
    );

    // Once the actuator can answer, the next start settles and undoes the step.
    fake.knows("7-1", Ok(Some(applied(2))));
    let later = crashed.recover(fake.clone()).await;
    assert_eq!(
        decisions(&later),
        vec![
            (1, "applied_before_crash"),
            (1, "compensated"),
            (0, "compensated")
        ]
    );
    assert_eq!(later.executions[0].outcome, RecoveryOutcome::Recovered);
    assert!(!later.executions[0].escalated);
    let keys: Vec<String> = fake.applies().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec!["7-0-undo", "7-1-undo"]);
    assert_eq!(crashed.state().await.1, ExecutionState::Recovered);
    assert_eq!(crashed.audits("escalation").await, 1);
}

#[tokio::test]
async fn an_irreversible_step_is_recorded_as_not_compensated() {
    let restart = Action::new(ActionKind::Restart, "api");
    let crashed = Crashed::new(std::slice::from_ref(&restart)).await;
    crashed.row(0, JournalStatus::Intent, &restart, None).await;
    let fake = Arc::new(Fake::default());
    fake.knows(
        "7-0",
        Ok(Some(Applied {
            prior: BTreeMap::new(),
            detail: "restarted".into(),
        })),
    );
    let report = crashed.recover(fake.clone()).await;
    assert_eq!(
        decisions(&report),
        vec![(0, "applied_before_crash"), (0, "irreversible")]
    );
    assert_eq!(report.executions[0].outcome, RecoveryOutcome::Recovered);
    assert!(fake.applies().is_empty());
}

#[tokio::test]
async fn controller_new_recovers_before_the_first_tick() {
    let action = scale_out("api");
    let crashed = Crashed::new(std::slice::from_ref(&action)).await;
    crashed.row(0, JournalStatus::Intent, &action, None).await;
    let fake = Arc::new(Fake::default());
    fake.knows("7-0", Ok(Some(applied(3))));
    let charter = westworld();
    let scenario = Scenario::builtin("no-fault").expect("built-in");
    let sim = simulator(&scenario, 1, RESTART);
    let actuators = actuators(&charter, fake.clone());
    let store: Arc<dyn Store> = crashed.store.clone();
    let _controller = Controller::new(charter, Arc::new(sim), actuators, store, RESTART)
        .await
        .expect("controller");
    assert_eq!(fake.applies().len(), 1);
    assert_eq!(crashed.state().await.1, ExecutionState::Recovered);
    assert!(
        crashed
            .store
            .unfinished_executions()
            .await
            .expect("read")
            .is_empty()
    );
}

#[tokio::test]
async fn while_paused_recovery_undoes_nothing_and_escalates() {
    let action = scale_out("api");
    let crashed = Crashed::new(std::slice::from_ref(&action)).await;
    crashed.row(0, JournalStatus::Intent, &action, None).await;
    crashed
        .store
        .save_pause(&charter_knowledge::PauseRecord {
            paused: true,
            by: "alice".into(),
            reason: "investigating".into(),
            at: CRASH,
        })
        .await
        .expect("pause");
    let fake = Arc::new(Fake::default());
    fake.knows("7-0", Ok(Some(applied(3))));

    let report = crashed.recover(fake.clone()).await;
    assert_eq!(
        decisions(&report),
        vec![(0, "applied_before_crash"), (0, "compensation_failed")]
    );
    assert!(fake.applies().is_empty(), "nothing is applied while paused");
    assert_eq!(
        report.executions[0].outcome,
        RecoveryOutcome::RecoveryFailed
    );
    assert!(report.executions[0].escalated);
    assert!(
        report
            .to_string()
            .contains("automation is paused (by alice: investigating)"),
        "{report}"
    );
    assert!(
        crashed
            .store
            .quarantined()
            .await
            .expect("quarantine")
            .contains("api")
    );
    // Settled: a later start (resumed or not) has nothing left to decide.
    assert!(
        crashed
            .store
            .unfinished_journal()
            .await
            .expect("journal")
            .is_empty()
    );
    assert!(crashed.recover(fake.clone()).await.is_empty());
    assert!(fake.applies().is_empty());
}
