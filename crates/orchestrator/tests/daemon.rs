//! The daemon's tasks in paused time (`tokio::time::pause`): the lease keeper's
//! hand-over between two replicas, and the ticker leading under a fence, stepping
//! down when the fence lapses and answering as a follower meanwhile. No wall-clock
//! sleeps: time moves only as the tasks wait.

use charter_execute::Actuator;
use charter_knowledge::{SqliteStore, Store};
use charter_model::{Charter, Timestamp, parse_charter};
use charter_orchestrator::controller::ApprovalError;
use charter_orchestrator::daemon::{Command, ControlHandle, LoopParts, Ticker, TokioClock};
use charter_orchestrator::{ControllerError, Fence, Health, LoopMetrics};
use charter_sim::{Scenario, Simulator, World};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const CHARTER: &str = include_str!("../../../examples/westworld.yaml");
const EPOCH: Timestamp = Timestamp(1_767_225_600_000);

fn charter() -> Arc<Charter> {
    Arc::new(
        parse_charter(CHARTER, "examples/westworld.yaml", Path::new("."))
            .expect("example charter is valid")
            .0,
    )
}

/// An in-memory store, opened before time is paused: its pool's connect timeout
/// would otherwise fire as soon as the paused clock jumps.
async fn store() -> Arc<dyn Store> {
    let store = Arc::new(SqliteStore::open_in_memory().await.expect("store"));
    tokio::time::pause();
    store
}

/// Wait (in paused time) until `f` holds, checking every 10 ms, at most `limit`.
async fn until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f()
}

#[tokio::test]
async fn the_ticker_leads_under_a_fence_and_steps_down_when_it_lapses() {
    let charter = charter();
    let store = store().await;
    let scenario = Scenario::builtin("no-fault").expect("built-in scenario");
    let clock = Arc::new(TokioClock::starting_at(EPOCH));
    let sim = Simulator::new(World::new(&scenario, 1), EPOCH);
    let actuators: BTreeMap<String, Arc<dyn Actuator>> = charter
        .actuators
        .keys()
        .map(|k| (k.clone(), Arc::new(sim.clone()) as Arc<dyn Actuator>))
        .collect();
    let health = Arc::new(Health::default());
    let parts = LoopParts {
        charter: charter.clone(),
        source: Arc::new(sim.clone()),
        actuators,
        store: store.clone(),
        health: health.clone(),
        metrics: LoopMetrics::unregistered(),
        clock,
    };
    let (fences, rx) = watch::channel(None);
    let (control, commands) = ControlHandle::channel();
    let stop = CancellationToken::new();
    let ticker = Ticker::replicated(parts, rx, Arc::new(Notify::new()), commands);
    let task = tokio::spawn(ticker.run(stop.clone()));

    // A follower runs no loop: approvals are refused and name the role.
    let refused = control
        .call(|reply| Command::Approve {
            id: 1,
            by: "op".into(),
            reply,
        })
        .await
        .expect("answered");
    assert!(
        matches!(
            refused,
            Err(ApprovalError::Controller(ControllerError::NotLeader(_)))
        ),
        "{refused:?}"
    );
    assert_eq!(health.last_tick_ms(), 0, "no cycle while following");

    // A fence: the ticker builds the loop (recovery first) and ticks every interval,
    // in the clock's time.
    let ttl = charter.interval * 3;
    let first = Arc::new(Fence::new(1, Instant::now() + ttl));
    fences.send(Some(first.clone())).expect("ticker listens");
    assert!(until(charter.interval, || health.last_tick_ms() > 0).await);
    let led_at = health.last_tick_ms();
    let two_later = led_at + 2 * charter.interval.as_millis() as i64;
    assert!(until(charter.interval * 3, || health.last_tick_ms() >= two_later).await);

    // Nobody renews it: once its deadline passes, the next cycle refuses to act and the
    // ticker steps down, revoking the fence (the lease keeper would give the lease up).
    assert!(until(ttl + charter.interval * 2, || first.is_revoked()).await);
    let last = health.last_tick_ms();
    tokio::time::sleep(charter.interval * 3).await;
    assert_eq!(health.last_tick_ms(), last, "no cycle after stepping down");

    // Leading again under a newer epoch: the loop is rebuilt and audited as such.
    let second = Arc::new(Fence::new(2, Instant::now() + charter.interval * 100));
    fences.send(Some(second.clone())).expect("ticker listens");
    assert!(until(charter.interval, || health.last_tick_ms() > last).await);
    let epochs: Vec<u64> = store
        .audit_log(100)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.kind == "leader")
        .filter_map(|e| e.body["epoch"].as_u64())
        .collect();
    assert_eq!(
        {
            let mut e = epochs.clone();
            e.sort();
            e
        },
        vec![1, 2],
        "one leader entry per epoch: {epochs:?}"
    );
    stop.cancel();
    task.await.expect("joined").expect("no failure");
    assert!(second.may_act(), "shutdown is not a lost lease");
}
