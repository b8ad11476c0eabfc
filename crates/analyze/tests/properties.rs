//! Properties of [`diagnose`] over randomly generated incidents.
//!
//! Each case is a random DAG of 5–30 components (edges from caller to dependency),
//! one to three metric windows per component in random units (levels from 1e-3 to
//! 1e6, Gaussian noise of 1–10 % of the level), a random root with a strong shift
//! on its first metric and weaker, later shifts on its (transitive) callers, and a
//! few violations. `proptest` draws each case's sizes (components, window lengths)
//! and a seed for the rest, so a failure shrinks to a small incident; the two rates
//! are measured over a fixed sample of seeds.

use charter_analyze::{DiagnosisInput, EpisodeLog, MetricSeries, RankOptions, Worse, diagnose};
use charter_model::{
    Diagnosis, IncidentId, Severity, Signal, Timestamp, Topology, Violation, ViolationState,
};
use charter_testkit::{Rng, topology, violation};
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::{BTreeSet, VecDeque};

const CASES: u32 = 200;
const STEP_SECS: i64 = 15;
const START_SECS: i64 = 1_700_000_000;
/// Mixed into every seed, as this generator always did: the fixed samples (and the
/// rates measured over them) stay the incidents they were.
const SALT: u64 = 0x5EED_0FC4_A77E_0005;

/// What kind of incident to generate.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// A random root (any signal, strong shift), weaker shifts on its callers, and a
    /// few violations.
    Fault,
    /// No shift anywhere and no violation: normal and anomalous windows from the same
    /// distribution.
    Noise,
    /// The root is a leaf with a latency shift; every caller gets the same-size
    /// latency shift, one point later per hop. Metrics only.
    LeafLatency,
}

struct Incident {
    topology: Topology,
    names: Vec<String>,
    root: usize,
    series: Vec<MetricSeries>,
    violations: Vec<Violation>,
    now: Timestamp,
}

impl Incident {
    fn diagnose(&self, options: &RankOptions) -> Diagnosis {
        diagnose(DiagnosisInput {
            incident_id: IncidentId(1),
            now: self.now,
            violations: &self.violations,
            series: &self.series,
            topology: Some(&self.topology),
            zones: None,
            changes: &[],
            episodes: EpisodeLog::none(),
            observed_since: Timestamp::from_secs(START_SECS - 7 * 24 * 3600),
            unobserved: &[],
            target: None,
            options,
        })
    }

    fn root_name(&self) -> &str {
        &self.names[self.root]
    }
}

/// `(component, confidence)` in ranking order.
fn ranking(d: &Diagnosis) -> Vec<(String, f64)> {
    d.hypotheses
        .iter()
        .map(|h| (h.component.clone(), h.confidence))
        .collect()
}

fn worse_of(signal: Signal, rng: &mut Rng) -> Worse {
    match signal {
        Signal::Availability => Worse::Down,
        Signal::Traffic | Signal::Other => {
            if rng.chance(0.5) {
                Worse::Either
            } else {
                Worse::Up
            }
        }
        _ => Worse::Up,
    }
}

/// A random DAG over `n` components: each of the first `n - 1` depends on one to
/// three later ones (so there are leaves, shared dependencies and diamonds). Names
/// are random so that the name order (the ranking's tie-break) says nothing about
/// the graph.
fn random_dag(rng: &mut Rng, n: usize) -> (Vec<String>, Vec<Vec<usize>>) {
    let mut names = BTreeSet::new();
    while names.len() < n {
        names.insert(format!("svc-{:05x}", rng.next_u64() % 0x10_0000));
    }
    let mut names: Vec<String> = names.into_iter().collect();
    rng.shuffle(&mut names);
    let mut deps = vec![Vec::new(); n];
    for (i, d) in deps.iter_mut().enumerate().take(n - 1) {
        // A few components are leaves before the end.
        if i > 0 && rng.chance(0.15) {
            continue;
        }
        let k = rng.range(1..=3.min(n - 1 - i));
        while d.len() < k {
            let j = rng.range(i + 1..=n - 1);
            if !d.contains(&j) {
                d.push(j);
            }
        }
    }
    (names, deps)
}

