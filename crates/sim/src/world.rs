//! The world: services, replicas and faults advanced in fixed steps of virtual time.
//!
//! One step (a) starts faults and deploys that are due and applies delayed effects of
//! actions (a rollback to a version that cannot start stalls a replica short), (b)
//! moves replicas through restarts, leaks and OOM kills, (c) pushes the offered load
//! down the dependency graph callers-first, (d) computes latency and errors
//! dependencies-first, and (e) records every metric with a little seeded noise.
//! Random draws per step do not depend on the state, so two runs with the same seed
//! see the same noise even when different actions are taken.

use crate::fault::{Fault, FaultEffect, GroundTruth};
use crate::flap::Flap;
use crate::rng::{Rng, hash_str, mix, unit};
use crate::scenario::{Deploy, Scenario, Traffic, TrafficPattern};
use crate::topology::{ServiceSpec, topological_order};
use charter_model::{Change, ChangeKind, Timestamp};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Names of the metrics every service exports, in a fixed order.
pub const METRICS: [&str; 16] = [
    "westworld_request_rate",
    "westworld_latency_p50_seconds",
    "westworld_latency_p99_seconds",
    "westworld_error_ratio",
    "westworld_cpu_utilization",
    "westworld_memory_utilization",
    "westworld_saturation",
    "westworld_ready_replicas",
    "westworld_cache_hit_ratio",
    "westworld_pool_utilization",
    "westworld_throttled_ratio",
    "westworld_restarts_total",
    "westworld_dependency_error_ratio",
    "westworld_circuit_open",
    "westworld_cost_per_hour",
    "westworld_deploy_revision",
];

const REQUEST_RATE: usize = 0;
const P50: usize = 1;
const P99: usize = 2;
const ERROR: usize = 3;
const CPU: usize = 4;
const MEMORY: usize = 5;
const SATURATION: usize = 6;
const READY: usize = 7;
const HIT: usize = 8;
const POOL: usize = 9;
const THROTTLED: usize = 10;
const RESTARTS: usize = 11;
const DEP_ERROR: usize = 12;
const CIRCUITS: usize = 13;
const COST: usize = 14;
const REVISION: usize = 15;

/// Standard deviation of the multiplicative noise on every reported value.
const METRIC_NOISE: f64 = 0.02;
/// Own error ratio of a healthy service (a few stray failures).
const BASE_ERROR: f64 = 0.0003;
/// Latencies are cut off here, as a client timeout would.
const MAX_LATENCY: f64 = 30.0;
/// Time for a flushed cache to warm back up to its hit ratio.
const CACHE_WARMUP_SECS: f64 = 30.0;
/// How long in-flight requests fail after an OOM kill.
const OOM_ERROR_SECS: f64 = 5.0;

/// How a caller uses one of its dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Call,
    /// The cache of a [`crate::topology::CacheSpec`].
    Cache,
    /// Where cache misses go.
    Backend,
}

