//! Conformance tests of the alerts kept by the SQLite knowledge store: batches, dedupe of
//! Alertmanager retries, status changes, reading by sequence, restarts and the upgrade
//! from schema version 1.

use charter_knowledge::{AlertInbox, SCHEMA_VERSION, SqliteStore, Store};
use charter_model::{Alert, AlertStatus, Severity, Timestamp};
use std::collections::BTreeMap;
use tempfile::TempDir;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A mapped, firing alert; adjust with the builder methods below.
fn alert(fingerprint: &str, starts_secs: i64) -> Alert {
    Alert {
        fingerprint: fingerprint.into(),
        status: AlertStatus::Firing,
        starts_at: Timestamp::from_secs(starts_secs),
        ends_at: None,
        labels: BTreeMap::from([
            ("alertname".to_string(), "latency_p99".to_string()),
            ("service".to_string(), "api".to_string()),
            ("severity".to_string(), "critical".to_string()),
        ]),
        annotations: BTreeMap::from([(
            "summary".to_string(),
            "p99 latency above 1s on api".to_string(),
        )]),
        objective: Some("latency_p99".into()),
        component: Some("api".into()),
        severity: Some(Severity::Critical),
        received_at: Timestamp::from_secs(starts_secs + 30),
        seq: 0,
    }
}

trait AlertExt {
    fn resolved(self, at_secs: i64) -> Alert;
    fn unmapped(self) -> Alert;
}

impl AlertExt for Alert {
    fn resolved(mut self, at_secs: i64) -> Alert {
        self.status = AlertStatus::Resolved;
        self.ends_at = Some(Timestamp::from_secs(at_secs));
        self.received_at = Timestamp::from_secs(at_secs + 5);
        self
    }

    fn unmapped(mut self) -> Alert {
        self.labels
            .insert("alertname".into(), "NodeDiskFull".into());
        self.objective = None;
        self.component = None;
        self.severity = None;
        self
    }
}

/// The stored form: the same alert with the store's sequence number.
fn with_seq(mut alert: Alert, seq: u64) -> Alert {
    alert.seq = seq;
    alert
}

async fn temp_store() -> Result<(TempDir, SqliteStore), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(&dir.path().join("charter.db")).await?;
    Ok((dir, store))
}

