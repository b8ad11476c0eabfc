//! Crash safety end to end (DESIGN.md §3, invariant 3): `charter run` acting through
//! the HTTP actuator on `charter sim serve`, and reading the same world through the
//! server's Prometheus query endpoint, is killed with SIGKILL at random moments
//! (seeded) and restarted on the same SQLite database until at least
//! [`TARGET_EXECUTIONS`] executions have been started, while faults are injected
//! through `/faults` so that incidents keep coming. Then a last startup recovery runs
//! and the server's ledger is checked against the journal:
//!
//! - no key changed the world more than once, and no applied key was sent again;
//! - every key the server was sent is in the journal (journal first, then act);
//! - every applied or compensated row of the journal is an effect on the server;
//! - every applied step of a `recovered` execution was undone on the server.
//!
//! Nothing is skipped: a process that cannot start fails the test. Every process is
//! killed when the test ends, also on failure.

mod common;

use charter_execute::{Actuator, HttpActuator};
use charter_knowledge::{ExecutionState, JournalStatus, SqliteStore, prelude::*};
use charter_model::Timestamp;
use charter_testkit::{Rng, WESTWORLD_COMPONENTS};
use common::{Proc, charter_bin, start_simulator, tail};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Executions to start, in total over all runs.
const TARGET_EXECUTIONS: usize = 200;
/// The test fails if the target is not reached within this.
const DEADLINE: Duration = Duration::from_secs(300);
/// Seed of the kill times and the faults.
const SEED: u64 = 0x00c0_ffee_5eed;
/// How long a run lives before it is killed, in milliseconds.
const LIFE_MS: (u64, u64) = (300, 1500);
/// How often a fault is injected while a run lives.
const FAULT_EVERY: Duration = Duration::from_millis(330);
/// Simulated seconds per wall-clock second.
const SPEED: f64 = 10.0;
/// How long the server answers an action after it took effect: a kill in that
/// window leaves an intent the server applied and the journal has no result for.
const ACTION_DELAY: &str = "100ms";

/// Inject one surge on a random component; the server must accept it. The factor
/// grows with the replicas the component has gained, so that scale-outs that stayed
/// do not make it immune.
async fn inject(client: &reqwest::Client, base: &str, rng: &mut Rng) {
    let target = WESTWORLD_COMPONENTS[rng.range(0..=WESTWORLD_COMPONENTS.len() - 1)];
    let state: Value = client
        .get(format!("{base}/v1/components/{target}"))
        .send()
        .await
        .expect("GET /v1/components")
        .json()
        .await
        .expect("component state");
    let replicas = state["replicas"].as_f64().expect("replicas");
    let factor = (replicas / 3.0).max(1.0) * rng.range(25u64..=40) as f64 / 10.0;
    let duration = format!("{}s", rng.range(15u64..=30));
    let resp = client
        .post(format!("{base}/faults"))
        .json(&serde_json::json!({
            "kind": "traffic_surge", "target": target, "factor": factor, "duration": duration
        }))
        .send()
        .await
        .expect("POST /faults");
    assert_eq!(
        resp.status().as_u16(),
        201,
        "fault refused: {:?}",
        resp.text().await
    );
}

