//! Cluster: abnormal components grouped in space.
//!
//! Three groupings, each reported when it holds at least two members:
//! several abnormal signals on the same component, abnormal components sharing a
//! direct dependency (the dependency is a suspect even if it looks healthy: its
//! own metrics may not show what its callers see), and abnormal components in the
//! same zone.
//!
//! Cost: O(A · d + s log s) for A abnormal components of out-degree at most d and
//! s signals (counting members per dependency and per zone in ordered maps).

use charter_model::Topology;
use std::collections::{BTreeMap, BTreeSet};

/// What the members of a cluster share.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Shared {
    /// Several abnormal signals on this one component.
    Component(String),
    /// These components all call this dependency directly.
    Dependency(String),
    /// These components run in this zone.
    Zone(String),
}

/// A group of abnormal components (or signals, for [`Shared::Component`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterFinding {
    pub shared: Shared,
    /// Members in name order: components, or `signal@component` keys.
    pub members: Vec<String>,
}

/// Find clusters among abnormal signals, given as `(component, signal key)` pairs.
/// `zone_of` names a component's zone, if it has one.
pub fn find_clusters<'a>(
    signals: &[(&'a str, &'a str)],
    topology: Option<&Topology>,
    zone_of: impl Fn(&str) -> Option<&'a str>,
) -> Vec<ClusterFinding> {
    let mut per_comp: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (comp, key) in signals {
        per_comp.entry(comp).or_default().insert(key);
    }
    let mut out = Vec::new();
    for (comp, keys) in &per_comp {
        if keys.len() >= 2 {
            out.push(ClusterFinding {
                shared: Shared::Component(comp.to_string()),
                members: keys.iter().map(|k| k.to_string()).collect(),
            });
        }
    }
    if let Some(topo) = topology {
        let mut by_dep: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for comp in per_comp.keys() {
            for d in topo.dependencies(comp) {
                by_dep.entry(d).or_default().insert(comp);
            }
        }
        for (dep, members) in by_dep {
            if members.len() >= 2 {
                out.push(ClusterFinding {
                    shared: Shared::Dependency(dep.to_string()),
                    members: members.iter().map(|m| m.to_string()).collect(),
                });
            }
        }
    }
    let mut by_zone: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for comp in per_comp.keys() {
        if let Some(z) = zone_of(comp) {
            by_zone.entry(z).or_default().insert(comp);
        }
    }
    for (zone, members) in by_zone {
        if members.len() >= 2 {
            out.push(ClusterFinding {
                shared: Shared::Zone(zone.to_string()),
                members: members.iter().map(|m| m.to_string()).collect(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_testkit::topology;

    fn topo() -> Topology {
        topology(&[
            ("frontend", &["api"]),
            ("api", &["db"]),
            ("orders", &["db"]),
            ("db", &[]),
        ])
    }

    #[test]
    fn callers_of_one_dependency_cluster_around_it() {
        let sig = [("api", "latency@api"), ("orders", "errors@orders")];
        let found = find_clusters(&sig, Some(&topo()), |_| None);
        assert_eq!(
            found,
            vec![ClusterFinding {
                shared: Shared::Dependency("db".into()),
                members: vec!["api".into(), "orders".into()],
            }]
        );
    }

    #[test]
    fn same_component_and_same_zone() {
        let sig = [
            ("api", "latency@api"),
            ("api", "errors@api"),
            ("frontend", "latency@frontend"),
        ];
        let zone = |c: &str| (c != "db").then_some("eu-1a");
        let found = find_clusters(&sig, None, zone);
        assert!(found.contains(&ClusterFinding {
            shared: Shared::Component("api".into()),
            members: vec!["errors@api".into(), "latency@api".into()],
        }));
        assert!(found.contains(&ClusterFinding {
            shared: Shared::Zone("eu-1a".into()),
            members: vec!["api".into(), "frontend".into()],
        }));
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn a_lone_signal_is_no_cluster() {
        assert!(find_clusters(&[("db", "errors@db")], Some(&topo()), |_| Some("a")).is_empty());
    }
}
