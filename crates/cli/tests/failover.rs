//! Several replicas on one PostgreSQL (issue 6, DESIGN.md invariant 3): two
//! `charter run` processes share a database and act on one `charter sim serve` through
//! the HTTP actuator (which passes the leader's fencing epoch on) while faults keep
//! coming. Round after round the leader is SIGKILLed, or SIGSTOPped past its lease
//! and then continued; each time:
//!
//! - the other replica takes over within the lease's ttl plus one loop interval (the
//!   time until the test sees the new lease: an upper bound);
//! - the continued old leader reports itself a follower and acts no more.
//!
//! At the end, against the server's ledger and the shared journal:
//!
//! - no idempotency key changed the world more than once;
//! - every key that changed the world was claimed in the journal under the epoch of
//!   the request that applied it;
//! - no claim was made under an epoch after a newer leader had started.
//!
//! It needs `CHARTER_TEST_POSTGRES_URL` (`scripts/test` starts a server) and fails
//! without it, unless `CHARTER_SKIP_POSTGRES=1` asks to skip. Every process is killed
//! when the test ends, also on failure.

mod common;

use charter_knowledge::{JournalStatus, PostgresStore, prelude::*};
use charter_testkit::WESTWORLD_COMPONENTS;
use common::{Proc, charter_bin, signal, start_simulator, tail, wait_for_line};
use serde_json::Value;
use sqlx::Connection;
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Rounds of each kind (SIGKILL, SIGSTOP).
const ROUNDS: usize = 20;
const TTL: Duration = Duration::from_millis(1200);
const RENEW: Duration = Duration::from_millis(400);
const INTERVAL: Duration = Duration::from_millis(300);
/// Simulated seconds per wall-clock second.
const SPEED: f64 = 10.0;

/// The common charter (see [`common::write_charter`]) with the PostgreSQL store and
/// the lease.
fn write_charter(dir: &Path, base: &str, db_url: &str) -> PathBuf {
    let knowledge = format!(
        "knowledge:\n  postgres: {{ url: \"{db_url}\" }}\n  lease: {{ ttl: {}ms, renew: {}ms }}\n",
        TTL.as_millis(),
        RENEW.as_millis(),
    );
    common::write_charter(dir, "failover-test", INTERVAL, base, &knowledge)
}

/// One `charter run` replica, its log and its HTTP address.
struct Replica {
    id: &'static str,
    proc: Proc,
    log: PathBuf,
    addr: String,
    stopped: bool,
}

fn start_replica(dir: &Path, charter: &Path, id: &'static str, generation: usize) -> Replica {
    let log = dir.join(format!("run-{id}-{generation}.log"));
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .expect("log file");
    let err = out.try_clone().expect("log file");
    let child = Command::new(charter_bin())
        .args(["--log", "info", "run"])
        .arg(charter)
        .args(["--listen", "127.0.0.1:0", "--replica-id", id])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `charter run`: {e}"));
    let proc = Proc(child);
    let rest = wait_for_line(&log, "http on ", Duration::from_secs(30))
        .unwrap_or_else(|| panic!("replica {id} did not start\n{}", tail(&log, 30)));
    let addr = rest
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    Replica {
        id,
        proc,
        log,
        addr,
        stopped: false,
    }
}

async fn readyz(client: &reqwest::Client, r: &Replica) -> String {
    match client.get(format!("http://{}/readyz", r.addr)).send().await {
        Ok(resp) => resp.text().await.unwrap_or_default(),
        Err(e) => format!("unreachable: {e}"),
    }
}

/// `charter_leader` from a replica's /metrics.
async fn leader_gauge(client: &reqwest::Client, r: &Replica) -> Option<u64> {
    let text = client
        .get(format!("http://{}/metrics", r.addr))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("charter_leader "))
        .and_then(|v| v.trim().parse().ok())
}

