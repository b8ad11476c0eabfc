//! What the planner knows of past outcomes: success counts per context.

use charter_model::ActionKind;
use std::collections::HashMap;

/// Success counts per (kind, objective, component), with back-off to (kind, objective)
/// and (kind) when the specific context has too little evidence.
#[derive(Debug, Clone, Default)]
pub struct KnowledgeView {
    exact: HashMap<(ActionKind, String, String), (f64, f64)>,
    by_objective: HashMap<(ActionKind, String), (f64, f64)>,
    by_kind: HashMap<ActionKind, (f64, f64)>,
}

/// Outcomes needed at a level before it is trusted over the coarser one.
const MIN_EVIDENCE: f64 = 2.0;
/// Pseudo-counts given to the prior.
const PRIOR_STRENGTH: f64 = 2.0;

impl KnowledgeView {
    /// An empty view: every estimate is the prior.
    pub fn new() -> Self {
        Self::default()
    }

    /// Count one outcome.
    pub fn observe(&mut self, kind: ActionKind, objective: &str, component: &str, success: bool) {
        let s = if success { 1.0 } else { 0.0 };
        for e in [
            self.exact
                .entry((kind, objective.to_string(), component.to_string()))
                .or_default(),
            self.by_objective
                .entry((kind, objective.to_string()))
                .or_default(),
            self.by_kind.entry(kind).or_default(),
        ] {
            e.0 += s;
            e.1 += 1.0;
        }
    }

    /// Posterior mean of success (Beta prior with mean `prior`), from the most specific
    /// level with enough evidence, and the (successes, total) it used.
    pub fn success(
        &self,
        kind: ActionKind,
        objective: &str,
        component: &str,
        prior: f64,
    ) -> (f64, (f64, f64)) {
        let levels = [
            self.exact
                .get(&(kind, objective.to_string(), component.to_string())),
            self.by_objective.get(&(kind, objective.to_string())),
            self.by_kind.get(&kind),
        ];
        let (s, n) = levels
            .into_iter()
            .flatten()
            .find(|(_, n)| *n >= MIN_EVIDENCE)
            .copied()
            .or_else(|| levels[0].copied())
            .unwrap_or((0.0, 0.0));
        let a = prior * PRIOR_STRENGTH + s;
        let b = (1.0 - prior) * PRIOR_STRENGTH + (n - s);
        (a / (a + b), (s, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prior_until_evidence_then_posterior() {
        let mut k = KnowledgeView::new();
        let (p, _) = k.success(ActionKind::Restart, "mem", "orders", 0.8);
        assert!((p - 0.8).abs() < 1e-9);
        for _ in 0..4 {
            k.observe(ActionKind::Restart, "mem", "orders", false);
        }
        let (p, (s, n)) = k.success(ActionKind::Restart, "mem", "orders", 0.8);
        assert_eq!((s, n), (0.0, 4.0));
        assert!(p < 0.3, "{p}");
    }

    #[test]
    fn backs_off_to_coarser_contexts() {
        let mut k = KnowledgeView::new();
        for c in ["a", "b", "c"] {
            k.observe(ActionKind::ScaleOut, "latency", c, true);
        }
        // Nothing on `d`, but the (kind, objective) level has 3 successes.
        let (p, (_, n)) = k.success(ActionKind::ScaleOut, "latency", "d", 0.5);
        assert_eq!(n, 3.0);
        assert!(p > 0.75);
    }
}
