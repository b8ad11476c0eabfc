//! The store's own safety (issue 16, items 8–11): one writer per SQLite file, a
//! damaged file refused before anything uses it, a full disk survived, driver errors
//! printed once, guardrail history "in the future" judged at now.

use charter_knowledge::prelude::*;
use charter_knowledge::{SqliteStore, StoreError, WriterLock};
use charter_model::{ActionKind, Alert, AlertStatus, Severity, Timestamp};
use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn alert(fingerprint: &str, starts_secs: i64, padding: usize) -> Alert {
    Alert {
        fingerprint: fingerprint.into(),
        status: AlertStatus::Firing,
        starts_at: Timestamp::from_secs(starts_secs),
        ends_at: None,
        labels: BTreeMap::from([
            ("alertname".to_string(), "latency_p99".to_string()),
            ("service".to_string(), "api".to_string()),
        ]),
        annotations: BTreeMap::from([("summary".to_string(), "x".repeat(padding))]),
        objective: Some("latency_p99".into()),
        component: Some("api".into()),
        severity: Some(Severity::Critical),
        received_at: Timestamp::from_secs(starts_secs + 30),
        seq: 0,
    }
}

/// An error and its causes, as `{:#}` prints them.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[tokio::test]
async fn a_second_writer_is_refused_naming_the_holder_and_the_lock_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("k.db");
    let first = SqliteStore::open_writer(&db).await?;
    let err = SqliteStore::open_writer(&db)
        .await
        .err()
        .ok_or("a second writer opened the store")?;
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("pid {}", std::process::id())),
        "{text}"
    );
    assert!(
        text.contains(&WriterLock::path_for(&db).display().to_string()),
        "{text}"
    );
    assert!(text.contains("in use by another charter process"), "{text}");
    // A reader (knowledge export, insights) needs no lock.
    let reader = SqliteStore::open(&db).await?;
    reader.close().await;
    // The lock ends with the store that holds it.
    first.close().await;
    drop(first);
    let again = SqliteStore::open_writer(&db).await?;
    again.close().await;
    Ok(())
}

/// A store with a table `filler` of a few pages; the file is checkpointed and closed.
/// Returns the root page of `filler`.
async fn store_with_filler(db: &Path) -> Result<i64, Box<dyn std::error::Error>> {
    let store = SqliteStore::open(db).await?;
    store.close().await;
    use sqlx::{ConnectOptions, Connection};
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await?;
    sqlx::query("CREATE TABLE filler (x TEXT)")
        .execute(&mut conn)
        .await?;
    for i in 0..200 {
        sqlx::query("INSERT INTO filler (x) VALUES ($1)")
            .bind(format!("{i:0>500}"))
            .execute(&mut conn)
            .await?;
    }
    let root: i64 = sqlx::query_scalar("SELECT rootpage FROM sqlite_master WHERE name = 'filler'")
        .fetch_one(&mut conn)
        .await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(root)
}

/// Overwrite page `page` (1-based) of the file with garbage.
fn corrupt_page(db: &Path, page: i64) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).open(db)?;
    f.seek(SeekFrom::Start(((page - 1) * 4096) as u64))?;
    f.write_all(&[0x5a; 4096])?;
    f.sync_all()
}

