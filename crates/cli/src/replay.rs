//! `charter replay`: the live loop's root-cause analysis over recorded metrics, to
//! diagnose a past incident or to try Charter before trusting it.
//!
//! Reads a wide CSV or a Prometheus range-query response, splits every series at the
//! incident's onset (given with `--at` or found with `--detect`) and runs
//! [`charter_analyze::diagnose`] — the same ranking the controller runs — with the
//! dependency graph of `--graph` when there is one. Everything here is format
//! adapting and printing; the analysis is the analyze crate's.

use anyhow::{Context, Result, anyhow, bail};
use charter_analyze::{
    DiagnosisInput, EpisodeLog, MetricSeries, RankOptions, Worse, detect_onset, diagnose,
};
use charter_model::csv::parse_csv;
use charter_model::{Diagnosis, Pattern, Signal, Timestamp, Topology, fmt_duration_secs};
use serde::{Deserialize, Deserializer, Serialize};
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// At most this many bad cells are listed; the rest are counted.
const MAX_LISTED_ERRORS: usize = 10;

/// Options of `charter replay`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["csv", "prometheus"])))]
#[command(group(clap::ArgGroup::new("when").required(true).args(["at", "detect"])))]
pub struct ReplayArgs {
    /// A wide CSV: a time column and one column per component metric.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// A Prometheus range-query response (`/api/v1/query_range` JSON).
    #[arg(long, value_name = "FILE")]
    prometheus: Option<PathBuf>,
    /// The CSV's time column (unix seconds or RFC 3339 in UTC).
    #[arg(long, value_name = "NAME", default_value = "time")]
    time_column: String,
    /// YAML mapping CSV columns to components and metrics; without it a column is
    /// named `<component>_<metric>`.
    #[arg(long, value_name = "FILE", conflicts_with = "prometheus")]
    map: Option<PathBuf>,
    /// The Prometheus label naming the component (then `job`, then `instance`).
    #[arg(long, value_name = "LABEL", default_value = "service")]
    component_label: String,
    /// Metric name for Prometheus series without a `__name__` label.
    #[arg(long, value_name = "NAME")]
    metric_name: Option<String>,
    /// Dependency graph: a charter file, or `components: [{name, depends_on}]`.
    #[arg(long, value_name = "FILE")]
    graph: Option<PathBuf>,
    /// When the incident began (unix seconds or RFC 3339 in UTC).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Find the onset from the data (the change point shared by most series).
    #[arg(long)]
    detect: bool,
    /// With --detect: the fewest rows on either side of the onset.
    #[arg(long, value_name = "ROWS", default_value_t = 10)]
    min_segment: usize,
    /// Use at most this much data on each side of the onset (e.g. `30m`).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    window: Option<Duration>,
    /// The component where the symptom was seen; with --graph only what it depends on
    /// is blamed.
    #[arg(long, value_name = "COMPONENT")]
    target: Option<String>,
    /// Robust standard deviations at which a metric counts as abnormal.
    #[arg(long, value_name = "SD")]
    threshold: Option<f64>,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Replay: load, split at the onset, diagnose, print. Input errors are `Err` (exit
/// code 2); a diagnosis, with or without a root cause, exits 0.
pub fn run(args: &ReplayArgs) -> Result<ExitCode> {
    let mut options = RankOptions::default();
    if let Some(t) = args.threshold {
        if !(t.is_finite() && t > 0.0) {
            bail!("--threshold must be a positive number, not {t}");
        }
        options.threshold = t;
    }
    let frame = match (&args.csv, &args.prometheus) {
        (Some(csv), _) => {
            let map = args.map.as_deref().map(load_map).transpose()?;
            load_csv(csv, &args.time_column, map.as_ref())?
        }
        (None, Some(prom)) => {
            load_prometheus(prom, &args.component_label, args.metric_name.as_deref())?
        }
        (None, None) => bail!("give --csv FILE or --prometheus FILE"),
    };
    let components: BTreeSet<&str> = frame.columns.iter().map(|c| c.component.as_str()).collect();
    let topology = args.graph.as_deref().map(load_graph).transpose()?;
    if let Some(topo) = &topology {
        let missing: Vec<&str> = components
            .iter()
            .copied()
            .filter(|c| !topo.contains(c))
            .collect();
        if !missing.is_empty() {
            eprintln!(
                "note: not in the graph (no dependencies known): {}",
                missing.join(", ")
            );
        }
        let unobserved: Vec<&str> = topo
            .names()
            .iter()
            .map(String::as_str)
            .filter(|n| !components.contains(n))
            .collect();
        if !unobserved.is_empty() {
            // The analysis only follows dependencies through abnormal components, and
            // a component without data is never abnormal.
            eprintln!(
                "note: no data for (counted as normal, so propagation stops there): {}",
                unobserved.join(", ")
            );
        }
    }
    if let Some(t) = &args.target {
        if !components.contains(t.as_str()) {
            bail!(
                "--target {t}: no such component in the data (components: {})",
                components.iter().copied().collect::<Vec<_>>().join(", ")
            );
        }
        if topology.is_none() {
            eprintln!("note: --target only narrows the candidates with --graph");
        }
    }

    let onset = find_onset(&frame, args)?;
    let (normal, anomalous) = split_windows(&frame.times, onset.index, args.window);
    if normal.is_empty() {
        bail!(
            "no rows before the onset {} within the window",
            frame.times[onset.index]
        );
    }
    let series: Vec<MetricSeries> = frame
        .columns
        .iter()
        .map(|c| MetricSeries {
            component: c.component.clone(),
            metric: c.metric.clone(),
            signal: Some(c.signal),
            normal: c.values[normal.clone()].to_vec(),
            anomalous: c.values[anomalous.clone()].to_vec(),
            times: frame.times[anomalous.clone()].to_vec(),
            worse: c.worse,
            baseline: None,
        })
        .collect();
    let empty: Vec<&str> = frame
        .columns
        .iter()
        .zip(&series)
        .filter(|(_, s)| {
            !s.normal.iter().any(|x| x.is_finite()) || !s.anomalous.iter().any(|x| x.is_finite())
        })
        .map(|(c, _)| c.name.as_str())
        .collect();
    if !empty.is_empty() {
        eprintln!(
            "note: not analysed, no value on one side of the onset: {}",
            empty.join(", ")
        );
    }
    let diagnosis = diagnose(DiagnosisInput {
        incident_id: 0,
        now: frame.times[anomalous.end - 1],
        violations: &[],
        series: &series,
        topology: topology.as_ref(),
        zones: None,
        changes: &[],
        episodes: EpisodeLog::none(),
        observed_since: Timestamp(0),
        target: args.target.as_deref(),
        options: &options,
    });
    let report = Report {
        source: frame.source.clone(),
        rows: frame.times.len(),
        series: frame.columns.len(),
        components: components.len(),
        first: frame.times[0].to_string(),
        last: frame.times[frame.times.len() - 1].to_string(),
        onset: frame.times[onset.index].to_string(),
        onset_unix: frame.times[onset.index].as_secs_f64(),
        onset_row: onset.index + 1,
        onset_line: frame.lines.as_ref().map(|l| l[onset.index]),
        found: onset.found,
        requested: args.at.clone(),
        strength: onset.strength,
        normal_rows: normal.len(),
        anomalous_rows: anomalous.len(),
        graph: args.graph.as_ref().map(|g| g.display().to_string()),
        target: args.target.clone(),
        threshold: options.threshold,
        diagnosis,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_text(&report, args.min_segment));
    }
    Ok(ExitCode::SUCCESS)
}

/// What a metric measures and which direction of change is harmful, guessed from its
/// name when the user did not say.
///
/// The name is cut into lowercase words (at non-alphanumerics and camelCase
/// humps) and a rule applies when a word starts with one of its stems, so that
/// `p99_latency_ms` is a latency but `platform_count` is not. First match wins:
///
/// | stem                       | signal         | harmful |
/// |----------------------------|----------------|---------|
/// | `lat`, `duration`          | latency        | up      |
/// | `err`                      | errors         | up      |
/// | `cpu`                      | utilization    | up      |
/// | `mem`                      | memory         | up      |
/// | `avail`, `success`         | availability   | down    |
/// | `hit`                      | cache          | down    |
/// | `miss`                     | cache          | up      |
/// | anything else              | other          | either  |
pub fn infer_signal(metric: &str) -> (Signal, Worse) {
    const RULES: &[(&[&str], Signal, Worse)] = &[
        (&["lat", "duration"], Signal::Latency, Worse::Up),
        (&["err"], Signal::Errors, Worse::Up),
        (&["cpu"], Signal::Utilization, Worse::Up),
        (&["mem"], Signal::Memory, Worse::Up),
        (&["avail", "success"], Signal::Availability, Worse::Down),
        (&["hit"], Signal::Cache, Worse::Down),
        (&["miss"], Signal::Cache, Worse::Up),
    ];
    let words = words(metric);
    RULES
        .iter()
        .find(|(stems, _, _)| words.iter().any(|w| stems.iter().any(|s| w.starts_with(s))))
        .map_or((Signal::Other, Worse::Either), |&(_, s, w)| (s, w))
}

/// Lowercase words of a name: split at non-alphanumerics and before an uppercase
/// letter that follows a lowercase one (`httpLatency` → `http`, `latency`).
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        let boundary = !c.is_alphanumeric() || (c.is_uppercase() && prev_lower);
        if boundary && !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        }
        prev_lower = c.is_lowercase();
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// One metric column, with every row's value (NaN when missing).
#[derive(Debug, Clone, PartialEq)]
struct Column {
    /// The name in the input (CSV header, or the series' labels).
    name: String,
    component: String,
    metric: String,
    signal: Signal,
    worse: Worse,
    values: Vec<f64>,
}

