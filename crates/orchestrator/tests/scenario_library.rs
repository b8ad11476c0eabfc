//! The scenario library's harder stories, end to end: the real controller with
//! `examples/westworld.yaml` over `scenarios/cascading-failure.yaml`,
//! `two-faults.yaml` and `flapping-metric.yaml`, in virtual time.
//!
//! Each test judges the loop against the scenario's own ground truth
//! (`Scenario::ground_truth`), so a scenario file and its test cannot drift apart.

mod common;

use charter_knowledge::SqliteStore;
use charter_model::{ActionKind, ApprovalState, IncidentId, ViolationState};
use charter_orchestrator::Event;
use charter_sim::{GroundTruth, Scenario, Simulator};
use charter_testkit::westworld;
use common::run_scenario;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// One run of the loop over a scenario file.
struct Run {
    scenario: Scenario,
    seed: u64,
    events: Vec<(Duration, Event)>,
    sim: Simulator,
    _dir: tempfile::TempDir,
}

/// Run the loop over `scenarios/{name}.yaml`, read from the file as a user would.
async fn run(name: &str, seed: u64) -> Run {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(format!("{name}.yaml"));
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("k.db"))
            .await
            .expect("store"),
    );
    let (events, sim) = run_scenario(westworld(), &scenario, seed, store).await;
    Run {
        scenario,
        seed,
        events,
        sim,
        _dir: dir,
    }
}

impl Run {
    fn truth(&self) -> Vec<GroundTruth> {
        self.scenario.ground_truth()
    }

    /// Top hypotheses, in order, with the incident they belong to.
    fn roots(&self) -> Vec<(IncidentId, String)> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Diagnosed { diagnosis } => diagnosis
                    .root()
                    .map(|h| (diagnosis.incident_id, h.component.clone())),
                _ => None,
            })
            .collect()
    }

    /// Actions applied (not compensations), in order.
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

    /// The main action of every policy that was approved to run.
    fn main_actions(&self) -> Vec<(ActionKind, String)> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::PolicyDecided { policy }
                    if matches!(
                        policy.approval,
                        ApprovalState::AutoApproved | ApprovalState::Approved { .. }
                    ) =>
                {
                    let a = &policy.actions[policy.main];
                    Some((a.kind, a.component.clone()))
                }
                _ => None,
            })
            .collect()
    }

    fn metric(&self, name: &str, service: &str) -> f64 {
        self.sim
            .with_world(|w| w.metric(name, service))
            .expect("metric exists")
    }

    fn log(&self) -> String {
        let lines: Vec<String> = self
            .events
            .iter()
            .filter(|(_, e)| !matches!(e, Event::Violation { .. }))
            .map(|(t, e)| format!("[{:>5}s] {e}", t.as_secs()))
            .collect();
        format!(
            "{} seed {}:\n{}",
            self.scenario.name,
            self.seed,
            lines.join("\n")
        )
    }
}

/// The cascade judged on one seed: the first diagnosis names the leaf, the first
/// policy is its right remedy, and the incident resolves while the fault is still on.
async fn assert_cascade_traced_to_the_leaf(seed: u64) {
    let r = run("cascading-failure", seed).await;
    let truth = r.truth();
    assert_eq!(truth.len(), 1);
    let (leaf, remedy) = (truth[0].root_cause.clone(), truth[0].remedy);
    let log = r.log();
    assert_eq!(
        r.roots().first().map(|(_, c)| c.as_str()),
        Some(leaf.as_str()),
        "first diagnosis:\n{log}"
    );
    assert_eq!(
        r.main_actions().first(),
        Some(&(remedy, leaf.clone())),
        "first policy:\n{log}"
    );
    assert!(
        r.applied().contains(&(remedy, leaf.clone())),
        "remedy applied:\n{log}"
    );
    // Recovered by the remedy, not by the noisy neighbour leaving.
    let until = truth[0].until.expect("the fault lasts 20 minutes");
    let resolved: Vec<Duration> = r
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::IncidentResolved { .. }))
        .map(|(t, _)| *t)
        .collect();
    assert!(
        resolved.first().is_some_and(|t| *t < until),
        "not resolved before the fault ended at {until:?}:\n{log}"
    );
    assert!(
        !r.events
            .iter()
            .any(|(_, e)| matches!(e, Event::IncidentEscalated { .. })),
        "escalated:\n{log}"
    );
}

