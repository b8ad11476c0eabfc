//! An execution: a policy carried out as a state machine advanced by ticks.
//!
//! The driver (the orchestrator) asks [`Execution::next_move`] what to do, performs
//! the I/O (journal, actuator, reading objectives) and reports the result back.
//! Keeping the decisions pure makes the invariants testable without any actuator:
//! steps run in order, a failure compensates the completed steps in reverse order,
//! verification happens at the time to effect (a deadline, not a sleep), and a
//! worsened outcome is rolled back.

use crate::actuator::Applied;
use charter_model::{
    Action, ExecutionId, IdempotencyKey, IncidentId, OutcomeClass, Policy, PolicyId, SeriesKey,
    Timestamp,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Where a step stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Applied,
    Failed(String),
    Compensated,
    /// Irreversible or undo failed (or the step's outcome stayed unknown); the reason.
    NotCompensated(String),
    /// Sent, and no answer came (a timeout, a connection lost after sending): it may
    /// have been applied. The driver asks the actuator's `status` with the step's key
    /// ([`Move::AskStatus`]) before anything else happens to the execution.
    Indeterminate(String),
    /// Applied, had no effect, and deliberately left in place (it has no inverse, or
    /// the charter keeps it); the reason.
    Kept(String),
}

/// One action of the policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub index: u32,
    pub action: Action,
    /// The key actuators apply this step under, at most once.
    pub key: IdempotencyKey,
    pub status: StepStatus,
    /// What the actuator reported about the state before it acted.
    pub prior: BTreeMap<String, String>,
    pub applied_at: Option<Timestamp>,
    /// How long after the previous step was applied this one may start.
    #[serde(default)]
    pub wait: Duration,
    /// How many answers left the step's outcome unknown (sends without an answer,
    /// statuses that could not tell); 0 for a step whose outcome was always known.
    #[serde(default)]
    pub asks: u32,
}

/// The phase of an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionPhase {
    Applying,
    /// Waiting for the time to effect before verifying.
    Waiting {
        until: Timestamp,
    },
    /// Undoing completed steps, most recent first.
    Compensating,
    Done,
}

/// What the driver should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Move {
    /// Journal, then apply step `i`.
    Apply(usize),
    /// Nothing until the deadline.
    Wait,
    /// Re-evaluate the targets and report with [`Execution::verified`].
    Verify,
    /// Undo step `i` with this inverse action (`None`: irreversible).
    Compensate(usize, Option<Action>),
    /// Step `i`'s outcome is unknown: ask the actuator's `status` with its key, then
    /// report with [`Execution::status_known`] or [`Execution::status_unknown`].
    AskStatus(usize),
    /// Finished.
    Finished,
}

/// A policy being carried out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub id: ExecutionId,
    pub policy_id: PolicyId,
    pub incident_id: IncidentId,
    /// The series whose recovery verifies the policy.
    pub targets: Vec<SeriesKey>,
    pub steps: Vec<Step>,
    /// The step expected to resolve the incident (outcomes are learned for it).
    #[serde(default)]
    pub main: usize,
    pub phase: ExecutionPhase,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub time_to_effect: Duration,
    /// Severity-weighted badness of the targets when the execution started.
    pub badness_before: f64,
    pub badness_after: Option<f64>,
    pub outcome: Option<OutcomeClass>,
    pub rolled_back: bool,
    /// True when a compensation could not be completed (or a step's outcome stayed
    /// unknown): the components need an operator.
    pub compensation_failed: bool,
    /// True when the steps of a `no_effect` execution were undone (not a rollback:
    /// nothing got worse, the actions just did not help).
    #[serde(default)]
    pub undone: bool,
}

/// How many times the driver asks an actuator about a step whose outcome is unknown
/// before it gives up on knowing (the step then counts as applied and not undone: the
/// execution fails, and its components wait for an operator).
pub const MAX_STATUS_ASKS: u32 = 20;

