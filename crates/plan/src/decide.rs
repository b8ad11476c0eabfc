//! Candidates, cost–benefit scoring, preconditions, guardrails and the decision.

use crate::knowledge::KnowledgeView;
use charter_model::{
    Action, ActionKind, Approval, ApprovalState, CauseClass, Charter, ComponentState, Diagnosis,
    Incident, Mode, Policy, Rejected, Timestamp, Violation, ViolationState,
};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Guardrail state at the time of the decision (persisted by the caller).
#[derive(Debug, Clone, Default)]
pub struct GuardState {
    /// The kill switch.
    pub paused: bool,
    /// The monitor cannot see: no new actions anywhere.
    pub blind: bool,
    /// Actions taken, most recent last: (component, kind, when).
    pub recent_actions: Vec<(String, ActionKind, Timestamp)>,
    /// Components with an execution in progress.
    pub running: HashSet<String>,
    /// Components with an Unknown objective: no new actions there.
    pub frozen: HashSet<String>,
    /// Components where a compensation failed: no more automation.
    pub quarantined: HashSet<String>,
}

/// Everything a decision looks at.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub charter: &'a Charter,
    pub incident: &'a Incident,
    pub diagnosis: &'a Diagnosis,
    /// The incident's member violations.
    pub violations: &'a [Violation],
    pub knowledge: &'a KnowledgeView,
    pub guard: &'a GuardState,
    /// Current state of candidate components, from their actuators.
    pub states: &'a HashMap<String, ComponentState>,
    /// Actions already tried in this incident that did not resolve it.
    pub tried: &'a [Action],
    pub policy_id: u64,
    pub now: Timestamp,
}

/// What to do about an incident.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// A policy: `policy.approval` says whether it runs now (auto-approved), waits for
    /// a human (pending) or is only recorded (shadow mode).
    Act(Policy),
    /// Nothing is worth doing or allowed; why, and what was considered.
    NoAction {
        reason: String,
        rejected: Vec<Rejected>,
    },
}

/// Value of removing one severity-weighted violation, in the unit of action costs.
const VALUE_PER_VIOLATION: f64 = 10.0;
/// Hypotheses below this confidence are not acted on.
const MIN_CONFIDENCE: f64 = 0.15;

/// Prior probability that `kind` fixes a `cause`, before any outcome is known. This is
/// the planner's built-in operations knowledge; the charter's order of remedies
/// scales it and learned outcomes replace it.
pub fn prior_success(cause: CauseClass, kind: ActionKind, rank: usize) -> f64 {
    use ActionKind as K;
    use CauseClass as C;
    let base = match (cause, kind) {
        (C::Overload, K::ScaleOut) => 0.8,
        (C::Overload, K::Throttle) => 0.5,
        (C::Leak, K::Restart) => 0.85,
        (C::Leak, K::ScaleOut) => 0.3,
        (C::BadChange, K::Rollback) => 0.9,
        (C::BadChange, K::Reconfigure) => 0.4,
        (C::Outage, K::Failover) => 0.8,
        (C::Outage, K::CircuitBreak) => 0.5,
        (C::Outage, K::Restart) => 0.25,
        (C::CacheFailure, K::FlushCache) => 0.85,
        (C::PoolExhaustion, K::Reconfigure) => 0.8,
        (C::PoolExhaustion, K::ScaleOut) => 0.3,
        (C::Unknown, _) => 0.3,
        (_, K::Restart) => 0.15,
        _ => 0.1,
    };
    base * (1.0 - 0.1 * rank as f64).max(0.6)
}

struct Candidate {
    action: Action,
    objective: String,
    p: f64,
    evidence: (f64, f64),
    benefit: f64,
    cost: f64,
    score: f64,
    confidence: f64,
    cause: CauseClass,
}

