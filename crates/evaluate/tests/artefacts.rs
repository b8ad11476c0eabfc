//! Benchmark artefacts that must not flatter or punish a strategy: faults that start
//! together, an oracle's declared remedy, an oracle's scale-in, group remedies.

use charter_evaluate::Strategy;
use charter_evaluate::run::{RunOptions, run_one};
use charter_model::ActionKind;
use charter_sim::Scenario;
use charter_testkit::westworld;

fn scenario(body: &str) -> Scenario {
    let text = format!("name: artefact\nduration: 15m\nservices: default\n{body}");
    Scenario::from_yaml(&text, "artefact.yaml").unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn faults_that_start_together_each_get_the_window_they_share() {
    // Two unrelated faults at the same second: neither window may be empty.
    let s = scenario(
        "faults:\n  - { kind: bad_deploy, target: auth, at: 2m }\n  - { kind: traffic_surge, target: catalog, at: 2m, duration: 10m }\n",
    );
    let run = run_one(westworld(), &s, 1, Strategy::None, RunOptions::default())
        .await
        .expect("run");
    assert!(run.violation_seconds > 0.0);
    let [a, b] = &run.faults[..] else {
        panic!("{:?}", run.faults)
    };
    for f in [a, b] {
        // Left alone, the bad deploy never recovers: the shared window ends violated.
        assert!(
            !f.recovery.recovered && f.recovery.secs >= 600.0,
            "{} at {}: {:?}",
            f.kind,
            f.root_cause,
            f.recovery
        );
    }
    assert_eq!(a.recovery, b.recovery);
}

#[tokio::test]
async fn an_oracles_declared_remedy_acts_through_the_model_not_at_once() {
    // The scenario declares that a restart fixes auth's outage. A rolling restart of
    // 3 replicas, one at a time (the charter's max_restart_share 0.5), takes 3 × 20 s:
    // the outage lasts until it is done, for the oracle as for any controller.
    let s = scenario(
        "faults:\n  - { kind: dependency_outage, target: auth, at: 2m, remedy: restart }\n",
    );
    let run = run_one(westworld(), &s, 1, Strategy::Oracle, RunOptions::default())
        .await
        .expect("run");
    let applied: Vec<_> = run.applied().collect();
    assert_eq!(applied.len(), 1, "{:?}", run.actions);
    assert_eq!(applied[0].kind, ActionKind::Restart);
    assert_eq!(applied[0].at_secs, 120.0);
    assert!(
        run.violation_seconds > 0.0,
        "the outage was cured the moment the restart began"
    );
    let f = &run.faults[0];
    assert!(f.recovery.recovered, "{:?}", f.recovery);
    assert!(
        f.recovery.secs >= 60.0,
        "recovered {} s after the start, before the 60 s restart rolled through",
        f.recovery.secs
    );
}

#[tokio::test]
async fn an_oracles_scale_in_steps_like_a_controller() {
    // An autoscaler left catalog at 3 × its 3 replicas; the right remedy is scale_in.
    let s = scenario("faults:\n  - { kind: cost_overrun, target: catalog, at: 1m, factor: 3 }\n");
    let charter = westworld();
    let none = run_one(
        charter.clone(),
        &s,
        1,
        Strategy::None,
        RunOptions::default(),
    )
    .await
    .expect("none");
    let run = run_one(
        charter.clone(),
        &s,
        1,
        Strategy::Oracle,
        RunOptions::default(),
    )
    .await
    .expect("oracle");
    let spec = charter.action(ActionKind::ScaleIn);
    let step = spec.step.min(charter.guardrails.max_scale_step);
    let steps: Vec<_> = run.applied().collect();
    assert!(
        steps
            .iter()
            .all(|a| a.kind == ActionKind::ScaleIn && a.component == "catalog"),
        "{:?}",
        run.actions
    );
    // 9 → 3 replicas, `step` at a time.
    assert_eq!(
        steps.len() as u32,
        6_u32.div_ceil(step),
        "{:?}",
        run.actions
    );
    for a in &steps {
        assert!(
            a.action.contains(&format!("step={step}")),
            "{} is not one controller step",
            a.action
        );
    }
    // Each step waits for the previous one to take effect.
    for pair in steps.windows(2) {
        assert!(
            pair[1].at_secs - pair[0].at_secs >= spec.time_to_effect.as_secs_f64(),
            "{} then {}",
            pair[0].at_secs,
            pair[1].at_secs
        );
    }
    // And it stops at the replicas the scenario declared.
    let last = |r: &charter_evaluate::Run| r.ticks.last().expect("ticks").replicas;
    assert_eq!(last(&none) - last(&run), 6);
}

#[tokio::test]
async fn the_oracle_fails_over_every_service_of_a_degraded_zone() {
    let s = scenario("faults:\n  - { kind: zone_degraded, target: a, at: 2m, loss: 0.6 }\n");
    let none = run_one(westworld(), &s, 1, Strategy::None, RunOptions::default())
        .await
        .expect("none");
    let run = run_one(westworld(), &s, 1, Strategy::Oracle, RunOptions::default())
        .await
        .expect("oracle");
    let mut failed_over: Vec<_> = run
        .applied()
        .inspect(|a| assert_eq!(a.kind, ActionKind::Failover))
        .map(|a| a.component.clone())
        .collect();
    failed_over.sort();
    let mut zone: Vec<_> = s.services.iter().map(|x| x.name.clone()).collect();
    zone.sort();
    assert_eq!(failed_over, zone);
    assert_eq!(run.faults[0].root_cause, "a");
    assert!(
        run.violation_seconds < none.violation_seconds,
        "oracle {} vs none {}",
        run.violation_seconds,
        none.violation_seconds
    );
}
