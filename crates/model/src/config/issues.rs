//! What validation reports: located issues, the collector the section passes share,
//! and the error a charter that cannot be loaded gives.

use super::raw::S;
use std::fmt;
use std::time::Duration;

/// One problem found in a charter, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationIssue {
    pub file: String,
    pub line: u64,
    pub column: u64,
    /// The key path, e.g. `components[2].depends_on[0]`.
    pub path: String,
    pub message: String,
    /// Warnings do not make a charter invalid unless `--deny-warnings`.
    pub warning: bool,
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = if self.warning { "warning: " } else { "" };
        write!(
            f,
            "{}:{}:{}: {level}{}: {}",
            OneLine(&self.file),
            self.line,
            self.column,
            OneLine(&self.path),
            OneLine(&self.message)
        )
    }
}

/// Text echoed into a one-line message: control characters (a newline in a value
/// the charter wrote, an escape sequence) are shown escaped (`\n`, `\u{1b}`), so one
/// issue is always one line and a value cannot forge another.
pub struct OneLine<'a>(pub &'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// A bound as a charter would write it, in its largest whole unit (`0s`, `500ms`,
/// `5m`, `1h`, `3650d`).
fn fmt_bound(d: Duration) -> String {
    let (s, ms) = (d.as_secs(), d.subsec_millis());
    match () {
        _ if ms != 0 || (s == 0 && d.as_nanos() != 0) => format!("{}ms", d.as_millis()),
        _ if s >= 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        _ if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        _ if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

/// Why a charter could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read charter {path}: {cause}")]
    Read { path: String, cause: std::io::Error },
    #[error("{}", fmt_issues(.0))]
    Invalid(Vec<ValidationIssue>),
}

fn fmt_issues(issues: &[ValidationIssue]) -> String {
    let errors = issues.iter().filter(|i| !i.warning).count();
    let mut s = format!("charter is invalid ({errors} error(s))");
    for i in issues {
        s.push_str("\n  ");
        s.push_str(&i.to_string());
    }
    s
}

/// The issues of one charter, collected by every section pass in turn.
pub(super) struct Issues<'a> {
    file: &'a str,
    list: Vec<ValidationIssue>,
}

impl<'a> Issues<'a> {
    /// An empty collector for the charter named `file` in messages.
    pub(super) fn new(file: &'a str) -> Self {
        Issues {
            file,
            list: Vec::new(),
        }
    }

    /// An error at `span`.
    pub(super) fn at<T>(
        &mut self,
        span: &S<T>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.push(span, path, message, false);
    }

    /// A warning at `span`.
    pub(super) fn warn<T>(
        &mut self,
        span: &S<T>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.push(span, path, message, true);
    }

    fn push<T>(
        &mut self,
        span: &S<T>,
        path: impl Into<String>,
        message: impl Into<String>,
        warning: bool,
    ) {
        self.list.push(ValidationIssue {
            file: self.file.to_string(),
            line: span.referenced.line().max(1),
            column: span.referenced.column().max(1),
            path: path.into(),
            message: message.into(),
            warning,
        });
    }

    /// A duration written like `30s`: `default` when absent, and also when it does
    /// not parse (after reporting it), so later checks see a sensible value.
    pub(super) fn duration(
        &mut self,
        v: &Option<S<String>>,
        path: &str,
        default: Duration,
    ) -> Duration {
        let Some(s) = v else { return default };
        match humantime::parse_duration(s.value.trim()) {
            Ok(d) => d,
            Err(e) => {
                self.at(
                    s,
                    path,
                    format!(
                        "invalid duration `{}`: {e} (write e.g. 30s, 5m, 1h)",
                        s.value
                    ),
                );
                default
            }
        }
    }

    /// [`Issues::duration`] within `[min, max]`: a value outside is reported with the
    /// range and `default` returned, so no later pass (or `run`) sees it.
    pub(super) fn duration_in(
        &mut self,
        v: &Option<S<String>>,
        path: &str,
        default: Duration,
        (min, max): (Duration, Duration),
    ) -> Duration {
        let d = self.duration(v, path, default);
        match v {
            Some(s) if d < min || d > max => {
                self.at(
                    s,
                    path,
                    format!(
                        "`{}` is out of range: must be between {} and {}",
                        s.value.trim(),
                        fmt_bound(min),
                        fmt_bound(max)
                    ),
                );
                default
            }
            _ => d,
        }
    }

    /// A count within `[min, max]`; outside it is reported and `default` returned.
    pub(super) fn count_in<T>(
        &mut self,
        v: &Option<S<T>>,
        path: &str,
        default: T,
        (min, max): (T, T),
    ) -> T
    where
        T: Copy + PartialOrd + fmt::Display,
    {
        match v {
            Some(s) if s.value < min || s.value > max => {
                self.at(
                    s,
                    path,
                    format!(
                        "{} is out of range: must be between {min} and {max}",
                        s.value
                    ),
                );
                default
            }
            Some(s) => s.value,
            None => default,
        }
    }

    /// How many issues were reported so far.
    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    /// Every issue in file order (a stable sort, so issues at one position keep the
    /// order the passes found them in): `Ok` with the warnings when none is an
    /// error, otherwise `Err` with all of them.
    pub(super) fn finish(self) -> Result<Vec<ValidationIssue>, ConfigError> {
        let mut list = self.list;
        list.sort_by_key(|i| (i.line, i.column));
        if list.iter().any(|i| !i.warning) {
            return Err(ConfigError::Invalid(list));
        }
        Ok(list)
    }
}
