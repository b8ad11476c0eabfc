//! Propagation: causal evidence along the dependency graph.
//!
//! A failure travels from a dependency to its callers (edges point from caller to
//! dependency). For each abnormal component this finds:
//! - which abnormal components it can explain: those that reach it through a chain
//!   of abnormal dependencies (its abnormal callers, transitively);
//! - which abnormal dependencies can explain *it*: reachable the same way, and either
//!   at least as abnormal, or abnormal no later than it was (within a tolerance),
//!   clearly abnormal and at least a third as abnormal ([`EXPLAIN_RATIO`]: a small
//!   surprise cannot explain away a much larger one) when its symptoms are ones a dependency passes on — latency, errors and the
//!   like, and a cache hit ratio that its cache dependency shows too — rather than
//!   its own (memory, CPU, saturation) and it was not changed just before (a deploy
//!   is a cause of its own);
//! - whether it turned abnormal before the callers it explains, or after one of them.
//!
//! A component whose metrics are missing (Unknown, or never read) is *unobserved*:
//! it carries chains — a dependency below it can explain a caller above it — but it
//! explains nothing and is explained by nothing itself, and its callers count as
//! the dependency's direct callers, as if it were not there.
//!
//! Searches only walk abnormal and unobserved components (pruning): cost O(A · (A + E_A)) for A
//! abnormal components and E_A edges among them — A is the size of the incident, not
//! of the system.

use charter_model::{Signal, Timestamp, Topology};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// How many times more surprising than a dependency a caller's symptom may be and
/// still be explained by it through timing (both in robust sd, the same units).
pub const EXPLAIN_RATIO: f64 = 3.0;

/// An abnormal component, as the propagation analysis sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node<'a> {
    pub name: &'a str,
    /// How abnormal it is (robust sd; comparable across components).
    pub strength: f64,
    /// When it turned abnormal, if known.
    pub onset: Option<Timestamp>,
    /// Its symptoms that a failing dependency does not pass to its callers (memory,
    /// CPU, saturation, cache), sorted; empty when all can be inherited.
    pub intrinsic: &'a [Signal],
    /// Whether it is a symptom to explain (when violations are known, only violating
    /// components are; otherwise every abnormal one). Other nodes only carry chains.
    pub symptom: bool,
    /// Whether it was changed (deployed, reconfigured) shortly before its onset: a
    /// cause of its own, so a dependency explains it only by being at least as
    /// abnormal, not by timing alone.
    pub changed: bool,
    /// Its metrics are missing: a carrier of chains, never a symptom or a cause.
    pub unobserved: bool,
    /// It queues for a pooled dependency (a full pool): waiting amplifies a small
    /// slowdown below into a large one here, so the sizes of the two changes are
    /// not compared ([`EXPLAIN_RATIO`] does not apply).
    pub queueing: bool,
}

/// What the graph says of one node; indices refer to the input slice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Link {
    /// Abnormal callers (transitively) that are symptoms this node can explain.
    pub explains: Vec<usize>,
    /// Abnormal dependencies (transitively) that can explain this node's symptoms.
    pub explained_by: Vec<usize>,
    /// How many of `explains` call this node directly, or through unobserved
    /// components only.
    pub direct_callers: usize,
    /// Unobserved components on the paths from this node to the symptoms it
    /// explains: the explanation assumes what could not be seen.
    pub through: Vec<usize>,
    /// The earliest onset among `explains`, if known.
    pub first_caller_onset: Option<Timestamp>,
    /// Whether this node turned abnormal after a caller it explains, by more than the
    /// tolerance (a root cause should come first).
    pub late: bool,
    /// Its own symptoms are load (utilization, saturation) that a caller's failing
    /// cache sent it: the misses went to it ([`miss_load`]). They are inherited, not
    /// its own, though no dependency passed them on.
    pub load_from_misses: bool,
}

