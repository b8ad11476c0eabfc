//! The learning model: decayed Beta evidence per context, which the planner decides
//! with and the knowledge store reports from (`charter_plan::knowledge` re-exports it).
//!
//! Each outcome adds its class's success credit (`knowledge.learning.credit`) to
//! alpha and the rest to beta of three contexts: (kind, objective, component),
//! (kind, objective) and (kind). Evidence halves every `half_life`, so a system that
//! changes is re-learned. A query takes the most specific context whose decayed
//! evidence reaches [`MIN_EVIDENCE`] (a coarser level counting less, [`LEVEL_RELEVANCE`]),
//! adds the cause-class prior as
//! [`PRIOR_STRENGTH`] pseudo-outcomes, and returns the posterior mean — or, with
//! `exploration: thompson`, a reproducible draw from the posterior. Imported priors
//! (`charter knowledge import`) are pseudo-evidence that does not decay.

use crate::charter::{Exploration, Learning};
use crate::{ActionKind, OutcomeClass, Timestamp};
use std::collections::HashMap;
use std::time::Duration;

/// Decayed outcomes needed at a level before it is trusted over the coarser one.
pub const MIN_EVIDENCE: f64 = 2.0;
/// Pseudo-counts given to the cause-class prior.
pub const PRIOR_STRENGTH: f64 = 2.0;
/// How much one outcome of each level counts in a posterior: the same objective fully
/// (on this component or another: the same symptom); the kind on other objectives
/// (other symptoms) a quarter. Evidence borrowed across symptoms informs, but cannot
/// outweigh what the diagnosis says fits the cause: a kind that resolved latency
/// elsewhere is not thereby right for a memory leak here.
pub const LEVEL_RELEVANCE: [f64; 3] = [1.0, 1.0, 0.25];

/// A learning context; `None` fields are the coarser back-off levels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Context {
    pub kind: ActionKind,
    pub objective: Option<String>,
    pub component: Option<String>,
}

impl Context {
    /// The three levels of one outcome's context, most specific first.
    fn levels(kind: ActionKind, objective: &str, component: &str) -> [Context; 3] {
        [
            Context {
                kind,
                objective: Some(objective.to_string()),
                component: Some(component.to_string()),
            },
            Context {
                kind,
                objective: Some(objective.to_string()),
                component: None,
            },
            Context {
                kind,
                objective: None,
                component: None,
            },
        ]
    }
}

/// The evidence of one context.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Evidence {
    /// Decayed success credit.
    pub alpha: f64,
    /// Decayed failure credit.
    pub beta: f64,
    /// Outcomes observed, not decayed.
    pub raw: u32,
    /// Raw success credit, not decayed.
    pub raw_successes: f64,
    /// Decayed, credit-weighted sum of times to effect (seconds) and its weight.
    pub tte_sum: f64,
    pub tte_weight: f64,
    /// Imported pseudo-evidence (already weighted); never decays.
    pub prior_alpha: f64,
    pub prior_beta: f64,
    /// The time the decayed sums refer to.
    pub at: Option<Timestamp>,
}

impl Evidence {
    /// The decayed outcomes plus imported pseudo-outcomes.
    pub fn weight(&self) -> f64 {
        self.alpha + self.beta + self.prior_alpha + self.prior_beta
    }

    /// Success credit counted, imported priors included.
    pub fn successes(&self) -> f64 {
        self.alpha + self.prior_alpha
    }

    /// Mean time to effect when the action helped, if it ever did.
    /// Total for any stored sums: a mean that is not a number or negative is no
    /// mean, one past what a [`Duration`] holds is its largest value.
    pub fn time_to_effect(&self) -> Option<Duration> {
        if self.tte_weight.is_nan() || self.tte_weight <= 1e-9 {
            return None;
        }
        let mean = self.tte_sum / self.tte_weight;
        if mean.is_nan() || mean < 0.0 {
            return None;
        }
        Some(Duration::try_from_secs_f64(mean).unwrap_or(Duration::MAX))
    }

    /// The same evidence seen from `now` (never rejuvenated by an earlier `now`).
    fn decayed_to(mut self, now: Timestamp, half_life: Duration) -> Evidence {
        if let Some(at) = self.at
            && now > at
        {
            let f = decay(now.since(at), half_life);
            self.alpha *= f;
            self.beta *= f;
            self.tte_sum *= f;
            self.tte_weight *= f;
            self.at = Some(now);
        }
        self
    }
}

fn decay(age: Duration, half_life: Duration) -> f64 {
    0.5f64.powf(age.as_secs_f64() / half_life.as_secs_f64().max(1e-9))
}

