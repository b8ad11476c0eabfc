//! CSV files: their records ([`charter_model::csv`], every field with its line and
//! column), cells as numbers and times, and the wide layout — a time column and
//! one column per metric — read into a [`Frame`].

use crate::error::{Location, Problem, Problems};
use crate::frame::{Column, ColumnMeta, Frame};
use crate::map::ColumnMap;
use crate::signal::infer_signal;
use crate::{LoadError, read_file};
use charter_model::csv::{Field, Record, parse_csv};
use charter_model::{Signal, Timestamp};
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

/// Whether `r` names the time column `time_column` and nothing else: the line
/// pandas writes for its index's name under a header of several levels.
fn is_index_line(r: &Record, time_column: &str) -> bool {
    let mut cells = r
        .fields
        .iter()
        .map(|f| f.text.trim())
        .filter(|t| !t.is_empty());
    cells.next() == Some(time_column) && cells.next().is_none()
}

/// How many lines of a CSV file are its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderRows {
    /// The lines before the first whose time cell is a time (at most
    /// [`MAX_HEADER_ROWS`]).
    Detect,
    /// This many lines of column names (and a line naming only the time column,
    /// if one follows them).
    Exactly(usize),
}

/// The most header lines [`HeaderRows::Detect`] looks through.
pub const MAX_HEADER_ROWS: usize = 16;

/// A wide CSV file read into records, before its columns are named.
///
/// The header may span several lines (an export of a table with several column
/// levels, such as service / metric / statistic): each column's name is its cells
/// of those lines joined with `/`, the first line naming its component. A header
/// line with nothing but the time column's cell (the line pandas writes for the
/// name of its index) names no column and is skipped.
pub struct CsvTable {
    file: String,
    /// The header lines that name columns, top first; one for a plain CSV.
    levels: Vec<Record>,
    /// Each column's name: its cells of `levels`, joined with `/`.
    names: Vec<String>,
    /// The time column, when the header was read knowing its name.
    time_idx: Option<usize>,
    /// The line of the first header line, where header problems are reported.
    header_line: usize,
    rows: Vec<Record>,
}

impl CsvTable {
    /// Read the file at `path`; its first line is the header.
    pub fn read(path: &Path) -> Result<Self, LoadError> {
        let (file, mut records) = read_records(path)?;
        if records.is_empty() {
            return Err(LoadError::Empty { file });
        }
        let rows = records.split_off(1);
        Ok(Self::build(file, records, None, rows))
    }

    /// Read the file at `path`, whose header is `header_rows` lines long, with the
    /// time in the column that a header line names `time_column`.
    pub fn read_with(
        path: &Path,
        header_rows: HeaderRows,
        time_column: &str,
    ) -> Result<Self, LoadError> {
        let (file, mut records) = read_records(path)?;
        if records.is_empty() {
            return Err(LoadError::Empty { file });
        }
        let named = |r: &Record| r.fields.iter().position(|f| f.text.trim() == time_column);
        let (count, time_idx) = match header_rows {
            HeaderRows::Exactly(n) => {
                let mut n = n.clamp(1, records.len());
                // A line after them that names the time column alone (pandas' index
                // line) belongs to the header too.
                if records
                    .get(n)
                    .is_some_and(|r| is_index_line(r, time_column))
                {
                    n += 1;
                }
                (n, records[..n].iter().find_map(named))
            }
            HeaderRows::Detect => {
                let mut time_idx = None;
                let mut count = 0;
                for r in records.iter().take(MAX_HEADER_ROWS) {
                    if let Some(i) = time_idx
                        && r.fields
                            .get(i)
                            .is_some_and(|f: &Field| parse_time(&f.text).is_some())
                    {
                        break;
                    }
                    time_idx = time_idx.or_else(|| named(r));
                    count += 1;
                }
                // Without a time column, the header is its first line (and the
                // error lists that line's names).
                (if time_idx.is_some() { count } else { 1 }, time_idx)
            }
        };
        let rows = records.split_off(count);
        let mut table = Self::build(file, records, time_idx, rows);
        if time_idx.is_none() {
            return Err(table.no_time_column(time_column));
        }
        table.names[time_idx.unwrap_or(0)] = time_column.to_string();
        Ok(table)
    }

