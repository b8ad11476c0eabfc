//! The store's traits: one per role, and [`Store`], all of them together.
//!
//! A caller that needs one part of the knowledge holds that role — [`Incidents`],
//! [`Journal`], [`GuardStore`], [`LearningStore`], [`AlertInbox`], [`ChangeLog`],
//! [`LeaderLease`] —
//! and a caller that holds the whole store (`Arc<dyn Store>`) passes it on as any role
//! (`Arc<dyn Store>` upcasts to `Arc<dyn Journal>`). Every role is object-safe.
//!
//! Every write is durable when it returns `Ok`: a crash right after cannot lose it.
//! History (violations, diagnoses, journal, outcomes, audit, guardrail actions) is
//! append-only; incidents, policies and executions are upserted by id. Lists come back
//! in a stable order (by id, or in the order they were appended).
//!
//! Methods called on a concrete store (`SqliteStore`, `PostgresStore`) need their role
//! in scope: `use charter_knowledge::prelude::*` brings all of them.

use crate::error::StoreError;
use crate::lease::{LeaseGrant, LeaseRecord};
use crate::records::{
    AuditEntry, ChangeRecord, ExecutionRecord, GUARD_PAUSED, GUARD_QUARANTINED, JournalRecord,
    LearnedPrior, NextIds, OutcomeRecord, PauseRecord, SuccessRate,
};
use async_trait::async_trait;
use charter_model::{
    ActionKind, Alert, Diagnosis, ExecutionId, Incident, IncidentId, Policy, PolicyId, Timestamp,
    Violation,
};
use std::collections::BTreeSet;
use std::time::Duration;

/// Incidents and what they are made of: the violation transitions, the diagnoses and
/// the policies of each, the ids of new records, and the retention of this history.
///
/// The analyze/plan side of the loop (the orchestrator's ticker) writes them; the API
/// reads policies and approves them.
#[async_trait]
pub trait Incidents: Send + Sync {
    /// One past the largest incident, policy and execution id ever stored (1 when none),
    /// counting ids referenced by other records too.
    async fn next_ids(&self) -> Result<NextIds, StoreError>;

    /// Insert or replace the incident with this id.
    async fn save_incident(&self, incident: &Incident) -> Result<(), StoreError>;

    /// All incidents, by id.
    async fn incidents(&self) -> Result<Vec<Incident>, StoreError>;

    /// Incidents not yet resolved (escalated ones included), by id.
    async fn open_incidents(&self) -> Result<Vec<Incident>, StoreError>;

    /// Append a violation transition, attached to an incident if it belongs to one.
    async fn record_violation(
        &self,
        incident_id: Option<IncidentId>,
        violation: &Violation,
    ) -> Result<(), StoreError> {
        self.record_violations(&[(incident_id, violation.clone())])
            .await
    }

    /// Append several violation transitions (each attached to its incident, if any)
    /// in one transaction: all or none, one sync to disk.
    async fn record_violations(
        &self,
        records: &[(Option<IncidentId>, Violation)],
    ) -> Result<(), StoreError>;

    /// The violation transitions recorded for an incident, oldest first.
    async fn violations(&self, incident_id: IncidentId) -> Result<Vec<Violation>, StoreError>;

    /// Every violation transition at or after `since` (by its latest transition time),
    /// oldest first: the history window Analyze needs after a restart.
    async fn violation_history(&self, since: Timestamp) -> Result<Vec<Violation>, StoreError>;

    /// Append a diagnosis.
    async fn save_diagnosis(&self, diagnosis: &Diagnosis) -> Result<(), StoreError>;

    /// The diagnoses of an incident, oldest first.
    async fn diagnoses(&self, incident_id: IncidentId) -> Result<Vec<Diagnosis>, StoreError>;

    /// Insert or replace the policy with this id.
    async fn save_policy(&self, policy: &Policy) -> Result<(), StoreError>;

    /// The policies of one incident, or of all incidents with `None`, by id.
    async fn policies(&self, incident_id: Option<IncidentId>) -> Result<Vec<Policy>, StoreError>;

    /// One policy by id.
    async fn policy(&self, id: PolicyId) -> Result<Option<Policy>, StoreError>;

