//! Group policies (a zone or node hypothesis remedied by one policy over its members)
//! over random charters, guard states and component states: whatever the planner
//! decides respects every guardrail for every step, and every approval limit for
//! the policy as a whole.
//!
//! Each case draws 3–10 components placed in zones `a`/`b` and nodes `n0`–`n2`,
//! objectives whose remedies often list `failover`, failover costs and approval
//! rules, guardrails, a guard state (recent actions, running, frozen and quarantined
//! components), what the actuators report (some members already moved), firing
//! violations and hypotheses naming zones, nodes and services.

use charter_model::{
    ActionKind, Approval, ApprovalState, CauseClass, Charter, ComponentState, Diagnosis, Incident,
    IncidentState, Mode, Placement, PolicyId, Severity, Timestamp, Violation, ViolationState,
};
use charter_plan::{Decision, GuardState, KnowledgeView, PlanInput, decide};
use charter_testkit::strategies::{component_state_in, guard_state, severity};
use charter_testkit::{charter_from, diagnosis, hypothesis, incident, violation};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Duration;

const CASES: u32 = 800;
const NOW_SECS: i64 = 1_700_000_000;
const ZONES: [&str; 2] = ["a", "b"];
const NODES: [&str; 3] = ["n0", "n1", "n2"];
const RECENT_KINDS: [ActionKind; 3] = [
    ActionKind::Failover,
    ActionKind::ScaleOut,
    ActionKind::Restart,
];

#[derive(Debug, Clone)]
struct Gen {
    mode: &'static str,
    /// Per component: zone index, node index, whether its objective lists failover.
    components: Vec<(usize, usize, bool)>,
    /// Failover: disruption, resource, risk (tenths), approval required.
    failover: (u64, u64, u64, bool),
    per_hour: u64,
    cooldown_secs: u64,
    concurrent: u64,
    max_cost: u64,
    failover_auto: bool,
    max_severity: &'static str,
    window_secs: u64,
    reversals: u64,
    margin: u64,
}

impl Gen {
    fn names(&self) -> Vec<String> {
        (0..self.components.len())
            .map(|i| format!("c{i}"))
            .collect()
    }

    fn yaml(&self) -> String {
        let mut y = format!("name: group\nmode: {}\ncomponents:\n", self.mode);
        for (name, (z, n, _)) in self.names().iter().zip(&self.components) {
            let _ = writeln!(
                y,
                "  - {{ name: {name}, replicas: {{ min: 1, max: 8 }}, zone: {}, node: {} }}",
                ZONES[*z], NODES[*n]
            );
        }
        let listed = |with: bool| -> Vec<String> {
            self.names()
                .into_iter()
                .zip(&self.components)
                .filter(|(_, c)| c.2 == with)
                .map(|(n, _)| n)
                .collect()
        };
        y.push_str("objectives:\n");
        for (obj, with, remedies) in [
            ("lat", true, "[failover, scale_out]"),
            ("err", false, "[restart, scale_out]"),
        ] {
            let comps = listed(with);
            if comps.is_empty() {
                continue;
            }
            let _ = writeln!(
                y,
                "  - {{ name: {obj}, metric: m_{obj}, components: [{}], above: {{ warning: 1, critical: 2 }}, remedies: {remedies} }}",
                comps.join(", ")
            );
        }
        let (d, r, k, required) = self.failover;
        let _ = writeln!(
            y,
            "actions:\n  failover: {{ disruption: {}, resource: {}, risk: {}, approval: {} }}",
            d as f64 / 10.0,
            r as f64 / 10.0,
            k as f64 / 10.0,
            if required { "required" } else { "auto" }
        );
        let kinds = if self.failover_auto {
            "[failover, scale_out, restart]"
        } else {
            "[scale_out, restart]"
        };
        let _ = writeln!(
            y,
            "guardrails: {{ max_actions_per_hour: {}, cooldown: {}s, max_concurrent: {}, auto_approve_max_cost: {}, auto_approve_kinds: {kinds}, auto_approve_max_severity: {}, oscillation_window: {}s, max_reversals: {}, min_margin: {} }}",
            self.per_hour,
            self.cooldown_secs,
            self.concurrent,
            self.max_cost,
            self.max_severity,
            self.window_secs,
            self.reversals,
            self.margin as f64 / 10.0
        );
        y
    }
}

