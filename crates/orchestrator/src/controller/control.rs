//! Control: what humans decide — the kill switch (pause, resume), approving and
//! rejecting pending policies — and the guardrail state a restart must not lose
//! (the kill switch and the quarantined components, persisted as they change).

use super::{Controller, ControllerError};
use charter_knowledge::{AuditKind, PauseRecord, Store, StoreError};
use charter_model::{ApprovalState, Policy, Timestamp};
use charter_model::{IncidentId, PolicyId};
use std::collections::BTreeSet;

/// Why a human's decision on a policy (approve, reject) was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("no policy {0}")]
    NotFound(PolicyId),
    #[error("policy {id} is not pending: it is {state}")]
    NotPending { id: PolicyId, state: &'static str },
    #[error("automation is paused ({0}); resume it before approving")]
    Paused(String),
    #[error("a guardrail forbids starting it now: {0}")]
    Blocked(String),
    #[error(transparent)]
    Controller(#[from] ControllerError),
}

impl Controller {
    /// Whether the kill switch is on.
    pub fn is_paused(&self) -> bool {
        self.guard.paused
    }

    /// The kill switch as last set (restored from the store at start), `None` if never.
    pub fn pause_state(&self) -> Option<&PauseRecord> {
        self.pause.as_ref()
    }

    /// Turn the kill switch on: no new step runs until [`Controller::resume`]. Durable
    /// (a restart stays paused) and audited.
    pub async fn pause(
        &mut self,
        by: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<PauseRecord, ControllerError> {
        let record = PauseRecord {
            paused: true,
            by: by.to_string(),
            reason: reason.to_string(),
            at: now,
        };
        // Persisted first: a pause the store cannot keep is refused, not half-taken.
        self.store.save_pause(&record).await?;
        self.guard.paused = true;
        self.pause = Some(record.clone());
        self.health.set_pause(self.pause.clone());
        self.store
            .audit(
                now,
                AuditKind::Pause.as_str(),
                &serde_json::json!({"by": by, "reason": reason}),
            )
            .await?;
        tracing::warn!(by, reason, "automation paused");
        Ok(record)
    }

    /// Turn the kill switch off. Durable and audited; automation resumes only once the
    /// store has recorded it, so a restart cannot bring back a pause that was lifted
    /// nor lift one that was not.
    pub async fn resume(
        &mut self,
        by: &str,
        now: Timestamp,
    ) -> Result<PauseRecord, ControllerError> {
        let record = PauseRecord {
            paused: false,
            by: by.to_string(),
            reason: String::new(),
            at: now,
        };
        let previous = self.pause.replace(record.clone());
        if let Err(e) = self.store.save_pause(&record).await {
            self.pause = previous;
            return Err(e.into());
        }
        self.guard.paused = false;
        self.health.set_pause(self.pause.clone());
        self.store
            .audit(
                now,
                AuditKind::Resume.as_str(),
                &serde_json::json!({"by": by}),
            )
            .await?;
        tracing::warn!(by, "automation resumed");
        Ok(record)
    }

    /// Persist the quarantined components, which a restart must not lose. Call after
    /// changing them. (The kill switch is saved where it is set, so that this never
    /// overwrites one another replica set.)
    pub(super) async fn persist_guard(&self) -> Result<(), ControllerError> {
        let quarantined: BTreeSet<String> = self.guard.quarantined.iter().cloned().collect();
        self.store.save_quarantined(&quarantined).await?;
        Ok(())
    }

    /// At start: restore the kill switch and the quarantine, and expire policies an
    /// earlier run left pending (its incidents are not resumed, so they can never run).
    pub(super) async fn restore_guard(&mut self, now: Timestamp) -> Result<(), ControllerError> {
        if let Some(p) = self.store.pause().await? {
            if p.paused {
                tracing::warn!(by = %p.by, reason = %p.reason, since = %p.at, "automation is paused (restored)");
            }
            self.guard.paused = p.paused;
            self.pause = Some(p);
        }
        self.guard.quarantined = self.store.quarantined().await?.into_iter().collect();
        for mut p in self.store.pending_policies().await? {
            p.approval = ApprovalState::Expired;
            self.store.save_policy(&p).await?;
            self.store
                .audit(
                    now,
                    AuditKind::ApprovalExpired.as_str(),
                    &serde_json::json!({"policy": p.id, "reason": "left pending by an earlier run"}),
                )
                .await?;
        }
        Ok(())
    }

    /// Take the kill switch as stored: another replica may have set it.
    pub(super) async fn refresh_pause(&mut self) -> Result<(), ControllerError> {
        let stored = self.store.pause().await?;
        if stored != self.pause
            && let Some(p) = stored
        {
            tracing::warn!(paused = p.paused, by = %p.by, "kill switch changed in the store");
            self.guard.paused = p.paused;
            self.health.set_pause(Some(p.clone()));
            self.pause = Some(p);
        }
        Ok(())
    }

    /// Policies waiting for a human.
    pub fn pending_policies(&self) -> Vec<Policy> {
        self.book.pending_policies()
    }

    /// Policies for the API: those waiting for a human first (by id), then the newest
    /// `limit` others, newest first.
    pub async fn policies(&self, limit: usize) -> Result<Vec<Policy>, ControllerError> {
        Ok(pending_then_recent(self.store.as_ref(), self.pending_policies(), limit).await?)
    }

    /// One policy, pending or from the store.
    pub async fn policy(&self, policy_id: PolicyId) -> Result<Option<Policy>, ControllerError> {
        if let Some(p) = self
            .pending_policies()
            .into_iter()
            .find(|p| p.id == policy_id)
        {
            return Ok(Some(p));
        }
        Ok(self.store.policy(policy_id).await?)
    }

    /// Why a policy that is not pending in this run cannot be decided on.
    async fn not_pending(&self, policy_id: PolicyId) -> ApprovalError {
        match self.store.policy(policy_id).await {
            Ok(Some(p)) => ApprovalError::NotPending {
                id: policy_id,
                state: p.approval.name(),
            },
            Ok(None) => ApprovalError::NotFound(policy_id),
            Err(e) => ApprovalError::Controller(e.into()),
        }
    }

    /// The incident holding pending policy `policy_id`, unless the policy has expired
    /// (the next tick records that and escalates).
    fn pending_incident(
        &self,
        policy_id: PolicyId,
        now: Timestamp,
    ) -> Option<Result<IncidentId, ApprovalError>> {
        let (id, p) = self.book.holding(policy_id)?;
        if now.since(p.created_at) >= self.charter.guardrails.approval_timeout {
            return Some(Err(ApprovalError::NotPending {
                id: policy_id,
                state: ApprovalState::Expired.name(),
            }));
        }
        Some(Ok(id))
    }

    /// Why the guardrails forbid starting the pending policy of this incident now, if
    /// they do: time has passed since it was planned, so the state that matters for
    /// safety (blind monitor, executions in progress, quarantine) is checked again.
    fn approval_blocked(&self, incident_id: IncidentId) -> Option<String> {
        let policy = self.book.incidents.get(&incident_id)?.pending.as_ref()?;
        if self.guard.blind {
            return Some("the monitor is blind: new actions are frozen".into());
        }
        for a in &policy.actions {
            let c = a.component.as_str();
            if self.executor.acts_on(c) {
                return Some(format!(
                    "{c} has an execution in progress; approve again when it is done"
                ));
            }
            if self.guard.quarantined.contains(c) {
                return Some(format!("{c} is quarantined: no more automation on it"));
            }
        }
        None
    }

    /// Approve a pending policy: `by` and `now` are recorded in the policy and the audit
    /// log, and its execution starts (its first step runs at the next tick).
    pub async fn approve(
        &mut self,
        policy_id: PolicyId,
        by: &str,
        now: Timestamp,
    ) -> Result<Policy, ApprovalError> {
        let incident_id = match self.pending_incident(policy_id, now) {
            Some(r) => r?,
            None => return Err(self.not_pending(policy_id).await),
        };
        if self.guard.paused {
            let why = self
                .pause
                .as_ref()
                .map(|p| format!("by {} at {}: {}", p.by, p.at, p.reason))
                .unwrap_or_default();
            return Err(ApprovalError::Paused(why));
        }
        if let Some(why) = self.approval_blocked(incident_id) {
            return Err(ApprovalError::Blocked(why));
        }
        let Some(mut p) = self
            .book
            .incidents
            .get_mut(&incident_id)
            .and_then(|rt| rt.pending.take())
        else {
            return Err(ApprovalError::NotFound(policy_id));
        };
        p.approval = ApprovalState::Approved {
            by: by.to_string(),
            at: Some(now),
        };
        self.record_decision(
            &p,
            now,
            serde_json::json!({"policy": p.id, "incident": p.incident_id, "by": by, "approved": true}),
        )
        .await?;
        tracing::info!(
            policy_id = p.id.get(),
            incident_id = p.incident_id.get(),
            by,
            "policy approved"
        );
        self.start_execution(&p, now).await?;
        Ok(p)
    }

    /// Record a human's decision on a policy: the policy as decided, and its `approval`
    /// audit entry.
    async fn record_decision(
        &self,
        policy: &Policy,
        now: Timestamp,
        entry: serde_json::Value,
    ) -> Result<(), ControllerError> {
        self.store.save_policy(policy).await?;
        self.store
            .audit(now, AuditKind::Approval.as_str(), &entry)
            .await?;
        Ok(())
    }

    /// Reject a pending policy: `by`, `reason` and `now` are recorded in the policy and
    /// the audit log, and its actions count as tried in the incident, so the next plan
    /// proposes something else (or escalates).
    pub async fn reject(
        &mut self,
        policy_id: PolicyId,
        by: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Policy, ApprovalError> {
        let incident_id = match self.pending_incident(policy_id, now) {
            Some(r) => r?,
            None => return Err(self.not_pending(policy_id).await),
        };
        let Some(rt) = self.book.incidents.get_mut(&incident_id) else {
            return Err(ApprovalError::NotFound(policy_id));
        };
        let Some(mut p) = rt.pending.take() else {
            return Err(ApprovalError::NotFound(policy_id));
        };
        rt.tried.extend(p.actions.iter().cloned());
        rt.last_no_action = None;
        p.approval = ApprovalState::Rejected {
            by: by.to_string(),
            reason: reason.to_string(),
            at: Some(now),
        };
        self.record_decision(
            &p,
            now,
            serde_json::json!({"policy": p.id, "incident": p.incident_id, "by": by, "approved": false, "reason": reason}),
        )
        .await?;
        tracing::info!(
            policy_id = p.id.get(),
            incident_id = p.incident_id.get(),
            by,
            reason,
            "policy rejected"
        );
        Ok(p)
    }
}

/// The policy listing: `pending` by id, then the newest `limit` others from the store.
/// The leader passes the policies it holds pending; a follower, those the store says
/// are pending.
pub async fn pending_then_recent(
    store: &dyn Store,
    mut pending: Vec<Policy>,
    limit: usize,
) -> Result<Vec<Policy>, StoreError> {
    pending.sort_by_key(|p| p.id);
    let ids: BTreeSet<PolicyId> = pending.iter().map(|p| p.id).collect();
    let recent = store.recent_policies(limit + ids.len()).await?;
    pending.extend(
        recent
            .into_iter()
            .filter(|p| !ids.contains(&p.id))
            .take(limit),
    );
    Ok(pending)
}
