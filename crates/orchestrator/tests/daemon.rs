//! The daemon's tasks in paused time (`tokio::time::pause`), on fakes that do no I/O,
//! so that every timing is exact: the ticker leading under a fence, ticking on its
//! interval and on a wake-up, stepping down when the fence lapses, answering as a
//! follower meanwhile and leading again; the lease keeper's hand-over between two
//! replicas, and a leader whose renewals stall. No wall-clock sleeps.

use charter_knowledge::{LeaderLease, LeaseGrant, LeaseRecord, StoreError};
use charter_model::PolicyId;
use charter_model::{LeaseSpec, Timestamp};
use charter_orchestrator::controller::ApprovalError;
use charter_orchestrator::daemon::{
    Applied, Command, ControlHandle, Host, LeaseKeeper, Loop, Ticker, TokioClock,
};
use charter_orchestrator::{ControllerError, Fence, Health, LoopMetrics, Role, TickReport};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const EPOCH: Timestamp = Timestamp(1_767_225_600_000);
const INTERVAL: Duration = Duration::from_secs(15);

/// What the fake host saw: every tick (epoch, time) and every loop it built.
#[derive(Default)]
struct Seen {
    ticks: Mutex<Vec<(u64, Timestamp)>>,
    led: Mutex<Vec<u64>>,
}

impl Seen {
    fn ticks(&self) -> Vec<(u64, Timestamp)> {
        self.ticks.lock().expect("lock").clone()
    }
}

/// A loop that acts only while its fence lets it, as the controller does.
struct FakeLoop {
    fence: Arc<Fence>,
    seen: Arc<Seen>,
}

impl Loop for FakeLoop {
    async fn tick(&mut self, now: Timestamp) -> Result<TickReport, ControllerError> {
        if !self.fence.may_act() {
            return Err(ControllerError::NotLeader("fence lapsed".into()));
        }
        self.seen
            .ticks
            .lock()
            .expect("lock")
            .push((self.fence.epoch(), now));
        Ok(TickReport::default())
    }

    async fn apply(&mut self, command: Command, _now: Timestamp) -> Applied {
        if let Command::Approve { reply, .. } = command {
            let _ = reply.send(Err(ApprovalError::NotFound(PolicyId(0))));
        }
        Applied::Done
    }
}

struct FakeHost {
    seen: Arc<Seen>,
}

impl Host for FakeHost {
    type Loop = FakeLoop;

    fn interval(&self) -> Duration {
        INTERVAL
    }

    async fn lead(&self, fence: Arc<Fence>, _now: Timestamp) -> Result<FakeLoop, ControllerError> {
        self.seen.led.lock().expect("lock").push(fence.epoch());
        Ok(FakeLoop {
            fence,
            seen: self.seen.clone(),
        })
    }

    async fn follow(&self, command: Command, _now: Timestamp) -> Applied {
        if let Command::Approve { reply, .. } = command {
            let _ = reply.send(Err(ApprovalError::Controller(ControllerError::NotLeader(
                "a follower".into(),
            ))));
        }
        Applied::Done
    }
}

async fn approve(control: &ControlHandle) -> Result<charter_model::Policy, ApprovalError> {
    control
        .call(|reply| Command::Approve {
            id: PolicyId(1),
            by: "op".into(),
            reply,
        })
        .await
        .expect("answered")
}

