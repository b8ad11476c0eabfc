//! The ticker: the task that owns the [`Controller`]. It runs a cycle every interval
//! (and at once when an alert wakes it), applies the control channel's commands
//! between cycles, and — with a lease — builds the loop when this replica becomes the
//! leader and drops it when the lease is lost.

use super::commands::{self, Applied, Command};
use crate::health::{Health, LoopMetrics};
use crate::lease::Fence;
use crate::{Controller, ControllerError, TickReport};
use charter_execute::Actuator;
use charter_knowledge::Store;
use charter_model::{Charter, Clock, Timestamp};
use charter_monitor::MetricSource;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// What the ticker drives: a loop that ticks and takes commands.
pub trait Loop: Send {
    /// Run one cycle at `now`.
    fn tick(
        &mut self,
        now: Timestamp,
    ) -> impl Future<Output = Result<TickReport, ControllerError>> + Send;

    /// Apply a control command between cycles.
    fn apply(&mut self, command: Command, now: Timestamp) -> impl Future<Output = Applied> + Send;
}

impl Loop for Controller {
    fn tick(
        &mut self,
        now: Timestamp,
    ) -> impl Future<Output = Result<TickReport, ControllerError>> + Send {
        Controller::tick(self, now)
    }

    fn apply(&mut self, command: Command, now: Timestamp) -> impl Future<Output = Applied> + Send {
        commands::apply(self, command, now)
    }
}

/// Where the ticker's loops come from: what a replica builds when it becomes the
/// leader, and how it answers commands while it follows.
pub trait Host: Send + Sync {
    type Loop: Loop;

    /// How often the loop runs.
    fn interval(&self) -> Duration;

    /// Build the loop of the leader of `fence`'s epoch (startup recovery first).
    fn lead(
        &self,
        fence: Arc<Fence>,
        now: Timestamp,
    ) -> impl Future<Output = Result<Self::Loop, ControllerError>> + Send;

    /// Answer a command without a loop (a follower).
    fn follow(&self, command: Command, now: Timestamp) -> impl Future<Output = Applied> + Send;
}

/// What the loop runs on; the same for every controller the ticker builds.
pub struct LoopParts {
    pub charter: Arc<Charter>,
    pub source: Arc<dyn MetricSource>,
    pub actuators: BTreeMap<String, Arc<dyn Actuator>>,
    pub store: Arc<dyn Store>,
    pub health: Arc<Health>,
    pub metrics: LoopMetrics,
}

impl Host for LoopParts {
    type Loop = Controller;

    fn interval(&self) -> Duration {
        self.charter.interval
    }

    async fn lead(&self, fence: Arc<Fence>, now: Timestamp) -> Result<Controller, ControllerError> {
        self.health.restart_loop();
        let c = Controller::new_leader(
            self.charter.clone(),
            self.source.clone(),
            self.actuators.clone(),
            self.store.clone(),
            now,
            fence,
        )
        .await?;
        Ok(c.with_health(self.health.clone(), self.metrics.clone()))
    }

    async fn follow(&self, command: Command, now: Timestamp) -> Applied {
        commands::apply_as_follower(self.store.as_ref(), &self.health, command, now).await
    }
}

/// The task that owns the loop.
pub struct Ticker<H: Host = LoopParts> {
    host: H,
    /// Where each cycle's `now` comes from.
    clock: Arc<dyn Clock>,
    /// The running loop: built before for a single replica; with a lease, built when
    /// this replica leads and dropped when it stops.
    controller: Option<H::Loop>,
    /// The fence this replica leads under, while it does.
    fence: Option<Arc<Fence>>,
    /// An alert arrived: run a cycle now.
    wake: Arc<Notify>,
    commands: mpsc::Receiver<Command>,
    /// The lease keeper's fences (`None`: a single replica, no lease).
    fences: Option<watch::Receiver<Option<Arc<Fence>>>>,
}

impl<H: Host> Ticker<H> {
    /// The ticker of a single replica, whose loop is `controller`.
    pub fn single(
        host: H,
        clock: Arc<dyn Clock>,
        controller: H::Loop,
        wake: Arc<Notify>,
        commands: mpsc::Receiver<Command>,
    ) -> Self {
        Ticker {
            host,
            clock,
            controller: Some(controller),
            fence: None,
            wake,
            commands,
            fences: None,
        }
    }

