//! Monitor: what the controller knows of the objectives — the source, the violation
//! detector, the history window, the episode log, recent changes, the source's health,
//! the Alertmanager cursor and the cursor of changes posted to the API. [`Observer::observe`] turns a cycle's samples and
//! alerts into the violation transitions the incident book groups.

use crate::event::{Emitter, Event};
use charter_analyze::{Episode, EpisodeLog, History, RankOptions};
use charter_knowledge::{AuditKind, Store, StoreError};
use charter_model::config::defaults;
use charter_model::{
    AlertStatus, Change, Charter, Sample, SourceSpec, Timestamp, Violation, ViolationState,
};
use charter_monitor::detect::{AlertEvidence, ClaimVerdict, Transition};
use charter_monitor::{Detector, MetricSource, Observation};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// How much history is read back from the source when the loop starts.
const BACKFILL: Duration = Duration::from_secs(30 * 60);
/// How long recent changes are kept for diagnosis.
const CHANGE_HORIZON: Duration = Duration::from_secs(3600);
/// Most violation episodes kept for the frequency and burst tests.
const MAX_EPISODES: usize = 100_000;

/// The monitor's state: everything the controller learns from the source and the
/// alert inbox, and nothing it decides.
pub(crate) struct Observer {
    source: Arc<dyn MetricSource>,
    pub detector: Detector,
    pub history: History,
    /// Onsets of past violation episodes (frequency and burst tests).
    pub episodes: EpisodeLog,
    /// Series whose episode was open when an earlier process stopped, as
    /// `(objective, component)`: the fresh detector sees them start again on the first
    /// reading, which is no new episode (it would count each restart as a burst).
    reopened: HashSet<(String, String)>,
    /// When this controller started observing.
    pub started: Timestamp,
    /// Changes (deploys, restarts, …) of the last [`CHANGE_HORIZON`].
    pub changes: Vec<Change>,
    consecutive_errors: u32,
    blind_after: u32,
    /// Whether the source has failed `blind_after` reads in a row.
    pub blind: bool,
    /// Store sequence of the last Alertmanager alert taken into account.
    alerts_seen: u64,
    /// Store sequence of the last change posted to `/api/v1/changes` taken in.
    changes_seen: u64,
    /// Whether the history window was backfilled from the source.
    backfilled: bool,
}

impl Observer {
    /// The observer of a controller starting at `now`: the episode log of the
    /// frequency and burst tests outlives the process, so it is rebuilt from the
    /// violations the store recorded; alerts received before this start are history,
    /// not news.
    pub async fn start(
        charter: &Charter,
        source: Arc<dyn MetricSource>,
        store: &dyn Store,
        analysis: &RankOptions,
        now: Timestamp,
    ) -> Result<Self, StoreError> {
        let alerts_seen = store.recent_alerts(1).await?.first().map_or(0, |a| a.seq);
        let blind_after = match &charter.source {
            SourceSpec::Prometheus(p) => p.blind_after,
            SourceSpec::Simulator { .. } => defaults::BLIND_AFTER,
        };
        let recorded = store
            .violation_history(now.minus(analysis.frequency.baseline + analysis.frequency.recent))
            .await?;
        let (episodes, started, reopened) = restore_episodes(&recorded, now);
        // Posted changes are evidence for an hour whoever was running: those of the
        // last hour are taken in again after a restart (not audited twice).
        let posted = store.changes_since(0).await?;
        let changes_seen = posted.iter().map(|r| r.seq).max().unwrap_or(0);
        let horizon = now.minus(CHANGE_HORIZON);
        let mut changes: Vec<Change> = posted
            .into_iter()
            .map(|r| r.change)
            .filter(|c| c.at >= horizon)
            .collect();
        changes.sort_by_key(|c| c.at);
        Ok(Observer {
            source,
            detector: Detector::new(),
            history: History::new(Duration::from_secs(3600).max(charter.interval * 20)),
            episodes,
            reopened,
            started,
            changes,
            consecutive_errors: 0,
            blind_after,
            blind: false,
            alerts_seen,
            changes_seen,
            backfilled: false,
        })
    }

