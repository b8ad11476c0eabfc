//! What a policy is judged on: the incident's violations its actions are expected
//! to relieve. The rest of the incident is context, reported but not judged: an
//! action that helped its targets is not taken back because an unrelated member of
//! the incident kept degrading.

use charter_model::{Action, ActionKind, Charter, Violation};
use std::collections::{BTreeSet, VecDeque};

/// The keys of the violations in `active` that `actions` are expected to relieve,
/// in `active`'s order: those on a component an action changes and on every
/// component whose calls reach one (a failure shows in its callers, transitively);
/// a throttle also relieves what the throttled component calls (less load reaches
/// them). When nothing in `active` is reached — an action on a component outside
/// the incident, say — every active violation is a target: there is nothing better
/// to judge it on.
pub fn relieved(charter: &Charter, actions: &[Action], active: &[&Violation]) -> Vec<String> {
    let topo = &charter.topology;
    let mut reach: BTreeSet<&str> = BTreeSet::new();
    let mut up: VecDeque<&str> = VecDeque::new();
    let mut down: VecDeque<&str> = VecDeque::new();
    for a in actions {
        if reach.insert(a.component.as_str()) {
            up.push_back(a.component.as_str());
        }
        if a.kind == ActionKind::Throttle {
            down.push_back(a.component.as_str());
        }
    }
    while let Some(c) = up.pop_front() {
        for caller in topo.callers(c) {
            if reach.insert(caller) {
                up.push_back(caller);
            }
        }
    }
    let mut below: BTreeSet<&str> = BTreeSet::new();
    while let Some(c) = down.pop_front() {
        for dep in topo.dependencies(c) {
            if below.insert(dep) {
                down.push_back(dep);
            }
        }
    }
    let targets: Vec<String> = active
        .iter()
        .filter(|v| reach.contains(v.component.as_str()) || below.contains(v.component.as_str()))
        .map(|v| v.key())
        .collect();
    if targets.is_empty() {
        active.iter().map(|v| v.key()).collect()
    } else {
        targets
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_model::Severity;
    use charter_testkit::{violation, westworld};

    // Westworld: frontend -> api -> {catalog, orders, auth}; catalog -> {db, cache};
    // orders -> {db, queue}; auth -> db.
    fn firing(components: &[&str]) -> Vec<Violation> {
        components
            .iter()
            .map(|c| violation("saturation", c).firing(Severity::Warning).build())
            .collect()
    }

    #[test]
    fn an_action_is_judged_on_its_component_and_its_callers_not_on_unrelated_members() {
        let c = westworld();
        let vs = firing(&["frontend", "catalog", "orders", "queue"]);
        let active: Vec<&Violation> = vs.iter().collect();
        let scale_catalog = [Action::new(ActionKind::ScaleOut, "catalog")];
        assert_eq!(
            relieved(&c, &scale_catalog, &active),
            ["saturation@frontend", "saturation@catalog"]
        );
        // The queue's failure shows in everything that calls it, directly or not.
        let scale_queue = [Action::new(ActionKind::ScaleOut, "queue")];
        assert_eq!(
            relieved(&c, &scale_queue, &active),
            [
                "saturation@frontend",
                "saturation@orders",
                "saturation@queue"
            ]
        );
    }

    #[test]
    fn a_throttle_also_relieves_what_the_throttled_component_calls() {
        let c = westworld();
        let vs = firing(&["frontend", "db", "queue"]);
        let active: Vec<&Violation> = vs.iter().collect();
        let throttle = [Action::new(ActionKind::Throttle, "catalog")];
        assert_eq!(
            relieved(&c, &throttle, &active),
            ["saturation@frontend", "saturation@db"]
        );
    }

    #[test]
    fn an_action_that_reaches_no_member_is_judged_on_the_whole_incident() {
        let c = westworld();
        let vs = firing(&["queue"]);
        let active: Vec<&Violation> = vs.iter().collect();
        let scale_cache = [Action::new(ActionKind::ScaleOut, "cache")];
        assert_eq!(relieved(&c, &scale_cache, &active), ["saturation@queue"]);
    }
}
