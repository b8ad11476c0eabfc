//! What was learned, for people: per-context success rates with 90% credible
//! intervals, the recommended action per symptom objective (and cause class), and
//! insights in plain words with their evidence. Pure: `charter knowledge` and
//! `GET /api/v1/knowledge` compute the same [`KnowledgeReport`] from stored records.
//!
//! Rates come from the same decayed evidence the planner uses
//! ([`charter_model::learning::KnowledgeView`], imported priors included): the
//! posterior of a uniform Beta(1, 1) prior, so a context with no outcomes reads 50%
//! with a wide interval. Insights count raw outcomes, so their words match what
//! happened.

use crate::records::{LearnedPrior, OutcomeRecord};
use charter_model::charter::Learning;
use charter_model::learning::{Context, Evidence, KnowledgeView, beta_quantile};
use charter_model::{ActionKind, CauseClass, OutcomeClass, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Raw outcomes needed before an insight is stated.
const INSIGHT_MIN_OUTCOMES: u32 = 3;
/// Share of resolved outcomes from which an action "resolved" a symptom.
const INSIGHT_GOOD_SHARE: f64 = 0.75;

/// Everything `charter knowledge` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnowledgeReport {
    /// The time the decayed figures refer to.
    pub at: Timestamp,
    pub half_life_secs: f64,
    pub contexts: Vec<ContextStats>,
    pub recommendations: Vec<Recommendation>,
    pub insights: Vec<Insight>,
}

/// The learned success of one action kind on one component for one symptom objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextStats {
    pub kind: ActionKind,
    pub objective: String,
    pub component: String,
    /// Posterior mean of success (uniform prior, decayed evidence).
    pub rate: f64,
    /// 90% credible interval: the 5% and 95% posterior quantiles.
    pub low: f64,
    pub high: f64,
    /// Decayed outcomes (imported pseudo-outcomes included).
    pub outcomes: f64,
    /// Outcomes recorded here, not decayed.
    pub raw_outcomes: u32,
    /// Of those, how many resolved the symptom.
    pub resolved: u32,
    /// Decayed mean time to effect when the action helped.
    pub time_to_effect_secs: Option<f64>,
}

/// The best-known action for a symptom objective, over all components, for one cause
/// class (`None`: whatever the cause).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub objective: String,
    pub cause: Option<CauseClass>,
    pub kind: ActionKind,
    pub rate: f64,
    pub low: f64,
    pub high: f64,
    pub outcomes: f64,
    pub raw_outcomes: u32,
}

/// A sentence and the counts it rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Insight {
    pub text: String,
    pub kind: ActionKind,
    pub objective: String,
    pub component: Option<String>,
    pub cause: Option<CauseClass>,
    /// Outcomes that resolved (for "resolved" insights) or helped at all (for "never
    /// helped" ones).
    pub successes: u32,
    pub total: u32,
}

/// Posterior mean and 90% interval of Beta(1 + alpha, 1 + beta).
fn interval(alpha: f64, beta: f64) -> (f64, f64, f64) {
    let (a, b) = (1.0 + alpha.max(0.0), 1.0 + beta.max(0.0));
    (
        a / (a + b),
        beta_quantile(0.05, a, b),
        beta_quantile(0.95, a, b),
    )
}

