//! Properties of [`decide`] over random charters, diagnoses and guard states.
//!
//! Each case draws a charter (components with replica limits, objectives whose
//! remedies are random action kinds, action costs and approval rules, guardrails),
//! a guard state (recent actions, running executions, frozen and quarantined
//! components, pause, blindness), component states, violations (some on undeclared
//! components or objectives, some Unknown or resolved) and hypotheses (some naming
//! undeclared components). Whatever the planner decides must respect every
//! guardrail. Cases come from `proptest` strategies, so a failure shrinks to a small
//! charter with few violations and is replayed first on the next run.

use charter_model::PolicyId;
use charter_model::{
    ActionKind, ApprovalState, Charter, ComponentState, Diagnosis, Incident, IncidentState, Mode,
    Timestamp, Violation, ViolationState,
};
use charter_plan::{Decision, GuardState, KnowledgeView, PlanInput, decide};
use charter_testkit::strategies::{
    action_kind, cause_class, component_state, guard_state, violation,
};
use charter_testkit::{charter_from, diagnosis, hypothesis, incident};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Duration;

const CASES: u32 = 1200;
const NOW_SECS: i64 = 1_700_000_000;
const OBJECTIVES: [&str; 3] = ["lat", "err", "mem"];
/// The kinds in the guard state's history: those that can reverse each other, and a
/// restart.
const RECENT_KINDS: [ActionKind; 4] = [
    ActionKind::ScaleOut,
    ActionKind::ScaleIn,
    ActionKind::Failover,
    ActionKind::Restart,
];

/// One component of a generated charter.
#[derive(Debug, Clone)]
struct ComponentGen {
    /// `depends[j]`: whether it depends on component `j` (only later ones count, so
    /// the graph has no cycle).
    depends: Vec<bool>,
    min: u64,
    /// `max - min`.
    extra: u64,
}

/// One action kind's entry in a generated charter (tenths where the charter has a
/// fraction).
#[derive(Debug, Clone)]
struct ActionGen {
    required: bool,
    disruption: u64,
    resource: u64,
    risk: u64,
    step: u64,
    time_to_effect_secs: u64,
}

/// A generated charter's guardrails (tenths where the charter has a fraction).
#[derive(Debug, Clone)]
struct RailsGen {
    per_hour: u64,
    cooldown_secs: u64,
    concurrent: u64,
    max_cost: u64,
    /// `auto_approve_kinds`: per kind in catalogue order, whether it is listed.
    kinds: Vec<bool>,
    max_severity: &'static str,
    restart_share: u64,
    scale_step: u64,
    window_secs: u64,
    reversals: u64,
    risk_weight: u64,
    /// `min_success_probability_irreversible`, in tenths.
    floor: u64,
    /// `min_margin`, in tenths.
    margin: u64,
}

/// A generated charter, written out by [`CharterGen::yaml`].
#[derive(Debug, Clone)]
struct CharterGen {
    mode: &'static str,
    components: Vec<ComponentGen>,
    /// Per objective of [`OBJECTIVES`].
    remedies: Vec<Vec<ActionKind>>,
    /// Per kind of [`ActionKind::ALL`].
    actions: Vec<ActionGen>,
    rails: RailsGen,
}

impl CharterGen {
    fn names(&self) -> Vec<String> {
        (0..self.components.len())
            .map(|i| format!("c{i}"))
            .collect()
    }

