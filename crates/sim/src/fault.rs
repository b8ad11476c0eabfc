//! Faults a scenario injects, and the ground truth each one carries.

use charter_model::ActionKind;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The kinds of fault Westworld can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    TrafficSurge,
    MemoryLeak,
    BadDeploy,
    DependencyOutage,
    CachePoisoning,
    PoolExhaustion,
    ZoneOutage,
    NoisyNeighbour,
    ZoneDegraded,
    NodeStress,
    CostOverrun,
}

/// What a fault's `target` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetScope {
    Service,
    /// A zone: every service running in it is affected.
    Zone,
    /// A node (host): every service running on it is affected.
    Node,
}

impl TargetScope {
    /// The word for it in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetScope::Service => "service",
            TargetScope::Zone => "zone",
            TargetScope::Node => "node",
        }
    }
}

impl FaultKind {
    /// Every kind, in documentation order.
    pub const ALL: [FaultKind; 11] = [
        FaultKind::TrafficSurge,
        FaultKind::MemoryLeak,
        FaultKind::BadDeploy,
        FaultKind::DependencyOutage,
        FaultKind::CachePoisoning,
        FaultKind::PoolExhaustion,
        FaultKind::ZoneOutage,
        FaultKind::NoisyNeighbour,
        FaultKind::ZoneDegraded,
        FaultKind::NodeStress,
        FaultKind::CostOverrun,
    ];

    /// The snake_case name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::TrafficSurge => "traffic_surge",
            FaultKind::MemoryLeak => "memory_leak",
            FaultKind::BadDeploy => "bad_deploy",
            FaultKind::DependencyOutage => "dependency_outage",
            FaultKind::CachePoisoning => "cache_poisoning",
            FaultKind::PoolExhaustion => "pool_exhaustion",
            FaultKind::ZoneOutage => "zone_outage",
            FaultKind::NoisyNeighbour => "noisy_neighbour",
            FaultKind::ZoneDegraded => "zone_degraded",
            FaultKind::NodeStress => "node_stress",
            FaultKind::CostOverrun => "cost_overrun",
        }
    }

    /// What the fault's `target` names: a service, or a zone or node for the
    /// infrastructure-wide kinds.
    pub fn scope(self) -> TargetScope {
        match self {
            FaultKind::ZoneDegraded => TargetScope::Zone,
            FaultKind::NodeStress => TargetScope::Node,
            _ => TargetScope::Service,
        }
    }

    /// The action that fixes this kind of fault at its target.
    pub fn default_remedy(self) -> ActionKind {
        match self {
            FaultKind::TrafficSurge | FaultKind::NoisyNeighbour => ActionKind::ScaleOut,
            FaultKind::MemoryLeak => ActionKind::Restart,
            FaultKind::BadDeploy => ActionKind::Rollback,
            FaultKind::DependencyOutage
            | FaultKind::ZoneOutage
            | FaultKind::ZoneDegraded
            | FaultKind::NodeStress => ActionKind::Failover,
            FaultKind::CostOverrun => ActionKind::ScaleIn,
            FaultKind::CachePoisoning => ActionKind::FlushCache,
            FaultKind::PoolExhaustion => ActionKind::Reconfigure,
        }
    }

    /// The kind-specific parameters a scenario may set.
    pub fn params(self) -> &'static [&'static str] {
        match self {
            FaultKind::TrafficSurge => &["factor"],
            FaultKind::MemoryLeak => &["rate"],
            FaultKind::BadDeploy => &["error_ratio"],
            FaultKind::DependencyOutage | FaultKind::ZoneOutage => &[],
            FaultKind::CachePoisoning => &["hit_ratio"],
            FaultKind::PoolExhaustion => &["pool_size"],
            FaultKind::NoisyNeighbour | FaultKind::ZoneDegraded | FaultKind::NodeStress => {
                &["loss"]
            }
            FaultKind::CostOverrun => &["factor"],
        }
    }

    /// Whether the fault is a persistent state change that ignores `duration`
    /// (a deploy or a configuration drift stays until someone reverts it).
    pub fn is_persistent(self) -> bool {
        matches!(
            self,
            FaultKind::BadDeploy | FaultKind::PoolExhaustion | FaultKind::CostOverrun
        )
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not a fault kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown fault kind `{0}` (expected one of: traffic_surge, memory_leak, bad_deploy, dependency_outage, cache_poisoning, pool_exhaustion, zone_outage, noisy_neighbour, zone_degraded, node_stress, cost_overrun)"
)]
pub struct UnknownFaultKind(pub String);

