//! The synthetic system of `scale` and one loop cycle over it.
//!
//! [`Workload::new`] builds a charter of `n` components in a layered dependency DAG
//! with 15 objectives each (every objective applies to every component: `15 · n`
//! series) and a generator of their samples with violation churn. [`Workload::cycle`]
//! generates one interval's samples (not timed: that is the source's read) and runs
//! what `Controller::tick` runs on them, stage by stage, timing each:
//!
//! - monitor: drop samples of undeclared components, `History::record`, the latest
//!   values, `Detector::update`, the frozen set;
//! - group: every transition joins its incident (`assign_incident`, then the burst
//!   of onsets) or opens one; episodes kept for the frequency and burst tests; open
//!   members refreshed; incidents without an open member resolved;
//! - windows: the diagnosis windows of every changed incident, by
//!   `History::incident_series`, the function the controller calls;
//! - diagnose: `charter_analyze::diagnose` with topology, zones, changes, episodes;
//! - plan: `charter_plan::decide` for every diagnosed incident.
//!
//! Not included: HTTP to Prometheus, the store's writes, executions and actuators,
//! health and metrics publication.

use charter_analyze::patterns::burst::find_bursts;
use charter_analyze::{DiagnosisInput, Episode, History, RankOptions, assign_incident, diagnose};
use charter_model::{
    Change, ChangeKind, Charter, ComponentState, Diagnosis, Incident, IncidentState, Sample,
    Timestamp, Violation, ViolationState, parse_charter,
};
use charter_monitor::Detector;
use charter_plan::{Decision, GuardState, KnowledgeView, PlanInput, decide};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// The loop interval of the synthetic charter.
pub const INTERVAL: Duration = Duration::from_secs(15);
/// Objectives per component.
pub const OBJECTIVES: usize = 15;
/// Share of components with a fault at any time (at least one fault on average).
const FAULTY_SHARE: f64 = 0.015;
/// Mean fault duration, in cycles (10 minutes).
const FAULT_CYCLES: f64 = 40.0;
/// Chance per series per cycle of a one-sample breach (a pending episode that resolves).
const BLIP: f64 = 0.000_5;
/// Chance per sample of a missing value (Unknown).
const MISSING: f64 = 0.000_2;
/// Chance that a caller of an affected component shows symptoms too.
const SPREAD: f64 = 0.6;
/// Most episodes the controller keeps.
const MAX_EPISODES: usize = 100_000;
/// How long the controller keeps changes.
const CHANGE_HORIZON: Duration = Duration::from_secs(3600);
/// Virtual start time (2026-01-01T00:00:00Z).
const EPOCH: Timestamp = Timestamp(1_767_225_600_000);

