//! `charter demo`: the whole loop against a built-in incident story, in virtual time.
//!
//! The demo also plays an operator: policies that wait for a human are approved by
//! [`OPERATOR`] [`APPROVAL_DELAY`] after they were proposed, through the controller's
//! own approval API, as `charter approve` would. The built-in charter asks a human for
//! failovers, since a failover moves traffic across zones.

use crate::wiring;
use charter_knowledge::Store;
use charter_model::{
    Action, ActionKind, Approval, ApprovalState, Policy, Timestamp, fmt_duration_secs,
    parse_charter,
};
use charter_orchestrator::Event;
use charter_orchestrator::controller::ApprovalError;
use charter_sim::GroundTruth;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The embedded default charter: the simulator's shop with every action kind.
pub const DEFAULT_CHARTER: &str = include_str!("../../../examples/westworld.yaml");
/// Virtual time starts at 2026-01-01T00:00:00Z so that logs are reproducible.
pub const EPOCH: Timestamp = Timestamp(1_767_225_600_000);
/// The operator the demo plays.
pub const OPERATOR: &str = "alice";
/// How long the operator takes to approve a pending policy, in virtual time.
pub const APPROVAL_DELAY: Duration = Duration::from_secs(45);

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

/// One policy Charter chose for an incident and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyReport {
    pub id: u64,
    /// Its steps, in order.
    pub actions: Vec<String>,
    /// Seconds to wait before each step (empty: none), e.g. to lift a throttle only
    /// once new capacity is ready.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waits_secs: Vec<u64>,
    /// The step expected to resolve the incident (the others prepare or bridge it).
    pub main_action: String,
    /// `auto_approved`, `pending`, `approved`, `rejected`, `expired` or `not_executed`.
    pub approval: String,
    /// Who approved it, as the controller recorded it.
    pub approved_by: Option<String>,
    /// How long it waited for that approval.
    pub waited_secs: Option<f64>,
    /// The verified outcome: resolved, improved, no_effect, worsened or failed.
    pub outcome: Option<String>,
    /// Its applied steps were undone (after a worsened outcome or a failed step).
    pub rolled_back: bool,
    /// The inverse actions that undid it, in the order applied.
    pub compensations: Vec<String>,
}

/// A policy that waited for a human and was approved by the demo's operator.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalReport {
    pub policy_id: u64,
    pub incident_id: u64,
    pub by: String,
    pub at_secs: f64,
    pub waited_secs: f64,
    pub actions: Vec<String>,
}

/// A deploy of the scenario that is not a fault.
#[derive(Debug, Serialize)]
pub struct DeployReport {
    pub target: String,
    pub at_secs: f64,
    pub one_way_migration: bool,
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
    /// Every step applied, compensations excluded.
    pub actions: Vec<String>,
    /// The policies decided for the incident, in order.
    pub policies: Vec<PolicyReport>,
    /// The main action of the first policy that ran.
    pub first_action: Option<String>,
    pub first_action_correct: bool,
    /// The main action of the policy that resolved the incident (the last one that ran
    /// and was not rolled back).
    pub resolving_action: Option<String>,
    /// What happened, in order: each policy's outcome, and `rolled_back` after one that
    /// was undone.
    pub outcomes: Vec<String>,
    /// The last verified outcome.
    pub outcome: Option<String>,
    pub time_to_recover_secs: Option<f64>,
    pub root_cause_correct: bool,
    /// The right remedy resolved it.
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
    /// Deploys that are not faults.
    pub deploys: Vec<DeployReport>,
    /// The operator the demo played, and what they approved.
    pub operator: String,
    pub approvals: Vec<ApprovalReport>,
    /// Incidents not attributable to any injected fault.
    pub unexplained_incidents: Vec<u64>,
    pub actions_total: usize,
    pub database: String,
}

/// A diagnosis as the summary reports it: component, cause, confidence, evidence.
type Root = (String, String, f64, Vec<String>);

#[derive(Default)]
struct IncidentLog {
    opened_at: f64,
    root: Option<Root>,
    /// The diagnosis in force when the first action was applied.
    acted_on: Option<Root>,
    actions: Vec<String>,
    /// Policies in the order decided.
    policies: Vec<u64>,
    /// Policies started but whose execution has not been seen yet, oldest first.
    starting: VecDeque<u64>,
    outcome: Option<String>,
    resolved_at: Option<f64>,
}

struct PolicyLog {
    policy: Policy,
    report: PolicyReport,
    /// Started (auto-approved, or approved by the operator).
    ran: bool,
}

