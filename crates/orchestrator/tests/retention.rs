//! Retention: the loop prunes history older than `knowledge.retention`, and keeps
//! open incidents.

use charter_execute::Actuator;
use charter_knowledge::{SqliteStore, prelude::*};
use charter_model::{
    Incident, IncidentState, Severity, Signal, Timestamp, Violation, ViolationState, parse_charter,
};
use charter_orchestrator::Controller;
use charter_sim::{Scenario, Simulator, World};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const DAY: u64 = 24 * 3600;

fn violation(at: Timestamp) -> Violation {
    Violation {
        objective: "error_ratio".into(),
        component: "orders".into(),
        signal: Signal::Errors,
        state: ViolationState::Firing,
        severity: Some(Severity::Warning),
        since: at,
        firing_since: Some(at),
        resolved_at: None,
        value: Some(0.05),
        worst: Some(0.05),
        flaps: 0,
        alerted: false,
    }
}

#[tokio::test]
async fn history_older_than_the_retention_is_pruned_and_open_incidents_stay() {
    let text = include_str!("../../../examples/westworld.yaml").replace(
        "knowledge: { sqlite: westworld.db }",
        "knowledge: { sqlite: westworld.db, retention: 2d }",
    );
    let charter = Arc::new(
        parse_charter(&text, "w.yaml", Path::new("."))
            .expect("valid")
            .0,
    );
    assert_eq!(charter.retention, Duration::from_secs(2 * DAY));
    let now = Timestamp::from_secs(1_767_225_600 + 10 * DAY as i64);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("k.db"))
            .await
            .expect("store"),
    );
    let old = now.minus(Duration::from_secs(5 * DAY));
    let recent = now.minus(Duration::from_secs(DAY));
    let open = Incident {
        id: 1,
        opened_at: old,
        state: IncidentState::Escalated,
        violations: vec!["error_ratio@orders".into()],
        root_cause: None,
        resolved_at: None,
        attempts: 1,
    };
    store.save_incident(&open).await.expect("incident");
    store
        .record_violation(None, &violation(old))
        .await
        .expect("old");
    store
        .record_violation(None, &violation(recent))
        .await
        .expect("recent");

    let scenario = Scenario::builtin("no-fault").expect("scenario");
    let sim = Simulator::new(World::new(&scenario, 1), now);
    let actuators: BTreeMap<String, Arc<dyn Actuator>> = BTreeMap::from([(
        "sim".to_string(),
        Arc::new(sim.clone()) as Arc<dyn Actuator>,
    )]);
    let mut c = Controller::new(charter, Arc::new(sim), actuators, store.clone(), now)
        .await
        .expect("controller");
    c.tick(now).await.expect("tick");

    let left = store
        .violation_history(Timestamp::from_secs(0))
        .await
        .expect("history");
    assert_eq!(
        left.len(),
        1,
        "only the recent transition is kept: {left:?}"
    );
    assert_eq!(left[0].since, recent);
    let open_now = store.open_incidents().await.expect("open");
    assert!(
        open_now.iter().any(|i| i.id == 1),
        "the open incident is kept"
    );
}
