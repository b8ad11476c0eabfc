//! Recent samples per series: the windows a diagnosis scores.

use crate::anomaly::{MetricSeries, Worse};
use charter_model::{Charter, Direction, Sample, Timestamp, Violation};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

/// A bounded window of `(time, value)` points per `(objective, component)` series.
#[derive(Debug, Clone)]
pub struct History {
    window: Duration,
    /// objective → component → points. Nested rather than keyed by a pair of owned
    /// strings so that recording and reading by `&str` allocate nothing.
    series: HashMap<String, HashMap<String, VecDeque<(Timestamp, f64)>>>,
}

impl History {
    /// Keep points younger than `window`.
    pub fn new(window: Duration) -> Self {
        History {
            window,
            series: HashMap::new(),
        }
    }

    /// Add known samples (Unknown ones carry no value to keep) and drop old points.
    /// O(samples) amortised.
    pub fn record(&mut self, samples: &[Sample], now: Timestamp) {
        let cutoff = now.minus(self.window);
        for s in samples {
            let Some(v) = s.value.filter(|v| v.is_finite()) else {
                continue;
            };
            if !self.series.contains_key(&s.objective) {
                self.series.insert(s.objective.clone(), HashMap::new());
            }
            let by_component = self
                .series
                .get_mut(&s.objective)
                .expect("inserted above when missing");
            if !by_component.contains_key(&s.component) {
                by_component.insert(s.component.clone(), VecDeque::new());
            }
            let q = by_component
                .get_mut(&s.component)
                .expect("inserted above when missing");
            q.push_back((s.at, v));
            while q.front().is_some_and(|(t, _)| *t < cutoff) {
                q.pop_front();
            }
        }
    }

    /// Points of one series, oldest first.
    pub fn points(&self, objective: &str, component: &str) -> Option<&VecDeque<(Timestamp, f64)>> {
        self.series.get(objective)?.get(component)
    }

    /// The metric windows a diagnosis of these member violations looks at: every
    /// objective series of the member components and of everything they depend on,
    /// split two loop intervals before the earliest member's onset (a ramp starts
    /// before its breach). Used by the controller and by `charter-bench scale`.
    pub fn incident_series(&self, charter: &Charter, members: &[Violation]) -> Vec<MetricSeries> {
        let Some(onset) = members.iter().map(|v| v.since).min() else {
            return Vec::new();
        };
        let cut = onset.minus(charter.interval * 2);
        let mut comps: BTreeSet<&str> = BTreeSet::new();
        let mut stack: Vec<&str> = members.iter().map(|v| v.component.as_str()).collect();
        while let Some(c) = stack.pop() {
            if comps.insert(c) {
                stack.extend(charter.topology.dependencies(c));
            }
        }
        let mut out = Vec::new();
        for o in &charter.objectives {
            for c in o.components.iter().filter(|c| comps.contains(c.as_str())) {
                let Some(points) = self.points(&o.name, c) else {
                    continue;
                };
                let mut s = MetricSeries {
                    component: c.clone(),
                    metric: o.name.clone(),
                    signal: Some(o.signal),
                    worse: match o.direction {
                        Direction::Above => Worse::Up,
                        Direction::Below => Worse::Down,
                    },
                    ..MetricSeries::default()
                };
                for &(t, v) in points {
                    if t < cut {
                        s.normal.push(v);
                    } else {
                        s.anomalous.push(v);
                        s.times.push(t);
                    }
                }
                out.push(s);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: i64, v: f64) -> Sample {
        Sample {
            objective: "m".into(),
            component: "c".into(),
            at: Timestamp::from_secs(t),
            value: Some(v),
        }
    }

    #[test]
    fn window_drops_old_points_and_skips_unknown() {
        let mut h = History::new(Duration::from_secs(60));
        h.record(&[s(0, 1.0)], Timestamp::from_secs(0));
        h.record(
            &[Sample {
                value: None,
                ..s(30, 0.0)
            }],
            Timestamp::from_secs(30),
        );
        h.record(&[s(90, 2.0)], Timestamp::from_secs(90));
        let pts = h.points("m", "c").expect("series");
        assert_eq!(pts.len(), 1);
        assert_eq!(pts[0].1, 2.0);
    }
}
