//! What happened during a tick, in a form a person can read — and the one place
//! that says what each event leaves behind: [`Emitter::emit`] writes its log line,
//! counts its metric, writes its audit row and adds it to the tick's report in one
//! call, so the four cannot drift apart.

use crate::health::LoopMetrics;
use charter_knowledge::{AuditKind, Store, StoreError};
use charter_model::{
    Action, Diagnosis, OutcomeClass, Policy, Timestamp, Violation, ViolationState,
    fmt_duration_secs,
};
use charter_model::{ExecutionId, IncidentId};
use std::fmt;
use std::sync::Arc;

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
    /// A component's objectives have no data (Unknown): nothing acts on it and
    /// diagnoses reason through it, until data returns.
    Unobserved {
        component: String,
        objectives: Vec<String>,
    },
    /// Data returned for a component that was unobserved.
    ObservedAgain {
        component: String,
    },
    Violation {
        violation: Violation,
        from: Option<ViolationState>,
        /// Same state and severity as the episode's last transition: only its
        /// evidence changed (an Alertmanager alert joined a violation already
        /// firing). Reported and stored, but not logged again.
        restated: bool,
    },
    IncidentOpened {
        incident_id: IncidentId,
        first: String,
    },
    Diagnosed {
        diagnosis: Diagnosis,
    },
    PolicyDecided {
        policy: Policy,
    },
    NoAction {
        incident_id: IncidentId,
        reason: String,
    },
    StepApplied {
        execution_id: ExecutionId,
        incident_id: IncidentId,
        action: Action,
        detail: String,
    },
    StepFailed {
        execution_id: ExecutionId,
        incident_id: IncidentId,
        action: Action,
        error: String,
    },
    /// An execution verified on its targets: the violations its actions were
    /// expected to relieve. `context`: the incident's other members still breaching,
    /// reported but not judged.
    Verified {
        execution_id: ExecutionId,
        incident_id: IncidentId,
        outcome: OutcomeClass,
        before: f64,
        after: f64,
        targets: Vec<String>,
        context: Vec<String>,
    },
    Compensated {
        execution_id: ExecutionId,
        incident_id: IncidentId,
        action: Option<Action>,
        ok: bool,
        detail: String,
    },
    IncidentResolved {
        incident_id: IncidentId,
        after_secs: f64,
    },
    IncidentEscalated {
        incident_id: IncidentId,
        reason: String,
    },
    /// An execution's next step (or compensation) waits: the monitor is blind, or
    /// automation is paused.
    Held {
        execution_id: ExecutionId,
        incident_id: IncidentId,
        what: String,
        reason: String,
    },
    /// A step was sent and no answer came: it may have been applied. It counts as
    /// applied for the guardrails and nothing new is planned on its component until
    /// the actuator's `status` tells.
    StepIndeterminate {
        execution_id: ExecutionId,
        incident_id: IncidentId,
        action: Action,
        detail: String,
    },
    /// An execution had no effect: what is undone, and what is kept and why.
    UndoDecided {
        execution_id: ExecutionId,
        incident_id: IncidentId,
        undo: Vec<Action>,
        kept: Vec<String>,
    },
}

impl Event {
    /// The incident an event belongs to, if any.
    pub fn incident_id(&self) -> Option<IncidentId> {
        match self {
            Event::IncidentOpened { incident_id, .. }
            | Event::NoAction { incident_id, .. }
            | Event::StepApplied { incident_id, .. }
            | Event::StepFailed { incident_id, .. }
            | Event::Verified { incident_id, .. }
            | Event::Compensated { incident_id, .. }
            | Event::IncidentResolved { incident_id, .. }
            | Event::IncidentEscalated { incident_id, .. }
            | Event::Held { incident_id, .. }
            | Event::StepIndeterminate { incident_id, .. }
            | Event::UndoDecided { incident_id, .. } => Some(*incident_id),
            Event::Diagnosed { diagnosis } => Some(diagnosis.incident_id),
            Event::PolicyDecided { policy } => Some(policy.incident_id),
            _ => None,
        }
    }
}

