use super::*;
use crate::patterns::frequency::EpisodeLog;
use crate::rootcause::{DiagnosisInput, diagnose};
use charter_model::IncidentId;
use charter_model::{Hypothesis, Timestamp, Topology};
use charter_testkit::topology;

/// The diagnosis over metric windows alone, as replay and the dataset harness run it.
fn rank_root_causes(
    series: &[MetricSeries],
    graph: Option<&Topology>,
    target: Option<&str>,
    options: &RankOptions,
) -> Vec<Hypothesis> {
    diagnose(DiagnosisInput {
        incident_id: IncidentId(0),
        now: Timestamp(0),
        violations: &[],
        series,
        topology: graph,
        zones: None,
        nodes: None,
        changes: &[],
        refuted: &[],
        episodes: EpisodeLog::none(),
        observed_since: Timestamp(0),
        unobserved: &[],
        target,
        options,
    })
    .hypotheses
}

/// Deterministic noise in [-1, 1) (xorshift), so tests need no dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// A series of `n` normal and `n` anomalous points around `level` with noise of
/// amplitude `noise`, the anomalous half shifted by `step`.
fn series(comp: &str, metric: &str, level: f64, noise: f64, step: f64, seed: u64) -> MetricSeries {
    let mut rng = Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let n = 200;
    MetricSeries {
        component: comp.into(),
        metric: metric.into(),
        normal: (0..n).map(|_| level + noise * rng.next()).collect(),
        anomalous: (0..n).map(|_| level + step + noise * rng.next()).collect(),
        worse: Worse::Either,
        ..MetricSeries::default()
    }
}

fn shop(step_on: Option<&str>) -> Vec<MetricSeries> {
    let mut out = Vec::new();
    for (i, comp) in ["front", "api", "db", "cache"].into_iter().enumerate() {
        let step = if step_on == Some(comp) { 5.0 } else { 0.0 };
        out.push(series(
            comp,
            &format!("{comp}_cpu"),
            10.0,
            1.0,
            step,
            i as u64 * 2 + 1,
        ));
        // Memory in bytes: huge numbers, and a smaller step in its own terms.
        out.push(series(
            comp,
            &format!("{comp}_mem"),
            3e8,
            1e6,
            0.0,
            i as u64 * 2 + 2,
        ));
    }
    out
}

fn names(ranking: &[Hypothesis]) -> Vec<&str> {
    ranking.iter().map(|r| r.component.as_str()).collect()
}

fn topo() -> Topology {
    topology(&[
        ("front", &["api"]),
        ("api", &["db", "cache"]),
        ("db", &[]),
        ("cache", &[]),
    ])
}

#[test]
fn a_step_in_one_metric_ranks_its_component_first() {
    let ranking = rank_root_causes(&shop(Some("db")), None, None, &RankOptions::default());
    assert_eq!(names(&ranking), ["db"]);
    assert!(
        ranking[0].evidence[0].contains("db_cpu rose to"),
        "{:?}",
        ranking[0].evidence
    );
    // The only candidate, with a clear anomaly.
    assert!(ranking[0].confidence > 0.5, "{}", ranking[0].confidence);
}

#[test]
fn scaling_a_metric_does_not_change_the_ranking() {
    let base = rank_root_causes(&shop(Some("api")), None, None, &RankOptions::default());
    let mut scaled = shop(Some("api"));
    for s in &mut scaled {
        let k = if s.metric.ends_with("_mem") {
            1e-6
        } else {
            1e3
        };
        s.normal
            .iter_mut()
            .chain(s.anomalous.iter_mut())
            .for_each(|x| *x *= k);
    }
    let after = rank_root_causes(&scaled, None, None, &RankOptions::default());
    assert_eq!(names(&base), names(&after));
    for (a, b) in base.iter().zip(&after) {
        assert!((a.confidence - b.confidence).abs() < 1e-9);
    }
}

