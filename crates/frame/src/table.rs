//! CSV files: their records ([`charter_model::csv`], every field with its line and
//! column), cells as numbers and times, and the wide layout — a time column and
//! one column per metric — read into a [`Frame`].

use crate::error::{Location, Problem, Problems};
use crate::frame::{Column, ColumnMeta, Frame};
use crate::map::ColumnMap;
use crate::signal::infer_signal;
use crate::{LoadError, read_file};
use charter_model::Timestamp;
use charter_model::csv::{Field, Record, parse_csv};
use std::collections::HashMap;
use std::path::Path;
use std::time::SystemTime;

/// Every record of the CSV file at `path`, and the file's name as errors show it.
pub fn read_records(path: &Path) -> Result<(String, Vec<Record>), LoadError> {
    let (file, text) = read_file(path)?;
    let records = parse_csv(&text, &file)?;
    Ok((file, records))
}

/// A cell as a number; an empty cell is a missing value (NaN). `column` names the
/// column in the error.
pub fn number(field: &Field, file: &str, line: usize, column: &str) -> Result<f64, Problem> {
    let t = field.text.trim();
    if t.is_empty() {
        return Ok(f64::NAN);
    }
    t.parse::<f64>().map_err(|_| Problem::NotANumber {
        at: Location::new(file, line, field.column),
        column: column.to_string(),
        text: t.to_string(),
    })
}

/// Unix seconds (fractions allowed) or RFC 3339 in UTC (`2024-05-01T12:00:00Z`, `T`,
/// `Z` and fractions optional).
pub fn parse_time(text: &str) -> Option<Timestamp> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>() {
        return secs
            .is_finite()
            .then(|| Timestamp((secs * 1000.0).round() as i64));
    }
    let at = humantime::parse_rfc3339_weak(t).ok()?;
    let d = at.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_millis()).ok().map(Timestamp)
}

/// How the columns of a wide CSV are named.
#[derive(Clone, Copy)]
pub enum Naming<'a> {
    /// `<component>_<metric>`, the signal inferred from the metric
    /// ([`infer_signal`]); any other name is a problem.
    Convention,
    /// As a column map says; columns it does not name are left out.
    Map(&'a ColumnMap),
    /// A dataset's own rule, given each column's name; every column is kept.
    Rule(&'a dyn Fn(&str) -> ColumnMeta),
}

/// A wide CSV file read into records, before its columns are named.
pub struct CsvTable {
    file: String,
    header: Record,
    rows: Vec<Record>,
}

impl CsvTable {
    /// Read the file at `path`; it must have a header line.
    pub fn read(path: &Path) -> Result<Self, LoadError> {
        let (file, mut records) = read_records(path)?;
        if records.is_empty() {
            return Err(LoadError::Empty { file });
        }
        let rows = records.split_off(1);
        let header = records.remove(0);
        Ok(CsvTable { file, header, rows })
    }

    /// The file's name as errors show it.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The header's column names, trimmed.
    pub fn names(&self) -> Vec<&str> {
        self.header.fields.iter().map(|f| f.text.trim()).collect()
    }

    /// Where the time column `name` is.
    pub fn time_index(&self, name: &str) -> Result<usize, LoadError> {
        let names = self.names();
        names
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| LoadError::NoTimeColumn {
                file: self.file.clone(),
                line: self.header.line,
                name: name.to_string(),
                header: names.iter().map(ToString::to_string).collect(),
            })
    }

    /// The frame of the rows: times from `time_column`, metric columns named by
    /// `naming`. Every problem of the header is reported at once, then every
    /// problem of the rows.
    pub fn into_frame(self, time_column: &str, naming: Naming<'_>) -> Result<Frame, LoadError> {
        let time_idx = self.time_index(time_column)?;
        let file = self.file.as_str();
        let header = &self.header;
        let names = self.names();
        let mut problems = Problems::default();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (f, name) in header.fields.iter().zip(&names) {
            if let Some(first) = seen.insert(name, f.column) {
                problems.push(Problem::DuplicateColumn {
                    at: Location::new(file, header.line, f.column),
                    name: name.to_string(),
                    first,
                });
            }
        }
        let mut specs: Vec<(usize, ColumnMeta)> = Vec::new();
        match naming {
            Naming::Map(map) => {
                for e in map.entries() {
                    if !names.contains(&e.column.as_str()) || e.column == time_column {
                        problems.push(Problem::UnknownMappedColumn {
                            at: Location::new(map.file(), e.line, e.col),
                            column: e.column.clone(),
                            csv: file.to_string(),
                        });
                    }
                }
                for (i, name) in names.iter().enumerate() {
                    if let Some(meta) = map.meta(name)
                        && i != time_idx
                    {
                        specs.push((i, meta));
                    }
                }
            }
            Naming::Convention => {
                for (i, (f, name)) in header.fields.iter().zip(&names).enumerate() {
                    if i == time_idx {
                        continue;
                    }
                    match name.split_once('_') {
                        Some((c, m)) if !c.is_empty() && !m.is_empty() => {
                            let (signal, worse) = infer_signal(m);
                            specs.push((
                                i,
                                ColumnMeta {
                                    component: c.to_string(),
                                    metric: m.to_string(),
                                    signal,
                                    worse,
                                },
                            ));
                        }
                        _ => problems.push(Problem::UnnamedColumn {
                            at: Location::new(file, header.line, f.column),
                            name: name.to_string(),
                        }),
                    }
                }
            }
            Naming::Rule(rule) => {
                specs.extend(
                    (0..names.len())
                        .filter(|&i| i != time_idx)
                        .map(|i| (i, rule(names[i]))),
                );
            }
        }
        problems.into_result()?;
        if specs.is_empty() {
            return Err(LoadError::NoMetricColumns {
                file: self.file.clone(),
                time_column: time_column.to_string(),
            });
        }
        let specs = specs
            .into_iter()
            .map(|(i, meta)| (i, names[i].to_string(), meta))
            .collect();
        read_rows(file, &self.rows, names.len(), time_idx, specs)
    }
}

