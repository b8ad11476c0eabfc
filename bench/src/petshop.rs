//! PetShop adapter (amazon-science PetShop dataset): per traffic scenario a
//! `graph.csv` adjacency matrix, `noissue/metrics.csv` and
//! `<split>/issue_N/{metrics.csv,target.json}`. It knows the layout of the metrics
//! files and applies the dataset's protocol; the files are read by
//! [`charter_frame`], the ranking is [`charter_analyze::anomaly`]'s.
//!
//! Edge direction, checked on the data: a 1 at row A, column B means A calls B
//! (`PetSite` → `PetSearch_AWS::ECS::Fargate` → `petInfo_AWS::DynamoDB::Table`, and
//! every `X_client` → `X`), which is exactly [`Topology`]'s caller → dependency, so
//! the matrix is used as is ([`load_adjacency_matrix`]).

use anyhow::{Context, Result, bail};
use charter_analyze::{MetricSeries, RankOptions, Worse};
use charter_frame::table::{read_records, read_rows};
use charter_frame::{ColumnMeta, Frame, load_adjacency_matrix};
use charter_model::Topology;
use charter_model::csv::Record;
use charter_model::{Hypothesis, Signal};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Which issues to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
    All,
}

impl Split {
    fn folders(self) -> &'static [&'static str] {
        match self {
            Split::Train => &["train"],
            Split::Test => &["test"],
            Split::All => &["train", "test"],
        }
    }
}

/// Which series the ranking sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricChoice {
    /// Every metric of every node.
    All,
    /// Only the metric the alert fired on (latency or availability), all statistics.
    TargetKind,
    /// Only the metric and statistic the alert fired on (e.g. latency Average).
    TargetStatistic,
}

/// Harness settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub split: Split,
    pub metrics: MetricChoice,
}

/// A `metrics.csv` as a frame: after the header rows `microservice`, `metric` and
/// `statistic`, which name each column's node, metric and statistic, and
/// `unix_timestamp`, one row per time (the first field, unix seconds). A column's
/// component is its node and its metric `<metric>/<statistic>`.
pub(crate) fn load_metrics(path: &Path) -> Result<Frame> {
    let (file, mut records) = read_records(path)?;
    let header = |i: usize, name: &str| -> Result<&Record> {
        let r = records
            .get(i)
            .with_context(|| format!("{}: fewer than {} header rows", path.display(), i + 1))?;
        if r.fields.first().map(|f| f.text.trim()) != Some(name) {
            bail!(
                "{}:{}:1: expected the `{name}` header row",
                path.display(),
                r.line
            );
        }
        Ok(r)
    };
    let (nodes, metrics, stats) = (
        header(0, "microservice")?,
        header(1, "metric")?,
        header(2, "statistic")?,
    );
    let width = nodes.fields.len();
    for r in [metrics, stats] {
        if r.fields.len() != width {
            bail!(
                "{}:{}:1: {} fields, expected {width}",
                path.display(),
                r.line,
                r.fields.len()
            );
        }
    }
    let specs: Vec<(usize, String, ColumnMeta)> = (1..width)
        .map(|i| {
            let [node, metric, stat] =
                [nodes, metrics, stats].map(|r| r.fields[i].text.trim().to_string());
            let meta = ColumnMeta {
                component: node.clone(),
                metric: format!("{metric}/{stat}"),
                signal: signal_of(&metric),
                worse: worse_of(&metric),
            };
            (i, format!("{metric}/{stat}@{node}"), meta)
        })
        .collect();
    let mut rows = records.split_off(3);
    // The fourth header row names the timestamp column and has no values.
    rows.retain(|r| {
        r.fields
            .first()
            .is_none_or(|f| f.text.trim() != "unix_timestamp")
    });
    Ok(read_rows(&file, &rows, width, 0, specs)?)
}