/// Hops from each component down to `root` along dependencies (`None` when it does
/// not reach it): the root's transitive callers and how far up they are.
fn hops_to(root: usize, deps: &[Vec<usize>]) -> Vec<Option<usize>> {
    let n = deps.len();
    let mut callers = vec![Vec::new(); n];
    for (a, ds) in deps.iter().enumerate() {
        for &b in ds {
            callers[b].push(a);
        }
    }
    let mut hops = vec![None; n];
    hops[root] = Some(0);
    let mut queue = VecDeque::from([root]);
    while let Some(x) = queue.pop_front() {
        for &c in &callers[x] {
            if hops[c].is_none() {
                hops[c] = Some(hops[x].unwrap_or(0) + 1);
                queue.push_back(c);
            }
        }
    }
    hops
}

/// The sizes of an incident, drawn by `proptest` so that a failing case shrinks to
/// fewer components and shorter windows; everything else comes from `seed`.
#[derive(Debug, Clone, Copy)]
struct Shape {
    components: usize,
    normal: usize,
    anomalous: usize,
    seed: u64,
}

fn shape() -> impl Strategy<Value = Shape> {
    (5usize..=30, 30usize..=120, 12usize..=40, any::<u64>()).prop_map(
        |(components, normal, anomalous, seed)| Shape {
            components,
            normal,
            anomalous,
            seed,
        },
    )
}

/// The incident of `kind` for a seed of the fixed samples: its sizes are drawn from
/// the seed too.
fn generate(seed: u64, kind: Kind) -> Incident {
    build(&mut Rng::new(seed ^ SALT), kind, None)
}

/// The incident of `kind` with `shape`'s sizes.
fn shaped(shape: Shape, kind: Kind) -> Incident {
    build(&mut Rng::new(shape.seed ^ SALT), kind, Some(shape))
}

/// Draws an incident from `rng`; sizes that `shape` gives are not drawn.
fn build(rng: &mut Rng, kind: Kind, shape: Option<Shape>) -> Incident {
    let n = shape.map_or_else(|| rng.range(5..=30), |s| s.components);
    let (names, deps) = random_dag(rng, n);
    let edges: Vec<(String, Vec<String>)> = names
        .iter()
        .zip(&deps)
        .map(|(a, ds)| (a.clone(), ds.iter().map(|&j| names[j].clone()).collect()))
        .collect();
    let topology = Topology::new(edges.iter().map(|(a, d)| (a.as_str(), d.as_slice())));

    let root = match kind {
        // A leaf with at least one caller (the last component always qualifies).
        Kind::LeafLatency => {
            let leaves: Vec<usize> = (0..n)
                .filter(|&i| deps[i].is_empty() && deps.iter().any(|d| d.contains(&i)))
                .collect();
            *rng.pick(&leaves)
        }
        _ => rng.range(0..=n - 1),
    };
    let hops = hops_to(root, &deps);

    let normal_len = shape.map_or_else(|| rng.range(30..=120), |s| s.normal);
    let anomalous_len = shape.map_or_else(|| rng.range(12..=40), |s| s.anomalous);
    let onset = rng.range(2..=anomalous_len / 2);
    let times: Vec<Timestamp> = (0..anomalous_len as i64)
        .map(|k| Timestamp::from_secs(START_SECS + k * STEP_SECS))
        .collect();
    let now = Timestamp::from_secs(START_SECS + anomalous_len as i64 * STEP_SECS);
    // The same size for the leaf and its callers (LeafLatency).
    let leaf_shift = rng.between(10.0, 40.0);

    const ROOT_SIGNALS: [Signal; 8] = [
        Signal::Latency,
        Signal::Errors,
        Signal::Utilization,
        Signal::Memory,
        Signal::Saturation,
        Signal::Cache,
        Signal::Pool,
        Signal::Traffic,
    ];
    const ANY_SIGNALS: [Signal; 6] = [
        Signal::Latency,
        Signal::Errors,
        Signal::Utilization,
        Signal::Memory,
        Signal::Traffic,
        Signal::Availability,
    ];

    let mut series = Vec::new();
    let mut violations = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let metrics = rng.range(1usize..=3);
        for m in 0..metrics {
            // (signal, shift in sd, first shifted point) of this metric.
            let (signal, shift, from) = match (kind, hops[i], m) {
                (Kind::Noise, _, _) => (*rng.pick(&ANY_SIGNALS), 0.0, 0),
                (Kind::Fault, Some(0), 0) => {
                    (*rng.pick(&ROOT_SIGNALS), rng.between(20.0, 60.0), onset)
                }
                (Kind::Fault, Some(h), 0) => (
                    *rng.pick(&[Signal::Latency, Signal::Errors]),
                    rng.between(6.0, 12.0),
                    onset + h,
                ),
                (Kind::LeafLatency, Some(h), 0) => (Signal::Latency, leaf_shift, onset + h),
                _ => (*rng.pick(&ANY_SIGNALS), 0.0, 0),
            };
            let worse = worse_of(signal, rng);
            let level = rng.log_between(1e-3, 1e6);
            let sd = level * rng.between(0.01, 0.1);
            let sign = match worse {
                Worse::Up => 1.0,
                Worse::Down => -1.0,
                Worse::Either => {
                    if rng.chance(0.5) {
                        1.0
                    } else {
                        -1.0
                    }
                }
            };
            let normal = (0..normal_len).map(|_| level + sd * rng.gauss()).collect();
            let anomalous = (0..anomalous_len)
                .map(|k| {
                    let step = if shift > 0.0 && k >= from {
                        sign * shift * sd
                    } else {
                        0.0
                    };
                    level + sd * rng.gauss() + step
                })
                .collect();
            series.push(MetricSeries {
                component: name.clone(),
                metric: format!("{name}_m{m}"),
                signal: Some(signal),
                normal,
                anomalous,
                times: times.clone(),
                worse,
                baseline: None,
            });
            if kind == Kind::Fault && shift > 0.0 && rng.chance(0.5) {
                violations.push(random_violation(
                    rng,
                    name,
                    signal,
                    times[from.min(anomalous_len - 1)],
                ));
            }
        }
        // A stray violation on an uninvolved component now and then.
        if kind == Kind::Fault && hops[i].is_none() && rng.chance(0.1) {
            let signal = *rng.pick(&ANY_SIGNALS);
            let at = times[rng.range(0..=anomalous_len - 1)];
            violations.push(random_violation(rng, name, signal, at));
        }
    }
    Incident {
        topology,
        names,
        root,
        series,
        violations,
        now,
    }
}

