//! Recent samples per series: the windows a diagnosis scores.

use crate::anomaly::{Baseline, MetricScore, RankOptions, Worse, score_window};
use charter_model::{Charter, Direction, Sample, SeriesMap, Timestamp, Violation};
use std::collections::{BTreeSet, HashSet, VecDeque};
use std::time::Duration;

/// A bounded window of `(time, value)` points per `(objective, component)` series.
#[derive(Debug, Clone)]
pub struct History {
    window: Duration,
    /// Points per series, found by the samples' order.
    series: SeriesMap<Points>,
}

/// One series' window, and the statistics of its normal part for the onsets
/// recently asked about.
#[derive(Debug, Clone, Default)]
struct Points {
    /// Whether the series is kept (its component declared), once checked.
    kept: Option<bool>,
    points: VecDeque<(Timestamp, f64)>,
    /// `(cut, baseline of the points before it)`, newest last.
    baselines: Vec<(Timestamp, Baseline)>,
}

/// Baselines kept per series (distinct onsets of the incidents that read it).
const BASELINES_KEPT: usize = 4;

impl History {
    /// Keep points younger than `window`.
    pub fn new(window: Duration) -> Self {
        History {
            window,
            series: SeriesMap::new(),
        }
    }

    /// Add known samples (Unknown ones carry no value to keep) and drop old points.
    /// O(samples) amortised.
    pub fn record(&mut self, samples: &[Sample], now: Timestamp) {
        self.record_where(samples, now, |_| true);
    }

    /// [`History::record`] for the samples whose component passes `keep`, which is
    /// asked once per series.
    pub fn record_where(
        &mut self,
        samples: &[Sample],
        now: Timestamp,
        keep: impl Fn(&str) -> bool,
    ) {
        let cutoff = now.minus(self.window);
        for (k, s) in samples.iter().enumerate() {
            let Some(v) = s.value.filter(|v| v.is_finite()) else {
                continue;
            };
            let series = self.series.at(k, &s.objective, &s.component);
            if !*series.kept.get_or_insert_with(|| keep(&s.component)) {
                continue;
            }
            let q = &mut series.points;
            q.push_back((s.at, v));
            while q.front().is_some_and(|(t, _)| *t < cutoff) {
                q.pop_front();
            }
        }
    }

    /// Points of one series, oldest first.
    pub fn points(&self, objective: &str, component: &str) -> Option<&VecDeque<(Timestamp, f64)>> {
        Some(&self.series.get(objective, component)?.points)
    }

    /// The scores of the metric windows a diagnosis of these member violations looks
    /// at, split two loop intervals before the earliest member's onset (a ramp
    /// starts before its breach): every objective series of the member components,
    /// and of the dependencies a failure could have come up through — a dependency's
    /// own dependencies are read only when one of its series is abnormal (a score of
    /// at least `options.threshold`), since a failure below a healthy component did
    /// not pass through it. A series is read where the history has points for it (the
    /// sources read only the objectives' own components). Used by the controller,
    /// with [`crate::diagnose_scored`]: each window is scored once, from the history's
    /// own points, without copying it into a [`crate::MetricSeries`].
    ///
    /// The statistics of a series' normal window are computed once per onset and
    /// kept (the points before an onset do not change; those the window later drops
    /// were normal all the same).
    ///
    /// Cost: O(v · (o + p)) for v components visited, o objectives, p points, the
    /// first time; then O(v · (o + a)) for a points since the onset.
    pub fn incident_scores(
        &mut self,
        charter: &Charter,
        members: &[Violation],
        unknown: &HashSet<String>,
        options: &RankOptions,
    ) -> IncidentScores {
        let mut out = IncidentScores::default();
        let Some(onset) = members.iter().map(|v| v.since).min() else {
            return out;
        };
        let cut = onset.minus(charter.interval * 2);
        let member_components: BTreeSet<&str> =
            members.iter().map(|v| v.component.as_str()).collect();
        let mut visited: HashSet<&str> = HashSet::new();
        let mut queue: VecDeque<&str> = member_components.iter().copied().collect();
        // Reused for every window: the points after the cut, as slices.
        let (mut values, mut times) = (Vec::new(), Vec::new());
        while let Some(c) = queue.pop_front() {
            if !visited.insert(c) {
                continue;
            }
            let mut abnormal = member_components.contains(c);
            // Whether any of its series has a point since the cut: one without any
            // is unobserved, and the walk goes on through it (a failure below it
            // can reach the members above it unseen).
            let mut seen_since_cut = false;
            for o in &charter.objectives {
                let Some(series) = self.series.get_mut(&o.name, c) else {
                    continue;
                };
                if series.points.is_empty() {
                    continue;
                }
                // Points are in time order: one split, then straight copies.
                let split = series.points.partition_point(|(t, _)| *t < cut);
                seen_since_cut |= split < series.points.len();
                let baseline = match series.baselines.iter().find(|(at, _)| *at == cut) {
                    Some((_, b)) => Some(*b),
                    None => {
                        let normal: Vec<f64> = series.points.range(..split).map(|p| p.1).collect();
                        let b = Baseline::of(&normal);
                        if let Some(b) = b {
                            if series.baselines.len() >= BASELINES_KEPT {
                                series.baselines.remove(0);
                            }
                            series.baselines.push((cut, b));
                        }
                        b
                    }
                };
                out.windows += 1;
                let Some(baseline) = baseline else {
                    continue;
                };
                values.clear();
                times.clear();
                for &(t, v) in series.points.range(split..) {
                    times.push(t);
                    values.push(v);
                }
                let worse = match o.direction {
                    Direction::Above => Worse::Up,
                    Direction::Below => Worse::Down,
                };
                if let Some(s) = score_window(&values, &times, worse, baseline, options) {
                    abnormal |= s.score >= options.threshold;
                    out.scores.push(s.into_metric(c, &o.name, Some(o.signal)));
                }
            }
            let unobserved = (unknown.contains(c) || !seen_since_cut) && !abnormal;
            if unobserved {
                out.unobserved.push(c.to_string());
            }
            if abnormal || unobserved {
                queue.extend(charter.topology.dependencies(c));
            }
        }
        out
    }
}

