//! `charter replay`: the live loop's root-cause analysis over recorded metrics, to
//! diagnose a past incident or to try Charter before trusting it.
//!
//! Reads a wide CSV or a Prometheus range-query response, splits every series at the
//! incident's onset (given with `--at` or found with `--detect`) and runs
//! [`charter_analyze::diagnose`] — the same ranking the controller runs — with the
//! dependency graph of `--graph` when there is one. Everything here is arguments and
//! printing: the loading is [`charter_frame`]'s, the analysis the analyze crate's.

use anyhow::{Result, anyhow, bail};
use charter_analyze::{DiagnosisInput, EpisodeLog, RankOptions, diagnose};
use charter_frame::{
    Column, ColumnMap, CsvTable, Frame, HeaderRows, LoadError, Naming, Problem, Unit, load_graph,
    load_prometheus, parse_time, split_by_duration,
};
use charter_model::text::listed;
use charter_model::{Diagnosis, IncidentId, Pattern, Timestamp, fmt_duration_secs};
use serde::Serialize;
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Options of `charter replay`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["csv", "prometheus"])))]
#[command(group(clap::ArgGroup::new("when").args(["at", "detect"])))]
pub struct ReplayArgs {
    /// A wide CSV: a time column and one column per component metric.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Normal data recorded apart, in the same format as the incident's: the
    /// baseline, whatever its timestamps. The incident then begins at the start of
    /// the incident data, unless --at or --detect says otherwise.
    #[arg(long, value_name = "FILE")]
    normal: Option<PathBuf>,
    /// How many lines of each CSV name its columns, besides a line naming only the
    /// time column (default: the lines before the first whose time cell is a time).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=16))]
    header_rows: Option<u16>,
    /// A Prometheus range-query response (`/api/v1/query_range` JSON).
    #[arg(long, value_name = "FILE")]
    prometheus: Option<PathBuf>,
    /// The CSV's time column (unix seconds or RFC 3339 in UTC), named in any header
    /// line.
    #[arg(long, value_name = "NAME", default_value = "time")]
    time_column: String,
    /// YAML mapping CSV columns to components and metrics; without it a column is
    /// named `<component>_<metric>`.
    #[arg(long, value_name = "FILE", conflicts_with = "prometheus")]
    map: Option<PathBuf>,
    /// The Prometheus label naming the component (then `job`, then `instance`).
    #[arg(long, value_name = "LABEL", default_value = charter_model::config::defaults::COMPONENT_LABEL)]
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
    let input = match (&args.csv, &args.prometheus) {
        (Some(csv), _) => csv,
        (None, Some(prom)) => prom,
        (None, None) => bail!("give --csv FILE or --prometheus FILE"),
    };
    let frame = load(input, args)?;
    let normal_frame = args.normal.as_deref().map(|p| load(p, args)).transpose()?;
    if normal_frame.is_none() && args.at.is_none() && !args.detect {
        bail!(
            "say when the incident began with --at TIME or --detect, or give the normal data \
             apart with --normal FILE"
        );
    }
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
                listed(&missing, NOTE_ITEMS)
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
                listed(&unobserved, NOTE_ITEMS)
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

