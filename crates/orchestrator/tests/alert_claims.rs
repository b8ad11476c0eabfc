//! Alerts are claims, the objective's query is the measurement (issue 16, items 1
//! and 3): the loop on the Westworld simulator, with alerts written to its store as
//! the webhook would.
//!
//! - a forged alert that the query contradicts opens nothing and acts on nothing,
//!   and is recorded as unconfirmed;
//! - an alert that the query agrees with joins the violation the query measures.

use charter_knowledge::{AlertInbox, GuardStore, SqliteStore};
use charter_model::{Alert, AlertStatus, Charter, Severity, Timestamp, ViolationState};
use charter_orchestrator::{Controller, Event};
use charter_sim::{Scenario, Simulator};
use charter_testkit::{EPOCH, WESTWORLD, actuators, charter_from, simulator, westworld};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

struct Run {
    controller: Controller,
    sim: Simulator,
    store: Arc<SqliteStore>,
    events: Vec<(Duration, Event)>,
    t: Duration,
    interval: Duration,
    _dir: tempfile::TempDir,
}

async fn start(scenario: &str, charter: Arc<Charter>) -> Run {
    let scenario = Scenario::builtin(scenario).expect("built-in scenario");
    let sim = simulator(&scenario, 1, EPOCH);
    let actuators = actuators(&charter, Arc::new(sim.clone()));
    let observed = sim.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("k.db"))
            .await
            .expect("store"),
    );
    let controller = Controller::new(
        charter.clone(),
        Arc::new(sim),
        actuators,
        store.clone(),
        EPOCH,
    )
    .await
    .expect("controller");
    Run {
        controller,
        sim: observed,
        store,
        events: Vec::new(),
        t: Duration::ZERO,
        interval: charter.interval,
        _dir: dir,
    }
}

/// A firing alert as the webhook stores it, received at `now`.
fn forged(objective: &str, component: &str, severity: Severity, now: Timestamp) -> Alert {
    Alert {
        fingerprint: format!("{objective}-{component}"),
        status: AlertStatus::Firing,
        starts_at: now.minus(Duration::from_secs(60)),
        ends_at: None,
        labels: BTreeMap::from([
            ("alertname".to_string(), objective.to_string()),
            ("service".to_string(), component.to_string()),
            ("severity".to_string(), severity.to_string()),
        ]),
        annotations: BTreeMap::new(),
        objective: Some(objective.into()),
        component: Some(component.into()),
        severity: Some(severity),
        received_at: now,
        seq: 0,
    }
}

impl Run {
    fn now(&self) -> Timestamp {
        EPOCH.plus(self.t)
    }

    async fn ticks(&mut self, n: usize) {
        for _ in 0..n {
            let report = self.controller.tick(self.now()).await.expect("tick");
            let t = self.t;
            self.events
                .extend(report.events.into_iter().map(|e| (t, e.event)));
            self.t += self.interval;
        }
    }

    /// Post a firing alert as the webhook stores it (received now).
    async fn alert(&self, objective: &str, component: &str, severity: Severity) {
        let alert = forged(objective, component, severity, self.now());
        assert_eq!(
            self.store.save_alerts(&[alert]).await.expect("save"),
            vec![true]
        );
    }

    /// What the query reads of db's error ratio now.
    fn db_errors(&self) -> f64 {
        self.sim
            .with_world(|w| w.metric("westworld_error_ratio", "db"))
            .expect("the simulator has db's error ratio")
    }

    async fn unconfirmed(&self) -> usize {
        let audit = self.store.audit_log(1000).await.expect("audit");
        audit
            .iter()
            .filter(|a| a.kind == "alert_unconfirmed")
            .count()
    }

    fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| f(e)).count()
    }
}

#[tokio::test]
async fn a_forged_alert_that_the_query_contradicts_causes_no_action() {
    let mut run = start("no-fault", westworld()).await;
    run.ticks(4).await;
    // The query reads db's error ratio far below the 0.02 threshold.
    let ratio = run.db_errors();
    assert!(ratio < 0.02, "the world is healthy: {ratio}");

    run.alert("error_ratio", "db", Severity::Critical).await;
    run.ticks(40).await;

    let acted = run.count(|e| {
        matches!(
            e,
            Event::IncidentOpened { .. }
                | Event::PolicyDecided { .. }
                | Event::StepApplied { .. }
                | Event::StepFailed { .. }
        )
    });
    assert_eq!(acted, 0, "events: {:#?}", run.events);
    let violations = run.count(|e| matches!(e, Event::Violation { .. }));
    assert_eq!(violations, 0, "events: {:#?}", run.events);

    // The alert is on record as unconfirmed, with the reading that contradicted it.
    let audit = run.store.audit_log(100).await.expect("audit");
    let unconfirmed: Vec<_> = audit
        .iter()
        .filter(|a| a.kind == "alert_unconfirmed")
        .collect();
    assert_eq!(unconfirmed.len(), 1, "{audit:#?}");
    let body = &unconfirmed[0].body;
    assert_eq!(body["objective"], "error_ratio");
    assert_eq!(body["component"], "db");
    assert_eq!(body["severity"], "critical");
    let value = body["value"].as_f64().expect("the contradicting reading");
    assert!(value < 0.02, "{body}");
}

