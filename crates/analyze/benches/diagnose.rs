//! Root-cause ranking on a large incident and on a Sock Shop sized dataset case.
//!
//! ```text
//! cargo bench -p charter-analyze --bench diagnose
//! ```
//!
//! - `diagnose/100k_violations_1000_components`: 1,000 components in 10 layers of
//!   100 (each caller depends on 2–3 components of the next layer), 100 objectives
//!   violated on every component (100,000 violations, firing and pending, latency,
//!   errors, utilization and memory), onsets spread over 10 minutes with the leaves
//!   first, and one metric window per component (60 normal + 20 anomalous points,
//!   timed). No target: every abnormal component is a candidate, the worst case.
//!   Target: under 50 ms.
//! - `diagnose/no_graph_1000_components`: the same without the dependency graph.
//! - `diagnose/sockshop_case`: 13 components, 50 series of 300 normal and 300
//!   anomalous points, no graph, no violations, one component with a clear CPU
//!   shift (as the dataset harness runs it). Target: under 5 ms.
//!
//! Inputs are generated from a seeded PRNG outside the timed closure.

use charter_analyze::{DiagnosisInput, EpisodeLog, MetricSeries, RankOptions, Worse, diagnose};
use charter_model::IncidentId;
use charter_model::{
    Change, ChangeKind, Diagnosis, Severity, Signal, Timestamp, Topology, Violation,
};
use charter_testkit::{Rng, violation};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::{Duration, Instant};

const LAYERS: usize = 10;
const WIDTH: usize = 100;
const OBJECTIVES: usize = 100;
const NORMAL: usize = 60;
const ANOMALOUS: usize = 20;
/// Anomalous points span the ten minutes of the incident.
const STEP_SECS: i64 = 30;
/// The incident's first onset (the leaves'); the normal windows end here.
const ONSET_SECS: i64 = 1_700_000_000;

fn name(layer: usize, i: usize) -> String {
    format!("svc-{layer}-{i:03}")
}

/// Layer 0 are the entry points, layer `LAYERS - 1` the leaves; every component
/// above the leaves depends on 2 or 3 distinct components of the next layer.
fn layered_topology(rng: &mut Rng) -> Topology {
    let mut edges: Vec<(String, Vec<String>)> = Vec::with_capacity(LAYERS * WIDTH);
    for layer in 0..LAYERS {
        for i in 0..WIDTH {
            let mut deps = Vec::new();
            if layer + 1 < LAYERS {
                let k = 2 + rng.below(2);
                while deps.len() < k {
                    let d = name(layer + 1, rng.below(WIDTH));
                    if !deps.contains(&d) {
                        deps.push(d);
                    }
                }
            }
            edges.push((name(layer, i), deps));
        }
    }
    Topology::new(edges.iter().map(|(a, d)| (a.as_str(), d.as_slice())))
}

/// When a layer turned abnormal: leaves first, the entry points about ten minutes
/// later.
fn layer_onset(layer: usize) -> i64 {
    ONSET_SECS + (LAYERS - 1 - layer) as i64 * 60
}

