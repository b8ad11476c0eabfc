//! The yardstick every strategy is measured with, independent of the controller.
//!
//! Each charter interval the [`Meter`] reads every objective of the charter on every
//! one of its components straight from the simulated world and feeds the values to
//! its own `charter_monitor::Detector` — the thresholds, `for`, `clear` and
//! `keep_firing_for` the loop uses. A series counts while it is **firing**; each
//! interval it fires adds `interval × weight(severity)` to the violation-seconds
//! ([`WARNING_WEIGHT`], [`CRITICAL_WEIGHT`]). Replica-hours add up the replicas of
//! every service (starting ones included) over the same intervals.

use charter_model::{Charter, ObjectiveSource, Sample, Severity, Timestamp, Violation};
use charter_monitor::Detector;
use charter_sim::World;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Weight of one second of a firing warning.
pub const WARNING_WEIGHT: f64 = 1.0;
/// Weight of one second of a firing critical violation.
pub const CRITICAL_WEIGHT: f64 = 3.0;

/// The weight of a firing violation's severity (a firing one without a severity
/// counts as a warning).
pub fn weight(severity: Option<Severity>) -> f64 {
    match severity {
        Some(Severity::Critical) => CRITICAL_WEIGHT,
        _ => WARNING_WEIGHT,
    }
}

/// What the meter saw at one interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tick {
    /// Seconds from the start of the run.
    pub at_secs: f64,
    /// Sum of the weights of the firing series.
    pub badness: f64,
    /// Replicas of every service, starting ones included.
    pub replicas: u32,
}

impl Tick {
    /// Whether any objective was violated (a series was firing).
    pub fn violated(&self) -> bool {
        self.badness > 0.0
    }
}

/// Severity-weighted violation-seconds of a timeline sampled every `step`.
pub fn violation_seconds(ticks: &[Tick], step: Duration) -> f64 {
    ticks.iter().map(|t| t.badness).sum::<f64>() * step.as_secs_f64()
}

/// Replica-hours of a timeline sampled every `step`.
pub fn replica_hours(ticks: &[Tick], step: Duration) -> f64 {
    ticks.iter().map(|t| f64::from(t.replicas)).sum::<f64>() * step.as_secs_f64() / 3600.0
}

/// How long one fault took to recover from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Recovery {
    /// From the fault's start to the end of the last interval in its window during
    /// which some objective was violated (0 when none was). An unrecovered fault
    /// counts its whole window.
    pub secs: f64,
    /// Still violated at the last interval of the window.
    pub recovered: bool,
}

/// Where a fault's window ends: at the first start after `start` (faults that start
/// together share one window), else at `end`.
pub fn window_end(starts_secs: &[f64], start: f64, end: f64) -> f64 {
    starts_secs
        .iter()
        .copied()
        .filter(|&s| s > start)
        .fold(end, f64::min)
}

/// Time to recover from each fault. A fault's window runs from its start to the next
/// start after it (or the end of the run), so faults that start together share it.
pub fn time_to_recover(ticks: &[Tick], step: Duration, starts_secs: &[f64]) -> Vec<Recovery> {
    let step = step.as_secs_f64();
    let end = ticks.last().map_or(0.0, |t| t.at_secs + step);
    starts_secs
        .iter()
        .map(|&start| {
            let until = window_end(starts_secs, start, end);
            let window: Vec<&Tick> = ticks
                .iter()
                .filter(|t| t.at_secs >= start && t.at_secs < until)
                .collect();
            match window.iter().rposition(|t| t.violated()) {
                None => Recovery {
                    secs: 0.0,
                    recovered: true,
                },
                Some(k) if k + 1 == window.len() => Recovery {
                    secs: until - start,
                    recovered: false,
                },
                Some(k) => Recovery {
                    secs: window[k].at_secs + step - start,
                    recovered: true,
                },
            }
        })
        .collect()
}

/// The value of every objective on every one of its components, read from the world
/// as the simulator's metric source reads it (without draining its changes).
pub fn samples_of(world: &World, charter: &Charter, now: Timestamp) -> Vec<Sample> {
    let mut out = Vec::new();
    for o in &charter.objectives {
        let ObjectiveSource::Metric { name, .. } = &o.source else {
            continue;
        };
        for c in &o.components {
            out.push(Sample {
                objective: o.name.clone(),
                component: c.clone(),
                at: now,
                value: world.actual_metric(name, c),
            });
        }
    }
    out
}

/// Replicas of every service of the world.
pub fn total_replicas(world: &World) -> u32 {
    world
        .services()
        .iter()
        .filter_map(|s| world.describe(s).ok().and_then(|d| d.replicas))
        .sum()
}