#[tokio::test]
async fn a_batch_is_stored_and_reported_new_per_alert() -> TestResult {
    let (_dir, store) = temp_store().await?;
    let batch = vec![
        alert("a1", 100),
        alert("b2", 110).unmapped(),
        alert("c3", 120),
    ];
    assert_eq!(store.save_alerts(&batch).await?, vec![true, true, true]);

    let stored = store.alerts_since(0).await?;
    assert_eq!(stored.len(), 3);
    let seqs: Vec<u64> = stored.iter().map(|a| a.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(seqs[0] > 0);
    for (got, sent) in stored.iter().zip(&batch) {
        assert_eq!(got, &with_seq(sent.clone(), got.seq));
    }
    assert_eq!(stored[1].objective, None);
    assert_eq!(stored[1].component, None);
    Ok(())
}

#[tokio::test]
async fn an_empty_batch_stores_nothing() -> TestResult {
    let (_dir, store) = temp_store().await?;
    assert_eq!(store.save_alerts(&[]).await?, Vec::<bool>::new());
    assert!(store.recent_alerts(10).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_retried_batch_changes_nothing() -> TestResult {
    let (_dir, store) = temp_store().await?;
    let batch = vec![alert("a1", 100), alert("b2", 110)];
    store.save_alerts(&batch).await?;
    let before = store.alerts_since(0).await?;

    // An Alertmanager retry or an HA peer: same episodes, received a little later.
    let mut again = batch.clone();
    for a in &mut again {
        a.received_at = a.received_at.plus(std::time::Duration::from_secs(10));
    }
    assert_eq!(store.save_alerts(&again).await?, vec![false, false]);
    assert_eq!(store.alerts_since(0).await?, before);
    Ok(())
}

#[tokio::test]
async fn the_same_episode_twice_in_one_batch_is_new_once() -> TestResult {
    let (_dir, store) = temp_store().await?;
    let batch = vec![alert("a1", 100), alert("a1", 100)];
    assert_eq!(store.save_alerts(&batch).await?, vec![true, false]);
    assert_eq!(store.recent_alerts(10).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_new_start_time_is_a_new_episode() -> TestResult {
    let (_dir, store) = temp_store().await?;
    store.save_alerts(&[alert("a1", 100)]).await?;
    assert_eq!(store.save_alerts(&[alert("a1", 500)]).await?, vec![true]);
    assert_eq!(store.recent_alerts(10).await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn resolving_an_alert_refiles_it_under_a_new_seq() -> TestResult {
    let (_dir, store) = temp_store().await?;
    store
        .save_alerts(&[alert("a1", 100), alert("b2", 110)])
        .await?;
    let seen = store.alerts_since(0).await?;
    let last = seen.iter().map(|a| a.seq).max().unwrap_or(0);

    let resolved = alert("a1", 100).resolved(400);
    assert_eq!(
        store.save_alerts(std::slice::from_ref(&resolved)).await?,
        vec![false]
    );

    // A poller that has seen everything up to `last` sees the change.
    let changed = store.alerts_since(last).await?;
    assert_eq!(changed.len(), 1);
    assert!(changed[0].seq > last);
    assert_eq!(changed[0], with_seq(resolved.clone(), changed[0].seq));

    // Still one row per episode; the resolved one is the newest.
    let all = store.recent_alerts(10).await?;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].fingerprint, "a1");
    assert_eq!(all[0].status, AlertStatus::Resolved);
    assert_eq!(all[0].ends_at, Some(Timestamp::from_secs(400)));

    // The resolved notification retried changes nothing more.
    assert_eq!(store.save_alerts(&[resolved]).await?, vec![false]);
    assert_eq!(store.recent_alerts(10).await?, all);
    Ok(())
}

#[tokio::test]
async fn alerts_since_is_exclusive_and_ascending() -> TestResult {
    let (_dir, store) = temp_store().await?;
    let batch: Vec<Alert> = (0..5).map(|i| alert(&format!("f{i}"), 100 + i)).collect();
    store.save_alerts(&batch).await?;
    let all = store.alerts_since(0).await?;
    let after_second = store.alerts_since(all[1].seq).await?;
    assert_eq!(after_second, all[2..].to_vec());
    assert!(store.alerts_since(all[4].seq).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn recent_alerts_are_newest_first_up_to_the_limit() -> TestResult {
    let (_dir, store) = temp_store().await?;
    for i in 0..4 {
        store
            .save_alerts(&[alert(&format!("f{i}"), 100 + i)])
            .await?;
    }
    let recent = store.recent_alerts(3).await?;
    let fingerprints: Vec<&str> = recent.iter().map(|a| a.fingerprint.as_str()).collect();
    assert_eq!(fingerprints, ["f3", "f2", "f1"]);
    assert!(store.recent_alerts(0).await?.is_empty());
    assert_eq!(store.recent_alerts(usize::MAX).await?.len(), 4);
    Ok(())
}

#[tokio::test]
async fn alerts_survive_a_restart_and_seq_keeps_growing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("charter.db");
    let store = SqliteStore::open(&path).await?;
    store
        .save_alerts(&[alert("a1", 100), alert("b2", 110).unmapped()])
        .await?;
    let before = store.alerts_since(0).await?;
    store.close().await;
    drop(store);

    let reopened = SqliteStore::open(&path).await?;
    assert_eq!(reopened.alerts_since(0).await?, before);
    // A retry after the restart is still recognised as a duplicate.
    assert_eq!(
        reopened.save_alerts(&[alert("a1", 100)]).await?,
        vec![false]
    );
    reopened
        .save_alerts(&[alert("a1", 100).resolved(300)])
        .await?;
    let last = before.iter().map(|a| a.seq).max().unwrap_or(0);
    let changed = reopened.alerts_since(last).await?;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].status, AlertStatus::Resolved);
    Ok(())
}

#[tokio::test]
async fn a_version_1_database_is_upgraded_with_an_alerts_table() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("charter.db");
    {
        // A file written by a build that knew only schema version 1.
        use sqlx::Connection;
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
                .await?;
        sqlx::raw_sql(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL)",
        )
        .execute(&mut conn)
        .await?;
        sqlx::raw_sql(include_str!("../migrations/sqlite/0001_initial.sql"))
            .execute(&mut conn)
            .await?;
        sqlx::query(
            "INSERT INTO schema_version (version, description) VALUES (1, 'initial schema')",
        )
        .execute(&mut conn)
        .await?;
        conn.close().await?;
    }
    let store = SqliteStore::open(&path).await?;
    assert_eq!(store.schema_version().await?, SCHEMA_VERSION);
    assert_eq!(store.save_alerts(&[alert("a1", 100)]).await?, vec![true]);
    assert_eq!(store.recent_alerts(1).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn in_memory_store_keeps_alerts_too() -> TestResult {
    let store = SqliteStore::open_in_memory().await?;
    assert_eq!(
        store
            .save_alerts(&[alert("a1", 100), alert("a1", 100)])
            .await?,
        vec![true, false]
    );
    assert_eq!(store.alerts_since(0).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_batch_larger_than_one_statement_is_stored_whole() -> TestResult {
    let (_dir, store) = temp_store().await?;
    let batch: Vec<Alert> = (0..450).map(|i| alert(&format!("f{i:03}"), 100)).collect();
    assert_eq!(store.save_alerts(&batch).await?, vec![true; 450]);
    let stored = store.alerts_since(0).await?;
    assert_eq!(stored.len(), 450);
    for (got, sent) in stored.iter().zip(&batch) {
        assert_eq!(got.fingerprint, sent.fingerprint);
    }
    assert_eq!(store.save_alerts(&batch).await?, vec![false; 450]);
    assert_eq!(store.alerts_since(0).await?, stored);
    Ok(())
}

#[tokio::test]
async fn a_mixed_batch_reports_each_alert_and_refiles_changes_in_order() -> TestResult {
    let (_dir, store) = temp_store().await?;
    store
        .save_alerts(&[alert("a1", 100), alert("b2", 110)])
        .await?;
    let last = store.alerts_since(0).await?.iter().map(|a| a.seq).max();

    let batch = vec![
        alert("c3", 120),
        alert("a1", 100),
        alert("b2", 110).resolved(300),
        // An episode and its resolution in the same webhook.
        alert("d4", 130),
        alert("d4", 130).resolved(310),
    ];
    assert_eq!(
        store.save_alerts(&batch).await?,
        vec![true, false, false, true, false]
    );
    let changed = store.alerts_since(last.unwrap_or(0)).await?;
    let summary: Vec<(&str, AlertStatus)> = changed
        .iter()
        .map(|a| (a.fingerprint.as_str(), a.status))
        .collect();
    assert_eq!(
        summary,
        [
            ("c3", AlertStatus::Firing),
            ("b2", AlertStatus::Resolved),
            ("d4", AlertStatus::Resolved),
        ]
    );
    assert_eq!(store.recent_alerts(10).await?.len(), 4);
    Ok(())
}

#[tokio::test]
async fn concurrent_batches_are_all_stored() -> TestResult {
    let (_dir, store) = temp_store().await?;
    let store = std::sync::Arc::new(store);
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let batch: Vec<Alert> = (0..20).map(|i| alert(&format!("t{t}-{i}"), 100)).collect();
                store.save_alerts(&batch).await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await??, vec![true; 20]);
    }
    assert_eq!(store.alerts_since(0).await?.len(), 160);
    Ok(())
}

#[tokio::test]
async fn the_same_batch_from_two_senders_at_once_is_new_once() -> TestResult {
    let (_dir, store) = temp_store().await?;
    let store = std::sync::Arc::new(store);
    // Alertmanager HA peers delivering the same group at the same moment.
    let batch: Vec<Alert> = (0..30).map(|i| alert(&format!("f{i}"), 100)).collect();
    let (a, b) = tokio::join!(store.save_alerts(&batch), store.save_alerts(&batch));
    let new = a?.into_iter().chain(b?).filter(|&n| n).count();
    assert_eq!(new, 30);
    assert_eq!(store.alerts_since(0).await?.len(), 30);
    Ok(())
}

#[tokio::test]
async fn a_closed_store_fails_alert_writes_every_time() -> TestResult {
    let (_dir, store) = temp_store().await?;
    store.close().await;
    for _ in 0..2 {
        let err = store.save_alerts(&[alert("a1", 100)]).await.err();
        assert!(
            matches!(
                err,
                Some(charter_knowledge::StoreError::Query {
                    what: "save alerts",
                    ..
                })
            ),
            "{err:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn many_batches_with_background_checkpoints_survive_a_restart() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("charter.db");
    let store = SqliteStore::open(&path).await?;
    for b in 0..30 {
        let batch: Vec<Alert> = (0..50).map(|i| alert(&format!("b{b}-{i}"), 100)).collect();
        assert_eq!(store.save_alerts(&batch).await?, vec![true; 50]);
    }
    let before = store.alerts_since(0).await?;
    assert_eq!(before.len(), 1500);
    store.close().await;
    drop(store);
    let reopened = SqliteStore::open(&path).await?;
    assert_eq!(reopened.alerts_since(0).await?, before);
    Ok(())
}
