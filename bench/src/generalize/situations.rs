//! Situations drawn on generated topologies, with their ground truth, by category.
//!
//! Situation `i` of a range has its own seed (`range base + i`), hence its own
//! topology and charter; its category is `Category::ALL[i % 7]` and the variant
//! inside the category rotates with `i / 7`, so every category and every single
//! fault kind is drawn in any run of at least 7 × 8 situations.

use super::topology::{Draw, Topology, generate};
use charter_model::Charter;
use charter_sim::scenario::Deploy;
use charter_sim::{
    Fault, FaultEffect, FaultKind, Flap, MetricGap, Scenario, TargetScope, TrafficPattern,
};
use serde::Serialize;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Which seeds: tuning and validation never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Range {
    Tune,
    Validate,
}

/// The first situation seed of the tuning range.
pub const TUNE_BASE: u64 = 0;
/// The first situation seed of the validation range; tuning seeds stay below it.
pub const VALIDATE_BASE: u64 = 1_000_000;

impl Range {
    /// The seed of situation `i`.
    pub fn seed(self, i: u64) -> u64 {
        match self {
            Range::Tune => {
                assert!(
                    i < VALIDATE_BASE,
                    "the tuning range has {VALIDATE_BASE} seeds"
                );
                TUNE_BASE + i
            }
            Range::Validate => VALIDATE_BASE + i,
        }
    }
}

/// What kind of situation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// One fault of one kind on one service (every kind the simulator has).
    Single,
    /// A zone or a node losing capacity: every service on it is hit at once.
    Infrastructure,
    /// A misleading change: an innocent deploy shortly before a load fault on the
    /// same service, or a load change shortly before a bad deploy.
    Confounder,
    /// Two unrelated faults at (nearly) the same time.
    Simultaneous,
    /// A mid-graph service's metrics missing for a window while a fault sits below it.
    MetricGap,
    /// No fault: flapping metrics, or diurnal traffic.
    Control,
    /// A surge that needs a scale-out, then replicas that cost too much once it ends.
    Cost,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::Single,
        Category::Infrastructure,
        Category::Confounder,
        Category::Simultaneous,
        Category::MetricGap,
        Category::Control,
        Category::Cost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Single => "single",
            Category::Infrastructure => "infrastructure",
            Category::Confounder => "confounder",
            Category::Simultaneous => "simultaneous",
            Category::MetricGap => "metric_gap",
            Category::Control => "control",
            Category::Cost => "cost",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One fault the situation is about: its kind, and the component (service, zone or
/// node) a diagnosis should name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Truth {
    pub kind: String,
    pub target: String,
    pub at_secs: f64,
}

/// A generated situation.
#[derive(Debug, Clone)]
pub struct Situation {
    pub name: String,
    pub category: Category,
    pub variant: String,
    pub seed: u64,
    pub topology: Topology,
    pub charter: Arc<Charter>,
    pub scenario: Scenario,
    /// The faults a diagnosis is judged on (empty in controls).
    pub truth: Vec<Truth>,
    /// A service deployed with a good version shortly before its fault (confounders).
    pub innocent: Option<String>,
    /// The services an infrastructure fault hits.
    pub group: Vec<String>,
    /// The service whose metrics are missing (metric gaps), when the simulator can
    /// hide them.
    pub blind: Option<String>,
}

