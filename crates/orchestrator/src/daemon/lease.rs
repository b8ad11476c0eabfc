//! The lease keeper: takes the leader lease when it is free, renews it while leading,
//! publishes the [`Fence`] the ticker acts under, and gives the lease up on shutdown.

use crate::health::{Health, LoopMetrics, Role};
use crate::lease::Fence;
use charter_knowledge::{LeaderLease, LeaseGrant};
use charter_model::LeaseSpec;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The task that keeps this replica's side of the leader lease.
pub struct LeaseKeeper {
    store: Arc<dyn LeaderLease>,
    /// This replica's name in the lease.
    replica: String,
    spec: LeaseSpec,
    /// How often a follower tries to take the lease.
    poll: Duration,
    /// The fence while this replica leads, `None` while it follows.
    fences: watch::Sender<Option<Arc<Fence>>>,
    health: Arc<Health>,
    metrics: LoopMetrics,
}

impl LeaseKeeper {
    /// The keeper of `replica`'s lease on `store`; the replica follows until it takes
    /// the lease (published on `health` and `metrics` at once). A follower polls every
    /// `poll`: often enough that it takes over within the ttl plus one loop interval of
    /// the leader's last renewal.
    pub fn new(
        store: Arc<dyn LeaderLease>,
        replica: String,
        spec: LeaseSpec,
        poll: Duration,
        fences: watch::Sender<Option<Arc<Fence>>>,
        health: Arc<Health>,
        metrics: LoopMetrics,
    ) -> Self {
        let keeper = LeaseKeeper {
            store,
            replica,
            spec,
            poll,
            fences,
            health,
            metrics,
        };
        keeper.follow(None);
        keeper
    }

    /// Take the lease when it is free, renew it every `renew` while leading (sooner
    /// after a failed renewal), publish the fence, and give the lease up once
    /// `shutdown` is cancelled. The fence's deadline is the send time of the last
    /// successful renewal plus ttl minus margin, so the loop stops acting before the
    /// lease can expire even if renewals stall.
    pub async fn run(self, shutdown: CancellationToken) {
        let (ttl, margin) = (self.spec.ttl, self.spec.margin());
        let mut fence: Option<Arc<Fence>> = None;
        loop {
            let sent = Instant::now();
            let mut wait = if fence.is_some() {
                self.spec.renew
            } else {
                self.poll
            };
            match fence.clone() {
                Some(f) if f.is_revoked() => {
                    // The loop stepped down (a fenced claim): let the lease go, follow.
                    if let Err(e) = self.store.release_lease(&self.replica, f.epoch()).await {
                        tracing::warn!(error = %e, "cannot release the leader lease");
                    }
                    fence = None;
                    let _ = self.fences.send(None);
                    self.follow(None);
                }
                Some(f) => match self
                    .store
                    .renew_lease(&self.replica, f.epoch(), ttl, margin)
                    .await
                {
                    Ok(true) => f.extend(Fence::deadline_after(sent, ttl, margin)),
                    Ok(false) => {
                        super::status::say(format_args!(
                            "lost the leader lease of epoch {}: another replica took it",
                            f.epoch()
                        ));
                        f.revoke();
                        fence = None;
                        let _ = self.fences.send(None);
                        self.follow(None);
                        wait = Duration::ZERO;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot renew the leader lease; retrying");
                        wait = self.spec.renew / 4;
                    }
                },
                None => match self.store.acquire_lease(&self.replica, ttl, margin).await {
                    Ok(LeaseGrant::Acquired { epoch, .. }) => {
                        let f =
                            Arc::new(Fence::new(epoch, Fence::deadline_after(sent, ttl, margin)));
                        self.health.set_role(Role::Leader {
                            replica: self.replica.clone(),
                            epoch,
                        });
                        self.metrics.leader.set(1);
                        self.metrics
                            .lease_epoch
                            .set(i64::try_from(epoch).unwrap_or(i64::MAX));
                        fence = Some(f.clone());
                        let _ = self.fences.send(Some(f));
                        wait = self.spec.renew;
                    }
                    Ok(LeaseGrant::HeldBy(lease)) => self.follow(Some((lease.holder, lease.epoch))),
                    Err(e) => tracing::warn!(error = %e, "cannot read the leader lease; retrying"),
                },
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        if let Some(f) = fence {
            f.revoke();
            match self.store.release_lease(&self.replica, f.epoch()).await {
                Ok(()) => super::status::say(format_args!(
                    "released the leader lease of epoch {}",
                    f.epoch()
                )),
                Err(e) => tracing::warn!(error = %e, "cannot release the leader lease"),
            }
        }
    }

    /// Publish that this replica follows `leader` (holder, epoch), if known.
    fn follow(&self, leader: Option<(String, u64)>) {
        self.health.set_role(Role::Follower {
            replica: self.replica.clone(),
            leader: leader.as_ref().map(|(h, _)| h.clone()),
            epoch: leader.as_ref().map(|(_, e)| *e),
        });
        self.metrics.leader.set(0);
        if let Some((_, e)) = leader {
            self.metrics
                .lease_epoch
                .set(i64::try_from(e).unwrap_or(i64::MAX));
        }
    }
}
