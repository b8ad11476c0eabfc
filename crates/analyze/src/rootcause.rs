//! Root-cause ranking: the one diagnosis the controller, `charter replay` and the
//! dataset harness all run.
//!
//! Inputs are whatever is known about an incident: violations (live), metric
//! windows split at the onset (live, from history; replay; datasets), the
//! dependency graph (optional), recent changes and past violation episodes.
//!
//! 1. Every metric window gets a scale-free robust score ([`crate::anomaly`]) and
//!    the time it crossed the threshold. A component is abnormal when a metric
//!    reaches the threshold or one of its objectives is violated; its strength is
//!    its highest score (at least the threshold when violated). An endpoint-like
//!    leaf (no dependencies, only symptoms its callers measure too) is judged by its
//!    callers: its strength is at most its most abnormal caller's (not when it is the
//!    alert's target). When most series shifted as a whole
//!    ([`crate::anomaly::baseline_drift`]), the top hypothesis says the baseline
//!    drifted and the ranking is unreliable.
//! 2. [`propagation`] relates abnormal components through the graph: whom each can
//!    explain, who can explain it (a dependency explains by timing only a symptom
//!    at most [`crate::patterns::propagation::EXPLAIN_RATIO`] times its own surprise), who turned
//!    abnormal first. Saturation that comes
//!    with a full pool (and normal utilization) counts as inheritable: it is queueing
//!    for the pooled dependency. A component changed shortly before its onset is
//!    explained only by a dependency at least as abnormal, not by timing alone.
//! 3. [`frequency`] marks violating series that flap all the time (chronic) or
//!    violate far more than their history (new); [`burst`] finds the burst the
//!    incident's onsets belong to; [`cluster`] reports components sharing a
//!    dependency or a zone.
//! 4. Zones and nodes are candidates too ([`common`]): one whose components turned
//!    abnormal together, each for reasons no single service explains, scores like a
//!    candidate explaining them all.
//! 5. Each candidate scores `(1 + explained) · (1 + ln(strength / threshold))`,
//!    doubled when one of its own objectives is violated, reduced when a dependency
//!    can explain it (×0.15 for inheritable symptoms, ×0.5
//!    for its own), when it turned abnormal after a caller it would explain (×0.6),
//!    when all its violations are chronic (×0.5), and raised by a deploy or config
//!    change shortly before its onset by ×(1 + w/2). The change's weight w is the
//!    share of the symptom that offered load does not explain ([`weigh_change`]):
//!    traffic (its own, or its nearest callers') rising as much as its utilization
//!    explains the rise, so a change that came with a surge is no longer the cause;
//!    a change long before the onset counts less. Below w = 1/2 the component is not
//!    called a bad change. A hypothesis refuted in the incident (an action that
//!    assumed it was verified `no_effect` or `worsened`) gives way to the next cause
//!    class the component's signals name, and counts ×[`REFUTED_WEIGHT`] when no
//!    other is left. Its confidence is its share of the total, weighted by how clear
//!    its own anomaly is, then calibrated ([`crate::calibration`]).
//!
//! No abnormal component means no root cause: an empty ranking.
//!
//! Cost, for S series of at most n points, A abnormal components, E_A edges among
//! them, and P episodes: O(S · n log n + A · (A + E_A) + P log P).

use crate::anomaly::{MetricScore, MetricSeries, RankOptions, describe, score_series, short};
use crate::calibration::CALIBRATION;
use crate::patterns::burst::find_bursts;
use crate::patterns::cluster::{Shared, find_clusters};
use crate::patterns::frequency::{EpisodeLog, FrequencyFinding, Verdict};
use crate::patterns::propagation::{Node, propagate};
use charter_model::{
    CauseClass, Change, ChangeKind, Diagnosis, Hypothesis, IncidentId, Pattern, PlacementKind,
    Refutation, Signal, Timestamp, Topology, Violation, ViolationState, fmt_duration_secs,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Everything a diagnosis looks at. Empty slices and `None` mean "not known".
#[derive(Debug, Clone, Copy)]
pub struct DiagnosisInput<'a> {
    pub incident_id: IncidentId,
    pub now: Timestamp,
    /// The incident's member violations (any state; only pending and firing ones
    /// count).
    pub violations: &'a [Violation],
    /// Metric windows split at (or before) the incident's onset.
    pub series: &'a [MetricSeries],
    /// The dependency graph, edges from caller to dependency.
    pub topology: Option<&'a Topology>,
    /// Each component's zone.
    pub zones: Option<&'a BTreeMap<String, String>>,
    /// Each component's node (host).
    pub nodes: Option<&'a BTreeMap<String, String>>,
    /// Recent changes on any component.
    pub changes: &'a [Change],
    /// Past violation episodes of any series (for the frequency and burst tests);
    /// [`EpisodeLog::none`] when there is no history.
    pub episodes: &'a EpisodeLog,
    /// When observation began (the frequency test's history cannot predate it).
    pub observed_since: Timestamp,
    /// Components whose metrics are missing (Unknown or never read): chains pass
    /// through them, but they are never blamed for want of data.
    pub unobserved: &'a [String],
    /// Hypotheses the incident's verified outcomes refuted (empty when none or
    /// unknown): each lowers its (component, cause) in this diagnosis.
    pub refuted: &'a [Refutation],
    /// The component where the symptom was seen (an alert's target). With a graph,
    /// only abnormal components it reaches through abnormal dependencies are
    /// candidates, and a target that is not abnormal yields no root cause.
    pub target: Option<&'a str>,
    pub options: &'a RankOptions,
}

