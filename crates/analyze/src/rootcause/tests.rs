use super::*;
use crate::anomaly::MetricSeries;
use crate::patterns::frequency::Episode;
use charter_model::Severity;
use charter_testkit::{topology, violation};

fn topo() -> Topology {
    topology(&[
        ("frontend", &["api"]),
        ("api", &["catalog", "orders", "auth"]),
        ("catalog", &["db"]),
        ("orders", &["db"]),
        ("auth", &["db"]),
        ("db", &[]),
    ])
}

fn v(obj: &str, comp: &str, signal: Signal, since: i64) -> Violation {
    violation(obj, comp)
        .signal(signal)
        .firing(Severity::Critical)
        .since(Timestamp::from_secs(since))
        .value(1.0)
        .build()
}

fn run(violations: &[Violation], changes: &[Change]) -> Diagnosis {
    let t = topo();
    diagnose(DiagnosisInput {
        incident_id: IncidentId(1),
        now: Timestamp::from_secs(1000),
        violations,
        series: &[],
        topology: Some(&t),
        zones: None,
        nodes: None,
        changes,
        refuted: &[],
        episodes: EpisodeLog::none(),
        observed_since: Timestamp(0),
        unobserved: &[],
        target: None,
        options: &RankOptions::default(),
    })
}

#[test]
fn a_leaf_failure_is_blamed_on_the_leaf_not_its_callers() {
    let vs = [
        v("errors", "frontend", Signal::Errors, 100),
        v("errors", "api", Signal::Errors, 100),
        v("errors", "orders", Signal::Errors, 100),
        v("errors", "db", Signal::Errors, 100),
    ];
    let d = run(&vs, &[]);
    let root = d.root().expect("root");
    assert_eq!(root.component, "db");
    assert_eq!(root.cause, CauseClass::Outage);
    assert!(root.confidence > d.hypotheses[1].confidence * 2.0, "{d:#?}");
    assert!((0.0..=1.0).contains(&root.confidence));
    assert_eq!(root.symptoms.len(), 4);
    assert!(
        d.patterns
            .iter()
            .any(|p| matches!(p, Pattern::Propagation { from, .. } if from == "db"))
    );
}

#[test]
fn a_recent_deploy_names_a_bad_change() {
    let vs = [
        v("errors", "api", Signal::Errors, 100),
        v("errors", "auth", Signal::Errors, 100),
    ];
    let changes = [Change {
        at: Timestamp::from_secs(70),
        component: "auth".into(),
        kind: ChangeKind::Deploy,
        description: "v2".into(),
        by: "ci".into(),
        source: charter_model::ChangeSource::Argocd,
    }];
    let d = run(&vs, &changes);
    let root = d.root().expect("root");
    assert_eq!(root.component, "auth");
    assert_eq!(root.cause, CauseClass::BadChange);
    // Who made the change and where Charter learned of it.
    assert!(
        root.evidence
            .iter()
            .any(|e| e == "deploy on auth 30s before onset: v2 (by ci, reported by argocd)"),
        "{:?}",
        root.evidence
    );
}

#[test]
fn charters_own_changes_are_not_blamed() {
    let vs = [v("errors", "auth", Signal::Errors, 100)];
    let changes = [Change {
        at: Timestamp::from_secs(70),
        component: "auth".into(),
        kind: ChangeKind::Deploy,
        description: "rollback".into(),
        by: "charter".into(),
        source: charter_model::ChangeSource::Simulator,
    }];
    assert_eq!(
        run(&vs, &changes).root().map(|h| h.cause),
        Some(CauseClass::Outage)
    );
}

#[test]
fn overload_on_a_dependency_explains_caller_latency() {
    let vs = [
        v("latency", "frontend", Signal::Latency, 130),
        v("latency", "api", Signal::Latency, 120),
        v("latency", "catalog", Signal::Latency, 100),
        v("cpu", "catalog", Signal::Utilization, 100),
    ];
    let d = run(&vs, &[]);
    let root = d.root().expect("root");
    assert_eq!(
        (root.component.as_str(), root.cause),
        ("catalog", CauseClass::Overload)
    );
}

#[test]
fn a_single_memory_violation_is_a_leak() {
    let d = run(&[v("memory", "orders", Signal::Memory, 100)], &[]);
    let root = d.root().expect("root");
    assert_eq!(
        (root.component.as_str(), root.cause),
        ("orders", CauseClass::Leak)
    );
    assert!(
        root.confidence < 0.9,
        "one symptom is not certainty: {}",
        root.confidence
    );
}

