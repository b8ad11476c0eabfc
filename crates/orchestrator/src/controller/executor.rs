//! Execute: the running executions and how a tick moves each one — journaled steps,
//! verification at the time to effect, compensation in reverse — and, once one is
//! done, what its outcome teaches and does to its incident.

use super::{Controller, ControllerError, check_lease};
use crate::event::{Emitter, Event};
use crate::journal::{self, Actuators, Sent};
use crate::lease::Fence;
use charter_execute::{Execution, MAX_STATUS_ASKS, Move, StepStatus};
use charter_knowledge::{
    ExecutionRecord, ExecutionState, GuardStore, Journal, JournalRecord, JournalStatus,
    OutcomeRecord,
};
use charter_model::{
    Action, ActionKind, Charter, IncidentState, Mode, Outcome, OutcomeClass, Policy, SeriesKey,
    Severity, StepRef, Timestamp, Violation, ViolationState,
};
use charter_model::{ExecutionId, IncidentId};
use charter_monitor::Detector;
use charter_monitor::detect::{is_clear, severity_of};
use charter_plan::GuardState;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The executions in progress.
pub(crate) struct Executor {
    pub executions: Vec<Execution>,
    next_id: ExecutionId,
    /// Executions whose next move waits for the monitor to see again (announced once).
    held: BTreeSet<ExecutionId>,
    /// Each execution's context: the members of its incident it is not judged on,
    /// read at verification only to say which of them still breach.
    context: BTreeMap<ExecutionId, Vec<SeriesKey>>,
}

/// What a tick's moves of one execution did that its incident must know.
#[derive(Default)]
pub(crate) struct Advanced {
    /// Every step is applied: the incident is verifying.
    pub all_applied: bool,
    /// The execution is done (verified, failed or compensated).
    pub done: bool,
}

/// What moving an execution needs from the rest of the controller.
pub(crate) struct StepContext<'a> {
    pub charter: &'a Charter,
    /// Where steps are journaled.
    pub journal: &'a dyn Journal,
    /// Where applied actions are counted for the guardrails.
    pub guard_store: &'a dyn GuardStore,
    pub actuators: Actuators<'a>,
    pub fence: Option<&'a Fence>,
    pub guard: &'a mut GuardState,
    pub detector: &'a Detector,
}

impl StepContext<'_> {
    /// The fencing epoch journal claims are made under (0 without a lease).
    fn epoch(&self) -> u64 {
        self.fence.map_or(0, Fence::epoch)
    }
}

impl Executor {
    /// No execution yet; the first gets id `next_id`.
    pub fn new(next_id: ExecutionId) -> Self {
        Executor {
            executions: Vec::new(),
            next_id,
            held: BTreeSet::new(),
            context: BTreeMap::new(),
        }
    }

    /// The execution that would carry out `policy`, under the next id; it runs once
    /// [`Executor::run`] is given it.
    pub fn prepare(
        &mut self,
        policy: &Policy,
        targets: Vec<SeriesKey>,
        context: Vec<SeriesKey>,
        time_to_effect: Duration,
        badness_before: f64,
        now: Timestamp,
    ) -> Execution {
        let id = self.next_id;
        self.next_id = ExecutionId(id.get() + 1);
        if !context.is_empty() {
            self.context.insert(id, context);
        }
        Execution::new(id, policy, targets, time_to_effect, badness_before, now)
    }

    /// Run a prepared execution: its first step is applied at the next advance.
    pub fn run(&mut self, e: Execution) {
        self.executions.push(e);
    }

    /// Whether an execution of this incident is running.
    pub fn runs_for(&self, incident_id: IncidentId) -> bool {
        self.executions.iter().any(|e| e.incident_id == incident_id)
    }

    /// Whether an execution acting on `component` is running.
    pub fn acts_on(&self, component: &str) -> bool {
        self.executions
            .iter()
            .any(|e| e.components().any(|x| x == component))
    }

