//! Cases of the `LeaderLease` role: one leader at a time, handed over on expiry or
//! release, and journal claims fenced by its epoch.

use super::{Backend, TestResult, journal_row, t};
use charter_knowledge::{JournalRecord, JournalStatus, LeaseGrant, StoreError};
use charter_model::ExecutionId;
use std::sync::Arc;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn acquired(grant: &LeaseGrant) -> Option<u64> {
    match grant {
        LeaseGrant::Acquired { epoch, .. } => Some(*epoch),
        LeaseGrant::HeldBy(_) => None,
    }
}

pub async fn the_lease_goes_to_one_replica_and_passes_on_expiry(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    assert_eq!(store.lease().await?, None);
    let a = store.acquire_lease("a", ms(1500), ms(300)).await?;
    assert_eq!(acquired(&a), Some(1), "{a:?}");
    let b = store.acquire_lease("b", ms(1500), ms(300)).await?;
    match &b {
        LeaseGrant::HeldBy(l) => {
            assert_eq!((l.holder.as_str(), l.epoch), ("a", 1));
            assert!(l.expires_in_ms > 0 && l.expires_in_ms <= 1500, "{l:?}");
        }
        other => panic!("b must not get a held lease: {other:?}"),
    }
    assert!(store.renew_lease("a", 1, ms(1500), ms(300)).await?);
    // The renewal counts from now: the lease now ends later than it did.
    tokio::time::sleep(ms(1700)).await;
    let b = store.acquire_lease("b", ms(5000), ms(300)).await?;
    assert_eq!(acquired(&b), Some(2), "{b:?}");
    // The old holder can neither renew nor take it back.
    assert!(!store.renew_lease("a", 1, ms(1500), ms(300)).await?);
    let a = store.acquire_lease("a", ms(1500), ms(300)).await?;
    assert_eq!(acquired(&a), None, "{a:?}");
    let l = store.lease().await?.ok_or("lease missing")?;
    assert_eq!((l.holder.as_str(), l.epoch), ("b", 2));
    // It survives a restart of the store.
    store.close().await;
    let store = backend.open().await?;
    let l = store.lease().await?.ok_or("lease missing after reopen")?;
    assert_eq!((l.holder.as_str(), l.epoch), ("b", 2));
    Ok(())
}

pub async fn a_restarted_replica_retakes_its_lease_under_a_new_epoch(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    assert_eq!(
        acquired(&store.acquire_lease("a", ms(60_000), ms(1000)).await?),
        Some(1)
    );
    // Same replica id, unexpired lease: a restart, which fences the old process out.
    assert_eq!(
        acquired(&store.acquire_lease("a", ms(60_000), ms(1000)).await?),
        Some(2)
    );
    assert!(!store.renew_lease("a", 1, ms(60_000), ms(1000)).await?);
    assert!(store.renew_lease("a", 2, ms(60_000), ms(1000)).await?);
    Ok(())
}

pub async fn a_released_lease_passes_at_once(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    assert_eq!(
        acquired(&store.acquire_lease("a", ms(60_000), ms(1000)).await?),
        Some(1)
    );
    // Releasing under a stale epoch or another name does nothing.
    store.release_lease("a", 9).await?;
    store.release_lease("b", 1).await?;
    assert_eq!(
        acquired(&store.acquire_lease("b", ms(60_000), ms(1000)).await?),
        None
    );
    store.release_lease("a", 1).await?;
    assert_eq!(
        acquired(&store.acquire_lease("b", ms(60_000), ms(1000)).await?),
        Some(2)
    );
    Ok(())
}

pub async fn concurrent_acquirers_get_one_lease(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    let names: Vec<String> = (0..8).map(|i| format!("replica-{i}")).collect();
    let mut set = tokio::task::JoinSet::new();
    for n in &names {
        let (store, n) = (store.clone(), n.clone());
        set.spawn(async move {
            let grant = store.acquire_lease(&n, ms(60_000), ms(1000)).await;
            (n, grant)
        });
    }
    let mut winners = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (name, grant) = joined?;
        if let Some(epoch) = acquired(&grant?) {
            winners.push((name, epoch));
        }
    }
    assert_eq!(winners.len(), 1, "exactly one replica leads: {winners:?}");
    let l = store.lease().await?.ok_or("lease missing")?;
    assert_eq!((l.holder.clone(), l.epoch), winners[0].clone());
    Ok(())
}

