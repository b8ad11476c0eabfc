//! What the demo saw, by incident, policy and execution, and how it is judged against
//! the faults the scenario injected.

use super::APPROVAL_DELAY;
use super::summary::{ApprovalReport, DemoSummary, FaultReport, PolicyReport};
use charter_model::{Action, ApprovalState, ExecutionId, IncidentId, Policy, PolicyId, Timestamp};
use charter_orchestrator::Event;
use charter_sim::GroundTruth;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

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
    policies: Vec<PolicyId>,
    /// Policies started but whose execution has not been seen yet, oldest first.
    starting: VecDeque<PolicyId>,
    outcome: Option<String>,
    resolved_at: Option<f64>,
}

pub(super) struct PolicyLog {
    policy: Policy,
    pub(super) report: PolicyReport,
    /// Started (auto-approved, or approved by the operator).
    ran: bool,
}

/// What the demo saw, by incident, policy and execution.
#[derive(Default)]
pub(super) struct Story {
    incidents: BTreeMap<IncidentId, IncidentLog>,
    pub(super) policies: BTreeMap<PolicyId, PolicyLog>,
    /// Execution id to policy id.
    executions: BTreeMap<ExecutionId, PolicyId>,
    /// Pending policies the operator will approve, with when.
    pub(super) waiting: BTreeMap<PolicyId, Timestamp>,
    pub(super) approvals: Vec<ApprovalReport>,
    pub(super) actions_total: usize,
}

impl Story {
    /// The policy an execution carries out: the incident's oldest started policy not
    /// yet matched (an incident runs one execution at a time).
    fn policy_of(
        &mut self,
        execution_id: ExecutionId,
        incident_id: IncidentId,
    ) -> Option<&mut PolicyLog> {
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

    pub(super) fn started(&mut self, policy_id: PolicyId) {
        if let Some(p) = self.policies.get_mut(&policy_id) {
            p.ran = true;
            if let Some(log) = self.incidents.get_mut(&p.policy.incident_id) {
                log.starting.push_back(policy_id);
            }
        }
    }

    pub(super) fn record(&mut self, e: &Event, rel: f64) {
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
    fn expire_pending(&mut self, incident_id: IncidentId) {
        let ids: Vec<PolicyId> = self
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

/// Attribute incidents to faults and judge each: the diagnosis Charter acted on, the
/// main action of the first policy that ran, and the one that resolved the incident.
pub(super) fn judge(
    mut story: Story,
    truth: &[GroundTruth],
    mut summary: DemoSummary,
) -> DemoSummary {
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
        let mine: Vec<(&IncidentId, &IncidentLog)> = story
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
