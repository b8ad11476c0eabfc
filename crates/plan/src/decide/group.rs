//! Group policies: the remedy of a common-cause hypothesis (`zone:b`, `node:x`).
//!
//! A zone or node that lost capacity is relieved by moving its services away: every
//! member that declares `failover` among its objectives' remedies and has a standby
//! zone fails over, as ONE policy — one approval judged on the total cost of its
//! steps, one execution, one verification over the incident's targets. A node's
//! group is the same failover of the services placed on it: no actuator offers a
//! cordon or drain, and a failover moves a service off its host as well as out of
//! its zone (a restart would only bring it back on the same failing node).
//!
//! Guardrails hold for every step, not only the main one: a member that is
//! quarantined, frozen (an Unknown objective), running, cooling down (any action on
//! it within `guardrails.cooldown`), already failed over in this incident or within
//! `oscillation_window` (another failover would move it back), or whose failover
//! would be one reversal too many is left out of the group, and the
//! decision's rejections say which and why. Every step counts against
//! `max_actions_per_hour`; the floor, `max_concurrent` and the approval limits judge
//! the policy as a whole (`auto_approve_max_cost` on its total cost,
//! `auto_approve_kinds` and `approval: required` on every step).

use super::*;
use charter_model::{Hypothesis, Placement};

/// The action a group policy takes on each member.
const GROUP_KIND: ActionKind = ActionKind::Failover;

