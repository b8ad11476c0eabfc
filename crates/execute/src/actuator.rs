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
}