#[test]
fn nothing_violating_means_no_root_cause() {
    let mut resolved = v("errors", "db", Signal::Errors, 100);
    resolved.state = ViolationState::Resolved;
    assert!(run(&[resolved], &[]).hypotheses.is_empty());
    assert!(run(&[], &[]).root().is_none());
}

#[test]
fn order_of_violations_does_not_change_the_ranking() {
    let mut vs = vec![
        v("errors", "frontend", Signal::Errors, 100),
        v("errors", "api", Signal::Errors, 100),
        v("errors", "auth", Signal::Errors, 90),
        v("latency", "catalog", Signal::Latency, 100),
    ];
    let a: Vec<(String, u64)> = run(&vs, &[])
        .hypotheses
        .iter()
        .map(|h| (h.component.clone(), (h.confidence * 1e9) as u64))
        .collect();
    vs.reverse();
    let b: Vec<(String, u64)> = run(&vs, &[])
        .hypotheses
        .iter()
        .map(|h| (h.component.clone(), (h.confidence * 1e9) as u64))
        .collect();
    assert_eq!(a, b);
}

/// The input of a diagnosis with nothing but these; the rest not known.
pub(super) fn input<'a>(
    violations: &'a [Violation],
    series: &'a [MetricSeries],
    topology: Option<&'a Topology>,
    episodes: &'a EpisodeLog,
    options: &'a RankOptions,
) -> DiagnosisInput<'a> {
    DiagnosisInput {
        incident_id: IncidentId(1),
        now: Timestamp::from_secs(100_000),
        violations,
        series,
        topology,
        zones: None,
        nodes: None,
        changes: &[],
        refuted: &[],
        episodes,
        observed_since: Timestamp(0),
        unobserved: &[],
        target: None,
        options,
    }
}

/// A flat metric that steps by `step` (in its own noise units) at the onset.
fn window(comp: &str, metric: &str, signal: Signal, step: f64, onset: i64) -> MetricSeries {
    let noise = |i: usize| ((i * 7919) % 13) as f64 / 13.0 - 0.5;
    MetricSeries {
        component: comp.into(),
        metric: metric.into(),
        signal: Some(signal),
        normal: (0..60).map(|i| 10.0 + noise(i)).collect(),
        anomalous: (0..20).map(|i| 10.0 + step + noise(i + 3)).collect(),
        times: (0..20)
            .map(|i| Timestamp::from_secs(onset + 15 * i))
            .collect(),
        worse: crate::anomaly::Worse::Up,
        baseline: None,
    }
}

#[test]
fn an_abnormal_dependency_that_is_not_violating_is_still_found() {
    // Only frontend and api violate; catalog's latency window shows where it came from.
    let vs = [
        v("latency", "frontend", Signal::Latency, 100),
        v("latency", "api", Signal::Latency, 100),
    ];
    let series = [
        window("catalog", "latency", Signal::Latency, 40.0, 70),
        window("api", "latency", Signal::Latency, 20.0, 100),
        window("frontend", "latency", Signal::Latency, 20.0, 100),
    ];
    let t = topo();
    let opts = RankOptions::default();
    let d = diagnose(input(&vs, &series, Some(&t), EpisodeLog::none(), &opts));
    let root = d.root().expect("root");
    assert_eq!(root.component, "catalog", "{d:#?}");
    assert!(
        root.evidence
            .iter()
            .any(|e| e.contains("catalog: latency rose to"))
    );
}

#[test]
fn without_a_graph_the_strongest_anomaly_ranks_first() {
    let series = [
        window("db", "latency", Signal::Latency, 40.0, 70),
        window("api", "latency", Signal::Latency, 8.0, 100),
        window("auth", "latency", Signal::Latency, 0.0, 100),
    ];
    let opts = RankOptions::default();
    let d = diagnose(input(&[], &series, None, EpisodeLog::none(), &opts));
    let names: Vec<&str> = d.hypotheses.iter().map(|h| h.component.as_str()).collect();
    assert_eq!(names, ["db", "api"]);
}

#[test]
fn a_chronic_flapper_yields_to_a_new_problem() {
    // api's errors flap every hour for days; db's latency never violated before.
    let vs = [
        v("errors", "api", Signal::Errors, 99_990),
        v("latency", "db", Signal::Latency, 99_990),
    ];
    let mut episodes: Vec<Episode> = (0..27)
        .map(|h| Episode {
            objective: "errors".into(),
            component: "api".into(),
            at: Timestamp::from_secs(h * 3600 + 1800),
        })
        .collect();
    for (objective, component) in [("latency", "db"), ("errors", "api")] {
        episodes.push(Episode {
            objective: objective.into(),
            component: component.into(),
            at: Timestamp::from_secs(99_990),
        });
    }
    // No graph: without the history, api's errors and db's latency tie.
    let opts = RankOptions::default();
    let episodes: EpisodeLog = episodes.into_iter().collect();
    let d = diagnose(input(&vs, &[], None, &episodes, &opts));
    assert_eq!(d.root().map(|h| h.component.as_str()), Some("db"), "{d:#?}");
    let api = d
        .hypotheses
        .iter()
        .find(|h| h.component == "api")
        .expect("api");
    assert!(
        api.evidence.iter().any(|e| e.contains("chronic")),
        "{api:?}"
    );
}