impl FromStr for FaultKind {
    type Err = UnknownFaultKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownFaultKind(s.to_string()))
    }
}

/// What a fault does, with its kind's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultEffect {
    /// Load arriving at the target is multiplied by `factor`.
    TrafficSurge { factor: f64 },
    /// Each replica's memory grows by `rate` (fraction of its limit) per minute.
    MemoryLeak { rate: f64 },
    /// A new version is deployed whose own error ratio is `error_ratio`.
    BadDeploy { error_ratio: f64 },
    /// The target is broken in its active zone: every request fails.
    DependencyOutage,
    /// The cache's hit ratio collapses to `hit_ratio`.
    CachePoisoning { hit_ratio: f64 },
    /// Configuration drift sets the per-replica pool size to `pool_size`.
    PoolExhaustion { pool_size: u32 },
    /// The target's active zone loses all its replicas.
    ZoneOutage,
    /// A noisy neighbour steals `loss` of the target's capacity.
    NoisyNeighbour { loss: f64 },
    /// Every service running in the target zone loses `loss` of its capacity.
    ZoneDegraded { loss: f64 },
    /// Every service running on the target node loses `loss` of its capacity to CPU
    /// contention.
    NodeStress { loss: f64 },
    /// An autoscaler left the target with `factor` × its replicas (rounded up) after
    /// load that has passed: nothing is broken, the replicas cost.
    CostOverrun { factor: f64 },
}

impl FaultEffect {
    /// The kind of this effect.
    pub fn kind(&self) -> FaultKind {
        match self {
            FaultEffect::TrafficSurge { .. } => FaultKind::TrafficSurge,
            FaultEffect::MemoryLeak { .. } => FaultKind::MemoryLeak,
            FaultEffect::BadDeploy { .. } => FaultKind::BadDeploy,
            FaultEffect::DependencyOutage => FaultKind::DependencyOutage,
            FaultEffect::CachePoisoning { .. } => FaultKind::CachePoisoning,
            FaultEffect::PoolExhaustion { .. } => FaultKind::PoolExhaustion,
            FaultEffect::ZoneOutage => FaultKind::ZoneOutage,
            FaultEffect::NoisyNeighbour { .. } => FaultKind::NoisyNeighbour,
            FaultEffect::ZoneDegraded { .. } => FaultKind::ZoneDegraded,
            FaultEffect::NodeStress { .. } => FaultKind::NodeStress,
            FaultEffect::CostOverrun { .. } => FaultKind::CostOverrun,
        }
    }

    /// The effect of a kind with its default parameters.
    pub fn default_for(kind: FaultKind) -> Self {
        match kind {
            FaultKind::TrafficSurge => FaultEffect::TrafficSurge { factor: 2.5 },
            FaultKind::MemoryLeak => FaultEffect::MemoryLeak { rate: 0.04 },
            FaultKind::BadDeploy => FaultEffect::BadDeploy { error_ratio: 0.3 },
            FaultKind::DependencyOutage => FaultEffect::DependencyOutage,
            FaultKind::CachePoisoning => FaultEffect::CachePoisoning { hit_ratio: 0.1 },
            FaultKind::PoolExhaustion => FaultEffect::PoolExhaustion { pool_size: 1 },
            FaultKind::ZoneOutage => FaultEffect::ZoneOutage,
            FaultKind::NoisyNeighbour => FaultEffect::NoisyNeighbour { loss: 0.6 },
            FaultKind::ZoneDegraded => FaultEffect::ZoneDegraded { loss: 0.5 },
            FaultKind::NodeStress => FaultEffect::NodeStress { loss: 0.6 },
            FaultKind::CostOverrun => FaultEffect::CostOverrun { factor: 2.0 },
        }
    }
}

