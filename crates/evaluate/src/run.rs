//! One (scenario, seed, strategy) run in virtual time.
//!
//! The world advances one charter interval at a time. With `charter`, the real
//! [`Controller`] ticks first, wired as `charter demo` wires it (the simulator is
//! its metric source and actuator, an in-memory SQLite store); the other strategies
//! advance the world themselves. Then the [`Meter`] reads the world, and `static` or
//! `oracle` act on it through the same actuator the controller uses.

use crate::measure::{self, Meter, Recovery, Tick};
use crate::strategy::{OracleState, StaticScript, Strategy, concrete_action, oracle_action};
use charter_execute::Actuator;
use charter_knowledge::{SqliteStore, Store, StoreError};
use charter_model::{
    Action, ActionKind, Charter, ExecutionId, IncidentId, OutcomeClass, Timestamp,
    fmt_duration_secs,
};
use charter_orchestrator::{Controller, ControllerError, Event};
use charter_sim::{GroundTruth, Scenario, Simulator, World};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Virtual time starts where `charter demo` starts it (2026-01-01T00:00:00Z).
pub const EPOCH: Timestamp = Timestamp(1_767_225_600_000);

/// Why a run could not complete.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("opening an in-memory knowledge store")]
    Store(#[source] StoreError),
    #[error("the controller failed")]
    Controller(#[source] ControllerError),
}

/// What to keep besides the metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Every series' value at every interval (for timelines).
    pub record: bool,
    /// A readable log of what happened.
    pub log: bool,
    /// Also log every violation transition of the controller.
    pub verbose: bool,
    /// `charter`: an on-call human who approves every policy left pending this long
    /// after it was decided (`None`: nobody answers, as before).
    pub approve_after: Option<Duration>,
}

/// One action a strategy took.
#[derive(Debug, Clone, Serialize)]
pub struct ActionRecord {
    pub at_secs: f64,
    pub kind: ActionKind,
    pub component: String,
    /// The action with its parameters.
    pub action: String,
    /// The actuator applied it (a refused or failed action changed nothing).
    pub ok: bool,
    pub detail: String,
    /// `charter`: its execution verified worsened or failed, or was rolled back;
    /// `static`/`oracle`: its component was worse than in the paired `none` run one
    /// time-to-effect later (see [`judge_against_none`]).
    pub harmful: bool,
    /// Rolled back by the controller (only `charter` rolls back).
    pub reverted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<ExecutionId>,
    /// The interval at which its effect is judged.
    #[serde(skip)]
    pub due_tick: usize,
}

/// One ground-truth fault and how the run did on it.
#[derive(Debug, Clone, Serialize)]
pub struct FaultOutcome {
    pub kind: String,
    pub at_secs: f64,
    pub root_cause: String,
    pub remedy: ActionKind,
    pub recovery: Recovery,
    /// `charter`: the top hypothesis of the first diagnosis of the fault's incident.
    pub diagnosed: Option<String>,
    /// `charter`: whether that names the root cause; `None` for other strategies.
    pub root_cause_correct: Option<bool>,
}

/// One line of a run's readable log.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub at_secs: f64,
    pub text: String,
}

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub scenario: String,
    pub seed: u64,
    pub strategy: Strategy,
    pub step_secs: f64,
    /// Severity-weighted violation-seconds over the whole run.
    pub violation_seconds: f64,
    pub replica_hours: f64,
    pub faults: Vec<FaultOutcome>,
    pub actions: Vec<ActionRecord>,
    /// Incidents the controller opened (`charter` only).
    pub incidents: usize,
    /// Severity-weighted violation-seconds per `objective@component`.
    pub per_series: BTreeMap<String, f64>,
    #[serde(skip)]
    pub ticks: Vec<Tick>,
    #[serde(skip)]
    pub component_badness: BTreeMap<String, Vec<f64>>,
    /// Every series' values per interval, when recorded.
    #[serde(skip)]
    pub values: Option<BTreeMap<String, Vec<Option<f64>>>>,
    #[serde(skip)]
    pub log: Vec<LogLine>,
}

impl Run {
    /// Actions the actuator applied.
    pub fn applied(&self) -> impl Iterator<Item = &ActionRecord> {
        self.actions.iter().filter(|a| a.ok)
    }
}

