//! The records the store keeps besides the model's own types: journal steps,
//! executions, outcomes in context, audit entries, learned success rates and the
//! kill switch.

use charter_model::{
    Action, ActionKind, CauseClass, Change, ExecutionId, IncidentId, Outcome, OutcomeClass,
    PolicyId, Timestamp,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The next free id of each kind of record: one past the largest ever stored, so ids
/// stay unique across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextIds {
    pub incident: IncidentId,
    pub policy: PolicyId,
    pub execution: ExecutionId,
}

/// A change event as stored by `POST /api/v1/changes`: the change, the key that makes
/// a replay of the same event one record, and when it was received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// The store's sequence number; ignored when saving (the store assigns it).
    pub seq: u64,
    /// Identifies the event: a second record with the same key is a replay.
    pub key: String,
    pub received_at: Timestamp,
    pub change: Change,
}

/// The kill switch as last set: paused or resumed, by whom, why and when. Kept under
/// [`GUARD_PAUSED`] so that a restart does not silently resume automation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseRecord {
    pub paused: bool,
    pub by: String,
    pub reason: String,
    pub at: Timestamp,
}

/// Guardrail state key of the kill switch ([`PauseRecord`]).
pub const GUARD_PAUSED: &str = "paused";

/// Guardrail state key of the quarantined components (a sorted JSON list of names).
pub const GUARD_QUARANTINED: &str = "quarantined";

/// Where a journaled step stands.
///
/// A step's rows are appended in this order: `Intent` before the side effect, then
/// `Applied` or `Failed` after it, and `Compensated` once an applied step was undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalStatus {
    /// About to act; written and durable before the actuator is called.
    Intent,
    /// The actuator reported success.
    Applied,
    /// The actuator reported failure.
    Failed,
    /// An applied step was undone by its inverse.
    Compensated,
}

impl JournalStatus {
    /// All statuses, in the order a step passes through them.
    pub const ALL: [JournalStatus; 4] = [
        JournalStatus::Intent,
        JournalStatus::Applied,
        JournalStatus::Failed,
        JournalStatus::Compensated,
    ];

    /// The name stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            JournalStatus::Intent => "intent",
            JournalStatus::Applied => "applied",
            JournalStatus::Failed => "failed",
            JournalStatus::Compensated => "compensated",
        }
    }
}

impl fmt::Display for JournalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not a journal status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown journal status `{0}` (expected intent, applied, failed or compensated)")]
pub struct UnknownJournalStatus(pub String);

impl FromStr for JournalStatus {
    type Err = UnknownJournalStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JournalStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownJournalStatus(s.to_string()))
    }
}

/// One row of the write-ahead journal of side effects (safety invariant 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalRecord {
    pub execution_id: ExecutionId,
    pub step: u32,
    /// The key the actuator deduplicates on; the same for every row of a step.
    pub idempotency_key: String,
    /// The leader's fencing epoch when the row was written.
    pub epoch: u64,
    pub action: Action,
    pub status: JournalStatus,
    /// What the actuator said, or why the step failed.
    pub detail: String,
    /// On an `Applied` row: the state before the action, as the actuator reported it
    /// ([`Action::inverse`] needs it to undo the step after a restart). Empty on other
    /// rows and on rows written before schema version 4.
    #[serde(default)]
    pub prior: BTreeMap<String, String>,
    pub at: Timestamp,
}

/// What an audit entry records; its `kind` in the audit log is the snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    /// A firing alert that the objective's query contradicted: never acted on.
    AlertUnconfirmed,
    /// A firing alert that was not re-sent within `alerts.expire_after`.
    AlertExpired,
    /// A human approved or rejected a policy.
    Approval,
    /// A pending policy expired (its approval timed out, or an earlier run left it).
    ApprovalExpired,
    /// A change (deploy, config, scale, restart) the source reported.
    Change,
    /// An incident was escalated: an operator must act.
    Escalation,
    /// This replica became the leader under a fencing epoch.
    Leader,
    /// The loop decided to do nothing about an incident, and why.
    NoAction,
    /// Oscillation stopped automation on a component.
    Oscillation,
    /// The kill switch was turned on.
    Pause,
    /// A policy was decided.
    Policy,
    /// Startup recovery settled an execution or a step.
    Recovery,
    /// The kill switch was turned off.
    Resume,
    /// A step's outcome was unknown (no answer from the actuator), or became known.
    Indeterminate,
    /// The steps of an execution that had no effect are undone (or kept), and why.
    Undo,
    /// Steps of running executions wait: the monitor is blind, or automation paused.
    Held,
    /// An incident an earlier run left open was closed at start, and why.
    Closed,
}

