//! Root-cause ranking from metric history alone: robust anomaly scores per metric,
//! aggregated to components, optionally narrowed through the dependency graph.
//!
//! Complexity, for C series of at most n points, K components, V + E in the graph:
//! - [`score_series`]: O(n log n) (sorting for the median, quartiles and deviations).
//! - [`rank_root_causes`]: O(C · n log n + K log K + V + E).
//! - [`detect_onset`]: O(C · n log n) (ranks per series, then one pass per series).
//!
//! The score of a metric is BARO's robust z: how far the anomalous window got from
//! the normal window's median (the `min_points`-th largest deviation; 1 = the worst
//! point), in units of the normal window's robust standard deviation (IQR / 1.349).
//! Dividing by a spread measured on the same series makes the score independent of
//! the unit a metric is recorded in — bytes and megabytes score the same — which is
//! what lets memory and CPU compete fairly. Quartiles tolerate a normal window that
//! is up to a quarter contaminated by the fault (a detector that fires late), where a
//! standard deviation would be inflated by it. Only the harmful direction counts
//! ([`Worse`]), and the scale never drops below a noise floor learned per series:
//! a small fraction of the metric's level, or the series' own largest normal
//! excursion when it is steadier than that (at least a quarter of the fraction), so
//! that a very smooth series (memory) does not turn a drift into a fault while a
//! small fault on a steady one (availability 100 → 99.3 %) still shows. A series
//! exactly constant while normal is a flag: leaving its value is a change of state,
//! scored between the threshold and twice it, never more. A sparse counter of work
//! (mostly at its median, with bursts: disk reads) is scaled by its bursts — at
//! least half the largest normal one ([`ScaleKind::Bursts`]) — so an ordinary burst
//! is no anomaly; request outcomes keep the sharper mean absolute deviation.
//!
//! [`baseline_drift`] tells when most series shifted as a whole (a normal window
//! far from the incident); [`detect_onset`] says how sure it is of the onset.
//!
//! A component scores the maximum over its metrics. Without a graph, abnormal
//! components rank by score. With one, a fault shows on the faulty component and on
//! its callers: components whose anomaly is matched by an abnormal dependency's come
//! last, and the rest are ordered by how many abnormal callers they have, then score.
//!
//! Which column belongs to which component is the caller's mapping
//! ([`MetricSeries::component`]); the analysis knows no dataset.

use charter_model::{Signal, Timestamp};
use serde::Serialize;
use std::time::Duration;

/// IQR of a standard normal distribution: IQR / 1.349 estimates σ.
const IQR_TO_SD: f64 = 1.349;
/// MAD of a standard normal distribution is σ / 1.4826.
const MAD_TO_SD: f64 = 1.4826;
/// Mean absolute deviation of a standard normal is σ · √(2/π).
const MEAN_AD_TO_SD: f64 = 1.253_314;
/// Scale of a window that was exactly constant, relative to its level (or to the
/// excursion when the level is zero): such a series scores at most 1 / this.
const CONSTANT_FLOOR: f64 = 1e-3;
/// The least a learned noise floor goes, as a share of the relative floor: a
/// series steadier than the relative floor keeps its own largest normal excursion
/// as its floor, but never below a quarter of the relative one (a short normal
/// window of a smooth series, memory say, understates how far it wanders; measured
/// on the synthetic injections into Sock Shop and PetShop normal data, a quarter
/// kept their specificity where no lower bound lost a third of it).
const LEARNED_FLOOR_MIN: f64 = 0.25;
/// The least scale of a sparse series (see [`ScaleKind::Bursts`]), as a share of
/// its largest normal burst: with the threshold at 5, a burst 2.5 times the largest
/// seen while normal is an anomaly. Measured on Sock Shop chaos (the whole burst as
/// the scale ranked one more container fault first but lost a node fault's top 3).
const BURST_SHARE: f64 = 0.5;

