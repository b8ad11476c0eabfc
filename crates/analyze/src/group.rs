//! Grouping violations into incidents by topology.

use charter_model::{Incident, Topology};

/// The open incidents a violation on `component` can belong to, in the order given:
/// those whose member components include `component` or are related to it through
/// dependencies (either direction, transitively). None means it starts a new
/// incident; the caller picks among several.
///
/// `members(incident)` lists an incident's member components. O(V + E + I · M) for I
/// incidents of M members.
pub fn related_incidents<'a>(
    component: &str,
    open: impl IntoIterator<Item = &'a Incident>,
    members: impl Fn(&Incident) -> Vec<String>,
    topology: &Topology,
) -> Vec<u64> {
    let reach = topology.related(component);
    open.into_iter()
        .filter(|inc| !inc.state.is_closed())
        .filter(|inc| members(inc).iter().any(|m| reach.contains(m.as_str())))
        .map(|inc| inc.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_model::{IncidentState, Timestamp};

    fn topo() -> Topology {
        let edges = [
            ("frontend".to_string(), vec!["api".to_string()]),
            ("api".to_string(), vec!["db".to_string()]),
            ("db".to_string(), vec![]),
            ("batch".to_string(), vec![]),
        ];
        Topology::new(edges.iter().map(|(a, d)| (a.as_str(), d.as_slice())))
    }

    fn incident(id: u64, member: &str) -> Incident {
        Incident {
            id,
            opened_at: Timestamp(0),
            state: IncidentState::Open,
            violations: vec![format!("errors@{member}")],
            root_cause: None,
            resolved_at: None,
            attempts: 0,
        }
    }

    fn members(i: &Incident) -> Vec<String> {
        i.violations
            .iter()
            .filter_map(|k| k.split('@').nth(1).map(str::to_string))
            .collect()
    }

    #[test]
    fn related_components_join_the_same_incident() {
        let open = [incident(1, "db")];
        assert_eq!(
            related_incidents("frontend", &open, members, &topo()),
            vec![1]
        );
        // Every related one, in order: the caller chooses.
        let open = [incident(1, "db"), incident(2, "batch"), incident(3, "api")];
        assert_eq!(
            related_incidents("frontend", &open, members, &topo()),
            vec![1, 3]
        );
    }

    #[test]
    fn unrelated_components_start_a_new_incident() {
        let open = [incident(1, "db")];
        assert!(related_incidents("batch", &open, members, &topo()).is_empty());
    }
}
