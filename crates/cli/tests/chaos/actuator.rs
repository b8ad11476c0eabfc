//! An actuator slower than its timeout: the simulator's server applies every action
//! at once but answers only after a delay longer than the charter's actuator timeout,
//! so every call ends, for Charter, without an answer. Every action that landed must
//! be journaled as applied and counted by the guardrails — so no more actions land
//! than `max_actions_per_hour` allows.

use crate::harness::{CharterSpec, Daemon, Sim, client, poll, tails, tally};
use charter_knowledge::{JournalStatus, SqliteStore, prelude::*};
use charter_model::Timestamp;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const TIMEOUT_MS: u64 = 500;
const ACTION_DELAY: &str = "2s";
const MAX_ACTIONS_PER_HOUR: usize = 3;
/// How long the loop is watched after the first action landed.
const WATCH: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actuator_slower_than_its_timeout_every_landed_action_journaled_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let http = client();
    let sim = Sim::start(d, 31, 1.0, ACTION_DELAY);
    let guardrails = format!(
        "  max_actions_per_hour: {MAX_ACTIONS_PER_HOUR}\n  cooldown: 0s\n  max_concurrent: 8\n  \
         auto_approve_max_cost: 100\n  max_attempts_per_incident: 8\n  max_reversals: 1000\n"
    );
    let charter = CharterSpec {
        name: "slow-actuator",
        source_url: &sim.base,
        actuator_url: &sim.base,
        actuator_timeout_ms: TIMEOUT_MS,
        guardrails: &guardrails,
        ..Default::default()
    }
    .write(d);
    let db = d.join("charter.db");
    let mut daemon = Daemon::start(d, "run", &charter, &db);
    daemon.wait_ready(&http, 200, Duration::from_secs(30)).await;
    sim.inject(
        &http,
        json!({"kind": "traffic_surge", "target": "catalog", "factor": 4.0, "duration": "10m"}),
    )
    .await;
    let first = poll(Duration::from_secs(60), || async {
        let l = sim.ledger(&http).await;
        (!l.landed().is_empty()).then_some(())
    })
    .await;
    assert!(
        first.is_some(),
        "no action landed within 60 s\n{}",
        tails(&[&daemon.run.log, &sim.log])
    );
    tokio::time::sleep(WATCH).await;
    let status = daemon.run.terminate();
    let ledger = sim.ledger(&http).await;
    let logs = format!(
        "exit {status:?}; ledger {ledger:?}\n{}",
        tails(&[&daemon.run.log, &sim.log])
    );

    let store = SqliteStore::open(&db).await.expect("open the store");
    let mut journaled: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for e in store.executions().await.expect("executions") {
        for r in store.journal(e.id).await.expect("journal") {
            let s = match r.status {
                JournalStatus::Intent => "intent",
                JournalStatus::Applied => "applied",
                JournalStatus::Failed => "failed",
                JournalStatus::Compensated => "compensated",
            };
            journaled.entry(r.idempotency_key).or_default().insert(s);
        }
    }
    let counted = store
        .actions_since(Timestamp(0))
        .await
        .expect("guardrail actions");
    store.close().await;

    let landed = ledger.landed();
    let forward: Vec<&String> = landed.iter().filter(|k| !k.ends_with("-undo")).collect();
    let unjournaled: Vec<(&String, Option<&BTreeSet<&str>>)> = landed
        .iter()
        .filter(|k| {
            !journaled
                .get(*k)
                .is_some_and(|s| s.contains("applied") || s.contains("compensated"))
        })
        .map(|k| (k, journaled.get(k)))
        .collect();
    tally(
        "actuator slower than its timeout",
        &format!(
            "{} actions landed, {} journaled as applied, {} counted by the guardrails",
            landed.len(),
            landed.len() - unjournaled.len(),
            counted.len()
        ),
        &format!("all landed journaled and counted, at most {MAX_ACTIONS_PER_HOUR} landed"),
    );
    assert!(
        unjournaled.is_empty(),
        "actions landed but are not journaled as applied (key, journal rows): {unjournaled:?}\n{logs}"
    );
    assert!(
        counted.len() >= forward.len(),
        "{} actions landed but the guardrails counted {}: {counted:?}\n{logs}",
        forward.len(),
        counted.len()
    );
    assert!(
        forward.len() <= MAX_ACTIONS_PER_HOUR,
        "{} actions landed although max_actions_per_hour is {MAX_ACTIONS_PER_HOUR}: {forward:?}\n{logs}",
        forward.len()
    );
}
