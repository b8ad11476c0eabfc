//! A — Analyze: group violations into incidents and name their root cause.
//!
//! Pure functions, no I/O: everything arrives as arguments.
//!
//! - [`anomaly`]: scale-free robust anomaly scores per metric, aggregated into a ranked
//!   list of components (with or without a dependency graph), and onset detection.
//! - [`history`]: [`History`], the recent samples of each series, kept by the caller.
//! - [`group`]: which open incident a new violation belongs to (same component or
//!   related through the dependency graph).
//! - [`rootcause`]: [`diagnose`], ranking the violating components by how much of the
//!   incident each explains through the dependency graph, which turned abnormal first,
//!   and which changed shortly before onset; each hypothesis carries a cause class, a
//!   confidence in [0, 1] and its evidence in words.

pub mod anomaly;
pub mod group;
pub mod history;
pub mod rootcause;

pub use anomaly::{
    MetricSeries, RankOptions, RankedComponent, Worse, detect_onset, rank_root_causes,
};
pub use group::assign_incident;
pub use history::History;
pub use rootcause::{DiagnosisInput, diagnose};