/// Virtual length of every situation.
pub const DURATION: Duration = Duration::from_secs(30 * 60);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Draw situation `i` of a range.
pub fn draw(range: Range, i: u64) -> Situation {
    let seed = range.seed(i);
    let category = Category::ALL[(i % 7) as usize];
    let variant_index = i / 7;
    let topology = generate(seed);
    let mut r = Draw::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xFA17);
    let name = format!("{}-{seed}", category.as_str());
    let mut scenario = topology.scenario(&name, DURATION, TrafficPattern::Flat);
    scenario.seed = seed;
    let t0 = secs(300 + r.int(0, 60));
    let mut s = Situation {
        name,
        category,
        variant: String::new(),
        seed,
        charter: Arc::new(
            topology
                .charter()
                .unwrap_or_else(|e| panic!("generated charter {seed} does not validate: {e}")),
        ),
        topology,
        scenario,
        truth: Vec::new(),
        innocent: None,
        group: Vec::new(),
        blind: None,
    };
    match category {
        Category::Single => {
            let kinds = single_kinds();
            let kind = kinds[(variant_index % kinds.len() as u64) as usize];
            let target = single_target(&s.topology, kind, &mut r);
            let f = fault(&s.topology, kind, target, t0, &mut r);
            s.variant = kind.as_str().into();
            s.add(f);
        }
        Category::Infrastructure => {
            let t = &s.topology;
            // The busiest zone or node (most services), ties broken by a draw.
            let busiest = |names: &[String], r: &mut Draw, of: &dyn Fn(&str) -> Vec<usize>| {
                let start = r.int(0, names.len() as u64 - 1) as usize;
                let name = (0..names.len())
                    .map(|k| &names[(start + k) % names.len()])
                    .max_by_key(|n| of(n).len())
                    .cloned()
                    .unwrap_or_default();
                let members = of(&name);
                (name, members)
            };
            let (level, (target, members)) = if variant_index.is_multiple_of(2) {
                ("zone", busiest(&t.zones, &mut r, &|z| t.in_zone(z)))
            } else {
                ("node", busiest(&t.nodes(), &mut r, &|n| t.on_node(n)))
            };
            s.group = members
                .iter()
                .map(|&m| s.topology.services[m].name.clone())
                .collect();
            let loss = round2(r.float(0.5, 0.7));
            let f = if level == "zone" {
                Fault::new(FaultKind::ZoneDegraded, &target, t0)
                    .with_effect(FaultEffect::ZoneDegraded { loss })
            } else {
                Fault::new(FaultKind::NodeStress, &target, t0)
                    .with_effect(FaultEffect::NodeStress { loss })
            };
            s.variant = f.kind().as_str().into();
            s.add(f.lasting(secs(15 * 60)));
        }
        Category::Confounder => {
            let candidates = services_with_room(&s.topology);
            let x = *r.pick(&candidates);
            let name = s.topology.services[x].name.clone();
            let before = t0 - secs(r.int(90, 150));
            if variant_index.is_multiple_of(2) {
                s.variant = "deploy_then_surge".into();
                s.scenario.deploys.push(Deploy {
                    target: name.clone(),
                    at: before,
                    one_way_migration: false,
                });
                s.innocent = Some(name.clone());
                let f = Fault::new(FaultKind::TrafficSurge, &name, t0)
                    .with_effect(FaultEffect::TrafficSurge {
                        factor: round2(r.float(2.8, 3.2)),
                    })
                    .lasting(secs(15 * 60));
                s.add(f);
            } else {
                s.variant = "load_then_bad_deploy".into();
                // A load change that violates nothing on its own (the service keeps
                // headroom), so the deploy is the only fault to fix.
                let load = Fault::new(FaultKind::TrafficSurge, &name, before)
                    .with_effect(FaultEffect::TrafficSurge { factor: 1.2 });
                s.scenario.faults.push(load);
                let f = Fault::new(FaultKind::BadDeploy, &name, t0).with_effect(
                    FaultEffect::BadDeploy {
                        error_ratio: round2(r.float(0.2, 0.4)),
                    },
                );
                s.add(f);
            }
        }
        Category::Simultaneous => {
            let t = &s.topology;
            let pool: Vec<usize> = (0..t.services.len())
                .filter(|&i| !t.layers[0].contains(&i))
                .collect();
            let a = *r.pick(&pool);
            let unrelated: Vec<usize> =
                pool.iter().copied().filter(|&b| !t.related(a, b)).collect();
            let b = if unrelated.is_empty() {
                *r.pick(&pool.iter().copied().filter(|&b| b != a).collect::<Vec<_>>())
            } else {
                *r.pick(&unrelated)
            };
            let ka = kind_for(t, a, &mut r);
            let kb = kind_for(t, b, &mut r);
            s.variant = format!("{}+{}", ka.as_str(), kb.as_str());
            let fa = fault(&s.topology, ka, a, t0, &mut r);
            let lag = if r.chance(0.3) { 0 } else { r.int(15, 60) };
            let fb = fault(&s.topology, kb, b, t0 + secs(lag), &mut r);
            s.add(fa);
            s.add(fb);
        }
        Category::MetricGap => {
            let t = &s.topology;
            let depth = t.layers.len();
            // A service with callers and dependencies.
            let middle: Vec<usize> = t.layers[1..depth - 1].iter().flatten().copied().collect();
            let m = *r.pick(&middle);
            let below: Vec<usize> = t.descendants(m);
            let f_target = *r.pick(&below);
            let kind = *r.pick(&[
                FaultKind::BadDeploy,
                FaultKind::TrafficSurge,
                FaultKind::NoisyNeighbour,
                FaultKind::DependencyOutage,
            ]);
            s.variant = format!("gap_above_{}", kind.as_str());
            let f = fault(&s.topology, kind, f_target, t0, &mut r);
            s.add(f);
            let blind = s.topology.services[m].name.clone();
            if add_metric_gap(&mut s.scenario, &blind, t0 - secs(60), secs(12 * 60)) {
                s.blind = Some(blind);
            }
        }
        Category::Control => {
            if variant_index.is_multiple_of(2) {
                s.variant = "flapping".into();
                let t = &s.topology;
                let n = t.services.len() as u64;
                let a = r.int(0, n - 1) as usize;
                let factor = round2(1.6 * t.latency_warning[a] / t.profile.p99[a].max(1e-4));
                s.scenario.flaps.push(Flap {
                    target: t.services[a].name.clone(),
                    metric: "westworld_latency_p99_seconds".into(),
                    factor,
                    at: secs(180 + r.int(0, 60)),
                    every: secs(r.int(120, 180)),
                    length: secs(r.int(15, 20)),
                    until: None,
                });
                let b = r.int(0, n - 1) as usize;
                s.scenario.flaps.push(Flap {
                    target: t.services[b].name.clone(),
                    metric: "westworld_error_ratio".into(),
                    factor: 150.0,
                    at: secs(240 + r.int(0, 60)),
                    every: secs(r.int(150, 210)),
                    length: secs(15),
                    until: None,
                });
            } else {
                s.variant = "diurnal".into();
                s.scenario.traffic.pattern = TrafficPattern::Diurnal;
            }
        }
        Category::Cost => {
            let candidates = services_with_room(&s.topology);
            let x = *r.pick(&candidates);
            let name = s.topology.services[x].name.clone();
            let at = secs(180 + r.int(0, 60));
            let surge = secs(
                r.int(
                    if variant_index.is_multiple_of(2) {
                        8
                    } else {
                        4
                    },
                    10,
                ) * 60,
            );
            let f = Fault::new(FaultKind::TrafficSurge, &name, at)
                .with_effect(FaultEffect::TrafficSurge {
                    factor: round2(r.float(2.8, 3.2)),
                })
                .lasting(surge);
            s.add(f);
            if variant_index.is_multiple_of(2) {
                // Whatever scaled out for the surge must scale back in after it.
                s.variant = "surge_then_idle".into();
            } else {
                // An autoscaler that followed the surge leaves the replicas behind.
                s.variant = "surge_then_overrun".into();
                let f = Fault::new(FaultKind::CostOverrun, &name, at + surge).with_effect(
                    FaultEffect::CostOverrun {
                        factor: round2(r.float(1.8, 2.5)),
                    },
                );
                s.add(f);
            }
        }
    }
    s
}

