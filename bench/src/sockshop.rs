//! Sock Shop adapter (RCAEval "Sock Shop 1" layout): `<service>-<fault>/<repeat>/`
//! with `normal.csv` and `anomalous.csv`, columns `time`, then
//! `<container>_<metric>`. It only converts formats and applies the RCAEval
//! windowing; the ranking is [`charter_analyze::anomaly`]'s.

use crate::scoring::{AccuracyTable, CaseResult};
use crate::table::{number, read_csv};
use anyhow::{Context, Result, bail};
use charter_analyze::{
    DiagnosisInput, EpisodeLog, MetricSeries, RankOptions, Worse, detect_onset, diagnose,
};
use charter_model::{Signal, Timestamp};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// RCAEval's window: the last 300 rows before and the first 300 after the split.
const WINDOW_ROWS: usize = 300;

/// How the harness is asked to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Seconds by which the injection time is reported late (tΔ).
    pub delay_secs: f64,
    /// Find the onset from the data instead of using the injection time.
    pub detect: bool,
    /// Shortest segment on either side of a detected onset, in rows.
    pub min_segment: usize,
}

/// One case folder.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub service: String,
    pub fault: String,
    pub dir: PathBuf,
}

/// Every folder under `root` holding both `normal.csv` and `anomalous.csv`, sorted.
pub fn find_cases(root: &Path) -> Result<Vec<Case>> {
    let mut dirs = Vec::new();
    collect_dirs(root, &mut dirs)?;
    dirs.sort();
    let mut cases = Vec::new();
    for dir in dirs {
        if !(dir.join("normal.csv").is_file() && dir.join("anomalous.csv").is_file()) {
            continue;
        }
        // The case label is the nearest folder name that is not a repeat number.
        let label = dir
            .ancestors()
            .filter_map(|a| a.file_name().and_then(|n| n.to_str()))
            .find(|n| !n.chars().all(|c| c.is_ascii_digit()))
            .unwrap_or_default();
        let Some((service, fault)) = label.rsplit_once('-') else {
            bail!(
                "{}: case folder is not named <service>-<fault>",
                dir.display()
            );
        };
        let name = dir.strip_prefix(root).unwrap_or(&dir).display().to_string();
        cases.push(Case {
            name,
            service: component_of(service),
            fault: fault.to_string(),
            dir,
        });
    }
    if cases.is_empty() {
        bail!(
            "{}: no folder with normal.csv and anomalous.csv",
            root.display()
        );
    }
    Ok(cases)
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    out.push(dir.to_path_buf());
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for e in entries {
        let e = e.with_context(|| format!("cannot list {}", dir.display()))?;
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            collect_dirs(&e.path(), out)?;
        }
    }
    Ok(())
}

/// The dataset's mapping from a container to the service it is scored as:
/// a service's database counts as the service (`carts-db` → `carts`).
fn component_of(container: &str) -> String {
    container
        .strip_suffix("-db")
        .unwrap_or(container)
        .to_string()
}

/// What the column's metric means: resource use and latency are bad when high; the
/// load (`_lod`) can move either way.
fn worse_of(column: &str) -> Worse {
    let metric = column.split_once('_').map_or("", |(_, m)| m);
    if metric == "cpu" || metric == "mem" || metric.starts_with("lat") {
        Worse::Up
    } else {
        Worse::Either
    }
}

/// What a Sock Shop column measures, from its suffix.
fn signal_of(column: &str) -> Signal {
    match column.rsplit_once('_').map_or("", |(_, m)| m) {
        "cpu" => Signal::Utilization,
        "mem" => Signal::Memory,
        "lod" => Signal::Traffic,
        _ if column.contains("_lat_") => Signal::Latency,
        _ => Signal::Other,
    }
}

/// A CSV with a `time` column and numeric columns.
struct Frame {
    names: Vec<String>,
    time: Vec<f64>,
    columns: Vec<Vec<f64>>,
}

fn load(path: &Path) -> Result<Frame> {
    let records = read_csv(path)?;
    let Some((header, rows)) = records.split_first() else {
        bail!("{}: empty file", path.display());
    };
    let names: Vec<String> = header
        .fields
        .iter()
        .map(|f| f.text.trim().to_string())
        .collect();
    let Some(time_col) = names.iter().position(|n| n == "time") else {
        bail!("{}:{}:1: no `time` column", path.display(), header.line);
    };
    let mut time = Vec::with_capacity(rows.len());
    let mut columns = vec![Vec::with_capacity(rows.len()); names.len()];
    for r in rows {
        if r.fields.len() != names.len() {
            bail!(
                "{}:{}:1: {} fields, the header has {}",
                path.display(),
                r.line,
                r.fields.len(),
                names.len()
            );
        }
        for (i, f) in r.fields.iter().enumerate() {
            let v = number(f, path, r.line)?;
            if i == time_col {
                if !v.is_finite() {
                    bail!("{}:{}:{}: missing time", path.display(), r.line, f.column);
                }
                time.push(v);
            } else {
                columns[i].push(v);
            }
        }
    }
    let keep: Vec<usize> = (0..names.len()).filter(|&i| i != time_col).collect();
    Ok(Frame {
        names: keep.iter().map(|&i| names[i].clone()).collect(),
        columns: keep
            .iter()
            .map(|&i| std::mem::take(&mut columns[i]))
            .collect(),
        time,
    })
}

