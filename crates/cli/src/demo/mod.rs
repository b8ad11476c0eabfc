//! `charter demo`: the whole loop against a built-in incident story, in virtual time.
//!
//! The demo also plays an operator: policies that wait for a human are approved by
//! [`OPERATOR`] [`APPROVAL_DELAY`] after they were proposed, through the controller's
//! own approval API, as `charter approve` would. The built-in charter asks a human for
//! failovers, since a failover moves traffic across zones.
//!
//! Here: the options and the run, tick by tick with the live log. `story` keeps what
//! the controller reported and judges it against the scenario's ground truth;
//! `summary` is the result and its printed report.

mod story;
mod summary;

use crate::wiring;
use charter_knowledge::prelude::*;
use charter_model::{
    ActionKind, Approval, ApprovalState, PolicyId, Timestamp, fmt_duration_secs, parse_charter,
};
use charter_orchestrator::Event;
use charter_orchestrator::controller::ApprovalError;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use story::{Story, judge};
use summary::{ApprovalReport, DemoSummary, DeployReport, print_summary};

/// The embedded default charter: the simulator's shop with every action kind.
pub const DEFAULT_CHARTER: &str = include_str!("../../../../examples/westworld.yaml");
/// Virtual time starts at 2026-01-01T00:00:00Z so that logs are reproducible.
pub const EPOCH: Timestamp = Timestamp(1_767_225_600_000);
/// The operator the demo plays.
pub const OPERATOR: &str = "alice";
/// How long the operator takes to approve a pending policy, in virtual time.
pub const APPROVAL_DELAY: Duration = Duration::from_secs(45);
/// The least virtual time between a store's latest record and the start of the next
/// run on it: longer than the hourly action limit's window.
pub const RESUME_GAP: Duration = Duration::from_secs(2 * 3600);

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
    let (mut charter, _) = parse_charter(&text, &file, &base)?;
    if args.charter.is_none() {
        // The demo's operating rule: a human approves every failover.
        charter
            .actions
            .entry(ActionKind::Failover)
            .or_insert_with(|| charter_model::ActionSpec::default_for(ActionKind::Failover))
            .approval = Approval::Required;
    }
    let needs_approval: Vec<&str> = charter
        .actions
        .iter()
        .filter(|(_, s)| s.approval == Approval::Required)
        .map(|(k, _)| k.as_str())
        .collect();
    let needs_approval = needs_approval.join(", ");
    let charter = Arc::new(charter);
    let tmp = tempfile::tempdir()?;
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| tmp.path().join("charter-demo.db"));
    // The demo runs the loop on the file: it is its one writer.
    let store = wiring::open_writer(&db).await?;
    // Virtual time continues after what the store remembers, so a second run on one
    // file does not find its guardrail history "in the future".
    let last = store.last_record_at().await?;
    let epoch = start_after(last);
    let (sim, scenario, seed) = wiring::simulator(
        &charter,
        "demo",
        args.scenario.as_deref(),
        Some(args.seed),
        epoch,
    )?;
    let actuators = wiring::actuators(&charter, Some(&sim))?;
    let mut controller = wiring::controller_on(
        charter.clone(),
        Arc::new(sim.clone()),
        actuators,
        store.clone(),
        epoch,
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
        // Faults and the deploys around them, in time order.
        let mut story: Vec<(Duration, String)> = truth
            .iter()
            .map(|g| {
                let line = format!(
                    "fault at +{}: {} on {} (right remedy: {})",
                    clock(g.at.as_secs_f64()),
                    g.kind.as_str(),
                    g.root_cause,
                    g.remedy
                );
                (g.at, line)
            })
            .collect();
        story.extend(scenario.deploys.iter().map(|d| {
            let line = format!(
                "deploy at +{}: ci rolls out the next version of {}{} (a change, not a fault)",
                clock(d.at.as_secs_f64()),
                d.target,
                if d.one_way_migration {
                    ", with a one-way schema migration"
                } else {
                    ""
                }
            );
            (d.at, line)
        }));
        story.sort_by_key(|(at, _)| *at);
        for (_, line) in story {
            println!("  {line}");
        }
        if !needs_approval.is_empty() {
            println!("  approval required for: {needs_approval}");
        }
        println!(
            "  operator {OPERATOR} approves pending policies after {}",
            fmt_duration_secs(APPROVAL_DELAY.as_secs_f64())
        );
        if let Some(last) = last {
            println!(
                "  the knowledge database's latest record is at {last}: virtual time starts at {epoch}"
            );
        }
        println!();
    }
    let started = Instant::now();
    let mut story = Story::default();
    let step = charter.interval;
    let mut t = Duration::ZERO;
    while t <= duration {
        let now = epoch.plus(t);
        let rel = t.as_secs_f64();
        // The operator acts first, so an approved policy's first step runs this tick.
        let due: Vec<PolicyId> = story
            .waiting
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            match controller.approve(id, OPERATOR, now).await {
                Ok(p) => {
                    story.waiting.remove(&id);
                    let waited = now.since(p.created_at).as_secs_f64();
                    let actions: Vec<String> = p.actions.iter().map(ToString::to_string).collect();
                    if !args.json {
                        println!(
                            "[+{}] operator {OPERATOR} approves policy #{} ({}) after {}",
                            clock(rel),
                            p.id,
                            actions.join(" then "),
                            fmt_duration_secs(waited)
                        );
                    }
                    if let Some(log) = story.policies.get_mut(&id) {
                        log.report.approval = p.approval.name().to_string();
                        if let ApprovalState::Approved { by, .. } = &p.approval {
                            log.report.approved_by = Some(by.clone());
                        }
                        log.report.waited_secs = Some(waited);
                    }
                    story.approvals.push(ApprovalReport {
                        policy_id: p.id,
                        incident_id: p.incident_id,
                        by: match &p.approval {
                            ApprovalState::Approved { by, .. } => by.clone(),
                            _ => OPERATOR.to_string(),
                        },
                        at_secs: rel,
                        waited_secs: waited,
                        actions,
                    });
                    story.started(id);
                }
                // Time has changed what is safe; the operator tries again next tick.
                Err(ApprovalError::Blocked(why)) => {
                    if !args.json {
                        println!(
                            "[+{}] operator {OPERATOR} cannot approve policy #{id} yet: {why}",
                            clock(rel)
                        );
                    }
                }
                Err(e) => {
                    story.waiting.remove(&id);
                    if !args.json {
                        println!(
                            "[+{}] operator {OPERATOR} cannot approve policy #{id}: {e}",
                            clock(rel)
                        );
                    }
                }
            }
        }
        let report = controller.tick(now).await?;
        for timed in &report.events {
            let e = &timed.event;
            story.record(e, rel);
            let show = args.verbose || !matches!(e, Event::Violation { .. });
            if show && !args.json {
                println!("[+{}] {e}", clock(rel));
            }
        }
        t += step;
    }
    let wall = started.elapsed().as_secs_f64();
    store.close().await;

    let summary = DemoSummary {
        seed,
        scenario: scenario.name.clone(),
        virtual_secs: duration.as_secs_f64(),
        wall_secs: wall,
        speedup: duration.as_secs_f64() / wall.max(1e-9),
        faults: Vec::new(),
        deploys: scenario
            .deploys
            .iter()
            .map(|d| DeployReport {
                target: d.target.clone(),
                at_secs: d.at.as_secs_f64(),
                one_way_migration: d.one_way_migration,
            })
            .collect(),
        operator: OPERATOR.to_string(),
        approvals: std::mem::take(&mut story.approvals),
        unexplained_incidents: Vec::new(),
        actions_total: story.actions_total,
        database: if args.db.is_some() {
            db.display().to_string()
        } else {
            "(temporary)".into()
        },
    };
    let summary = judge(story, &truth, summary);
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

