//! The store under attack: a second daemon on the same SQLite file, a file with
//! corrupted pages, and a disk that fills and frees.

use crate::harness::{
    ALERT_TOKEN, CharterSpec, Daemon, Sim, Spawned, alert, client, fill, poll, rfc3339, tails,
    tally,
};
use charter_knowledge::{SqliteStore, prelude::*};
use charter_model::Timestamp;
use serde_json::json;
use sqlx::{Connection, Row};
use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long a refused daemon may take to exit.
const REFUSAL: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_daemon_on_the_same_store_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let http = client();
    let sim = Sim::start(d, 41, 1.0, "0s");
    let charter = CharterSpec {
        name: "one-writer",
        source_url: &sim.base,
        actuator_url: &sim.base,
        ..Default::default()
    }
    .write(d);
    let db = d.join("charter.db");
    let mut first = Daemon::start(d, "first", &charter, &db);
    first.wait_ready(&http, 200, Duration::from_secs(30)).await;
    let holder = first.run.pid();

    let mut second = Spawned::charter(
        d,
        "second",
        &[
            "--log",
            "info",
            "run",
            charter.to_str().expect("utf-8"),
            "--db",
            db.to_str().expect("utf-8"),
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let status = second.wait_exit(REFUSAL);
    let said = second.text();
    let first_alive = first.run.wait_exit(Duration::ZERO).is_none();
    let first_ready = first.readyz(&http).await.map(|(c, _)| c);
    second.kill();
    let logs = tails(&[&second.log, &first.run.log]);
    tally(
        "second daemon on the same store",
        &match status {
            Some(s) if !s.success() => format!(
                "refused ({s}), holder pid {} named: {}",
                holder,
                said.contains(&holder.to_string())
            ),
            Some(s) => format!("exited {s}"),
            None => format!("still running after {REFUSAL:?}"),
        },
        "refused, non-zero exit naming the holder",
    );
    let status = status.unwrap_or_else(|| {
        panic!(
            "a second `charter run` on the same store was still running after {REFUSAL:?}\n{logs}"
        )
    });
    assert!(
        !status.success(),
        "the second daemon exited successfully ({status})\n{logs}"
    );
    assert!(
        said.contains(&holder.to_string()),
        "the refusal does not name the holder (pid {holder})\n{logs}"
    );
    assert!(
        first_alive && first_ready == Some(200),
        "the first daemon did not survive the second's attempt (alive {first_alive}, \
         /readyz {first_ready:?})\n{logs}"
    );
}

/// Leave `db` with an execution whose step was sent to the actuator but has no
/// result in the journal: a daemon acting through a slow actuator is killed while
/// the action is in flight. Returns the ledger's posts at the kill.
async fn killed_mid_action(d: &Path, sim: &Sim, charter: &Path, db: &Path) -> u64 {
    let http = client();
    let mut daemon = Daemon::start(d, "first", charter, db);
    daemon.wait_ready(&http, 200, Duration::from_secs(30)).await;
    sim.inject(
        &http,
        json!({"kind": "traffic_surge", "target": "catalog", "factor": 4.0, "duration": "10m"}),
    )
    .await;
    let posted = poll(Duration::from_secs(60), || async {
        let l = sim.ledger(&http).await;
        (l.posts() > 0).then_some(())
    })
    .await;
    daemon.run.kill();
    assert!(
        posted.is_some(),
        "no action within 60 s\n{}",
        tails(&[&daemon.run.log, &sim.log])
    );
    sim.ledger(&http).await.posts()
}

/// Fold the WAL into the database file, so that the file alone is the store.
async fn checkpoint(db: &Path) {
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("open the database");
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut c)
        .await
        .expect("checkpoint");
    c.close().await.expect("close");
}

/// The root pages of the database's tables named `tables`, with the page size.
async fn root_pages(db: &Path, tables: &[&str]) -> (u64, Vec<(String, u64)>) {
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("open the database");
    let page_size: i64 = sqlx::query("PRAGMA page_size")
        .fetch_one(&mut c)
        .await
        .expect("page size")
        .get(0);
    let mut roots = Vec::new();
    for row in sqlx::query("SELECT name, rootpage FROM sqlite_master WHERE type = 'table'")
        .fetch_all(&mut c)
        .await
        .expect("schema")
    {
        let name: String = row.get(0);
        let root: i64 = row.get(1);
        if tables.contains(&name.as_str()) {
            roots.push((name, root as u64));
        }
    }
    c.close().await.expect("close");
    (page_size as u64, roots)
}

