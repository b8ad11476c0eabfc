//! Properties of the execution state machine over random policies and failures.
//!
//! Each case is a policy of 1–6 steps with random waits, an actuator that fails at a
//! random step (or never), a verification that may find the targets worse, and
//! compensations that may fail. Driving [`Execution`] the way the controller does,
//! compensation must always undo exactly the completed steps, in reverse order of
//! completion, and nothing may be applied after a failure or during compensation.

use charter_execute::{Applied, Execution, Move, StepStatus};
use charter_model::{Action, ActionKind, ApprovalState, OutcomeClass, Policy, Timestamp};
use std::collections::BTreeMap;
use std::time::Duration;

struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

const KINDS: [ActionKind; 4] = [
    ActionKind::ScaleOut,
    ActionKind::Throttle,
    ActionKind::Restart,
    ActionKind::Reconfigure,
];

fn policy(r: &mut Rng) -> Policy {
    let n = 1 + r.below(6) as usize;
    let actions = (0..n)
        .map(|i| {
            Action::new(KINDS[r.below(4) as usize], format!("c{i}"))
                .with_param("step", 1)
                .with_param("rate", 10)
                .with_param("key", "k")
                .with_param("value", 1)
        })
        .collect();
    Policy {
        id: 1,
        incident_id: 1,
        created_at: Timestamp(0),
        actions,
        waits_secs: (0..n).map(|_| r.below(3) * 30).collect(),
        main: 0,
        targets: vec!["o@c0".into()],
        p_success: 0.5,
        expected_benefit: 1.0,
        cost: 1.0,
        score: 0.0,
        rationale: String::new(),
        rejected: vec![],
        approval: ApprovalState::AutoApproved,
    }
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

#[test]
fn compensation_always_runs_in_reverse_order_of_completion() {
    let mut saw = [0usize; 3]; // failed cases, worsened cases, compensations
    for seed in 0..5000u64 {
        let mut r = Rng(seed);
        let p = policy(&mut r);
        let n = p.actions.len();
        let fail_at = r.below(n as u64 + 2) as usize; // >= n: never fails
        let worse = r.below(2) == 0;
        let mut e = Execution::new(seed, &p, vec![], Duration::from_secs(60), 2.0, Timestamp(0));
        let mut t = Timestamp(0);
        let mut completed: Vec<usize> = Vec::new();
        let mut undone: Vec<usize> = Vec::new();
        let mut failed = false;
        for _ in 0..1000 {
            match e.next_move(t) {
                Move::Apply(i) => {
                    assert!(!failed, "seed {seed}: applied step {i} after a failure");
                    assert!(
                        undone.is_empty(),
                        "seed {seed}: applied during compensation"
                    );
                    assert_eq!(i, completed.len(), "seed {seed}: steps out of order");
                    if i == fail_at {
                        e.step_failed(i, "boom".into(), t);
                        failed = true;
                    } else {
                        e.step_applied(i, prior(), t);
                        completed.push(i);
                    }
                }
                Move::Wait => t = t.plus(Duration::from_secs(10)),
                Move::Verify => {
                    let after = if worse { 5.0 } else { 1.0 };
                    e.verified(after, false, t);
                }
                Move::Compensate(i, inverse) => {
                    if let Some(inv) = &inverse {
                        assert!(inv.compensation, "seed {seed}: inverse not marked");
                        assert_eq!(inv.component, p.actions[i].component);
                    } else {
                        assert!(!p.actions[i].kind.is_reversible());
                    }
                    undone.push(i);
                    let ok = r.below(4) != 0;
                    e.compensated(i, if ok { Ok(()) } else { Err("no".into()) }, t);
                }
                Move::Finished => break,
            }
        }
        assert!(e.is_done(), "seed {seed}: did not finish");
        let must_undo = failed || (worse && completed.len() == n);
        let expected: Vec<usize> = if must_undo {
            completed.iter().rev().copied().collect()
        } else {
            vec![]
        };
        assert_eq!(undone, expected, "seed {seed}: compensation order");
        assert!(
            e.steps
                .iter()
                .all(|s| !matches!(s.status, StepStatus::Applied) || !must_undo),
            "seed {seed}: a step was left applied"
        );
        if failed {
            assert_eq!(e.outcome, Some(OutcomeClass::Failed));
            saw[0] += 1;
        } else if worse {
            assert_eq!(e.outcome, Some(OutcomeClass::Worsened));
            assert!(e.rolled_back);
            saw[1] += 1;
        }
        saw[2] += undone.len();
    }
    assert!(saw.iter().all(|c| *c > 100), "cases not exercised: {saw:?}");
}