fn charter_gen() -> impl Strategy<Value = Gen> {
    (
        prop_oneof![3 => Just("autonomous"), 1 => Just("supervised"), 1 => Just("shadow")],
        prop::collection::vec((0usize..2, 0usize..3, prop::bool::weighted(0.8)), 3..=10),
        (0u64..40, 0u64..30, 0u64..30, prop::bool::weighted(0.15)),
        (1u64..=20, 0u64..900, 1u64..=4, 0u64..40),
        (
            prop::bool::weighted(0.7),
            select(vec!["warning", "critical"]),
            60u64..7260,
            1u64..=3,
            0u64..=30,
        ),
    )
        .prop_map(
            |(
                mode,
                components,
                failover,
                (per_hour, cooldown_secs, concurrent, max_cost),
                (failover_auto, max_severity, window_secs, reversals, margin),
            )| Gen {
                mode,
                components,
                failover,
                per_hour,
                cooldown_secs,
                concurrent,
                max_cost,
                failover_auto,
                max_severity,
                window_secs,
                reversals,
                margin,
            },
        )
}

#[derive(Clone)]
struct Case {
    yaml: String,
    charter: Charter,
    incident: Incident,
    diagnosis: Diagnosis,
    violations: Vec<Violation>,
    guard: GuardState,
    states: HashMap<String, ComponentState>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("charter", &self.yaml)
            .field("violations", &self.violations)
            .field("hypotheses", &self.diagnosis.hypotheses)
            .field("guard", &self.guard)
            .field("states", &self.states)
            .finish()
    }
}

fn case() -> impl Strategy<Value = Case> {
    let now = Timestamp::from_secs(NOW_SECS);
    charter_gen()
        .prop_flat_map(move |g| {
            let names = g.names();
            let places: Vec<String> = ZONES
                .iter()
                .map(|z| format!("zone:{z}"))
                .chain(NODES.iter().map(|n| format!("node:{n}")))
                .chain(names.iter().cloned())
                .collect();
            let violations = prop::collection::vec(
                (
                    select(names.clone()),
                    select(vec!["lat", "err"]),
                    severity(),
                ),
                1..8,
            );
            let hypotheses = prop::collection::vec((select(places), 10u32..=100), 1..3);
            let states: Vec<_> = g
                .components
                .iter()
                .map(|(z, _, _)| prop::option::weighted(0.9, component_state_in(ZONES[*z].into())))
                .collect();
            (
                Just(g),
                violations,
                hypotheses,
                guard_state(names, RECENT_KINDS.to_vec(), now),
                states,
            )
        })
        .prop_map(move |(g, violations, hypotheses, guard, states)| {
            let yaml = g.yaml();
            let charter = charter_from(&yaml);
            let violations: Vec<Violation> = violations
                .into_iter()
                .map(|(c, o, s)| {
                    violation(o, &c)
                        .firing(s)
                        .since(now.minus(Duration::from_secs(120)))
                        .value(2.5)
                        .build()
                })
                .collect();
            let hypotheses = hypotheses
                .into_iter()
                .map(|(c, p)| {
                    let cause = if Placement::parse(&c).is_some() {
                        CauseClass::Infrastructure
                    } else {
                        CauseClass::Overload
                    };
                    hypothesis(&c, cause, f64::from(p) / 100.0)
                })
                .collect();
            let states = g
                .names()
                .into_iter()
                .zip(states)
                .filter_map(|(c, s)| Some((c, s?)))
                .collect();
            Case {
                yaml,
                charter,
                incident: incident(1)
                    .opened_at(now.minus(Duration::from_secs(60)))
                    .state(IncidentState::Diagnosed)
                    .violations(violations.iter().map(Violation::key))
                    .build(),
                diagnosis: diagnosis(1, now, hypotheses),
                violations,
                guard,
                states,
            }
        })
}