    fn build(
        file: String,
        header: Vec<Record>,
        time_idx: Option<usize>,
        rows: Vec<Record>,
    ) -> Self {
        let header_line = header.first().map_or(1, |r| r.line);
        let width = header.first().map_or(0, |r| r.fields.len());
        // Lines that name no column besides the time column's are skipped.
        let levels: Vec<Record> = header
            .into_iter()
            .filter(|r| {
                r.fields
                    .iter()
                    .enumerate()
                    .any(|(i, f)| Some(i) != time_idx && !f.text.trim().is_empty())
            })
            .collect();
        let names = (0..width)
            .map(|i| {
                let cells: Vec<&str> = levels
                    .iter()
                    .filter_map(|r| r.fields.get(i).map(|f| f.text.trim()))
                    .filter(|t| !t.is_empty())
                    .collect();
                cells.join("/")
            })
            .collect();
        CsvTable {
            file,
            levels,
            names,
            time_idx,
            header_line,
            rows,
        }
    }

    /// The file's name as errors show it.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// How many header lines name columns.
    pub fn levels(&self) -> usize {
        self.levels.len()
    }

    /// The header's column names, trimmed; a name of several header lines is
    /// their cells joined with `/`.
    pub fn names(&self) -> Vec<&str> {
        self.names.iter().map(String::as_str).collect()
    }

    fn no_time_column(&self, name: &str) -> LoadError {
        LoadError::NoTimeColumn {
            file: self.file.clone(),
            line: self.header_line,
            name: name.to_string(),
            header: self.names.clone(),
        }
    }

