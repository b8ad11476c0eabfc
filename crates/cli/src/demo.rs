//! `charter demo`: the whole loop against a built-in incident story, in virtual time.

use crate::wiring;
use charter_knowledge::Store;
use charter_model::{Timestamp, fmt_duration_secs, parse_charter};
use charter_orchestrator::Event;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The embedded default charter: the simulator's shop with every action kind.
pub const DEFAULT_CHARTER: &str = include_str!("../../../examples/westworld.yaml");
/// Virtual time starts at 2026-01-01T00:00:00Z so that logs are reproducible.
pub const EPOCH: Timestamp = Timestamp(1_767_225_600_000);

/// Options of `charter demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Seed of the simulation (changes noise and timings).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep the knowledge database here instead of a temporary file.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Print the summary as JSON (the live log is not printed).
    #[arg(long)]
    json: bool,
    /// Also log every violation transition.
    #[arg(long)]
    verbose: bool,
    /// Use this charter instead of the built-in one (its source must be `simulator`).
    #[arg(long)]
    charter: Option<PathBuf>,
    /// Use this scenario file instead of the built-in story.
    #[arg(long)]
    scenario: Option<PathBuf>,
}

/// One injected fault and what Charter did about it.
#[derive(Debug, Serialize)]
pub struct FaultReport {
    pub fault: String,
    pub at_secs: f64,
    pub truth_root_cause: String,
    pub truth_remedy: String,
    pub incident_id: Option<u64>,
    pub diagnosed_root_cause: Option<String>,
    pub cause: Option<String>,
    pub confidence: Option<f64>,
    pub evidence: Vec<String>,
    pub actions: Vec<String>,
    pub outcome: Option<String>,
    pub time_to_recover_secs: Option<f64>,
    pub root_cause_correct: bool,
    pub remedy_correct: bool,
    pub resolved: bool,
}

/// The demo's result.
#[derive(Debug, Serialize)]
pub struct DemoSummary {
    pub seed: u64,
    pub scenario: String,
    pub virtual_secs: f64,
    pub wall_secs: f64,
    pub speedup: f64,
    pub faults: Vec<FaultReport>,
    /// Incidents not attributable to any injected fault.
    pub unexplained_incidents: Vec<u64>,
    pub actions_total: usize,
    pub database: String,
}

#[derive(Default)]
struct IncidentLog {
    opened_at: f64,
    root: Option<(String, String, f64, Vec<String>)>,
    /// The diagnosis in force when the first action was applied.
    acted_on: Option<(String, String, f64, Vec<String>)>,
    actions: Vec<String>,
    outcome: Option<String>,
    resolved_at: Option<f64>,
}