/// Keep injecting surges on random components (so that there is always something to
/// do) until the flag is set.
async fn inject_faults(base: String, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let mut n: u64 = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        n += 1;
        let target = WESTWORLD_COMPONENTS[(n.wrapping_mul(2_654_435_761) % 8) as usize];
        let replicas = client
            .get(format!("{base}/v1/components/{target}"))
            .send()
            .await
            .ok();
        let replicas = match replicas {
            Some(r) => r
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["replicas"].as_f64())
                .unwrap_or(1.0),
            None => 1.0,
        };
        let factor = (replicas / 3.0).max(1.0) * 3.0;
        let _ = client
            .post(format!("{base}/faults"))
            .json(&serde_json::json!({
                "kind": "traffic_surge", "target": target, "factor": factor, "duration": "20s"
            }))
            .send()
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A new, empty database on the test server, named after the test: (admin url,
/// database, url); `None` when skipping was asked for.
async fn fresh_database(test: &str) -> Option<(String, String, String)> {
    let admin_url = match std::env::var("CHARTER_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ if std::env::var("CHARTER_SKIP_POSTGRES").as_deref() == Ok("1") => {
            eprintln!("CHARTER_SKIP_POSTGRES=1: failover test skipped");
            return None;
        }
        _ => panic!(
            "CHARTER_TEST_POSTGRES_URL is not set: run scripts/test, which starts a \
             PostgreSQL server (or set CHARTER_SKIP_POSTGRES=1 to skip for local work)"
        ),
    };
    let database = format!("charter_{test}_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to CHARTER_TEST_POSTGRES_URL");
    sqlx::raw_sql(&format!("CREATE DATABASE {database}"))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    admin.close().await.expect("close");
    let (scheme, rest) = admin_url.split_once("://").expect("a URL");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let url = format!("{scheme}://{}/{database}", &rest[..authority_end]);
    Some((admin_url, database, url))
}