/// A violation on `component` in a random state (firing ones critical), of one of
/// four objectives of `signal`, with a random value.
fn random_violation(rng: &mut Rng, component: &str, signal: Signal, since: Timestamp) -> Violation {
    let state = *rng.pick(&[
        ViolationState::Firing,
        ViolationState::Firing,
        ViolationState::Pending,
        ViolationState::Resolved,
        ViolationState::Unknown,
    ]);
    let firing = state == ViolationState::Firing;
    let value = rng.log_between(1e-2, 1e4);
    let objective = format!("{signal:?}-{}", rng.range(0..=3u8)).to_lowercase();
    violation(&objective, component)
        .signal(signal)
        .state(state)
        .severity(firing.then_some(Severity::Critical))
        .since(since)
        .value(value)
        .build()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn the_generator_makes_the_incidents_it_claims(shape in shape()) {
        let inc = shaped(shape, Kind::Fault);
        prop_assert!((5..=30).contains(&inc.names.len()));
        prop_assert_eq!(inc.topology.len(), inc.names.len());
        // The root's shift is strong: it is always among the hypotheses.
        prop_assert!(
            inc.diagnose(&RankOptions::default())
                .hypotheses
                .iter()
                .any(|h| h.component == inc.root_name()),
            "the root {} is missing from the ranking",
            inc.root_name()
        );
        let inc = shaped(shape, Kind::LeafLatency);
        prop_assert_eq!(inc.topology.dependencies(inc.root_name()).count(), 0);
        prop_assert!(inc.topology.callers(inc.root_name()).count() > 0);
    }

    #[test]
    fn shuffling_series_and_violations_does_not_change_the_ranking(
        shape in shape(),
        order in any::<u64>(),
    ) {
        let opts = RankOptions::default();
        let mut inc = shaped(shape, Kind::Fault);
        let before = ranking(&inc.diagnose(&opts));
        let mut rng = Rng::new(order);
        rng.shuffle(&mut inc.series);
        rng.shuffle(&mut inc.violations);
        let after = ranking(&inc.diagnose(&opts));
        // Exact: same components, bit-identical confidences.
        prop_assert_eq!(before, after);
    }

    #[test]
    fn rescaling_a_metric_does_not_change_the_ranking(
        shape in shape(),
        which in any::<Index>(),
        decades in -3.0f64..6.0,
    ) {
        let opts = RankOptions::default();
        let mut inc = shaped(shape, Kind::Fault);
        let before = ranking(&inc.diagnose(&opts));
        let k = which.index(inc.series.len());
        // Log-uniform in [1e-3, 1e6).
        let factor = 10f64.powf(decades);
        let s = &mut inc.series[k];
        s.normal
            .iter_mut()
            .chain(&mut s.anomalous)
            .for_each(|x| *x *= factor);
        let after = ranking(&inc.diagnose(&opts));
        assert_same_order(
            &before,
            &after,
            &format!("{} × {factor:e}", inc.series[k].metric),
        )?;
    }

    #[test]
    fn offsetting_a_metric_does_not_change_the_ranking(
        shape in shape(),
        which in any::<Index>(),
        reach_share in -1.0f64..1.0,
    ) {
        let opts = RankOptions::default();
        let mut inc = shaped(shape, Kind::Fault);
        let before = ranking(&inc.diagnose(&opts));
        let k = which.index(inc.series.len());
        let s = &mut inc.series[k];
        // The relative floor (0.1 % of the normal median) is the one part of the score
        // that depends on the level, by design: an offset is only invisible while the
        // floor stays below the noise. Keep |median + offset| within 300 robust sd of
        // the normal window, so the floor stays under a third of it; that still allows
        // offsets of 3 to 30 times the level, of either sign.
        let mut normal = s.normal.clone();
        normal.sort_by(f64::total_cmp);
        let median = normal[normal.len() / 2];
        let iqr = normal[normal.len() * 3 / 4] - normal[normal.len() / 4];
        let reach = 300.0 * iqr / 1.349;
        let offset = reach_share * reach - median;
        s.normal
            .iter_mut()
            .chain(&mut s.anomalous)
            .for_each(|x| *x += offset);
        let after = ranking(&inc.diagnose(&opts));
        assert_same_order(
            &before,
            &after,
            &format!("{} + {offset:e}", inc.series[k].metric),
        )?;
    }

    #[test]
    fn confidences_are_probabilities(shape in shape()) {
        let d = shaped(shape, Kind::Fault).diagnose(&RankOptions::default());
        for h in &d.hypotheses {
            prop_assert!(
                (0.0..=1.0).contains(&h.confidence),
                "{} has confidence {}",
                h.component,
                h.confidence
            );
        }
    }

    /// Once failed (about 8 % of cases) when the confidence was weighted by a clarity
    /// term the ranking did not use; the confidence is now a monotone function of the
    /// score. The smallest such case is
    /// [`a_violation_alone_and_a_clearer_anomaly_rank_in_confidence_order`].
    #[test]
    fn confidences_decrease_down_the_ranking(shape in shape()) {
        let d = shaped(shape, Kind::Fault).diagnose(&RankOptions::default());
        for w in d.hypotheses.windows(2) {
            prop_assert!(
                w[0].confidence >= w[1].confidence,
                "{} ({}) ranks above {} ({})",
                w[0].component,
                w[0].confidence,
                w[1].component,
                w[1].confidence
            );
        }
    }
}

