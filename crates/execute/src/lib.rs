//! E — Execute: actuators and the executions that drive them.
//!
//! - [`actuator`]: the [`Actuator`] trait every actuator implements (the simulator in
//!   process, HTTP and command; Kubernetes in the `charter-kube` crate).
//! - [`command`]: [`CommandActuator`], programs named in the charter, run as argv lists
//!   without a shell, in a clean environment, with a timeout.
//! - [`http`]: [`HttpActuator`], the Charter actuator API over HTTP
//!   (`docs/actuator-api.md`).
//! - [`execution`]: an [`Execution`] carries a policy out as a state machine advanced
//!   by ticks: apply each step (recorded before it is attempted), wait for the time to
//!   effect (a deadline, not a sleep), verify, and roll back when the objective got worse.

pub mod actuator;
pub mod command;
pub mod execution;
pub mod http;

pub use actuator::{
    Actuator, ActuatorError, Applied, ComponentState, FENCING_EPOCH_HEADER, FENCING_EPOCH_VARIABLE,
    NextStep,
};
pub use command::CommandActuator;
pub use execution::{
    Execution, ExecutionPhase, MAX_STATUS_ASKS, Move, Step, StepStatus, classify_outcome,
};
pub use http::{HttpActuator, read_token_file};