impl Event {
    /// The audit row this event writes, if the audit log keeps events of its kind:
    /// the row's kind and body.
    pub fn audit(&self) -> Option<(AuditKind, serde_json::Value)> {
        match self {
            Event::PolicyDecided { policy } => Some((
                AuditKind::Policy,
                serde_json::to_value(policy).unwrap_or_default(),
            )),
            Event::NoAction {
                incident_id,
                reason,
            } => Some((
                AuditKind::NoAction,
                serde_json::json!({"incident": incident_id, "reason": reason}),
            )),
            Event::IncidentEscalated {
                incident_id,
                reason,
            } => Some((
                AuditKind::Escalation,
                serde_json::json!({"incident": incident_id, "reason": reason}),
            )),
            Event::Held {
                execution_id,
                incident_id,
                what,
                reason,
            } => Some((
                AuditKind::Held,
                serde_json::json!({"execution": execution_id, "incident": incident_id, "waits": what, "reason": reason}),
            )),
            Event::StepIndeterminate {
                execution_id,
                incident_id,
                action,
                detail,
            } => Some((
                AuditKind::Indeterminate,
                serde_json::json!({"execution": execution_id, "incident": incident_id, "action": action, "detail": detail}),
            )),
            Event::UndoDecided {
                execution_id,
                incident_id,
                undo,
                kept,
            } => Some((
                AuditKind::Undo,
                serde_json::json!({"execution": execution_id, "incident": incident_id, "undo": undo, "kept": kept}),
            )),
            _ => None,
        }
    }

    /// Count the event in the loop's metrics, if it is one they count.
    fn count(&self, metrics: &LoopMetrics) {
        match self {
            Event::SourceError { .. } => {
                metrics.source_errors.inc();
            }
            Event::StepApplied { action, .. } => {
                metrics
                    .actions
                    .get_or_create(&vec![("kind".into(), action.kind.to_string())])
                    .inc();
            }
            _ => {}
        }
    }

    /// Write the event's structured log line. ERROR means an operator must act; WARN,
    /// something went wrong that the loop handles; a violation's transitions are only
    /// in the report (`charter::event` lines), not logged here.
    fn log(&self) {
        match self {
            Event::SourceError { error, consecutive } => {
                tracing::warn!(consecutive, error = %error, "metric source read failed")
            }
            Event::Blind { consecutive } => {
                tracing::error!(consecutive, "monitor is blind: new actions frozen")
            }
            Event::SourceRecovered => tracing::info!("metric source recovered"),
            Event::Unobserved {
                component,
                objectives,
            } => tracing::warn!(
                component = %component,
                objectives = %objectives.join(","),
                "component unobserved: no data, no actions on it"
            ),
            Event::ObservedAgain { component } => {
                tracing::info!(component = %component, "component observed again")
            }
            Event::Violation { .. } => {}
            Event::IncidentOpened { incident_id, first } => {
                tracing::info!(
                    incident_id = incident_id.get(),
                    violation = %first,
                    "incident opened"
                )
            }
            Event::Diagnosed { diagnosis } => {
                let root = diagnosis.root().map(|h| h.component.clone());
                tracing::info!(incident_id = diagnosis.incident_id.get(), root = ?root, "diagnosed")
            }
            Event::PolicyDecided { policy } => tracing::info!(
                incident_id = policy.incident_id.get(),
                policy_id = policy.id.get(),
                rationale = %policy.rationale,
                "policy decided"
            ),
            Event::NoAction {
                incident_id,
                reason,
            } => tracing::info!(incident_id = incident_id.get(), reason = %reason, "no action"),
            Event::StepApplied {
                execution_id,
                incident_id,
                action,
                ..
            } => {
                tracing::info!(
                    execution_id = execution_id.get(),
                    incident_id = incident_id.get(),
                    action = %action,
                    "applied"
                )
            }
            Event::StepFailed {
                execution_id,
                incident_id,
                action,
                error,
            } => tracing::warn!(
                execution_id = execution_id.get(),
                incident_id = incident_id.get(),
                action = %action,
                error = %error,
                "step failed"
            ),
            Event::Verified {
                execution_id,
                incident_id,
                outcome,
                ..
            } => {
                tracing::info!(
                    execution_id = execution_id.get(),
                    incident_id = incident_id.get(),
                    outcome = %outcome,
                    "verified"
                )
            }
            Event::Compensated {
                execution_id,
                incident_id,
                action,
                ok,
                detail,
            } => {
                let action = action.as_ref().map(|a| a.to_string());
                if *ok {
                    tracing::info!(
                        execution_id = execution_id.get(),
                        incident_id = incident_id.get(),
                        action = ?action,
                        "compensated"
                    )
                } else {
                    tracing::warn!(
                        execution_id = execution_id.get(),
                        incident_id = incident_id.get(),
                        action = ?action,
                        detail = %detail,
                        "not compensated"
                    )
                }
            }
            Event::IncidentResolved {
                incident_id,
                after_secs,
            } => tracing::info!(
                incident_id = incident_id.get(),
                after_secs,
                "incident resolved"
            ),
            Event::IncidentEscalated {
                incident_id,
                reason,
            } => tracing::error!(
                incident_id = incident_id.get(),
                reason = %reason,
                "incident escalated: an operator must act"
            ),
            Event::Held {
                execution_id,
                what,
                reason,
                ..
            } => tracing::warn!(
                execution_id = execution_id.get(),
                waits = %what,
                reason = %reason,
                "step held"
            ),
            Event::StepIndeterminate {
                execution_id,
                action,
                detail,
                ..
            } => tracing::warn!(
                execution_id = execution_id.get(),
                action = %action,
                detail = %detail,
                "step outcome unknown: counted as applied; asking the actuator"
            ),
            Event::UndoDecided {
                execution_id, undo, ..
            } => tracing::info!(
                execution_id = execution_id.get(),
                undo = undo.len(),
                "no effect: undoing"
            ),
        }
    }
}