/// Decayed Beta evidence per (kind, objective, component), with back-off to
/// (kind, objective) and (kind) when the specific context has too little evidence.
#[derive(Debug, Clone, Default)]
pub struct KnowledgeView {
    learning: Learning,
    evidence: HashMap<Context, Evidence>,
}

impl KnowledgeView {
    /// An empty view with the default learning settings: every estimate is the prior.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty view with the charter's learning settings.
    pub fn with_learning(learning: Learning) -> Self {
        KnowledgeView {
            learning,
            evidence: HashMap::new(),
        }
    }

    /// The settings this view learns with.
    pub fn learning(&self) -> &Learning {
        &self.learning
    }

    /// Count one outcome of `kind` on `component` for the symptom `objective`, that
    /// ended at `at` after `time_to_effect_secs`.
    pub fn observe(
        &mut self,
        kind: ActionKind,
        objective: &str,
        component: &str,
        class: OutcomeClass,
        time_to_effect_secs: f64,
        at: Timestamp,
    ) {
        let credit = self.learning.credit.of(class).clamp(0.0, 1.0);
        let half_life = self.learning.half_life;
        for ctx in Context::levels(kind, objective, component) {
            let e = self.evidence.entry(ctx).or_default();
            // Outcomes may arrive out of order: a late one is added already decayed.
            let w = match e.at {
                Some(t) if t > at => decay(t.since(at), half_life),
                _ => {
                    *e = e.decayed_to(at, half_life);
                    e.at = Some(at);
                    1.0
                }
            };
            e.alpha += w * credit;
            e.beta += w * (1.0 - credit);
            e.raw += 1;
            e.raw_successes += credit;
            if credit > 0.0 && time_to_effect_secs.is_finite() && time_to_effect_secs >= 0.0 {
                e.tte_sum += w * credit * time_to_effect_secs;
                e.tte_weight += w * credit;
            }
        }
    }

    /// Add imported evidence as priors: `alpha` and `beta` pseudo-outcomes scaled by
    /// `weight` (at most 1), and their time to effect.
    pub fn add_prior(
        &mut self,
        (kind, objective, component): (ActionKind, &str, &str),
        alpha: f64,
        beta: f64,
        time_to_effect_secs: Option<f64>,
        weight: f64,
    ) {
        let w = weight.clamp(0.0, 1.0);
        let (alpha, beta) = (alpha.max(0.0) * w, beta.max(0.0) * w);
        for ctx in Context::levels(kind, objective, component) {
            let e = self.evidence.entry(ctx).or_default();
            e.prior_alpha += alpha;
            e.prior_beta += beta;
            // A time to effect without observations of our own: take the imported one.
            if let Some(t) = time_to_effect_secs.filter(|t| t.is_finite() && *t >= 0.0)
                && alpha > 0.0
                && e.tte_weight == 0.0
            {
                e.tte_sum = t * 1e-6;
                e.tte_weight = 1e-6;
            }
        }
    }

    /// The evidence of one context as seen from `now`.
    pub fn evidence(&self, ctx: &Context, now: Timestamp) -> Option<Evidence> {
        self.evidence
            .get(ctx)
            .map(|e| e.decayed_to(now, self.learning.half_life))
    }