fn rounded(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The view the planner would build from these records.
pub fn view(
    outcomes: &[OutcomeRecord],
    priors: &[LearnedPrior],
    learning: &Learning,
) -> KnowledgeView {
    let mut view = KnowledgeView::with_learning(learning.clone());
    for o in outcomes {
        view.observe(
            o.action_kind,
            &o.objective,
            &o.component,
            o.outcome.class,
            o.outcome.time_to_effect_secs,
            o.outcome.at,
        );
    }
    for p in priors {
        view.add_prior(
            (p.kind, &p.objective, &p.component),
            p.alpha,
            p.beta,
            p.time_to_effect_secs,
            p.weight,
        );
    }
    view
}

/// (symptom objective, cause class or any, action kind).
type PoolKey = (String, Option<CauseClass>, ActionKind);

#[derive(Default)]
struct Raw {
    resolved: u32,
    helped: u32,
    total: u32,
}

/// Compute the report at `now`.
pub fn report(
    outcomes: &[OutcomeRecord],
    priors: &[LearnedPrior],
    learning: &Learning,
    now: Timestamp,
) -> KnowledgeReport {
    let view = view(outcomes, priors, learning);
    let mut raw: BTreeMap<(ActionKind, String, String), Raw> = BTreeMap::new();
    let mut by_cause: BTreeMap<(ActionKind, String, String, CauseClass), Raw> = BTreeMap::new();
    for o in outcomes {
        let resolved = u32::from(o.outcome.class == OutcomeClass::Resolved);
        let helped = u32::from(matches!(
            o.outcome.class,
            OutcomeClass::Resolved | OutcomeClass::Improved
        ));
        let add = |r: &mut Raw| {
            r.resolved += resolved;
            r.helped += helped;
            r.total += 1;
        };
        add(raw
            .entry((o.action_kind, o.objective.clone(), o.component.clone()))
            .or_default());
        if let Some(c) = o.cause {
            add(by_cause
                .entry((o.action_kind, o.objective.clone(), o.component.clone(), c))
                .or_default());
        }
    }

    let mut contexts = Vec::new();
    for (ctx, e) in view.contexts(now) {
        let (Some(objective), Some(component)) = (ctx.objective.clone(), ctx.component.clone())
        else {
            continue;
        };
        let r = raw.get(&(ctx.kind, objective.clone(), component.clone()));
        contexts.push(stats(ctx.kind, objective, component, &e, r));
    }

    // Recommendations: decayed credit per (objective, cause, kind) over components.
    let mut pooled: BTreeMap<PoolKey, (f64, f64, u32)> = BTreeMap::new();
    for o in outcomes {
        let w = 0.5f64.powf(
            now.since(o.outcome.at).as_secs_f64() / learning.half_life.as_secs_f64().max(1e-9),
        );
        let credit = learning.credit.of(o.outcome.class).clamp(0.0, 1.0);
        // Every outcome feeds the "whatever the cause" row, and its cause's row if known.
        for cause in [None, o.cause] {
            let e = pooled
                .entry((o.objective.clone(), cause, o.action_kind))
                .or_default();
            e.0 += w * credit;
            e.1 += w * (1.0 - credit);
            e.2 += 1;
            if o.cause.is_none() {
                break;
            }
        }
    }
    // Imported priors count toward "whatever the cause".
    for p in priors {
        let e = pooled
            .entry((p.objective.clone(), None, p.kind))
            .or_default();
        let w = p.weight.clamp(0.0, 1.0);
        e.0 += w * p.alpha.max(0.0);
        e.1 += w * p.beta.max(0.0);
    }
    let mut best: BTreeMap<(String, Option<CauseClass>), Recommendation> = BTreeMap::new();
    for ((objective, cause, kind), (a, b, n)) in pooled {
        let (rate, low, high) = interval(a, b);
        let rec = Recommendation {
            objective: objective.clone(),
            cause,
            kind,
            rate: rounded(rate),
            low: rounded(low),
            high: rounded(high),
            outcomes: rounded(a + b),
            raw_outcomes: n,
        };
        let slot = best
            .entry((objective, cause))
            .or_insert_with(|| rec.clone());
        if (rec.rate, rec.outcomes) > (slot.rate, slot.outcomes) {
            *slot = rec;
        }
    }
    let recommendations = best.into_values().collect();

    let mut insights = Vec::new();
    for ((kind, objective, component), r) in &raw {
        if r.total >= INSIGHT_MIN_OUTCOMES
            && f64::from(r.resolved) >= INSIGHT_GOOD_SHARE * f64::from(r.total)
        {
            insights.push(Insight {
                text: format!(
                    "{kind} resolved {objective} on {component} {} of {} times",
                    r.resolved, r.total
                ),
                kind: *kind,
                objective: objective.clone(),
                component: Some(component.clone()),
                cause: None,
                successes: r.resolved,
                total: r.total,
            });
        }
    }
    for ((kind, objective, component, cause), r) in &by_cause {
        if r.total >= INSIGHT_MIN_OUTCOMES && r.helped == 0 {
            insights.push(Insight {
                text: format!(
                    "{kind} never helped {objective} on {component} when the cause was {} (0 of {})",
                    cause_words(*cause),
                    r.total
                ),
                kind: *kind,
                objective: objective.clone(),
                component: Some(component.clone()),
                cause: Some(*cause),
                successes: 0,
                total: r.total,
            });
        }
    }
    // Outcomes without a diagnosed cause still say when an action never helps.
    for ((kind, objective, component), r) in &raw {
        let caused: u32 = by_cause
            .iter()
            .filter(|((k, o, c, _), _)| k == kind && o == objective && c == component)
            .map(|(_, r)| r.total)
            .sum();
        if caused == 0 && r.total >= INSIGHT_MIN_OUTCOMES && r.helped == 0 {
            insights.push(Insight {
                text: format!(
                    "{kind} never helped {objective} on {component} (0 of {})",
                    r.total
                ),
                kind: *kind,
                objective: objective.clone(),
                component: Some(component.clone()),
                cause: None,
                successes: 0,
                total: r.total,
            });
        }
    }
    insights.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.text.cmp(&b.text)));

    KnowledgeReport {
        at: now,
        half_life_secs: learning.half_life.as_secs_f64(),
        contexts,
        recommendations,
        insights,
    }
}