    /// Analyze needs history: on the first cycle, backfill it from the source (range
    /// queries for Prometheus; nothing for sources without history).
    pub async fn backfill_once(&mut self, charter: &Charter, now: Timestamp) {
        if self.backfilled {
            return;
        }
        self.backfilled = true;
        let start = now.minus(BACKFILL);
        let step = charter.interval.max(BACKFILL / 10_000);
        match self.source.history(charter, start, now, step).await {
            Ok(mut samples) => {
                samples.sort_by_key(|s| s.at);
                tracing::info!(points = samples.len(), "history backfilled");
                let topology = &charter.topology;
                self.history
                    .record_where(&samples, now, |c| topology.contains(c));
            }
            Err(e) => {
                tracing::warn!(error = %e, "history backfill failed; starting with an empty window")
            }
        }
    }

    /// Read the source once. A failed read counts toward blindness (after
    /// `blind_after` in a row the monitor is blind); the first good read ends it.
    /// Returns the observation, if any, and the problem to report on `/readyz`; only
    /// writing an event's audit row can fail.
    pub async fn read(
        &mut self,
        charter: &Charter,
        now: Timestamp,
        emit: &mut Emitter,
    ) -> Result<(Option<Observation>, String), StoreError> {
        match self.source.observe(charter, now).await {
            Ok(obs) => {
                if self.blind {
                    emit.emit(Event::SourceRecovered).await?;
                }
                self.consecutive_errors = 0;
                self.blind = false;
                let problem = obs.problems.first().cloned().unwrap_or_default();
                Ok((Some(obs), problem))
            }
            Err(e) => {
                self.consecutive_errors += 1;
                emit.emit(Event::SourceError {
                    error: e.to_string(),
                    consecutive: self.consecutive_errors,
                })
                .await?;
                if self.consecutive_errors >= self.blind_after && !self.blind {
                    self.blind = true;
                    emit.emit(Event::Blind {
                        consecutive: self.consecutive_errors,
                    })
                    .await?;
                }
                Ok((None, e.to_string()))
            }
        }
    }

    /// Take a cycle's samples, changes and new alerts: the history window, the
    /// detector and the episode log move on, and the cycle's violation transitions come
    /// back dependencies first (a caller's violation can then join the incident its
    /// failing dependency opened in the same cycle). Changes are audited.
    pub async fn observe(
        &mut self,
        charter: &Charter,
        store: &dyn Store,
        samples: &[Sample],
        changes: Vec<Change>,
        analysis: &RankOptions,
        now: Timestamp,
    ) -> Result<Vec<Transition>, StoreError> {
        // Targets come only from the charter: samples of undeclared components are
        // neither kept nor judged (history and detector check once per series).
        let topology = &charter.topology;
        self.history
            .record_where(samples, now, |c| topology.contains(c));
        for c in &changes {
            store
                .audit(
                    now,
                    AuditKind::Change.as_str(),
                    &serde_json::to_value(c).unwrap_or_default(),
                )
                .await?;
        }
        self.changes.extend(changes);
        let horizon = now.minus(CHANGE_HORIZON);
        self.changes.retain(|c| c.at >= horizon);

        // Alertmanager's claims first, so that the query of this cycle judges them: an
        // alert opens or keeps a violation only when the reading agrees.
        let mut transitions = Vec::new();
        for a in store.alerts_since(self.alerts_seen).await? {
            self.alerts_seen = self.alerts_seen.max(a.seq);
            let (Some(obj), Some(comp)) = (a.objective.as_deref(), a.component.as_deref()) else {
                continue;
            };
            // Mapping is re-checked here: only declared objectives and components count.
            let Some(objective) = charter.objective(obj) else {
                continue;
            };
            if !objective.components.iter().any(|c| c == comp) {
                continue;
            }
            let evidence = AlertEvidence {
                firing: a.status == AlertStatus::Firing,
                severity: a.severity,
                starts_at: a.starts_at,
                received_at: a.received_at,
            };
            transitions.extend(
                self.detector
                    .observe_alert(charter, objective, comp, evidence, now),
            );
        }
        transitions.extend(self.detector.update(charter, samples, now));
        transitions.extend(self.detector.expire_claims(charter, now));
        for verdict in self.detector.take_verdicts() {
            record_verdict(store, &verdict, now).await?;
        }
        transitions.sort_by_cached_key(|t| topology.height(&t.violation.component));
        self.log_episodes(&transitions, analysis, now);
        Ok(transitions)
    }

