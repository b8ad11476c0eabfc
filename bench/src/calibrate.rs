//! `calibrate`: top-1 diagnosis accuracy and confidence calibration on labelled
//! simulator incidents.
//!
//! Every (scenario, seed) runs the real controller against the Westworld simulator
//! in virtual time, exactly as `charter demo` does, and the scenario's ground truth
//! labels the diagnoses: an incident belongs to the fault active when it opened
//! (`[fault.at, next fault.at)`), or to none. Every `Diagnosed` event's top
//! hypothesis is one calibration sample `(confidence, right)`; a diagnosis of an
//! incident with no fault behind it is a wrong claim. `--fit` refits the Platt
//! curve of `charter_analyze::calibration` on the same samples.

use crate::pool::run_pool;
use anyhow::{Context, Result, bail};
use charter_analyze::calibration::{
    Bucket, CALIBRATION, Calibration, expected_calibration_error, reliability,
};
use charter_execute::Actuator;
use charter_knowledge::{SqliteStore, Store};
use charter_model::{ActuatorSpec, Charter, IncidentId, SourceSpec, Timestamp, parse_charter};
use charter_orchestrator::{Controller, Event};
use charter_sim::{Scenario, Simulator, World};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Virtual time starts where `charter demo` starts it (2026-01-01T00:00:00Z).
const EPOCH: Timestamp = Timestamp(1_767_225_600_000);
/// Buckets of the reliability table.
const BUCKETS: usize = 10;

/// Options of `charter-bench calibrate`.
#[derive(clap::Args)]
pub struct CalibrateArgs {
    /// The charter to run (its source must be `simulator`).
    #[arg(long, default_value = "examples/westworld.yaml")]
    charter: PathBuf,
    /// Scenario files; default: every `scenarios/*.yaml` under the current directory.
    #[arg(long, num_args = 1..)]
    scenarios: Vec<PathBuf>,
    /// Seeds per scenario.
    #[arg(long, default_value_t = 20)]
    seeds: u64,
    /// The first seed (the scenarios' own seeds are below 1000).
    #[arg(long, default_value_t = 1000)]
    first_seed: u64,
    /// Refit the calibration curve on these samples and print the new constants.
    #[arg(long)]
    fit: bool,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Runs at once, each on its own thread (default: available parallelism).
    #[arg(long)]
    jobs: Option<usize>,
}

/// What to evaluate.
pub struct Settings {
    pub charter: PathBuf,
    pub scenarios: Vec<PathBuf>,
    pub seeds: Vec<u64>,
    pub jobs: usize,
    /// Print a line on stderr per finished run.
    pub progress: bool,
    pub fit: bool,
}

/// One injected fault and the diagnosis it got.
#[derive(Debug, Clone, Serialize)]
pub struct FaultResult {
    pub scenario: String,
    pub seed: u64,
    pub fault: String,
    pub at_secs: f64,
    pub truth: String,
    pub incident_id: Option<IncidentId>,
    /// Top hypothesis of the chosen incident's first diagnosis.
    pub diagnosed: Option<String>,
    pub cause: Option<String>,
    pub confidence: Option<f64>,
    pub evidence: Vec<String>,
    pub correct: bool,
}

/// One finished (scenario, seed).
#[derive(Debug, Clone)]
struct Run {
    scenario: String,
    seed: u64,
    faults: Vec<FaultResult>,
    /// `(confidence, right)` of every diagnosis's top hypothesis.
    samples: Vec<(f64, bool)>,
    unattributed: usize,
    unattributed_diagnosed: usize,
    unattributed_diagnoses: usize,
    /// Diagnoses after an incident's first one (the controller re-reports only
    /// when the top component or cause changes), and how many were right.
    later: usize,
    later_right: usize,
}

/// Top-1 accuracy over a group of faults.
#[derive(Debug, Clone, Serialize)]
pub struct Accuracy {
    pub fault: String,
    pub faults: usize,
    pub correct: usize,
    pub top1: f64,
    /// What the misses named instead (`none` = no diagnosis), most frequent first.
    pub instead: Vec<(String, usize)>,
}

