//! The charter file and the shared vocabulary of Charter.
//!
//! Every stage depends on this crate and on nothing else of ours for its types:
//!
//! - [`config`]: the charter compiler: the raw YAML document ([`CharterConfig`])
//!   compiled into a [`Charter`] one section at a time, collecting every error with
//!   `file:line:col` and the key path; [`config::defaults`] holds every default.
//! - [`charter`]: the validated charter — components, objectives, actions, guardrails.
//! - [`topology`]: the dependency graph of components, with reachability queries.
//! - [`placement`]: zones and nodes, the names of common-cause hypotheses
//!   (`zone:b`, `node:x`) and the components placed there.
//! - [`action`]: the nine action kinds, actions and their inverses.
//! - [`vocab`]: samples, violations, changes, patterns, diagnoses, incidents,
//!   policies and outcomes (DESIGN.md §2).
//! - [`step`]: [`StepRef`] (a forward step or the undo of one, as journaled) and
//!   [`IdempotencyKey`], the key an actuator applies at most once.
//! - [`ids`]: [`IncidentId`], [`PolicyId`] and [`ExecutionId`], numbers kept apart.
//! - [`token`]: bearer tokens read from files.
//! - [`time`]: [`Timestamp`], the injected notion of "now" (milliseconds since the epoch).

pub mod action;
pub mod charter;
pub mod config;
pub mod csv;
pub mod files;
pub mod ids;
pub mod learning;
pub mod placement;
pub mod rules;
pub mod series;
pub mod step;
pub mod text;
pub mod time;
pub mod token;
pub mod topology;
pub mod vocab;

pub use action::{Action, ActionKind};
pub use charter::{
    ActionCommands, ActionSpec, ActuatorSpec, AlertTrust, AlertsSpec, ApiSpec, Approval, ArgPiece,
    ArgTemplate, ChangeQueries, Charter, CommandSpec, Component, Direction, Guardrails,
    KnowledgeSpec, KubernetesSpec, LeaseSpec, Mode, Objective, ObjectiveSource, PrometheusSpec,
    Signal, SourceSpec, Thresholds, command_params,
};
pub use config::{
    CharterConfig, ConfigError, ValidationIssue, load_charter, load_charter_checked, parse_charter,
};
pub use ids::{ExecutionId, IncidentId, PolicyId};
pub use placement::{Placement, PlacementKind};
pub use series::{SeriesKey, SeriesMap};
pub use step::{IdempotencyKey, StepRef};
pub use time::{Clock, Timestamp, WallClock, fmt_duration, fmt_duration_secs};
pub use token::{TokenFileError, read_token_file};
pub use topology::Topology;
pub use vocab::*;
