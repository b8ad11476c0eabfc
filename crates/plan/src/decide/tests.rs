use super::*;
use charter_model::{IncidentState, PolicyContext, Refutation, Severity, Signal};
use charter_testkit::{charter_from, diagnosis, hypothesis, incident, violation};

const CHARTER: &str = r#"name: t
mode: autonomous
components:
  - { name: api, depends_on: [db], replicas: { min: 1, max: 6 } }
  - { name: db }
objectives:
  - name: latency
    metric: lat
    signal: latency
    above: { warning: 0.5, critical: 1.0 }
    remedies: [restart, scale_out, rollback]
  - name: errors
    metric: err
    signal: errors
    above: { warning: 0.05, critical: 0.2 }
    remedies: [rollback, restart, failover, circuit_break]
actions:
  failover: { cost: 9 }
guardrails: { cooldown: 5m, max_actions_per_hour: 3, max_concurrent: 1, auto_approve_max_cost: 5 }
"#;

struct Fixture {
    charter: Charter,
    incident: Incident,
    diagnosis: Diagnosis,
    violations: Vec<Violation>,
    knowledge: KnowledgeView,
    guard: GuardState,
    states: HashMap<String, ComponentState>,
    tried: Vec<Action>,
    refuted: Vec<Refutation>,
}

impl Fixture {
    fn new(root: &str, cause: CauseClass, objective: &str) -> Self {
        let signal = if objective == "latency" {
            Signal::Latency
        } else {
            Signal::Errors
        };
        let violation = violation(objective, root)
            .signal(signal)
            .firing(Severity::Critical)
            .since(Timestamp::from_secs(0))
            .value(2.0)
            .build();
        let mut hypothesis = hypothesis(root, cause, 0.8);
        hypothesis.symptoms = vec![violation.key()];
        Fixture {
            charter: charter_from(CHARTER),
            incident: incident(7)
                .state(IncidentState::Diagnosed)
                .violations([violation.key()])
                .root_cause(root)
                .build(),
            diagnosis: diagnosis(7, Timestamp::from_secs(60), vec![hypothesis]),
            violations: vec![violation],
            knowledge: KnowledgeView::new(),
            guard: GuardState::default(),
            states: HashMap::from([(
                root.to_string(),
                ComponentState {
                    replicas: Some(3),
                    standby_zone: Some("b".into()),
                    ..Default::default()
                },
            )]),
            tried: vec![],
            refuted: vec![],
        }
    }

    fn decide(&self) -> Decision {
        decide(PlanInput {
            charter: &self.charter,
            incident: &self.incident,
            diagnosis: &self.diagnosis,
            violations: &self.violations,
            knowledge: &self.knowledge,
            guard: &self.guard,
            states: &self.states,
            tried: &self.tried,
            refuted: &self.refuted,
            policy_id: PolicyId(1),
            now: Timestamp::from_secs(60),
        })
    }
}

fn policy(d: Decision) -> Policy {
    match d {
        Decision::Act(p) => p,
        Decision::NoAction { reason, rejected }
        | Decision::Stop {
            reason, rejected, ..
        } => {
            panic!("no action: {reason} {rejected:#?}")
        }
    }
}

#[test]
fn overload_scales_out_even_when_restart_is_listed_first() {
    let p = policy(Fixture::new("api", CauseClass::Overload, "latency").decide());
    assert_eq!(p.actions[0].kind, ActionKind::ScaleOut);
    assert_eq!(p.actions[0].param("step"), Some("2"));
    assert_eq!(p.approval, ApprovalState::AutoApproved);
    assert!(
        p.rejected
            .iter()
            .any(|r| r.action.kind == ActionKind::Restart && r.reason == "lower score")
    );
    assert!(p.rationale.contains("p(success)"), "{}", p.rationale);
}

#[test]
fn scale_step_is_clipped_to_max_replicas() {
    let mut f = Fixture::new("api", CauseClass::Overload, "latency");
    f.states.get_mut("api").expect("state").replicas = Some(5);
    let p = policy(f.decide());
    assert_eq!(p.actions[0].param("step"), Some("1"));
    f.states.get_mut("api").expect("state").replicas = Some(6);
    // At max replicas the next remedy is a restart at p 0.15 for an overload: below
    // the floor for irreversible actions, so nothing is done.
    match f.decide() {
        Decision::NoAction { reason, rejected } => {
            assert!(
                reason.starts_with("no candidate clears the floor for acting: restart(api)"),
                "{reason}"
            );
            assert!(rejected.iter().any(|r| r.reason.contains("max replicas")));
        }
        d => panic!("{d:#?}"),
    }
}

