//! Errors of the loaders: a [`LoadError`] stops a load; the bad cells, lines and
//! keys of one file are [`Problem`]s, collected and reported together.

use charter_model::Timestamp;
use charter_model::csv::CsvError;
use std::fmt;

/// At most this many problems are listed; the rest are counted.
pub const MAX_LISTED_PROBLEMS: usize = 10;

/// A place in a file, shown as `file:line:column` (both 1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// `file` at `line` and `column`.
    pub fn new(file: &str, line: usize, column: usize) -> Self {
        Location {
            file: file.to_string(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One thing wrong in a file; loading goes on to find the others.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("{at}: duplicate column `{name}` (first at column {first})")]
    DuplicateColumn {
        at: Location,
        name: String,
        first: usize,
    },
    /// A column map names a column the CSV does not have (or its time column).
    #[error("{at}: columns.{column}: no column `{column}` in {csv}")]
    UnknownMappedColumn {
        at: Location,
        column: String,
        csv: String,
    },
    #[error("{at}: column `{name}` is not named <component>_<metric>")]
    UnnamedColumn { at: Location, name: String },
    #[error("{at}: {found} fields, the header has {expected}")]
    FieldCount {
        at: Location,
        found: usize,
        expected: usize,
    },
    #[error(
        "{at}: time {time} is not after the previous row's ({previous}); rows must be in \
         increasing time"
    )]
    TimeNotIncreasing {
        at: Location,
        time: Timestamp,
        previous: Timestamp,
    },
    #[error("{at}: missing time")]
    MissingTime { at: Location },
    #[error("{at}: not a time (unix seconds or RFC 3339 in UTC): {text:?}")]
    BadTime { at: Location, text: String },
    #[error("{at}: column `{column}`: not a number: {text:?}")]
    NotANumber {
        at: Location,
        column: String,
        text: String,
    },
    #[error("{at}: columns.{column}.unit: unknown unit {unit:?} (one of: {})", crate::Unit::names().join(", "))]
    UnknownUnit {
        at: Location,
        column: String,
        unit: String,
    },
    /// A column whose header cell of the component row is empty (several header
    /// rows).
    #[error("{at}: column {index} has no component name in this header row")]
    NoComponentName { at: Location, index: usize },
    #[error("{at}: columns.{column}.component: empty component name")]
    EmptyComponent { at: Location, column: String },
    #[error("{at}: duplicate component `{name}` (first at {first_line}:{first_column})")]
    DuplicateComponent {
        at: Location,
        name: String,
        first_line: usize,
        first_column: usize,
    },
    /// A Prometheus series without a label naming its component; `labels` are its
    /// labels as `{k="v",…}`.
    #[error("{file}: result[{index}] {labels}: no `{label}`, `job` or `instance` label")]
    NoComponentLabel {
        file: String,
        index: usize,
        labels: String,
        label: String,
    },
    /// A Prometheus series without `__name__`, and no default metric name.
    #[error("{file}: result[{index}] {labels}: no `__name__` label")]
    NoMetricName {
        file: String,
        index: usize,
        labels: String,
    },
}

/// The problems of one file, in the order found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Problems(Vec<Problem>);

impl Problems {
    /// Record one more problem.
    pub fn push(&mut self, problem: Problem) {
        self.0.push(problem);
    }

    /// Every problem, in the order found.
    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter()
    }

    /// `Ok` when there is none, else [`LoadError::Problems`].
    pub fn into_result(self) -> Result<(), LoadError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(LoadError::Problems(self))
        }
    }

    /// The list as printed: the first [`MAX_LISTED_PROBLEMS`], one a line, each
    /// written by `describe` (a caller may add its own hints), then how many more.
    pub fn render(&self, describe: impl Fn(&Problem) -> String) -> String {
        let listed: Vec<String> = self
            .0
            .iter()
            .take(MAX_LISTED_PROBLEMS)
            .map(describe)
            .collect();
        let mut text = listed.join("\n");
        if self.0.len() > MAX_LISTED_PROBLEMS {
            text.push_str(&format!(
                "\n… and {} more error(s)",
                self.0.len() - MAX_LISTED_PROBLEMS
            ));
        }
        text
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(ToString::to_string))
    }
}

/// Why a file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {file}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// A malformed CSV line.
    #[error(transparent)]
    Csv(#[from] CsvError),
    /// A YAML or JSON document that does not parse or has the wrong shape.
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },
    /// Every bad cell, line or key of a file.
    #[error("{0}")]
    Problems(Problems),
    #[error("{file}: empty file")]
    Empty { file: String },
    #[error("{file}:{line}:1: no time column `{name}` (the header has: {})", .header.join(", "))]
    NoTimeColumn {
        file: String,
        line: usize,
        name: String,
        header: Vec<String>,
    },
    #[error("{file}: no metric columns besides `{time_column}`")]
    NoMetricColumns { file: String, time_column: String },
    #[error("{file}: no data rows")]
    NoRows { file: String },
    /// Rows appended from `file` lack a column of the frame.
    #[error("{file}: no column {column:?}")]
    MissingColumn { file: String, column: String },
    #[error("{file}: `columns` maps no column")]
    EmptyMap { file: String },
    #[error("{file}: status {status:?}: {}", .message.as_deref().unwrap_or("no error message"))]
    QueryFailed {
        file: String,
        status: String,
        message: Option<String>,
    },
    #[error("{file}: no `data` in the response")]
    NoData { file: String },
    #[error("{file}: resultType {result_type:?}, not a range query's \"matrix\"")]
    NotMatrix { file: String, result_type: String },
    #[error("{file}: the result holds no series")]
    NoSeries { file: String },
    #[error("{file}: two series with the same labels: {component} {metric}")]
    DuplicateSeries {
        file: String,
        component: String,
        metric: String,
    },
    #[error("{file}: no sample in any series")]
    NoSamples { file: String },
    /// A graph file that is a charter with errors other than its shape.
    #[error(transparent)]
    Charter(#[from] charter_model::ConfigError),
    /// Neither a valid charter nor the `components:` form; `errors` are the
    /// charter's.
    #[error(
        "{file}: not a valid charter nor a graph file (components: [{{name, depends_on}}]):\n{}",
        .errors.join("\n")
    )]
    NotAGraph { file: String, errors: Vec<String> },
}

/// `file:line:col: message` of a serde-saphyr error, without its snippet.
pub(crate) fn yaml_error(file: &str, e: &serde_saphyr::Error) -> LoadError {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    let full = e.without_snippet().to_string();
    let first = full.lines().next().unwrap_or("invalid document").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let cut = first.find(" at line ").map_or(first, |i| &first[..i]);
    LoadError::Syntax {
        at: Location::new(file, line.max(1) as usize, column.max(1) as usize),
        message: cut.trim_end_matches('.').to_string(),
    }
}