/// The incident log the root-cause attribution needs.
#[derive(Debug, Clone, Default)]
pub struct IncidentLog {
    pub opened_secs: f64,
    /// The top component of each diagnosis, in order.
    pub tops: Vec<String>,
}

/// Run one scenario with one seed under one strategy.
pub async fn run_one(
    charter: Arc<Charter>,
    scenario: &Scenario,
    seed: u64,
    strategy: Strategy,
    options: RunOptions,
) -> Result<Run, EvalError> {
    let sim = Simulator::new(World::new(scenario, seed), EPOCH);
    let step = charter.interval;
    let mut meter = Meter::new(&charter, step, options.record);
    // Ground truth in time order, each with its fault's id in the world.
    let mut order: Vec<usize> = (0..scenario.faults.len()).collect();
    let all_truth = scenario.ground_truth();
    order.sort_by_key(|&i| all_truth[i].at);
    let truth: Vec<GroundTruth> = order.iter().map(|&i| all_truth[i].clone()).collect();
    let mut log: Vec<LogLine> = Vec::new();
    if options.log {
        log_faults(&truth, &mut log);
    }

    let mut controller = None;
    let mut store = None;
    if strategy == Strategy::Charter {
        let mut actuators: BTreeMap<String, Arc<dyn Actuator>> = BTreeMap::new();
        for name in charter.actuators.keys() {
            actuators.insert(name.clone(), Arc::new(sim.clone()));
        }
        let s = Arc::new(
            SqliteStore::open_in_memory()
                .await
                .map_err(EvalError::Store)?,
        );
        let dyn_store: Arc<dyn Store> = s.clone();
        controller = Some(
            Controller::new(
                charter.clone(),
                Arc::new(sim.clone()),
                actuators,
                dyn_store,
                EPOCH,
            )
            .await
            .map_err(EvalError::Controller)?,
        );
        store = Some(s);
    }

    let mut script = StaticScript::new();
    let mut oracle = OracleState::new(&truth);
    let mut actions: Vec<ActionRecord> = Vec::new();
    let mut incidents: BTreeMap<IncidentId, IncidentLog> = BTreeMap::new();
    // execution id → (harmful, reverted)
    let mut executions: BTreeMap<ExecutionId, (bool, bool)> = BTreeMap::new();
    let step_secs = step.as_secs_f64();
    let ticks_to = |d: Duration| (d.as_secs_f64() / step_secs).ceil() as usize;

    let mut t = Duration::ZERO;
    while t <= scenario.duration {
        let now = EPOCH.plus(t);
        let rel = t.as_secs_f64();
        let tick_index = meter.ticks.len();
        match controller.as_mut() {
            Some(c) => {
                if let Some(delay) = options.approve_after {
                    for p in c.pending_policies() {
                        if now.since(p.created_at) >= delay {
                            // A refusal (the guardrails changed meanwhile) is the
                            // controller's to report; the on-call only answers.
                            let _ = c.approve(p.id, "on-call", now).await;
                        }
                    }
                }
                let report = c.tick(now).await.map_err(EvalError::Controller)?;
                for timed in report.events {
                    let e = &timed.event;
                    record_event(
                        e,
                        rel,
                        tick_index,
                        &charter,
                        &mut actions,
                        &mut incidents,
                        &mut executions,
                        ticks_to,
                    );
                    if options.log && (options.verbose || !matches!(e, Event::Violation { .. })) {
                        log.push(LogLine {
                            at_secs: rel,
                            text: e.to_string(),
                        });
                    }
                }
            }
            None => sim.with_world(|w| w.advance_to(t)),
        }
        let (samples, replicas) = sim.with_world(|w| {
            (
                measure::samples_of(w, &charter, now),
                measure::total_replicas(w),
            )
        });
        meter.observe(&charter, &samples, now, rel, replicas);

        let mut todo: Vec<(Result<Action, String>, String)> = Vec::new();
        match strategy {
            Strategy::Static => {
                let firing = meter.firing();
                let failing = meter.troubled();
                for (kind, component) in script.due(&charter, &firing, now) {
                    let state = sim
                        .with_world(|w| w.describe(&component))
                        .unwrap_or_default();
                    let why = format!(
                        "static: remedies[0] of a firing violation on {component}, cooldown {}",
                        fmt_duration_secs(crate::strategy::STATIC_COOLDOWN.as_secs_f64())
                    );
                    todo.push((
                        concrete_action(&charter, kind, &component, &state, &failing, None)
                            .map_err(|e| format!("{kind} on {component}: {e}")),
                        why,
                    ));
                }
            }
            Strategy::Oracle | Strategy::OracleDetect => {
                let failing = meter.troubled();
                let detected = meter.ticks.last().is_some_and(|k| k.violated());
                let acting: Vec<bool> = sim.with_world(|w| {
                    let reports = w.fault_reports();
                    order
                        .iter()
                        .map(|&id| reports.get(id).is_some_and(|r| r.acting))
                        .collect()
                });
                for (k, g) in truth.iter().enumerate() {
                    if t < g.at || (strategy == Strategy::OracleDetect && !detected) {
                        continue;
                    }
                    for component in oracle.due(k, g, t, acting[k]) {
                        let state = sim
                            .with_world(|w| w.describe(&component))
                            .unwrap_or_default();
                        let declared = scenario
                            .services
                            .iter()
                            .find(|s| s.name == component)
                            .map(|s| s.replicas);
                        let action =
                            oracle_action(&charter, g, &component, &state, &failing, declared)
                                .map_err(|e| format!("{} on {component}: {e}", g.remedy));
                        if g.remedy == ActionKind::ScaleIn && action.is_ok() {
                            // A scale-in steps like a controller's: the next step once
                            // this one has taken effect, while the overrun lasts.
                            let tte = charter.action(ActionKind::ScaleIn).time_to_effect;
                            oracle.again(k, &component, t + tte);
                        }
                        todo.push((
                            action,
                            format!("{strategy}: the right remedy for the {} fault", g.kind),
                        ));
                    }
                }
            }
            Strategy::None | Strategy::Charter => {}
        }
        for (action, why) in todo {
            let record = match action {
                Ok(action) => {
                    let key = format!("{strategy}-{}-{}", tick_index, actions.len());
                    let result = sim.with_world(|w| w.apply(&key, &action));
                    let tte = charter.action(action.kind).time_to_effect;
                    let (ok, detail) = match result {
                        Ok(applied) => (true, applied.detail),
                        Err(e) => (false, e.to_string()),
                    };
                    ActionRecord {
                        at_secs: rel,
                        kind: action.kind,
                        component: action.component.clone(),
                        action: action.to_string(),
                        ok,
                        detail,
                        harmful: false,
                        reverted: false,
                        execution_id: None,
                        due_tick: tick_index + ticks_to(tte),
                    }
                }
                Err(reason) => {
                    if options.log {
                        log.push(LogLine {
                            at_secs: rel,
                            text: format!("{why}: not possible: {reason}"),
                        });
                    }
                    continue;
                }
            };
            if options.log {
                log.push(LogLine {
                    at_secs: rel,
                    text: format!(
                        "{why}: {} {}: {}",
                        if record.ok { "applied" } else { "FAILED" },
                        record.action,
                        record.detail
                    ),
                });
            }
            actions.push(record);
        }
        t += step;
    }
    drop(controller);
    if let Some(s) = store {
        s.close().await;
    }

    for a in &mut actions {
        if let Some((harmful, reverted)) = a.execution_id.and_then(|id| executions.get(&id)) {
            a.harmful = *harmful;
            a.reverted = *reverted;
        }
    }
    let starts: Vec<f64> = truth.iter().map(|g| g.at.as_secs_f64()).collect();
    let recoveries = measure::time_to_recover(&meter.ticks, step, &starts);
    let diagnoses = (strategy == Strategy::Charter).then(|| attribute(&truth, &incidents));
    let faults = truth
        .iter()
        .zip(recoveries)
        .enumerate()
        .map(|(i, (g, recovery))| {
            let diagnosed = diagnoses.as_ref().and_then(|d| d[i].clone());
            FaultOutcome {
                kind: g.kind.as_str().to_string(),
                at_secs: g.at.as_secs_f64(),
                root_cause: g.root_cause.clone(),
                remedy: g.remedy,
                recovery,
                root_cause_correct: diagnoses
                    .as_ref()
                    .map(|_| diagnosed.as_deref() == Some(g.root_cause.as_str())),
                diagnosed,
            }
        })
        .collect();
    log.sort_by(|a, b| a.at_secs.total_cmp(&b.at_secs));
    Ok(Run {
        scenario: scenario.name.clone(),
        seed,
        strategy,
        step_secs,
        violation_seconds: measure::violation_seconds(&meter.ticks, step),
        replica_hours: measure::replica_hours(&meter.ticks, step),
        faults,
        actions,
        incidents: incidents.len(),
        per_series: std::mem::take(&mut meter.per_series),
        ticks: std::mem::take(&mut meter.ticks),
        component_badness: std::mem::take(&mut meter.component_badness),
        values: meter.values.take(),
        log,
    })
}

