//! Cases of the `ChangeLog` role: change events stored once per key (a replay of the
//! same event is recorded once), read in sequence order, kept across a restart.

use super::{Backend, TestResult, t};
use charter_knowledge::ChangeRecord;
use charter_model::{Change, ChangeKind, ChangeSource};
use std::sync::Arc;

/// A deploy of `component` reported by `source`, under `key`.
fn change(key: &str, component: &str, source: ChangeSource, at_secs: i64) -> ChangeRecord {
    ChangeRecord {
        seq: 0,
        key: key.into(),
        received_at: t(at_secs + 2),
        change: Change {
            at: t(at_secs),
            component: component.into(),
            kind: ChangeKind::Deploy,
            description: format!("synced {component} to 4f2a9c1"),
            by: "argocd".into(),
            source,
        },
    }
}

fn with_seq(mut record: ChangeRecord, seq: u64) -> ChangeRecord {
    record.seq = seq;
    record
}

pub async fn a_replayed_change_is_recorded_once(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    let a = change(
        "argocd:argocd/auth@4f2a9c1",
        "auth",
        ChangeSource::Argocd,
        100,
    );
    let b = change(
        "flux:Kustomization/apps/orders@main@sha1:77",
        "orders",
        ChangeSource::Flux,
        110,
    );
    // The same event twice in one batch is new once.
    assert_eq!(
        store
            .save_changes(&[a.clone(), b.clone(), a.clone()])
            .await?,
        vec![true, true, false]
    );
    // A replay later, even with another receipt time and text, changes nothing.
    let mut replay = a.clone();
    replay.received_at = t(500);
    replay.change.description = "sent again".into();
    assert_eq!(store.save_changes(&[replay]).await?, vec![false]);

    let stored = store.changes_since(0).await?;
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(
        stored[0].seq > 0 && stored[0].seq < stored[1].seq,
        "{stored:?}"
    );
    assert_eq!(stored[0], with_seq(a, stored[0].seq));
    assert_eq!(stored[1], with_seq(b, stored[1].seq));
    // The source is kept.
    assert_eq!(stored[0].change.source, ChangeSource::Argocd);
    assert_eq!(stored[1].change.source, ChangeSource::Flux);
    assert_eq!(store.save_changes(&[]).await?, Vec::<bool>::new());
    Ok(())
}

pub async fn changes_since_is_exclusive_and_recent_changes_newest_first(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    for i in 0..5 {
        store
            .save_changes(&[change(
                &format!("api:k{i}"),
                "api",
                ChangeSource::Api,
                100 + i,
            )])
            .await?;
    }
    let all = store.changes_since(0).await?;
    assert_eq!(all.len(), 5);
    let after = store.changes_since(all[2].seq).await?;
    assert_eq!(after, all[3..].to_vec());
    let recent = store.recent_changes(2).await?;
    assert_eq!(
        recent.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
        vec!["api:k4", "api:k3"]
    );
    Ok(())
}

pub async fn changes_survive_a_restart_and_a_replay_after_it_is_still_one(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    let a = change("api:deploy-1", "auth", ChangeSource::Api, 100);
    store.save_changes(std::slice::from_ref(&a)).await?;
    let before = store.changes_since(0).await?;
    store.close().await;
    drop(store);

    let reopened = backend.open().await?;
    assert_eq!(reopened.changes_since(0).await?, before);
    assert_eq!(reopened.save_changes(&[a]).await?, vec![false]);
    let next = change("api:deploy-2", "auth", ChangeSource::Api, 200);
    assert_eq!(reopened.save_changes(&[next]).await?, vec![true]);
    let last = reopened.changes_since(before[0].seq).await?;
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].key, "api:deploy-2");
    Ok(())
}

pub async fn the_same_change_from_two_senders_at_once_is_new_once(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    let batch: Vec<ChangeRecord> = (0..20)
        .map(|i| change(&format!("flux:k{i}"), "db", ChangeSource::Flux, 100 + i))
        .collect();
    let (a, b) = tokio::join!(store.save_changes(&batch), store.save_changes(&batch));
    let new = a?.into_iter().chain(b?).filter(|&n| n).count();
    assert_eq!(new, 20);
    let all = store.changes_since(0).await?;
    assert_eq!(all.len(), 20);
    let seqs: Vec<u64> = all.iter().map(|r| r.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    Ok(())
}

pub async fn pruning_changes_drops_old_receipts_and_keeps_the_cursor_valid(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    store
        .save_changes(&[
            change("api:old", "api", ChangeSource::Api, 100),
            change("api:new", "api", ChangeSource::Api, 1_000),
        ])
        .await?;
    let last = store.changes_since(0).await?.last().map_or(0, |r| r.seq);
    assert_eq!(store.prune_changes(t(500)).await?, 1);
    let kept = store.changes_since(0).await?;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].key, "api:new");
    // A later change takes a number past every one seen before the prune.
    store
        .save_changes(&[change("api:later", "api", ChangeSource::Api, 2_000)])
        .await?;
    let fresh = store.changes_since(last).await?;
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].key, "api:later");
    Ok(())
}
