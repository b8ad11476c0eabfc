//! `charter-bench inject`: a validation that cannot be learned from one root cause.
//! Every node of a dataset is made the root cause in turn: a window of the
//! dataset's REAL normal data gets a synthetic fault in the root's own series
//! (the [`fault`] model: a level shift or ramp of a drawn size, in units of each
//! series' normal spread), spread to its callers along the graph, everything else
//! left as recorded. The ranking is then run exactly as `charter-bench rca` runs it
//! on that dataset (same series, same options), and scored top-1 / top-3 per root
//! node, macro-averaged over nodes. The same window without the fault (the fault
//! at size 0) is the control: its ranking should be empty (specificity).
//!
//! Draws come from one seeded SplitMix64 per (system, seed), so a run is
//! reproducible; the fault model's ranges are constants, the same for every dataset.

pub mod fault;

use crate::generalize::topology::Draw;
use crate::records::service_of_pod;
use crate::{chaos, nezha, petshop, sockshop};
use anyhow::{Context, Result, bail};
use charter_analyze::{MetricSeries, RankOptions};
use charter_frame::{Frame, load_adjacency_matrix, split_by_rows};
use charter_model::{Timestamp, Topology};
use fault::{Class, Fault};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use std::time::Instant;

/// The target for the synthetic validation's top-1 (`--check`).
pub const TARGET_TOP1: f64 = 0.8;
/// How many of the worst nodes a row lists.
const WORST: usize = 5;
/// Windows tried per fault before the root counts as unobservable there.
const WINDOW_TRIES: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InjectDataset {
    Petshop,
    Sockshop,
    Nezha,
    SockshopChaos,
}

#[derive(clap::Args)]
pub struct InjectArgs {
    /// Which dataset's layout and harness.
    #[arg(long, value_enum)]
    dataset: InjectDataset,
    /// The dataset's root folder.
    #[arg(long)]
    path: PathBuf,
    /// Faults per root node and fault class (seeds 0..N).
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// Print JSON (every trial) instead of a table.
    #[arg(long)]
    json: bool,
    /// Exit with 1 when a row's top-1 is below 0.8 (the target).
    #[arg(long)]
    check: bool,
}

/// The fault model's ranges, reported with every result.
#[derive(Debug, Clone, Serialize)]
pub struct Ranges {
    pub size_spreads: (f64, f64),
    pub hop_share: (f64, f64),
    pub unaffected_chance: f64,
    pub ramp_chance: f64,
    pub constant_spread: f64,
}

impl Ranges {
    fn current() -> Self {
        Ranges {
            size_spreads: fault::SIZE_SPREADS,
            hop_share: fault::HOP_SHARE,
            unaffected_chance: fault::UNAFFECTED_CHANCE,
            ramp_chance: fault::RAMP_CHANCE,
            constant_spread: fault::CONSTANT_SPREAD,
        }
    }
}

/// One injected fault and its control.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    pub system: String,
    pub seed: u64,
    pub fault: Fault,
    /// The component the ranking should name first (the root, or a pod's service).
    pub truth: String,
    /// Which recording the window was cut from, and its rows.
    pub recording: usize,
    pub baseline_rows: (usize, usize),
    pub window_rows: (usize, usize),
    /// The alert's node, for a harness that takes one.
    pub target: Option<String>,
    /// The first five of the ranking.
    pub top: Vec<String>,
    /// The first five of the control's ranking (empty is right).
    pub control_top: Vec<String>,
}

/// Scores of one root node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeScore {
    pub system: String,
    pub node: String,
    pub trials: usize,
    pub top1: f64,
    pub top3: f64,
}

/// One system's (or the whole dataset's) row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub system: String,
    /// Root nodes injected.
    pub roots: usize,
    pub trials: usize,
    /// Macro averages over root nodes.
    pub top1: f64,
    pub top3: f64,
    pub specificity: f64,
    /// The nodes with the lowest top-1, lowest first.
    pub worst: Vec<(String, f64)>,
    /// Nodes of the graph without a series any fault class moves that has values
    /// in at least half of the normal rows.
    pub not_injectable: Vec<String>,
    /// Root nodes and classes left out of some seeds: no window with a value of a
    /// series the fault moves was found.
    pub no_window: Vec<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dataset: String,
    pub seeds: u64,
    pub ranges: Ranges,
    pub rows: Vec<Row>,
    pub nodes: Vec<NodeScore>,
    pub trials: Vec<Trial>,
    /// Mean time of one ranking (fault and control alike); left out of the JSON so
    /// that two runs print the same thing.
    #[serde(skip)]
    pub mean_rank_ms: f64,
}

