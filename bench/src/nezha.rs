//! Nezha adapter (Online Boutique and Train Ticket, `../shared/data/nezha`): per
//! system a `graph.csv`, `normal/<day>/` and `cases/<case>/` folders of per-pod
//! `<pod>_metric.csv` files with a `truth.json`. It knows the layout and the
//! README's protocol; the ranking is [`charter_analyze`]'s, the code the controller
//! runs.
//!
//! - Graph: `graph.csv` rows are `caller,callee` (the README: edges point from
//!   caller to callee), which is [`Topology`]'s caller → dependency as is.
//! - Components: a pod counts as its service (the pod name without its last two `-`
//!   parts). Each column's signal and harmful direction come from what it measures
//!   ([`crate::records::semantics`]): CPU is utilization (up), memory is memory (up),
//!   latency is latency (up), the success rate is availability (down), network bytes,
//!   workload and syscalls move either way.
//! - Nodes: the `Node*` columns of a pod file measure the machine hosting the pod,
//!   not the pod. Where the case's `dependency.csv` places services on nodes
//!   (`service,<node IP>` rows: Online Boutique), they are the series of the node
//!   `node:<IP>` (read once per node) and the placement goes to the diagnosis, so a
//!   node competes with the services. Where nothing places the pods (Train Ticket)
//!   the node columns are left out: nobody knows which pods share a machine.
//! - Windows: the baseline is the whole `normal/<day>/` folder of the case's day; the
//!   judged rows are those stamped from the injection time (plus `--delay`) to the
//!   end of the fault plus the minute that holds its end (a row aggregates the minute
//!   ending at its stamp).
//! - Calls: Online Boutique's `source_50.csv` and `destination_50.csv` hold one
//!   column per call edge `<caller>_<callee>` (P50 latency of those calls, measured
//!   at the caller's and at the callee's side). A call's latency is the callee's as
//!   its clients see it (the network to it and its own work), so each column is a
//!   latency series of the callee, named after the side and the caller. A column
//!   whose name is no edge of `graph.csv` is not read (a service name may hold `_`,
//!   so the name is matched against the graph's edges, not split).
//! - Not read: `front_service.csv` (the entry point's view, not a component's own
//!   metrics; which component it stands for is not given).
//! - Specificity: from each `normal/<day>/`, windows as long as a fault's are cut at
//!   split points from half of the data onwards every 10 % (as PetShop's reference
//!   protocol), the rows before the split as baseline; the answer should be empty.

use crate::records::{read_wide, semantics, service_of_pod, unix_secs};
use crate::scoring::{Accuracy, AccuracyTable, CaseResult};
use anyhow::{Context, Result, bail};
use charter_analyze::{MetricSeries, RankOptions, Worse};
use charter_frame::{ColumnMeta, Frame};
use charter_model::csv::parse_csv;
use charter_model::{Hypothesis, Signal, Timestamp, Topology};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How the harness is asked to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Seconds by which the injection time is reported late (tΔ).
    pub delay_secs: f64,
}

#[derive(Debug, Deserialize)]
struct Truth {
    root_cause_service: String,
    fault_type: String,
    fault_class: String,
    inject_timestamp: i64,
    fault_duration_s: i64,
    normal: String,
}

/// One system's scores.
#[derive(Debug, Serialize)]
pub struct SystemReport {
    pub system: String,
    /// Per fault type, overall, and the cases.
    pub table: AccuracyTable,
    /// Resource faults (CPU, network) and code faults (return, exception).
    pub by_class: BTreeMap<String, Accuracy>,
    /// Windows cut from `normal/` and how many got an empty answer.
    pub normal_windows: usize,
    pub normal_empty: usize,
    pub specificity: f64,
    /// Files whose rows were out of time order and were sorted.
    pub sorted_files: Vec<String>,
}

/// Every system under the folder.
#[derive(Debug, Serialize)]
pub struct Report {
    pub delay_secs: f64,
    pub systems: Vec<SystemReport>,
}

