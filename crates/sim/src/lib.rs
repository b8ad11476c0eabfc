//! Westworld: a deterministic simulator of a small service mesh, in virtual time.
//!
//! The demo's world, the end-to-end test bed and the benchmark environment
//! (DESIGN.md §4). The same seed always gives the same metric series.
//!
//! - [`topology`]: services ([`ServiceSpec`]), their call edges, caches and pools,
//!   and the built-in [`default_shop`].
//! - [`fault`]: the fault kinds a scenario injects, each with a root cause and a
//!   right remedy ([`GroundTruth`]).
//! - [`flap`]: short periodic spikes of one reported metric that are not faults
//!   (nothing to fix), for scenarios where the right number of actions is zero.
//! - [`scenario`]: scenario files (YAML) validated into a [`Scenario`], and the
//!   scenarios embedded from `scenarios/`.
//! - [`world`]: the [`World`], advanced in fixed steps: load, queueing latency,
//!   error propagation, leaks and OOM kills, and the [`METRICS`] it exports.
//! - [`control`]: the nine action kinds applied to the world, idempotent on a key.
//! - [`simulator`]: [`Simulator`], a shared world that is both a
//!   `charter_monitor::MetricSource` and a `charter_execute::Actuator`.
//! - [`exposition`]: the world's metrics in the Prometheus text format.
//! - [`http`]: the world in real time behind HTTP: `/metrics`, fault injection and
//!   the Charter actuator API (`docs/actuator-api.md`), optionally faster than real
//!   time.
//! - [`query`]: plain Prometheus selectors answered from the world's present, so a
//!   charter's `prometheus` source can read the served world.
//!
//! The seeded generator (xoshiro256** with Box-Muller normals) is private to the crate.

pub mod control;
pub mod exposition;
pub mod fault;
pub mod flap;
pub mod http;
pub mod query;
mod rng;
pub mod scenario;
pub mod simulator;
pub mod topology;
pub mod world;

pub use fault::{Fault, FaultEffect, FaultKind, GroundTruth, TargetScope, UnknownFaultKind};
pub use flap::{FLAPPABLE, Flap};
pub use scenario::{MetricGap, Scenario, ScenarioError, ScenarioIssue, Traffic, TrafficPattern};
pub use simulator::Simulator;
pub use topology::{CacheSpec, Dependency, PoolSpec, ServiceSpec, default_shop, node_of_zone};
pub use world::{FaultReport, InjectError, METRICS, World};