/// One metric of one component, split into a normal and an anomalous window.
/// Non-finite values (missing points) are ignored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricSeries {
    /// The component the metric belongs to (the caller's mapping).
    pub component: String,
    /// The metric's name, used in evidence.
    pub metric: String,
    /// What the metric measures, if the caller knows: it names the cause class and
    /// tells symptoms a caller inherits (latency, errors) from a component's own
    /// (memory, CPU).
    pub signal: Option<Signal>,
    /// Points known to be normal (before the onset).
    pub normal: Vec<f64>,
    /// Points to be judged (after the onset).
    pub anomalous: Vec<f64>,
    /// When each anomalous point was taken (same length as `anomalous`), or empty
    /// when unknown; gives the time a metric turned abnormal.
    pub times: Vec<Timestamp>,
    /// Which departures from normal count (what the metric means is the caller's
    /// knowledge: latency is bad when high, availability when low).
    pub worse: Worse,
    /// The statistics of the normal window, when the caller already has them (the
    /// controller's history keeps them per onset); `normal` is then not read.
    pub baseline: Option<Baseline>,
}

/// What scoring needs of a normal window: its median and robust spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    pub median: f64,
    /// Robust standard deviation and how it was obtained (IQR, then MAD, then mean
    /// absolute deviation); `None` for an exactly constant window, which is then
    /// judged as a flag (see [`score_window`]).
    pub spread: Option<(f64, ScaleKind)>,
    /// The largest distance of a normal point from the median: how far the series
    /// strayed while normal, the noise floor it has shown (0 for a constant window).
    pub excursion: f64,
}

impl Baseline {
    /// The statistics of `normal`'s finite points; `None` when it has none. O(n).
    pub fn of(normal: &[f64]) -> Option<Baseline> {
        let mut window: Vec<f64> = normal.iter().copied().filter(|x| x.is_finite()).collect();
        if window.is_empty() {
            return None;
        }
        // Order statistics by selection (O(n)) rather than a sort: the same values.
        let median = quantile(&mut window, 0.5);
        let excursion = window
            .iter()
            .map(|x| (x - median).abs())
            .fold(0.0, f64::max);
        let iqr = quantile(&mut window, 0.75) - quantile(&mut window, 0.25);
        if iqr > 0.0 {
            return Some(Baseline {
                median,
                spread: Some((iqr / IQR_TO_SD, ScaleKind::Iqr)),
                excursion,
            });
        }
        let mut dev: Vec<f64> = window.iter().map(|x| (x - median).abs()).collect();
        let mad = quantile(&mut dev, 0.5);
        let mean_ad = dev.iter().sum::<f64>() / dev.len() as f64;
        let spread = if mad > 0.0 {
            Some((mad * MAD_TO_SD, ScaleKind::Mad))
        } else if mean_ad > 0.0 {
            Some((mean_ad * MEAN_AD_TO_SD, ScaleKind::MeanAbsDev))
        } else {
            None
        };
        Some(Baseline {
            median,
            spread,
            excursion,
        })
    }

    /// The robust standard deviation, never zero unless `excursion` is zero: any
    /// positive scale is arbitrary for a constant window; a fraction of its level
    /// keeps the score unit-free, and capping at 1 / CONSTANT_FLOOR keeps it finite.
    fn scale(&self, excursion: f64) -> (f64, ScaleKind) {
        if let Some(s) = self.spread {
            return s;
        }
        let level = if self.median != 0.0 {
            self.median.abs().max(excursion)
        } else {
            excursion
        };
        (level * CONSTANT_FLOOR, ScaleKind::Constant)
    }
}

/// Which direction of departure from normal is abnormal for a metric.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Worse {
    /// Rising is abnormal (latency, resource use, errors).
    Up,
    /// Falling is abnormal (availability, success ratio).
    Down,
    /// Either direction.
    #[default]
    Either,
}

/// How the robust scale of a series was obtained; later kinds are fallbacks for
/// normal windows with fewer distinct values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleKind {
    /// Interquartile range / 1.349.
    Iqr,
    /// Median absolute deviation · 1.4826 (the IQR was zero).
    Mad,
    /// Mean absolute deviation from the median · 1.2533 (IQR and MAD were zero).
    MeanAbsDev,
    /// The normal window was constant: the series is judged as a flag (a change of
    /// state scores between the threshold and twice it); the scale shown is a small
    /// fraction of its level (or of the anomalous excursion, when the level is zero).
    Constant,
    /// The robust spread was below [`RankOptions::relative_floor`] of the level.
    RelativeFloor,
    /// A sparse series of work done (IQR and MAD zero: over half its normal points
    /// at the median, the rest bursts; not a request outcome): the scale is half
    /// its largest normal burst, when that exceeds the mean absolute deviation.
    Bursts,
    /// The robust spread was below the largest excursion of the normal window,
    /// itself below [`RankOptions::relative_floor`] of the level: a series steadier
    /// than the relative floor keeps its own, smaller noise floor.
    NormalRange,
}