#[test]
fn the_order_of_series_does_not_matter() {
    let mut many = shop(Some("cache"));
    many.push(series("api", "api_lat", 0.2, 0.01, 0.03, 99));
    let base = rank_root_causes(&many, None, None, &RankOptions::default());
    many.reverse();
    many.swap(1, 4);
    assert_eq!(
        base,
        rank_root_causes(&many, None, None, &RankOptions::default())
    );
    assert_eq!(names(&base)[0], "cache");
}

#[test]
fn nothing_abnormal_means_no_root_cause() {
    assert!(rank_root_causes(&shop(None), None, None, &RankOptions::default()).is_empty());
    assert!(rank_root_causes(&shop(None), Some(&topo()), None, &RankOptions::default()).is_empty());
    assert!(rank_root_causes(&[], None, None, &RankOptions::default()).is_empty());
}

#[test]
fn with_a_graph_the_downstream_abnormal_component_comes_first() {
    // db is the cause; front, at the top, shows the largest symptom, api a diluted one.
    let mut s = shop(None);
    s.push(series("db", "db_lat", 1.0, 0.1, 3.0, 11));
    s.push(series("api", "api_lat", 1.0, 0.1, 2.0, 12));
    s.push(series("front", "front_lat", 1.0, 0.1, 4.0, 13));
    let flat = rank_root_causes(&s, None, None, &RankOptions::default());
    assert_eq!(names(&flat), ["front", "db", "api"]);
    let opts = RankOptions::default();
    let traversed = rank_root_causes(&s, Some(&topo()), Some("front"), &opts);
    assert_eq!(names(&traversed)[0], "db");
    // A target that is not abnormal has no root cause to look for.
    assert!(rank_root_causes(&s, Some(&topo()), Some("cache"), &opts).is_empty());
}

fn no_floor() -> RankOptions {
    RankOptions {
        relative_floor: 0.0,
        ..RankOptions::default()
    }
}

#[test]
fn a_weakly_abnormal_dependency_does_not_hide_a_strong_root_cause() {
    // api is the cause (large step); its dependency db reacts a little.
    let mut s = shop(None);
    s.push(series("db", "db_lat", 1.0, 0.1, 0.9, 21));
    s.push(series("api", "api_lat", 1.0, 0.1, 8.0, 22));
    s.push(series("front", "front_lat", 1.0, 0.1, 4.0, 23));
    let ranking = rank_root_causes(&s, Some(&topo()), Some("front"), &RankOptions::default());
    assert_eq!(names(&ranking)[0], "api");
}

#[test]
fn min_points_ignores_one_stray_sample() {
    let mut s = series("db", "db_lat", 1.0, 0.1, 0.0, 31);
    // One stray point 8 robust sd out (the sd is 0.1 / 1.349): abnormal on its own,
    // but short of twice the threshold, which a single point needs with min_points 2.
    s.anomalous[7] = 1.0 + 0.074 * 8.0;
    let one = score_series(&s, &RankOptions::default()).expect("points");
    assert!(one.score > 5.0, "{one:?}");
    let two = score_series(
        &s,
        &RankOptions {
            min_points: 2,
            ..RankOptions::default()
        },
    );
    assert!(two.as_ref().is_some_and(|t| t.score < 5.0), "{two:?}");
    // Far enough out, one point is an anomaly even then.
    s.anomalous[7] = 50.0;
    let far = score_series(
        &s,
        &RankOptions {
            min_points: 2,
            ..RankOptions::default()
        },
    );
    assert!(far.is_some_and(|t| t.score > 100.0));
}

#[test]
fn direction_counts_only_the_harmful_side() {
    let mut drop = series("db", "db_availability", 100.0, 0.5, -10.0, 5);
    drop.worse = Worse::Up;
    assert_eq!(score_series(&drop, &no_floor()).map(|s| s.score), Some(0.0));
    drop.worse = Worse::Down;
    assert!(score_series(&drop, &no_floor()).is_some_and(|s| s.score > 10.0));
}

