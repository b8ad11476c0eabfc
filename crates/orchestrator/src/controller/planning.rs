//! Plan: for each diagnosed incident without a running execution, ask
//! [`charter_plan::decide`] and carry its decision out — start an approved policy,
//! hold one for a human, record why nothing is done, or stop automation on an
//! oscillating component.

use super::{Controller, ControllerError};
use crate::event::{Emitter, Event};
use charter_knowledge::AuditKind;
use charter_model::{ApprovalState, ComponentState, IncidentState, Rejected, Timestamp, Violation};
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
        self.guard.awaiting = self
            .book
            .incidents
            .values()
            .filter_map(|rt| rt.pending.as_ref())
            .flat_map(|p| p.actions.iter().map(|a| a.component.clone()))
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
                refuted: &rt.refuted,
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
                    let reason = with_rejections(&reason, &rejected);
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

/// Most distinct rejection reasons a "no action" line lists.
const MAX_REASONS: usize = 8;

/// `reason: why1 (a(x), b(x)); why2 (c(y))`: every rejection, grouped by reason in
/// the order met, each action once; past [`MAX_REASONS`] reasons, how many more.
fn with_rejections(reason: &str, rejected: &[Rejected]) -> String {
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    for r in rejected {
        let action = format!("{}({})", r.action.kind, r.action.component);
        match groups.iter_mut().find(|(why, _)| *why == r.reason) {
            Some((_, actions)) => {
                if !actions.contains(&action) {
                    actions.push(action);
                }
            }
            None => groups.push((&r.reason, vec![action])),
        }
    }
    if groups.is_empty() {
        return reason.to_string();
    }
    let more = groups.len().saturating_sub(MAX_REASONS);
    let mut listed: Vec<String> = groups
        .iter()
        .take(MAX_REASONS)
        .map(|(why, actions)| format!("{why} ({})", actions.join(", ")))
        .collect();
    if more > 0 {
        listed.push(format!("and {more} more"));
    }
    format!("{reason}: {}", listed.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_model::{Action, ActionKind};

    fn rejection(kind: ActionKind, component: &str, reason: &str) -> Rejected {
        Rejected {
            action: Action::new(kind, component),
            score: None,
            reason: reason.into(),
        }
    }

    #[test]
    fn a_no_action_line_lists_every_rejection_once_grouped_by_reason() {
        let cooldown = "cooldown on api until 1970-01-01T00:05:00Z";
        let rejected = [
            rejection(ActionKind::ScaleOut, "api", cooldown),
            rejection(ActionKind::Throttle, "api", cooldown),
            rejection(
                ActionKind::Rollback,
                "api",
                "precondition: api has no previous version",
            ),
            rejection(ActionKind::ScaleOut, "api", cooldown),
        ];
        assert_eq!(
            with_rejections("every candidate was rejected", &rejected),
            "every candidate was rejected: cooldown on api until 1970-01-01T00:05:00Z (scale_out(api), throttle(api)); precondition: api has no previous version (rollback(api))"
        );
        assert_eq!(with_rejections("paused", &[]), "paused");
        let many: Vec<Rejected> = (0..10)
            .map(|i| rejection(ActionKind::Restart, "db", &format!("reason {i}")))
            .collect();
        assert!(
            with_rejections("x", &many).ends_with("reason 7 (restart(db)); and 2 more"),
            "{}",
            with_rejections("x", &many)
        );
    }
}
