//! The four pattern detectors. Each is a pure function over plain inputs, with its
//! cost stated in its doc comment; [`crate::diagnose`] combines their findings.
//!
//! - [`burst`]: violation onsets clustered in time beyond their usual rate.
//! - [`cluster`]: abnormal components grouped in space (same component, a shared
//!   dependency, a zone).
//! - [`propagation`]: causal evidence along the dependency graph (who turned
//!   abnormal first, whose anomaly explains whose, changes shortly before onset).
//! - [`frequency`]: an objective violating far more often than its own history.

pub mod burst;
pub mod cluster;
pub mod frequency;
pub mod propagation;

/// `P(X ≥ k)` for `X ~ Poisson(lambda)`. O(k).
pub(crate) fn poisson_tail(k: usize, lambda: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    // 1 − P(X ≤ k − 1), summing terms in log space to stay finite for large k.
    let mut term = (-lambda).exp();
    let mut below = term;
    for i in 1..k {
        term *= lambda / i as f64;
        below += term;
    }
    (1.0 - below).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_tail_matches_known_values() {
        // P(X ≥ 1; 1) = 1 − e^-1.
        assert!((poisson_tail(1, 1.0) - (1.0 - (-1.0f64).exp())).abs() < 1e-12);
        // P(X ≥ 3; 0.5) = 1 − e^-0.5 (1 + 0.5 + 0.125).
        let p = 1.0 - (-0.5f64).exp() * 1.625;
        assert!((poisson_tail(3, 0.5) - p).abs() < 1e-12);
        assert_eq!(poisson_tail(0, 3.0), 1.0);
        assert_eq!(poisson_tail(2, 0.0), 0.0);
    }
}