/// The metric and the statistic of a column's metric (`latency/Average`); the
/// dataset's metric names hold no `/`.
fn split_metric(metric: &str) -> (&str, &str) {
    metric.split_once('/').unwrap_or((metric, ""))
}

#[derive(Debug, Clone, Deserialize)]
struct TargetFile {
    target: Target,
    root_cause: RootCause,
}

/// The symptom an alert fired on.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub node: String,
    pub metric: String,
    pub agg: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RootCause {
    node: String,
}

/// What a metric means: latency is bad when high, availability when low; request
/// counts can move either way.
fn worse_of(metric: &str) -> Worse {
    match metric {
        "latency" => Worse::Up,
        "availability" => Worse::Down,
        _ => Worse::Either,
    }
}

/// What a PetShop metric measures.
fn signal_of(metric: &str) -> Signal {
    match metric {
        "latency" => Signal::Latency,
        "availability" => Signal::Availability,
        "requests" => Signal::Traffic,
        _ => Signal::Other,
    }
}

/// The series the ranking sees: the `abnormal` rows against the `normal` rows,
/// matched by node, metric and statistic.
pub(crate) fn series(
    normal: &Frame,
    normal_rows: std::ops::Range<usize>,
    abnormal: &Frame,
    abnormal_rows: std::ops::Range<usize>,
    target: &Target,
    settings: &Settings,
) -> Vec<MetricSeries> {
    abnormal.series_against(abnormal_rows, normal, normal_rows, |c| {
        let (metric, stat) = split_metric(&c.metric);
        match settings.metrics {
            MetricChoice::All => true,
            MetricChoice::TargetKind => metric == target.metric,
            MetricChoice::TargetStatistic => metric == target.metric && stat == target.agg,
        }
    })
}

/// The evidence of the first three hypotheses, each line prefixed with its rank.
fn evidence_of(ranking: &[Hypothesis]) -> Vec<String> {
    ranking
        .iter()
        .take(3)
        .enumerate()
        .flat_map(|(i, h)| h.evidence.iter().map(move |e| format!("#{} {e}", i + 1)))
        .collect()
}

/// One scored issue or specificity window.
#[derive(Debug, Clone, Serialize)]
pub struct CaseOutcome {
    pub scenario: String,
    pub case: String,
    pub target: Target,
    /// Ground truth; `None` for a normal window.
    pub truth: Option<String>,
    pub top: Vec<String>,
    /// Confidences of `top`, in order.
    pub top_scores: Vec<f64>,
    /// Evidence of the first three hypotheses, prefixed `#rank`.
    pub evidence: Vec<String>,
    /// Loading and analysis (a normal window's data is already loaded).
    pub wall_ms: f64,
    /// Analysis alone.
    pub analysis_ms: f64,
}

/// One row of the dataset's table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub target_metric: String,
    pub issues: usize,
    pub top1: f64,
    pub top3: f64,
    pub normal_windows: usize,
    pub specificity: f64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The split folders scored and their issues (`low_traffic/train: 8`).
    pub splits: Vec<String>,
    pub rows: Vec<Row>,
    pub mean_wall_ms_per_case: f64,
    pub mean_analysis_ms_per_case: f64,
    pub max_analysis_ms_per_case: f64,
    pub cases: Vec<CaseOutcome>,
}

/// Every scenario folder under `root` (a folder with `graph.csv`), sorted.
fn scenarios(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if root.join("graph.csv").is_file() {
        out.push(root.to_path_buf());
    }
    let entries =
        std::fs::read_dir(root).with_context(|| format!("cannot list {}", root.display()))?;
    for e in entries {
        let p = e
            .with_context(|| format!("cannot list {}", root.display()))?
            .path();
        if p.join("graph.csv").is_file() {
            out.push(p);
        }
    }
    out.sort();
    if out.is_empty() {
        bail!("{}: no scenario folder with graph.csv", root.display());
    }
    Ok(out)
}