    fn yaml(&self) -> String {
        let names = self.names();
        let mut y = format!("name: prop\nmode: {}\ncomponents:\n", self.mode);
        for (i, (c, g)) in names.iter().zip(&self.components).enumerate() {
            let deps: Vec<&str> = names
                .iter()
                .enumerate()
                .skip(i + 1)
                .filter(|(j, _)| g.depends[*j])
                .map(|(_, d)| d.as_str())
                .collect();
            let _ = writeln!(
                y,
                "  - {{ name: {c}, depends_on: [{}], replicas: {{ min: {}, max: {} }} }}",
                deps.join(", "),
                g.min,
                g.min + g.extra
            );
        }
        y.push_str("objectives:\n");
        for (o, remedies) in OBJECTIVES.iter().zip(&self.remedies) {
            let remedies: Vec<&str> = remedies.iter().map(|k| k.as_str()).collect();
            let _ = writeln!(
                y,
                "  - {{ name: {o}, metric: m_{o}, above: {{ warning: 1, critical: 2 }}, remedies: [{}] }}",
                remedies.join(", ")
            );
        }
        y.push_str("actions:\n");
        for (k, a) in ActionKind::ALL.iter().zip(&self.actions) {
            let approval = if a.required { "required" } else { "auto" };
            let _ = writeln!(
                y,
                "  {k}: {{ disruption: {}, resource: {}, risk: {}, step: {}, time_to_effect: {}s, approval: {approval}, params: {{ rate: \"100\", key: pool, value: \"9\" }} }}",
                a.disruption as f64 / 10.0,
                a.resource as f64 / 10.0,
                a.risk as f64 / 10.0,
                a.step,
                a.time_to_effect_secs,
            );
        }
        let r = &self.rails;
        let kinds: Vec<&str> = ActionKind::ALL
            .iter()
            .zip(&r.kinds)
            .filter(|(_, listed)| **listed)
            .map(|(k, _)| k.as_str())
            .collect();
        let _ = writeln!(
            y,
            "guardrails: {{ max_actions_per_hour: {}, cooldown: {}s, max_concurrent: {}, auto_approve_max_cost: {}, auto_approve_kinds: [{}], auto_approve_max_severity: {}, max_restart_share: {}, max_scale_step: {}, oscillation_window: {}s, max_reversals: {}, risk_weight: {}, min_success_probability_irreversible: {}, min_margin: {} }}",
            r.per_hour,
            r.cooldown_secs,
            r.concurrent,
            r.max_cost,
            kinds.join(", "),
            r.max_severity,
            r.restart_share as f64 / 10.0,
            r.scale_step,
            r.window_secs,
            r.reversals,
            r.risk_weight as f64 / 10.0,
            r.floor as f64 / 10.0,
            r.margin as f64 / 10.0,
        );
        y
    }
}

