//! Candidates, cost–benefit scoring, preconditions, guardrails and the decision.

use crate::knowledge::KnowledgeView;
use charter_model::{
    Action, ActionKind, Approval, ApprovalState, CauseClass, Charter, ComponentState, Diagnosis,
    Hypothesis, Incident, Mode, Policy, PolicyContext, PolicyId, Refutation, Rejected, Timestamp,
    Violation, ViolationState,
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
    /// Components a policy awaiting a human's approval will act on: nothing else
    /// starts there meanwhile (it would change what the approver was asked about,
    /// and hold the approved policy back when it starts).
    pub awaiting: HashSet<String>,
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
    /// Hypotheses this incident's verified outcomes refuted (the diagnosis has already
    /// lowered them): a remedy for another cause on their component passes its
    /// cooldown.
    pub refuted: &'a [Refutation],
    pub policy_id: PolicyId,
    pub now: Timestamp,
}

/// What to do about an incident.
// One decision per incident and tick, moved once to its caller: boxing the policy
// would buy nothing and change every caller's match.
#[allow(clippy::large_enum_variant)]
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
    /// Automation must stop on `component` and a human must look: the best candidate
    /// would reverse the component's recent actions again (oscillation).
    Stop {
        component: String,
        reason: String,
        rejected: Vec<Rejected>,
    },
}

/// Value of removing one severity-weighted violation, in the unit of action costs.
const VALUE_PER_VIOLATION: f64 = 10.0;
/// Hypotheses below this confidence are not acted on, except by a safe action
/// ([`SAFE_UNDER_DOUBT`]) on the most likely one when none reaches it.
pub const MIN_CONFIDENCE: f64 = 0.15;
/// What may be done when no hypothesis reaches [`MIN_CONFIDENCE`]: reversible,
/// bounded actions that relieve most causes a little and harm none for long.
const SAFE_UNDER_DOUBT: [ActionKind; 2] = [ActionKind::ScaleOut, ActionKind::Throttle];
/// The horizon over which the benefit of an action is counted: an action that takes
/// effect after `t` removes the violation for `HORIZON - t` of it.
const HORIZON: Duration = Duration::from_secs(15 * 60);

/// Share of the horizon during which an action with this time to effect helps.
fn relief(time_to_effect: Duration) -> f64 {
    (1.0 - time_to_effect.as_secs_f64() / HORIZON.as_secs_f64()).max(0.05)
}

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
        (C::Infrastructure, K::Failover) => 0.8,
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
    /// The policy's steps; the first is the main action (learning is keyed on it).
    actions: Vec<Action>,
    /// Seconds to wait before each step, after the previous one.
    waits_secs: Vec<u64>,
    /// The step expected to resolve the incident.
    main: usize,
    objective: String,
    p: f64,
    /// The posterior mean of `p` (equal to it without exploration): what the floor
    /// for irreversible actions judges.
    p_mean: f64,
    evidence: (f64, f64),
    benefit: f64,
    /// (disruption, resource, weighted risk) summed over the steps.
    terms: (f64, f64, f64),
    cost: f64,
    score: f64,
    confidence: f64,
    cause: CauseClass,
    time_to_effect: Duration,
    /// Why this multi-action policy, in words (empty for one action).
    why: String,
}

impl Candidate {
    fn main(&self) -> &Action {
        &self.actions[self.main]
    }

    fn reject(self, reason: String, rejected: &mut Vec<Rejected>) {
        let score = Some(self.score);
        let main = self.main;
        if let Some(action) = self.actions.into_iter().nth(main) {
            let reason = if self.why.is_empty() {
                reason
            } else {
                format!(
                    "{reason} (policy of {} steps: {})",
                    self.waits_secs.len(),
                    self.why
                )
            };
            rejected.push(Rejected {
                action,
                score,
                reason,
            });
        }
    }
}