/// Aligned series: one time axis, increasing, and columns of the same length.
#[derive(Debug, Clone, PartialEq)]
struct Frame {
    /// The file the data came from.
    source: String,
    times: Vec<Timestamp>,
    /// The CSV line of every row, when the data is a CSV.
    lines: Option<Vec<usize>>,
    columns: Vec<Column>,
}

/// Unix seconds (fractions allowed) or RFC 3339 in UTC (`2024-05-01T12:00:00Z`, `T`,
/// `Z` and fractions optional).
fn parse_time(text: &str) -> Option<Timestamp> {
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

/// Where the data is split, and how that was decided.
struct OnsetChoice {
    /// Index of the first anomalous row.
    index: usize,
    found: Found,
    /// Change-point strength, when detected.
    strength: Option<f64>,
}

/// How the onset was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Found {
    /// `--at`.
    Given,
    /// `--detect`.
    Detected,
}

fn find_onset(frame: &Frame, args: &ReplayArgs) -> Result<OnsetChoice> {
    let first = frame.times[0];
    let last = frame.times[frame.times.len() - 1];
    if let Some(at) = &args.at {
        let t = parse_time(at)
            .ok_or_else(|| anyhow!("--at {at:?}: not a time (unix seconds or RFC 3339 in UTC)"))?;
        if t <= first || t > last {
            bail!(
                "--at {at}: {t} is outside the data of {} (from {first} to {last}): the onset \
                 needs a row before it and a row at or after it",
                frame.source
            );
        }
        let index = frame.times.partition_point(|x| *x < t);
        return Ok(OnsetChoice {
            index,
            found: Found::Given,
            strength: None,
        });
    }
    let columns: Vec<Vec<f64>> = frame.columns.iter().map(|c| c.values.clone()).collect();
    let onset = detect_onset(&columns, args.min_segment).ok_or_else(|| {
        anyhow!(
            "{}: no onset found: {} rows (--detect needs at least 2 × --min-segment = {}) \
             or no column varies",
            frame.source,
            frame.times.len(),
            2 * args.min_segment.max(1)
        )
    })?;
    Ok(OnsetChoice {
        index: onset.index,
        found: Found::Detected,
        strength: Some(onset.strength),
    })
}

