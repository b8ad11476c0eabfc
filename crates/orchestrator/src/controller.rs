//! The controller: one `tick(now)` runs one cycle of the loop.
//!
//! Level-triggered: every tick reads the current values of all objectives and
//! decides from them. Executions are state machines whose deadlines are compared
//! with `now`, so nothing here sleeps and nothing reads the wall clock.

use crate::event::{Event, Timed};
use crate::health::{Health, LoopMetrics, StateSnapshot};
use crate::lease::Fence;
use charter_analyze::{
    DiagnosisInput, Episode, EpisodeLog, History, RankOptions, diagnose_scored, related_incidents,
};
use charter_execute::{Actuator, Execution, Move};
use charter_knowledge::{
    ExecutionRecord, JournalRecord, JournalStatus, OutcomeRecord, PauseRecord, Store, StoreError,
};
use charter_model::{
    Action, AlertStatus, ApprovalState, Change, Charter, ComponentState, Diagnosis, Incident,
    IncidentState, Outcome, OutcomeClass, Policy, Sample, Severity, SourceSpec, Timestamp,
    Topology, Violation, ViolationState,
};
use charter_monitor::detect::{is_clear, severity_of};
use charter_monitor::{Detector, MetricSource};
use charter_plan::{Decision, GuardState, KnowledgeView, PlanInput, decide};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Consecutive failed reads after which the monitor is blind.
pub const BLIND_AFTER: u32 = 4;
/// How much history is read back from the source when the loop starts.
const BACKFILL: Duration = Duration::from_secs(30 * 60);
/// How long recent changes are kept for diagnosis.
const CHANGE_HORIZON: Duration = Duration::from_secs(3600);
/// Most violation episodes kept for the frequency and burst tests.
const MAX_EPISODES: usize = 100_000;
/// An open incident is diagnosed again when its evidence changes (a member joins,
/// or changes state or onset) and otherwise, as its metric windows fill,
/// every this many intervals — or every [`REFRESH_AGE_SHARE`]th of its age, when
/// that is longer: an hour-old incident's windows change little in a minute.
const REFRESH_INTERVALS: u32 = 4;
const REFRESH_AGE_SHARE: u32 = 8;
/// How long a resolved member still counts as evidence in its incident's diagnosis.
const RESOLVED_EVIDENCE: Duration = Duration::from_secs(10 * 60);

/// The loop could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("knowledge store failed")]
    Store(#[from] StoreError),
    /// This replica's lease ended (or is about to): it must stop acting.
    #[error("not the leader: {0}")]
    NotLeader(String),
}

impl ControllerError {
    /// Whether the error means this replica lost the leadership (its lease ended, or a
    /// journal claim was fenced), as opposed to a failure.
    pub fn lost_leadership(&self) -> bool {
        matches!(
            self,
            ControllerError::NotLeader(_) | ControllerError::Store(StoreError::Fenced { .. })
        )
    }
}

/// Why a human's decision on a policy (approve, reject) was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("no policy {0}")]
    NotFound(u64),
    #[error("policy {id} is not pending: it is {state}")]
    NotPending { id: u64, state: &'static str },
    #[error("automation is paused ({0}); resume it before approving")]
    Paused(String),
    #[error("a guardrail forbids starting it now: {0}")]
    Blocked(String),
    #[error(transparent)]
    Controller(#[from] ControllerError),
}

/// What one tick did.
#[derive(Debug, Default)]
pub struct TickReport {
    pub events: Vec<Timed>,
    pub blind: bool,
    /// Wall time of each stage of the tick.
    pub stages: Stages,
    /// Diagnoses run (incidents whose evidence changed).
    pub diagnoses: usize,
    /// Metric windows handed to those diagnoses.
    pub windows: usize,
}

/// Wall time of the stages of one tick (each includes its own store writes).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Stages {
    /// The source's read (a Prometheus round trip, say), and the history backfill on
    /// the first tick.
    pub read: Duration,
    /// Detection, the history window, incident grouping.
    pub monitor: Duration,
    /// Diagnosis of every incident whose evidence changed.
    pub analyze: Duration,
    /// Resolution of cleared incidents and planning.
    pub plan: Duration,
    /// Advancing executions, retention.
    pub execute: Duration,
}

impl Stages {
    /// The whole tick.
    pub fn total(&self) -> Duration {
        self.read + self.monitor + self.analyze + self.plan + self.execute
    }
}

struct IncidentRt {
    incident: Incident,
    members: BTreeMap<String, Violation>,
    diagnosis: Option<Diagnosis>,
    dirty: bool,
    tried: Vec<Action>,
    pending: Option<Policy>,
    last_no_action: Option<String>,
}

/// The MAPE-K loop over one charter.
pub struct Controller {
    charter: Arc<Charter>,
    source: Arc<dyn MetricSource>,
    actuators: BTreeMap<String, Arc<dyn Actuator>>,
    store: Arc<dyn Store>,
    detector: Detector,
    history: History,
    /// Onsets of past violation episodes (frequency and burst tests).
    episodes: EpisodeLog,
    /// Series whose episode was open when an earlier process stopped, as
    /// `(objective, component)`: the fresh detector sees them start again on the first
    /// reading, which is no new episode (it would count each restart as a burst).
    reopened: HashSet<(String, String)>,
    /// When this controller started observing.
    started: Timestamp,
    zones: BTreeMap<String, String>,
    analysis: RankOptions,
    changes: Vec<Change>,
    incidents: BTreeMap<u64, IncidentRt>,
    executions: Vec<Execution>,
    guard: GuardState,
    knowledge: KnowledgeView,
    next_incident: u64,
    next_policy: u64,
    next_execution: u64,
    consecutive_errors: u32,
    blind_after: u32,
    /// Store sequence of the last Alertmanager alert taken into account.
    alerts_seen: u64,
    /// Whether the history window was backfilled from the source.
    backfilled: bool,
    /// When history was last pruned to the charter's retention.
    pruned_at: Option<Timestamp>,
    health: Arc<Health>,
    metrics: LoopMetrics,
    /// The kill switch as last set by a human (restored from the store).
    pause: Option<PauseRecord>,
    /// With several replicas: the lease this leader acts under.
    fence: Option<Arc<Fence>>,
}

impl Controller {
    /// Build a controller, restoring guardrail state and learned outcomes from the store.
    ///
    /// First, startup recovery ([`crate::recovery::recover`]) settles the executions an
    /// earlier process left unfinished: it looks their steps up with the actuators and
    /// compensates, and never applies a step again. `actuators` maps the charter's
    /// actuator names to implementations.
    pub async fn new(
        charter: Arc<Charter>,
        source: Arc<dyn MetricSource>,
        actuators: BTreeMap<String, Arc<dyn Actuator>>,
        store: Arc<dyn Store>,
        now: Timestamp,
    ) -> Result<Self, ControllerError> {
        Self::build(charter, source, actuators, store, now, None).await
    }