    /// Move execution `i` as far as it can go at `now` (bounded: each move changes
    /// its state machine or stops). `fresh`: this tick read the source, so a
    /// verification can look at the targets.
    pub async fn advance(
        &mut self,
        i: usize,
        cx: &mut StepContext<'_>,
        now: Timestamp,
        fresh: bool,
        emit: &mut Emitter,
    ) -> Result<Advanced, ControllerError> {
        let mut out = Advanced::default();
        for _ in 0..64 {
            let next = self.executions[i].next_move(now);
            // Blind or paused: no step, resend or compensation is sent until the
            // monitor sees again and automation is resumed; nothing fails, the
            // execution waits. Asking an actuator what became of a step changes
            // nothing and goes on.
            let hold = if cx.guard.paused {
                Some("automation is paused")
            } else if cx.guard.blind {
                Some("the monitor is blind")
            } else {
                None
            };
            if let Some(reason) = hold
                && matches!(next, Move::Apply(_) | Move::Compensate(..))
            {
                let e = &self.executions[i];
                if self.held.insert(e.id) {
                    let what = match &next {
                        Move::Apply(s) => format!("step {} ({})", s + 1, e.steps[*s].action),
                        Move::Compensate(s, _) => {
                            format!("the undo of step {} ({})", s + 1, e.steps[*s].action)
                        }
                        _ => unreachable!("only steps and compensations are held"),
                    };
                    emit.emit(Event::Held {
                        execution_id: e.id,
                        incident_id: e.incident_id,
                        what,
                        reason: reason.to_string(),
                    })
                    .await?;
                }
                break;
            }
            self.held.remove(&self.executions[i].id);
            match next {
                Move::Wait | Move::Finished => break,
                Move::Apply(step) => {
                    out.all_applied |= self.apply_step(i, step, cx, now, emit).await?;
                    if matches!(
                        self.executions[i].steps[step].status,
                        StepStatus::Indeterminate(_)
                    ) {
                        // No answer: the actuator is asked from the next tick on.
                        break;
                    }
                }
                Move::AskStatus(step) => {
                    if !self.ask_status(i, step, cx, now, emit).await? {
                        break;
                    }
                    out.all_applied |= self.executions[i]
                        .steps
                        .iter()
                        .all(|s| s.applied_at.is_some());
                }
                Move::Verify => {
                    let (after, resolved) =
                        badness(cx.charter, cx.detector, &self.executions[i].targets);
                    let Some(resolved) = resolved.filter(|_| fresh) else {
                        // Cannot verify without data; the deadline stays passed and we try next tick.
                        break;
                    };
                    let e = &mut self.executions[i];
                    let class = e.verified(after, resolved, now);
                    let context = self
                        .context
                        .get(&e.id)
                        .map(|keys| breaching(cx.charter, cx.detector, keys))
                        .unwrap_or_default();
                    emit.emit(Event::Verified {
                        execution_id: e.id,
                        incident_id: e.incident_id,
                        outcome: class,
                        before: e.badness_before,
                        after,
                        targets: e.targets.iter().map(SeriesKey::to_string).collect(),
                        context,
                    })
                    .await?;
                    if class == OutcomeClass::NoEffect {
                        self.decide_undo(i, cx.charter, emit).await?;
                    }
                }
                Move::Compensate(step, inverse) => {
                    if !self
                        .compensate_step(i, step, inverse, cx, now, emit)
                        .await?
                    {
                        // No answer: the same undo is sent again next tick.
                        break;
                    }
                }
            }
        }
        out.done = self.executions[i].is_done();
        if out.done {
            self.held.remove(&self.executions[i].id);
            self.context.remove(&self.executions[i].id);
        }
        Ok(out)
    }