    /// The ticker of a replica that leads while the lease keeper publishes a fence on
    /// `fences`; it runs no loop until then.
    pub fn replicated(
        host: H,
        clock: Arc<dyn Clock>,
        fences: watch::Receiver<Option<Arc<Fence>>>,
        wake: Arc<Notify>,
        commands: mpsc::Receiver<Command>,
    ) -> Self {
        Ticker {
            host,
            clock,
            controller: None,
            fence: None,
            wake,
            commands,
            fences: Some(fences),
        }
    }

    /// Run until `shutdown` is cancelled (a cycle in progress finishes first) or the
    /// loop fails; a lost leadership is no failure: the replica steps down and
    /// follows. The controller is dropped on return.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), ControllerError> {
        let mut interval = tokio::time::interval(self.host.interval());
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            // Whether a cycle runs now, and why.
            let run = tokio::select! {
                _ = shutdown.cancelled() => break,
                next = fence_changed(&mut self.fences) => {
                    self.lead_or_follow(next, &mut interval).await?;
                    false
                }
                _ = self.wake.notified() => {
                    // An alert arrived: run a cycle now, and the next regular one a full interval later.
                    interval.reset();
                    true
                }
                Some(command) = self.commands.recv() => {
                    let applied = self.apply(command).await;
                    // An approved policy starts now rather than an interval later.
                    if applied == Applied::RunCycle {
                        interval.reset();
                    }
                    applied == Applied::RunCycle
                }
                // A cycle in progress is not interrupted: cancellation is checked between cycles.
                _ = interval.tick() => true,
            };
            if run {
                self.cycle().await?;
            }
        }
        Ok(())
    }

    /// A new fence (lead: build the loop afresh from the store, recovery first) or
    /// none (the lease was lost: step down).
    async fn lead_or_follow(
        &mut self,
        next: Option<Arc<Fence>>,
        interval: &mut Interval,
    ) -> Result<(), ControllerError> {
        match next {
            Some(f) if self.controller.is_none() => {
                match self.host.lead(f.clone(), self.clock.now()).await {
                    Ok(c) => {
                        eprintln!("charter: leading under fencing epoch {}", f.epoch());
                        self.controller = Some(c);
                        self.fence = Some(f);
                        interval.reset_immediately();
                    }
                    Err(e) if e.lost_leadership() => {
                        tracing::warn!(error = %e, "lease lost while starting the loop");
                        f.revoke();
                    }
                    Err(e) => return Err(e),
                }
            }
            None => self.step_down("the lease was lost"),
            _ => {}
        }
        Ok(())
    }

    /// Apply a command between cycles: the controller is ours until it is answered.
    async fn apply(&mut self, command: Command) -> Applied {
        let now = self.clock.now();
        match self.controller.as_mut() {
            Some(c) => c.apply(command, now).await,
            None => self.host.follow(command, now).await,
        }
    }

    /// One cycle of the loop, if this replica runs one; a lost leadership steps down.
    async fn cycle(&mut self) -> Result<(), ControllerError> {
        let Some(c) = self.controller.as_mut() else {
            return Ok(());
        };
        match c.tick(self.clock.now()).await {
            Ok(report) => {
                for e in report.events.iter().filter(|e| e.event.is_news()) {
                    tracing::info!(target: "charter::event", "{}", e.event);
                }
                Ok(())
            }
            Err(e) if e.lost_leadership() => {
                tracing::error!(error = %e, "loop cycle failed; stopping");
                self.step_down(&e.to_string());
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "loop cycle failed; stopping");
                Err(e)
            }
        }
    }

    /// Stop acting: drop the loop (a new leader recovers its executions from the
    /// journal) and revoke the fence (the lease keeper gives the lease up).
    fn step_down(&mut self, why: &str) {
        if let Some(f) = self.fence.take() {
            f.revoke();
        }
        if self.controller.take().is_some() {
            eprintln!("charter: stepping down to follower: {why}");
        }
    }
}

/// The next fence the lease keeper publishes; never, without a lease or once the
/// keeper has stopped.
async fn fence_changed(
    fences: &mut Option<watch::Receiver<Option<Arc<Fence>>>>,
) -> Option<Arc<Fence>> {
    if let Some(rx) = fences
        && rx.changed().await.is_ok()
    {
        return rx.borrow_and_update().clone();
    }
    std::future::pending().await
}