    /// The newest `limit` policies (by id), newest first.
    async fn recent_policies(&self, limit: usize) -> Result<Vec<Policy>, StoreError>;

    /// Policies waiting for a human's approval, by id.
    async fn pending_policies(&self) -> Result<Vec<Policy>, StoreError>;

    /// Retention: delete violation transitions, diagnoses and guardrail actions older
    /// than `before`; returns how many rows went. Incidents, policies, the journal,
    /// outcomes (learning evidence) and the audit log are kept.
    async fn prune_history(&self, before: Timestamp) -> Result<u64, StoreError>;
}

/// The write-ahead journal of side effects and the executions it belongs to: what
/// the executor claims and records, and what startup recovery finishes or
/// compensates.
#[async_trait]
pub trait Journal: Send + Sync {
    /// Append a journal row; durable before the caller acts on it.
    ///
    /// An `Intent` row is a claim: it is written only if its `epoch` may act — the
    /// current lease's epoch with at least the lease's margin left, or 0 when no lease
    /// was ever taken — in the same statement that checks it; otherwise nothing is
    /// written and the answer is [`StoreError::Fenced`]. Result rows (applied, failed,
    /// compensated) are facts and are always recorded.
    ///
    /// Idempotent: recording the same (execution, step, status) again with the same
    /// idempotency key changes nothing and returns `Ok(false)`; `Ok(true)` means the
    /// row is new. The same row with a different key is a [`StoreError::JournalConflict`].
    async fn journal_step(&self, record: &JournalRecord) -> Result<bool, StoreError>;

    /// The journal of one execution, in the order it was written.
    async fn journal(&self, execution_id: ExecutionId) -> Result<Vec<JournalRecord>, StoreError>;

    /// The `Intent` rows of steps with no later `Applied` or `Failed` row, by execution
    /// and step: what startup recovery must finish or compensate.
    async fn unfinished_journal(&self) -> Result<Vec<JournalRecord>, StoreError>;

    /// Insert or replace the execution with this id.
    async fn save_execution(&self, execution: &ExecutionRecord) -> Result<(), StoreError>;

    /// All executions, by id.
    async fn executions(&self) -> Result<Vec<ExecutionRecord>, StoreError>;

    /// Executions without a `finished_at`, by id.
    async fn unfinished_executions(&self) -> Result<Vec<ExecutionRecord>, StoreError>;
}

/// What the guardrails remember: the actions taken per component, a small key/value
/// of JSON documents (the kill switch, the quarantined components) and the audit log
/// of decisions made by people and by Charter.
#[async_trait]
pub trait GuardStore: Send + Sync {
    /// Append an entry to the audit log.
    async fn audit(
        &self,
        at: Timestamp,
        kind: &str,
        body: &serde_json::Value,
    ) -> Result<(), StoreError>;

    /// The newest `limit` audit entries, newest first.
    async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;

