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
//! Episodes are kept in an [`EpisodeLog`], indexed by series. Cost of judging s
//! series: O(s log k) for k episodes per series (two binary searches each, one
//! Poisson tail per series with a recent episode), whatever the log's length.

use super::burst::{Burst, BurstOptions, bursts_in_order};
use super::poisson_tail;
use charter_model::Timestamp;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;
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

/// The episode log the frequency and burst tests read: every episode kept in time
/// order, and each series' onsets on their own, so that a diagnosis reads its
/// members' series and the burst around its onsets without scanning the log.
///
/// Cost: [`push`](EpisodeLog::push) O(log s) for s series (plus the shift of an
/// out-of-order onset); [`count`](EpisodeLog::count) O(log k) for k episodes of the
/// series; [`burst_at`](EpisodeLog::burst_at) O(n) after a change of the log,
/// O(log b) for b bursts while it is unchanged.
#[derive(Debug, Default)]
pub struct EpisodeLog {
    /// Oldest first.
    all: VecDeque<Episode>,
    /// objective → component → onsets, oldest first.
    by_series: BTreeMap<String, BTreeMap<String, VecDeque<Timestamp>>>,
    /// The bursts of the log as it is, and the options they were found with.
    bursts: Mutex<Option<(BurstOptions, Vec<Burst>)>>,
}

/// The log of no episodes.
static NO_EPISODES: EpisodeLog = EpisodeLog::new();

impl Clone for EpisodeLog {
    fn clone(&self) -> Self {
        EpisodeLog {
            all: self.all.clone(),
            by_series: self.by_series.clone(),
            bursts: Mutex::new(None),
        }
    }
}

impl FromIterator<Episode> for EpisodeLog {
    fn from_iter<I: IntoIterator<Item = Episode>>(iter: I) -> Self {
        let mut log = EpisodeLog::new();
        for e in iter {
            log.push(e);
        }
        log
    }
}

impl EpisodeLog {
    /// An empty log.
    pub const fn new() -> Self {
        EpisodeLog {
            all: VecDeque::new(),
            by_series: BTreeMap::new(),
            bursts: Mutex::new(None),
        }
    }

    /// The empty log, for inputs without history.
    pub fn none() -> &'static EpisodeLog {
        &NO_EPISODES
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Every episode, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Episode> {
        self.all.iter()
    }

    /// Add an episode (in time order or not).
    pub fn push(&mut self, e: Episode) {
        let series = self
            .by_series
            .entry(e.objective.clone())
            .or_default()
            .entry(e.component.clone())
            .or_default();
        insert_sorted(series, e.at, |t| *t);
        insert_sorted(&mut self.all, e, |x| x.at);
        self.changed();
    }

    /// Drop episodes older than `before`, then the oldest beyond `max`.
    pub fn trim(&mut self, before: Timestamp, max: usize) {
        let len = self.all.len();
        while self.all.len() > max || self.all.front().is_some_and(|e| e.at < before) {
            let Some(e) = self.all.pop_front() else {
                break;
            };
            if let Some(by_component) = self.by_series.get_mut(&e.objective) {
                if let Some(series) = by_component.get_mut(&e.component) {
                    series.pop_front();
                    if series.is_empty() {
                        by_component.remove(&e.component);
                    }
                }
                if by_component.is_empty() {
                    self.by_series.remove(&e.objective);
                }
            }
        }
        if self.all.len() != len {
            self.changed();
        }
    }

    fn changed(&mut self) {
        if let Ok(b) = self.bursts.get_mut() {
            *b = None;
        }
    }

    fn series(&self, objective: &str, component: &str) -> Option<&VecDeque<Timestamp>> {
        self.by_series.get(objective)?.get(component)
    }

    /// Episodes of one series with `from <= at <= to`.
    pub fn count(&self, objective: &str, component: &str, from: Timestamp, to: Timestamp) -> usize {
        let Some(s) = self.series(objective, component) else {
            return 0;
        };
        if to < from {
            return 0;
        }
        s.partition_point(|t| *t <= to) - s.partition_point(|t| *t < from)
    }

    /// Whether some episode began exactly at `t`.
    pub fn has_onset_at(&self, t: Timestamp) -> bool {
        let i = self.all.partition_point(|e| e.at < t);
        self.all.get(i).is_some_and(|e| e.at == t)
    }