#[test]
fn onsets_bunched_together_are_reported_as_a_burst() {
    // One onset an hour for a day, then four at once.
    let vs: Vec<Violation> = ["frontend", "api", "catalog", "db"]
        .iter()
        .map(|c| v("errors", c, Signal::Errors, 99_990))
        .collect();
    let episodes: Vec<Episode> = (0..24)
        .map(|h| Episode {
            objective: "latency".into(),
            component: "auth".into(),
            at: Timestamp::from_secs(h * 3600),
        })
        .collect();
    let t = topo();
    let opts = RankOptions::default();
    let episodes: EpisodeLog = episodes.into_iter().collect();
    let d = diagnose(input(&vs, &[], Some(&t), &episodes, &opts));
    assert!(
        d.patterns
            .iter()
            .any(|p| matches!(p, Pattern::Burst { onsets: 4, .. })),
        "{:?}",
        d.patterns
    );
    assert!(d.hypotheses[0].evidence.iter().any(|e| e.contains("burst")));
}

#[test]
fn components_in_one_zone_form_a_cluster() {
    let vs = [
        v("errors", "orders", Signal::Errors, 100),
        v("errors", "auth", Signal::Errors, 100),
    ];
    let zones: BTreeMap<String, String> = [("orders", "b"), ("auth", "b"), ("db", "a")]
        .iter()
        .map(|(c, z)| (c.to_string(), z.to_string()))
        .collect();
    let t = topo();
    let opts = RankOptions::default();
    let d = diagnose(DiagnosisInput {
        zones: Some(&zones),
        ..input(&vs, &[], Some(&t), EpisodeLog::none(), &opts)
    });
    assert!(d.patterns.contains(&Pattern::Cluster {
        around: "zone b".into(),
        members: vec!["auth".into(), "orders".into()],
    }));
}

#[test]
fn a_cache_miss_seen_by_its_caller_is_blamed_on_the_cache() {
    let t = topology(&[("catalog", &["cache", "db"]), ("cache", &[]), ("db", &[])]);
    let vs = [
        v("hit_ratio", "catalog", Signal::Cache, 100),
        v("hit_ratio", "cache", Signal::Cache, 100),
    ];
    let opts = RankOptions::default();
    let d = diagnose(input(&vs, &[], Some(&t), EpisodeLog::none(), &opts));
    let root = d.root().expect("root");
    assert_eq!(
        (root.component.as_str(), root.cause),
        ("cache", CauseClass::CacheFailure)
    );
    let catalog = &d.hypotheses[1];
    assert!(catalog.evidence.iter().any(|e| e.contains("inherited")));
}

/// A cache stops hitting: its owner sends the misses to the database, which
/// overloads — far more abnormal than the hit ratio — and slows the owner and its
/// callers. The load is the cache's misses: the cache is the root, not the database,
/// and not the zone they share (a hit ratio and inherited load are no lost capacity).
#[test]
fn a_failing_cache_is_blamed_for_the_load_its_misses_send_to_the_backend() {
    let t = topology(&[
        ("web", &["catalog"]),
        ("catalog", &["cache", "db"]),
        ("cache", &[]),
        ("db", &[]),
    ]);
    let at = |obj: &str, comp: &str, signal: Signal, since: i64, value: f64| {
        violation(obj, comp)
            .signal(signal)
            .firing(Severity::Critical)
            .since(Timestamp::from_secs(since))
            .value(value)
            .build()
    };
    let vs = [
        at("hit_ratio", "cache", Signal::Cache, 100, 0.1),
        at("hit_ratio", "catalog", Signal::Cache, 100, 0.1),
        at("cpu", "db", Signal::Utilization, 110, 1.8),
        at("latency", "db", Signal::Latency, 110, 20.0),
        at("latency", "catalog", Signal::Latency, 115, 20.0),
        at("latency", "web", Signal::Latency, 115, 20.0),
    ];
    let zones: BTreeMap<String, String> =
        [("web", "a"), ("catalog", "b"), ("cache", "a"), ("db", "b")]
            .iter()
            .map(|(c, z)| (c.to_string(), z.to_string()))
            .collect();
    let opts = RankOptions::default();
    let d = diagnose(DiagnosisInput {
        zones: Some(&zones),
        ..input(&vs, &[], Some(&t), EpisodeLog::none(), &opts)
    });
    let root = d.root().expect("root");
    assert_eq!(
        (root.component.as_str(), root.cause),
        ("cache", CauseClass::CacheFailure),
        "{d:#?}"
    );
    assert!(
        root.evidence
            .iter()
            .any(|e| e.contains("db take its cache's misses")),
        "{:?}",
        root.evidence
    );
    assert!(
        d.hypotheses.iter().all(|h| h.component != "zone:b"),
        "{d:#?}"
    );
}