pub(crate) fn rank(
    series: &[MetricSeries],
    graph: &Topology,
    target: &Target,
    options: &RankOptions,
) -> Vec<Hypothesis> {
    crate::scoring::rank_offline(series, Some(graph), None, Some(&target.node), None, options)
}

/// Run the protocol over every scenario under `root`.
pub fn run(root: &Path, settings: &Settings, options: &RankOptions) -> Result<Report> {
    let mut cases = Vec::new();
    let mut rows = Vec::new();
    let mut splits_scored: Vec<String> = Vec::new();
    for dir in scenarios(root)? {
        let scenario = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let graph = load_adjacency_matrix(&dir.join("graph.csv"))?;
        let normal = load_metrics(&dir.join("noissue").join("metrics.csv"))?;
        let mut issues = Vec::new();
        for split in settings.split.folders() {
            let split_dir = dir.join(split);
            if !split_dir.is_dir() {
                continue;
            }
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(&split_dir)
                .with_context(|| format!("cannot list {}", split_dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("target.json").is_file() && p.join("metrics.csv").is_file())
                .collect();
            dirs.sort();
            if !dirs.is_empty() {
                splits_scored.push(format!("{scenario}/{split}: {}", dirs.len()));
            }
            issues.extend(dirs.into_iter().map(|d| (split.to_string(), d)));
        }
        let mut scenario_cases = Vec::new();
        for (split, issue) in &issues {
            let started = Instant::now();
            let target_path = issue.join("target.json");
            let text = std::fs::read_to_string(&target_path)
                .with_context(|| format!("cannot read {}", target_path.display()))?;
            let tf: TargetFile = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!("{}:{}:{}: {e}", target_path.display(), e.line(), e.column())
            })?;
            let abnormal = load_metrics(&issue.join("metrics.csv"))?;
            let s = series(
                &normal,
                0..normal.times.len(),
                &abnormal,
                0..abnormal.times.len(),
                &tf.target,
                settings,
            );
            let analysis_started = Instant::now();
            let ranking = rank(&s, &graph, &tf.target, options);
            let analysis_ms = analysis_started.elapsed().as_secs_f64() * 1e3;
            let name = issue.file_name().and_then(|n| n.to_str()).unwrap_or("");
            scenario_cases.push(CaseOutcome {
                scenario: scenario.clone(),
                case: format!("{split}/{name}"),
                target: tf.target,
                truth: Some(tf.root_cause.node),
                top: ranking
                    .iter()
                    .take(5)
                    .map(|r| r.component.clone())
                    .collect(),
                top_scores: ranking.iter().take(5).map(|r| r.confidence).collect(),
                evidence: evidence_of(&ranking),
                wall_ms: started.elapsed().as_secs_f64() * 1e3,
                analysis_ms,
            });
        }
        // Specificity, as the reference protocol computes it (`evaluate_specificity`
        // in the dataset's `code/rca_task.py`): for each (node, metric, statistic)
        // an issue alerted on, the normal data is split at every 10 % of its rows
        // from half of them on, while more than three rows follow the split; the rows
        // before the split are normal, every row from it to the end is judged, and
        // the answer should be empty.
        let mut targets: Vec<Target> = scenario_cases.iter().map(|c| c.target.clone()).collect();
        targets.sort();
        targets.dedup();
        let n = normal.times.len();
        let step = (n / 10).max(1);
        for target in &targets {
            let mut split_at = n / 2;
            while split_at + 3 < n {
                let started = Instant::now();
                let s = series(&normal, 0..split_at, &normal, split_at..n, target, settings);
                let ranking = rank(&s, &graph, target, options);
                let analysis_ms = started.elapsed().as_secs_f64() * 1e3;
                scenario_cases.push(CaseOutcome {
                    scenario: scenario.clone(),
                    case: format!("normal split at row {split_at} of {n}"),
                    target: target.clone(),
                    truth: None,
                    top: ranking
                        .iter()
                        .take(5)
                        .map(|r| r.component.clone())
                        .collect(),
                    top_scores: ranking.iter().take(5).map(|r| r.confidence).collect(),
                    evidence: evidence_of(&ranking),
                    wall_ms: analysis_ms,
                    analysis_ms,
                });
                split_at += step;
            }
        }
        let mut metrics: Vec<&str> = targets.iter().map(|t| t.metric.as_str()).collect();
        metrics.sort_unstable();
        metrics.dedup();
        for metric in metrics {
            let of = |issue: bool| {
                scenario_cases
                    .iter()
                    .filter(move |c| c.target.metric == metric && c.truth.is_some() == issue)
            };
            let n_issues = of(true).count();
            let hit = |k: usize| {
                of(true)
                    .filter(|c| c.top.iter().take(k).any(|t| Some(t) == c.truth.as_ref()))
                    .count() as f64
                    / n_issues.max(1) as f64
            };
            let n_normal = of(false).count();
            let empty = of(false).filter(|c| c.top.is_empty()).count();
            rows.push(Row {
                scenario: scenario.clone(),
                target_metric: metric.to_string(),
                issues: n_issues,
                top1: hit(1),
                top3: hit(3),
                normal_windows: n_normal,
                specificity: empty as f64 / n_normal.max(1) as f64,
            });
        }
        cases.extend(scenario_cases);
    }
    if rows.is_empty() {
        bail!(
            "{}: no issue folder (issue_N with metrics.csv and target.json) in the chosen split",
            root.display()
        );
    }
    let n = cases.len().max(1) as f64;
    Ok(Report {
        splits: splits_scored,
        rows,
        mean_wall_ms_per_case: cases.iter().map(|c| c.wall_ms).sum::<f64>() / n,
        mean_analysis_ms_per_case: cases.iter().map(|c| c.analysis_ms).sum::<f64>() / n,
        max_analysis_ms_per_case: cases.iter().map(|c| c.analysis_ms).fold(0.0, f64::max),
        cases,
    })
}