/// Rows before the onset and rows from it, each at most `window` long.
fn split_windows(
    times: &[Timestamp],
    onset: usize,
    window: Option<Duration>,
) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let Some(w) = window else {
        return (0..onset, onset..times.len());
    };
    let t0 = times[onset];
    let start = times.partition_point(|t| *t < t0.minus(w));
    let end = times.partition_point(|t| *t < t0.plus(w)).max(onset + 1);
    (start..onset, onset..end)
}

/// Errors found while reading data, listed together (up to [`MAX_LISTED_ERRORS`]).
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, message: String) {
        self.0.push(message);
    }

    fn into_result(self) -> Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut text = self.0[..self.0.len().min(MAX_LISTED_ERRORS)].join("\n");
        if self.0.len() > MAX_LISTED_ERRORS {
            text.push_str(&format!(
                "\n… and {} more error(s)",
                self.0.len() - MAX_LISTED_ERRORS
            ));
        }
        Err(anyhow!(text))
    }
}

/// Read a wide CSV; columns are mapped by `map` or by the `<component>_<metric>`
/// convention.
fn load_csv(path: &Path, time_column: &str, map: Option<&ColumnMap>) -> Result<Frame> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {file}"))?;
    let records = parse_csv(&text, &file)?;
    let Some((header, rows)) = records.split_first() else {
        bail!("{file}: empty file");
    };
    let names: Vec<&str> = header.fields.iter().map(|f| f.text.trim()).collect();
    let Some(time_idx) = names.iter().position(|n| *n == time_column) else {
        bail!(
            "{file}:{}:1: no time column `{time_column}` (the header has: {}; choose one with \
             --time-column)",
            header.line,
            names.join(", ")
        );
    };
    let mut problems = Problems::default();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (f, name) in header.fields.iter().zip(&names) {
        if let Some(first) = seen.insert(name, f.column) {
            problems.push(format!(
                "{file}:{}:{}: duplicate column `{name}` (first at column {first})",
                header.line, f.column
            ));
        }
    }
    // (index in the record, component, metric, signal, worse) of every analysed column.
    let mut specs: Vec<(usize, String, String, Signal, Worse)> = Vec::new();
    match map {
        Some(map) => {
            for e in &map.entries {
                if !names.contains(&e.column.as_str()) || e.column == time_column {
                    problems.push(format!(
                        "{}:{}:{}: columns.{}: no column `{}` in {file}",
                        map.file, e.line, e.col, e.column, e.column
                    ));
                }
            }
            let unmapped: Vec<&str> = names
                .iter()
                .enumerate()
                .filter(|(i, n)| *i != time_idx && !map.entries.iter().any(|e| e.column == **n))
                .map(|(_, n)| *n)
                .collect();
            if !unmapped.is_empty() {
                eprintln!(
                    "note: ignored, not in {}: {}",
                    map.file,
                    unmapped.join(", ")
                );
            }
            for (i, name) in names.iter().enumerate() {
                if let Some(e) = map.entries.iter().find(|e| e.column == *name)
                    && i != time_idx
                {
                    let (signal, worse) = infer_signal(&e.metric);
                    specs.push((
                        i,
                        e.component.clone(),
                        e.metric.clone(),
                        e.signal.unwrap_or(signal),
                        e.worse.unwrap_or(worse),
                    ));
                }
            }
        }
        None => {
            for (i, (f, name)) in header.fields.iter().zip(&names).enumerate() {
                if i == time_idx {
                    continue;
                }
                match name.split_once('_') {
                    Some((c, m)) if !c.is_empty() && !m.is_empty() => {
                        let (signal, worse) = infer_signal(m);
                        specs.push((i, c.to_string(), m.to_string(), signal, worse));
                    }
                    _ => problems.push(format!(
                        "{file}:{}:{}: column `{name}` is not named <component>_<metric>; \
                         map it with --map",
                        header.line, f.column
                    )),
                }
            }
        }
    }
    problems.into_result()?;
    if specs.is_empty() {
        bail!("{file}: no metric columns besides `{time_column}`");
    }
    if rows.is_empty() {
        bail!("{file}: no data rows");
    }

    let mut problems = Problems::default();
    let mut times = Vec::with_capacity(rows.len());
    let mut lines = Vec::with_capacity(rows.len());
    let mut values = vec![Vec::with_capacity(rows.len()); specs.len()];
    for r in rows {
        if r.fields.len() != names.len() {
            problems.push(format!(
                "{file}:{}:1: {} fields, the header has {}",
                r.line,
                r.fields.len(),
                names.len()
            ));
            continue;
        }
        let tf = &r.fields[time_idx];
        match parse_time(&tf.text) {
            Some(t) => {
                if let Some(&prev) = times.last()
                    && t <= prev
                {
                    problems.push(format!(
                        "{file}:{}:{}: time {t} is not after the previous row's ({prev}); rows \
                         must be in increasing time",
                        r.line, tf.column
                    ));
                }
                times.push(t);
            }
            None => {
                let what = if tf.text.trim().is_empty() {
                    "missing time".to_string()
                } else {
                    format!(
                        "not a time (unix seconds or RFC 3339 in UTC): {:?}",
                        tf.text.trim()
                    )
                };
                problems.push(format!("{file}:{}:{}: {what}", r.line, tf.column));
                times.push(times.last().copied().unwrap_or(Timestamp(0)));
            }
        }
        lines.push(r.line);
        for (col, spec) in values.iter_mut().zip(&specs) {
            let f = &r.fields[spec.0];
            let t = f.text.trim();
            let v = if t.is_empty() {
                f64::NAN
            } else if let Ok(v) = t.parse::<f64>() {
                v
            } else {
                problems.push(format!(
                    "{file}:{}:{}: column `{}`: not a number: {t:?}",
                    r.line, f.column, names[spec.0]
                ));
                f64::NAN
            };
            col.push(v);
        }
    }
    problems.into_result()?;
    Ok(Frame {
        source: file,
        times,
        lines: Some(lines),
        columns: specs
            .into_iter()
            .zip(values)
            .map(|((i, component, metric, signal, worse), values)| Column {
                name: names[i].to_string(),
                component,
                metric,
                signal,
                worse,
                values,
            })
            .collect(),
    })
}