    /// Where the time column `name` is.
    pub fn time_index(&self, name: &str) -> Result<usize, LoadError> {
        if let Some(i) = self.time_idx {
            return Ok(i);
        }
        self.names
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| self.no_time_column(name))
    }

    /// The column of field `i` of a header of several lines: component from the
    /// first line, metric from the others joined with `/`, signal and direction
    /// guessed from that metric.
    fn level_meta(&self, i: usize, problems: &mut Problems) -> Option<ColumnMeta> {
        let cell = |r: &Record| r.fields.get(i).map_or("", |f| f.text.trim()).to_string();
        let first = &self.levels[0];
        let component = cell(first);
        let metric: Vec<String> = self.levels[1..]
            .iter()
            .map(cell)
            .filter(|t| !t.is_empty())
            .collect();
        if component.is_empty() {
            problems.push(Problem::NoComponentName {
                at: Location::new(
                    &self.file,
                    first.line,
                    first.fields.get(i).map_or(1, |f| f.column),
                ),
                index: i + 1,
            });
            return None;
        }
        if metric.is_empty() {
            problems.push(Problem::UnnamedColumn {
                at: Location::new(
                    &self.file,
                    first.line,
                    first.fields.get(i).map_or(1, |f| f.column),
                ),
                name: component,
            });
            return None;
        }
        let metric = metric.join("/");
        let (signal, worse) = infer_signal(&metric);
        Some(ColumnMeta {
            component,
            metric,
            signal,
            worse,
        })
    }

    /// The frame of the rows: times from `time_column`, metric columns named by
    /// `naming`. Every problem of the header is reported at once, then every
    /// problem of the rows.
    pub fn into_frame(self, time_column: &str, naming: Naming<'_>) -> Result<Frame, LoadError> {
        let time_idx = self.time_index(time_column)?;
        let file = self.file.as_str();
        let names = self.names();
        let mut problems = Problems::default();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let column_of = |i: usize| {
            self.levels
                .first()
                .and_then(|r| r.fields.get(i))
                .map_or(i + 1, |f| f.column)
        };
        for (i, name) in names.iter().enumerate() {
            if let Some(first) = seen.insert(name, column_of(i)) {
                problems.push(Problem::DuplicateColumn {
                    at: Location::new(file, self.header_line, column_of(i)),
                    name: name.to_string(),
                    first,
                });
            }
        }
        for r in self.levels.iter().skip(1) {
            if r.fields.len() != names.len() {
                problems.push(Problem::FieldCount {
                    at: Location::new(file, r.line, 1),
                    found: r.fields.len(),
                    expected: names.len(),
                });
            }
        }
        let mut specs: Vec<(usize, ColumnMeta)> = Vec::new();
        match naming {
            Naming::Map(map) => {
                for e in map.entries() {
                    if !names.contains(&e.column.as_str()) || e.column == names[time_idx] {
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
            Naming::Convention if self.levels.len() > 1 => {
                for i in (0..names.len()).filter(|&i| i != time_idx) {
                    if let Some(meta) = self.level_meta(i, &mut problems) {
                        specs.push((i, meta));
                    }
                }
            }
            Naming::Convention => {
                for (i, name) in names.iter().enumerate() {
                    if i == time_idx {
                        continue;
                    }
                    match split_name(name) {
                        Some((c, m)) => {
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
                        None => problems.push(Problem::UnnamedColumn {
                            at: Location::new(file, self.header_line, column_of(i)),
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
        let mut frame = read_rows(file, &self.rows, names.len(), time_idx, specs)?;
        if let Naming::Map(map) = naming {
            for c in &mut frame.columns {
                if let Some(unit) = map.unit(&c.name) {
                    c.unit = Some(unit);
                }
            }
        }
        Ok(frame)
    }
}

/// Words a metric's name starts with, besides the stems of [`infer_signal`]: what
/// a `_<metric>` suffix of a column name commonly is.
const METRIC_WORDS: &[&str] = &[
    "load",
    "rps",
    "qps",
    "tps",
    "req",
    "reqs",
    "request",
    "requests",
    "throughput",
    "traffic",
    "count",
    "rate",
    "usage",
    "util",
    "utilization",
    "net",
    "network",
    "rx",
    "tx",
    "disk",
    "io",
    "fs",
    "gc",
    "heap",
    "threads",
    "conn",
    "connections",
    "queue",
    "saturation",
    "pool",
    "bytes",
    "response",
];

/// How strongly `suffix` (what follows a `_` in a column name) reads as a metric:
/// 2 when its first word is a known metric word or starts with a signal's stem, 1
/// when it is a percentile such as `p99`, else 0.
fn metric_suffix(suffix: &str) -> u8 {
    let word = suffix
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("")
        .to_lowercase();
    if word.is_empty() {
        0
    } else if METRIC_WORDS.contains(&word.as_str()) || infer_signal(&word).0 != Signal::Other {
        2
    } else if word.len() > 1
        && word.starts_with('p')
        && word[1..].chars().all(|c| c.is_ascii_digit())
    {
        1
    } else {
        0
    }
}

/// `<component>_<metric>` split where the metric starts: at the last `_` whose
/// suffix starts with a metric word or a signal's stem (`my_db_cpu` is `my_db` /
/// `cpu`, `carts_lat_50` is `carts` / `lat_50`), else at the last `_` before a
/// percentile (`api_gw_p99` is `api_gw` / `p99`), else at the first `_`. `None`
/// without a non-empty part on each side.
pub fn split_name(name: &str) -> Option<(&str, &str)> {
    let cuts: Vec<(usize, u8)> = name
        .match_indices('_')
        .map(|(i, _)| i)
        .filter(|&i| i > 0 && i + 1 < name.len())
        .map(|i| (i, metric_suffix(&name[i + 1..])))
        .collect();
    let best = |strength: u8| cuts.iter().rev().find(|(_, s)| *s == strength).map(|c| c.0);
    let cut = best(2).or_else(|| best(1)).or_else(|| name.find('_'))?;
    let (c, m) = (&name[..cut], &name[cut + 1..]);
    (!c.is_empty() && !m.is_empty()).then_some((c, m))
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
    use charter_analyze::Worse;
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

    fn table_with(
        text: &str,
        rows: HeaderRows,
        time: &str,
    ) -> (tempfile::TempDir, Result<CsvTable, LoadError>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.csv");
        std::fs::write(&path, text).expect("write");
        let table = CsvTable::read_with(&path, rows, time);
        (dir, table)
    }

    /// Three header lines (component / metric / statistic) and pandas' line naming
    /// the index, as the PetShop dataset exports them.
    const LEVELS: &str = "microservice,Pet_Search::ECS,web_client,Pet_Search::ECS\n\
                          metric,latency,availability,requests\n\
                          statistic,p99,Average,Sum\n\
                          unix_timestamp,,,\n\
                          100.0,0.5,,12\n\
                          400.0,0.7,99.5,\n";

    #[test]
    fn several_header_lines_are_detected_and_name_component_and_metric() {
        let (_dir, t) = table_with(LEVELS, HeaderRows::Detect, "unix_timestamp");
        let t = t.expect("readable");
        assert_eq!(t.levels(), 3);
        assert_eq!(
            t.names(),
            [
                "unix_timestamp",
                "Pet_Search::ECS/latency/p99",
                "web_client/availability/Average",
                "Pet_Search::ECS/requests/Sum"
            ]
        );
        let f = t
            .into_frame("unix_timestamp", Naming::Convention)
            .expect("valid");
        let described: Vec<(&str, &str, Signal, Worse)> = f
            .columns
            .iter()
            .map(|c| (c.component.as_str(), c.metric.as_str(), c.signal, c.worse))
            .collect();
        assert_eq!(
            described,
            [
                ("Pet_Search::ECS", "latency/p99", Signal::Latency, Worse::Up),
                (
                    "web_client",
                    "availability/Average",
                    Signal::Availability,
                    Worse::Down
                ),
                (
                    "Pet_Search::ECS",
                    "requests/Sum",
                    Signal::Other,
                    Worse::Either
                ),
            ]
        );
        assert_eq!(
            f.times,
            [Timestamp::from_secs(100), Timestamp::from_secs(400)]
        );
        assert_eq!(f.lines, Some(vec![5, 6]));
        assert!(f.columns[1].values[0].is_nan(), "an empty cell is missing");
        assert_eq!(f.columns[2].values[0], 12.0);

        // Declared: the same frame.
        let (_dir, t) = table_with(LEVELS, HeaderRows::Exactly(4), "unix_timestamp");
        let g = t
            .expect("readable")
            .into_frame("unix_timestamp", Naming::Convention);
        assert_eq!(g.expect("valid").columns.len(), 3);
    }

    #[test]
    fn a_header_line_too_few_declares_a_header_line_as_data() {
        // Three lines of names: the index line after them is header too.
        let (_dir, t) = table_with(LEVELS, HeaderRows::Exactly(3), "unix_timestamp");
        let f = t
            .expect("readable")
            .into_frame("unix_timestamp", Naming::Convention);
        assert_eq!(f.expect("valid").lines, Some(vec![5, 6]));
        let (_dir, t) = table_with(LEVELS, HeaderRows::Exactly(2), "microservice");
        let err = t
            .expect("readable")
            .into_frame("microservice", Naming::Convention)
            .expect_err("line 3 is not data");
        let text = err.to_string();
        assert!(
            text.contains("m.csv:3:1: not a time (unix seconds or RFC 3339 in UTC): \"statistic\""),
            "{text}"
        );
    }

    #[test]
    fn a_column_without_a_component_in_a_header_of_several_lines_is_an_error() {
        let (_dir, t) = table_with(
            "service,a,\nmetric,cpu,mem\ntime,,\n1,1,2\n",
            HeaderRows::Detect,
            "time",
        );
        let t = t.expect("readable");
        let file = t.file().to_string();
        let err = t
            .into_frame("time", Naming::Convention)
            .expect_err("no component");
        assert_eq!(
            err.to_string(),
            format!("{file}:1:11: column 3 has no component name in this header row")
        );
    }

    #[test]
    fn no_time_column_in_any_header_line_is_an_error_naming_the_first() {
        let (_dir, t) = table_with("a,b\n1,2\n", HeaderRows::Detect, "time");
        let text = t.err().expect("no time column").to_string();
        assert!(
            text.ends_with(":1:1: no time column `time` (the header has: a, b)"),
            "{text}"
        );
    }

    #[test]
    fn component_names_with_underscores_keep_them() {
        assert_eq!(split_name("my_db_cpu"), Some(("my_db", "cpu")));
        assert_eq!(split_name("carts_lat_50"), Some(("carts", "lat_50")));
        assert_eq!(split_name("carts-db_mem"), Some(("carts-db", "mem")));
        assert_eq!(split_name("api_gw_p99"), Some(("api_gw", "p99")));
        assert_eq!(
            split_name("order_svc_latency_p99_ms"),
            Some(("order_svc", "latency_p99_ms"))
        );
        assert_eq!(
            split_name("db_query_ms"),
            Some(("db", "query_ms")),
            "no known metric: first _"
        );
        assert_eq!(split_name("db_cpu_pct"), Some(("db", "cpu_pct")));
        assert_eq!(split_name("x"), None);
        assert_eq!(split_name("_cpu"), None);
        assert_eq!(split_name("db_"), None);
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
