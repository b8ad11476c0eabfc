//! Recorded metrics as a [`Frame`] — one time axis and named metric columns, each
//! with its component, signal and harmful direction — and the loaders that build
//! one from the files Charter reads offline. `charter replay` and every
//! `charter-bench` dataset adapter load their data here, so that a file is read,
//! and a bad cell reported as `file:line:column`, the same way everywhere.
//!
//! - [`frame`]: [`Frame`] and [`Column`], and the [`MetricSeries`] the analysis
//!   ranks, cut from a frame's rows.
//! - [`table`]: CSV files ([`charter_model::csv`] records), cells as numbers and
//!   times, and the wide layout (a time column, one column per metric) as a frame.
//! - [`map`]: the column-map YAML that names a wide CSV's columns.
//! - [`prometheus`]: a Prometheus range-query (`/api/v1/query_range`) response.
//! - [`graph`]: dependency graphs: a charter file or the `components:` YAML, and
//!   an adjacency-matrix CSV.
//! - [`onset`]: where a frame is split: an onset given or detected, and the normal
//!   and anomalous windows on either side of it.
//! - [`signal`]: what a metric measures, guessed from its name.
//! - [`unit`]: the unit a column is recorded in, from its name or a map.
//! - [`error`]: [`LoadError`], and the [`Problem`]s of one file listed together.
//!
//! Why a crate of its own: loading is I/O and knowledge of formats, which the
//! analyze crate must not hold (it is pure logic), and both the `charter` binary
//! and the bench need it, so it cannot live in either. It uses charter-analyze
//! only for [`Worse`], [`MetricSeries`] and the onset detector. Errors name the
//! file and place but no command-line flag: a caller adds its own hints.
//!
//! [`MetricSeries`]: charter_analyze::MetricSeries
//! [`Worse`]: charter_analyze::Worse

pub mod error;
pub mod frame;
pub mod graph;
pub mod map;
pub mod onset;
pub mod prometheus;
pub mod signal;
pub mod table;
pub mod unit;

pub use error::{LoadError, Location, Problem, Problems};
pub use frame::{Column, ColumnMeta, Frame};
pub use graph::{load_adjacency_matrix, load_graph};
pub use map::ColumnMap;
pub use onset::{split_by_duration, split_by_rows};
pub use prometheus::load_prometheus;
pub use signal::infer_signal;
pub use table::{CsvTable, HeaderRows, Naming, number, parse_time};
pub use unit::{Quantity, Unit};

use std::path::Path;

/// The largest file a loader reads, in bytes (replay data of a day at a 1 s
/// resolution over hundreds of series fits many times over).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// The text of `path`, and its name as errors show it. Only a regular file is read
/// (a FIFO would block, a device never end), of at most [`MAX_FILE_BYTES`].
fn read_file(path: &Path) -> Result<(String, String), LoadError> {
    let file = path.display().to_string();
    match charter_model::files::read_text_bounded(path, MAX_FILE_BYTES) {
        Ok(text) => Ok((file, text)),
        Err(source) => Err(LoadError::Read { file, source }),
    }
}