/// The anomaly score of one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricScore {
    /// Component of the metric.
    pub component: String,
    /// Metric name.
    pub metric: String,
    /// The `min_points`-th largest harmful deviation from the normal median over the
    /// anomalous window, divided by the scale (≥ 0).
    pub score: f64,
    /// The anomalous value at which the score was reached.
    pub peak: f64,
    /// Median of the normal window.
    pub median: f64,
    /// Median of the anomalous window, whatever the direction judged harmful: with
    /// `median`, how far the level moved (offered load against utilization, say).
    pub level: f64,
    /// Robust standard deviation of the normal window.
    pub scale: f64,
    /// How the scale was obtained.
    pub scale_kind: ScaleKind,
    /// What the metric measures, from the series.
    pub signal: Option<Signal>,
    /// When the harmful deviation first reached the threshold (needs the series'
    /// `times`).
    pub onset: Option<Timestamp>,
    /// Least-squares slope of the anomalous window per minute, in the metric's unit
    /// (needs `times` and three points).
    pub slope_per_minute: Option<f64>,
}

/// Settings of the metric scores and of [`crate::diagnose`].
#[derive(Debug, Clone, PartialEq)]
pub struct RankOptions {
    /// A metric is abnormal when its score reaches this many robust standard
    /// deviations; a component with no abnormal metric and no violation is never
    /// blamed.
    pub threshold: f64,
    /// Evidence lines kept per component (its highest-scoring metrics).
    pub max_evidence: usize,
    /// The smallest scale a series gets, as a fraction of its normal level. A
    /// smooth series (memory in use) can have a robust spread of a few parts per
    /// million of its level; without a floor a drift that nobody would call a fault
    /// outscores a real one. Unit-free, like the robust z itself. A series that
    /// never strayed that far while normal gets its own largest normal excursion as
    /// its floor instead (at least a quarter of this one): a noise floor learned per
    /// series ([`ScaleKind::NormalRange`]). A series constant while normal is a flag
    /// ([`ScaleKind::Constant`]): moves smaller than this share are no change of state.
    pub relative_floor: f64,
    /// A metric's score is its `min_points`-th largest deviation — how abnormal it
    /// stayed for at least this many points — or its largest divided by
    /// `min_points`, whichever is larger (1 = the single worst point, BARO's max).
    pub min_points: usize,
    /// Onsets closer than this count as simultaneous (propagation).
    pub onset_tolerance: Duration,
    /// How long before a component's onset a deploy or config change still counts as
    /// its likely cause.
    pub change_window: Duration,
    /// Burst detection over violation onsets.
    pub burst: crate::patterns::burst::BurstOptions,
    /// Frequency test of each violating series against its own history.
    pub frequency: crate::patterns::frequency::FrequencyOptions,
}

impl Default for RankOptions {
    fn default() -> Self {
        // Five robust sd: the conventional "clearly anomalous" cut for MAD scores,
        // and beyond what the maximum of a few hundred Gaussian points reaches (≈ 3.5).
        Self {
            threshold: 5.0,
            max_evidence: 3,
            // Changes smaller than 0.2 % of a metric's level are treated as noise (an
            // availability of 99.4 % against 100 % is 3 floors, not an anomaly).
            relative_floor: 0.002,
            // BARO's choice, the single worst point: with a few points per window
            // (5-minute data) a fault may last only two or three of them.
            min_points: 1,
            // One or two loop intervals, or a few points of 15-second data.
            onset_tolerance: Duration::from_secs(60),
            change_window: Duration::from_secs(15 * 60),
            burst: Default::default(),
            frequency: Default::default(),
        }
    }
}

/// Score one series against its normal window; `None` when either window has no
/// finite point. Uses [`RankOptions::min_points`] and [`RankOptions::relative_floor`].
/// O(n) once the normal window's [`Baseline`] is known (selection, not sorting).
pub fn score_series(series: &MetricSeries, options: &RankOptions) -> Option<MetricScore> {
    let baseline = match series.baseline {
        Some(b) => b,
        None => Baseline::of(&series.normal)?,
    };
    let s = score_window_of(
        &series.anomalous,
        &series.times,
        series.worse,
        baseline,
        options,
        series.signal,
    )?;
    Some(s.into_metric(&series.component, &series.metric, series.signal))
}

