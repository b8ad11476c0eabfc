//! The store against the real `charter` binary (issue 16, items 8, 9 and 11): a second
//! `charter run` on one SQLite file is refused naming the first; a corrupted file is
//! refused before any actuator is called; shadow mode calls no actuator, startup
//! recovery included; `charter demo --db` run twice on one file continues its virtual
//! time.

// `start_simulator` is for the tests that drive `charter sim serve`.
#[allow(dead_code)]
mod common;

use charter_knowledge::SqliteStore;
use charter_knowledge::prelude::*;
use charter_knowledge::{ExecutionRecord, ExecutionState, JournalRecord, JournalStatus};
use charter_model::{Action, ActionKind, ExecutionId, IncidentId, PolicyId, Timestamp};
use common::{Proc, charter_bin, tail, wait_for_line, write_charter};
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A loopback HTTP server that counts the connections made to it and answers each
/// with a 503; its base URL and the count.
fn counting_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    (format!("http://{addr}"), count)
}

/// `dir/charter.yaml` whose Prometheus source is `prometheus` and whose actuator is
/// `actuator`, in `mode`.
fn charter(dir: &Path, prometheus: &str, actuator: &str, mode: &str) -> PathBuf {
    let path = write_charter(
        dir,
        "store-safety",
        Duration::from_millis(200),
        prometheus,
        "",
    );
    let text = std::fs::read_to_string(&path).expect("read charter");
    let text = text
        .replace("mode: autonomous", &format!("mode: {mode}"))
        .replace(
            &format!("sim: {{ http: {{ url: \"{prometheus}\""),
            &format!("sim: {{ http: {{ url: \"{actuator}\""),
        );
    assert!(text.contains(actuator), "actuator URL replaced:\n{text}");
    std::fs::write(&path, text).expect("write charter");
    path
}

/// An execution left unfinished by a crash: its scale-out of `orders` was applied
/// (journaled with its prior), so startup recovery would undo it.
async fn seed_unfinished_execution(db: &Path) {
    let store = SqliteStore::open(db).await.expect("open store");
    let at = Timestamp::from_secs(1_700_000_000);
    let action = Action::new(ActionKind::ScaleOut, "orders").with_param("step", 1);
    store
        .save_execution(&ExecutionRecord {
            id: ExecutionId(1),
            policy_id: PolicyId(1),
            incident_id: IncidentId(1),
            started_at: at,
            finished_at: None,
            state: ExecutionState::Applying,
            actions: vec![action.clone()],
        })
        .await
        .expect("save execution");
    for status in [JournalStatus::Intent, JournalStatus::Applied] {
        let applied = status == JournalStatus::Applied;
        store
            .journal_step(&JournalRecord {
                execution_id: ExecutionId(1),
                step: 0,
                idempotency_key: "e1-s0".into(),
                epoch: 0,
                action: action.clone(),
                status,
                detail: if applied {
                    "2 → 3 replicas".into()
                } else {
                    String::new()
                },
                prior: if applied {
                    BTreeMap::from([("replicas".to_string(), "2".to_string())])
                } else {
                    BTreeMap::new()
                },
                at,
            })
            .await
            .expect("journal");
    }
    store.close().await;
}

fn run_command(charter: &Path, db: &Path, dir: &Path) -> Command {
    let mut c = Command::new(charter_bin());
    c.args(["--log", "info", "run"])
        .arg(charter)
        .arg("--db")
        .arg(db)
        .args(["--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .stdin(Stdio::null());
    c
}

/// Run a `charter run` that must stop by itself within `timeout`; its output.
fn run_to_exit(mut command: Command, timeout: Duration) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start charter run");
    let mut proc = Proc(child);
    let deadline = Instant::now() + timeout;
    loop {
        if proc.0.try_wait().expect("poll").is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "`charter run` was expected to refuse to start, but it is still running after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = Output {
        status: proc.0.wait().expect("reap"),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    if let Some(mut s) = proc.0.stdout.take() {
        let _ = s.read_to_end(&mut out.stdout);
    }
    if let Some(mut s) = proc.0.stderr.take() {
        let _ = s.read_to_end(&mut out.stderr);
    }
    out
}

/// Start a `charter run` logging to `log` and wait until it runs its loop.
fn start_run(command: &mut Command, log: &Path) -> Proc {
    let out = std::fs::File::create(log).expect("log");
    let err = out.try_clone().expect("log");
    let proc = Proc(
        command
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start charter run"),
    );
    assert!(
        wait_for_line(log, "charter: running", Duration::from_secs(30)).is_some(),
        "`charter run` did not start\n{}",
        tail(log, 30)
    );
    proc
}

#[test]
fn a_second_run_on_one_store_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, _) = counting_server();
    let file = charter(dir.path(), &url, &url, "shadow");
    let db = dir.path().join("charter.db");
    let first = start_run(
        &mut run_command(&file, &db, dir.path()),
        &dir.path().join("1.log"),
    );

    let out = run_to_exit(run_command(&file, &db, dir.path()), Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("is in use by another charter process"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("pid {}", first.0.id())),
        "{stderr}"
    );
    assert!(stderr.contains("charter.db.lock"), "{stderr}");
    assert!(
        stderr.contains("run"),
        "names the holder's command: {stderr}"
    );
    drop(first);
    // SIGKILL released the lock: the next run starts.
    let again = start_run(
        &mut run_command(&file, &db, dir.path()),
        &dir.path().join("3.log"),
    );
    drop(again);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupted_store_is_refused_before_any_actuator_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (prometheus, _) = counting_server();
    let (actuator, calls) = counting_server();
    let file = charter(dir.path(), &prometheus, &actuator, "autonomous");
    let db = dir.path().join("charter.db");
    seed_unfinished_execution(&db).await;
    // A table recovery never reads, damaged: only a check of the whole file sees it.
    let root = {
        use sqlx::{ConnectOptions, Connection};
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&db)
            .connect()
            .await
            .expect("connect");
        sqlx::query("CREATE TABLE filler (x TEXT)")
            .execute(&mut conn)
            .await
            .expect("create");
        for i in 0..100 {
            sqlx::query("INSERT INTO filler (x) VALUES ($1)")
                .bind(format!("{i:0>400}"))
                .execute(&mut conn)
                .await
                .expect("insert");
        }
        let root: i64 =
            sqlx::query_scalar("SELECT rootpage FROM sqlite_master WHERE name = 'filler'")
                .fetch_one(&mut conn)
                .await
                .expect("root page");
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
            .expect("checkpoint");
        conn.close().await.expect("close");
        root
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .expect("open db file");
    f.seek(SeekFrom::Start(((root - 1) * 4096) as u64))
        .expect("seek");
    f.write_all(&[0x5a; 4096]).expect("corrupt");
    f.sync_all().expect("sync");
    drop(f);

    let out = run_to_exit(run_command(&file, &db, dir.path()), Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the actuator was called on a corrupted store\n{stderr}"
    );
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: the knowledge store is corrupted (quick_check: ",
            db.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("restore it from a backup or move it aside"),
        "{stderr}"
    );
}

