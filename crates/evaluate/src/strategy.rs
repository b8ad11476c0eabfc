//! The four ways of reacting to a scenario that the benchmark compares.
//!
//! - `none`: nothing is done; how bad each scenario is on its own.
//! - `static`: what alert-to-script tools do. On every firing violation (after the
//!   objective's `for`), run `remedies[0]` of the objective on the violating
//!   component, at most once per [`STATIC_COOLDOWN`] per (component, objective): no
//!   diagnosis, no verification, no rollback.
//! - `charter`: the full loop with the given charter.
//! - `oracle`: at each fault's start, the scenario's right remedy on its true root
//!   cause (on every service of the zone or node for an infrastructure fault) — the
//!   limit no controller can beat. Its actions go through the same actuator calls a
//!   controller makes and take the same time to act; a scale-in steps like a
//!   controller's, one step per time-to-effect while the overrun lasts.
//! - `oracle_detect` (not in the four): the same right remedy on the true root
//!   cause, but only once the meter sees a firing violation after the fault started —
//!   the limit for any controller that waits for its objectives' `for`.
//!
//! `static` and `oracle` build their actions like the planner does from the charter's
//! `actions:` (parameters, scale step, restart batch) but without its guardrails.

use charter_execute::ComponentState;
use charter_model::{Action, ActionKind, Charter, Timestamp, Violation};
use charter_sim::GroundTruth;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How long the static baseline waits before running the same script again for the
/// same (component, objective): a typical alert-to-script repeat interval.
pub const STATIC_COOLDOWN: Duration = Duration::from_secs(300);

/// A way of reacting to faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    None,
    Static,
    Charter,
    Oracle,
    OracleDetect,
}

impl Strategy {
    /// Every strategy, in report order.
    pub const ALL: [Strategy; 5] = [
        Strategy::None,
        Strategy::Static,
        Strategy::Charter,
        Strategy::Oracle,
        Strategy::OracleDetect,
    ];

    /// The name on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::None => "none",
            Strategy::Static => "static",
            Strategy::Charter => "charter",
            Strategy::Oracle => "oracle",
            Strategy::OracleDetect => "oracle_detect",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not a strategy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown strategy `{0}` (expected one of: none, static, charter, oracle, oracle_detect)")]
pub struct UnknownStrategy(pub String);

impl FromStr for Strategy {
    type Err = UnknownStrategy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Strategy::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| UnknownStrategy(s.to_string()))
    }
}

/// The static baseline's memory: when it last ran a script per (component, objective).
#[derive(Debug, Default)]
pub struct StaticScript {
    last: BTreeMap<(String, String), Timestamp>,
    cooldown: Duration,
}

impl StaticScript {
    /// A script runner with [`STATIC_COOLDOWN`].
    pub fn new() -> Self {
        StaticScript::with_cooldown(STATIC_COOLDOWN)
    }

    /// A script runner with another cooldown.
    pub fn with_cooldown(cooldown: Duration) -> Self {
        StaticScript {
            last: BTreeMap::new(),
            cooldown,
        }
    }

    /// The `(remedies[0], component)` to run now for these violations: every firing
    /// one whose objective has a remedy and whose (component, objective) is not in
    /// cooldown. Each returned pair starts its cooldown, whether the script then
    /// succeeds or not.
    pub fn due(
        &mut self,
        charter: &Charter,
        firing: &[&Violation],
        now: Timestamp,
    ) -> Vec<(ActionKind, String)> {
        let mut out = Vec::new();
        for v in firing.iter().filter(|v| v.is_firing()) {
            let Some(kind) = charter
                .objective(&v.objective)
                .and_then(|o| o.remedies.first().copied())
            else {
                continue;
            };
            let key = (v.component.clone(), v.objective.clone());
            if self
                .last
                .get(&key)
                .is_some_and(|&at| now.since(at) < self.cooldown)
            {
                continue;
            }
            self.last.insert(key, now);
            out.push((kind, v.component.clone()));
        }
        out
    }
}