/// Decide what to do about one incident.
pub fn decide(input: PlanInput<'_>) -> Decision {
    let g = input.guard;
    let charter = input.charter;
    let rails = &charter.guardrails;
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
    // Targets: firing or pending violations on declared components of declared
    // objectives. Unknown ones are not targets: nobody can tell whether they recovered.
    let active: Vec<&Violation> = input
        .violations
        .iter()
        .filter(|v| matches!(v.state, ViolationState::Firing | ViolationState::Pending))
        .filter(|v| charter.component(&v.component).is_some())
        .filter(|v| charter.objective(&v.objective).is_some())
        .collect();
    if active.is_empty() {
        return no_action(
            "no target: no firing or pending violation of a declared objective",
            rejected,
        );
    }
    let value: f64 = active
        .iter()
        .map(|v| v.severity.map_or(0.5, |s| s.weight()))
        .sum::<f64>()
        * VALUE_PER_VIOLATION;
    let severity = active.iter().filter_map(|v| v.severity).max();
    let mut cands: Vec<Candidate> = Vec::new();
    let hypotheses = &input.diagnosis.hypotheses;
    // When no hypothesis reaches the minimum, the most likely declared one may still
    // get a safe action whose expected value is positive under the doubt.
    let doubt: Option<&Hypothesis> = if hypotheses.iter().any(|h| h.confidence >= MIN_CONFIDENCE) {
        None
    } else {
        hypotheses
            .iter()
            .find(|h| charter.component(&h.component).is_some())
    };
    for h in hypotheses {
        let cautious = doubt.is_some_and(|d| std::ptr::eq(d, h));
        if h.confidence < MIN_CONFIDENCE && !cautious {
            continue;
        }
        // A zone or node: one group policy over its members (group.rs).
        if let Some(group) = group::candidate(h, input, &active, value, &mut rejected) {
            cands.extend(group);
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
        let first_new = cands.len();
        if cautious {
            remedies.retain(|(k, _, _)| SAFE_UNDER_DOUBT.contains(k));
        }
        for (kind, rank, objective) in remedies {
            let spec = charter.action(kind);
            let action = match build_action(kind, component, &state, &spec, &active, charter) {
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
            let (p, evidence) =
                input
                    .knowledge
                    .success(kind, &objective, &component.name, prior, input.now);
            let p_mean =
                input
                    .knowledge
                    .success_mean(kind, &objective, &component.name, prior, input.now);
            let benefit = p * h.confidence * value * relief(spec.time_to_effect);
            let terms = (
                spec.disruption,
                spec.resource,
                rails.risk_weight * spec.risk,
            );
            let cost = terms.0 + terms.1 + terms.2;
            cands.push(Candidate {
                actions: vec![action],
                waits_secs: vec![0],
                main: 0,
                objective,
                p,
                p_mean,
                evidence,
                benefit,
                terms,
                cost,
                score: benefit - cost,
                confidence: h.confidence,
                cause: h.cause,
                time_to_effect: spec.time_to_effect,
                why: String::new(),
            });
        }
        if let Some(b) = bridge(&cands[first_new..], &state, value) {
            cands.push(b);
        }
    }
    cands.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.actions.len().cmp(&b.actions.len()))
            .then_with(|| a.main().kind.cmp(&b.main().kind))
    });

    let recent: Vec<&(String, ActionKind, Timestamp)> = g
        .recent_actions
        .iter()
        .filter(|(_, _, t)| input.now.since(*t) < Duration::from_secs(3600))
        .collect();
    let mut chosen = None;
    // The first candidate the floor for acting turned down, in words, for the
    // rationale of a decision the floor made.
    let mut below_floor: Option<String> = None;
    for c in cands {
        if chosen.is_some() {
            c.reject("lower score".into(), &mut rejected);
            continue;
        }
        if c.score <= 0.0 {
            let reason = format!(
                "not worth its cost (benefit {:.1} <= cost {:.1})",
                c.benefit, c.cost
            );
            c.reject(reason, &mut rejected);
            continue;
        }
        if let Some(reason) = floor(&c, rails) {
            if below_floor.is_none() {
                let main = c.main();
                below_floor = Some(format!(
                    "{}({}) not taken: {reason}",
                    main.kind, main.component
                ));
            }
            c.reject(reason, &mut rejected);
            continue;
        }
        if let Some(reason) = guardrail(&c, input, &recent) {
            c.reject(reason, &mut rejected);
            continue;
        }
        if let Some(reason) = oscillation(&c, input) {
            let component = c.main().component.clone();
            c.reject(reason.clone(), &mut rejected);
            return Decision::Stop {
                component,
                reason,
                rejected,
            };
        }
        chosen = Some(c);
    }
    let Some(c) = chosen else {
        let reason = if let Some(h) = doubt {
            let safe: Vec<&str> = SAFE_UNDER_DOUBT.iter().map(|k| k.as_str()).collect();
            let instead = if rejected.iter().any(|r| {
                r.action.component == h.component && SAFE_UNDER_DOUBT.contains(&r.action.kind)
            }) {
                format!(
                    "no safe reversible action ({}) on {} is worth taking under that doubt",
                    safe.join(", "),
                    h.component
                )
            } else {
                format!(
                    "no safe reversible action ({}) is among the remedies for {}",
                    safe.join(", "),
                    h.component
                )
            };
            format!("{}; {instead}: nothing done", low_confidence(h))
        } else if let Some(why) = below_floor {
            format!("no candidate clears the floor for acting: {why}")
        } else if rejected.is_empty() {
            "no remedy applies to the diagnosed root cause".to_string()
        } else {
            "every candidate was rejected".to_string()
        };
        return no_action(&reason, rejected);
    };
    let (approval, why_approval) = approval(charter, &c, severity);
    let learned = if c.evidence.1 > 0.0 {
        format!(
            "{} of {} past outcomes succeeded",
            c.evidence.0, c.evidence.1
        )
    } else {
        "no outcomes yet, prior from cause class and remedy order".to_string()
    };
    let steps: Vec<String> = c
        .actions
        .iter()
        .zip(&c.waits_secs)
        .map(|(a, w)| {
            if *w > 0 {
                format!("after {w}s {a}")
            } else {
                a.to_string()
            }
        })
        .collect();
    let irreversible: Vec<String> = c
        .actions
        .iter()
        .filter(|a| !a.kind.is_reversible())
        .map(|a| a.kind.to_string())
        .collect();
    let mut notes = String::new();
    if let Some(h) = doubt {
        notes.push_str(&format!(
            "; {}: a safe, reversible action with positive expected value under that doubt",
            low_confidence(h)
        ));
    }
    if let Some(note) = revised_cooldown(&c, input, &recent) {
        notes.push_str(&format!("; {note}"));
    }
    let rationale = format!(
        "{}: cause {} (confidence {:.2}){notes}; p(success) {:.2} ({learned}); effect in {}s; benefit {:.1} - cost {:.1} (disruption {:.1} + resource {:.1} + risk {:.1}) = score {:.1}{}{}; symptom objective {}; {why_approval}",
        steps.join(" -> "),
        c.cause,
        c.confidence,
        c.p,
        c.time_to_effect.as_secs(),
        c.benefit,
        c.cost,
        c.terms.0,
        c.terms.1,
        c.terms.2,
        c.score,
        if c.why.is_empty() {
            String::new()
        } else {
            format!("; {}", c.why)
        },
        if irreversible.is_empty() {
            String::new()
        } else {
            format!(
                "; irreversible: {} (success probability {:.2} >= floor {})",
                irreversible.join(", "),
                c.p_mean,
                rails.min_success_probability_irreversible
            )
        },
        c.objective,
    );
    let targets = crate::targets::relieved(charter, &c.actions, &active);
    Decision::Act(Policy {
        id: input.policy_id,
        incident_id: input.incident.id,
        created_at: input.now,
        waits_secs: if c.waits_secs.iter().any(|w| *w > 0) {
            c.waits_secs.clone()
        } else {
            vec![]
        },
        main: c.main,
        actions: c.actions,
        targets,
        p_success: c.p,
        expected_benefit: c.benefit,
        cost: c.cost,
        score: c.score,
        rationale,
        rejected,
        approval,
        context: Some(PolicyContext {
            objective: c.objective,
            cause: c.cause,
        }),
    })
}