/// The frame of data `rows` of `width` fields: times from field `time_idx`, and one
/// column per `(field index, name, meta)` of `specs`. Every bad row and cell is
/// reported at once; times must increase.
pub fn read_rows(
    file: &str,
    rows: &[Record],
    width: usize,
    time_idx: usize,
    specs: Vec<(usize, String, ColumnMeta)>,
) -> Result<Frame, LoadError> {
    if rows.is_empty() {
        return Err(LoadError::NoRows {
            file: file.to_string(),
        });
    }
    let mut problems = Problems::default();
    let mut times = Vec::with_capacity(rows.len());
    let mut lines = Vec::with_capacity(rows.len());
    let mut values = vec![Vec::with_capacity(rows.len()); specs.len()];
    for r in rows {
        if r.fields.len() != width {
            problems.push(Problem::FieldCount {
                at: Location::new(file, r.line, 1),
                found: r.fields.len(),
                expected: width,
            });
            continue;
        }
        let tf = &r.fields[time_idx];
        let at = Location::new(file, r.line, tf.column);
        match parse_time(&tf.text) {
            Some(t) => {
                if let Some(&previous) = times.last()
                    && t <= previous
                {
                    problems.push(Problem::TimeNotIncreasing {
                        at,
                        time: t,
                        previous,
                    });
                }
                times.push(t);
            }
            None => {
                let text = tf.text.trim();
                problems.push(if text.is_empty() {
                    Problem::MissingTime { at }
                } else {
                    Problem::BadTime {
                        at,
                        text: text.to_string(),
                    }
                });
                times.push(times.last().copied().unwrap_or(Timestamp(0)));
            }
        }
        lines.push(r.line);
        for (col, (i, name, _)) in values.iter_mut().zip(&specs) {
            col.push(
                number(&r.fields[*i], file, r.line, name).unwrap_or_else(|p| {
                    problems.push(p);
                    f64::NAN
                }),
            );
        }
    }
    problems.into_result()?;
    Ok(Frame {
        source: file.to_string(),
        times,
        lines: Some(lines),
        columns: specs
            .into_iter()
            .zip(values)
            .map(|((_, name, meta), values)| Column::new(name, meta, values))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_model::csv::split_line;

    #[test]
    fn times_are_unix_seconds_or_rfc3339() {
        assert_eq!(
            parse_time("1700000000"),
            Some(Timestamp::from_secs(1_700_000_000))
        );
        assert_eq!(
            parse_time("1700000000.5"),
            Some(Timestamp(1_700_000_000_500))
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z"),
            Some(Timestamp::from_secs(1_700_000_000))
        );
        assert_eq!(
            parse_time("2023-11-14 22:13:20"),
            Some(Timestamp::from_secs(1_700_000_000))
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("NaN"), None);
    }

    #[test]
    fn a_bad_number_names_file_line_column_and_its_column() {
        let f = split_line("1,x2", "m.csv", 7).expect("valid line");
        let err = number(&f[1], "m.csv", 7, "db_cpu").expect_err("not a number");
        assert_eq!(
            err.to_string(),
            "m.csv:7:3: column `db_cpu`: not a number: \"x2\""
        );
        assert!(number(&f[0], "m.csv", 7, "time").is_ok_and(|v| v == 1.0));
    }

    fn table(text: &str) -> (tempfile::TempDir, CsvTable) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.csv");
        std::fs::write(&path, text).expect("write");
        let table = CsvTable::read(&path).expect("readable");
        (dir, table)
    }

    #[test]
    fn every_bad_row_is_reported_with_its_place() {
        let (_dir, t) = table("time,a_lat\n1,1\n1,x\n,2\n3\n");
        let file = t.file().to_string();
        let err = t
            .into_frame("time", Naming::Convention)
            .expect_err("bad rows");
        assert_eq!(
            err.to_string(),
            format!(
                "{file}:3:1: time 1970-01-01T00:00:01Z is not after the previous row's \
                 (1970-01-01T00:00:01Z); rows must be in increasing time\n\
                 {file}:3:3: column `a_lat`: not a number: \"x\"\n\
                 {file}:4:1: missing time\n\
                 {file}:5:1: 1 fields, the header has 2"
            )
        );
    }

    #[test]
    fn conventional_names_split_at_the_first_underscore() {
        let (_dir, t) = table("time,carts-db_lat_90,x\n1,1,2\n");
        let file = t.file().to_string();
        let err = t.into_frame("time", Naming::Convention).expect_err("x");
        assert_eq!(
            err.to_string(),
            format!("{file}:1:22: column `x` is not named <component>_<metric>")
        );
        let (_dir, t) = table("time,carts-db_lat_90\n1,1\n");
        let f = t.into_frame("time", Naming::Convention).expect("valid");
        assert_eq!(f.columns[0].component, "carts-db");
        assert_eq!(f.columns[0].metric, "lat_90");
        assert_eq!(f.lines, Some(vec![2]));
    }

    #[test]
    fn more_than_ten_problems_are_counted() {
        let rows: String = (1..=12).map(|i| format!("{i},x\n")).collect();
        let (_dir, t) = table(&format!("time,a_b\n{rows}"));
        let err = t.into_frame("time", Naming::Convention).expect_err("bad");
        let text = err.to_string();
        assert_eq!(text.lines().count(), 11);
        assert!(text.ends_with("… and 2 more error(s)"), "{text}");
    }
}