#[tokio::test]
async fn a_corrupted_store_is_refused_by_quick_check_with_a_clear_message() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("k.db");
    let root = store_with_filler(&db).await?;
    corrupt_page(&db, root)?;
    let err = SqliteStore::open_writer(&db)
        .await
        .err()
        .ok_or("a corrupted store opened for writing")?;
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let text = chain(&err);
    let prefix = format!(
        "{}: the knowledge store is corrupted (quick_check: ",
        db.display()
    );
    assert!(text.starts_with(&prefix), "{text}");
    assert!(
        text.ends_with("); restore it from a backup or move it aside"),
        "{text}"
    );
    assert!(!text.contains('\n'), "one line: {text}");
    Ok(())
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_named_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("k.db");
    std::fs::write(&db, vec![0x42u8; 8192])?;
    for open in [true, false] {
        let err = if open {
            SqliteStore::open(&db).await.err()
        } else {
            SqliteStore::open_writer(&db).await.err()
        }
        .ok_or("garbage opened as a database")?;
        let text = chain(&err);
        assert_eq!(
            text.matches("file is not a database").count(),
            1,
            "the cause is printed once: {text}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn guardrail_actions_in_the_future_count_as_taken_now() -> TestResult {
    let store = SqliteStore::open_in_memory().await?;
    let now = Timestamp::from_secs(1_000_000);
    let hour = Duration::from_secs(3600);
    store
        .record_action("orders", ActionKind::ScaleOut, now.minus(hour / 2))
        .await?;
    // Written by a run whose clock was a day ahead.
    store
        .record_action("orders", ActionKind::Restart, now.plus(hour * 24))
        .await?;
    let actions = store.actions_as_of(now, now.minus(hour)).await?;
    assert_eq!(
        actions,
        vec![
            (
                "orders".to_string(),
                ActionKind::ScaleOut,
                now.minus(hour / 2)
            ),
            ("orders".to_string(), ActionKind::Restart, now),
        ]
    );
    assert_eq!(store.last_record_at().await?, Some(now.plus(hour * 24)));
    Ok(())
}

/// A small tmpfs mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs { dir })
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fill the filesystem at `dir` with one file; its path.
fn fill(dir: &Path) -> std::io::Result<PathBuf> {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path)?;
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    // Whatever is left of a block.
    for _ in 0..64 {
        if f.write_all(&[0u8; 1024]).is_err() {
            break;
        }
    }
    let _ = f.sync_all();
    Ok(path)
}

/// Disk full for real: SQLite on a 2 MiB tmpfs that a filler file fills. Needs root
/// (to mount); without it the test says so and passes vacuously.
#[tokio::test]
async fn a_full_disk_is_survived_and_ingest_resumes_once_it_is_freed() -> TestResult {
    let Some(fs) = Tmpfs::mount("2m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs (needs root)");
        return Ok(());
    };
    let db = fs.path().join("k.db");
    let store = SqliteStore::open_writer(&db).await?;
    let mut acknowledged = 0usize;
    store.save_alerts(&[alert("before", 1, 100)]).await?;
    acknowledged += 1;
    assert_eq!(store.write_status(), Ok(()));

    let filler = fill(&fs.path())?;
    // Write until the disk refuses: each batch is all or nothing.
    let mut refused = None;
    for i in 0..200 {
        let batch: Vec<Alert> = (0..20)
            .map(|j| alert(&format!("full-{i}-{j}"), 1000 + i, 2000))
            .collect();
        match store.save_alerts(&batch).await {
            Ok(_) => acknowledged += batch.len(),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let refused = refused.ok_or("the full disk never refused a write")?;
    assert!(refused.is_unavailable(), "{}", chain(&refused));
    assert!(store.write_status().is_err(), "a full store says so");
    // Still full: the next writes fail for the same reason, not because the
    // connection was left inside the failed transaction.
    for i in 0..4 {
        let e = store
            .save_alerts(&[alert(&format!("still-full-{i}"), 5000 + i, 2000)])
            .await
            .err()
            .ok_or("a write succeeded on a full disk")?;
        assert!(e.is_unavailable(), "{}", chain(&e));
    }

    std::fs::remove_file(&filler)?;
    // Freed: every connection of the pool writes again.
    for i in 0..8 {
        store
            .save_alerts(&[alert(&format!("after-{i}"), 9000 + i, 100)])
            .await
            .map_err(|e| format!("write {i} after the disk was freed: {}", chain(&e)))?;
        acknowledged += 1;
    }
    assert_eq!(store.write_status(), Ok(()));
    // Nothing acknowledged was lost.
    assert_eq!(store.alerts_since(0).await?.len(), acknowledged);
    store.close().await;
    Ok(())
}