fn run(c: &Case) -> Decision {
    decide(PlanInput {
        charter: &c.charter,
        incident: &c.incident,
        diagnosis: &c.diagnosis,
        violations: &c.violations,
        knowledge: &KnowledgeView::new(),
        guard: &c.guard,
        states: &c.states,
        tried: &[],
        refuted: &[],
        policy_id: PolicyId(1),
        now: Timestamp::from_secs(NOW_SECS),
    })
}

/// Failover after failover on a component is a reversal (DESIGN.md §3).
fn reversals(c: &Case, component: &str) -> usize {
    let rails = &c.charter.guardrails;
    let now = Timestamp::from_secs(NOW_SECS);
    let mut seq: Vec<ActionKind> = c
        .guard
        .recent_actions
        .iter()
        .filter(|(x, k, t)| {
            x == component
                && now.since(*t) < rails.oscillation_window
                && matches!(
                    k,
                    ActionKind::ScaleOut | ActionKind::ScaleIn | ActionKind::Failover
                )
        })
        .map(|(_, k, _)| *k)
        .collect();
    seq.push(ActionKind::Failover);
    seq.windows(2)
        .filter(|w| {
            matches!(
                (w[0], w[1]),
                (ActionKind::ScaleOut, ActionKind::ScaleIn)
                    | (ActionKind::ScaleIn, ActionKind::ScaleOut)
                    | (ActionKind::Failover, ActionKind::Failover)
            )
        })
        .count()
}

/// The group policy of a decision, if it made one: (placement, policy).
fn group_of(d: &Decision) -> Option<&charter_model::Policy> {
    match d {
        Decision::Act(p)
            if p.context
                .as_ref()
                .is_some_and(|c| c.cause == CauseClass::Infrastructure) =>
        {
            Some(p)
        }
        _ => None,
    }
}

