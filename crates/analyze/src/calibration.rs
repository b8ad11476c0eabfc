//! Calibration: making a confidence of 0.8 mean "right 8 times in 10".
//!
//! The diagnosis computes a raw confidence (a candidate's share of the ranking's
//! score, weighted by how clear its anomaly is) and maps it through a Platt curve,
//! `p = σ(a · logit(raw) + b)`, fitted on labelled simulator incidents (every fault
//! type, many seeds) by `charter-bench calibrate --fit`; the fitted constants live
//! in [`CALIBRATION`]. This module also measures calibration: the reliability table
//! (confidence bucket → observed accuracy) and the expected calibration error.

use serde::Serialize;

/// A Platt curve over the logit of the raw confidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Calibration {
    pub a: f64,
    pub b: f64,
}

/// The curve the diagnosis uses; regenerate with
/// `cargo run --release -p charter-bench -- calibrate --fit`.
pub const CALIBRATION: Calibration = Calibration {
    a: 1.8627,
    b: 0.416,
};

/// Raw confidences are kept this far from 0 and 1 so that the logit stays finite.
const EDGE: f64 = 1e-4;

fn logit(p: f64) -> f64 {
    let p = p.clamp(EDGE, 1.0 - EDGE);
    (p / (1.0 - p)).ln()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl Calibration {
    /// The calibrated confidence of a raw one, in [0, 1]; 0 stays 0 (no evidence).
    pub fn apply(&self, raw: f64) -> f64 {
        if raw <= 0.0 || !raw.is_finite() {
            return 0.0;
        }
        sigmoid(self.a * logit(raw) + self.b)
    }

    /// The raw confidence that this curve maps to `p` (for refitting from recorded
    /// diagnoses); needs `a ≠ 0`.
    pub fn invert(&self, p: f64) -> f64 {
        if p <= 0.0 {
            return 0.0;
        }
        sigmoid((logit(p) - self.b) / self.a)
    }

    /// Fit `a` and `b` by maximum likelihood (Newton's method on the logistic loss,
    /// with Platt's smoothed targets so that a perfectly separable sample stays
    /// finite) to `(raw confidence, was right)` pairs.
    pub fn fit(samples: &[(f64, bool)]) -> Calibration {
        let pos = samples.iter().filter(|s| s.1).count() as f64;
        let neg = samples.len() as f64 - pos;
        let hi = (pos + 1.0) / (pos + 2.0);
        let lo = 1.0 / (neg + 2.0);
        let data: Vec<(f64, f64)> = samples
            .iter()
            .filter(|s| s.0 > 0.0)
            .map(|&(r, y)| (logit(r), if y { hi } else { lo }))
            .collect();
        let (mut a, mut b) = (1.0, 0.0);
        for _ in 0..100 {
            let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-9, 0.0, 1e-9);
            for &(x, t) in &data {
                let p = sigmoid(a * x + b);
                let w = p * (1.0 - p);
                ga += (p - t) * x;
                gb += p - t;
                haa += w * x * x;
                hab += w * x;
                hbb += w;
            }
            let det = haa * hbb - hab * hab;
            if det.abs() < 1e-12 {
                break;
            }
            let da = (hbb * ga - hab * gb) / det;
            let db = (haa * gb - hab * ga) / det;
            a -= da;
            b -= db;
            if da.abs() + db.abs() < 1e-10 {
                break;
            }
        }
        Calibration { a, b }
    }
}

/// One bucket of a reliability table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bucket {
    /// Confidence range `[lo, hi)` (the last bucket includes 1).
    pub lo: f64,
    pub hi: f64,
    /// Diagnoses whose confidence fell in the range.
    pub count: usize,
    /// Their mean confidence.
    pub confidence: f64,
    /// The share of them that were right.
    pub accuracy: f64,
}

/// Reliability table over `buckets` equal-width bins; empty bins are omitted.
pub fn reliability(samples: &[(f64, bool)], buckets: usize) -> Vec<Bucket> {
    let k = buckets.max(1);
    let mut sums = vec![(0usize, 0.0, 0usize); k];
    for &(p, right) in samples {
        let i = ((p.clamp(0.0, 1.0) * k as f64) as usize).min(k - 1);
        sums[i].0 += 1;
        sums[i].1 += p;
        sums[i].2 += usize::from(right);
    }
    sums.iter()
        .enumerate()
        .filter(|(_, s)| s.0 > 0)
        .map(|(i, &(n, p, r))| Bucket {
            lo: i as f64 / k as f64,
            hi: (i + 1) as f64 / k as f64,
            count: n,
            confidence: p / n as f64,
            accuracy: r as f64 / n as f64,
        })
        .collect()
}

/// Expected calibration error: the count-weighted mean of |accuracy − confidence|
/// over the reliability table's buckets.
pub fn expected_calibration_error(samples: &[(f64, bool)], buckets: usize) -> f64 {
    let n = samples.len();
    if n == 0 {
        return 0.0;
    }
    reliability(samples, buckets)
        .iter()
        .map(|b| b.count as f64 / n as f64 * (b.accuracy - b.confidence).abs())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random numbers in [0, 1).
    fn lcg(state: &mut u64) -> f64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*state >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn a_perfectly_calibrated_sample_has_a_small_error() {
        let mut s = 7;
        let samples: Vec<(f64, bool)> = (0..20_000)
            .map(|_| {
                let p = lcg(&mut s);
                (p, lcg(&mut s) < p)
            })
            .collect();
        assert!(expected_calibration_error(&samples, 10) < 0.02);
    }

    #[test]
    fn an_overconfident_sample_is_caught_and_fitting_fixes_it() {
        // True accuracy is σ(0.5 · logit(raw) − 0.5): the raw scores overstate it.
        let truth = Calibration { a: 0.5, b: -0.5 };
        let mut s = 11;
        let samples: Vec<(f64, bool)> = (0..20_000)
            .map(|_| {
                let raw = 0.05 + 0.9 * lcg(&mut s);
                (raw, lcg(&mut s) < truth.apply(raw))
            })
            .collect();
        assert!(expected_calibration_error(&samples, 10) > 0.1);
        let fit = Calibration::fit(&samples);
        assert!(
            (fit.a - 0.5).abs() < 0.1 && (fit.b + 0.5).abs() < 0.1,
            "{fit:?}"
        );
        let calibrated: Vec<(f64, bool)> =
            samples.iter().map(|&(r, y)| (fit.apply(r), y)).collect();
        assert!(expected_calibration_error(&calibrated, 10) < 0.03);
        // The inverse recovers the raw value.
        assert!((fit.invert(fit.apply(0.3)) - 0.3).abs() < 1e-9);
    }

    #[test]
    fn reliability_table_buckets_by_confidence() {
        let samples = [(0.05, false), (0.95, true), (0.91, false), (1.0, true)];
        let t = reliability(&samples, 10);
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].count, 3);
        assert!((t[1].accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(t[0].accuracy, 0.0);
    }
}
