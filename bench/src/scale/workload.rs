//! The synthetic system of `scale` and the real loop over it.
//!
//! [`Workload::new`] builds a charter of `n` components in a layered dependency DAG
//! with 15 objectives each (every objective applies to every component: `15 · n`
//! series), a generator of their samples with violation churn, and a
//! [`Controller`] on it: the one `charter run` uses, with a SQLite knowledge store
//! (in memory: the cost measured is the loop's, not the disk's fsyncs), an
//! in-process actuator that records what it is asked ([`Fleet`]; actions do not
//! change the churn) and a source that hands over the generated
//! samples ([`Feed`]). [`Workload::cycle`] generates one interval's samples (not
//! timed: that stands for the scrape) and runs one `Controller::tick`, whose
//! [`Stages`] time monitor (detection, history, grouping), analyze (windows and
//! diagnoses), plan and execute, each with its own store writes.
//!
//! A loop that has run for a week has a week of violation episodes behind its
//! frequency and burst tests: before the controller starts, the store is given the
//! onsets of one hour of the same churn (a detector over the generator), repeated
//! back over the week, which the controller reads back at start as it does after
//! any restart.

use async_trait::async_trait;
use charter_execute::{Actuator, ActuatorError, Applied};
use charter_knowledge::{SqliteStore, prelude::*};
use charter_model::{
    Action, Change, ChangeKind, Charter, ComponentState, Sample, Timestamp, ViolationState,
    parse_charter,
};
use charter_monitor::{Detector, MetricSource, Observation, SourceError};
use charter_orchestrator::{Controller, Event, Health, LoopMetrics, Stages};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
/// How far back the controller's frequency test looks (its baseline and recent
/// windows: a week and an hour).
const EPISODE_SPAN: Duration = Duration::from_secs(7 * 24 * 3600 + 3600);
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
                source: charter_model::ChangeSource::Simulator,
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

/// What one cycle did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Activity {
    /// Components with a fault.
    pub faulty: usize,
    pub transitions: usize,
    pub open_violations: usize,
    pub incidents: usize,
    /// Violations that ever joined the largest open incident.
    pub largest_incident: usize,
    pub diagnosed: usize,
    /// Metric windows handed to `diagnose`, over every diagnosis of the cycle.
    pub windows: usize,
    /// Plans decided (act, or no action).
    pub decisions: usize,
    /// Steps applied by the actuator.
    pub acts: usize,
}

/// The source of the synthetic system: hands over the samples generated for the
/// next tick.
#[derive(Default)]
pub struct Feed {
    next: Mutex<Option<Observation>>,
}

#[async_trait]
impl MetricSource for Feed {
    async fn observe(
        &self,
        _charter: &Charter,
        now: Timestamp,
    ) -> Result<Observation, SourceError> {
        let taken = self.next.lock().map(|mut n| n.take()).ok().flatten();
        taken.ok_or_else(|| SourceError::Unavailable(format!("no samples generated for {now}")))
    }
}

/// An in-process actuator over the synthetic system: it records what it applies
/// and describes every component as three replicas of `v2` (with `v1` before it
/// and a standby zone). Actions do not end faults: the churn is the same at every
/// size, whatever the guardrails let the loop do.
#[derive(Default)]
pub struct Fleet {
    applied: Mutex<HashMap<String, Applied>>,
}

#[async_trait]
impl Actuator for Fleet {
    async fn apply(&self, key: &str, action: &Action) -> Result<Applied, ActuatorError> {
        let mut applied = self
            .applied
            .lock()
            .map_err(|_| ActuatorError::Failed("fleet lock poisoned".into()))?;
        if let Some(a) = applied.get(key) {
            return Ok(a.clone());
        }
        let a = Applied {
            prior: BTreeMap::from([
                ("replicas".to_string(), "3".to_string()),
                ("version".to_string(), "v2".to_string()),
            ]),
            detail: format!("{action}"),
        };
        applied.insert(key.to_string(), a.clone());
        Ok(a)
    }

    async fn describe(&self, component: &str) -> Result<ComponentState, ActuatorError> {
        let odd = component.bytes().last().is_some_and(|b| b % 2 == 1);
        Ok(ComponentState {
            replicas: Some(3),
            version: Some("v2".into()),
            previous_version: Some("v1".into()),
            zone: Some(if odd { "b" } else { "a" }.into()),
            standby_zone: Some(if odd { "a" } else { "b" }.into()),
            ..ComponentState::default()
        })
    }

    async fn status(&self, key: &str) -> Result<Option<Applied>, ActuatorError> {
        Ok(self.applied.lock().ok().and_then(|a| a.get(key).cloned()))
    }
}