/// The numbers of a [`MetricScore`], without its names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowScore {
    pub score: f64,
    pub peak: f64,
    pub median: f64,
    /// Median of the anomalous window.
    pub level: f64,
    pub scale: f64,
    pub scale_kind: ScaleKind,
    pub onset: Option<Timestamp>,
    pub slope_per_minute: Option<f64>,
}

impl WindowScore {
    /// The score of `metric` on `component`.
    pub fn into_metric(self, component: &str, metric: &str, signal: Option<Signal>) -> MetricScore {
        MetricScore {
            component: component.to_string(),
            metric: metric.to_string(),
            score: self.score,
            peak: self.peak,
            median: self.median,
            level: self.level,
            scale: self.scale,
            scale_kind: self.scale_kind,
            signal,
            onset: self.onset,
            slope_per_minute: self.slope_per_minute,
        }
    }
}

/// Score an anomalous window (`times`: when each value was taken, or empty) against
/// the statistics of its normal window: [`score_series`] on borrowed points, which
/// allocates only when [`RankOptions::min_points`] is above 1. `None` when the window
/// has no finite value. O(n).
pub fn score_window(
    values: &[f64],
    times: &[Timestamp],
    worse: Worse,
    baseline: Baseline,
    options: &RankOptions,
) -> Option<WindowScore> {
    score_window_of(values, times, worse, baseline, options, None)
}

fn score_window_of(
    values: &[f64],
    times: &[Timestamp],
    worse: Worse,
    baseline: Baseline,
    options: &RankOptions,
    signal: Option<Signal>,
) -> Option<WindowScore> {
    let finite = || values.iter().copied().filter(|x| x.is_finite());
    let median = baseline.median;
    let dev = |x: f64| (x, harm(worse, x, median));
    // An anomaly must last `min_points` points (the k-th largest deviation), or one
    // point must go k times as far: a single stray sample needs to be extreme.
    // Largest deviation first (ties: the lower value); the first and the k-th by
    // selection.
    let order =
        |a: &(f64, f64), b: &(f64, f64)| b.1.total_cmp(&a.1).then_with(|| a.0.total_cmp(&b.0));
    // One pass: how many finite points, and the first in that order.
    let (n, first) = finite().map(dev).fold((0, None), |(n, best), d| {
        let best = match best {
            Some(b) if order(&b, &d) != std::cmp::Ordering::Greater => b,
            _ => d,
        };
        (n + 1, Some(best))
    });
    let first = first?;
    let k = options.min_points.clamp(1, n);
    let kth = if k == 1 {
        first
    } else {
        let mut devs: Vec<(f64, f64)> = finite().map(dev).collect();
        *devs.select_nth_unstable_by(k - 1, order).1
    };
    let (peak, max_dev) = if kth.1 >= first.1 / k as f64 {
        kth
    } else {
        (first.0, first.1 / k as f64)
    };
    let max_dev = if max_dev > 0.0 { max_dev } else { 0.0 };
    let peak = if max_dev > 0.0 { peak } else { median };
    let (mut scale, mut scale_kind) = baseline.scale(max_dev);
    let flag = baseline.spread.is_none();
    if !flag {
        // The noise floor is learned from the series: a share of its level, unless
        // it never strayed that far while normal — then its own largest excursion.
        let relative = options.relative_floor * median.abs();
        let (floor, kind) = if baseline.excursion < relative {
            (
                baseline.excursion.max(relative * LEARNED_FLOOR_MIN),
                ScaleKind::NormalRange,
            )
        } else {
            (relative, ScaleKind::RelativeFloor)
        };
        if floor > scale {
            (scale, scale_kind) = (floor, kind);
        }
        // A sparse series (over half its normal points exactly at the median, the
        // rest bursts: bytes read from disk, packets of a periodic job) has no
        // quartile or MAD spread, and the mean absolute deviation of a few bursts
        // says little of how large they get. Its bursts are its noise: the scale is
        // at least a share of the largest one seen while normal, so a burst must go
        // `threshold / BURST_SHARE` times that far to count. Request outcomes
        // (errors, availability, latency) keep the mean deviation: any failure
        // beyond the usual few is harm. Series of unknown meaning keep it too.
        let sparse = matches!(baseline.spread, Some((_, ScaleKind::MeanAbsDev)));
        let work = signal
            .is_some_and(|s| !matches!(s, Signal::Errors | Signal::Availability | Signal::Latency));
        let bursts = baseline.excursion * BURST_SHARE;
        if sparse && work && bursts > scale {
            (scale, scale_kind) = (bursts, ScaleKind::Bursts);
        }
    }
    let score = if max_dev == 0.0 {
        0.0
    } else if flag {
        flag_score(
            values,
            worse,
            median,
            options.relative_floor * median.abs(),
            options.threshold,
        )
    } else {
        max_dev / scale
    };
    let (onset, slope_per_minute) = if times.len() == values.len() {
        // A flag's onset is its first change of state.
        let limit = if flag {
            f64::MIN_POSITIVE
        } else {
            options.threshold * scale
        };
        let onset = values
            .iter()
            .zip(times)
            .find(|(x, _)| x.is_finite() && harm(worse, **x, median) >= limit)
            .map(|(_, t)| *t);
        (onset, slope(times, values))
    } else {
        (None, None)
    };
    let level = {
        let mut v: Vec<f64> = finite().collect();
        let mid = v.len() / 2;
        *v.select_nth_unstable_by(mid, f64::total_cmp).1
    };
    Some(WindowScore {
        score,
        peak,
        median,
        level,
        scale,
        scale_kind,
        onset,
        slope_per_minute,
    })
}

