//! Retention: the loop prunes history older than `knowledge.retention`, and keeps
//! open incidents.

use charter_knowledge::{SqliteStore, prelude::*};
use charter_model::IncidentId;
use charter_model::{IncidentState, Severity, Signal, Timestamp, Violation};
use charter_orchestrator::Controller;
use charter_sim::Scenario;
use charter_testkit::{WESTWORLD, actuators, charter_from, incident, simulator};
use std::sync::Arc;
use std::time::Duration;

const DAY: u64 = 24 * 3600;

fn violation(at: Timestamp) -> Violation {
    charter_testkit::violation("error_ratio", "orders")
        .signal(Signal::Errors)
        .firing(Severity::Warning)
        .since(at)
        .value(0.05)
        .build()
}

#[tokio::test]
async fn history_older_than_the_retention_is_pruned_and_open_incidents_stay() {
    let text = WESTWORLD.replace(
        "knowledge: { sqlite: westworld.db }",
        "knowledge: { sqlite: westworld.db, retention: 2d }",
    );
    let charter = Arc::new(charter_from(&text));
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
    let open = incident(1)
        .opened_at(old)
        .state(IncidentState::Escalated)
        .violations(["error_ratio@orders"])
        .attempts(1)
        .build();
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
    let sim = simulator(&scenario, 1, now);
    let actuators = actuators(&charter, Arc::new(sim.clone()));
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
        open_now.iter().any(|i| i.id == IncidentId(1)),
        "the open incident is kept"
    );
}