/// Analyse `nodes` over `topology`; onsets closer than `tolerance` count as
/// simultaneous, and only a dependency at least `clear` strong explains a caller by
/// timing alone (a barely abnormal one cannot carry a strong symptom).
pub fn propagate(
    nodes: &[Node<'_>],
    topology: &Topology,
    tolerance: Duration,
    clear: f64,
) -> Vec<Link> {
    let index: BTreeMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.name, i)).collect();
    // The graph among the nodes, by index, built once.
    let up: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| {
            topology
                .callers(n.name)
                .filter_map(|c| index.get(c).copied())
                .collect()
        })
        .collect();
    let down: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| {
            topology
                .dependencies(n.name)
                .filter_map(|d| index.get(d).copied())
                .collect()
        })
        .collect();
    let mut seen = vec![usize::MAX; nodes.len()];
    let mut generation = 0;
    let mut walk = |start: usize, adjacency: &[Vec<usize>]| -> Vec<usize> {
        generation += 1;
        seen[start] = generation;
        let mut queue = VecDeque::from([start]);
        let mut out = Vec::new();
        while let Some(i) = queue.pop_front() {
            for &j in &adjacency[i] {
                if seen[j] != generation {
                    seen[j] = generation;
                    out.push(j);
                    queue.push_back(j);
                }
            }
        }
        out.sort_unstable();
        out
    };
    let mut links: Vec<Link> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut explains = walk(i, &up);
            let through: Vec<usize> = explains
                .iter()
                .copied()
                .filter(|&j| nodes[j].unobserved)
                .collect();
            // An unobserved node explains nothing: it is not a suspect.
            explains.retain(|&j| !n.unobserved && nodes[j].symptom && !nodes[j].unobserved);
            let explained_by: Vec<usize> = walk(i, &down)
                .into_iter()
                .filter(|&d| {
                    let dep = &nodes[d];
                    if dep.unobserved {
                        return false;
                    }
                    let earlier = match (dep.onset, n.onset) {
                        (Some(a), Some(b)) => a <= b.plus(tolerance),
                        _ => false,
                    };
                    // Own symptoms are not passed on — except a cache's: a hit ratio
                    // is measured by the caller, about the cache it depends on.
                    let shows_mine = n
                        .intrinsic
                        .iter()
                        .all(|s| *s == Signal::Cache && dep.intrinsic.contains(s));
                    // By timing alone, a dependency explains only a symptom of a size
                    // its own change can account for: a small surprise below cannot
                    // explain away a much larger one above.
                    dep.strength >= n.strength
                        || (!n.changed
                            && earlier
                            && shows_mine
                            && dep.strength >= clear
                            && (n.queueing || dep.strength * EXPLAIN_RATIO >= n.strength))
                })
                .collect();
            let first_caller_onset = explains.iter().filter_map(|&c| nodes[c].onset).min();
            let late = match (n.onset, first_caller_onset) {
                (Some(mine), Some(first)) => mine > first.plus(tolerance),
                _ => false,
            };
            let direct_callers = direct(i, &up, nodes);
            Link {
                direct_callers,
                through,
                explains,
                explained_by,
                first_caller_onset,
                late,
                load_from_misses: false,
            }
        })
        .collect();
    miss_load(nodes, &up, &down, tolerance, &mut links);
    links
}