/// How the `rca` harness of a dataset cuts and ranks.
enum Harness {
    /// The dataset's graph and the alert's node, series of the alert's metric only;
    /// windows as long as the dataset's issues, split from half of the normal data
    /// onwards (the baseline is every normal row before the split).
    Petshop { graph: Topology, window: usize },
    /// No graph, no target; RCAEval's windows around a split in the middle third.
    Sockshop,
    /// The graph and the pods' placement on nodes, no target; judged rows as long as
    /// a fault and the minute after it (240 s), split from half of the normal data
    /// onwards, the rows before the split as baseline (the harness's specificity
    /// windows).
    Nezha { graph: Topology, window_secs: f64 },
    /// Files of pods, judged as services (a pod counts as its service) with the
    /// service graph, no target; windows as Nezha's (300 s of fault and a minute),
    /// the rows before the split as baseline (the harness's default baseline).
    Chaos { graph: Topology, window_secs: f64 },
}

/// A recording of normal operation: one frame, or one per file on its own time axis
/// (Nezha's pods), and where the components run when known.
struct Recording {
    frames: Vec<Frame>,
    nodes: Option<BTreeMap<String, String>>,
}

/// A cut window as times: baseline `[from, split)`, judged `[split, end)`.
#[derive(Debug, Clone, Copy)]
struct Cut {
    from: Timestamp,
    split: Timestamp,
    end: Timestamp,
}

impl Cut {
    /// The baseline and judged rows of `frame`.
    fn rows(&self, frame: &Frame) -> (Range<usize>, Range<usize>) {
        let at = |t: Timestamp| frame.times.partition_point(|x| *x < t);
        let (a, b, c) = (at(self.from), at(self.split), at(self.end));
        (a..b, b..c)
    }

    fn judged(&self) -> impl Fn(Timestamp) -> bool {
        let (split, end) = (self.split, self.end);
        move |t| t >= split && t < end
    }

    fn baseline(&self) -> impl Fn(Timestamp) -> bool {
        let (from, split) = (self.from, self.split);
        move |t| t >= from && t < split
    }
}

/// One system: its normal recordings, the graph faults spread along, its harness.
struct System {
    name: String,
    recordings: Vec<Recording>,
    graph: Option<Topology>,
    harness: Harness,
}

impl System {
    /// A window cut from a recording, as times of its first frame's rows.
    fn cut(&self, draw: &mut Draw, recording: &Recording) -> Cut {
        let times = &recording.frames[0].times;
        let (baseline, window) = self.cut_rows(draw, times);
        let after = |i: usize| {
            times
                .get(i)
                .copied()
                .unwrap_or_else(|| times[times.len() - 1].plus(Duration::from_millis(1)))
        };
        Cut {
            from: times[baseline.start],
            split: times[window.start],
            end: after(window.end),
        }
    }

    /// The baseline and judged rows of a window cut from rows at `times`.
    fn cut_rows(&self, draw: &mut Draw, times: &[Timestamp]) -> (Range<usize>, Range<usize>) {
        let len = times.len();
        match &self.harness {
            Harness::Petshop { window, .. } => {
                let lo = len / 2;
                let hi = len.saturating_sub(*window).max(lo);
                let split = draw.int(lo as u64, hi as u64) as usize;
                (0..split, split..(split + window).min(len))
            }
            Harness::Sockshop => {
                let split = draw.int((len / 3) as u64, (2 * len / 3) as u64) as usize;
                split_by_rows(len, split, sockshop::WINDOW_ROWS)
            }
            Harness::Nezha { window_secs, .. } | Harness::Chaos { window_secs, .. } => {
                let split =
                    draw.int((len / 2) as u64, len.saturating_sub(4).max(len / 2) as u64) as usize;
                let at = times[split].as_secs_f64();
                let end = times.partition_point(|t| t.as_secs_f64() < at + window_secs);
                (0..split, split..end.max(split + 1).min(len))
            }
        }
    }

