use super::*;
use charter_model::Severity;

fn topo() -> Topology {
    let edges: Vec<(String, Vec<String>)> = [
        ("frontend", vec!["api"]),
        ("api", vec!["catalog", "orders", "auth"]),
        ("catalog", vec!["db"]),
        ("orders", vec!["db"]),
        ("auth", vec!["db"]),
        ("db", vec![]),
    ]
    .into_iter()
    .map(|(a, d)| (a.to_string(), d.into_iter().map(str::to_string).collect()))
    .collect();
    Topology::new(edges.iter().map(|(a, d)| (a.as_str(), d.as_slice())))
}

fn v(obj: &str, comp: &str, signal: Signal, since: i64) -> Violation {
    Violation {
        objective: obj.into(),
        component: comp.into(),
        signal,
        state: ViolationState::Firing,
        severity: Some(Severity::Critical),
        since: Timestamp::from_secs(since),
        firing_since: Some(Timestamp::from_secs(since)),
        resolved_at: None,
        value: Some(1.0),
        worst: Some(1.0),
        flaps: 0,
        alerted: false,
    }
}

fn run(violations: &[Violation], changes: &[Change]) -> Diagnosis {
    let t = topo();
    let h = History::new(Duration::from_secs(3600));
    diagnose(DiagnosisInput {
        incident_id: 1,
        now: Timestamp::from_secs(1000),
        violations,
        topology: &t,
        history: &h,
        changes,
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
    }];
    let d = run(&vs, &changes);
    let root = d.root().expect("root");
    assert_eq!(root.component, "auth");
    assert_eq!(root.cause, CauseClass::BadChange);
    assert!(
        root.evidence
            .iter()
            .any(|e| e.contains("deploy on auth 30s before onset")),
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
