//! The loop that runs Monitor → Analyze → Plan → Execute → Knowledge.
//!
//! - [`controller`]: [`Controller`], a state machine advanced by [`Controller::tick`]
//!   with an injected `now`. The same code runs in virtual time (the simulator, the
//!   demo, the tests) and in real time (the daemon's interval timer).
//! - [`event`]: [`Event`]s a tick produced, for the live log and the summary.
//! - [`health`]: [`Health`], the loop's state shared with `/readyz` and `/metrics`.
//! - [`lease`]: [`Fence`], what a leader among replicas acts under (fencing epoch,
//!   local deadline).
//! - [`recovery`]: [`recover`], run by [`Controller::new`]: settles the executions an
//!   earlier process left unfinished (look up, then compensate; never re-apply).

pub mod controller;
pub mod event;
pub mod health;
pub mod lease;
pub mod recovery;

pub use controller::{Controller, ControllerError, Stages, TickReport};
pub use event::Event;
pub use health::{Health, LoopMetrics, Role, StateSnapshot};
pub use lease::Fence;
pub use recovery::{RecoveryReport, recover};
