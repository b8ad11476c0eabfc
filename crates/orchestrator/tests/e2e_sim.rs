//! End-to-end: the whole loop against the Westworld simulator, in virtual time.
//!
//! One test per fault type asserts that the diagnosed root cause is the ground
//! truth, the first action is the fault's right remedy on that component, the
//! objective recovers, and the outcome is stored; the no-fault control must cause
//! no action at all; knowledge must survive a restart.

mod common;

use charter_knowledge::{SqliteStore, prelude::*};
use charter_model::IncidentId;
use charter_model::{ActionKind, OutcomeClass};
use charter_orchestrator::{Controller, Event};
use charter_sim::{Scenario, Simulator};
use charter_testkit::{EPOCH, WESTWORLD, actuators, charter_from, simulator, westworld};
use common::run_scenario;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

struct Run {
    events: Vec<(Duration, Event)>,
    store: Arc<SqliteStore>,
    sim: Simulator,
}

async fn run(scenario: &str, seed: u64, db: &Path) -> Run {
    let scenario = Scenario::builtin(scenario).expect("built-in scenario");
    let store = Arc::new(SqliteStore::open(db).await.expect("store"));
    let (events, sim) = run_scenario(westworld(), &scenario, seed, store.clone()).await;
    Run { events, store, sim }
}

impl Run {
    /// The main action of the first policy that ran (a multi-action policy's other
    /// steps only prepare or bridge it).
    fn first_main(&self) -> Option<(ActionKind, String)> {
        self.events.iter().find_map(|(_, e)| match e {
            Event::PolicyDecided { policy }
                if matches!(
                    policy.approval,
                    charter_model::ApprovalState::AutoApproved
                        | charter_model::ApprovalState::Approved { .. }
                ) =>
            {
                let a = &policy.actions[policy.main];
                Some((a.kind, a.component.clone()))
            }
            _ => None,
        })
    }

