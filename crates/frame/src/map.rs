//! The column-map YAML, `columns: { "<column>": { component, metric, signal, worse } }`:
//! which component and metric each column of a wide CSV is, where its name does not
//! say.

use crate::error::{Location, Problem, Problems, yaml_error};
use crate::frame::ColumnMeta;
use crate::signal::infer_signal;
use crate::unit::Unit;
use crate::{LoadError, read_file};
use charter_analyze::Worse;
use charter_model::Signal;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::HashMap;
use std::path::Path;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnMapConfig {
    columns: HashMap<Spanned<String>, ColumnSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnSpec {
    component: Spanned<String>,
    /// Defaults to the column's name.
    #[serde(default)]
    metric: Option<String>,
    #[serde(default)]
    signal: Option<Signal>,
    #[serde(default)]
    worse: Option<WorseConfig>,
    /// The unit the values are recorded in ([`Unit::parse`]).
    #[serde(default)]
    unit: Option<Spanned<String>>,
}

/// [`Worse`] as written in a map file.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WorseConfig {
    Up,
    Down,
    Either,
}

impl From<WorseConfig> for Worse {
    fn from(w: WorseConfig) -> Self {
        match w {
            WorseConfig::Up => Worse::Up,
            WorseConfig::Down => Worse::Down,
            WorseConfig::Either => Worse::Either,
        }
    }
}

/// A validated column map: one entry per column, in file order.
#[derive(Debug)]
pub struct ColumnMap {
    file: String,
    entries: Vec<MapEntry>,
}

/// One mapped column and where the map names it.
#[derive(Debug)]
pub struct MapEntry {
    pub column: String,
    pub line: usize,
    pub col: usize,
    pub component: String,
    pub metric: String,
    /// As written; inferred from the metric when absent.
    pub signal: Option<Signal>,
    /// As written; inferred from the metric when absent.
    pub worse: Option<Worse>,
    /// As written; read from the column's name when absent.
    pub unit: Option<Unit>,
}