    let onset = find_onset(&frame, args, normal_frame.is_some())?;
    let (normal, anomalous) = split_by_duration(&frame.times, onset.index, args.window);
    let baseline = match &normal_frame {
        Some(b) => Baseline {
            frame: b,
            rows: last_window(&b.times, args.window),
        },
        None => {
            if normal.is_empty() {
                bail!(
                    "no rows before the onset {} within the window",
                    frame.times[onset.index]
                );
            }
            Baseline {
                frame: &frame,
                rows: normal,
            }
        }
    };
    let in_baseline = |c: &Column| {
        normal_frame.is_none()
            || baseline
                .frame
                .columns
                .iter()
                .any(|b| b.component == c.component && b.metric == c.metric)
    };
    let analysed: Vec<&Column> = frame.columns.iter().filter(|c| in_baseline(c)).collect();
    if analysed.is_empty() {
        let names = |f: &Frame| {
            let names: Vec<String> = f
                .columns
                .iter()
                .map(|c| format!("{}@{}", c.metric, c.component))
                .collect();
            listed(&names, NOTE_ITEMS)
        };
        bail!(
            "no series of {} is in the normal data {} (series are matched by component and \
             metric; the incident has {}, the normal data {})",
            frame.source,
            baseline.frame.source,
            names(&frame),
            names(baseline.frame)
        );
    }
    if baseline.rows.is_empty() {
        bail!(
            "no rows of the normal data {} within the window",
            baseline.frame.source
        );
    }
    let series = match &normal_frame {
        Some(b) => frame.series_against(anomalous.clone(), b, baseline.rows.clone(), in_baseline),
        None => frame.series(baseline.rows.clone(), anomalous.clone()),
    };
    if analysed.len() < frame.columns.len() {
        let missing: Vec<&str> = frame
            .columns
            .iter()
            .filter(|c| !in_baseline(c))
            .map(|c| c.name.as_str())
            .collect();
        eprintln!(
            "note: not analysed, no such column in {}: {}",
            baseline.frame.source,
            listed(&missing, NOTE_ITEMS)
        );
    }
    let empty: Vec<&str> = analysed
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
            listed(&empty, NOTE_ITEMS)
        );
    }
    let warnings: Vec<String> = drift_warning(
        &baseline.frame.times[baseline.rows.clone()],
        &frame.times[anomalous.clone()],
    )
    .into_iter()
    .collect();
    if args.json {
        // Text output shows them under the windows.
        for w in &warnings {
            eprintln!("warning: {w}");
        }
    }
    let diagnosis = diagnose(DiagnosisInput {
        incident_id: IncidentId(0),
        now: frame.times[anomalous.end - 1],
        violations: &[],
        series: &series,
        topology: topology.as_ref(),
        zones: None,
        nodes: None,
        changes: &[],
        refuted: &[],
        episodes: EpisodeLog::none(),
        observed_since: Timestamp(0),
        unobserved: &[],
        target: args.target.as_deref(),
        options: &options,
    });
    let diagnosis = with_units(diagnosis, &frame, baseline.frame);
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
        normal: normal_frame.as_ref().map(|b| NormalData {
            source: b.source.clone(),
            rows: b.times.len(),
            first: b.times[0].to_string(),
            last: b.times[b.times.len() - 1].to_string(),
        }),
        normal_rows: baseline.rows.len(),
        anomalous_rows: anomalous.len(),
        warnings,
        graph: args.graph.as_ref().map(|g| g.display().to_string()),
        target: args.target.clone(),
        threshold: options.threshold,
        diagnosis,
    };
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&report)?)
    } else {
        render_text(&report, args.min_segment)
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Write `text` to stdout. A reader that closed the pipe early (`| head`) has what
/// it wanted: that is not an error, and must not panic as `print!` does.
fn write_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
/// Read `path` in the format of the incident data (`--csv` or `--prometheus`).
fn load(path: &Path, args: &ReplayArgs) -> Result<Frame> {
    if args.csv.is_some() {
        load_csv(path, args)
    } else {
        load_prometheus(path, &args.component_label, args.metric_name.as_deref())
            .map_err(with_hints)
    }
}

/// Read a CSV, its header of `--header-rows` lines (else detected), its columns
/// named by `--map` or by the `<component>_<metric>` convention.
fn load_csv(path: &Path, args: &ReplayArgs) -> Result<Frame> {
    let map = args.map.as_deref().map(ColumnMap::load).transpose()?;
    let header_rows = match args.header_rows {
        Some(n) => HeaderRows::Exactly(usize::from(n)),
        None => HeaderRows::Detect,
    };
    let table = CsvTable::read_with(path, header_rows, &args.time_column).map_err(with_hints)?;
    let naming = match &map {
        Some(map) => {
            let time = table.time_index(&args.time_column).map_err(with_hints)?;
            let ignored = map.unmapped(&table.names(), time);
            if !ignored.is_empty() {
                eprintln!(
                    "note: ignored, not in {}: {}",
                    map.file(),
                    ignored.join(", ")
                );
            }
            Naming::Map(map)
        }
        None => Naming::Convention,
    };
    table
        .into_frame(&args.time_column, naming)
        .map_err(with_hints)
}

/// The rows the baseline is taken from.
struct Baseline<'a> {
    frame: &'a Frame,
    rows: Range<usize>,
}

/// The last `window` of `times` (all of them without one).
fn last_window(times: &[Timestamp], window: Option<Duration>) -> Range<usize> {
    match (window, times.last()) {
        (Some(w), Some(&last)) => times.partition_point(|t| *t <= last.minus(w))..times.len(),
        _ => 0..times.len(),
    }
}

/// Columns named in one note at most (a wide export may leave hundreds out).
const NOTE_ITEMS: usize = 12;

/// Normal data further than this from the incident's is reported as a drift risk…
const DRIFT_GAP_SECS: f64 = 86_400.0;
/// …and so is a gap more than this many times the longer window's span.
const DRIFT_GAP_SPANS: f64 = 10.0;