impl Situation {
    fn add(&mut self, f: Fault) {
        self.truth.push(Truth {
            kind: f.kind().as_str().into(),
            target: f.target.clone(),
            at_secs: f.at.as_secs_f64(),
        });
        self.scenario.faults.push(f);
    }

    /// The run seeds of this situation (distinct per situation).
    pub fn run_seeds(&self, n: u64) -> Vec<u64> {
        (0..n).map(|k| self.seed * 16 + k).collect()
    }
}

/// Hide a service's metrics for a window; false when the simulator cannot.
fn add_metric_gap(scenario: &mut Scenario, service: &str, at: Duration, d: Duration) -> bool {
    scenario.metric_gaps.push(MetricGap {
        target: service.to_string(),
        at,
        duration: d,
    });
    true
}

/// The kinds of the `single` category: every kind that targets one service, except
/// the cost overrun (the `cost` category's).
pub fn single_kinds() -> Vec<FaultKind> {
    FaultKind::ALL
        .into_iter()
        .filter(|k| k.scope() == TargetScope::Service && *k != FaultKind::CostOverrun)
        .collect()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Services that are not caches and can scale out by at least 3.
fn services_with_room(t: &Topology) -> Vec<usize> {
    let caches = t.caches();
    let v: Vec<usize> = (0..t.services.len())
        .filter(|i| !caches.contains(i))
        .filter(|&i| t.limits[i].1 >= t.services[i].replicas + 3)
        .collect();
    if v.is_empty() { vec![0] } else { v }
}

/// A target for a single fault of `kind`.
fn single_target(t: &Topology, kind: FaultKind, r: &mut Draw) -> usize {
    let caches = t.caches();
    let plain: Vec<usize> = (0..t.services.len())
        .filter(|i| !caches.contains(i))
        .collect();
    match kind {
        FaultKind::CachePoisoning => *r.pick(&caches),
        FaultKind::PoolExhaustion => {
            // The pool that exhausts hardest.
            *t.exhausted_pool
                .iter()
                .max_by(|a, b| {
                    let u =
                        |(&i, &size): (&usize, &u32)| t.profile.pool_demand[i] / f64::from(size);
                    u(*a).total_cmp(&u(*b))
                })
                .map(|(i, _)| i)
                .unwrap_or(&plain[0])
        }
        FaultKind::DependencyOutage | FaultKind::ZoneOutage => {
            let inner: Vec<usize> = plain
                .iter()
                .copied()
                .filter(|i| !t.layers[0].contains(i))
                .collect();
            *r.pick(&inner)
        }
        _ => *r.pick(&plain),
    }
}

/// A fault kind that fits a target (for simultaneous faults).
fn kind_for(t: &Topology, i: usize, r: &mut Draw) -> FaultKind {
    if t.caches().contains(&i) {
        return *r.pick(&[FaultKind::CachePoisoning, FaultKind::NoisyNeighbour]);
    }
    let mut kinds = vec![
        FaultKind::TrafficSurge,
        FaultKind::MemoryLeak,
        FaultKind::BadDeploy,
        FaultKind::NoisyNeighbour,
        FaultKind::DependencyOutage,
    ];
    if t.exhausted_pool.contains_key(&i) {
        kinds.push(FaultKind::PoolExhaustion);
    }
    *r.pick(&kinds)
}

/// A fault of `kind` on service `i` at `at`, with drawn parameters.
fn fault(t: &Topology, kind: FaultKind, i: usize, at: Duration, r: &mut Draw) -> Fault {
    let name = &t.services[i].name;
    let f = Fault::new(kind, name, at);
    match kind {
        FaultKind::TrafficSurge => f
            .with_effect(FaultEffect::TrafficSurge {
                factor: round2(r.float(2.5, 3.5)),
            })
            .lasting(secs(15 * 60)),
        FaultKind::MemoryLeak => f
            .with_effect(FaultEffect::MemoryLeak {
                rate: round2(r.float(0.04, 0.07)),
            })
            .lasting(secs(20 * 60)),
        FaultKind::BadDeploy => f.with_effect(FaultEffect::BadDeploy {
            error_ratio: round2(r.float(0.2, 0.4)),
        }),
        FaultKind::DependencyOutage | FaultKind::ZoneOutage => f.lasting(secs(15 * 60)),
        FaultKind::CachePoisoning => f.with_effect(FaultEffect::CachePoisoning {
            hit_ratio: round2(r.float(0.05, 0.15)),
        }),
        FaultKind::PoolExhaustion => f.with_effect(FaultEffect::PoolExhaustion {
            pool_size: t.exhausted_pool.get(&i).copied().unwrap_or(1),
        }),
        FaultKind::NoisyNeighbour => f
            .with_effect(FaultEffect::NoisyNeighbour {
                loss: round2(r.float(0.6, 0.75)),
            })
            .lasting(secs(15 * 60)),
        // Zone- and node-wide faults and cost overruns are drawn by their categories.
        FaultKind::ZoneDegraded | FaultKind::NodeStress | FaultKind::CostOverrun => f,
    }
}