#[test]
fn a_constant_normal_window_gets_a_finite_score() {
    let s = MetricSeries {
        component: "db".into(),
        metric: "db_errors".into(),
        normal: vec![0.0; 50],
        anomalous: vec![0.0, 3.0, f64::NAN, 0.0],
        worse: Worse::Up,
        ..MetricSeries::default()
    };
    let score = score_series(&s, &RankOptions::default()).expect("finite points");
    assert!(score.score.is_finite() && score.score > 5.0, "{score:?}");
    assert_eq!(score.scale_kind, ScaleKind::Constant);
    let flat = MetricSeries {
        anomalous: vec![0.0; 10],
        ..s
    };
    assert_eq!(
        score_series(&flat, &RankOptions::default()).map(|s| s.score),
        Some(0.0)
    );
}

#[test]
fn onset_is_found_where_several_metrics_step() {
    let mut rng = Noise(7);
    let n = 300;
    let change = 170;
    let columns: Vec<Vec<f64>> = (0..6)
        .map(|c| {
            (0..n)
                .map(|t| {
                    let step = if c < 3 && t >= change { 4.0 } else { 0.0 };
                    // Units differ wildly between columns.
                    10f64.powi(c) * (step + rng.next())
                })
                .collect()
        })
        .collect();
    let onset = detect_onset(&columns, 20).expect("a change");
    assert!(onset.index.abs_diff(change) <= 2, "{onset:?}");
    assert!(onset.strength > 10.0);
    assert!(
        detect_onset(&columns, 200).is_none(),
        "segments longer than half"
    );
}

#[test]
fn quantiles_by_selection_equal_those_of_the_sorted_window() {
    // A small LCG: varied lengths, ties, negative values.
    let mut x: u64 = 7;
    let mut next = || {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        ((x >> 33) % 1000) as f64 / 10.0 - 30.0
    };
    for n in [1usize, 2, 3, 4, 5, 10, 99, 240] {
        let values: Vec<f64> = (0..n).map(|_| next()).collect();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for q in [0.0, 0.25, 0.5, 0.75, 1.0, 0.1] {
            let mut scratch = values.clone();
            assert_eq!(
                quantile(&mut scratch, q),
                quantile_sorted(&sorted, q),
                "n = {n}, q = {q}"
            );
        }
    }
}

/// A series exactly constant while normal (100 % available), then `anomalous`.
fn flag(anomalous: Vec<f64>) -> MetricSeries {
    MetricSeries {
        component: "db".into(),
        metric: "db_availability".into(),
        normal: vec![100.0; 500],
        anomalous,
        worse: Worse::Down,
        ..MetricSeries::default()
    }
}

#[test]
fn a_flag_that_changes_state_is_abnormal_but_bounded() {
    let opts = RankOptions::default();
    // 100 → 0: a change of state, not a 500-sd anomaly that outweighs every other.
    let down = score_series(&flag(vec![0.0; 10]), &opts).expect("points");
    assert!(down.score >= opts.threshold, "{down:?}");
    assert!(down.score <= 2.0 * opts.threshold, "{down:?}");
    // A small real fault (99.3 %) on a series that never moved is a change of state
    // too: abnormal, where the relative floor (0.2 % of 100) hid it.
    let small = score_series(&flag(vec![100.0, 99.3, 99.3, 99.3]), &opts).expect("points");
    assert!(small.score >= opts.threshold, "{small:?}");
    // Lasting longer is more evidence; never changing is none.
    assert!(down.score > small.score);
    let still = score_series(&flag(vec![100.0; 10]), &opts).expect("points");
    assert_eq!(still.score, 0.0);
    // A move smaller than the relative floor of its level is no change of state.
    let jitter = score_series(&flag(vec![99.9; 10]), &opts).expect("points");
    assert!(jitter.score < opts.threshold, "{jitter:?}");
}

