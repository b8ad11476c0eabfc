//! Remediation benchmark: the same scenarios and seeds under four strategies, measured
//! with one yardstick (issue 7). Used by `charter-bench scenarios` and `charter simulate`.
//!
//! - [`strategy`]: `none`, `static` (alert-to-script), `charter` (the real loop) and
//!   `oracle` (the right remedy on the true root cause when the fault starts).
//! - [`measure`]: the [`measure::Meter`] — the charter's objectives evaluated on the
//!   simulator's metrics every interval with the loop's own detector; severity-weighted
//!   violation-seconds, replica-hours, time to recover.
//! - [`run`]: [`run::run_one`], one (scenario, seed, strategy) in virtual time.
//! - [`summary`]: rows per scenario × strategy, the Done-means targets, the Markdown table.
//! - [`plots`]: which series a scenario's timeline shows, and the data of each plot.
//! - [`svg`]: hand-written SVG timelines and bar charts.

pub mod measure;
pub mod plots;
pub mod run;
pub mod strategy;
pub mod summary;
pub mod svg;

pub use run::{EPOCH, EvalError, Run, RunOptions, run_one};
pub use strategy::Strategy;
pub use summary::{Summary, summarize};
