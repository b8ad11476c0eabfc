//! The controller: one `tick(now)` runs one cycle of the loop.
//!
//! Level-triggered: every tick reads the current values of all objectives and
//! decides from them. Executions are state machines whose deadlines are compared
//! with `now`, so nothing here sleeps and nothing reads the wall clock.
//!
//! [`Controller`] is a coordinator; its parts each own their state:
//!
//! - [`observer`]: Monitor — the source, the detector, the history window, the
//!   episode log, recent changes, blindness and the alert cursor.
//! - [`incidents`]: the incident book — open incidents, grouping, diagnosis,
//!   resolution; pure (the coordinator writes what it changed).
//! - [`planning`]: Plan — `charter_plan::decide` per incident and its decision
//!   carried out.
//! - [`executor`]: Execute — executions moved step by step through the journaled
//!   apply ([`crate::journal`]), verification, compensation, outcomes.
//! - [`control`]: what humans decide (pause, resume, approve, reject) and the
//!   guardrail state persisted for a restart.

mod control;
mod executor;
mod incidents;
mod observer;
mod planning;

pub use control::{ApprovalError, pending_then_recent};

use crate::event::{Emitter, Event, Timed};
use crate::health::{Health, LoopMetrics, StateSnapshot};
use crate::journal::Actuators;
use crate::lease::Fence;
use charter_analyze::RankOptions;
use charter_execute::Actuator;
use charter_knowledge::{AuditKind, PauseRecord, Store, StoreError};
use charter_model::{ApprovalState, ChangeSource, Charter, IncidentState, Timestamp};
use charter_model::{IncidentId, PolicyId};
use charter_monitor::MetricSource;
use charter_plan::{GuardState, KnowledgeView};
use executor::Executor;
use incidents::IncidentBook;
use observer::Observer;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

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