#[test]
fn rollback_needs_a_previous_version() {
    let mut f = Fixture::new("api", CauseClass::BadChange, "errors");
    let rejected = match f.decide() {
        Decision::Act(p) => {
            assert_ne!(p.actions[0].kind, ActionKind::Rollback);
            p.rejected
        }
        Decision::NoAction { rejected, .. } | Decision::Stop { rejected, .. } => rejected,
    };
    assert!(
        rejected
            .iter()
            .any(|r| r.action.kind == ActionKind::Rollback
                && r.reason.contains("no previous version"))
    );
    f.states.get_mut("api").expect("state").previous_version = Some("v1".into());
    assert_eq!(policy(f.decide()).actions[0].kind, ActionKind::Rollback);
}

#[test]
fn outage_fails_over_but_its_cost_needs_approval() {
    let p = policy(Fixture::new("api", CauseClass::Outage, "errors").decide());
    assert_eq!(p.actions[0].kind, ActionKind::Failover);
    assert_eq!(p.approval, ApprovalState::Pending);
}

#[test]
fn cooldown_and_limits_reject() {
    let mut f = Fixture::new("api", CauseClass::Overload, "latency");
    f.guard
        .recent_actions
        .push(("api".into(), ActionKind::Restart, Timestamp::from_secs(0)));
    match f.decide() {
        Decision::NoAction { rejected, .. } => {
            assert!(
                rejected
                    .iter()
                    .any(|r| r.reason.contains("cooldown on api")),
                "{rejected:#?}"
            )
        }
        d => panic!("{d:?}"),
    }
    let mut f = Fixture::new("api", CauseClass::Overload, "latency");
    f.guard.running.insert("db".into());
    assert!(
        matches!(f.decide(), Decision::NoAction { .. }),
        "max_concurrent is 1"
    );
}

#[test]
fn a_component_a_pending_policy_will_act_on_is_left_alone() {
    // Another incident's policy awaits approval for api: nothing else starts there
    // meanwhile, and the reason says so.
    let f = Fixture::new("api", CauseClass::Overload, "latency");
    assert!(matches!(f.decide(), Decision::Act(_)));
    let mut f = Fixture::new("api", CauseClass::Overload, "latency");
    f.guard.awaiting.insert("api".into());
    match f.decide() {
        Decision::NoAction { rejected, .. } => assert!(
            rejected
                .iter()
                .any(|r| r.reason == "a policy awaiting approval will act on api"),
            "{rejected:#?}"
        ),
        d => panic!("{d:?}"),
    }
}

#[test]
fn the_cooldown_holds_whatever_the_order_of_recent_actions() {
    // Newest first: the cooldown is judged on the latest action on the component, not
    // on the last one in the list (found by the test kit's shrinking).
    let mut f = Fixture::new("api", CauseClass::Overload, "latency");
    f.guard.recent_actions = vec![
        ("api".into(), ActionKind::ScaleOut, Timestamp::from_secs(30)),
        (
            "api".into(),
            ActionKind::Restart,
            Timestamp::from_secs(-600),
        ),
    ];
    match f.decide() {
        Decision::NoAction { rejected, .. } => assert!(
            rejected
                .iter()
                .any(|r| r.reason.contains("cooldown on api")),
            "{rejected:#?}"
        ),
        d => panic!("acted inside the cooldown: {d:?}"),
    }
}

#[test]
fn paused_blind_and_frozen_take_no_action() {
    for set in [
        |g: &mut GuardState| g.paused = true,
        |g: &mut GuardState| g.blind = true,
        |g: &mut GuardState| {
            g.frozen.insert("api".into());
        },
    ] {
        let mut f = Fixture::new("api", CauseClass::Overload, "latency");
        set(&mut f.guard);
        assert!(matches!(f.decide(), Decision::NoAction { .. }));
    }
}

