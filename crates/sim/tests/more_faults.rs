//! The four further faults: cache poisoning, pool exhaustion, zone outage and a noisy
//! neighbour, each with its symptoms and its right (and a wrong) remedy.

mod common;

use charter_model::{ActionKind, ChangeKind};
use charter_sim::{FaultKind, Scenario, World};
use common::{Means, action, healthy, secs, show, with_fault};

#[test]
fn cache_poisoning_pushes_load_to_db_until_flushed() {
    let s = with_fault(FaultKind::CachePoisoning, "cache", 60);
    let mut w = World::new(&s, 4);
    let before = Means::over(&mut w, 60);
    w.advance_to(secs(120));
    let sick = Means::over(&mut w, 60);
    assert!(
        sick.get("cache_hit_ratio", "catalog") < 0.15,
        "{}",
        show(&sick, "catalog")
    );
    let db_rate = sick.get("request_rate", "db") / before.get("request_rate", "db");
    assert!(db_rate > 1.4, "db load rose only {db_rate}×");
    assert!(sick.get("cpu_utilization", "db") > 0.65);
    let p99_rise =
        |svc: &str| sick.get("latency_p99_seconds", svc) / before.get("latency_p99_seconds", svc);
    assert!(
        p99_rise("catalog") > 1.6,
        "catalog p99 ×{}",
        p99_rise("catalog")
    );
    assert!(
        p99_rise("frontend") > 1.2,
        "frontend p99 ×{}",
        p99_rise("frontend")
    );

    let mut wrong = w.clone();
    wrong
        .apply("k", &action(ActionKind::Restart, "cache", &[]))
        .expect("restart");
    let now = wrong.elapsed();
    wrong.advance_to(now + secs(90));
    assert!(Means::over(&mut wrong, 30).get("cache_hit_ratio", "catalog") < 0.15);

    w.apply("k", &action(ActionKind::FlushCache, "cache", &[]))
        .expect("flush");
    let now = w.elapsed();
    w.advance_to(now + secs(30));
    let healed = Means::over(&mut w, 30);
    assert!(
        healed.get("cache_hit_ratio", "catalog") > 0.88,
        "{}",
        show(&healed, "catalog")
    );
    for svc in ["db", "catalog", "frontend"] {
        assert!(healthy(&healed, svc), "{svc}: {}", show(&healed, svc));
    }
}

#[test]
fn flushing_a_healthy_cache_dips_it_briefly() {
    let mut w = World::new(&Scenario::default_shop("flush", secs(600)), 1);
    w.advance_to(secs(60));
    w.apply("k", &action(ActionKind::FlushCache, "catalog", &[]))
        .expect("flush");
    w.step();
    assert!(
        w.metric("westworld_cache_hit_ratio", "catalog")
            .expect("known")
            < 0.1
    );
    w.advance_to(secs(95));
    assert!(
        w.metric("westworld_cache_hit_ratio", "catalog")
            .expect("known")
            > 0.85
    );
    let err = w
        .apply("k2", &action(ActionKind::FlushCache, "auth", &[]))
        .expect_err("no cache");
    assert!(err.to_string().contains("cache"), "{err}");
}

#[test]
fn pool_exhaustion_queues_requests_until_reconfigured() {
    let s = with_fault(FaultKind::PoolExhaustion, "auth", 60);
    let mut w = World::new(&s, 6);
    w.advance_to(secs(61));
    let drift = w.drain_changes();
    assert!(drift.iter().any(|c| c.kind == ChangeKind::Config
        && c.component == "auth"
        && c.description.contains("pool_size")));
    let sick = Means::over(&mut w, 60);
    assert!(
        sick.get("pool_utilization", "auth") > 1.0,
        "{}",
        show(&sick, "auth")
    );
    assert!(sick.get("saturation", "auth") > 0.1);
    assert!(sick.get("error_ratio", "auth") > 0.1);
    assert!(sick.get("latency_p99_seconds", "auth") > 1.0);
    assert!(
        sick.get("cpu_utilization", "auth") < 0.55,
        "CPU is not the bottleneck"
    );

    let mut wrong = w.clone();
    wrong
        .apply("k", &action(ActionKind::Restart, "auth", &[]))
        .expect("restart");
    let now = wrong.elapsed();
    wrong.advance_to(now + secs(90));
    assert!(Means::over(&mut wrong, 30).get("pool_utilization", "auth") > 1.0);

    let reconfigure = action(
        ActionKind::Reconfigure,
        "auth",
        &[("key", "pool_size"), ("value", "3")],
    );
    let applied = w.apply("k", &reconfigure).expect("reconfigure");
    assert_eq!(applied.prior.get("value").map(String::as_str), Some("1"));
    let inverse = reconfigure.inverse(&applied.prior).expect("reversible");
    assert_eq!(inverse.param("value"), Some("1"));
    let healed = Means::over(&mut w, 30);
    assert!(healthy(&healed, "auth"), "{}", show(&healed, "auth"));
    assert!(healed.get("pool_utilization", "auth") < 0.6);
}

