//! The strategies on real scenario files, one seed each.

use charter_evaluate::Strategy;
use charter_evaluate::run::{RunOptions, judge_against_none, run_one};
use charter_model::ActionKind;
use charter_sim::Scenario;
use charter_testkit::westworld;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test]
async fn oracle_beats_doing_nothing_on_a_traffic_surge() {
    let charter = westworld();
    let scenario = Scenario::load(root().join("scenarios/traffic-surge.yaml")).expect("scenario");
    let opts = RunOptions::default();
    let none = run_one(charter.clone(), &scenario, 1, Strategy::None, opts)
        .await
        .expect("none");
    let mut oracle = run_one(charter.clone(), &scenario, 1, Strategy::Oracle, opts)
        .await
        .expect("oracle");
    assert!(none.violation_seconds > 0.0, "the surge hurts on its own");
    assert!(
        oracle.violation_seconds <= none.violation_seconds,
        "oracle {} > none {}",
        oracle.violation_seconds,
        none.violation_seconds
    );
    assert!(!none.faults[0].recovery.recovered || none.faults[0].recovery.secs > 600.0);
    // One action: the right remedy on the root cause when the fault starts.
    let applied: Vec<_> = oracle.applied().collect();
    assert_eq!(applied.len(), 1, "{:?}", oracle.actions);
    assert_eq!(applied[0].kind, ActionKind::ScaleOut);
    assert_eq!(applied[0].component, "catalog");
    assert_eq!(applied[0].at_secs, scenario.faults[0].at.as_secs_f64());
    // More replicas cost more.
    assert!(oracle.replica_hours > none.replica_hours);
    judge_against_none(&mut oracle, &none);
    assert!(oracle.actions.iter().all(|a| !a.harmful));
}

#[tokio::test]
async fn nobody_acts_without_a_fault() {
    let charter = westworld();
    let mut scenario = Scenario::load(root().join("scenarios/no-fault.yaml")).expect("scenario");
    scenario.duration = std::time::Duration::from_secs(900);
    for st in Strategy::ALL {
        let run = run_one(charter.clone(), &scenario, 1, st, RunOptions::default())
            .await
            .expect("run");
        assert_eq!(run.applied().count(), 0, "{st}: {:?}", run.actions);
        assert_eq!(run.violation_seconds, 0.0, "{st}");
    }
}