/// The system folders under `root` (a folder with `graph.csv` and `cases/`), or
/// `root` itself.
fn systems(root: &Path) -> Result<Vec<PathBuf>> {
    let is_system = |p: &Path| p.join("graph.csv").is_file() && p.join("cases").is_dir();
    if is_system(root) {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(root)
        .with_context(|| format!("cannot list {}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_system(p))
        .collect();
    out.sort();
    if out.is_empty() {
        bail!(
            "{}: no system folder (graph.csv and cases/) here or one level down",
            root.display()
        );
    }
    Ok(out)
}

/// `caller,callee[,...]` rows: an edge from caller to callee.
pub fn load_edges(path: &Path) -> Result<Topology> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {file}"))?;
    let records = parse_csv(&text, &file)?;
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        let f: Vec<&str> = r.fields.iter().map(|f| f.text.trim()).collect();
        if i == 0 {
            if f.first() != Some(&"caller") || f.get(1) != Some(&"callee") {
                bail!("{file}:{}:1: expected the header `caller,callee`", r.line);
            }
            continue;
        }
        let (Some(a), Some(b)) = (f.first(), f.get(1)) else {
            bail!("{file}:{}:1: expected `caller,callee`", r.line);
        };
        deps.entry(b.to_string()).or_default();
        deps.entry(a.to_string()).or_default().push(b.to_string());
    }
    Ok(Topology::new(
        deps.iter().map(|(k, v)| (k.as_str(), v.as_slice())),
    ))
}

/// Service → node IP from a folder's `dependency.csv` rows `service,<IP>,...`; a
/// service placed on two nodes is left out (ambiguous). `None` without the file.
fn placement(dir: &Path) -> Result<Option<BTreeMap<String, String>>> {
    let path = dir.join("dependency.csv");
    if !path.is_file() {
        return Ok(None);
    }
    let file = path.display().to_string();
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {file}"))?;
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in parse_csv(&text, &file)? {
        let f: Vec<&str> = r.fields.iter().map(|f| f.text.trim()).collect();
        if let (Some(s), Some(t)) = (f.first(), f.get(1))
            && is_ip(t)
        {
            seen.entry(s.to_string()).or_default().insert(t.to_string());
        }
    }
    Ok(Some(
        seen.into_iter()
            .filter(|(_, ips)| ips.len() == 1)
            .filter_map(|(s, ips)| Some((s, ips.into_iter().next()?)))
            .collect(),
    ))
}

fn is_ip(t: &str) -> bool {
    let parts: Vec<&str> = t.split('.').collect();
    parts.len() == 4 && parts.iter().all(|p| p.parse::<u8>().is_ok())
}

/// The pod files of a folder, read: one frame per file (services' columns, and each
/// placed node's columns once, from the first of its pods).
pub(crate) struct Pods {
    pub(crate) frames: Vec<Frame>,
    /// Service → node IP, for services with a pod file here.
    pub(crate) nodes: Option<BTreeMap<String, String>>,
    sorted: Vec<String>,
}

pub(crate) fn load_pods(dir: &Path, graph: &Topology) -> Result<Pods> {
    let place = placement(dir)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("_metric.csv"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{}: no <pod>_metric.csv file", dir.display());
    }
    let mut frames = Vec::new();
    let mut sorted = Vec::new();
    let mut read_nodes: BTreeSet<String> = BTreeSet::new();
    let mut services: BTreeSet<String> = BTreeSet::new();
    for path in files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let pod = name.trim_end_matches("_metric.csv");
        let Some(service) = service_of_pod(pod) else {
            bail!(
                "{}: pod name `{pod}` has no <service>-<hash>-<id> form",
                path.display()
            );
        };
        services.insert(service.to_string());
        let node = place
            .as_ref()
            .and_then(|p| p.get(service))
            .filter(|ip| !read_nodes.contains(*ip))
            .cloned();
        let meta = |col: &str| -> Option<ColumnMeta> {
            if col == "Time" || col == "PodName" {
                return None;
            }
            let component = if col.starts_with("Node") {
                format!("node:{}", node.as_ref()?)
            } else {
                service.to_string()
            };
            let (signal, worse) = semantics(col);
            Some(ColumnMeta {
                component,
                metric: col.to_string(),
                signal,
                worse,
            })
        };
        let frame = read_wide(&path, "TimeStamp", &unix_secs, &meta, &mut sorted)?;
        if let Some(ip) = node {
            read_nodes.insert(ip);
        }
        frames.push(frame);
    }
    for (file, side) in [
        ("source_50.csv", "caller side"),
        ("destination_50.csv", "callee side"),
    ] {
        let path = dir.join(file);
        if !path.is_file() {
            continue;
        }
        let meta = |col: &str| -> Option<ColumnMeta> {
            let (caller, callee) = graph.names().iter().find_map(|caller| {
                let callee = col.strip_prefix(caller.as_str())?.strip_prefix('_')?;
                graph
                    .dependencies(caller)
                    .any(|d| d == callee)
                    .then_some((caller, callee))
            })?;
            Some(ColumnMeta {
                component: callee.to_string(),
                metric: format!("p50 latency of calls from {caller} ({side})"),
                signal: Signal::Latency,
                worse: Worse::Up,
            })
        };
        let frame = read_wide(&path, "timestamp", &unix_secs, &meta, &mut sorted)?;
        frames.push(frame);
    }
    let nodes = place.map(|p| {
        p.into_iter()
            .filter(|(s, _)| services.contains(s))
            .collect()
    });
    Ok(Pods {
        frames,
        nodes,
        sorted,
    })
}