#[derive(Debug, Clone)]
pub(crate) struct Edge {
    pub(crate) to: usize,
    pub(crate) ratio: f64,
    pub(crate) role: Role,
    /// Circuit breaker open: no calls; the requests that needed them fail fast (a
    /// cache's breaker sends every lookup to the backend instead).
    pub(crate) open: bool,
    /// Calls per served request this step (0 when open).
    frac: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct Replica {
    id: u64,
    /// Ready to serve from this virtual time (seconds).
    pub(crate) ready_at: f64,
    /// A scheduled restart (rolling restart), in virtual seconds.
    pub(crate) restart_at: Option<f64>,
    /// Leaked memory, as a fraction of the limit.
    pub(crate) leaked: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct CacheState {
    pub(crate) hit_ratio: f64,
    pub(crate) cache_edge: usize,
    pub(crate) flushed_at: Option<f64>,
}

#[derive(Debug, Clone)]
pub(crate) struct PoolState {
    pub(crate) edge: usize,
    /// Connections per replica now.
    pub(crate) size: u32,
    /// Connections per replica as configured by the scenario.
    pub(crate) configured: u32,
}

/// One service's live state.
#[derive(Debug, Clone)]
pub(crate) struct Svc {
    pub(crate) spec: ServiceSpec,
    pub(crate) edges: Vec<Edge>,
    pub(crate) replicas: Vec<Replica>,
    pub(crate) zone: String,
    pub(crate) standby_zone: String,
    pub(crate) version: String,
    pub(crate) previous_version: Option<String>,
    pub(crate) revision: u64,
    pub(crate) throttle: Option<f64>,
    pub(crate) cache: Option<CacheState>,
    pub(crate) pool: Option<PoolState>,
    pub(crate) restarts: u64,
    /// Versions that cannot start against the schema a one-way migration left.
    pub(crate) cannot_start: Vec<String>,
    /// Since when a rollout to such a version is stalled: replicas started since then
    /// (from its template) crash-loop, and so does the first one it replaced.
    pub(crate) stalled_since: Option<f64>,
    oom_until: f64,
    rng: Rng,
    // Per-step results (true values, before noise).
    offered: f64,
    admitted: f64,
    capacity: f64,
    served: f64,
    ready: u32,
    hit: f64,
    p50: f64,
    p99: f64,
    error: f64,
    metrics: [f64; METRICS.len()],
}

/// Fault effects on one service during one step.
#[derive(Debug, Clone, Copy)]
struct Fx {
    surge: f64,
    loss: f64,
    broken: bool,
    down: bool,
    bad_error: f64,
    leak_rate: f64,
    poisoned_hit: Option<f64>,
}

impl Default for Fx {
    fn default() -> Self {
        Fx {
            surge: 1.0,
            loss: 0.0,
            broken: false,
            down: false,
            bad_error: 0.0,
            leak_rate: 0.0,
            poisoned_hit: None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct FaultState {
    pub(crate) fault: Fault,
    pub(crate) target: usize,
    started: bool,
    pub(crate) cured: bool,
    /// The version a bad deploy introduced.
    bad_version: Option<String>,
    /// The zone an outage hit.
    zone: Option<String>,
    /// Services whose cache a poisoning affects.
    pub(crate) owners: Vec<usize>,
    /// Injected while the world ran ([`World::inject`]), not by the scenario.
    injected: bool,
}

impl FaultState {
    fn new(fault: Fault, target: usize, services: &[Svc], injected: bool) -> Self {
        let owners = if matches!(fault.effect, FaultEffect::CachePoisoning { .. }) {
            cache_owners(services, target)
        } else {
            Vec::new()
        };
        FaultState {
            fault,
            target,
            started: false,
            cured: false,
            bad_version: None,
            zone: None,
            owners,
            injected,
        }
    }

    /// Whether the fault acts on the world at `t`: started, not cured, and (unless it
    /// is a persistent state change) not past its duration.
    pub(crate) fn in_effect(&self, t: f64) -> bool {
        if self.fault.kind().is_persistent() {
            self.started && !self.cured
        } else {
            self.active(t)
        }
    }

    pub(crate) fn active(&self, t: f64) -> bool {
        self.started
            && !self.cured
            && self
                .fault
                .duration
                .is_none_or(|d| t < (self.fault.at + d).as_secs_f64())
    }
}

/// The services whose cache is `target` or belongs to `target`.
fn cache_owners(services: &[Svc], target: usize) -> Vec<usize> {
    (0..services.len())
        .filter(|&o| {
            services[o]
                .cache
                .as_ref()
                .is_some_and(|c| o == target || services[o].edges[c.cache_edge].to == target)
        })
        .collect()
}

/// An effect of an action that lands later.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    Version(String),
    Zone(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) at: f64,
    pub(crate) service: usize,
    pub(crate) effect: Effect,
}

#[derive(Debug, Clone)]
struct Recorded {
    at_ms: u64,
    component: String,
    kind: ChangeKind,
    description: String,
    by: String,
}

/// A stored result of [`World::apply`], replayed for a repeated idempotency key.
#[derive(Debug, Clone)]
pub(crate) enum Stored {
    Ok(charter_execute::Applied),
    Precondition(String),
    Unknown(String),
}

/// A fault of the world as it stands, from [`World::fault_reports`].
#[derive(Debug, Clone, PartialEq)]
pub struct FaultReport {
    /// The fault's index among the world's faults, the scenario's first.
    pub id: usize,
    pub truth: GroundTruth,
    /// Added while the world ran ([`World::inject`]) rather than by the scenario.
    pub injected: bool,
    /// Its start time has come.
    pub started: bool,
    /// It changes the world now: started, not over, not cured, and not routed
    /// around (a rolled-back version or a failed-over zone no longer suffers).
    pub acting: bool,
    /// Ended outright by its remedy (a restart ends a leak, a flush a poisoning).
    pub cured: bool,
}

/// Why [`World::inject`] refused a fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// The target is not a service of the world.
    #[error("unknown service `{target}` (services: {services})")]
    UnknownTarget { target: String, services: String },
    /// A parameter is out of range or the target cannot suffer this kind of fault.
    #[error("{0}")]
    Invalid(String),
}

/// The parameter ranges a scenario file enforces, for faults built in code.
fn check_effect(effect: &FaultEffect) -> Result<(), InjectError> {
    let invalid = |m: &str| Err(InjectError::Invalid(m.to_string()));
    match *effect {
        FaultEffect::TrafficSurge { factor } if !(factor.is_finite() && factor > 0.0) => {
            invalid("`factor` must be positive")
        }
        FaultEffect::MemoryLeak { rate } if !(rate.is_finite() && rate > 0.0) => {
            invalid("`rate` must be a positive fraction per minute")
        }
        FaultEffect::BadDeploy { error_ratio } if !(0.0..=1.0).contains(&error_ratio) => {
            invalid("`error_ratio` must be in [0, 1]")
        }
        FaultEffect::CachePoisoning { hit_ratio } if !(0.0..=1.0).contains(&hit_ratio) => {
            invalid("`hit_ratio` must be in [0, 1]")
        }
        FaultEffect::PoolExhaustion { pool_size: 0 } => invalid("`pool_size` must be at least 1"),
        FaultEffect::NoisyNeighbour { loss } if !(0.0..1.0).contains(&loss) => {
            invalid("`loss` must be in [0, 1)")
        }
        _ => Ok(()),
    }
}

/// The simulated system: deterministic for a scenario and a seed.
#[derive(Debug, Clone)]
pub struct World {
    pub(crate) seed: u64,
    step_ms: u64,
    elapsed_ms: u64,
    end: Duration,
    epoch: Timestamp,
    traffic: Traffic,
    traffic_rng: Rng,
    traffic_noise: f64,
    pub(crate) services: Vec<Svc>,
    pub(crate) index: HashMap<String, usize>,
    order: Vec<usize>,
    roots: Vec<usize>,
    pub(crate) faults: Vec<FaultState>,
    /// The scenario's deploys (service index, deploy), in time order, and how many
    /// have happened.
    deploys: Vec<(usize, Deploy)>,
    deploys_done: usize,
    /// The scenario's flaps, with their service and metric index.
    flaps: Vec<(usize, usize, Flap)>,
    pub(crate) pending: Vec<Pending>,
    changes: Vec<Recorded>,
    pub(crate) applied: HashMap<String, Stored>,
    /// Per idempotency key, how many times an action actually changed the world.
    pub(crate) effects: BTreeMap<String, u32>,
    next_replica: u64,
    fx: Vec<Fx>,
    inflow: Vec<f64>,
}

impl World {
    /// Build the world of a scenario at virtual time zero.
    ///
    /// A scenario that did not come through validation is still accepted: unknown
    /// dependencies and fault targets are ignored, and a cyclic graph is evaluated
    /// in declaration order.
    pub fn new(scenario: &Scenario, seed: u64) -> World {
        let index: HashMap<String, usize> = scenario
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        let mut next_replica = 0;
        let mut services = Vec::with_capacity(scenario.services.len());
        for spec in &scenario.services {
            let mut edges = Vec::new();
            for d in &spec.depends_on {
                if let Some(&to) = index.get(&d.name) {
                    let role = match &spec.cache {
                        Some(c) if c.dependency == d.name => Role::Cache,
                        Some(c) if c.backend == d.name => Role::Backend,
                        _ => Role::Call,
                    };
                    edges.push(Edge {
                        to,
                        ratio: d.call_ratio,
                        role,
                        open: false,
                        frac: 0.0,
                    });
                }
            }
            let edge_of = |name: &str| {
                spec.depends_on
                    .iter()
                    .filter(|d| index.contains_key(&d.name))
                    .position(|d| d.name == name)
            };
            let cache = spec.cache.as_ref().and_then(|c| {
                Some(CacheState {
                    hit_ratio: c.hit_ratio,
                    cache_edge: edge_of(&c.dependency)?,
                    flushed_at: None,
                })
            });
            let pool = spec.pool.as_ref().and_then(|p| {
                Some(PoolState {
                    edge: edge_of(&p.dependency)?,
                    size: p.size,
                    configured: p.size,
                })
            });
            let replicas = (0..spec.replicas.max(1))
                .map(|_| {
                    next_replica += 1;
                    Replica {
                        id: next_replica,
                        ready_at: 0.0,
                        restart_at: None,
                        leaked: 0.0,
                    }
                })
                .collect();
            services.push(Svc {
                spec: spec.clone(),
                edges,
                replicas,
                zone: spec.zone.clone(),
                standby_zone: spec.standby_zone.clone(),
                version: spec.version.clone(),
                previous_version: None,
                revision: 1,
                throttle: spec.throttle_rate,
                cache,
                pool,
                restarts: 0,
                cannot_start: Vec::new(),
                stalled_since: None,
                oom_until: f64::NEG_INFINITY,
                rng: Rng::new(mix(&[seed, hash_str(&spec.name)])),
                offered: 0.0,
                admitted: 0.0,
                capacity: 0.0,
                served: 0.0,
                ready: 0,
                hit: 1.0,
                p50: 0.0,
                p99: 0.0,
                error: 0.0,
                metrics: [0.0; METRICS.len()],
            });
        }
        let order = topological_order(&scenario.services)
            .unwrap_or_else(|_| (0..scenario.services.len()).collect());
        let mut called = vec![false; services.len()];
        for s in &services {
            for e in &s.edges {
                called[e.to] = true;
            }
        }
        let roots = (0..services.len()).filter(|&i| !called[i]).collect();
        let faults = scenario
            .faults
            .iter()
            .filter_map(|f| {
                let target = *index.get(&f.target)?;
                Some(FaultState::new(f.clone(), target, &services, false))
            })
            .collect();
        let mut deploys: Vec<(usize, Deploy)> = scenario
            .deploys
            .iter()
            .filter_map(|d| Some((*index.get(&d.target)?, d.clone())))
            .collect();
        deploys.sort_by_key(|(_, d)| d.at);
        let flaps = scenario
            .flaps
            .iter()
            .filter_map(|f| {
                let m = METRICS.iter().position(|n| *n == f.metric)?;
                Some((*index.get(&f.target)?, m, f.clone()))
            })
            .collect();
        let n = services.len();
        let mut world = World {
            seed,
            step_ms: (scenario.step.as_millis() as u64).max(1),
            elapsed_ms: 0,
            end: scenario.duration,
            epoch: Timestamp(0),
            traffic: scenario.traffic.clone(),
            traffic_rng: Rng::new(mix(&[seed, hash_str("traffic")])),
            traffic_noise: 0.0,
            services,
            index,
            order,
            roots,
            faults,
            deploys,
            deploys_done: 0,
            flaps,
            pending: Vec::new(),
            changes: Vec::new(),
            applied: HashMap::new(),
            effects: BTreeMap::new(),
            next_replica,
            fx: vec![Fx::default(); n],
            inflow: vec![0.0; n],
        };
        world.evaluate();
        world
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(self.elapsed_ms)
    }

    /// The scenario's duration (the world keeps running past it if asked).
    pub fn end(&self) -> Duration {
        self.end
    }

    /// The time of virtual zero, used to stamp changes.
    pub fn epoch(&self) -> Timestamp {
        self.epoch
    }

    /// Set the time of virtual zero.
    pub fn set_epoch(&mut self, epoch: Timestamp) {
        self.epoch = epoch;
    }

    /// The virtual wall-clock time now (`epoch + elapsed`).
    pub fn now(&self) -> Timestamp {
        self.epoch.plus(self.elapsed())
    }

    /// Service names, in declaration order.
    pub fn services(&self) -> Vec<String> {
        self.services.iter().map(|s| s.spec.name.clone()).collect()
    }

    /// The dependencies of a service, `None` if it is unknown.
    pub fn depends_on(&self, service: &str) -> Option<Vec<String>> {
        let i = *self.index.get(service)?;
        Some(self.services[i].spec.dependency_names())
    }

    /// The value of a metric for a service; `None` for an unknown name or service.
    pub fn metric(&self, name: &str, service: &str) -> Option<f64> {
        let m = METRICS.iter().position(|n| *n == name)?;
        let i = *self.index.get(service)?;
        Some(self.services[i].metrics[m])
    }

    /// Every metric of a service, in [`METRICS`] order.
    pub fn metrics(&self, service: &str) -> Option<Vec<(&'static str, f64)>> {
        let i = *self.index.get(service)?;
        Some(
            METRICS
                .iter()
                .zip(self.services[i].metrics)
                .map(|(n, v)| (*n, v))
                .collect(),
        )
    }

    /// The changes recorded since the last call, stamped `epoch + virtual time`.
    pub fn drain_changes(&mut self) -> Vec<Change> {
        let epoch = self.epoch;
        self.changes
            .drain(..)
            .map(|r| Change {
                at: epoch.plus(Duration::from_millis(r.at_ms)),
                component: r.component,
                kind: r.kind,
                description: r.description,
                by: r.by,
            })
            .collect()
    }

    /// Start `fault` now, at the current virtual time, and return its id (its index
    /// among the world's faults, the scenario's first).
    ///
    /// The fault's `at` is replaced by the current time. A state change (a bad deploy's
    /// new version, a pool's new size) happens at once; the effect on load, latency and
    /// errors shows in the metrics from the next step.
    pub fn inject(&mut self, mut fault: Fault) -> Result<usize, InjectError> {
        let Some(&target) = self.index.get(&fault.target) else {
            return Err(InjectError::UnknownTarget {
                target: fault.target,
                services: self.services().join(", "),
            });
        };
        check_effect(&fault.effect)?;
        if fault.duration.is_some_and(|d| d.is_zero()) {
            return Err(InjectError::Invalid("`duration` must be positive".into()));
        }
        let name = &self.services[target].spec.name;
        match fault.effect {
            FaultEffect::CachePoisoning { .. }
                if cache_owners(&self.services, target).is_empty() =>
            {
                return Err(InjectError::Invalid(format!(
                    "`{name}` neither has nor is a cache"
                )));
            }
            FaultEffect::PoolExhaustion { .. } if self.services[target].pool.is_none() => {
                return Err(InjectError::Invalid(format!(
                    "`{name}` has no connection pool"
                )));
            }
            _ => {}
        }
        fault.at = self.elapsed();
        let id = self.faults.len();
        let state = FaultState::new(fault, target, &self.services, true);
        self.faults.push(state);
        self.start_faults(self.now_secs());
        Ok(id)
    }

    /// Every fault of the world (the scenario's, then the injected ones) with its
    /// ground truth and whether it acts now.
    pub fn fault_reports(&self) -> Vec<FaultReport> {
        let t = self.now_secs();
        self.faults
            .iter()
            .enumerate()
            .map(|(id, f)| FaultReport {
                id,
                truth: GroundTruth {
                    kind: f.fault.kind(),
                    root_cause: f.fault.target.clone(),
                    remedy: f.fault.remedy,
                    at: f.fault.at,
                    until: f.fault.until(),
                },
                injected: f.injected,
                started: f.started,
                acting: self.acting(f, t),
                cured: f.cured,
            })
            .collect()
    }

    /// Per idempotency key given to [`World::apply`], how many times an action with
    /// that key changed the world: 1 for an applied action, 0 for a refused one, and
    /// never more, since a repeated key is answered from the first call's result.
    pub fn effects(&self) -> &BTreeMap<String, u32> {
        &self.effects
    }

    /// Whether a fault changes the world at `t`; mirrors [`World::collect_effects`]:
    /// a rolled-back version or a zone failed over from no longer suffers.
    fn acting(&self, f: &FaultState, t: f64) -> bool {
        let svc = &self.services[f.target];
        match f.fault.effect {
            FaultEffect::BadDeploy { .. } => {
                f.started && !f.cured && f.bad_version.as_ref() == Some(&svc.version)
            }
            FaultEffect::DependencyOutage | FaultEffect::ZoneOutage => {
                f.active(t) && f.zone.as_ref() == Some(&svc.zone)
            }
            FaultEffect::PoolExhaustion { pool_size } => {
                f.in_effect(t) && svc.pool.as_ref().is_some_and(|p| p.size == pool_size)
            }
            _ => f.active(t),
        }
    }

    /// Step until virtual time is at least `t`.
    pub fn advance_to(&mut self, t: Duration) {
        let target = t.as_millis() as u64;
        while self.elapsed_ms < target {
            self.step();
        }
    }

    /// Advance one fixed step of virtual time.
    pub fn step(&mut self) {
        self.elapsed_ms += self.step_ms;
        let t = self.now_secs();
        self.start_faults(t);
        self.start_deploys(t);
        self.land_pending(t);
        self.collect_effects(t);
        self.advance_replicas(t);
        self.evaluate();
    }

    pub(crate) fn now_secs(&self) -> f64 {
        self.elapsed_ms as f64 / 1000.0
    }

    pub(crate) fn record(
        &mut self,
        component: usize,
        kind: ChangeKind,
        description: String,
        by: &str,
    ) {
        self.changes.push(Recorded {
            at_ms: self.elapsed_ms,
            component: self.services[component].spec.name.clone(),
            kind,
            description,
            by: by.to_string(),
        });
    }

    pub(crate) fn new_replica(&mut self, ready_at: f64) -> Replica {
        self.next_replica += 1;
        Replica {
            id: self.next_replica,
            ready_at,
            restart_at: None,
            leaked: 0.0,
        }
    }

    fn start_faults(&mut self, t: f64) {
        for k in 0..self.faults.len() {
            let f = &self.faults[k];
            if f.started || f.fault.at.as_secs_f64() > t {
                continue;
            }
            let target = f.target;
            let effect = f.fault.effect;
            self.faults[k].started = true;
            match effect {
                FaultEffect::BadDeploy { .. } => {
                    let svc = &mut self.services[target];
                    let old = svc.version.clone();
                    let new = next_version(&old);
                    svc.previous_version = Some(old.clone());
                    svc.version = new.clone();
                    svc.revision += 1;
                    self.faults[k].bad_version = Some(new.clone());
                    self.record(
                        target,
                        ChangeKind::Deploy,
                        format!("deployed {new} (was {old})"),
                        "ci",
                    );
                }
                FaultEffect::DependencyOutage | FaultEffect::ZoneOutage => {
                    self.faults[k].zone = Some(self.services[target].zone.clone());
                }
                FaultEffect::PoolExhaustion { pool_size } => {
                    if let Some(pool) = &mut self.services[target].pool {
                        let old = pool.size;
                        pool.size = pool_size;
                        self.record(
                            target,
                            ChangeKind::Config,
                            format!("pool_size {old} → {pool_size}"),
                            "gitops",
                        );
                    }
                }
                _ => {}
            }
        }
    }

    /// Roll out the deploys that are due: the next version, by `ci`.
    fn start_deploys(&mut self, t: f64) {
        while let Some((i, d)) = self.deploys.get(self.deploys_done).cloned() {
            if d.at.as_secs_f64() > t {
                break;
            }
            self.deploys_done += 1;
            let svc = &mut self.services[i];
            let old = svc.version.clone();
            let new = next_version(&old);
            svc.previous_version = Some(old.clone());
            svc.version = new.clone();
            svc.revision += 1;
            let mut description = format!("deployed {new} (was {old})");
            if d.one_way_migration {
                svc.cannot_start.push(old.clone());
                description.push_str(&format!(
                    " with a one-way schema migration: {old} can no longer start"
                ));
            }
            self.record(i, ChangeKind::Deploy, description, "ci");
        }
    }

    fn land_pending(&mut self, t: f64) {
        let mut k = 0;
        while k < self.pending.len() {
            if self.pending[k].at > t {
                k += 1;
                continue;
            }
            let p = self.pending.swap_remove(k);
            let svc = &mut self.services[p.service];
            match p.effect {
                Effect::Version(to) => {
                    if to != svc.version {
                        let stalls = svc.cannot_start.contains(&to);
                        let old = std::mem::replace(&mut svc.version, to.clone());
                        svc.previous_version = Some(old);
                        svc.revision += 1;
                        svc.stalled_since = if stalls {
                            svc.stalled_since.or(Some(t))
                        } else {
                            None
                        };
                        if stalls {
                            // The rollout replaced one replica and stops there: the
                            // others keep running the version that can start.
                            self.record(
                                p.service,
                                ChangeKind::Restart,
                                format!(
                                    "rollout to {to} stalled: its first replica is crash-looping ({to} cannot start against the migrated schema)"
                                ),
                                "kubelet",
                            );
                        }
                    }
                }
                Effect::Zone(to) => {
                    if to != svc.zone {
                        let old = std::mem::replace(&mut svc.zone, to);
                        svc.standby_zone = old;
                        // The standby replicas were started when the failover began.
                        for r in &mut svc.replicas {
                            r.leaked = 0.0;
                            r.restart_at = None;
                            r.ready_at = r.ready_at.min(t);
                        }
                    }
                }
            }
        }
    }

    fn collect_effects(&mut self, t: f64) {
        self.fx.fill(Fx::default());
        for f in &self.faults {
            let svc = &self.services[f.target];
            let fx = &mut self.fx[f.target];
            match f.fault.effect {
                FaultEffect::BadDeploy { error_ratio } => {
                    if f.started && !f.cured && f.bad_version.as_ref() == Some(&svc.version) {
                        fx.bad_error = fx.bad_error.max(error_ratio);
                    }
                }
                _ if !f.active(t) => {}
                FaultEffect::TrafficSurge { factor } => fx.surge *= factor,
                FaultEffect::MemoryLeak { rate } => fx.leak_rate += rate,
                FaultEffect::DependencyOutage => {
                    fx.broken |= f.zone.as_ref() == Some(&svc.zone);
                }
                FaultEffect::ZoneOutage => fx.down |= f.zone.as_ref() == Some(&svc.zone),
                FaultEffect::NoisyNeighbour { loss } => {
                    fx.loss = 1.0 - (1.0 - fx.loss) * (1.0 - loss);
                }
                FaultEffect::CachePoisoning { hit_ratio } => {
                    for &o in &f.owners {
                        self.fx[o].poisoned_hit = Some(hit_ratio);
                    }
                }
                FaultEffect::PoolExhaustion { .. } => {}
            }
        }
    }

    fn advance_replicas(&mut self, t: f64) {
        let dt = self.step_ms as f64 / 1000.0;
        for i in 0..self.services.len() {
            let fx = self.fx[i];
            let seed = self.seed;
            let svc = &mut self.services[i];
            let startup = svc.spec.startup_delay.as_secs_f64();
            let baseline = svc.spec.memory_baseline;
            let mut killed = 0;
            for r in &mut svc.replicas {
                if let Some(at) = r.restart_at
                    && at <= t
                {
                    r.restart_at = None;
                    r.leaked = 0.0;
                    r.ready_at = at + startup;
                }
                if fx.down || r.ready_at > t || fx.leak_rate <= 0.0 {
                    continue;
                }
                // Replicas leak at slightly different rates, so they are killed one by one.
                let jitter = 0.85 + 0.3 * unit(mix(&[seed, r.id]));
                r.leaked += fx.leak_rate / 60.0 * dt * jitter;
                if baseline + r.leaked >= 1.0 {
                    r.leaked = 0.0;
                    r.ready_at = t + startup;
                    killed += 1;
                }
            }
            if killed > 0 {
                svc.restarts += killed;
                svc.oom_until = t + OOM_ERROR_SECS;
                for _ in 0..killed {
                    self.record(
                        i,
                        ChangeKind::Restart,
                        "replica OOM-killed at its memory limit and restarted".into(),
                        "kubelet",
                    );
                }
            }
        }
    }

    /// Compute load, latency, errors and metrics for the current time.
    fn evaluate(&mut self) {
        let t = self.now_secs();
        let dt = self.step_ms as f64 / 1000.0;

        // Offered load at the entry points: pattern × autocorrelated noise.
        let sd = self.traffic.noise;
        let phi = (-dt / 30.0).exp();
        let z = self.traffic_rng.normal();
        self.traffic_noise = phi * self.traffic_noise + (1.0 - phi * phi).sqrt() * sd * z;
        let pattern = match self.traffic.pattern {
            TrafficPattern::Flat => 1.0,
            TrafficPattern::Diurnal => 1.0 + 0.2 * (std::f64::consts::TAU * t / 86_400.0).sin(),
        };
        let entry =
            self.traffic.rps * pattern * (1.0 + self.traffic_noise.clamp(-3.0 * sd, 3.0 * sd));

        self.inflow.fill(0.0);
        for &r in &self.roots {
            self.inflow[r] += entry;
        }
        for &i in &self.order {
            let fx = self.fx[i];
            let hit = self.services[i].cache.as_ref().map(|c| {
                let edge = &self.services[i].edges[c.cache_edge];
                if edge.open {
                    return 0.0;
                }
                let nominal = fx.poisoned_hit.unwrap_or(c.hit_ratio);
                let warm = c
                    .flushed_at
                    .map_or(1.0, |f| ((t - f) / CACHE_WARMUP_SECS).clamp(0.0, 1.0));
                // A failing cache answers nothing: its errors become misses.
                nominal * warm * (1.0 - self.services[edge.to].error)
            });
            let svc = &mut self.services[i];
            let offered = self.inflow[i] * fx.surge;
            let admitted = svc.throttle.map_or(offered, |r| offered.min(r));
            let ready = if fx.down {
                0
            } else if let Some(since) = svc.stalled_since {
                // Only replicas that were up before the stalled rollout still serve,
                // less the one it replaced.
                (svc.replicas.iter().filter(|r| r.ready_at <= since).count() as u32)
                    .saturating_sub(1)
            } else {
                svc.replicas.iter().filter(|r| r.ready_at <= t).count() as u32
            };
            let capacity = f64::from(ready) * svc.spec.capacity * (1.0 - fx.loss);
            let served = if fx.broken || fx.down {
                0.0
            } else {
                admitted.min(capacity)
            };
            let hit_now = hit.unwrap_or(1.0);
            for e in &mut svc.edges {
                e.frac = if e.open {
                    0.0
                } else if e.role == Role::Backend {
                    e.ratio * (1.0 - hit_now)
                } else {
                    e.ratio
                };
                self.inflow[e.to] += served * e.frac;
            }
            svc.offered = offered;
            svc.admitted = admitted;
            svc.capacity = capacity;
            svc.served = served;
            svc.ready = ready;
            svc.hit = hit_now;
        }

        for k in (0..self.order.len()).rev() {
            let i = self.order[k];
            let fx = self.fx[i];
            let svc = &self.services[i];

            // What the dependencies contribute, weighted by calls per request.
            let (mut dep_ok, mut dep_p50, mut dep_p99) = (1.0, 0.0, 0.0);
            for e in &svc.edges {
                if e.open {
                    // An open breaker fails the calls fast: the requests that needed
                    // the dependency get an error at once (latency traded for errors).
                    // Bypassing a cache is the exception: its misses go to the backend.
                    let lost = match e.role {
                        Role::Cache => 0.0,
                        Role::Backend => e.ratio * (1.0 - svc.hit),
                        Role::Call => e.ratio,
                    };
                    dep_ok *= 1.0 - lost.min(1.0);
                    continue;
                }
                if e.frac <= 0.0 {
                    continue;
                }
                let d = &self.services[e.to];
                dep_ok *= if e.frac <= 1.0 {
                    1.0 - e.frac * d.error
                } else {
                    (1.0 - d.error).powf(e.frac)
                };
                dep_p50 += e.frac * d.p50;
                dep_p99 += e.frac * d.p99;
            }

            // The connection pool: connections are held for about two queries.
            let (mut pool_u, mut wait) = (0.0, 0.0);
            if let Some(p) = &svc.pool {
                let e = &svc.edges[p.edge];
                let hold = 2.0 * self.services[e.to].p50;
                let demand = svc.served * e.frac * hold;
                let total = f64::from(p.size * svc.ready);
                pool_u = if total > 0.0 {
                    demand / total
                } else if demand > 0.0 {
                    10.0
                } else {
                    0.0
                };
                let rho = pool_u.min(0.97);
                wait = hold * rho.powi(8) / (1.0 - rho) * (1.0 + 10.0 * (pool_u - 1.0).max(0.0));
            }
            let pool_err = if pool_u > 1.0 {
                1.0 - 1.0 / pool_u
            } else {
                0.0
            };

            let base = svc.spec.base_latency.as_secs_f64();
            let (u, overload_err, own_p50, own_p99, cpu) = if svc.capacity <= 0.0 {
                let err = if svc.admitted > 0.0 { 1.0 } else { 0.0 };
                (0.0, err, base, base * 2.5, 0.0)
            } else {
                let u = svc.admitted / svc.capacity;
                let rho = u.min(0.97);
                let queue = 1.0 + rho / (1.0 - rho);
                let over = 1.0 + 10.0 * (u - 1.0).max(0.0);
                let p50 = base * queue * over;
                let p99 = p50 * (2.5 + 2.0 * u.min(1.0));
                let err = if u > 1.0 { 1.0 - 1.0 / u } else { 0.0 };
                if fx.broken {
                    // Requests fail fast: little work, no queueing.
                    (u, 0.0, base, base * 2.5, 0.05 * u.min(1.0))
                } else {
                    (u, err, p50, p99, u)
                }
            };
            let oom_err = if t < svc.oom_until {
                0.5 / svc.replicas.len().max(1) as f64
            } else {
                0.0
            };
            let broken = if fx.broken { 1.0 } else { 0.0 };
            let own_ok = (1.0 - BASE_ERROR)
                * (1.0 - overload_err)
                * (1.0 - pool_err)
                * (1.0 - fx.bad_error)
                * (1.0 - oom_err)
                * (1.0 - broken);
            let (dep_ok, dep_p50, dep_p99) = if fx.broken || fx.down || svc.served <= 0.0 {
                (1.0, 0.0, 0.0)
            } else {
                (dep_ok, dep_p50, dep_p99)
            };
            let error = (1.0 - own_ok * dep_ok).clamp(0.0, 1.0);
            let p50 = (own_p50 + wait + dep_p50).min(MAX_LATENCY);
            let p99 = (own_p99 + 3.0 * wait + dep_p99).min(MAX_LATENCY).max(p50);
            let saturation = (u - 1.0).max(0.0) + (pool_u - 1.0).max(0.0);
            let throttled = if svc.offered > 0.0 {
                1.0 - svc.admitted / svc.offered
            } else {
                0.0
            };
            let memory = svc
                .replicas
                .iter()
                .filter(|r| r.ready_at <= t)
                .map(|r| svc.spec.memory_baseline + r.leaked)
                .fold(svc.spec.memory_baseline, f64::max);
            let has_cache = svc.cache.is_some();
            let circuits = svc.edges.iter().filter(|e| e.open).count() as f64;
            let cost = svc.replicas.len() as f64 * svc.spec.price_per_hour;

            let svc = &mut self.services[i];
            svc.p50 = p50;
            svc.p99 = p99;
            svc.error = error;
            // A fixed number of draws per step, whatever the state (see module docs).
            let mut n = [0.0; 10];
            for x in &mut n {
                *x = svc.rng.factor(METRIC_NOISE);
            }
            let m = &mut svc.metrics;
            m[REQUEST_RATE] = svc.offered * n[0];
            m[P50] = p50 * n[1];
            m[P99] = (p99 * n[2]).max(m[P50]);
            m[ERROR] = (error * n[3]).min(1.0);
            m[CPU] = cpu * n[4];
            m[MEMORY] = (memory * n[5]).min(1.0);
            m[SATURATION] = saturation * n[6];
            m[READY] = f64::from(svc.ready);
            m[HIT] = if has_cache {
                (svc.hit * n[7]).min(1.0)
            } else {
                1.0
            };
            m[POOL] = pool_u * n[8];
            m[THROTTLED] = throttled;
            m[RESTARTS] = svc.restarts as f64;
            m[DEP_ERROR] = ((1.0 - dep_ok) * n[9]).clamp(0.0, 1.0);
            m[CIRCUITS] = circuits;
            m[COST] = cost;
            m[REVISION] = svc.revision as f64;
        }
        // A cache reports the hit ratio its owners see, weighted by their traffic (as a
        // cache server counts its own hits and misses).
        let mut seen = vec![(0.0, 0.0); self.services.len()];
        for svc in &self.services {
            if let Some(c) = &svc.cache {
                let to = svc.edges[c.cache_edge].to;
                seen[to].0 += svc.metrics[HIT] * svc.offered;
                seen[to].1 += svc.offered;
            }
        }
        for (svc, (hits, total)) in self.services.iter_mut().zip(seen) {
            if total > 0.0 {
                svc.metrics[HIT] = hits / total;
            }
        }
        // Flaps change the reported value only, after everything else is computed,
        // so no other metric and no other service sees them.
        let now = self.elapsed();
        for (i, m, flap) in &self.flaps {
            if flap.spiking(now) {
                let v = &mut self.services[*i].metrics[*m];
                *v *= flap.factor;
                if Flap::is_ratio(&flap.metric) {
                    *v = v.min(1.0);
                }
            }
        }
    }
}

/// `v1` → `v2`; anything else gets `-next` appended.
pub(crate) fn next_version(v: &str) -> String {
    match v.strip_prefix('v').and_then(|n| n.parse::<u64>().ok()) {
        Some(n) => format!("v{}", n + 1),
        None => format!("{v}-next"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        World::new(&Scenario::default_shop("t", Duration::from_secs(600)), 1)
    }

    #[test]
    fn unknown_metric_or_service_is_none() {
        let w = world();
        assert!(w.metric("westworld_error_ratio", "api").is_some());
        assert!(w.metric("westworld_error_ratio", "nope").is_none());
        assert!(w.metric("up", "api").is_none());
    }

    #[test]
    fn advance_to_steps_until_the_time() {
        let mut w = world();
        w.advance_to(Duration::from_millis(2500));
        assert_eq!(w.elapsed(), Duration::from_secs(3));
    }

    #[test]
    fn versions_increment() {
        assert_eq!(next_version("v1"), "v2");
        assert_eq!(next_version("v19"), "v20");
        assert_eq!(next_version("blue"), "blue-next");
    }

    #[test]
    fn injected_faults_start_at_the_current_time() {
        use crate::fault::FaultKind;
        let mut w = world();
        w.advance_to(Duration::from_secs(30));
        let id = w
            .inject(Fault::new(
                FaultKind::BadDeploy,
                "auth",
                Duration::from_secs(999),
            ))
            .expect("valid");
        assert_eq!(id, 0);
        // A state change lands at once.
        assert_eq!(
            w.describe("auth").expect("known").version.as_deref(),
            Some("v2")
        );
        let r = &w.fault_reports()[0];
        assert_eq!(r.truth.at, Duration::from_secs(30));
        assert!(r.injected && r.started && r.acting && !r.cured);

        // Rolled back, the bad deploy no longer acts, though it was not cured.
        let rollback = charter_model::Action::new(charter_model::ActionKind::Rollback, "auth");
        w.apply("rb", &rollback).expect("rolled back");
        w.advance_to(Duration::from_secs(120));
        let r = &w.fault_reports()[0];
        assert!(!r.acting && !r.cured);
        assert_eq!(w.effects().get("rb"), Some(&1));
    }

    #[test]
    fn inject_refuses_unknown_targets_and_bad_parameters() {
        use crate::fault::FaultKind;
        let mut w = world();
        let at = Duration::ZERO;
        assert!(matches!(
            w.inject(Fault::new(FaultKind::MemoryLeak, "nope", at)),
            Err(InjectError::UnknownTarget { .. })
        ));
        let surge = Fault::new(FaultKind::TrafficSurge, "api", at)
            .with_effect(FaultEffect::TrafficSurge { factor: f64::NAN });
        assert!(matches!(w.inject(surge), Err(InjectError::Invalid(_))));
        let pool = Fault::new(FaultKind::PoolExhaustion, "frontend", at);
        assert!(matches!(w.inject(pool), Err(InjectError::Invalid(_))));
        let short = Fault::new(FaultKind::ZoneOutage, "api", at).lasting(Duration::ZERO);
        assert!(matches!(w.inject(short), Err(InjectError::Invalid(_))));
        assert!(w.fault_reports().is_empty());
    }

    #[test]
    fn traffic_flows_down_the_graph() {
        let mut w = world();
        w.advance_to(Duration::from_secs(60));
        let rate = |s: &str| w.metric("westworld_request_rate", s).expect("known");
        assert!((rate("frontend") - 200.0).abs() < 30.0);
        assert!((rate("orders") - 100.0).abs() < 15.0);
        // db sees orders + auth + catalog's cache misses.
        assert!((rate("db") - 316.0).abs() < 40.0, "{}", rate("db"));
    }
}