    /// The harness's ranking of `recording`'s judged rows against its baseline rows
    /// (the first five components), with the alert on `target` where the harness
    /// takes one.
    fn rank(
        &self,
        recording: &Recording,
        cut: Cut,
        target: Option<&petshop::Target>,
        options: &RankOptions,
    ) -> Vec<String> {
        let frame = &recording.frames[0];
        let (baseline, window) = cut.rows(frame);
        let ranking = match (&self.harness, target) {
            (Harness::Petshop { graph, .. }, Some(target)) => {
                let settings = petshop::Settings {
                    split: petshop::Split::All,
                    metrics: petshop::MetricChoice::TargetKind,
                };
                let s = petshop::series(frame, baseline, frame, window, target, &settings);
                petshop::rank(&s, graph, target, options)
            }
            (Harness::Nezha { graph, .. }, _) => {
                let s = nezha::series(
                    &recording.frames,
                    &cut.judged(),
                    &recording.frames,
                    &cut.baseline(),
                );
                nezha::rank(&s, graph, recording.nodes.as_ref(), options)
            }
            (Harness::Chaos { graph, .. }, _) => {
                let files: Vec<chaos::File> = recording
                    .frames
                    .iter()
                    .map(|f| chaos::File {
                        name: f.source.clone(),
                        frame: f.clone(),
                    })
                    .collect();
                let s = chaos::series(
                    &files,
                    &std::collections::HashMap::new(),
                    cut.split.as_secs_f64(),
                    cut.end.as_secs_f64(),
                    false,
                );
                chaos::rank(&s, graph, options)
            }
            _ => {
                if window.is_empty() {
                    return Vec::new();
                }
                let s = frame.series(baseline, window.clone());
                rank_without_graph(&s, frame.times[window.end - 1], options)
            }
        };
        ranking.into_iter().take(5).map(|h| h.component).collect()
    }

    /// What the ranking should name for a fault at `root`: the root, or for a pod
    /// judged as its service, the service.
    fn truth(&self, root: &str) -> String {
        match self.harness {
            Harness::Chaos { .. } if !root.starts_with("node:") => {
                service_of_pod(root).unwrap_or(root).to_string()
            }
            _ => root.to_string(),
        }
    }

    /// The alert a fault raises, for a harness that takes one: on the affected
    /// node farthest from the root that shows it in a series (ties drawn), its metric.
    fn target(&self, draw: &mut Draw, frame: &Frame, fault: &Fault) -> Option<petshop::Target> {
        let Harness::Petshop { .. } = self.harness else {
            return None;
        };
        // An alert fires where the fault shows at least as much as the smallest
        // fault does at its root.
        let shows = |component: &str| {
            frame.columns.iter().find(|c| {
                c.component == component && fault.size * fault.share_of(c) >= fault::SIZE_SPREADS.0
            })
        };
        let far = fault
            .reach
            .iter()
            .filter(|r| shows(&r.component).is_some())
            .map(|r| r.hops)
            .max()?;
        let candidates: Vec<&str> = fault
            .reach
            .iter()
            .filter(|r| r.hops == far && shows(&r.component).is_some())
            .map(|r| r.component.as_str())
            .collect();
        let node = *draw.pick(&candidates);
        let column = shows(node)?;
        let (metric, agg) = column
            .metric
            .split_once('/')
            .unwrap_or((column.metric.as_str(), ""));
        Some(petshop::Target {
            node: node.to_string(),
            metric: metric.to_string(),
            agg: agg.to_string(),
        })
    }

    /// Every node a fault can be injected at, with the classes it can take (a
    /// series the class moves, with a unit in the first recording), and the graph's
    /// nodes that have none.
    fn roots(&self) -> (Vec<(String, Vec<Class>)>, Vec<String>) {
        let mut nodes: BTreeSet<String> = self
            .graph
            .iter()
            .flat_map(|g| g.names().iter().cloned())
            .collect();
        let first: Vec<&charter_frame::Column> = self.recordings[0]
            .frames
            .iter()
            .flat_map(|f| &f.columns)
            .collect();
        nodes.extend(first.iter().map(|c| c.component.clone()));
        let mut roots = Vec::new();
        let mut none = Vec::new();
        for node in nodes {
            let classes: Vec<Class> = Class::ALL
                .into_iter()
                .filter(|class| {
                    first.iter().any(|c| {
                        c.component == node && class.primary(c.signal) && usable(&c.values)
                    })
                })
                .collect();
            if classes.is_empty() {
                none.push(node);
            } else {
                roots.push((node, classes));
            }
        }
        (roots, none)
    }
}

/// The ranking as the Sock Shop harness calls it: no graph, no target.
fn rank_without_graph(
    series: &[MetricSeries],
    now: Timestamp,
    options: &RankOptions,
) -> Vec<charter_model::Hypothesis> {
    crate::scoring::rank_offline(series, None, None, None, Some(now), options)
}