#[test]
fn an_undeclared_root_cause_is_never_a_target() {
    let mut f = Fixture::new("api", CauseClass::Overload, "latency");
    f.diagnosis.hypotheses[0].component = "mystery".into();
    assert!(matches!(f.decide(), Decision::NoAction { .. }));
}

#[test]
fn modes_decide_approval() {
    let mut f = Fixture::new("api", CauseClass::Overload, "latency");
    f.charter.mode = Mode::Shadow;
    assert_eq!(policy(f.decide()).approval, ApprovalState::NotExecuted);
    f.charter.mode = Mode::Supervised;
    assert_eq!(policy(f.decide()).approval, ApprovalState::Pending);
}

#[test]
fn learned_failures_change_the_choice() {
    let mut f = Fixture::new("api", CauseClass::Overload, "latency");
    for _ in 0..5 {
        let at = Timestamp::from_secs(0);
        let k = &mut f.knowledge;
        k.observe(
            ActionKind::ScaleOut,
            "latency",
            "api",
            charter_model::OutcomeClass::NoEffect,
            60.0,
            at,
        );
        k.observe(
            ActionKind::Restart,
            "latency",
            "api",
            charter_model::OutcomeClass::Resolved,
            60.0,
            at,
        );
    }
    assert_eq!(policy(f.decide()).actions[0].kind, ActionKind::Restart);
}

#[test]
fn tried_actions_are_not_repeated() {
    let mut f = Fixture::new("api", CauseClass::Overload, "latency");
    f.tried.push(Action::new(ActionKind::ScaleOut, "api"));
    let rejected = match f.decide() {
        Decision::Act(p) => {
            assert_ne!(p.actions[0].kind, ActionKind::ScaleOut);
            p.rejected
        }
        Decision::NoAction { rejected, .. } | Decision::Stop { rejected, .. } => rejected,
    };
    assert!(
        rejected
            .iter()
            .any(|r| r.action.kind == ActionKind::ScaleOut
                && r.reason == "already tried in this incident")
    );
    // With the floor lowered, the weak restart (p 0.15, score 0.24) acts instead.
    f.charter.guardrails.min_success_probability_irreversible = 0.1;
    f.charter.guardrails.min_margin = 0.0;
    assert_eq!(policy(f.decide()).actions[0].kind, ActionKind::Restart);
}

const BRIDGE: &str = r#"name: t
mode: autonomous
components:
  - { name: api, replicas: { min: 2, max: 10 } }
objectives:
  - name: latency
    metric: lat
    signal: latency
    above: { warning: 0.5, critical: 1.0 }
    remedies: [scale_out, throttle]
  - { name: l2, metric: l2, above: { warning: 1 }, remedies: [scale_out, throttle] }
  - { name: l3, metric: l3, above: { warning: 1 }, remedies: [scale_out, throttle] }
  - { name: l4, metric: l4, above: { warning: 1 }, remedies: [scale_out, throttle] }
  - { name: l5, metric: l5, above: { warning: 1 }, remedies: [scale_out, throttle] }
actions:
  scale_out: { cost: 2, step: 2, time_to_effect: 2m }
  throttle: { cost: 3, time_to_effect: 20s, params: { rate: "100" } }
guardrails: { auto_approve_max_cost: 10, max_actions_per_hour: 10 }
"#;

fn bridge_fixture() -> Fixture {
    let mut f = Fixture::new("api", CauseClass::Overload, "latency");
    f.charter = charter_from(BRIDGE);
    // A heavy incident: several critical symptoms on api.
    let v = f.violations[0].clone();
    for o in ["l2", "l3", "l4", "l5"] {
        let mut w = v.clone();
        w.objective = o.into();
        f.violations.push(w);
    }
    f
}

#[test]
fn slow_capacity_is_bridged_by_a_throttle_that_is_lifted_when_it_is_ready() {
    let p = policy(bridge_fixture().decide());
    let kinds: Vec<ActionKind> = p.actions.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [
            ActionKind::Throttle,
            ActionKind::ScaleOut,
            ActionKind::Throttle
        ],
        "{}",
        p.rationale
    );
    assert_eq!(p.main, 1, "scale_out is the action expected to resolve it");
    assert_eq!(p.waits_secs, vec![0, 0, 120]);
    assert_eq!(p.actions[2].param("rate"), Some("none"));
    assert!(p.rationale.contains("lift the throttle"), "{}", p.rationale);
}