async fn executions_started(db: &Path) -> usize {
    let store = SqliteStore::open(db)
        .await
        .expect("open the knowledge database");
    let n = store.executions().await.expect("read executions").len();
    store.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_never_applies_a_key_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_sim, base) = start_simulator(dir.path(), 7, SPEED, ACTION_DELAY);
    let charter_file = common::write_charter(
        dir.path(),
        "crash-test",
        Duration::from_millis(100),
        &base,
        "",
    );
    let db = dir.path().join("charter.db");
    let log = dir.path().join("run.log");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut rng = Rng::new(SEED);
    let started = Instant::now();
    let mut kills = 0u32;
    let mut executions = 0usize;

    while executions < TARGET_EXECUTIONS {
        assert!(
            started.elapsed() < DEADLINE,
            "only {executions} executions after {kills} kills in {:?}\n{}",
            started.elapsed(),
            tail(&log, 40)
        );
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let mut run = Proc(
            Command::new(charter_bin())
                .args(["--log", "info", "run"])
                .arg(&charter_file)
                .arg("--db")
                .arg(&db)
                .args(["--listen", "127.0.0.1:0"])
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(err))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start `charter run`: {e}")),
        );
        let life = Duration::from_millis(rng.range(LIFE_MS.0..=LIFE_MS.1));
        let until = Instant::now() + life;
        while Instant::now() < until {
            inject(&client, &base, &mut rng).await;
            let left = until.saturating_duration_since(Instant::now());
            tokio::time::sleep(left.min(FAULT_EVERY)).await;
        }
        if let Some(status) = run.0.try_wait().expect("poll `charter run`") {
            panic!(
                "`charter run` ended by itself with {status} before it was killed\n{}",
                tail(&log, 40)
            );
        }
        run.0.kill().expect("SIGKILL `charter run`");
        run.0.wait().expect("reap `charter run`");
        kills += 1;
        executions = executions_started(&db).await;
    }
    let duration = started.elapsed();

    // The last start's recovery, in process: the same code `Controller::new` runs.
    let (charter, _) = charter_model::load_charter(&charter_file).expect("charter");
    let actuator: Arc<dyn Actuator> =
        Arc::new(HttpActuator::new(&base, None, Duration::from_secs(5)).expect("actuator"));
    let actuators = BTreeMap::from([("sim".to_string(), actuator)]);
    let store = SqliteStore::open(&db)
        .await
        .expect("open the knowledge database");
    let last = charter_orchestrator::recover(&charter, &actuators, &store, Timestamp::now_wall())
        .await
        .expect("final recovery");
    assert!(
        store
            .unfinished_executions()
            .await
            .expect("read")
            .is_empty(),
        "{last}"
    );
    assert!(
        store.unfinished_journal().await.expect("read").is_empty(),
        "a step is still unknown after the final recovery: {last}"
    );

    let ledger: Value = client
        .get(format!("{base}/v1/effects"))
        .send()
        .await
        .expect("GET /v1/effects")
        .json()
        .await
        .expect("effects body");
    let count = |field: &str| -> BTreeMap<String, u64> {
        ledger[field]
            .as_object()
            .unwrap_or_else(|| panic!("no `{field}` in {ledger}"))
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().expect("a count")))
            .collect()
    };
    let effects = count("effects");
    let requests = count("requests");

    // The journal of every execution.
    let records = store.executions().await.expect("executions");
    let mut journaled: BTreeSet<String> = BTreeSet::new();
    let mut claimed: BTreeSet<String> = BTreeSet::new();
    let mut undone_missing = Vec::new();
    for e in &records {
        let rows = store.journal(e.id).await.expect("journal");
        for r in &rows {
            journaled.insert(r.idempotency_key.clone());
            if matches!(
                r.status,
                JournalStatus::Applied | JournalStatus::Compensated
            ) {
                claimed.insert(r.idempotency_key.clone());
            }
        }
        if e.state == ExecutionState::Recovered {
            for r in rows.iter().filter(|r| {
                r.status == JournalStatus::Applied && r.step < 1000 && r.action.kind.is_reversible()
            }) {
                let undo = format!("{}-undo", r.idempotency_key);
                if effects.get(&undo) != Some(&1) {
                    undone_missing.push(undo);
                }
            }
        }
    }
    let states = records.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e.state.as_str()).or_insert(0u32) += 1;
        m
    });
    let audit = store.audit_log(1_000_000).await.expect("audit log");
    let decisions = audit
        .iter()
        .filter(|a| a.kind == "recovery")
        .filter_map(|a| a.body["decision"].as_str())
        .fold(BTreeMap::new(), |mut m, d| {
            *m.entry(d.to_string()).or_insert(0u32) += 1;
            m
        });
    eprintln!(
        "crash test: {} executions, {kills} kills, {:.1}s; {} keys sent, {} applied; \
         execution states {states:?}; recovery decisions {decisions:?}",
        records.len(),
        duration.as_secs_f64(),
        requests.len(),
        effects.values().filter(|&&n| n > 0).count(),
    );

    let twice: Vec<_> = effects.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "keys that changed the world twice: {twice:?}"
    );
    let resent: Vec<_> = effects
        .iter()
        .filter(|(k, n)| **n == 1 && requests.get(*k) != Some(&1))
        .map(|(k, _)| (k, requests.get(k)))
        .collect();
    assert!(resent.is_empty(), "applied keys sent again: {resent:?}");
    let unjournaled: Vec<_> = requests
        .keys()
        .filter(|k| !journaled.contains(*k))
        .collect();
    assert!(
        unjournaled.is_empty(),
        "keys the server saw without a journal record: {unjournaled:?}"
    );
    let phantom: Vec<_> = claimed
        .iter()
        .filter(|k| effects.get(*k) != Some(&1))
        .collect();
    assert!(
        phantom.is_empty(),
        "journaled as applied but not applied on the server: {phantom:?}"
    );
    assert!(
        undone_missing.is_empty(),
        "recovered executions whose applied steps were not undone: {undone_missing:?}"
    );
    // The test must have exercised recovery, not only started executions.
    assert!(
        decisions.get("compensated").copied().unwrap_or(0) > 0,
        "no compensation by startup recovery in {kills} kills: {decisions:?}"
    );
    store.close().await;
}