fn check(c: &Case, d: &Decision) -> Result<(), String> {
    let Some(p) = group_of(d) else {
        return Ok(());
    };
    let rails = &c.charter.guardrails;
    let g = &c.guard;
    let now = Timestamp::from_secs(NOW_SECS);
    let fail = |m: String| Err(format!("{m}\npolicy: {p:#?}"));
    // One placement's members, each once, each a failover.
    let places: Vec<Placement> = c
        .diagnosis
        .hypotheses
        .iter()
        .filter_map(|h| Placement::parse(&h.component))
        .collect();
    let Some(place) = places.iter().find(|pl| {
        let members: Vec<&str> = pl
            .members(&c.charter)
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        p.actions
            .iter()
            .all(|a| members.contains(&a.component.as_str()))
    }) else {
        return fail("steps outside every hypothesised zone or node".into());
    };
    let mut seen = HashSet::new();
    for a in &p.actions {
        if a.kind != ActionKind::Failover || !seen.insert(a.component.clone()) {
            return fail(format!(
                "step {a} is not one failover per member of {place}"
            ));
        }
    }
    if p.waits_secs.iter().any(|w| *w > 0) {
        return fail("a group policy waits between its steps".into());
    }
    // Guardrails, every step.
    let recent: Vec<_> = g
        .recent_actions
        .iter()
        .filter(|(_, _, t)| now.since(*t) < Duration::from_secs(3600))
        .collect();
    if recent.len() + p.actions.len() > rails.max_actions_per_hour as usize {
        return fail("exceeds max_actions_per_hour".into());
    }
    if g.running.len() as u32 >= rails.max_concurrent {
        return fail("exceeds max_concurrent".into());
    }
    for a in &p.actions {
        let comp = &a.component;
        if g.quarantined.contains(comp) || g.frozen.contains(comp) || g.running.contains(comp) {
            return fail(format!("step on quarantined/frozen/running {comp}"));
        }
        if recent
            .iter()
            .any(|(x, _, t)| x == comp && now.since(*t) < rails.cooldown)
        {
            return fail(format!("step on {comp} within its cooldown"));
        }
        let state = c.states.get(comp).cloned().unwrap_or_default();
        if state.standby_zone.is_none() {
            return fail(format!("failover of {comp} without a standby zone"));
        }
        if reversals(c, comp) >= rails.max_reversals as usize {
            return fail(format!("failover of {comp} oscillates"));
        }
        let declares = c
            .charter
            .objectives
            .iter()
            .any(|o| o.components.contains(comp) && o.remedies.contains(&ActionKind::Failover));
        if !declares {
            return fail(format!("{comp} does not declare failover"));
        }
    }
    // The floor, and the cost of every step in the total.
    let step_cost = c
        .charter
        .action(ActionKind::Failover)
        .weighted_cost(rails.risk_weight);
    if (p.cost - step_cost * p.actions.len() as f64).abs() > 1e-6 {
        return fail(format!("cost {} is not the sum of its steps", p.cost));
    }
    if !(p.score > 0.0 && p.score >= rails.min_margin) {
        return fail(format!("score {} below the margin", p.score));
    }
    // Approval, judged on the whole policy.
    match (c.charter.mode, &p.approval) {
        (Mode::Shadow, ApprovalState::NotExecuted)
        | (Mode::Supervised, ApprovalState::Pending)
        | (Mode::Autonomous, ApprovalState::Pending) => {}
        (Mode::Autonomous, ApprovalState::AutoApproved) => {
            let severity = c
                .violations
                .iter()
                .filter(|v| p.targets.contains(&v.key()))
                .filter(|v| matches!(v.state, ViolationState::Firing | ViolationState::Pending))
                .filter_map(|v| v.severity)
                .max()
                .unwrap_or(Severity::Warning);
            let kinds_ok = rails
                .auto_approve_kinds
                .as_ref()
                .is_none_or(|ks| p.actions.iter().all(|a| ks.contains(&a.kind)));
            if c.charter.action(ActionKind::Failover).approval == Approval::Required
                || p.cost > rails.auto_approve_max_cost
                || !kinds_ok
                || severity > rails.auto_approve_max_severity
            {
                return fail("auto-approved beyond the charter's limits".into());
            }
        }
        (m, a) => return fail(format!("{m:?} mode policy is {a:?}")),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn a_group_policy_never_breaks_a_guardrail_or_an_approval_limit(c in case()) {
        let d = run(&c);
        check(&c, &d).map_err(TestCaseError::fail)?;
    }
}

/// The property is exercised: over a fixed sample, group policies of several steps
/// are decided, auto-approved and held for approval, and members are left out.
#[test]
fn the_cases_make_group_policies() {
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let (mut groups, mut multi, mut auto, mut pending, mut left_out) = (0, 0, 0, 0, 0);
    for _ in 0..CASES {
        let c = strategy.new_tree(&mut runner).expect("a case").current();
        let d = run(&c);
        if let Some(p) = group_of(&d) {
            groups += 1;
            multi += usize::from(p.actions.len() >= 2);
            auto += usize::from(p.approval == ApprovalState::AutoApproved);
            pending += usize::from(p.approval == ApprovalState::Pending);
            left_out += usize::from(
                p.rejected
                    .iter()
                    .any(|r| r.reason.starts_with("left out of the")),
            );
        }
    }
    assert!(groups > CASES as usize / 20, "only {groups} group policies");
    assert!(
        multi > CASES as usize / 40 && auto > 0 && pending > 0 && left_out > 0,
        "multi {multi}, auto {auto}, pending {pending}, left out {left_out}"
    );
}