/// The score of a series that was exactly constant while normal (a flag: 100 %
/// available, 0 errors): a change of state is evidence, but its size in units of a
/// spread of zero means nothing. A point has changed state when it moved by more
/// than `material` (the relative floor of its level: a byte more of memory is no
/// new state; any move off zero is). With any point changed, it scores the
/// threshold raised by the share of the window spent in the changed state, to
/// twice the threshold at most: enough to make its component abnormal, never
/// enough to outweigh a measured anomaly. O(n).
fn flag_score(values: &[f64], worse: Worse, median: f64, material: f64, threshold: f64) -> f64 {
    let (mut n, mut changed) = (0usize, 0usize);
    for &x in values.iter().filter(|x| x.is_finite()) {
        n += 1;
        if harm(worse, x, median) > material {
            changed += 1;
        }
    }
    if changed == 0 {
        return 0.0;
    }
    threshold * (1.0 + changed as f64 / n.max(1) as f64)
}

/// The harmful deviation of `x` from `median`, never negative.
fn harm(worse: Worse, x: f64, median: f64) -> f64 {
    match worse {
        Worse::Up => x - median,
        Worse::Down => median - x,
        Worse::Either => (x - median).abs(),
    }
    .max(0.0)
}

/// Least-squares slope per minute of finite points; `None` below three points.
fn slope(times: &[Timestamp], values: &[f64]) -> Option<f64> {
    let pts = || {
        times
            .iter()
            .zip(values)
            .filter(|(_, v)| v.is_finite())
            .map(|(t, v)| (t.as_secs_f64() / 60.0, *v))
    };
    // Two passes (means, then centred sums), each sum accumulated in point order.
    let (count, sx, sy) = pts().fold((0usize, 0.0, 0.0), |(c, sx, sy), p| {
        (c + 1, sx + p.0, sy + p.1)
    });
    if count < 3 {
        return None;
    }
    let n = count as f64;
    let (mx, my) = (sx / n, sy / n);
    let (sxx, sxy) = pts().fold((0.0, 0.0), |(sxx, sxy), p| {
        (sxx + (p.0 - mx).powi(2), sxy + (p.0 - mx) * (p.1 - my))
    });
    (sxx > 0.0).then(|| sxy / sxx)
}

/// Linear-interpolated quantile of a non-empty slice without NaN (numpy's default),
/// by selection: O(n) on average; reorders `values`.
fn quantile(values: &mut [f64], q: f64) -> f64 {
    let pos = q * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let (_, at_lo, above) = values.select_nth_unstable_by(lo, f64::total_cmp);
    let at_lo = *at_lo;
    // The next order statistic is the least of those above.
    match above.iter().copied().min_by(f64::total_cmp) {
        Some(at_hi) if pos > lo as f64 => at_lo + (at_hi - at_lo) * (pos - lo as f64),
        _ => at_lo,
    }
}