/// Let every task run until all wait on timers, without moving the clock.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_ticker_leads_under_a_fence_ticks_on_time_and_steps_down_when_it_lapses() {
    let seen = Arc::new(Seen::default());
    let clock = Arc::new(TokioClock::starting_at(EPOCH));
    let (fences, rx) = watch::channel(None);
    let (control, commands) = ControlHandle::channel();
    let wake = Arc::new(Notify::new());
    let stop = CancellationToken::new();
    let ticker = Ticker::replicated(
        FakeHost { seen: seen.clone() },
        clock.clone(),
        rx,
        wake.clone(),
        commands,
    );
    let task = tokio::spawn(ticker.run(stop.clone()));
    let start = Instant::now();
    let at = |d: Duration| EPOCH.plus(d);

    // A follower runs no loop: the host answers, and nothing ticks.
    let refused = approve(&control).await;
    assert!(
        matches!(
            refused,
            Err(ApprovalError::Controller(ControllerError::NotLeader(_)))
        ),
        "{refused:?}"
    );
    tokio::time::sleep(INTERVAL * 2).await;
    assert!(seen.ticks().is_empty(), "no cycle while following");

    // Leading: the loop is built and ticks at once, then every interval exactly.
    let t0 = start.elapsed();
    let first = Arc::new(Fence::new(1, Instant::now() + INTERVAL * 3 + INTERVAL / 2));
    fences.send(Some(first.clone())).expect("ticker listens");
    tokio::time::sleep(INTERVAL * 2 + INTERVAL / 3).await;
    assert_eq!(
        seen.ticks(),
        vec![
            (1, at(t0)),
            (1, at(t0 + INTERVAL)),
            (1, at(t0 + INTERVAL * 2))
        ]
    );
    // The leader's loop answers commands now.
    assert!(matches!(
        approve(&control).await,
        Err(ApprovalError::NotFound(_))
    ));

    // An alert's wake-up runs a cycle now; the next regular one comes a full interval
    // later.
    let woken = start.elapsed();
    wake.notify_one();
    settle().await;
    assert_eq!(seen.ticks().last(), Some(&(1, at(woken))));
    tokio::time::sleep(INTERVAL / 2).await;
    assert_eq!(seen.ticks().len(), 4, "nothing between: {:?}", seen.ticks());

    // Nobody renews the fence (its deadline: 3.5 intervals after leading): the cycle a
    // full interval after the wake-up still runs; the next, past the deadline, refuses
    // to act, the ticker steps down and revokes the fence, and no cycle runs after.
    tokio::time::sleep(INTERVAL * 2).await;
    assert!(first.is_revoked(), "stepped down");
    assert_eq!(seen.ticks().len(), 5, "{:?}", seen.ticks());
    assert_eq!(seen.ticks().last(), Some(&(1, at(woken + INTERVAL))));
    tokio::time::sleep(INTERVAL * 4).await;
    assert_eq!(seen.ticks().len(), 5, "no cycle after stepping down");
    assert!(matches!(
        approve(&control).await,
        Err(ApprovalError::Controller(ControllerError::NotLeader(_)))
    ));

    // Leading again under a newer epoch: a new loop, ticking at once.
    let again = start.elapsed();
    let second = Arc::new(Fence::new(2, Instant::now() + INTERVAL * 100));
    fences.send(Some(second.clone())).expect("ticker listens");
    settle().await;
    assert_eq!(*seen.led.lock().expect("lock"), vec![1, 2]);
    assert_eq!(seen.ticks().last(), Some(&(2, at(again))));

    stop.cancel();
    task.await.expect("joined").expect("no failure");
    assert!(second.may_act(), "a shutdown is no lost lease");
}

/// A lease table kept by tokio's clock, as the store keeps it by the database's.
#[derive(Default)]
struct FakeLease {
    row: Mutex<Option<(String, u64, Instant)>>,
    /// Renewals fail (the store cannot be reached) while set.
    unreachable: Mutex<bool>,
}

impl FakeLease {
    fn record(&self) -> Option<LeaseRecord> {
        let row = self.row.lock().expect("lock").clone()?;
        let left = row.2.checked_duration_since(Instant::now());
        Some(LeaseRecord {
            holder: row.0,
            epoch: row.1,
            expires_in_ms: left.map_or(-1, |d| d.as_millis() as i64),
        })
    }
}

#[async_trait::async_trait]
impl LeaderLease for FakeLease {
    async fn acquire_lease(
        &self,
        holder: &str,
        ttl: Duration,
        _margin: Duration,
    ) -> Result<LeaseGrant, StoreError> {
        let now = Instant::now();
        let mut row = self.row.lock().expect("lock");
        match row.clone() {
            Some((h, epoch, expires)) if h != holder && expires > now => {
                Ok(LeaseGrant::HeldBy(LeaseRecord {
                    holder: h,
                    epoch,
                    expires_in_ms: (expires - now).as_millis() as i64,
                }))
            }
            old => {
                let epoch = old.map_or(0, |(_, e, _)| e) + 1;
                *row = Some((holder.to_string(), epoch, now + ttl));
                Ok(LeaseGrant::Acquired {
                    epoch,
                    expires_in_ms: ttl.as_millis() as i64,
                })
            }
        }
    }