#[test]
fn a_bridge_is_not_built_when_the_component_is_already_throttled() {
    let mut f = bridge_fixture();
    f.states.get_mut("api").expect("state").throttle_rate = Some(50.0);
    let p = policy(f.decide());
    assert_eq!(p.actions.len(), 1, "{}", p.rationale);
}

#[test]
fn a_policy_counts_all_its_steps_against_the_hourly_limit() {
    let mut f = bridge_fixture();
    f.charter.guardrails.max_actions_per_hour = 2;
    let p = policy(f.decide());
    assert_eq!(
        p.actions.len(),
        1,
        "the 3-step bridge would exceed 2 actions per hour"
    );
    assert!(
        p.rejected
            .iter()
            .any(|r| r.reason.contains("actions per hour"))
    );
}

#[test]
fn reversing_a_component_again_and_again_stops_automation_there() {
    let mut f = Fixture::new("api", CauseClass::Overload, "latency");
    f.charter.guardrails.cooldown = std::time::Duration::ZERO;
    f.charter.guardrails.max_reversals = 2;
    for (k, t) in [(ActionKind::ScaleOut, 0), (ActionKind::ScaleIn, 20)] {
        f.guard
            .recent_actions
            .push(("api".into(), k, Timestamp::from_secs(t)));
    }
    match f.decide() {
        Decision::Stop {
            component, reason, ..
        } => {
            assert_eq!(component, "api");
            assert!(reason.contains("oscillation"), "{reason}");
        }
        d => panic!("expected a stop, got {d:?}"),
    }
}

#[test]
fn blast_radius_bounds_restarts_and_scale_steps() {
    let mut f = Fixture::new("api", CauseClass::Leak, "latency");
    f.charter.guardrails.max_restart_share = 0.34;
    f.states.get_mut("api").expect("state").replicas = Some(6);
    let p = policy(f.decide());
    assert_eq!(p.actions[0].kind, ActionKind::Restart);
    assert_eq!(p.actions[0].param("max_unavailable"), Some("2"));
    // One replica: any restart takes all of it down at once.
    f.states.get_mut("api").expect("state").replicas = Some(1);
    let rejected = match f.decide() {
        Decision::Act(p) => p.rejected,
        Decision::NoAction { rejected, .. } | Decision::Stop { rejected, .. } => rejected,
    };
    assert!(
        rejected
            .iter()
            .any(|r| r.action.kind == ActionKind::Restart && r.reason.contains("max_restart_share")),
        "{rejected:#?}"
    );
    let mut f = Fixture::new("api", CauseClass::Overload, "latency");
    f.charter.guardrails.max_scale_step = 1;
    let p = policy(f.decide());
    assert_eq!(p.actions[0].param("step"), Some("1"));
}

#[test]
fn approval_limits_by_kind_and_severity() {
    let mut f = Fixture::new("api", CauseClass::Overload, "latency");
    f.charter.guardrails.auto_approve_kinds = Some(vec![ActionKind::Restart]);
    let p = policy(f.decide());
    assert_eq!(p.approval, ApprovalState::Pending);
    assert!(
        p.rationale.contains("auto_approve_kinds"),
        "{}",
        p.rationale
    );
    let mut f = Fixture::new("api", CauseClass::Overload, "latency");
    f.charter.guardrails.auto_approve_max_severity = Severity::Warning;
    let p = policy(f.decide());
    assert_eq!(
        p.approval,
        ApprovalState::Pending,
        "the violation is critical"
    );
}