/// Overwrite page `page` (1-based) of `db` with a pattern that is no b-tree page.
fn corrupt_page(db: &Path, page_size: u64, page: u64) {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(db)
        .expect("open the database file");
    let at = (page - 1) * page_size;
    let mut old = vec![0u8; page_size as usize];
    f.seek(SeekFrom::Start(at)).expect("seek");
    f.read_exact(&mut old).expect("read the page");
    let garbage: Vec<u8> = old
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ 0xA5 ^ (i as u8))
        .collect();
    f.seek(SeekFrom::Start(at)).expect("seek");
    f.write_all(&garbage).expect("write the page");
    f.sync_all().expect("sync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_store_is_refused_before_any_actuator_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let http = client();
    // The server answers only after 3 s: the daemon is killed with its action in
    // flight, so the next start has a step to recover.
    let sim = Sim::start(d, 51, 1.0, "3s");
    let charter = CharterSpec {
        name: "corrupted",
        source_url: &sim.base,
        actuator_url: &sim.base,
        actuator_timeout_ms: 10_000,
        ..Default::default()
    }
    .write(d);
    let db = d.join("charter.db");
    let posts_at_kill = killed_mid_action(d, &sim, &charter, &db).await;
    {
        let store = SqliteStore::open(&db).await.expect("open the store");
        let unfinished = store.unfinished_journal().await.expect("journal");
        store.close().await;
        assert!(
            !unfinished.is_empty(),
            "the killed daemon left no unfinished step to recover"
        );
    }
    checkpoint(&db).await;
    // Corrupt the history the loop writes most (violation transitions, diagnoses)
    // and leave the journal readable: what a torn write or a bad sector does.
    let (page_size, roots) = root_pages(&db, &["violations", "diagnoses"]).await;
    assert!(
        !roots.is_empty(),
        "no table to corrupt found in {}",
        db.display()
    );
    for (_, page) in &roots {
        corrupt_page(&db, page_size, *page);
    }

    let mut second = Spawned::charter(
        d,
        "second",
        &[
            "--log",
            "info",
            "run",
            charter.to_str().expect("utf-8"),
            "--db",
            db.to_str().expect("utf-8"),
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let status = second.wait_exit(REFUSAL);
    let said = second.text().to_lowercase();
    let names_corruption = ["corrupt", "malformed", "quick_check", "integrity"]
        .iter()
        .any(|w| said.contains(w));
    // Whatever recovery sent is answered after the server's delay: wait it out.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ledger = sim.ledger(&http).await;
    second.kill();
    let calls = ledger.posts() - posts_at_kill;
    let logs = format!(
        "corrupted pages {roots:?}; ledger {ledger:?}\n{}",
        tails(&[&second.log, &sim.log])
    );
    tally(
        "corrupted store",
        &format!(
            "{}, {calls} actuator calls",
            match status {
                Some(s) if !s.success() => format!("refused ({s})"),
                Some(s) => format!("exited {s}"),
                None => format!("still running after {REFUSAL:?}"),
            }
        ),
        "refused, 0 actuator calls",
    );
    assert_eq!(
        calls, 0,
        "the daemon called the actuator on a corrupted store\n{logs}"
    );
    let status = status.unwrap_or_else(|| {
        panic!("the daemon was still running on a corrupted store after {REFUSAL:?}\n{logs}")
    });
    assert!(
        !status.success(),
        "the daemon exited successfully on a corrupted store\n{logs}"
    );
    // Refused for the corruption, not for something else (a stale lock, say).
    assert!(
        names_corruption,
        "the refusal does not say the store is corrupted\n{logs}"
    );
}

/// HTTP statuses counted: `3×201 2×503` (0: no answer).
fn histogram(codes: &[u16]) -> String {
    let mut n: std::collections::BTreeMap<u16, usize> = std::collections::BTreeMap::new();
    for c in codes {
        *n.entry(*c).or_default() += 1;
    }
    n.iter()
        .map(|(c, k)| format!("{k}×{c}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A tmpfs mounted for the scenario, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}"));
        assert!(
            out.status.success(),
            "cannot mount a {size} tmpfs at {} ({}): {}; the disk-full scenario needs \
             root or CAP_SYS_ADMIN to mount a small file system",
            at.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// One webhook of `n` alerts named `phase-i`, none mapped to an objective (nothing
/// to act on), each with an annotation of `pad` bytes: the store must grow.
fn batch(phase: &str, from: usize, n: usize, pad: usize) -> Vec<serde_json::Value> {
    let now = rfc3339(Timestamp::now_wall());
    (from..from + n)
        .map(|i| {
            let mut a = alert(
                &format!("{phase}-{i}"),
                &[("alertname", "chaos_disk"), ("service", "nowhere")],
                &now,
            );
            a["annotations"] = json!({ "pad": "x".repeat(pad) });
            a
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_fills_and_frees_ingest_resumes_nothing_acknowledged_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let http = client();
    let disk = Tmpfs::mount(&d.join("disk"), "4m");
    let sim = Sim::start(d, 61, 1.0, "0s");
    let charter = CharterSpec {
        name: "disk",
        source_url: &sim.base,
        actuator_url: &sim.base,
        alerts: true,
        ..Default::default()
    }
    .write(d);
    let db = disk.0.join("charter.db");
    let mut daemon = Daemon::start(d, "run", &charter, &db);
    daemon.wait_ready(&http, 200, Duration::from_secs(30)).await;

    const PER: usize = 4;
    const PAD: usize = 4096;
    let mut acked: BTreeSet<String> = BTreeSet::new();
    let mut answers: Vec<(String, u16)> = Vec::new();
    let post = |phase: &'static str, from: usize| {
        let daemon = &daemon;
        let http = &http;
        async move {
            let alerts = batch(phase, from, PER, PAD);
            let r = daemon.post_alerts(http, ALERT_TOKEN, &alerts).await;
            let fps: Vec<String> = alerts
                .iter()
                .map(|a| a["fingerprint"].as_str().unwrap_or_default().to_string())
                .collect();
            (r, fps)
        }
    };

    // Before: the store writes.
    let (r, fps) = post("before", 0).await;
    assert!(
        matches!(r, Ok((c, _)) if (200..300).contains(&c)),
        "the webhook refused before the disk filled: {r:?}\n{}",
        tails(&[&daemon.run.log])
    );
    acked.extend(fps);

    // Full: whatever the store cannot write is refused with 503, never 500.
    let filled = fill(&disk.0.join("filler"));
    let mut refused = 0usize;
    let mut full_answers = Vec::new();
    for round in 0..60 {
        let (r, fps) = post("full", round * PER).await;
        match r {
            Ok((c, body)) => {
                if (200..300).contains(&c) {
                    acked.extend(fps);
                } else {
                    refused += 1;
                    answers.push((body, c));
                }
                full_answers.push(c);
            }
            Err(e) => panic!(
                "the daemon stopped answering on a full disk: {e}\n{}",
                tails(&[&daemon.run.log])
            ),
        }
        if refused >= 3 {
            break;
        }
    }
    let readyz_full = daemon.readyz(&http).await;

    // Freed: ingest resumes.
    std::fs::remove_file(disk.0.join("filler")).expect("remove the filler");
    let mut after_answers = Vec::new();
    for round in 0..10 {
        let (r, fps) = post("after", round * PER).await;
        let c = r.as_ref().map(|(c, _)| *c).unwrap_or(0);
        if (200..300).contains(&c) {
            acked.extend(fps);
        } else if let Ok((c, body)) = r {
            answers.push((body, c));
        }
        after_answers.push(c);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = daemon.run.terminate();

    let store = SqliteStore::open(&db).await.expect("open the store");
    let stored: BTreeSet<String> = store
        .recent_alerts(100_000)
        .await
        .expect("alerts")
        .into_iter()
        .map(|a| a.fingerprint)
        .collect();
    store.close().await;
    let lost: Vec<&String> = acked.difference(&stored).collect();
    let errors_500 = full_answers
        .iter()
        .chain(&after_answers)
        .filter(|&&c| c != 503 && !(200..300).contains(&c))
        .count();
    let resumed = after_answers
        .iter()
        .rev()
        .take(5)
        .all(|c| (200..300).contains(c));
    let logs = format!(
        "filler {filled} bytes; while full {full_answers:?}, /readyz {readyz_full:?}; after \
         freeing {after_answers:?}; refusals {answers:?}; exit {status:?}\n{}",
        tails(&[&daemon.run.log])
    );
    tally(
        "disk fills and frees",
        &format!(
            "answers while full {}, after freeing {}; ingest resumed: {}, {} of {} \
             acknowledged alerts lost",
            histogram(&full_answers),
            histogram(&after_answers),
            if resumed { "yes" } else { "no" },
            lost.len(),
            acked.len()
        ),
        "503 while full, ingest resumed, 0 lost",
    );
    assert!(
        refused > 0,
        "the store never refused a write on a full disk: the scenario did not fill it\n{logs}"
    );
    assert_eq!(
        errors_500, 0,
        "the webhook answered something other than 503 while the store could not write\n{logs}"
    );
    assert!(
        resumed,
        "ingest did not resume after the disk was freed\n{logs}"
    );
    assert!(
        lost.is_empty(),
        "acknowledged alerts are not in the store: {lost:?}\n{logs}"
    );
}