impl AuditKind {
    /// The kind as the audit log stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::AlertUnconfirmed => "alert_unconfirmed",
            AuditKind::AlertExpired => "alert_expired",
            AuditKind::Approval => "approval",
            AuditKind::ApprovalExpired => "approval_expired",
            AuditKind::Change => "change",
            AuditKind::Escalation => "escalation",
            AuditKind::Leader => "leader",
            AuditKind::NoAction => "no_action",
            AuditKind::Oscillation => "oscillation",
            AuditKind::Pause => "pause",
            AuditKind::Policy => "policy",
            AuditKind::Recovery => "recovery",
            AuditKind::Resume => "resume",
            AuditKind::Indeterminate => "indeterminate",
            AuditKind::Undo => "undo",
            AuditKind::Held => "held",
            AuditKind::Closed => "closed",
        }
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an execution stands, as its record says (stored as its snake_case name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionState {
    /// Its steps are running, or it waits to verify.
    Applying,
    /// Verified: every target back within its thresholds.
    Resolved,
    /// Verified: better by at least a fifth.
    Improved,
    /// Verified: neither better nor worse.
    NoEffect,
    /// Verified worse (not rolled back: nothing to undo).
    Worsened,
    /// A step failed.
    Failed,
    /// Worse, or a step failed: its applied steps were compensated.
    RolledBack,
    /// Settled by startup recovery: its applied steps were undone.
    Recovered,
    /// Startup recovery could not settle it (a compensation failed or was held back,
    /// or a status is unknown); its components are quarantined.
    RecoveryFailed,
}

impl ExecutionState {
    /// The state of an execution that finished with `class`.
    pub fn finished(class: OutcomeClass) -> Self {
        match class {
            OutcomeClass::Resolved => ExecutionState::Resolved,
            OutcomeClass::Improved => ExecutionState::Improved,
            OutcomeClass::NoEffect => ExecutionState::NoEffect,
            OutcomeClass::Worsened => ExecutionState::Worsened,
            OutcomeClass::Failed => ExecutionState::Failed,
        }
    }

    /// Its name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionState::Applying => "applying",
            ExecutionState::Resolved => "resolved",
            ExecutionState::Improved => "improved",
            ExecutionState::NoEffect => "no_effect",
            ExecutionState::Worsened => "worsened",
            ExecutionState::Failed => "failed",
            ExecutionState::RolledBack => "rolled_back",
            ExecutionState::Recovered => "recovered",
            ExecutionState::RecoveryFailed => "recovery_failed",
        }
    }
}

impl fmt::Display for ExecutionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stored state of an execution, upserted as it advances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    pub id: ExecutionId,
    pub policy_id: PolicyId,
    pub incident_id: IncidentId,
    pub started_at: Timestamp,
    /// `None` while the execution is still running or verifying.
    pub finished_at: Option<Timestamp>,
    /// Where it stands.
    pub state: ExecutionState,
    pub actions: Vec<Action>,
}

/// An outcome in the context learning needs: which action it is about, on which
/// component, for which symptom objective, and the diagnosed cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    pub outcome: Outcome,
    pub action_kind: ActionKind,
    pub component: String,
    pub objective: String,
    pub cause: Option<CauseClass>,
}

/// One entry of the append-only audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log; larger is later.
    pub seq: u64,
    pub at: Timestamp,
    pub kind: String,
    pub body: serde_json::Value,
}

/// How often an action kind resolved a symptom objective on a component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuccessRate {
    pub kind: ActionKind,
    pub objective: String,
    pub component: String,
    /// Outcomes classed resolved.
    pub successes: u32,
    pub total: u32,
    /// Mean time to effect of the successful outcomes; 0 when there are none.
    pub mean_time_to_effect_secs: f64,
}

/// Learned statistics of one context imported from another installation: decayed
/// Beta evidence the learning view adds, times `weight`, as pseudo-outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearnedPrior {
    pub kind: ActionKind,
    pub objective: String,
    pub component: String,
    /// Where it came from (the exporting charter and time); a re-import of the same
    /// source replaces its rows.
    pub source: String,
    /// Decayed success credit at export.
    pub alpha: f64,
    /// Decayed failure credit at export.
    pub beta: f64,
    pub time_to_effect_secs: Option<f64>,
    /// In (0, 1]: how much the imported evidence counts here.
    pub weight: f64,
    pub imported_at: Timestamp,
}

/// Clamp actions dated after `now` to `now` (see
/// [`crate::GuardStore::actions_as_of`]), warning once with the furthest one; keeps
/// them oldest first.
pub fn clamp_to_now(
    actions: &mut [(String, charter_model::ActionKind, Timestamp)],
    now: Timestamp,
) {
    let ahead = actions
        .iter()
        .filter(|(_, _, at)| *at > now)
        .map(|(_, _, at)| at.since(now))
        .max();
    let Some(ahead) = ahead else {
        return;
    };
    let count = actions.iter().filter(|(_, _, at)| *at > now).count();
    tracing::warn!(
        count,
        ahead = %charter_model::fmt_duration(ahead),
        %now,
        "guardrail actions dated in the future (the clock stepped back, or the store was \
         written by a later run); counted as taken now"
    );
    for (_, _, at) in actions.iter_mut() {
        if *at > now {
            *at = now;
        }
    }
    actions.sort_by_key(|(_, _, at)| *at);
}