    /// A verified `no_effect` execution: undo what did not help, most recent first,
    /// except irreversible steps and kinds the charter keeps (`on_no_effect: keep`,
    /// for an action the next attempt builds on). The decision is audited; each undo
    /// is journaled like a compensation.
    async fn decide_undo(
        &mut self,
        i: usize,
        charter: &Charter,
        emit: &mut Emitter,
    ) -> Result<(), ControllerError> {
        let e = &mut self.executions[i];
        let mut kept = Vec::new();
        let undoing = e.undo_no_effect(|s| {
            let why = if s.action.inverse(&s.prior).is_none() {
                format!("{}: {} is irreversible", s.action, s.action.kind)
            } else if charter.action(s.action.kind).keep_on_no_effect {
                format!(
                    "{}: the charter keeps {} (actions.{}.on_no_effect: keep)",
                    s.action, s.action.kind, s.action.kind
                )
            } else {
                return None;
            };
            kept.push(why.clone());
            Some(why)
        });
        if !undoing && kept.is_empty() {
            return Ok(());
        }
        let undo = e
            .steps
            .iter()
            .rev()
            .filter(|s| s.status == StepStatus::Applied)
            .map(|s| s.action.clone())
            .collect();
        emit.emit(Event::UndoDecided {
            execution_id: e.id,
            incident_id: e.incident_id,
            undo,
            kept,
        })
        .await?;
        Ok(())
    }

    /// Ask the actuator what became of step `step` of execution `i`, whose outcome was
    /// unknown: applied → journaled applied and the execution goes on; not applied →
    /// sent again under the same key (the actuator applies a key at most once);
    /// unknown → asked again next tick, at most [`MAX_STATUS_ASKS`] times, after which
    /// the execution fails and its components wait for an operator. Returns whether
    /// the execution moved.
    async fn ask_status(
        &mut self,
        i: usize,
        step: usize,
        cx: &mut StepContext<'_>,
        now: Timestamp,
        emit: &mut Emitter,
    ) -> Result<bool, ControllerError> {
        let e = &self.executions[i];
        let s = &e.steps[step];
        let (eid, iid, action, key) = (e.id, e.incident_id, s.action.clone(), s.key.clone());
        let intent = forward_intent(e, step, cx.epoch(), now);
        let answer = match cx.actuators.for_component(&action.component) {
            Some(act) => act.status(key.as_str()).await.map_err(|e| e.to_string()),
            None => Err(format!("no actuator is bound to {}", action.component)),
        };
        match answer {
            Ok(Some(applied)) => {
                journal::settle(cx.journal, &intent, &applied, JournalStatus::Applied, now).await?;
                emit.emit(Event::StepApplied {
                    execution_id: eid,
                    incident_id: iid,
                    action,
                    detail: format!("(confirmed by the actuator's status) {}", applied.detail),
                })
                .await?;
                self.executions[i].status_known(step, Some(applied), now);
                Ok(true)
            }
            Ok(None) => {
                // Not applied: the step is pending again; it is sent anew (same key)
                // by the next move, under the same checks as any step.
                self.executions[i].status_known(step, None, now);
                Ok(true)
            }
            Err(reason) => {
                let gave_up = self.executions[i].status_unknown(step, &reason, now);
                if gave_up {
                    emit.emit(gave_up_on(eid, iid, action, &reason)).await?;
                }
                Ok(gave_up)
            }
        }
    }

