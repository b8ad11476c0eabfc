//! Root-cause ranking over the dependency graph.
//!
//! Each violating component is a candidate. A candidate scores by how much of the
//! incident it explains (violating components that depend on it, transitively),
//! loses most of its score when one of its own dependencies is violating too (its
//! symptoms are then likely inherited), and gains when it turned abnormal first or
//! changed (deploy, config) shortly before its onset. Scores are normalised into a
//! confidence and tempered by the strength of the evidence. Cost: O(C² · (V + E))
//! for C violating components — C is small per incident.

use crate::history::History;
use charter_model::{
    CauseClass, Change, ChangeKind, Diagnosis, Hypothesis, Pattern, Signal, Timestamp, Topology,
    Violation, ViolationState, fmt_duration_secs,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// Everything a diagnosis looks at.
#[derive(Debug, Clone, Copy)]
pub struct DiagnosisInput<'a> {
    pub incident_id: u64,
    pub now: Timestamp,
    /// The incident's member violations (any state; only pending/firing are blamed).
    pub violations: &'a [Violation],
    pub topology: &'a Topology,
    pub history: &'a History,
    /// Recent changes on any component.
    pub changes: &'a [Change],
}

/// How long before a component's onset a change still counts as its likely cause.
const CHANGE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Onsets closer than this are treated as simultaneous (one or two loop intervals).
const ONSET_TOLERANCE: Duration = Duration::from_secs(60);

struct Candidate<'a> {
    name: &'a str,
    onset: Timestamp,
    signals: Vec<Signal>,
    keys: Vec<String>,
    violations: Vec<&'a Violation>,
}

