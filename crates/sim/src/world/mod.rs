//! The world: services, replicas and faults advanced in fixed steps of virtual time.
//!
//! One step (a) starts faults and deploys that are due and applies delayed effects of
//! actions (a rollback to a version that cannot start stalls a replica short), (b)
//! moves replicas through restarts, leaks and OOM kills, (c) pushes the offered load
//! down the dependency graph callers-first, (d) computes latency and errors
//! dependencies-first, and (e) records every metric with a little seeded noise.
//! Random draws per step do not depend on the state, so two runs with the same seed
//! see the same noise even when different actions are taken.
//!
//! - `state`: the live state of services, replicas, caches, pools and pending effects.
//! - `faults`: faults in force, injected while running, and their effects per step.
//! - `dynamics`: one step: deploys, delayed effects of actions, replicas through
//!   restarts, leaks and OOM kills.
//! - `metrics`: load, latency and errors computed per step, and the [`METRICS`] exported.
//!
//! The actions applied to the world are in [`crate::control`].

mod dynamics;
mod faults;
mod metrics;
mod state;

pub use faults::{FaultReport, InjectError};
pub(crate) use metrics::CACHE_WARMUP_SECS;
pub use metrics::METRICS;
pub(crate) use state::{Effect, Pending, Replica, Stored};

use crate::flap::Flap;
use crate::rng::{Rng, hash_str, mix};
use crate::scenario::{Deploy, MetricGap, Scenario, Traffic};
use crate::topology::topological_order;
use charter_model::{Change, ChangeKind, Timestamp};
use faults::{FaultState, Fx};
use state::{CacheState, Edge, PoolState, Recorded, Role, Svc};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

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
    /// The scenario's metric gaps, with their service index.
    gaps: Vec<(usize, MetricGap)>,
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
                let target = match f.kind().scope() {
                    crate::fault::TargetScope::Service => Some(*index.get(&f.target)?),
                    _ => None,
                };
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
        let gaps = scenario
            .metric_gaps
            .iter()
            .filter_map(|g| Some((*index.get(&g.target)?, g.clone())))
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
            gaps,
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

    /// The zone a service runs in now, `None` if it is unknown.
    pub fn zone(&self, service: &str) -> Option<String> {
        let i = *self.index.get(service)?;
        Some(self.services[i].zone.clone())
    }

    /// The node (host) a service runs on now, `None` if it is unknown: its declared
    /// node in its own zone, `node-<zone>` elsewhere (after a failover).
    pub fn node(&self, service: &str) -> Option<String> {
        let i = *self.index.get(service)?;
        Some(self.services[i].node())
    }

    /// Whether the service's metrics are missing now (a metric gap covers it).
    pub fn unobserved(&self, service: &str) -> bool {
        self.index.get(service).is_some_and(|&i| self.in_gap(i))
    }

    pub(crate) fn in_gap(&self, i: usize) -> bool {
        let now = self.elapsed();
        self.gaps.iter().any(|(s, g)| *s == i && g.covers(now))
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
                source: charter_model::ChangeSource::Simulator,
            })
            .collect()
    }

    /// Per idempotency key given to [`World::apply`], how many times an action with
    /// that key changed the world: 1 for an applied action, 0 for a refused one, and
    /// never more, since a repeated key is answered from the first call's result.
    pub fn effects(&self) -> &BTreeMap<String, u32> {
        &self.effects
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::{Fault, FaultEffect};
    use dynamics::next_version;

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