/// `--map` as written: `columns: { "<column>": { component, metric, signal, worse } }`.
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

/// A validated `--map`: one entry per column, in file order.
#[derive(Debug)]
struct ColumnMap {
    file: String,
    entries: Vec<MapEntry>,
}

#[derive(Debug)]
struct MapEntry {
    column: String,
    line: u64,
    col: u64,
    component: String,
    metric: String,
    signal: Option<Signal>,
    worse: Option<Worse>,
}

fn load_map(path: &Path) -> Result<ColumnMap> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {file}"))?;
    let raw: ColumnMapConfig =
        serde_saphyr::from_str(&text).map_err(|e| anyhow!(yaml_error(&file, &e)))?;
    let mut problems = Problems::default();
    let mut entries: Vec<MapEntry> = raw
        .columns
        .into_iter()
        .map(|(column, spec)| {
            if spec.component.value.trim().is_empty() {
                problems.push(format!(
                    "{file}:{}:{}: columns.{}.component: empty component name",
                    spec.component.referenced.line(),
                    spec.component.referenced.column(),
                    column.value
                ));
            }
            MapEntry {
                line: column.referenced.line(),
                col: column.referenced.column(),
                metric: spec.metric.unwrap_or_else(|| column.value.clone()),
                column: column.value,
                component: spec.component.value,
                signal: spec.signal,
                worse: spec.worse.map(Worse::from),
            }
        })
        .collect();
    entries.sort_by_key(|e| (e.line, e.col));
    problems.into_result()?;
    if entries.is_empty() {
        bail!("{file}: `columns` maps no column");
    }
    Ok(ColumnMap { file, entries })
}