#[test]
fn the_noise_floor_is_learned_from_a_steady_series() {
    let opts = RankOptions::default();
    // Availability that never strays more than 0.02 from 100 while normal: a drop to
    // 99.3 is 35 times its own noise, though only 0.7 % of its level.
    let mut rng = Noise(11);
    let normal: Vec<f64> = (0..500)
        .map(|_| 100.0 - 0.01 * (1.0 + rng.next()))
        .collect();
    let s = MetricSeries {
        normal: normal.clone(),
        anomalous: vec![99.99, 99.3, 99.3, 99.3, 99.98],
        ..flag(vec![])
    };
    let hit = score_series(&s, &opts).expect("points");
    assert!(hit.score >= opts.threshold, "{hit:?}");
    assert_eq!(hit.scale_kind, ScaleKind::NormalRange);
    // Specificity: more of the same noise stays below the threshold.
    let quiet = MetricSeries {
        anomalous: (0..20).map(|_| 100.0 - 0.01 * (1.0 + rng.next())).collect(),
        ..s.clone()
    };
    let quiet = score_series(&quiet, &opts).expect("points");
    assert!(quiet.score < opts.threshold, "{quiet:?}");
    // A series that strays further than the relative floor keeps that floor.
    let wide: Vec<f64> = normal.iter().map(|x| 100.0 - (100.0 - x) * 50.0).collect();
    let wide = MetricSeries {
        normal: wide,
        ..s.clone()
    };
    let wide = score_series(&wide, &opts).expect("points");
    assert!(wide.score < opts.threshold, "{wide:?}");
}

#[test]
fn the_onset_that_explains_most_series_wins_over_a_long_drift() {
    // 100 points: two series drift all along (their statistic peaks mid-way and is
    // huge); four step up in the last five points (a short incident at the end).
    let n = 100;
    let mut rng = Noise(5);
    let mut columns: Vec<Vec<f64>> = (0..2)
        .map(|_| (0..n).map(|t| t as f64 + 0.1 * rng.next()).collect())
        .collect();
    for _ in 0..4 {
        columns.push(
            (0..n)
                .map(|t| if t >= 95 { 10.0 } else { 0.0 } + rng.next())
                .collect(),
        );
    }
    let onset = detect_onset(&columns, 5).expect("a change");
    assert_eq!(onset.index, 95, "{onset:?}");
    assert_eq!(onset.explained, 6);
    assert_eq!(onset.series, 6);
    // It states its uncertainty: the drift's own best split is the runner-up, far
    // behind in series explained.
    let runner = onset.runner_up.expect("a second-best onset");
    assert!(runner.index <= 90, "{runner:?}");
    let (more, _) = onset.margin().expect("a margin");
    assert!(more >= 1, "{onset:?}");
    assert!(onset.interval.0 <= 95 && onset.interval.1 >= 95);
}

/// A counter at 0 most of the time with occasional bursts (bytes read from disk):
/// a burst the size of its normal ones is no anomaly, one far beyond them is. An
/// error counter of the same shape keeps the sharper scale.
#[test]
fn a_sparse_work_counter_judges_bursts_by_its_normal_bursts() {
    let mut normal = vec![0.0; 20];
    normal[3] = 40_000.0;
    normal[9] = 120_000.0;
    normal[15] = 7_000.0;
    let reads = MetricSeries {
        component: "user".into(),
        metric: "fs_reads".into(),
        signal: Some(Signal::Io),
        normal,
        anomalous: vec![0.0, 150_000.0, 0.0, 0.0, 90_000.0, 0.0],
        worse: Worse::Either,
        ..MetricSeries::default()
    };
    let options = RankOptions::default();
    let ordinary = score_series(&reads, &options).expect("finite points");
    assert!(ordinary.score < options.threshold, "{ordinary:?}");
    assert_eq!(ordinary.scale_kind, ScaleKind::Bursts, "{ordinary:?}");
    let huge = MetricSeries {
        anomalous: vec![0.0, 900_000.0, 0.0],
        ..reads.clone()
    };
    let huge = score_series(&huge, &options).expect("finite points");
    assert!(huge.score >= options.threshold, "{huge:?}");
    let errors = MetricSeries {
        signal: Some(Signal::Errors),
        worse: Worse::Up,
        ..reads
    };
    let errors = score_series(&errors, &options).expect("finite points");
    assert_eq!(errors.scale_kind, ScaleKind::MeanAbsDev, "{errors:?}");
    assert!(errors.score >= options.threshold, "{errors:?}");
}