/// Normal rows followed by anomalous rows, columns aligned by name.
fn concat(normal: Frame, anomalous: Frame, anomalous_path: &Path) -> Result<(Frame, usize)> {
    let injection = normal.time.len();
    let mut out = normal;
    out.time.extend(&anomalous.time);
    for (name, col) in out.names.iter().zip(out.columns.iter_mut()) {
        let Some(j) = anomalous.names.iter().position(|n| n == name) else {
            bail!("{}: no column {name:?}", anomalous_path.display());
        };
        col.extend(&anomalous.columns[j]);
    }
    Ok((out, injection))
}

/// Run one case; the rank of the true service (1-based) if it is in the ranking.
pub fn run_case(case: &Case, settings: &Settings, options: &RankOptions) -> Result<CaseResult> {
    let started = Instant::now();
    let normal_path = case.dir.join("normal.csv");
    let anomalous_path = case.dir.join("anomalous.csv");
    let (frame, injection) = concat(load(&normal_path)?, load(&anomalous_path)?, &anomalous_path)?;
    if injection >= frame.time.len() {
        bail!("{}: no rows", anomalous_path.display());
    }
    let analysis_started = Instant::now();
    let onset = if settings.detect {
        detect_onset(&frame.columns, settings.min_segment)
            .with_context(|| format!("{}: no onset found", case.dir.display()))?
            .index
    } else {
        injection
    };
    let split_time = frame.time[onset] + settings.delay_secs;
    let split = frame.time.partition_point(|&t| t < split_time);
    let normal_rows = split.saturating_sub(WINDOW_ROWS)..split;
    let anomalous_rows = split..(split + WINDOW_ROWS).min(frame.time.len());
    let series: Vec<MetricSeries> = frame
        .names
        .iter()
        .zip(&frame.columns)
        .map(|(name, col)| MetricSeries {
            component: component_of(name.split_once('_').map_or(name.as_str(), |(c, _)| c)),
            metric: name.clone(),
            signal: Some(signal_of(name)),
            normal: col[normal_rows.clone()].to_vec(),
            anomalous: col[anomalous_rows.clone()].to_vec(),
            times: frame.time[anomalous_rows.clone()]
                .iter()
                .map(|t| Timestamp((t * 1000.0) as i64))
                .collect(),
            worse: worse_of(name),
            baseline: None,
        })
        .collect();
    let ranking = diagnose(DiagnosisInput {
        incident_id: 0,
        now: Timestamp((frame.time[anomalous_rows.end - 1] * 1000.0) as i64),
        violations: &[],
        series: &series,
        topology: None,
        zones: None,
        changes: &[],
        episodes: EpisodeLog::none(),
        observed_since: Timestamp(0),
        target: None,
        options,
    })
    .hypotheses;
    let analysis = analysis_started.elapsed();
    let rank = ranking
        .iter()
        .position(|r| r.component == case.service)
        .map(|p| p + 1);
    Ok(CaseResult {
        case: case.name.clone(),
        group: case.fault.clone(),
        truth: case.service.clone(),
        rank,
        top: ranking
            .iter()
            .take(5)
            .map(|r| r.component.clone())
            .collect(),
        evidence: ranking
            .first()
            .map(|r| r.evidence.clone())
            .unwrap_or_default(),
        onset_error_secs: settings
            .detect
            .then(|| frame.time[onset] - frame.time[injection]),
        wall_ms: started.elapsed().as_secs_f64() * 1e3,
        analysis_ms: analysis.as_secs_f64() * 1e3,
    })
}

/// All cases under `root`, scored per fault type.
pub fn run(root: &Path, settings: &Settings, options: &RankOptions) -> Result<AccuracyTable> {
    let mut results = Vec::new();
    for case in find_cases(root)? {
        results.push(run_case(&case, settings, options)?);
    }
    Ok(AccuracyTable::from_results(results))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databases_count_as_their_service() {
        assert_eq!(component_of("carts-db"), "carts");
        assert_eq!(component_of("front-end"), "front-end");
        assert_eq!(worse_of("carts_lat_90"), Worse::Up);
        assert_eq!(worse_of("carts_lod"), Worse::Either);
    }

    /// The shared sample, when present (`../shared/data/sockshop`).
    #[test]
    fn the_sample_ranks_the_faulty_service_first() -> Result<()> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/sockshop");
        if !root.is_dir() {
            return Ok(());
        }
        let settings = Settings {
            delay_secs: 0.0,
            detect: false,
            min_segment: 30,
        };
        let table = run(&root, &settings, &RankOptions::default())?;
        assert!(table.overall.cases >= 10);
        assert!(table.overall.ac1 >= 0.9, "{:?}", table.overall);
        Ok(())
    }
}