/// How much each abnormal caller a candidate explains multiplies its score: every
/// symptom its failure accounts for is evidence that would otherwise need a cause
/// of its own, so it counts far more than a stronger anomaly.
const CALLER_WEIGHT: f64 = 4.0;

/// The score of the hypothesis that the cause is something not observed: that of a
/// candidate at e times the threshold, with no callers and no violation.
const UNOBSERVED_SCORE: f64 = 1.0;
/// Most callers credited to one candidate (4^20 ≈ 10^12 keeps scores finite).
const MAX_CREDITED_CALLERS: usize = 20;
/// Most hypotheses reported, and most symptoms, names or keys listed in one.
const MAX_HYPOTHESES: usize = 20;
const MAX_LISTED: usize = 32;
/// What a refuted hypothesis' score is multiplied by when its component's signals
/// name no other cause.
const REFUTED_WEIGHT: f64 = 0.25;
/// The least weight a change keeps however well load explains the symptom: load
/// and a bad change can come together.
const MIN_CHANGE_WEIGHT: f64 = 0.1;
/// Below this weight a change does not make its component a bad change.
const BAD_CHANGE_WEIGHT: f64 = 0.5;
/// A traffic ratio below this is no rise of load.
const LOAD_RISE: f64 = 1.1;
/// Most of a utilization rise that load nobody measures is taken to explain (the
/// rest is left to a change that may have made requests costlier).
const UNMEASURED_LOAD_SHARE: f64 = 0.4;

/// Most signal keys per component given to the cluster detector (two make a
/// cluster; the rest only lengthen its member list).
const MAX_CLUSTER_KEYS: usize = 8;

/// Most names listed in one line of evidence.
const SHOWN: usize = 10;

/// `a, b, c and 12 more`.
fn listed(names: &[&str]) -> String {
    charter_model::text::listed(names, SHOWN)
}

/// Symptoms a caller inherits from a failing dependency; anything else is the
/// component's own.
fn inheritable(s: Signal) -> bool {
    matches!(
        s,
        Signal::Latency
            | Signal::Errors
            | Signal::Availability
            | Signal::Traffic
            | Signal::Pool
            | Signal::Other
    )
}

/// A component's own resources: what a resource fault moves.
fn resource(s: Signal) -> bool {
    matches!(
        s,
        Signal::Utilization | Signal::Memory | Signal::Network | Signal::Io | Signal::Saturation
    )
}

#[derive(Default)]
struct Comp<'a> {
    metrics: Vec<&'a MetricScore>,
    violations: Vec<&'a Violation>,
    signals: BTreeSet<Signal>,
    onset: Option<Timestamp>,
    strength: f64,
    /// An endpoint-like leaf whose strength was lowered to what its callers show.
    capped_by_callers: bool,
}

/// Rank root-cause hypotheses for an incident.
pub fn diagnose(input: DiagnosisInput<'_>) -> Diagnosis {
    let scores = input
        .series
        .iter()
        .filter_map(|s| score_series(s, input.options))
        .collect();
    diagnose_scored(input, scores)
}