/// A warning when the `normal` and `anomalous` windows (their rows' times) are far
/// apart: more than a day, or more than [`DRIFT_GAP_SPANS`] times the longer
/// window. Over such a gap traffic, deployments and capacity drift, and a
/// comparison may find half the graph abnormal for reasons unrelated to the
/// incident.
fn drift_warning(normal: &[Timestamp], anomalous: &[Timestamp]) -> Option<String> {
    let (&n0, &n1) = (normal.first()?, normal.last()?);
    let (&a0, &a1) = (anomalous.first()?, anomalous.last()?);
    let secs = |from: Timestamp, to: Timestamp| (to.0 - from.0) as f64 / 1000.0;
    let (gap, order) = if n1 <= a0 {
        (secs(n1, a0), "ends {gap} before the incident data begins")
    } else if a1 <= n0 {
        (secs(a1, n0), "begins {gap} after the incident data ends")
    } else {
        return None;
    };
    let span = secs(n0, n1).max(secs(a0, a1));
    if gap <= DRIFT_GAP_SECS && gap <= DRIFT_GAP_SPANS * span {
        return None;
    }
    let round = |s: f64| {
        if s >= 2.0 * 86_400.0 {
            format!("{:.0} days", s / 86_400.0)
        } else {
            let unit = if s >= 3600.0 { 60.0 } else { 1.0 };
            fmt_duration_secs((s / unit).round() * unit)
        }
    };
    Some(format!(
        "the normal data ({} to {}) {} (windows of {} and {}): drift over that time may make \
         much of the graph look abnormal; prefer normal data recorded just before the incident",
        n0,
        n1,
        order.replace("{gap}", &round(gap)),
        round(secs(n0, n1)),
        round(secs(a0, a1)),
    ))
}

/// `diagnosis` with the values of its evidence in the unit their column is
/// recorded in, when its name or the map states one (the incident's columns first,
/// then the baseline's): "(1.2 GiB → 3.4 GiB)", "rising 1.9 MiB/min".
fn with_units(mut diagnosis: Diagnosis, frame: &Frame, baseline: &Frame) -> Diagnosis {
    let units: Vec<(&Column, Unit)> = frame
        .columns
        .iter()
        .chain(&baseline.columns)
        .filter_map(|c| Some((c, c.unit?)))
        .collect();
    for h in &mut diagnosis.hypotheses {
        for e in &mut h.evidence {
            // The longest match: a metric may be named like the start of another.
            let levels = units
                .iter()
                .map(|(c, u)| (format!("{}: {} ", c.component, c.metric), *u))
                .filter(|(prefix, _)| e.starts_with(prefix.as_str()))
                .max_by_key(|(prefix, _)| prefix.len());
            let trend = units
                .iter()
                .map(|(c, u)| (format!("{} on {} has been ", c.metric, c.component), *u))
                .filter(|(prefix, _)| e.starts_with(prefix.as_str()))
                .max_by_key(|(prefix, _)| prefix.len());
            let rewritten = match (levels, trend) {
                (Some((_, unit)), _) => values_in_unit(e, unit),
                (None, Some((_, unit))) => rate_in_unit(e, unit),
                (None, None) => None,
            };
            if let Some(r) = rewritten {
                *e = r;
            }
        }
    }
    diagnosis
}

/// `line` with its trailing `(a → b)` written in `unit`, or `None` when it has no
/// such pair of numbers.
fn values_in_unit(line: &str, unit: Unit) -> Option<String> {
    let body = line.strip_suffix(')')?;
    let open = body.rfind(" (")?;
    let (a, b) = body[open + 2..].split_once(" → ")?;
    let (a, b) = (a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?);
    Some(format!(
        "{} ({} → {})",
        &body[..open],
        unit.format(a),
        unit.format(b)
    ))
}

/// `line` with its trailing `<rate>/min` written in `unit`, or `None` without one.
fn rate_in_unit(line: &str, unit: Unit) -> Option<String> {
    let body = line.strip_suffix("/min")?;
    let space = body.rfind(' ')?;
    let rate = body[space + 1..].parse::<f64>().ok()?;
    Some(format!("{} {}/min", &body[..space], unit.format(rate)))
}

