//! A clock that stepped back (issue 16, item 11): the store holds a guardrail action
//! dated a day after the loop's `now` (the wall clock stepped back, or the store was
//! written by a run whose virtual time was later). The loop must still act once the
//! cooldown, counted from `now`, has passed — not a day later.

mod common;

use charter_knowledge::{SqliteStore, prelude::*};
use charter_model::ActionKind;
use charter_orchestrator::Event;
use charter_sim::Scenario;
use charter_testkit::{EPOCH, westworld};
use common::run_scenario;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn an_action_dated_in_the_future_does_not_hold_the_cooldown_until_then() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("k.db"))
            .await
            .expect("store"),
    );
    let day = Duration::from_secs(86_400);
    store
        .record_action("auth", ActionKind::Rollback, EPOCH.plus(day))
        .await
        .expect("record");
    let scenario = Scenario::builtin("bad-deploy").expect("bad-deploy");
    let (events, _) = run_scenario(westworld(), &scenario, 1, store).await;
    let applied = events.iter().any(|(_, e)| {
        matches!(e, Event::StepApplied { action, .. }
            if action.kind == ActionKind::Rollback && action.component == "auth")
    });
    let log: Vec<String> = events
        .iter()
        .filter(|(_, e)| !matches!(e, Event::Violation { .. }))
        .map(|(t, e)| format!("[{:>5}s] {e}", t.as_secs()))
        .collect();
    assert!(applied, "rollback(auth) never applied:\n{}", log.join("\n"));
}
