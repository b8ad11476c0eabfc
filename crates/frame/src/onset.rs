//! Where a frame is split into normal and anomalous rows: at an onset given as a
//! time or detected from the data, then windows on either side of it.

use crate::frame::Frame;
use charter_analyze::anomaly::Onset;
use charter_analyze::detect_onset;
use charter_model::Timestamp;
use std::ops::Range;
use std::time::Duration;

impl Frame {
    /// The first row at or after `t`, when there is a row before `t` (the normal
    /// side needs one) and one at or after it; `None` when `t` is outside the data.
    pub fn onset_at(&self, t: Timestamp) -> Option<usize> {
        let (first, last) = (*self.times.first()?, *self.times.last()?);
        (t > first && t <= last).then(|| self.times.partition_point(|x| *x < t))
    }

    /// The change point shared by most columns, at least `min_segment` rows from
    /// either end ([`detect_onset`]); `None` when the data is too short or nothing
    /// varies.
    pub fn detect_onset(&self, min_segment: usize) -> Option<Onset> {
        let columns: Vec<Vec<f64>> = self.columns.iter().map(|c| c.values.clone()).collect();
        detect_onset(&columns, min_segment)
    }
}

/// Rows before the onset and rows from it, each at most `window` long (all of them
/// without one). The anomalous side holds at least the onset row.
pub fn split_by_duration(
    times: &[Timestamp],
    onset: usize,
    window: Option<Duration>,
) -> (Range<usize>, Range<usize>) {
    let Some(w) = window else {
        return (0..onset, onset..times.len());
    };
    let t0 = times[onset];
    let start = times.partition_point(|t| *t < t0.minus(w));
    let end = times.partition_point(|t| *t < t0.plus(w)).max(onset + 1);
    (start..onset, onset..end)
}

/// The last `rows` rows before `split` and the first `rows` from it, of `len` rows
/// (fewer where the data ends).
pub fn split_by_rows(len: usize, split: usize, rows: usize) -> (Range<usize>, Range<usize>) {
    (
        split.saturating_sub(rows)..split,
        split..(split + rows).min(len),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_limited_on_both_sides() {
        let times: Vec<Timestamp> = (0..10).map(|s| Timestamp::from_secs(s * 10)).collect();
        assert_eq!(split_by_duration(&times, 4, None), (0..4, 4..10));
        assert_eq!(
            split_by_duration(&times, 4, Some(Duration::from_secs(20))),
            (2..4, 4..6)
        );
        assert_eq!(split_by_rows(10, 4, 3), (1..4, 4..7));
        assert_eq!(split_by_rows(10, 2, 300), (0..2, 2..10));
    }

    #[test]
    fn an_onset_needs_a_row_before_it() {
        let f = Frame {
            source: "x".into(),
            times: (0..5).map(|s| Timestamp::from_secs(s * 10)).collect(),
            lines: None,
            columns: Vec::new(),
        };
        assert_eq!(f.onset_at(Timestamp::from_secs(0)), None);
        assert_eq!(f.onset_at(Timestamp::from_secs(5)), Some(1));
        assert_eq!(f.onset_at(Timestamp::from_secs(40)), Some(4));
        assert_eq!(f.onset_at(Timestamp::from_secs(41)), None);
    }
}