/// A loading error as `charter replay` prints it: where a flag fixes the input, the
/// message names the flag.
fn with_hints(e: LoadError) -> anyhow::Error {
    match e {
        LoadError::NoTimeColumn {
            file,
            line,
            name,
            header,
        } => anyhow!(
            "{file}:{line}:1: no time column `{name}` (the header has: {}; choose one with \
             --time-column)",
            header.join(", ")
        ),
        LoadError::NotMatrix { file, result_type } => {
            anyhow!("{file}: resultType {result_type:?}; replay needs a range query's \"matrix\"")
        }
        LoadError::Problems(problems) => anyhow::Error::msg(problems.render(|p| match p {
            Problem::UnnamedColumn { .. } => format!("{p}; map it with --map"),
            Problem::NoComponentLabel { .. } => {
                format!("{p} (choose the label with --component-label)")
            }
            Problem::NoMetricName { .. } => format!("{p}; name the metric with --metric-name"),
            _ => p.to_string(),
        })),
        e => e.into(),
    }
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
    /// With `--normal`: the first row of the incident data.
    Start,
}

/// The onset: `--at`, `--detect`, or with `--normal` the first row of the incident
/// data (which then needs no row before the onset).
fn find_onset(frame: &Frame, args: &ReplayArgs, apart: bool) -> Result<OnsetChoice> {
    if let Some(at) = &args.at {
        let t = parse_time(at)
            .ok_or_else(|| anyhow!("--at {at:?}: not a time (unix seconds or RFC 3339 in UTC)"))?;
        let index = if apart {
            (t >= frame.times[0] && t <= frame.times[frame.times.len() - 1])
                .then(|| frame.times.partition_point(|x| *x < t))
        } else {
            frame.onset_at(t)
        };
        let Some(index) = index else {
            let first = frame.times[0];
            let last = frame.times[frame.times.len() - 1];
            bail!(
                "--at {at}: {t} is outside the data of {} (from {first} to {last}): the onset \
                 needs {}a row at or after it",
                frame.source,
                if apart { "" } else { "a row before it and " }
            );
        };
        return Ok(OnsetChoice {
            index,
            found: Found::Given,
            strength: None,
        });
    }
    if !args.detect {
        return Ok(OnsetChoice {
            index: 0,
            found: Found::Start,
            strength: None,
        });
    }
    let onset = frame.detect_onset(args.min_segment).ok_or_else(|| {
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
    /// `--normal`: the baseline's file.
    #[serde(skip_serializing_if = "Option::is_none")]
    normal: Option<NormalData>,
    normal_rows: usize,
    anomalous_rows: usize,
    /// What may make the result unreliable (normal data far from the incident's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    graph: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    threshold: f64,
    diagnosis: Diagnosis,
}

/// The baseline's file, with `--normal`.
#[derive(Debug, Serialize)]
struct NormalData {
    source: String,
    rows: usize,
    first: String,
    last: String,
}

fn render_text(r: &Report, min_segment: usize) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "replay of {}: {} rows from {} to {}, {} series of {} components",
        r.source, r.rows, r.first, r.last, r.series, r.components
    );
    if let Some(n) = &r.normal {
        let _ = writeln!(
            out,
            "normal data: {}: {} rows from {} to {}",
            n.source, n.rows, n.first, n.last
        );
    }
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
        (Found::Start, _, _) => "the start of the incident data".to_string(),
        _ => String::new(),
    };
    let _ = writeln!(out, "onset: {} (row {}{line}), {how}", r.onset, r.onset_row);
    let normal = if r.normal.is_some() {
        "of the normal data"
    } else {
        "before the onset"
    };
    let _ = writeln!(
        out,
        "windows: {} normal rows {normal}, {} anomalous rows from the onset (threshold {} \
         robust sd)",
        r.normal_rows, r.anomalous_rows, r.threshold
    );
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
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
    use charter_frame::{Location, Problems};

    #[test]
    fn errors_a_flag_can_fix_name_the_flag() {
        let at = Location::new("m.csv", 1, 6);
        let mut problems = Problems::default();
        problems.push(Problem::UnnamedColumn {
            at: at.clone(),
            name: "x".into(),
        });
        problems.push(Problem::MissingTime { at });
        let e = with_hints(LoadError::Problems(problems));
        assert_eq!(
            e.to_string(),
            "m.csv:1:6: column `x` is not named <component>_<metric>; map it with --map\n\
             m.csv:1:6: missing time"
        );
        let e = with_hints(LoadError::NoTimeColumn {
            file: "m.csv".into(),
            line: 1,
            name: "time".into(),
            header: vec!["ts".into(), "a_b".into()],
        });
        assert_eq!(
            e.to_string(),
            "m.csv:1:1: no time column `time` (the header has: ts, a_b; choose one with \
             --time-column)"
        );
    }
}