/// What [`History::incident_scores`] found.
#[derive(Debug, Clone, Default)]
pub struct IncidentScores {
    /// One score per window with points on both sides of the cut.
    pub scores: Vec<MetricScore>,
    /// Windows read (with or without a score).
    pub windows: usize,
    /// Components the walk passed through without a point since the cut (their
    /// metrics are missing): the diagnosis reasons through them.
    pub unobserved: Vec<String>,
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

    #[test]
    fn the_walk_goes_on_through_a_component_without_data() {
        let charter = charter_testkit::charter_from(
            r#"name: t
interval: 15s
source:
  prometheus: { url: "http://127.0.0.1:9" }
components:
  - { name: frontend, depends_on: [api] }
  - { name: api, depends_on: [db] }
  - { name: db }
objectives:
  - name: m
    metric: m
    signal: latency
    above: { warning: 0.5 }
    for: 0s
"#,
        );
        let mut h = History::new(Duration::from_secs(3600));
        for i in 0..60 {
            let t = i * 15;
            let bad = t >= 600;
            let samples: Vec<Sample> = ["frontend", "api", "db"]
                .iter()
                .map(|c| Sample {
                    objective: "m".into(),
                    component: (*c).into(),
                    at: Timestamp::from_secs(t),
                    // api's data stops with the fault; the others' jumps.
                    value: match (bad, *c) {
                        (true, "api") => None,
                        (true, _) => Some(1.0 + (i % 3) as f64 * 0.01),
                        (false, _) => Some(0.1 + (i % 5) as f64 * 0.01),
                    },
                })
                .collect();
            h.record(&samples, Timestamp::from_secs(t));
        }
        let member = charter_testkit::violation("m", "frontend")
            .since(Timestamp::from_secs(600))
            .build();
        let opts = RankOptions::default();
        let scored_components = |unknown: &HashSet<String>| {
            let out =
                h.clone()
                    .incident_scores(&charter, std::slice::from_ref(&member), unknown, &opts);
            let mut c: Vec<String> = out.scores.iter().map(|s| s.component.clone()).collect();
            c.sort();
            c.dedup();
            (c, out.unobserved)
        };
        // Not known to be blind: api's last points look normal and the walk stops there.
        let (seen, unobserved) = scored_components(&HashSet::new());
        assert_eq!(seen, ["api", "frontend"]);
        assert!(unobserved.is_empty());
        // Known to be blind: the walk goes on to db.
        let (seen, unobserved) = scored_components(&HashSet::from(["api".to_string()]));
        assert_eq!(seen, ["api", "db", "frontend"]);
        assert_eq!(unobserved, ["api"]);
    }
}