    /// The cycle's new episodes go into the log first, together: the burst test of a
    /// violation then sees every onset of the cycle, and the log's bursts are found
    /// once per cycle, not once per violation.
    fn log_episodes(&mut self, transitions: &[Transition], analysis: &RankOptions, now: Timestamp) {
        let mut started = 0;
        for t in transitions {
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
            let keep = analysis.frequency.baseline + analysis.frequency.recent;
            self.episodes.trim(now.minus(keep), MAX_EPISODES);
        }
    }

    /// The changes posted to `/api/v1/changes` (stored by the API) since the last call,
    /// in the order they were stored.
    pub async fn take_posted_changes(
        &mut self,
        store: &dyn Store,
    ) -> Result<Vec<Change>, StoreError> {
        let posted = store.changes_since(self.changes_seen).await?;
        if let Some(last) = posted.last() {
            self.changes_seen = self.changes_seen.max(last.seq);
            tracing::info!(
                count = posted.len(),
                "posted changes taken in for diagnosis"
            );
        }
        Ok(posted.into_iter().map(|r| r.change).collect())
    }

    /// The first reading after a restart is recorded: only it re-opens the episodes
    /// that were open at shutdown.
    pub fn first_reading_recorded(&mut self) {
        self.reopened.clear();
    }

    /// Drop the stored alerts and posted changes received longer ago than
    /// `alerts.retention` (its default without an `alerts:` block). The cursors stay
    /// valid: the store never reuses a sequence number, and retention is at least
    /// `alerts.expire_after` and an hour (the change horizon), so nothing pruned still
    /// counts.
    pub async fn prune_alerts(
        &self,
        charter: &Charter,
        store: &dyn Store,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let retention = charter
            .alerts
            .as_ref()
            .map_or(defaults::ALERTS_RETENTION, |a| a.retention);
        let before = now.minus(retention);
        let rows = store.prune_alerts(before).await?;
        if rows > 0 {
            tracing::info!(rows, before = %before, "alerts pruned to alerts.retention");
        }
        let rows = store.prune_changes(before).await?;
        if rows > 0 {
            tracing::info!(rows, before = %before, "posted changes pruned to alerts.retention");
        }
        Ok(())
    }

    /// Components with an Unknown objective: new actions on them are frozen.
    pub fn frozen(&self) -> HashSet<String> {
        self.detector
            .unknown()
            .map(|(_, c)| c.to_string())
            .collect()
    }
}

/// Leave a claim that ended without becoming evidence in the audit log and the log: an
/// unconfirmed alert is something an operator may want to look at (a rule that
/// disagrees with its objective, or a forged alert); it never reaches the incidents.
async fn record_verdict(
    store: &dyn Store,
    verdict: &ClaimVerdict,
    now: Timestamp,
) -> Result<(), StoreError> {
    let (kind, body) = match verdict {
        ClaimVerdict::Unconfirmed {
            objective,
            component,
            severity,
            starts_at,
            received_at,
            value,
        } => {
            tracing::warn!(
                objective = %objective,
                component = %component,
                severity = ?severity,
                value,
                received_at = %received_at,
                "alert unconfirmed: the objective's query reads {value} on {objective}@{component}, \
                 which does not violate it; the alert is not acted on"
            );
            (
                AuditKind::AlertUnconfirmed,
                serde_json::json!({
                    "objective": objective,
                    "component": component,
                    "severity": severity,
                    "starts_at": starts_at,
                    "received_at": received_at,
                    "value": value,
                }),
            )
        }
        ClaimVerdict::Expired {
            objective,
            component,
            starts_at,
            received_at,
            confirmed,
        } => {
            tracing::info!(
                objective = %objective,
                component = %component,
                received_at = %received_at,
                confirmed,
                "alert expired: not re-sent within alerts.expire_after"
            );
            (
                AuditKind::AlertExpired,
                serde_json::json!({
                    "objective": objective,
                    "component": component,
                    "starts_at": starts_at,
                    "received_at": received_at,
                    "confirmed": confirmed,
                }),
            )
        }
    };
    store.audit(now, kind.as_str(), &body).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use charter_testkit::violation;

    fn record(objective: &str, state: ViolationState, since: i64) -> Violation {
        violation(objective, "api")
            .state(state)
            .since(Timestamp::from_secs(since))
            .firing_since(None)
            .build()
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
