//! The four required faults: each produces its symptoms on its target, the right
//! remedy applied through `World::apply` heals it, and a wrong one does not.
//!
//! Every comparison starts both remedies from the same cloned world, so the only
//! difference between the two futures is the action taken.

mod common;

use charter_model::{ActionKind, ChangeKind};
use charter_sim::{FaultKind, World};
use common::{Means, action, healthy, secs, show, with_fault};

#[test]
fn traffic_surge_saturates_catalog_and_scale_out_heals_it() {
    let s = with_fault(FaultKind::TrafficSurge, "catalog", 120);
    let mut w = World::new(&s, 5);
    let before = Means::over(&mut w, 60);
    w.advance_to(secs(180));
    let sick = Means::over(&mut w, 60);
    assert!(
        sick.get("cpu_utilization", "catalog") > 1.0,
        "{}",
        show(&sick, "catalog")
    );
    assert!(
        sick.get("latency_p99_seconds", "catalog") > 1.0,
        "{}",
        show(&sick, "catalog")
    );
    assert!(
        sick.get("error_ratio", "catalog") > 0.05,
        "{}",
        show(&sick, "catalog")
    );
    assert!(sick.get("saturation", "catalog") > 0.05);
    assert!(sick.get("request_rate", "catalog") > 2.3 * before.get("request_rate", "catalog"));
    for caller in ["api", "frontend"] {
        let p99 = sick.get("latency_p99_seconds", caller);
        assert!(
            p99 > 3.0 * before.get("latency_p99_seconds", caller),
            "{caller}: {}",
            show(&sick, caller)
        );
        assert!(
            sick.get("cpu_utilization", caller) < 0.55,
            "{caller} own utilization stays normal"
        );
        assert!(sick.get("dependency_error_ratio", caller) > 0.05);
    }
    for other in ["orders", "auth", "db", "cache", "queue"] {
        assert!(
            sick.get("cpu_utilization", other) < 0.8,
            "{other}: {}",
            show(&sick, other)
        );
        assert!(
            sick.get("error_ratio", other) < 0.01,
            "{other}: {}",
            show(&sick, other)
        );
    }

    let mut wrong = w.clone();
    let applied = w
        .apply(
            "k1",
            &action(ActionKind::ScaleOut, "catalog", &[("step", "2")]),
        )
        .expect("scale out");
    assert_eq!(applied.prior.get("replicas").map(String::as_str), Some("3"));
    assert_eq!(w.describe("catalog").expect("known").replicas, Some(5));
    // New replicas are not ready before the start-up delay.
    w.step();
    assert_eq!(w.metric("westworld_ready_replicas", "catalog"), Some(3.0));
    let now = w.elapsed();
    w.advance_to(now + secs(59));
    let healed = Means::over(&mut w, 60);
    assert_eq!(healed.get("ready_replicas", "catalog"), 5.0);
    for svc in ["catalog", "api", "frontend"] {
        assert!(
            healthy(&healed, svc),
            "{svc} after scale_out: {}",
            show(&healed, svc)
        );
    }
    assert!(healed.get("cost_per_hour", "catalog") > sick.get("cost_per_hour", "catalog"));

    wrong
        .apply("k1", &action(ActionKind::Restart, "catalog", &[]))
        .expect("restart");
    let now = wrong.elapsed();
    wrong.advance_to(now + secs(60));
    let still = Means::over(&mut wrong, 60);
    assert!(
        still.get("error_ratio", "catalog") > 0.05,
        "{}",
        show(&still, "catalog")
    );
    assert!(still.get("latency_p99_seconds", "catalog") > 1.0);
}