/// `file:line:col: message` of a serde-saphyr error, without its snippet.
fn yaml_error(file: &str, e: &serde_saphyr::Error) -> String {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    let full = e.without_snippet().to_string();
    let first = full.lines().next().unwrap_or("invalid document").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let cut = first.find(" at line ").map_or(first, |i| &first[..i]);
    format!(
        "{file}:{}:{}: {}",
        line.max(1),
        column.max(1),
        cut.trim_end_matches('.')
    )
}

/// A `/api/v1/query_range` response; unknown fields (warnings, stats) are ignored.
#[derive(Debug, Deserialize)]
struct PromResponse {
    status: String,
    #[serde(default)]
    data: Option<PromData>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromData {
    result_type: String,
    result: Vec<PromSeries>,
}

#[derive(Debug, Deserialize)]
struct PromSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, PromValue)>,
}

/// A sample value: Prometheus sends numbers as strings (`"0.25"`, `"NaN"`, `"+Inf"`).
#[derive(Debug, Clone, Copy)]
struct PromValue(f64);

impl<'de> Deserialize<'de> for PromValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.trim()
            .parse::<f64>()
            .map(PromValue)
            .map_err(|_| serde::de::Error::custom(format!("sample value is not a number: {s:?}")))
    }
}

fn load_prometheus(path: &Path, component_label: &str, metric_name: Option<&str>) -> Result<Frame> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {file}"))?;
    let resp: PromResponse = serde_json::from_str(&text).map_err(|e| {
        let msg = e.to_string();
        let msg = msg.find(" at line ").map_or(msg.as_str(), |i| &msg[..i]);
        anyhow!("{file}:{}:{}: {msg}", e.line().max(1), e.column().max(1))
    })?;
    if resp.status != "success" {
        bail!(
            "{file}: status {:?}: {}",
            resp.status,
            resp.error.as_deref().unwrap_or("no error message")
        );
    }
    let Some(data) = resp.data else {
        bail!("{file}: no `data` in the response");
    };
    if data.result_type != "matrix" {
        bail!(
            "{file}: resultType {:?}; replay needs a range query's \"matrix\"",
            data.result_type
        );
    }
    if data.result.is_empty() {
        bail!("{file}: the result holds no series");
    }

    let mut problems = Problems::default();
    let mut keyed: Vec<(String, String, &BTreeMap<String, String>)> = Vec::new();
    for (i, s) in data.result.iter().enumerate() {
        let component = [component_label, "job", "instance"]
            .iter()
            .find_map(|l| s.metric.get(*l));
        let metric = s.metric.get("__name__").map(String::as_str).or(metric_name);
        match (component, metric) {
            (Some(c), Some(m)) => keyed.push((c.clone(), m.to_string(), &s.metric)),
            (None, _) => problems.push(format!(
                "{file}: result[{i}] {}: no `{component_label}`, `job` or `instance` label \
                 (choose the label with --component-label)",
                label_set(&s.metric, &[])
            )),
            (_, None) => problems.push(format!(
                "{file}: result[{i}] {}: no `__name__` label; name the metric with --metric-name",
                label_set(&s.metric, &[])
            )),
        }
    }
    problems.into_result()?;
    // Several series of one component and metric (pods, instances) stay apart: their
    // other labels join the metric's name.
    let mut count: HashMap<(&str, &str), usize> = HashMap::new();
    for (c, m, _) in &keyed {
        *count.entry((c.as_str(), m.as_str())).or_default() += 1;
    }
    let names: Vec<(String, String)> = keyed
        .iter()
        .map(|(c, m, labels)| {
            let metric = if count[&(c.as_str(), m.as_str())] > 1 {
                format!("{m}{}", label_set(labels, &["__name__", component_label]))
            } else {
                m.clone()
            };
            (c.clone(), metric)
        })
        .collect();
    let mut unique = BTreeSet::new();
    for (c, m) in &names {
        if !unique.insert((c, m)) {
            bail!("{file}: two series with the same labels: {c} {m}");
        }
    }

    // Align on the union of timestamps; a series without a point at a time is NaN there.
    let millis = |t: f64| (t * 1000.0).round() as i64;
    let axis: Vec<i64> = data
        .result
        .iter()
        .flat_map(|s| s.values.iter().map(|(t, _)| millis(*t)))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if axis.is_empty() {
        bail!("{file}: no sample in any series");
    }
    let position: HashMap<i64, usize> = axis.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let columns = data
        .result
        .iter()
        .zip(names)
        .map(|(s, (component, metric))| {
            let mut values = vec![f64::NAN; axis.len()];
            for (t, v) in &s.values {
                values[position[&millis(*t)]] = v.0;
            }
            let base = s.metric.get("__name__").map_or(metric.as_str(), |n| n);
            let (signal, worse) = infer_signal(base);
            Column {
                name: format!("{metric}@{component}"),
                component,
                metric,
                signal,
                worse,
                values,
            }
        })
        .collect();
    Ok(Frame {
        source: file,
        times: axis.into_iter().map(Timestamp).collect(),
        lines: None,
        columns,
    })
}

