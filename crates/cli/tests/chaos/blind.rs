//! Blind freezes every step: a multi-step policy (throttle now, scale out, lift the
//! throttle once the capacity is ready) is running when Prometheus is killed. From
//! the moment the daemon reports itself blind until it sees again, the actuator must
//! receive nothing — not even the policy's scheduled last step.

use crate::harness::{CharterSpec, Daemon, Prometheus, Sim, client, poll, tails, tally};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The scale-out's time to effect: the lift is scheduled this long after it.
const SCALE_TTE_SECS: u64 = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stopped_mid_policy_no_step_while_blind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let http = client();
    let sim = Sim::start(d, 21, 1.0, "0s");
    let mut prom = Prometheus::start(d, sim.addr());
    let prom_url = prom.url();
    let actions = format!(
        "  scale_out: {{ cost: 1, step: 1, time_to_effect: {SCALE_TTE_SECS}s }}\n  \
         throttle: {{ cost: 0, time_to_effect: 1s, params: {{ rate: \"50\" }} }}\n"
    );
    let charter = CharterSpec {
        name: "blind",
        interval_ms: 300,
        source_url: &prom_url,
        blind_after: 2,
        actuator_url: &sim.base,
        remedies: "[scale_out, throttle]",
        actions: &actions,
        ..Default::default()
    }
    .write(d);
    prom.wait_for_series(&http, "westworld_cpu_utilization", Duration::from_secs(60))
        .await;
    let daemon = Daemon::start(d, "run", &charter, &d.join("charter.db"));
    daemon.wait_ready(&http, 200, Duration::from_secs(30)).await;
    let prom_log = prom.log.clone();
    let logs = |extra: &str| {
        format!(
            "{extra}\n{}",
            tails(&[&daemon.run.log, &sim.log, &prom_log])
        )
    };

    sim.inject(
        &http,
        json!({"kind": "traffic_surge", "target": "catalog", "factor": 3.0, "duration": "10m"}),
    )
    .await;
    // The policy's first steps land: a throttle and a scale-out on one component.
    let started = poll(Duration::from_secs(60), || async {
        let ledger = sim.ledger(&http).await;
        let mut kinds = Vec::new();
        for key in ledger.landed() {
            let a = sim.action(&http, &key).await?;
            kinds.push((key, a));
        }
        kinds
            .iter()
            .any(|(_, a)| a["kind"] == "scale_out")
            .then_some(kinds)
    })
    .await
    .unwrap_or_else(|| panic!("no scale-out within 60 s\n{}", logs("")));
    let scaled_at = Instant::now();
    prom.kill();
    let throttled = started
        .iter()
        .any(|(_, a)| a["kind"] == "throttle" && a["params"]["rate"] != "none");
    assert!(
        throttled,
        "the planner did not start the multi-step policy (throttle, scale out, lift): {started:?}\n{}",
        logs("")
    );

    // Blind: /readyz stays 200 (readiness means "can serve") and says why; from here
    // nothing may reach the actuator.
    let blind_readyz = || async {
        let (code, body) = daemon.readyz(&http).await?;
        (code == 200 && body.contains("monitor blind")).then_some(body)
    };
    let why = poll(Duration::from_secs(15), blind_readyz)
        .await
        .unwrap_or_else(|| panic!("/readyz never said 200 and blind within 15 s\n{}", logs("")));
    let blind_at = Instant::now();
    let at_blind = sim.ledger(&http).await;
    // The scenario is only a test if the lift was still to come when the daemon went
    // blind.
    for key in at_blind.landed() {
        let a = sim.action(&http, &key).await.unwrap_or(Value::Null);
        assert!(
            !(a["kind"] == "throttle" && a["params"]["rate"] == "none"),
            "the throttle was lifted before the daemon reported itself blind ({:.1}s after \
             the scale-out): the scenario could not test a step while blind\n{}",
            scaled_at.elapsed().as_secs_f64(),
            logs("")
        );
    }
    // Past the time the lift was scheduled for, with a margin.
    let due = scaled_at + Duration::from_secs(SCALE_TTE_SECS + 5);
    tokio::time::sleep(due.saturating_duration_since(Instant::now())).await;
    let still_blind = daemon.readyz(&http).await;
    let state_blind = daemon.state(&http).await.map(|s| s["blind"].clone());
    let at_end = sim.ledger(&http).await;
    let blind_for = blind_at.elapsed();

    // Sight again: the policy may go on.
    prom.restart();
    poll(Duration::from_secs(60), || async {
        let (code, body) = daemon.readyz(&http).await?;
        (code == 200 && !body.contains("monitor blind")).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("the daemon did not see again within 60 s\n{}", logs("")));
    let sight = sim.ledger(&http).await;
    let lifted_after_sight = poll(Duration::from_secs(15), || async {
        let ledger = sim.ledger(&http).await;
        for key in ledger.landed() {
            if sight.effects.contains_key(&key) {
                continue;
            }
            let a: Value = sim.action(&http, &key).await?;
            if a["kind"] == "throttle" && a["params"]["rate"] == "none" {
                return Some(());
            }
        }
        None
    })
    .await
    .is_some();

    let while_blind: Vec<&String> = at_end
        .requests
        .iter()
        .filter(|(k, n)| at_blind.requests.get(*k) != Some(*n))
        .map(|(k, _)| k)
        .collect();
    let mut sent = Vec::new();
    for key in &while_blind {
        sent.push(sim.action(&http, key).await.unwrap_or(Value::Null));
    }
    tally(
        "Prometheus stopped mid-policy",
        &format!(
            "{} steps while blind for {:.1}s (lift applied after sight: {})",
            while_blind.len(),
            blind_for.as_secs_f64(),
            if lifted_after_sight { "yes" } else { "no" }
        ),
        "0 steps while blind",
    );
    assert!(
        matches!(&still_blind, Some((200, body)) if body.contains("monitor blind"))
            && state_blind == Some(Value::Bool(true)),
        "the daemon saw again while Prometheus was down: {still_blind:?}, state blind \
         {state_blind:?}\n{}",
        logs("")
    );
    assert!(
        while_blind.is_empty(),
        "steps reached the actuator while the daemon was blind ({why}): {sent:?}\n{}",
        logs(&format!("at blind {at_blind:?}\nat end {at_end:?}"))
    );
}