impl Execution {
    /// Start carrying out `policy`, verified on `targets` (the series of its target
    /// violations).
    pub fn new(
        id: ExecutionId,
        policy: &Policy,
        targets: Vec<SeriesKey>,
        time_to_effect: Duration,
        badness_before: f64,
        now: Timestamp,
    ) -> Self {
        let steps: Vec<Step> = policy
            .actions
            .iter()
            .enumerate()
            .map(|(i, a)| Step {
                index: i as u32,
                action: a.clone(),
                key: IdempotencyKey::for_step(now, id, i as u32),
                status: StepStatus::Pending,
                prior: BTreeMap::new(),
                applied_at: None,
                wait: Duration::from_secs(policy.waits_secs.get(i).copied().unwrap_or(0)),
                asks: 0,
            })
            .collect();
        Execution {
            id,
            policy_id: policy.id,
            incident_id: policy.incident_id,
            targets,
            main: policy.main.min(steps.len().saturating_sub(1)),
            steps,
            phase: ExecutionPhase::Applying,
            started_at: now,
            finished_at: None,
            time_to_effect,
            badness_before,
            badness_after: None,
            outcome: None,
            rolled_back: false,
            compensation_failed: false,
            undone: false,
        }
    }

    /// Components this execution acts on.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().map(|s| s.action.component.as_str())
    }

    /// What to do now.
    pub fn next_move(&self, now: Timestamp) -> Move {
        match &self.phase {
            ExecutionPhase::Applying => match self.steps.iter().position(|s| {
                matches!(s.status, StepStatus::Pending | StepStatus::Indeterminate(_))
            }) {
                Some(i) if matches!(self.steps[i].status, StepStatus::Indeterminate(_)) => {
                    Move::AskStatus(i)
                }
                Some(i) => {
                    // A step may have to wait for the previous one to take effect.
                    let ready = match i.checked_sub(1).and_then(|p| self.steps[p].applied_at) {
                        Some(prev) => now >= prev.plus(self.steps[i].wait),
                        None => true,
                    };
                    if ready { Move::Apply(i) } else { Move::Wait }
                }
                None => Move::Verify,
            },
            ExecutionPhase::Waiting { until } if now < *until => Move::Wait,
            ExecutionPhase::Waiting { .. } => Move::Verify,
            ExecutionPhase::Compensating => {
                // Reverse order of completion.
                match self
                    .steps
                    .iter()
                    .rposition(|s| s.status == StepStatus::Applied)
                {
                    Some(i) => {
                        Move::Compensate(i, self.steps[i].action.inverse(&self.steps[i].prior))
                    }
                    None => Move::Finished,
                }
            }
            ExecutionPhase::Done => Move::Finished,
        }
    }

    /// Step `i` was applied.
    pub fn step_applied(&mut self, i: usize, applied: Applied, now: Timestamp) {
        let s = &mut self.steps[i];
        s.status = StepStatus::Applied;
        s.prior = applied.prior;
        s.applied_at = Some(now);
        if self.steps.iter().all(|s| s.status == StepStatus::Applied) {
            self.phase = ExecutionPhase::Waiting {
                until: now.plus(self.time_to_effect),
            };
        }
    }

    /// Step `i` was sent and its outcome is unknown: nothing else moves until the
    /// actuator says what became of it ([`Move::AskStatus`]). Counts as one unknown
    /// answer (see [`Execution::status_unknown`]); returns whether the driver gives up.
    pub fn step_indeterminate(&mut self, i: usize, reason: String, now: Timestamp) -> bool {
        self.steps[i].status = StepStatus::Indeterminate(reason.clone());
        self.status_unknown(i, &reason, now)
    }

    /// The actuator said what became of indeterminate step `i`: applied (with what
    /// it returned) or not (`None`: the step is pending again, to be sent anew under
    /// the same key).
    pub fn status_known(&mut self, i: usize, applied: Option<Applied>, now: Timestamp) {
        match applied {
            Some(a) => self.step_applied(i, a, now),
            None => self.steps[i].status = StepStatus::Pending,
        }
    }

    /// One more answer that left step `i`'s outcome unknown (a send without an answer,
    /// or a status that could not tell); returns whether the driver gives up. After
    /// [`MAX_STATUS_ASKS`] it stops trying: the step is taken as applied and not
    /// undone, the execution fails and compensates the steps before it, and
    /// [`Execution::compensation_failed`] sends its components to an operator.
    pub fn status_unknown(&mut self, i: usize, reason: &str, now: Timestamp) -> bool {
        let Some(tries) = self.one_more_unknown(i) else {
            return false;
        };
        self.steps[i].status =
            StepStatus::NotCompensated(format!("outcome unknown after {tries} tries: {reason}"));
        self.compensation_failed = true;
        self.outcome = Some(OutcomeClass::Failed);
        self.phase = ExecutionPhase::Compensating;
        self.finish_if_nothing_to_undo(now);
        true
    }

    /// A verified `no_effect` execution undoes its steps, most recent first, except
    /// those `keep` gives a reason to leave in place (irreversible ones, or ones the
    /// charter keeps); returns whether there is anything to undo. The outcome stays
    /// `no_effect`; it is not a rollback.
    pub fn undo_no_effect(&mut self, mut keep: impl FnMut(&Step) -> Option<String>) -> bool {
        if self.outcome != Some(OutcomeClass::NoEffect) || self.phase != ExecutionPhase::Done {
            return false;
        }
        for s in &mut self.steps {
            if s.status == StepStatus::Applied
                && let Some(reason) = keep(s)
            {
                s.status = StepStatus::Kept(reason);
            }
        }
        if !self.steps.iter().any(|s| s.status == StepStatus::Applied) {
            return false;
        }
        self.undone = true;
        self.phase = ExecutionPhase::Compensating;
        self.finished_at = None;
        true
    }

    /// Step `i` failed: the outcome is `failed` and completed steps are compensated.
    pub fn step_failed(&mut self, i: usize, reason: String, now: Timestamp) {
        self.steps[i].status = StepStatus::Failed(reason);
        self.outcome = Some(OutcomeClass::Failed);
        self.phase = ExecutionPhase::Compensating;
        self.finish_if_nothing_to_undo(now);
    }

    /// Verification result: classify, and roll back if things got worse.
    pub fn verified(&mut self, badness_after: f64, resolved: bool, now: Timestamp) -> OutcomeClass {
        let class = classify_outcome(self.badness_before, badness_after, resolved);
        self.badness_after = Some(badness_after);
        self.outcome = Some(class);
        if class == OutcomeClass::Worsened {
            self.rolled_back = true;
            self.phase = ExecutionPhase::Compensating;
            self.finish_if_nothing_to_undo(now);
        } else {
            self.phase = ExecutionPhase::Done;
            self.finished_at = Some(now);
        }
        class
    }

    /// Undoing step `i` got no answer: it may have been undone. The step stays applied,
    /// so the next move sends the same undo again under the same key (an actuator
    /// applies a key at most once: a repeat reports what the first did). After
    /// [`MAX_STATUS_ASKS`] unknown answers the undo counts as failed. Returns whether
    /// it gave up.
    pub fn compensation_unknown(&mut self, i: usize, reason: &str, now: Timestamp) -> bool {
        let Some(tries) = self.one_more_unknown(i) else {
            return false;
        };
        self.compensated(
            i,
            Err(format!(
                "undo outcome unknown after {tries} tries: {reason}"
            )),
            now,
        );
        true
    }

    /// Count one more unknown answer about step `i`; the count once it reaches
    /// [`MAX_STATUS_ASKS`] (time to give up).
    fn one_more_unknown(&mut self, i: usize) -> Option<u32> {
        let s = &mut self.steps[i];
        s.asks += 1;
        (s.asks >= MAX_STATUS_ASKS).then_some(s.asks)
    }

    /// Result of undoing step `i`.
    pub fn compensated(&mut self, i: usize, result: Result<(), String>, now: Timestamp) {
        match result {
            Ok(()) => self.steps[i].status = StepStatus::Compensated,
            Err(reason) => {
                self.steps[i].status = StepStatus::NotCompensated(reason);
                self.compensation_failed = true;
            }
        }
        self.finish_if_nothing_to_undo(now);
    }

    /// Whether the execution is over.
    pub fn is_done(&self) -> bool {
        self.phase == ExecutionPhase::Done
    }

    fn finish_if_nothing_to_undo(&mut self, now: Timestamp) {
        if !self.steps.iter().any(|s| s.status == StepStatus::Applied) {
            self.phase = ExecutionPhase::Done;
            self.finished_at = Some(now);
        }
    }
}