    async fn renew_lease(
        &self,
        holder: &str,
        epoch: u64,
        ttl: Duration,
        _margin: Duration,
    ) -> Result<bool, StoreError> {
        if *self.unreachable.lock().expect("lock") {
            return Err(StoreError::Fenced {
                epoch,
                current: None,
            });
        }
        let now = Instant::now();
        let mut row = self.row.lock().expect("lock");
        match row.as_mut() {
            Some((h, e, expires)) if h == holder && *e == epoch && *expires > now => {
                *expires = now + ttl;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release_lease(&self, holder: &str, epoch: u64) -> Result<(), StoreError> {
        let mut row = self.row.lock().expect("lock");
        if let Some((h, e, expires)) = row.as_mut()
            && h == holder
            && *e == epoch
        {
            *expires = Instant::now();
        }
        Ok(())
    }

    async fn lease(&self) -> Result<Option<LeaseRecord>, StoreError> {
        Ok(self.record())
    }
}

#[tokio::test(start_paused = true)]
async fn the_follower_takes_over_on_release_and_on_expiry_and_a_stalled_leader_stops() {
    let lease = Arc::new(FakeLease::default());
    let spec = LeaseSpec::default();
    let keeper = |name: &str| {
        let (tx, rx) = watch::channel(None);
        let health = Arc::new(Health::default());
        let k = LeaseKeeper::new(
            lease.clone(),
            name.to_string(),
            spec,
            spec.renew / 4,
            tx,
            health.clone(),
            LoopMetrics::unregistered(),
        );
        (k, rx, health)
    };
    let fence_of = |rx: &watch::Receiver<Option<Arc<Fence>>>| rx.borrow().clone();

    // a takes the free lease; b follows a.
    let (a, rx_a, health_a) = keeper("a");
    assert!(matches!(
        health_a.role(),
        Role::Follower { leader: None, .. }
    ));
    let stop_a = CancellationToken::new();
    let task_a = tokio::spawn(a.run(stop_a.clone()));
    settle().await;
    let fence_a = fence_of(&rx_a).expect("a leads");
    assert_eq!(fence_a.epoch(), 1);
    assert!(matches!(health_a.role(), Role::Leader { epoch: 1, .. }));
    let (b, rx_b, health_b) = keeper("b");
    let stop_b = CancellationToken::new();
    let task_b = tokio::spawn(b.run(stop_b.clone()));
    settle().await;
    assert!(
        matches!(health_b.role(), Role::Follower { leader: Some(ref l), epoch: Some(1), .. } if l == "a"),
        "{:?}",
        health_b.role()
    );

    // Renewals keep a's fence ahead of the clock for as long as a runs.
    tokio::time::sleep(spec.ttl * 4).await;
    assert!(fence_a.may_act(), "renewed: {:?}", fence_a.remaining());
    assert!(fence_of(&rx_b).is_none(), "b never leads while a renews");

    // a's store becomes unreachable: its fence lapses at the last renewal's send time
    // plus ttl minus margin — before the lease itself expires — and b takes over only
    // once the lease has expired.
    *lease.unreachable.lock().expect("lock") = true;
    let lapse_by = Instant::now() + spec.ttl;
    while fence_a.may_act() {
        assert!(fence_of(&rx_b).is_none(), "b leads while a may still act");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(Instant::now() <= lapse_by, "a stopped in time");
    tokio::time::sleep(spec.ttl).await;
    let fence_b = fence_of(&rx_b).expect("b took the expired lease");
    assert_eq!(fence_b.epoch(), 2);
    *lease.unreachable.lock().expect("lock") = false;

    // a learns at its next renewal that b holds the lease now, and follows.
    tokio::time::sleep(spec.renew * 2).await;
    assert!(fence_of(&rx_a).is_none(), "a stepped down");
    assert!(fence_a.is_revoked());

    // b shuts down and gives the lease up: a takes it at its next poll, epoch 3.
    stop_b.cancel();
    task_b.await.expect("b stops");
    assert!(fence_b.is_revoked());
    tokio::time::sleep(spec.renew / 4 + Duration::from_millis(1)).await;
    let fence_a2 = fence_of(&rx_a).expect("a leads again");
    assert_eq!(fence_a2.epoch(), 3);
    stop_a.cancel();
    task_a.await.expect("a stops");
}