impl Report {
    /// The table, one line per issue and window, and the times, as text.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(s, "issues scored: {}", self.splits.join(", "));
        let _ = writeln!(
            s,
            "{:<14} {:<13} {:>6} {:>6} {:>6} {:>7} {:>11}",
            "scenario", "target", "issues", "top-1", "top-3", "normal", "specificity"
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{:<14} {:<13} {:>6} {:>6.3} {:>6.3} {:>7} {:>11.3}",
                r.scenario,
                r.target_metric,
                r.issues,
                r.top1,
                r.top3,
                r.normal_windows,
                r.specificity
            );
        }
        for c in &self.cases {
            let _ = writeln!(
                s,
                "  {:<14} {:<30} {:<13} truth {:<30} top {:?}{}",
                c.scenario,
                c.case,
                c.target.metric,
                c.truth.as_deref().unwrap_or("-"),
                c.top.iter().take(3).collect::<Vec<_>>(),
                if c.truth.is_some() && c.top.is_empty() {
                    " [EMPTY ranking]"
                } else {
                    ""
                }
            );
        }
        let _ = writeln!(
            s,
            "wall {:.1} ms/case, analysis {:.3} ms/case (max {:.3})",
            self.mean_wall_ms_per_case,
            self.mean_analysis_ms_per_case,
            self.max_analysis_ms_per_case
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows call columns: the front end depends on the search service.
    #[test]
    fn graph_edges_go_from_caller_to_callee() -> Result<()> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/data/petshop/low_traffic/graph.csv");
        if !path.is_file() {
            return Ok(());
        }
        let g = load_adjacency_matrix(&path)?;
        assert!(g.depends_on("PetSite", "PetSearch_AWS::ECS::Fargate"));
        assert!(!g.depends_on("PetSearch_AWS::ECS::Fargate", "PetSite"));
        Ok(())
    }
}
