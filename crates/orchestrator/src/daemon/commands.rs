//! The control channel: how the HTTP task asks the loop to approve, reject, pause,
//! resume, list policies or take a reloaded charter without holding the [`Controller`].
//!
//! The HTTP task sends a [`Command`] over a bounded mpsc channel; the ticker task owns
//! the controller, applies the command between cycles with [`apply`] and answers on the
//! command's oneshot. A command is therefore never applied in the middle of a cycle,
//! and the controller needs no lock.

use super::reload::ReloadRefused;
use crate::controller::{ApprovalError, pending_then_recent};
use crate::{Controller, ControllerError, Health};
use charter_knowledge::{AuditKind, PauseRecord, Store};
use charter_model::PolicyId;
use charter_model::{Charter, Policy, Timestamp};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Commands waiting for the loop; a full queue makes callers wait, not fail.
pub const CONTROL_QUEUE: usize = 32;

/// How long a caller waits for the loop's answer by default: a cycle in progress
/// finishes first.
pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the loop answers a command.
pub type Reply<T, E> = oneshot::Sender<Result<T, E>>;

/// A request to the loop from a human (through the API).
#[derive(Debug)]
pub enum Command {
    /// Policies waiting for a human first, then the newest `limit` others.
    ListPolicies {
        limit: usize,
        reply: Reply<Vec<Policy>, ControllerError>,
    },
    /// One policy by id.
    GetPolicy {
        id: PolicyId,
        reply: Reply<Option<Policy>, ControllerError>,
    },
    /// Approve a pending policy; its execution starts.
    Approve {
        id: PolicyId,
        by: String,
        reply: Reply<Policy, ApprovalError>,
    },
    /// Reject a pending policy, with a reason.
    Reject {
        id: PolicyId,
        by: String,
        reason: String,
        reply: Reply<Policy, ApprovalError>,
    },
    /// Turn the kill switch on.
    Pause {
        by: String,
        reason: String,
        reply: Reply<PauseRecord, ControllerError>,
    },
    /// Turn the kill switch off.
    Resume {
        by: String,
        reply: Reply<PauseRecord, ControllerError>,
    },
    /// Run this charter from the next cycle on (a validated reload, see
    /// [`super::reload`]); the loop's state is kept.
    Reload {
        charter: Arc<Charter>,
        reply: Reply<(), ReloadRefused>,
    },
}

impl Command {
    /// Whether the caller stopped waiting (its request timed out or was dropped): such a
    /// command is skipped rather than applied behind the caller's back.
    fn abandoned(&self) -> bool {
        match self {
            Command::ListPolicies { reply, .. } => reply.is_closed(),
            Command::GetPolicy { reply, .. } => reply.is_closed(),
            Command::Approve { reply, .. } | Command::Reject { reply, .. } => reply.is_closed(),
            Command::Pause { reply, .. } | Command::Resume { reply, .. } => reply.is_closed(),
            Command::Reload { reply, .. } => reply.is_closed(),
        }
    }
}

/// What [`apply`] did, for the ticker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Nothing for the loop to do now.
    Done,
    /// A policy was approved: run a cycle now so its first step does not wait for the
    /// next interval.
    RunCycle,
}

/// Apply one command to the controller at `now` and answer it. Called by the task that
/// owns the controller, between cycles.
pub async fn apply(controller: &mut Controller, command: Command, now: Timestamp) -> Applied {
    if command.abandoned() {
        tracing::warn!(
            ?command,
            "control command abandoned by its caller; not applied"
        );
        return Applied::Done;
    }
    match command {
        Command::ListPolicies { limit, reply } => {
            let _ = reply.send(controller.policies(limit).await);
        }
        Command::GetPolicy { id, reply } => {
            let _ = reply.send(controller.policy(id).await);
        }
        Command::Approve { id, by, reply } => {
            let result = controller.approve(id, &by, now).await;
            let started = result.is_ok();
            let _ = reply.send(result);
            if started {
                return Applied::RunCycle;
            }
        }
        Command::Reject {
            id,
            by,
            reason,
            reply,
        } => {
            let _ = reply.send(controller.reject(id, &by, &reason, now).await);
        }
        Command::Pause { by, reason, reply } => {
            let _ = reply.send(controller.pause(&by, &reason, now).await);
        }
        Command::Resume { by, reply } => {
            let _ = reply.send(controller.resume(&by, now).await);
        }
        Command::Reload { charter, reply } => {
            let _ = reply.send(controller.reload(charter));
        }
    }
    Applied::Done
}

