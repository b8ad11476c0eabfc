//! Plan: for each diagnosed incident without a running execution, ask
//! [`charter_plan::decide`] and carry its decision out — start an approved policy,
//! hold one for a human, record why nothing is done, or stop automation on an
//! oscillating component.

use super::{Controller, ControllerError};
use crate::event::{Emitter, Event};
use charter_knowledge::AuditKind;
use charter_model::{ApprovalState, ComponentState, IncidentState, Timestamp, Violation};
use charter_model::{IncidentId, PolicyId};
use charter_plan::{Decision, PlanInput, components_to_describe, decide};
use std::collections::HashMap;

impl Controller {
    /// Plan every open or diagnosed incident that needs it.
    pub(super) async fn plan(
        &mut self,
        now: Timestamp,
        emit: &mut Emitter,
    ) -> Result<(), ControllerError> {
        self.guard.running = self
            .executor
            .executions
            .iter()
            .flat_map(|e| e.components().map(str::to_string))
            .collect();
        let ids: Vec<IncidentId> = self.book.incidents.keys().copied().collect();
        for id in ids {
            let Some(rt) = self.book.incidents.get(&id) else {
                continue;
            };
            if !matches!(
                rt.incident.state,
                IncidentState::Open | IncidentState::Diagnosed
            ) {
                continue;
            }
            if let Some(p) = &rt.pending {
                if now.since(p.created_at) >= self.charter.guardrails.approval_timeout {
                    let mut p = p.clone();
                    p.approval = ApprovalState::Expired;
                    self.store.save_policy(&p).await?;
                    self.escalate(id, "approval timed out", emit).await?;
                }
                continue;
            }
            if self.executor.runs_for(id) {
                continue;
            }
            let Some(diagnosis) = rt.diagnosis.clone() else {
                continue;
            };
            if diagnosis.hypotheses.is_empty() {
                continue;
            }
            if rt.incident.attempts >= self.charter.guardrails.max_attempts_per_incident {
                self.escalate(
                    id,
                    "no policy resolved it within max_attempts_per_incident",
                    emit,
                )
                .await?;
                continue;
            }
            let mut states: HashMap<String, ComponentState> = HashMap::new();
            for c in components_to_describe(&self.charter, &diagnosis) {
                if let Some(act) = self.actuators().for_component(&c)
                    && let Ok(s) = act.describe(&c).await
                {
                    states.insert(c, s);
                }
            }
            let members: Vec<Violation> = rt.members.values().cloned().collect();
            let decision = decide(PlanInput {
                charter: &self.charter,
                incident: &rt.incident,
                diagnosis: &diagnosis,
                violations: &members,
                knowledge: &self.knowledge,
                guard: &self.guard,
                states: &states,
                tried: &rt.tried,
                policy_id: self.next_policy,
                now,
            });
            match decision {
                Decision::Stop {
                    component,
                    reason,
                    rejected,
                } => {
                    self.store
                        .audit(
                            now,
                            AuditKind::Oscillation.as_str(),
                            &serde_json::json!({"incident": id, "component": component, "reason": reason, "rejected": rejected}),
                        )
                        .await?;
                    self.guard.quarantined.insert(component.clone());
                    self.persist_guard().await?;
                    self.escalate(id, &reason, emit).await?;
                }
                Decision::NoAction { reason, rejected } => {
                    let Some(rt) = self.book.incidents.get_mut(&id) else {
                        continue;
                    };
                    let first = rejected
                        .first()
                        .map(|r| format!(": {} {}", r.action.kind, r.reason))
                        .unwrap_or_default();
                    let reason = format!("{reason}{first}");
                    if rt.last_no_action.as_deref() != Some(reason.as_str()) {
                        emit.emit(Event::NoAction {
                            incident_id: id,
                            reason: reason.clone(),
                        })
                        .await?;
                        rt.last_no_action = Some(reason);
                    }
                }
                Decision::Act(policy) => {
                    self.next_policy = PolicyId(self.next_policy.get() + 1);
                    self.store.save_policy(&policy).await?;
                    emit.emit(Event::PolicyDecided {
                        policy: policy.clone(),
                    })
                    .await?;
                    let Some(rt) = self.book.incidents.get_mut(&id) else {
                        continue;
                    };
                    rt.incident.attempts += 1;
                    match policy.approval {
                        ApprovalState::AutoApproved | ApprovalState::Approved { .. } => {
                            self.start_execution(&policy, now).await?;
                            self.guard
                                .running
                                .extend(policy.actions.iter().map(|a| a.component.clone()));
                        }
                        ApprovalState::Pending => rt.pending = Some(policy),
                        _ => {
                            // Shadow mode: recorded only; do not plan this incident again.
                            rt.incident.state = IncidentState::Escalated;
                            self.store.save_incident(&rt.incident).await?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