fn assert_same_order(
    before: &[(String, f64)],
    after: &[(String, f64)],
    what: &str,
) -> Result<(), TestCaseError> {
    let names = |r: &[(String, f64)]| r.iter().map(|h| h.0.clone()).collect::<Vec<_>>();
    prop_assert_eq!(names(before), names(after), "{}", what);
    for (a, b) in before.iter().zip(after) {
        prop_assert!(
            (a.1 - b.1).abs() <= 1e-9,
            "{what}: {} confidence {} became {}",
            a.0,
            a.1,
            b.1
        );
    }
    Ok(())
}

/// A rate, not an invariant: 1,000 cases so that the estimate's standard error
/// (about 0.6 %) is small against the 5 % allowed. Over 4,000 cases about 3.8 % of
/// incidents get a root cause; nearly all of those have short normal windows (10 %
/// of incidents with 30–52 normal points, 1–2.5 % with 53 or more), where the
/// robust scale estimated from the window is itself noisy. The first 200 seeds
/// happen to give 6 %.
#[test]
fn pure_noise_has_no_root_cause() {
    const NOISE_CASES: u64 = 1_000;
    let opts = RankOptions::default();
    let blamed: Vec<(u64, Vec<(String, f64)>)> = (0..NOISE_CASES)
        .filter_map(|seed| {
            let d = generate(seed, Kind::Noise).diagnose(&opts);
            (!d.hypotheses.is_empty()).then(|| (seed, ranking(&d)))
        })
        .collect();
    assert!(
        blamed.len() as f64 <= 0.05 * NOISE_CASES as f64,
        "{} of {NOISE_CASES} noise-only incidents got a root cause: {blamed:?}",
        blamed.len()
    );
}

