//! Common causes: a zone or a node (host) as a hypothesis that competes with the
//! services placed there.
//!
//! A place is suspect when several of its components turned abnormal at about the
//! same time (within the onset tolerance) and no single service explains them: each
//! of them has symptoms of its own (CPU, saturation, memory: not passed on by a
//! dependency) or no abnormal dependency at all, none was changed just before, and
//! none saw its offered load rise (more traffic is load, not lost capacity). Its
//! score is that of a candidate explaining all of them — the members count as
//! explained callers, and so do abnormal components elsewhere whose symptoms only
//! its members explain — times the share of the place that is abnormal, halved for
//! every component outside it that is abnormal on its own (the rest of the graph
//! should be fine). A place is a hypothesis only where the charter places components
//! in at least two zones (nodes): with one, "the zone" is the whole system and
//! nothing sets it apart.
//!
//! Cost: O(P · A) for P places and A abnormal components.

use super::{CALLER_WEIGHT, Comp, MAX_CREDITED_CALLERS, MAX_HYPOTHESES, MAX_LISTED, listed};
use crate::calibration::CALIBRATION;
use crate::patterns::propagation::{Link, Node};
use charter_model::{
    CauseClass, Hypothesis, Placement, PlacementKind, Signal, Timestamp, fmt_duration_secs,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// What the ranking already knows of the incident's abnormal components.
pub(super) struct Seen<'s, 'a> {
    pub comps: &'s HashMap<&'a str, Comp<'a>>,
    pub nodes: &'s [Node<'a>],
    pub links: &'s [Link],
    pub threshold: f64,
    pub tolerance: Duration,
    /// Only components the diagnosis may name (all abnormal ones without a target):
    /// a place is a candidate when one of its synchronous members is.
    pub candidate: &'s dyn Fn(&str) -> bool,
}

/// A common-cause hypothesis and its raw score (same unit as a service's).
pub(super) struct Scored {
    pub score: f64,
    pub hypothesis: Hypothesis,
}

/// Score every zone and node of `places` (component → place name) that the incident
/// makes suspect.
pub(super) fn common_causes(
    seen: &Seen<'_, '_>,
    places: [(PlacementKind, Option<&BTreeMap<String, String>>); 2],
) -> Vec<Scored> {
    let mut out = Vec::new();
    for (kind, map) in places {
        let Some(map) = map else { continue };
        let mut by_place: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (component, place) in map {
            by_place
                .entry(place.as_str())
                .or_default()
                .push(component.as_str());
        }
        if by_place.len() < 2 {
            continue;
        }
        for (place, members) in &by_place {
            if members.len() < 2 {
                continue;
            }
            let place = Placement::new(kind, *place);
            if let Some(s) = score_place(seen, &place, members) {
                out.push(s);
            }
        }
    }
    out
}

/// Why a member is not explained by a single service, or `None` when it may be.
fn own_reason(seen: &Seen<'_, '_>, i: usize) -> Option<String> {
    let node = &seen.nodes[i];
    // A component without data (none of its metrics scored) is no evidence either way.
    let c = seen.comps.get(node.name)?;
    if node.changed || c.signals.contains(&Signal::Traffic) || node.onset.is_none() {
        return None;
    }
    // Lost capacity shows as work done slowly or not at all; a cost, a cache hit
    // ratio or a pool alone is not a sign of it.
    let capacity = [
        Signal::Utilization,
        Signal::Saturation,
        Signal::Latency,
        Signal::Errors,
        Signal::Availability,
    ];
    if !capacity.iter().any(|s| c.signals.contains(s)) {
        return None;
    }
    let link = &seen.links[i];
    if link.explained_by.is_empty() {
        return Some(format!("{}: no abnormal dependency", node.name));
    }
    // With its work explained from below, what is left must be its own, and not a
    // hit ratio (not a sign of lost capacity) nor load a failing cache's misses sent.
    let own: Vec<String> = node
        .intrinsic
        .iter()
        .filter(|s| **s != Signal::Cache)
        .map(|s| format!("{s:?}").to_lowercase())
        .collect();
    if !own.is_empty() && !link.load_from_misses {
        return Some(format!(
            "{}: own {} that no dependency passes on",
            node.name,
            own.join(", ")
        ));
    }
    None
}