#[test]
fn pool_saturated_callers_point_at_their_slow_pooled_dependency() {
    // db slowed (not violating); its callers' pools fill and queue: their latency,
    // pool and saturation break, loudly. The queue is for db's connections.
    let vs = [
        v("latency", "frontend", Signal::Latency, 100),
        v("latency", "api", Signal::Latency, 100),
        v("latency", "auth", Signal::Latency, 100),
        v("pool", "auth", Signal::Pool, 100),
        v("saturation", "auth", Signal::Saturation, 100),
        v("pool", "orders", Signal::Pool, 100),
        v("saturation", "orders", Signal::Saturation, 100),
    ];
    let series = [
        window("db", "latency", Signal::Latency, 60.0, 70),
        window("auth", "latency", Signal::Latency, 5000.0, 85),
        window("orders", "latency", Signal::Latency, 2000.0, 85),
        window("api", "latency", Signal::Latency, 3000.0, 100),
    ];
    let t = topo();
    let opts = RankOptions::default();
    let d = diagnose(input(&vs, &series, Some(&t), EpisodeLog::none(), &opts));
    assert_eq!(d.root().map(|h| h.component.as_str()), Some("db"), "{d:#?}");
    let auth = d
        .hypotheses
        .iter()
        .find(|h| h.component == "auth")
        .expect("auth ranked");
    assert!(auth.evidence.iter().any(|e| e.contains("inherited")));
    // Saturation with the component's own CPU up is its own overload, not the pool's.
    let mut vs = vs.to_vec();
    vs.push(v("cpu", "auth", Signal::Utilization, 100));
    let d = diagnose(input(&vs, &series, Some(&t), EpisodeLog::none(), &opts));
    let auth = d
        .hypotheses
        .iter()
        .find(|h| h.component == "auth")
        .expect("auth ranked");
    assert!(
        !auth.evidence.iter().any(|e| e.contains("inherited")),
        "{d:#?}"
    );
}

#[test]
fn a_deploy_before_onset_is_not_explained_away_by_a_slightly_slower_dependency() {
    // db is slower from before (another fault's leftovers); auth, deployed just
    // before its errors began, fails louder. (db's change is large enough to explain
    // auth's by timing — within [`EXPLAIN_RATIO`] — but not larger.)
    let vs = [
        v("errors", "auth", Signal::Errors, 100),
        v("errors", "api", Signal::Errors, 100),
    ];
    let series = [
        window("db", "latency", Signal::Latency, 2000.0, 70),
        window("auth", "errors", Signal::Errors, 5000.0, 100),
        window("api", "errors", Signal::Errors, 3000.0, 100),
    ];
    let t = topo();
    let opts = RankOptions::default();
    let changes = [Change {
        at: Timestamp::from_secs(90),
        component: "auth".into(),
        kind: ChangeKind::Deploy,
        description: "v2".into(),
        by: "ci".into(),
        source: charter_model::ChangeSource::Simulator,
    }];
    // Without the deploy, db's earlier slowdown explains auth's errors by timing.
    let d = diagnose(input(&vs, &series, Some(&t), EpisodeLog::none(), &opts));
    assert_eq!(d.root().map(|h| h.component.as_str()), Some("db"), "{d:#?}");
    let d = diagnose(DiagnosisInput {
        changes: &changes,
        ..input(&vs, &series, Some(&t), EpisodeLog::none(), &opts)
    });
    let root = d.root().expect("root");
    assert_eq!(
        (root.component.as_str(), root.cause),
        ("auth", CauseClass::BadChange),
        "{d:#?}"
    );
}

