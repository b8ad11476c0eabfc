//! The nine action kinds and concrete actions with their inverses.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// One of the nine remediation action kinds (DESIGN.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    ScaleOut,
    ScaleIn,
    Restart,
    Rollback,
    Throttle,
    CircuitBreak,
    Failover,
    FlushCache,
    Reconfigure,
}

impl ActionKind {
    /// All kinds, in catalogue order.
    pub const ALL: [ActionKind; 9] = [
        ActionKind::ScaleOut,
        ActionKind::ScaleIn,
        ActionKind::Restart,
        ActionKind::Rollback,
        ActionKind::Throttle,
        ActionKind::CircuitBreak,
        ActionKind::Failover,
        ActionKind::FlushCache,
        ActionKind::Reconfigure,
    ];

    /// The snake_case name used in charters and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::ScaleOut => "scale_out",
            ActionKind::ScaleIn => "scale_in",
            ActionKind::Restart => "restart",
            ActionKind::Rollback => "rollback",
            ActionKind::Throttle => "throttle",
            ActionKind::CircuitBreak => "circuit_break",
            ActionKind::Failover => "failover",
            ActionKind::FlushCache => "flush_cache",
            ActionKind::Reconfigure => "reconfigure",
        }
    }

    /// Whether the action can be undone by an inverse action.
    ///
    /// A restart or a cache flush cannot be taken back; plans and logs say so.
    pub fn is_reversible(self) -> bool {
        !matches!(self, ActionKind::Restart | ActionKind::FlushCache)
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of the nine action kinds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown action kind `{0}` (expected one of: scale_out, scale_in, restart, rollback, throttle, circuit_break, failover, flush_cache, reconfigure)"
)]
pub struct UnknownActionKind(pub String);

impl FromStr for ActionKind {
    type Err = UnknownActionKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ActionKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownActionKind(s.to_string()))
    }
}

/// A concrete action: a kind, a target component declared in the charter, and parameters.
///
/// Parameters are plain strings so that every actuator (simulator, HTTP, command,
/// Kubernetes) can carry them without a shared schema; the well-known keys are
/// `step` (scale), `rate` (throttle), `dependency` (circuit_break), `key`/`value`
/// (reconfigure), and the `to_*` keys set by inverses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub kind: ActionKind,
    pub component: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// True when this action undoes an earlier one (a compensation or a rollback of a
    /// worsened outcome); kept so that logs and learning can tell the two apart.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compensation: bool,
}

impl Action {
    /// A new action without parameters.
    pub fn new(kind: ActionKind, component: impl Into<String>) -> Self {
        Action {
            kind,
            component: component.into(),
            params: BTreeMap::new(),
            compensation: false,
        }
    }

    /// Add a parameter.
    pub fn with_param(mut self, key: &str, value: impl ToString) -> Self {
        self.params.insert(key.to_string(), value.to_string());
        self
    }

    /// A parameter, if present.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    /// The action that undoes this one, given what the actuator reported about the
    /// state before it acted (`prior`, e.g. `replicas=3`, `version=v1`).
    ///
    /// `None` for irreversible kinds. The inverse of `scale_out` is expressed as
    /// "scale to the previous count", not as `scale_in`, so that it is exact even if
    /// something else changed the count meanwhile.
    pub fn inverse(&self, prior: &BTreeMap<String, String>) -> Option<Action> {
        let mut inv = match self.kind {
            ActionKind::ScaleOut | ActionKind::ScaleIn => {
                let to = prior.get("replicas")?;
                let kind = if self.kind == ActionKind::ScaleOut {
                    ActionKind::ScaleIn
                } else {
                    ActionKind::ScaleOut
                };
                Action::new(kind, &self.component).with_param("to_replicas", to)
            }
            ActionKind::Rollback => {
                let to = prior.get("version")?;
                Action::new(ActionKind::Rollback, &self.component).with_param("to_version", to)
            }
            ActionKind::Throttle => {
                let mut a = Action::new(ActionKind::Throttle, &self.component);
                match prior.get("rate") {
                    Some(r) => a = a.with_param("rate", r),
                    None => a = a.with_param("rate", "none"),
                }
                a
            }
            ActionKind::CircuitBreak => {
                let dep = self.param("dependency")?;
                Action::new(ActionKind::CircuitBreak, &self.component)
                    .with_param("dependency", dep)
                    .with_param("state", "closed")
            }
            ActionKind::Failover => {
                let zone = prior.get("zone")?;
                Action::new(ActionKind::Failover, &self.component).with_param("to_zone", zone)
            }
            ActionKind::Reconfigure => {
                let key = self.param("key")?;
                let value = prior.get("value")?;
                Action::new(ActionKind::Reconfigure, &self.component)
                    .with_param("key", key)
                    .with_param("value", value)
            }
            ActionKind::Restart | ActionKind::FlushCache => return None,
        };
        inv.compensation = true;
        Some(inv)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({}", self.kind, self.component)?;
        for (k, v) in &self.params {
            write!(f, ", {k}={v}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in ActionKind::ALL {
            assert_eq!(k.as_str().parse::<ActionKind>(), Ok(k));
        }
        assert!("reboot".parse::<ActionKind>().is_err());
    }

    #[test]
    fn scale_out_inverse_restores_previous_count() {
        let a = Action::new(ActionKind::ScaleOut, "api").with_param("step", 2);
        let prior = BTreeMap::from([("replicas".to_string(), "3".to_string())]);
        let inv = a.inverse(&prior).expect("reversible");
        assert_eq!(inv.kind, ActionKind::ScaleIn);
        assert_eq!(inv.param("to_replicas"), Some("3"));
        assert!(inv.compensation);
    }

    #[test]
    fn irreversible_kinds_have_no_inverse() {
        let prior = BTreeMap::new();
        assert!(
            Action::new(ActionKind::Restart, "api")
                .inverse(&prior)
                .is_none()
        );
        assert!(
            Action::new(ActionKind::FlushCache, "api")
                .inverse(&prior)
                .is_none()
        );
        assert!(!ActionKind::Restart.is_reversible());
    }

    #[test]
    fn rollback_inverse_needs_the_prior_version() {
        let a = Action::new(ActionKind::Rollback, "orders");
        assert!(a.inverse(&BTreeMap::new()).is_none());
        let prior = BTreeMap::from([("version".to_string(), "v2".to_string())]);
        assert_eq!(
            a.inverse(&prior)
                .and_then(|i| i.param("to_version").map(str::to_string)),
            Some("v2".into())
        );
    }
}