/// Linear-interpolated quantile of a sorted non-empty slice (numpy's default).
#[cfg(test)]
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// "catalogue_cpu rose to 9.3 robust sd above its normal median (0.84 → 3.1)".
pub(crate) fn describe(m: &MetricScore) -> String {
    if m.scale_kind == ScaleKind::Constant {
        return format!(
            "{}: {} left the value it kept all through the normal window ({} → {})",
            m.component,
            m.metric,
            short(m.median),
            short(m.peak)
        );
    }
    let dir = if m.peak >= m.median {
        "rose to"
    } else {
        "fell to"
    };
    let side = if m.peak >= m.median { "above" } else { "below" };
    format!(
        "{}: {} {dir} {:.1} robust sd {side} its normal median ({} → {})",
        m.component,
        m.metric,
        m.score,
        short(m.median),
        short(m.peak)
    )
}

/// A number in 4 significant digits, without exponent for everyday magnitudes.
pub(crate) fn short(x: f64) -> String {
    if x != 0.0 && (x.abs() >= 1e6 || x.abs() < 1e-3) {
        format!("{x:.3e}")
    } else {
        format!("{}", (x * 1e4).round() / 1e4)
    }
}

/// Most series seen in an incident shifted as a whole: the normal window looks
/// recorded far from the incident (another day, another release, another load) or
/// the whole system moved, and then half the graph looks abnormal for no reason
/// that concerns the incident. Found by [`baseline_drift`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// Series whose whole anomalous window (its median, not just its peak) sits
    /// beyond the threshold from the normal median.
    pub shifted: usize,
    /// Of them, how many moved up and how many down.
    pub up: usize,
    pub down: usize,
    /// Series judged (flags, constant while normal, are states and not counted).
    pub series: usize,
}

impl Drift {
    /// One line of evidence.
    pub fn describe(&self) -> String {
        format!(
            "baseline drift: {} of {} series ({} up, {} down) sit shifted over the whole \
             anomalous window, not just at a peak: the normal window may be far from the \
             incident in time or the whole system moved; this ranking is unreliable",
            self.shifted, self.series, self.up, self.down
        )
    }
}

/// Fewest series [`baseline_drift`] judges: with fewer, "most of them" is no sign of
/// anything system-wide.
pub const DRIFT_MIN_SERIES: usize = 6;

/// Whether more than half of the scored series (at least [`DRIFT_MIN_SERIES`])
/// shifted as a whole: the median of the anomalous window is `threshold` robust sd
/// or more from the normal median, in either direction. A fault moves its own
/// component's series and those of the components it reaches; a baseline from
/// another period moves nearly everything. O(S).
pub fn baseline_drift(scores: &[MetricScore], threshold: f64) -> Option<Drift> {
    let judged = scores
        .iter()
        .filter(|m| m.scale_kind != ScaleKind::Constant && m.scale > 0.0 && m.level.is_finite());
    let (mut series, mut up, mut down) = (0, 0, 0);
    for m in judged {
        series += 1;
        let z = (m.level - m.median) / m.scale;
        if z >= threshold {
            up += 1;
        } else if z <= -threshold {
            down += 1;
        }
    }
    let shifted = up + down;
    (series >= DRIFT_MIN_SERIES && 2 * shifted > series).then_some(Drift {
        shifted,
        up,
        down,
        series,
    })
}

/// A change point found by [`detect_onset`], with how sure it is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Onset {
    /// Index of the first point after the change.
    pub index: usize,
    /// Mean squared standardised Pettitt statistic over the series at `index`; under
    /// no change each term is about χ²(1), so values far above 1 mean a real change.
    pub strength: f64,
    /// How many series change significantly at `index` (their own statistic beyond
    /// [`ONSET_SIGNIFICANT`]): the onset explains them.
    pub explained: usize,
    /// How many series varied (the others cannot tell when anything changed).
    pub series: usize,
    /// The splits around `index` (first and last, inclusive) that explain as many
    /// series with a mean statistic within 1 of the best: the onset is known to this
    /// interval, no better.
    pub interval: (usize, usize),
    /// The best split outside that interval, at least `min_segment` away from
    /// `index`, if any: the second-best explanation of the data.
    pub runner_up: Option<RunnerUp>,
}

/// The second-best onset of a [`detect_onset`] search.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RunnerUp {
    pub index: usize,
    pub strength: f64,
    pub explained: usize,
}

