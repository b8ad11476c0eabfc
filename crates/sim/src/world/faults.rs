//! Faults in the world: their state, the ones injected while it runs, when each
//! acts, and the effects they have on each service during a step.

use super::World;
use super::dynamics::next_version;
use super::state::Svc;
use crate::fault::{Fault, FaultEffect, GroundTruth, TargetScope};
use charter_model::ChangeKind;

/// Fault effects on one service during one step.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fx {
    pub(super) surge: f64,
    pub(super) loss: f64,
    pub(super) broken: bool,
    pub(super) down: bool,
    pub(super) bad_error: f64,
    pub(super) leak_rate: f64,
    pub(super) poisoned_hit: Option<f64>,
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
    /// The target service; `None` for a zone or node fault.
    pub(crate) target: Option<usize>,
    /// The services it acts on: the target, or those in the zone or on the node,
    /// placed as at the start of the run, then as when it started.
    pub(crate) affected: Vec<usize>,
    /// Replicas of a cost overrun's target before the autoscaler added some.
    baseline_replicas: Option<u32>,
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
    pub(super) fn new(
        fault: Fault,
        target: Option<usize>,
        services: &[Svc],
        injected: bool,
    ) -> Self {
        let owners = match (fault.effect, target) {
            (FaultEffect::CachePoisoning { .. }, Some(t)) => cache_owners(services, t),
            _ => Vec::new(),
        };
        let affected = placed(services, &fault);
        FaultState {
            fault,
            target,
            affected,
            baseline_replicas: None,
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

/// The services a fault acts on where they run now: its target, or every service
/// running in its zone or on its node.
fn placed(services: &[Svc], fault: &Fault) -> Vec<usize> {
    (0..services.len())
        .filter(|&i| {
            let s = &services[i];
            match fault.kind().scope() {
                TargetScope::Service => s.spec.name == fault.target,
                TargetScope::Zone => s.zone == fault.target,
                TargetScope::Node => s.node() == fault.target,
            }
        })
        .collect()
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
        FaultEffect::NoisyNeighbour { loss }
        | FaultEffect::ZoneDegraded { loss }
        | FaultEffect::NodeStress { loss }
            if !(0.0..1.0).contains(&loss) =>
        {
            invalid("`loss` must be in [0, 1)")
        }
        FaultEffect::CostOverrun { factor } if !(factor.is_finite() && factor > 1.0) => {
            invalid("`factor` must be above 1 (the replicas are multiplied by it)")
        }
        _ => Ok(()),
    }
}

impl World {
    /// Start `fault` now, at the current virtual time, and return its id (its index
    /// among the world's faults, the scenario's first).
    ///
    /// The fault's `at` is replaced by the current time. A state change (a bad deploy's
    /// new version, a pool's new size) happens at once; the effect on load, latency and
    /// errors shows in the metrics from the next step.
    pub fn inject(&mut self, mut fault: Fault) -> Result<usize, InjectError> {
        let scope = fault.kind().scope();
        let target = match scope {
            TargetScope::Service => match self.index.get(&fault.target) {
                Some(&t) => Some(t),
                None => {
                    return Err(InjectError::UnknownTarget {
                        target: fault.target,
                        services: self.services().join(", "),
                    });
                }
            },
            TargetScope::Zone | TargetScope::Node => {
                if placed(&self.services, &fault).is_empty() {
                    return Err(InjectError::Invalid(format!(
                        "no service runs in {} `{}`",
                        scope.as_str(),
                        fault.target
                    )));
                }
                None
            }
        };
        check_effect(&fault.effect)?;
        if fault.duration.is_some_and(|d| d.is_zero()) {
            return Err(InjectError::Invalid("`duration` must be positive".into()));
        }
        let name = target.map_or(fault.target.as_str(), |t| &self.services[t].spec.name);
        let target_pool = target.and_then(|t| self.services[t].pool.as_ref());
        match fault.effect {
            FaultEffect::CachePoisoning { .. }
                if target.is_none_or(|t| cache_owners(&self.services, t).is_empty()) =>
            {
                return Err(InjectError::Invalid(format!(
                    "`{name}` neither has nor is a cache"
                )));
            }
            FaultEffect::PoolExhaustion { .. } if target_pool.is_none() => {
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
                    scope: f.fault.kind().scope(),
                    affected: f
                        .affected
                        .iter()
                        .map(|&i| self.services[i].spec.name.clone())
                        .collect(),
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

    /// Whether a fault changes the world at `t`; mirrors [`World::collect_effects`]:
    /// a rolled-back version or a zone failed over from no longer suffers.
    fn acting(&self, f: &FaultState, t: f64) -> bool {
        let Some(target) = f.target else {
            // A zone or node fault acts while some service still runs there.
            return f.active(t) && !placed(&self.services, &f.fault).is_empty();
        };
        let svc = &self.services[target];
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
            FaultEffect::CostOverrun { .. } => {
                f.in_effect(t)
                    && f.baseline_replicas
                        .is_some_and(|b| svc.replicas.len() as u32 > b)
            }
            _ => f.active(t),
        }
    }

    pub(super) fn start_faults(&mut self, t: f64) {
        for k in 0..self.faults.len() {
            let f = &self.faults[k];
            if f.started || f.fault.at.as_secs_f64() > t {
                continue;
            }
            let effect = f.fault.effect;
            self.faults[k].started = true;
            self.faults[k].affected = placed(&self.services, &self.faults[k].fault);
            let Some(target) = self.faults[k].target else {
                continue;
            };
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
                FaultEffect::CostOverrun { factor } => {
                    let before = self.services[target].replicas.len() as u32;
                    let after = (f64::from(before) * factor).ceil() as u32;
                    self.faults[k].baseline_replicas = Some(before);
                    for _ in before..after {
                        // Started earlier by the autoscaler: ready at once.
                        let r = self.new_replica(t);
                        self.services[target].replicas.push(r);
                    }
                    self.record(
                        target,
                        ChangeKind::Scale,
                        format!("{before} → {after} replicas"),
                        "autoscaler",
                    );
                }
                _ => {}
            }
        }
    }

    pub(super) fn collect_effects(&mut self, t: f64) {
        self.fx.fill(Fx::default());
        for f in &self.faults {
            let Some(target) = f.target else {
                if !f.active(t) {
                    continue;
                }
                let loss = match f.fault.effect {
                    FaultEffect::ZoneDegraded { loss } | FaultEffect::NodeStress { loss } => loss,
                    _ => continue,
                };
                // Whoever runs there now: a service failed over away escapes it.
                for i in placed(&self.services, &f.fault) {
                    let fx = &mut self.fx[i];
                    fx.loss = 1.0 - (1.0 - fx.loss) * (1.0 - loss);
                }
                continue;
            };
            let svc = &self.services[target];
            let fx = &mut self.fx[target];
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
                FaultEffect::PoolExhaustion { .. }
                | FaultEffect::CostOverrun { .. }
                | FaultEffect::ZoneDegraded { .. }
                | FaultEffect::NodeStress { .. } => {}
            }
        }
    }
}