/// The MAPE-K loop over one charter.
pub struct Controller {
    charter: Arc<Charter>,
    actuators: BTreeMap<String, Arc<dyn Actuator>>,
    store: Arc<dyn Store>,
    observer: Observer,
    book: IncidentBook,
    executor: Executor,
    zones: BTreeMap<String, String>,
    analysis: RankOptions,
    guard: GuardState,
    knowledge: KnowledgeView,
    next_policy: PolicyId,
    /// When history was last pruned to the charter's retention.
    pruned_at: Option<Timestamp>,
    health: Arc<Health>,
    metrics: LoopMetrics,
    /// The kill switch as last set by a human (restored from the store).
    pause: Option<PauseRecord>,
    /// With several replicas: the lease this leader acts under.
    fence: Option<Arc<Fence>>,
    /// Startup recovery waits for the first good read (nothing is planned or moved
    /// until it ran).
    recovery_waits: bool,
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
        // What was learned, as the planner sees it: the same view `charter knowledge`
        // reports.
        let knowledge = charter_knowledge::insights::view(
            &store.outcomes().await?,
            &store.priors().await?,
            &charter.learning,
        );
        // Startup recovery (invariant 3): settle what an earlier process left unfinished
        // before anything new is planned. Actions it finds count toward the guardrails
        // read next; its quarantine is persisted, so the guardrail state restored below
        // includes it. It compensates only with sight: when there is something to settle
        // and the source cannot be read, it waits for the first good read (unless
        // `guardrails.recover_while_blind`), and nothing is planned until it ran.
        let unsettled = !store.unfinished_executions().await?.is_empty()
            || !store.unfinished_journal().await?.is_empty();
        // (In shadow mode recovery only reports, so it has nothing to wait for.)
        let recovery_waits = unsettled
            && charter.mode != charter_model::Mode::Shadow
            && !charter.guardrails.recover_while_blind
            && match source.observe(&charter, now).await {
                Ok(_) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "startup recovery waits for sight: the metric source cannot be read; nothing is compensated or planned until it can");
                    true
                }
            };
        if !recovery_waits {
            run_recovery(&charter, &actuators, store.as_ref(), now, epoch).await?;
        }
        let recent_actions = store
            .actions_as_of(
                now,
                now.minus(Duration::from_secs(3600).max(charter.guardrails.oscillation_window)),
            )
            .await?;
        let analysis = RankOptions::default();
        let observer = Observer::start(&charter, source, store.as_ref(), &analysis, now).await?;
        let zones = charter
            .components
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.zone.clone()?)))
            .collect();
        let mut controller = Controller {
            observer,
            book: IncidentBook::new(ids.incident),
            executor: Executor::new(ids.execution),
            zones,
            analysis,
            charter,
            actuators,
            store,
            guard: GuardState {
                recent_actions,
                ..Default::default()
            },
            knowledge,
            next_policy: ids.policy,
            pruned_at: None,
            health: Arc::new(Health::default()),
            metrics: LoopMetrics::unregistered(),
            pause: None,
            fence,
            recovery_waits,
        };
        controller.restore_guard(now).await?;
        if !controller.recovery_waits {
            controller.close_left_open(now).await?;
        }
        if epoch > 0 {
            controller
                .store
                .audit(
                    now,
                    AuditKind::Leader.as_str(),
                    &serde_json::json!({ "epoch": epoch }),
                )
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

    /// Run `charter` from the next cycle on (a reload, `crate::daemon::reload`): open
    /// incidents, pending policies, executions, guardrail state and what was learned
    /// stay. The caller checked that the sections wired at start (source, store,
    /// actuators, …) are unchanged. Refused, and nothing changes, when the new charter
    /// no longer declares an objective or component that an open violation or an
    /// execution in progress is about: those must end first.
    pub fn reload(&mut self, charter: Arc<Charter>) -> Result<(), crate::daemon::ReloadRefused> {
        let mut orphans = std::collections::BTreeSet::new();
        let known = |objective: &str, component: &str| {
            charter.objective(objective).is_some() && charter.component(component).is_some()
        };
        for v in self.observer.detector.active() {
            if !known(&v.objective, &v.component) {
                orphans.insert(format!("open violation {}@{}", v.objective, v.component));
            }
        }
        for e in &self.executor.executions {
            for t in &e.targets {
                if !known(&t.objective, &t.component) {
                    orphans.insert(format!(
                        "execution {} verifying {}@{}",
                        e.id, t.objective, t.component
                    ));
                }
            }
            for s in &e.steps {
                if charter.component(&s.action.component).is_none() {
                    orphans.insert(format!(
                        "execution {} acting on {}",
                        e.id, s.action.component
                    ));
                }
            }
        }
        if let Some(a) = charter
            .components
            .iter()
            .filter_map(|c| c.actuator.as_deref())
            .find(|a| !self.actuators.contains_key(*a))
        {
            return Err(crate::daemon::ReloadRefused(format!(
                "actuator `{a}` was not started with the daemon; restart to add actuators"
            )));
        }
        if !orphans.is_empty() {
            return Err(crate::daemon::ReloadRefused(format!(
                "the new charter no longer declares what these are about: {}; let them end \
                 (or keep those objectives and components) and reload again",
                orphans.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        self.zones = charter
            .components
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.zone.clone()?)))
            .collect();
        // Components may have come or gone: the detector checks each series again.
        self.observer.detector.recheck_components();
        self.charter = charter;
        Ok(())
    }

    /// Whether the monitor is blind.
    pub fn is_blind(&self) -> bool {
        self.guard.blind
    }

    /// The charter's actuators, by component.
    fn actuators(&self) -> Actuators<'_> {
        Actuators {
            charter: &self.charter,
            by_name: &self.actuators,
        }
    }

    /// Run one cycle at `now`: observe → group → diagnose → resolve and plan →
    /// advance executions → publish.
    pub async fn tick(&mut self, now: Timestamp) -> Result<TickReport, ControllerError> {
        check_lease(self.fence.as_deref(), "start a cycle")?;
        if self.fence.is_some() {
            self.refresh_pause().await?;
        }
        let started = std::time::Instant::now();
        let mut stages = Stages::default();
        let mut emit = Emitter::new(self.store.clone(), self.metrics.clone(), now);

        // Monitor.
        self.observer.backfill_once(&self.charter, now).await;
        let (observation, problem) = self.observer.read(&self.charter, now, &mut emit).await?;
        self.guard.blind = self.observer.blind;
        stages.read = started.elapsed();
        let fresh = observation.is_some();
        if self.recovery_waits {
            if !fresh {
                // Still blind: the earlier run's executions stay as they are.
                self.publish(now, started, &problem);
                return Ok(TickReport {
                    events: emit.into_events(),
                    blind: self.guard.blind,
                    stages,
                    diagnoses: 0,
                    windows: 0,
                });
            }
            self.recover_with_sight(now).await?;
        }
        let t = std::time::Instant::now();
        if let Some(obs) = observation {
            self.observe(obs, now, &mut emit).await?;
        }
        stages.monitor = t.elapsed();

        // Analyze.
        let t = std::time::Instant::now();
        let mut work = (0, 0);
        if fresh {
            work = self.diagnose(now, &mut emit).await?;
        }
        stages.analyze = t.elapsed();

        // Plan. Time only moves forward for decisions: an action dated after `now`
        // (the clock stepped back) counts as taken now, so a cooldown or a window
        // never holds longer than its own length.
        // (The rule the store applies when it loads them: `GuardStore::actions_as_of`.)
        charter_knowledge::records::clamp_to_now(&mut self.guard.recent_actions, now);
        let t = std::time::Instant::now();
        self.resolve_incidents(now, &mut emit).await?;
        self.plan(now, &mut emit).await?;
        stages.plan = t.elapsed();

        // Execute.
        let t = std::time::Instant::now();
        self.advance_executions(now, fresh, &mut emit).await?;
        self.prune(now).await?;
        stages.execute = t.elapsed();

        self.publish(now, started, &problem);
        Ok(TickReport {
            events: emit.into_events(),
            blind: self.guard.blind,
            stages,
            diagnoses: work.0,
            windows: work.1,
        })
    }

    /// A cycle's observation: transitions from the observer, grouped into incidents by
    /// the book, and the cycle's writes — each changed incident once, then every
    /// transition in one transaction.
    async fn observe(
        &mut self,
        obs: charter_monitor::Observation,
        now: Timestamp,
        emit: &mut Emitter,
    ) -> Result<(), ControllerError> {
        // The source's changes, and those deploy tools posted since the last cycle.
        let mut changes = obs.changes;
        changes.extend(
            self.observer
                .take_posted_changes(self.store.as_ref())
                .await?,
        );
        let transitions = self
            .observer
            .observe(
                &self.charter,
                self.store.as_ref(),
                &obs.samples,
                own_changes(changes, &self.guard.recent_actions, self.charter.interval),
                &self.analysis,
                now,
            )
            .await?;
        let frozen = self.observer.frozen();
        let mut gone: Vec<&String> = frozen.difference(&self.guard.frozen).collect();
        gone.sort();
        for c in gone {
            let mut objectives: Vec<String> = self
                .observer
                .detector
                .unknown()
                .filter(|(_, x)| *x == c.as_str())
                .map(|(o, _)| o.to_string())
                .collect();
            objectives.sort();
            emit.emit(Event::Unobserved {
                component: c.clone(),
                objectives,
            })
            .await?;
        }
        let mut back: Vec<&String> = self.guard.frozen.difference(&frozen).collect();
        back.sort();
        for c in back {
            emit.emit(Event::ObservedAgain {
                component: c.clone(),
            })
            .await?;
        }
        self.guard.frozen = frozen;
        let grouped = self.book.group(
            transitions,
            &self.charter,
            &self.observer.episodes,
            &self.analysis,
            now,
        );
        emit.emit_all(grouped.events).await?;
        for id in &grouped.touched {
            if let Some(rt) = self.book.incidents.get(id) {
                self.store.save_incident(&rt.incident).await?;
            }
        }
        self.store.record_violations(&grouped.records).await?;
        self.observer.first_reading_recorded();
        self.book.follow_members(&self.observer.detector);
        Ok(())
    }

    /// Diagnose every incident whose evidence changed; returns how many diagnoses ran
    /// and over how many metric windows. A diagnosis that changes the root cause is
    /// saved with its incident.
    async fn diagnose(
        &mut self,
        now: Timestamp,
        emit: &mut Emitter,
    ) -> Result<(usize, usize), ControllerError> {
        let (diagnoses, windows, changed) = self.book.diagnose(
            &self.charter,
            &mut self.observer,
            &self.zones,
            &self.analysis,
            now,
        );
        for (d, incident) in changed {
            self.store.save_diagnosis(&d).await?;
            self.store.save_incident(&incident).await?;
            emit.emit(Event::Diagnosed { diagnosis: d }).await?;
        }
        Ok((diagnoses, windows))
    }

    /// Close the incidents that cleared; a policy still waiting for approval expires.
    async fn resolve_incidents(
        &mut self,
        now: Timestamp,
        emit: &mut Emitter,
    ) -> Result<(), ControllerError> {
        let running: Vec<IncidentId> = self
            .executor
            .executions
            .iter()
            .map(|e| e.incident_id)
            .collect();
        for rt in self.book.resolve(&running, now) {
            self.store.save_incident(&rt.incident).await?;
            if let Some(mut p) = rt.pending {
                p.approval = ApprovalState::Expired;
                self.store.save_policy(&p).await?;
            }
            emit.emit(Event::IncidentResolved {
                incident_id: rt.incident.id,
                after_secs: now.since(rt.incident.opened_at).as_secs_f64(),
            })
            .await?;
        }
        Ok(())
    }

    /// The startup recovery that waited for sight, now that the source reads: then the
    /// guardrail state it changes (actions found applied, quarantine) is read again.
    async fn recover_with_sight(&mut self, now: Timestamp) -> Result<(), ControllerError> {
        let epoch = self.fence.as_ref().map_or(0, |f| f.epoch());
        check_lease(self.fence.as_deref(), "run startup recovery")?;
        tracing::info!("the metric source reads again: startup recovery runs now");
        run_recovery(
            &self.charter,
            &self.actuators,
            self.store.as_ref(),
            now,
            epoch,
        )
        .await?;
        self.recovery_waits = false;
        let keep = Duration::from_secs(3600).max(self.charter.guardrails.oscillation_window);
        self.guard.recent_actions = self.store.actions_as_of(now, now.minus(keep)).await?;
        self.guard.quarantined = self.store.quarantined().await?.into_iter().collect();
        self.close_left_open(now).await?;
        Ok(())
    }

    /// Incidents an earlier run left open (its book died with it) are closed with a
    /// reason, so that none stays `remediating` for ever: their executions were
    /// settled by startup recovery just before, and a fault still there opens a new
    /// incident at the first reading. Escalated ones stay escalated: an operator must
    /// act on them.
    async fn close_left_open(&mut self, now: Timestamp) -> Result<(), ControllerError> {
        for mut incident in self.store.open_incidents().await? {
            if incident.state == IncidentState::Escalated {
                continue;
            }
            let was = incident.state;
            incident.state = IncidentState::Closed;
            self.store.save_incident(&incident).await?;
            let reason = format!(
                "left {} by an earlier run; its executions were settled by startup recovery, and a fault still present opens a new incident",
                serde_json::to_value(was)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            );
            tracing::info!(incident_id = incident.id.get(), reason = %reason, "incident closed at start");
            self.store
                .audit(
                    now,
                    AuditKind::Closed.as_str(),
                    &serde_json::json!({"incident": incident.id, "reason": reason}),
                )
                .await?;
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
        self.observer
            .prune_alerts(&self.charter, self.store.as_ref(), now)
            .await?;
        Ok(())
    }

    /// Escalate an open incident: an operator must act.
    async fn escalate(
        &mut self,
        id: IncidentId,
        reason: &str,
        emit: &mut Emitter,
    ) -> Result<(), ControllerError> {
        let Some(incident) = self.book.escalate(id) else {
            return Ok(());
        };
        self.store.save_incident(incident).await?;
        self.metrics.escalations.inc();
        emit.emit(Event::IncidentEscalated {
            incident_id: id,
            reason: reason.to_string(),
        })
        .await?;
        Ok(())
    }

    /// The end of a cycle: metrics, and the state `/readyz` and the API show.
    fn publish(&self, now: Timestamp, started: std::time::Instant, problem: &str) {
        let detector = &self.observer.detector;
        self.metrics.ticks.inc();
        self.metrics.blind.set(i64::from(self.guard.blind));
        self.metrics
            .violations_firing
            .set(detector.active().filter(|v| v.is_firing()).count() as i64);
        self.metrics
            .incidents_open
            .set(self.book.incidents.len() as i64);
        let pending = self.pending_policies();
        self.metrics.pending_approvals.set(pending.len() as i64);
        self.metrics.paused.set(i64::from(self.guard.paused));
        self.metrics
            .quarantined_components
            .set(self.guard.quarantined.len() as i64);
        self.metrics
            .tick_seconds
            .observe(started.elapsed().as_secs_f64());
        self.health.publish(StateSnapshot {
            at: Some(now),
            blind: self.guard.blind,
            paused: self.guard.paused,
            violations: detector.active().cloned().collect(),
            incidents: self
                .book
                .incidents
                .values()
                .map(|i| i.incident.clone())
                .collect(),
            pending_policies: pending,
            executions: self.executor.executions.iter().map(|e| e.id).collect(),
            changes: self.observer.changes.clone(),
        });
        self.health
            .tick_done(now.millis(), self.guard.blind, problem);
    }
}

/// Startup recovery ([`crate::recovery::recover_as`]), its events logged.
async fn run_recovery(
    charter: &Charter,
    actuators: &BTreeMap<String, Arc<dyn Actuator>>,
    store: &dyn Store,
    now: Timestamp,
    epoch: u64,
) -> Result<(), ControllerError> {
    let recovery = crate::recovery::recover_as(charter, actuators, store, now, epoch).await?;
    for e in &recovery.events {
        tracing::info!(target: "charter::event", "{}", e.event);
    }
    Ok(())
}

/// With a lease: fail unless it still lets this replica act.
fn check_lease(fence: Option<&Fence>, what: &str) -> Result<(), ControllerError> {
    match fence {
        Some(f) if !f.may_act() => Err(ControllerError::NotLeader(format!(
            "the lease of epoch {} may have ended; not going to {what}",
            f.epoch()
        ))),
        _ => Ok(()),
    }
}

/// Changes a source saw on components Charter itself acted on close to when the
/// change is dated (within four intervals: a scrape and a rule evaluation may come
/// between the action and the read that sees it) are Charter's own: a source that
/// reads deploys from metrics (a revision, a generation) cannot tell who deployed,
/// and a diagnosis must never take Charter's rollback or scale-out for a bad change.
/// A deploy tool that posts its change (`api`, `argocd`, `flux`) knows it made it, so
/// its changes are left as they are.
fn own_changes(
    mut changes: Vec<charter_model::Change>,
    recent_actions: &[(String, charter_model::ActionKind, Timestamp)],
    interval: Duration,
) -> Vec<charter_model::Change> {
    let near = interval * 4;
    for ch in &mut changes {
        if ch.by == "charter"
            || matches!(
                ch.source,
                ChangeSource::Api | ChangeSource::Argocd | ChangeSource::Flux
            )
        {
            continue;
        }
        if let Some((_, kind, _)) = recent_actions
            .iter()
            .rev()
            .find(|(c, _, t)| *c == ch.component && *t <= ch.at.plus(near) && ch.at <= t.plus(near))
        {
            ch.description = format!(
                "{} (Charter's own {kind}, seen by {})",
                ch.description, ch.by
            );
            ch.by = "charter".to_string();
        }
    }
    changes
}

#[cfg(test)]
mod own_change_tests {
    use super::*;
    use charter_model::{ActionKind, Change, ChangeKind, ChangeSource};

    fn deploy(component: &str, at: i64) -> Change {
        Change {
            at: Timestamp::from_secs(at),
            component: component.into(),
            kind: ChangeKind::Deploy,
            description: "deployed v1 (was v2)".into(),
            by: "prometheus".into(),
            source: charter_model::ChangeSource::Prometheus,
        }
    }

    #[test]
    fn a_deploy_seen_right_after_charters_own_action_there_is_charters() {
        let recent = [(
            "api".to_string(),
            ActionKind::Rollback,
            Timestamp::from_secs(100),
        )];
        let out = own_changes(
            vec![deploy("api", 107), deploy("db", 107), deploy("api", 400)],
            &recent,
            Duration::from_secs(15),
        );
        assert_eq!(out[0].by, "charter");
        assert_eq!(
            out[0].description,
            "deployed v1 (was v2) (Charter's own rollback, seen by prometheus)"
        );
        // Another component, or long after: somebody else's.
        assert_eq!(out[1].by, "prometheus");
        assert_eq!(out[2].by, "prometheus");
    }

    #[test]
    fn a_deploy_a_deploy_tool_posted_stays_the_tools_even_right_after_charters_action() {
        let recent = [(
            "api".to_string(),
            ActionKind::ScaleOut,
            Timestamp::from_secs(100),
        )];
        let posted = |source| Change {
            by: "argocd".into(),
            source,
            ..deploy("api", 107)
        };
        let out = own_changes(
            vec![
                posted(ChangeSource::Argocd),
                posted(ChangeSource::Kubernetes),
            ],
            &recent,
            Duration::from_secs(15),
        );
        // The tool knows who deployed: still a suspect.
        assert_eq!(out[0].by, "argocd");
        assert_eq!(out[0].description, "deployed v1 (was v2)");
        // A watch that only sees the rollout cannot tell: taken for Charter's.
        assert_eq!(out[1].by, "charter");
    }
}
