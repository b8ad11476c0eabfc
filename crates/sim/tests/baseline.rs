//! The healthy world: deterministic for a seed, and healthy for an hour without faults.

mod common;

use charter_sim::{METRICS, Scenario, World};
use common::secs;

fn series(scenario: &Scenario, seed: u64, seconds: u64) -> Vec<f64> {
    let mut w = World::new(scenario, seed);
    let services = w.services();
    let mut out = Vec::new();
    for _ in 0..seconds {
        w.step();
        for s in &services {
            for m in METRICS {
                out.push(w.metric(m, s).expect("known"));
            }
        }
    }
    out
}

#[test]
fn same_seed_gives_identical_series_and_another_seed_differs() {
    let s = Scenario::builtin("demo").expect("built-in");
    // Ten minutes covers the start of the surge at 5m.
    let a = series(&s, 42, 600);
    let b = series(&s, 42, 600);
    let c = series(&s, 43, 600);
    assert_eq!(a, b);
    assert_ne!(a, c);
    let differing = a.iter().zip(&c).filter(|(x, y)| x != y).count();
    assert!(
        differing > a.len() / 4,
        "only {differing} of {} values differ",
        a.len()
    );
}

#[test]
fn no_fault_stays_healthy_for_an_hour() {
    let s = Scenario::builtin("no-fault").expect("built-in");
    assert!(s.faults.is_empty());
    let mut w = World::new(&s, s.seed);
    let leaves = ["db", "cache", "queue"];
    let mut worst_p99 = 0.0f64;
    while w.elapsed() < secs(3600) {
        w.step();
        for svc in w.services() {
            let m = |name: &str| w.metric(&format!("westworld_{name}"), &svc).expect("known");
            let p99_limit = if leaves.contains(&svc.as_str()) {
                0.25
            } else {
                0.5
            };
            let at = w.elapsed().as_secs();
            assert!(
                m("latency_p99_seconds") < p99_limit,
                "{svc} p99 {} at {at}s",
                m("latency_p99_seconds")
            );
            assert!(
                m("error_ratio") < 0.01,
                "{svc} errors {} at {at}s",
                m("error_ratio")
            );
            assert!(
                m("cpu_utilization") < 0.7,
                "{svc} cpu {} at {at}s",
                m("cpu_utilization")
            );
            assert!(
                m("memory_utilization") < 0.6,
                "{svc} memory {} at {at}s",
                m("memory_utilization")
            );
            assert_eq!(m("saturation"), 0.0, "{svc} saturated at {at}s");
            assert_eq!(m("restarts_total"), 0.0);
            if svc == "frontend" {
                worst_p99 = worst_p99.max(m("latency_p99_seconds"));
            }
        }
    }
    assert!(
        w.drain_changes().is_empty(),
        "nothing changes without faults or actions"
    );
    // The healthy frontend is not trivially fast either: its p99 is in the hundreds of ms.
    assert!(worst_p99 > 0.2, "frontend p99 peaked at {worst_p99}");
}

#[test]
fn every_service_runs_at_moderate_utilization() {
    let s = Scenario::builtin("no-fault").expect("built-in");
    let mut w = World::new(&s, 9);
    let m = common::Means::over(&mut w, 600);
    for svc in [
        "frontend", "api", "catalog", "orders", "auth", "db", "queue",
    ] {
        let u = m.get("cpu_utilization", svc);
        assert!((0.4..=0.55).contains(&u), "{svc} at {u}");
    }
    // The cache is over-provisioned on purpose, to absorb a surge at catalog.
    assert!((0.25..0.35).contains(&m.get("cpu_utilization", "cache")));
    assert!((m.get("cache_hit_ratio", "catalog") - 0.92).abs() < 0.01);
    assert_eq!(m.get("cache_hit_ratio", "api"), 1.0);
    let p99_p50 = m.get("latency_p99_seconds", "db") / m.get("latency_p50_seconds", "db");
    assert!((3.0..=5.0).contains(&p99_p50), "p99/p50 {p99_p50}");
}

#[test]
fn diurnal_traffic_swings_by_a_fifth() {
    let mut s = Scenario::default_shop("diurnal", secs(86_400));
    s.traffic.pattern = charter_sim::TrafficPattern::Diurnal;
    s.traffic.noise = 0.0;
    let mut w = World::new(&s, 1);
    w.advance_to(secs(6 * 3600));
    let peak = w
        .metric("westworld_request_rate", "frontend")
        .expect("known");
    w.advance_to(secs(18 * 3600));
    let trough = w
        .metric("westworld_request_rate", "frontend")
        .expect("known");
    assert!((peak / 240.0 - 1.0).abs() < 0.08, "peak {peak}");
    assert!((trough / 160.0 - 1.0).abs() < 0.08, "trough {trough}");
}
