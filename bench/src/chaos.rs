//! Sock Shop chaos adapter (OpenNetAI's Sock-Shop-Dataset, `../shared/data/sockshop-chaos`):
//! `graph.csv` (`caller,callee`: edges point from caller to callee, [`Topology`]'s
//! caller → dependency as is), `nodes.csv` (`node,ip,metric_file`), `normal/` (pod
//! files of a fault-free period) and `cases/<target>_<fault>_<MMDD-HHMM>/` holding
//! `metric-pod-<pod>.csv`, `metric-node-<ip>.csv` and `truth.json`. Every field is
//! quoted and times are `d/m/yyyy HH:MM:SS` on the clock of `inject_timestamp`.
//!
//! - One ranked list of services and machines: a pod counts as its service (its name
//!   without the last two `-` parts), a node file is the machine `node:<name>` of
//!   `nodes.csv` (`node:vm1`). The truth is `root_cause_service` for a container
//!   fault and the machine named by `root_cause_node`'s IP for a node fault.
//! - The stricter pod-level score ranks pods (the graph expanded to every pod of a
//!   caller calling every pod of its callee) and checks `root_cause_pod`.
//! - Which pod runs on which machine is not given, so no placement goes to the
//!   diagnosis: a machine is a candidate through its own metrics only.
//! - Signals come from what each column measures ([`crate::records::semantics`]);
//!   `_id` (a database id) and `container_last_seen` (a clock) are not metrics.
//! - Windows: the judged rows are those stamped from the injection (plus `--delay`)
//!   to the end of the fault plus one minute. The baseline is, by default, the
//!   case's own rows before that split (`--baseline case`: the same hours, the same
//!   machines, and node files have no other baseline); `--baseline normal` takes each
//!   pod's rows from `normal/` instead (recorded days earlier), node series keeping
//!   the case's rows.

use crate::records::{day_month_year_secs, read_wide, semantics, service_of_pod};
use crate::scoring::{AccuracyTable, CaseResult};
use anyhow::{Context, Result, bail};
use charter_analyze::{MetricSeries, RankOptions};
use charter_frame::{ColumnMeta, Frame};
use charter_model::csv::parse_csv;
use charter_model::{Hypothesis, Topology};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where the normal rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Baseline {
    /// The case's rows before the (told) injection time.
    Case,
    /// `normal/`'s file of the same pod; node series keep the case's rows.
    NormalFolder,
}

/// How the harness is asked to run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub delay_secs: f64,
    pub baseline: Baseline,
}

#[derive(Debug, Deserialize)]
struct Truth {
    scenario: String,
    root_cause_service: Option<String>,
    root_cause_pod: Option<String>,
    root_cause_node: Option<String>,
    fault_type: String,
    inject_timestamp: i64,
    fault_duration_s: i64,
}

/// The scores.
#[derive(Debug, Serialize)]
pub struct Report {
    pub delay_secs: f64,
    pub baseline: Baseline,
    /// Services and machines in one list, per `<scenario>/<fault>`.
    pub services: AccuracyTable,
    /// Per scenario (container, node).
    pub by_scenario: BTreeMap<String, crate::scoring::Accuracy>,
    /// Pods (container faults only).
    pub pods: AccuracyTable,
    /// Files whose rows were out of time order and were sorted.
    pub sorted_files: Vec<String>,
}

/// A loaded file: its frame (components are pods, or `node:<name>`), and its name.
pub(crate) struct File {
    pub(crate) name: String,
    pub(crate) frame: Frame,
}

fn read_csv_rows(path: &Path) -> Result<Vec<Vec<String>>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {file}"))?;
    Ok(parse_csv(&text, &file)?
        .into_iter()
        .map(|r| {
            r.fields
                .into_iter()
                .map(|f| f.text.trim().to_string())
                .collect()
        })
        .collect())
}

/// IP → machine name from `nodes.csv`.
pub(crate) fn machines(root: &Path) -> Result<BTreeMap<String, String>> {
    let path = root.join("nodes.csv");
    let rows = read_csv_rows(&path)?;
    let header = rows.first().cloned().unwrap_or_default();
    let col = |n: &str| {
        header
            .iter()
            .position(|h| h == n)
            .with_context(|| format!("{}:1:1: no `{n}` column", path.display()))
    };
    let (node, ip) = (col("node")?, col("ip")?);
    Ok(rows
        .iter()
        .skip(1)
        .filter_map(|r| Some((r.get(ip)?.clone(), r.get(node)?.clone())))
        .collect())
}