/// Where a run's virtual time starts: [`EPOCH`] on an empty store; else the first
/// whole day after [`EPOCH`] that is at least [`RESUME_GAP`] after the store's
/// latest record.
fn start_after(last: Option<Timestamp>) -> Timestamp {
    let Some(last) = last else {
        return EPOCH;
    };
    const DAY_MS: i64 = 86_400_000;
    let earliest = last.plus(RESUME_GAP);
    if earliest <= EPOCH {
        return EPOCH;
    }
    let span = i128::from(earliest.millis()) - i128::from(EPOCH.millis());
    let days = (span + i128::from(DAY_MS) - 1) / i128::from(DAY_MS);
    let start = i128::from(EPOCH.millis()) + days * i128::from(DAY_MS);
    Timestamp(i64::try_from(start).unwrap_or(i64::MAX))
}

fn clock(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_time_continues_a_whole_day_after_the_store() {
        const DAY: Duration = Duration::from_secs(86_400);
        assert_eq!(start_after(None), EPOCH);
        assert_eq!(start_after(Some(EPOCH.minus(DAY))), EPOCH);
        assert_eq!(
            start_after(Some(EPOCH.plus(Duration::from_secs(1200)))),
            EPOCH.plus(DAY)
        );
        assert_eq!(start_after(Some(EPOCH.plus(DAY))), EPOCH.plus(DAY * 2));
        assert!(start_after(Some(Timestamp(i64::MAX))) > EPOCH);
    }
}