/// The synthetic system and the controller over it.
pub struct Workload {
    generator: Generator,
    now: Timestamp,
    runtime: tokio::runtime::Runtime,
    controller: Controller,
    feed: Arc<Feed>,
    health: Arc<Health>,
}

impl Workload {
    /// `n` components, seeded; the store already holds a week of violation onsets.
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
        let charter = Arc::new(charter);
        let gen_seed = seed ^ 0x5CA1_E000;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let store = runtime.block_on(SqliteStore::open_in_memory())?;
        let week = week_of_onsets(&charter, gen_seed);
        let week: Vec<(Option<charter_model::IncidentId>, charter_model::Violation)> =
            week.into_iter().map(|v| (None, v)).collect();
        runtime.block_on(store.record_violations(&week))?;
        let feed = Arc::new(Feed::default());
        let fleet = Arc::new(Fleet::default());
        let actuators: BTreeMap<String, Arc<dyn Actuator>> = charter
            .actuators
            .keys()
            .map(|name| (name.clone(), fleet.clone() as Arc<dyn Actuator>))
            .collect();
        let health = Arc::new(Health::default());
        let controller = runtime
            .block_on(Controller::new(
                charter.clone(),
                feed.clone(),
                actuators,
                Arc::new(store),
                EPOCH,
            ))?
            .with_health(health.clone(), LoopMetrics::unregistered());
        Ok(Workload {
            generator: Generator::new(&charter, Rng(gen_seed)),
            now: EPOCH,
            runtime,
            controller,
            feed,
            health,
        })
    }

    /// Number of series (objective × component pairs).
    pub fn series(&self) -> usize {
        self.generator.samples.len()
    }

    /// Run until the loop is in its steady state: an hour of cycles fills the
    /// history window, then `cycles` more.
    pub fn warm_up(&mut self, cycles: usize) -> anyhow::Result<()> {
        let fill = (Duration::from_secs(3600).as_secs() / INTERVAL.as_secs()) as usize;
        for _ in 0..fill + cycles {
            self.cycle()?;
        }
        Ok(())
    }

    /// One interval: new samples (not timed), then one tick of the controller.
    pub fn cycle(&mut self) -> anyhow::Result<(Stages, Activity)> {
        self.now = self.now.plus(INTERVAL);
        let now = self.now;
        let faulty = self.generator.faulty.iter().filter(|&&f| f).count();
        let (samples, changes) = self.generator.next(now);
        let observation = Observation {
            at: Some(now),
            samples: samples.to_vec(),
            changes,
            problems: Vec::new(),
        };
        if let Ok(mut next) = self.feed.next.lock() {
            *next = Some(observation);
        }
        let report = self.runtime.block_on(self.controller.tick(now))?;
        anyhow::ensure!(!report.blind, "the loop went blind at {now}");
        let snapshot = self.health.snapshot();
        let mut activity = Activity {
            faulty,
            open_violations: snapshot.violations.len(),
            incidents: snapshot.incidents.len(),
            largest_incident: snapshot
                .incidents
                .iter()
                .map(|i| i.violations.len())
                .max()
                .unwrap_or(0),
            diagnosed: report.diagnoses,
            windows: report.windows,
            ..Activity::default()
        };
        for e in &report.events {
            match e.event {
                Event::Violation { .. } => activity.transitions += 1,
                Event::PolicyDecided { .. } | Event::NoAction { .. } => activity.decisions += 1,
                Event::StepApplied { .. } => activity.acts += 1,
                _ => {}
            }
        }
        Ok((report.stages, activity))
    }
}

/// The onsets of one hour of the generator's churn (as a detector sees them),
/// repeated back over the week before [`EPOCH`] (at most [`MAX_EPISODES`]), as
/// pending violation records: what a loop that ran for a week has stored.
fn week_of_onsets(charter: &Charter, seed: u64) -> Vec<charter_model::Violation> {
    let mut generator = Generator::new(charter, Rng(seed));
    let mut detector = Detector::new();
    let mut hour = Vec::new();
    let mut now = EPOCH;
    let cycles = 3600 / INTERVAL.as_secs();
    for _ in 0..cycles {
        now = now.plus(INTERVAL);
        let (samples, _) = generator.next(now);
        for t in detector.update(charter, samples, now) {
            if t.from.is_none() && t.violation.state == ViolationState::Pending {
                hour.push(t.violation);
            }
        }
    }
    let span = Duration::from_secs(3600);
    let mut week = Vec::new();
    let mut k = 1u32;
    while !hour.is_empty() && span * k < EPISODE_SPAN && week.len() + hour.len() <= MAX_EPISODES {
        for v in &hour {
            let shift = |t: Timestamp| t.minus(span * k);
            let mut old = v.clone();
            old.since = shift(v.since);
            week.push(old);
        }
        k += 1;
    }
    week.sort_by_key(|v| v.since);
    week
}