#[test]
fn exploration_never_bypasses_guardrails_or_approvals() {
    use charter_model::OutcomeClass as C;
    use charter_model::charter::{Exploration, Learning};
    let mut chosen = HashSet::new();
    for seed in 0..200 {
        let mut f = Fixture::new("api", CauseClass::Outage, "errors");
        f.knowledge = KnowledgeView::with_learning(Learning {
            exploration: Exploration::Thompson,
            seed,
            ..Learning::default()
        });
        // Wide posteriors: one success and one failure for every remedy.
        for kind in [
            ActionKind::Rollback,
            ActionKind::Restart,
            ActionKind::Failover,
            ActionKind::CircuitBreak,
        ] {
            for class in [C::Resolved, C::Failed] {
                let at = Timestamp::from_secs(0);
                f.knowledge.observe(kind, "errors", "api", class, 60.0, at);
            }
        }
        f.states.get_mut("api").expect("api state").previous_version = Some("v1".into());
        if let Decision::Act(p) = f.decide() {
            let main = p.actions[p.main].kind;
            chosen.insert(main);
            // Failover costs 9 > auto_approve_max_cost 5: a human must approve it.
            if main == ActionKind::Failover {
                assert_eq!(p.approval, ApprovalState::Pending, "seed {seed}");
            }
        }
        // Rate limit reached: exploration cannot act anyway.
        let t = Timestamp::from_secs(30);
        f.guard.recent_actions = vec![("db".into(), ActionKind::Restart, t); 3];
        assert!(
            !matches!(f.decide(), Decision::Act(_)),
            "seed {seed} acted past the rate limit"
        );
        // Supervised: every explored policy waits for a human.
        f.guard.recent_actions.clear();
        f.charter.mode = Mode::Supervised;
        if let Decision::Act(p) = f.decide() {
            assert_eq!(p.approval, ApprovalState::Pending, "seed {seed}");
        }
    }
    assert!(chosen.len() >= 2, "exploration never varied: {chosen:?}");
}

/// Issue 16, item 3: an incident where the only applicable remedy is an irreversible
/// restart of orders with P(success) 0.12 and a score of 0.1 (benefit 3.1 - cost
/// 3.0). Rollback and failover come first in the remedies but have no previous
/// version or standby zone, so restart is third: prior 0.15 × 0.8 = 0.12.
const WEAK_RESTART: &str = r#"name: weak
mode: autonomous
components:
  - { name: orders, replicas: { min: 2, max: 6 } }
objectives:
  - name: error_ratio
    metric: err
    signal: errors
    above: { warning: 0.05, critical: 0.2 }
    remedies: [rollback, failover, restart]
actions:
  restart: { cost: 3, time_to_effect: 90s }
guardrails: { GUARDRAILS }
"#;

fn weak_restart(guardrails: &str) -> Fixture {
    let mut f = Fixture::new("orders", CauseClass::Overload, "errors");
    f.charter = charter_from(&WEAK_RESTART.replace("GUARDRAILS", guardrails));
    let v = violation("error_ratio", "orders")
        .signal(Signal::Errors)
        .firing(Severity::Critical)
        .since(Timestamp::from_secs(0))
        .value(0.3)
        .build();
    let mut h = hypothesis("orders", CauseClass::Overload, 0.96);
    h.symptoms = vec![v.key()];
    f.incident = incident(7)
        .state(IncidentState::Diagnosed)
        .violations([v.key()])
        .root_cause("orders")
        .build();
    f.diagnosis = diagnosis(7, Timestamp::from_secs(60), vec![h]);
    f.violations = vec![v];
    f.states = HashMap::from([(
        "orders".to_string(),
        ComponentState {
            replicas: Some(4),
            ..Default::default()
        },
    )]);
    f
}

#[test]
fn an_irreversible_restart_below_the_success_floor_is_not_taken() {
    // With the floor switched off the reproduction holds: the restart is chosen at
    // p 0.12, score 0.1.
    let off = weak_restart("min_success_probability_irreversible: 0, min_margin: 0");
    let p = policy(off.decide());
    assert_eq!(p.actions[0].kind, ActionKind::Restart);
    assert!((p.p_success - 0.12).abs() < 1e-9, "{}", p.p_success);
    assert!(
        (p.expected_benefit - 3.1).abs() < 0.05 && (p.cost - 3.0).abs() < 1e-9,
        "{p:?}"
    );
    // The charter's defaults: the irreversible floor decides, and says so.
    let (reason, rejected) = match weak_restart("").decide() {
        Decision::NoAction { reason, rejected } => (reason, rejected),
        d => panic!("the weak restart was taken: {d:#?}"),
    };
    assert!(
        reason.starts_with(
            "no candidate clears the floor for acting: restart(orders) not taken: success probability 0.12 below the floor 0.25 for irreversible actions"
        ),
        "{reason}"
    );
    let restart = rejected
        .iter()
        .find(|r| r.action.kind == ActionKind::Restart)
        .expect("restart is among the rejected");
    assert!(
        restart
            .reason
            .contains("guardrails.min_success_probability_irreversible"),
        "{}",
        restart.reason
    );
    // Below the probability floor lowered to 0.1, the margin decides.
    match weak_restart("min_success_probability_irreversible: 0.1").decide() {
        Decision::NoAction { reason, .. } => assert!(
            reason.contains(
                "restart(orders) not taken: score 0.1 (benefit 3.1 - cost 3.0) below the margin 0.5"
            ),
            "{reason}"
        ),
        d => panic!("the weak restart was taken: {d:#?}"),
    }
}