    /// Apply step `step` of execution `i`, journaled; whether every step of it is now
    /// applied.
    async fn apply_step(
        &mut self,
        i: usize,
        step: usize,
        cx: &mut StepContext<'_>,
        now: Timestamp,
        emit: &mut Emitter,
    ) -> Result<bool, ControllerError> {
        let e = &self.executions[i];
        let s = &e.steps[step];
        let (eid, iid, action) = (e.id, e.incident_id, s.action.clone());
        // Safety: the kill switch and the mode are checked before every step (a
        // paused loop holds its steps before it gets here).
        if cx.guard.paused || cx.charter.mode == Mode::Shadow {
            let why = if cx.guard.paused {
                "paused"
            } else {
                "shadow mode"
            };
            self.executions[i].step_failed(step, format!("{why}: not sent"), now);
            return Ok(false);
        }
        // With a lease: nothing starts once it may have ended (the claim is fenced in
        // the store as well).
        check_lease(cx.fence, "apply a step")?;
        let intent = forward_intent(e, step, cx.epoch(), now);
        // A step whose earlier send had no answer is sent again under the same key:
        // its intent is already journaled (the claim is idempotent on the key).
        let (_, sent) =
            journal::claim_and_send(cx.journal, &cx.actuators, &intent, JournalStatus::Applied)
                .await?;
        // Counted for the guardrails once: at the first send that applied or may have.
        let first = self.executions[i].steps[step].asks == 0;
        match sent {
            Sent::Applied(applied) => {
                if first {
                    count_action(cx, &action, now).await?;
                }
                emit.emit(Event::StepApplied {
                    execution_id: eid,
                    incident_id: iid,
                    action,
                    detail: applied.detail.clone(),
                })
                .await?;
                let e = &mut self.executions[i];
                e.step_applied(step, applied, now);
                Ok(e.steps.iter().all(|s| s.applied_at.is_some()))
            }
            Sent::Indeterminate(detail) => {
                // It may have been applied: counted as if it was, and the execution
                // holds until the actuator tells.
                if first {
                    count_action(cx, &action, now).await?;
                }
                emit.emit(Event::StepIndeterminate {
                    execution_id: eid,
                    incident_id: iid,
                    action: action.clone(),
                    detail: detail.clone(),
                })
                .await?;
                if self.executions[i].step_indeterminate(step, detail.clone(), now) {
                    emit.emit(gave_up_on(eid, iid, action, &detail)).await?;
                }
                Ok(false)
            }
            Sent::Refused(err) => {
                emit.emit(Event::StepFailed {
                    execution_id: eid,
                    incident_id: iid,
                    action,
                    error: err.clone(),
                })
                .await?;
                self.executions[i].step_failed(step, err, now);
                Ok(false)
            }
        }
    }

    /// Undo step `step` of execution `i` with `inverse` (none: the kind is
    /// irreversible), journaled.
    async fn compensate_step(
        &mut self,
        i: usize,
        step: usize,
        inverse: Option<Action>,
        cx: &mut StepContext<'_>,
        now: Timestamp,
        emit: &mut Emitter,
    ) -> Result<bool, ControllerError> {
        let e = &self.executions[i];
        let (eid, iid) = (e.id, e.incident_id);
        // What was undone (none: irreversible), whether it was, and the detail: the
        // actuator's, or why nothing was sent.
        let (action, ok, detail) = match inverse {
            None => {
                let detail = format!("{} is irreversible", e.steps[step].action.kind);
                (None, false, detail)
            }
            Some(inv) => {
                let key = e.steps[step].key.undo();
                check_lease(cx.fence, "compensate a step")?;
                // The kill switch holds compensations too (invariant 5); a paused loop
                // holds them before it gets here.
                if cx.guard.paused {
                    let detail = "automation is paused: not undone; an operator must look";
                    (Some(inv), false, detail.to_string())
                } else {
                    let intent = journal::intent(
                        eid,
                        StepRef::Undo(step as u32),
                        &key,
                        cx.epoch(),
                        inv.clone(),
                        "compensation",
                        now,
                    );
                    let (row, result) = journal::claim_and_send(
                        cx.journal,
                        &cx.actuators,
                        &intent,
                        JournalStatus::Compensated,
                    )
                    .await?;
                    if let Sent::Indeterminate(detail) = &result {
                        // It may have been undone: sent again next tick under the same
                        // key (a repeat reports what the first did), a bounded number
                        // of times; the intent stays open for a restart's recovery.
                        emit.emit(Event::StepIndeterminate {
                            execution_id: eid,
                            incident_id: iid,
                            action: inv.clone(),
                            detail: detail.clone(),
                        })
                        .await?;
                        let gave_up = self.executions[i].compensation_unknown(step, detail, now);
                        if gave_up {
                            emit.emit(Event::Compensated {
                                execution_id: eid,
                                incident_id: iid,
                                action: Some(inv),
                                ok: false,
                                detail: format!("outcome unknown: {detail}"),
                            })
                            .await?;
                        }
                        return Ok(false);
                    }
                    (Some(inv), result.is_applied(), row.detail)
                }
            }
        };
        let result = if ok { Ok(()) } else { Err(detail.clone()) };
        emit.emit(Event::Compensated {
            execution_id: eid,
            incident_id: iid,
            action,
            ok,
            detail,
        })
        .await?;
        self.executions[i].compensated(step, result, now);
        Ok(true)
    }
}