#[test]
fn zone_outage_takes_every_replica_until_failover() {
    let s = with_fault(FaultKind::ZoneOutage, "orders", 60);
    let mut w = World::new(&s, 7);
    w.advance_to(secs(90));
    let sick = Means::over(&mut w, 30);
    assert_eq!(sick.get("ready_replicas", "orders"), 0.0);
    assert!(sick.get("error_ratio", "orders") > 0.95);
    assert!(
        sick.get("error_ratio", "api") > 0.4,
        "{}",
        show(&sick, "api")
    );

    let mut wrong = w.clone();
    wrong
        .apply("k", &action(ActionKind::ScaleOut, "orders", &[]))
        .expect("scale out");
    let now = wrong.elapsed();
    wrong.advance_to(now + secs(60));
    assert_eq!(
        Means::over(&mut wrong, 30).get("ready_replicas", "orders"),
        0.0
    );

    w.apply("k", &action(ActionKind::Failover, "orders", &[]))
        .expect("failover");
    let now = w.elapsed();
    w.advance_to(now + secs(30));
    let healed = Means::over(&mut w, 30);
    assert_eq!(healed.get("ready_replicas", "orders"), 3.0);
    for svc in ["orders", "api", "frontend"] {
        assert!(healthy(&healed, svc), "{svc}: {}", show(&healed, svc));
    }
}

#[test]
fn noisy_neighbour_steals_capacity_and_scale_out_compensates() {
    let s = with_fault(FaultKind::NoisyNeighbour, "api", 60);
    let mut w = World::new(&s, 8);
    w.advance_to(secs(90));
    let sick = Means::over(&mut w, 60);
    assert!(
        sick.get("cpu_utilization", "api") > 1.0,
        "{}",
        show(&sick, "api")
    );
    assert!(sick.get("error_ratio", "api") > 0.05);
    assert!(
        (sick.get("request_rate", "api") - 200.0).abs() < 15.0,
        "the load did not change"
    );

    w.apply("k", &action(ActionKind::ScaleOut, "api", &[("step", "2")]))
        .expect("scale out");
    let now = w.elapsed();
    w.advance_to(now + secs(60));
    let healed = Means::over(&mut w, 60);
    for svc in ["api", "frontend"] {
        assert!(healthy(&healed, svc), "{svc}: {}", show(&healed, svc));
    }
}

#[test]
fn an_overridden_remedy_ends_its_fault() {
    // An outage that a restart fixes, say a wedged process: the scenario says so.
    let mut s = with_fault(FaultKind::DependencyOutage, "db", 60);
    s.faults[0].remedy = ActionKind::Restart;
    assert_eq!(s.ground_truth()[0].remedy, ActionKind::Restart);
    let mut w = World::new(&s, 1);
    w.advance_to(secs(90));
    assert!(w.metric("westworld_error_ratio", "db").expect("known") > 0.9);
    w.apply("k", &action(ActionKind::Restart, "db", &[]))
        .expect("restart");
    let now = w.elapsed();
    w.advance_to(now + secs(60));
    assert!(healthy(&Means::over(&mut w, 30), "db"));
}

#[test]
fn a_remedy_applied_before_the_fault_does_not_cure_it() {
    let s = with_fault(FaultKind::MemoryLeak, "orders", 120);
    let mut w = World::new(&s, 1);
    w.advance_to(secs(30));
    w.apply("early", &action(ActionKind::Restart, "orders", &[]))
        .expect("restart");
    w.advance_to(secs(120 + 10 * 60));
    let memory = Means::over(&mut w, 30).get("memory_utilization", "orders");
    assert!(memory > 0.7, "the leak started anyway: {memory}");
}