/// A multi-action policy for an overload whose capacity arrives late: throttle now,
/// scale out, then lift the throttle once the new capacity has had its time to
/// effect. Built from the hypothesis' single candidates when both are there and the
/// throttle acts sooner; it competes with them on score.
fn bridge(singles: &[Candidate], state: &ComponentState, value: f64) -> Option<Candidate> {
    let scale = singles
        .iter()
        .find(|c| c.main().kind == ActionKind::ScaleOut)?;
    let throttle = singles
        .iter()
        .find(|c| c.main().kind == ActionKind::Throttle)?;
    if state.throttle_rate.is_some() || throttle.time_to_effect >= scale.time_to_effect {
        return None;
    }
    let tte_s = scale.time_to_effect;
    let tte_t = throttle.time_to_effect;
    // Throttling helps from its effect until the capacity is ready; then scaling does.
    let gap = (tte_s - tte_t).as_secs_f64() / HORIZON.as_secs_f64();
    let benefit = scale.confidence * value * (throttle.p * gap + scale.p * relief(tte_s));
    let terms = (
        scale.terms.0 + throttle.terms.0,
        scale.terms.1 + throttle.terms.1,
        scale.terms.2 + throttle.terms.2,
    );
    let cost = terms.0 + terms.1 + terms.2;
    let component = &scale.main().component;
    let lift = Action::new(ActionKind::Throttle, component).with_param("rate", "none");
    Some(Candidate {
        actions: vec![throttle.main().clone(), scale.main().clone(), lift],
        waits_secs: vec![0, 0, tte_s.as_secs()],
        main: 1,
        objective: scale.objective.clone(),
        p: scale.p,
        p_mean: scale.p_mean,
        evidence: scale.evidence,
        benefit,
        terms,
        cost,
        score: benefit - cost,
        confidence: scale.confidence,
        cause: scale.cause,
        time_to_effect: tte_t,
        why: format!(
            "scaling takes {}s, throttling relieves in {}s: throttle now, scale out, lift the throttle when capacity is ready",
            tte_s.as_secs(),
            tte_t.as_secs()
        ),
    })
}