/// Decide what to do about one incident.
pub fn decide(input: PlanInput<'_>) -> Decision {
    let g = input.guard;
    let charter = input.charter;
    let mut rejected = Vec::new();
    if g.paused {
        return no_action("automation is paused (kill switch)", rejected);
    }
    if g.blind {
        return no_action(
            "the monitor is blind: no new actions until data returns",
            rejected,
        );
    }
    let active: Vec<&Violation> = input
        .violations
        .iter()
        .filter(|v| matches!(v.state, ViolationState::Firing | ViolationState::Pending))
        .collect();
    let value: f64 = active
        .iter()
        .map(|v| v.severity.map_or(0.5, |s| s.weight()))
        .sum::<f64>()
        * VALUE_PER_VIOLATION;
    let mut cands: Vec<Candidate> = Vec::new();
    for h in &input.diagnosis.hypotheses {
        if h.confidence < MIN_CONFIDENCE {
            continue;
        }
        // Targets come only from the charter.
        let Some(component) = charter.component(&h.component) else {
            continue;
        };
        // Remedies of the root's own violated objectives first, then the incident's.
        let mut remedies: Vec<(ActionKind, usize, String)> = Vec::new();
        let own = active.iter().filter(|v| v.component == component.name);
        let others = active.iter().filter(|v| v.component != component.name);
        for v in own.chain(others) {
            let Some(obj) = charter.objective(&v.objective) else {
                continue;
            };
            for (rank, k) in obj.remedies.iter().enumerate() {
                if !remedies.iter().any(|(x, _, _)| x == k) {
                    remedies.push((*k, rank, obj.name.clone()));
                }
            }
        }
        let state = input
            .states
            .get(&component.name)
            .cloned()
            .unwrap_or_default();
        for (kind, rank, objective) in remedies {
            let spec = charter.action(kind);
            let action = match build_action(
                kind,
                component,
                &state,
                &spec.params,
                spec.step,
                &active,
                charter,
            ) {
                Ok(a) => a,
                Err(reason) => {
                    rejected.push(Rejected {
                        action: Action::new(kind, &component.name),
                        score: None,
                        reason: format!("precondition: {reason}"),
                    });
                    continue;
                }
            };
            if input
                .tried
                .iter()
                .any(|t| t.kind == kind && t.component == component.name)
            {
                rejected.push(Rejected {
                    action,
                    score: None,
                    reason: "already tried in this incident".into(),
                });
                continue;
            }
            let prior = prior_success(h.cause, kind, rank);
            let (p, evidence) = input
                .knowledge
                .success(kind, &objective, &component.name, prior);
            let benefit = p * h.confidence * value;
            let cost = spec.cost;
            cands.push(Candidate {
                action,
                objective,
                p,
                evidence,
                benefit,
                cost,
                score: benefit - cost,
                confidence: h.confidence,
                cause: h.cause,
            });
        }
    }
    cands.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.action.kind.cmp(&b.action.kind))
    });

    let recent: Vec<&(String, ActionKind, Timestamp)> = g
        .recent_actions
        .iter()
        .filter(|(_, _, t)| input.now.since(*t) < Duration::from_secs(3600))
        .collect();
    let mut chosen = None;
    for c in cands {
        let comp = c.action.component.clone();
        let reject = |reason: String, rejected: &mut Vec<Rejected>, c: Candidate| {
            rejected.push(Rejected {
                action: c.action,
                score: Some(c.score),
                reason,
            });
        };
        if chosen.is_some() {
            reject("lower score".into(), &mut rejected, c);
            continue;
        }
        if c.score <= 0.0 {
            reject(
                format!(
                    "not worth its cost (benefit {:.1} <= cost {:.1})",
                    c.benefit, c.cost
                ),
                &mut rejected,
                c,
            );
            continue;
        }
        if g.quarantined.contains(&comp) {
            reject(
                format!("{comp} is quarantined after a failed compensation"),
                &mut rejected,
                c,
            );
            continue;
        }
        if g.frozen.contains(&comp) {
            reject(
                format!("an objective on {comp} is Unknown: actions frozen"),
                &mut rejected,
                c,
            );
            continue;
        }
        if g.running.contains(&comp) {
            reject(
                format!("an execution is already running on {comp}"),
                &mut rejected,
                c,
            );
            continue;
        }
        if let Some((_, _, last)) = recent.iter().rev().find(|(x, _, _)| *x == comp)
            && input.now.since(*last) < charter.guardrails.cooldown
        {
            let until = last.plus(charter.guardrails.cooldown);
            reject(
                format!("cooldown on {comp} until {until}"),
                &mut rejected,
                c,
            );
            continue;
        }
        if recent.len() as u32 >= charter.guardrails.max_actions_per_hour {
            reject(
                format!(
                    "global limit of {} actions per hour reached",
                    charter.guardrails.max_actions_per_hour
                ),
                &mut rejected,
                c,
            );
            continue;
        }
        if g.running.len() as u32 >= charter.guardrails.max_concurrent {
            reject(
                format!(
                    "{} executions already running (max_concurrent)",
                    g.running.len()
                ),
                &mut rejected,
                c,
            );
            continue;
        }
        chosen = Some(c);
    }
    let Some(c) = chosen else {
        let reason = if rejected.is_empty() {
            "no remedy applies to the diagnosed root cause".to_string()
        } else {
            "every candidate was rejected".to_string()
        };
        return no_action(&reason, rejected);
    };
    let spec = charter.action(c.action.kind);
    let approval = match charter.mode {
        Mode::Shadow => ApprovalState::NotExecuted,
        Mode::Supervised => ApprovalState::Pending,
        Mode::Autonomous
            if spec.approval == Approval::Required
                || c.cost > charter.guardrails.auto_approve_max_cost =>
        {
            ApprovalState::Pending
        }
        Mode::Autonomous => ApprovalState::AutoApproved,
    };
    let learned = if c.evidence.1 > 0.0 {
        format!(
            "{} of {} past outcomes succeeded",
            c.evidence.0, c.evidence.1
        )
    } else {
        "no outcomes yet, prior from cause class and remedy order".to_string()
    };
    let rationale = format!(
        "{}: cause {} (confidence {:.2}); p(success) {:.2} ({learned}); benefit {:.1} - cost {:.1} = score {:.1}{}",
        c.action,
        c.cause,
        c.confidence,
        c.p,
        c.benefit,
        c.cost,
        c.score,
        if c.action.kind.is_reversible() {
            ""
        } else {
            "; irreversible"
        }
    );
    let targets = active.iter().map(|v| v.key()).collect();
    Decision::Act(Policy {
        id: input.policy_id,
        incident_id: input.incident.id,
        created_at: input.now,
        actions: vec![c.action],
        targets,
        p_success: c.p,
        expected_benefit: c.benefit,
        cost: c.cost,
        score: c.score,
        rationale: format!("{rationale}; symptom objective {}", c.objective),
        rejected,
        approval,
    })
}