#[test]
fn a_fault_below_a_component_without_data_is_blamed_below_it_not_above() {
    // frontend -> api -> catalog -> db; api's metrics are missing. db fails first and
    // frontend shows it: the chain runs through api, unseen.
    let t = topology(&[
        ("frontend", &["api"]),
        ("api", &["catalog"]),
        ("catalog", &["db"]),
        ("db", &[]),
    ]);
    let vs = [
        v("errors", "frontend", Signal::Errors, 130),
        v("errors", "catalog", Signal::Errors, 110),
        v("errors", "db", Signal::Errors, 100),
    ];
    let opts = RankOptions::default();
    let blind = ["api".to_string()];
    let diagnose_with = |unobserved: &[String]| {
        diagnose(DiagnosisInput {
            unobserved,
            target: Some("frontend"),
            ..input(&vs, &[], Some(&t), EpisodeLog::none(), &opts)
        })
    };
    // Without knowing api is blind, the chain breaks at api: frontend is all there is.
    let d = diagnose_with(&[]);
    assert_eq!(d.root().map(|h| h.component.as_str()), Some("frontend"));
    let d = diagnose_with(&blind);
    let root = d.root().expect("root");
    assert_eq!(root.component, "db", "{d:#?}");
    assert!(
        root.evidence
            .iter()
            .any(|e| e.starts_with("reasoned through api without data")),
        "{:?}",
        root.evidence
    );
    // The blind component is never a hypothesis.
    assert!(d.hypotheses.iter().all(|h| h.component != "api"), "{d:#?}");
}

/// A metric at `normal` that moves to `anomalous` from `onset` (1 % noise).
fn levels(
    comp: &str,
    metric: &str,
    signal: Signal,
    worse: crate::anomaly::Worse,
    (normal, anomalous): (f64, f64),
    onset: i64,
) -> MetricSeries {
    let noise = |i: usize| ((i * 7919) % 13) as f64 / 13.0 - 0.5;
    MetricSeries {
        component: comp.into(),
        metric: metric.into(),
        signal: Some(signal),
        normal: (0..60).map(|i| normal * (1.0 + 0.02 * noise(i))).collect(),
        anomalous: (0..20)
            .map(|i| anomalous * (1.0 + 0.02 * noise(i + 3)))
            .collect(),
        times: (0..20)
            .map(|i| Timestamp::from_secs(onset + 15 * i))
            .collect(),
        worse,
        baseline: None,
    }
}

const ONSET: i64 = 1000;

/// auth's CPU goes from 0.5 to `cpu` and its errors up at ONSET, api's errors with
/// it; frontend's request rate (judged only when it drops) goes from 100 to
/// `traffic`; auth was deployed 30 s before (within the onset tolerance: it rolled
/// out as the symptoms began).
fn deployed_before(cpu: f64, traffic: f64) -> (Vec<Violation>, Vec<MetricSeries>, Vec<Change>) {
    deployed_ahead(cpu, traffic, 30)
}

/// [`deployed_before`] with the deploy `lead` seconds before ONSET.
fn deployed_ahead(
    cpu: f64,
    traffic: f64,
    lead: i64,
) -> (Vec<Violation>, Vec<MetricSeries>, Vec<Change>) {
    use crate::anomaly::Worse;
    let vs = vec![
        v("cpu", "auth", Signal::Utilization, ONSET),
        v("errors", "auth", Signal::Errors, ONSET),
        v("errors", "api", Signal::Errors, ONSET),
    ];
    let series = vec![
        levels(
            "auth",
            "cpu",
            Signal::Utilization,
            Worse::Up,
            (0.5, cpu),
            ONSET,
        ),
        levels(
            "auth",
            "errors",
            Signal::Errors,
            Worse::Up,
            (0.01, 0.2),
            ONSET,
        ),
        levels(
            "api",
            "errors",
            Signal::Errors,
            Worse::Up,
            (0.01, 0.1),
            ONSET,
        ),
        levels(
            "frontend",
            "request_rate",
            Signal::Traffic,
            Worse::Down,
            (100.0, traffic),
            ONSET,
        ),
    ];
    let changes = vec![Change {
        at: Timestamp::from_secs(ONSET - lead),
        component: "auth".into(),
        kind: ChangeKind::Deploy,
        description: "v2".into(),
        by: "ci".into(),
        source: charter_model::ChangeSource::Simulator,
    }];
    (vs, series, changes)
}

fn diagnose_with(
    (vs, series, changes): &(Vec<Violation>, Vec<MetricSeries>, Vec<Change>),
    refuted: &[Refutation],
) -> Diagnosis {
    let t = topo();
    let opts = RankOptions::default();
    diagnose(DiagnosisInput {
        changes,
        refuted,
        ..input(vs, series, Some(&t), EpisodeLog::none(), &opts)
    })
}