/// Once failed (18 of 200 cases) when a hub in front of a failing leaf was credited
/// with its own callers; a component a dependency explains now gets no caller credit.
/// The smallest such case is [`a_leaf_behind_a_hub_is_blamed_not_the_hub`].
#[test]
fn a_leaf_failure_is_blamed_on_the_leaf_not_its_callers() {
    let opts = RankOptions::default();
    let wrong: Vec<(u64, String, Option<String>)> = (0..u64::from(CASES))
        .filter_map(|seed| {
            let inc = generate(seed, Kind::LeafLatency);
            let d = inc.diagnose(&opts);
            let top = d.root().map(|h| h.component.clone());
            (top.as_deref() != Some(inc.root_name()))
                .then(|| (seed, inc.root_name().to_string(), top))
        })
        .collect();
    assert!(
        wrong.len() as f64 <= 0.05 * f64::from(CASES),
        "{} of {CASES} leaf failures blamed elsewhere (seed, leaf, top): {wrong:?}",
        wrong.len()
    );
}

/// A latency series of 101 normal points 0, 1, …, 100 (median 50, robust sd
/// 50 / 1.349) whose anomalous window jumps `sd` robust sd at `at` (0 = never).
fn stepped(component: &str, sd: f64, at: usize) -> MetricSeries {
    let scale = 50.0 / 1.349;
    let times: Vec<Timestamp> = (0..10)
        .map(|k| Timestamp::from_secs(START_SECS + k * STEP_SECS))
        .collect();
    MetricSeries {
        component: component.into(),
        metric: format!("{component}_latency"),
        signal: Some(Signal::Latency),
        normal: (0..=100).map(f64::from).collect(),
        anomalous: (0..10)
            .map(|k| {
                if at > 0 && k >= at {
                    50.0 + sd * scale
                } else {
                    50.0
                }
            })
            .collect(),
        times,
        worse: Worse::Up,
        baseline: None,
    }
}

/// db fails; api, its only caller, inherits the same 20 sd latency one point later,
/// and web, worker and cron, api's callers, one point after that. db explains api,
/// so api gets no credit for its three callers and db is blamed.
#[test]
fn a_leaf_behind_a_hub_is_blamed_not_the_hub() {
    let topo = topology(&[
        ("web", &["api"]),
        ("worker", &["api"]),
        ("cron", &["api"]),
        ("api", &["db"]),
        ("db", &[]),
    ]);
    let series = [
        stepped("db", 20.0, 2),
        stepped("api", 20.0, 3),
        stepped("web", 20.0, 4),
        stepped("worker", 20.0, 4),
        stepped("cron", 20.0, 4),
    ];
    let d = diagnose(DiagnosisInput {
        incident_id: IncidentId(1),
        now: Timestamp::from_secs(START_SECS + 10 * STEP_SECS),
        violations: &[],
        series: &series,
        topology: Some(&topo),
        zones: None,
        changes: &[],
        episodes: EpisodeLog::none(),
        observed_since: Timestamp::from_secs(START_SECS - 3600),
        unobserved: &[],
        target: None,
        options: &RankOptions::default(),
    });
    assert_eq!(d.root().map(|h| h.component.as_str()), Some("db"), "{d:#?}");
}

/// No graph. api has a firing errors violation and no abnormal metric; db has a
/// 13 sd latency shift. Whichever ranks first has the higher confidence.
#[test]
fn a_violation_alone_and_a_clearer_anomaly_rank_in_confidence_order() {
    let mut v = random_violation(
        &mut Rng::new(SALT),
        "api",
        Signal::Errors,
        Timestamp::from_secs(START_SECS),
    );
    v.state = ViolationState::Firing;
    v.severity = Some(Severity::Critical);
    let series = [stepped("db", 13.0, 2), stepped("api", 0.0, 0)];
    let d = diagnose(DiagnosisInput {
        incident_id: IncidentId(1),
        now: Timestamp::from_secs(START_SECS + 10 * STEP_SECS),
        violations: &[v],
        series: &series,
        topology: None,
        zones: None,
        changes: &[],
        episodes: EpisodeLog::none(),
        observed_since: Timestamp::from_secs(START_SECS - 3600),
        unobserved: &[],
        target: None,
        options: &RankOptions::default(),
    });
    let r = ranking(&d);
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r[0].1 >= r[1].1, "{r:?}");
}