/// Series of every column: the `rows` of each case frame (chosen by time) against
/// the `baseline` rows of the same component and metric in `normal`.
pub(crate) fn series(
    case: &[Frame],
    rows: &dyn Fn(Timestamp) -> bool,
    normal: &[Frame],
    baseline: &dyn Fn(Timestamp) -> bool,
) -> Vec<MetricSeries> {
    let mut base: HashMap<(&str, &str), Vec<f64>> = HashMap::new();
    for f in normal {
        for c in &f.columns {
            let v: Vec<f64> = f
                .times
                .iter()
                .zip(&c.values)
                .filter(|(t, _)| baseline(**t))
                .map(|(_, v)| *v)
                .collect();
            base.insert((c.component.as_str(), c.metric.as_str()), v);
        }
    }
    let mut out = Vec::new();
    for f in case {
        let idx: Vec<usize> = (0..f.times.len()).filter(|&i| rows(f.times[i])).collect();
        if idx.is_empty() {
            continue;
        }
        for c in &f.columns {
            let Some(normal) = base.get(&(c.component.as_str(), c.metric.as_str())) else {
                continue;
            };
            out.push(MetricSeries {
                component: c.component.clone(),
                metric: c.metric.clone(),
                signal: Some(c.signal),
                normal: normal.clone(),
                anomalous: idx.iter().map(|&i| c.values[i]).collect(),
                times: idx.iter().map(|&i| f.times[i]).collect(),
                worse: c.worse,
                baseline: None,
            });
        }
    }
    out
}

pub(crate) fn rank(
    series: &[MetricSeries],
    graph: &Topology,
    nodes: Option<&BTreeMap<String, String>>,
    options: &RankOptions,
) -> Vec<Hypothesis> {
    crate::scoring::rank_offline(series, Some(graph), nodes, None, None, options)
}

