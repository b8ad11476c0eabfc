//! The loop that runs Monitor → Analyze → Plan → Execute → Knowledge.
//!
//! - [`controller`]: [`Controller`], a state machine advanced by [`Controller::tick`]
//!   with an injected `now`. The same code runs in virtual time (the simulator, the
//!   demo, the tests) and in real time (the daemon's interval timer). Its parts:
//!   observer (Monitor), incident book, planning, executor, control.
//! - [`daemon`]: the daemon's tasks — [`daemon::Ticker`] (owns the controller),
//!   [`daemon::LeaseKeeper`] (the leader lease) — and the control channel from the
//!   HTTP task.
//! - [`event`]: [`Event`]s a tick produced, for the live log and the summary.
//! - [`health`]: [`Health`], the loop's state shared with `/readyz` and `/metrics`.
//! - [`lease`]: [`Fence`], what a leader among replicas acts under (fencing epoch,
//!   local deadline).
//! - [`recovery`]: [`recover`], run by [`Controller::new`]: settles the executions an
//!   earlier process left unfinished (look up, then compensate; never re-apply).
//! - `journal`: the one journaled apply (intent, actuator call, result) that the
//!   loop's steps, its compensations and recovery all go through.

pub mod controller;
pub mod daemon;
pub mod event;
pub mod health;
mod journal;
pub mod lease;
pub mod recovery;

pub use controller::{Controller, ControllerError, Stages, TickReport};
pub use event::Event;
pub use health::{Health, LoopMetrics, Role, StateSnapshot};
pub use lease::Fence;
pub use recovery::{RecoveryReport, recover};