fn score_place(seen: &Seen<'_, '_>, place: &Placement, members: &[&str]) -> Option<Scored> {
    let thr = seen.threshold;
    let is_member = |name: &str| members.contains(&name);
    // Members not explained by one service, by onset.
    let mut own: Vec<(usize, String)> = seen
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| is_member(n.name))
        .filter_map(|(i, _)| own_reason(seen, i).map(|why| (i, why)))
        .collect();
    own.sort_by_key(|(i, _)| seen.nodes[*i].onset);
    // The largest run of onsets within the tolerance of its first.
    let onset = |i: usize| seen.nodes[i].onset.unwrap_or(Timestamp(0));
    let (mut best, mut start) = ((0, 0), 0);
    for end in 0..own.len() {
        while onset(own[end].0).since(onset(own[start].0)) > seen.tolerance {
            start += 1;
        }
        if end + 1 - start > best.1 - best.0 {
            best = (start, end + 1);
        }
    }
    let sync = &own[best.0..best.1];
    if sync.len() < 2
        || !sync
            .iter()
            .any(|(i, _)| (seen.candidate)(seen.nodes[*i].name))
    {
        return None;
    }
    let in_sync: BTreeSet<usize> = sync.iter().map(|(i, _)| *i).collect();
    // Abnormal components elsewhere: explained only through the place's members, or
    // abnormal on their own (evidence against the place).
    let (mut through, mut against) = (Vec::new(), Vec::new());
    for (j, n) in seen.nodes.iter().enumerate() {
        if is_member(n.name) || !n.symptom {
            continue;
        }
        let by = &seen.links[j].explained_by;
        if by.is_empty() {
            against.push(n.name);
        } else if by.iter().all(|b| is_member(seen.nodes[*b].name)) {
            through.push(j);
        }
    }
    let k = sync.len();
    let base = sync
        .iter()
        .map(|(i, _)| 1.0 + (seen.comps[seen.nodes[*i].name].strength / thr).ln())
        .sum::<f64>()
        / k as f64;
    let credited = (k + through.len()).min(MAX_CREDITED_CALLERS);
    let mut score = CALLER_WEIGHT.powi(credited as i32) * base;
    if sync
        .iter()
        .any(|(i, _)| !seen.comps[seen.nodes[*i].name].violations.is_empty())
    {
        score *= 2.0;
    }
    score *= k as f64 / members.len() as f64;
    score *= 0.5f64.powi(against.len().min(MAX_LISTED) as i32);

    let names: Vec<&str> = sync.iter().map(|(i, _)| seen.nodes[*i].name).collect();
    let first = onset(sync[0].0);
    let spread = onset(sync[k - 1].0).since(first);
    let mut evidence = vec![format!(
        "{k} of the {} components in {} {} turned abnormal within {}: {}",
        members.len(),
        place.kind.as_str(),
        place.name,
        fmt_duration_secs(spread.as_secs_f64()),
        listed(&names)
    )];
    let reasons: Vec<&str> = sync.iter().map(|(_, why)| why.as_str()).collect();
    evidence.push(format!(
        "no single service explains them ({})",
        reasons.join("; ")
    ));
    let quiet: Vec<&str> = members
        .iter()
        .copied()
        .filter(|m| {
            !seen
                .nodes
                .iter()
                .enumerate()
                .any(|(i, n)| n.name == *m && in_sync.contains(&i))
        })
        .collect();
    if !quiet.is_empty() {
        evidence.push(format!(
            "not (or not at the same time) abnormal in {place}: {}",
            listed(&quiet)
        ));
    }
    if !through.is_empty() {
        let t: Vec<&str> = through.iter().map(|j| seen.nodes[*j].name).collect();
        evidence.push(format!(
            "abnormal outside {place} only through its members: {}",
            listed(&t)
        ));
    }
    if against.is_empty() {
        evidence.push(format!("nothing outside {place} is abnormal on its own"));
    } else {
        evidence.push(format!(
            "abnormal outside {place} on their own, which it does not explain: {}",
            listed(&against)
        ));
    }
    let mut symptoms: Vec<String> = Vec::new();
    for i in sync.iter().map(|(i, _)| *i).chain(through.iter().copied()) {
        let room = MAX_LISTED.saturating_sub(symptoms.len());
        symptoms.extend(
            seen.comps[seen.nodes[i].name]
                .violations
                .iter()
                .take(room)
                .map(|v| v.key()),
        );
    }
    Some(Scored {
        score,
        hypothesis: Hypothesis {
            component: place.to_string(),
            cause: CauseClass::Infrastructure,
            confidence: 0.0,
            symptoms,
            evidence,
        },
    })
}