fn read_truth(dir: &Path) -> Result<Truth> {
    let path = dir.join("truth.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))
}

/// The rows a fault's window holds: from `start` to the end of the fault plus the
/// minute that holds its end.
fn in_window(start_secs: f64, end_secs: f64) -> impl Fn(Timestamp) -> bool {
    move |t| {
        let s = t.as_secs_f64();
        s >= start_secs && s < end_secs
    }
}

fn run_case(
    dir: &Path,
    name: &str,
    graph: &Topology,
    settings: &Settings,
    options: &RankOptions,
    sorted: &mut Vec<String>,
) -> Result<(CaseResult, i64)> {
    let started = Instant::now();
    let truth = read_truth(dir)?;
    let case = load_pods(dir, graph)?;
    let normal_dir = dir.join(&truth.normal);
    let normal = load_pods(&normal_dir, graph)
        .with_context(|| format!("{}: the case's normal folder", dir.display()))?;
    sorted.extend(case.sorted.iter().chain(&normal.sorted).cloned());
    let analysis_started = Instant::now();
    let inject = truth.inject_timestamp as f64;
    let rows = in_window(
        inject + settings.delay_secs,
        inject + truth.fault_duration_s as f64 + 60.0,
    );
    let s = series(&case.frames, &rows, &normal.frames, &|_| true);
    let ranking = rank(&s, graph, case.nodes.as_ref(), options);
    let analysis = analysis_started.elapsed();
    let note = if s.is_empty() {
        Some("no row in the judged window".to_string())
    } else if ranking.is_empty() {
        Some("EMPTY ranking".to_string())
    } else {
        None
    };
    Ok((
        CaseResult {
            case: name.to_string(),
            group: truth.fault_type.clone(),
            class: Some(truth.fault_class.clone()),
            truth: truth.root_cause_service.clone(),
            rank: ranking
                .iter()
                .position(|h| h.component == truth.root_cause_service)
                .map(|p| p + 1),
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
            note,
            wall_ms: started.elapsed().as_secs_f64() * 1e3,
            analysis_ms: analysis.as_secs_f64() * 1e3,
        },
        truth.fault_duration_s,
    ))
}

/// Windows cut from a normal folder: split points from half the rows onwards,
/// every 10 % of them, while three rows remain after the split; the rows before the
/// split are the baseline, the `window_secs` from it are judged. `(windows, empty)`.
fn specificity(
    dir: &Path,
    graph: &Topology,
    window_secs: f64,
    options: &RankOptions,
) -> Result<(usize, usize)> {
    let pods = load_pods(dir, graph)?;
    let times: Vec<Timestamp> = pods.frames[0].times.clone();
    let n = times.len();
    let step = (n / 10).max(1);
    let (mut windows, mut empty) = (0, 0);
    let mut split = n / 2;
    while split + 3 < n {
        let at = times[split].as_secs_f64();
        let s = series(
            &pods.frames,
            &in_window(at, at + window_secs),
            &pods.frames,
            &|t: Timestamp| t.as_secs_f64() < at,
        );
        windows += 1;
        if rank(&s, graph, pods.nodes.as_ref(), options).is_empty() {
            empty += 1;
        }
        split += step;
    }
    Ok((windows, empty))
}

/// Run every case of every system under `root`.
pub fn run(root: &Path, settings: &Settings, options: &RankOptions) -> Result<Report> {
    let mut out = Vec::new();
    for system_dir in systems(root)? {
        let system = system_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let graph = load_edges(&system_dir.join("graph.csv"))?;
        let cases_dir = system_dir.join("cases");
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&cases_dir)
            .with_context(|| format!("cannot list {}", cases_dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("truth.json").is_file())
            .collect();
        dirs.sort();
        let mut results = Vec::new();
        let mut sorted = Vec::new();
        let mut durations = Vec::new();
        for dir in &dirs {
            let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let (r, d) = run_case(dir, name, &graph, settings, options, &mut sorted)?;
            results.push(r);
            durations.push(d);
        }
        durations.sort_unstable();
        let duration = durations.get(durations.len() / 2).copied().unwrap_or(180);
        let (mut windows, mut empty) = (0, 0);
        let normal_root = system_dir.join("normal");
        if normal_root.is_dir() {
            let mut days: Vec<PathBuf> = std::fs::read_dir(&normal_root)
                .with_context(|| format!("cannot list {}", normal_root.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect();
            days.sort();
            for day in days {
                let (w, e) = specificity(&day, &graph, duration as f64 + 60.0, options)?;
                windows += w;
                empty += e;
            }
        }
        let table = AccuracyTable::from_results(results);
        let by_class = table.by(|c| c.class.clone().unwrap_or_default());
        sorted.sort();
        sorted.dedup();
        out.push(SystemReport {
            system,
            table,
            by_class,
            normal_windows: windows,
            normal_empty: empty,
            specificity: empty as f64 / windows.max(1) as f64,
            sorted_files: sorted,
        });
    }
    Ok(Report {
        delay_secs: settings.delay_secs,
        systems: out,
    })
}

impl Report {
    /// The tables, as text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for sys in &self.systems {
            let _ = writeln!(s, "{} (tΔ {} s)", sys.system, self.delay_secs);
            let mut groups: Vec<(String, &Accuracy)> = sys
                .table
                .groups
                .iter()
                .map(|(g, a)| (g.clone(), a))
                .collect();
            groups.extend(sys.by_class.iter().map(|(g, a)| (format!("[{g}]"), a)));
            groups.push(("all".into(), &sys.table.overall));
            s.push_str(&crate::scoring::render_groups(&groups));
            let _ = writeln!(
                s,
                "specificity {:.3} ({} of {} normal windows empty)",
                sys.specificity, sys.normal_empty, sys.normal_windows
            );
            s.push_str(&sys.table.render_cases());
            for f in &sys.sorted_files {
                let _ = writeln!(s, "note: {f}: rows out of time order, sorted");
            }
        }
        s
    }
}