/// Run the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let (text, file, base) = match &args.charter {
        Some(p) => (
            std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?,
            p.display().to_string(),
            p.parent().map(Path::to_path_buf).unwrap_or_default(),
        ),
        None => (
            DEFAULT_CHARTER.to_string(),
            "examples/westworld.yaml".to_string(),
            PathBuf::from("."),
        ),
    };
    let (charter, _) = parse_charter(&text, &file, &base)?;
    let charter = Arc::new(charter);
    let (sim, scenario, seed) = wiring::simulator(
        &charter,
        "demo",
        args.scenario.as_deref(),
        Some(args.seed),
        EPOCH,
    )?;
    let tmp = tempfile::tempdir()?;
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| tmp.path().join("charter-demo.db"));
    let actuators = wiring::actuators(&charter, Some(&sim))?;
    let (mut controller, store) = wiring::controller(
        charter.clone(),
        Arc::new(sim.clone()),
        actuators,
        &db,
        EPOCH,
    )
    .await?;

    let duration = scenario.duration;
    let truth = scenario.ground_truth();
    if !args.json {
        println!(
            "Charter demo: `{}` on the Westworld simulator ({} services), {} of virtual time, seed {seed}",
            scenario.name,
            charter.components.len(),
            fmt_duration_secs(duration.as_secs_f64())
        );
        for g in &truth {
            println!(
                "  fault at +{}: {} on {} (right remedy: {})",
                clock(g.at.as_secs_f64()),
                g.kind.as_str(),
                g.root_cause,
                g.remedy
            );
        }
        println!();
    }
    let started = Instant::now();
    let mut incidents: std::collections::BTreeMap<u64, IncidentLog> = Default::default();
    let mut actions_total = 0;
    let step = charter.interval;
    let mut t = Duration::ZERO;
    while t <= duration {
        let now = EPOCH.plus(t);
        let report = controller.tick(now).await?;
        let rel = t.as_secs_f64();
        for timed in &report.events {
            let e = &timed.event;
            match e {
                Event::IncidentOpened { incident_id, .. } => {
                    incidents.insert(
                        *incident_id,
                        IncidentLog {
                            opened_at: rel,
                            ..Default::default()
                        },
                    );
                }
                Event::Diagnosed { diagnosis } => {
                    if let (Some(log), Some(h)) =
                        (incidents.get_mut(&diagnosis.incident_id), diagnosis.root())
                    {
                        log.root = Some((
                            h.component.clone(),
                            h.cause.to_string(),
                            h.confidence,
                            h.evidence.clone(),
                        ));
                    }
                }
                Event::StepApplied {
                    incident_id,
                    action,
                    ..
                } => {
                    actions_total += 1;
                    if let Some(log) = incidents.get_mut(incident_id) {
                        if log.actions.is_empty() {
                            log.acted_on = log.root.clone();
                        }
                        log.actions.push(action.to_string());
                    }
                }
                Event::Verified {
                    incident_id,
                    outcome,
                    ..
                } => {
                    if let Some(log) = incidents.get_mut(incident_id) {
                        log.outcome = Some(outcome.to_string());
                    }
                }
                Event::IncidentResolved { incident_id, .. } => {
                    if let Some(log) = incidents.get_mut(incident_id) {
                        log.resolved_at = Some(rel);
                    }
                }
                _ => {}
            }
            let show = args.verbose || !matches!(e, Event::Violation { .. });
            if show && !args.json {
                println!("[+{}] {e}", clock(rel));
            }
        }
        t += step;
    }
    let wall = started.elapsed().as_secs_f64();
    store.close().await;

    // Judge the diagnosis Charter acted on (the last one if it never acted).
    for log in incidents.values_mut() {
        if log.acted_on.is_some() {
            log.root = log.acted_on.take();
        }
    }
    // Attribute incidents to the fault active when they opened.
    let mut faults = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    for (i, g) in truth.iter().enumerate() {
        let start = g.at.as_secs_f64();
        let end = truth.get(i + 1).map_or(f64::MAX, |n| n.at.as_secs_f64());
        let mine: Vec<(&u64, &IncidentLog)> = incidents
            .iter()
            .filter(|(_, l)| l.opened_at >= start && l.opened_at < end)
            .collect();
        // The incident whose diagnosis names the fault's target, else the first one.
        let chosen = mine
            .iter()
            .find(|(_, l)| l.root.as_ref().is_some_and(|r| r.0 == g.root_cause))
            .or(mine.first())
            .copied();
        for (id, _) in &mine {
            used.insert(**id);
        }
        let remedy = g.remedy.to_string();
        let report = match chosen {
            Some((id, l)) => FaultReport {
                fault: g.kind.as_str().to_string(),
                at_secs: start,
                truth_root_cause: g.root_cause.clone(),
                truth_remedy: remedy.clone(),
                incident_id: Some(*id),
                diagnosed_root_cause: l.root.as_ref().map(|r| r.0.clone()),
                cause: l.root.as_ref().map(|r| r.1.clone()),
                confidence: l.root.as_ref().map(|r| r.2),
                evidence: l.root.as_ref().map(|r| r.3.clone()).unwrap_or_default(),
                actions: l.actions.clone(),
                outcome: l.outcome.clone(),
                time_to_recover_secs: l.resolved_at.map(|r| r - start),
                root_cause_correct: l.root.as_ref().is_some_and(|r| r.0 == g.root_cause),
                remedy_correct: l
                    .actions
                    .first()
                    .is_some_and(|a| a.starts_with(&format!("{remedy}({}", g.root_cause))),
                resolved: l.resolved_at.is_some(),
            },
            None => FaultReport {
                fault: g.kind.as_str().to_string(),
                at_secs: start,
                truth_root_cause: g.root_cause.clone(),
                truth_remedy: remedy,
                incident_id: None,
                diagnosed_root_cause: None,
                cause: None,
                confidence: None,
                evidence: vec![],
                actions: vec![],
                outcome: None,
                time_to_recover_secs: None,
                root_cause_correct: false,
                remedy_correct: false,
                resolved: false,
            },
        };
        faults.push(report);
    }
    let unexplained: Vec<u64> = incidents
        .keys()
        .filter(|id| !used.contains(id))
        .copied()
        .collect();
    let summary = DemoSummary {
        seed,
        scenario: scenario.name.clone(),
        virtual_secs: duration.as_secs_f64(),
        wall_secs: wall,
        speedup: duration.as_secs_f64() / wall.max(1e-9),
        faults,
        unexplained_incidents: unexplained,
        actions_total,
        database: if args.db.is_some() {
            db.display().to_string()
        } else {
            "(temporary)".into()
        },
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    let all_good = summary
        .faults
        .iter()
        .all(|f| f.root_cause_correct && f.remedy_correct && f.resolved);
    Ok(if all_good {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn clock(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

fn print_summary(s: &DemoSummary) {
    println!();
    println!("Summary");
    println!(
        "{:<18} {:<9} {:<22} {:<34} {:<9} {:>9}",
        "fault", "truth", "diagnosed (confidence)", "actions", "outcome", "recovered"
    );
    for f in &s.faults {
        let diag = match (&f.diagnosed_root_cause, f.confidence) {
            (Some(r), Some(c)) => format!("{} {r} ({c:.2})", mark(f.root_cause_correct)),
            _ => "- none".into(),
        };
        let actions = if f.actions.is_empty() {
            "- none".to_string()
        } else {
            format!("{} {}", mark(f.remedy_correct), f.actions.join(", "))
        };
        println!(
            "{:<18} {:<9} {:<22} {:<34} {:<9} {:>9}",
            f.fault,
            f.truth_root_cause,
            diag,
            actions,
            f.outcome.as_deref().unwrap_or("-"),
            f.time_to_recover_secs
                .map_or("never".into(), fmt_duration_secs)
        );
    }
    let n = s.faults.len();
    let diagnosed = s.faults.iter().filter(|f| f.root_cause_correct).count();
    let remedied = s.faults.iter().filter(|f| f.remedy_correct).count();
    let resolved = s.faults.iter().filter(|f| f.resolved).count();
    println!();
    println!(
        "{diagnosed}/{n} root causes right, {remedied}/{n} right first actions, {resolved}/{n} resolved; {} actions in all; {} unexplained incident(s)",
        s.actions_total,
        s.unexplained_incidents.len()
    );
    println!(
        "{} of virtual time in {:.2}s of wall time ({:.0}x real time); knowledge: {}",
        fmt_duration_secs(s.virtual_secs),
        s.wall_secs,
        s.speedup,
        s.database
    );
}

fn mark(ok: bool) -> &'static str {
    if ok { "ok" } else { "WRONG" }
}