/// [`diagnose`] with the metric windows already scored (by
/// [`crate::History::incident_scores`], say): `input.series` is not read.
pub fn diagnose_scored(input: DiagnosisInput<'_>, scores: Vec<MetricScore>) -> Diagnosis {
    let opts = input.options;
    let thr = opts.threshold;
    let mut comps: HashMap<&str, Comp<'_>> = HashMap::new();
    for score in &scores {
        comps
            .entry(score.component.as_str())
            .or_default()
            .metrics
            .push(score);
    }
    for v in input.violations {
        if matches!(v.state, ViolationState::Firing | ViolationState::Pending) {
            comps
                .entry(v.component.as_str())
                .or_default()
                .violations
                .push(v);
        }
    }
    for c in comps.values_mut() {
        c.metrics.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.metric.cmp(&b.metric))
        });
        let top = c.metrics.first().map_or(0.0, |m| m.score);
        c.strength = if c.violations.is_empty() {
            top
        } else {
            top.max(thr)
        };
        for m in c.metrics.iter().filter(|m| m.score >= thr) {
            c.signals.extend(m.signal);
            c.onset = min_opt(c.onset, m.onset);
        }
        for v in &c.violations {
            c.signals.insert(v.signal);
            c.onset = min_opt(c.onset, Some(v.since));
        }
    }
    if let Some(topo) = input.topology {
        judge_endpoints_by_callers(&mut comps, topo, input.target);
    }
    let mut diagnosis = Diagnosis {
        incident_id: input.incident_id,
        at: input.now,
        hypotheses: Vec::new(),
        patterns: Vec::new(),
    };

    // Frequency: what the history says of each violating series.
    let freq = input.episodes.frequency(
        input
            .violations
            .iter()
            .map(|v| (v.objective.as_str(), v.component.as_str())),
        input.now,
        input.observed_since,
        &opts.frequency,
    );
    let freq_of: HashMap<(&str, &str), &FrequencyFinding> = freq
        .iter()
        .map(|f| ((f.objective.as_str(), f.component.as_str()), f))
        .collect();
    let verdict_of = |v: &Violation| {
        freq_of
            .get(&(v.objective.as_str(), v.component.as_str()))
            .copied()
    };
    for f in &freq {
        if f.verdict == Verdict::New {
            diagnosis.patterns.push(Pattern::FrequencyAnomaly {
                objective: f.objective.clone(),
                component: f.component.clone(),
                recent: f.recent,
                expected: f.expected,
            });
        }
    }

    let abnormal: BTreeSet<&str> = comps
        .iter()
        .filter(|(_, c)| c.strength >= thr && c.strength > 0.0)
        .map(|(n, _)| *n)
        .collect();
    let candidates: Vec<&str> = match (input.topology, input.target) {
        (Some(topo), Some(t)) => {
            if !abnormal.contains(t) {
                return diagnosis;
            }
            let unobserved: BTreeSet<&str> = input.unobserved.iter().map(String::as_str).collect();
            reachable(topo, t, &abnormal, &unobserved)
        }
        _ => abnormal.iter().copied().collect(),
    };
    if candidates.is_empty() {
        return diagnosis;
    }
    // The graph is read over every abnormal component (a root explains abnormal
    // callers the target does not reach, too); only candidates are ranked.
    let all: Vec<&str> = abnormal.iter().copied().collect();
    let is_candidate: BTreeSet<&str> = candidates.iter().copied().collect();

    // Burst: do the incident's onsets stand out from the usual rate? Read around
    // each onset in the log; onsets the log does not have yet (no log, say) are
    // added to a copy of it.
    let mine: Vec<Timestamp> = input
        .violations
        .iter()
        .filter(|v| matches!(v.state, ViolationState::Firing | ViolationState::Pending))
        .map(|v| v.since)
        .collect();
    let unknown: Vec<Timestamp> = mine
        .iter()
        .copied()
        .filter(|t| !input.episodes.has_onset_at(*t))
        .collect();
    let burst = if unknown.is_empty() {
        let mut distinct = mine.clone();
        distinct.sort_unstable();
        distinct.dedup();
        distinct
            .into_iter()
            .filter_map(|t| input.episodes.burst_at(t, &opts.burst))
            .max_by_key(|b| (b.onsets, b.start))
    } else {
        let onsets: Vec<Timestamp> = input.episodes.onsets().chain(unknown).collect();
        find_bursts(&onsets, &opts.burst)
            .into_iter()
            .filter(|b| mine.iter().any(|t| b.contains(*t)))
            .max_by_key(|b| b.onsets)
    };
    if let Some(b) = &burst {
        diagnosis.patterns.push(Pattern::Burst {
            start: b.start,
            end: b.end,
            onsets: b.onsets,
        });
    }

    let any_violation = comps.values().any(|c| !c.violations.is_empty());
    // The symptoms to explain: the objectives a component breaches when it breaches
    // any (the charter says what matters), else its abnormal metrics.
    let own: Vec<Vec<Signal>> = all
        .iter()
        .map(|&name| {
            let c = &comps[name];
            let mut own: Vec<Signal> = if c.violations.is_empty() {
                c.signals.iter().copied().collect()
            } else {
                c.violations.iter().map(|v| v.signal).collect()
            };
            own.retain(|s| !inheritable(*s));
            // Saturation that comes with a full connection pool, while the component's
            // own utilization is normal, is requests queueing for connections: a slow
            // pooled dependency passes it on (each connection is held longer).
            if c.signals.contains(&Signal::Pool) && !c.signals.contains(&Signal::Utilization) {
                own.retain(|s| *s != Signal::Saturation);
            }
            own.sort_unstable();
            own.dedup();
            own
        })
        .collect();
    // The latest deploy or config change (not Charter's own) on each abnormal
    // component shortly before its onset.
    let change_of: Vec<Option<(&Change, Timestamp)>> = all
        .iter()
        .map(|&name| {
            let onset = comps[name].onset?;
            input
                .changes
                .iter()
                .filter(|ch| {
                    ch.component == name
                        && matches!(ch.kind, ChangeKind::Deploy | ChangeKind::Config)
                        && ch.by != "charter"
                        && ch.at <= onset.plus(opts.onset_tolerance)
                        && ch.at >= onset.minus(opts.change_window)
                })
                .max_by_key(|ch| ch.at)
                .map(|ch| (ch, onset))
        })
        .collect();
    // How much of each changed component's symptom its change may explain that load
    // does not, and whether the incident already refuted it as a bad change.
    let refuted_on = |name: &str, cause: CauseClass| {
        input
            .refuted
            .iter()
            .any(|r| r.component == name && r.cause == cause)
    };
    let weight_of: Vec<Option<Weighing>> = all
        .iter()
        .zip(&change_of)
        .map(|(&name, change)| {
            let (ch, onset) = (*change)?;
            Some(weigh_change(name, &comps, input.topology, ch, onset, opts))
        })
        .collect();
    let suspect: Vec<bool> = all
        .iter()
        .zip(&weight_of)
        .map(|(&name, w)| {
            w.as_ref().is_some_and(|w| w.weight >= BAD_CHANGE_WEIGHT)
                && !refuted_on(name, CauseClass::BadChange)
        })
        .collect();
    let nodes: Vec<Node<'_>> = all
        .iter()
        .zip(&own)
        .zip(&suspect)
        .map(|((&name, own), &changed)| {
            let c = &comps[name];
            Node {
                name,
                strength: c.strength,
                onset: c.onset,
                intrinsic: own,
                symptom: !any_violation || !c.violations.is_empty(),
                changed,
                unobserved: false,
                queueing: c.signals.contains(&Signal::Pool),
            }
        })
        .collect();
    // Unobserved components carry chains between the abnormal ones around them.
    let mut nodes = nodes;
    if input.topology.is_some() {
        for name in input.unobserved {
            if !comps.contains_key(name.as_str()) {
                nodes.push(Node {
                    name: name.as_str(),
                    strength: 0.0,
                    onset: None,
                    intrinsic: &[],
                    symptom: false,
                    changed: false,
                    unobserved: true,
                    queueing: false,
                });
            }
        }
    }
    let links = match input.topology {
        Some(topo) => propagate(&nodes, topo, opts.onset_tolerance, 2.0 * thr),
        None => vec![Default::default(); nodes.len()],
    };

    // Clusters over the candidates' abnormal signals.
    let keys: Vec<(String, String)> = candidates
        .iter()
        .flat_map(|&name| {
            let c = &comps[name];
            let mut k: Vec<String> = c
                .violations
                .iter()
                .take(MAX_CLUSTER_KEYS)
                .map(|v| v.key())
                .collect();
            if k.is_empty() {
                k = c
                    .metrics
                    .iter()
                    .filter(|m| m.score >= thr)
                    .take(MAX_CLUSTER_KEYS)
                    .map(|m| format!("{}@{name}", m.metric))
                    .collect();
            }
            k.into_iter().map(move |k| (name.to_string(), k))
        })
        .collect();
    let pairs: Vec<(&str, &str)> = keys.iter().map(|(c, k)| (c.as_str(), k.as_str())).collect();
    let zones = input.zones;
    let clusters = find_clusters(&pairs, input.topology, |c| {
        zones.and_then(|z| z.get(c)).map(String::as_str)
    });

    let n = all.len();
    // Pass 1: a score for every candidate (cheap: numbers only).
    struct Scored<'c> {
        node: usize,
        score: f64,
        change: Option<(&'c Change, Timestamp)>,
        cause: CauseClass,
        /// The refuted classes passed over (or the one kept, lowered).
        skipped: Option<Vec<CauseClass>>,
    }
    let mut scored: Vec<Scored<'_>> = Vec::with_capacity(is_candidate.len());
    for (i, node) in nodes.iter().enumerate() {
        if !is_candidate.contains(node.name) {
            continue;
        }
        let c = &comps[node.name];
        let link = &links[i];
        // A component a dependency can explain gets no credit for its callers: that
        // dependency explains them too, through it.
        let credited = if link.explained_by.is_empty() {
            link.direct_callers.min(MAX_CREDITED_CALLERS)
        } else {
            0
        };
        let mut score = CALLER_WEIGHT.powi(credited as i32) * (1.0 + (c.strength / thr).ln());
        if !c.violations.is_empty() {
            // A breach of the charter's own thresholds is stronger evidence than a drift
            // that stayed within them.
            score *= 2.0;
        }
        if !link.explained_by.is_empty() {
            // Symptoms all inherited (a dependency's, or a failing cache's misses)
            // weigh less than own ones a dependency only may explain.
            score *= if node.intrinsic.is_empty() || link.load_from_misses {
                0.15
            } else {
                0.5
            };
        }
        if link.late {
            score *= 0.6;
        }
        let change = change_of[i];
        // A change refuted as the cause adds nothing.
        if let Some(w) = &weight_of[i]
            && !refuted_on(node.name, CauseClass::BadChange)
        {
            score *= 1.0 + w.weight / 2.0;
        }
        // The cause class its signals name, past the ones the incident refuted.
        let changed = weight_of[i]
            .as_ref()
            .is_some_and(|w| w.weight >= BAD_CHANGE_WEIGHT);
        let (cause, skipped) = cause_class(c, changed, !link.explained_by.is_empty(), |k| {
            refuted_on(node.name, k)
        });
        if skipped.is_some() && refuted_on(node.name, cause) {
            score *= REFUTED_WEIGHT;
        }
        let chronic = !c.violations.is_empty()
            && c.violations
                .iter()
                .all(|v| verdict_of(v).is_some_and(|f| f.verdict == Verdict::Chronic));
        if chronic {
            score *= 0.5;
        }
        scored.push(Scored {
            node: i,
            score,
            change,
            cause,
            skipped,
        });
    }
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| nodes[a.node].name.cmp(nodes[b.node].name))
    });
    // Zones and nodes compete with the services ([`common`]).
    let common = common::common_causes(
        &common::Seen {
            comps: &comps,
            nodes: &nodes,
            links: &links,
            threshold: thr,
            tolerance: opts.onset_tolerance,
            candidate: &|c| is_candidate.contains(c),
        },
        [
            (PlacementKind::Zone, input.zones),
            (PlacementKind::Node, input.nodes),
        ],
    );
    // The share goes to the candidates and to "something not observed", which scores
    // like an unremarkable candidate: one weak candidate is not certainty.
    let total: f64 = scored.iter().map(|s| s.score).sum::<f64>()
        + common.iter().map(|c| c.score).sum::<f64>()
        + UNOBSERVED_SCORE;

    // Pass 2: evidence and symptoms for the hypotheses reported.
    let mut hypotheses: Vec<Hypothesis> = Vec::with_capacity(MAX_HYPOTHESES);
    for sc in scored.iter().take(MAX_HYPOTHESES) {
        let i = sc.node;
        let node = &nodes[i];
        let c = &comps[node.name];
        let link = &links[i];
        let mut evidence = Vec::new();
        for m in c
            .metrics
            .iter()
            .take(opts.max_evidence)
            .filter(|m| m.score >= thr)
        {
            evidence.push(describe(m));
        }
        for v in c.violations.iter().take(opts.max_evidence) {
            if let (Some(val), Some(sev)) = (v.value, v.severity) {
                evidence.push(format!(
                    "{} on {} is {} ({sev})",
                    v.objective,
                    v.component,
                    short(val)
                ));
            }
        }
        if c.capped_by_callers {
            evidence.push(format!(
                "{} is an endpoint (no dependencies, only symptoms its callers measure too): judged by its callers, {:.1} robust sd",
                node.name, c.strength
            ));
        }
        if !link.explains.is_empty() {
            // Backends its failing cache sends misses to do not depend on it: say so.
            let (misses, callers): (Vec<usize>, Vec<usize>) = link
                .explains
                .iter()
                .partition(|&&j| links[j].load_from_misses && links[j].explained_by.contains(&i));
            let names =
                |js: &[usize]| listed(&js.iter().map(|&j| nodes[j].name).collect::<Vec<_>>());
            let how = match (callers.is_empty(), misses.is_empty()) {
                (false, true) => format!("{} depend on it", names(&callers)),
                (true, false) => format!("{} take its cache's misses", names(&misses)),
                _ => format!(
                    "{} depend on it; {} take its cache's misses",
                    names(&callers),
                    names(&misses)
                ),
            };
            evidence.push(format!(
                "{} explains {} of {} abnormal components through dependencies ({how})",
                node.name,
                link.explains.len() + 1,
                n,
            ));
        }
        if !link.through.is_empty() && !link.explains.is_empty() {
            let names: Vec<&str> = link.through.iter().map(|&j| nodes[j].name).collect();
            evidence.push(format!(
                "reasoned through {} without data (unobserved: a failure is assumed to pass through; never blamed, never acted on)",
                listed(&names)
            ));
        }
        if !link.explained_by.is_empty() {
            let names: Vec<&str> = link.explained_by.iter().map(|&j| nodes[j].name).collect();
            evidence.push(format!(
                "{}'s symptoms may be inherited from its abnormal dependencies: {}",
                node.name,
                listed(&names)
            ));
        }
        match (node.onset, link.first_caller_onset) {
            (Some(mine), Some(first)) if link.late => evidence.push(format!(
                "{} turned abnormal {} after a component it would explain",
                node.name,
                fmt_duration_secs(mine.since(first).as_secs_f64())
            )),
            (Some(mine), Some(first)) => evidence.push(format!(
                "{} turned abnormal first ({} before the first component it explains)",
                node.name,
                fmt_duration_secs(first.since(mine).as_secs_f64())
            )),
            _ => {}
        }
        if let Some((ch, onset)) = sc.change {
            let lead = if ch.at <= onset {
                format!(
                    "{} before",
                    fmt_duration_secs(onset.since(ch.at).as_secs_f64())
                )
            } else {
                format!(
                    "{} after",
                    fmt_duration_secs(ch.at.since(onset).as_secs_f64())
                )
            };
            evidence.push(
                format!(
                    "{:?} on {} {lead} onset: {} (by {}, reported by {})",
                    ch.kind, node.name, ch.description, ch.by, ch.source
                )
                .to_lowercase(),
            );
            if let Some(w) = &weight_of[i] {
                evidence.push(w.words.clone());
            }
        }
        for f in c.violations.iter().filter_map(|v| verdict_of(v)) {
            match f.verdict {
                Verdict::Chronic => evidence.push(format!(
                    "{}@{} is chronic: {} episodes in the last {} where its history predicts {:.1}",
                    f.objective,
                    f.component,
                    f.recent,
                    fmt_duration_secs(opts.frequency.recent.as_secs_f64()),
                    f.expected
                )),
                Verdict::New => evidence.push(format!(
                    "{}@{} is a new problem: {} episodes in the last {} where its history predicts {:.2}",
                    f.objective,
                    f.component,
                    f.recent,
                    fmt_duration_secs(opts.frequency.recent.as_secs_f64()),
                    f.expected
                )),
                Verdict::Usual => {}
            }
        }
        for cl in &clusters {
            if let Shared::Dependency(d) = &cl.shared
                && d == node.name
            {
                evidence.push(format!(
                    "{} is a shared dependency of abnormal {}",
                    node.name,
                    cl.members.join(", ")
                ));
            }
        }
        let cause = sc.cause;
        if cause == CauseClass::Leak {
            leak_evidence(c, &mut evidence);
        }
        if let Some(skipped) = &sc.skipped {
            for k in skipped {
                let by: Vec<String> = input
                    .refuted
                    .iter()
                    .filter(|r| r.component == node.name && r.cause == *k)
                    .map(Refutation::describe)
                    .collect();
                if *k == cause {
                    evidence.push(format!(
                        "{k} on {} was refuted in this incident ({}) and no other cause fits its signals: weighted ×{REFUTED_WEIGHT}",
                        node.name,
                        by.join(", ")
                    ));
                } else {
                    evidence.push(format!(
                        "{k} on {} was refuted in this incident ({}): {cause} is the next cause its signals name",
                        node.name,
                        by.join(", ")
                    ));
                }
            }
        }
        let mut symptoms: Vec<String> = c
            .violations
            .iter()
            .take(MAX_LISTED)
            .map(|v| v.key())
            .collect();
        for &j in &link.explains {
            let room = MAX_LISTED.saturating_sub(symptoms.len());
            if room == 0 {
                break;
            }
            symptoms.extend(
                comps[nodes[j].name]
                    .violations
                    .iter()
                    .take(room)
                    .map(|v| v.key()),
            );
        }
        if symptoms.is_empty() {
            symptoms = c
                .metrics
                .iter()
                .filter(|m| m.score >= thr)
                .map(|m| format!("{}@{}", m.metric, node.name))
                .collect();
        }
        hypotheses.push(Hypothesis {
            component: node.name.to_string(),
            cause,
            confidence: CALIBRATION.apply(sc.score / total),
            symptoms,
            evidence,
        });
        if !link.explains.is_empty() && link.explained_by.is_empty() {
            diagnosis.patterns.push(Pattern::Propagation {
                from: node.name.to_string(),
                to: link
                    .explains
                    .iter()
                    .take(MAX_LISTED)
                    .map(|&j| nodes[j].name.to_string())
                    .collect(),
                lead_secs: match (node.onset, link.first_caller_onset) {
                    (Some(a), Some(b)) => (b.0 - a.0) as f64 / 1000.0,
                    _ => 0.0,
                },
            });
        }
    }
    common::rank(&mut hypotheses, common, total);
    if let (Some(b), Some(top)) = (&burst, hypotheses.first_mut()) {
        top.evidence.push(format!(
            "{} violations began within {} (burst; {:.2} expected at the usual rate)",
            b.onsets,
            fmt_duration_secs(b.end.since(b.start).as_secs_f64()),
            b.expected
        ));
    }
    if let (Some(drift), Some(top)) = (
        crate::anomaly::baseline_drift(&scores, thr),
        hypotheses.first_mut(),
    ) {
        top.evidence.push(drift.describe());
    }
    for cl in clusters {
        let around = match cl.shared {
            Shared::Component(c) => c,
            Shared::Dependency(d) => d,
            Shared::Zone(z) => format!("zone {z}"),
        };
        diagnosis.patterns.push(Pattern::Cluster {
            around,
            members: cl.members,
        });
    }
    diagnosis.hypotheses = hypotheses;
    diagnosis
}

