//! One full loop cycle (monitor → analysis → planning) over 1,000 components with 15
//! objectives each (15,000 series), in steady state.
//!
//! ```text
//! cargo bench -p charter-bench --bench cycle
//! ```
//!
//! The workload is `charter-bench scale`'s (bench/README.md, "Scale"): a layered
//! dependency DAG, about 1.5 % of components faulty at any time with faults starting
//! and ending, noise, one-sample breaches and missing values. Each iteration is one
//! interval: new samples (generated and copied inside the iteration: `scale` leaves
//! that out), then one `Controller::tick` on them (SQLite store in memory, in-process
//! actuator).
//! Target: median under 20 ms.

#[allow(dead_code)]
#[path = "../src/scale/workload.rs"]
mod workload;

use criterion::{Criterion, criterion_group, criterion_main};

/// The allocator `charter` ships with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use workload::Workload;

fn bench_cycle(c: &mut Criterion) {
    let mut w = Workload::new(1_000, 1).expect("the synthetic charter is valid");
    w.warm_up(20).expect("warm-up");
    let (_, a) = w.cycle().expect("a cycle");
    println!(
        "workload: {} series; this cycle {} transitions, {} open violations, {} incidents, \
         {} diagnoses over {} windows, {} decisions",
        w.series(),
        a.transitions,
        a.open_violations,
        a.incidents,
        a.diagnosed,
        a.windows,
        a.decisions
    );
    let mut group = c.benchmark_group("cycle");
    // Ten samples (criterion's least) keep the run under a minute.
    group.sample_size(10);
    group.bench_function("1000_components_15000_series", |b| {
        b.iter(|| black_box(w.cycle().expect("a cycle")))
    });
    group.finish();
}

criterion_group!(benches, bench_cycle);
criterion_main!(benches);