fn log_faults(truth: &[GroundTruth], log: &mut Vec<LogLine>) {
    for g in truth {
        log.push(LogLine {
            at_secs: g.at.as_secs_f64(),
            text: format!(
                "FAULT {} starts at {} (right remedy: {} {})",
                g.kind, g.root_cause, g.remedy, g.root_cause
            ),
        });
        if let Some(until) = g.until {
            log.push(LogLine {
                at_secs: until.as_secs_f64(),
                text: format!("FAULT {} at {} ends by itself", g.kind, g.root_cause),
            });
        }
    }
}

/// Fold one controller event into the run's actions, incidents and executions.
#[allow(clippy::too_many_arguments)]
fn record_event(
    e: &Event,
    rel: f64,
    tick_index: usize,
    charter: &Charter,
    actions: &mut Vec<ActionRecord>,
    incidents: &mut BTreeMap<IncidentId, IncidentLog>,
    executions: &mut BTreeMap<ExecutionId, (bool, bool)>,
    ticks_to: impl Fn(Duration) -> usize,
) {
    let push =
        |actions: &mut Vec<ActionRecord>, id: ExecutionId, action: &Action, ok, detail: &str| {
            actions.push(ActionRecord {
                at_secs: rel,
                kind: action.kind,
                component: action.component.clone(),
                action: action.to_string(),
                ok,
                detail: detail.to_string(),
                harmful: false,
                reverted: false,
                execution_id: Some(id),
                due_tick: tick_index + ticks_to(charter.action(action.kind).time_to_effect),
            });
        };
    match e {
        Event::IncidentOpened { incident_id, .. } => {
            incidents.insert(
                *incident_id,
                IncidentLog {
                    opened_secs: rel,
                    tops: Vec::new(),
                },
            );
        }
        Event::Diagnosed { diagnosis } => {
            if let Some(h) = diagnosis.root() {
                incidents
                    .entry(diagnosis.incident_id)
                    .or_insert(IncidentLog {
                        opened_secs: rel,
                        tops: Vec::new(),
                    })
                    .tops
                    .push(h.component.clone());
            }
        }
        Event::StepApplied {
            execution_id,
            action,
            detail,
            ..
        } if !action.compensation => push(actions, *execution_id, action, true, detail),
        Event::StepFailed {
            execution_id,
            action,
            error,
            ..
        } if !action.compensation => push(actions, *execution_id, action, false, error),
        Event::Verified {
            execution_id,
            outcome,
            ..
        } => {
            if matches!(outcome, OutcomeClass::Worsened | OutcomeClass::Failed) {
                executions.entry(*execution_id).or_default().0 = true;
            }
        }
        Event::Compensated {
            execution_id,
            action: Some(_),
            ok: true,
            ..
        } => {
            let e = executions.entry(*execution_id).or_default();
            e.0 = true;
            e.1 = true;
        }
        _ => {}
    }
}

