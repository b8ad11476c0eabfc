//! Flaps: short, periodic spikes of one reported metric that are not faults.
//!
//! A flap is what an objective's `for:` exists to ignore — a metric of one service
//! crosses its threshold for a few seconds every few minutes (a garbage-collection
//! pause, a histogram quantile over a thin window) and returns on its own. It changes
//! only the value the world reports for that metric of that service: the load, the
//! latency callers see and every other metric stay as they were, so there is nothing
//! to fix. A flap therefore has no root cause and no remedy and is not part of
//! [`crate::Scenario::ground_truth`].

use std::time::Duration;

/// The metrics a flap may spike: those with a non-zero healthy level, so that a
/// multiplicative spike shows.
pub const FLAPPABLE: [&str; 9] = [
    "westworld_request_rate",
    "westworld_latency_p50_seconds",
    "westworld_latency_p99_seconds",
    "westworld_error_ratio",
    "westworld_cpu_utilization",
    "westworld_memory_utilization",
    "westworld_cache_hit_ratio",
    "westworld_pool_utilization",
    "westworld_dependency_error_ratio",
];

/// One metric of one service spiking for `length` every `every`, from `at` until
/// `until` (or for ever).
#[derive(Debug, Clone, PartialEq)]
pub struct Flap {
    /// The service whose metric spikes.
    pub target: String,
    /// The metric, one of [`FLAPPABLE`].
    pub metric: String,
    /// What the reported value is multiplied by during a spike (ratios stay ≤ 1).
    pub factor: f64,
    /// The start of the first spike, from the start of the run.
    pub at: Duration,
    /// From the start of one spike to the start of the next.
    pub every: Duration,
    /// How long each spike lasts; shorter than `every`.
    pub length: Duration,
    /// Spikes end here (one in progress is cut short); `None` for the whole run.
    pub until: Option<Duration>,
}

impl Flap {
    /// Whether a spike is on at virtual time `t`: spikes cover
    /// `[at + k·every, at + k·every + length)` for k = 0, 1, … and stop at `until`.
    pub fn spiking(&self, t: Duration) -> bool {
        if t < self.at || self.until.is_some_and(|u| t >= u) || self.every.is_zero() {
            return false;
        }
        let since = (t - self.at).as_millis();
        since % self.every.as_millis() < self.length.as_millis()
    }

    /// Whether the metric is a ratio that cannot exceed 1.
    pub(crate) fn is_ratio(metric: &str) -> bool {
        matches!(
            metric,
            "westworld_error_ratio"
                | "westworld_memory_utilization"
                | "westworld_cache_hit_ratio"
                | "westworld_dependency_error_ratio"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn spikes_cover_their_windows_and_stop_at_until() {
        let f = Flap {
            target: "catalog".into(),
            metric: FLAPPABLE[2].into(),
            factor: 8.0,
            at: secs(60),
            every: secs(120),
            length: secs(20),
            until: Some(secs(300)),
        };
        let on: Vec<u64> = (0..400).filter(|&t| f.spiking(secs(t))).collect();
        let expected: Vec<u64> = (60..80).chain(180..200).collect();
        assert_eq!(on, expected);
    }
}