/// Endpoint-like leaves (a remote endpoint, a load balancer: no dependencies in the
/// graph and only symptoms a caller measures too — latency, errors, traffic) have
/// nothing below them that could explain them away, so on their own series they
/// would outrank the service behind them whenever they deviate more. They are
/// judged by what their callers show: their strength is at most that of their most
/// abnormal caller with data (violations count as the threshold). A leaf with
/// signals of its own (CPU, memory) keeps its strength, and so does the alert's
/// target: the symptom to explain was seen there, so there is no service behind it
/// for it to outrank. O(L · callers).
fn judge_endpoints_by_callers(
    comps: &mut HashMap<&str, Comp<'_>>,
    topo: &Topology,
    target: Option<&str>,
) {
    let endpoints: Vec<&str> = comps
        .iter()
        .filter(|(name, c)| {
            Some(**name) != target
                && !c.signals.is_empty()
                && c.signals.iter().all(|s| inheritable(*s))
                && topo.dependencies(name).next().is_none()
                && topo.callers(name).next().is_some()
        })
        .map(|(name, _)| *name)
        .collect();
    let caps: Vec<(&str, f64)> = endpoints
        .into_iter()
        .filter_map(|name| {
            let shown = topo
                .callers(name)
                .filter_map(|caller| comps.get(caller).map(|c| c.strength))
                .max_by(f64::total_cmp)?;
            Some((name, shown))
        })
        .collect();
    for (name, shown) in caps {
        if let Some(c) = comps.get_mut(name)
            && shown < c.strength
        {
            c.strength = shown;
            c.capped_by_callers = true;
        }
    }
}

