//! What startup recovery decided, per step and per execution: the report it returns
//! and logs, and the execution states it stores.

use crate::event::Timed;
use charter_knowledge::ExecutionState;
use charter_model::Action;
use charter_model::{ExecutionId, IncidentId};
use std::collections::BTreeSet;
use std::fmt;

/// The detail of the `Failed` row of a step that the actuator says never applied.
pub const NOT_APPLIED: &str = "not applied before the crash";

/// How an execution came out of recovery; its stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryOutcome {
    /// Every step is settled and every applied reversible step undone.
    Recovered,
    /// A compensation failed or a step's status is unknown: an operator must look.
    RecoveryFailed,
    /// Shadow mode: nothing was asked, sent or settled; the report says what a run
    /// that may act would do, and the execution stays unfinished for that run.
    Deferred,
}

impl RecoveryOutcome {
    /// The execution state stored for it; `None` for [`RecoveryOutcome::Deferred`],
    /// which stores nothing.
    pub fn state(self) -> Option<ExecutionState> {
        match self {
            RecoveryOutcome::Recovered => Some(ExecutionState::Recovered),
            RecoveryOutcome::RecoveryFailed => Some(ExecutionState::RecoveryFailed),
            RecoveryOutcome::Deferred => None,
        }
    }

    /// Its name, as stored (or audited).
    pub fn as_str(self) -> &'static str {
        match self.state() {
            Some(state) => state.as_str(),
            None => "deferred",
        }
    }
}

impl fmt::Display for RecoveryOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What recovery decided about one step.
#[derive(Debug, Clone, PartialEq)]
pub enum StepDecision {
    /// The actuator says the step was applied before the crash; journaled `Applied`.
    AppliedBeforeCrash { detail: String },
    /// The actuator says the step changed nothing; journaled `Failed`.
    NotApplied,
    /// Nobody can tell whether the step (or its compensation) was applied; nothing
    /// was journaled or applied, and the execution is escalated.
    Unknown { reason: String },
    /// The step is undone: by this recovery (`now`), or already before the crash.
    Compensated { inverse: Action, now: bool },
    /// The step could not be undone (now or before the crash).
    CompensationFailed {
        inverse: Option<Action>,
        reason: String,
    },
    /// The step's kind cannot be undone; it stays applied.
    Irreversible,
    /// Shadow mode: the step is journaled applied and would be undone with `inverse`
    /// (`None`: its prior state is missing); nothing was sent.
    WouldCompensate { inverse: Option<Action> },
    /// Shadow mode: whether the step (or its compensation) was applied would be asked
    /// of the actuator; it was not asked.
    NotLookedUp,
}

impl StepDecision {
    /// A short name for the audit log.
    pub fn name(&self) -> &'static str {
        match self {
            StepDecision::AppliedBeforeCrash { .. } => "applied_before_crash",
            StepDecision::NotApplied => "not_applied",
            StepDecision::Unknown { .. } => "unknown",
            StepDecision::Compensated { .. } => "compensated",
            StepDecision::CompensationFailed { .. } => "compensation_failed",
            StepDecision::Irreversible => "irreversible",
            StepDecision::WouldCompensate { .. } => "would_compensate",
            StepDecision::NotLookedUp => "not_looked_up",
        }
    }
}

/// A decision about one step of an execution.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecovery {
    /// The step's index in the execution (not the journal number of its compensation).
    pub step: u32,
    /// The key the decision is about: the step's, or its compensation's.
    pub key: String,
    /// The step's forward action.
    pub action: Action,
    pub decision: StepDecision,
}

impl fmt::Display for StepRecovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {} {} [{}]: ", self.step, self.action, self.key)?;
        match &self.decision {
            StepDecision::AppliedBeforeCrash { detail } => {
                write!(f, "applied before the crash ({detail})")
            }
            StepDecision::NotApplied => f.write_str(NOT_APPLIED),
            StepDecision::Unknown { reason } => write!(f, "UNKNOWN whether applied: {reason}"),
            StepDecision::Compensated { inverse, now: true } => {
                write!(f, "compensated with {inverse}")
            }
            StepDecision::Compensated {
                inverse,
                now: false,
            } => {
                write!(f, "already compensated with {inverse}")
            }
            StepDecision::CompensationFailed { inverse, reason } => match inverse {
                Some(inv) => write!(f, "compensation {inv} FAILED: {reason}"),
                None => write!(f, "cannot be compensated: {reason}"),
            },
            StepDecision::Irreversible => {
                write!(f, "{} is irreversible: not compensated", self.action.kind)
            }
            StepDecision::WouldCompensate { inverse: Some(inv) } => {
                write!(f, "would be compensated with {inv} (shadow mode: not sent)")
            }
            StepDecision::WouldCompensate { inverse: None } => f.write_str(
                "would need a compensation, but its prior state is not in the journal \
                 (shadow mode: nothing sent)",
            ),
            StepDecision::NotLookedUp => f.write_str(
                "whether it was applied would be asked of the actuator (shadow mode: not asked)",
            ),
        }
    }
}

/// What recovery did to one execution.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionRecovery {
    pub execution_id: ExecutionId,
    /// `None` when the execution has no stored record (only journal rows).
    pub incident_id: Option<IncidentId>,
    pub outcome: RecoveryOutcome,
    /// In the order they were taken: step look-ups first, then compensations in
    /// reverse step order.
    pub steps: Vec<StepRecovery>,
    /// Whether this recovery quarantined the components and escalated the incident.
    pub escalated: bool,
}

/// What startup recovery did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecoveryReport {
    pub executions: Vec<ExecutionRecovery>,
    /// Components this recovery quarantined.
    pub quarantined: BTreeSet<String>,
    /// The same decisions as loop events, for the live log.
    pub events: Vec<Timed>,
    /// Shadow mode: the report says what would be done; nothing was done.
    pub shadow: bool,
}

impl RecoveryReport {
    /// Whether there was nothing to recover.
    pub fn is_empty(&self) -> bool {
        self.executions.is_empty()
    }

    /// Executions that came out `recovery_failed`.
    pub fn failed(&self) -> usize {
        self.executions
            .iter()
            .filter(|e| e.outcome == RecoveryOutcome::RecoveryFailed)
            .count()
    }
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("startup recovery: no unfinished executions");
        }
        if self.shadow {
            write!(
                f,
                "startup recovery in shadow mode: {} unfinished execution(s) left as they \
                 are; no actuator was called",
                self.executions.len()
            )?;
        } else {
            write!(
                f,
                "startup recovery: {} unfinished execution(s), {} recovered, {} recovery failed",
                self.executions.len(),
                self.executions.len() - self.failed(),
                self.failed()
            )?;
        }
        if !self.quarantined.is_empty() {
            let names: Vec<&str> = self.quarantined.iter().map(String::as_str).collect();
            write!(f, "; quarantined: {}", names.join(", "))?;
        }
        for e in &self.executions {
            write!(f, "\n  execution #{}: {}", e.execution_id, e.outcome)?;
            if e.steps.is_empty() {
                f.write_str(" (no step was started)")?;
            }
            for s in &e.steps {
                write!(f, "\n    {s}")?;
            }
        }
        Ok(())
    }
}
