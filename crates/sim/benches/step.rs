//! How fast the world steps: 50 services for an hour of virtual time at 1 s steps.
//!
//! `cargo bench -p charter-sim` prints the wall time; no harness, no assertion.

use charter_sim::{Fault, FaultKind, Scenario, ServiceSpec, World};
use std::time::{Duration, Instant};

/// Five layers of ten services; each calls two services of the next layer.
fn fifty_services() -> Vec<ServiceSpec> {
    let name = |layer: usize, k: usize| format!("s{layer}-{k}");
    let mut out = Vec::new();
    for layer in 0..5 {
        for k in 0..10 {
            let mut s = ServiceSpec::new(&name(layer, k), 60.0);
            if layer < 4 {
                s = s
                    .calls(&name(layer + 1, k), 1.0)
                    .calls(&name(layer + 1, (k + 1) % 10), 0.5);
            }
            out.push(s);
        }
    }
    out
}

fn main() {
    let mut scenario = Scenario::default_shop("bench", Duration::from_secs(3600));
    scenario.services = fifty_services();
    scenario.traffic.rps = 80.0;
    scenario.faults = vec![
        Fault::new(FaultKind::MemoryLeak, "s2-3", Duration::from_secs(600)),
        Fault::new(FaultKind::TrafficSurge, "s1-1", Duration::from_secs(900)),
    ];
    let runs = 5;
    let started = Instant::now();
    let mut checksum = 0.0;
    for seed in 0..runs {
        let mut w = World::new(&scenario, seed);
        w.advance_to(scenario.duration);
        checksum += w
            .metric("westworld_latency_p99_seconds", "s0-0")
            .unwrap_or(0.0);
    }
    let per_run = started.elapsed() / runs as u32;
    println!("50 services × 3600 steps: {per_run:?} per run (checksum {checksum:.3})");
}