/// The intent row of forward step `step` of `e` (sent, or sent again, under its key).
fn forward_intent(e: &Execution, step: usize, epoch: u64, now: Timestamp) -> JournalRecord {
    let s = &e.steps[step];
    journal::intent(
        e.id,
        StepRef::Forward(step as u32),
        &s.key,
        epoch,
        s.action.clone(),
        "",
        now,
    )
}

/// The failure of a step whose outcome stayed unknown after [`MAX_STATUS_ASKS`] tries.
fn gave_up_on(
    execution_id: ExecutionId,
    incident_id: IncidentId,
    action: Action,
    reason: &str,
) -> Event {
    Event::StepFailed {
        execution_id,
        incident_id,
        action,
        error: format!(
            "outcome still unknown after {MAX_STATUS_ASKS} tries ({reason}): counted as applied, an operator must look"
        ),
    }
}

/// Count an action for the guardrails: persisted, and in the window the hourly limit
/// and the oscillation check look at.
async fn count_action(
    cx: &mut StepContext<'_>,
    action: &Action,
    now: Timestamp,
) -> Result<(), ControllerError> {
    cx.guard_store
        .record_action(&action.component, action.kind, now)
        .await?;
    let guard = &mut *cx.guard;
    guard
        .recent_actions
        .push((action.component.clone(), action.kind, now));
    let keep = Duration::from_secs(3600).max(cx.charter.guardrails.oscillation_window);
    guard
        .recent_actions
        .retain(|(_, _, t)| now.since(*t) < keep);
    Ok(())
}

/// Severity-weighted badness of target series from the latest samples, and whether
/// every target is back within its thresholds. A target without a value (Unknown) or
/// whose objective the charter does not declare makes the answer `None`: a target that
/// cannot be read is never taken for resolved.
pub(crate) fn badness(
    charter: &Charter,
    detector: &Detector,
    targets: &[SeriesKey],
) -> (f64, Option<bool>) {
    let mut total = 0.0;
    let mut all_clear = true;
    for t in targets {
        let (Some(objective), Some(v)) = (
            charter.objective(&t.objective),
            detector.latest(&t.objective, &t.component),
        ) else {
            return (total, None);
        };
        if let Some(sev) = severity_of(objective, v) {
            let first = objective
                .thresholds
                .warning
                .or(objective.thresholds.critical)
                .unwrap_or(0.0);
            let excess = objective.direction.excess(v, first).clamp(0.0, 2.0);
            total += sev.weight() * (1.0 + excess);
            all_clear = false;
        } else if !is_clear(objective, v) {
            // Between clear and warning: recovering but not yet clear.
            total += 0.25 * Severity::Warning.weight();
        }
    }
    (total, Some(all_clear))
}

/// Which of `keys` breach a threshold on their latest sample (Unknown ones are left
/// out: nothing can be said of them).
fn breaching(charter: &Charter, detector: &Detector, keys: &[SeriesKey]) -> Vec<String> {
    keys.iter()
        .filter(|k| {
            let objective = charter.objective(&k.objective);
            let value = detector.latest(&k.objective, &k.component);
            matches!((objective, value), (Some(o), Some(v)) if severity_of(o, v).is_some())
        })
        .map(SeriesKey::to_string)
        .collect()
}