#[test]
fn the_floor_lets_a_weaker_reversible_remedy_act_instead() {
    // Scale-out scores below the restart here but is reversible: once the restart is
    // turned down by the floor, the next candidate is judged on its own.
    let mut f = weak_restart("");
    f.charter = charter_from(
        &WEAK_RESTART
            .replace(
                "remedies: [rollback, failover, restart]",
                "remedies: [rollback, failover, restart, scale_out]",
            )
            .replace(
                "restart: { cost: 3, time_to_effect: 90s }",
                "restart: { cost: 0.5, time_to_effect: 90s }\n  scale_out: { cost: 13, time_to_effect: 60s }",
            )
            .replace("GUARDRAILS", ""),
    );
    let p = policy(f.decide());
    assert_eq!(p.actions[0].kind, ActionKind::ScaleOut, "{p:#?}");
    let restart = p
        .rejected
        .iter()
        .find(|r| r.action.kind == ActionKind::Restart)
        .expect("restart is among the rejected");
    assert!(
        restart.score > Some(p.score),
        "the restart scored higher: {p:#?}"
    );
    assert!(
        restart
            .reason
            .starts_with("success probability 0.12 below the floor 0.25"),
        "{}",
        restart.reason
    );
}

#[test]
fn a_multi_step_policy_must_clear_its_cost_by_the_margin() {
    let mut f = bridge_fixture();
    let p = policy(f.decide());
    assert_eq!(p.actions.len(), 3, "the bridge is chosen: {p:#?}");
    let margin = p.score + 0.5;
    f.charter.guardrails.min_margin = margin;
    let rejected = match f.decide() {
        Decision::NoAction { reason, rejected } => {
            assert!(
                reason.starts_with("no candidate clears the floor for acting:"),
                "{reason}"
            );
            rejected
        }
        d => panic!("acted below the margin {margin}: {d:#?}"),
    };
    let bridge = rejected
        .iter()
        .find(|r| r.reason.contains("policy of 3 steps"))
        .expect("the bridge is rejected");
    assert!(
        bridge
            .reason
            .contains(&format!("below the margin {margin}")),
        "{}",
        bridge.reason
    );
}

#[test]
fn exploration_never_carries_an_irreversible_action_over_the_floor() {
    use charter_model::charter::{Exploration, Learning};
    // Thompson draws for the weak restart (mean 0.12) land above the floor for some
    // seeds; the floor judges the posterior mean, so none of them acts.
    let mut f = weak_restart("min_margin: 0");
    let mut high_draws = 0;
    for seed in 0..200 {
        f.knowledge = KnowledgeView::with_learning(Learning {
            exploration: Exploration::Thompson,
            seed,
            ..Learning::default()
        });
        let (p, _) = f.knowledge.success(
            ActionKind::Restart,
            "error_ratio",
            "orders",
            0.12,
            Timestamp::from_secs(60),
        );
        if p >= f.charter.guardrails.min_success_probability_irreversible {
            high_draws += 1;
        }
        if let Decision::Act(p) = f.decide() {
            panic!("seed {seed}: explored into {p:#?}");
        }
    }
    assert!(
        high_draws > 0,
        "no draw reached the floor: the test proves nothing"
    );
}

