//! The live state of the world: services with their replicas, dependency edges,
//! caches and pools, effects of actions that land later, and stored action results.

use super::METRICS;
use crate::rng::Rng;
use crate::topology::ServiceSpec;
use charter_model::ChangeKind;

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
    pub(super) frac: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct Replica {
    pub(super) id: u64,
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
    pub(super) oom_until: f64,
    pub(super) rng: Rng,
    // Per-step results (true values, before noise).
    pub(super) offered: f64,
    pub(super) admitted: f64,
    pub(super) capacity: f64,
    pub(super) served: f64,
    pub(super) ready: u32,
    pub(super) hit: f64,
    pub(super) p50: f64,
    pub(super) p99: f64,
    pub(super) error: f64,
    pub(super) metrics: [f64; METRICS.len()],
}

impl Svc {
    /// The node it runs on now (its zone may have changed by a failover).
    pub(crate) fn node(&self) -> String {
        self.spec.node_in(&self.zone)
    }
}

/// An effect of an action that lands later.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    Version(String),
    Zone(String),
    /// A fault (by index) ends: its declared remedy has taken effect.
    Cure(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) at: f64,
    pub(crate) service: usize,
    pub(crate) effect: Effect,
}

#[derive(Debug, Clone)]
pub(super) struct Recorded {
    pub(super) at_ms: u64,
    pub(super) component: String,
    pub(super) kind: ChangeKind,
    pub(super) description: String,
    pub(super) by: String,
}

/// A stored result of [`World::apply`](super::World::apply), replayed for a repeated
/// idempotency key.
#[derive(Debug, Clone)]
pub(crate) enum Stored {
    Ok(charter_execute::Applied),
    Precondition(String),
    Unknown(String),
}