/// Add the common-cause hypotheses to the services' with their share of `total`,
/// best first (ties keep the services first), at most [`MAX_HYPOTHESES`].
pub(super) fn rank(hypotheses: &mut Vec<Hypothesis>, common: Vec<Scored>, total: f64) {
    if common.is_empty() {
        return;
    }
    for c in common {
        let mut h = c.hypothesis;
        h.confidence = CALIBRATION.apply(c.score / total);
        hypotheses.push(h);
    }
    hypotheses.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    hypotheses.truncate(MAX_HYPOTHESES);
}

#[cfg(test)]
mod tests {
    use crate::anomaly::RankOptions;
    use crate::patterns::frequency::EpisodeLog;
    use crate::rootcause::tests::input;
    use crate::rootcause::{DiagnosisInput, diagnose};
    use charter_model::{CauseClass, Diagnosis, Severity, Signal, Timestamp, Violation};
    use charter_testkit::{topology, violation};
    use std::collections::BTreeMap;

    /// An edge in zone a calls three services in zone b and one in zone a; each of
    /// them uses a store in zone a.
    fn run(violations: &[Violation], zones: &[(&str, &str)]) -> Diagnosis {
        let t = topology(&[
            ("edge", &["cat", "ord", "pay", "search"]),
            ("cat", &["store"]),
            ("ord", &["store"]),
            ("pay", &["store"]),
            ("search", &["store"]),
            ("store", &[]),
        ]);
        let zones: BTreeMap<String, String> = zones
            .iter()
            .map(|(c, z)| (c.to_string(), z.to_string()))
            .collect();
        let opts = RankOptions::default();
        diagnose(DiagnosisInput {
            zones: Some(&zones),
            ..input(violations, &[], Some(&t), EpisodeLog::none(), &opts)
        })
    }

    const TWO_ZONES: [(&str, &str); 6] = [
        ("edge", "a"),
        ("cat", "b"),
        ("ord", "b"),
        ("pay", "b"),
        ("search", "a"),
        ("store", "a"),
    ];

    fn v(obj: &str, comp: &str, signal: Signal, since: i64) -> Violation {
        violation(obj, comp)
            .signal(signal)
            .firing(Severity::Critical)
            .since(Timestamp::from_secs(since))
            .value(1.0)
            .build()
    }

    /// Every service of zone b saturated within half a minute, the edge slow.
    fn zone_b_lost_capacity() -> Vec<Violation> {
        vec![
            v("cpu", "cat", Signal::Utilization, 100),
            v("latency", "cat", Signal::Latency, 100),
            v("cpu", "ord", Signal::Utilization, 115),
            v("latency", "ord", Signal::Latency, 115),
            v("cpu", "pay", Signal::Utilization, 130),
            v("latency", "edge", Signal::Latency, 120),
        ]
    }

    #[test]
    fn a_zone_whose_services_all_saturate_together_is_the_root() {
        let d = run(&zone_b_lost_capacity(), &TWO_ZONES);
        let root = d.root().expect("root");
        assert_eq!(root.component, "zone:b", "{d:#?}");
        assert_eq!(root.cause, CauseClass::Infrastructure);
        assert!(root.confidence >= 0.5, "{d:#?}");
        assert!(
            root.evidence[0].starts_with("3 of the 3 components in zone b")
                && root.evidence[0].contains("cat, ord, pay"),
            "{:?}",
            root.evidence
        );
        assert!(
            root.evidence
                .iter()
                .any(|e| e.starts_with("no single service explains them")),
            "{:?}",
            root.evidence
        );
        assert!(root.symptoms.contains(&"latency@edge".to_string()));
        // The services remain, below it.
        assert!(d.hypotheses.iter().any(|h| h.component == "cat"));
    }

