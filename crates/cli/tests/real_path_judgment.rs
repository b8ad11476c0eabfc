//! The same judgment on the real path as in process: `examples/prometheus.yaml`
//! (its objectives, remedies, actions and change queries as written; only its
//! addresses and, for the test's time budget, its interval and `for:` durations are
//! shortened) running against the simulator's HTTP server through a real Prometheus
//! and a real Alertmanager with `examples/prometheus/rules.yml`. A traffic surge must
//! be met first by scale_out or throttle of the surged service, a bad deploy by a
//! rollback of the deployed service — what `charter demo` does in process.

mod real_path;
mod servers;

use real_path::{Ports, Stack};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn example(path: &str) -> String {
    let file = format!("{}/../../examples/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {file}: {e}"))
}

/// Replace `from` (which must occur) by `to` everywhere in `text`.
fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the example no longer holds `{from}`");
    text.replace(from, to)
}

/// `examples/prometheus.yaml` on the test's ports, reading every 2 s, its `for:`
/// durations a third as long.
fn charter(ports: Ports) -> String {
    let text = example("prometheus.yaml");
    let text = replace(
        &text,
        "http://127.0.0.1:9090",
        &format!("http://127.0.0.1:{}", ports.prometheus),
    );
    let text = replace(
        &text,
        "http://127.0.0.1:8700",
        &format!("http://127.0.0.1:{}", ports.sim),
    );
    let text = replace(&text, "interval: 15s", "interval: 2s");
    // The stack writes the webhook's token beside the charter.
    let text = replace(
        &text,
        "token_file: prometheus/alert-token",
        "token_file: alert-token",
    );
    scale_for(&text)
}

/// Every `for:` of the examples a third as long (30 s → 10 s, 15 s → 5 s).
fn scale_for(text: &str) -> String {
    let text = replace(text, "for: 30s", "for: 10s");
    replace(&text, "for: 15s", "for: 5s")
}

/// `examples/prometheus/rules.yml` with the charter's `for:` durations.
fn rules() -> String {
    scale_for(&example("prometheus/rules.yml"))
}

/// Start the stack, let it run healthy for a while (the diagnosis compares the
/// incident with what came before), inject `fault` and return the first policy
/// Charter decides, with how long it took.
async fn first_policy(seed: u64, fault: Value) -> (Stack, Value) {
    let stack = Stack::start(seed, charter, &rules()).await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    let before = stack.policies().await.expect("policies");
    assert!(
        before.is_empty(),
        "acted before any fault: {before:?}\n{}",
        stack.logs()
    );
    let injected = Instant::now();
    stack.inject(fault).await;
    let policy = stack
        .wait_for("the first policy", Duration::from_secs(120), || async {
            stack.policies().await?.into_iter().next()
        })
        .await;
    eprintln!(
        "first policy {:.0}s after the fault: {policy}",
        injected.elapsed().as_secs_f64()
    );
    (stack, policy)
}

/// The main action of a policy as `(kind, component)`.
fn main_action(policy: &Value) -> (String, String) {
    let main = policy["main"].as_u64().unwrap_or(0) as usize;
    let a = &policy["actions"][main];
    (
        a["kind"].as_str().unwrap_or_default().to_string(),
        a["component"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traffic_surge_is_met_with_capacity_not_a_failover() {
    let (stack, policy) = first_policy(
        7,
        json!({"kind": "traffic_surge", "target": "catalog", "factor": 3.0, "duration": "10m"}),
    )
    .await;
    let (kind, component) = main_action(&policy);
    assert!(
        matches!(kind.as_str(), "scale_out" | "throttle") && component == "catalog",
        "first action {kind}({component}), expected scale_out or throttle of catalog: {policy}\n{}",
        stack.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_deploy_is_rolled_back() {
    let (stack, policy) = first_policy(8, json!({"kind": "bad_deploy", "target": "auth"})).await;
    let (kind, component) = main_action(&policy);
    assert!(
        kind == "rollback" && component == "auth",
        "first action {kind}({component}), expected rollback of auth: {policy}\n{}",
        stack.logs()
    );
    // For the reason the in-process loop gives: a change shortly before the errors.
    assert_eq!(policy["context"]["cause"], "bad_change", "{policy}");
}
