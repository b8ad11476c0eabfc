//! Faults in the world: their state, the ones injected while it runs, when each
//! acts, and the effects they have on each service during a step.

use super::World;
use super::dynamics::next_version;
use super::state::Svc;
use crate::fault::{Fault, FaultEffect, GroundTruth};
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
    pub(super) fn new(fault: Fault, target: usize, services: &[Svc], injected: bool) -> Self {
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

impl World {
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

    pub(super) fn start_faults(&mut self, t: f64) {
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

    pub(super) fn collect_effects(&mut self, t: f64) {
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
}