/// How big the oracle's scale-out is: the largest single step the charter's
/// guardrails allow (`max_scale_step`), within the component's max replicas.
fn oracle_scale_step(charter: &Charter) -> u32 {
    charter.guardrails.max_scale_step.max(1)
}

/// The oracle's action for one fault on one of the services it affects (the root
/// cause itself for a service fault), if the fault has a remedy.
///
/// A scale-out takes the largest step the guardrails allow. A scale-in steps like a
/// controller's: the charter's step within `max_scale_step`, and never below the
/// replicas the scenario declared for the service (`declared`), since the oracle knows
/// what the overrun added.
pub fn oracle_action(
    charter: &Charter,
    truth: &GroundTruth,
    component: &str,
    state: &ComponentState,
    failing: &[String],
    declared: Option<u32>,
) -> Result<Action, String> {
    let step = match truth.remedy {
        ActionKind::ScaleOut => Some(oracle_scale_step(charter)),
        ActionKind::ScaleIn => {
            let step = charter
                .action(ActionKind::ScaleIn)
                .step
                .min(charter.guardrails.max_scale_step)
                .max(1);
            match (state.replicas, declared) {
                (Some(cur), Some(d)) if cur <= d => {
                    return Err(format!("{component} is back at its {d} declared replicas"));
                }
                (Some(cur), Some(d)) => Some(step.min(cur - d)),
                _ => Some(step),
            }
        }
        _ => None,
    };
    concrete_action(charter, truth.remedy, component, state, failing, step)
}

/// When the oracle acts on each fault, and on which services.
///
/// Every remedy is applied once on each service the fault affects (the root cause
/// itself for a service fault; every service of the zone or node otherwise) — one
/// actuator call each, as a controller would make them. A scale-in is repeated, one
/// step at a time, while the fault still acts ([`OracleState::again`]).
#[derive(Debug, Default)]
pub struct OracleState {
    /// Per fault: whether its first actions were taken.
    started: Vec<bool>,
    /// Per fault: (service, when) of the next step of a stepped remedy.
    next: Vec<Vec<(String, Duration)>>,
}

impl OracleState {
    /// Nothing done yet for these faults.
    pub fn new(truth: &[GroundTruth]) -> Self {
        OracleState {
            started: vec![false; truth.len()],
            next: vec![Vec::new(); truth.len()],
        }
    }

    /// The services to act on now for fault `k` (whose ground truth is `truth`), at
    /// `t` from the start, while the fault `acting` or not.
    pub fn due(&mut self, k: usize, truth: &GroundTruth, t: Duration, acting: bool) -> Vec<String> {
        if !self.started[k] {
            self.started[k] = true;
            if truth.affected.is_empty() {
                return vec![truth.root_cause.clone()];
            }
            return truth.affected.clone();
        }
        if !acting {
            self.next[k].clear();
            return Vec::new();
        }
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.next[k])
            .into_iter()
            .partition(|(_, at)| *at <= t);
        self.next[k] = later;
        now.into_iter().map(|(c, _)| c).collect()
    }

    /// Step the remedy of fault `k` on `component` again at `at`.
    pub fn again(&mut self, k: usize, component: &str, at: Duration) {
        self.next[k].push((component.to_string(), at));
    }
}

