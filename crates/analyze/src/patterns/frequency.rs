//! FrequencyAnomaly: an objective violating far more often than its own history.
//!
//! For each `(objective, component)` series, the episodes (violation onsets) of the
//! last [`FrequencyOptions::recent`] are compared with the rate over the baseline
//! before them: a Poisson test says whether the recent count is surprising
//! ([`Verdict::New`]), and a series whose baseline alone predicts at least
//! [`FrequencyOptions::chronic`] episodes per recent window is [`Verdict::Chronic`]
//! — it flaps all the time, and one more episode is no news. The first part of the
//! baseline is the burn-in of a process that just started: with less history than
//! the recent window, nothing is new or chronic.
//!
//! Cost: O(n + r log r) for n episodes of which r are recent (two linear passes,
//! one hash lookup per baseline episode, one Poisson tail per recent series).

use super::poisson_tail;
use charter_model::Timestamp;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// One violation episode: its series and when it began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    pub objective: String,
    pub component: String,
    pub at: Timestamp,
}

/// Settings of [`frequency_anomalies`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrequencyOptions {
    /// The window whose episodes are judged.
    pub recent: Duration,
    /// How far back before the recent window the baseline goes.
    pub baseline: Duration,
    /// Largest Poisson tail probability of a "new" count.
    pub alpha: f64,
    /// Episodes per recent window, predicted by the baseline, from which a series is
    /// chronic.
    pub chronic: f64,
}

impl Default for FrequencyOptions {
    fn default() -> Self {
        FrequencyOptions {
            recent: Duration::from_secs(3600),
            baseline: Duration::from_secs(7 * 24 * 3600),
            alpha: 0.01,
            chronic: 1.0,
        }
    }
}

/// What the history says of a series' recent episodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Far more episodes than the baseline predicts: a new problem.
    New,
    /// The baseline predicts about this many or more: it always does this.
    Chronic,
    /// Neither (including too little history to say).
    Usual,
}

/// The frequency finding for one series.
#[derive(Debug, Clone, PartialEq)]
pub struct FrequencyFinding {
    pub objective: String,
    pub component: String,
    /// Episodes in the recent window.
    pub recent: usize,
    /// Episodes the baseline predicts for the recent window.
    pub expected: f64,
    /// `P(X ≥ recent)` under the baseline rate.
    pub p_value: f64,
    pub verdict: Verdict,
    /// How much history the baseline actually had.
    pub history: Duration,
}

/// Judge every series that had an episode in the recent window before `now`.
/// `first_seen` is when observation began (the baseline cannot predate it).
pub fn frequency_anomalies(
    episodes: &[Episode],
    now: Timestamp,
    first_seen: Timestamp,
    options: &FrequencyOptions,
) -> Vec<FrequencyFinding> {
    let recent_from = now.minus(options.recent);
    let base_from = recent_from.minus(options.baseline).max(first_seen);
    // Only series with a recent episode are judged: count those first, then their
    // baseline episodes with one hash lookup each (most of a week's episodes belong to
    // other series, and a lookup is far cheaper than an ordered insert).
    let mut by_series: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
    for e in episodes {
        if e.at <= now && e.at >= recent_from && e.at >= base_from {
            by_series
                .entry((e.objective.as_str(), e.component.as_str()))
                .or_default()
                .0 += 1;
        }
    }
    if by_series.is_empty() {
        return Vec::new();
    }
    let mut before: HashMap<(&str, &str), usize> = by_series.keys().map(|&k| (k, 0)).collect();
    for e in episodes {
        if e.at < recent_from
            && e.at >= base_from
            && let Some(n) = before.get_mut(&(e.objective.as_str(), e.component.as_str()))
        {
            *n += 1;
        }
    }
    for (k, v) in &mut by_series {
        v.1 = before[k];
    }
    let history = if recent_from > base_from {
        recent_from.since(base_from)
    } else {
        Duration::ZERO
    };
    let windows = history.as_secs_f64() / options.recent.as_secs_f64().max(1.0);
    by_series
        .into_iter()
        .filter(|(_, (recent, _))| *recent > 0)
        .map(|((objective, component), (recent, before))| {
            let (expected, p_value, verdict) = if windows < 1.0 {
                (f64::NAN, 1.0, Verdict::Usual)
            } else {
                // Half an episode of prior: a quiet history is not a zero rate.
                let expected = (before as f64 + 0.5) / windows;
                let p = poisson_tail(recent, expected);
                let verdict = if expected >= options.chronic {
                    Verdict::Chronic
                } else if p < options.alpha {
                    Verdict::New
                } else {
                    Verdict::Usual
                };
                (expected, p, verdict)
            };
            FrequencyFinding {
                objective: objective.to_string(),
                component: component.to_string(),
                recent,
                expected,
                p_value,
                verdict,
                history,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(obj: &str, hours: f64) -> Episode {
        Episode {
            objective: obj.into(),
            component: "api".into(),
            at: Timestamp((hours * 3_600_000.0) as i64),
        }
    }

    #[test]
    fn a_quiet_series_violating_now_is_new_and_a_daily_flapper_is_chronic() {
        let mut eps = vec![
            ep("latency", 47.5),
            ep("latency", 47.8),
            ep("latency", 47.9),
        ];
        // errors flaps twice an hour, every hour, for two days.
        for h in 0..96 {
            eps.push(ep("errors", h as f64 * 0.5));
        }
        let now = Timestamp::from_secs(48 * 3600);
        let found = frequency_anomalies(&eps, now, Timestamp(0), &FrequencyOptions::default());
        let get = |o: &str| found.iter().find(|f| f.objective == o).expect(o);
        assert_eq!(get("latency").verdict, Verdict::New);
        assert_eq!(get("latency").recent, 3);
        assert_eq!(get("errors").verdict, Verdict::Chronic);
        assert!(get("errors").expected > 1.5);
    }

    #[test]
    fn without_enough_history_nothing_is_judged() {
        let eps = vec![ep("latency", 0.2), ep("latency", 0.3)];
        let now = Timestamp::from_secs(1800);
        let found = frequency_anomalies(&eps, now, Timestamp(0), &FrequencyOptions::default());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].verdict, Verdict::Usual);
    }

    #[test]
    fn one_episode_on_a_rarely_violating_series_is_usual() {
        // One episode a day for a week, and one now: as expected.
        let mut eps: Vec<Episode> = (0..7).map(|d| ep("latency", d as f64 * 24.0)).collect();
        eps.push(ep("latency", 7.0 * 24.0 + 0.5));
        let now = Timestamp::from_secs(7 * 24 * 3600 + 3600);
        let found = frequency_anomalies(&eps, now, Timestamp(0), &FrequencyOptions::default());
        assert_eq!(found[0].verdict, Verdict::Usual, "{found:?}");
    }
}