/// Issue 16, item 7: a failover decided for "error_ratio, cause outage" carries that
/// context, although another objective of the same component sorts first among the
/// targets.
#[test]
fn the_policy_carries_the_objective_and_cause_it_was_decided_for() {
    const CTX: &str = r#"name: ctx
mode: autonomous
components:
  - { name: db, replicas: { min: 2, max: 4 } }
objectives:
  - name: availability
    metric: up
    signal: availability
    below: { warning: 0.9, critical: 0.5 }
    remedies: [scale_out]
  - name: error_ratio
    metric: err
    signal: errors
    above: { warning: 0.05, critical: 0.2 }
    remedies: [failover]
actions:
  scale_out: { cost: 40 }
guardrails: { auto_approve_max_cost: 10 }
"#;
    let mut f = Fixture::new("db", CauseClass::Outage, "errors");
    f.charter = charter_from(CTX);
    let errors = violation("error_ratio", "db")
        .signal(Signal::Errors)
        .firing(Severity::Critical)
        .since(Timestamp::from_secs(0))
        .value(0.3)
        .build();
    let availability = violation("availability", "db")
        .signal(Signal::Availability)
        .firing(Severity::Warning)
        .since(Timestamp::from_secs(0))
        .value(0.8)
        .build();
    let mut h = hypothesis("db", CauseClass::Outage, 0.9);
    h.symptoms = vec![availability.key(), errors.key()];
    f.diagnosis = diagnosis(7, Timestamp::from_secs(60), vec![h]);
    f.incident = incident(7)
        .state(IncidentState::Diagnosed)
        .violations([availability.key(), errors.key()])
        .root_cause("db")
        .build();
    // In the order the incident book hands them over: by key, alphabetically.
    f.violations = vec![availability, errors];
    let p = policy(f.decide());
    assert_eq!(p.actions[p.main].kind, ActionKind::Failover, "{p:#?}");
    assert_eq!(
        p.targets.first().map(String::as_str),
        Some("availability@db"),
        "the alphabetically first target is another objective"
    );
    assert_eq!(
        p.context,
        Some(PolicyContext {
            objective: "error_ratio".into(),
            cause: CauseClass::Outage,
        })
    );
    assert!(p.rationale.contains("symptom objective error_ratio"));
}

fn refutation(component: &str, cause: CauseClass, action: ActionKind) -> Refutation {
    Refutation {
        component: component.into(),
        cause,
        action,
        outcome: charter_model::OutcomeClass::NoEffect,
        at: Timestamp::from_secs(50),
    }
}

#[test]
fn a_revised_cause_passes_the_cooldown_that_a_repeat_or_an_unrevised_one_does_not() {
    // A rollback 40s ago was verified no_effect: bad change on api is refuted, and the
    // revised diagnosis (overload) calls for a scale-out inside the 5m cooldown.
    let mut f = Fixture::new("api", CauseClass::Overload, "latency");
    f.guard
        .recent_actions
        .push(("api".into(), ActionKind::Rollback, Timestamp::from_secs(20)));
    f.tried = vec![Action::new(ActionKind::Rollback, "api")];
    // Without the refutation the cooldown holds.
    match f.decide() {
        Decision::NoAction { rejected, .. } => assert!(
            rejected
                .iter()
                .any(|r| r.action.kind == ActionKind::ScaleOut
                    && r.reason.starts_with("cooldown on api until")),
            "{rejected:#?}"
        ),
        d => panic!("acted inside the cooldown: {d:?}"),
    }
    f.refuted = vec![refutation(
        "api",
        CauseClass::BadChange,
        ActionKind::Rollback,
    )];
    let p = policy(f.decide());
    assert_eq!(p.actions[0].kind, ActionKind::ScaleOut);
    assert!(
        p.rationale.contains(
            "passes the cooldown on api: the diagnosis was revised to overload after rollback(api) verified no_effect (bad change) refuted the earlier cause, and the cooldown only keeps rollback from being repeated"
        ),
        "{}",
        p.rationale
    );
    // A cause the incident refuted as well is no revision: the cooldown holds.
    f.refuted.push(refutation(
        "api",
        CauseClass::Overload,
        ActionKind::Throttle,
    ));
    assert!(
        matches!(f.decide(), Decision::NoAction { .. }),
        "acted inside the cooldown on a refuted cause"
    );
    f.refuted.pop();
    // The same kind of action inside the cooldown is still held back.
    f.guard
        .recent_actions
        .push(("api".into(), ActionKind::ScaleOut, Timestamp::from_secs(30)));
    match f.decide() {
        Decision::NoAction { rejected, .. } => assert!(
            rejected
                .iter()
                .any(|r| r.action.kind == ActionKind::ScaleOut
                    && r.reason.starts_with("cooldown on api until")),
            "{rejected:#?}"
        ),
        d => panic!("repeated scale_out inside the cooldown: {d:?}"),
    }
}