/// Every `metric-pod-*.csv` and `metric-node-*.csv` of `dir`, sorted by name.
pub(crate) fn load_files(
    dir: &Path,
    ip_names: &BTreeMap<String, String>,
) -> Result<(Vec<File>, Vec<String>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    paths.sort();
    let mut files = Vec::new();
    let mut sorted = Vec::new();
    for path in paths {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let stem = name.trim_end_matches(".csv");
        let component = if let Some(pod) = stem.strip_prefix("metric-pod-") {
            pod.to_string()
        } else if let Some(ip) = stem.strip_prefix("metric-node-") {
            format!("node:{}", ip_names.get(ip).map_or(ip, String::as_str))
        } else {
            continue;
        };
        let meta = |col: &str| -> Option<ColumnMeta> {
            if col == "_id" || col == "container_last_seen" {
                return None;
            }
            let (signal, worse) = semantics(col);
            Some(ColumnMeta {
                component: component.clone(),
                metric: col.to_string(),
                signal,
                worse,
            })
        };
        let frame = read_wide(&path, "timestamp", &day_month_year_secs, &meta, &mut sorted)?;
        files.push(File { name, frame });
    }
    if !files.iter().any(|f| f.name.starts_with("metric-pod-")) {
        bail!("{}: no metric-pod-<pod>.csv file", dir.display());
    }
    Ok((files, sorted))
}

/// A pod's component at the chosen level: itself, or its service.
fn component(c: &str, pods: bool) -> String {
    if pods || c.starts_with("node:") {
        c.to_string()
    } else {
        service_of_pod(c).unwrap_or(c).to_string()
    }
}

/// The series of every column: judged rows `[split, end)` of the case's files
/// against the baseline (see [`Baseline`]).
pub(crate) fn series(
    files: &[File],
    normal: &HashMap<String, Frame>,
    split: f64,
    end: f64,
    pods: bool,
) -> Vec<MetricSeries> {
    let mut out = Vec::new();
    for f in files {
        let t = |i: usize| f.frame.times[i].as_secs_f64();
        let judged: Vec<usize> = (0..f.frame.times.len())
            .filter(|&i| t(i) >= split && t(i) < end)
            .collect();
        if judged.is_empty() {
            continue;
        }
        let base_frame = normal.get(&f.name);
        for c in &f.frame.columns {
            let normal_values: Vec<f64> = match base_frame {
                Some(b) => match b.columns.iter().find(|x| x.name == c.name) {
                    Some(x) => x.values.clone(),
                    None => continue,
                },
                None => (0..f.frame.times.len())
                    .filter(|&i| t(i) < split)
                    .map(|i| c.values[i])
                    .collect(),
            };
            out.push(MetricSeries {
                component: component(&c.component, pods),
                metric: c.metric.clone(),
                signal: Some(c.signal),
                normal: normal_values,
                anomalous: judged.iter().map(|&i| c.values[i]).collect(),
                times: judged.iter().map(|&i| f.frame.times[i]).collect(),
                worse: c.worse,
                baseline: None,
            });
        }
    }
    out
}