    fn applied(&self) -> Vec<(ActionKind, String)> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::StepApplied { action, .. } if !action.compensation => {
                    Some((action.kind, action.component.clone()))
                }
                _ => None,
            })
            .collect()
    }

    fn first_root(&self) -> Option<String> {
        self.events.iter().find_map(|(_, e)| match e {
            Event::Diagnosed { diagnosis } => diagnosis.root().map(|h| h.component.clone()),
            _ => None,
        })
    }

    fn log(&self) -> String {
        self.events
            .iter()
            .filter(|(_, e)| !matches!(e, Event::Violation { .. }))
            .map(|(t, e)| format!("[{:>5}s] {e}", t.as_secs()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn assert_healed(
        &self,
        root: &str,
        remedy: ActionKind,
        metric: &str,
        healthy: impl Fn(f64) -> bool,
    ) {
        let log = self.log();
        assert_eq!(
            self.first_root().as_deref(),
            Some(root),
            "diagnosis:\n{log}"
        );
        assert_eq!(
            self.first_main(),
            Some((remedy, root.to_string())),
            "first policy's main action:\n{log}"
        );
        assert!(
            self.applied().contains(&(remedy, root.to_string())),
            "the remedy was applied:\n{log}"
        );
        assert!(
            self.events
                .iter()
                .any(|(_, e)| matches!(e, Event::IncidentResolved { .. })),
            "incident never resolved:\n{log}"
        );
        let value = self
            .sim
            .with_world(|w| w.metric(metric, root))
            .expect("metric exists");
        assert!(
            healthy(value),
            "{metric} on {root} is {value} at the end:\n{log}"
        );
        let outcomes = self.store.outcomes().await.expect("outcomes");
        assert!(
            outcomes.iter().any(|o| o.action_kind == remedy
                && o.component == root
                && o.outcome.class == OutcomeClass::Resolved),
            "no resolved outcome stored: {outcomes:#?}\n{log}"
        );
        assert!(
            !self
                .events
                .iter()
                .any(|(_, e)| matches!(e, Event::IncidentEscalated { .. })),
            "escalated:\n{log}"
        );
    }
}

fn db() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("k.db");
    (dir, path)
}

#[tokio::test]
async fn traffic_surge_is_scaled_out() {
    let (_d, path) = db();
    let r = run("traffic-surge", 1, &path).await;
    r.assert_healed(
        "catalog",
        ActionKind::ScaleOut,
        "westworld_cpu_utilization",
        |u| u < 0.85,
    )
    .await;
}

#[tokio::test]
async fn memory_leak_is_restarted() {
    let (_d, path) = db();
    let r = run("memory-leak", 1, &path).await;
    r.assert_healed(
        "orders",
        ActionKind::Restart,
        "westworld_memory_utilization",
        |m| m < 0.8,
    )
    .await;
}

#[tokio::test]
async fn bad_deploy_is_rolled_back() {
    let (_d, path) = db();
    let r = run("bad-deploy", 1, &path).await;
    r.assert_healed("auth", ActionKind::Rollback, "westworld_error_ratio", |e| {
        e < 0.02
    })
    .await;
}

#[tokio::test]
async fn dependency_outage_fails_over() {
    let (_d, path) = db();
    let r = run("dependency-outage", 1, &path).await;
    r.assert_healed("db", ActionKind::Failover, "westworld_error_ratio", |e| {
        e < 0.02
    })
    .await;
}

#[tokio::test]
async fn every_fault_is_healed_with_other_seeds() {
    for seed in [2, 3, 4] {
        for (scenario, root, remedy) in [
            ("traffic-surge", "catalog", ActionKind::ScaleOut),
            ("memory-leak", "orders", ActionKind::Restart),
            ("bad-deploy", "auth", ActionKind::Rollback),
            ("dependency-outage", "db", ActionKind::Failover),
        ] {
            let (_d, path) = db();
            let r = run(scenario, seed, &path).await;
            assert_eq!(
                r.first_root().as_deref(),
                Some(root),
                "{scenario} seed {seed}:\n{}",
                r.log()
            );
            assert_eq!(
                r.first_main(),
                Some((remedy, root.to_string())),
                "{scenario} seed {seed}:\n{}",
                r.log()
            );
        }
    }
}

#[tokio::test]
async fn no_fault_control_takes_no_action() {
    let (_d, path) = db();
    let r = run("no-fault", 1, &path).await;
    assert!(
        r.applied().is_empty(),
        "actions in the control:\n{}",
        r.log()
    );
    assert!(
        !r.events
            .iter()
            .any(|(_, e)| matches!(e, Event::IncidentOpened { .. })),
        "incidents in the control:\n{}",
        r.log()
    );
    assert!(r.store.outcomes().await.expect("outcomes").is_empty());
}

#[tokio::test]
async fn knowledge_persists_across_a_restart() {
    let (_d, path) = db();
    let first = run("memory-leak", 1, &path).await;
    let rates = first.store.success_rates().await.expect("rates");
    first.store.close().await;
    drop(first);

    // A new process: a fresh store on the same file sees what the first one learned.
    let reopened = SqliteStore::open(&path).await.expect("reopen");
    let again = reopened.success_rates().await.expect("rates");
    assert_eq!(rates, again);
    assert!(
        again
            .iter()
            .any(|r| r.kind == ActionKind::Restart && r.component == "orders" && r.successes >= 1)
    );
    let incidents = reopened.incidents().await.expect("incidents");
    assert!(!incidents.is_empty());
    let ids = reopened.next_ids().await.expect("ids");
    assert!(
        ids.incident
            > incidents
                .iter()
                .map(|i| i.id)
                .max()
                .unwrap_or(IncidentId(0))
    );
    reopened.close().await;

    // And a second run on it continues numbering instead of overwriting.
    let second = run("memory-leak", 2, &path).await;
    let all = second.store.incidents().await.expect("incidents");
    assert!(
        all.len() > incidents.len(),
        "second run's incidents were added"
    );
    let outcomes = second.store.outcomes().await.expect("outcomes");
    assert!(outcomes.len() >= 2);
}

#[tokio::test]
async fn without_a_graph_a_burst_of_violations_is_one_incident() {
    // The same shop with every `depends_on` removed: only timing can group symptoms.
    let text: String = WESTWORLD
        .lines()
        .map(|l| match (l.find("depends_on: ["), l.find("], actuator")) {
            (Some(a), Some(b)) => format!("{}{}", &l[..a], &l[b + 3..]),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let charter = Arc::new(charter_from(&text));
    assert!(charter.components.iter().all(|c| c.depends_on.is_empty()));
    let scenario = Scenario::builtin("dependency-outage").expect("built-in scenario");
    let sim = simulator(&scenario, 3, EPOCH);
    let actuators = actuators(&charter, Arc::new(sim.clone()));
    let (_dir, path) = db();
    let store = Arc::new(SqliteStore::open(&path).await.expect("store"));
    let mut c = Controller::new(charter.clone(), Arc::new(sim), actuators, store, EPOCH)
        .await
        .expect("controller");
    let mut opened = Vec::new();
    let mut components = std::collections::BTreeSet::new();
    let mut t = Duration::ZERO;
    while t <= Duration::from_secs(9 * 60) {
        for e in c.tick(EPOCH.plus(t)).await.expect("tick").events {
            match e.event {
                Event::IncidentOpened { incident_id, .. } => opened.push(incident_id),
                Event::Violation { violation, .. }
                    if violation.state == charter_model::ViolationState::Firing =>
                {
                    components.insert(violation.component);
                }
                _ => {}
            }
        }
        t += charter.interval;
    }
    assert!(components.len() >= 3, "few symptoms: {components:?}");
    assert_eq!(opened.len(), 1, "{opened:?} for {components:?}");
}
