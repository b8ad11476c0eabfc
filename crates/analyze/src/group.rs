//! Grouping violations into incidents by topology.

use charter_model::{IncidentId, Topology};

/// The open incidents a violation on `component` can belong to, by id: those with a
/// member on `component` or on a component related to it through dependencies
/// (either direction, transitively). None means it starts a new incident; the
/// caller picks among several.
///
/// `incidents_at(c)` gives the open incidents with a member on component `c`.
/// O(R · k) for R components related to `component` and k incidents per component:
/// the cost follows what the violation reaches, not how many incidents are open.
pub fn related_incidents<I>(
    component: &str,
    incidents_at: impl Fn(&str) -> I,
    topology: &Topology,
) -> Vec<IncidentId>
where
    I: IntoIterator<Item = IncidentId>,
{
    let mut ids: Vec<IncidentId> = topology
        .related(component)
        .into_iter()
        .flat_map(incidents_at)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_testkit::topology;
    use std::collections::BTreeMap;

    fn topo() -> Topology {
        topology(&[
            ("frontend", &["api"]),
            ("api", &["db"]),
            ("db", &[]),
            ("batch", &[]),
        ])
    }

    /// Open incidents by member component, from `(id, member)` pairs.
    fn at(open: &[(u64, &'static str)]) -> impl Fn(&str) -> Vec<IncidentId> {
        let mut by: BTreeMap<&str, Vec<IncidentId>> = BTreeMap::new();
        for &(id, c) in open {
            by.entry(c).or_default().push(IncidentId(id));
        }
        move |c| by.get(c).cloned().unwrap_or_default()
    }

    #[test]
    fn related_components_join_the_same_incident() {
        assert_eq!(
            related_incidents("frontend", at(&[(1, "db")]), &topo()),
            vec![IncidentId(1)]
        );
        // Every related one, once, by id: the caller chooses.
        let open = [(3, "api"), (1, "db"), (2, "batch"), (3, "db")];
        assert_eq!(
            related_incidents("frontend", at(&open), &topo()),
            vec![IncidentId(1), IncidentId(3)]
        );
        // Its own component counts, and callers as well as dependencies.
        assert_eq!(
            related_incidents("db", at(&[(4, "db"), (5, "frontend")]), &topo()),
            vec![IncidentId(4), IncidentId(5)]
        );
    }

    #[test]
    fn unrelated_components_start_a_new_incident() {
        assert!(related_incidents("batch", at(&[(1, "db")]), &topo()).is_empty());
        assert!(related_incidents("nope", at(&[(1, "db")]), &topo()).is_empty());
    }
}