    /// Remember that an action was taken on a component (guardrail state).
    async fn record_action(
        &self,
        component: &str,
        kind: ActionKind,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Actions taken at or after `since`, oldest first.
    async fn actions_since(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(String, ActionKind, Timestamp)>, StoreError>;

    /// [`GuardStore::actions_since`] judged at `now`: an action stored "in the future"
    /// (the clock stepped back, or the store was written by a run whose virtual time
    /// was later) is taken as done at `now`, with a warning saying how far ahead it
    /// was. So a cooldown or rate window that counts it ends at most its own length
    /// after `now`, never at a time the clock has not reached.
    async fn actions_as_of(
        &self,
        now: Timestamp,
        since: Timestamp,
    ) -> Result<Vec<(String, ActionKind, Timestamp)>, StoreError> {
        let mut actions = self.actions_since(since).await?;
        crate::records::clamp_to_now(&mut actions, now);
        Ok(actions)
    }

    /// When the latest record the loop wrote is dated (incidents, violations,
    /// diagnoses, policies, executions, the journal, outcomes, the audit log,
    /// guardrail actions; not alerts, which carry the sender's clock); `None` for an
    /// empty store. Where a later run must start its clock to continue after it.
    async fn last_record_at(&self) -> Result<Option<Timestamp>, StoreError>;

    /// Set one entry of the guardrail state (a small key/value of JSON documents that
    /// must survive a restart); durable when it returns.
    async fn put_guard_state(&self, key: &str, value: &serde_json::Value)
    -> Result<(), StoreError>;

    /// One entry of the guardrail state, `None` when it was never set.
    async fn guard_state(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError>;

    /// Persist the kill switch (under [`GUARD_PAUSED`]).
    async fn save_pause(&self, record: &PauseRecord) -> Result<(), StoreError> {
        let value = serde_json::to_value(record).map_err(|source| StoreError::Encode {
            what: "pause record",
            source,
        })?;
        self.put_guard_state(GUARD_PAUSED, &value).await
    }

    /// The kill switch as last set, `None` when it never was.
    async fn pause(&self) -> Result<Option<PauseRecord>, StoreError> {
        match self.guard_state(GUARD_PAUSED).await? {
            None => Ok(None),
            Some(value) => {
                serde_json::from_value(value)
                    .map(Some)
                    .map_err(|e| StoreError::Decode {
                        what: "pause record",
                        source: Box::new(e),
                    })
            }
        }
    }

    /// Persist the set of quarantined components (under [`GUARD_QUARANTINED`]).
    async fn save_quarantined(&self, components: &BTreeSet<String>) -> Result<(), StoreError> {
        let value = serde_json::to_value(components).map_err(|source| StoreError::Encode {
            what: "quarantined components",
            source,
        })?;
        self.put_guard_state(GUARD_QUARANTINED, &value).await
    }

    /// The quarantined components, empty when none were ever recorded.
    async fn quarantined(&self) -> Result<BTreeSet<String>, StoreError> {
        match self.guard_state(GUARD_QUARANTINED).await? {
            None => Ok(BTreeSet::new()),
            Some(value) => serde_json::from_value(value).map_err(|e| StoreError::Decode {
                what: "quarantined components",
                source: Box::new(e),
            }),
        }
    }
}

/// The evidence learning starts from: outcomes in their context, the success rates
/// they add up to, and learned statistics imported from another installation.
#[async_trait]
pub trait LearningStore: Send + Sync {
    /// Append an outcome in its learning context.
    async fn save_outcome(&self, outcome: &OutcomeRecord) -> Result<(), StoreError>;

    /// All outcomes, oldest first.
    async fn outcomes(&self) -> Result<Vec<OutcomeRecord>, StoreError>;

    /// Successes (outcome resolved) and totals per (kind, objective, component), sorted
    /// by those keys.
    async fn success_rates(&self) -> Result<Vec<SuccessRate>, StoreError>;

    /// Successes and totals per action kind, in kind order: the coarsest back-off level.
    async fn kind_success_rates(&self) -> Result<Vec<(ActionKind, u32, u32)>, StoreError>;

    /// Store learned statistics imported from another installation, replacing the
    /// rows of the same (context, source).
    async fn save_priors(&self, priors: &[LearnedPrior]) -> Result<(), StoreError>;

    /// The imported learned statistics, sorted by context and source.
    async fn priors(&self) -> Result<Vec<LearnedPrior>, StoreError>;
}

/// The alerts received from Alertmanager's webhook: stored by the API, polled by the
/// loop.
/// A firing duplicate received this much later than the stored copy is Alertmanager
/// re-sending a firing alert (every `repeat_interval`), not a retry or an HA peer: it is
/// refiled under a new `seq` with its new `received_at`, so that pollers see the alert
/// is still firing (an alert not re-sent expires after `alerts.expire_after`).
pub const ALERT_RESEND_AFTER_MS: i64 = 60_000;

#[async_trait]
pub trait AlertInbox: Send + Sync {
    /// Store a batch of webhook alerts in one transaction, committed (durable) before it
    /// returns; says per alert, in order, whether it was new.
    ///
    /// An alert is identified by (fingerprint, `starts_at`). A duplicate with the same
    /// status (an Alertmanager retry, an HA peer) changes nothing. A duplicate with a
    /// different status (firing → resolved), or a firing one received at least
    /// [`ALERT_RESEND_AFTER_MS`] after the stored copy (Alertmanager's re-send every
    /// `repeat_interval`), replaces the stored alert and takes a new `seq`, so
    /// [`AlertInbox::alerts_since`] returns it again (it is still reported not new). The `seq` of the given alerts
    /// is ignored; the store assigns it.
    async fn save_alerts(&self, alerts: &[Alert]) -> Result<Vec<bool>, StoreError>;

    /// Alerts stored or changed after sequence number `seq` (exclusive), by `seq`
    /// ascending: pass the largest `seq` seen so far to get only what is new.
    async fn alerts_since(&self, seq: u64) -> Result<Vec<Alert>, StoreError>;

    /// The newest `limit` alerts (by `seq`, so a status change counts as new), newest
    /// first.
    async fn recent_alerts(&self, limit: usize) -> Result<Vec<Alert>, StoreError>;

    /// Delete the alerts received before `before` (the charter's `alerts.retention`);
    /// returns how many. Sequence numbers are never reused, so a cursor of
    /// [`AlertInbox::alerts_since`] stays valid across a prune.
    async fn prune_alerts(&self, before: Timestamp) -> Result<u64, StoreError>;
}

/// The change events deploy tools post (`POST /api/v1/changes`): stored by the API,
/// polled by the loop.
#[async_trait]
pub trait ChangeLog: Send + Sync {
    /// Store a batch of change events in one transaction, committed (durable) before
    /// it returns; says per record, in order, whether it was new. A record whose key
    /// is already stored (or earlier in the batch) is a replay and changes nothing.
    /// The `seq` of the given records is ignored; the store assigns it.
    async fn save_changes(&self, changes: &[ChangeRecord]) -> Result<Vec<bool>, StoreError>;

    /// Changes stored after sequence number `seq` (exclusive), by `seq` ascending.
    async fn changes_since(&self, seq: u64) -> Result<Vec<ChangeRecord>, StoreError>;

    /// The newest `limit` changes (by `seq`), newest first.
    async fn recent_changes(&self, limit: usize) -> Result<Vec<ChangeRecord>, StoreError>;

    /// Delete the changes received before `before`; returns how many. Sequence
    /// numbers are never reused, so a cursor of [`ChangeLog::changes_since`] stays
    /// valid, and a replay of a pruned event is recorded again (as new).
    async fn prune_changes(&self, before: Timestamp) -> Result<u64, StoreError>;
}

/// The leader lease of replicas sharing one store (see [`crate::lease`]), whose epoch
/// fences the journal's claims.
#[async_trait]
pub trait LeaderLease: Send + Sync {
    /// Take the leader lease for `ttl` as replica `holder` (a new fencing epoch) when
    /// nobody holds it, it expired, or `holder` held it before (a restarted replica);
    /// otherwise say who holds it. The holder stops claiming journal steps `margin`
    /// before the lease ends. Times are the database's clock.
    async fn acquire_lease(
        &self,
        holder: &str,
        ttl: Duration,
        margin: Duration,
    ) -> Result<LeaseGrant, StoreError>;

    /// Extend the lease to `ttl` from now while `holder` still holds it under `epoch`;
    /// `Ok(false)` when it does not (another replica took it).
    async fn renew_lease(
        &self,
        holder: &str,
        epoch: u64,
        ttl: Duration,
        margin: Duration,
    ) -> Result<bool, StoreError>;

    /// End the lease now if `holder` holds it under `epoch` (clean shutdown), so that a
    /// follower takes over without waiting for it to expire.
    async fn release_lease(&self, holder: &str, epoch: u64) -> Result<(), StoreError>;

    /// The lease as stored, `None` when none was ever taken.
    async fn lease(&self) -> Result<Option<LeaseRecord>, StoreError>;
}

/// The knowledge store K: every role, and the store's own lifecycle.
///
/// The orchestrator holds an `Arc<dyn Store>`; closing is the owner's business, so it
/// is here rather than in a role.
#[async_trait]
pub trait Store:
    Incidents + Journal + GuardStore + LearningStore + AlertInbox + ChangeLog + LeaderLease
{
    /// Flush and close. Later calls fail with [`StoreError::Query`].
    async fn close(&self);

    /// Whether the store can write: `Err(why)` from a write that failed because the
    /// database cannot write (disk full, I/O error, read-only) until a later write
    /// succeeds. For `/readyz`. The default (and PostgreSQL's) always says yes.
    fn write_status(&self) -> Result<(), String> {
        Ok(())
    }
}