#[test]
fn under_low_confidence_a_safe_action_with_positive_value_is_taken_and_says_why() {
    let mut f = Fixture::new("api", CauseClass::Overload, "latency");
    f.diagnosis.hypotheses[0].confidence = 0.14;
    let p = policy(f.decide());
    assert_eq!(p.actions[0].kind, ActionKind::ScaleOut);
    assert!(p.actions.iter().all(|a| a.kind.is_reversible()));
    assert!(
        p.rationale.contains(
            "; best hypothesis api (overload, confidence 0.14) is below the planner's minimum 0.15: a safe, reversible action with positive expected value under that doubt;"
        ),
        "{}",
        p.rationale
    );
    // Restart (irreversible) is never considered under that doubt.
    assert!(
        !p.rejected
            .iter()
            .any(|r| r.action.kind == ActionKind::Restart),
        "{:#?}",
        p.rejected
    );
}

#[test]
fn under_low_confidence_with_no_safe_remedy_the_message_names_the_confidence() {
    let mut f = Fixture::new("api", CauseClass::BadChange, "errors");
    f.states.get_mut("api").expect("api").previous_version = Some("v1".into());
    f.diagnosis.hypotheses[0].confidence = 0.12;
    match f.decide() {
        Decision::NoAction { reason, .. } => assert_eq!(
            reason,
            "best hypothesis api (bad change, confidence 0.12) is below the planner's minimum 0.15; no safe reversible action (scale_out, throttle) is among the remedies for api: nothing done"
        ),
        d => panic!("acted under low confidence with an unsafe remedy: {d:?}"),
    }
    // A safe remedy that is not worth its cost under that doubt: said so.
    let mut f = Fixture::new("api", CauseClass::Overload, "latency");
    f.diagnosis.hypotheses[0].confidence = 0.02;
    match f.decide() {
        Decision::NoAction { reason, .. } => assert_eq!(
            reason,
            "best hypothesis api (overload, confidence 0.02) is below the planner's minimum 0.15; no safe reversible action (scale_out, throttle) on api is worth taking under that doubt: nothing done"
        ),
        d => panic!("{d:?}"),
    }
}

/// A scale-out is sized from the component's utilisation: at 1.8 of capacity with 3
/// replicas and a `clear` level of 0.6, about 9 replicas are needed, so one step of the
/// charter's 2 cannot be enough. The step is what is needed, within `max_scale_step`
/// and the component's `max`; without a utilisation reading it is the charter's step.
#[test]
fn scale_out_is_sized_from_the_components_utilisation() {
    let mut f = Fixture::new("api", CauseClass::Overload, "latency");
    f.charter = charter_from(
        &CHARTER
            .replace(
                "  - name: errors\n",
                "  - name: cpu\n    metric: cpu\n    signal: utilization\n    above: { warning: 0.8, critical: 1.0, clear: 0.6 }\n    remedies: [scale_out]\n  - name: errors\n",
            )
            .replace("max: 6", "max: 20")
            .replace("max_concurrent: 1,", "max_concurrent: 1, max_scale_step: 10,"),
    );
    assert_eq!(policy(f.decide()).actions[0].param("step"), Some("2"));
    let cpu = |value: f64| {
        violation("cpu", "api")
            .signal(Signal::Utilization)
            .firing(Severity::Critical)
            .since(Timestamp::from_secs(0))
            .value(value)
            .build()
    };
    f.violations.push(cpu(1.8));
    f.incident.violations.push(f.violations[1].key());
    assert_eq!(policy(f.decide()).actions[0].param("step"), Some("6"));
    // Within max_scale_step ...
    f.violations[1] = cpu(3.0);
    assert_eq!(policy(f.decide()).actions[0].param("step"), Some("10"));
    // ... and the component's max.
    f.states.get_mut("api").expect("state").replicas = Some(15);
    assert_eq!(policy(f.decide()).actions[0].param("step"), Some("5"));
    // A reading just over the bound asks for less than a step: the charter's step.
    f.states.get_mut("api").expect("state").replicas = Some(3);
    f.violations[1] = cpu(0.7);
    assert_eq!(policy(f.decide()).actions[0].param("step"), Some("2"));
}
