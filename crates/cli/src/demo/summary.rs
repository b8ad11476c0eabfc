//! The demo's result, per fault and policy, and the summary printed after the live
//! log.

use charter_model::{IncidentId, PolicyId, fmt_duration_secs};
use serde::Serialize;

/// One policy Charter chose for an incident and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyReport {
    pub id: PolicyId,
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
    pub policy_id: PolicyId,
    pub incident_id: IncidentId,
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
    pub incident_id: Option<IncidentId>,
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
    pub unexplained_incidents: Vec<IncidentId>,
    pub actions_total: usize,
    pub database: String,
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

pub(super) fn print_summary(s: &DemoSummary) {
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