#[tokio::test]
async fn an_alert_the_query_agrees_with_joins_the_measured_violation() {
    // A dependency outage makes db's errors breach; the alert about it agrees.
    let mut run = start("dependency-outage", westworld()).await;
    let mut alerted = false;
    for _ in 0..200 {
        run.ticks(1).await;
        if !alerted && run.db_errors() > 0.02 {
            run.alert("error_ratio", "db", Severity::Critical).await;
            alerted = true;
        }
        let joined = run.events.iter().any(|(_, e)| {
            matches!(e, Event::Violation { violation, .. }
                if violation.objective == "error_ratio" && violation.component == "db"
                    && violation.alerted && violation.value.is_some())
        });
        if joined {
            break;
        }
    }
    assert!(alerted, "db's error ratio never breached");
    let audit = run.store.audit_log(1000).await.expect("audit");
    assert!(
        audit.iter().all(|a| a.kind != "alert_unconfirmed"),
        "{audit:#?}"
    );
    assert!(
        run.events.iter().any(|(_, e)| matches!(e,
            Event::Violation { violation, .. }
                if violation.objective == "error_ratio" && violation.component == "db"
                    && violation.alerted && violation.value.is_some_and(|v| v > 0.02))),
        "the alert never joined the measured violation: {:#?}",
        run.events
    );
}

#[tokio::test]
async fn alerts_older_than_their_retention_are_pruned_and_new_ones_still_judged() {
    let text = format!("alerts:\n  auth: none\n  expire_after: 1h\n  retention: 2h\n{WESTWORLD}");
    let charter = Arc::new(charter_from(&text));
    let mut run = start("no-fault", charter).await;
    // Received before the loop started: 3 h and 1 h ago.
    let old = forged(
        "error_ratio",
        "db",
        Severity::Critical,
        EPOCH.minus(Duration::from_secs(3 * 3600)),
    );
    let mut recent = forged(
        "error_ratio",
        "orders",
        Severity::Critical,
        EPOCH.minus(Duration::from_secs(3600)),
    );
    recent.fingerprint = "recent".into();
    run.store.save_alerts(&[old, recent]).await.expect("save");
    run.ticks(1).await;
    let left = run.store.recent_alerts(10).await.expect("alerts");
    assert_eq!(left.len(), 1, "{left:#?}");
    assert_eq!(left[0].fingerprint, "recent");
    // The observer's cursor survived the prune: a new alert is still judged.
    run.ticks(2).await;
    run.alert("error_ratio", "auth", Severity::Warning).await;
    run.ticks(2).await;
    assert_eq!(run.unconfirmed().await, 1);
}

#[tokio::test]
async fn an_alert_on_a_violation_already_firing_is_not_logged_again() {
    // db's errors breach and fire on the query alone; the alert about them lands
    // afterwards. The violation takes `alerted` (stored, reported), but the daemon's
    // log (`Event::is_news`) must not say "Firing" a second time.
    let mut run = start("dependency-outage", westworld()).await;
    let is_db_errors = |e: &Event| {
        matches!(e, Event::Violation { violation: v, .. }
            if v.objective == "error_ratio" && v.component == "db")
    };
    let firing = |e: &Event| {
        matches!(e, Event::Violation { violation: v, .. }
            if v.objective == "error_ratio" && v.component == "db"
                && v.state == ViolationState::Firing)
    };
    for _ in 0..200 {
        run.ticks(1).await;
        if run.count(firing) > 0 {
            break;
        }
    }
    assert_eq!(run.count(firing), 1, "events: {:#?}", run.events);
    let severity = run
        .events
        .iter()
        .find_map(|(_, e)| match e {
            Event::Violation { violation: v, .. } if firing(e) => v.severity,
            _ => None,
        })
        .expect("a firing violation has a severity");
    run.alert("error_ratio", "db", severity).await;
    run.ticks(3).await;

    let joined: Vec<&Event> = run
        .events
        .iter()
        .map(|(_, e)| e)
        .filter(
            |e| matches!(e, Event::Violation { violation: v, .. } if v.alerted && is_db_errors(e)),
        )
        .collect();
    assert!(
        !joined.is_empty(),
        "the alert never joined the firing violation: {:#?}",
        run.events
    );
    // Every line the log shows for this series says something new: no two in a row
    // with the same state and severity.
    let logged: Vec<String> = run
        .events
        .iter()
        .map(|(_, e)| e)
        .filter(|e| is_db_errors(e) && e.is_news())
        .map(|e| match e {
            Event::Violation { violation: v, .. } => format!("{:?} {:?}", v.state, v.severity),
            _ => unreachable!(),
        })
        .collect();
    for pair in logged.windows(2) {
        assert_ne!(pair[0], pair[1], "logged twice: {logged:?}");
    }
    assert_eq!(
        logged.iter().filter(|l| l.starts_with("Firing")).count(),
        1,
        "{logged:?}"
    );
}