/// Answer a command on a follower, which runs no loop: reads come from the store,
/// the kill switch is written to the store (the leader takes it up at its next cycle:
/// a kill switch must work whichever replica a human reaches), and approvals are
/// refused with who leads, since only the leader holds its pending policies.
pub async fn apply_as_follower(
    store: &dyn Store,
    health: &Health,
    command: Command,
    now: Timestamp,
) -> Applied {
    if command.abandoned() {
        return Applied::Done;
    }
    let not_leader = || {
        ControllerError::NotLeader(format!(
            "this replica is a {}; approve or reject on the leader",
            health.role()
        ))
    };
    match command {
        Command::ListPolicies { limit, reply } => {
            let policies = match store.pending_policies().await {
                Ok(pending) => pending_then_recent(store, pending, limit).await,
                Err(e) => Err(e),
            };
            let _ = reply.send(policies.map_err(ControllerError::from));
        }
        Command::GetPolicy { id, reply } => {
            let _ = reply.send(store.policy(id).await.map_err(ControllerError::from));
        }
        Command::Approve { reply, .. } | Command::Reject { reply, .. } => {
            let _ = reply.send(Err(ApprovalError::Controller(not_leader())));
        }
        Command::Pause { by, reason, reply } => {
            let record = PauseRecord {
                paused: true,
                by,
                reason,
                at: now,
            };
            let _ = reply.send(store_pause(store, health, record, now).await);
        }
        Command::Resume { by, reply } => {
            let record = PauseRecord {
                paused: false,
                by,
                reason: String::new(),
                at: now,
            };
            let _ = reply.send(store_pause(store, health, record, now).await);
        }
        // A follower runs no loop: the ticker keeps the charter for when it leads.
        Command::Reload { reply, .. } => {
            let _ = reply.send(Ok(()));
        }
    }
    Applied::Done
}

/// Persist and audit a kill switch set on a follower.
async fn store_pause(
    store: &dyn Store,
    health: &Health,
    record: PauseRecord,
    now: Timestamp,
) -> Result<PauseRecord, ControllerError> {
    store.save_pause(&record).await?;
    let kind = if record.paused {
        AuditKind::Pause
    } else {
        AuditKind::Resume
    };
    store
        .audit(
            now,
            kind.as_str(),
            &serde_json::json!({"by": record.by, "reason": record.reason, "on": health.role().to_string()}),
        )
        .await?;
    health.set_pause(Some(record.clone()));
    tracing::warn!(by = %record.by, paused = record.paused, "kill switch set on a follower");
    Ok(record)
}

/// The loop did not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("the control loop is not running (shutting down?)")]
    Closed,
    #[error("the control loop did not answer within {0:?} (a cycle may be slow); try again")]
    Timeout(Duration),
}

/// The HTTP task's end of the control channel.
#[derive(Debug, Clone)]
pub struct ControlHandle {
    tx: mpsc::Sender<Command>,
    timeout: Duration,
}

impl ControlHandle {
    /// A channel of [`CONTROL_QUEUE`] commands: the handle for the HTTP task and the
    /// receiver for the task that owns the controller.
    pub fn channel() -> (ControlHandle, mpsc::Receiver<Command>) {
        let (tx, rx) = mpsc::channel(CONTROL_QUEUE);
        (
            ControlHandle {
                tx,
                timeout: DEFAULT_ANSWER_TIMEOUT,
            },
            rx,
        )
    }

    /// Wait at most `timeout` for each answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Send a command built around its reply sender and wait for the answer.
    pub async fn call<T, E>(
        &self,
        command: impl FnOnce(Reply<T, E>) -> Command,
    ) -> Result<Result<T, E>, CallError> {
        let (reply, answer) = oneshot::channel();
        let exchange = async {
            self.tx
                .send(command(reply))
                .await
                .map_err(|_| CallError::Closed)?;
            answer.await.map_err(|_| CallError::Closed)
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| CallError::Timeout(self.timeout))?
    }
}