fn min_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Abnormal components reachable from `target` (included) along dependencies,
/// passing only through abnormal and unobserved components (only abnormal ones are
/// returned). O(V + E).
fn reachable<'a>(
    topo: &'a Topology,
    target: &'a str,
    abnormal: &BTreeSet<&'a str>,
    unobserved: &BTreeSet<&str>,
) -> Vec<&'a str> {
    let mut seen = BTreeSet::from([target]);
    let mut queue = std::collections::VecDeque::from([target]);
    while let Some(c) = queue.pop_front() {
        for d in topo.dependencies(c) {
            if (abnormal.contains(d) || unobserved.contains(d)) && seen.insert(d) {
                queue.push_back(d);
            }
        }
    }
    seen.retain(|c| abnormal.contains(c));
    seen.into_iter().collect()
}

/// Name the cause class from the component's own signals, a suspect change and
/// whether a dependency can explain it: the first class they name that the incident
/// has not refuted, with the refuted ones passed over (`None` when none was). When
/// every class they name is refuted, the first is kept and listed as passed over.
fn cause_class(
    c: &Comp<'_>,
    changed: bool,
    inherited: bool,
    refuted: impl Fn(CauseClass) -> bool,
) -> (CauseClass, Option<Vec<CauseClass>>) {
    let has = |s: Signal| c.signals.contains(&s);
    let mut named = Vec::with_capacity(4);
    if changed {
        named.push(CauseClass::BadChange);
    }
    if has(Signal::Memory) {
        named.push(CauseClass::Leak);
    }
    if has(Signal::Cache) {
        named.push(CauseClass::CacheFailure);
    }
    // Its own network moving while its CPU does not: a slow or lossy network.
    if has(Signal::Network) && !has(Signal::Utilization) {
        named.push(CauseClass::NetworkDelay);
    }
    // A component out of CPU fills its pool as a consequence: overload comes first.
    if has(Signal::Utilization) || has(Signal::Saturation) || has(Signal::Traffic) {
        named.push(CauseClass::Overload);
    }
    if has(Signal::Pool) {
        named.push(CauseClass::PoolExhaustion);
    }
    if inherited {
        named.push(CauseClass::DependencyFailure);
    }
    // Failing or slow requests while its own resources were measured and stayed
    // normal, nothing below explains them and no objective of the charter names
    // them: its code. (A violated objective keeps the charter's own vocabulary.)
    let resources_seen_normal = c.metrics.iter().any(|m| m.signal.is_some_and(resource))
        && !c.signals.iter().any(|s| resource(*s));
    if !inherited
        && c.violations.is_empty()
        && resources_seen_normal
        && (has(Signal::Errors) || has(Signal::Availability) || has(Signal::Latency))
    {
        named.push(CauseClass::CodeDefect);
    }
    if has(Signal::Errors) || has(Signal::Availability) {
        named.push(CauseClass::Outage);
    }
    if has(Signal::Latency) {
        named.push(CauseClass::Overload);
    }
    let mut uniq: Vec<CauseClass> = Vec::with_capacity(named.len());
    for k in named {
        if !uniq.contains(&k) {
            uniq.push(k);
        }
    }
    let named = uniq;
    let Some(&first) = named.first() else {
        return (CauseClass::Unknown, None);
    };
    let passed: Vec<CauseClass> = named.iter().copied().take_while(|k| refuted(*k)).collect();
    if passed.is_empty() {
        return (first, None);
    }
    match named.iter().copied().find(|k| !refuted(*k)) {
        Some(k) => (k, Some(passed)),
        None => (first, Some(vec![first])),
    }
}