#[tokio::test]
async fn cascading_failure_is_traced_to_the_leaf() {
    let s = Scenario::builtin("cascading-failure").expect("built-in");
    let truth = s.ground_truth();
    assert_eq!(
        (truth[0].root_cause.as_str(), truth[0].remedy),
        ("db", ActionKind::ScaleOut)
    );
    assert_cascade_traced_to_the_leaf(s.seed).await;
}

// Once a known failure (a pool-saturated caller ranked above the slowed leaf on
// about half the seeds): a caller's saturation that comes with its full pool, while
// its own CPU is normal, is queueing for the pooled dependency's connections and
// can be inherited from it (`analyze::rootcause`).
#[tokio::test]
async fn cascading_failure_is_traced_to_the_leaf_with_other_seeds() {
    for seed in 1..=6 {
        assert_cascade_traced_to_the_leaf(seed).await;
    }
}

/// Both root causes diagnosed (each the top hypothesis of some diagnosis), both
/// right remedies applied, and the system healthy at the end.
async fn assert_both_faults_healed(seed: u64) {
    let r = run("two-faults", seed).await;
    let truth = r.truth();
    assert_eq!(truth.len(), 2);
    let log = r.log();
    let roots = r.roots();
    let applied = r.applied();
    for g in &truth {
        assert!(
            roots.iter().any(|(_, c)| c == &g.root_cause),
            "{} never diagnosed as a root cause:\n{log}",
            g.root_cause
        );
        assert!(
            applied.contains(&(g.remedy, g.root_cause.clone())),
            "{} {} never applied:\n{log}",
            g.remedy,
            g.root_cause
        );
    }
    let errors = r.metric("westworld_error_ratio", "frontend");
    let hit = r.metric("westworld_cache_hit_ratio", "catalog");
    assert!(
        errors < 0.02 && hit > 0.8,
        "frontend errors {errors}, catalog hit ratio {hit} at the end:\n{log}"
    );
}

// Once a known failure (auth's bad deploy joined the cache incident and was blamed
// on db, still slowed by the cache misses): a component changed just before its
// onset is no longer explained away by a dependency's timing alone, and a violation
// the open incident's diagnosed root cannot reach opens its own incident.
#[tokio::test]
async fn two_faults_are_both_diagnosed_and_remedied() {
    let s = Scenario::builtin("two-faults").expect("built-in");
    for seed in [s.seed, 1, 2, 3] {
        assert_both_faults_healed(seed).await;
    }
}

#[tokio::test]
async fn a_flapping_metric_is_not_chased() {
    let seed = Scenario::builtin("flapping-metric").expect("built-in").seed;
    let r = run("flapping-metric", seed).await;
    assert!(r.truth().is_empty(), "the scenario has no fault");
    assert!(!r.scenario.flaps.is_empty(), "the scenario flaps");
    let log = r.log();
    assert!(r.applied().is_empty(), "acted on a flap:\n{log}");
    assert!(r.main_actions().is_empty(), "planned for a flap:\n{log}");
    let (mut pending, mut firing) = (Vec::new(), Vec::new());
    for (_, e) in &r.events {
        if let Event::Violation { violation, .. } = e {
            let at = format!("{} on {}", violation.objective, violation.component);
            match violation.state {
                ViolationState::Pending => pending.push(at),
                ViolationState::Firing => firing.push(at),
                _ => {}
            }
        }
    }
    assert!(firing.is_empty(), "a flap fired: {firing:?}\n{log}");
    // The loop did see the spikes: the test is not passing because nothing happened.
    for seen in ["backend_latency_p99 on catalog", "error_ratio on auth"] {
        assert!(
            pending.iter().filter(|p| *p == seen).count() >= 10,
            "{seen} was pending fewer than 10 times: {pending:?}"
        );
    }
    let opened = r
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::IncidentOpened { .. }))
        .count();
    assert_eq!(opened, 0, "incidents for a flap:\n{log}");
}
