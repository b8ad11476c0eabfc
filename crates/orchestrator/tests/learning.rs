//! The learning curve: over repeated incidents of one fault type, Charter's first
//! action moves from the wrong remedy the charter lists first to the right one.
//!
//! The charter declares `memory_utilization` without a `signal`, so the diagnosis
//! cannot name the cause (class unknown) and the built-in prior cannot tell restart
//! from scale_out: the charter's order of `remedies` (scale_out first) decides the
//! first incident. In the simulator a leak is cured only by a restart, and scale_out
//! leaves the worst replica's memory where it is.

mod common;

use charter_knowledge::{SqliteStore, prelude::*};
use charter_model::{ActionKind, ApprovalState, IncidentId, OutcomeClass};
use charter_orchestrator::Event;
use charter_sim::Scenario;
use charter_testkit::charter_from;
use common::run_scenario;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

const INCIDENTS: usize = 8;

const CHARTER: &str = r#"
name: learning
interval: 15s
mode: autonomous
source: { simulator: {} }
actuators: { sim: { simulator: {} } }
components:
  - { name: frontend, depends_on: [api], actuator: sim, replicas: { min: 2, max: 12 } }
  - { name: api, depends_on: [catalog, orders, auth], actuator: sim, replicas: { min: 2, max: 12 } }
  - { name: catalog, depends_on: [db, cache], actuator: sim, replicas: { min: 2, max: 10 } }
  - { name: orders, depends_on: [db, queue], actuator: sim, replicas: { min: 2, max: 10 } }
  - { name: auth, depends_on: [db], actuator: sim, replicas: { min: 2, max: 10 } }
  - { name: db, actuator: sim, replicas: { min: 2, max: 4 } }
  - { name: cache, actuator: sim, replicas: { min: 1, max: 4 } }
  - { name: queue, actuator: sim, replicas: { min: 1, max: 4 } }
objectives:
  # No `signal`: the cause stays unknown, the remedies' order is the only prior.
  - name: memory_utilization
    metric: westworld_memory_utilization
    above: { warning: 0.8, critical: 0.9, clear: 0.7 }
    for: 30s
    remedies: [scale_out, restart]
guardrails: { cooldown: 1m, max_actions_per_hour: 20 }
"#;

/// The same leak on orders, `INCIDENTS` times, with an hour between onsets.
fn scenario() -> Scenario {
    let mut yaml = String::from(
        "name: repeated-leak\nseed: 7\nduration: 480m\nstep: 1s\n\
         traffic: { rps: 200, pattern: flat, noise: 0.03 }\nservices: default\nfaults:\n",
    );
    for i in 0..INCIDENTS {
        writeln!(
            yaml,
            "  - {{ kind: memory_leak, target: orders, at: {}m, duration: 45m, rate: 0.06 }}",
            i * 60 + 5
        )
        .expect("write to a string");
    }
    Scenario::from_yaml(&yaml, "repeated-leak.yaml").expect("scenario")
}

/// Per incident, in order: the first executed policy's main action, its outcome and
/// the P(success) the planner gave it.
type Curve = Vec<(IncidentId, Option<ActionKind>, Option<OutcomeClass>, f64)>;

fn curve(events: &[(Duration, Event)]) -> Curve {
    let mut out: Curve = Vec::new();
    for (_, e) in events {
        match e {
            Event::IncidentOpened { incident_id, .. } => {
                out.push((*incident_id, None, None, f64::NAN));
            }
            Event::PolicyDecided { policy }
                if matches!(
                    policy.approval,
                    ApprovalState::AutoApproved | ApprovalState::Approved { .. }
                ) =>
            {
                if let Some(row) = out.iter_mut().find(|r| r.0 == policy.incident_id)
                    && row.1.is_none()
                {
                    row.1 = Some(policy.actions[policy.main].kind);
                    row.3 = policy.p_success;
                }
            }
            Event::Verified {
                incident_id,
                outcome,
                ..
            } => {
                if let Some(row) = out.iter_mut().find(|r| r.0 == *incident_id)
                    && row.2.is_none()
                {
                    row.2 = Some(*outcome);
                }
            }
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn first_action_becomes_the_right_one_within_three_incidents() {
    let charter = Arc::new(charter_from(CHARTER));
    let scenario = scenario();
    let store = Arc::new(SqliteStore::open_in_memory().await.expect("store"));
    let (events, _sim) = run_scenario(charter, &scenario, 7, store.clone()).await;
    let log: String = events
        .iter()
        .filter(|(_, e)| !matches!(e, Event::Violation { .. }))
        .map(|(t, e)| format!("[{:>5}s] {e}\n", t.as_secs()))
        .collect();
    let curve = curve(&events);
    println!("learning curve (incident -> first action, its outcome):");
    for (n, (id, kind, outcome, p)) in curve.iter().enumerate() {
        println!(
            "  incident {} (id {id}): {} (p {p:.2}) -> {}",
            n + 1,
            kind.map_or("none".into(), |k| k.to_string()),
            outcome.map_or("none".into(), |o| o.to_string())
        );
    }
    assert_eq!(curve.len(), INCIDENTS, "one incident per leak:\n{log}");
    // The wrong-first case is real: the charter's order decides the first incident.
    assert_eq!(curve[0].1, Some(ActionKind::ScaleOut), "\n{log}");
    let firsts: Vec<Option<ActionKind>> = curve.iter().map(|r| r.1).collect();
    let learned = firsts
        .iter()
        .position(|k| *k == Some(ActionKind::Restart))
        .expect("restart became the first action");
    assert!(
        learned < 3,
        "learned only at incident {}: {firsts:?}",
        learned + 1
    );
    assert!(
        firsts[learned..]
            .iter()
            .all(|k| *k == Some(ActionKind::Restart)),
        "restart stays first once learned: {firsts:?}\n{log}"
    );
    // The store holds the evidence the curve was learned from.
    let outcomes = store.outcomes().await.expect("outcomes");
    assert!(
        outcomes
            .iter()
            .any(|o| o.action_kind == ActionKind::ScaleOut && !o.outcome.class.is_success())
    );
}
