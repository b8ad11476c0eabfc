//! The actuator boundary.

use async_trait::async_trait;
use charter_model::Action;
pub use charter_model::ComponentState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an actuator did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    /// The state before the action, as needed to invert it (`replicas`, `version`,
    /// `zone`, `rate`, `value`).
    pub prior: BTreeMap<String, String>,
    /// What was done, in words.
    pub detail: String,
}

/// Why an action could not be applied.
///
/// Every variant but [`ActuatorError::Indeterminate`] is a refusal: the action did not
/// change the system, so the step failed and its execution compensates what came
/// before. [`ActuatorError::next_step`] says which.
#[derive(Debug, thiserror::Error)]
pub enum ActuatorError {
    /// The action cannot apply to the component as it is (e.g. no previous version).
    #[error("precondition failed: {0}")]
    Precondition(String),
    /// The component is not known to the actuator.
    #[error("unknown component `{0}`")]
    UnknownComponent(String),
    /// The actuator tried and failed.
    #[error("actuator failed: {0}")]
    Failed(String),
    /// The request was sent and no answer came (a timeout, a connection lost after
    /// sending): it may have been applied. Only [`Actuator::status`] with the same key
    /// can tell.
    #[error("actuator outcome unknown: {0}")]
    Indeterminate(String),
}

/// What the loop must do after an actuator error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Nothing was applied: the step failed; compensate the steps before it.
    Refused,
    /// It may have been applied: ask [`Actuator::status`] with the same key before
    /// deciding anything about the step.
    AskStatus,
}

impl ActuatorError {
    /// Whether the error is a refusal or leaves the outcome unknown.
    pub fn next_step(&self) -> NextStep {
        match self {
            ActuatorError::Indeterminate(_) => NextStep::AskStatus,
            ActuatorError::Precondition(_)
            | ActuatorError::UnknownComponent(_)
            | ActuatorError::Failed(_) => NextStep::Refused,
        }
    }
}

/// Something that can act on components.
///
/// `apply` must be idempotent on `key`: a second call with the same key returns the
/// first call's result and changes nothing.
#[async_trait]
pub trait Actuator: Send + Sync {
    /// Apply an action, once per idempotency key.
    async fn apply(&self, key: &str, action: &Action) -> Result<Applied, ActuatorError>;

    /// Describe a component's current state.
    async fn describe(&self, component: &str) -> Result<ComponentState, ActuatorError>;

    /// What an earlier [`apply`](Actuator::apply) with `key` did, without acting.
    ///
    /// - `Ok(Some(applied))`: the key changed the system; `applied` is what that
    ///   apply returned (its `prior` is what the inverse needs).
    /// - `Ok(None)`: the key changed nothing, and the actuator is sure of it: it was
    ///   never used, or its apply was refused (a precondition, an unknown component)
    ///   or failed without acting.
    /// - `Err(_)`: the actuator does not know (it cannot be reached, it forgot, or it
    ///   cannot tell at all). Startup recovery treats the step as unknown and escalates;
    ///   it never guesses.
    ///
    /// Startup recovery asks this for every journaled step whose intent has no result,
    /// so that nothing is applied twice. The default answers that the actuator cannot
    /// tell.
    async fn status(&self, key: &str) -> Result<Option<Applied>, ActuatorError> {
        Err(ActuatorError::Failed(format!(
            "this actuator cannot report what an earlier apply with key `{key}` did"
        )))
    }

    /// The leader's fencing epoch from now on (0: a single replica without a lease).
    ///
    /// An actuator that can pass it on does, with every request ([`FENCING_EPOCH_HEADER`]
    /// over HTTP, [`FENCING_EPOCH_VARIABLE`] for commands), so that the system it acts
    /// on can refuse a request from an older epoch than one it has already seen: the
    /// last line of defence against a paused old leader. The default ignores it.
    fn set_fencing_epoch(&self, _epoch: u64) {}
}

/// The HTTP header that carries the leader's fencing epoch (when it is not 0).
pub const FENCING_EPOCH_HEADER: &str = "charter-fencing-epoch";

/// The environment variable that carries the leader's fencing epoch to a command
/// (when it is not 0).
pub const FENCING_EPOCH_VARIABLE: &str = "CHARTER_FENCING_EPOCH";
