//! Violation detection over 10,000 series: 1,000 objectives × 10 components.
//!
//! ```text
//! cargo bench -p charter-monitor --bench detect
//! ```
//!
//! Each iteration is one `Detector::update` with 10,000 samples, `now` advancing by
//! 15 s. The samples are pre-generated (64 rounds, played forwards then backwards so
//! that the walk has no jump when it wraps) from a seeded PRNG: about 5 % of series
//! breach at any time, episodes last about five rounds, some recover through the band
//! between `clear` and `warning` (hysteresis), some flap, and about 0.1 % of samples
//! are missing (Unknown). So every evaluation has new, promoted and resolved episodes.

use charter_model::{Charter, Sample, Timestamp};
use charter_monitor::Detector;
use charter_testkit::{Rng, charter_from};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

const COMPONENTS: usize = 10;
const OBJECTIVES: usize = 1_000;
const ROUNDS: usize = 64;
const STEP: Duration = Duration::from_secs(15);

/// The charter text: objectives alternate `above` and `below`; every third has a
/// `keep_firing_for`.
fn charter_yaml() -> String {
    let mut y = String::from("name: detect-bench\ninterval: 15s\ncomponents:\n");
    for c in 0..COMPONENTS {
        let _ = writeln!(y, "  - {{ name: c{c} }}");
    }
    y.push_str("objectives:\n");
    for i in 0..OBJECTIVES {
        let _ = writeln!(y, "  - name: o{i}\n    metric: m{i}");
        if i % 2 == 0 {
            y.push_str("    above: { warning: 0.8, critical: 0.95, clear: 0.7 }\n");
        } else {
            y.push_str("    below: { warning: 0.2, critical: 0.05, clear: 0.3 }\n");
        }
        y.push_str("    for: 30s\n");
        if i % 3 == 0 {
            y.push_str("    keep_firing_for: 1m\n");
        }
        y.push_str("    remedies: [scale_out]\n");
    }
    y
}

fn charter() -> Charter {
    let charter = charter_from(&charter_yaml());
    assert_eq!(charter.objectives.len(), OBJECTIVES);
    assert_eq!(charter.components.len(), COMPONENTS);
    charter
}

/// Where a generated series is in its walk.
#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Healthy,
    /// Past `warning` (sometimes past `critical`).
    Breaching,
    /// Between `clear` and `warning`: a firing episode must stay open.
    Recovering,
}

/// `ROUNDS` rounds of samples, one per (objective, component) each, in charter order.
///
/// A "badness" in [0, 1] is walked per series and mapped onto the objective's
/// direction: `above` objectives see it as is, `below` ones see `1 - badness`, so the
/// thresholds (0.8 / 0.95 / 0.7 and 0.2 / 0.05 / 0.3) line up.
fn rounds(charter: &Charter, seed: u64) -> Vec<Vec<Sample>> {
    let mut rng = Rng::new(seed);
    let n = OBJECTIVES * COMPONENTS;
    // Start from the stationary mix (about 5 % breaching), not from all healthy.
    let mut phase: Vec<Phase> = (0..n)
        .map(|_| {
            if rng.chance(0.05) {
                Phase::Breaching
            } else {
                Phase::Healthy
            }
        })
        .collect();
    let mut out = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let mut samples = Vec::with_capacity(n);
        let mut k = 0;
        for (i, obj) in charter.objectives.iter().enumerate() {
            for component in &obj.components {
                let p = &mut phase[k];
                k += 1;
                *p = match *p {
                    Phase::Healthy if rng.chance(0.009) => Phase::Breaching,
                    Phase::Breaching if rng.chance(0.2) => {
                        if rng.chance(0.5) {
                            Phase::Recovering
                        } else {
                            Phase::Healthy
                        }
                    }
                    Phase::Recovering if rng.chance(0.15) => Phase::Breaching,
                    Phase::Recovering if rng.chance(0.5) => Phase::Healthy,
                    same => same,
                };
                let badness = match *p {
                    Phase::Healthy => rng.between(0.2, 0.6),
                    Phase::Recovering => rng.between(0.71, 0.79),
                    Phase::Breaching if rng.chance(0.2) => rng.between(0.96, 1.0),
                    Phase::Breaching => rng.between(0.81, 0.94),
                };
                let value = if i % 2 == 0 { badness } else { 1.0 - badness };
                samples.push(Sample {
                    objective: obj.name.clone(),
                    component: component.clone(),
                    at: Timestamp(0),
                    value: (!rng.chance(0.001)).then_some(value),
                });
            }
        }
        out.push(samples);
    }
    out
}

/// Round indices played forwards then backwards: 0, 1, …, 63, 62, …, 1, 0, 1, …
fn schedule() -> Vec<usize> {
    (0..ROUNDS).chain((1..ROUNDS - 1).rev()).collect()
}

fn bench_detect(c: &mut Criterion) {
    let charter = charter();
    let rounds = rounds(&charter, 0x5EED_CAFE);
    let order = schedule();
    let start = Timestamp::from_secs(1_700_000_000);

    // One full period on a fresh detector, to describe the workload, then one more
    // to measure it in steady state.
    let mut detector = Detector::new();
    let mut now = start;
    let (mut transitions, mut active, mut firing) = (0usize, 0usize, 0usize);
    for pass in 0..2 {
        for &r in &order {
            now = now.plus(STEP);
            let t = detector.update(&charter, &rounds[r], now);
            if pass == 1 {
                transitions += t.len();
                active += detector.active().count();
                firing += detector
                    .active()
                    .filter(|v| v.firing_since.is_some())
                    .count();
            }
        }
    }
    let per = order.len() as f64;
    let series = (OBJECTIVES * COMPONENTS) as f64;
    println!(
        "workload: {} series; per update on average {:.0} transitions, {:.1} % of series \
         in an open episode ({:.1} % firing)",
        OBJECTIVES * COMPONENTS,
        transitions as f64 / per,
        100.0 * active as f64 / per / series,
        100.0 * firing as f64 / per / series,
    );

    let mut k = 0usize;
    c.bench_function("detect/update_10k_series_steady", |b| {
        b.iter(|| {
            let r = &rounds[order[k % order.len()]];
            k += 1;
            now = now.plus(STEP);
            black_box(detector.update(&charter, black_box(r), now))
        })
    });

    // The first update after start: every series is new to the detector.
    c.bench_function("detect/update_10k_series_first", |b| {
        b.iter_batched(
            Detector::new,
            |mut d| {
                let t = d.update(&charter, black_box(&rounds[0]), start);
                black_box((d, t))
            },
            BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, bench_detect);
criterion_main!(benches);