/// Rank root-cause hypotheses for an incident. An incident with no pending or
/// firing violation gets an empty ranking ("no root cause").
pub fn diagnose(input: DiagnosisInput<'_>) -> Diagnosis {
    let mut by_comp: BTreeMap<&str, Candidate<'_>> = BTreeMap::new();
    for v in input.violations {
        if !matches!(v.state, ViolationState::Firing | ViolationState::Pending) {
            continue;
        }
        let c = by_comp
            .entry(v.component.as_str())
            .or_insert_with(|| Candidate {
                name: v.component.as_str(),
                onset: v.since,
                signals: Vec::new(),
                keys: Vec::new(),
                violations: Vec::new(),
            });
        c.onset = c.onset.min(v.since);
        if !c.signals.contains(&v.signal) {
            c.signals.push(v.signal);
        }
        c.keys.push(v.key());
        c.violations.push(v);
    }
    let mut diagnosis = Diagnosis {
        incident_id: input.incident_id,
        at: input.now,
        hypotheses: Vec::new(),
        patterns: Vec::new(),
    };
    if by_comp.is_empty() {
        return diagnosis;
    }
    let n = by_comp.len();
    let cands: Vec<&Candidate<'_>> = by_comp.values().collect();
    let mut scored: Vec<(f64, f64, Hypothesis)> = Vec::with_capacity(n);
    for c in &cands {
        let explained: Vec<&Candidate<'_>> = cands
            .iter()
            .filter(|d| d.name != c.name && input.topology.depends_on(d.name, c.name))
            .copied()
            .collect();
        let inherited_from: Vec<&str> = cands
            .iter()
            .filter(|d| d.name != c.name && input.topology.depends_on(c.name, d.name))
            .map(|d| d.name)
            .collect();
        let mut evidence = Vec::new();
        let mut strength: f64 = 0.55;
        let mut score = (1 + explained.len()) as f64 / n as f64;

        if !explained.is_empty() {
            let names: Vec<&str> = explained.iter().map(|d| d.name).collect();
            evidence.push(format!(
                "{} explains {} of {} violating components through dependencies ({} depend on it)",
                c.name,
                explained.len() + 1,
                n,
                names.join(", ")
            ));
            strength += 0.15;
        }
        // Symptoms that a dependency failure cannot produce upstream.
        let intrinsic = c.signals.iter().any(|s| {
            matches!(
                s,
                Signal::Memory
                    | Signal::Cache
                    | Signal::Pool
                    | Signal::Utilization
                    | Signal::Saturation
            )
        });
        if !inherited_from.is_empty() {
            let factor = if intrinsic { 0.5 } else { 0.15 };
            score *= factor;
            strength -= 0.1;
            evidence.push(format!(
                "{}'s symptoms may be inherited from its violating dependencies: {}",
                c.name,
                inherited_from.join(", ")
            ));
        }
        let first_dependent_onset = explained.iter().map(|d| d.onset).min();
        match first_dependent_onset {
            Some(t) if c.onset <= t.plus(ONSET_TOLERANCE) => {
                evidence.push(format!(
                    "{} turned abnormal first ({}s before its first dependent)",
                    c.name,
                    t.since(c.onset).as_secs()
                ));
                strength += 0.1;
            }
            Some(t) => {
                score *= 0.6;
                evidence.push(format!(
                    "{} turned abnormal {} after a dependent",
                    c.name,
                    fmt_duration_secs(c.onset.since(t).as_secs_f64())
                ));
            }
            None => {}
        }
        let change = input
            .changes
            .iter()
            .filter(|ch| {
                ch.component == c.name
                    && matches!(ch.kind, ChangeKind::Deploy | ChangeKind::Config)
                    && ch.by != "charter"
                    && ch.at <= c.onset.plus(ONSET_TOLERANCE)
                    && ch.at >= c.onset.minus(CHANGE_WINDOW)
            })
            .max_by_key(|ch| ch.at);
        if let Some(ch) = change {
            score *= 1.5;
            strength += 0.15;
            evidence.push(
                format!(
                    "{:?} on {} {} before onset: {} (by {})",
                    ch.kind,
                    c.name,
                    fmt_duration_secs(c.onset.since(ch.at).as_secs_f64()),
                    ch.description,
                    ch.by
                )
                .to_lowercase(),
            );
        }
        let (cause, trend) = cause_class(c, change.is_some(), input.history, &mut evidence);
        if trend {
            // A steady rise that started before the breach is strong evidence of its own.
            strength += 0.15;
        }
        for v in &c.violations {
            if let (Some(val), Some(sev)) = (v.value, v.severity) {
                evidence.push(format!(
                    "{} on {} is {:.3} ({sev})",
                    v.objective, v.component, val
                ));
            }
        }
        let mut symptoms = c.keys.clone();
        for d in &explained {
            symptoms.extend(d.keys.iter().cloned());
        }
        scored.push((
            score,
            strength.clamp(0.3, 0.97),
            Hypothesis {
                component: c.name.to_string(),
                cause,
                confidence: 0.0,
                symptoms,
                evidence,
            },
        ));
        if !explained.is_empty() && inherited_from.is_empty() {
            diagnosis.patterns.push(Pattern::Propagation {
                from: c.name.to_string(),
                to: explained.iter().map(|d| d.name.to_string()).collect(),
                lead_secs: first_dependent_onset.map_or(0.0, |t| (t.0 - c.onset.0) as f64 / 1000.0),
            });
        }
    }
    let total: f64 = scored.iter().map(|s| s.0).sum();
    for (score, strength, h) in &mut scored {
        h.confidence = (*score / total * *strength).clamp(0.0, 1.0);
    }
    scored.sort_by(|a, b| {
        b.2.confidence
            .total_cmp(&a.2.confidence)
            .then_with(|| a.2.component.cmp(&b.2.component))
    });
    if n > 1 {
        diagnosis.patterns.push(Pattern::Cluster {
            around: scored[0].2.component.clone(),
            members: cands.iter().map(|c| c.name.to_string()).collect(),
        });
    }
    diagnosis.hypotheses = scored.into_iter().map(|s| s.2).collect();
    diagnosis
}

/// Name the cause class from the root's own signals, its trend and recent changes;
/// the flag says whether a trend confirmed it.
fn cause_class(
    c: &Candidate<'_>,
    changed: bool,
    history: &History,
    evidence: &mut Vec<String>,
) -> (CauseClass, bool) {
    if changed {
        return (CauseClass::BadChange, false);
    }
    let has = |s: Signal| c.signals.contains(&s);
    if has(Signal::Memory) {
        if let Some(v) = c.violations.iter().find(|v| v.signal == Signal::Memory)
            && let Some(slope) = history.slope_per_minute(
                &v.objective,
                &v.component,
                v.since.minus(Duration::from_secs(600)),
            )
            && slope > 0.0
        {
            evidence.push(format!(
                "{} on {} has been rising {:.3}/min",
                v.objective, v.component, slope
            ));
            return (CauseClass::Leak, true);
        }
        return (CauseClass::Leak, false);
    }
    if has(Signal::Cache) {
        return (CauseClass::CacheFailure, false);
    }
    if has(Signal::Pool) {
        return (CauseClass::PoolExhaustion, false);
    }
    if has(Signal::Utilization) || has(Signal::Saturation) {
        return (CauseClass::Overload, false);
    }
    if has(Signal::Errors) || has(Signal::Availability) {
        return (CauseClass::Outage, false);
    }
    if has(Signal::Latency) {
        return (CauseClass::Overload, false);
    }
    (CauseClass::Unknown, false)
}

#[cfg(test)]
mod tests;