    /// Every onset, oldest first.
    pub fn onsets(&self) -> impl Iterator<Item = Timestamp> + '_ {
        self.all.iter().map(|e| e.at)
    }

    /// The burst of the log's onsets that contains `t`, if any: what
    /// [`find_bursts`](super::burst::find_bursts) over every onset reports for it.
    /// The log's bursts are found once per change of the log (O(n)); a lookup is
    /// then O(log b).
    pub fn burst_at(&self, t: Timestamp, options: &BurstOptions) -> Option<Burst> {
        let mut cached = self.bursts.lock().ok()?;
        let fresh = cached.as_ref().is_some_and(|(o, _)| o == options);
        if !fresh {
            let found = bursts_in_order(self.all.len(), |i| self.all[i].at, options);
            *cached = Some((*options, found));
        }
        let (_, bursts) = cached.as_ref()?;
        let i = bursts.partition_point(|b| b.end < t);
        bursts.get(i).filter(|b| b.contains(t)).copied()
    }

    /// The frequency finding of each of `series` with an episode in the recent
    /// window before `now` (`first_seen`: when observation began; the baseline
    /// cannot predate it). Each series is judged once.
    pub fn frequency<'s>(
        &self,
        series: impl IntoIterator<Item = (&'s str, &'s str)>,
        now: Timestamp,
        first_seen: Timestamp,
        options: &FrequencyOptions,
    ) -> Vec<FrequencyFinding> {
        let recent_from = now.minus(options.recent);
        let base_from = recent_from.minus(options.baseline).max(first_seen);
        let history = if recent_from > base_from {
            recent_from.since(base_from)
        } else {
            Duration::ZERO
        };
        let windows = history.as_secs_f64() / options.recent.as_secs_f64().max(1.0);
        let wanted: BTreeSet<(&str, &str)> = series.into_iter().collect();
        let mut out = Vec::new();
        for (objective, component) in wanted {
            let recent = self.count(objective, component, recent_from.max(base_from), now);
            if recent == 0 {
                continue;
            }
            // Strictly before the recent window.
            let before = self.series(objective, component).map_or(0, |s| {
                if base_from < recent_from {
                    s.partition_point(|t| *t < recent_from) - s.partition_point(|t| *t < base_from)
                } else {
                    0
                }
            });
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
            out.push(FrequencyFinding {
                objective: objective.to_string(),
                component: component.to_string(),
                recent,
                expected,
                p_value,
                verdict,
                history,
            });
        }
        out
    }
}

/// Insert keeping `q` sorted by `key` (after equal keys); O(1) when `x` is newest.
fn insert_sorted<T, K: Ord>(q: &mut VecDeque<T>, x: T, key: impl Fn(&T) -> K) {
    let k = key(&x);
    if q.back().is_none_or(|b| key(b) <= k) {
        q.push_back(x);
    } else {
        let i = q.partition_point(|y| key(y) <= k);
        q.insert(i, x);
    }
}

/// Judge every series that had an episode in the recent window before `now`.
/// `first_seen` is when observation began (the baseline cannot predate it).
pub fn frequency_anomalies(
    episodes: &EpisodeLog,
    now: Timestamp,
    first_seen: Timestamp,
    options: &FrequencyOptions,
) -> Vec<FrequencyFinding> {
    let series = episodes
        .by_series
        .iter()
        .flat_map(|(o, by_component)| by_component.keys().map(move |c| (o.as_str(), c.as_str())));
    episodes.frequency(series, now, first_seen, options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patterns::burst::find_bursts;

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
        let found = frequency_anomalies(
            &eps.into_iter().collect(),
            now,
            Timestamp(0),
            &FrequencyOptions::default(),
        );
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
        let found = frequency_anomalies(
            &eps.into_iter().collect(),
            now,
            Timestamp(0),
            &FrequencyOptions::default(),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].verdict, Verdict::Usual);
    }

    #[test]
    fn one_episode_on_a_rarely_violating_series_is_usual() {
        // One episode a day for a week, and one now: as expected.
        let mut eps: Vec<Episode> = (0..7).map(|d| ep("latency", d as f64 * 24.0)).collect();
        eps.push(ep("latency", 7.0 * 24.0 + 0.5));
        let now = Timestamp::from_secs(7 * 24 * 3600 + 3600);
        let found = frequency_anomalies(
            &eps.into_iter().collect(),
            now,
            Timestamp(0),
            &FrequencyOptions::default(),
        );
        assert_eq!(found[0].verdict, Verdict::Usual, "{found:?}");
    }

    #[test]
    fn the_log_keeps_order_counts_per_series_and_refinds_bursts_after_a_change() {
        let mut log = EpisodeLog::new();
        for h in [3.0, 1.0, 2.0, 5.0] {
            log.push(ep("latency", h));
        }
        log.push(ep("errors", 4.0));
        let times: Vec<f64> = log.onsets().map(|t| t.0 as f64 / 3_600_000.0).collect();
        assert_eq!(times, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        let h = |x: f64| Timestamp((x * 3_600_000.0) as i64);
        assert_eq!(log.count("latency", "api", h(1.0), h(3.0)), 3);
        assert_eq!(log.count("errors", "api", h(0.0), h(9.0)), 1);
        assert_eq!(log.count("nothing", "api", h(0.0), h(9.0)), 0);
        assert!(log.has_onset_at(h(4.0)) && !log.has_onset_at(h(4.5)));
        // The burst around an onset is the one found over the whole log: none, then
        // three onsets within a minute.
        let opts = BurstOptions::default();
        assert_eq!(log.burst_at(h(5.0), &opts), None);
        for s in [0.0, 20.0, 40.0] {
            log.push(ep("latency", 5.5 + s / 3600.0));
        }
        let onsets: Vec<Timestamp> = log.onsets().collect();
        let all = find_bursts(&onsets, &opts);
        assert_eq!(all.len(), 1);
        for t in onsets.iter().copied().chain([h(5.505), h(5.52)]) {
            assert_eq!(
                log.burst_at(t, &opts),
                all.iter().find(|b| b.contains(t)).copied(),
                "at {t}"
            );
        }
        // Trimming by age, then by count, keeps the per-series index in step.
        log.trim(h(2.5), usize::MAX);
        assert_eq!(log.len(), 6);
        assert_eq!(log.count("latency", "api", h(0.0), h(9.0)), 5);
        log.trim(h(0.0), 2);
        assert_eq!(log.len(), 2);
        assert_eq!(log.count("latency", "api", h(0.0), h(9.0)), 2);
        assert_eq!(log.count("errors", "api", h(0.0), h(9.0)), 0);
    }
}