impl ColumnMap {
    /// Read and validate the map at `path`; every empty component is reported at once.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let (file, text) = read_file(path)?;
        let raw: ColumnMapConfig =
            serde_saphyr::from_str(&text).map_err(|e| yaml_error(&file, &e))?;
        // In file order, so that problems are listed as they appear (a map's keys
        // come out of a HashMap in no fixed order).
        let mut columns: Vec<(Spanned<String>, ColumnSpec)> = raw.columns.into_iter().collect();
        columns.sort_by_key(|(c, _)| (c.referenced.line(), c.referenced.column()));
        let mut problems = Problems::default();
        let entries: Vec<MapEntry> = columns
            .into_iter()
            .map(|(column, spec)| {
                if spec.component.value.trim().is_empty() {
                    problems.push(Problem::EmptyComponent {
                        at: Location::new(
                            &file,
                            spec.component.referenced.line() as usize,
                            spec.component.referenced.column() as usize,
                        ),
                        column: column.value.clone(),
                    });
                }
                let unit = spec.unit.and_then(|u| {
                    let unit = Unit::parse(&u.value);
                    if unit.is_none() {
                        problems.push(Problem::UnknownUnit {
                            at: Location::new(
                                &file,
                                u.referenced.line() as usize,
                                u.referenced.column() as usize,
                            ),
                            column: column.value.clone(),
                            unit: u.value.clone(),
                        });
                    }
                    unit
                });
                MapEntry {
                    unit,
                    line: column.referenced.line() as usize,
                    col: column.referenced.column() as usize,
                    metric: spec.metric.unwrap_or_else(|| column.value.clone()),
                    column: column.value,
                    component: spec.component.value,
                    signal: spec.signal,
                    worse: spec.worse.map(Worse::from),
                }
            })
            .collect();
        problems.into_result()?;
        if entries.is_empty() {
            return Err(LoadError::EmptyMap { file });
        }
        Ok(ColumnMap { file, entries })
    }

    /// The map's file name as errors show it.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> &[MapEntry] {
        &self.entries
    }

    /// What the map says column `name` is, the unsaid signal and direction inferred
    /// from its metric; `None` when the map does not name it.
    pub fn meta(&self, name: &str) -> Option<ColumnMeta> {
        let e = self.entries.iter().find(|e| e.column == name)?;
        let (signal, worse) = infer_signal(&e.metric);
        Some(ColumnMeta {
            component: e.component.clone(),
            metric: e.metric.clone(),
            signal: e.signal.unwrap_or(signal),
            worse: e.worse.unwrap_or(worse),
        })
    }

    /// The unit the map gives column `name`, if it gives one.
    pub fn unit(&self, name: &str) -> Option<Unit> {
        self.entries.iter().find(|e| e.column == name)?.unit
    }

    /// The columns of `names` (a header) the map leaves out, besides the time
    /// column at `time_idx`: the data the analysis will not see.
    pub fn unmapped<'n>(&self, names: &[&'n str], time_idx: usize) -> Vec<&'n str> {
        names
            .iter()
            .enumerate()
            .filter(|(i, n)| *i != time_idx && !self.entries.iter().any(|e| e.column == **n))
            .map(|(_, n)| *n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> (String, Result<ColumnMap, LoadError>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("map.yaml");
        std::fs::write(&path, text).expect("write");
        (path.display().to_string(), ColumnMap::load(&path))
    }

    #[test]
    fn entries_keep_file_order_and_infer_what_is_unsaid() {
        let (_, map) = load(
            "columns:\n  z_p99: { component: web }\n  a: { component: db, metric: cpu, worse: down }\n",
        );
        let map = map.expect("valid map");
        let columns: Vec<&str> = map.entries().iter().map(|e| e.column.as_str()).collect();
        assert_eq!(columns, ["z_p99", "a"]);
        let a = map.meta("a").expect("mapped");
        assert_eq!((a.signal, a.worse), (Signal::Utilization, Worse::Down));
        assert_eq!(map.meta("z_p99").expect("mapped").metric, "z_p99");
        assert_eq!(map.unmapped(&["t", "a", "b", "z_p99"], 0), ["b"]);
    }

    /// Regression: the problems followed the map's HashMap order, so two runs on one
    /// file could list them differently.
    #[test]
    fn empty_components_are_listed_in_file_order() {
        let keys = ["d", "a", "c", "b", "e", "f"];
        let text: String = keys
            .iter()
            .map(|k| format!("  {k}: {{ component: \"\" }}\n"))
            .collect();
        let (_, map) = load(&format!("columns:\n{text}"));
        let listed: Vec<String> = match map.expect_err("empty components") {
            LoadError::Problems(p) => p
                .iter()
                .map(|p| match p {
                    Problem::EmptyComponent { column, .. } => column.clone(),
                    other => panic!("{other}"),
                })
                .collect(),
            other => panic!("{other}"),
        };
        assert_eq!(listed, keys);
    }

    #[test]
    fn empty_components_and_unknown_keys_are_errors_at_their_place() {
        let (file, map) = load("columns:\n  a: { component: \" \" }\n");
        assert_eq!(
            map.expect_err("empty").to_string(),
            format!("{file}:2:19: columns.a.component: empty component name")
        );
        let (file, map) = load("columns:\n  a: { component: db, sgnal: latency }\n");
        let text = map.expect_err("unknown key").to_string();
        assert!(
            text.starts_with(&format!("{file}:2:")) && text.contains("sgnal"),
            "{text}"
        );
    }

    #[test]
    fn units_are_read_and_an_unknown_unit_is_an_error_at_its_place() {
        let (_, map) =
            load("columns:\n  a: { component: db, unit: MiB }\n  b: { component: db }\n");
        let map = map.expect("valid map");
        assert_eq!(map.unit("a").map(|u| u.scale), Some(1_048_576.0));
        assert_eq!(map.unit("b"), None);
        let (file, map) = load("columns:\n  a: { component: db, unit: parsecs }\n");
        let text = map.expect_err("unknown unit").to_string();
        assert!(
            text.starts_with(&format!(
                "{file}:2:29: columns.a.unit: unknown unit \"parsecs\" (one of: "
            )),
            "{text}"
        );
    }
}
