//! Properties of the execution state machine over random policies and failures.
//!
//! Each case is a policy of 1–6 steps with random waits, an actuator that fails at a
//! random step (or never), a verification that may find the targets worse, and
//! compensations that may fail. Driving [`Execution`] the way the controller does,
//! compensation must always undo exactly the completed steps, in reverse order of
//! completion, and nothing may be applied after a failure or during compensation.

use charter_execute::{Applied, Execution, Move, StepStatus};
use charter_model::ExecutionId;
use charter_model::{Action, ActionKind, OutcomeClass, Policy, Timestamp};
use charter_testkit::policy;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use std::collections::BTreeMap;
use std::time::Duration;

const CASES: u32 = 5000;

const KINDS: [ActionKind; 4] = [
    ActionKind::ScaleOut,
    ActionKind::Throttle,
    ActionKind::Restart,
    ActionKind::Reconfigure,
];

/// A policy, where the actuator fails, whether verification finds the targets worse,
/// and whether each compensation succeeds.
#[derive(Debug, Clone)]
struct Case {
    policy: Policy,
    /// `>= policy.actions.len()`: never fails.
    fail_at: usize,
    worse: bool,
    /// Per compensation, in the order they are asked for.
    undo_ok: Vec<bool>,
}

fn case() -> impl Strategy<Value = Case> {
    prop::collection::vec((select(KINDS.to_vec()), 0u64..3), 1..=6)
        .prop_flat_map(|steps| {
            let n = steps.len();
            let actions = steps
                .iter()
                .enumerate()
                .map(|(i, (kind, _))| {
                    Action::new(*kind, format!("c{i}"))
                        .with_param("step", 1)
                        .with_param("rate", 10)
                        .with_param("key", "k")
                        .with_param("value", 1)
                })
                .collect();
            let p = policy(actions)
                .waits_secs(steps.iter().map(|(_, w)| w * 30).collect())
                .targets(["o@c0"])
                .build();
            (
                Just(p),
                0..n + 2,
                any::<bool>(),
                prop::collection::vec(prop::bool::weighted(0.75), n),
            )
        })
        .prop_map(|(policy, fail_at, worse, undo_ok)| Case {
            policy,
            fail_at,
            worse,
            undo_ok,
        })
}

fn prior() -> Applied {
    Applied {
        prior: BTreeMap::from([
            ("replicas".to_string(), "2".to_string()),
            ("rate".to_string(), "5".to_string()),
            ("value".to_string(), "0".to_string()),
        ]),
        detail: String::new(),
    }
}

/// What one case went through: whether a step failed, whether the targets got
/// worse (with every step done), and how many compensations ran.
struct Saw {
    failed: bool,
    worsened: bool,
    compensations: usize,
}

/// Drives the execution of `c` to the end, checking every move.
fn drive(c: &Case) -> Result<Saw, TestCaseError> {
    let p = &c.policy;
    let n = p.actions.len();
    let mut e = Execution::new(
        ExecutionId(1),
        p,
        vec![],
        Duration::from_secs(60),
        2.0,
        Timestamp(0),
    );
    let mut t = Timestamp(0);
    let mut completed: Vec<usize> = Vec::new();
    let mut undone: Vec<usize> = Vec::new();
    let mut failed = false;
    for _ in 0..1000 {
        match e.next_move(t) {
            Move::Apply(i) => {
                prop_assert!(!failed, "applied step {i} after a failure");
                prop_assert!(undone.is_empty(), "applied during compensation");
                prop_assert_eq!(i, completed.len(), "steps out of order");
                if i == c.fail_at {
                    e.step_failed(i, "boom".into(), t);
                    failed = true;
                } else {
                    e.step_applied(i, prior(), t);
                    completed.push(i);
                }
            }
            Move::Wait => t = t.plus(Duration::from_secs(10)),
            Move::Verify => {
                let after = if c.worse { 5.0 } else { 1.0 };
                e.verified(after, false, t);
            }
            Move::Compensate(i, inverse) => {
                if let Some(inv) = &inverse {
                    prop_assert!(inv.compensation, "inverse not marked");
                    prop_assert_eq!(&inv.component, &p.actions[i].component);
                } else {
                    prop_assert!(!p.actions[i].kind.is_reversible());
                }
                // More compensations than steps is caught by the order check below.
                let ok = c.undo_ok.get(undone.len()).copied().unwrap_or(true);
                undone.push(i);
                e.compensated(i, if ok { Ok(()) } else { Err("no".into()) }, t);
            }
            Move::AskStatus(i) => {
                prop_assert!(
                    false,
                    "asked about step {i}, whose outcome was always known"
                );
            }
            Move::Finished => break,
        }
    }
    prop_assert!(e.is_done(), "did not finish");
    let must_undo = failed || (c.worse && completed.len() == n);
    let expected: Vec<usize> = if must_undo {
        completed.iter().rev().copied().collect()
    } else {
        vec![]
    };
    prop_assert_eq!(&undone, &expected, "compensation order");
    prop_assert!(
        e.steps
            .iter()
            .all(|s| !matches!(s.status, StepStatus::Applied) || !must_undo),
        "a step was left applied"
    );
    if failed {
        prop_assert_eq!(e.outcome, Some(OutcomeClass::Failed));
    } else if c.worse {
        prop_assert_eq!(e.outcome, Some(OutcomeClass::Worsened));
        prop_assert!(e.rolled_back);
    }
    Ok(Saw {
        failed,
        worsened: !failed && c.worse,
        compensations: undone.len(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn compensation_always_runs_in_reverse_order_of_completion(c in case()) {
        drive(&c)?;
    }
}

/// The property must be exercised, not vacuous: over a fixed sample of its cases,
/// steps fail, targets get worse and compensations run, each many times.
#[test]
fn the_cases_fail_worsen_and_compensate() {
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let mut saw = [0usize; 3]; // failed cases, worsened cases, compensations
    for _ in 0..CASES {
        let c = strategy.new_tree(&mut runner).expect("a case").current();
        let s = drive(&c).unwrap_or_else(|e| panic!("{e}: {c:#?}"));
        saw[0] += usize::from(s.failed);
        saw[1] += usize::from(s.worsened);
        saw[2] += s.compensations;
    }
    assert!(saw.iter().all(|c| *c > 100), "cases not exercised: {saw:?}");
}