async fn drop_database(admin_url: &str, database: &str) {
    if let Ok(mut admin) = sqlx::PgConnection::connect(admin_url).await {
        let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            .execute(&mut admin)
            .await;
        let _ = admin.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_takes_over_and_no_action_is_applied_twice_or_by_a_stale_leader() {
    let Some((admin_url, database, db_url)) = fresh_database("failover").await else {
        return;
    };
    // On failure the database stays for a post-mortem (the test server is throwaway).
    failover_rounds(db_url).await;
    drop_database(&admin_url, &database).await;
}

async fn failover_rounds(db_url: String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_sim, base) = start_simulator(dir.path(), 11, SPEED, "50ms");
    let charter = write_charter(dir.path(), &base, &db_url);
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(3))
        .build()
        .expect("client");
    let store = PostgresStore::connect(&db_url)
        .await
        .expect("connect to the test database");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let faults = tokio::spawn(inject_faults(base.clone(), stop.clone()));

    let mut replicas = vec![
        start_replica(dir.path(), &charter, "a", 0),
        start_replica(dir.path(), &charter, "b", 0),
    ];
    let bound = TTL + INTERVAL;
    let mut takeovers: Vec<(&str, Duration)> = Vec::new();
    let started = Instant::now();

    for round in 0..2 * ROUNDS {
        let kill = round % 2 == 0;
        // The current leader, once it has acted under its epoch or had time to.
        let lease = wait_for_leader(&store, &client, &replicas).await;
        let leader = replicas
            .iter()
            .position(|r| r.id == lease.holder)
            .unwrap_or_else(|| panic!("round {round}: the lease names {}", lease.holder));
        let follower = 1 - leader;
        tokio::time::sleep(Duration::from_millis(600)).await;

        let t0 = Instant::now();
        if kill {
            signal(&replicas[leader].proc.0, "KILL");
        } else {
            signal(&replicas[leader].proc.0, "STOP");
            replicas[leader].stopped = true;
        }
        // Takeover: the other replica holds a newer epoch.
        let taken = loop {
            if let Ok(Some(l)) = store.lease().await
                && l.epoch > lease.epoch
            {
                break (l, t0.elapsed());
            }
            assert!(
                t0.elapsed() < 10 * bound,
                "round {round}: nobody took over after {:?}\n{}",
                t0.elapsed(),
                tail(&replicas[follower].log, 30)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(
            taken.0.holder, replicas[follower].id,
            "round {round}: the lease went to {}",
            taken.0.holder
        );
        assert!(
            taken.1 <= bound,
            "round {round} ({}): takeover took {:?}, more than ttl + interval = {bound:?}",
            if kill { "SIGKILL" } else { "SIGSTOP" },
            taken.1
        );
        takeovers.push((if kill { "SIGKILL" } else { "SIGSTOP" }, taken.1));

        if kill {
            let _ = replicas[leader].proc.0.wait();
            let id = replicas[leader].id;
            replicas[leader] = start_replica(dir.path(), &charter, id, round + 1);
        } else {
            // Stopped past its lease, then continued: it must notice and follow.
            let stopped_for = TTL + Duration::from_millis(300);
            tokio::time::sleep(stopped_for.saturating_sub(t0.elapsed())).await;
            signal(&replicas[leader].proc.0, "CONT");
            replicas[leader].stopped = false;
            let deadline = Instant::now() + 4 * RENEW + INTERVAL;
            let mut state = String::new();
            while Instant::now() < deadline {
                state = readyz(&client, &replicas[leader]).await;
                if state.contains("follower") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(
                state.contains("follower"),
                "round {round}: the continued old leader says `{}`\n{}",
                state.trim(),
                tail(&replicas[leader].log, 30)
            );
        }
        // The new leader says so too, in /readyz and /metrics.
        let state = readyz(&client, &replicas[follower]).await;
        assert!(
            state.contains("leader") && !state.contains("follower"),
            "round {round}: the new leader says `{}`",
            state.trim()
        );
        assert_eq!(leader_gauge(&client, &replicas[follower]).await, Some(1));
        if !kill {
            assert_eq!(leader_gauge(&client, &replicas[leader]).await, Some(0));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = faults.await;
    let elapsed = started.elapsed();
    drop(replicas);

    // The ledger of the simulator's server and the shared journal.
    let ledger: Value = client
        .get(format!("{base}/v1/effects"))
        .send()
        .await
        .expect("GET /v1/effects")
        .json()
        .await
        .expect("effects body");
    let map = |field: &str| -> BTreeMap<String, u64> {
        ledger[field]
            .as_object()
            .unwrap_or_else(|| panic!("no `{field}` in {ledger}"))
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().expect("a number")))
            .collect()
    };
    let effects = map("effects");
    let epochs = map("epochs");
    let twice: Vec<_> = effects.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "keys that changed the world twice: {twice:?}"
    );

    let mut claims: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    for e in store.executions().await.expect("executions") {
        for r in store.journal(e.id).await.expect("journal") {
            if r.status == JournalStatus::Intent {
                claims.insert(r.idempotency_key.clone(), (r.epoch, r.at.millis()));
            }
        }
    }
    for (key, epoch) in &epochs {
        let Some((claimed, _)) = claims.get(key) else {
            panic!("key {key} changed the world (epoch {epoch}) but was never claimed");
        };
        assert_eq!(
            claimed, epoch,
            "key {key} was claimed under epoch {claimed} but applied under {epoch}"
        );
    }
    // When each leader started (the audit entry a new leader writes).
    let mut started_at: BTreeMap<u64, i64> = BTreeMap::new();
    for entry in store.audit_log(1_000_000).await.expect("audit") {
        if entry.kind == "leader"
            && let Some(epoch) = entry.body["epoch"].as_u64()
        {
            started_at.insert(epoch, entry.at.millis());
        }
    }
    for (key, (epoch, at)) in &claims {
        let newer_started_before = started_at
            .iter()
            .find(|(e, started)| **e > *epoch && **started < *at);
        assert!(
            newer_started_before.is_none(),
            "key {key} was claimed under epoch {epoch} at {at} ms, after leader {:?} started",
            newer_started_before
        );
    }
    let max_epoch = ledger["max_epoch"].as_u64().unwrap_or(0);
    let distinct: std::collections::BTreeSet<u64> = epochs.values().copied().collect();
    assert!(
        distinct.len() >= ROUNDS,
        "actions were applied under only {} epochs of {max_epoch}: the test did not exercise \
         the leaders ({distinct:?})",
        distinct.len()
    );
    // What the replicas learned together is readable from the shared database.
    let out = Command::new(charter_bin())
        .args(["knowledge", "--json", "--as-of-last-outcome", "--charter"])
        .arg(&charter)
        .output()
        .expect("run `charter knowledge`");
    assert!(
        out.status.success(),
        "`charter knowledge` on PostgreSQL failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("knowledge JSON");
    let outcomes = store.outcomes().await.expect("outcomes").len();
    let contexts = report["contexts"].as_array().map_or(0, Vec::len);
    assert!(
        outcomes == 0 || contexts > 0,
        "{outcomes} outcomes in the database but `charter knowledge` shows no context: {report}"
    );
    let worst = takeovers.iter().map(|(_, d)| *d).max().unwrap_or_default();
    let mut sorted: Vec<Duration> = takeovers.iter().map(|(_, d)| *d).collect();
    sorted.sort();
    eprintln!(
        "failover: {} rounds in {elapsed:?}; takeover median {:?}, worst {worst:?} (bound {bound:?}); \
         {} keys applied under {} epochs (max {max_epoch}); {} stale requests refused by the server; \
         {} claims",
        takeovers.len(),
        sorted[sorted.len() / 2],
        epochs.len(),
        distinct.len(),
        ledger["stale_refused"],
        claims.len()
    );
}

/// The lease once its holder is one of `replicas` and says it leads.
async fn wait_for_leader(
    store: &PostgresStore,
    client: &reqwest::Client,
    replicas: &[Replica],
) -> charter_knowledge::LeaseRecord {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(l)) = store.lease().await
            && l.expires_in_ms > 0
            && let Some(r) = replicas.iter().find(|r| r.id == l.holder && !r.stopped)
            && readyz(client, r).await.starts_with("ready: leader")
        {
            return l;
        }
        assert!(
            Instant::now() < deadline,
            "no leader within 30 s\n{}\n{}",
            tail(&replicas[0].log, 30),
            tail(&replicas[1].log, 30)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A sample's value from a replica's /metrics.
async fn metric(client: &reqwest::Client, r: &Replica, name: &str) -> Option<f64> {
    let text = client
        .get(format!("http://{}/metrics", r.addr))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// Issue 19 item 5 with several replicas: each reloads its own file on SIGHUP, the
/// leader and the follower alike, and neither reload moves the lease; a file that
/// changes the lease (restart-only) is refused by both, and the lease stays too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_the_leader_and_the_follower_leaves_the_lease_alone() {
    let Some((admin_url, database, db_url)) = fresh_database("reload").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_sim, base) = start_simulator(dir.path(), 5, SPEED, "50ms");
    let charter = write_charter(dir.path(), &base, &db_url);
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(3))
        .build()
        .expect("client");
    let store = PostgresStore::connect(&db_url)
        .await
        .expect("connect to the test database");
    let replicas = [
        start_replica(dir.path(), &charter, "a", 0),
        start_replica(dir.path(), &charter, "b", 0),
    ];
    let lease = wait_for_leader(&store, &client, &replicas).await;

    let text = std::fs::read_to_string(&charter).expect("charter");
    assert!(text.contains("warning: 0.85"), "{text}");
    std::fs::write(&charter, text.replace("warning: 0.85", "warning: 0.8")).expect("write");
    for r in &replicas {
        signal(&r.proc.0, "HUP");
    }
    for r in &replicas {
        let line = wait_for_line(&r.log, "reloaded ", Duration::from_secs(20))
            .unwrap_or_else(|| panic!("replica {} did not reload\n{}", r.id, tail(&r.log, 30)));
        assert!(line.contains("changed: objectives"), "{}: {line}", r.id);
        assert_eq!(
            metric(&client, r, "charter_config_last_reload_successful").await,
            Some(1.0)
        );
    }
    // Several renewals later: the same holder, the same epoch, one leader.
    tokio::time::sleep(TTL * 3).await;
    let after = store.lease().await.expect("lease").expect("held");
    assert_eq!(
        (after.holder.as_str(), after.epoch),
        (lease.holder.as_str(), lease.epoch)
    );
    let mut gauges = Vec::new();
    for r in &replicas {
        gauges.push(leader_gauge(&client, r).await);
    }
    gauges.sort();
    assert_eq!(gauges, vec![Some(0), Some(1)]);

    // The lease's timing needs a restart: both refuse, and say so.
    let text = std::fs::read_to_string(&charter).expect("charter");
    std::fs::write(&charter, text.replace("ttl: 1200ms", "ttl: 2400ms")).expect("write");
    for r in &replicas {
        signal(&r.proc.0, "HUP");
    }
    for r in &replicas {
        wait_for_line(&r.log, "charter reload failed", Duration::from_secs(20))
            .unwrap_or_else(|| panic!("replica {} did not refuse\n{}", r.id, tail(&r.log, 30)));
        let log = std::fs::read_to_string(&r.log).expect("log");
        assert!(log.contains("(changed: knowledge)"), "{}", tail(&r.log, 10));
        assert_eq!(
            metric(&client, r, "charter_config_last_reload_successful").await,
            Some(0.0)
        );
    }
    tokio::time::sleep(TTL * 2).await;
    let after = store.lease().await.expect("lease").expect("held");
    assert_eq!(
        (after.holder.as_str(), after.epoch),
        (lease.holder.as_str(), lease.epoch)
    );
    drop(replicas);
    drop_database(&admin_url, &database).await;
}