/// Classify an outcome from the targets' severity-weighted badness before and after.
///
/// Resolved when no target breaches a threshold any more; improved or worsened when
/// badness moved by more than 20% (noise below that is no effect).
pub fn classify_outcome(before: f64, after: f64, resolved: bool) -> OutcomeClass {
    if resolved {
        OutcomeClass::Resolved
    } else if after < before * 0.8 {
        OutcomeClass::Improved
    } else if after > before * 1.2 + 1e-9 {
        OutcomeClass::Worsened
    } else {
        OutcomeClass::NoEffect
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_model::{ActionKind, ExecutionId};

    fn policy(n: usize) -> Policy {
        charter_testkit::policy(
            (0..n)
                .map(|i| Action::new(ActionKind::ScaleOut, format!("c{i}")).with_param("step", 1))
                .collect(),
        )
        .targets(["lat@c0"])
        .scored(0.8, 10.0, 1.0, 9.0)
        .build()
    }

    /// Execution `id` of an `n`-step policy, started at 0, verified after a minute.
    fn running(id: u64, n: usize) -> Execution {
        Execution::new(
            ExecutionId(id),
            &policy(n),
            vec![],
            Duration::from_secs(60),
            3.0,
            Timestamp::from_secs(0),
        )
    }

    fn applied(replicas: u32) -> Applied {
        Applied {
            prior: BTreeMap::from([("replicas".into(), replicas.to_string())]),
            detail: String::new(),
        }
    }

    #[test]
    fn steps_apply_in_order_then_verify_at_the_deadline() {
        let mut e = Execution::new(
            ExecutionId(9),
            &policy(2),
            vec![],
            Duration::from_secs(60),
            3.0,
            Timestamp::from_secs(0),
        );
        assert_eq!(e.next_move(Timestamp::from_secs(0)), Move::Apply(0));
        e.step_applied(0, applied(3), Timestamp::from_secs(0));
        assert_eq!(e.next_move(Timestamp::from_secs(0)), Move::Apply(1));
        e.step_applied(1, applied(2), Timestamp::from_secs(1));
        assert_eq!(e.steps[1].key, "0-9-1");
        assert_eq!(e.next_move(Timestamp::from_secs(30)), Move::Wait);
        assert_eq!(e.next_move(Timestamp::from_secs(61)), Move::Verify);
        assert_eq!(
            e.verified(0.0, true, Timestamp::from_secs(61)),
            OutcomeClass::Resolved
        );
        assert!(e.is_done());
    }

    #[test]
    fn a_step_with_a_wait_starts_only_after_it() {
        let mut p = policy(2);
        p.waits_secs = vec![0, 120];
        let mut e = Execution::new(
            ExecutionId(1),
            &p,
            vec![],
            Duration::from_secs(30),
            3.0,
            Timestamp::from_secs(0),
        );
        e.step_applied(0, applied(3), Timestamp::from_secs(10));
        assert_eq!(e.next_move(Timestamp::from_secs(100)), Move::Wait);
        assert_eq!(e.next_move(Timestamp::from_secs(129)), Move::Wait);
        assert_eq!(e.next_move(Timestamp::from_secs(130)), Move::Apply(1));
        e.step_applied(1, applied(5), Timestamp::from_secs(130));
        assert_eq!(e.next_move(Timestamp::from_secs(150)), Move::Wait);
        assert_eq!(e.next_move(Timestamp::from_secs(160)), Move::Verify);
    }

    #[test]
    fn a_failed_step_compensates_completed_steps_in_reverse() {
        let mut e = Execution::new(
            ExecutionId(1),
            &policy(3),
            vec![],
            Duration::from_secs(60),
            3.0,
            Timestamp(0),
        );
        e.step_applied(0, applied(3), Timestamp(0));
        e.step_applied(1, applied(4), Timestamp(0));
        e.step_failed(2, "boom".into(), Timestamp(0));
        assert_eq!(e.outcome, Some(OutcomeClass::Failed));
        let Move::Compensate(i, Some(inv)) = e.next_move(Timestamp(0)) else {
            panic!("expected compensation")
        };
        assert_eq!(i, 1);
        assert_eq!(inv.param("to_replicas"), Some("4"));
        e.compensated(1, Ok(()), Timestamp(0));
        assert!(matches!(
            e.next_move(Timestamp(0)),
            Move::Compensate(0, Some(_))
        ));
        e.compensated(0, Ok(()), Timestamp(0));
        assert_eq!(e.next_move(Timestamp(0)), Move::Finished);
        assert!(e.is_done());
    }

    #[test]
    fn worsened_outcome_rolls_back() {
        let mut e = Execution::new(
            ExecutionId(1),
            &policy(1),
            vec![],
            Duration::from_secs(10),
            1.0,
            Timestamp(0),
        );
        e.step_applied(0, applied(3), Timestamp(0));
        assert_eq!(
            e.verified(5.0, false, Timestamp(10_000)),
            OutcomeClass::Worsened
        );
        assert!(e.rolled_back);
        assert!(matches!(
            e.next_move(Timestamp(10_000)),
            Move::Compensate(0, Some(_))
        ));
    }

    #[test]
    fn a_failed_compensation_is_flagged() {
        let mut e = Execution::new(
            ExecutionId(1),
            &policy(1),
            vec![],
            Duration::from_secs(10),
            1.0,
            Timestamp(0),
        );
        e.step_applied(0, applied(3), Timestamp(0));
        e.verified(5.0, false, Timestamp(0));
        e.compensated(0, Err("actuator down".into()), Timestamp(0));
        assert!(e.compensation_failed);
        assert!(e.is_done());
    }

    #[test]
    fn an_indeterminate_step_holds_the_execution_until_its_status_is_known() {
        let t0 = Timestamp::from_secs(0);
        let mut e = running(3, 2);
        assert!(!e.step_indeterminate(0, "timed out".into(), t0));
        // Nothing else moves (the next step waits) until the actuator is asked.
        assert_eq!(e.next_move(t0), Move::AskStatus(0));
        assert!(!e.status_unknown(0, "unreachable", t0));
        assert_eq!(e.next_move(t0), Move::AskStatus(0));
        // Not applied: sent anew, under the same key.
        e.status_known(0, None, t0);
        assert_eq!(e.next_move(t0), Move::Apply(0));
        assert!(!e.step_indeterminate(0, "timed out".into(), t0));
        // Applied after all: the execution goes on with the next step.
        e.status_known(0, Some(applied(3)), t0);
        assert_eq!(e.steps[0].status, StepStatus::Applied);
        assert_eq!(e.next_move(t0), Move::Apply(1));
    }

    #[test]
    fn an_outcome_that_stays_unknown_fails_the_execution_and_flags_it_for_an_operator() {
        let t0 = Timestamp::from_secs(0);
        let mut e = running(4, 2);
        e.step_applied(0, applied(3), t0);
        assert!(!e.step_indeterminate(1, "timed out".into(), t0));
        for n in 2..MAX_STATUS_ASKS {
            assert!(!e.status_unknown(1, "unreachable", t0), "gave up after {n}");
        }
        assert!(e.status_unknown(1, "unreachable", t0));
        assert!(e.compensation_failed);
        assert_eq!(e.outcome, Some(OutcomeClass::Failed));
        // The step before it is undone; the unknown one is left for an operator.
        assert!(matches!(e.next_move(t0), Move::Compensate(0, Some(_))));
        assert!(matches!(e.steps[1].status, StepStatus::NotCompensated(_)));
    }

    #[test]
    fn a_no_effect_execution_undoes_its_steps_except_those_kept() {
        let t0 = Timestamp::from_secs(0);
        let mut e = running(5, 2);
        e.step_applied(0, applied(3), t0);
        e.step_applied(1, applied(2), t0);
        assert_eq!(
            e.verified(3.0, false, Timestamp::from_secs(61)),
            OutcomeClass::NoEffect
        );
        assert!(e.is_done());
        assert!(e.undo_no_effect(|s| (s.index == 0).then(|| "kept".to_string())));
        assert!(!e.is_done() && e.undone && !e.rolled_back);
        assert!(matches!(e.next_move(t0), Move::Compensate(1, Some(_))));
        e.compensated(1, Ok(()), t0);
        assert!(e.is_done());
        assert_eq!(e.steps[0].status, StepStatus::Kept("kept".into()));
        assert_eq!(e.outcome, Some(OutcomeClass::NoEffect));
        // Only a no_effect outcome is undone this way.
        let mut r = running(6, 1);
        r.step_applied(0, applied(3), t0);
        r.verified(0.0, true, Timestamp::from_secs(61));
        assert!(!r.undo_no_effect(|_| None));
    }

    #[test]
    fn classification_thresholds() {
        assert_eq!(classify_outcome(3.0, 0.0, true), OutcomeClass::Resolved);
        assert_eq!(classify_outcome(3.0, 2.0, false), OutcomeClass::Improved);
        assert_eq!(classify_outcome(3.0, 3.1, false), OutcomeClass::NoEffect);
        assert_eq!(classify_outcome(3.0, 4.0, false), OutcomeClass::Worsened);
    }
}
