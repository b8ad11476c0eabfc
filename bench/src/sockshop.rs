//! Sock Shop adapter (RCAEval "Sock Shop 1" layout): `<service>-<fault>/<repeat>/`
//! with `normal.csv` and `anomalous.csv`, columns `time`, then
//! `<container>_<metric>`. It names the columns and applies the RCAEval windowing;
//! the files are read by [`charter_frame`], the ranking is [`charter_analyze::anomaly`]'s.

use crate::scoring::{AccuracyTable, CaseResult};
use anyhow::{Context, Result, bail};
use charter_analyze::{RankOptions, Worse};
use charter_frame::{ColumnMeta, CsvTable, Frame, Naming, split_by_rows};
use charter_model::Signal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// RCAEval's window: the last 300 rows before and the first 300 after the split.
pub(crate) const WINDOW_ROWS: usize = 300;

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

/// What a column is: the container's service, the whole column name as the metric
/// (the evidence names it), and the signal and direction of its suffix.
fn meta(column: &str) -> ColumnMeta {
    ColumnMeta {
        component: component_of(column.split_once('_').map_or(column, |(c, _)| c)),
        metric: column.to_string(),
        signal: signal_of(column),
        worse: worse_of(column),
    }
}

/// One of a case's CSV files, times in its `time` column.
pub(crate) fn load(path: &Path) -> Result<Frame> {
    Ok(CsvTable::read(path)?.into_frame("time", Naming::Rule(&meta))?)
}

/// Run one case; the rank of the true service (1-based) if it is in the ranking.
///
/// The rows are the normal file's, then the anomalous file's, in that order whatever
/// their timestamps: each file is labelled, so a normal file recorded after the
/// anomalous one (it happens in the kept-aside repeats) is still the baseline, and
/// the case says so in its note. Each file on its own must be in time order (the
/// loader refuses it otherwise, naming the file and line).
pub fn run_case(case: &Case, settings: &Settings, options: &RankOptions) -> Result<CaseResult> {
    let started = Instant::now();
    let normal_path = case.dir.join("normal.csv");
    let anomalous_path = case.dir.join("anomalous.csv");
    // Both files hold at least one row: the injection is the first anomalous row.
    let mut frame = load(&normal_path)?;
    let anomalous = load(&anomalous_path)?;
    let injection = frame.times.len();
    let normal_after = frame.times.last() >= anomalous.times.first();
    frame.append(anomalous)?;
    let analysis_started = Instant::now();
    let onset = if settings.detect {
        frame
            .detect_onset(settings.min_segment)
            .with_context(|| format!("{}: no onset found", case.dir.display()))?
            .index
    } else {
        injection
    };
    // tΔ: the split is told `delay_secs` after the onset: the first row from the
    // onset on whose time is that late (rows, not a search over the times, which
    // need not increase across the two files).
    let secs = |i: usize| frame.times[i].as_secs_f64();
    let split_time = secs(onset) + settings.delay_secs;
    let split = (onset..frame.times.len())
        .find(|&i| secs(i) >= split_time)
        .unwrap_or(frame.times.len());
    let (normal_rows, anomalous_rows) = split_by_rows(frame.times.len(), split, WINDOW_ROWS);
    if normal_rows.is_empty() || anomalous_rows.is_empty() {
        bail!(
            "{}: the split at {split_time} s leaves {} normal and {} anomalous rows",
            case.dir.display(),
            normal_rows.len(),
            anomalous_rows.len()
        );
    }
    let series = frame.series(normal_rows, anomalous_rows.clone());
    let ranking = crate::scoring::rank_offline(
        &series,
        None,
        None,
        None,
        Some(frame.times[anomalous_rows.end - 1]),
        options,
    );
    let analysis = analysis_started.elapsed();
    let rank = ranking
        .iter()
        .position(|r| r.component == case.service)
        .map(|p| p + 1);
    let mut notes = Vec::new();
    if normal_after {
        notes.push("normal.csv recorded after anomalous.csv: used as the baseline all the same");
    }
    if ranking.is_empty() {
        notes.push("EMPTY ranking");
    }
    Ok(CaseResult {
        case: case.name.clone(),
        group: case.fault.clone(),
        class: None,
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
        onset_error_secs: settings.detect.then(|| secs(onset) - secs(injection)),
        note: (!notes.is_empty()).then(|| notes.join("; ")),
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