/// A refitted curve and how it does on the same samples.
#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    pub calibration: Calibration,
    /// The line to paste into `crates/analyze/src/calibration.rs`.
    pub rust: String,
    pub reliability: Vec<Bucket>,
    pub ece: f64,
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub charter: String,
    pub scenarios: Vec<String>,
    pub seeds: Vec<u64>,
    pub runs: usize,
    pub wall_secs: f64,
    /// Per fault type, by name.
    pub per_fault: Vec<Accuracy>,
    pub overall: Accuracy,
    /// Incidents opened while no fault was active (or in the no-fault control).
    pub unattributed_incidents: usize,
    /// How many of them got a diagnosis.
    pub unattributed_diagnosed: usize,
    /// Calibration samples: every diagnosis's top hypothesis.
    pub diagnoses: usize,
    /// Of which re-diagnoses (an incident's top changed), and how many were right.
    pub later_diagnoses: usize,
    pub later_diagnoses_right: usize,
    /// The curve the diagnoses were made with.
    pub calibration: Calibration,
    pub reliability: Vec<Bucket>,
    pub ece: f64,
    pub fit: Option<Fit>,
    /// Every fault whose top-1 was wrong.
    pub misses: Vec<FaultResult>,
    /// The calibration samples `(confidence, right)`, in (scenario, seed) order,
    /// for checking another curve offline.
    pub samples: Vec<(f64, bool)>,
}

/// Run `charter-bench calibrate`.
pub fn run(args: &CalibrateArgs) -> Result<()> {
    let scenarios = if args.scenarios.is_empty() {
        scenario_files(Path::new("scenarios")).context(
            "no --scenarios given and no scenarios/*.yaml here (run from the workspace root)",
        )?
    } else {
        args.scenarios.clone()
    };
    if args.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let settings = Settings {
        charter: args.charter.clone(),
        scenarios,
        seeds: (args.first_seed..args.first_seed + args.seeds).collect(),
        jobs: args.jobs.unwrap_or_else(default_jobs).max(1),
        progress: true,
        fit: args.fit,
    };
    let report = evaluate(&settings)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

pub(crate) fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Every `*.yaml` file directly in `dir`, sorted.
pub fn scenario_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut files = Vec::new();
    for e in entries {
        let path = e
            .with_context(|| format!("cannot read {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|x| x == "yaml") && path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        bail!("no *.yaml files in {}", dir.display());
    }
    files.sort();
    Ok(files)
}

pub(crate) fn load_charter(path: &Path) -> Result<Charter> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read charter {} (run from the workspace root or pass --charter)",
            path.display()
        )
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let (charter, _warnings) = parse_charter(&text, &path.display().to_string(), &base)?;
    if !matches!(charter.source, SourceSpec::Simulator { .. }) {
        bail!(
            "{}: charter-bench needs a charter whose source is `simulator`",
            path.display()
        );
    }
    for (name, spec) in &charter.actuators {
        if !matches!(spec, ActuatorSpec::Simulator) {
            bail!(
                "{}: actuator `{name}` is not the simulator; charter-bench runs only in process",
                path.display()
            );
        }
    }
    Ok(charter)
}