    /// Build the controller of the replica that just took the leader lease: like
    /// [`Controller::new`] (recovery first), but every journal claim — recovery's
    /// compensations included — is made under `fence`'s epoch, no side effect starts
    /// once the fence says the lease may have ended, the actuators pass the epoch on,
    /// and the kill switch is re-read from the store every cycle (a follower may set
    /// it).
    pub async fn new_leader(
        charter: Arc<Charter>,
        source: Arc<dyn MetricSource>,
        actuators: BTreeMap<String, Arc<dyn Actuator>>,
        store: Arc<dyn Store>,
        now: Timestamp,
        fence: Arc<Fence>,
    ) -> Result<Self, ControllerError> {
        Self::build(charter, source, actuators, store, now, Some(fence)).await
    }

    async fn build(
        charter: Arc<Charter>,
        source: Arc<dyn MetricSource>,
        actuators: BTreeMap<String, Arc<dyn Actuator>>,
        store: Arc<dyn Store>,
        now: Timestamp,
        fence: Option<Arc<Fence>>,
    ) -> Result<Self, ControllerError> {
        let epoch = fence.as_ref().map_or(0, |f| f.epoch());
        if let Some(f) = &fence {
            if !f.may_act() {
                return Err(ControllerError::NotLeader(format!(
                    "the lease of epoch {epoch} ended before the loop started"
                )));
            }
            for a in actuators.values() {
                a.set_fencing_epoch(epoch);
            }
        }
        let ids = store.next_ids().await?;
        let mut knowledge = KnowledgeView::with_learning(charter.learning.clone());
        for o in store.outcomes().await? {
            knowledge.observe(
                o.action_kind,
                &o.objective,
                &o.component,
                o.outcome.class,
                o.outcome.time_to_effect_secs,
                o.outcome.at,
            );
        }
        for p in store.priors().await? {
            knowledge.add_prior(
                (p.kind, &p.objective, &p.component),
                p.alpha,
                p.beta,
                p.time_to_effect_secs,
                p.weight,
            );
        }
        // Startup recovery (invariant 3): settle what an earlier process left unfinished
        // before anything new is planned. Actions it finds count toward the guardrails
        // read next; its quarantine is persisted, so the guardrail state restored below
        // includes it.
        let recovery =
            crate::recovery::recover_as(&charter, &actuators, store.as_ref(), now, epoch).await?;
        for e in &recovery.events {
            tracing::info!(target: "charter::event", "{}", e.event);
        }
        let recent_actions = store
            .actions_since(
                now.minus(Duration::from_secs(3600).max(charter.guardrails.oscillation_window)),
            )
            .await?;
        // Alerts received before this start are history, not news.
        let alerts_seen = store.recent_alerts(1).await?.first().map_or(0, |a| a.seq);
        let blind_after = match &charter.source {
            SourceSpec::Prometheus(p) => p.blind_after,
            SourceSpec::Simulator { .. } => BLIND_AFTER,
        };
        let zones = charter
            .components
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.zone.clone()?)))
            .collect();
        // The episode log of the frequency and burst tests outlives the process: it is
        // rebuilt from the violations the store recorded.
        let analysis = RankOptions::default();
        let (episodes, started, reopened) = restore_episodes(
            &store
                .violation_history(
                    now.minus(analysis.frequency.baseline + analysis.frequency.recent),
                )
                .await?,
            now,
        );
        let mut controller = Controller {
            history: History::new(Duration::from_secs(3600).max(charter.interval * 20)),
            episodes,
            reopened,
            started,
            zones,
            analysis,
            charter,
            source,
            actuators,
            store,
            detector: Detector::new(),
            changes: Vec::new(),
            incidents: BTreeMap::new(),
            executions: Vec::new(),
            guard: GuardState {
                recent_actions,
                ..Default::default()
            },
            knowledge,
            next_incident: ids.incident,
            next_policy: ids.policy,
            next_execution: ids.execution,
            consecutive_errors: 0,
            blind_after,
            alerts_seen,
            backfilled: false,
            pruned_at: None,
            health: Arc::new(Health::default()),
            metrics: LoopMetrics::unregistered(),
            pause: None,
            fence,
        };
        controller.restore_guard(now).await?;
        if epoch > 0 {
            controller
                .store
                .audit(now, "leader", &serde_json::json!({ "epoch": epoch }))
                .await?;
        }
        Ok(controller)
    }

    /// Share health with an HTTP server.
    pub fn with_health(mut self, health: Arc<Health>, metrics: LoopMetrics) -> Self {
        health.set_pause(self.pause.clone());
        self.health = health;
        self.metrics = metrics;
        self
    }

    /// The charter being run.
    pub fn charter(&self) -> &Charter {
        &self.charter
    }

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
        // Safety first: paused in memory even if persisting fails.
        self.guard.paused = true;
        self.pause = Some(record.clone());
        self.health.set_pause(self.pause.clone());
        self.store.save_pause(&record).await?;
        self.store
            .audit(
                now,
                "pause",
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
            .audit(now, "resume", &serde_json::json!({"by": by}))
            .await?;
        tracing::warn!(by, "automation resumed");
        Ok(record)
    }

    /// Persist the quarantined components, which a restart must not lose. Call after
    /// changing them. (The kill switch is saved where it is set, so that this never
    /// overwrites one another replica set.)
    async fn persist_guard(&self) -> Result<(), ControllerError> {
        let quarantined: BTreeSet<String> = self.guard.quarantined.iter().cloned().collect();
        self.store.save_quarantined(&quarantined).await?;
        Ok(())
    }

    /// At start: restore the kill switch and the quarantine, and expire policies an
    /// earlier run left pending (its incidents are not resumed, so they can never run).
    async fn restore_guard(&mut self, now: Timestamp) -> Result<(), ControllerError> {
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
                    "approval_expired",
                    &serde_json::json!({"policy": p.id, "reason": "left pending by an earlier run"}),
                )
                .await?;
        }
        Ok(())
    }

    /// With a lease: fail unless it still lets this replica act.
    fn check_lease(&self, what: &str) -> Result<(), ControllerError> {
        match &self.fence {
            Some(f) if !f.may_act() => Err(ControllerError::NotLeader(format!(
                "the lease of epoch {} may have ended; not going to {what}",
                f.epoch()
            ))),
            _ => Ok(()),
        }
    }

    /// The fencing epoch journal claims are made under (0 without a lease).
    fn epoch(&self) -> u64 {
        self.fence.as_ref().map_or(0, |f| f.epoch())
    }

    /// Take the kill switch as stored: another replica may have set it.
    async fn refresh_pause(&mut self) -> Result<(), ControllerError> {
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

    /// Whether the monitor is blind.
    pub fn is_blind(&self) -> bool {
        self.guard.blind
    }

    /// Policies waiting for a human.
    pub fn pending_policies(&self) -> Vec<Policy> {
        self.incidents
            .values()
            .filter_map(|i| i.pending.clone())
            .collect()
    }

    /// Policies for the API: those waiting for a human first (by id), then the newest
    /// `limit` others, newest first.
    pub async fn policies(&self, limit: usize) -> Result<Vec<Policy>, ControllerError> {
        Ok(pending_then_recent(self.store.as_ref(), self.pending_policies(), limit).await?)
    }

    /// One policy, pending or from the store.
    pub async fn policy(&self, policy_id: u64) -> Result<Option<Policy>, ControllerError> {
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
    async fn not_pending(&self, policy_id: u64) -> ApprovalError {
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
        policy_id: u64,
        now: Timestamp,
    ) -> Option<Result<u64, ApprovalError>> {
        let (id, rt) = self
            .incidents
            .iter()
            .find(|(_, i)| i.pending.as_ref().is_some_and(|p| p.id == policy_id))?;
        let p = rt.pending.as_ref()?;
        if now.since(p.created_at) >= self.charter.guardrails.approval_timeout {
            return Some(Err(ApprovalError::NotPending {
                id: policy_id,
                state: ApprovalState::Expired.name(),
            }));
        }
        Some(Ok(*id))
    }

    /// Why the guardrails forbid starting the pending policy of this incident now, if
    /// they do: time has passed since it was planned, so the state that matters for
    /// safety (blind monitor, executions in progress, quarantine) is checked again.
    fn approval_blocked(&self, incident_id: u64) -> Option<String> {
        let policy = self.incidents.get(&incident_id)?.pending.as_ref()?;
        if self.guard.blind {
            return Some("the monitor is blind: new actions are frozen".into());
        }
        for a in &policy.actions {
            let c = a.component.as_str();
            if self
                .executions
                .iter()
                .any(|e| e.components().any(|x| x == c))
            {
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
        policy_id: u64,
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
        self.store
            .save_policy(&p)
            .await
            .map_err(ControllerError::from)?;
        self.store
            .audit(
                now,
                "approval",
                &serde_json::json!({"policy": p.id, "incident": p.incident_id, "by": by, "approved": true}),
            )
            .await
            .map_err(ControllerError::from)?;
        tracing::info!(
            policy_id = p.id,
            incident_id = p.incident_id,
            by,
            "policy approved"
        );
        self.start_execution(&p, now).await?;
        Ok(p)
    }

    /// Reject a pending policy: `by`, `reason` and `now` are recorded in the policy and
    /// the audit log, and its actions count as tried in the incident, so the next plan
    /// proposes something else (or escalates).
    pub async fn reject(
        &mut self,
        policy_id: u64,
        by: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Policy, ApprovalError> {
        let incident_id = match self.pending_incident(policy_id, now) {
            Some(r) => r?,
            None => return Err(self.not_pending(policy_id).await),
        };
        let Some(rt) = self.incidents.get_mut(&incident_id) else {
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
        self.store
            .save_policy(&p)
            .await
            .map_err(ControllerError::from)?;
        self.store
            .audit(
                now,
                "approval",
                &serde_json::json!({"policy": p.id, "incident": p.incident_id, "by": by, "approved": false, "reason": reason}),
            )
            .await
            .map_err(ControllerError::from)?;
        tracing::info!(
            policy_id = p.id,
            incident_id = p.incident_id,
            by,
            reason,
            "policy rejected"
        );
        Ok(p)
    }

    /// Run one cycle at `now`.
    pub async fn tick(&mut self, now: Timestamp) -> Result<TickReport, ControllerError> {
        self.check_lease("start a cycle")?;
        if self.fence.is_some() {
            self.refresh_pause().await?;
        }
        let started = std::time::Instant::now();
        let mut stages = Stages::default();
        let mut ev: Vec<Timed> = Vec::new();
        let mut push = |e: Event| ev.push(Timed { at: now, event: e });
        let mut problem = String::new();

        // Analyze needs history: on the first cycle, backfill it from the source
        // (range queries for Prometheus; nothing for sources without history).
        if !self.backfilled {
            self.backfilled = true;
            let start = now.minus(BACKFILL);
            let step = self.charter.interval.max(BACKFILL / 10_000);
            match self.source.history(&self.charter, start, now, step).await {
                Ok(mut samples) => {
                    samples.sort_by_key(|s| s.at);
                    tracing::info!(points = samples.len(), "history backfilled");
                    let topology = &self.charter.topology;
                    self.history
                        .record_where(&samples, now, |c| topology.contains(c));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "history backfill failed; starting with an empty window")
                }
            }
        }

        // Monitor.
        let observation = self.source.observe(&self.charter, now).await;
        stages.read = started.elapsed();
        let mut fresh = false;
        let t = std::time::Instant::now();
        match observation {
            Ok(obs) => {
                if self.guard.blind {
                    push(Event::SourceRecovered);
                }
                self.consecutive_errors = 0;
                self.guard.blind = false;
                fresh = true;
                self.observe(&obs.samples, obs.changes, now, &mut push)
                    .await?;
                if let Some(p) = obs.problems.first() {
                    problem = p.clone();
                }
            }
            Err(e) => {
                self.consecutive_errors += 1;
                self.metrics.source_errors.inc();
                problem = e.to_string();
                tracing::warn!(consecutive = self.consecutive_errors, error = %e, "metric source read failed");
                push(Event::SourceError {
                    error: e.to_string(),
                    consecutive: self.consecutive_errors,
                });
                if self.consecutive_errors >= self.blind_after && !self.guard.blind {
                    self.guard.blind = true;
                    tracing::error!(
                        consecutive = self.consecutive_errors,
                        "monitor is blind: new actions frozen"
                    );
                    push(Event::Blind {
                        consecutive: self.consecutive_errors,
                    });
                }
            }
        }

        stages.monitor = t.elapsed();
        let t = std::time::Instant::now();
        let mut work = (0, 0);
        if fresh {
            work = self.analyze(now, &mut push).await?;
        }
        stages.analyze = t.elapsed();
        let t = std::time::Instant::now();
        self.resolve_incidents(now, &mut push).await?;
        self.plan(now, &mut push).await?;
        stages.plan = t.elapsed();
        let t = std::time::Instant::now();
        self.advance_executions(now, fresh, &mut push).await?;
        self.prune(now).await?;
        stages.execute = t.elapsed();

        self.metrics.ticks.inc();
        self.metrics.blind.set(i64::from(self.guard.blind));
        self.metrics
            .violations_firing
            .set(self.detector.active().filter(|v| v.is_firing()).count() as i64);
        self.metrics.incidents_open.set(self.incidents.len() as i64);
        self.metrics
            .tick_seconds
            .observe(started.elapsed().as_secs_f64());
        self.health.publish(StateSnapshot {
            at: Some(now),
            blind: self.guard.blind,
            paused: self.guard.paused,
            violations: self.detector.active().cloned().collect(),
            incidents: self
                .incidents
                .values()
                .map(|i| i.incident.clone())
                .collect(),
            pending_policies: self.pending_policies(),
            executions: self.executions.iter().map(|e| e.id).collect(),
        });
        self.health
            .tick_done(now.millis(), self.guard.blind, &problem);
        Ok(TickReport {
            events: ev,
            blind: self.guard.blind,
            stages,
            diagnoses: work.0,
            windows: work.1,
        })
    }

    async fn observe(
        &mut self,
        samples: &[Sample],
        changes: Vec<Change>,
        now: Timestamp,
        push: &mut impl FnMut(Event),
    ) -> Result<(), ControllerError> {
        // Targets come only from the charter: samples of undeclared components are
        // neither kept nor judged (history and detector check once per series).
        let topology = &self.charter.topology;
        self.history
            .record_where(samples, now, |c| topology.contains(c));
        for c in &changes {
            self.store
                .audit(now, "change", &serde_json::to_value(c).unwrap_or_default())
                .await?;
        }
        self.changes.extend(changes);
        let horizon = now.minus(CHANGE_HORIZON);
        self.changes.retain(|c| c.at >= horizon);

        // Alertmanager's evidence first, so that the query of this cycle confirms it.
        let mut transitions = Vec::new();
        for a in self.store.alerts_since(self.alerts_seen).await? {
            self.alerts_seen = self.alerts_seen.max(a.seq);
            let (Some(obj), Some(comp)) = (a.objective.as_deref(), a.component.as_deref()) else {
                continue;
            };
            // Mapping is re-checked here: only declared objectives and components count.
            let Some(objective) = self.charter.objective(obj) else {
                continue;
            };
            if !objective.components.iter().any(|c| c == comp) {
                continue;
            }
            let firing = a.status == AlertStatus::Firing;
            transitions.extend(self.detector.observe_alert(
                objective,
                comp,
                firing,
                a.severity,
                a.starts_at,
                now,
            ));
        }
        transitions.extend(self.detector.update(&self.charter, samples, now));
        self.guard.frozen = self
            .detector
            .unknown()
            .map(|(_, c)| c.to_string())
            .collect();
        // Dependencies before their callers (a caller's transitive dependencies hold
        // its dependency's): a caller's violation can then join the incident its
        // failing dependency opened in the same cycle.
        let topology = &self.charter.topology;
        transitions.sort_by_cached_key(|t| topology.height(&t.violation.component));
        // The cycle's writes go out together: each changed incident once, then every
        // transition in one transaction.
        let mut touched: BTreeSet<u64> = BTreeSet::new();
        let mut records: Vec<(Option<u64>, Violation)> = Vec::with_capacity(transitions.len());
        // The cycle's new episodes go into the log first, together: the burst test
        // of a violation then sees every onset of the cycle, and the log's bursts
        // are found once per cycle, not once per violation.
        let mut started = 0;
        for t in &transitions {
            let v = &t.violation;
            if t.from
                .is_none_or(|f| !matches!(f, ViolationState::Pending | ViolationState::Firing))
                && matches!(v.state, ViolationState::Pending | ViolationState::Firing)
                && !self
                    .reopened
                    .contains(&(v.objective.clone(), v.component.clone()))
            {
                self.episodes.push(Episode {
                    objective: v.objective.clone(),
                    component: v.component.clone(),
                    at: v.since,
                });
                started += 1;
            }
        }
        if started > 0 {
            let keep = self.analysis.frequency.baseline + self.analysis.frequency.recent;
            self.episodes.trim(now.minus(keep), MAX_EPISODES);
        }
        // Which incident each episode belongs to, and the open incidents on each
        // component (for grouping), kept up to date as violations join.
        let mut member_of: HashMap<String, u64> = HashMap::new();
        let mut open_on: HashMap<String, BTreeSet<u64>> = HashMap::new();
        if !transitions.is_empty() {
            for (id, rt) in &self.incidents {
                for (key, m) in &rt.members {
                    member_of.insert(key.clone(), *id);
                    if !rt.incident.state.is_closed() {
                        open_on.entry(m.component.clone()).or_default().insert(*id);
                    }
                }
            }
        }
        for t in transitions {
            let v = t.violation;
            let key = v.key();
            let mut incident_id = member_of.get(&key).copied();
            if incident_id.is_none() && v.state == ViolationState::Firing {
                // Related incidents whose diagnosis cannot account for it (see
                // `may_explain`) are passed over.
                let eligible: Vec<u64> = related_incidents(
                    &v.component,
                    |c| open_on.get(c).into_iter().flatten().copied(),
                    &self.charter.topology,
                )
                .into_iter()
                .filter(|id| may_explain(&self.charter.topology, &self.incidents[id], &v.component))
                .collect();
                // Of several, the one whose root (or, undiagnosed, members) is nearest.
                let joined = eligible
                    .into_iter()
                    .min_by_key(|id| {
                        (
                            nearness(&self.charter.topology, &self.incidents[id], &v.component),
                            *id,
                        )
                    })
                    .or_else(|| self.burst_incident(&v));
                let id = match joined {
                    Some(id) => id,
                    None => {
                        let id = self.next_incident;
                        self.next_incident += 1;
                        let incident = Incident {
                            id,
                            opened_at: now,
                            state: IncidentState::Open,
                            violations: Vec::new(),
                            root_cause: None,
                            resolved_at: None,
                            attempts: 0,
                        };
                        self.incidents.insert(
                            id,
                            IncidentRt {
                                incident,
                                members: BTreeMap::new(),
                                diagnosis: None,
                                dirty: true,
                                tried: Vec::new(),
                                pending: None,
                                last_no_action: None,
                            },
                        );
                        tracing::info!(incident_id = id, violation = %key, "incident opened");
                        push(Event::IncidentOpened {
                            incident_id: id,
                            first: key.clone(),
                        });
                        id
                    }
                };
                incident_id = Some(id);
            }
            if let Some(id) = incident_id
                && let Some(rt) = self.incidents.get_mut(&id)
            {
                if !rt.incident.violations.contains(&key) {
                    rt.incident.violations.push(key.clone());
                }
                let old = rt.members.insert(key.clone(), v.clone());
                member_of.insert(key.clone(), id);
                if !rt.incident.state.is_closed() {
                    open_on.entry(v.component.clone()).or_default().insert(id);
                }
                rt.dirty |= old.is_none_or(|old| !same_evidence(&old, &v));
                touched.insert(id);
            }
            records.push((incident_id, v.clone()));
            push(Event::Violation {
                violation: v,
                from: t.from,
            });
        }
        for id in &touched {
            if let Some(rt) = self.incidents.get(id) {
                self.store.save_incident(&rt.incident).await?;
            }
        }
        self.store.record_violations(&records).await?;
        // Only the first reading after a restart re-opens the episodes that were open.
        self.reopened.clear();
        // Members follow their series' episode: the latest value always, and a change
        // of what a diagnosis weighs (state, onset) marks the incident for a new
        // diagnosis.
        // O(members): each member looks up its own series.
        for rt in self.incidents.values_mut() {
            for m in rt.members.values_mut() {
                if let Some(v) = self.detector.get(&m.objective, &m.component)
                    && m != v
                {
                    rt.dirty |= !same_evidence(m, v);
                    *m = v.clone();
                }
            }
        }
        Ok(())
    }

    /// Diagnose every incident whose evidence changed; returns how many diagnoses ran
    /// and over how many metric windows.
    async fn analyze(
        &mut self,
        now: Timestamp,
        push: &mut impl FnMut(Event),
    ) -> Result<(usize, usize), ControllerError> {
        let mut work = (0, 0);
        let episodes = &self.episodes;
        let refresh = self.charter.interval * REFRESH_INTERVALS;
        for rt in self.incidents.values_mut() {
            let every = refresh.max(now.since(rt.incident.opened_at) / REFRESH_AGE_SHARE);
            let stale = rt
                .diagnosis
                .as_ref()
                .is_some_and(|d| now.since(d.at) >= every);
            if !(rt.dirty || stale) || rt.incident.state.is_closed() {
                continue;
            }
            rt.dirty = false;
            // Members that resolved long ago describe the past, not what is wrong
            // now: a long incident that keeps taking new violations is diagnosed on
            // its recent ones.
            let members: Vec<Violation> = rt
                .members
                .values()
                .filter(|v| {
                    v.resolved_at
                        .is_none_or(|r| now.since(r) <= RESOLVED_EVIDENCE)
                })
                .cloned()
                .collect();
            // No symptom left to explain (the incident is clearing): keep the diagnosis
            // that explained them rather than rank the leftovers in the metrics.
            if rt.diagnosis.is_some()
                && !members
                    .iter()
                    .any(|v| matches!(v.state, ViolationState::Firing | ViolationState::Pending))
            {
                continue;
            }
            let scored = self
                .history
                .incident_scores(&self.charter, &members, &self.analysis);
            work.0 += 1;
            work.1 += scored.windows;
            let d = diagnose_scored(
                DiagnosisInput {
                    incident_id: rt.incident.id,
                    now,
                    violations: &members,
                    series: &[],
                    topology: Some(&self.charter.topology),
                    zones: Some(&self.zones),
                    changes: &self.changes,
                    episodes,
                    observed_since: self.started,
                    target: None,
                    options: &self.analysis,
                },
                scored.scores,
            );
            let changed = match (&rt.diagnosis, d.root()) {
                (None, Some(_)) => true,
                (Some(old), Some(new)) => old
                    .root()
                    .is_none_or(|o| o.component != new.component || o.cause != new.cause),
                _ => false,
            };
            if changed {
                let root = d.root().map(|h| h.component.clone());
                tracing::info!(incident_id = rt.incident.id, root = ?root, "diagnosed");
                rt.incident.root_cause = root;
                if rt.incident.state == IncidentState::Open {
                    rt.incident.state = IncidentState::Diagnosed;
                }
                self.store.save_diagnosis(&d).await?;
                self.store.save_incident(&rt.incident).await?;
                push(Event::Diagnosed {
                    diagnosis: d.clone(),
                });
            }
            rt.diagnosis = Some(d);
        }
        Ok(work)
    }

    async fn resolve_incidents(
        &mut self,
        now: Timestamp,
        push: &mut impl FnMut(Event),
    ) -> Result<(), ControllerError> {
        let running: Vec<u64> = self.executions.iter().map(|e| e.incident_id).collect();
        let mut closed = Vec::new();
        for (id, rt) in &mut self.incidents {
            let any_open = rt.members.values().any(|v| {
                matches!(
                    v.state,
                    ViolationState::Firing | ViolationState::Pending | ViolationState::Unknown
                )
            });
            if any_open || running.contains(id) {
                continue;
            }
            rt.incident.state = IncidentState::Resolved;
            rt.incident.resolved_at = Some(now);
            self.store.save_incident(&rt.incident).await?;
            if let Some(p) = rt.pending.take() {
                let mut p = p;
                p.approval = ApprovalState::Expired;
                self.store.save_policy(&p).await?;
            }
            let after = now.since(rt.incident.opened_at).as_secs_f64();
            tracing::info!(incident_id = *id, after_secs = after, "incident resolved");
            push(Event::IncidentResolved {
                incident_id: *id,
                after_secs: after,
            });
            closed.push(*id);
        }
        for id in closed {
            self.incidents.remove(&id);
        }
        Ok(())
    }

    async fn plan(
        &mut self,
        now: Timestamp,
        push: &mut impl FnMut(Event),
    ) -> Result<(), ControllerError> {
        self.guard.running = self
            .executions
            .iter()
            .flat_map(|e| e.components().map(str::to_string))
            .collect();
        let ids: Vec<u64> = self.incidents.keys().copied().collect();
        for id in ids {
            let Some(rt) = self.incidents.get(&id) else {
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
                    self.escalate(id, "approval timed out", now, push).await?;
                }
                continue;
            }
            if self.executions.iter().any(|e| e.incident_id == id) {
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
                    now,
                    push,
                )
                .await?;
                continue;
            }
            let mut states: HashMap<String, ComponentState> = HashMap::new();
            for h in &diagnosis.hypotheses {
                if let Some(act) = self.actuator_for(&h.component)
                    && let Ok(s) = act.describe(&h.component).await
                {
                    states.insert(h.component.clone(), s);
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
                            "oscillation",
                            &serde_json::json!({"incident": id, "component": component, "reason": reason, "rejected": rejected}),
                        )
                        .await?;
                    self.guard.quarantined.insert(component.clone());
                    self.persist_guard().await?;
                    self.escalate(id, &reason, now, push).await?;
                }
                Decision::NoAction { reason, rejected } => {
                    let Some(rt) = self.incidents.get_mut(&id) else {
                        continue;
                    };
                    let first = rejected
                        .first()
                        .map(|r| format!(": {} {}", r.action.kind, r.reason))
                        .unwrap_or_default();
                    let reason = format!("{reason}{first}");
                    if rt.last_no_action.as_deref() != Some(reason.as_str()) {
                        self.store
                            .audit(
                                now,
                                "no_action",
                                &serde_json::json!({"incident": id, "reason": reason}),
                            )
                            .await?;
                        push(Event::NoAction {
                            incident_id: id,
                            reason: reason.clone(),
                        });
                        rt.last_no_action = Some(reason);
                    }
                }
                Decision::Act(policy) => {
                    self.next_policy += 1;
                    self.store.save_policy(&policy).await?;
                    self.store
                        .audit(
                            now,
                            "policy",
                            &serde_json::to_value(&policy).unwrap_or_default(),
                        )
                        .await?;
                    tracing::info!(incident_id = id, policy_id = policy.id, rationale = %policy.rationale, "policy decided");
                    push(Event::PolicyDecided {
                        policy: policy.clone(),
                    });
                    let Some(rt) = self.incidents.get_mut(&id) else {
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

    /// Retention: once an hour, drop history older than `knowledge.retention`.
    async fn prune(&mut self, now: Timestamp) -> Result<(), ControllerError> {
        if self
            .pruned_at
            .is_some_and(|t| now.since(t) < Duration::from_secs(3600))
        {
            return Ok(());
        }
        self.pruned_at = Some(now);
        let before = now.minus(self.charter.retention);
        let rows = self.store.prune_history(before).await?;
        if rows > 0 {
            tracing::info!(rows, before = %before, "history pruned to the charter's retention");
        }
        Ok(())
    }

    async fn escalate(
        &mut self,
        id: u64,
        reason: &str,
        now: Timestamp,
        push: &mut impl FnMut(Event),
    ) -> Result<(), ControllerError> {
        if let Some(rt) = self.incidents.get_mut(&id) {
            rt.pending = None;
            rt.incident.state = IncidentState::Escalated;
            self.store.save_incident(&rt.incident).await?;
            self.store
                .audit(
                    now,
                    "escalation",
                    &serde_json::json!({"incident": id, "reason": reason}),
                )
                .await?;
            tracing::error!(
                incident_id = id,
                reason,
                "incident escalated: an operator must act"
            );
            push(Event::IncidentEscalated {
                incident_id: id,
                reason: reason.to_string(),
            });
        }
        Ok(())
    }

    async fn start_execution(
        &mut self,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<(), ControllerError> {
        let tte = policy
            .actions
            .iter()
            .map(|a| self.charter.action(a.kind).time_to_effect)
            .max()
            .unwrap_or(Duration::from_secs(60));
        let (before, _) = self.badness(&policy.targets);
        let id = self.next_execution;
        self.next_execution += 1;
        let e = Execution::new(id, policy, tte, before, now);
        if let Some(rt) = self.incidents.get_mut(&policy.incident_id) {
            rt.incident.state = IncidentState::Remediating;
            self.store.save_incident(&rt.incident).await?;
        }
        self.save_execution(&e, "applying").await?;
        self.executions.push(e);
        Ok(())
    }

    async fn save_execution(&self, e: &Execution, state: &str) -> Result<(), ControllerError> {
        self.store
            .save_execution(&ExecutionRecord {
                id: e.id,
                policy_id: e.policy_id,
                incident_id: e.incident_id,
                started_at: e.started_at,
                finished_at: e.finished_at,
                state: state.to_string(),
                actions: e.steps.iter().map(|s| s.action.clone()).collect(),
            })
            .await?;
        Ok(())
    }

    fn actuator_for(&self, component: &str) -> Option<Arc<dyn Actuator>> {
        let name = self.charter.component(component)?.actuator.as_ref()?;
        self.actuators.get(name).cloned()
    }

    /// Severity-weighted badness of target series from the latest samples, and whether
    /// every target is back within its thresholds. Unknown targets count as `None`.
    fn badness(&self, targets: &[String]) -> (f64, Option<bool>) {
        let mut total = 0.0;
        let mut all_clear = true;
        for key in targets {
            let Some((obj, comp)) = key.split_once('@') else {
                continue;
            };
            let Some(objective) = self.charter.objective(obj) else {
                continue;
            };
            let Some(v) = self.detector.latest(obj, comp) else {
                return (total, None);
            };
            if let Some(sev) = severity_of(objective, v) {
                let first = objective
                    .thresholds
                    .warning
                    .or(objective.thresholds.critical)
                    .unwrap_or(0.0);
                let excess = objective.direction.excess(v, first).clamp(0.0, 2.0);
                total += sev.weight() * (1.0 + excess);
                all_clear = false;
            } else if !is_clear(objective, v) {
                // Between clear and warning: recovering but not yet clear.
                total += 0.25 * Severity::Warning.weight();
            }
        }
        (total, Some(all_clear))
    }

    async fn advance_executions(
        &mut self,
        now: Timestamp,
        fresh: bool,
        push: &mut impl FnMut(Event),
    ) -> Result<(), ControllerError> {
        let mut i = 0;
        while i < self.executions.len() {
            // Bounded: each iteration either moves the state machine or breaks.
            for _ in 0..64 {
                let mv = self.executions[i].next_move(now);
                match mv {
                    Move::Wait | Move::Finished => break,
                    Move::Apply(step) => self.apply_step(i, step, now, push).await?,
                    Move::Verify => {
                        let (after, resolved) = self.badness(&self.executions[i].targets.clone());
                        let Some(resolved) = resolved.filter(|_| fresh) else {
                            // Cannot verify without data; the deadline stays passed and we try next tick.
                            break;
                        };
                        let e = &mut self.executions[i];
                        let class = e.verified(after, resolved, now);
                        let (eid, iid, before) = (e.id, e.incident_id, e.badness_before);
                        tracing::info!(execution_id = eid, incident_id = iid, outcome = %class, "verified");
                        push(Event::Verified {
                            execution_id: eid,
                            incident_id: iid,
                            outcome: class,
                            before,
                            after,
                        });
                    }
                    Move::Compensate(step, inverse) => {
                        self.compensate_step(i, step, inverse, now, push).await?
                    }
                }
            }
            if self.executions[i].is_done() {
                let e = self.executions.remove(i);
                self.finish_execution(e, now, push).await?;
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    async fn apply_step(
        &mut self,
        i: usize,
        step: usize,
        now: Timestamp,
        push: &mut impl FnMut(Event),
    ) -> Result<(), ControllerError> {
        let e = &self.executions[i];
        let s = &e.steps[step];
        let (eid, iid, action, key) = (e.id, e.incident_id, s.action.clone(), s.key.clone());
        // Safety: the kill switch and the mode are checked before every step.
        if self.guard.paused || self.charter.mode == charter_model::Mode::Shadow {
            self.executions[i].step_failed(step, "paused before the step".into(), now);
            return Ok(());
        }
        // With a lease: nothing starts once it may have ended (the claim below is
        // fenced in the store as well).
        self.check_lease("apply a step")?;
        let mut record = JournalRecord {
            execution_id: eid,
            step: step as u32,
            idempotency_key: key.clone(),
            epoch: self.epoch(),
            action: action.clone(),
            status: JournalStatus::Intent,
            detail: String::new(),
            prior: Default::default(),
            at: now,
        };
        // Journal first, then act.
        self.store.journal_step(&record).await?;
        let result = match self.actuator_for(&action.component) {
            Some(act) => act.apply(&key, &action).await.map_err(|e| e.to_string()),
            None => Err(format!(
                "no actuator bound to component {}",
                action.component
            )),
        };
        match result {
            Ok(applied) => {
                record.status = JournalStatus::Applied;
                record.detail = applied.detail.clone();
                // Startup recovery builds the inverse from it if this process dies.
                record.prior = applied.prior.clone();
                self.store.journal_step(&record).await?;
                self.store
                    .record_action(&action.component, action.kind, now)
                    .await?;
                self.guard
                    .recent_actions
                    .push((action.component.clone(), action.kind, now));
                // Keep what the hourly limit and the oscillation window look at.
                let keep =
                    Duration::from_secs(3600).max(self.charter.guardrails.oscillation_window);
                self.guard
                    .recent_actions
                    .retain(|(_, _, t)| now.since(*t) < keep);
                self.metrics
                    .actions
                    .get_or_create(&vec![("kind".into(), action.kind.to_string())])
                    .inc();
                tracing::info!(execution_id = eid, incident_id = iid, action = %action, "applied");
                push(Event::StepApplied {
                    execution_id: eid,
                    incident_id: iid,
                    action,
                    detail: applied.detail.clone(),
                });
                self.executions[i].step_applied(step, applied, now);
                if let Some(rt) = self.incidents.get_mut(&iid)
                    && self.executions[i]
                        .steps
                        .iter()
                        .all(|s| s.applied_at.is_some())
                {
                    rt.incident.state = IncidentState::Verifying;
                }
            }
            Err(err) => {
                record.status = JournalStatus::Failed;
                record.detail = err.clone();
                self.store.journal_step(&record).await?;
                tracing::warn!(execution_id = eid, incident_id = iid, action = %action, error = %err, "step failed");
                push(Event::StepFailed {
                    execution_id: eid,
                    incident_id: iid,
                    action,
                    error: err.clone(),
                });
                self.executions[i].step_failed(step, err, now);
            }
        }
        Ok(())
    }

    async fn compensate_step(
        &mut self,
        i: usize,
        step: usize,
        inverse: Option<Action>,
        now: Timestamp,
        push: &mut impl FnMut(Event),
    ) -> Result<(), ControllerError> {
        let (eid, iid) = (self.executions[i].id, self.executions[i].incident_id);
        let Some(inv) = inverse else {
            let kind = self.executions[i].steps[step].action.kind;
            let detail = format!("{kind} is irreversible");
            push(Event::Compensated {
                execution_id: eid,
                incident_id: iid,
                action: None,
                ok: false,
                detail: detail.clone(),
            });
            self.executions[i].compensated(step, Err(detail), now);
            return Ok(());
        };
        let key = format!("{}-undo", self.executions[i].steps[step].key);
        self.check_lease("compensate a step")?;
        // The kill switch holds for compensations too (invariant 5): the step stays
        // applied, which quarantines the component and escalates, as a failed undo.
        if self.guard.paused {
            let detail = "automation is paused: not undone; an operator must look".to_string();
            push(Event::Compensated {
                execution_id: eid,
                incident_id: iid,
                action: Some(inv),
                ok: false,
                detail: detail.clone(),
            });
            self.executions[i].compensated(step, Err(detail), now);
            return Ok(());
        }
        let mut record = JournalRecord {
            execution_id: eid,
            step: 1000 + step as u32,
            idempotency_key: key.clone(),
            epoch: self.epoch(),
            action: inv.clone(),
            status: JournalStatus::Intent,
            detail: "compensation".into(),
            prior: Default::default(),
            at: now,
        };
        self.store.journal_step(&record).await?;
        let result = match self.actuator_for(&inv.component) {
            Some(act) => act.apply(&key, &inv).await.map_err(|e| e.to_string()),
            None => Err(format!("no actuator bound to component {}", inv.component)),
        };
        let ok = result.is_ok();
        record.status = if ok {
            JournalStatus::Compensated
        } else {
            JournalStatus::Failed
        };
        record.detail = match &result {
            Ok(a) => a.detail.clone(),
            Err(e) => e.clone(),
        };
        self.store.journal_step(&record).await?;
        push(Event::Compensated {
            execution_id: eid,
            incident_id: iid,
            action: Some(inv),
            ok,
            detail: record.detail.clone(),
        });
        self.executions[i].compensated(step, result.map(|_| ()), now);
        Ok(())
    }

    async fn finish_execution(
        &mut self,
        e: Execution,
        now: Timestamp,
        push: &mut impl FnMut(Event),
    ) -> Result<(), ControllerError> {
        let class = e.outcome.unwrap_or(OutcomeClass::Failed);
        self.metrics
            .outcomes
            .get_or_create(&vec![("class".into(), class.to_string())])
            .inc();
        self.save_execution(
            &e,
            if e.rolled_back {
                "rolled_back"
            } else {
                class.as_str()
            },
        )
        .await?;
        let first = e.steps.get(e.main).map(|s| s.action.clone());
        let outcome = Outcome {
            execution_id: e.id,
            policy_id: e.policy_id,
            incident_id: e.incident_id,
            at: now,
            class,
            rolled_back: e.rolled_back,
            time_to_effect_secs: now.since(e.started_at).as_secs_f64(),
            violations_before: e.badness_before,
            violations_after: e.badness_after.unwrap_or(e.badness_before),
            detail: format!("{} step(s)", e.steps.len()),
        };
        if let Some(action) = &first {
            // The symptom objective: the first target on the acted-on component, else the first target.
            let objective = e
                .targets
                .iter()
                .find(|k| k.ends_with(&format!("@{}", action.component)))
                .or(e.targets.first())
                .and_then(|k| k.split_once('@').map(|(o, _)| o.to_string()))
                .unwrap_or_default();
            let cause = self
                .incidents
                .get(&e.incident_id)
                .and_then(|rt| rt.diagnosis.as_ref())
                .and_then(|d| d.root())
                .map(|h| h.cause);
            self.knowledge.observe(
                action.kind,
                &objective,
                &action.component,
                class,
                outcome.time_to_effect_secs,
                now,
            );
            self.store
                .save_outcome(&OutcomeRecord {
                    outcome: outcome.clone(),
                    action_kind: action.kind,
                    component: action.component.clone(),
                    objective,
                    cause,
                })
                .await?;
        }
        if e.compensation_failed {
            for c in e.components() {
                self.guard.quarantined.insert(c.to_string());
            }
            self.persist_guard().await?;
            self.escalate(
                e.incident_id,
                "a compensation failed: component quarantined",
                now,
                push,
            )
            .await?;
            return Ok(());
        }
        if let Some(rt) = self.incidents.get_mut(&e.incident_id) {
            if class != OutcomeClass::Resolved
                && let Some(a) = first
            {
                rt.tried.push(a);
            }
            if rt.incident.state != IncidentState::Escalated {
                rt.incident.state = IncidentState::Diagnosed;
            }
            rt.dirty = true;
            self.store.save_incident(&rt.incident).await?;
        }
        Ok(())
    }
}

/// Whether two snapshots of one episode give a diagnosis the same evidence: the
/// same state, onset and firing and resolution times (the latest value, the worst
/// and the severity only word its evidence).
fn same_evidence(a: &Violation, b: &Violation) -> bool {
    a.state == b.state
        && a.since == b.since
        && a.firing_since == b.firing_since
        && a.resolved_at == b.resolved_at
}

/// The episode log as recorded violations tell it: the onset of every episode (a
/// pending or firing record, once per series and start time), oldest first, at most
/// [`MAX_EPISODES`]; since when the loop has observed (the oldest record, or `now` on
/// an empty store), which bounds the frequency test's baseline; and the series whose
/// last record is not a resolution (their episode was open at shutdown).
fn restore_episodes(
    recorded: &[Violation],
    now: Timestamp,
) -> (EpisodeLog, Timestamp, HashSet<(String, String)>) {
    // The last record of each series says whether its episode was still open.
    let mut last: HashMap<(&str, &str), ViolationState> = HashMap::new();
    for v in recorded {
        last.insert((v.objective.as_str(), v.component.as_str()), v.state);
    }
    let open = last
        .into_iter()
        .filter(|(_, state)| *state != ViolationState::Resolved)
        .map(|((o, c), _)| (o.to_string(), c.to_string()))
        .collect();
    let onsets: BTreeSet<(Timestamp, &str, &str)> = recorded
        .iter()
        .filter(|v| matches!(v.state, ViolationState::Pending | ViolationState::Firing))
        .filter(|v| v.since <= now)
        .map(|v| (v.since, v.objective.as_str(), v.component.as_str()))
        .collect();
    let since = onsets.first().map_or(now, |o| o.0);
    let skip = onsets.len().saturating_sub(MAX_EPISODES);
    let episodes = onsets
        .into_iter()
        .skip(skip)
        .map(|(at, objective, component)| Episode {
            objective: objective.to_string(),
            component: component.to_string(),
            at,
        })
        .collect();
    (episodes, since, open)
}

impl Controller {
    /// The open incident that a violation unrelated by topology joins because its
    /// onset falls in the same burst of onsets as one of the incident's members.
    fn burst_incident(&self, v: &Violation) -> Option<u64> {
        let burst = self.episodes.burst_at(v.since, &self.analysis.burst)?;
        self.incidents
            .iter()
            .find(|(_, rt)| {
                !rt.incident.state.is_closed()
                    && rt.members.values().any(|m| burst.contains(m.since))
                    && may_explain(&self.charter.topology, rt, &v.component)
            })
            .map(|(id, _)| *id)
    }
}

/// Whether an open incident can take a new violation on `component`: it has no
/// diagnosis yet, or its root cause could have reached `component` — the same
/// component, a dependency path between them (either direction), or a dependency
/// they share (a slow or loaded shared dependency reaches both). A symptom that no
/// such path connects to the diagnosed root is another problem: its own incident,
/// diagnosed on its own evidence. O(V + E).
fn may_explain(topology: &Topology, rt: &IncidentRt, component: &str) -> bool {
    let Some(root) = rt.diagnosis.as_ref().and_then(|d| d.root()) else {
        return true;
    };
    let root = root.component.as_str();
    if root == component {
        return true;
    }
    let (mine, its) = (
        topology.all_dependencies(component),
        topology.all_dependencies(root),
    );
    mine.contains(root) || its.contains(component) || !mine.is_disjoint(&its)
}

/// Hops along dependencies (either direction) between `component` and an incident's
/// diagnosed root, or its nearest member while undiagnosed; `usize::MAX` when only a
/// shared dependency relates them.
fn nearness(topology: &Topology, rt: &IncidentRt, component: &str) -> usize {
    let anchors: BTreeSet<&str> = match rt.diagnosis.as_ref().and_then(|d| d.root()) {
        Some(h) => BTreeSet::from([h.component.as_str()]),
        None => rt.members.values().map(|m| m.component.as_str()).collect(),
    };
    anchors
        .into_iter()
        .filter_map(|a| {
            if a == component {
                return Some(0);
            }
            topology
                .distance(component, a)
                .or_else(|| topology.distance(a, component))
        })
        .min()
        .unwrap_or(usize::MAX)
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
    let ids: BTreeSet<u64> = pending.iter().map(|p| p.id).collect();
    let recent = store.recent_policies(limit + ids.len()).await?;
    pending.extend(
        recent
            .into_iter()
            .filter(|p| !ids.contains(&p.id))
            .take(limit),
    );
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_model::Signal;

    fn record(objective: &str, state: ViolationState, since: i64) -> Violation {
        Violation {
            objective: objective.into(),
            component: "api".into(),
            signal: Signal::Latency,
            state,
            severity: None,
            since: Timestamp::from_secs(since),
            firing_since: None,
            resolved_at: None,
            value: None,
            worst: None,
            flaps: 0,
            alerted: false,
        }
    }

    #[test]
    fn the_episode_log_is_rebuilt_from_recorded_transitions() {
        let recorded = [
            // One episode in three records: one onset.
            record("latency", ViolationState::Pending, 100),
            record("latency", ViolationState::Firing, 100),
            record("latency", ViolationState::Resolved, 100),
            // A second episode of the same series, and one of another.
            record("latency", ViolationState::Pending, 900),
            record("errors", ViolationState::Pending, 500),
            // Unknown is no onset; nor is what starts after `now`.
            record("saturation", ViolationState::Unknown, 300),
            record("errors", ViolationState::Pending, 5_000),
        ];
        let now = Timestamp::from_secs(1_000);
        let (log, since, open) = restore_episodes(&recorded, now);
        let onsets: Vec<(&str, i64)> = log
            .iter()
            .map(|e| (e.objective.as_str(), e.at.millis() / 1000))
            .collect();
        assert_eq!(
            onsets,
            vec![("latency", 100), ("errors", 500), ("latency", 900)]
        );
        assert_eq!(since, Timestamp::from_secs(100));
        // Open at shutdown: every series whose last record is not a resolution.
        let mut open: Vec<(String, String)> = open.into_iter().collect();
        open.sort();
        let pair = |o: &str| (o.to_string(), "api".to_string());
        assert_eq!(
            open,
            vec![pair("errors"), pair("latency"), pair("saturation")]
        );
        // An empty store: observing from now.
        let (empty, since, open) = restore_episodes(&[], now);
        assert!(empty.is_empty() && open.is_empty());
        assert_eq!(since, now);
    }
}