#[test]
fn memory_leak_grows_until_oom_and_a_rolling_restart_resets_it() {
    let s = with_fault(FaultKind::MemoryLeak, "orders", 60);
    let mut w = World::new(&s, 3);
    w.advance_to(secs(60 + 8 * 60));
    let sick = Means::over(&mut w, 30);
    assert!(
        sick.get("memory_utilization", "orders") > 0.7,
        "{}",
        show(&sick, "orders")
    );
    for other in ["api", "catalog", "auth", "db"] {
        assert!(sick.get("memory_utilization", other) < 0.5);
    }
    assert_eq!(sick.get("restarts_total", "orders"), 0.0);
    w.drain_changes();

    // Left alone (or "fixed" by scaling out) the replicas are OOM-killed one by one.
    let mut wrong = w.clone();
    wrong
        .apply("k", &action(ActionKind::ScaleOut, "orders", &[]))
        .expect("scale out");
    wrong.drain_changes();
    let mut peak_error: f64 = 0.0;
    let end = wrong.elapsed() + secs(15 * 60);
    while wrong.elapsed() < end {
        wrong.step();
        peak_error = peak_error.max(
            wrong
                .metric("westworld_error_ratio", "orders")
                .expect("known"),
        );
    }
    let restarts = wrong
        .metric("westworld_restarts_total", "orders")
        .expect("known");
    assert!(restarts >= 1.0, "no OOM kill");
    let kills: Vec<_> = wrong
        .drain_changes()
        .into_iter()
        .filter(|c| c.by == "kubelet")
        .collect();
    assert_eq!(kills.len() as f64, restarts);
    assert!(
        kills
            .iter()
            .all(|c| c.kind == ChangeKind::Restart && c.component == "orders")
    );
    assert!(
        peak_error > 0.05,
        "an OOM kill fails in-flight requests (peak {peak_error})"
    );

    let applied = w
        .apply(
            "k",
            &action(ActionKind::Restart, "orders", &[("max_unavailable", "1")]),
        )
        .expect("restart");
    assert!(applied.prior.is_empty(), "a restart cannot be undone");
    // Rolling: never more than one replica down at once, done within 3 × 20 s.
    let mut min_ready = f64::MAX;
    for _ in 0..62 {
        w.step();
        min_ready = min_ready.min(
            w.metric("westworld_ready_replicas", "orders")
                .expect("known"),
        );
    }
    assert_eq!(min_ready, 2.0);
    let healed = Means::over(&mut w, 30);
    assert!(
        healed.get("memory_utilization", "orders") < 0.5,
        "{}",
        show(&healed, "orders")
    );
    assert_eq!(healed.get("ready_replicas", "orders"), 3.0);
    // The restart ended the leak: 15 more minutes without growth or OOM.
    let later = {
        let now = w.elapsed();
        w.advance_to(now + secs(15 * 60));
        Means::over(&mut w, 30)
    };
    assert!(healthy(&later, "orders"), "{}", show(&later, "orders"));
    assert_eq!(later.get("restarts_total", "orders"), 0.0);
    let changes = w.drain_changes();
    assert!(
        changes
            .iter()
            .any(|c| c.by == "charter" && c.kind == ChangeKind::Restart)
    );
}

#[test]
fn bad_deploy_fails_requests_until_rolled_back() {
    let s = with_fault(FaultKind::BadDeploy, "auth", 60);
    let mut w = World::new(&s, 8);
    w.advance_to(secs(61));
    let deploys = w.drain_changes();
    assert_eq!(deploys.len(), 1, "{deploys:?}");
    assert_eq!(deploys[0].kind, ChangeKind::Deploy);
    assert_eq!(deploys[0].by, "ci");
    assert_eq!(deploys[0].component, "auth");
    assert!(deploys[0].description.contains("v2"));
    let state = w.describe("auth").expect("known");
    assert_eq!(state.version.as_deref(), Some("v2"));
    assert_eq!(state.previous_version.as_deref(), Some("v1"));

    let sick = Means::over(&mut w, 60);
    assert!(
        (sick.get("error_ratio", "auth") - 0.3).abs() < 0.03,
        "{}",
        show(&sick, "auth")
    );
    for caller in ["api", "frontend"] {
        assert!(
            sick.get("error_ratio", caller) > 0.25,
            "{caller}: {}",
            show(&sick, caller)
        );
        assert!(sick.get("dependency_error_ratio", caller) > 0.25);
    }
    assert!(
        sick.get("dependency_error_ratio", "auth") < 0.01,
        "auth's errors are its own"
    );
    assert!(sick.get("error_ratio", "catalog") < 0.01);
    assert_eq!(sick.get("deploy_revision", "auth"), 2.0);
    assert_eq!(sick.get("deploy_revision", "api"), 1.0);

    let mut wrong = w.clone();
    wrong
        .apply("k", &action(ActionKind::ScaleOut, "auth", &[]))
        .expect("scale out");
    let now = wrong.elapsed();
    wrong.advance_to(now + secs(60));
    let still = Means::over(&mut wrong, 60);
    assert!(
        still.get("error_ratio", "auth") > 0.25,
        "{}",
        show(&still, "auth")
    );

    let rollback = action(ActionKind::Rollback, "auth", &[]);
    let applied = w.apply("k", &rollback).expect("rollback");
    assert_eq!(applied.prior.get("version").map(String::as_str), Some("v2"));
    let now = w.elapsed();
    w.advance_to(now + secs(21));
    let healed = Means::over(&mut w, 30);
    for svc in ["auth", "api", "frontend"] {
        assert!(
            healthy(&healed, svc),
            "{svc} after rollback: {}",
            show(&healed, svc)
        );
    }
    assert_eq!(
        w.describe("auth").expect("known").version.as_deref(),
        Some("v1")
    );
    assert_eq!(healed.get("deploy_revision", "auth"), 3.0);

    // Rolling forward again (the rollback's inverse) brings the bad version back.
    let forward = rollback.inverse(&applied.prior).expect("reversible");
    assert_eq!(forward.param("to_version"), Some("v2"));
    w.apply("k2", &forward).expect("roll forward");
    let now = w.elapsed();
    w.advance_to(now + secs(21));
    let again = Means::over(&mut w, 30);
    assert!(
        again.get("error_ratio", "auth") > 0.25,
        "{}",
        show(&again, "auth")
    );
}