/// Components whose state the planner needs for `diagnosis`: every hypothesis'
/// component, and the members of every zone or node it names (their standby zones
/// and where their actuators say they run).
pub fn components_to_describe(charter: &Charter, diagnosis: &Diagnosis) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for h in &diagnosis.hypotheses {
        let names = match Placement::parse(&h.component) {
            Some(p) => p.members(charter).iter().map(|c| c.name.clone()).collect(),
            None => vec![h.component.clone()],
        };
        for n in names {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

/// Why `member` cannot take a step of the group now, if it cannot.
fn held_back(
    member: &charter_model::Component,
    place: &Placement,
    input: PlanInput<'_>,
    active: &[&Violation],
) -> Result<Action, String> {
    let g = input.guard;
    let rails = &input.charter.guardrails;
    let name = &member.name;
    let declares = input
        .charter
        .objectives
        .iter()
        .any(|o| o.components.iter().any(|c| c == name) && o.remedies.contains(&GROUP_KIND));
    if !declares {
        return Err(format!(
            "no objective on {name} lists {GROUP_KIND} among its remedies"
        ));
    }
    if let Some(reason) = component_hold(name, g) {
        return Err(reason);
    }
    let actions = g.recent_actions.iter().filter(|(_, _, t)| *t <= input.now);
    if let Some(until) = cooling_until(name, actions, input.now, rails.cooldown) {
        return Err(format!("cooldown on {name} until {until}"));
    }
    // A member moved by an earlier group (only the first step is recorded as tried)
    // would move back: a node's group has no zone to tell it by.
    if let Some(at) = g
        .recent_actions
        .iter()
        .filter(|(c, k, t)| {
            c == name && *k == GROUP_KIND && input.now.since(*t) < rails.oscillation_window
        })
        .map(|(_, _, t)| *t)
        .max()
    {
        return Err(format!(
            "{name} already failed over at {at}: another {GROUP_KIND} would move it back"
        ));
    }
    if input
        .tried
        .iter()
        .any(|t| t.kind == GROUP_KIND && t.component == *name)
    {
        return Err(format!(
            "{GROUP_KIND} of {name} already tried in this incident"
        ));
    }
    let state = input.states.get(name).cloned().unwrap_or_default();
    if place.kind == charter_model::PlacementKind::Zone
        && let Some(now_in) = &state.zone
        && *now_in != place.name
    {
        return Err(format!("{name} already runs in zone {now_in}"));
    }
    let spec = input.charter.action(GROUP_KIND);
    let action = build_action(GROUP_KIND, member, &state, &spec, active, input.charter)?;
    let probe = Candidate {
        actions: vec![action],
        waits_secs: vec![0],
        main: 0,
        objective: String::new(),
        p: 0.0,
        p_mean: 0.0,
        evidence: (0.0, 0.0),
        benefit: 0.0,
        terms: (0.0, 0.0, 0.0),
        cost: 0.0,
        score: 0.0,
        confidence: 0.0,
        cause: CauseClass::Infrastructure,
        time_to_effect: spec.time_to_effect,
        why: String::new(),
    };
    if let Some(reason) = oscillation(&probe, input) {
        return Err(reason);
    }
    Ok(probe.actions.into_iter().next().expect("one action"))
}

/// The group candidate of `h` when it names a zone or node: `None` when it names a
/// service (the caller plans it as usual), `Some(None)` when no member can take a
/// step (the rejections say why).
pub(super) fn candidate(
    h: &Hypothesis,
    input: PlanInput<'_>,
    active: &[&Violation],
    value: f64,
    rejected: &mut Vec<Rejected>,
) -> Option<Option<Candidate>> {
    let place = Placement::parse(&h.component)?;
    let charter = input.charter;
    let members = place.members(charter);
    let mut steps: Vec<Action> = Vec::new();
    let mut left_out: Vec<String> = Vec::new();
    for m in &members {
        match held_back(m, &place, input, active) {
            Ok(a) => steps.push(a),
            Err(reason) => {
                left_out.push(format!("{} ({reason})", m.name));
                rejected.push(Rejected {
                    action: Action::new(GROUP_KIND, &m.name),
                    score: None,
                    reason: format!("left out of the {place} group: {reason}"),
                });
            }
        }
    }
    if steps.is_empty() {
        rejected.push(Rejected {
            action: Action::new(GROUP_KIND, place.to_string()),
            score: None,
            reason: format!(
                "group {GROUP_KIND} of {place}: none of its {} components can take a step",
                members.len()
            ),
        });
        return Some(None);
    }
    // Each member's success is learned under its own objective and name; the group
    // succeeds as its members do on average.
    let prior = prior_success(CauseClass::Infrastructure, GROUP_KIND, 0);
    let fallback = active
        .iter()
        .find(|v| steps.iter().any(|a| a.component == v.component))
        .or(active.first())
        .map(|v| v.objective.clone())
        .unwrap_or_default();
    let (mut p, mut p_mean, mut evidence) = (0.0, 0.0, (0.0, 0.0));
    for a in &steps {
        let objective = active
            .iter()
            .find(|v| v.component == a.component)
            .map_or(fallback.as_str(), |v| v.objective.as_str());
        let k = input.knowledge;
        let (pm, ev) = k.success(GROUP_KIND, objective, &a.component, prior, input.now);
        p += pm;
        p_mean += k.success_mean(GROUP_KIND, objective, &a.component, prior, input.now);
        evidence = (evidence.0 + ev.0, evidence.1 + ev.1);
    }
    let n = steps.len() as f64;
    let (p, p_mean) = (p / n, p_mean / n);
    let spec = charter.action(GROUP_KIND);
    let rails = &charter.guardrails;
    let benefit = p * h.confidence * value * relief(spec.time_to_effect);
    let terms = (
        n * spec.disruption,
        n * spec.resource,
        n * rails.risk_weight * spec.risk,
    );
    let cost = terms.0 + terms.1 + terms.2;
    let moved: Vec<&str> = steps.iter().map(|a| a.component.as_str()).collect();
    let mut why = format!(
        "group {GROUP_KIND} of {place}: {} of its {} components ({}) as one policy with one approval, total cost {cost:.1}",
        steps.len(),
        members.len(),
        moved.join(", ")
    );
    if !left_out.is_empty() {
        why.push_str(&format!("; left out: {}", left_out.join(", ")));
    }
    Some(Some(Candidate {
        waits_secs: vec![0; steps.len()],
        actions: steps,
        main: 0,
        objective: fallback,
        p,
        p_mean,
        evidence,
        benefit,
        terms,
        cost,
        score: benefit - cost,
        confidence: h.confidence,
        cause: CauseClass::Infrastructure,
        time_to_effect: spec.time_to_effect,
        why,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_model::{IncidentState, Severity, Signal};
    use charter_testkit::{charter_from, diagnosis, hypothesis, incident, violation};

    const CHARTER: &str = r#"name: g
mode: autonomous
components:
  - { name: edge, depends_on: [cat, ord, pay], zone: a, node: n1 }
  - { name: cat, zone: b, node: n2 }
  - { name: ord, zone: b, node: n2 }
  - { name: pay, zone: b, node: n3 }
objectives:
  - name: cpu
    metric: cpu
    signal: utilization
    above: { warning: 0.8, critical: 0.95 }
    remedies: [failover, scale_out]
actions:
  failover: { disruption: 1, resource: 1, risk: 1 }
guardrails: { cooldown: 5m, max_actions_per_hour: 10, max_concurrent: 2, auto_approve_max_cost: 10 }
"#;

    struct Fixture {
        charter: Charter,
        incident: Incident,
        diagnosis: Diagnosis,
        violations: Vec<Violation>,
        guard: GuardState,
        states: HashMap<String, ComponentState>,
        knowledge: crate::KnowledgeView,
    }

    const NOW: Timestamp = Timestamp(1_000_000);

    fn fixture(root: &str) -> Fixture {
        let violations: Vec<Violation> = ["cat", "ord", "pay"]
            .iter()
            .map(|c| {
                violation("cpu", c)
                    .signal(Signal::Utilization)
                    .firing(Severity::Warning)
                    .value(0.9)
                    .build()
            })
            .collect();
        let states = ["edge", "cat", "ord", "pay"]
            .iter()
            .map(|c| {
                let zone = if *c == "edge" { "a" } else { "b" };
                (
                    c.to_string(),
                    ComponentState {
                        replicas: Some(3),
                        zone: Some(zone.into()),
                        standby_zone: Some("c".into()),
                        ..Default::default()
                    },
                )
            })
            .collect();
        Fixture {
            charter: charter_from(CHARTER),
            incident: incident(1)
                .state(IncidentState::Diagnosed)
                .violations(violations.iter().map(Violation::key))
                .build(),
            diagnosis: diagnosis(
                1,
                NOW,
                vec![hypothesis(root, CauseClass::Infrastructure, 0.9)],
            ),
            violations,
            guard: GuardState::default(),
            states,
            knowledge: crate::KnowledgeView::new(),
        }
    }

    impl Fixture {
        fn decide(&self) -> Decision {
            decide(PlanInput {
                charter: &self.charter,
                incident: &self.incident,
                diagnosis: &self.diagnosis,
                violations: &self.violations,
                knowledge: &self.knowledge,
                guard: &self.guard,
                states: &self.states,
                tried: &[],
                refuted: &[],
                policy_id: PolicyId(1),
                now: NOW,
            })
        }
    }

    fn steps(d: &Decision) -> Vec<String> {
        match d {
            Decision::Act(p) => p.actions.iter().map(ToString::to_string).collect(),
            other => panic!("no policy: {other:#?}"),
        }
    }

    #[test]
    fn a_zone_fails_over_as_one_auto_approved_policy() {
        let f = fixture("zone:b");
        let d = f.decide();
        assert_eq!(
            steps(&d),
            ["failover(cat)", "failover(ord)", "failover(pay)"]
        );
        let Decision::Act(p) = d else { unreachable!() };
        assert_eq!(p.approval, ApprovalState::AutoApproved);
        assert!((p.cost - 9.0).abs() < 1e-9, "{}", p.cost);
        assert_eq!(p.context.map(|c| c.cause), Some(CauseClass::Infrastructure));
        assert!(p.waits_secs.is_empty());
    }

    #[test]
    fn a_node_fails_over_the_services_placed_on_it() {
        let f = fixture("node:n2");
        assert_eq!(steps(&f.decide()), ["failover(cat)", "failover(ord)"]);
    }

    #[test]
    fn the_approval_judges_the_total_cost_of_the_group() {
        let mut f = fixture("zone:b");
        // Each step costs 3, within the limit of 5 alone; three of them are not.
        f.charter.guardrails.auto_approve_max_cost = 5.0;
        let Decision::Act(p) = f.decide() else {
            panic!("no policy")
        };
        assert_eq!(p.approval, ApprovalState::Pending);
        assert!(
            p.rationale.contains("cost 9.0 > auto_approve_max_cost 5.0"),
            "{}",
            p.rationale
        );
    }

    #[test]
    fn held_back_members_are_left_out_by_name_and_a_group_of_none_is_refused() {
        let mut f = fixture("zone:b");
        f.guard.frozen.insert("cat".into());
        f.guard.recent_actions.push((
            "ord".into(),
            ActionKind::ScaleOut,
            NOW.minus(Duration::from_secs(60)),
        ));
        let d = f.decide();
        assert_eq!(steps(&d), ["failover(pay)"]);
        let Decision::Act(p) = d else { unreachable!() };
        let left: Vec<&str> = p
            .rejected
            .iter()
            .filter(|r| r.reason.starts_with("left out of the zone:b group"))
            .map(|r| r.action.component.as_str())
            .collect();
        assert_eq!(left, ["cat", "ord"], "{:#?}", p.rejected);
        assert!(
            p.rationale
                .contains("left out: cat (an objective on cat is Unknown")
                && p.rationale.contains("ord (cooldown on ord until"),
            "{}",
            p.rationale
        );
        // With pay running too, nobody can move: the group is refused, saying so.
        f.guard.running.insert("pay".into());
        f.charter.guardrails.max_concurrent = 3;
        let Decision::NoAction { rejected, .. } = f.decide() else {
            panic!("acted with every member held back")
        };
        assert!(
            rejected.iter().any(|r| r
                .reason
                .contains("none of its 3 components can take a step")),
            "{rejected:#?}"
        );
    }

    #[test]
    fn a_member_failed_over_within_the_oscillation_window_is_not_moved_back() {
        let mut f = fixture("node:n2");
        // Past the cooldown, within the oscillation window.
        f.guard.recent_actions.push((
            "cat".into(),
            ActionKind::Failover,
            NOW.minus(Duration::from_secs(600)),
        ));
        let d = f.decide();
        assert_eq!(steps(&d), ["failover(ord)"]);
        let Decision::Act(p) = d else { unreachable!() };
        assert!(
            p.rationale.contains("cat (cat already failed over at"),
            "{}",
            p.rationale
        );
    }

    #[test]
    fn a_member_already_moved_or_without_a_standby_is_left_out() {
        let mut f = fixture("zone:b");
        f.states.get_mut("cat").expect("cat").zone = Some("c".into());
        f.states.get_mut("ord").expect("ord").standby_zone = None;
        assert_eq!(steps(&f.decide()), ["failover(pay)"]);
    }

    #[test]
    fn the_members_states_are_asked_for() {
        let f = fixture("zone:b");
        let mut d = f.diagnosis.clone();
        d.hypotheses
            .push(hypothesis("edge", CauseClass::Overload, 0.1));
        assert_eq!(
            components_to_describe(&f.charter, &d),
            ["cat", "ord", "pay", "edge"]
        );
    }
}
