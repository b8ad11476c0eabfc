//! Oscillation: a component whose recent actions flip-flop is quarantined, and the
//! quarantine survives a restart.

use charter_knowledge::{SqliteStore, prelude::*};
use charter_model::ActionKind;
use charter_orchestrator::{Controller, Event};
use charter_sim::Scenario;
use charter_testkit::{EPOCH, actuators, simulator, westworld};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn a_flip_flopping_component_is_quarantined_and_stays_so_after_a_restart() {
    let charter = westworld();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("k.db");
    let store = Arc::new(SqliteStore::open(&db).await.expect("store"));
    // Before this run: catalog was scaled out, then in (outside the cooldown, inside
    // the oscillation window). Scaling it out again would be the second reversal.
    for (kind, ago) in [(ActionKind::ScaleOut, 35), (ActionKind::ScaleIn, 25)] {
        store
            .record_action("catalog", kind, EPOCH.minus(Duration::from_secs(ago * 60)))
            .await
            .expect("record");
    }
    let scenario = Scenario::builtin("traffic-surge").expect("scenario");
    let sim = simulator(&scenario, 1, EPOCH);
    let actuators = actuators(&charter, Arc::new(sim.clone()));
    let mut c = Controller::new(
        charter.clone(),
        Arc::new(sim.clone()),
        actuators.clone(),
        store.clone(),
        EPOCH,
    )
    .await
    .expect("controller");
    let mut escalated = None;
    let mut t = Duration::ZERO;
    while t <= Duration::from_secs(20 * 60) && escalated.is_none() {
        for e in c.tick(EPOCH.plus(t)).await.expect("tick").events {
            match e.event {
                Event::IncidentEscalated { reason, .. } => escalated = Some(reason),
                Event::StepApplied { action, .. } => {
                    assert_ne!(action.component, "catalog", "acted on catalog: {action}")
                }
                _ => {}
            }
        }
        t += charter.interval;
    }
    let reason = escalated.expect("the incident was escalated");
    assert!(reason.contains("oscillation on catalog"), "{reason}");
    assert!(store.quarantined().await.expect("read").contains("catalog"));
    // A new process over the same store keeps catalog quarantined: nothing is done there.
    drop(c);
    let mut c = Controller::new(
        charter.clone(),
        Arc::new(sim),
        actuators,
        store,
        EPOCH.plus(t),
    )
    .await
    .expect("restart");
    for _ in 0..20 {
        t += charter.interval;
        for e in c.tick(EPOCH.plus(t)).await.expect("tick").events {
            if let Event::StepApplied { action, .. } = e.event {
                assert_ne!(
                    action.component, "catalog",
                    "acted on catalog after restart"
                );
            }
        }
    }
}