#[test]
fn a_file_that_is_not_a_database_is_named_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, _) = counting_server();
    let file = charter(dir.path(), &url, &url, "autonomous");
    let db = dir.path().join("charter.db");
    std::fs::write(&db, vec![0x42u8; 8192]).expect("garbage");
    let out = run_to_exit(run_command(&file, &db, dir.path()), Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("file is not a database").count(),
        1,
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shadow_mode_recovery_calls_no_actuator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (prometheus, _) = counting_server();
    let (actuator, calls) = counting_server();
    let file = charter(dir.path(), &prometheus, &actuator, "shadow");
    let db = dir.path().join("charter.db");
    seed_unfinished_execution(&db).await;
    let log = dir.path().join("run.log");
    let run = start_run(&mut run_command(&file, &db, dir.path()), &log);
    // A few cycles.
    std::thread::sleep(Duration::from_secs(1));
    drop(run);
    let text = tail(&log, 200);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "shadow mode called the actuator\n{text}"
    );
    assert!(
        text.contains("would be compensated with scale_in(orders, to_replicas=2)"),
        "the report says what would be done\n{text}"
    );
    // Nothing was settled: a run that may act still finds the execution unfinished.
    let store = SqliteStore::open(&db).await.expect("open");
    let unfinished = store.unfinished_executions().await.expect("read");
    assert_eq!(unfinished.len(), 1, "{unfinished:?}");
    store.close().await;
}

/// Per fault of a `charter demo --json` summary: (first action, time to recover).
fn outcomes(summary: &serde_json::Value) -> Vec<(Option<String>, f64)> {
    summary["faults"]
        .as_array()
        .expect("faults")
        .iter()
        .map(|f| {
            (
                f["first_action"].as_str().map(str::to_string),
                f["time_to_recover_secs"].as_f64().unwrap_or(f64::INFINITY),
            )
        })
        .collect()
}

/// The second run on one file acts on every fault, and where it decides as the first
/// did, it recovers at least as fast. (What it learned from the first run may change
/// a decision; the store's clock must not delay one.) On the base commit the second
/// run's guardrail history lay "in the future": every fault recovered 5–7 minutes
/// later and the memory leak got no action at all.
#[test]
fn demo_run_twice_on_one_store_acts_as_fast_as_the_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("demo.db");
    let run = || {
        let out = Command::new(charter_bin())
            .args(["demo", "--seed", "3", "--json", "--db"])
            .arg(&db)
            .current_dir(dir.path())
            .output()
            .expect("charter demo");
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "demo summary is not JSON ({e})\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        summary
    };
    let first = outcomes(&run());
    let second = outcomes(&run());
    assert_eq!(first.len(), second.len());
    assert!(first.iter().all(|(a, _)| a.is_some()), "{first:?}");
    let mut compared = 0;
    for (i, ((a1, t1), (a2, t2))) in first.iter().zip(&second).enumerate() {
        assert!(
            a2.is_some(),
            "fault {i} got no action in the second run\nfirst: {first:?}\nsecond: {second:?}"
        );
        if a1 == a2 {
            compared += 1;
            assert!(
                t2 <= t1,
                "fault {i}: the same first action recovered in {t2}s in the second run, \
                 {t1}s in the first\nfirst: {first:?}\nsecond: {second:?}"
            );
        }
    }
    assert!(
        compared >= 3,
        "too few faults decided alike to compare: {first:?} {second:?}"
    );
}