/// The first diagnosis's top component for each fault (`truth` sorted by start).
///
/// By target first: a fault's incident is the first one opened since the fault
/// started (and before another fault on the same target started) whose first
/// diagnosis names the fault's root cause or one of the services it affects. Else by
/// time: the first incident opened in the fault's window — from its start to the
/// next start after it, so faults that start together share one — that no other
/// fault of that window claims by target, else the window's first incident.
pub fn attribute(
    truth: &[GroundTruth],
    incidents: &BTreeMap<IncidentId, IncidentLog>,
) -> Vec<Option<String>> {
    let starts: Vec<f64> = truth.iter().map(|g| g.at.as_secs_f64()).collect();
    let names = |g: &GroundTruth, c: &str| g.root_cause == c || g.affected.iter().any(|a| a == c);
    let top = |l: &IncidentLog| l.tops.first().cloned();
    let mut logs: Vec<&IncidentLog> = incidents.values().collect();
    logs.sort_by(|a, b| a.opened_secs.total_cmp(&b.opened_secs));
    truth
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let start = starts[i];
            // By target, until another fault on the same target starts.
            let same_target_next = truth
                .iter()
                .filter(|o| o.at.as_secs_f64() > start && o.root_cause == g.root_cause)
                .map(|o| o.at.as_secs_f64())
                .fold(f64::MAX, f64::min);
            let by_target = logs.iter().find(|l| {
                l.opened_secs >= start
                    && l.opened_secs < same_target_next
                    && top(l).is_some_and(|c| names(g, &c))
            });
            if let Some(l) = by_target {
                return top(l);
            }
            let end = measure::window_end(&starts, start, f64::MAX);
            let window: Vec<&&IncidentLog> = logs
                .iter()
                .filter(|l| l.opened_secs >= start && l.opened_secs < end)
                .collect();
            let claimed_by_other = |l: &IncidentLog| {
                top(l).is_some_and(|c| {
                    truth
                        .iter()
                        .enumerate()
                        .any(|(j, o)| j != i && starts[j] == start && names(o, &c))
                })
            };
            window
                .iter()
                .find(|l| !claimed_by_other(l))
                .or(window.first())
                .and_then(|l| top(l))
        })
        .collect()
}