/// The floor for acting a candidate falls below, if any: a policy with an
/// irreversible step needs an estimated probability of success of at least
/// `min_success_probability_irreversible`, and every policy's expected benefit must
/// exceed its cost by `min_margin`. The reason names the floor and its value.
fn floor(c: &Candidate, rails: &charter_model::Guardrails) -> Option<String> {
    let irreversible = c.actions.iter().find(|a| !a.kind.is_reversible());
    if let Some(a) = irreversible
        && c.p_mean < rails.min_success_probability_irreversible
    {
        return Some(format!(
            "success probability {} below the floor {} for irreversible actions ({} cannot be undone; guardrails.min_success_probability_irreversible)",
            below(c.p_mean, rails.min_success_probability_irreversible, 2),
            rails.min_success_probability_irreversible,
            a.kind
        ));
    }
    if c.score < rails.min_margin {
        return Some(format!(
            "score {} (benefit {:.1} - cost {:.1}) below the margin {} (guardrails.min_margin)",
            below(c.score, rails.min_margin, 1),
            c.benefit,
            c.cost,
            rails.min_margin
        ));
    }
    None
}

/// `value`, known to be below `floor`, with at least `decimals` decimals and as many
/// more as it takes not to print it as the floor itself (0.499 is not "0.50").
fn below(value: f64, floor: f64, decimals: usize) -> String {
    let mut d = decimals;
    loop {
        let s = format!("{value:.d$}");
        if d >= 6 || s.parse::<f64>().is_ok_and(|x| x < floor) {
            return s;
        }
        d += 1;
    }
}

/// The guardrail a candidate breaks, if any (DESIGN.md §3).
fn guardrail(
    c: &Candidate,
    input: PlanInput<'_>,
    recent: &[&(String, ActionKind, Timestamp)],
) -> Option<String> {
    let g = input.guard;
    let rails = &input.charter.guardrails;
    let comp = &c.main().component;
    if let Some(reason) = component_hold(comp, g) {
        return Some(reason);
    }
    if let Some(until) = cooling_until(comp, recent.iter().copied(), input.now, rails.cooldown)
        && revised_cooldown(c, input, recent).is_none()
    {
        return Some(format!("cooldown on {comp} until {until}"));
    }
    if recent.len() + c.actions.len() > rails.max_actions_per_hour as usize {
        return Some(format!(
            "global limit of {} actions per hour reached ({} in the last hour, this policy has {})",
            rails.max_actions_per_hour,
            recent.len(),
            c.actions.len()
        ));
    }
    if g.running.len() as u32 >= rails.max_concurrent {
        return Some(format!(
            "{} executions already running (max_concurrent {})",
            g.running.len(),
            rails.max_concurrent
        ));
    }
    None
}

/// Why nothing new may start on `comp`, whatever the action: quarantined, an
/// Unknown objective, an execution already running there, a policy awaiting
/// approval that will act there. (The cooldown is the
/// caller's: a revised cause may pass it.)
fn component_hold(comp: &str, g: &GuardState) -> Option<String> {
    if g.quarantined.contains(comp) {
        return Some(format!(
            "{comp} is quarantined: automation stopped there until an operator clears it"
        ));
    }
    if g.frozen.contains(comp) {
        return Some(format!("an objective on {comp} is Unknown: actions frozen"));
    }
    if g.running.contains(comp) {
        return Some(format!("an execution is already running on {comp}"));
    }
    if g.awaiting.contains(comp) {
        return Some(format!("a policy awaiting approval will act on {comp}"));
    }
    None
}

