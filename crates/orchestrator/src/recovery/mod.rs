//! Startup recovery: settle the executions an earlier process left unfinished
//! (DESIGN.md §3, invariants 3 and 6) before the loop plans anything new.
//!
//! An execution is unfinished when its record has no `finished_at` or when one of its
//! journal steps has an `Intent` row and no result. For each one:
//!
//! 1. Every step whose intent has no result is looked up with
//!    [`Actuator::status`] under its idempotency key: applied → journaled `Applied`
//!    with the actuator's detail and prior; not applied → journaled `Failed` ("not
//!    applied before the crash"); the actuator cannot tell → left as it is, and the
//!    execution is escalated. A forward step is never applied again.
//! 2. Every applied step is compensated, most recent first: the inverse
//!    ([`Action::inverse`] of the journaled prior) under the key `{key}-undo`,
//!    journaled `Intent` before and `Compensated` or `Failed` after. A compensation
//!    whose intent is already journaled is looked up first and applied only if the
//!    actuator says it never was; one that failed before is not retried. An
//!    irreversible step (restart, flush_cache) is recorded as not compensated.
//!    While the kill switch is on nothing is compensated: each applied step is
//!    recorded as not undone ("automation is paused").
//! 3. The execution record is finished as `recovered`, or `recovery_failed` when a
//!    compensation failed or was held back by the kill switch, or a status is unknown. Then the execution's components
//!    are quarantined (persisted, so the next start keeps them) and its incident is
//!    escalated, once.
//!
//! Every decision is written to the audit log (`recovery`), logged, and returned in
//! the [`RecoveryReport`] with the loop's own [`Event`]s. Recovery learns nothing:
//! undoing a step because the process died says nothing about the step.
//!
//! In shadow mode (`mode: shadow`) no actuator is called, not even to ask: each step
//! is reported as what would be done ([`StepDecision::WouldCompensate`],
//! [`StepDecision::NotLookedUp`]), audited, and nothing in the journal, the execution
//! records, the quarantine or the incidents changes — a later run that may act
//! settles them.

mod report;

pub use report::{
    ExecutionRecovery, NOT_APPLIED, RecoveryOutcome, RecoveryReport, StepDecision, StepRecovery,
};

use crate::event::{Event, Timed};
use crate::journal::{self, Actuators, Sent};
use charter_execute::{Actuator, Applied};
use charter_knowledge::{
    AuditKind, ExecutionRecord, JournalRecord, JournalStatus, Store, StoreError,
};
use charter_model::{Action, Charter, IdempotencyKey, IncidentState, Mode, StepRef, Timestamp};
use charter_model::{ExecutionId, IncidentId};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Settle every unfinished execution in `store`; see the module documentation.
///
/// `actuators` maps the charter's actuator names to implementations, as for the
/// controller. Only store errors stop recovery (and the start); whatever an actuator
/// answers is a decision.
pub async fn recover(
    charter: &Charter,
    actuators: &BTreeMap<String, Arc<dyn Actuator>>,
    store: &dyn Store,
    now: Timestamp,
) -> Result<RecoveryReport, StoreError> {
    recover_as(charter, actuators, store, now, 0).await
}

/// [`recover`] as the leader of fencing epoch `epoch`: the compensations it starts are
/// claimed under that epoch (0: a single replica without a lease).
pub async fn recover_as(
    charter: &Charter,
    actuators: &BTreeMap<String, Arc<dyn Actuator>>,
    store: &dyn Store,
    now: Timestamp,
    epoch: u64,
) -> Result<RecoveryReport, StoreError> {
    let mut records: BTreeMap<ExecutionId, ExecutionRecord> = store
        .unfinished_executions()
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    let mut ids: BTreeSet<ExecutionId> = records.keys().copied().collect();
    let dangling: BTreeSet<ExecutionId> = store
        .unfinished_journal()
        .await?
        .iter()
        .map(|j| j.execution_id)
        .filter(|id| !ids.contains(id))
        .collect();
    if !dangling.is_empty() {
        // Finished executions with a step still unknown from an earlier recovery.
        for e in store.executions().await? {
            if dangling.contains(&e.id) {
                records.insert(e.id, e);
            }
        }
        ids.extend(dangling);
    }
    // The kill switch holds for recovery too (invariant 5): nothing is compensated
    // while it is on; the steps are settled as not undone and escalated.
    let paused = store.pause().await?.filter(|p| p.paused).map(|p| {
        format!(
            "automation is paused (by {}{}): not undone; an operator must look",
            p.by,
            if p.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", p.reason)
            }
        )
    });
    let mut r = Recovery {
        actuators: Actuators {
            charter,
            by_name: actuators,
        },
        store,
        now,
        epoch,
        paused,
        shadow: charter.mode == Mode::Shadow,
        report: RecoveryReport {
            shadow: charter.mode == Mode::Shadow,
            ..RecoveryReport::default()
        },
    };
    for id in ids {
        r.execution(id, records.remove(&id)).await?;
    }
    if !r.report.quarantined.is_empty() {
        let mut all = store.quarantined().await?;
        all.extend(r.report.quarantined.iter().cloned());
        store.save_quarantined(&all).await?;
    }
    if !r.report.is_empty() {
        tracing::info!("{}", r.report);
    }
    Ok(r.report)
}

