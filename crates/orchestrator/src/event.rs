//! What happened during a tick, in a form a person can read.

use charter_model::{
    Action, Diagnosis, OutcomeClass, Policy, Timestamp, Violation, ViolationState,
    fmt_duration_secs,
};
use std::fmt;

/// One thing that happened in the loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    SourceError {
        error: String,
        consecutive: u32,
    },
    Blind {
        consecutive: u32,
    },
    SourceRecovered,
    Violation {
        violation: Violation,
        from: Option<ViolationState>,
    },
    IncidentOpened {
        incident_id: u64,
        first: String,
    },
    Diagnosed {
        diagnosis: Diagnosis,
    },
    PolicyDecided {
        policy: Policy,
    },
    NoAction {
        incident_id: u64,
        reason: String,
    },
    StepApplied {
        execution_id: u64,
        incident_id: u64,
        action: Action,
        detail: String,
    },
    StepFailed {
        execution_id: u64,
        incident_id: u64,
        action: Action,
        error: String,
    },
    Verified {
        execution_id: u64,
        incident_id: u64,
        outcome: OutcomeClass,
        before: f64,
        after: f64,
    },
    Compensated {
        execution_id: u64,
        incident_id: u64,
        action: Option<Action>,
        ok: bool,
        detail: String,
    },
    IncidentResolved {
        incident_id: u64,
        after_secs: f64,
    },
    IncidentEscalated {
        incident_id: u64,
        reason: String,
    },
}

impl Event {
    /// The incident an event belongs to, if any.
    pub fn incident_id(&self) -> Option<u64> {
        match self {
            Event::IncidentOpened { incident_id, .. }
            | Event::NoAction { incident_id, .. }
            | Event::StepApplied { incident_id, .. }
            | Event::StepFailed { incident_id, .. }
            | Event::Verified { incident_id, .. }
            | Event::Compensated { incident_id, .. }
            | Event::IncidentResolved { incident_id, .. }
            | Event::IncidentEscalated { incident_id, .. } => Some(*incident_id),
            Event::Diagnosed { diagnosis } => Some(diagnosis.incident_id),
            Event::PolicyDecided { policy } => Some(policy.incident_id),
            _ => None,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::SourceError { error, consecutive } => {
                write!(f, "source error ({consecutive} in a row): {error}")
            }
            Event::Blind { consecutive } => write!(
                f,
                "monitor is BLIND after {consecutive} failed reads: new actions frozen"
            ),
            Event::SourceRecovered => write!(f, "metric source recovered"),
            Event::Violation { violation: v, .. } => {
                let sev = v.severity.map(|s| format!(" {s}")).unwrap_or_default();
                let val = v.value.map(|x| format!(" = {x:.3}")).unwrap_or_default();
                write!(f, "{:?}{sev}: {}{val}", v.state, v.key())
            }
            Event::IncidentOpened { incident_id, first } => {
                write!(f, "incident #{incident_id} opened by {first}")
            }
            Event::Diagnosed { diagnosis } => match diagnosis.root() {
                Some(h) => {
                    write!(
                        f,
                        "incident #{} root cause: {} ({}), confidence {:.2}",
                        diagnosis.incident_id, h.component, h.cause, h.confidence
                    )?;
                    for e in h.evidence.iter().take(3) {
                        write!(f, "\n      - {e}")?;
                    }
                    Ok(())
                }
                None => write!(f, "incident #{}: no root cause", diagnosis.incident_id),
            },
            Event::PolicyDecided { policy } => {
                let actions: Vec<String> = policy.actions.iter().map(|a| a.to_string()).collect();
                write!(
                    f,
                    "incident #{} policy #{} [{:?}]: {}\n      - {}",
                    policy.incident_id,
                    policy.id,
                    policy.approval,
                    actions.join(" then "),
                    policy.rationale
                )?;
                for r in policy.rejected.iter().take(3) {
                    write!(f, "\n      - rejected {}: {}", r.action.kind, r.reason)?;
                }
                Ok(())
            }
            Event::NoAction {
                incident_id,
                reason,
            } => {
                write!(f, "incident #{incident_id}: no action ({reason})")
            }
            Event::StepApplied {
                execution_id,
                action,
                detail,
                ..
            } => {
                write!(f, "execution #{execution_id} applied {action}: {detail}")
            }
            Event::StepFailed {
                execution_id,
                action,
                error,
                ..
            } => {
                write!(f, "execution #{execution_id} FAILED {action}: {error}")
            }
            Event::Verified {
                execution_id,
                incident_id,
                outcome,
                before,
                after,
            } => write!(
                f,
                "execution #{execution_id} (incident #{incident_id}) verified: {outcome} (badness {before:.1} -> {after:.1})"
            ),
            Event::Compensated {
                execution_id,
                action,
                ok,
                detail,
                ..
            } => match action {
                Some(a) if *ok => write!(f, "execution #{execution_id} rolled back with {a}"),
                Some(a) => write!(f, "execution #{execution_id} rollback {a} FAILED: {detail}"),
                None => write!(f, "execution #{execution_id}: cannot roll back ({detail})"),
            },
            Event::IncidentResolved {
                incident_id,
                after_secs,
            } => write!(
                f,
                "incident #{incident_id} resolved after {}",
                fmt_duration_secs(*after_secs)
            ),
            Event::IncidentEscalated {
                incident_id,
                reason,
            } => {
                write!(f, "incident #{incident_id} ESCALATED: {reason}")
            }
        }
    }
}

/// An event with the time it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Timed {
    pub at: Timestamp,
    pub event: Event,
}