#[test]
fn a_deploy_just_before_a_surge_is_weighed_against_the_load_and_overload_wins() {
    // Traffic ×3 at the edge, auth's CPU ×3: the load explains the rise.
    let d = diagnose_with(&deployed_before(1.5, 300.0), &[]);
    let root = d.root().expect("root");
    assert_eq!(
        (root.component.as_str(), root.cause),
        ("auth", CauseClass::Overload),
        "{d:#?}"
    );
    assert!(
        root.evidence.iter().any(|e| e
            == "frontend's traffic ×3.0 explains the utilization rise ×3.0: change weighted 0.10"),
        "{:#?}",
        root.evidence
    );
    assert!(
        root.evidence
            .iter()
            .any(|e| e.contains("deploy on auth 30s before onset: v2")),
        "{:#?}",
        root.evidence
    );
}

#[test]
fn a_bad_deploy_under_flat_traffic_stays_a_bad_change() {
    let d = diagnose_with(&deployed_before(1.5, 100.0), &[]);
    let root = d.root().expect("root");
    assert_eq!(
        (root.component.as_str(), root.cause),
        ("auth", CauseClass::BadChange),
        "{d:#?}"
    );
    assert!(
        root.evidence.iter().any(|e| e
            == "its utilization rose ×3.0 with frontend's traffic ×1.0 (flat): load not measured here or a costlier version: change weighted 0.60"),
        "{:#?}",
        root.evidence
    );
    // Traffic ×1.5 under a CPU ×3: load explains little more than a third of it; the
    // change keeps most of its weight and stays the cause.
    let d = diagnose_with(&deployed_before(1.5, 150.0), &[]);
    let root = d.root().expect("root");
    assert_eq!(root.cause, CauseClass::BadChange, "{d:#?}");
    assert!(
        root.evidence.iter().any(|e| e
            == "frontend's traffic ×1.5 explains part of the utilization rise ×3.0: change weighted 0.63"),
        "{:#?}",
        root.evidence
    );
}

#[test]
fn a_deploy_that_served_normally_before_an_unexplained_cpu_rise_gives_way_to_overload() {
    // The same symptoms under flat edge traffic, but the version served two minutes
    // with normal CPU first: a costlier version would have shown at once, load that
    // no metric here measures need not have. Overload, not the deploy.
    let d = diagnose_with(&deployed_ahead(1.5, 100.0, 120), &[]);
    let root = d.root().expect("root");
    assert_eq!(
        (root.component.as_str(), root.cause),
        ("auth", CauseClass::Overload),
        "{d:#?}"
    );
    assert!(
        root.evidence.iter().any(|e| e
            == "its utilization rose ×3.0 with frontend's traffic ×1.0 (flat): load not measured here or a costlier version; it came 2m00s before onset (×0.50): change weighted 0.30"),
        "{:#?}",
        root.evidence
    );
    // Errors alone (no CPU rise) after the same two minutes keep the deploy a bad
    // change: nothing but the change explains them.
    let d = diagnose_with(&deployed_ahead(0.5, 100.0, 120), &[]);
    let root = d.root().expect("root");
    assert_eq!(
        (root.component.as_str(), root.cause),
        ("auth", CauseClass::BadChange),
        "{d:#?}"
    );
}

#[test]
fn load_through_a_component_shows_in_its_dependencies_utilization() {
    // api (no traffic metric, its caller's flat) rises ×3 in CPU with its
    // dependency auth ×3 at once: the load passed on explains it, the deploy on api
    // (at the onset) is not a bad change.
    use crate::anomaly::Worse;
    let vs = vec![
        v("cpu", "api", Signal::Utilization, ONSET),
        v("errors", "api", Signal::Errors, ONSET),
    ];
    let series = vec![
        levels(
            "api",
            "cpu",
            Signal::Utilization,
            Worse::Up,
            (0.5, 1.5),
            ONSET,
        ),
        levels(
            "api",
            "errors",
            Signal::Errors,
            Worse::Up,
            (0.01, 0.2),
            ONSET,
        ),
        levels(
            "auth",
            "cpu",
            Signal::Utilization,
            Worse::Up,
            (0.2, 0.6),
            ONSET,
        ),
        levels(
            "frontend",
            "request_rate",
            Signal::Traffic,
            Worse::Down,
            (100.0, 100.0),
            ONSET,
        ),
    ];
    let changes = vec![Change {
        at: Timestamp::from_secs(ONSET - 30),
        component: "api".into(),
        kind: ChangeKind::Deploy,
        description: "v2".into(),
        by: "ci".into(),
        source: charter_model::ChangeSource::Simulator,
    }];
    let d = diagnose_with(&(vs, series, changes), &[]);
    let api = d
        .hypotheses
        .iter()
        .find(|h| h.component == "api")
        .unwrap_or_else(|| panic!("{d:#?}"));
    assert_ne!(api.cause, CauseClass::BadChange, "{d:#?}");
    assert!(
        api.evidence.iter().any(|e| e
            == "auth's utilization downstream ×3.0 explains the utilization rise ×3.0: change weighted 0.10"),
        "{:#?}",
        api.evidence
    );
}

