//! Issue 16, item 7: an outcome is credited to the objective and cause class its
//! policy was decided for — the ones its rationale names — not to the alphabetically
//! first target on the acted-on component or to a diagnosis that changed while the
//! policy ran.
//!
//! The real controller with `examples/westworld.yaml` over scenario files in virtual
//! time; every stored outcome is compared with its policy's rationale. In
//! `pool-exhaustion` the reconfigure of auth is decided for `pool_utilization`
//! while `backend_latency_p50@auth` sorts first among its targets.

mod common;

use charter_knowledge::{SqliteStore, prelude::*};
use charter_testkit::westworld;
use common::run_scenario;
use std::path::Path;
use std::sync::Arc;

/// The text between `start` and the next `end` in `s`.
fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let rest = &s[from..];
    Some(&rest[..rest.find(end).unwrap_or(rest.len())])
}

#[tokio::test]
async fn outcomes_are_stored_under_the_objective_and_cause_decided_for() {
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for name in ["pool-exhaustion", "zone-outage", "dependency-outage"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scenarios")
            .join(format!("{name}.yaml"));
        let scenario = charter_sim::Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let store = Arc::new(SqliteStore::open_in_memory().await.expect("store"));
        run_scenario(westworld(), &scenario, 1, store.clone()).await;
        for o in store.outcomes().await.expect("outcomes") {
            let policy = store
                .policy(o.outcome.policy_id)
                .await
                .expect("read policy")
                .expect("the outcome's policy is stored");
            let r = &policy.rationale;
            let objective = between(r, "; symptom objective ", ";").expect("objective named");
            let cause = between(r, ": cause ", " (confidence").expect("cause named");
            checked += 1;
            let stored_cause = o.cause.map(|c| c.to_string()).unwrap_or_default();
            if o.objective != objective || stored_cause != cause {
                mismatches.push(format!(
                    "{name}: {} on {} decided for ({objective}, {cause}) stored under ({}, {stored_cause})",
                    o.action_kind, o.component, o.objective
                ));
            }
        }
    }
    assert!(
        checked >= 3,
        "only {checked} outcomes: the test proves little"
    );
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}