/// `{k="v",...}` of the labels not in `skip` (empty when none are left).
fn label_set(labels: &BTreeMap<String, String>, skip: &[&str]) -> String {
    let parts: Vec<String> = labels
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// The simple graph file: `components: [{ name, depends_on }]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphConfig {
    components: Vec<GraphComponent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphComponent {
    name: Spanned<String>,
    #[serde(default)]
    depends_on: Vec<String>,
}

/// A charter file's topology, or the simple form's. A dependency the simple form
/// does not list as a component is added as one without dependencies.
fn load_graph(path: &Path) -> Result<Topology> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {file}"))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let charter_issues = match charter_model::parse_charter(&text, &file, base) {
        Ok((charter, _warnings)) => return Ok(charter.topology),
        Err(charter_model::ConfigError::Invalid(issues)) => issues,
        Err(e) => return Err(anyhow!(e)),
    };
    let raw: GraphConfig = match serde_saphyr::from_str(&text) {
        Ok(raw) => raw,
        Err(e) => {
            // A document with keys besides `components` was meant as a charter.
            let keys: Result<BTreeMap<String, serde::de::IgnoredAny>, _> =
                serde_saphyr::from_str(&text);
            if keys.is_ok_and(|k| k.keys().all(|k| k == "components")) {
                bail!("{}", yaml_error(&file, &e));
            }
            let errors: Vec<String> = charter_issues
                .iter()
                .filter(|i| !i.warning)
                .map(ToString::to_string)
                .collect();
            bail!(
                "{file}: not a valid charter nor a graph file (components: [{{name, \
                 depends_on}}]):\n{}",
                errors.join("\n")
            );
        }
    };
    let mut problems = Problems::default();
    let mut declared: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for c in &raw.components {
        let at = (c.name.referenced.line(), c.name.referenced.column());
        if let Some((l, col)) = declared.insert(c.name.value.as_str(), at) {
            problems.push(format!(
                "{file}:{}:{}: duplicate component `{}` (first at {l}:{col})",
                at.0, at.1, c.name.value
            ));
        }
    }
    problems.into_result()?;
    let mut edges: Vec<(String, Vec<String>)> = raw
        .components
        .iter()
        .map(|c| (c.name.value.clone(), c.depends_on.clone()))
        .collect();
    let leaves: BTreeSet<String> = raw
        .components
        .iter()
        .flat_map(|c| c.depends_on.iter())
        .filter(|d| !declared.contains_key(d.as_str()))
        .cloned()
        .collect();
    edges.extend(leaves.into_iter().map(|d| (d, Vec::new())));
    Ok(Topology::new(
        edges.iter().map(|(n, d)| (n.as_str(), d.as_slice())),
    ))
}