#[test]
fn a_refuted_bad_change_gives_way_to_the_next_cause_its_signals_name() {
    let case = deployed_before(1.5, 100.0);
    let refuted = [Refutation {
        component: "auth".into(),
        cause: CauseClass::BadChange,
        action: charter_model::ActionKind::Rollback,
        outcome: charter_model::OutcomeClass::NoEffect,
        at: Timestamp::from_secs(ONSET + 300),
    }];
    let d = diagnose_with(&case, &refuted);
    let root = d.root().expect("root");
    assert_eq!(
        (root.component.as_str(), root.cause),
        ("auth", CauseClass::Overload),
        "{d:#?}"
    );
    assert!(
        root.evidence.iter().any(|e| e
            == "bad change on auth was refuted in this incident (rollback(auth) verified no_effect): overload is the next cause its signals name"),
        "{:#?}",
        root.evidence
    );
    // Refuting overload too leaves the errors' outage.
    let mut both = refuted.to_vec();
    both.push(Refutation {
        cause: CauseClass::Overload,
        action: charter_model::ActionKind::ScaleOut,
        ..refuted[0].clone()
    });
    let d = diagnose_with(&case, &both);
    let auth = d
        .hypotheses
        .iter()
        .find(|h| h.component == "auth")
        .expect("auth");
    assert_eq!(auth.cause, CauseClass::Outage, "{d:#?}");
}

#[test]
fn a_hypothesis_refuted_with_no_other_cause_left_is_lowered_and_says_so() {
    // auth's latency alone names overload and nothing else.
    let vs = [v("latency", "auth", Signal::Latency, ONSET)];
    let before = diagnose_with(&(vs.to_vec(), vec![], vec![]), &[]);
    let h0 = before
        .hypotheses
        .iter()
        .find(|h| h.component == "auth")
        .expect("auth");
    assert_eq!(h0.cause, CauseClass::Overload);
    let refuted = [Refutation {
        component: "auth".into(),
        cause: CauseClass::Overload,
        action: charter_model::ActionKind::ScaleOut,
        outcome: charter_model::OutcomeClass::Worsened,
        at: Timestamp::from_secs(ONSET + 300),
    }];
    let after = diagnose_with(&(vs.to_vec(), vec![], vec![]), &refuted);
    let h1 = after
        .hypotheses
        .iter()
        .find(|h| h.component == "auth")
        .expect("auth");
    assert_eq!(h1.cause, CauseClass::Overload);
    assert!(h1.confidence < h0.confidence, "{h0:#?} {h1:#?}");
    assert!(
        h1.evidence.iter().any(|e| e
            == "overload on auth was refuted in this incident (scale_out(auth) verified worsened) and no other cause fits its signals: weighted ×0.25"),
        "{:#?}",
        h1.evidence
    );
}

#[test]
fn an_endpoint_leaf_is_judged_by_its_callers_not_its_own_deviation() {
    // front calls a service and, next to it, an endpoint (a load balancer: no
    // dependencies, latency only) that measures the same calls and deviates more.
    let t = topology(&[
        ("front", &["svc", "lb"]),
        ("svc", &["store"]),
        ("lb", &[]),
        ("store", &[]),
    ]);
    let series = [
        window("front", "latency", Signal::Latency, 10.0, 100),
        window("svc", "latency", Signal::Latency, 30.0, 100),
        window("lb", "latency", Signal::Latency, 80.0, 100),
        window("store", "latency", Signal::Latency, 0.0, 100),
    ];
    let opts = RankOptions::default();
    let d = diagnose(DiagnosisInput {
        target: Some("front"),
        ..input(&[], &series, Some(&t), EpisodeLog::none(), &opts)
    });
    let names: Vec<&str> = d.hypotheses.iter().map(|h| h.component.as_str()).collect();
    assert_eq!(names.first(), Some(&"svc"), "{d:#?}");
    let lb = d
        .hypotheses
        .iter()
        .find(|h| h.component == "lb")
        .expect("lb");
    assert!(
        lb.evidence
            .iter()
            .any(|e| e.contains("judged by its callers")),
        "{lb:#?}"
    );
    // A leaf with a symptom of its own (CPU) keeps its strength and comes first.
    let series = [
        window("front", "latency", Signal::Latency, 10.0, 100),
        window("svc", "latency", Signal::Latency, 30.0, 100),
        window("lb", "cpu", Signal::Utilization, 80.0, 100),
    ];
    let d = diagnose(DiagnosisInput {
        target: Some("front"),
        ..input(&[], &series, Some(&t), EpisodeLog::none(), &opts)
    });
    assert_eq!(d.root().map(|h| h.component.as_str()), Some("lb"), "{d:#?}");
}