    #[test]
    fn services_of_a_zone_that_only_cost_more_together_are_not_a_lost_zone() {
        // Replicas left behind after a surge: every service of zone b over its cost
        // objective at once. Nothing runs slowly or fails: no capacity was lost.
        let vs = [
            v("cost", "cat", Signal::Cost, 100),
            v("cost", "ord", Signal::Cost, 100),
            v("cost", "pay", Signal::Cost, 110),
        ];
        let d = run(&vs, &TWO_ZONES);
        assert!(
            d.hypotheses
                .iter()
                .all(|h| !h.component.starts_with("zone:")),
            "{d:#?}"
        );
    }

    #[test]
    fn a_single_saturated_service_in_the_zone_is_the_service() {
        let vs = [
            v("cpu", "ord", Signal::Utilization, 100),
            v("latency", "ord", Signal::Latency, 100),
            v("latency", "edge", Signal::Latency, 110),
        ];
        let d = run(&vs, &TWO_ZONES);
        assert_eq!(d.root().expect("root").component, "ord", "{d:#?}");
        assert!(d.hypotheses.iter().all(|h| h.component != "zone:b"));
    }

    #[test]
    fn a_failing_store_below_the_zone_is_the_store_not_the_zone() {
        // Inherited symptoms only: the store in zone a explains every one of them.
        let vs = [
            v("errors", "store", Signal::Errors, 100),
            v("errors", "cat", Signal::Errors, 100),
            v("errors", "ord", Signal::Errors, 110),
            v("errors", "pay", Signal::Errors, 110),
        ];
        let d = run(&vs, &TWO_ZONES);
        assert_eq!(d.root().expect("root").component, "store", "{d:#?}");
        assert!(d.hypotheses.iter().all(|h| h.component != "zone:b"));
    }

    #[test]
    fn onsets_far_apart_are_not_one_common_cause() {
        let vs = [
            v("cpu", "cat", Signal::Utilization, 100),
            v("cpu", "ord", Signal::Utilization, 400),
            v("cpu", "pay", Signal::Utilization, 700),
        ];
        let d = run(&vs, &TWO_ZONES);
        assert!(
            d.hypotheses.iter().all(|h| h.component != "zone:b"),
            "{d:#?}"
        );
    }

    #[test]
    fn with_a_single_zone_there_is_no_zone_hypothesis() {
        let one: Vec<(&str, &str)> = TWO_ZONES.iter().map(|(c, _)| (*c, "a")).collect();
        let d = run(&zone_b_lost_capacity(), &one);
        assert!(
            d.hypotheses
                .iter()
                .all(|h| !h.component.starts_with("zone:"))
        );
    }

    #[test]
    fn more_traffic_is_load_not_a_lost_zone() {
        let mut vs = zone_b_lost_capacity();
        for c in ["cat", "ord", "pay"] {
            vs.push(v("rps", c, Signal::Traffic, 100));
        }
        let d = run(&vs, &TWO_ZONES);
        assert!(
            d.hypotheses.iter().all(|h| h.component != "zone:b"),
            "{d:#?}"
        );
    }

    #[test]
    fn components_abnormal_on_their_own_elsewhere_weaken_the_zone() {
        let base = run(&zone_b_lost_capacity(), &TWO_ZONES);
        let mut vs = zone_b_lost_capacity();
        vs.push(v("cpu", "search", Signal::Utilization, 100));
        let d = run(&vs, &TWO_ZONES);
        let zone = |d: &Diagnosis| {
            d.hypotheses
                .iter()
                .find(|h| h.component == "zone:b")
                .map(|h| h.confidence)
                .unwrap_or(0.0)
        };
        assert!(zone(&d) < zone(&base), "{} vs {}", zone(&d), zone(&base));
        let h = d.hypotheses.iter().find(|h| h.component == "zone:b");
        assert!(
            h.is_some_and(|h| h.evidence.iter().any(|e| e.contains("search"))),
            "{d:#?}"
        );
    }
}