/// What `--json` prints.
#[derive(Debug, Serialize)]
struct Report {
    source: String,
    rows: usize,
    series: usize,
    components: usize,
    /// First and last row (RFC 3339).
    first: String,
    last: String,
    /// Time of the first anomalous row (RFC 3339).
    onset: String,
    onset_unix: f64,
    /// 1-based index of the onset among the data rows.
    onset_row: usize,
    /// The CSV line of the onset row.
    #[serde(skip_serializing_if = "Option::is_none")]
    onset_line: Option<usize>,
    found: Found,
    /// `--at` as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    requested: Option<String>,
    /// Change-point strength of a detected onset (≫ 1: a clear change).
    #[serde(skip_serializing_if = "Option::is_none")]
    strength: Option<f64>,
    normal_rows: usize,
    anomalous_rows: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    graph: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    threshold: f64,
    diagnosis: Diagnosis,
}

fn render_text(r: &Report, min_segment: usize) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "replay of {}: {} rows from {} to {}, {} series of {} components",
        r.source, r.rows, r.first, r.last, r.series, r.components
    );
    if let Some(g) = &r.graph {
        let _ = writeln!(out, "graph: {g}");
    }
    let line = r
        .onset_line
        .map(|l| format!(", line {l}"))
        .unwrap_or_default();
    let how = match (r.found, &r.requested, r.strength) {
        (Found::Given, Some(at), _) => format!("given: --at {at}"),
        (Found::Detected, _, Some(s)) => format!(
            "detected: the change point shared by most series (strength {s:.1}, \
             --min-segment {min_segment})"
        ),
        _ => String::new(),
    };
    let _ = writeln!(out, "onset: {} (row {}{line}), {how}", r.onset, r.onset_row);
    let _ = writeln!(
        out,
        "windows: {} normal rows before the onset, {} anomalous rows from it (threshold {} \
         robust sd)",
        r.normal_rows, r.anomalous_rows, r.threshold
    );
    out.push('\n');
    let d = &r.diagnosis;
    if d.hypotheses.is_empty() {
        match &r.target {
            Some(t) if r.graph.is_some() => {
                let _ = writeln!(
                    out,
                    "no root cause: nothing is abnormal at {t} or along its dependencies"
                );
            }
            _ => {
                let _ = writeln!(out, "no root cause: nothing is abnormal");
            }
        }
    } else {
        let _ = writeln!(out, "root-cause hypotheses, most likely first:");
        for (i, h) in d.hypotheses.iter().enumerate() {
            let _ = writeln!(
                out,
                "{:>3}. {}  {}  {:.0}%",
                i + 1,
                h.component,
                h.cause,
                h.confidence * 100.0
            );
            if !h.symptoms.is_empty() {
                let _ = writeln!(out, "     symptoms: {}", h.symptoms.join(", "));
            }
            for e in &h.evidence {
                let _ = writeln!(out, "       - {e}");
            }
        }
    }
    if !d.patterns.is_empty() {
        let _ = writeln!(out, "\npatterns:");
        for p in &d.patterns {
            let _ = writeln!(out, "  - {}", describe_pattern(p));
        }
    }
    out
}

