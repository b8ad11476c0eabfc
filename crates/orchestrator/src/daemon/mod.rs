//! The daemon's tasks, each a struct with `run(self, shutdown)` that takes what it
//! needs as arguments (the clock included), so tests drive them in paused time:
//!
//! - [`Ticker`]: owns the [`crate::Controller`]; ticks it every interval (at once
//!   after an alert's wake-up), applies control commands between cycles, builds the
//!   loop when this replica becomes the leader and drops it when the lease is lost.
//! - [`LeaseKeeper`]: with several replicas, takes and renews the leader lease and
//!   publishes the [`crate::Fence`] the ticker acts under.
//! - [`Reloader`]: re-reads the charter file on `SIGHUP` or `POST /-/reload`, validates
//!   it and has the ticker swap it in between cycles (what a reload may change:
//!   [`reload`]).
//! - [`status`]: the daemon's status lines, printed or (JSON logs) logged.
//! - [`commands`]: the control channel from the HTTP task to the ticker
//!   ([`Command`], [`ControlHandle`]) and how a command is applied, by the leader or
//!   by a follower.
//!
//! `charter run` only parses its arguments, wires these tasks and the HTTP server
//! together, and cancels them on a signal.

pub mod commands;
mod lease;
pub mod reload;
pub mod status;
mod ticker;

pub use commands::{
    Applied, CONTROL_QUEUE, CallError, Command, ControlHandle, DEFAULT_ANSWER_TIMEOUT, Reply,
    apply, apply_as_follower,
};
pub use lease::LeaseKeeper;
pub use reload::{ReloadError, ReloadRefused, Reloaded, Reloader};
pub use ticker::{Host, Loop, LoopParts, Ticker};

use charter_model::{Clock, Timestamp};

/// Wall time that follows tokio's clock from `epoch`: it runs with real time, and
/// under `tokio::time::pause` only as the test advances it, so a daemon's tasks can be
/// driven in paused time with consistent timestamps and deadlines.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    epoch: Timestamp,
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock that reads `epoch` now.
    pub fn starting_at(epoch: Timestamp) -> Self {
        TokioClock {
            epoch,
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.epoch.plus(self.origin.elapsed())
    }
}
