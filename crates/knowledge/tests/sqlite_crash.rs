//! Crash safety of the SQLite store: a writer process is killed with SIGKILL at random
//! moments, many times over; after each kill the database must pass
//! `PRAGMA integrity_check` and hold every record whose write had returned `Ok`.
//!
//! The writer is this test binary run again with `--ignored crash_writer_child`: it
//! writes incidents, journal rows, audit entries and alert batches in turn and prints
//! each record's id on stdout once its write returned (acknowledged).

use charter_knowledge::{
    AlertInbox, GuardStore, Incidents, Journal, JournalRecord, JournalStatus, SqliteStore, Store,
};
use charter_model::{
    Action, ActionKind, Alert, AlertStatus, ExecutionId, Incident, IncidentId, IncidentState,
    Timestamp,
};
use sqlx::Connection;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// How many times the writer is killed.
const KILLS: u32 = 60;

/// Fixed, so that a failure can be replayed; the moments still vary with the machine.
const SEED: u64 = 0x6368_6172_7465_7221;

const DB_ENV: &str = "CHARTER_CRASH_DB";
const START_ENV: &str = "CHARTER_CRASH_START";

/// splitmix64: a small seeded generator (no dependency for one test).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Which kind of record id `id` is written as.
fn kind_of(id: u64) -> u64 {
    id % 4
}

fn incident(id: u64) -> Incident {
    Incident {
        id: IncidentId(id),
        opened_at: Timestamp::from_secs(id as i64),
        state: IncidentState::Open,
        violations: vec![format!("latency_p99@svc{id}")],
        root_cause: None,
        resolved_at: None,
        attempts: 0,
    }
}

fn journal_row(id: u64) -> JournalRecord {
    JournalRecord {
        execution_id: ExecutionId(id),
        step: 0,
        idempotency_key: format!("crash-{id}"),
        epoch: 0,
        action: Action::new(ActionKind::ScaleOut, "api").with_param("step", 1),
        status: JournalStatus::Intent,
        detail: String::new(),
        prior: BTreeMap::new(),
        at: Timestamp::from_secs(id as i64),
    }
}

fn alerts(id: u64) -> Vec<Alert> {
    (0..5)
        .map(|i| Alert {
            fingerprint: format!("crash-{id}-{i}"),
            status: AlertStatus::Firing,
            starts_at: Timestamp::from_secs(id as i64),
            ends_at: None,
            labels: BTreeMap::from([("alertname".to_string(), "latency_p99".to_string())]),
            annotations: BTreeMap::new(),
            objective: Some("latency_p99".into()),
            component: Some("api".into()),
            severity: None,
            received_at: Timestamp::from_secs(id as i64),
            seq: 0,
        })
        .collect()
}

/// Write record `id` (of the kind [`kind_of`] says) and return once it is acknowledged.
async fn write(store: &SqliteStore, id: u64) -> Result<(), charter_knowledge::StoreError> {
    match kind_of(id) {
        0 => store.save_incident(&incident(id)).await,
        1 => store.journal_step(&journal_row(id)).await.map(|_| ()),
        2 => {
            store
                .audit(
                    Timestamp::from_secs(id as i64),
                    "crash.test",
                    &serde_json::json!({ "id": id }),
                )
                .await
        }
        _ => store.save_alerts(&alerts(id)).await.map(|_| ()),
    }
}

/// The writer process (run by [`acknowledged_records_survive_sigkill`], not by hand).
#[tokio::test]
#[ignore = "the child process of acknowledged_records_survive_sigkill"]
async fn crash_writer_child() -> TestResult {
    let (Ok(db), Ok(start)) = (std::env::var(DB_ENV), std::env::var(START_ENV)) else {
        return Err(format!("{DB_ENV} and {START_ENV} must be set").into());
    };
    let store = SqliteStore::open(Path::new(&db)).await?;
    let mut out = std::io::stdout().lock();
    let mut id: u64 = start.parse()?;
    loop {
        write(&store, id).await?;
        // Straight to the pipe, not through the test harness's capture.
        writeln!(out, "ack {id}")?;
        out.flush()?;
        id += 1;
    }
}

/// What must be in the database after a crash: every acknowledged id, checked through
/// a freshly opened store.
async fn check(path: &Path, acked: &BTreeSet<u64>) -> TestResult {
    {
        let url = format!("sqlite://{}", path.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await?;
        let verdict: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut conn)
            .await?;
        assert_eq!(verdict, ["ok"], "integrity_check after a SIGKILL");
        conn.close().await?;
    }
    let store = SqliteStore::open(path).await?;
    let incidents: BTreeSet<u64> = store
        .incidents()
        .await?
        .iter()
        .map(|i| i.id.get())
        .collect();
    let journal: BTreeSet<u64> = store
        .unfinished_journal()
        .await?
        .iter()
        .map(|r| r.execution_id.get())
        .collect();
    let audited: BTreeSet<u64> = store
        .audit_log(usize::MAX)
        .await?
        .iter()
        .filter_map(|e| e.body.get("id").and_then(serde_json::Value::as_u64))
        .collect();
    let alerts: Vec<Alert> = store.alerts_since(0).await?;
    let mut alert_ids: BTreeMap<u64, usize> = BTreeMap::new();
    for a in &alerts {
        *alert_ids
            .entry(a.starts_at.millis() as u64 / 1000)
            .or_default() += 1;
    }
    for &id in acked {
        let present = match kind_of(id) {
            0 => incidents.contains(&id),
            1 => journal.contains(&id),
            2 => audited.contains(&id),
            // A batch is all or nothing.
            _ => alert_ids.get(&id) == Some(&5),
        };
        assert!(present, "acknowledged record {id} was lost");
    }
    for (&id, &n) in &alert_ids {
        assert_eq!(n, 5, "alert batch {id} is partly stored");
    }
    store.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_sigkill() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("charter.db");
    let exe = std::env::current_exe()?;
    let mut rng = Rng(SEED);
    let mut acked = BTreeSet::new();
    let mut next_id: u64 = 1;
    let mut killed_mid_write = 0;
    for _ in 0..KILLS {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "crash_writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DB_ENV, &path)
            .env(START_ENV, next_id.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.strip_prefix("ack ").and_then(|id| id.parse::<u64>().ok()))
                .collect::<Vec<u64>>()
        });
        // Sometimes while the store is still opening (migrations), mostly mid-write.
        tokio::time::sleep(Duration::from_millis(20 + rng.below(200))).await;
        // SIGKILL: no destructor, no checkpoint, no close.
        child.kill()?;
        let status = child.wait()?;
        assert!(!status.success(), "the writer stopped by itself: {status}");
        let ids = reader.join().map_err(|_| "reader thread panicked")?;
        if !ids.is_empty() {
            killed_mid_write += 1;
        }
        next_id = ids.iter().max().map_or(next_id, |max| max + 1);
        acked.extend(ids);
        check(&path, &acked).await?;
    }
    assert!(
        killed_mid_write >= KILLS / 2,
        "only {killed_mid_write} of {KILLS} kills hit a writer that was writing"
    );
    assert!(
        acked.len() > 100,
        "only {} records acknowledged",
        acked.len()
    );
    eprintln!(
        "{KILLS} kills, {killed_mid_write} mid-write, {} acknowledged records all present",
        acked.len()
    );
    Ok(())
}