/// What the demo saw, by incident, policy and execution.
#[derive(Default)]
struct Story {
    incidents: BTreeMap<u64, IncidentLog>,
    policies: BTreeMap<u64, PolicyLog>,
    /// Execution id to policy id.
    executions: BTreeMap<u64, u64>,
    /// Pending policies the operator will approve, with when.
    waiting: BTreeMap<u64, Timestamp>,
    approvals: Vec<ApprovalReport>,
    actions_total: usize,
}

impl Story {
    /// The policy an execution carries out: the incident's oldest started policy not
    /// yet matched (an incident runs one execution at a time).
    fn policy_of(&mut self, execution_id: u64, incident_id: u64) -> Option<&mut PolicyLog> {
        let id = match self.executions.get(&execution_id) {
            Some(id) => *id,
            None => {
                let id = self.incidents.get_mut(&incident_id)?.starting.pop_front()?;
                self.executions.insert(execution_id, id);
                id
            }
        };
        self.policies.get_mut(&id)
    }

    fn started(&mut self, policy_id: u64) {
        if let Some(p) = self.policies.get_mut(&policy_id) {
            p.ran = true;
            if let Some(log) = self.incidents.get_mut(&p.policy.incident_id) {
                log.starting.push_back(policy_id);
            }
        }
    }

    fn record(&mut self, e: &Event, rel: f64) {
        match e {
            Event::IncidentOpened { incident_id, .. } => {
                self.incidents.insert(
                    *incident_id,
                    IncidentLog {
                        opened_at: rel,
                        ..Default::default()
                    },
                );
            }
            Event::Diagnosed { diagnosis } => {
                if let (Some(log), Some(h)) = (
                    self.incidents.get_mut(&diagnosis.incident_id),
                    diagnosis.root(),
                ) {
                    log.root = Some((
                        h.component.clone(),
                        h.cause.to_string(),
                        h.confidence,
                        h.evidence.clone(),
                    ));
                }
            }
            Event::PolicyDecided { policy } => {
                if let Some(log) = self.incidents.get_mut(&policy.incident_id) {
                    log.policies.push(policy.id);
                }
                let main = policy
                    .actions
                    .get(policy.main)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                self.policies.insert(
                    policy.id,
                    PolicyLog {
                        policy: policy.clone(),
                        report: PolicyReport {
                            id: policy.id,
                            actions: policy.actions.iter().map(ToString::to_string).collect(),
                            waits_secs: policy.waits_secs.clone(),
                            main_action: main,
                            approval: policy.approval.name().to_string(),
                            approved_by: None,
                            waited_secs: None,
                            outcome: None,
                            rolled_back: false,
                            compensations: vec![],
                        },
                        ran: false,
                    },
                );
                match policy.approval {
                    ApprovalState::AutoApproved | ApprovalState::Approved { .. } => {
                        self.started(policy.id)
                    }
                    ApprovalState::Pending => {
                        self.waiting
                            .insert(policy.id, policy.created_at.plus(APPROVAL_DELAY));
                    }
                    _ => {}
                }
            }
            Event::StepApplied {
                execution_id,
                incident_id,
                action,
                ..
            } => {
                self.actions_total += 1;
                self.policy_of(*execution_id, *incident_id);
                if let Some(log) = self.incidents.get_mut(incident_id) {
                    if log.actions.is_empty() {
                        log.acted_on = log.root.clone();
                    }
                    log.actions.push(action.to_string());
                }
            }
            Event::StepFailed {
                execution_id,
                incident_id,
                ..
            } => {
                self.policy_of(*execution_id, *incident_id);
            }
            Event::Verified {
                execution_id,
                incident_id,
                outcome,
                ..
            } => {
                if let Some(p) = self.policy_of(*execution_id, *incident_id) {
                    p.report.outcome = Some(outcome.to_string());
                }
                if let Some(log) = self.incidents.get_mut(incident_id) {
                    log.outcome = Some(outcome.to_string());
                }
            }
            Event::Compensated {
                execution_id,
                incident_id,
                action,
                ok,
                ..
            } => {
                if let Some(p) = self.policy_of(*execution_id, *incident_id) {
                    if let Some(a) = action.as_ref().filter(|_| *ok) {
                        p.report.compensations.push(a.to_string());
                        p.report.rolled_back = true;
                    }
                    if p.report.outcome.is_none() {
                        p.report.outcome = Some("failed".into());
                    }
                }
            }
            Event::IncidentResolved { incident_id, .. } => {
                if let Some(log) = self.incidents.get_mut(incident_id) {
                    log.resolved_at = Some(rel);
                }
                self.expire_pending(*incident_id);
            }
            Event::IncidentEscalated { incident_id, .. } => self.expire_pending(*incident_id),
            _ => {}
        }
    }

