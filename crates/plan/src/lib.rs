//! P — Plan: choose what to do about a diagnosed incident.
//!
//! Pure functions, no I/O. [`decide`] builds candidate actions from the diagnosis'
//! hypotheses and the violated objectives' `remedies`, estimates each one's
//! probability of success from what [`knowledge::KnowledgeView`] has learned (the
//! cause class and the charter's order of remedies are the prior until outcomes
//! exist), scores expected benefit against cost, checks preconditions and
//! guardrails, and decides: execute, ask for approval, record only (shadow), or do
//! nothing — always with the rationale and every rejected alternative.

pub mod decide;
pub mod targets;
/// The learning model lives in `charter-model`, so that the knowledge store can report
/// with it without depending on the planner.
pub use charter_model::learning as knowledge;

pub use decide::{Decision, GuardState, PlanInput, decide, prior_success};
pub use knowledge::KnowledgeView;
