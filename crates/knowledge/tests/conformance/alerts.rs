//! Cases of the `AlertInbox` role: batches of alerts stored once per episode, refiled
//! on change, and read in sequence order.

use super::{Backend, TestResult, alert, resolved, t, unmapped, with_seq};
use charter_model::{Alert, AlertStatus};
use std::sync::Arc;

pub async fn a_batch_of_alerts_is_stored_and_reported_new_per_alert(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    let batch = vec![
        alert("a1", 100),
        unmapped(alert("b2", 110)),
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

pub async fn an_empty_batch_of_alerts_stores_nothing(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    assert_eq!(store.save_alerts(&[]).await?, Vec::<bool>::new());
    assert!(store.recent_alerts(10).await?.is_empty());
    Ok(())
}

pub async fn a_retried_batch_of_alerts_changes_nothing(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
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
    // A new start time is a new episode.
    assert_eq!(store.save_alerts(&[alert("a1", 500)]).await?, vec![true]);
    assert_eq!(store.recent_alerts(10).await?.len(), 3);
    Ok(())
}

pub async fn the_same_episode_twice_in_one_batch_is_new_once(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    let batch = vec![alert("a1", 100), alert("a1", 100)];
    assert_eq!(store.save_alerts(&batch).await?, vec![true, false]);
    assert_eq!(store.recent_alerts(10).await?.len(), 1);
    Ok(())
}

pub async fn resolving_an_alert_refiles_it_under_a_new_seq(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    store
        .save_alerts(&[alert("a1", 100), alert("b2", 110)])
        .await?;
    let seen = store.alerts_since(0).await?;
    let last = seen.iter().map(|a| a.seq).max().unwrap_or(0);

    let resolved = resolved(alert("a1", 100), 400);
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
    assert_eq!(all[0].ends_at, Some(t(400)));

    // The resolved notification retried changes nothing more.
    assert_eq!(store.save_alerts(&[resolved]).await?, vec![false]);
    assert_eq!(store.recent_alerts(10).await?, all);
    Ok(())
}

pub async fn alerts_since_is_exclusive_and_ascending(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    let batch: Vec<Alert> = (0..5).map(|i| alert(&format!("f{i}"), 100 + i)).collect();
    store.save_alerts(&batch).await?;
    let all = store.alerts_since(0).await?;
    let after_second = store.alerts_since(all[1].seq).await?;
    assert_eq!(after_second, all[2..].to_vec());
    assert!(store.alerts_since(all[4].seq).await?.is_empty());
    Ok(())
}

pub async fn recent_alerts_are_newest_first_up_to_the_limit(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
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

pub async fn a_mixed_batch_reports_each_alert_and_refiles_changes_in_order(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    store
        .save_alerts(&[alert("a1", 100), alert("b2", 110)])
        .await?;
    let last = store.alerts_since(0).await?.iter().map(|a| a.seq).max();

    let batch = vec![
        alert("c3", 120),
        alert("a1", 100),
        resolved(alert("b2", 110), 300),
        // An episode and its resolution in the same webhook.
        alert("d4", 130),
        resolved(alert("d4", 130), 310),
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

pub async fn a_large_batch_of_alerts_is_stored_whole(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
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

pub async fn concurrent_batches_of_alerts_are_all_stored(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
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
    let all = store.alerts_since(0).await?;
    assert_eq!(all.len(), 160);
    // Polling in between never misses a row: every seq is visible in order.
    let seqs: Vec<u64> = all.iter().map(|a| a.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    Ok(())
}

pub async fn the_same_batch_from_two_senders_at_once_is_new_once(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    // Alertmanager HA peers delivering the same group at the same moment.
    let batch: Vec<Alert> = (0..30).map(|i| alert(&format!("f{i}"), 100)).collect();
    let (a, b) = tokio::join!(store.save_alerts(&batch), store.save_alerts(&batch));
    let new = a?.into_iter().chain(b?).filter(|&n| n).count();
    assert_eq!(new, 30);
    assert_eq!(store.alerts_since(0).await?.len(), 30);
    Ok(())
}

pub async fn alerts_survive_a_restart_and_seq_keeps_growing(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    store
        .save_alerts(&[alert("a1", 100), unmapped(alert("b2", 110))])
        .await?;
    let before = store.alerts_since(0).await?;
    store.close().await;
    drop(store);

    let reopened = backend.open().await?;
    assert_eq!(reopened.alerts_since(0).await?, before);
    // A retry after the restart is still recognised as a duplicate.
    assert_eq!(
        reopened.save_alerts(&[alert("a1", 100)]).await?,
        vec![false]
    );
    reopened
        .save_alerts(&[resolved(alert("a1", 100), 300)])
        .await?;
    let last = before.iter().map(|a| a.seq).max().unwrap_or(0);
    let changed = reopened.alerts_since(last).await?;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].status, AlertStatus::Resolved);
    Ok(())
}

pub async fn pruning_alerts_drops_old_receipts_and_keeps_the_cursor_valid(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    // Received at 130, 140 and 530 (`alert` receives 30 s after the start).
    store
        .save_alerts(&[alert("a1", 100), alert("b2", 110), alert("c3", 500)])
        .await?;
    let seen = store.alerts_since(0).await?;
    let cursor = seen.iter().map(|a| a.seq).max().unwrap_or(0);
    // Nothing received before the cut-off: nothing pruned.
    assert_eq!(store.prune_alerts(t(130)).await?, 0);
    assert_eq!(store.prune_alerts(t(141)).await?, 2);
    let left = store.alerts_since(0).await?;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].fingerprint, "c3");
    // Pruning the newest row too never lets a new alert reuse a number the cursor
    // has passed: the poller still sees what comes next.
    assert_eq!(store.prune_alerts(t(10_000)).await?, 1);
    assert!(store.recent_alerts(10).await?.is_empty());
    assert_eq!(store.save_alerts(&[alert("d4", 900)]).await?, vec![true]);
    let next = store.alerts_since(cursor).await?;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].fingerprint, "d4");
    assert!(next[0].seq > cursor);
    // A pruned episode that Alertmanager re-sends is stored again as new.
    assert_eq!(store.save_alerts(&[alert("a1", 100)]).await?, vec![true]);
    Ok(())
}

pub async fn a_firing_alert_re_sent_later_is_refiled_with_its_new_receipt(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    store
        .save_alerts(&[alert("a1", 100), alert("b2", 110)])
        .await?;
    let last = store.alerts_since(0).await?.iter().map(|a| a.seq).max();
    let last = last.unwrap_or(0);
    // Alertmanager re-sends the firing alert after its repeat interval: not new, but
    // pollers see it again, received at the re-send.
    let mut resent = alert("a1", 100);
    resent.received_at = t(100 + 4 * 3600);
    assert_eq!(
        store.save_alerts(std::slice::from_ref(&resent)).await?,
        vec![false]
    );
    let changed = store.alerts_since(last).await?;
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0], with_seq(resent.clone(), changed[0].seq));
    assert_eq!(store.recent_alerts(10).await?.len(), 2);
    // A retry of the re-send shortly after changes nothing.
    let mut retry = resent.clone();
    retry.received_at = resent.received_at.plus(std::time::Duration::from_secs(5));
    assert_eq!(store.save_alerts(&[retry]).await?, vec![false]);
    assert!(store.alerts_since(changed[0].seq).await?.is_empty());
    // A resolved alert re-sent later is no news.
    let done = resolved(alert("b2", 110), 500);
    store.save_alerts(std::slice::from_ref(&done)).await?;
    let seen = store.alerts_since(0).await?.iter().map(|a| a.seq).max();
    let mut late = done.clone();
    late.received_at = done.received_at.plus(std::time::Duration::from_secs(3600));
    assert_eq!(store.save_alerts(&[late]).await?, vec![false]);
    assert!(store.alerts_since(seen.unwrap_or(0)).await?.is_empty());
    Ok(())
}