#[test]
fn dependency_outage_breaks_callers_and_only_failover_heals_it() {
    let s = {
        let mut s = with_fault(FaultKind::DependencyOutage, "db", 60);
        s.faults[0].duration = Some(secs(20 * 60));
        s
    };
    let mut w = World::new(&s, 13);
    w.advance_to(secs(90));
    let sick = Means::over(&mut w, 60);
    assert!(
        sick.get("error_ratio", "db") > 0.95,
        "{}",
        show(&sick, "db")
    );
    assert!(
        sick.get("cpu_utilization", "db") < 0.1,
        "{}",
        show(&sick, "db")
    );
    for caller in ["auth", "orders", "api", "frontend"] {
        assert!(
            sick.get("error_ratio", caller) > 0.9,
            "{caller}: {}",
            show(&sick, caller)
        );
        assert!(sick.get("dependency_error_ratio", caller) > 0.9);
    }
    // catalog only reaches db on cache misses (8% of its requests).
    let catalog = sick.get("error_ratio", "catalog");
    assert!((0.05..0.12).contains(&catalog), "catalog errors {catalog}");
    assert!(sick.get("error_ratio", "cache") < 0.01);

    let mut wrong = w.clone();
    wrong
        .apply("k", &action(ActionKind::Restart, "db", &[]))
        .expect("restart");
    let now = wrong.elapsed();
    wrong.advance_to(now + secs(60));
    let still = Means::over(&mut wrong, 60);
    assert!(
        still.get("error_ratio", "db") > 0.95,
        "restart must not fix an outage"
    );
    assert!(still.get("error_ratio", "frontend") > 0.9);

    let applied = w
        .apply("k", &action(ActionKind::Failover, "db", &[]))
        .expect("failover");
    assert_eq!(applied.prior.get("zone").map(String::as_str), Some("a"));
    let now = w.elapsed();
    w.advance_to(now + secs(30));
    let healed = Means::over(&mut w, 30);
    for svc in ["db", "auth", "orders", "catalog", "api", "frontend"] {
        assert!(
            healthy(&healed, svc),
            "{svc} after failover: {}",
            show(&healed, svc)
        );
    }
    let state = w.describe("db").expect("known");
    assert_eq!(state.zone.as_deref(), Some("b"));
    assert_eq!(state.standby_zone.as_deref(), Some("a"));
}

#[test]
fn an_outage_ends_by_itself_after_its_duration() {
    let mut s = with_fault(FaultKind::DependencyOutage, "db", 60);
    s.faults[0].duration = Some(secs(120));
    let gt = s.ground_truth();
    assert_eq!(gt[0].until, Some(secs(180)));
    assert_eq!(gt[0].remedy, ActionKind::Failover);
    let mut w = World::new(&s, 2);
    w.advance_to(secs(100));
    assert!(w.metric("westworld_error_ratio", "db").expect("known") > 0.9);
    w.advance_to(secs(200));
    let after = Means::over(&mut w, 30);
    assert!(healthy(&after, "db"), "{}", show(&after, "db"));
}
