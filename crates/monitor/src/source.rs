//! The metric-source boundary.

use async_trait::async_trait;
use charter_model::{Change, Charter, Sample, Timestamp};

/// What one read of the source saw.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub at: Option<Timestamp>,
    /// One sample per (objective, component) the source was asked about; `value: None`
    /// where data is missing.
    pub samples: Vec<Sample>,
    /// Changes (deploys, restarts, scales) reported by the source since the last read.
    pub changes: Vec<Change>,
    /// Problems that made some samples Unknown, in words (for logs and `/readyz`).
    pub problems: Vec<String>,
}

/// The source could not be read at all, or could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("metric source unavailable: {0}")]
    Unavailable(String),
    /// The source's settings cannot be used (a bad header, an empty token file).
    #[error("invalid metric source settings: {0}")]
    Config(String),
    /// The bearer token file could not be used.
    #[error(transparent)]
    TokenFile(#[from] charter_model::TokenFileError),
    /// The server answered, but not with usable data for this query.
    #[error("query failed: {0}")]
    Query(String),
}

/// A place samples come from.
///
/// Implementations must return a sample for every (objective, component) pair the
/// charter declares, with `value: None` when they cannot tell; they must never invent
/// a healthy value for missing data.
#[async_trait]
pub trait MetricSource: Send + Sync {
    /// Read every objective of the charter at `now`.
    async fn observe(&self, charter: &Charter, now: Timestamp) -> Result<Observation, SourceError>;

    /// Past values of every objective between `start` and `end`, one point per `step`,
    /// for Analyze's history window (used to backfill it when the loop starts).
    /// Sources that keep no history return nothing.
    async fn history(
        &self,
        _charter: &Charter,
        _start: Timestamp,
        _end: Timestamp,
        _step: std::time::Duration,
    ) -> Result<Vec<Sample>, SourceError> {
        Ok(Vec::new())
    }
}
