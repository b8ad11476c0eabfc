//! A — Analyze: group violations into incidents and name their root cause.
//!
//! Pure functions, no I/O: everything arrives as arguments.
//!
//! - [`anomaly`]: scale-free robust anomaly scores per metric, and onset detection.
//! - [`patterns`]: the four pattern detectors (burst, cluster, propagation,
//!   frequency anomaly).
//! - [`rootcause`]: [`diagnose`], the one root-cause ranking — used by the
//!   controller, `charter replay` and the dataset harness.
//! - [`calibration`]: the confidence curve and how calibration is measured.
//! - [`history`]: [`History`], the recent samples of each series, kept by the caller.
//! - [`group`]: which open incident a new violation belongs to.

pub mod anomaly;
pub mod calibration;
pub mod group;
pub mod history;
pub mod patterns;
pub mod rootcause;

pub use anomaly::{
    Baseline, Drift, MetricScore, MetricSeries, RankOptions, Worse, baseline_drift, detect_onset,
};
pub use group::related_incidents;
pub use history::{History, IncidentScores};
pub use patterns::frequency::{Episode, EpisodeLog};
pub use rootcause::{DiagnosisInput, diagnose, diagnose_scored};
