//! M — Monitor: read objectives from a metric source and detect violations.
//!
//! - [`source`]: the [`MetricSource`] trait every source implements (the simulator
//!   in process; Prometheus in a later version) and the [`Observation`] it returns.
//! - [`prometheus`]: [`PrometheusSource`], instant queries per objective against a
//!   Prometheus-compatible HTTP API, concurrent and bounded, Unknown on any doubt.
//! - [`detect`]: the [`Detector`], a per-series state machine that turns samples into
//!   violations with warning/critical severity, the `for` duration, a clear threshold
//!   (hysteresis), and Unknown when data is missing.

pub mod detect;
pub mod prometheus;
pub mod source;

pub use detect::{Detector, Transition};
pub use prometheus::{PrometheusSource, query_for, step_for};
pub use source::{MetricSource, Observation, SourceError};