/// Load sent by a failing cache. A caller whose cache stops hitting sends its
/// misses to the backend behind the cache: a backend whose own symptoms are only load
/// (utilization, saturation), whose direct caller's hit ratio fell no later than it
/// turned abnormal, is explained by that cache — the caller's cache dependency that
/// shows the fall too, else the caller itself (its cache is not observed apart). The
/// sizes are not compared: a hit ratio falling from 0.9 to 0.1 multiplies the misses
/// by nine, which a few robust sd on the ratio cannot show. The cache then explains
/// the backend and what the backend explains.
fn miss_load(
    nodes: &[Node<'_>],
    up: &[Vec<usize>],
    down: &[Vec<usize>],
    tolerance: Duration,
    links: &mut [Link],
) {
    let no_later = |a: Option<Timestamp>, b: Option<Timestamp>| match (a, b) {
        (Some(a), Some(b)) => a <= b.plus(tolerance),
        _ => false,
    };
    let cache_fell = |n: &Node<'_>| !n.unobserved && n.intrinsic.contains(&Signal::Cache);
    for (b, backend) in nodes.iter().enumerate() {
        let load_only = !backend.intrinsic.is_empty()
            && backend
                .intrinsic
                .iter()
                .all(|s| matches!(s, Signal::Utilization | Signal::Saturation));
        if backend.unobserved || backend.changed || !load_only {
            continue;
        }
        let mut explainers: Vec<usize> = Vec::new();
        for &o in &up[b] {
            let owner = &nodes[o];
            if !cache_fell(owner) || !no_later(owner.onset, backend.onset) {
                continue;
            }
            let caches: Vec<usize> = down[o]
                .iter()
                .copied()
                .filter(|&c| c != b && cache_fell(&nodes[c]))
                .filter(|&c| no_later(nodes[c].onset, owner.onset))
                .collect();
            if caches.is_empty() {
                explainers.push(o);
            } else {
                explainers.extend(caches);
            }
        }
        if explainers.is_empty() {
            continue;
        }
        let mut carried: Vec<usize> = links[b].explains.clone();
        if backend.symptom {
            carried.push(b);
        }
        for &e in &explainers {
            let link = &mut links[e];
            link.explains
                .extend(carried.iter().copied().filter(|&j| j != e));
            link.explains.sort_unstable();
            link.explains.dedup();
        }
        let link = &mut links[b];
        link.explained_by.extend(explainers);
        link.explained_by.sort_unstable();
        link.explained_by.dedup();
        link.load_from_misses = true;
    }
}

/// The symptoms among `i`'s callers, reached directly or through unobserved
/// components only (they would have been its direct callers had the unobserved one
/// been seen to pass the failure on).
fn direct(i: usize, up: &[Vec<usize>], nodes: &[Node<'_>]) -> usize {
    let mut seen = vec![false; nodes.len()];
    seen[i] = true;
    let mut stack = vec![i];
    let mut count = 0;
    while let Some(x) = stack.pop() {
        for &j in &up[x] {
            if seen[j] {
                continue;
            }
            seen[j] = true;
            if nodes[j].unobserved {
                stack.push(j);
            } else if nodes[j].symptom {
                count += 1;
            }
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_testkit::topology;

    fn topo() -> Topology {
        topology(&[
            ("frontend", &["api"]),
            ("api", &["db", "cache"]),
            ("db", &[]),
            ("cache", &[]),
        ])
    }

    fn node<'a>(name: &'a str, strength: f64, onset: i64, intrinsic: &'a [Signal]) -> Node<'a> {
        Node {
            name,
            strength,
            onset: Some(Timestamp::from_secs(onset)),
            intrinsic,
            symptom: true,
            changed: false,
            unobserved: false,
            queueing: false,
        }
    }

    /// A component with no data: no strength, no onset.
    fn blind(name: &str) -> Node<'_> {
        Node {
            name,
            strength: 0.0,
            onset: None,
            intrinsic: &[],
            symptom: false,
            changed: false,
            unobserved: true,
            queueing: false,
        }
    }

    #[test]
    fn a_leaf_explains_its_callers_and_they_do_not_explain_it() {
        let nodes = [
            node("frontend", 20.0, 30, &[]),
            node("api", 30.0, 15, &[]),
            node("db", 10.0, 0, &[]),
        ];
        let links = propagate(&nodes, &topo(), Duration::from_secs(5), 0.0);
        assert_eq!(links[2].explains, vec![0, 1]);
        assert!(links[2].explained_by.is_empty());
        assert!(!links[2].late);
        // api is more abnormal than db, but its latency can be inherited and db was first.
        assert_eq!(links[1].explained_by, vec![2]);
        assert_eq!(links[0].explained_by, vec![1, 2]);
    }

    #[test]
    fn intrinsic_symptoms_stronger_than_the_dependency_are_not_inherited() {
        let cpu = [Signal::Utilization];
        let nodes = [node("api", 30.0, 15, &cpu), node("db", 10.0, 0, &[])];
        let links = propagate(&nodes, &topo(), Duration::from_secs(5), 0.0);
        assert!(links[0].explained_by.is_empty());
        // The same own symptom on a dependency that was first is the dependency's.
        let cache = [Signal::Cache];
        let nodes = [
            node("api", 30.0, 15, &cache),
            node("cache", 10.0, 0, &cache),
        ];
        let links = propagate(&nodes, &topo(), Duration::from_secs(5), 0.0);
        assert_eq!(links[0].explained_by, vec![1]);
    }

    #[test]
    fn a_small_surprise_below_does_not_explain_a_much_larger_one_above() {
        // db turned abnormal first and clearly (12 sd), but api's 60 sd symptom is
        // five times larger: db's change cannot account for it.
        let nodes = [node("api", 60.0, 15, &[]), node("db", 12.0, 0, &[])];
        let links = propagate(&nodes, &topo(), Duration::from_secs(5), 10.0);
        assert!(links[0].explained_by.is_empty());
        assert_eq!(links[1].explains, vec![0]);
        // Within the ratio it still does.
        let nodes = [node("api", 30.0, 15, &[]), node("db", 12.0, 0, &[])];
        let links = propagate(&nodes, &topo(), Duration::from_secs(5), 10.0);
        assert_eq!(links[0].explained_by, vec![1]);
        // So does a small slowdown below a caller that queues for it (a full pool
        // amplifies it).
        let mut api = node("api", 60.0, 15, &[]);
        api.queueing = true;
        let links = propagate(
            &[api, node("db", 12.0, 0, &[])],
            &topo(),
            Duration::from_secs(5),
            10.0,
        );
        assert_eq!(links[0].explained_by, vec![1]);
    }

    #[test]
    fn a_dependency_that_turned_abnormal_after_its_caller_is_late() {
        let nodes = [node("api", 10.0, 0, &[]), node("db", 10.0, 300, &[])];
        let links = propagate(&nodes, &topo(), Duration::from_secs(30), 0.0);
        assert!(links[1].late);
        assert_eq!(links[1].first_caller_onset, Some(Timestamp::from_secs(0)));
        // Equal strength: db still explains api's symptoms by strength alone.
        assert_eq!(links[0].explained_by, vec![1]);
    }

    #[test]
    fn a_changed_component_is_explained_only_by_a_stronger_dependency() {
        let mut api = node("api", 30.0, 15, &[]);
        api.changed = true;
        let nodes = [api, node("db", 20.0, 0, &[])];
        let links = propagate(&nodes, &topo(), Duration::from_secs(30), 0.0);
        assert!(links[0].explained_by.is_empty());
        let nodes = [api, node("db", 40.0, 0, &[])];
        let links = propagate(&nodes, &topo(), Duration::from_secs(30), 0.0);
        assert_eq!(links[0].explained_by, vec![1]);
    }

    #[test]
    fn normal_components_break_the_chain() {
        // frontend and db are abnormal, api is not: no chain through api.
        let nodes = [node("frontend", 10.0, 30, &[]), node("db", 10.0, 0, &[])];
        let links = propagate(&nodes, &topo(), Duration::from_secs(5), 0.0);
        assert!(links[1].explains.is_empty());
        assert!(links[0].explained_by.is_empty());
    }

    #[test]
    fn an_unobserved_component_carries_the_chain_without_being_part_of_it() {
        // api has no data: db still explains frontend, through api, as a direct caller.
        let nodes = [
            node("frontend", 10.0, 30, &[]),
            blind("api"),
            node("db", 10.0, 0, &[]),
        ];
        let links = propagate(&nodes, &topo(), Duration::from_secs(5), 0.0);
        assert_eq!(links[2].explains, vec![0]);
        assert_eq!(links[2].direct_callers, 1);
        assert_eq!(links[2].through, vec![1]);
        assert_eq!(links[0].explained_by, vec![2]);
        // The blind component explains nothing and nothing explains it.
        assert!(links[1].explains.is_empty());
        assert!(!links[0].explained_by.contains(&1));
    }

    #[test]
    fn a_failing_cache_explains_the_load_its_misses_send_to_the_backend() {
        let cache = [Signal::Cache];
        let cpu = [Signal::Utilization];
        // api's hit ratio fell (its cache shows it too); db, its backend, is overloaded
        // soon after, far more abnormal than the ratio.
        let nodes = [
            node("api", 20.0, 5, &cache),
            node("db", 5000.0, 20, &cpu),
            node("cache", 15.0, 0, &cache),
        ];
        let links = propagate(&nodes, &topo(), Duration::from_secs(5), 0.0);
        assert_eq!(links[1].explained_by, vec![2]);
        assert!(links[1].load_from_misses);
        assert_eq!(links[2].explains, vec![0, 1]);
        // Without the cache observed apart, the caller whose hit ratio fell explains it.
        let nodes = [node("api", 20.0, 5, &cache), node("db", 5000.0, 20, &cpu)];
        let links = propagate(&nodes, &topo(), Duration::from_secs(5), 0.0);
        assert_eq!(links[1].explained_by, vec![0]);
        assert!(links[1].load_from_misses);
        // Not when the backend was overloaded first ...
        let nodes = [node("api", 20.0, 60, &cache), node("db", 5000.0, 20, &cpu)];
        let links = propagate(&nodes, &topo(), Duration::from_secs(5), 0.0);
        assert!(links[1].explained_by.is_empty());
        assert!(!links[1].load_from_misses);
        // ... nor when its own symptoms are more than load.
        let own = [Signal::Memory, Signal::Utilization];
        let nodes = [node("api", 20.0, 5, &cache), node("db", 5000.0, 20, &own)];
        let links = propagate(&nodes, &topo(), Duration::from_secs(5), 0.0);
        assert!(links[1].explained_by.is_empty());
    }
}