fn stats(
    kind: ActionKind,
    objective: String,
    component: String,
    e: &Evidence,
    raw: Option<&Raw>,
) -> ContextStats {
    let (rate, low, high) = interval(e.successes(), e.weight() - e.successes());
    ContextStats {
        kind,
        objective,
        component,
        rate: rounded(rate),
        low: rounded(low),
        high: rounded(high),
        outcomes: rounded(e.weight()),
        raw_outcomes: e.raw,
        resolved: raw.map_or(0, |r| r.resolved),
        time_to_effect_secs: e.time_to_effect().map(|d| rounded(d.as_secs_f64())),
    }
}

/// A cause class in words.
fn cause_words(c: CauseClass) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_else(|| format!("{c:?}"))
}

/// The exact contexts of a view as exportable statistics.
pub fn exact_contexts(view: &KnowledgeView, now: Timestamp) -> Vec<(Context, Evidence)> {
    view.contexts(now)
        .into_iter()
        .filter(|(c, _)| c.objective.is_some() && c.component.is_some())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_model::{ExecutionId, IncidentId, Outcome, PolicyId};

    const T0: Timestamp = Timestamp(1_767_225_600_000);

    fn rec(kind: ActionKind, class: OutcomeClass, cause: Option<CauseClass>) -> OutcomeRecord {
        OutcomeRecord {
            outcome: Outcome {
                execution_id: ExecutionId(1),
                policy_id: PolicyId(1),
                incident_id: IncidentId(1),
                at: T0,
                class,
                rolled_back: false,
                time_to_effect_secs: 60.0,
                violations_before: 1.0,
                violations_after: 0.0,
                detail: String::new(),
            },
            action_kind: kind,
            component: "api".into(),
            objective: "latency_p99".into(),
            cause,
        }
    }

    #[test]
    fn recommendations_differ_by_cause_and_failures_without_cause_are_stated() {
        let dep = Some(CauseClass::DependencyFailure);
        let over = Some(CauseClass::Overload);
        let mut outcomes = Vec::new();
        for _ in 0..4 {
            outcomes.push(rec(ActionKind::ScaleOut, OutcomeClass::NoEffect, dep));
            outcomes.push(rec(ActionKind::ScaleOut, OutcomeClass::Resolved, over));
            outcomes.push(rec(ActionKind::CircuitBreak, OutcomeClass::Resolved, dep));
            outcomes.push(rec(ActionKind::Restart, OutcomeClass::Failed, None));
        }
        let r = report(&outcomes, &[], &Learning::default(), T0);
        let best = |cause| {
            r.recommendations
                .iter()
                .find(|x| x.objective == "latency_p99" && x.cause == cause)
                .map(|x| x.kind)
        };
        assert_eq!(best(dep), Some(ActionKind::CircuitBreak));
        assert_eq!(best(over), Some(ActionKind::ScaleOut));
        let texts: Vec<&str> = r.insights.iter().map(|i| i.text.as_str()).collect();
        assert!(
            texts.contains(
                &"scale_out never helped latency_p99 on api when the cause was dependency failure (0 of 4)"
            ),
            "{texts:?}"
        );
        assert!(
            texts.contains(&"restart never helped latency_p99 on api (0 of 4)"),
            "{texts:?}"
        );
        // Mixed scale_out evidence (4 of 8) is no "resolved" insight.
        assert!(!texts.iter().any(|t| t.starts_with("scale_out resolved")));
        let ctx = r
            .contexts
            .iter()
            .find(|c| c.kind == ActionKind::ScaleOut)
            .expect("scale_out context");
        assert_eq!((ctx.raw_outcomes, ctx.resolved), (8, 4));
        assert!((ctx.rate - 0.5).abs() < 1e-9 && ctx.low < 0.3 && ctx.high > 0.7);
    }
}