/// Evidence of a leak: the memory metric's rise per minute.
fn leak_evidence(c: &Comp<'_>, evidence: &mut Vec<String>) {
    if let Some(m) = c
        .metrics
        .iter()
        .find(|m| m.signal == Some(Signal::Memory) && m.slope_per_minute.is_some_and(|s| s > 0.0))
    {
        evidence.push(format!(
            "{} on {} has been rising {}/min",
            m.metric,
            m.component,
            short(m.slope_per_minute.unwrap_or_default())
        ));
    }
}

/// A change weighed against load: how much of the symptom it may explain, and why.
struct Weighing {
    /// In [[`MIN_CHANGE_WEIGHT`], 1].
    weight: f64,
    words: String,
}

/// The rise of a metric's level over its normal median (`None` when the median is
/// not positive: no ratio to take).
fn rise(m: &MetricScore) -> Option<f64> {
    (m.median > 0.0 && m.level.is_finite() && m.median.is_finite()).then(|| m.level / m.median)
}

/// Weigh a change on `name` (at `ch.at`, its onset at `onset`) against offered load.
///
/// Load is the rise of the component's own traffic or, when it has none, of its
/// nearest callers' (offered load comes from them); when neither shows a rise, the
/// utilization rise of its busiest dependency (what it passes on: a costlier version
/// of it would not load them), counted fully from ×2. What load explains: the part of
/// its utilization or saturation rise that the traffic rise covers, on a log scale
/// (traffic ×3 explains a ×3 CPU rise fully, ×1.7 half of it); with no utilization
/// to compare, load explains at most half. Memory or cache symptoms are not load's:
/// the change keeps its weight. A change more than a third of the change window
/// before the onset counts less, down to half at the window's edge.
fn weigh_change(
    name: &str,
    comps: &HashMap<&str, Comp<'_>>,
    topology: Option<&Topology>,
    ch: &Change,
    onset: Timestamp,
    opts: &RankOptions,
) -> Weighing {
    let thr = opts.threshold;
    let traffic = |c: &str| -> Option<f64> {
        comps
            .get(c)?
            .metrics
            .iter()
            .filter(|m| m.signal == Some(Signal::Traffic))
            .filter_map(|m| rise(m))
            .max_by(f64::total_cmp)
    };
    // Offered load: its own traffic, else the nearest callers' that have any.
    let mut load: Option<(f64, String)> = traffic(name).map(|r| (r, "traffic".to_string()));
    if load.is_none()
        && let Some(topo) = topology
    {
        let mut seen = BTreeSet::from([name]);
        let mut level: Vec<&str> = vec![name];
        while load.is_none() && !level.is_empty() {
            let mut next = Vec::new();
            for c in level {
                for caller in topo.callers(c) {
                    if seen.insert(caller) {
                        next.push(caller);
                    }
                }
            }
            load = next
                .iter()
                .filter_map(|c| traffic(c).map(|r| (r, *c)))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(r, c)| (r, format!("{c}'s traffic")));
            level = next;
        }
    }
    // Load through the component that no traffic metric shows (its callers' flat
    // or unseen): what it passes on. More requests through it raise its
    // dependencies' utilization with its own; a costlier version of it does not.
    // Shared dependencies dilute the rise, so it counts only in proportion to its
    // size (×2 and more fully).
    let mut downstream = false;
    let own_traffic = load.as_ref().is_some_and(|(_, what)| what == "traffic");
    if !own_traffic
        && load.as_ref().is_none_or(|(r, _)| *r < LOAD_RISE)
        && let Some(topo) = topology
    {
        let passed = topo
            .dependencies(name)
            .filter_map(|d| {
                let u = comps
                    .get(d)?
                    .metrics
                    .iter()
                    .filter(|m| m.score >= thr && m.signal == Some(Signal::Utilization))
                    .filter_map(|m| rise(m))
                    .max_by(f64::total_cmp)?;
                Some((u, d))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((u, d)) = passed
            && u >= LOAD_RISE
        {
            load = Some((u, format!("{d}'s utilization downstream")));
            downstream = true;
        }
    }
    let c = comps.get(name);
    let own_only = c
        .is_some_and(|c| c.signals.contains(&Signal::Memory) || c.signals.contains(&Signal::Cache));
    // Its utilization rise, among its abnormal metrics; saturation when it shows no
    // utilization (queueing grows faster than load: utilization is the measure that
    // moves with it).
    let rise_of = |signal: Signal| {
        c.and_then(|c| {
            c.metrics
                .iter()
                .filter(|m| m.score >= thr && m.signal == Some(signal))
                .filter_map(|m| rise(m).map(|r| (r, Some(signal))))
                .max_by(|a, b| a.0.total_cmp(&b.0))
        })
    };
    let used = rise_of(Signal::Utilization).or_else(|| rise_of(Signal::Saturation));
    // No load seen at the component itself: a utilization rise is either load that
    // nothing here measures or a costlier version; each is as likely.
    let unmeasured = !own_traffic && !own_only && load.as_ref().is_none_or(|(r, _)| *r < LOAD_RISE);
    let (explained, mut words) = match (&load, used) {
        (_, Some((u, signal))) if unmeasured && u > 1.0 => {
            let signal = match signal {
                Some(Signal::Saturation) => "saturation",
                _ => "utilization",
            };
            let seen = match &load {
                Some((r, what)) => format!("{what} ×{r:.1} (flat)"),
                None => "no traffic seen".to_string(),
            };
            (
                UNMEASURED_LOAD_SHARE * (u.ln() / 3f64.ln()).clamp(0.0, 1.0),
                format!(
                    "its {signal} rose ×{u:.1} with {seen}: load not measured here or a costlier version"
                ),
            )
        }
        (None, _) => (0.0, "no traffic seen to weigh it against".to_string()),
        (Some((r, what)), _) if *r < LOAD_RISE => {
            (0.0, format!("{what} ×{r:.1} (flat) explains none of it"))
        }
        (Some((r, what)), _) if own_only => (
            0.0,
            format!("{what} ×{r:.1} does not explain its memory or cache symptoms"),
        ),
        (Some((r, what)), Some((u, signal))) if u > 1.0 => {
            let mut share = (r.ln() / u.ln()).clamp(0.0, 1.0);
            if downstream {
                share *= (r.ln() / 2f64.ln()).min(1.0);
            }
            let signal = match signal {
                Some(Signal::Saturation) => "saturation",
                _ => "utilization",
            };
            let how = if share >= 0.95 {
                "explains"
            } else {
                "explains part of"
            };
            (
                share,
                format!("{what} ×{r:.1} {how} the {signal} rise ×{u:.1}"),
            )
        }
        (Some((r, what)), _) => {
            let share = 0.5 * (r.ln() / 3f64.ln()).clamp(0.0, 1.0);
            (
                share,
                format!(
                    "{what} ×{r:.1} with no utilization rise to compare may explain some of it"
                ),
            )
        }
    };
    let mut weight = (1.0 - explained).max(MIN_CHANGE_WEIGHT);
    let window = opts.change_window.as_secs_f64();
    let lead = if ch.at <= onset {
        onset.since(ch.at).as_secs_f64()
    } else {
        0.0
    };
    // Errors, latency and utilization show as soon as a bad version serves; memory
    // and cache symptoms build up. A change that served for longer than the onset
    // tolerance before such symptoms began explains them less, down to half.
    let tolerance = opts.onset_tolerance.as_secs_f64();
    let served = if !own_only && tolerance > 0.0 && lead > tolerance {
        (tolerance / lead).max(0.5)
    } else {
        1.0
    };
    let late = if window > 0.0 && lead > window / 3.0 {
        1.0 - 0.5 * ((lead - window / 3.0) / (window * 2.0 / 3.0)).clamp(0.0, 1.0)
    } else {
        1.0
    };
    if served < 1.0 || late < 1.0 {
        let timing = served.min(late);
        weight = (weight * timing).max(MIN_CHANGE_WEIGHT);
        words.push_str(&format!(
            "; it came {} before onset (×{timing:.2})",
            fmt_duration_secs(lead)
        ));
    }
    Weighing {
        weight,
        words: format!("{words}: change weighted {weight:.2}"),
    }
}

mod common;
#[cfg(test)]
mod tests;