impl Onset {
    /// How far ahead of the runner-up the onset is, in series explained and in mean
    /// statistic; `None` when there is no runner-up (the data allowed one onset).
    pub fn margin(&self) -> Option<(isize, f64)> {
        self.runner_up.map(|r| {
            (
                self.explained as isize - r.explained as isize,
                self.strength - r.strength,
            )
        })
    }
}

/// A series changes significantly at a split when its squared standardised
/// Pettitt statistic exceeds this: the χ²(1) quantile of 0.999.
pub const ONSET_SIGNIFICANT: f64 = 10.83;

/// Find when the system changed, from aligned series alone (each `columns[c][t]` is
/// series c at time t; non-finite points take their previous value).
///
/// Each series is reduced to ranks, so units and outliers do not matter, and gets a
/// Pettitt (Mann–Whitney) statistic for every split point, standardised by its
/// variance under "no change". The onset is the split, at least `min_segment` points
/// from either end, that explains the most series — where the most series change
/// significantly ([`ONSET_SIGNIFICANT`]) — and among those the one where the mean
/// of the squared statistics is largest. Counting series first keeps a few series
/// drifting for a long time (whose statistic peaks mid-way and is huge) from
/// outvoting many series that all changed at once near an end (a short incident
/// after a long normal stretch). The result states its uncertainty: the interval of
/// splits about as good, and the best split away from it with its margin. `None`
/// when there are too few points or no series varies. O(C · n log n).
pub fn detect_onset(columns: &[Vec<f64>], min_segment: usize) -> Option<Onset> {
    let n = columns.iter().map(Vec::len).min()?;
    let min_segment = min_segment.max(1);
    if n < 2 * min_segment {
        return None;
    }
    let mut total = vec![0.0; n];
    let mut count = vec![0usize; n];
    let mut used = 0usize;
    for col in columns {
        let filled = forward_fill(&col[..n]);
        let Some(filled) = filled else { continue };
        let ranks = average_ranks(&filled);
        if ranks.iter().all(|&r| r == ranks[0]) {
            continue;
        }
        used += 1;
        let nf = n as f64;
        let mut prefix = 0.0;
        for t in 1..n {
            prefix += ranks[t - 1];
            let tf = t as f64;
            let u = 2.0 * prefix - tf * (nf + 1.0);
            let var = tf * (nf - tf) * (nf + 1.0) / 3.0;
            let z2 = u * u / var;
            total[t] += z2;
            if z2 >= ONSET_SIGNIFICANT {
                count[t] += 1;
            }
        }
    }
    if used == 0 {
        return None;
    }
    let mean = |t: usize| total[t] / used as f64;
    // More series explained first, then the larger mean statistic, then earlier.
    let better = |a: usize, b: usize| {
        count[a]
            .cmp(&count[b])
            .then_with(|| mean(a).total_cmp(&mean(b)))
            .then_with(|| b.cmp(&a))
    };
    let splits = min_segment..=n - min_segment;
    let best = splits.clone().max_by(|&a, &b| better(a, b))?;
    let close = |t: usize| count[t] == count[best] && mean(t) >= mean(best) - 1.0;
    let mut lo = best;
    while lo > min_segment && close(lo - 1) {
        lo -= 1;
    }
    let mut hi = best;
    while hi < n - min_segment && close(hi + 1) {
        hi += 1;
    }
    let runner_up = splits
        .filter(|&t| (t < lo || t > hi) && t.abs_diff(best) >= min_segment)
        .max_by(|&a, &b| better(a, b))
        .map(|t| RunnerUp {
            index: t,
            strength: mean(t),
            explained: count[t],
        });
    Some(Onset {
        index: best,
        strength: mean(best),
        explained: count[best],
        series: used,
        interval: (lo, hi),
        runner_up,
    })
}

/// Replace non-finite points by the previous finite one (leading ones by the first);
/// `None` if there is none.
fn forward_fill(col: &[f64]) -> Option<Vec<f64>> {
    let first = col.iter().copied().find(|x| x.is_finite())?;
    let mut last = first;
    Some(
        col.iter()
            .map(|&x| {
                if x.is_finite() {
                    last = x;
                }
                last
            })
            .collect(),
    )
}

/// Ranks 1..=n, ties sharing their average rank. O(n log n).
fn average_ranks(xs: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..xs.len()).collect();
    idx.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut ranks = vec![0.0; xs.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && xs[idx[j + 1]] == xs[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = avg;
        }
        i = j + 1;
    }
    ranks
}

#[cfg(test)]
mod tests;