fn describe_pattern(p: &Pattern) -> String {
    match p {
        Pattern::Burst { start, end, onsets } => {
            format!("burst: {onsets} onsets between {start} and {end}")
        }
        Pattern::Cluster { around, members } => {
            format!("cluster around {around}: {}", members.join(", "))
        }
        Pattern::Propagation {
            from,
            to,
            lead_secs,
        } => format!(
            "propagation: {from} → {} ({from} abnormal {} earlier)",
            to.join(", "),
            fmt_duration_secs(*lead_secs)
        ),
        Pattern::FrequencyAnomaly {
            objective,
            component,
            recent,
            expected,
        } => format!(
            "frequency anomaly: {objective}@{component}, {recent} recent episodes where \
             {expected:.2} were expected"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_inferred_from_whole_words() {
        assert_eq!(infer_signal("latency"), (Signal::Latency, Worse::Up));
        assert_eq!(infer_signal("p99_lat_ms"), (Signal::Latency, Worse::Up));
        assert_eq!(
            infer_signal("http_request_duration_seconds"),
            (Signal::Latency, Worse::Up)
        );
        assert_eq!(infer_signal("httpLatency"), (Signal::Latency, Worse::Up));
        assert_eq!(infer_signal("errors_total"), (Signal::Errors, Worse::Up));
        assert_eq!(infer_signal("cpu"), (Signal::Utilization, Worse::Up));
        assert_eq!(infer_signal("mem_rss"), (Signal::Memory, Worse::Up));
        assert_eq!(
            infer_signal("success_ratio"),
            (Signal::Availability, Worse::Down)
        );
        assert_eq!(
            infer_signal("availability"),
            (Signal::Availability, Worse::Down)
        );
        assert_eq!(
            infer_signal("cache_hit_ratio"),
            (Signal::Cache, Worse::Down)
        );
        assert_eq!(infer_signal("requests"), (Signal::Other, Worse::Either));
        // Stems inside a word do not count.
        assert_eq!(
            infer_signal("platform_count"),
            (Signal::Other, Worse::Either)
        );
    }

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
    fn windows_are_limited_on_both_sides() {
        let times: Vec<Timestamp> = (0..10).map(|s| Timestamp::from_secs(s * 10)).collect();
        assert_eq!(split_windows(&times, 4, None), (0..4, 4..10));
        assert_eq!(
            split_windows(&times, 4, Some(Duration::from_secs(20))),
            (2..4, 4..6)
        );
    }

    #[test]
    fn quoted_csv_fields_keep_their_columns() {
        let f = charter_model::csv::split_line("a,\"b,c\",,d", "x.csv", 1).expect("valid line");
        let texts: Vec<&str> = f.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(texts, ["a", "b,c", "", "d"]);
        assert_eq!(f[3].column, 10);
    }

    #[test]
    fn prometheus_values_with_their_own_timestamps_align_on_the_union() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("q.json");
        std::fs::write(
            &path,
            r#"{"status":"success","data":{"resultType":"matrix","result":[
              {"metric":{"__name__":"lat","service":"a"},"values":[[10,"1"],[20,"2"]]},
              {"metric":{"__name__":"lat","job":"b"},"values":[[15,"NaN"],[20,"+Inf"]]}]}}"#,
        )
        .expect("write");
        let f = load_prometheus(&path, "service", None).expect("valid response");
        assert_eq!(
            f.times,
            [10, 15, 20].map(Timestamp::from_secs).to_vec(),
            "union of timestamps"
        );
        assert_eq!(f.columns[0].component, "a");
        assert_eq!(f.columns[1].component, "b");
        assert_eq!(f.columns[0].values[..1], [1.0]);
        assert!(f.columns[0].values[1].is_nan());
        assert!(f.columns[1].values[0].is_nan());
        assert_eq!(f.columns[1].values[2], f64::INFINITY);
    }

    #[test]
    fn series_of_one_component_and_metric_are_told_apart_by_their_labels() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("q.json");
        std::fs::write(
            &path,
            r#"{"status":"success","data":{"resultType":"matrix","result":[
              {"metric":{"__name__":"cpu","service":"a","pod":"a-1"},"values":[[10,"1"]]},
              {"metric":{"__name__":"cpu","service":"a","pod":"a-2"},"values":[[10,"2"]]}]}}"#,
        )
        .expect("write");
        let f = load_prometheus(&path, "service", None).expect("valid response");
        let metrics: Vec<&str> = f.columns.iter().map(|c| c.metric.as_str()).collect();
        assert_eq!(metrics, [r#"cpu{pod="a-1"}"#, r#"cpu{pod="a-2"}"#]);
        assert_eq!(f.columns[0].signal, Signal::Utilization);
    }
}