fn violations(rng: &mut Rng) -> Vec<Violation> {
    const SIGNALS: [Signal; 4] = [
        Signal::Latency,
        Signal::Errors,
        Signal::Utilization,
        Signal::Memory,
    ];
    let mut out = Vec::with_capacity(OBJECTIVES * LAYERS * WIDTH);
    for o in 0..OBJECTIVES {
        let objective = format!("objective-{o:03}");
        let signal = SIGNALS[o % SIGNALS.len()];
        for layer in 0..LAYERS {
            for i in 0..WIDTH {
                let since = Timestamp::from_secs(layer_onset(layer) + rng.below(60u64) as i64);
                let firing = rng.f64() < 0.7;
                let value = 1.0 + rng.f64();
                let severity = if rng.f64() < 0.3 {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                let v = violation(&objective, &name(layer, i))
                    .signal(signal)
                    .since(since)
                    .value(value)
                    .worst(value * 1.1);
                let v = if firing {
                    v.firing(severity)
                        .firing_since(Some(since.plus(Duration::from_secs(30))))
                } else {
                    v.pending()
                };
                out.push(v.build());
            }
        }
    }
    out
}

/// One latency window per component: a level in its own unit, noise of 5 % of it,
/// and from the layer's onset a shift that is strongest at the leaves.
fn layered_series(rng: &mut Rng) -> Vec<MetricSeries> {
    let mut out = Vec::with_capacity(LAYERS * WIDTH);
    for layer in 0..LAYERS {
        for i in 0..WIDTH {
            let level = 10f64.powf(rng.f64() * 4.0 - 1.0);
            let sd = 0.05 * level;
            let shift = (10.0 + 2.0 * layer as f64) * sd;
            let normal = (0..NORMAL).map(|_| level + sd * rng.gauss()).collect();
            let times: Vec<Timestamp> = (0..ANOMALOUS as i64)
                .map(|k| Timestamp::from_secs(ONSET_SECS + k * STEP_SECS))
                .collect();
            let anomalous = times
                .iter()
                .map(|t| {
                    let on = t.0 >= Timestamp::from_secs(layer_onset(layer)).0;
                    level + sd * rng.gauss() + if on { shift } else { 0.0 }
                })
                .collect();
            out.push(MetricSeries {
                component: name(layer, i),
                metric: format!("latency_p99_{layer}_{i}"),
                signal: Some(Signal::Latency),
                normal,
                anomalous,
                times,
                worse: Worse::Up,
                baseline: None,
            });
        }
    }
    out
}

/// A few deploys in the change window, one of them on a leaf just before its onset.
fn changes() -> Vec<Change> {
    (0..10)
        .map(|k| Change {
            component: name(LAYERS - 1 - (k % 3), k * 7),
            kind: if k % 2 == 0 {
                ChangeKind::Deploy
            } else {
                ChangeKind::Config
            },
            at: Timestamp::from_secs(ONSET_SECS - 120 - 30 * k as i64),
            by: "ci".into(),
            source: charter_model::ChangeSource::Simulator,
            description: format!("release {k}"),
        })
        .collect()
}

/// Sock Shop: 13 services, 50 metrics (CPU, memory, latency, traffic…), 300 normal
/// and 300 anomalous points at 1 s; `carts` gets a CPU hog.
fn sockshop_series(rng: &mut Rng) -> Vec<MetricSeries> {
    const SERVICES: [&str; 13] = [
        "front-end",
        "catalogue",
        "catalogue-db",
        "carts",
        "carts-db",
        "orders",
        "orders-db",
        "payment",
        "shipping",
        "queue-master",
        "rabbitmq",
        "user",
        "user-db",
    ];
    const METRICS: [(&str, Signal); 4] = [
        ("cpu", Signal::Utilization),
        ("mem", Signal::Memory),
        ("latency", Signal::Latency),
        ("workload", Signal::Traffic),
    ];
    let n = 300;
    let start = ONSET_SECS;
    let mut out = Vec::with_capacity(50);
    for k in 0..50 {
        let service = SERVICES[k % SERVICES.len()];
        let (metric, signal) = METRICS[(k / SERVICES.len()) % METRICS.len()];
        let level = 10f64.powf(rng.f64() * 3.0);
        let sd = 0.05 * level;
        let shift = if service == "carts" && metric == "cpu" {
            20.0 * sd
        } else {
            0.0
        };
        out.push(MetricSeries {
            component: service.into(),
            metric: format!("{service}_{metric}"),
            signal: Some(signal),
            normal: (0..n).map(|_| level + sd * rng.gauss()).collect(),
            anomalous: (0..n).map(|_| level + shift + sd * rng.gauss()).collect(),
            times: (0..n as i64)
                .map(|t| Timestamp::from_secs(start + t))
                .collect(),
            worse: Worse::Either,
            baseline: None,
        });
    }
    out
}

struct Case<'a> {
    violations: &'a [Violation],
    series: &'a [MetricSeries],
    topology: Option<&'a Topology>,
    changes: &'a [Change],
    options: &'a RankOptions,
}

impl Case<'_> {
    fn run(&self) -> Diagnosis {
        diagnose(DiagnosisInput {
            incident_id: IncidentId(1),
            now: Timestamp::from_secs(ONSET_SECS + 15 * 60),
            violations: self.violations,
            series: self.series,
            topology: self.topology,
            zones: None,
            nodes: None,
            changes: self.changes,
            refuted: &[],
            episodes: EpisodeLog::none(),
            observed_since: Timestamp::from_secs(ONSET_SECS - 7 * 24 * 3600),
            unobserved: &[],
            target: None,
            options: self.options,
        })
    }
}

fn bench_diagnose(c: &mut Criterion) {
    let mut rng = Rng::new(0xD1A6_0005);
    let topology = layered_topology(&mut rng);
    let violations = violations(&mut rng);
    let series = layered_series(&mut rng);
    let changes = changes();
    let options = RankOptions::default();
    let sockshop = sockshop_series(&mut rng);

    let large = Case {
        violations: &violations,
        series: &series,
        topology: Some(&topology),
        changes: &changes,
        options: &options,
    };
    let no_graph = Case {
        topology: None,
        ..large
    };
    let sock = Case {
        violations: &[],
        series: &sockshop,
        topology: None,
        changes: &[],
        options: &options,
    };

    // Describe the workload once, and check that it is the incident it claims to be.
    for (label, case) in [
        ("graph", &large),
        ("no graph", &no_graph),
        ("sockshop", &sock),
    ] {
        let started = Instant::now();
        let d = case.run();
        let took = started.elapsed();
        let root = d.root().map_or("none", |h| h.component.as_str());
        let symptoms: usize = d.hypotheses.iter().map(|h| h.symptoms.len()).sum();
        let evidence: usize = d.hypotheses.iter().map(|h| h.evidence.len()).sum();
        println!(
            "workload {label}: {} violations, {} series, {} hypotheses ({symptoms} symptoms, \
             {evidence} evidence lines), root {root}; first run {took:.1?}",
            case.violations.len(),
            case.series.len(),
            d.hypotheses.len(),
        );
    }
    assert_eq!(
        sock.run().root().map(|h| h.component.as_str()),
        Some("carts")
    );

    let mut group = c.benchmark_group("diagnose");
    // Ten samples (criterion's least) keep a slow run of the large cases bounded.
    group.sample_size(10);
    group.bench_function("100k_violations_1000_components", |b| {
        b.iter(|| black_box(black_box(&large).run()))
    });
    group.bench_function("no_graph_1000_components", |b| {
        b.iter(|| black_box(black_box(&no_graph).run()))
    });
    group.sample_size(100);
    group.bench_function("sockshop_case", |b| {
        b.iter(|| black_box(black_box(&sock).run()))
    });
    group.finish();
}

criterion_group!(benches, bench_diagnose);
criterion_main!(benches);