fn charter_gen() -> impl Strategy<Value = CharterGen> {
    let component = (
        prop::collection::vec(prop::bool::weighted(0.4), 7),
        1u64..=3,
        0u64..8,
    )
        .prop_map(|(depends, min, extra)| ComponentGen {
            depends,
            min,
            extra,
        });
    let action = (
        prop::bool::weighted(0.2),
        0u64..40,
        0u64..30,
        0u64..30,
        1u64..=6,
        10u64..310,
    )
        .prop_map(
            |(required, disruption, resource, risk, step, time_to_effect_secs)| ActionGen {
                required,
                disruption,
                resource,
                risk,
                step,
                time_to_effect_secs,
            },
        );
    let rails = (
        (1u64..=8, 0u64..900, 1u64..=3, 0u64..10),
        prop::collection::vec(prop::bool::weighted(0.7), ActionKind::ALL.len()),
        select(vec!["warning", "critical"]),
        (1u64..=10, 1u64..=4, 60u64..7260, 1u64..=3, 0u64..30),
        (0u64..=9, 0u64..=30),
    )
        .prop_map(
            |(
                (per_hour, cooldown_secs, concurrent, max_cost),
                kinds,
                max_severity,
                (restart_share, scale_step, window_secs, reversals, risk_weight),
                (floor, margin),
            )| RailsGen {
                per_hour,
                cooldown_secs,
                concurrent,
                max_cost,
                kinds,
                max_severity,
                restart_share,
                scale_step,
                window_secs,
                reversals,
                risk_weight,
                floor,
                margin,
            },
        );
    (
        prop_oneof![
            2 => Just("autonomous"),
            1 => Just("supervised"),
            1 => Just("shadow"),
        ],
        prop::collection::vec(component, 2..=7),
        prop::collection::vec(
            prop::collection::vec(action_kind(), 1..=5),
            OBJECTIVES.len(),
        ),
        prop::collection::vec(action, ActionKind::ALL.len()),
        rails,
    )
        .prop_map(|(mode, components, remedies, actions, rails)| CharterGen {
            mode,
            components,
            remedies,
            actions,
            rails,
        })
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

/// The charter as its text (its parsed form says the same at ten times the length).
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
        .prop_flat_map(move |spec| {
            let names = spec.names();
            // Some names the charter does not declare: they must never be acted on.
            let mut anywhere = names.clone();
            anywhere.push("ghost".into());
            let objective = prop_oneof![
                9 => select(OBJECTIVES.map(String::from).to_vec()),
                1 => Just("undeclared_objective".to_string()),
            ];
            let violations = prop::collection::vec(
                violation(objective, select(anywhere.clone())).prop_map(move |mut v| {
                    v.since = now.minus(Duration::from_secs(120));
                    v.firing_since = Some(now.minus(Duration::from_secs(60)));
                    v.value = Some(2.5);
                    v.worst = Some(3.0);
                    v
                }),
                0..6,
            );
            let hypotheses = prop::collection::vec(
                (select(anywhere), cause_class(), 0u32..=100).prop_map(
                    |(component, cause, percent)| {
                        hypothesis(&component, cause, f64::from(percent) / 100.0)
                    },
                ),
                0..4,
            );
            let states =
                prop::collection::vec(prop::option::weighted(0.85, component_state()), names.len());
            (
                Just(spec),
                violations,
                hypotheses,
                guard_state(names, RECENT_KINDS.to_vec(), now),
                states,
            )
        })
        .prop_map(move |(spec, violations, hypotheses, guard, states)| {
            let yaml = spec.yaml();
            let charter = charter_from(&yaml);
            let states = spec
                .names()
                .into_iter()
                .zip(states)
                .filter_map(|(c, s)| Some((c, s?)))
                .collect();
            let incident = incident(1)
                .opened_at(now.minus(Duration::from_secs(60)))
                .state(IncidentState::Diagnosed)
                .violations(violations.iter().map(Violation::key))
                .build();
            Case {
                yaml,
                charter,
                incident,
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

/// Every guardrail of DESIGN.md §3 that a single decision can break.
fn check(c: &Case, d: &Decision) -> Result<(), String> {
    let Decision::Act(p) = d else {
        return Ok(());
    };
    let rails = &c.charter.guardrails;
    let g = &c.guard;
    let now = Timestamp::from_secs(NOW_SECS);
    let fail = |m: String| {
        Err(format!(
            "{m}\nguardrails: {:?}\nviolations: {:?}\npolicy: {p:#?}",
            c.charter.guardrails, c.violations
        ))
    };
    if g.paused || g.blind {
        return fail("acted while paused or blind".into());
    }
    if p.targets.is_empty() {
        return fail("acted with an empty target set".into());
    }
    for t in &p.targets {
        let ok = c.violations.iter().any(|v| {
            v.key() == *t
                && matches!(v.state, ViolationState::Firing | ViolationState::Pending)
                && c.charter.component(&v.component).is_some()
                && c.charter.objective(&v.objective).is_some()
        });
        if !ok {
            return fail(format!(
                "target {t} is not a firing/pending declared violation"
            ));
        }
    }
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
        let Some(decl) = c.charter.component(comp) else {
            return fail(format!("acts on undeclared {comp}"));
        };
        if g.quarantined.contains(comp) || g.frozen.contains(comp) || g.running.contains(comp) {
            return fail(format!("acts on quarantined/frozen/busy {comp}"));
        }
        if recent
            .iter()
            .any(|(x, _, t)| x == comp && now.since(*t) < rails.cooldown)
        {
            return fail(format!("acts on {comp} within its cooldown"));
        }
        let state = c.states.get(comp).cloned().unwrap_or_default();
        let limits = decl.replicas.expect("generated with limits");
        let step = |a: &charter_model::Action| -> u32 {
            a.param("step")
                .and_then(|s| s.parse().ok())
                .expect("scale has a step")
        };
        match a.kind {
            ActionKind::ScaleOut => {
                let s = step(a);
                if s == 0 || s > rails.max_scale_step {
                    return fail(format!("scale_out step {s} beyond max_scale_step"));
                }
                if let Some(cur) = state.replicas
                    && cur + s > limits.max
                {
                    return fail(format!("scale_out to {} > max {}", cur + s, limits.max));
                }
            }
            ActionKind::ScaleIn => {
                let s = step(a);
                let cur = state.replicas.expect("scale_in needs a known count");
                if s == 0 || s > rails.max_scale_step || cur - s < limits.min {
                    return fail(format!("scale_in by {s} from {cur} breaks limits"));
                }
            }
            ActionKind::Restart => {
                let at_once: u32 = a
                    .param("max_unavailable")
                    .and_then(|s| s.parse().ok())
                    .expect("restart has max_unavailable");
                let replicas = state.replicas.unwrap_or(limits.min).max(1);
                if at_once == 0
                    || f64::from(at_once) > f64::from(replicas) * rails.max_restart_share
                {
                    return fail(format!(
                        "restart {at_once} of {replicas} at once > share {}",
                        rails.max_restart_share
                    ));
                }
            }
            ActionKind::Rollback if state.previous_version.is_none() => {
                return fail("rollback without a previous version".into());
            }
            ActionKind::Failover if state.standby_zone.is_none() => {
                return fail("failover without a standby zone".into());
            }
            _ => {}
        }
    }
    // The floor for acting: every policy clears its cost by the margin, and one with
    // an irreversible step is likely enough to work (no exploration here, so the
    // policy's P(success) is the estimate the floor judges).
    if !(p.score > 0.0 && p.score >= rails.min_margin) {
        return fail(format!(
            "score {} below the margin {}",
            p.score, rails.min_margin
        ));
    }
    if (p.expected_benefit - p.cost - p.score).abs() > 1e-9 {
        return fail("score is not benefit - cost".into());
    }
    if p.actions.iter().any(|a| !a.kind.is_reversible())
        && p.p_success < rails.min_success_probability_irreversible
    {
        return fail(format!(
            "irreversible step at p {} below the floor {}",
            p.p_success, rails.min_success_probability_irreversible
        ));
    }
    // Oscillation: the main action never makes max_reversals reversals.
    let main = &p.actions[p.main];
    let mut seq: Vec<ActionKind> = g
        .recent_actions
        .iter()
        .filter(|(x, k, t)| {
            *x == main.component
                && now.since(*t) < rails.oscillation_window
                && matches!(
                    k,
                    ActionKind::ScaleOut | ActionKind::ScaleIn | ActionKind::Failover
                )
        })
        .map(|(_, k, _)| *k)
        .collect();
    seq.push(main.kind);
    let reversals = seq
        .windows(2)
        .filter(|w| {
            matches!(
                (w[0], w[1]),
                (ActionKind::ScaleOut, ActionKind::ScaleIn)
                    | (ActionKind::ScaleIn, ActionKind::ScaleOut)
                    | (ActionKind::Failover, ActionKind::Failover)
            )
        })
        .count();
    if reversals >= rails.max_reversals as usize {
        return fail(format!("oscillation not stopped: {seq:?}"));
    }
    // Approval follows the mode and the charter's limits.
    match (c.charter.mode, &p.approval) {
        (Mode::Shadow, ApprovalState::NotExecuted) => {}
        (Mode::Shadow, a) => return fail(format!("shadow mode policy is {a:?}")),
        (Mode::Supervised, ApprovalState::Pending) => {}
        (Mode::Supervised, a) => return fail(format!("supervised policy is {a:?}")),
        (Mode::Autonomous, ApprovalState::AutoApproved) => {
            let severity = c
                .violations
                .iter()
                .filter(|v| {
                    p.targets.contains(&v.key())
                        && matches!(v.state, ViolationState::Firing | ViolationState::Pending)
                })
                .filter_map(|v| v.severity)
                .max();
            let required = p
                .actions
                .iter()
                .any(|a| c.charter.action(a.kind).approval == charter_model::Approval::Required);
            let kinds_ok = rails
                .auto_approve_kinds
                .as_ref()
                .is_none_or(|ks| p.actions.iter().all(|a| ks.contains(&a.kind)));
            if required
                || p.cost > rails.auto_approve_max_cost
                || !kinds_ok
                || severity.is_some_and(|s| s > rails.auto_approve_max_severity)
            {
                return fail("auto-approved beyond the charter's limits".into());
            }
        }
        (Mode::Autonomous, ApprovalState::Pending) => {}
        (Mode::Autonomous, a) => return fail(format!("autonomous policy is {a:?}")),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn a_plan_never_exceeds_a_guardrail(c in case()) {
        let d = run(&c);
        check(&c, &d).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn an_empty_or_unknown_target_never_acts(c in case()) {
        // Keep only violations that are not targets: Unknown, resolved, or on
        // undeclared components or objectives.
        let mut without = c.clone();
        without.violations.retain(|v| {
            !matches!(v.state, ViolationState::Firing | ViolationState::Pending)
                || c.charter.component(&v.component).is_none()
                || c.charter.objective(&v.objective).is_none()
        });
        let d = run(&without);
        prop_assert!(
            !matches!(d, Decision::Act(_)),
            "acted without a target: {d:#?}"
        );
        // And hypotheses naming undeclared components are never targets.
        let mut ghosts = c;
        for h in &mut ghosts.diagnosis.hypotheses {
            h.component = "ghost".into();
        }
        let d = run(&ghosts);
        prop_assert!(
            !matches!(d, Decision::Act(_)),
            "acted on an undeclared root cause: {d:#?}"
        );
    }
}

/// The guardrail property must be exercised, not vacuous: over a fixed sample of
/// its cases the planner acts often, and chooses nearly every kind.
#[test]
fn the_cases_make_the_planner_act() {
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let mut acted = 0;
    let mut kinds = HashSet::new();
    for _ in 0..CASES {
        let c = strategy.new_tree(&mut runner).expect("a case").current();
        if let Decision::Act(p) = run(&c) {
            acted += 1;
            kinds.extend(p.actions.iter().map(|a| a.kind));
        }
    }
    assert!(acted > CASES / 20, "only {acted} of {CASES} cases acted");
    assert!(kinds.len() >= 7, "only {kinds:?} were ever chosen");
}