/// Judge the actions of a `static` or `oracle` run against the paired `none` run (same
/// scenario and seed): an action is harmful when, one time-to-effect after it, its
/// component's severity-weighted firing violations are worse than without any action.
/// Neither strategy verifies or rolls back, so none is reverted.
pub fn judge_against_none(run: &mut Run, none: &Run) {
    if matches!(run.strategy, Strategy::Charter | Strategy::None) {
        return;
    }
    let at = |r: &Run, component: &str, tick: usize| {
        r.component_badness
            .get(component)
            .and_then(|s| s.get(tick.min(s.len().saturating_sub(1))).copied())
            .unwrap_or(0.0)
    };
    let harmful: Vec<bool> = run
        .actions
        .iter()
        .map(|a| a.ok && at(run, &a.component, a.due_tick) > at(none, &a.component, a.due_tick))
        .collect();
    for (a, h) in run.actions.iter_mut().zip(harmful) {
        a.harmful = h;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_sim::{Fault, FaultKind};

    fn truth(faults: &[(FaultKind, &str, u64)]) -> Vec<GroundTruth> {
        let mut s = Scenario::default_shop("t", Duration::from_secs(1800));
        for &(kind, target, at) in faults {
            s = s.with_fault(Fault::new(kind, target, Duration::from_secs(at)));
        }
        let mut t = s.ground_truth();
        t.sort_by_key(|g| g.at);
        t
    }

    fn incidents(list: &[(f64, &str)]) -> BTreeMap<IncidentId, IncidentLog> {
        list.iter()
            .enumerate()
            .map(|(i, &(opened_secs, top))| {
                (
                    IncidentId(i as u64 + 1),
                    IncidentLog {
                        opened_secs,
                        tops: vec![top.to_string()],
                    },
                )
            })
            .collect()
    }

    #[test]
    fn faults_that_start_together_are_each_attributed_their_incident() {
        let t = truth(&[
            (FaultKind::BadDeploy, "auth", 300),
            (FaultKind::CachePoisoning, "cache", 300),
        ]);
        let got = attribute(&t, &incidents(&[(330.0, "cache"), (345.0, "auth")]));
        assert_eq!(got, vec![Some("auth".into()), Some("cache".into())]);
    }

    #[test]
    fn an_incident_opened_after_the_next_fault_started_is_attributed_by_target() {
        let t = truth(&[
            (FaultKind::CachePoisoning, "cache", 300),
            (FaultKind::BadDeploy, "auth", 340),
        ]);
        let got = attribute(&t, &incidents(&[(350.0, "cache"), (360.0, "auth")]));
        assert_eq!(got, vec![Some("cache".into()), Some("auth".into())]);
    }
}