fn no_action(reason: &str, rejected: Vec<Rejected>) -> Decision {
    Decision::NoAction {
        reason: reason.to_string(),
        rejected,
    }
}

/// Turn a kind into a concrete action for a component, or say why it cannot apply.
fn build_action(
    kind: ActionKind,
    component: &charter_model::Component,
    state: &ComponentState,
    params: &std::collections::BTreeMap<String, String>,
    step: u32,
    active: &[&Violation],
    charter: &Charter,
) -> Result<Action, String> {
    let name = &component.name;
    let mut a = Action::new(kind, name);
    for (k, v) in params {
        a = a.with_param(k, v);
    }
    match kind {
        ActionKind::ScaleOut => {
            let current = state.replicas;
            let max = component.replicas.map(|r| r.max);
            let step = match (current, max) {
                (Some(cur), Some(max)) if cur >= max => {
                    return Err(format!("{name} is at max replicas ({max})"));
                }
                (Some(cur), Some(max)) => step.min(max - cur),
                _ => step,
            };
            a = a.with_param("step", step);
        }
        ActionKind::ScaleIn => {
            let min = component.replicas.map_or(1, |r| r.min);
            match state.replicas {
                Some(cur) if cur > min => a = a.with_param("step", step.min(cur - min)),
                _ => return Err(format!("{name} is at min replicas ({min})")),
            }
        }
        ActionKind::Rollback => {
            if state.previous_version.is_none() {
                return Err(format!("{name} has no previous version"));
            }
        }
        ActionKind::Failover => {
            if state.standby_zone.is_none() {
                return Err(format!("{name} has no standby zone"));
            }
        }
        ActionKind::CircuitBreak => {
            let failing = charter.topology.dependencies(name).find(|d| {
                active.iter().any(|v| v.component == *d)
                    && !state.open_circuits.iter().any(|o| o == d)
            });
            match failing {
                Some(d) => a = a.with_param("dependency", d),
                None => return Err(format!("{name} has no failing dependency to break")),
            }
        }
        ActionKind::Throttle => {
            if !params.contains_key("rate") {
                return Err("throttle needs `actions.throttle.params.rate`".into());
            }
        }
        ActionKind::Reconfigure => {
            if !(params.contains_key("key") && params.contains_key("value")) {
                return Err(
                    "reconfigure needs `actions.reconfigure.params.key` and `.value`".into(),
                );
            }
        }
        ActionKind::Restart | ActionKind::FlushCache => {}
    }
    Ok(a)
}

#[cfg(test)]
mod tests;
