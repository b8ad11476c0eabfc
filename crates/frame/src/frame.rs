//! [`Frame`]: aligned metric columns on one time axis, and the [`MetricSeries`] the
//! analysis ranks, cut from its rows.

use crate::LoadError;
use crate::unit::Unit;
use charter_analyze::{MetricSeries, Worse};
use charter_model::{Signal, Timestamp};
use std::collections::BTreeMap;
use std::ops::Range;

/// What a column measures and where: its component, metric, signal and harmful
/// direction.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnMeta {
    pub component: String,
    pub metric: String,
    pub signal: Signal,
    pub worse: Worse,
}

/// One metric column, with every row's value (NaN when missing).
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The name in the input (CSV header, or the series' labels).
    pub name: String,
    pub component: String,
    pub metric: String,
    pub signal: Signal,
    pub worse: Worse,
    /// The unit the values are recorded in, when the name or a map states it.
    pub unit: Option<Unit>,
    pub values: Vec<f64>,
}

impl Column {
    /// A column named `name` described by `meta`, its unit the one its name or
    /// metric states ([`Unit::from_name`]).
    pub fn new(name: String, meta: ColumnMeta, values: Vec<f64>) -> Self {
        let unit = Unit::from_name(&name).or_else(|| Unit::from_name(&meta.metric));
        Column {
            unit,
            name,
            component: meta.component,
            metric: meta.metric,
            signal: meta.signal,
            worse: meta.worse,
            values,
        }
    }

    /// This column's series: `normal` values against `anomalous` ones observed at
    /// `times`.
    fn series(&self, normal: &[f64], anomalous: &[f64], times: &[Timestamp]) -> MetricSeries {
        MetricSeries {
            component: self.component.clone(),
            metric: self.metric.clone(),
            signal: Some(self.signal),
            normal: normal.to_vec(),
            anomalous: anomalous.to_vec(),
            times: times.to_vec(),
            worse: self.worse,
            baseline: None,
        }
    }
}

/// Aligned series: one time axis, increasing, and columns of the same length.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The file the data came from.
    pub source: String,
    pub times: Vec<Timestamp>,
    /// The CSV line of every row, when the data is one CSV file.
    pub lines: Option<Vec<usize>>,
    pub columns: Vec<Column>,
}

impl Frame {
    /// Append the rows of `later` (a recording that follows this one), its columns
    /// matched by name; a column `later` lacks is an error, one only `later` has is
    /// dropped. The rows no longer come from one file, so their lines are dropped.
    pub fn append(&mut self, later: Frame) -> Result<(), LoadError> {
        self.times.extend(&later.times);
        for col in &mut self.columns {
            let Some(other) = later.columns.iter().find(|c| c.name == col.name) else {
                return Err(LoadError::MissingColumn {
                    file: later.source,
                    column: col.name.clone(),
                });
            };
            col.values.extend(&other.values);
        }
        self.lines = None;
        Ok(())
    }

    /// Every column's series: the `normal` rows against the `anomalous` rows.
    pub fn series(&self, normal: Range<usize>, anomalous: Range<usize>) -> Vec<MetricSeries> {
        self.columns
            .iter()
            .map(|c| {
                c.series(
                    &c.values[normal.clone()],
                    &c.values[anomalous.clone()],
                    &self.times[anomalous.clone()],
                )
            })
            .collect()
    }

    /// The series of the columns `keep` accepts: these `rows` against the
    /// `baseline_rows` of a `baseline` recorded apart, columns matched by component
    /// and metric (the last of a duplicate pair in `baseline`). A column without a
    /// match in the baseline is left out.
    pub fn series_against(
        &self,
        rows: Range<usize>,
        baseline: &Frame,
        baseline_rows: Range<usize>,
        keep: impl Fn(&Column) -> bool,
    ) -> Vec<MetricSeries> {
        let index: BTreeMap<(&str, &str), usize> = baseline
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| ((c.component.as_str(), c.metric.as_str()), i))
            .collect();
        self.columns
            .iter()
            .filter(|c| keep(c))
            .filter_map(|c| {
                let &i = index.get(&(c.component.as_str(), c.metric.as_str()))?;
                Some(c.series(
                    &baseline.columns[i].values[baseline_rows.clone()],
                    &c.values[rows.clone()],
                    &self.times[rows.clone()],
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(source: &str, names: &[&str], times: &[i64], rows: &[&[f64]]) -> Frame {
        Frame {
            source: source.to_string(),
            times: times.iter().map(|&t| Timestamp::from_secs(t)).collect(),
            lines: None,
            columns: names
                .iter()
                .enumerate()
                .map(|(k, n)| {
                    let (component, metric) = n.split_once('_').expect("c_m");
                    Column::new(
                        n.to_string(),
                        ColumnMeta {
                            component: component.to_string(),
                            metric: metric.to_string(),
                            signal: Signal::Other,
                            worse: Worse::Either,
                        },
                        rows.iter().map(|r| r[k]).collect(),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn appended_rows_follow_their_columns_by_name() {
        let mut a = frame(
            "a.csv",
            &["x_cpu", "y_cpu"],
            &[1, 2],
            &[&[1.0, 10.0], &[2.0, 20.0]],
        );
        let b = frame("b.csv", &["y_cpu", "x_cpu"], &[3], &[&[30.0, 3.0]]);
        a.append(b).expect("same columns");
        assert_eq!(a.columns[0].values, [1.0, 2.0, 3.0]);
        assert_eq!(a.columns[1].values, [10.0, 20.0, 30.0]);
        assert_eq!(a.times.len(), 3);

        let mut a = frame("a.csv", &["x_cpu"], &[1], &[&[1.0]]);
        let err = a
            .append(frame("b.csv", &["y_cpu"], &[2], &[&[2.0]]))
            .expect_err("x_cpu is missing");
        assert_eq!(err.to_string(), "b.csv: no column \"x_cpu\"");
    }

    #[test]
    fn series_against_a_baseline_match_component_and_metric() {
        let baseline = frame(
            "n.csv",
            &["y_cpu", "x_cpu"],
            &[1, 2],
            &[&[1.0, 5.0], &[2.0, 6.0]],
        );
        let issue = frame("i.csv", &["x_cpu", "z_cpu"], &[10], &[&[7.0, 0.0]]);
        let s = issue.series_against(0..1, &baseline, 0..2, |_| true);
        assert_eq!(s.len(), 1, "z has no baseline");
        assert_eq!(s[0].component, "x");
        assert_eq!(s[0].normal, [5.0, 6.0]);
        assert_eq!(s[0].anomalous, [7.0]);
        assert_eq!(s[0].times, [Timestamp::from_secs(10)]);
    }
}