/// What an actuator knows about a key.
enum Known {
    Applied(Applied),
    NotApplied,
    Unknown(String),
}

struct Recovery<'a> {
    actuators: Actuators<'a>,
    store: &'a dyn Store,
    now: Timestamp,
    /// The fencing epoch compensations are claimed under.
    epoch: u64,
    /// Why nothing may be compensated, when the kill switch is on.
    paused: Option<String>,
    /// Shadow mode: report only; no actuator call, no journal or record change.
    shadow: bool,
    report: RecoveryReport,
}

/// One execution being recovered.
struct Current {
    id: ExecutionId,
    incident: Option<IncidentId>,
    steps: Vec<StepRecovery>,
    /// A status this run could not learn.
    unknown: bool,
    /// A compensation that failed in this run, or cannot be built.
    failed_now: bool,
    /// A compensation that had failed before the crash.
    failed_before: bool,
}

impl Recovery<'_> {
    async fn ask(&self, key: &str, component: &str) -> Known {
        let Some(actuator) = self.actuators.for_component(component) else {
            return Known::Unknown(format!(
                "no actuator is bound to component `{component}` in this charter"
            ));
        };
        match actuator.status(key).await {
            Ok(Some(applied)) => Known::Applied(applied),
            Ok(None) => Known::NotApplied,
            Err(e) => Known::Unknown(e.to_string()),
        }
    }

    async fn execution(
        &mut self,
        id: ExecutionId,
        record: Option<ExecutionRecord>,
    ) -> Result<(), StoreError> {
        let mut cur = Current {
            id,
            incident: record.as_ref().map(|r| r.incident_id),
            steps: Vec::new(),
            unknown: false,
            failed_now: false,
            failed_before: false,
        };
        let mut forward: BTreeMap<u32, Vec<JournalRecord>> = BTreeMap::new();
        let mut undo: BTreeMap<u32, Vec<JournalRecord>> = BTreeMap::new();
        let mut components: BTreeSet<String> = record
            .iter()
            .flat_map(|r| r.actions.iter().map(|a| a.component.clone()))
            .collect();
        for row in self.store.journal(id).await? {
            components.insert(row.action.component.clone());
            match StepRef::from_journal_number(row.step) {
                StepRef::Undo(step) => undo.entry(step).or_default().push(row),
                StepRef::Forward(step) => forward.entry(step).or_default().push(row),
            }
        }

        // 1. Settle every forward step whose intent has no result.
        let mut applied: Vec<JournalRecord> = Vec::new();
        for rows in forward.values() {
            let result = rows
                .iter()
                .rev()
                .find(|r| r.status != JournalStatus::Intent);
            match result {
                Some(r) if r.status == JournalStatus::Applied => applied.push(r.clone()),
                // Failed (nothing to undo) or already compensated.
                Some(_) => {}
                None => {
                    let intent = rows.iter().find(|r| r.status == JournalStatus::Intent);
                    if let Some(intent) = intent
                        && let Some(row) = self.settle_intent(&mut cur, intent).await?
                    {
                        applied.push(row);
                    }
                }
            }
        }

        // 2. Undo every applied step, most recent first.
        applied.sort_by_key(|r| std::cmp::Reverse(r.step));
        for fwd in &applied {
            let rows = undo.get(&fwd.step).map(Vec::as_slice).unwrap_or_default();
            self.compensate(&mut cur, fwd, rows).await?;
        }

        if self.shadow {
            return self.defer(cur).await;
        }

        // 3. Finish the record; escalate once.
        let outcome = if cur.unknown || cur.failed_now || cur.failed_before {
            RecoveryOutcome::RecoveryFailed
        } else {
            RecoveryOutcome::Recovered
        };
        let was_unfinished = record.as_ref().is_none_or(|r| r.finished_at.is_none());
        if let Some(mut rec) = record
            && let Some(state) = outcome.state()
            && (rec.finished_at.is_none() || rec.state != state)
        {
            rec.finished_at = rec.finished_at.or(Some(self.now));
            rec.state = state;
            self.store.save_execution(&rec).await?;
        }
        self.store
            .audit(
                self.now,
                AuditKind::Recovery.as_str(),
                &serde_json::json!({
                    "execution": id,
                    "incident": cur.incident,
                    "state": outcome.as_str(),
                }),
            )
            .await?;
        // A compensation that failed before the crash was not escalated yet if the
        // execution never finished; one that failed in an earlier recovery was.
        let escalate = cur.unknown || cur.failed_now || (cur.failed_before && was_unfinished);
        if escalate {
            self.escalate(&cur, &components).await?;
        }
        if outcome == RecoveryOutcome::Recovered {
            tracing::info!(
                execution_id = id.get(),
                incident_id = ?cur.incident.map(IncidentId::get),
                "execution recovered"
            );
        }
        self.report.executions.push(ExecutionRecovery {
            execution_id: id,
            incident_id: cur.incident,
            outcome,
            steps: cur.steps,
            escalated: escalate,
        });
        Ok(())
    }

    /// Shadow mode: report the execution as left for a run that may act; audit only.
    async fn defer(&mut self, cur: Current) -> Result<(), StoreError> {
        let outcome = RecoveryOutcome::Deferred;
        self.store
            .audit(
                self.now,
                AuditKind::Recovery.as_str(),
                &serde_json::json!({
                    "execution": cur.id,
                    "incident": cur.incident,
                    "state": outcome.as_str(),
                    "detail": "shadow mode: no actuator called, nothing settled",
                }),
            )
            .await?;
        tracing::warn!(
            execution_id = cur.id.get(),
            incident_id = ?cur.incident.map(IncidentId::get),
            "shadow mode: unfinished execution left as it is; a run that may act settles it"
        );
        self.report.executions.push(ExecutionRecovery {
            execution_id: cur.id,
            incident_id: cur.incident,
            outcome,
            steps: cur.steps,
            escalated: false,
        });
        Ok(())
    }

    /// Look up a forward step that has an intent and no result; the applied row if it
    /// was applied.
    async fn settle_intent(
        &mut self,
        cur: &mut Current,
        intent: &JournalRecord,
    ) -> Result<Option<JournalRecord>, StoreError> {
        let key = intent.idempotency_key.clone();
        let action = intent.action.clone();
        if self.shadow {
            self.decide(cur, intent.step, &key, &action, StepDecision::NotLookedUp)
                .await?;
            return Ok(None);
        }
        match self.ask(&key, &action.component).await {
            Known::Applied(a) => {
                let row = JournalRecord {
                    status: JournalStatus::Applied,
                    detail: a.detail.clone(),
                    prior: a.prior,
                    at: self.now,
                    ..intent.clone()
                };
                self.store.journal_step(&row).await?;
                // Guardrail state: the action was taken, when its intent was written.
                self.store
                    .record_action(&action.component, action.kind, intent.at)
                    .await?;
                self.decide(
                    cur,
                    intent.step,
                    &key,
                    &action,
                    StepDecision::AppliedBeforeCrash { detail: a.detail },
                )
                .await?;
                Ok(Some(row))
            }
            Known::NotApplied => {
                let row = JournalRecord {
                    status: JournalStatus::Failed,
                    detail: NOT_APPLIED.to_string(),
                    at: self.now,
                    ..intent.clone()
                };
                self.store.journal_step(&row).await?;
                self.decide(cur, intent.step, &key, &action, StepDecision::NotApplied)
                    .await?;
                Ok(None)
            }
            Known::Unknown(reason) => {
                cur.unknown = true;
                self.decide(
                    cur,
                    intent.step,
                    &key,
                    &action,
                    StepDecision::Unknown { reason },
                )
                .await?;
                Ok(None)
            }
        }
    }

    /// Undo one applied step, given the journal rows of its compensation so far.
    async fn compensate(
        &mut self,
        cur: &mut Current,
        fwd: &JournalRecord,
        rows: &[JournalRecord],
    ) -> Result<(), StoreError> {
        let step = fwd.step;
        let action = &fwd.action;
        let by_status = |s: JournalStatus| rows.iter().find(|r| r.status == s);
        if let Some(done) = by_status(JournalStatus::Compensated) {
            let decision = StepDecision::Compensated {
                inverse: done.action.clone(),
                now: false,
            };
            return self
                .decide(cur, step, &done.idempotency_key, action, decision)
                .await;
        }
        if let Some(failed) = by_status(JournalStatus::Failed) {
            // Never retried: a failed compensation escalates, it does not loop.
            cur.failed_before = true;
            let decision = StepDecision::CompensationFailed {
                inverse: Some(failed.action.clone()),
                reason: format!("before the crash: {}", failed.detail),
            };
            return self
                .decide(cur, step, &failed.idempotency_key, action, decision)
                .await;
        }
        if self.shadow {
            let key = fwd.idempotency_key.clone();
            let decision = match by_status(JournalStatus::Intent) {
                Some(_) => StepDecision::NotLookedUp,
                None if !action.kind.is_reversible() => StepDecision::Irreversible,
                None => StepDecision::WouldCompensate {
                    inverse: action.inverse(&fwd.prior),
                },
            };
            return self.decide(cur, step, &key, action, decision).await;
        }
        let intent = match by_status(JournalStatus::Intent) {
            Some(intent) => {
                // Journaled before the crash: applied only if it never was.
                let key = &intent.idempotency_key;
                match self.ask(key, &intent.action.component).await {
                    Known::Applied(a) => {
                        let row = JournalRecord {
                            status: JournalStatus::Compensated,
                            detail: a.detail,
                            prior: a.prior,
                            at: self.now,
                            ..intent.clone()
                        };
                        self.store.journal_step(&row).await?;
                        let decision = StepDecision::Compensated {
                            inverse: intent.action.clone(),
                            now: false,
                        };
                        return self.decide(cur, step, key, action, decision).await;
                    }
                    Known::Unknown(reason) => {
                        cur.unknown = true;
                        let decision = StepDecision::Unknown { reason };
                        return self.decide(cur, step, key, action, decision).await;
                    }
                    Known::NotApplied => {
                        if let Some(why) = self.paused.clone() {
                            // Settle the claim: it was not applied, and will not be now.
                            let row = JournalRecord {
                                status: JournalStatus::Failed,
                                detail: why.clone(),
                                at: self.now,
                                ..intent.clone()
                            };
                            self.store.journal_step(&row).await?;
                            cur.failed_now = true;
                            let decision = StepDecision::CompensationFailed {
                                inverse: Some(intent.action.clone()),
                                reason: why,
                            };
                            return self.decide(cur, step, key, action, decision).await;
                        }
                        // Claimed under an older epoch and never applied: this leader
                        // claims it again under its own before it acts (fenced like
                        // any claim), so the journal says who sent it.
                        let claim = JournalRecord {
                            epoch: self.epoch,
                            at: self.now,
                            ..intent.clone()
                        };
                        let claimed = self.store.journal_step(&claim).await?;
                        if !claimed && claim.epoch > intent.epoch {
                            // The row stayed the older epoch's: this one may not claim.
                            return Err(StoreError::Fenced {
                                epoch: self.epoch,
                                current: None,
                            });
                        }
                        claim
                    }
                }
            }
            None => {
                if !action.kind.is_reversible() {
                    let key = fwd.idempotency_key.clone();
                    return self
                        .decide(cur, step, &key, action, StepDecision::Irreversible)
                        .await;
                }
                let Some(inverse) = action.inverse(&fwd.prior) else {
                    cur.failed_now = true;
                    let decision = StepDecision::CompensationFailed {
                        inverse: None,
                        reason: "the prior state its inverse needs is not in the journal".into(),
                    };
                    let key = fwd.idempotency_key.clone();
                    return self.decide(cur, step, &key, action, decision).await;
                };
                if let Some(why) = self.paused.clone() {
                    cur.failed_now = true;
                    let decision = StepDecision::CompensationFailed {
                        inverse: Some(inverse),
                        reason: why,
                    };
                    let key = fwd.idempotency_key.clone();
                    return self.decide(cur, step, &key, action, decision).await;
                }
                let intent = journal::intent(
                    fwd.execution_id,
                    StepRef::Undo(step),
                    &IdempotencyKey::from(fwd.idempotency_key.clone()).undo(),
                    self.epoch,
                    inverse,
                    "compensation (startup recovery)",
                    self.now,
                );
                // Journal first, then act.
                self.store.journal_step(&intent).await?;
                intent
            }
        };
        let key = intent.idempotency_key.clone();
        let inverse = intent.action.clone();
        let (_, result) = journal::send(
            self.store,
            &self.actuators,
            &intent,
            JournalStatus::Compensated,
        )
        .await?;
        let decision = match result {
            Sent::Applied(_) => StepDecision::Compensated {
                inverse: inverse.clone(),
                now: true,
            },
            // An unknown outcome leaves the intent open: the next recovery asks.
            Sent::Refused(e) | Sent::Indeterminate(e) => {
                cur.failed_now = true;
                StepDecision::CompensationFailed {
                    inverse: Some(inverse.clone()),
                    reason: e,
                }
            }
        };
        self.decide(cur, step, &key, action, decision).await
    }

    /// Record a decision: audit log, log line, event, report.
    async fn decide(
        &mut self,
        cur: &mut Current,
        step: u32,
        key: &str,
        action: &Action,
        decision: StepDecision,
    ) -> Result<(), StoreError> {
        let s = StepRecovery {
            step,
            key: key.to_string(),
            action: action.clone(),
            decision,
        };
        self.store
            .audit(
                self.now,
                AuditKind::Recovery.as_str(),
                &serde_json::json!({
                    "execution": cur.id,
                    "incident": cur.incident,
                    "step": step,
                    "key": key,
                    "action": action.to_string(),
                    "decision": s.decision.name(),
                    "detail": s.to_string(),
                }),
            )
            .await?;
        match &s.decision {
            StepDecision::Unknown { .. }
            | StepDecision::CompensationFailed { .. }
            | StepDecision::WouldCompensate { .. }
            | StepDecision::NotLookedUp => {
                tracing::warn!(execution_id = cur.id.get(), key, "recovery: {s}")
            }
            _ => tracing::info!(execution_id = cur.id.get(), key, "recovery: {s}"),
        }
        if let Some(incident_id) = cur.incident {
            let execution_id = cur.id;
            let event = match &s.decision {
                StepDecision::AppliedBeforeCrash { detail } => Some(Event::StepApplied {
                    execution_id,
                    incident_id,
                    action: action.clone(),
                    detail: format!("applied before the crash: {detail}"),
                }),
                StepDecision::NotApplied => Some(Event::StepFailed {
                    execution_id,
                    incident_id,
                    action: action.clone(),
                    error: NOT_APPLIED.into(),
                }),
                StepDecision::Compensated { inverse, now: true } => Some(Event::Compensated {
                    execution_id,
                    incident_id,
                    action: Some(inverse.clone()),
                    ok: true,
                    detail: "startup recovery".into(),
                }),
                StepDecision::CompensationFailed { inverse, reason } => Some(Event::Compensated {
                    execution_id,
                    incident_id,
                    action: inverse.clone(),
                    ok: false,
                    detail: reason.clone(),
                }),
                StepDecision::Irreversible => Some(Event::Compensated {
                    execution_id,
                    incident_id,
                    action: None,
                    ok: false,
                    detail: format!("{} is irreversible", action.kind),
                }),
                StepDecision::Unknown { .. }
                | StepDecision::Compensated { now: false, .. }
                | StepDecision::WouldCompensate { .. }
                | StepDecision::NotLookedUp => None,
            };
            if let Some(event) = event {
                self.report.events.push(Timed {
                    at: self.now,
                    event,
                });
            }
        }
        cur.steps.push(s);
        Ok(())
    }

    /// Quarantine the execution's components and escalate its incident.
    async fn escalate(
        &mut self,
        cur: &Current,
        components: &BTreeSet<String>,
    ) -> Result<(), StoreError> {
        let reason = if cur.unknown {
            "startup recovery: whether a step was applied is unknown; components quarantined"
        } else {
            "startup recovery: a compensation failed; components quarantined"
        };
        self.report.quarantined.extend(components.iter().cloned());
        if let Some(incident_id) = cur.incident
            && let Some(mut incident) = self
                .store
                .open_incidents()
                .await?
                .into_iter()
                .find(|i| i.id == incident_id)
        {
            incident.state = IncidentState::Escalated;
            self.store.save_incident(&incident).await?;
        }
        self.store
            .audit(
                self.now,
                AuditKind::Escalation.as_str(),
                &serde_json::json!({
                    "incident": cur.incident,
                    "execution": cur.id,
                    "components": components,
                    "reason": reason,
                }),
            )
            .await?;
        let names: Vec<&str> = components.iter().map(String::as_str).collect();
        tracing::error!(
            execution_id = cur.id.get(),
            incident_id = ?cur.incident.map(IncidentId::get),
            components = %names.join(","),
            reason,
            "execution escalated: an operator must act"
        );
        if let Some(incident_id) = cur.incident {
            self.report.events.push(Timed {
                at: self.now,
                event: Event::IncidentEscalated {
                    incident_id,
                    reason: reason.to_string(),
                },
            });
        }
        Ok(())
    }
}