fn claim(execution_id: u64, step: u32, epoch: u64) -> JournalRecord {
    let mut row = journal_row(execution_id, step, JournalStatus::Intent, 10);
    row.epoch = epoch;
    row
}

pub async fn journal_claims_are_fenced_by_the_lease_epoch(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    // No lease was ever taken: a single replica claims under epoch 0, nobody else.
    assert!(store.journal_step(&claim(1, 0, 0)).await?);
    let err = store.journal_step(&claim(1, 1, 3)).await;
    assert!(
        matches!(
            err,
            Err(StoreError::Fenced {
                epoch: 3,
                current: None
            })
        ),
        "{err:?}"
    );

    assert_eq!(
        acquired(&store.acquire_lease("a", ms(60_000), ms(1000)).await?),
        Some(1)
    );
    // Once a lease exists, epoch 0 is stale too.
    let err = store.journal_step(&claim(2, 0, 0)).await;
    assert!(
        matches!(err, Err(StoreError::Fenced { epoch: 0, .. })),
        "{err:?}"
    );
    assert!(store.journal_step(&claim(2, 0, 1)).await?);
    // A repeated claim is idempotent, not fenced.
    assert!(!store.journal_step(&claim(2, 0, 1)).await?);
    // Results are facts: written whatever their epoch.
    let mut applied = journal_row(2, 0, JournalStatus::Applied, 11);
    applied.epoch = 1;
    assert!(store.journal_step(&applied).await?);

    store.release_lease("a", 1).await?;
    assert_eq!(
        acquired(&store.acquire_lease("b", ms(60_000), ms(1000)).await?),
        Some(2)
    );
    let err = store.journal_step(&claim(3, 0, 1)).await;
    match err {
        Err(StoreError::Fenced {
            epoch: 1,
            current: Some((holder, 2, left)),
        }) => {
            assert_eq!(holder, "b");
            assert!(left > 0);
        }
        other => panic!("a claim under the old epoch must be fenced: {other:?}"),
    }
    assert!(store.journal_step(&claim(3, 0, 2)).await?);
    // Fenced claims wrote nothing.
    assert_eq!(store.journal(ExecutionId(1)).await?.len(), 1);
    assert_eq!(store.journal(ExecutionId(2)).await?.len(), 2);
    assert_eq!(store.journal(ExecutionId(3)).await?, vec![claim(3, 0, 2)]);
    Ok(())
}

pub async fn a_claim_inside_the_lease_margin_is_fenced(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    // A margin as long as the lease: no moment is far enough from its end to claim.
    assert_eq!(
        acquired(&store.acquire_lease("a", ms(1000), ms(1000)).await?),
        Some(1)
    );
    let err = store.journal_step(&claim(1, 0, 1)).await;
    match err {
        Err(StoreError::Fenced {
            epoch: 1,
            current: Some((holder, 1, _)),
        }) => assert_eq!(holder, "a"),
        other => panic!("a claim within the margin must be fenced: {other:?}"),
    }
    // Renewed with a sane margin, the same claim goes through.
    assert!(store.renew_lease("a", 1, ms(10_000), ms(1000)).await?);
    assert!(store.journal_step(&claim(1, 0, 1)).await?);
    Ok(())
}

pub async fn a_newer_leader_claims_an_unsent_intent_again(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    assert_eq!(
        acquired(&store.acquire_lease("a", ms(60_000), ms(1000)).await?),
        Some(1)
    );
    assert!(store.journal_step(&claim(1, 0, 1)).await?);
    // The same replica restarts (epoch 2) and claims the unsent intent again: the
    // row now carries the new epoch and time.
    assert_eq!(
        acquired(&store.acquire_lease("a", ms(60_000), ms(1000)).await?),
        Some(2)
    );
    let mut again = claim(1, 0, 2);
    again.at = t(20);
    assert!(store.journal_step(&again).await?);
    let rows = store.journal(ExecutionId(1)).await?;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].epoch, rows[0].at), (2, t(20)));
    // The older epoch cannot take it back, nor another key replace it.
    assert!(!store.journal_step(&claim(1, 0, 1)).await?);
    assert_eq!(store.journal(ExecutionId(1)).await?[0].epoch, 2);
    let mut other = claim(1, 0, 2);
    other.idempotency_key = "another".into();
    assert!(store.journal_step(&other).await.is_err());
    Ok(())
}
