//! What the generated benchmark needs from the world: nodes, zone- and node-wide
//! faults, metric gaps, cost overruns, and declared remedies that act through the
//! model rather than at once.

mod common;

use charter_model::{ActionKind, ChangeKind, Timestamp};
use charter_monitor::MetricSource;
use charter_sim::{
    FaultKind, METRICS, Scenario, Simulator, TargetScope, World, exposition, query::Selector,
};
use common::{Means, action, secs, show};

/// web → api → store, web and api in zone a (api on its own node), store in zone b.
const TOPOLOGY: &str = "\
services:
  - { name: web, depends_on: [api], capacity: 150, zone: a, standby_zone: b }
  - { name: api, depends_on: [store], capacity: 150, zone: a, standby_zone: b, node: a-2 }
  - { name: store, capacity: 150, zone: b, standby_zone: a }
";

fn scenario(extra: &str) -> Scenario {
    let text = format!(
        "name: infra\nduration: 1h\ntraffic: {{ rps: 200, noise: 0.01 }}\n{TOPOLOGY}{extra}"
    );
    Scenario::from_yaml(&text, "infra.yaml").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn nodes_default_to_the_zone_and_show_next_to_it() {
    let s = scenario("");
    let node = |n: &str| {
        s.services
            .iter()
            .find(|x| x.name == n)
            .map(|x| x.node.clone())
    };
    assert_eq!(node("web").as_deref(), Some("node-a"));
    assert_eq!(node("api").as_deref(), Some("a-2"));
    assert_eq!(node("store").as_deref(), Some("node-b"));
    // The default shop runs every service on zone a's default node.
    let shop = Scenario::builtin("no-fault").expect("built in");
    assert!(shop.services.iter().all(|x| x.node == "node-a"));

    let mut w = World::new(&s, 1);
    let text = exposition::render(&w);
    assert!(
        text.contains("westworld_info{service=\"api\",version=\"v1\",zone=\"a\",node=\"a-2\"} 1"),
        "{text}"
    );
    let info = Selector::parse(r#"westworld_info{node="node-b"}"#).expect("valid");
    let found = info.evaluate(&w);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0["service"], "store");
    // A failover moves a service to the standby zone's default node.
    w.apply("f", &action(ActionKind::Failover, "api", &[]))
        .expect("failover");
    w.advance_to(secs(30));
    assert_eq!(w.node("api").as_deref(), Some("node-b"));
    assert!(
        exposition::render(&w)
            .contains("service=\"api\",version=\"v1\",zone=\"b\",node=\"node-b\"")
    );
}

#[test]
fn a_degraded_zone_takes_capacity_from_every_service_in_it_until_they_fail_over() {
    let s = scenario("faults:\n  - { kind: zone_degraded, target: a, at: 60s, loss: 0.6 }\n");
    let truth = &s.ground_truth()[0];
    assert_eq!(truth.kind, FaultKind::ZoneDegraded);
    assert_eq!(truth.scope, TargetScope::Zone);
    assert_eq!(truth.root_cause, "a");
    assert_eq!(truth.affected, ["web", "api"]);
    assert_eq!(truth.remedy, ActionKind::Failover);

    let mut w = World::new(&s, 2);
    let before = Means::over(&mut w, 55);
    w.advance_to(secs(70));
    let sick = Means::over(&mut w, 60);
    // 200 rps on 3 × 150 × 0.4 = 180 rps of capacity: web overloads, and api gets
    // what web serves on the same reduced capacity.
    assert!(
        sick.get("cpu_utilization", "web") > 1.0,
        "{}",
        show(&sick, "web")
    );
    assert!(
        sick.get("error_ratio", "web") > 0.05,
        "{}",
        show(&sick, "web")
    );
    let api = sick.get("cpu_utilization", "api") / before.get("cpu_utilization", "api");
    assert!(
        api > 2.0,
        "api cpu rose only ×{api}: {}",
        show(&sick, "api")
    );
    let store = sick.get("cpu_utilization", "store") / before.get("cpu_utilization", "store");
    assert!(store < 1.1, "store is in zone b, yet its cpu rose ×{store}");
    let report = &w.fault_reports()[0];
    assert!(report.acting);
    assert_eq!(report.truth.affected, ["web", "api"]);

    // The group remedy: fail over every service of the zone.
    for svc in ["web", "api"] {
        w.apply(svc, &action(ActionKind::Failover, svc, &[]))
            .expect("failover");
    }
    // Traffic moves after the start-up delay and the drain: still degraded before.
    let moving = Means::over(&mut w, 20);
    assert!(
        moving.get("cpu_utilization", "web") > 1.0,
        "{}",
        show(&moving, "web")
    );
    assert!(
        moving.get("cpu_utilization", "api") > 0.9,
        "{}",
        show(&moving, "api")
    );
    w.advance_to(w.elapsed() + secs(30));
    let healed = Means::over(&mut w, 60);
    for svc in ["web", "api"] {
        assert!(
            healed.get("cpu_utilization", svc) < 0.6,
            "{}",
            show(&healed, svc)
        );
        assert!(
            healed.get("error_ratio", svc) < 0.01,
            "{}",
            show(&healed, svc)
        );
    }
    assert!(
        !w.fault_reports()[0].acting,
        "nothing runs in zone a any more"
    );
}

#[test]
fn a_stressed_node_slows_every_service_on_it_and_only_those() {
    let s = scenario("faults:\n  - { kind: node_stress, target: node-a, at: 60s }\n");
    let truth = &s.ground_truth()[0];
    assert_eq!(truth.scope, TargetScope::Node);
    assert_eq!(truth.affected, ["web"]);
    assert_eq!(truth.remedy, ActionKind::Failover);
    let mut w = World::new(&s, 3);
    w.advance_to(secs(70));
    let sick = Means::over(&mut w, 60);
    assert!(
        sick.get("cpu_utilization", "web") > 1.0,
        "{}",
        show(&sick, "web")
    );
    // api runs in the same zone but on another node.
    assert!(
        sick.get("cpu_utilization", "api") < 0.6,
        "{}",
        show(&sick, "api")
    );
    w.apply("f", &action(ActionKind::Failover, "web", &[]))
        .expect("failover");
    w.advance_to(w.elapsed() + secs(30));
    let moved = Means::over(&mut w, 60);
    assert!(
        moved.get("cpu_utilization", "web") < 0.6,
        "{}",
        show(&moved, "web")
    );
}

#[test]
fn infrastructure_targets_are_checked_against_the_topology() {
    let text = format!(
        "name: x\nduration: 1h\n{TOPOLOGY}faults:\n  - {{ kind: zone_degraded, target: c, at: 1m }}\n  - {{ kind: node_stress, target: web, at: 1m, loss: 1.5 }}\n  - {{ kind: cost_overrun, target: web, at: 1m, factor: 0.5 }}\nmetric_gaps:\n  - {{ target: nope, at: 1m, duration: 0s }}\n"
    );
    let e = Scenario::from_yaml(&text, "x.yaml").expect_err("invalid");
    let shown = e.to_string();
    for expected in [
        "x.yaml:8:36:",
        "faults[0].target: unknown zone `c` (zones: a, b)",
        "faults[1].target: unknown node `web` (nodes: a-2, node-a, node-b)",
        "faults[1].loss: must be in [0, 1)",
        "faults[2].factor: must be above 1",
        "metric_gaps[0].target: unknown service `nope`",
        "metric_gaps[0].duration: must be positive",
    ] {
        assert!(shown.contains(expected), "missing {expected:?} in\n{shown}");
    }
}

#[tokio::test]
async fn a_metric_gap_hides_a_service_from_every_read_while_the_world_runs() {
    let gap = "metric_gaps:\n  - { target: api, at: 2m, duration: 1m }\n";
    let faults = "faults:\n  - { kind: noisy_neighbour, target: store, at: 60s }\n";
    let plain = scenario(faults);
    let gapped = scenario(&format!("{faults}{gap}"));
    let mut a = World::new(&plain, 5);
    let mut b = World::new(&gapped, 5);
    b.advance_to(secs(150));
    a.advance_to(secs(150));
    assert!(b.unobserved("api") && !b.unobserved("web"));
    for m in METRICS {
        assert_eq!(b.metric(m, "api"), None, "{m}");
        // Underneath, the world is the same as without the gap.
        assert_eq!(b.actual_metric(m, "api"), a.metric(m, "api"), "{m}");
        assert_eq!(b.metric(m, "web"), a.metric(m, "web"), "{m}");
    }
    assert_eq!(b.metrics("api"), None);
    let text = exposition::render(&b);
    assert!(
        !text.contains("westworld_error_ratio{service=\"api\"}"),
        "{text}"
    );
    assert!(text.contains("westworld_error_ratio{service=\"web\"}"));
    let sel = Selector::parse(r#"westworld_error_ratio{service="api"}"#).expect("valid");
    assert!(sel.evaluate(&b).is_empty());

    // The in-process source (the default shop, the example charter): an unknown
    // value and a problem that says why.
    let shop = Scenario::builtin("no-fault")
        .expect("built in")
        .with_metric_gap(charter_sim::MetricGap {
            target: "api".into(),
            at: secs(120),
            duration: secs(60),
        });
    let epoch = Timestamp(1_000_000);
    let sim = Simulator::new(World::new(&shop, 5), epoch);
    let charter = charter_testkit::westworld();
    let obs = sim
        .observe(&charter, epoch.plus(secs(150)))
        .await
        .expect("observed");
    let values = |c: &str| -> Vec<Option<f64>> {
        obs.samples
            .iter()
            .filter(|x| x.component == c)
            .map(|x| x.value)
            .collect()
    };
    assert!(!values("api").is_empty());
    assert!(values("api").iter().all(Option::is_none));
    assert!(values("frontend").iter().all(Option::is_some));
    assert!(
        obs.problems
            .iter()
            .any(|p| p.contains("`api`") && p.contains("metric gap")),
        "{:?}",
        obs.problems
    );
    // After the gap, the service reads again.
    let obs = sim
        .observe(&charter, epoch.plus(secs(181)))
        .await
        .expect("observed");
    assert!(
        obs.samples
            .iter()
            .any(|x| x.component == "api" && x.value.is_some())
    );
    assert!(
        !obs.problems.iter().any(|p| p.contains("metric gap")),
        "{:?}",
        obs.problems
    );
}

#[test]
fn a_cost_overrun_leaves_extra_replicas_until_scaled_in() {
    let s = scenario("faults:\n  - { kind: cost_overrun, target: api, at: 60s, factor: 2 }\n");
    let truth = &s.ground_truth()[0];
    assert_eq!(truth.remedy, ActionKind::ScaleIn);
    assert_eq!(truth.until, None, "persistent until scaled in");
    let mut w = World::new(&s, 6);
    w.advance_to(secs(59));
    let cost = w.metric("westworld_cost_per_hour", "api").expect("cost");
    w.advance_to(secs(61));
    assert_eq!(w.metric("westworld_ready_replicas", "api"), Some(6.0));
    let doubled = w.metric("westworld_cost_per_hour", "api").expect("cost");
    assert!((doubled - 2.0 * cost).abs() < 1e-9, "{cost} → {doubled}");
    let changes = w.drain_changes();
    assert!(
        changes
            .iter()
            .any(|c| c.kind == ChangeKind::Scale && c.by == "autoscaler" && c.component == "api"),
        "{changes:?}"
    );
    assert!(w.fault_reports()[0].acting);
    w.apply("in", &action(ActionKind::ScaleIn, "api", &[("step", "2")]))
        .expect("scaled in");
    w.step();
    assert!(
        w.fault_reports()[0].acting,
        "5 replicas are still one too many"
    );
    w.apply("in2", &action(ActionKind::ScaleIn, "api", &[("step", "1")]))
        .expect("scaled in");
    w.step();
    assert!(!w.fault_reports()[0].acting);
}

#[test]
fn a_declared_remedy_ends_its_fault_only_once_the_action_has_taken_effect() {
    // An outage the scenario says a restart fixes: the rolling restart takes one
    // start-up delay (20 s) per replica, and the fault lasts until it is done.
    let s = scenario(
        "faults:\n  - { kind: dependency_outage, target: store, at: 60s, remedy: restart }\n",
    );
    let mut w = World::new(&s, 7);
    w.advance_to(secs(90));
    w.apply(
        "r",
        &action(ActionKind::Restart, "store", &[("max_unavailable", "1")]),
    )
    .expect("restarted");
    let during = Means::over(&mut w, 30);
    assert!(
        during.get("error_ratio", "store") > 0.9,
        "cured before the restart rolled through: {}",
        show(&during, "store")
    );
    assert!(!w.fault_reports()[0].cured);
    w.advance_to(secs(90 + 61));
    assert!(w.fault_reports()[0].cured);
    let after = Means::over(&mut w, 30);
    assert!(
        after.get("error_ratio", "store") < 0.01,
        "{}",
        show(&after, "store")
    );
}

#[tokio::test]
async fn a_charter_bounds_replica_cost_through_the_in_process_source() {
    let s = Scenario::builtin("no-fault")
        .expect("built in")
        .with_fault(charter_sim::Fault::new(
            FaultKind::CostOverrun,
            "catalog",
            secs(60),
        ));
    let epoch = Timestamp(1_000_000);
    let sim = Simulator::new(World::new(&s, 8), epoch);
    let charter = charter_testkit::charter_from(
        "name: cost\ninterval: 15s\nsource:\n  simulator: {}\nactuators:\n  sim: { simulator: {} }\ncomponents:\n  - { name: catalog, actuator: sim, replicas: { min: 2, max: 10 } }\nobjectives:\n  - name: catalog_cost\n    metric: westworld_cost_per_hour\n    components: [catalog]\n    signal: cost\n    above: { warning: 0.45, critical: 0.9, clear: 0.35 }\n    for: 1m\n    remedies: [scale_in]\n",
    );
    let cost_at = |secs_from_start: u64| {
        let sim = sim.clone();
        let charter = charter.clone();
        async move {
            let obs = sim
                .observe(&charter, epoch.plus(secs(secs_from_start)))
                .await
                .expect("observed");
            assert!(obs.problems.is_empty(), "{:?}", obs.problems);
            obs.samples[0].value.expect("a cost")
        }
    };
    let before = cost_at(30).await;
    let after = cost_at(90).await;
    // 3 replicas at $0.10/h, then the autoscaler's 6: over the warning bound.
    assert!((before - 0.30).abs() < 1e-9, "{before}");
    assert!((after - 0.60).abs() < 1e-9, "{after}");
    assert!(after > 0.45);
}

#[test]
fn zone_and_node_faults_can_be_injected_while_the_world_runs() {
    let mut w = World::new(&scenario(""), 9);
    w.advance_to(secs(30));
    let bad = charter_sim::Fault::new(FaultKind::ZoneDegraded, "z", secs(0));
    let e = w.inject(bad).expect_err("no service runs in zone z");
    assert!(e.to_string().contains("no service runs in zone `z`"), "{e}");
    let id = w
        .inject(charter_sim::Fault::new(
            FaultKind::NodeStress,
            "a-2",
            secs(0),
        ))
        .expect("api runs on a-2");
    let report = &w.fault_reports()[id];
    assert_eq!(report.truth.root_cause, "a-2");
    assert_eq!(report.truth.affected, ["api"]);
    assert_eq!(report.truth.at, secs(30));
    assert!(report.acting);
    w.advance_to(secs(90));
    assert!(w.metric("westworld_cpu_utilization", "api").expect("cpu") > 0.9);
}