#[test]
fn an_endpoint_leaf_that_is_the_alerts_target_keeps_its_own_strength() {
    // The alert fired on the endpoint itself and its callers show nothing: there is
    // no service behind it to outrank, so it stays the root cause rather than
    // being capped below the threshold into an empty ranking.
    let t = topology(&[("front", &["svc", "lb"]), ("svc", &[]), ("lb", &[])]);
    let series = [
        window("front", "latency", Signal::Latency, 0.0, 100),
        window("svc", "latency", Signal::Latency, 0.0, 100),
        window("lb", "latency", Signal::Latency, 40.0, 100),
    ];
    let opts = RankOptions::default();
    let d = diagnose(DiagnosisInput {
        target: Some("lb"),
        ..input(&[], &series, Some(&t), EpisodeLog::none(), &opts)
    });
    assert_eq!(d.root().map(|h| h.component.as_str()), Some("lb"), "{d:#?}");
}

#[test]
fn a_baseline_from_another_period_is_reported_as_drift() {
    // Every series sits shifted over the whole window: nothing in the incident
    // explains that; the normal window does not fit.
    let names = ["frontend", "api", "catalog", "orders", "auth", "db"];
    let drifted: Vec<MetricSeries> = names
        .iter()
        .flat_map(|c| {
            [
                window(c, "latency", Signal::Latency, 12.0, 100),
                window(c, "cpu", Signal::Utilization, 9.0, 100),
            ]
        })
        .collect();
    let opts = RankOptions::default();
    let d = diagnose(input(&[], &drifted, None, EpisodeLog::none(), &opts));
    let top = d.root().expect("a ranking");
    assert!(
        top.evidence
            .iter()
            .any(|e| e.starts_with("baseline drift: 12 of 12 series (12 up, 0 down)")),
        "{top:#?}"
    );
    // One component stepping is an incident, not drift.
    let mut one: Vec<MetricSeries> = names
        .iter()
        .map(|c| window(c, "latency", Signal::Latency, 0.0, 100))
        .collect();
    one[5] = window("db", "latency", Signal::Latency, 40.0, 100);
    let d = diagnose(input(&[], &one, None, EpisodeLog::none(), &opts));
    let top = d.root().expect("a ranking");
    assert!(
        !top.evidence.iter().any(|e| e.contains("drift")),
        "{top:#?}"
    );
}

#[test]
fn a_components_own_signals_name_the_kind_of_fault() {
    let opts = RankOptions::default();
    let class = |series: &[MetricSeries]| {
        let d = diagnose(input(&[], series, None, EpisodeLog::none(), &opts));
        let root = d.root().expect("a root cause").clone();
        (root.component, root.cause)
    };
    // Its network moved, its CPU did not: a network delay.
    let net = [
        window("orders", "latency", Signal::Latency, 30.0, 100),
        window("orders", "net_out", Signal::Network, 20.0, 100),
        window("orders", "cpu", Signal::Utilization, 0.0, 100),
    ];
    assert_eq!(class(&net), ("orders".into(), CauseClass::NetworkDelay));
    // Errors while CPU, memory and network were measured and stayed normal: a
    // code defect.
    let code = [
        window("orders", "errors", Signal::Errors, 30.0, 100),
        window("orders", "cpu", Signal::Utilization, 0.0, 100),
        window("orders", "memory", Signal::Memory, 0.0, 100),
        window("orders", "net_out", Signal::Network, 0.0, 100),
    ];
    assert_eq!(class(&code), ("orders".into(), CauseClass::CodeDefect));
    // The CPU rising with them: a CPU hog (overload), not the code.
    let cpu = [
        window("orders", "errors", Signal::Errors, 30.0, 100),
        window("orders", "cpu", Signal::Utilization, 40.0, 100),
    ];
    assert_eq!(class(&cpu), ("orders".into(), CauseClass::Overload));
    // With nothing measured of its resources, errors stay an outage.
    let blind = [window("orders", "errors", Signal::Errors, 30.0, 100)];
    assert_eq!(class(&blind), ("orders".into(), CauseClass::Outage));
}