/// Measures one run.
#[derive(Debug)]
pub struct Meter {
    detector: Detector,
    /// One per interval.
    pub ticks: Vec<Tick>,
    /// Severity-weighted violation-seconds per `objective@component`.
    pub per_series: BTreeMap<String, f64>,
    /// Per component, the sum of the weights of its firing series at each interval.
    pub component_badness: BTreeMap<String, Vec<f64>>,
    /// Every series' value at each interval, when recording (for timelines).
    pub values: Option<BTreeMap<String, Vec<Option<f64>>>>,
    step: Duration,
}

impl Meter {
    /// A meter sampling every `step`; `record` keeps every series' values.
    pub fn new(charter: &Charter, step: Duration, record: bool) -> Self {
        let component_badness = charter
            .components
            .iter()
            .map(|c| (c.name.clone(), Vec::new()))
            .collect();
        Meter {
            detector: Detector::new(),
            ticks: Vec::new(),
            per_series: BTreeMap::new(),
            component_badness,
            values: record.then(BTreeMap::new),
            step,
        }
    }

    /// The sampling step.
    pub fn step(&self) -> Duration {
        self.step
    }

    /// Feed one interval's samples.
    pub fn observe(
        &mut self,
        charter: &Charter,
        samples: &[Sample],
        now: Timestamp,
        at_secs: f64,
        replicas: u32,
    ) {
        self.detector.update(charter, samples, now);
        if let Some(values) = &mut self.values {
            let n = self.ticks.len();
            for s in samples {
                let series = values
                    .entry(format!("{}@{}", s.objective, s.component))
                    .or_default();
                series.resize(n, None);
                series.push(s.value.filter(|v| v.is_finite()));
            }
        }
        let step = self.step.as_secs_f64();
        let mut badness = 0.0;
        let mut by_component: BTreeMap<&str, f64> = BTreeMap::new();
        for v in self.detector.active().filter(|v| v.is_firing()) {
            let w = weight(v.severity);
            badness += w;
            *by_component.entry(v.component.as_str()).or_default() += w;
            *self.per_series.entry(v.key()).or_default() += w * step;
        }
        for (c, series) in &mut self.component_badness {
            series.push(by_component.get(c.as_str()).copied().unwrap_or(0.0));
        }
        self.ticks.push(Tick {
            at_secs,
            badness,
            replicas,
        });
    }

    /// The firing violations, sorted by `objective@component`.
    pub fn firing(&self) -> Vec<&Violation> {
        let mut v: Vec<&Violation> = self.detector.active().filter(|v| v.is_firing()).collect();
        v.sort_by_key(|v| v.key());
        v
    }

    /// Components with a firing or pending violation.
    pub fn troubled(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .detector
            .active()
            .map(|v| v.component.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(at_secs: f64, badness: f64, replicas: u32) -> Tick {
        Tick {
            at_secs,
            badness,
            replicas,
        }
    }

    /// 10 s steps: healthy, a warning, two criticals, a warning, healthy, then a
    /// second fault that never recovers.
    fn timeline() -> Vec<Tick> {
        vec![
            tick(0.0, 0.0, 10),
            tick(10.0, 1.0, 10),
            tick(20.0, 3.0, 12),
            tick(30.0, 3.0 + 1.0, 12),
            tick(40.0, 1.0, 12),
            tick(50.0, 0.0, 12),
            tick(60.0, 0.0, 12),
            tick(70.0, 1.0, 12),
        ]
    }

    #[test]
    fn violation_seconds_weight_critical_three_times_a_warning() {
        let step = Duration::from_secs(10);
        // (1 + 3 + 4 + 1 + 1) × 10 s
        assert_eq!(violation_seconds(&timeline(), step), 100.0);
        assert_eq!(weight(Some(Severity::Critical)), 3.0);
        assert_eq!(weight(Some(Severity::Warning)), 1.0);
    }

    #[test]
    fn replica_hours_integrate_replicas_over_time() {
        // (2 × 10 + 6 × 12) replicas × 10 s = 920 replica-seconds.
        let got = replica_hours(&timeline(), Duration::from_secs(10));
        assert!((got - 920.0 / 3600.0).abs() < 1e-12, "{got}");
    }

    #[test]
    fn time_to_recover_ends_at_the_last_violated_interval_or_counts_the_window() {
        let got = time_to_recover(&timeline(), Duration::from_secs(10), &[5.0, 60.0]);
        // The first fault: violated until the interval at 40 s ends (50 s) → 45 s.
        assert_eq!(
            got[0],
            Recovery {
                secs: 45.0,
                recovered: true
            }
        );
        // The second: still violated at the end (80 s) → its whole window, 20 s.
        assert_eq!(
            got[1],
            Recovery {
                secs: 20.0,
                recovered: false
            }
        );
        // A fault that never causes a violation recovers at once.
        let quiet = vec![tick(0.0, 0.0, 1), tick(10.0, 0.0, 1)];
        assert_eq!(
            time_to_recover(&quiet, Duration::from_secs(10), &[0.0])[0].secs,
            0.0
        );
    }
}