    /// Every context with evidence, as seen from `now`, sorted.
    pub fn contexts(&self, now: Timestamp) -> Vec<(Context, Evidence)> {
        let mut v: Vec<(Context, Evidence)> = self
            .evidence
            .iter()
            .map(|(c, e)| (c.clone(), e.decayed_to(now, self.learning.half_life)))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The most specific level with enough evidence, else the exact one if any;
    /// with the relevance its outcomes count with ([`LEVEL_RELEVANCE`]).
    fn backed_off(
        &self,
        kind: ActionKind,
        objective: &str,
        component: &str,
        now: Timestamp,
    ) -> Option<(Evidence, f64)> {
        let levels = Context::levels(kind, objective, component).map(|c| self.evidence(&c, now));
        levels
            .iter()
            .zip(LEVEL_RELEVANCE)
            .find_map(|(e, r)| e.filter(|e| e.weight() >= MIN_EVIDENCE).map(|e| (e, r)))
            .or(levels[0].map(|e| (e, 1.0)))
    }

    /// The Beta posterior (a, b) of `kind` on `component` for `objective` at `now`,
    /// and the (successes, outcomes) it counted (decayed, weighed by relevance).
    fn posterior(
        &self,
        kind: ActionKind,
        objective: &str,
        component: &str,
        prior: f64,
        now: Timestamp,
    ) -> (f64, f64, (f64, f64)) {
        let (e, relevance) = self
            .backed_off(kind, objective, component, now)
            .unwrap_or_default();
        let (s, n) = (relevance * e.successes(), relevance * e.weight());
        let prior = prior.clamp(1e-6, 1.0 - 1e-6);
        let a = prior * PRIOR_STRENGTH + s;
        let b = (1.0 - prior) * PRIOR_STRENGTH + (n - s);
        (a, b, (s, n))
    }

    /// The posterior mean of P(success), whatever the exploration: what the floor for
    /// acting judges, so that a lucky exploratory draw never carries an irreversible
    /// action over it.
    pub fn success_mean(
        &self,
        kind: ActionKind,
        objective: &str,
        component: &str,
        prior: f64,
        now: Timestamp,
    ) -> f64 {
        let (a, b, _) = self.posterior(kind, objective, component, prior, now);
        a / (a + b)
    }

    /// P(success) of `kind` on `component` for `objective` at `now` — the posterior
    /// mean (Beta prior with mean `prior`) or, with Thompson exploration, a draw from
    /// the posterior — and the (successes, outcomes) it counted, decayed and weighed by relevance, rounded to
    /// hundredths.
    pub fn success(
        &self,
        kind: ActionKind,
        objective: &str,
        component: &str,
        prior: f64,
        now: Timestamp,
    ) -> (f64, (f64, f64)) {
        let (a, b, e) = self.posterior(kind, objective, component, prior, now);
        let p = match self.learning.exploration {
            Exploration::None => a / (a + b),
            Exploration::Thompson => {
                let mut rng = SplitMix64::new(
                    self.learning.seed
                        ^ (now.millis() as u64).rotate_left(17)
                        ^ fnv(&[kind.as_str(), objective, component]),
                );
                beta_quantile(rng.next_f64(), a, b)
            }
        };
        let round = |x: f64| (x * 100.0).round() / 100.0;
        (p, (round(e.0), round(e.1)))
    }

    /// Learned time to effect of `kind` on `component` for `objective`, backing off
    /// like [`KnowledgeView::success`]; `None` until the action has helped once.
    pub fn time_to_effect(
        &self,
        kind: ActionKind,
        objective: &str,
        component: &str,
        now: Timestamp,
    ) -> Option<Duration> {
        Context::levels(kind, objective, component)
            .iter()
            .filter_map(|c| self.evidence(c, now))
            .find_map(|e| e.time_to_effect())
    }
}

/// SplitMix64: a tiny, well-mixed generator; enough for reproducible exploration.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in the open interval (0, 1).
    pub fn next_f64(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

/// FNV-1a over strings: a hash that is the same in every process (unlike std's).
fn fnv(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let s = G[1..]
        .iter()
        .enumerate()
        .fold(G[0], |s, (i, g)| s + g / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + s.ln()
}

/// Continued fraction of the incomplete beta function (modified Lentz).
fn beta_cf(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-12 {
            break;
        }
    }
    h
}

/// The regularized incomplete beta function I_x(a, b): the Beta(a, b) CDF at `x`.
pub fn beta_cdf(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(x, a, b) / a
    } else {
        1.0 - front * beta_cf(1.0 - x, b, a) / b
    }
}

/// The `q` quantile of Beta(a, b), by bisection on [`beta_cdf`].
pub fn beta_quantile(q: f64, a: f64, b: f64) -> f64 {
    let q = q.clamp(0.0, 1.0);
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if beta_cdf(mid, a, b) < q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charter::OutcomeCredit;

    const T0: Timestamp = Timestamp(1_767_225_600_000);
    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn observe(k: &mut KnowledgeView, kind: ActionKind, c: &str, class: OutcomeClass) {
        k.observe(kind, "mem", c, class, 60.0, T0);
    }

    /// Issue 16 item 15: an imported `time_to_effect_secs: 1e300` reached
    /// `Duration::from_secs_f64`, which panics, and `/api/v1/knowledge` with it.
    #[test]
    fn time_to_effect_is_total_for_any_stored_sums() {
        for (sum, weight) in [
            (1e300, 1.0),
            (f64::INFINITY, 1.0),
            (f64::NAN, 1.0),
            (1.0, f64::NAN),
            (-5.0, 1.0),
            (1e300, 1e-300),
        ] {
            let e = Evidence {
                tte_sum: sum,
                tte_weight: weight,
                ..Evidence::default()
            };
            let _ = e.time_to_effect();
        }
        let huge = Evidence {
            tte_sum: 1e300,
            tte_weight: 1.0,
            ..Evidence::default()
        };
        assert_eq!(huge.time_to_effect(), Some(Duration::MAX));
    }

    #[test]
    fn prior_until_evidence_then_posterior() {
        let mut k = KnowledgeView::new();
        let (p, _) = k.success(ActionKind::Restart, "mem", "orders", 0.8, T0);
        assert!((p - 0.8).abs() < 1e-9);
        for _ in 0..4 {
            observe(
                &mut k,
                ActionKind::Restart,
                "orders",
                OutcomeClass::NoEffect,
            );
        }
        let (p, (s, n)) = k.success(ActionKind::Restart, "mem", "orders", 0.8, T0);
        assert_eq!((s, n), (0.0, 4.0));
        assert!(p < 0.3, "{p}");
    }

    #[test]
    fn backs_off_to_coarser_contexts() {
        let mut k = KnowledgeView::new();
        for c in ["a", "b", "c"] {
            k.observe(
                ActionKind::ScaleOut,
                "latency",
                c,
                OutcomeClass::Resolved,
                1.0,
                T0,
            );
        }
        // Nothing on `d`, but the (kind, objective) level has 3 successes.
        let (p, (_, n)) = k.success(ActionKind::ScaleOut, "latency", "d", 0.5, T0);
        assert_eq!(n, 3.0);
        assert!(p > 0.75);
    }

    #[test]
    fn evidence_from_other_objectives_does_not_outweigh_the_cause_prior() {
        let mut k = KnowledgeView::new();
        // scale_out resolved latency three times, on other components.
        for c in ["a", "b", "c"] {
            k.observe(
                ActionKind::ScaleOut,
                "latency",
                c,
                OutcomeClass::Resolved,
                1.0,
                T0,
            );
        }
        // For a memory objective it has never been tried on, with a low prior (it
        // does not fit the cause), the borrowed successes count a quarter each.
        let (p, (s, n)) = k.success(ActionKind::ScaleOut, "memory", "d", 0.2, T0);
        assert_eq!((s, n), (0.75, 0.75));
        assert!(p < 0.45, "{p}");
        // A restart that fits the cause (prior 0.6) stays ahead of it.
        let (restart, _) = k.success(ActionKind::Restart, "memory", "d", 0.6, T0);
        assert!(restart > p, "{restart} vs {p}");
    }

    #[test]
    fn improved_counts_half_and_credit_is_configurable() {
        let mut k = KnowledgeView::new();
        observe(
            &mut k,
            ActionKind::Restart,
            "orders",
            OutcomeClass::Improved,
        );
        observe(
            &mut k,
            ActionKind::Restart,
            "orders",
            OutcomeClass::Improved,
        );
        let (_, (s, n)) = k.success(ActionKind::Restart, "mem", "orders", 0.5, T0);
        assert_eq!((s, n), (1.0, 2.0));

        let mut strict = KnowledgeView::with_learning(Learning {
            credit: OutcomeCredit {
                improved: 0.0,
                ..OutcomeCredit::default()
            },
            ..Learning::default()
        });
        observe(
            &mut strict,
            ActionKind::Restart,
            "orders",
            OutcomeClass::Improved,
        );
        let (_, (s, n)) = strict.success(ActionKind::Restart, "mem", "orders", 0.5, T0);
        assert_eq!((s, n), (0.0, 1.0));
    }

    #[test]
    fn old_evidence_decays_so_a_changed_system_is_relearned() {
        let mut k = KnowledgeView::new(); // half-life 7 days
        for _ in 0..8 {
            observe(&mut k, ActionKind::Restart, "orders", OutcomeClass::Failed);
        }
        let fresh = k.success(ActionKind::Restart, "mem", "orders", 0.8, T0);
        let later = T0.plus(14 * DAY);
        let (p, (_, n)) = k.success(ActionKind::Restart, "mem", "orders", 0.8, later);
        assert!(
            (n - 2.0).abs() < 0.01,
            "two half-lives leave a quarter: {n}"
        );
        assert!(p > fresh.0 + 0.2, "{p} vs {}", fresh.0);
        // Now restart works: four new successes outweigh eight old failures.
        for _ in 0..4 {
            k.observe(
                ActionKind::Restart,
                "mem",
                "orders",
                OutcomeClass::Resolved,
                30.0,
                later,
            );
        }
        let (p, _) = k.success(ActionKind::Restart, "mem", "orders", 0.8, later);
        assert!(p > 0.6, "{p}");
    }

    #[test]
    fn thin_decayed_evidence_backs_off() {
        let mut k = KnowledgeView::new();
        for _ in 0..4 {
            k.observe(
                ActionKind::Restart,
                "mem",
                "a",
                OutcomeClass::Failed,
                1.0,
                T0,
            );
        }
        let later = T0.plus(21 * DAY);
        for c in ["b", "c", "d"] {
            k.observe(
                ActionKind::Restart,
                "mem",
                c,
                OutcomeClass::Resolved,
                1.0,
                later,
            );
        }
        // On `a` four failures decayed to 0.5 outcomes: thin, so (restart, mem) decides.
        let (p, (_, n)) = k.success(ActionKind::Restart, "mem", "a", 0.5, later);
        assert!((n - 3.5).abs() < 0.01, "{n}");
        assert!(p > 0.5, "{p}");
    }

    #[test]
    fn time_to_effect_is_the_decayed_mean_when_it_helped() {
        let mut k = KnowledgeView::new();
        k.observe(
            ActionKind::Restart,
            "mem",
            "o",
            OutcomeClass::Resolved,
            60.0,
            T0,
        );
        k.observe(
            ActionKind::Restart,
            "mem",
            "o",
            OutcomeClass::Resolved,
            120.0,
            T0,
        );
        k.observe(
            ActionKind::Restart,
            "mem",
            "o",
            OutcomeClass::Failed,
            900.0,
            T0,
        );
        let t = k
            .time_to_effect(ActionKind::Restart, "mem", "o", T0)
            .expect("learned time to effect");
        assert_eq!(t.as_secs(), 90);
        assert_eq!(k.time_to_effect(ActionKind::ScaleOut, "mem", "o", T0), None);
    }

    #[test]
    fn imported_priors_are_pseudo_evidence_that_does_not_decay() {
        let mut k = KnowledgeView::new();
        k.add_prior((ActionKind::Restart, "mem", "o"), 9.0, 1.0, Some(45.0), 0.5);
        let later = T0.plus(365 * DAY);
        let (p, (s, n)) = k.success(ActionKind::Restart, "mem", "o", 0.3, later);
        assert_eq!((s, n), (4.5, 5.0));
        assert!(p > 0.7, "{p}");
        let t = k
            .time_to_effect(ActionKind::Restart, "mem", "o", later)
            .expect("learned time to effect");
        assert_eq!(t.as_secs(), 45);
    }

    #[test]
    fn thompson_draws_are_reproducible_and_spread_around_the_mean() {
        let learning = Learning {
            exploration: Exploration::Thompson,
            seed: 7,
            ..Learning::default()
        };
        let mut k = KnowledgeView::with_learning(learning);
        for i in 0..10 {
            let class = if i < 7 {
                OutcomeClass::Resolved
            } else {
                OutcomeClass::Failed
            };
            observe(&mut k, ActionKind::Restart, "o", class);
        }
        let draws: Vec<f64> = (0..400)
            .map(|i| {
                let now = T0.plus(Duration::from_secs(i));
                k.success(ActionKind::Restart, "mem", "o", 0.5, now).0
            })
            .collect();
        let again = k
            .success(
                ActionKind::Restart,
                "mem",
                "o",
                0.5,
                T0.plus(Duration::from_secs(3)),
            )
            .0;
        assert_eq!(again, draws[3]);
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        // Posterior Beta(8, 4): mean 0.667.
        assert!((mean - 0.667).abs() < 0.03, "{mean}");
        let (lo, hi) = draws
            .iter()
            .fold((1.0f64, 0.0f64), |(l, h), p| (l.min(*p), h.max(*p)));
        assert!(lo < 0.45 && hi > 0.85, "{lo}..{hi}");
    }

    #[test]
    fn beta_quantiles_match_known_values() {
        // Beta(1, 1) is uniform; Beta(2, 2) median 0.5; Beta(1, 3): q = 1 - (1 - x)^3.
        assert!((beta_quantile(0.05, 1.0, 1.0) - 0.05).abs() < 1e-9);
        assert!((beta_quantile(0.5, 2.0, 2.0) - 0.5).abs() < 1e-9);
        let x = beta_quantile(0.9, 1.0, 3.0);
        assert!((1.0 - (1.0 - x).powi(3) - 0.9).abs() < 1e-9, "{x}");
        // Beta(10, 2): F(x) = 11 x^10 - 10 x^11.
        let x = beta_quantile(0.05, 10.0, 2.0);
        assert!(
            (11.0 * x.powi(10) - 10.0 * x.powi(11) - 0.05).abs() < 1e-9,
            "{x}"
        );
    }
}