/// The service graph with every pod of a caller calling every pod of its callee.
fn pod_graph(graph: &Topology, pods: &[String]) -> Topology {
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in pods {
        let s = service_of_pod(p).unwrap_or(p);
        let callees = graph
            .dependencies(s)
            .flat_map(|d| pods.iter().filter(move |q| service_of_pod(q) == Some(d)))
            .cloned()
            .collect();
        deps.insert(p.clone(), callees);
    }
    Topology::new(deps.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
}

pub(crate) fn rank(
    series: &[MetricSeries],
    graph: &Topology,
    options: &RankOptions,
) -> Vec<Hypothesis> {
    crate::scoring::rank_offline(series, Some(graph), None, None, None, options)
}

fn result(
    name: &str,
    group: String,
    class: &str,
    truth: String,
    ranking: &[Hypothesis],
    judged: bool,
    (wall_ms, analysis_ms): (f64, f64),
) -> CaseResult {
    CaseResult {
        case: name.to_string(),
        group,
        class: Some(class.to_string()),
        rank: ranking
            .iter()
            .position(|h| h.component == truth)
            .map(|p| p + 1),
        truth,
        top: ranking
            .iter()
            .take(5)
            .map(|h| h.component.clone())
            .collect(),
        evidence: ranking
            .first()
            .map(|h| h.evidence.clone())
            .unwrap_or_default(),
        onset_error_secs: None,
        note: if !judged {
            Some("no row in the judged window".into())
        } else if ranking.is_empty() {
            Some("EMPTY ranking".into())
        } else {
            None
        },
        wall_ms,
        analysis_ms,
    }
}

/// Run every case under `root`.
pub fn run(root: &Path, settings: &Settings, options: &RankOptions) -> Result<Report> {
    let graph = crate::nezha::load_edges(&root.join("graph.csv"))?;
    let ip_names = machines(root)?;
    let mut sorted = Vec::new();
    let normal: HashMap<String, Frame> = match settings.baseline {
        Baseline::Case => HashMap::new(),
        Baseline::NormalFolder => {
            let (files, s) = load_files(&root.join("normal"), &ip_names)?;
            sorted.extend(s);
            files.into_iter().map(|f| (f.name, f.frame)).collect()
        }
    };
    let cases_dir = root.join("cases");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&cases_dir)
        .with_context(|| format!("cannot list {}", cases_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("truth.json").is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        bail!("{}: no case folder with truth.json", cases_dir.display());
    }
    let (mut services, mut pods) = (Vec::new(), Vec::new());
    for dir in &dirs {
        let started = Instant::now();
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let path = dir.join("truth.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let truth: Truth = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))?;
        let (files, s) = load_files(dir, &ip_names)?;
        sorted.extend(s);
        let load_ms = started.elapsed().as_secs_f64() * 1e3;
        let inject = truth.inject_timestamp as f64;
        let split = inject + settings.delay_secs;
        let end = inject + truth.fault_duration_s as f64 + 60.0;
        let scenario = truth
            .scenario
            .strip_suffix("-chaos")
            .unwrap_or(&truth.scenario)
            .to_string();
        let group = format!("{scenario}/{}", truth.fault_type);
        let node_truth = truth.root_cause_node.as_ref().map(|ip| {
            format!(
                "node:{}",
                ip_names.get(ip).map_or(ip.as_str(), String::as_str)
            )
        });
        let service_truth = truth.root_cause_service.clone().or(node_truth.clone());
        let Some(service_truth) = service_truth else {
            bail!(
                "{}: neither root_cause_service nor root_cause_node",
                path.display()
            );
        };
        let analysis_started = Instant::now();
        let s = series(&files, &normal, split, end, false);
        let ranking = rank(&s, &graph, options);
        let analysis_ms = analysis_started.elapsed().as_secs_f64() * 1e3;
        services.push(result(
            name,
            group.clone(),
            &scenario,
            service_truth,
            &ranking,
            !s.is_empty(),
            (load_ms + analysis_ms, analysis_ms),
        ));
        if let Some(pod) = &truth.root_cause_pod {
            let analysis_started = Instant::now();
            let names: Vec<String> = files
                .iter()
                .map(|f| f.frame.columns.first().map(|c| c.component.clone()))
                .filter_map(|c| c.filter(|c| !c.starts_with("node:")))
                .collect();
            let g = pod_graph(&graph, &names);
            let s = series(&files, &normal, split, end, true);
            let ranking = rank(&s, &g, options);
            let analysis_ms = analysis_started.elapsed().as_secs_f64() * 1e3;
            pods.push(result(
                name,
                group,
                &scenario,
                pod.clone(),
                &ranking,
                !s.is_empty(),
                (load_ms + analysis_ms, analysis_ms),
            ));
        }
    }
    let services = AccuracyTable::from_results(services);
    let by_scenario = services.by(|c| c.class.clone().unwrap_or_default());
    sorted.sort();
    sorted.dedup();
    Ok(Report {
        delay_secs: settings.delay_secs,
        baseline: settings.baseline,
        services,
        by_scenario,
        pods: AccuracyTable::from_results(pods),
        sorted_files: sorted,
    })
}

impl Report {
    /// The tables, as text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "services and machines (tΔ {} s, baseline {:?})",
            self.delay_secs, self.baseline
        );
        let mut rows: Vec<(String, &crate::scoring::Accuracy)> = self
            .services
            .groups
            .iter()
            .map(|(g, a)| (g.clone(), a))
            .collect();
        rows.extend(self.by_scenario.iter().map(|(g, a)| (format!("[{g}]"), a)));
        rows.push(("all".into(), &self.services.overall));
        s.push_str(&crate::scoring::render_groups(&rows));
        s.push_str(&self.services.render_cases());
        let _ = writeln!(s, "pods (container faults, root_cause_pod)");
        s.push_str(&self.pods.render());
        s.push_str(&self.pods.render_cases());
        for f in &self.sorted_files {
            let _ = writeln!(s, "note: {f}: rows out of time order, sorted");
        }
        s
    }
}
