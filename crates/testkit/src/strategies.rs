//! `proptest` strategies for Charter's vocabulary. Each shrinks towards the simple
//! end: the first kind in catalogue order, a warning, no actions, healthy states.

use crate::builders::violation as violation_of;
use charter_model::{
    ActionKind, CauseClass, ComponentState, Severity, Signal, Timestamp, Violation, ViolationState,
};
use charter_plan::GuardState;
use proptest::prelude::*;
use proptest::sample::select;
use std::collections::HashSet;
use std::time::Duration;

/// Any of the nine action kinds.
pub fn action_kind() -> impl Strategy<Value = ActionKind> {
    select(ActionKind::ALL.to_vec())
}

/// Warning or critical.
pub fn severity() -> impl Strategy<Value = Severity> {
    prop_oneof![Just(Severity::Warning), Just(Severity::Critical)]
}

/// Every state a violation can be in, firing twice as often as the others (it is
/// the one that asks for action).
pub fn violation_state() -> impl Strategy<Value = ViolationState> {
    prop_oneof![
        2 => Just(ViolationState::Firing),
        1 => Just(ViolationState::Pending),
        1 => Just(ViolationState::Unknown),
        1 => Just(ViolationState::Resolved),
    ]
}

/// Every class of cause a service's hypothesis can name, `Unknown` included
/// (`Infrastructure` names a zone or node, not a service).
pub fn cause_class() -> impl Strategy<Value = CauseClass> {
    select(
        [
            CauseClass::Overload,
            CauseClass::Leak,
            CauseClass::BadChange,
            CauseClass::Outage,
            CauseClass::CacheFailure,
            CauseClass::PoolExhaustion,
            CauseClass::DependencyFailure,
            CauseClass::Unknown,
        ]
        .to_vec(),
    )
}

/// Every signal an objective can carry.
pub fn signal() -> impl Strategy<Value = Signal> {
    select(
        [
            Signal::Latency,
            Signal::Errors,
            Signal::Saturation,
            Signal::Utilization,
            Signal::Memory,
            Signal::Availability,
            Signal::Cache,
            Signal::Pool,
            Signal::Traffic,
            Signal::Cost,
            Signal::Other,
        ]
        .to_vec(),
    )
}

/// A latency violation of an objective drawn from `objective` on a component drawn
/// from `component`, in any [`violation_state`] and with a severity whatever the
/// state (a consumer must look at the state, not at whether a severity is there).
/// Its times and values are the [`violation`](crate::violation) builder's defaults:
/// set them with `prop_map` where they matter.
pub fn violation(
    objective: impl Strategy<Value = String>,
    component: impl Strategy<Value = String>,
) -> impl Strategy<Value = Violation> {
    (objective, component, violation_state(), severity()).prop_map(
        |(objective, component, state, severity)| {
            violation_of(&objective, &component)
                .state(state)
                .severity(Some(severity))
                .build()
        },
    )
}

/// What an actuator could report for a component: 1–12 replicas of v2 in zone a,
/// sometimes a previous version (v1) to roll back to, a standby zone (b) to fail
/// over to, or a throttle at 50.
pub fn component_state() -> impl Strategy<Value = ComponentState> {
    (
        1u32..=12,
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(replicas, previous, standby, throttled)| ComponentState {
            replicas: Some(replicas),
            version: Some("v2".into()),
            previous_version: previous.then(|| "v1".into()),
            zone: Some("a".into()),
            standby_zone: standby.then(|| "b".into()),
            open_circuits: vec![],
            throttle_rate: throttled.then_some(50.0),
        })
}

/// A [`component_state`] of a component the charter places in `zone`: its actuator
/// reports that zone nine times in ten, and zone `moved` (it already failed over)
/// otherwise; it has a standby zone (`moved`) nine times in ten.
pub fn component_state_in(zone: String) -> impl Strategy<Value = ComponentState> {
    (
        component_state(),
        prop::bool::weighted(0.9),
        prop::bool::weighted(0.9),
    )
        .prop_map(move |(mut s, here, standby)| {
            s.zone = Some(if here { zone.clone() } else { "moved".into() });
            s.standby_zone = standby.then(|| "moved".into());
            s
        })
}

/// The guardrails' memory at `now` over `components`: paused or blind one time in
/// twenty, up to seven recent actions of `kinds` on them in the last two hours (most
/// recent last, as [`GuardState::recent_actions`] promises), and each component
/// running, frozen or quarantined one time in ten.
///
/// # Panics
/// If `components` or `kinds` is empty.
pub fn guard_state(
    components: Vec<String>,
    kinds: Vec<ActionKind>,
    now: Timestamp,
) -> impl Strategy<Value = GuardState> {
    let n = components.len();
    let recent = (select(components.clone()), select(kinds), 0u64..7200).prop_map(
        move |(component, kind, ago)| (component, kind, now.minus(Duration::from_secs(ago))),
    );
    let some = move || {
        let components = components.clone();
        prop::collection::vec(prop::bool::weighted(0.1), n).prop_map(move |picked| {
            components
                .iter()
                .zip(picked)
                .filter(|(_, p)| *p)
                .map(|(c, _)| c.clone())
                .collect::<HashSet<String>>()
        })
    };
    (
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.05),
        prop::collection::vec(recent, 0..8),
        some(),
        some(),
        some(),
    )
        .prop_map(
            |(paused, blind, mut recent_actions, running, frozen, quarantined)| {
                recent_actions.sort_by_key(|(_, _, at)| *at);
                GuardState {
                    paused,
                    blind,
                    recent_actions,
                    running,
                    awaiting: Default::default(),
                    frozen,
                    quarantined,
                }
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn guard_states_only_name_the_given_components() {
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let s = guard_state(
            names.clone(),
            vec![ActionKind::Restart],
            Timestamp(10_000_000),
        );
        let mut runner = TestRunner::deterministic();
        for _ in 0..200 {
            let g = s.new_tree(&mut runner).expect("a value").current();
            assert!(g.recent_actions.len() < 8);
            assert!(g.recent_actions.is_sorted_by_key(|(_, _, at)| *at));
            for c in g
                .running
                .iter()
                .chain(&g.frozen)
                .chain(&g.quarantined)
                .chain(g.recent_actions.iter().map(|(c, _, _)| c))
            {
                assert!(names.contains(c), "{c}");
            }
        }
    }
}
