//! Alerts are claims, the query is the measurement: a forged firing alert, and a
//! stale one (started long ago, never re-sent), posted to the webhook while the
//! objective's own query reads the component healthy, must lead to no action, and
//! must not keep a firing violation open against the query.

use crate::harness::{ALERT_TOKEN, CharterSpec, Daemon, Sim, alert, client, rfc3339, tails, tally};
use charter_model::Timestamp;
use serde_json::Value;
use std::time::Duration;

/// How long the loop is watched after the alert: many evaluations of the query.
const WATCH: Duration = Duration::from_secs(6);
const INTERVAL_MS: u64 = 300;

/// Post one firing alert on `cpu_utilization` of `component`, started at
/// `starts_at`, to a daemon whose query reads a quiet world; watch it; return the
/// actuator calls and the violation the state shows on that series, if any.
async fn claim_against_a_healthy_query(
    scenario: &str,
    component: &str,
    starts_at: Timestamp,
) -> (u64, Option<Value>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let http = client();
    let sim = Sim::start(d, 11, 1.0, "0s");
    let charter = CharterSpec {
        name: scenario,
        interval_ms: INTERVAL_MS,
        source_url: &sim.base,
        actuator_url: &sim.base,
        alerts: true,
        ..Default::default()
    }
    .write(d);
    let daemon = Daemon::start(d, "run", &charter, &d.join("charter.db"));
    daemon.wait_ready(&http, 200, Duration::from_secs(30)).await;
    // The query's own reading: the component is well within its objective.
    let cpu = sim.component(&http, component).await;
    tokio::time::sleep(Duration::from_millis(3 * INTERVAL_MS)).await;
    let state = daemon.state(&http).await.expect("state");
    assert_eq!(
        state["violations"].as_array().map(Vec::len),
        Some(0),
        "the world is not quiet before the alert: {state}\n{cpu}"
    );
    let fingerprint = format!("{scenario}-{component}");
    let (code, body) = daemon
        .post_alerts(
            &http,
            ALERT_TOKEN,
            &[alert(
                &fingerprint,
                &[
                    ("alertname", "cpu_utilization"),
                    ("service", component),
                    ("severity", "critical"),
                ],
                &rfc3339(starts_at),
            )],
        )
        .await
        .expect("post the alert");
    assert!(
        (200..300).contains(&code),
        "the webhook refused the alert: {code} {body}"
    );
    tokio::time::sleep(WATCH).await;
    let ledger = sim.ledger(&http).await;
    let state = daemon.state(&http).await.expect("state");
    let firing = state["violations"].as_array().and_then(|vs| {
        vs.iter()
            .find(|v| {
                v["objective"] == "cpu_utilization"
                    && v["component"] == component
                    && v["state"] == "firing"
            })
            .cloned()
    });
    let logs = format!(
        "ledger {ledger:?}\nstate {state}\n{}",
        tails(&[&daemon.run.log, &sim.log])
    );
    (ledger.posts(), firing, logs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_alert_against_a_healthy_query_takes_no_action() {
    let (actions, firing, logs) =
        claim_against_a_healthy_query("forged alerts", "catalog", Timestamp::now_wall()).await;
    tally(
        "forged alerts",
        &format!(
            "{actions} actions, violation {}",
            if firing.is_some() {
                "kept firing"
            } else {
                "not kept"
            }
        ),
        "0 actions, violation not kept",
    );
    assert_eq!(
        actions, 0,
        "a forged alert contradicted by the query led to actions\n{logs}"
    );
    assert!(
        firing.is_none(),
        "a forged alert keeps a firing violation although the query reads the component \
         healthy: {firing:?}\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_alert_never_resent_takes_no_action() {
    // Started a day ago and never sent again: Alertmanager would have re-sent a live
    // alert every `repeat_interval`.
    let starts_at = Timestamp::now_wall().minus(Duration::from_secs(24 * 3600));
    let (actions, firing, logs) =
        claim_against_a_healthy_query("stale alerts", "orders", starts_at).await;
    tally(
        "stale alerts",
        &format!(
            "{actions} actions, violation {}",
            if firing.is_some() {
                "kept firing"
            } else {
                "not kept"
            }
        ),
        "0 actions, violation not kept",
    );
    assert_eq!(
        actions, 0,
        "a stale alert contradicted by the query led to actions\n{logs}"
    );
    assert!(
        firing.is_none(),
        "a stale alert keeps a firing violation although the query reads the component \
         healthy: {firing:?}\n{logs}"
    );
}