/// A fault injected at a time into a target service.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub effect: FaultEffect,
    /// Where the fault lives, the ground-truth root cause: a service, or a zone or a
    /// node for the kinds whose [`FaultKind::scope`] says so.
    pub target: String,
    /// When it starts, from the start of the run.
    pub at: Duration,
    /// How long it lasts; `None` until remedied or the end of the run. Ignored by
    /// persistent kinds (bad deploy, pool exhaustion).
    pub duration: Option<Duration>,
    /// The action that fixes it (the kind's default unless overridden).
    pub remedy: ActionKind,
}

impl Fault {
    /// A fault with the kind's default parameters and remedy, lasting until remedied.
    pub fn new(kind: FaultKind, target: &str, at: Duration) -> Self {
        Fault {
            effect: FaultEffect::default_for(kind),
            target: target.to_string(),
            at,
            duration: None,
            remedy: kind.default_remedy(),
        }
    }

    /// Set how long it lasts.
    pub fn lasting(mut self, d: Duration) -> Self {
        self.duration = Some(d);
        self
    }

    /// Replace the effect (to change its parameters).
    pub fn with_effect(mut self, effect: FaultEffect) -> Self {
        self.effect = effect;
        self
    }

    /// The fault's kind.
    pub fn kind(&self) -> FaultKind {
        self.effect.kind()
    }

    /// When the fault ends by itself, if it does.
    pub fn until(&self) -> Option<Duration> {
        if self.kind().is_persistent() {
            None
        } else {
            self.duration.map(|d| self.at + d)
        }
    }

    /// Whether applying `action` to the target ends the fault outright.
    ///
    /// Most default remedies act through the model (a rollback changes the version, a
    /// failover moves the zone, a scale-out adds capacity); the fault itself stays.
    /// A restart does end a leak and a flush does end a poisoning, and an overridden
    /// remedy ends its fault, since the scenario says that is what fixes it.
    pub fn cured_by(&self, action: ActionKind) -> bool {
        action == self.remedy
            && (self.remedy != self.kind().default_remedy()
                || matches!(
                    self.kind(),
                    FaultKind::MemoryLeak | FaultKind::CachePoisoning
                ))
    }
}

/// What a scenario knows to be true about one of its faults.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    pub kind: FaultKind,
    /// Where the fault lives: a service, a zone or a node (see `scope`).
    pub root_cause: String,
    /// What `root_cause` names.
    pub scope: TargetScope,
    /// The services the fault acts on: the root cause itself for a service fault,
    /// every service in the zone or on the node for the others (as placed when the
    /// fault starts, or at the start of the run for a scenario's ground truth). The
    /// right remedy applies to each of them.
    pub affected: Vec<String>,
    /// The action that fixes it.
    pub remedy: ActionKind,
    pub at: Duration,
    /// When it ends by itself; `None` if only a remedy (or the end) stops it.
    pub until: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_names() {
        for k in FaultKind::ALL {
            assert_eq!(k.as_str().parse::<FaultKind>(), Ok(k));
            assert_eq!(FaultEffect::default_for(k).kind(), k);
        }
        assert!("meteor".parse::<FaultKind>().is_err());
    }

    #[test]
    fn persistent_faults_have_no_end() {
        let f = Fault::new(FaultKind::BadDeploy, "auth", Duration::from_secs(60))
            .lasting(Duration::from_secs(60));
        assert_eq!(f.until(), None);
        let f = Fault::new(FaultKind::TrafficSurge, "catalog", Duration::from_secs(60))
            .lasting(Duration::from_secs(60));
        assert_eq!(f.until(), Some(Duration::from_secs(120)));
    }

    #[test]
    fn only_leaks_poisonings_and_overrides_are_cured_outright() {
        let at = Duration::ZERO;
        assert!(Fault::new(FaultKind::MemoryLeak, "x", at).cured_by(ActionKind::Restart));
        assert!(!Fault::new(FaultKind::BadDeploy, "x", at).cured_by(ActionKind::Rollback));
        assert!(!Fault::new(FaultKind::DependencyOutage, "x", at).cured_by(ActionKind::Restart));
        let mut f = Fault::new(FaultKind::DependencyOutage, "x", at);
        f.remedy = ActionKind::Restart;
        assert!(f.cured_by(ActionKind::Restart));
    }
}