impl Controller {
    /// Start carrying out an approved policy: the incident is remediating and the
    /// execution's record is saved before its first step.
    pub(super) async fn start_execution(
        &mut self,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<(), ControllerError> {
        let tte = policy
            .actions
            .iter()
            .map(|a| self.charter.action(a.kind).time_to_effect)
            .max()
            .unwrap_or(Duration::from_secs(60));
        let targets = self.book.series_of(policy.incident_id, &policy.targets);
        // The incident's other active members: context, not judged.
        let context: Vec<SeriesKey> = self
            .book
            .incidents
            .get(&policy.incident_id)
            .map(|rt| {
                rt.members
                    .values()
                    .filter(|v| matches!(v.state, ViolationState::Firing | ViolationState::Pending))
                    .map(Violation::series)
                    .filter(|k| !targets.contains(k))
                    .collect()
            })
            .unwrap_or_default();
        let (before, _) = badness(&self.charter, &self.observer.detector, &targets);
        let e = self
            .executor
            .prepare(policy, targets, context, tte, before, now);
        if let Some(rt) = self.book.incidents.get_mut(&policy.incident_id) {
            rt.incident.state = IncidentState::Remediating;
            self.store.save_incident(&rt.incident).await?;
        }
        self.save_execution(&e, ExecutionState::Applying).await?;
        self.executor.run(e);
        Ok(())
    }

    pub(super) async fn save_execution(
        &self,
        e: &Execution,
        state: ExecutionState,
    ) -> Result<(), ControllerError> {
        self.store
            .save_execution(&ExecutionRecord {
                id: e.id,
                policy_id: e.policy_id,
                incident_id: e.incident_id,
                started_at: e.started_at,
                finished_at: e.finished_at,
                state,
                actions: e.steps.iter().map(|s| s.action.clone()).collect(),
            })
            .await?;
        Ok(())
    }

    /// Move every execution, and settle those that are done.
    pub(super) async fn advance_executions(
        &mut self,
        now: Timestamp,
        fresh: bool,
        emit: &mut Emitter,
    ) -> Result<(), ControllerError> {
        let mut i = 0;
        while i < self.executor.executions.len() {
            let mut cx = StepContext {
                charter: &self.charter,
                journal: self.store.as_ref(),
                guard_store: self.store.as_ref(),
                actuators: Actuators {
                    charter: &self.charter,
                    by_name: &self.actuators,
                },
                fence: self.fence.as_deref(),
                guard: &mut self.guard,
                detector: &self.observer.detector,
            };
            let moved = self.executor.advance(i, &mut cx, now, fresh, emit).await?;
            if moved.all_applied {
                let iid = self.executor.executions[i].incident_id;
                if let Some(rt) = self.book.incidents.get_mut(&iid) {
                    rt.incident.state = IncidentState::Verifying;
                }
            }
            if moved.done {
                let e = self.executor.executions.remove(i);
                self.finish_execution(e, now, emit).await?;
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    /// A finished execution: its record, its outcome (credited to the action it was
    /// planned around, for learning), and what it does to its incident — quarantine
    /// and escalation when a compensation failed, another attempt otherwise.
    async fn finish_execution(
        &mut self,
        e: Execution,
        now: Timestamp,
        emit: &mut Emitter,
    ) -> Result<(), ControllerError> {
        let class = e.outcome.unwrap_or(OutcomeClass::Failed);
        self.metrics
            .outcomes
            .get_or_create(&vec![("class".into(), class.to_string())])
            .inc();
        self.save_execution(
            &e,
            if e.rolled_back {
                ExecutionState::RolledBack
            } else {
                ExecutionState::finished(class)
            },
        )
        .await?;
        let first = e.steps.get(e.main).map(|s| s.action.clone());
        let outcome = Outcome {
            execution_id: e.id,
            policy_id: e.policy_id,
            incident_id: e.incident_id,
            at: now,
            class,
            rolled_back: e.rolled_back,
            time_to_effect_secs: now.since(e.started_at).as_secs_f64(),
            violations_before: e.badness_before,
            violations_after: e.badness_after.unwrap_or(e.badness_before),
            detail: format!("{} step(s)", e.steps.len()),
        };
        let mut assumed = None;
        if let Some(action) = &first {
            // Credited to the (objective, cause) the policy was decided for; a policy
            // stored without it falls back to the first target on the acted-on component.
            let (objective, cause) = match self
                .store
                .policy(e.policy_id)
                .await?
                .and_then(|p| p.context)
            {
                Some(c) => (c.objective, Some(c.cause)),
                None => (
                    e.targets
                        .iter()
                        .find(|t| t.component == action.component)
                        .or(e.targets.first())
                        .map(|t| t.objective.clone())
                        .unwrap_or_default(),
                    self.book.root_cause(e.incident_id),
                ),
            };
            assumed = cause;
            self.knowledge.observe(
                action.kind,
                &objective,
                &action.component,
                class,
                outcome.time_to_effect_secs,
                now,
            );
            self.store
                .save_outcome(&OutcomeRecord {
                    outcome: outcome.clone(),
                    action_kind: action.kind,
                    component: action.component.clone(),
                    objective,
                    cause,
                })
                .await?;
        }
        if e.compensation_failed {
            for c in e.components() {
                self.guard.quarantined.insert(c.to_string());
            }
            self.persist_guard().await?;
            self.escalate(
                e.incident_id,
                "a compensation failed: component quarantined",
                emit,
            )
            .await?;
            return Ok(());
        }
        if let Some(rt) = self.book.incidents.get_mut(&e.incident_id) {
            if class != OutcomeClass::Resolved
                && let Some(a) = first
            {
                rt.refute(&a, assumed, class, now);
                // A scale-out that helped without resolving may take another step
                // (replica limits and the cooldown still bound it); anything else
                // is not tried twice.
                if !(class == OutcomeClass::Improved && a.kind == ActionKind::ScaleOut) {
                    rt.tried.push(a);
                }
            }
            if rt.incident.state != IncidentState::Escalated {
                rt.incident.state = IncidentState::Diagnosed;
            }
            rt.dirty = true;
            self.store.save_incident(&rt.incident).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_model::{Sample, parse_charter};
    use std::path::Path;

    /// A charter whose objective's name contains `@`, as names may.
    const CHARTER: &str = r#"name: shop
interval: 15s
components:
  - name: api
objectives:
  - name: "latency@edge"
    metric: edge_latency_seconds
    above: { warning: 0.3, critical: 1.0, clear: 0.25 }
    remedies: [scale_out]
"#;

    fn reading(charter: &Charter, value: Option<f64>) -> Detector {
        let mut d = Detector::new();
        let sample = Sample {
            objective: "latency@edge".into(),
            component: "api".into(),
            at: Timestamp::from_secs(0),
            value,
        };
        d.update(charter, &[sample], Timestamp::from_secs(0));
        d
    }

    #[test]
    fn a_target_whose_objective_has_an_at_sign_is_read_not_taken_for_resolved() {
        let (charter, _) = parse_charter(CHARTER, "shop.yaml", Path::new(".")).expect("valid");
        let targets = [SeriesKey::new("latency@edge", "api")];
        // Still critical: not resolved, and badness counts it (the text key
        // `latency@edge@api`, split at its first `@`, named no objective and was
        // skipped, so verification saw "resolved").
        let (bad, resolved) = badness(&charter, &reading(&charter, Some(2.0)), &targets);
        assert_eq!(resolved, Some(false));
        assert!(bad > 0.0, "{bad}");
        let (bad, resolved) = badness(&charter, &reading(&charter, Some(0.1)), &targets);
        assert_eq!((bad, resolved), (0.0, Some(true)));
        // Unknown, or an objective the charter does not declare: cannot verify.
        assert_eq!(
            badness(&charter, &reading(&charter, None), &targets).1,
            None
        );
        let undeclared = [SeriesKey::new("latency", "api")];
        assert_eq!(
            badness(&charter, &reading(&charter, Some(0.1)), &undeclared).1,
            None
        );
    }
}