/// PetShop: one system per traffic scenario (a folder with `graph.csv`), its
/// `noissue/metrics.csv` the normal data; the window is as long as the scenario's
/// issues (the median, as the harness's specificity windows).
fn petshop_systems(root: &Path) -> Result<Vec<System>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .with_context(|| format!("cannot list {}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("graph.csv").is_file())
        .collect();
    if root.join("graph.csv").is_file() {
        dirs.push(root.to_path_buf());
    }
    dirs.sort();
    let mut systems = Vec::new();
    for dir in dirs {
        let graph = load_adjacency_matrix(&dir.join("graph.csv"))?;
        let normal = petshop::load_metrics(&dir.join("noissue").join("metrics.csv"))?;
        let mut lengths = Vec::new();
        for split in ["train", "test"] {
            let Ok(entries) = std::fs::read_dir(dir.join(split)) else {
                continue;
            };
            for e in entries.filter_map(|e| e.ok()) {
                let m = e.path().join("metrics.csv");
                if m.is_file() {
                    lengths.push(petshop::load_metrics(&m)?.times.len());
                }
            }
        }
        lengths.sort_unstable();
        // The dataset's issues hold 5 rows; without any, a window of that length.
        let window = lengths.get(lengths.len() / 2).copied().unwrap_or(5).max(1);
        if normal.times.len() < 2 * window + 2 {
            bail!(
                "{}: {} rows of normal data, too few for windows of {window}",
                dir.join("noissue").join("metrics.csv").display(),
                normal.times.len()
            );
        }
        systems.push(System {
            name: dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string(),
            recordings: vec![Recording {
                frames: vec![normal],
                nodes: None,
            }],
            graph: Some(graph.clone()),
            harness: Harness::Petshop { graph, window },
        });
    }
    if systems.is_empty() {
        bail!("{}: no scenario folder with graph.csv", root.display());
    }
    Ok(systems)
}

/// Sock Shop: one system, every case's `normal.csv` a recording; no graph (the
/// dataset has none), so faults stay at their root.
fn sockshop_systems(root: &Path) -> Result<Vec<System>> {
    let mut recordings = Vec::new();
    for case in sockshop::find_cases(root)? {
        recordings.push(Recording {
            frames: vec![sockshop::load(&case.dir.join("normal.csv"))?],
            nodes: None,
        });
    }
    Ok(vec![System {
        name: "sockshop".to_string(),
        recordings,
        graph: None,
        harness: Harness::Sockshop,
    }])
}

/// Nezha: one system per folder with `graph.csv` and `normal/`, every
/// `normal/<day>/` a recording (its pods, and its nodes where placed).
fn nezha_systems(root: &Path) -> Result<Vec<System>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .with_context(|| format!("cannot list {}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("graph.csv").is_file() && p.join("normal").is_dir())
        .collect();
    if root.join("graph.csv").is_file() && root.join("normal").is_dir() {
        dirs.push(root.to_path_buf());
    }
    dirs.sort();
    let mut systems = Vec::new();
    for dir in dirs {
        let graph = nezha::load_edges(&dir.join("graph.csv"))?;
        let normal = dir.join("normal");
        let mut days: Vec<PathBuf> = std::fs::read_dir(&normal)
            .with_context(|| format!("cannot list {}", normal.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        days.sort();
        let mut recordings = Vec::new();
        for day in days {
            let pods = nezha::load_pods(&day, &graph)?;
            recordings.push(Recording {
                frames: pods.frames,
                nodes: pods.nodes,
            });
        }
        if recordings.is_empty() {
            bail!("{}: no normal/<day>/ folder", normal.display());
        }
        systems.push(System {
            name: dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string(),
            recordings,
            graph: Some(graph.clone()),
            harness: Harness::Nezha {
                graph,
                // Each fault lasts 3 minutes; the harness judges it and the minute
                // that holds its end.
                window_secs: 240.0,
            },
        });
    }
    if systems.is_empty() {
        bail!(
            "{}: no system folder with graph.csv and normal/",
            root.display()
        );
    }
    Ok(systems)
}

/// Sock Shop chaos: one system, `normal/`'s pod files the recording (six hours
/// before the faults; the machines' files of that period are not in the dataset, so
/// machines cannot be roots here). Roots are pods, one replica at a time, as the
/// dataset's container faults; the ranking names services. The dataset has no
/// latency or error series, so a fault shows only in the root pod's own series and
/// is not spread (nothing a caller measures would move).
fn chaos_systems(root: &Path) -> Result<Vec<System>> {
    let graph = nezha::load_edges(&root.join("graph.csv"))?;
    let ip_names = chaos::machines(root)?;
    let (files, _) = chaos::load_files(&root.join("normal"), &ip_names)?;
    Ok(vec![System {
        name: "sockshop-chaos".to_string(),
        recordings: vec![Recording {
            frames: files.into_iter().map(|f| f.frame).collect(),
            nodes: None,
        }],
        graph: None,
        harness: Harness::Chaos {
            graph,
            // Each fault lasts 5 minutes; the harness judges it and the minute after.
            window_secs: 360.0,
        },
    }])
}

/// Inject every fault, score every root node.
pub fn evaluate(dataset: InjectDataset, path: &Path, seeds: u64) -> Result<Report> {
    let systems = match dataset {
        InjectDataset::Petshop => petshop_systems(path)?,
        InjectDataset::Sockshop => sockshop_systems(path)?,
        InjectDataset::Nezha => nezha_systems(path)?,
        InjectDataset::SockshopChaos => chaos_systems(path)?,
    };
    let options = RankOptions::default();
    let mut trials = Vec::new();
    let mut rows = Vec::new();
    let mut nodes = Vec::new();
    let mut rank_time = 0.0;
    let mut rankings = 0usize;
    for system in &systems {
        let (roots, not_injectable) = system.roots();
        let mut system_trials = Vec::new();
        let mut unobservable = Vec::new();
        for seed in 0..seeds {
            let mut draw = Draw::new(seed);
            for (root, classes) in &roots {
                for &class in classes {
                    // A window where the root has data to show the fault in (a
                    // fault nobody can see is not the ranking's miss).
                    let mut found = None;
                    for _ in 0..WINDOW_TRIES {
                        let recording = draw.next_u64() as usize % system.recordings.len();
                        let cut = system.cut(&mut draw, &system.recordings[recording]);
                        if observed(&system.recordings[recording], root, class, cut) {
                            found = Some((recording, cut));
                            break;
                        }
                    }
                    let Some((recording, cut)) = found else {
                        unobservable.push(format!("{root} ({})", class.name()));
                        continue;
                    };
                    let normal = &system.recordings[recording];
                    let fault = Fault::draw(&mut draw, system.graph.as_ref(), root, class);
                    let faulty = injected(normal, &fault, cut);
                    let control = injected(normal, &fault.sized(0.0), cut);
                    let target = system.target(&mut draw, &faulty.frames[0], &fault);
                    let started = Instant::now();
                    let top = system.rank(&faulty, cut, target.as_ref(), &options);
                    let control_top = system.rank(&control, cut, target.as_ref(), &options);
                    rank_time += started.elapsed().as_secs_f64() * 1e3;
                    rankings += 2;
                    let (baseline, window) = cut.rows(&normal.frames[0]);
                    system_trials.push(Trial {
                        system: system.name.clone(),
                        seed,
                        truth: system.truth(&fault.root),
                        fault,
                        recording,
                        baseline_rows: (baseline.start, baseline.end),
                        window_rows: (window.start, window.end),
                        target: target.map(|t| t.node),
                        top,
                        control_top,
                    });
                }
            }
        }
        let system_nodes = node_scores(&system.name, &system_trials);
        let mut r = row(&system.name, &system_nodes, &system_trials, not_injectable);
        unobservable.sort();
        unobservable.dedup();
        r.no_window = unobservable;
        rows.push(r);
        nodes.extend(system_nodes);
        trials.extend(system_trials);
    }
    if rows.len() > 1 {
        let all = row("all", &nodes, &trials, Vec::new());
        rows.push(all);
    }
    Ok(Report {
        dataset: format!("{dataset:?}").to_lowercase(),
        seeds,
        ranges: Ranges::current(),
        rows,
        nodes,
        trials,
        mean_rank_ms: rank_time / rankings.max(1) as f64,
    })
}

/// Top-1 and top-3 of every root node over its trials.
fn node_scores(system: &str, trials: &[Trial]) -> Vec<NodeScore> {
    let mut by_node: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for t in trials {
        let e = by_node.entry(t.fault.root.as_str()).or_default();
        e.0 += 1;
        e.1 += usize::from(t.top.first() == Some(&t.truth));
        e.2 += usize::from(t.top.iter().take(3).any(|c| *c == t.truth));
    }
    by_node
        .into_iter()
        .map(|(node, (n, one, three))| NodeScore {
            system: system.to_string(),
            node: node.to_string(),
            trials: n,
            top1: one as f64 / n as f64,
            top3: three as f64 / n as f64,
        })
        .collect()
}

fn row(system: &str, nodes: &[NodeScore], trials: &[Trial], not_injectable: Vec<String>) -> Row {
    let n = nodes.len().max(1) as f64;
    let mut worst: Vec<(String, f64)> = nodes
        .iter()
        .map(|s| {
            let name = if system == "all" {
                format!("{}/{}", s.system, s.node)
            } else {
                s.node.clone()
            };
            (name, s.top1)
        })
        .collect();
    worst.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    worst.truncate(WORST);
    Row {
        system: system.to_string(),
        roots: nodes.len(),
        trials: trials.len(),
        top1: nodes.iter().map(|s| s.top1).sum::<f64>() / n,
        top3: nodes.iter().map(|s| s.top3).sum::<f64>() / n,
        specificity: trials.iter().filter(|t| t.control_top.is_empty()).count() as f64
            / trials.len().max(1) as f64,
        worst,
        not_injectable,
        no_window: Vec::new(),
    }
}

/// Whether `recording` has a value in the judged rows of `cut` of a series a fault
/// of `class` at `root` moves.
fn observed(recording: &Recording, root: &str, class: Class, cut: Cut) -> bool {
    recording.frames.iter().any(|frame| {
        let (_, window) = cut.rows(frame);
        frame.columns.iter().any(|c| {
            c.component == root
                && class.primary(c.signal)
                && c.values[window.clone()].iter().any(|v| v.is_finite())
        })
    })
}

/// A copy of `recording` with `fault` in the judged rows of `cut`.
fn injected(recording: &Recording, fault: &Fault, cut: Cut) -> Recording {
    let frames = recording
        .frames
        .iter()
        .map(|f| {
            let mut f = f.clone();
            let (baseline, window) = cut.rows(&f);
            fault.apply(&mut f, baseline, window);
            f
        })
        .collect();
    Recording {
        frames,
        nodes: recording.nodes.clone(),
    }
}

/// Whether a column is populated enough to size a fault in: a unit, and values in
/// at least half of the rows.
fn usable(values: &[f64]) -> bool {
    let finite = values.iter().filter(|v| v.is_finite()).count();
    2 * finite >= values.len() && fault::spread(values).is_some()
}

/// `charter-bench inject`: print the report; `Ok(false)` when `--check` finds a row
/// below the target.
pub fn run(args: &InjectArgs) -> Result<bool> {
    let report = evaluate(args.dataset, &args.path, args.seeds)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let r = &report.ranges;
        println!(
            "faults: size log-uniform {}–{} robust sd, ramp chance {}, per-edge share {}–{}, \
             unaffected caller chance {}, constant series unit {} of level; seeds 0..{}",
            r.size_spreads.0,
            r.size_spreads.1,
            r.ramp_chance,
            r.hop_share.0,
            r.hop_share.1,
            r.unaffected_chance,
            r.constant_spread,
            report.seeds
        );
        println!(
            "{:<14} {:>5} {:>6} {:>6} {:>6} {:>11}  worst nodes (top-1)",
            "system", "roots", "trials", "top-1", "top-3", "specificity"
        );
        for row in &report.rows {
            let worst: Vec<String> = row
                .worst
                .iter()
                .map(|(n, s)| format!("{n} {s:.2}"))
                .collect();
            println!(
                "{:<14} {:>5} {:>6} {:>6.3} {:>6.3} {:>11.3}  {}",
                row.system,
                row.roots,
                row.trials,
                row.top1,
                row.top3,
                row.specificity,
                worst.join(", ")
            );
            if !row.not_injectable.is_empty() {
                println!("  no injectable series: {}", row.not_injectable.join(", "));
            }
            if !row.no_window.is_empty() {
                println!(
                    "  no window with data (some seeds): {}",
                    row.no_window.join(", ")
                );
            }
        }
        println!("mean {:.2} ms per ranking", report.mean_rank_ms);
    }
    let short: Vec<&Row> = report
        .rows
        .iter()
        .filter(|r| r.top1 < TARGET_TOP1)
        .collect();
    if args.check && !short.is_empty() {
        for r in short {
            eprintln!(
                "charter-bench inject: {}: top-1 {:.3} is below the target {TARGET_TOP1}",
                r.system, r.top1
            );
        }
        return Ok(false);
    }
    Ok(true)
}
