//! Deploys that are not faults, and the one-way schema migration that makes rolling
//! back to the previous version stall.

mod common;

use charter_model::{ActionKind, ChangeKind};
use charter_sim::scenario::Deploy;
use charter_sim::{Fault, FaultEffect, FaultKind, Scenario, World};
use common::{Means, action, healthy, secs, show};

fn deploy(target: &str, at: u64, one_way_migration: bool) -> Deploy {
    Deploy {
        target: target.into(),
        at: secs(at),
        one_way_migration,
    }
}

fn ready(w: &World, service: &str) -> f64 {
    w.metric("westworld_ready_replicas", service)
        .expect("known")
}

#[test]
fn a_deploy_changes_the_version_and_nothing_else() {
    let s = Scenario::default_shop("t", secs(600)).with_deploy(deploy("orders", 60, true));
    let mut w = World::new(&s, 1);
    w.advance_to(secs(59));
    assert!(w.drain_changes().is_empty());
    let revision = |w: &World| w.metric("westworld_deploy_revision", "orders");
    assert_eq!(revision(&w), Some(1.0));
    w.step();
    let changes = w.drain_changes();
    assert_eq!(changes.len(), 1, "{changes:?}");
    let c = &changes[0];
    assert_eq!(
        (c.component.as_str(), c.kind, c.by.as_str()),
        ("orders", ChangeKind::Deploy, "ci")
    );
    assert!(c.description.contains("deployed v2 (was v1)"), "{c:?}");
    assert!(c.description.contains("one-way schema migration"), "{c:?}");
    let state = w.describe("orders").expect("known");
    assert_eq!(state.version.as_deref(), Some("v2"));
    assert_eq!(state.previous_version.as_deref(), Some("v1"));
    let after = Means::over(&mut w, 120);
    assert!(healthy(&after, "orders"), "{}", show(&after, "orders"));
    assert_eq!(revision(&w), Some(2.0));
    assert!(w.fault_reports().is_empty(), "a deploy is not a fault");
}

#[test]
fn rolling_back_across_a_one_way_migration_stalls_a_replica_short_until_rolled_forward() {
    let s = Scenario::default_shop("t", secs(1800)).with_deploy(deploy("orders", 60, true));
    let mut w = World::new(&s, 1);
    w.advance_to(secs(120));
    w.drain_changes();
    let rollback = action(ActionKind::Rollback, "orders", &[]);
    let applied = w.apply("rb", &rollback).expect("a rollback is accepted");
    assert_eq!(applied.prior.get("version").map(String::as_str), Some("v2"));
    // The rollout lands after the start-up delay, and its first replica never starts.
    w.advance_to(secs(139));
    assert_eq!(ready(&w, "orders"), 3.0);
    w.advance_to(secs(140));
    assert_eq!(ready(&w, "orders"), 2.0);
    let changes = w.drain_changes();
    assert!(
        changes
            .iter()
            .any(|c| c.by == "kubelet" && c.description.contains("crash-looping")),
        "{changes:?}"
    );
    assert_eq!(
        w.describe("orders").expect("known").version.as_deref(),
        Some("v1")
    );
    // Replicas started from the stalled version's template crash too.
    let more = action(ActionKind::ScaleOut, "orders", &[("step", "2")]);
    w.apply("more", &more).expect("scaled");
    w.advance_to(secs(240));
    assert_eq!(ready(&w, "orders"), 2.0);

    // Rolling forward (the rollback's inverse) ends the stall.
    let forward = action(ActionKind::Rollback, "orders", &[("to_version", "v2")]);
    w.apply("fwd", &forward).expect("rolled forward");
    w.advance_to(secs(265));
    assert_eq!(ready(&w, "orders"), 5.0);
    let m = Means::over(&mut w, 60);
    assert!(healthy(&m, "orders"), "{}", show(&m, "orders"));
}

#[test]
fn without_a_one_way_migration_a_rollback_just_changes_the_version() {
    let s = Scenario::default_shop("t", secs(600)).with_deploy(deploy("orders", 60, false));
    let mut w = World::new(&s, 1);
    w.advance_to(secs(120));
    w.apply("rb", &action(ActionKind::Rollback, "orders", &[]))
        .expect("rolled back");
    w.advance_to(secs(150));
    assert_eq!(ready(&w, "orders"), 3.0);
    assert_eq!(
        w.describe("orders").expect("known").version.as_deref(),
        Some("v1")
    );
}

/// The demo's last story: a noisy neighbour takes CPU from orders a minute after an
/// innocent deploy with a one-way migration. Rolling that deploy back leaves orders a
/// replica short and worse off; scaling out is what heals it.
#[test]
fn with_a_noisy_neighbour_the_stalled_rollback_is_worse_and_scaling_out_heals() {
    let neighbour = Fault::new(FaultKind::NoisyNeighbour, "orders", secs(120))
        .with_effect(FaultEffect::NoisyNeighbour { loss: 0.45 });
    let s = Scenario::default_shop("t", secs(1800))
        .with_deploy(deploy("orders", 60, true))
        .with_fault(neighbour);
    let mut w = World::new(&s, 3);
    w.advance_to(secs(180));
    let mut rolled_back = w.clone();
    let mut scaled = w.clone();

    let sick = Means::over(&mut w, 60);
    let cpu = sick.get("cpu_utilization", "orders");
    assert!((0.8..1.0).contains(&cpu), "{}", show(&sick, "orders"));
    assert!(sick.get("error_ratio", "orders") < 0.01);

    rolled_back
        .apply("rb", &action(ActionKind::Rollback, "orders", &[]))
        .expect("rolled back");
    rolled_back.advance_to(secs(210));
    let worse = Means::over(&mut rolled_back, 60);
    assert!(
        worse.get("cpu_utilization", "orders") > 1.2,
        "{}",
        show(&worse, "orders")
    );
    assert!(
        worse.get("latency_p99_seconds", "orders")
            > 3.0 * sick.get("latency_p99_seconds", "orders"),
        "{} vs {}",
        show(&worse, "orders"),
        show(&sick, "orders")
    );
    assert!(worse.get("error_ratio", "orders") > 0.1);

    scaled
        .apply(
            "out",
            &action(ActionKind::ScaleOut, "orders", &[("step", "2")]),
        )
        .expect("scaled out");
    scaled.advance_to(secs(240));
    let healed = Means::over(&mut scaled, 60);
    assert!(healthy(&healed, "orders"), "{}", show(&healed, "orders"));
}

#[test]
fn deploys_parse_from_a_scenario_file() {
    let text = "\
name: d
duration: 10m
deploys:
  - { target: orders, at: 2m, one_way_migration: true }
  - { target: auth, at: 1m }
";
    let s = Scenario::from_yaml(text, "d.yaml").expect("valid");
    assert_eq!(
        s.deploys,
        [deploy("orders", 120, true), deploy("auth", 60, false)]
    );
    assert!(s.ground_truth().is_empty());

    let bad = "\
name: d
duration: 10m
deploys:
  - { target: nowhere, at: 2m }
  - { target: auth, at: 20m }
";
    let err = Scenario::from_yaml(bad, "d.yaml").expect_err("invalid");
    let paths: Vec<&str> = err.issues().iter().map(|i| i.path.as_str()).collect();
    assert_eq!(paths, ["deploys[0].target", "deploys[1].at"], "{err}");
    let unknown = "name: d\ndeploys:\n  - { target: auth, at: 1m, migration: yes }\n";
    assert!(Scenario::from_yaml(unknown, "d.yaml").is_err());
}