/// Emits a tick's events (see the module documentation).
pub(crate) struct Emitter {
    store: Arc<dyn Store>,
    metrics: LoopMetrics,
    now: Timestamp,
    events: Vec<Timed>,
}

impl Emitter {
    /// An emitter for the tick at `now`.
    pub fn new(store: Arc<dyn Store>, metrics: LoopMetrics, now: Timestamp) -> Self {
        Emitter {
            store,
            metrics,
            now,
            events: Vec::new(),
        }
    }

    /// Log, count, audit and report `event`. Only writing the audit row can fail.
    pub async fn emit(&mut self, event: Event) -> Result<(), StoreError> {
        event.log();
        event.count(&self.metrics);
        if let Some((kind, body)) = event.audit() {
            self.store.audit(self.now, kind.as_str(), &body).await?;
        }
        self.events.push(Timed {
            at: self.now,
            event,
        });
        Ok(())
    }

    /// [`Emitter::emit`] for each of `events`, in order.
    pub async fn emit_all(&mut self, events: Vec<Event>) -> Result<(), StoreError> {
        for e in events {
            self.emit(e).await?;
        }
        Ok(())
    }

    /// The events emitted, in order.
    pub fn into_events(self) -> Vec<Timed> {
        self.events
    }
}

impl Event {
    /// Whether the event says something the daemon's log has not said yet: false
    /// for a restated violation (see [`Event::Violation`]'s `restated`).
    pub fn is_news(&self) -> bool {
        !matches!(self, Event::Violation { restated: true, .. })
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
            Event::Unobserved {
                component,
                objectives,
            } => write!(
                f,
                "{component} is UNOBSERVED: no data for {}; no action on it until data returns (diagnoses reason through it, never blame it)",
                listed(objectives)
            ),
            Event::ObservedAgain { component } => {
                write!(f, "{component} observed again: data returned")
            }
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
                targets,
                context,
            } => {
                let on = if targets.len() == 1 {
                    "target"
                } else {
                    "targets"
                };
                write!(
                    f,
                    "execution #{execution_id} (incident #{incident_id}) verified: {outcome} on its {on} {} (badness {before:.1} -> {after:.1})",
                    listed(targets)
                )?;
                if !context.is_empty() {
                    write!(
                        f,
                        "; not judged on the incident's others, still breaching: {}",
                        listed(context)
                    )?;
                }
                Ok(())
            }
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
            Event::Held {
                execution_id,
                what,
                reason,
                ..
            } => write!(f, "execution #{execution_id}: {what} waits ({reason})"),
            Event::StepIndeterminate {
                execution_id,
                action,
                detail,
                ..
            } => write!(
                f,
                "execution #{execution_id} {action}: outcome UNKNOWN ({detail}); counted as applied, asking the actuator"
            ),
            Event::UndoDecided {
                execution_id,
                undo,
                kept,
                ..
            } => {
                let undo: Vec<String> = undo.iter().map(|a| a.to_string()).collect();
                write!(
                    f,
                    "execution #{execution_id} had no effect: undoing {}",
                    if undo.is_empty() {
                        "nothing".to_string()
                    } else {
                        undo.join(", ")
                    }
                )?;
                for k in kept {
                    write!(f, "\n      - kept {k}")?;
                }
                Ok(())
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

/// `a, b, c and 12 more`: a list in a log line stays one line.
fn listed(items: &[String]) -> String {
    charter_model::text::listed(items, 6)
}