/// When `comp`'s cooldown ends, if it is still cooling down: `cooldown` after the
/// latest of `actions` on it, whatever the order they come in.
fn cooling_until<'a>(
    comp: &str,
    actions: impl IntoIterator<Item = &'a (String, ActionKind, Timestamp)>,
    now: Timestamp,
    cooldown: Duration,
) -> Option<Timestamp> {
    let last = actions
        .into_iter()
        .filter(|(x, _, _)| x == comp)
        .map(|(_, _, t)| *t)
        .max()?;
    (now.since(last) < cooldown).then(|| last.plus(cooldown))
}

/// Why a candidate may pass its component's cooldown, if it may: the cooldown keeps
/// the same kind of action from being repeated, not the remedy a revised diagnosis
/// calls for. It passes when no action of its kinds was taken on the component
/// within the cooldown, the incident refuted another cause there, and not the
/// candidate's own.
fn revised_cooldown(
    c: &Candidate,
    input: PlanInput<'_>,
    recent: &[&(String, ActionKind, Timestamp)],
) -> Option<String> {
    let comp = &c.main().component;
    let cooldown = input.charter.guardrails.cooldown;
    let within: Vec<ActionKind> = recent
        .iter()
        .filter(|(x, _, t)| x == comp && input.now.since(*t) < cooldown)
        .map(|(_, k, _)| *k)
        .collect();
    let refuted_here = |cause: CauseClass| {
        input
            .refuted
            .iter()
            .any(|r| r.component == *comp && r.cause == cause)
    };
    // A cause the incident refuted too is no revision.
    if within.is_empty()
        || c.actions.iter().any(|a| within.contains(&a.kind))
        || refuted_here(c.cause)
    {
        return None;
    }
    let refuted: Vec<String> = input
        .refuted
        .iter()
        .filter(|r| r.component == *comp && r.cause != c.cause)
        .map(|r| format!("{} ({})", r.describe(), r.cause))
        .collect();
    if refuted.is_empty() {
        return None;
    }
    Some(format!(
        "passes the cooldown on {comp}: the diagnosis was revised to {} after {} refuted the earlier cause, and the cooldown only keeps {} from being repeated",
        c.cause,
        refuted.join(", "),
        within
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// `best hypothesis api (overload, confidence 0.12) is below the planner's minimum
/// 0.15`.
fn low_confidence(h: &Hypothesis) -> String {
    format!(
        "best hypothesis {} ({}, confidence {}) is below the planner's minimum {MIN_CONFIDENCE}",
        h.component,
        h.cause,
        below(h.confidence, MIN_CONFIDENCE, 2)
    )
}

/// Opposite kinds: taking one after the other on a component is a reversal.
fn opposite(a: ActionKind, b: ActionKind) -> bool {
    use ActionKind as K;
    matches!(
        (a, b),
        (K::ScaleOut, K::ScaleIn) | (K::ScaleIn, K::ScaleOut) | (K::Failover, K::Failover)
    )
}

/// Whether the candidate's main action would make its component's recent actions
/// flip-flop `max_reversals` times within the oscillation window.
fn oscillation(c: &Candidate, input: PlanInput<'_>) -> Option<String> {
    let rails = &input.charter.guardrails;
    let main = c.main();
    let mut kinds: Vec<ActionKind> = input
        .guard
        .recent_actions
        .iter()
        .filter(|(comp, k, t)| {
            *comp == main.component
                && input.now.since(*t) < rails.oscillation_window
                && matches!(
                    k,
                    ActionKind::ScaleOut | ActionKind::ScaleIn | ActionKind::Failover
                )
        })
        .map(|(_, k, _)| *k)
        .collect();
    kinds.push(main.kind);
    let reversals = kinds.windows(2).filter(|w| opposite(w[0], w[1])).count();
    (reversals >= rails.max_reversals as usize).then(|| {
        let seq: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        format!(
            "oscillation on {}: {} would be reversal {} within {}s ({}); automation stops there",
            main.component,
            main.kind,
            reversals,
            rails.oscillation_window.as_secs(),
            seq.join(" -> ")
        )
    })
}

/// Approval of the chosen policy under the mode and the charter's limits, and why.
fn approval(
    charter: &Charter,
    c: &Candidate,
    severity: Option<charter_model::Severity>,
) -> (ApprovalState, String) {
    let rails = &charter.guardrails;
    let needs = |why: String| (ApprovalState::Pending, format!("needs approval: {why}"));
    match charter.mode {
        Mode::Shadow => (
            ApprovalState::NotExecuted,
            "shadow mode: recorded, not executed".into(),
        ),
        Mode::Supervised => needs("supervised mode".into()),
        Mode::Autonomous => {
            if let Some(a) = c
                .actions
                .iter()
                .find(|a| charter.action(a.kind).approval == Approval::Required)
            {
                return needs(format!("actions.{}.approval is required", a.kind));
            }
            if c.cost > rails.auto_approve_max_cost {
                return needs(format!(
                    "cost {:.1} > auto_approve_max_cost {:.1}",
                    c.cost, rails.auto_approve_max_cost
                ));
            }
            if let Some(kinds) = &rails.auto_approve_kinds
                && let Some(a) = c.actions.iter().find(|a| !kinds.contains(&a.kind))
            {
                return needs(format!("{} is not in auto_approve_kinds", a.kind));
            }
            if let Some(s) = severity
                && s > rails.auto_approve_max_severity
            {
                return needs(format!(
                    "severity {s} > auto_approve_max_severity {}",
                    rails.auto_approve_max_severity
                ));
            }
            (
                ApprovalState::AutoApproved,
                "auto-approved within the charter's limits".into(),
            )
        }
    }
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
    spec: &charter_model::ActionSpec,
    active: &[&Violation],
    charter: &Charter,
) -> Result<Action, String> {
    let name = &component.name;
    let params = &spec.params;
    let rails = &charter.guardrails;
    // Blast radius: no action adds or removes more replicas than max_scale_step.
    let step = spec.step.min(rails.max_scale_step);
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
                (Some(cur), Some(max)) => sized_step(name, cur, step, active, charter)
                    .min(rails.max_scale_step)
                    .min(max - cur),
                (Some(cur), None) => {
                    sized_step(name, cur, step, active, charter).min(rails.max_scale_step)
                }
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
        ActionKind::Restart => {
            // Blast radius: restart at most max_restart_share of the replicas at once.
            let Some(replicas) = state.replicas.or(component.replicas.map(|r| r.min)) else {
                return Err(format!(
                    "the replica count of {name} is unknown (its actuator cannot describe it and the charter declares no `replicas`): the restart's blast radius cannot be bounded"
                ));
            };
            let replicas = replicas.max(1);
            let at_once = (f64::from(replicas) * rails.max_restart_share).floor() as u32;
            if at_once == 0 {
                return Err(format!(
                    "restarting {name} takes down 1 of its {replicas} replica(s) at once, more than max_restart_share {}",
                    rails.max_restart_share
                ));
            }
            a = a.with_param("max_unavailable", at_once);
        }
        ActionKind::FlushCache => {}
    }
    Ok(a)
}

/// How many replicas a scale-out of `component`, now at `current`, adds: the charter's
/// `step`, or more when the component's own utilisation says one step cannot be
/// enough. A utilisation objective above its bound at value `u` with `current`
/// replicas needs about `current × u / clear` of them to come back under its `clear`
/// level (the sizing rule of the Kubernetes HPA, applied to the objective's bound):
/// the step is the difference, never less than the charter's `step` (the caller keeps
/// it within `max_scale_step` and the component's `max`). A real CPU saturates at its
/// limit, so the reading under-states demand and the size is a lower bound; the
/// verification then steps again.
fn sized_step(
    component: &str,
    current: u32,
    step: u32,
    active: &[&Violation],
    charter: &Charter,
) -> u32 {
    let needed = active
        .iter()
        .filter(|v| v.component == component && v.signal == charter_model::Signal::Utilization)
        .filter_map(|v| {
            let objective = charter.objective(&v.objective)?;
            let clear = objective.thresholds.clear;
            let value = v.value?;
            (objective.direction == charter_model::Direction::Above
                && clear > 0.0
                && value.is_finite()
                && value > clear)
                .then(|| (f64::from(current) * value / clear - 1e-9).ceil())
        })
        .fold(0.0_f64, f64::max);
    let extra = (needed - f64::from(current)).clamp(0.0, f64::from(u32::MAX)) as u32;
    step.max(extra)
}

pub mod group;
#[cfg(test)]
mod tests;