    /// A closed incident's pending policy can no longer be approved.
    fn expire_pending(&mut self, incident_id: u64) {
        let ids: Vec<u64> = self
            .waiting
            .keys()
            .filter(|id| {
                self.policies
                    .get(id)
                    .is_some_and(|p| p.policy.incident_id == incident_id)
            })
            .copied()
            .collect();
        for id in ids {
            self.waiting.remove(&id);
            if let Some(p) = self.policies.get_mut(&id) {
                p.report.approval = ApprovalState::Expired.name().to_string();
            }
        }
    }
}

/// Whether an action is the ground truth's remedy at its root cause.
fn is_right(a: &Action, g: &GroundTruth) -> bool {
    a.kind == g.remedy && a.component == g.root_cause
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
        println!();
    }
    let started = Instant::now();
    let mut story = Story::default();
    let step = charter.interval;
    let mut t = Duration::ZERO;
    while t <= duration {
        let now = EPOCH.plus(t);
        let rel = t.as_secs_f64();
        // The operator acts first, so an approved policy's first step runs this tick.
        let due: Vec<u64> = story
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

/// Attribute incidents to faults and judge each: the diagnosis Charter acted on, the
/// main action of the first policy that ran, and the one that resolved the incident.
fn judge(mut story: Story, truth: &[GroundTruth], mut summary: DemoSummary) -> DemoSummary {
    // Judge the diagnosis Charter acted on (the last one if it never acted).
    for log in story.incidents.values_mut() {
        if log.acted_on.is_some() {
            log.root = log.acted_on.take();
        }
    }
    let mut used = BTreeSet::new();
    for (i, g) in truth.iter().enumerate() {
        // Incidents that opened while this fault was the latest one.
        let start = g.at.as_secs_f64();
        let end = truth.get(i + 1).map_or(f64::MAX, |n| n.at.as_secs_f64());
        let mine: Vec<(&u64, &IncidentLog)> = story
            .incidents
            .iter()
            .filter(|(_, l)| l.opened_at >= start && l.opened_at < end)
            .collect();
        // The incident whose diagnosis names the fault's target, else the first one.
        let chosen = mine
            .iter()
            .find(|(_, l)| l.root.as_ref().is_some_and(|r| r.0 == g.root_cause))
            .or(mine.first())
            .copied();
        used.extend(mine.iter().map(|(id, _)| **id));
        let mut report = FaultReport {
            fault: g.kind.as_str().to_string(),
            at_secs: start,
            truth_root_cause: g.root_cause.clone(),
            truth_remedy: g.remedy.to_string(),
            incident_id: None,
            diagnosed_root_cause: None,
            cause: None,
            confidence: None,
            evidence: vec![],
            actions: vec![],
            policies: vec![],
            first_action: None,
            first_action_correct: false,
            resolving_action: None,
            outcomes: vec![],
            outcome: None,
            time_to_recover_secs: None,
            root_cause_correct: false,
            remedy_correct: false,
            resolved: false,
        };
        if let Some((id, l)) = chosen {
            let policies: Vec<&PolicyLog> = l
                .policies
                .iter()
                .filter_map(|p| story.policies.get(p))
                .collect();
            let ran: Vec<&PolicyLog> = policies.iter().copied().filter(|p| p.ran).collect();
            let main = |p: &PolicyLog| p.policy.actions.get(p.policy.main).cloned();
            let first = ran.first().and_then(|p| main(p));
            let resolving = ran
                .iter()
                .rev()
                .find(|p| !p.report.rolled_back)
                .filter(|_| l.resolved_at.is_some())
                .and_then(|p| main(p));
            let mut outcomes = Vec::new();
            for p in &ran {
                outcomes.push(p.report.outcome.clone().unwrap_or_else(|| "-".into()));
                if p.report.rolled_back {
                    outcomes.push("rolled_back".into());
                }
            }
            report.incident_id = Some(*id);
            report.diagnosed_root_cause = l.root.as_ref().map(|r| r.0.clone());
            report.cause = l.root.as_ref().map(|r| r.1.clone());
            report.confidence = l.root.as_ref().map(|r| r.2);
            report.evidence = l.root.as_ref().map(|r| r.3.clone()).unwrap_or_default();
            report.actions = l.actions.clone();
            report.policies = policies.iter().map(|p| p.report.clone()).collect();
            report.first_action_correct = first.as_ref().is_some_and(|a| is_right(a, g));
            report.remedy_correct = resolving.as_ref().is_some_and(|a| is_right(a, g));
            report.first_action = first.map(|a| a.to_string());
            report.resolving_action = resolving.map(|a| a.to_string());
            report.outcomes = outcomes;
            report.outcome = l.outcome.clone();
            report.time_to_recover_secs = l.resolved_at.map(|r| r - start);
            report.root_cause_correct = l.root.as_ref().is_some_and(|r| r.0 == g.root_cause);
            report.resolved = l.resolved_at.is_some();
        }
        summary.faults.push(report);
    }
    summary.unexplained_incidents = story
        .incidents
        .keys()
        .filter(|id| !used.contains(id))
        .copied()
        .collect();
    summary
}

fn clock(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

/// The outcomes in words: "worsened → rolled back, then resolved".
fn story_of(outcomes: &[String]) -> String {
    let mut out = String::new();
    for o in outcomes {
        if o == "rolled_back" {
            out.push_str(" → rolled back");
        } else {
            if !out.is_empty() {
                out.push_str(", then ");
            }
            out.push_str(&o.replace('_', " "));
        }
    }
    if out.is_empty() { "-".into() } else { out }
}

fn print_summary(s: &DemoSummary) {
    println!();
    println!("Summary");
    println!(
        "{:<18} {:<8} {:<22} {:<22} {:<38} {:>9}",
        "fault", "truth", "diagnosed (confidence)", "remedy", "outcomes", "recovered"
    );
    for f in &s.faults {
        let diag = match (&f.diagnosed_root_cause, f.confidence) {
            (Some(r), Some(c)) => format!("{} {r} ({c:.2})", mark(f.root_cause_correct)),
            _ => "- none".into(),
        };
        let remedy = match f.resolving_action.as_ref().or(f.first_action.as_ref()) {
            Some(a) => format!("{} {}", mark(f.remedy_correct), without_params(a)),
            None => "- none".into(),
        };
        println!(
            "{:<18} {:<8} {:<22} {:<22} {:<38} {:>9}",
            f.fault,
            f.truth_root_cause,
            diag,
            remedy,
            story_of(&f.outcomes),
            f.time_to_recover_secs
                .map_or("never".into(), fmt_duration_secs)
        );
    }
    println!();
    println!("Policies");
    for f in &s.faults {
        for (k, p) in f.policies.iter().enumerate() {
            let steps: Vec<String> = p
                .actions
                .iter()
                .enumerate()
                .map(|(i, a)| match p.waits_secs.get(i) {
                    Some(w) if *w > 0 => format!("after {w}s {a}"),
                    _ => a.clone(),
                })
                .collect();
            let steps = steps.join(" → ");
            let main = if p.actions.len() > 1 {
                format!(" [main: {}]", p.main_action)
            } else {
                String::new()
            };
            let approval = match (&p.approved_by, p.waited_secs) {
                (Some(by), Some(w)) => format!("approved by {by} after {}", fmt_duration_secs(w)),
                _ => p.approval.replace('_', "-"),
            };
            let mut result = p.outcome.clone().unwrap_or_else(|| "-".into());
            if p.rolled_back {
                result.push_str(&format!(
                    ", rolled back with {}",
                    p.compensations.join(", ")
                ));
            }
            println!(
                "  {:<18} #{:<3} {steps}{main}; {approval}: {result}",
                if k == 0 { f.fault.as_str() } else { "" },
                p.id
            );
        }
    }
    let n = s.faults.len();
    let count = |p: fn(&FaultReport) -> bool| s.faults.iter().filter(|f| p(f)).count();
    let diagnosed = count(|f| f.root_cause_correct);
    let remedied = count(|f| f.remedy_correct);
    let first = count(|f| f.first_action_correct);
    let resolved = count(|f| f.resolved);
    let rolled_back: usize = s
        .faults
        .iter()
        .flat_map(|f| &f.policies)
        .filter(|p| p.rolled_back)
        .count();
    println!();
    println!(
        "{diagnosed}/{n} root causes right, {remedied}/{n} right remedies ({first}/{n} right first actions), {resolved}/{n} resolved; {} approved by an operator, {rolled_back} rolled back; {} actions in all; {} unexplained incident(s)",
        s.approvals.len(),
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

/// `scale_out(orders, step=2)` → `scale_out(orders)`.
fn without_params(action: &str) -> String {
    match action.split_once(", ") {
        Some((head, _)) => format!("{head})"),
        None => action.to_string(),
    }
}

fn mark(ok: bool) -> &'static str {
    if ok { "ok" } else { "WRONG" }
}