/// Run every (scenario, seed) and summarise.
pub fn evaluate(settings: &Settings) -> Result<Report> {
    let started = Instant::now();
    let charter = Arc::new(load_charter(&settings.charter)?);
    let scenarios: Vec<Scenario> = settings
        .scenarios
        .iter()
        .map(|p| Scenario::load(p).with_context(|| format!("loading scenario {}", p.display())))
        .collect::<Result<_>>()?;
    let mut runs = run_all(&charter, &scenarios, &settings.seeds, settings)?;
    runs.sort_by(|a, b| (&a.scenario, a.seed).cmp(&(&b.scenario, b.seed)));
    let mut report = summarize(&runs, settings.fit);
    report.charter = settings.charter.display().to_string();
    report.scenarios = scenarios.iter().map(|s| s.name.clone()).collect();
    report.seeds = settings.seeds.clone();
    report.wall_secs = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The runs are independent, so each of `jobs` threads takes the next one with its
/// own current-thread runtime; the first error stops new runs from starting.
fn run_all(
    charter: &Arc<Charter>,
    scenarios: &[Scenario],
    seeds: &[u64],
    settings: &Settings,
) -> Result<Vec<Run>> {
    let work: Vec<(&Scenario, u64)> = scenarios
        .iter()
        .flat_map(|s| seeds.iter().map(move |&seed| (s, seed)))
        .collect();
    let total = work.len();
    run_pool(
        &work,
        settings.jobs,
        |&(scenario, seed)| {
            let run = run_one(charter.clone(), scenario, seed);
            async move {
                run.await
                    .map_err(|e| e.context(format!("scenario {} seed {seed}", scenario.name)))
            }
        },
        |n, run| {
            if settings.progress {
                eprintln!("[{n}/{total}] {}", progress_line(run));
            }
        },
    )
}

fn progress_line(run: &Run) -> String {
    let right = run.faults.iter().filter(|f| f.correct).count();
    let mut line = format!(
        "{} seed {}: {right}/{} right",
        run.scenario,
        run.seed,
        run.faults.len()
    );
    if run.unattributed > 0 {
        line.push_str(&format!(", {} unattributed incident(s)", run.unattributed));
    }
    line
}

/// The top hypothesis of one `Diagnosed` event.
struct Top {
    component: String,
    cause: String,
    confidence: f64,
    evidence: Vec<String>,
}

struct IncidentLog {
    opened_secs: f64,
    diagnoses: Vec<Top>,
}

/// One scenario with one seed, wired as `charter demo` wires it.
async fn run_one(charter: Arc<Charter>, scenario: &Scenario, seed: u64) -> Result<Run> {
    let sim = Simulator::new(World::new(scenario, seed), EPOCH);
    let mut actuators: BTreeMap<String, Arc<dyn Actuator>> = BTreeMap::new();
    for name in charter.actuators.keys() {
        actuators.insert(name.clone(), Arc::new(sim.clone()));
    }
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let db = tmp.path().join("charter-calibrate.db");
    let store = Arc::new(
        SqliteStore::open(&db)
            .await
            .with_context(|| format!("opening knowledge database {}", db.display()))?,
    );
    let dyn_store: Arc<dyn Store> = store.clone();
    let mut controller = Controller::new(
        charter.clone(),
        Arc::new(sim.clone()),
        actuators,
        dyn_store,
        EPOCH,
    )
    .await?;

    let mut incidents: BTreeMap<IncidentId, IncidentLog> = BTreeMap::new();
    let step = charter.interval;
    let mut t = Duration::ZERO;
    while t <= scenario.duration {
        let report = controller.tick(EPOCH.plus(t)).await?;
        let rel = t.as_secs_f64();
        for timed in report.events {
            match timed.event {
                Event::IncidentOpened { incident_id, .. } => {
                    incidents.insert(
                        incident_id,
                        IncidentLog {
                            opened_secs: rel,
                            diagnoses: Vec::new(),
                        },
                    );
                }
                Event::Diagnosed { diagnosis } => {
                    let Some(h) = diagnosis.root() else { continue };
                    let top = Top {
                        component: h.component.clone(),
                        cause: h.cause.to_string(),
                        confidence: h.confidence,
                        evidence: h.evidence.clone(),
                    };
                    incidents
                        .entry(diagnosis.incident_id)
                        .or_insert(IncidentLog {
                            opened_secs: rel,
                            diagnoses: Vec::new(),
                        })
                        .diagnoses
                        .push(top);
                }
                _ => {}
            }
        }
        t += step;
    }
    drop(controller);
    store.close().await;
    Ok(attribute(scenario, seed, &incidents))
}

/// Label the diagnoses of one run with the scenario's ground truth.
fn attribute(scenario: &Scenario, seed: u64, incidents: &BTreeMap<IncidentId, IncidentLog>) -> Run {
    let mut truth = scenario.ground_truth();
    truth.sort_by_key(|g| g.at);
    // The fault active when an incident opened, if any.
    let owner = |opened: f64| {
        truth.iter().enumerate().rev().find_map(|(i, g)| {
            let end = truth.get(i + 1).map_or(f64::MAX, |n| n.at.as_secs_f64());
            (opened >= g.at.as_secs_f64() && opened < end).then_some(i)
        })
    };
    let mut run = Run {
        scenario: scenario.name.clone(),
        seed,
        faults: Vec::new(),
        samples: Vec::new(),
        unattributed: 0,
        unattributed_diagnosed: 0,
        unattributed_diagnoses: 0,
        later: 0,
        later_right: 0,
    };
    let mut mine: Vec<Vec<(IncidentId, &IncidentLog)>> = vec![Vec::new(); truth.len()];
    for (&id, log) in incidents {
        let fault = owner(log.opened_secs);
        let root = fault.map(|i| truth[i].root_cause.as_str());
        for (k, d) in log.diagnoses.iter().enumerate() {
            let right = root.is_some_and(|r| r == d.component);
            run.samples.push((d.confidence, right));
            if k > 0 {
                run.later += 1;
                run.later_right += usize::from(right);
            }
        }
        match fault {
            Some(i) => mine[i].push((id, log)),
            None => {
                run.unattributed += 1;
                run.unattributed_diagnosed += usize::from(!log.diagnoses.is_empty());
                run.unattributed_diagnoses += log.diagnoses.len();
            }
        }
    }
    for (g, mine) in truth.iter().zip(&mine) {
        // As in `charter demo`: the incident whose diagnosis names the fault's
        // target, else the first one; here always by its first diagnosis.
        let names_truth = |l: &IncidentLog| {
            l.diagnoses
                .first()
                .is_some_and(|d| d.component == g.root_cause)
        };
        let chosen = mine.iter().find(|(_, l)| names_truth(l)).or(mine.first());
        let first = chosen.and_then(|(_, l)| l.diagnoses.first());
        run.faults.push(FaultResult {
            scenario: scenario.name.clone(),
            seed,
            fault: g.kind.as_str().to_string(),
            at_secs: g.at.as_secs_f64(),
            truth: g.root_cause.clone(),
            incident_id: chosen.map(|(id, _)| *id),
            diagnosed: first.map(|d| d.component.clone()),
            cause: first.map(|d| d.cause.clone()),
            confidence: first.map(|d| d.confidence),
            evidence: first.map(|d| d.evidence.clone()).unwrap_or_default(),
            correct: first.is_some_and(|d| d.component == g.root_cause),
        });
    }
    run
}

fn accuracy(name: &str, faults: &[&FaultResult]) -> Accuracy {
    let correct = faults.iter().filter(|f| f.correct).count();
    let mut instead: BTreeMap<String, usize> = BTreeMap::new();
    for f in faults.iter().filter(|f| !f.correct) {
        *instead
            .entry(f.diagnosed.clone().unwrap_or_else(|| "none".into()))
            .or_default() += 1;
    }
    let mut instead: Vec<(String, usize)> = instead.into_iter().collect();
    instead.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Accuracy {
        fault: name.to_string(),
        faults: faults.len(),
        correct,
        top1: if faults.is_empty() {
            0.0
        } else {
            correct as f64 / faults.len() as f64
        },
        instead,
    }
}

fn summarize(runs: &[Run], fit: bool) -> Report {
    let all: Vec<&FaultResult> = runs.iter().flat_map(|r| &r.faults).collect();
    let mut by_kind: BTreeMap<&str, Vec<&FaultResult>> = BTreeMap::new();
    for f in &all {
        by_kind.entry(f.fault.as_str()).or_default().push(f);
    }
    let samples: Vec<(f64, bool)> = runs.iter().flat_map(|r| r.samples.clone()).collect();
    Report {
        charter: String::new(),
        scenarios: Vec::new(),
        seeds: Vec::new(),
        runs: runs.len(),
        wall_secs: 0.0,
        per_fault: by_kind.iter().map(|(k, v)| accuracy(k, v)).collect(),
        overall: accuracy("all", &all),
        unattributed_incidents: runs.iter().map(|r| r.unattributed).sum(),
        unattributed_diagnosed: runs.iter().map(|r| r.unattributed_diagnosed).sum(),
        diagnoses: samples.len(),
        later_diagnoses: runs.iter().map(|r| r.later).sum(),
        later_diagnoses_right: runs.iter().map(|r| r.later_right).sum(),
        calibration: CALIBRATION,
        reliability: reliability(&samples, BUCKETS),
        ece: expected_calibration_error(&samples, BUCKETS),
        fit: fit.then(|| refit(&samples)),
        misses: all
            .iter()
            .filter(|f| !f.correct)
            .map(|&f| f.clone())
            .collect(),
        samples,
    }
}

/// Fit a new curve to the raw confidences behind `samples`; the constants are
/// rounded to what is printed, so the table is what the pasted line would give.
fn refit(samples: &[(f64, bool)]) -> Fit {
    let raw: Vec<(f64, bool)> = samples
        .iter()
        .map(|&(p, y)| (CALIBRATION.invert(p), y))
        .collect();
    let fitted = Calibration::fit(&raw);
    let round = |x: f64| (x * 1e4).round() / 1e4;
    let calibration = Calibration {
        a: round(fitted.a),
        b: round(fitted.b),
    };
    let recalibrated: Vec<(f64, bool)> = raw
        .iter()
        .map(|&(r, y)| (calibration.apply(r), y))
        .collect();
    Fit {
        calibration,
        rust: format!(
            "pub const CALIBRATION: Calibration = Calibration {{ a: {:?}, b: {:?} }};",
            calibration.a, calibration.b
        ),
        reliability: reliability(&recalibrated, BUCKETS),
        ece: expected_calibration_error(&recalibrated, BUCKETS),
    }
}

fn render_reliability(out: &mut String, table: &[Bucket], ece: f64) {
    out.push_str(&format!(
        "{:<11} {:>6} {:>10} {:>9}\n",
        "confidence", "count", "mean conf", "accuracy"
    ));
    for b in table {
        out.push_str(&format!(
            "[{:.1}, {:.1}{} {:>6} {:>10.3} {:>9.3}\n",
            b.lo,
            b.hi,
            if b.hi >= 1.0 { "]" } else { ")" },
            b.count,
            b.confidence,
            b.accuracy
        ));
    }
    out.push_str(&format!("expected calibration error: {ece:.3}\n"));
}

/// The report as text tables.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let seeds = match (r.seeds.first(), r.seeds.last()) {
        (Some(a), Some(b)) => format!("seeds {a}..={b}"),
        _ => "no seeds".into(),
    };
    out.push_str(&format!(
        "{} runs ({} scenarios × {seeds}) with {} in {:.1}s\n\n",
        r.runs,
        r.scenarios.len(),
        r.charter,
        r.wall_secs
    ));
    out.push_str(&format!(
        "{:<18} {:>6} {:>7}  {}\n",
        "fault", "faults", "top-1", "misses named"
    ));
    for a in r.per_fault.iter().chain([&r.overall]) {
        let instead: Vec<String> = a.instead.iter().map(|(c, n)| format!("{c} ×{n}")).collect();
        out.push_str(&format!(
            "{:<18} {:>6} {:>7.3}  {}\n",
            a.fault,
            a.faults,
            a.top1,
            instead.join(", ")
        ));
    }
    out.push_str(&format!(
        "\nunattributed incidents (no fault active when they opened): {}, {} of them diagnosed\n",
        r.unattributed_incidents, r.unattributed_diagnosed
    ));
    let mut shown = std::collections::BTreeSet::new();
    for m in &r.misses {
        if !shown.insert(m.fault.as_str()) {
            continue;
        }
        out.push_str(&format!(
            "  first miss of {}: {} seed {}, truth {}, top {} ({}, {:.2})\n",
            m.fault,
            m.scenario,
            m.seed,
            m.truth,
            m.diagnosed.as_deref().unwrap_or("none"),
            m.cause.as_deref().unwrap_or("-"),
            m.confidence.unwrap_or(0.0)
        ));
        for e in &m.evidence {
            out.push_str(&format!("      {e}\n"));
        }
    }
    out.push_str(&format!(
        "\nreliability of {} diagnoses (every diagnosis's top hypothesis, {} of them \
         re-diagnoses after the top changed, {} right; curve a={}, b={})\n",
        r.diagnoses, r.later_diagnoses, r.later_diagnoses_right, r.calibration.a, r.calibration.b
    ));
    render_reliability(&mut out, &r.reliability, r.ece);
    if let Some(f) = &r.fit {
        out.push_str("\nrefitted curve (paste into crates/analyze/src/calibration.rs):\n");
        out.push_str(&format!("{}\n", f.rust));
        out.push_str("on the same samples it would give:\n");
        render_reliability(&mut out, &f.reliability, f.ece);
        out.push_str(
            "these figures are in-sample: check the new curve on other seeds (--first-seed)\n",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibrate_every_scenario_is_diagnosed_right_and_calibrated() -> Result<()> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let settings = Settings {
            charter: root.join("examples/westworld.yaml"),
            scenarios: scenario_files(&root.join("scenarios"))?,
            seeds: (5000..5003).collect(),
            jobs: default_jobs(),
            progress: false,
            fit: false,
        };
        let report = evaluate(&settings)?;
        let text = render(&report);
        assert!(
            report.overall.top1 >= 0.95,
            "top-1 accuracy {:.3} < 0.95\n{text}",
            report.overall.top1
        );
        assert!(report.ece <= 0.1, "ECE {:.3} > 0.1\n{text}", report.ece);
        Ok(())
    }

    fn incident(opened_secs: f64, tops: &[(&str, f64)]) -> IncidentLog {
        IncidentLog {
            opened_secs,
            diagnoses: tops
                .iter()
                .map(|&(c, p)| Top {
                    component: c.into(),
                    cause: "overload".into(),
                    confidence: p,
                    evidence: vec![],
                })
                .collect(),
        }
    }

    #[test]
    fn calibrate_attributes_incidents_to_the_fault_active_when_they_opened() -> Result<()> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/demo.yaml");
        let scenario = Scenario::load(&path)?;
        let truth = scenario.ground_truth();
        let first = truth[0].at.as_secs_f64();
        let second = truth[1].at.as_secs_f64();
        let incidents = BTreeMap::from([
            // Before any fault: an unattributed, wrong claim.
            (IncidentId(1), incident(first - 60.0, &[("db", 0.9)])),
            // The first fault: a wrong incident first, then a right one.
            (IncidentId(2), incident(first + 30.0, &[("api", 0.4)])),
            (
                IncidentId(3),
                incident(first + 60.0, &[(&truth[0].root_cause, 0.8)]),
            ),
            // The second fault: right only on the second diagnosis, so wrong.
            (
                IncidentId(4),
                incident(second, &[("api", 0.5), (&truth[1].root_cause, 0.7)]),
            ),
        ]);
        let run = attribute(&scenario, 1, &incidents);
        assert_eq!(run.unattributed, 1);
        assert_eq!(run.unattributed_diagnosed, 1);
        assert!(run.faults[0].correct);
        assert_eq!(run.faults[0].incident_id, Some(IncidentId(3)));
        assert!(!run.faults[1].correct);
        assert_eq!(run.faults[1].diagnosed.as_deref(), Some("api"));
        // Faults with no incident count as wrong.
        assert!(
            run.faults[2..]
                .iter()
                .all(|f| !f.correct && f.incident_id.is_none())
        );
        assert_eq!(
            run.samples,
            vec![
                (0.9, false),
                (0.4, false),
                (0.8, true),
                (0.5, false),
                (0.7, true)
            ]
        );
        Ok(())
    }
}
