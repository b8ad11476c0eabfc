//! The journaled apply (invariant 3): a durable intent, then the actuator's call, then
//! the result row. The loop's steps and compensations and startup recovery's
//! compensations all send through [`send`]; nothing else calls an actuator's `apply`.

use charter_execute::{Actuator, Applied, NextStep};
use charter_knowledge::{Journal, JournalRecord, JournalStatus, StoreError};
use charter_model::ExecutionId;
use charter_model::{Action, Charter, IdempotencyKey, StepRef, Timestamp};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The actuators of a charter, looked up by component.
pub(crate) struct Actuators<'a> {
    pub charter: &'a Charter,
    pub by_name: &'a BTreeMap<String, Arc<dyn Actuator>>,
}

impl Actuators<'_> {
    /// The actuator bound to `component` in the charter, if any.
    pub fn for_component(&self, component: &str) -> Option<Arc<dyn Actuator>> {
        let name = self.charter.component(component)?.actuator.as_ref()?;
        self.by_name.get(name).cloned()
    }
}

/// The intent row of a step: written (and, with a lease, fenced) before the actuator
/// is called.
pub(crate) fn intent(
    execution_id: ExecutionId,
    step: StepRef,
    key: &IdempotencyKey,
    epoch: u64,
    action: Action,
    detail: &str,
    at: Timestamp,
) -> JournalRecord {
    JournalRecord {
        execution_id,
        step: step.journal_number(),
        idempotency_key: key.to_string(),
        epoch,
        action,
        status: JournalStatus::Intent,
        detail: detail.to_string(),
        prior: BTreeMap::new(),
        at,
    }
}

/// What an actuator answered to a journaled step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Sent {
    /// It applied; what it returned.
    Applied(Applied),
    /// It refused or failed without acting (or no actuator is bound): why.
    Refused(String),
    /// No answer (a timeout, a connection lost after sending): it may have applied.
    /// The intent stays without a result in the journal, so that whoever looks next
    /// (the loop's next ticks, or startup recovery) asks the actuator's `status`.
    Indeterminate(String),
}

impl Sent {
    /// Whether the actuator applied it.
    pub fn is_applied(&self) -> bool {
        matches!(self, Sent::Applied(_))
    }
}

/// Call the actuator of an intent that is already journaled, and journal the result:
/// `done` (with the actuator's detail and the prior state an inverse needs) when it
/// applied, `Failed` with the error when it refused, nothing when the outcome is
/// unknown. Returns the result row (for an unknown outcome, the intent with the error
/// as its detail) and what the actuator answered; only the store's errors are errors
/// here.
pub(crate) async fn send(
    store: &dyn Journal,
    actuators: &Actuators<'_>,
    intent: &JournalRecord,
    done: JournalStatus,
) -> Result<(JournalRecord, Sent), StoreError> {
    let action = &intent.action;
    let sent = match actuators.for_component(&action.component) {
        Some(act) => match act.apply(&intent.idempotency_key, action).await {
            Ok(a) => Sent::Applied(a),
            Err(e) if e.next_step() == NextStep::AskStatus => Sent::Indeterminate(e.to_string()),
            Err(e) => Sent::Refused(e.to_string()),
        },
        None => Sent::Refused(format!(
            "no actuator is bound to component `{}` in this charter",
            action.component
        )),
    };
    let row = match &sent {
        Sent::Applied(a) => applied_row(intent, a, done),
        Sent::Refused(e) => JournalRecord {
            status: JournalStatus::Failed,
            detail: e.clone(),
            prior: BTreeMap::new(),
            ..intent.clone()
        },
        Sent::Indeterminate(e) => {
            return Ok((
                JournalRecord {
                    detail: e.clone(),
                    ..intent.clone()
                },
                sent,
            ));
        }
    };
    store.journal_step(&row).await?;
    Ok((row, sent))
}

/// Journal what an actuator's `status` said about a sent step whose outcome was
/// unknown: `done` when it applied. (Not applied: the intent stays open, the step is
/// sent again under the same key.)
pub(crate) async fn settle(
    store: &dyn Journal,
    intent: &JournalRecord,
    applied: &Applied,
    done: JournalStatus,
    at: Timestamp,
) -> Result<JournalRecord, StoreError> {
    let row = JournalRecord {
        at,
        ..applied_row(intent, applied, done)
    };
    store.journal_step(&row).await?;
    Ok(row)
}

/// The result row of `intent` that applied: `done`, with the actuator's detail and the
/// prior state an inverse needs.
fn applied_row(intent: &JournalRecord, applied: &Applied, done: JournalStatus) -> JournalRecord {
    JournalRecord {
        status: done,
        detail: applied.detail.clone(),
        prior: applied.prior.clone(),
        ..intent.clone()
    }
}

/// Journal `intent`, then [`send`] it.
pub(crate) async fn claim_and_send(
    store: &dyn Journal,
    actuators: &Actuators<'_>,
    intent: &JournalRecord,
    done: JournalStatus,
) -> Result<(JournalRecord, Sent), StoreError> {
    store.journal_step(intent).await?;
    send(store, actuators, intent, done).await
}