/// SplitMix64: small, seeded, good enough for synthetic data.
pub struct Rng(pub u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Standard normal (Box–Muller).
    fn gauss(&mut self) -> f64 {
        let u = 1.0 - self.f64();
        let v = self.f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// One objective of the synthetic charter: thresholds as the Westworld example sets
/// them, the healthy range of its values and how far a fault pushes them.
struct Spec {
    name: &'static str,
    signal: &'static str,
    above: bool,
    warning: Option<f64>,
    critical: f64,
    clear: f64,
    for_: &'static str,
    remedies: &'static str,
    healthy: (f64, f64),
    faulty: (f64, f64),
}

const fn spec(
    name: &'static str,
    signal: &'static str,
    above: bool,
    (warning, critical, clear): (Option<f64>, f64, f64),
    for_: &'static str,
    remedies: &'static str,
    (healthy, faulty): ((f64, f64), (f64, f64)),
) -> Spec {
    Spec {
        name,
        signal,
        above,
        warning,
        critical,
        clear,
        for_,
        remedies,
        healthy,
        faulty,
    }
}

const LATENCY_P99: usize = 0;
const LATENCY_P50: usize = 1;
const ERRORS: usize = 2;
const DEP_ERRORS: usize = 3;
const CPU: usize = 4;
const MEMORY: usize = 5;
const SATURATION: usize = 6;
const POOL: usize = 7;
const READY: usize = 8;
const REQUESTS: usize = 9;
const THROTTLED: usize = 10;
const CACHE: usize = 11;
const DISK: usize = 13;
const QUEUE_LAG: usize = 14;

#[rustfmt::skip]
const SPECS: [Spec; OBJECTIVES] = [
    spec("latency_p99", "latency", true, (Some(0.8), 2.0, 0.6), "30s", "scale_out, rollback", ((0.15, 0.4), (1.0, 3.0))),
    spec("latency_p50", "latency", true, (Some(0.3), 0.8, 0.25), "30s", "scale_out", ((0.04, 0.15), (0.4, 1.2))),
    spec("error_ratio", "errors", true, (Some(0.02), 0.1, 0.01), "30s", "rollback, failover, restart, circuit_break", ((0.0005, 0.004), (0.04, 0.3))),
    spec("dependency_error_ratio", "errors", true, (Some(0.05), 0.2, 0.02), "30s", "circuit_break, failover", ((0.001, 0.008), (0.08, 0.4))),
    spec("cpu_utilization", "utilization", true, (Some(0.85), 1.0, 0.75), "30s", "scale_out, throttle", ((0.25, 0.55), (0.9, 1.0))),
    spec("memory_utilization", "memory", true, (Some(0.8), 0.9, 0.7), "30s", "restart, scale_out", ((0.3, 0.6), (0.85, 0.98))),
    spec("saturation", "saturation", true, (Some(0.1), 0.5, 0.05), "30s", "scale_out, throttle", ((0.005, 0.03), (0.2, 0.8))),
    spec("pool_utilization", "pool", true, (Some(0.9), 0.98, 0.8), "30s", "reconfigure, scale_out", ((0.2, 0.6), (0.95, 1.0))),
    spec("ready_replicas", "availability", false, (None, 1.0, 1.0), "1m", "failover, scale_out", ((2.0, 4.0), (0.0, 0.0))),
    spec("request_rate", "traffic", false, (Some(50.0), 10.0, 80.0), "1m", "failover", ((150.0, 600.0), (2.0, 40.0))),
    spec("throttled_ratio", "traffic", true, (Some(0.05), 0.3, 0.02), "2m", "scale_out", ((0.0, 0.01), (0.1, 0.4))),
    spec("cache_hit_ratio", "cache", false, (Some(0.7), 0.4, 0.8), "30s", "flush_cache", ((0.85, 0.95), (0.2, 0.6))),
    spec("cost_per_hour", "cost", true, (Some(40.0), 80.0, 30.0), "10m", "scale_in", ((5.0, 20.0), (50.0, 90.0))),
    spec("disk_utilization", "utilization", true, (Some(0.85), 0.95, 0.8), "30s", "scale_out", ((0.2, 0.6), (0.9, 0.99))),
    spec("queue_lag_seconds", "saturation", true, (Some(30.0), 120.0, 20.0), "30s", "scale_out, throttle", ((0.5, 5.0), (40.0, 200.0))),
];

/// What a fault does: the objectives it breaks on its component, and those its
/// callers show (one interval later per hop).
const FAULT_KINDS: [(&[usize], &[usize]); 7] = [
    // overload
    (
        &[CPU, SATURATION, LATENCY_P99, LATENCY_P50, QUEUE_LAG],
        &[LATENCY_P99, LATENCY_P50],
    ),
    // memory leak
    (&[MEMORY, LATENCY_P99], &[LATENCY_P99]),
    // bad deploy
    (&[ERRORS, LATENCY_P99], &[DEP_ERRORS, ERRORS]),
    // outage
    (
        &[READY, ERRORS, REQUESTS],
        &[DEP_ERRORS, ERRORS, LATENCY_P99],
    ),
    // pool exhaustion
    (&[POOL, LATENCY_P99, LATENCY_P50], &[LATENCY_P99]),
    // cache failure
    (&[CACHE, LATENCY_P50], &[LATENCY_P99]),
    // throttled / disk
    (&[THROTTLED, DISK], &[]),
];

/// Layers of the dependency DAG: 3 for 10 components, 5 for 100, 8 for 1,000, 10 for
/// 10,000 (call depth grows with the logarithm of the system's size).
fn layers(n: usize) -> usize {
    ((2.5 * (n.max(2) as f64).log10()).round() as usize).clamp(2, n.max(2))
}

/// The layered DAG: `(name, depends_on)` per component, entry points first. A
/// component depends on 2 or 3 neighbouring components of the next layer (services
/// call within their domain), so what one component reaches grows with depth, not
/// with the system.
pub fn layered_dag(n: usize, rng: &mut Rng) -> Vec<(String, Vec<String>)> {
    let l = layers(n);
    let width = n.div_ceil(l);
    let sizes: Vec<usize> = (0..l)
        .map(|k| width.min(n.saturating_sub(k * width)))
        .filter(|&w| w > 0)
        .collect();
    let name = |layer: usize, i: usize| format!("c{layer}-{i}");
    let mut out = Vec::with_capacity(n);
    for (layer, &w) in sizes.iter().enumerate() {
        for i in 0..w {
            let mut deps = Vec::new();
            if let Some(&next) = sizes.get(layer + 1) {
                let center = i * next / w;
                let mut picks = vec![center, (center + 1) % next];
                if rng.chance(0.5) {
                    picks.push((center + next - 1) % next);
                }
                picks.sort_unstable();
                picks.dedup();
                deps = picks.into_iter().map(|j| name(layer + 1, j)).collect();
            }
            out.push((name(layer, i), deps));
        }
    }
    out
}

/// The charter text of the synthetic system.
pub fn charter_yaml(dag: &[(String, Vec<String>)]) -> String {
    let mut y = String::from(
        "name: scale\ninterval: 15s\nmode: autonomous\nsource:\n  simulator: {}\n\
         actuators:\n  sim: { simulator: {} }\ncomponents:\n",
    );
    for (k, (name, deps)) in dag.iter().enumerate() {
        let zone = if k % 2 == 0 { "a" } else { "b" };
        let _ = writeln!(
            y,
            "  - {{ name: {name}, depends_on: [{}], actuator: sim, replicas: {{ min: 2, max: 10 }}, zone: {zone} }}",
            deps.join(", ")
        );
    }
    y.push_str("objectives:\n");
    for s in &SPECS {
        let _ = writeln!(y, "  - name: {}\n    metric: scale_{}", s.name, s.name);
        let _ = writeln!(y, "    signal: {}", s.signal);
        let dir = if s.above { "above" } else { "below" };
        let warning = s
            .warning
            .map_or(String::new(), |w| format!("warning: {w}, "));
        let _ = writeln!(
            y,
            "    {dir}: {{ {warning}critical: {}, clear: {} }}",
            s.critical, s.clear
        );
        let _ = writeln!(y, "    for: {}\n    remedies: [{}]", s.for_, s.remedies);
    }
    y.push_str(
        "actions:\n\
         \x20 scale_out: { cost: 1, step: 2, time_to_effect: 2m }\n\
         \x20 scale_in: { cost: 1, step: 1, time_to_effect: 1m }\n\
         \x20 restart: { cost: 3, time_to_effect: 90s }\n\
         \x20 rollback: { cost: 4, time_to_effect: 1m }\n\
         \x20 throttle: { cost: 3, time_to_effect: 30s, params: { rate: \"250\" } }\n\
         \x20 circuit_break: { cost: 3, time_to_effect: 30s }\n\
         \x20 failover: { cost: 5, time_to_effect: 1m }\n\
         \x20 flush_cache: { cost: 2, time_to_effect: 30s }\n\
         \x20 reconfigure: { cost: 3, time_to_effect: 1m, params: { key: pool_size, value: \"40\" } }\n\
         guardrails:\n\
         \x20 max_actions_per_hour: 20\n\
         \x20 cooldown: 5m\n\
         \x20 max_concurrent: 2\n\
         \x20 auto_approve_max_cost: 5\n\
         \x20 approval_timeout: 15m\n\
         \x20 max_attempts_per_incident: 3\n",
    );
    y
}

/// A fault in progress: the series it pushes, with their target values and the
/// cycle from which each starts to move (callers later than the component).
struct Fault {
    age: u32,
    duration: u32,
    ramp: u32,
    series: Vec<(usize, f64, u32)>,
}

/// Samples of every series, one interval at a time, with violation churn.
///
/// About 1.5 % of components (at least one) have a fault at any time; faults last ten
/// minutes on average (40 intervals, at least 8), ramp up over 1–4 intervals, and spread to
/// each direct caller with probability 0.6 and on to its callers with 0.6 again, one
/// interval later per hop. On top: noise of 5 % of each series' level, one-sample
/// breaches (0.05 % of samples: pending episodes that resolve) and missing values
/// (0.02 %: Unknown).
pub struct Generator {
    rng: Rng,
    /// Series `s` is objective `s / n` on component `s % n` (charter order).
    n: usize,
    level: Vec<f64>,
    faults: Vec<Fault>,
    faulty: Vec<bool>,
    callers: Vec<Vec<usize>>,
    samples: Vec<Sample>,
    /// Deploys behind bad-deploy faults, not yet reported.
    changes: Vec<Change>,
    names: Vec<String>,
}

impl Generator {
    fn new(charter: &Charter, mut rng: Rng) -> Self {
        let names: Vec<String> = charter.components.iter().map(|c| c.name.clone()).collect();
        let n = names.len();
        let index: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let callers = names
            .iter()
            .map(|c| {
                charter
                    .topology
                    .callers(c)
                    .filter_map(|x| index.get(x).copied())
                    .collect()
            })
            .collect();
        let mut level = Vec::with_capacity(OBJECTIVES * n);
        let mut samples = Vec::with_capacity(OBJECTIVES * n);
        for (o, spec) in SPECS.iter().enumerate() {
            debug_assert_eq!(charter.objectives[o].name, spec.name);
            for c in &names {
                level.push(if o == READY {
                    rng.between(spec.healthy.0, spec.healthy.1).round()
                } else {
                    rng.between(spec.healthy.0, spec.healthy.1)
                });
                samples.push(Sample {
                    objective: spec.name.to_string(),
                    component: c.clone(),
                    at: EPOCH,
                    value: None,
                });
            }
        }
        let mut g = Generator {
            rng,
            n,
            level,
            faults: Vec::new(),
            faulty: vec![false; n],
            callers,
            samples,
            changes: Vec::new(),
            names,
        };
        // Start from the stationary mix, faults at every age.
        let share = g.faulty_share();
        for c in 0..n {
            if g.rng.chance(share) {
                let age = g.rng.below(FAULT_CYCLES as usize) as u32;
                g.start_fault(c, age, EPOCH);
            }
        }
        g
    }

    /// 1.5 % of components, but at least one on average (a 10-component system is
    /// not idle).
    fn faulty_share(&self) -> f64 {
        FAULTY_SHARE.max(1.0 / self.n.max(1) as f64)
    }

    fn start_fault(&mut self, c: usize, age: u32, now: Timestamp) {
        let rng = &mut self.rng;
        let kind = rng.below(FAULT_KINDS.len());
        let (own, inherited) = FAULT_KINDS[kind];
        // 8 intervals plus an exponential tail: a mean of FAULT_CYCLES.
        let duration = (8.0 - (FAULT_CYCLES - 8.0) * (1.0 - rng.f64()).ln()).min(400.0) as u32;
        let ramp = 1 + rng.below(4) as u32;
        let mut series = Vec::new();
        let target = |rng: &mut Rng, o: usize| {
            let (lo, hi) = SPECS[o].faulty;
            rng.between(lo, hi)
        };
        for &o in own {
            series.push((o * self.n + c, target(rng, o), 0));
        }
        // Symptoms climb the callers, one hop per interval.
        let mut frontier = vec![c];
        for hop in 1..=2u32 {
            let mut next = Vec::new();
            for &x in &frontier {
                for &caller in &self.callers[x] {
                    if rng.chance(SPREAD) {
                        next.push(caller);
                        for &o in inherited {
                            series.push((o * self.n + caller, target(rng, o), hop));
                        }
                    }
                }
            }
            frontier = next;
        }
        if kind == 2 {
            self.changes.push(Change {
                component: self.names[c].clone(),
                kind: ChangeKind::Deploy,
                at: now.minus(INTERVAL),
                by: "ci".into(),
                description: "release".into(),
            });
        }
        self.faulty[c] = true;
        self.faults.push(Fault {
            age,
            duration: duration.max(age + 1),
            ramp,
            series,
        });
    }

    /// Advance one interval: faults end and start, then every series gets a value.
    fn next(&mut self, now: Timestamp) -> (&[Sample], Vec<Change>) {
        let n = self.n;
        let mut ended = Vec::new();
        self.faults.retain_mut(|f| {
            f.age += 1;
            let done = f.age >= f.duration;
            if done {
                ended.push(f.series[0].0 % n);
            }
            !done
        });
        for c in ended {
            self.faulty[c] = false;
        }
        let start = self.faulty_share() / FAULT_CYCLES;
        for c in 0..n {
            if !self.faulty[c] && self.rng.chance(start) {
                self.start_fault(c, 0, now);
            }
        }
        let mut pushed: Vec<Option<f64>> = vec![None; self.level.len()];
        for f in &self.faults {
            for &(s, target, delay) in &f.series {
                let progress = (f.age.saturating_sub(delay) as f64 / f.ramp as f64).min(1.0);
                if progress > 0.0 {
                    let base = self.level[s];
                    pushed[s] = Some(base + (target - base) * progress);
                }
            }
        }
        let rng = &mut self.rng;
        for (s, sample) in self.samples.iter_mut().enumerate() {
            let spec = &SPECS[s / n];
            let value = match pushed[s] {
                _ if rng.chance(MISSING) => None,
                Some(v) => Some(v * (1.0 + 0.05 * rng.gauss())),
                None if rng.chance(BLIP) => Some(rng.between(spec.faulty.0, spec.faulty.1)),
                None if s / n == READY => Some(self.level[s]),
                None => Some(self.level[s] * (1.0 + 0.05 * rng.gauss())),
            };
            sample.value = value.map(|v| {
                if spec.healthy.1 <= 1.0 && spec.faulty.1 <= 1.0 {
                    v.clamp(0.0, 1.0)
                } else {
                    v.max(0.0)
                }
            });
            sample.at = now;
        }
        (&self.samples, std::mem::take(&mut self.changes))
    }
}

/// Wall time of one cycle, per stage.
#[derive(Debug, Clone, Copy, Default)]
pub struct Phases {
    pub monitor: Duration,
    pub group: Duration,
    pub windows: Duration,
    pub diagnose: Duration,
    pub plan: Duration,
}

impl Phases {
    pub fn total(&self) -> Duration {
        self.monitor + self.group + self.windows + self.diagnose + self.plan
    }
}

/// What one cycle did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Activity {
    /// Components with a fault.
    pub faulty: usize,
    pub transitions: usize,
    pub open_violations: usize,
    pub incidents: usize,
    /// Distinct components among the members of the largest incident.
    pub largest_incident: usize,
    pub diagnosed: usize,
    /// Metric windows handed to `diagnose`, over every diagnosis of the cycle.
    pub windows: usize,
    pub decisions: usize,
    pub acts: usize,
}

struct IncidentRt {
    incident: Incident,
    members: BTreeMap<String, Violation>,
    diagnosis: Option<Diagnosis>,
    dirty: bool,
}

/// The synthetic system and the loop's state over it.
pub struct Workload {
    pub charter: Charter,
    generator: Generator,
    now: Timestamp,
    started: Timestamp,
    detector: Detector,
    history: History,
    latest: HashMap<(String, String), Option<f64>>,
    episodes: VecDeque<Episode>,
    changes: Vec<Change>,
    incidents: BTreeMap<u64, IncidentRt>,
    next_incident: u64,
    zones: BTreeMap<String, String>,
    analysis: RankOptions,
    guard: GuardState,
    knowledge: KnowledgeView,
    states: HashMap<String, ComponentState>,
    /// What-if: a resolved violation leaves its incident (the controller keeps it as
    /// a member until the incident closes).
    pub prune_resolved: bool,
}

impl Workload {
    /// `n` components, seeded.
    pub fn new(n: usize, seed: u64) -> anyhow::Result<Self> {
        let mut rng = Rng(seed);
        let dag = layered_dag(n, &mut rng);
        let (charter, _warnings) = parse_charter(&charter_yaml(&dag), "scale.yaml", Path::new("."))
            .map_err(|e| anyhow::anyhow!("the synthetic charter is invalid: {e}"))?;
        anyhow::ensure!(
            charter.components.len() == n && charter.objectives.len() == OBJECTIVES,
            "the synthetic charter has {} components and {} objectives",
            charter.components.len(),
            charter.objectives.len()
        );
        let zones = charter
            .components
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.zone.clone()?)))
            .collect();
        // What the simulator's actuator describes: replicas, a previous version, a
        // standby zone.
        let states = charter
            .components
            .iter()
            .map(|c| {
                let zone = c.zone.clone().unwrap_or_default();
                let state = ComponentState {
                    replicas: Some(3),
                    version: Some("v2".into()),
                    previous_version: Some("v1".into()),
                    standby_zone: Some(if zone == "a" { "b" } else { "a" }.into()),
                    zone: Some(zone),
                    ..ComponentState::default()
                };
                (c.name.clone(), state)
            })
            .collect();
        let generator = Generator::new(&charter, Rng(seed ^ 0x5CA1_E000));
        Ok(Workload {
            history: History::new(Duration::from_secs(3600).max(charter.interval * 20)),
            knowledge: KnowledgeView::with_learning(charter.learning.clone()),
            charter,
            generator,
            now: EPOCH,
            started: EPOCH,
            detector: Detector::new(),
            latest: HashMap::new(),
            episodes: VecDeque::new(),
            changes: Vec::new(),
            incidents: BTreeMap::new(),
            next_incident: 1,
            zones,
            analysis: RankOptions::default(),
            guard: GuardState::default(),
            states,
            prune_resolved: false,
        })
    }

    /// Number of series (objective × component pairs).
    pub fn series(&self) -> usize {
        self.generator.samples.len()
    }

    /// Run until the loop is in its steady state: an hour of intervals fills the
    /// history window (monitor and grouping only, as the analysis of those early
    /// cycles does not change what later cycles cost), then `cycles` full cycles. The
    /// episode log is then extended back over a week by repeating the last hour's,
    /// as a loop that has run for a week has it (at most 100,000, as the controller
    /// keeps).
    pub fn warm_up(&mut self, cycles: usize) {
        let fill = (Duration::from_secs(3600).as_secs() / INTERVAL.as_secs()) as usize;
        for _ in 0..fill {
            self.cycle_with(false);
        }
        let hour: Vec<Episode> = self.episodes.iter().cloned().collect();
        let keep = self.analysis.frequency.baseline + self.analysis.frequency.recent;
        let span = Duration::from_secs(3600);
        let mut older: Vec<Episode> = Vec::new();
        let mut k = 1u32;
        while !hour.is_empty() && span * k < keep && older.len() + hour.len() < MAX_EPISODES {
            older.extend(hour.iter().rev().map(|e| Episode {
                at: e.at.minus(span * k),
                ..e.clone()
            }));
            k += 1;
        }
        older.truncate(MAX_EPISODES.saturating_sub(hour.len()));
        older.reverse();
        self.episodes = older.into_iter().chain(hour).collect();
        self.started = self.now.minus(keep);
        for _ in 0..cycles {
            self.cycle();
        }
    }

    /// One interval: new samples (not timed), then one timed cycle of the loop.
    pub fn cycle(&mut self) -> (Phases, Activity) {
        self.cycle_with(true)
    }

    fn cycle_with(&mut self, analyze: bool) -> (Phases, Activity) {
        self.now = self.now.plus(INTERVAL);
        let now = self.now;
        let faulty = self.generator.faulty.iter().filter(|&&f| f).count();
        let (raw, new_changes) = self.generator.next(now);
        let mut phases = Phases::default();
        let mut activity = Activity {
            faulty,
            ..Activity::default()
        };

        // Monitor.
        let t = Instant::now();
        let samples: Vec<Sample> = raw
            .iter()
            .filter(|s| self.charter.topology.contains(&s.component))
            .cloned()
            .collect();
        self.history.record(&samples, now);
        for s in &samples {
            self.latest.insert(
                (s.objective.clone(), s.component.clone()),
                s.value.filter(|v| v.is_finite()),
            );
        }
        self.changes.extend(new_changes);
        let horizon = now.minus(CHANGE_HORIZON);
        self.changes.retain(|c| c.at >= horizon);
        let transitions = self.detector.update(&self.charter, &samples, now);
        self.guard.frozen = self
            .detector
            .unknown()
            .map(|(_, c)| c.to_string())
            .collect();
        phases.monitor = t.elapsed();
        activity.transitions = transitions.len();

        // Group: as `Controller::observe` does after detection.
        let t = Instant::now();
        for tr in transitions {
            let v = tr.violation;
            let key = v.key();
            let mut incident_id = self
                .incidents
                .iter()
                .find(|(_, i)| i.members.contains_key(&key))
                .map(|(id, _)| *id);
            if incident_id.is_none() && v.state == ViolationState::Firing {
                let open: Vec<&Incident> = self.incidents.values().map(|i| &i.incident).collect();
                let joined = assign_incident(
                    &v.component,
                    open,
                    |inc| {
                        self.incidents
                            .get(&inc.id)
                            .map(|rt| rt.members.values().map(|m| m.component.clone()).collect())
                            .unwrap_or_default()
                    },
                    &self.charter.topology,
                )
                .or_else(|| self.burst_incident(&v));
                let id = joined.unwrap_or_else(|| {
                    let id = self.next_incident;
                    self.next_incident += 1;
                    self.incidents.insert(
                        id,
                        IncidentRt {
                            incident: Incident {
                                id,
                                opened_at: now,
                                state: IncidentState::Open,
                                violations: Vec::new(),
                                root_cause: None,
                                resolved_at: None,
                                attempts: 0,
                            },
                            members: BTreeMap::new(),
                            diagnosis: None,
                            dirty: true,
                        },
                    );
                    id
                });
                incident_id = Some(id);
            }
            if let Some(id) = incident_id
                && let Some(rt) = self.incidents.get_mut(&id)
            {
                if !rt.incident.violations.contains(&key) {
                    rt.incident.violations.push(key.clone());
                }
                rt.members.insert(key, v.clone());
                rt.dirty = true;
            }
            if tr
                .from
                .is_none_or(|f| !matches!(f, ViolationState::Pending | ViolationState::Firing))
                && matches!(v.state, ViolationState::Pending | ViolationState::Firing)
            {
                self.episodes.push_back(Episode {
                    objective: v.objective.clone(),
                    component: v.component.clone(),
                    at: v.since,
                });
                let keep = self.analysis.frequency.baseline + self.analysis.frequency.recent;
                while self.episodes.len() > MAX_EPISODES
                    || self
                        .episodes
                        .front()
                        .is_some_and(|e| e.at < now.minus(keep))
                {
                    self.episodes.pop_front();
                }
            }
        }
        let active: Vec<Violation> = self.detector.active().cloned().collect();
        activity.open_violations = active.len();
        for v in active {
            for rt in self.incidents.values_mut() {
                if let Some(m) = rt.members.get_mut(&v.key())
                    && m != &v
                {
                    *m = v.clone();
                    rt.dirty = true;
                }
            }
        }
        if self.prune_resolved {
            for rt in self.incidents.values_mut() {
                rt.members
                    .retain(|_, v| v.state != ViolationState::Resolved);
            }
        }
        // Resolution (the controller runs it after the analysis; nothing analysed
        // depends on the order, as resolved incidents are not diagnosed).
        self.incidents.retain(|_, rt| {
            rt.members.values().any(|v| {
                matches!(
                    v.state,
                    ViolationState::Firing | ViolationState::Pending | ViolationState::Unknown
                )
            })
        });
        phases.group = t.elapsed();
        activity.incidents = self.incidents.len();
        activity.largest_incident = self
            .incidents
            .values()
            .map(|rt| {
                let c: BTreeSet<&str> = rt.members.values().map(|v| v.component.as_str()).collect();
                c.len()
            })
            .max()
            .unwrap_or(0);
        if !analyze {
            return (phases, activity);
        }

        // Analyze.
        let episodes: &[Episode] = self.episodes.make_contiguous();
        for rt in self.incidents.values_mut() {
            if !rt.dirty || rt.incident.state.is_closed() {
                continue;
            }
            rt.dirty = false;
            let t = Instant::now();
            let members: Vec<Violation> = rt.members.values().cloned().collect();
            let series = self.history.incident_series(&self.charter, &members);
            phases.windows += t.elapsed();
            let t = Instant::now();
            let d = diagnose(DiagnosisInput {
                incident_id: rt.incident.id,
                now,
                violations: &members,
                series: &series,
                topology: Some(&self.charter.topology),
                zones: Some(&self.zones),
                changes: &self.changes,
                episodes,
                observed_since: self.started,
                target: None,
                options: &self.analysis,
            });
            if let Some(root) = d.root() {
                rt.incident.root_cause = Some(root.component.clone());
                if rt.incident.state == IncidentState::Open {
                    rt.incident.state = IncidentState::Diagnosed;
                }
            }
            rt.diagnosis = Some(d);
            phases.diagnose += t.elapsed();
            activity.diagnosed += 1;
            activity.windows += series.len();
        }

        // Plan: every diagnosed incident, every cycle (as when none of them has a
        // policy pending or running: an upper bound of the planner's work).
        let t = Instant::now();
        for rt in self.incidents.values() {
            let Some(diagnosis) = &rt.diagnosis else {
                continue;
            };
            if diagnosis.hypotheses.is_empty() {
                continue;
            }
            let states: HashMap<String, ComponentState> = diagnosis
                .hypotheses
                .iter()
                .filter_map(|h| Some((h.component.clone(), self.states.get(&h.component)?.clone())))
                .collect();
            let members: Vec<Violation> = rt.members.values().cloned().collect();
            let decision = decide(PlanInput {
                charter: &self.charter,
                incident: &rt.incident,
                diagnosis,
                violations: &members,
                knowledge: &self.knowledge,
                guard: &self.guard,
                states: &states,
                tried: &[],
                policy_id: 1,
                now,
            });
            activity.decisions += 1;
            activity.acts += usize::from(matches!(decision, Decision::Act(_)));
        }
        phases.plan = t.elapsed();
        (phases, activity)
    }

    /// As `Controller::burst_incident`: the open incident a violation unrelated by
    /// topology joins because its onset is in the same burst as a member's.
    fn burst_incident(&self, v: &Violation) -> Option<u64> {
        let onsets: Vec<Timestamp> = self.episodes.iter().map(|e| e.at).collect();
        let bursts = find_bursts(&onsets, &self.analysis.burst);
        let burst = bursts.iter().find(|b| b.contains(v.since))?;
        self.incidents
            .iter()
            .find(|(_, rt)| {
                !rt.incident.state.is_closed()
                    && rt.members.values().any(|m| burst.contains(m.since))
            })
            .map(|(id, _)| *id)
    }
}
