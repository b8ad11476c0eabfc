//! The journaled apply (invariant 3): a durable intent, then the actuator's call, then
//! the result row. The loop's steps and compensations and startup recovery's
//! compensations all send through [`send`]; nothing else calls an actuator's `apply`.

use charter_execute::{Actuator, Applied};
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

/// Call the actuator of an intent that is already journaled, and journal the result:
/// `done` (with the actuator's detail and the prior state an inverse needs) when it
/// applied, `Failed` with the error otherwise. Returns the result row and what the
/// actuator answered; only the store's errors are errors here.
pub(crate) async fn send(
    store: &dyn Journal,
    actuators: &Actuators<'_>,
    intent: &JournalRecord,
    done: JournalStatus,
) -> Result<(JournalRecord, Result<Applied, String>), StoreError> {
    let action = &intent.action;
    // An indeterminate error (`ActuatorError::next_step() == AskStatus`) is journaled
    // as failed like a refusal for now; startup recovery never re-sends a key.
    let result = match actuators.for_component(&action.component) {
        Some(act) => act
            .apply(&intent.idempotency_key, action)
            .await
            .map_err(|e| e.to_string()),
        None => Err(format!(
            "no actuator is bound to component `{}` in this charter",
            action.component
        )),
    };
    let row = match &result {
        Ok(a) => JournalRecord {
            status: done,
            detail: a.detail.clone(),
            prior: a.prior.clone(),
            ..intent.clone()
        },
        Err(e) => JournalRecord {
            status: JournalStatus::Failed,
            detail: e.clone(),
            prior: BTreeMap::new(),
            ..intent.clone()
        },
    };
    store.journal_step(&row).await?;
    Ok((row, result))
}

/// Journal `intent`, then [`send`] it.
pub(crate) async fn claim_and_send(
    store: &dyn Journal,
    actuators: &Actuators<'_>,
    intent: &JournalRecord,
    done: JournalStatus,
) -> Result<(JournalRecord, Result<Applied, String>), StoreError> {
    store.journal_step(intent).await?;
    send(store, actuators, intent, done).await
}
