//! Burst: violation onsets clustered in time beyond their usual rate.
//!
//! Onsets are chained while consecutive ones are at most [`BurstOptions::gap`]
//! apart. A chain of `k` onsets spanning `d` is a burst when `k` reaches
//! [`BurstOptions::min_onsets`] and a Poisson process at the background rate would
//! produce `k` or more onsets in `max(d, gap)` with probability below
//! [`BurstOptions::alpha`]. The background rate is the number of onsets over the
//! observed span (at least a quarter of the horizon) — a system that always has
//! many onsets needs a denser chain to count as a burst, and a steady stream that
//! chains end to end is its own background.
//!
//! Cost: O(n log n) for n onsets (one sort, one pass, one Poisson tail per chain of
//! total length n).

use super::poisson_tail;
use charter_model::Timestamp;
use std::time::Duration;

/// Settings of [`find_bursts`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurstOptions {
    /// Largest time between consecutive onsets of one burst.
    pub gap: Duration,
    /// Fewest onsets that make a burst.
    pub min_onsets: usize,
    /// Largest probability, under the background rate, of a chain this dense.
    pub alpha: f64,
    /// The span over which the background rate is measured, ending at the last onset;
    /// older onsets are ignored.
    pub horizon: Duration,
}

impl Default for BurstOptions {
    fn default() -> Self {
        BurstOptions {
            gap: Duration::from_secs(120),
            min_onsets: 3,
            alpha: 0.001,
            horizon: Duration::from_secs(24 * 3600),
        }
    }
}

/// A run of onsets denser than the background.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Burst {
    pub start: Timestamp,
    pub end: Timestamp,
    /// Onsets in the burst.
    pub onsets: usize,
    /// Onsets the background rate predicts over the same time.
    pub expected: f64,
    /// Probability of at least this many onsets at the background rate.
    pub p_value: f64,
}

impl Burst {
    /// Whether `t` falls inside the burst (inclusive).
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t <= self.end
    }
}

/// Find the bursts among `onsets` (any order), oldest first.
pub fn find_bursts(onsets: &[Timestamp], options: &BurstOptions) -> Vec<Burst> {
    let mut ts: Vec<Timestamp> = onsets.to_vec();
    ts.sort_unstable();
    bursts_in_order(ts.len(), |i| ts[i], options)
}

/// [`find_bursts`] over `len` onsets already in time order, the `i`-th read by
/// `at(i)` (no copy, no sort): O(n).
pub fn bursts_in_order(
    len: usize,
    at: impl Fn(usize) -> Timestamp,
    options: &BurstOptions,
) -> Vec<Burst> {
    if len == 0 {
        return Vec::new();
    }
    let last = at(len - 1);
    let from = last.minus(options.horizon);
    // The first onset inside the horizon (binary search).
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if at(mid) < from {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let first = lo;
    let n = len - first;
    let gap_ms = options.gap.as_millis() as i64;
    // A short history is stretched to a quarter of the horizon, so that the first few
    // onsets of a fresh process do not look like their own normal rate.
    let observed_ms = (last.0 - at(first).0)
        .max(gap_ms)
        .max(options.horizon.as_millis() as i64 / 4);
    // Half an onset of prior keeps the rate positive on a quiet history.
    let rate = (n as f64 + 0.5) / observed_ms as f64;
    let mut out = Vec::new();
    let mut i = first;
    while i < len {
        let mut j = i;
        while j + 1 < len && at(j + 1).0 - at(j).0 <= gap_ms {
            j += 1;
        }
        let k = j - i + 1;
        if k >= options.min_onsets.max(2) {
            let span_ms = (at(j).0 - at(i).0).max(gap_ms);
            let expected = rate * span_ms as f64;
            let p = poisson_tail(k, expected);
            if p < options.alpha {
                out.push(Burst {
                    start: at(i),
                    end: at(j),
                    onsets: k,
                    expected,
                    p_value: p,
                });
            }
        }
        i = j + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_secs(secs)
    }

    #[test]
    fn an_injected_burst_is_found() {
        // One onset an hour for a day, then six within three minutes.
        let mut onsets: Vec<Timestamp> = (0..24).map(|h| t(h * 3600)).collect();
        let base = 24 * 3600 + 600;
        onsets.extend((0..6).map(|i| t(base + i * 30)));
        let bursts = find_bursts(&onsets, &BurstOptions::default());
        assert_eq!(bursts.len(), 1, "{bursts:?}");
        assert_eq!(bursts[0].onsets, 6);
        assert_eq!(bursts[0].start, t(base));
        assert!(bursts[0].contains(t(base + 60)));
        assert!(bursts[0].p_value < 0.001);
    }

    #[test]
    fn a_steady_stream_has_no_burst() {
        // One onset every 90 s for a day: chained, but that is the normal rate.
        let onsets: Vec<Timestamp> = (0..960).map(|i| t(i * 90)).collect();
        assert!(find_bursts(&onsets, &BurstOptions::default()).is_empty());
        // Sparse onsets never chain.
        let sparse: Vec<Timestamp> = (0..50).map(|i| t(i * 1800)).collect();
        assert!(find_bursts(&sparse, &BurstOptions::default()).is_empty());
    }

    #[test]
    fn order_of_onsets_does_not_matter() {
        let mut onsets: Vec<Timestamp> = (0..10).map(|h| t(h * 3600)).collect();
        onsets.extend((0..4).map(|i| t(40_000 + i * 20)));
        let a = find_bursts(&onsets, &BurstOptions::default());
        onsets.reverse();
        onsets.swap(1, 7);
        assert_eq!(a, find_bursts(&onsets, &BurstOptions::default()));
        assert_eq!(a.len(), 1);
    }

    #[test]
    fn no_onsets_no_bursts() {
        assert!(find_bursts(&[], &BurstOptions::default()).is_empty());
    }
}