/// A kind made concrete for a component from the charter's `actions:` — parameters,
/// scale step (`step` overrides the charter's), restart batch — or why it cannot run.
/// `failing` are the components with a violation (for a circuit breaker's dependency).
pub fn concrete_action(
    charter: &Charter,
    kind: ActionKind,
    component: &str,
    state: &ComponentState,
    failing: &[String],
    step: Option<u32>,
) -> Result<Action, String> {
    let spec = charter.action(kind);
    let mut a = Action::new(kind, component);
    for (k, v) in &spec.params {
        a = a.with_param(k, v);
    }
    let declared = charter.component(component);
    let step = step.unwrap_or(spec.step).max(1);
    match kind {
        ActionKind::ScaleOut => {
            let max = declared.and_then(|c| c.replicas).map(|r| r.max);
            let step = match (state.replicas, max) {
                (Some(cur), Some(max)) if cur >= max => {
                    return Err(format!("{component} is at max replicas ({max})"));
                }
                (Some(cur), Some(max)) => step.min(max - cur),
                _ => step,
            };
            a = a.with_param("step", step);
        }
        ActionKind::ScaleIn => {
            let min = declared.and_then(|c| c.replicas).map_or(1, |r| r.min);
            match state.replicas {
                Some(cur) if cur > min => a = a.with_param("step", step.min(cur - min)),
                _ => return Err(format!("{component} is at min replicas ({min})")),
            }
        }
        ActionKind::Restart => {
            let replicas = state.replicas.unwrap_or(1).max(1);
            let at_once = (f64::from(replicas) * charter.guardrails.max_restart_share).floor();
            a = a.with_param("max_unavailable", (at_once as u32).max(1));
        }
        ActionKind::CircuitBreak => {
            let dep = charter.topology.dependencies(component).find(|d| {
                failing.iter().any(|f| f == d) && !state.open_circuits.iter().any(|o| o == d)
            });
            match dep {
                Some(d) => a = a.with_param("dependency", d),
                None => return Err(format!("{component} has no failing dependency to break")),
            }
        }
        ActionKind::Rollback
        | ActionKind::Throttle
        | ActionKind::Failover
        | ActionKind::FlushCache
        | ActionKind::Reconfigure => {}
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_model::ViolationState;
    use charter_testkit::westworld;

    fn firing(objective: &str, component: &str) -> Violation {
        charter_testkit::violation(objective, component).build()
    }

    #[test]
    fn static_runs_the_first_remedy_on_the_violating_component_with_a_cooldown() {
        let c = westworld();
        let mut script = StaticScript::new();
        let lat = firing("backend_latency_p99", "catalog");
        let err = firing("error_ratio", "auth");
        let mut pending = firing("cpu_utilization", "db");
        pending.state = ViolationState::Pending;
        let t0 = Timestamp(1_000_000);
        let got = script.due(&c, &[&lat, &err, &pending], t0);
        assert_eq!(
            got,
            vec![
                (ActionKind::ScaleOut, "catalog".to_string()),
                (ActionKind::Rollback, "auth".to_string())
            ]
        );
        // Within the cooldown nothing runs again; another objective on the same
        // component is another script.
        let cpu = firing("cpu_utilization", "catalog");
        let got = script.due(&c, &[&lat, &err, &cpu], t0.plus(Duration::from_secs(299)));
        assert_eq!(got, vec![(ActionKind::ScaleOut, "catalog".to_string())]);
        // After it, both run again.
        let got = script.due(&c, &[&lat, &err], t0.plus(STATIC_COOLDOWN));
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn concrete_actions_follow_the_charter_and_respect_max_replicas() {
        let c = westworld();
        let state = ComponentState {
            replicas: Some(9),
            ..ComponentState::default()
        };
        let a = concrete_action(&c, ActionKind::ScaleOut, "catalog", &state, &[], None)
            .expect("room for one");
        assert_eq!(a.param("step"), Some("1"));
        let a = concrete_action(&c, ActionKind::Throttle, "api", &state, &[], None)
            .expect("throttle has a rate");
        assert_eq!(a.param("rate"), Some("250"));
        assert!(concrete_action(&c, ActionKind::CircuitBreak, "api", &state, &[], None).is_err());
        let a = concrete_action(
            &c,
            ActionKind::CircuitBreak,
            "api",
            &state,
            &["auth".into()],
            None,
        )
        .expect("auth is failing");
        assert_eq!(a.param("dependency"), Some("auth"));
    }
}
