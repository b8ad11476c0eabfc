//! Issue 16's execution items, on a controller whose source and actuator are dials
//! the test turns (one component, one objective, exact values):
//!
//! - item 2: while the monitor is blind, no step of a running policy is sent; it
//!   waits (announced once), and goes on when the monitor sees again;
//! - item 4: an action verified `no_effect` is undone (its inverse, journaled),
//!   an irreversible one and one the charter keeps are left, and the decision is
//!   audited;
//! - item 5: a step whose send had no answer is indeterminate: it counts for the
//!   guardrails as applied (once), the loop asks the actuator's `status` and, when
//!   it landed, journals it applied; when it did not, sends it again under the same
//!   key; and nothing new is planned on its component meanwhile.

use async_trait::async_trait;
use charter_execute::{Actuator, ActuatorError, Applied, ComponentState};
use charter_knowledge::prelude::*;
use charter_knowledge::{JournalStatus, SqliteStore};
use charter_model::{Action, ActionKind, Charter, ExecutionId, Sample, Timestamp, parse_charter};
use charter_monitor::{MetricSource, Observation, SourceError};
use charter_orchestrator::{Controller, Event};
use charter_testkit::actuators;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const T0: Timestamp = charter_testkit::EPOCH;

/// One component, one objective with `remedies`; `actions` is spliced in.
fn charter(remedies: &str, actions: &str) -> Arc<Charter> {
    charter_of(
        "  - {{ name: api, actuator: fake, replicas: {{ min: 1, max: 20 }} }}",
        remedies,
        actions,
    )
}

/// A charter whose surge gets the bridge policy: throttle, scale out, and lift the
/// throttle once the new capacity has had its time to effect (4 minutes later).
fn bridge_charter() -> Arc<Charter> {
    charter(
        "scale_out, throttle",
        "actions:\n  throttle: { cost: 0.1, params: { rate: \"50\" } }\n  scale_out: { time_to_effect: 4m }\n",
    )
}

/// `components` (YAML list items), one objective on all of them with `remedies`;
/// `actions` (and any other top-level block) is spliced in.
fn charter_of(components: &str, remedies: &str, actions: &str) -> Arc<Charter> {
    let components = components.replace("{{", "{").replace("}}", "}");
    let text = format!(
        r#"name: dials
interval: 15s
mode: autonomous
source:
  prometheus: {{ url: "http://127.0.0.1:9", blind_after: 2 }}
actuators:
  fake: {{ http: {{ url: "http://127.0.0.1:9" }} }}
components:
{components}
objectives:
  - name: saturation
    metric: m
    signal: saturation
    above: {{ warning: 0.1, critical: 0.5, clear: 0.05 }}
    for: 30s
    remedies: [{remedies}]
{actions}
"#
    );
    let (c, _) = parse_charter(&text, "dials.yaml", Path::new(".")).expect("valid charter");
    Arc::new(c)
}

/// The objective's value (on every component, unless `on` says otherwise for one),
/// and whether reads fail.
#[derive(Default)]
struct Dial {
    value: Mutex<f64>,
    on: Mutex<BTreeMap<String, f64>>,
    /// Components whose samples come back without a value.
    missing: Mutex<Vec<String>>,
    failing: AtomicBool,
}

#[async_trait]
impl MetricSource for Dial {
    async fn observe(&self, charter: &Charter, now: Timestamp) -> Result<Observation, SourceError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(SourceError::Unavailable("the test cut the source".into()));
        }
        let v = *self.value.lock().expect("lock");
        let on = self.on.lock().expect("lock").clone();
        let missing = self.missing.lock().expect("lock").clone();
        Ok(Observation {
            at: Some(now),
            samples: charter
                .objectives
                .iter()
                .flat_map(|o| o.components.iter().map(move |c| (o, c)))
                .map(|(o, c)| Sample {
                    objective: o.name.clone(),
                    component: c.clone(),
                    at: now,
                    value: (!missing.contains(c)).then(|| on.get(c).copied().unwrap_or(v)),
                })
                .collect(),
            changes: Vec::new(),
            problems: Vec::new(),
        })
    }
}

/// How the actuator answers a forward send.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    /// Applies and says so.
    Normal,
    /// Applies, then the answer is lost (a reply after the client's timeout).
    LandsSilently,
    /// Loses the request (nothing applied) and answers nothing.
    Lost,
}

/// An actuator over one component's replicas and throttle, idempotent on keys; the
/// first forward send answers as `first` says, every later one normally.
struct Fake {
    first: Answer,
    /// How the first undo send answers.
    first_undo: Answer,
    state: Mutex<ComponentState>,
    /// Keys applied, with what they returned.
    applied: Mutex<BTreeMap<String, Applied>>,
    /// Every send: key, action, whether it changed anything.
    sends: Mutex<Vec<(String, Action, bool)>>,
}

impl Fake {
    fn new(first: Answer) -> Self {
        Fake {
            first,
            first_undo: Answer::Normal,
            state: Mutex::new(ComponentState {
                replicas: Some(2),
                throttle_rate: None,
                version: Some("v1".into()),
                zone: None,
                ..Default::default()
            }),
            applied: Mutex::new(BTreeMap::new()),
            sends: Mutex::new(Vec::new()),
        }
    }

    fn replicas(&self) -> u32 {
        self.state.lock().expect("lock").replicas.unwrap_or(0)
    }

    fn sends(&self) -> Vec<(String, Action, bool)> {
        self.sends.lock().expect("lock").clone()
    }
}

#[async_trait]
impl Actuator for Fake {
    async fn apply(&self, key: &str, action: &Action) -> Result<Applied, ActuatorError> {
        let forward = !key.ends_with("-undo");
        let nth = self.sends.lock().expect("lock").len();
        if let Some(done) = self.applied.lock().expect("lock").get(key).cloned() {
            self.sends
                .lock()
                .expect("lock")
                .push((key.into(), action.clone(), false));
            return Ok(done);
        }
        let undos = self
            .sends
            .lock()
            .expect("lock")
            .iter()
            .filter(|(k, _, _)| k.ends_with("-undo"))
            .count();
        let answer = if forward && nth == 0 {
            self.first
        } else if !forward && undos == 0 {
            self.first_undo
        } else {
            Answer::Normal
        };
        if answer == Answer::Lost {
            self.sends
                .lock()
                .expect("lock")
                .push((key.into(), action.clone(), false));
            return Err(ActuatorError::Indeterminate("timed out after 5s".into()));
        }
        let mut st = self.state.lock().expect("lock");
        let mut prior = BTreeMap::new();
        match action.kind {
            ActionKind::ScaleOut | ActionKind::ScaleIn => {
                let r = st.replicas.unwrap_or(0);
                prior.insert("replicas".into(), r.to_string());
                let to = action
                    .params
                    .get("replicas")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(if action.kind == ActionKind::ScaleOut {
                        r + 2
                    } else {
                        r.saturating_sub(2)
                    });
                st.replicas = Some(to);
            }
            ActionKind::Throttle => {
                prior.insert(
                    "rate".into(),
                    st.throttle_rate.map_or("none".into(), |r| r.to_string()),
                );
                st.throttle_rate = action.params.get("rate").and_then(|v| v.parse().ok());
            }
            _ => {}
        }
        drop(st);
        let done = Applied {
            prior,
            detail: format!("{action} done"),
        };
        self.applied
            .lock()
            .expect("lock")
            .insert(key.into(), done.clone());
        self.sends
            .lock()
            .expect("lock")
            .push((key.into(), action.clone(), true));
        if answer == Answer::LandsSilently {
            return Err(ActuatorError::Indeterminate("timed out after 5s".into()));
        }
        Ok(done)
    }

    async fn describe(&self, _component: &str) -> Result<ComponentState, ActuatorError> {
        Ok(self.state.lock().expect("lock").clone())
    }

    async fn status(&self, key: &str) -> Result<Option<Applied>, ActuatorError> {
        Ok(self.applied.lock().expect("lock").get(key).cloned())
    }
}

struct Loop {
    controller: Controller,
    dial: Arc<Dial>,
    act: Arc<Fake>,
    store: Arc<SqliteStore>,
    t: Duration,
    events: Vec<(Duration, Event)>,
    _dir: tempfile::TempDir,
}

async fn start(charter: Arc<Charter>, first: Answer, value: f64) -> Loop {
    start_with(charter, Fake::new(first), value).await
}

async fn start_with(charter: Arc<Charter>, fake: Fake, value: f64) -> Loop {
    let dial = Arc::new(Dial::default());
    *dial.value.lock().expect("lock") = value;
    let act = Arc::new(fake);
    let actuators = actuators(&charter, act.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("k.db"))
            .await
            .expect("store"),
    );
    let controller = Controller::new(charter, dial.clone(), actuators, store.clone(), T0)
        .await
        .expect("controller");
    Loop {
        controller,
        dial,
        act,
        store,
        t: Duration::ZERO,
        events: Vec::new(),
        _dir: dir,
    }
}

impl Loop {
    /// One tick; its events.
    async fn tick(&mut self) -> Vec<Event> {
        let report = self.controller.tick(T0.plus(self.t)).await.expect("tick");
        let evs: Vec<Event> = report.events.into_iter().map(|e| e.event).collect();
        self.events.extend(evs.iter().cloned().map(|e| (self.t, e)));
        self.t += Duration::from_secs(15);
        evs
    }

    /// Tick until an event matches (at most `max` ticks).
    async fn until(&mut self, what: &str, max: usize, f: impl Fn(&Event) -> bool) {
        for _ in 0..max {
            if self.tick().await.iter().any(&f) {
                return;
            }
        }
        panic!("never saw {what}; events: {:#?}", self.events);
    }

    /// A new process on the same store, source and actuator (the first one died), its
    /// controller built at offset `t`.
    async fn next_process(&self, charter: Arc<Charter>, t: Duration) -> Controller {
        let actuators = actuators(&charter, self.act.clone());
        Controller::new(
            charter,
            self.dial.clone(),
            actuators,
            self.store.clone(),
            T0.plus(t),
        )
        .await
        .expect("second controller")
    }

    fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| f(e)).count()
    }
}

#[tokio::test]
async fn no_step_is_sent_while_the_monitor_is_blind_and_the_policy_goes_on_after() {
    // The bridge policy: throttle, scale out, and lift the throttle once the new
    // capacity has had its time to effect (4 minutes later).
    let c = bridge_charter();
    let mut l = start(c, Answer::Normal, 0.8).await;
    l.until(
        "the scale-out applied",
        10,
        |e| matches!(e, Event::StepApplied { action, .. } if action.kind == ActionKind::ScaleOut),
    )
    .await;
    // The source goes away: after two failed reads the monitor is blind.
    l.dial.failing.store(true, Ordering::SeqCst);
    let sends_before = l.act.sends().len();
    // 6 minutes: the lift (due 4 minutes after the scale-out) falls inside.
    for _ in 0..24 {
        l.tick().await;
    }
    assert!(l.controller.is_blind(), "the monitor is blind");
    assert_eq!(
        l.act.sends().len(),
        sends_before,
        "nothing is sent while blind: {:?}",
        l.act.sends()
    );
    assert_eq!(
        l.count(|e| matches!(e, Event::Held { .. })),
        1,
        "the wait is announced once: {}",
        l.events
            .iter()
            .map(|(t, e)| format!("{}s {e}", t.as_secs()))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(l.count(|e| matches!(e, Event::StepFailed { .. })), 0);
    let audit = l.store.audit_log(100).await.expect("audit");
    assert!(
        audit.iter().any(|a| a.kind == "held"),
        "the wait is audited: {audit:?}"
    );
    // Sight again: the held step goes on.
    l.dial.failing.store(false, Ordering::SeqCst);
    l.until(
        "the throttle lifted",
        4,
        |e| matches!(e, Event::StepApplied { action, .. } if action.kind == ActionKind::Throttle),
    )
    .await;
}

#[tokio::test]
async fn an_action_that_had_no_effect_is_undone_and_the_decision_audited() {
    let c = charter("scale_out", "");
    let mut l = start(c, Answer::Normal, 0.8).await;
    l.until("a no_effect verification", 40, |e| {
        matches!(
            e,
            Event::Verified {
                outcome: charter_model::OutcomeClass::NoEffect,
                ..
            }
        )
    })
    .await;
    l.tick().await;
    assert!(
        l.count(|e| matches!(e, Event::UndoDecided { undo, .. } if undo.len() == 1)) >= 1,
        "the undo is decided: {:#?}",
        l.events
    );
    assert!(
        l.count(|e| matches!(e, Event::Compensated { ok: true, action: Some(a), .. } if a.kind == ActionKind::ScaleIn)) >= 1,
        "the scale-out is undone by its inverse"
    );
    assert_eq!(l.act.replicas(), 2, "back to the replicas from before");
    // Journaled like a compensation: an intent and its result under `{key}-undo`.
    let j = l.store.journal(ExecutionId(1)).await.expect("journal");
    assert!(
        j.iter().any(|r| r.status == JournalStatus::Compensated
            && r.idempotency_key.ends_with("-undo")),
        "{j:?}"
    );
    let audit = l.store.audit_log(200).await.expect("audit");
    assert!(audit.iter().any(|a| a.kind == "undo"), "{audit:?}");
}

#[tokio::test]
async fn an_action_the_charter_keeps_is_not_undone() {
    let c = charter(
        "scale_out",
        "actions:\n  scale_out: { on_no_effect: keep }\n",
    );
    let mut l = start(c, Answer::Normal, 0.8).await;
    l.until("a no_effect verification", 40, |e| {
        matches!(
            e,
            Event::Verified {
                outcome: charter_model::OutcomeClass::NoEffect,
                ..
            }
        )
    })
    .await;
    l.tick().await;
    assert_eq!(
        l.count(|e| matches!(e, Event::Compensated { .. })),
        0,
        "nothing undone"
    );
    assert!(
        l.count(|e| matches!(e, Event::UndoDecided { undo, kept, .. } if undo.is_empty() && kept.len() == 1 && kept[0].contains("on_no_effect: keep"))) >= 1,
        "the decision names the charter's rule: {:#?}",
        l.events
    );
    assert!(l.act.replicas() > 2, "the scale-out stays");
}

#[tokio::test]
async fn a_step_that_landed_after_the_timeout_is_journaled_applied_and_counted_once() {
    let c = charter("scale_out", "");
    let mut l = start(c, Answer::LandsSilently, 0.8).await;
    l.until("an indeterminate step", 10, |e| {
        matches!(e, Event::StepIndeterminate { .. })
    })
    .await;
    l.until(
        "the step confirmed applied",
        3,
        |e| matches!(e, Event::StepApplied { detail, .. } if detail.contains("status")),
    )
    .await;
    // Sent once: the status told, no second send.
    let sends = l.act.sends();
    assert_eq!(sends.len(), 1, "{sends:?}");
    let j = l.store.journal(ExecutionId(1)).await.expect("journal");
    assert!(
        j.iter()
            .any(|r| r.step == 0 && r.status == JournalStatus::Applied),
        "journaled applied: {j:?}"
    );
    assert!(
        !j.iter().any(|r| r.status == JournalStatus::Failed),
        "{j:?}"
    );
    let counted = l
        .store
        .actions_since(T0)
        .await
        .expect("actions")
        .into_iter()
        .filter(|(c, k, _)| c == "api" && *k == ActionKind::ScaleOut)
        .count();
    assert_eq!(counted, 1, "counted for the guardrails exactly once");
}

#[tokio::test]
async fn a_lost_request_is_sent_again_under_the_same_key_and_nothing_is_planned_meanwhile() {
    let c = charter("scale_out", "");
    let mut l = start(c, Answer::Lost, 0.8).await;
    l.until("an indeterminate step", 10, |e| {
        matches!(e, Event::StepIndeterminate { .. })
    })
    .await;
    let policies_then = l.count(|e| matches!(e, Event::PolicyDecided { .. }));
    l.until("the step applied on the second send", 3, |e| {
        matches!(e, Event::StepApplied { .. })
    })
    .await;
    let sends = l.act.sends();
    assert_eq!(sends.len(), 2, "{sends:?}");
    assert_eq!(sends[0].0, sends[1].0, "the same idempotency key");
    assert!(!sends[0].2 && sends[1].2);
    assert_eq!(
        l.count(|e| matches!(e, Event::PolicyDecided { .. })),
        policies_then,
        "nothing new planned while the outcome was unknown"
    );
    let counted = l.store.actions_since(T0).await.expect("actions").len();
    assert_eq!(counted, 1, "counted once, when it may have been applied");
}

#[tokio::test]
async fn a_paused_execution_waits_and_goes_on_after_resume_without_quarantine() {
    let c = bridge_charter();
    let mut l = start(c, Answer::Normal, 0.8).await;
    l.until(
        "the scale-out applied",
        10,
        |e| matches!(e, Event::StepApplied { action, .. } if action.kind == ActionKind::ScaleOut),
    )
    .await;
    let now = T0.plus(l.t);
    l.controller
        .pause("ops", "look first", now)
        .await
        .expect("pause");
    let sends = l.act.sends().len();
    for _ in 0..24 {
        l.tick().await;
    }
    assert_eq!(l.act.sends().len(), sends, "nothing sent while paused");
    assert_eq!(l.count(|e| matches!(e, Event::StepFailed { .. })), 0);
    assert_eq!(
        l.count(|e| matches!(e, Event::Held { reason, .. } if reason.contains("paused"))),
        1
    );
    let now = T0.plus(l.t);
    l.controller.resume("ops", now).await.expect("resume");
    l.until(
        "the throttle lifted",
        3,
        |e| matches!(e, Event::StepApplied { action, .. } if action.kind == ActionKind::Throttle),
    )
    .await;
    assert_eq!(
        l.count(|e| matches!(e, Event::IncidentEscalated { .. })),
        0,
        "a pause is not a failure: {:#?}",
        l.events
    );
    assert!(l.store.quarantined().await.expect("quarantine").is_empty());
}

#[tokio::test]
async fn a_new_fault_does_not_join_an_incident_that_used_up_its_attempts() {
    // db's restart has no effect (the dial does not move) and the incident has one
    // attempt: it is escalated. Then api, which depends on db, saturates: a new
    // fault, which must get its own incident and its own policy.
    let c = charter_of(
        "  - {{ name: api, depends_on: [db], actuator: fake, replicas: {{ min: 1, max: 20 }} }}\n  - {{ name: db, actuator: fake, replicas: {{ min: 1, max: 20 }} }}",
        "scale_out",
        "guardrails: { max_attempts_per_incident: 1 }\nactions:\n  scale_out: { on_no_effect: keep }\n",
    );
    let mut l = start(c, Answer::Normal, 0.0).await;
    l.dial.on.lock().expect("lock").insert("db".into(), 0.8);
    l.until("the first incident escalated", 40, |e| {
        matches!(e, Event::IncidentEscalated { .. })
    })
    .await;
    let policies = l.count(|e| matches!(e, Event::PolicyDecided { .. }));
    l.dial.on.lock().expect("lock").insert("api".into(), 0.8);
    l.until("a policy for the new fault", 10, |e| {
        matches!(e, Event::PolicyDecided { .. })
    })
    .await;
    assert_eq!(
        l.count(|e| matches!(e, Event::IncidentOpened { .. })),
        2,
        "the new fault opened its own incident: {:#?}",
        l.events
    );
    assert_eq!(
        l.count(|e| matches!(e, Event::PolicyDecided { .. })),
        policies + 1
    );
}

#[tokio::test]
async fn incidents_left_open_by_an_earlier_run_are_closed_with_a_reason_at_start() {
    let c = charter("scale_out", "");
    let mut l = start(c.clone(), Answer::Normal, 0.8).await;
    l.until("a step applied", 10, |e| {
        matches!(e, Event::StepApplied { .. })
    })
    .await;
    let open = l.store.open_incidents().await.expect("incidents");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].state, charter_model::IncidentState::Remediating);
    // A new process on the same store (the first one died).
    let store = l.store.clone();
    let _c2 = l.next_process(c, l.t).await;
    assert!(store.open_incidents().await.expect("incidents").is_empty());
    let all = store.incidents().await.expect("incidents");
    assert_eq!(all[0].state, charter_model::IncidentState::Closed);
    let audit = store.audit_log(100).await.expect("audit");
    assert!(
        audit.iter().any(|a| a.kind == "closed"
            && a.body["reason"]
                .as_str()
                .is_some_and(|r| r.contains("remediating"))),
        "{audit:?}"
    );
}

#[tokio::test]
async fn startup_recovery_waits_for_sight_before_it_compensates() {
    let c = charter("scale_out", "");
    let mut l = start(c.clone(), Answer::Normal, 0.8).await;
    l.until("a step applied", 10, |e| {
        matches!(e, Event::StepApplied { .. })
    })
    .await;
    // The process dies with its execution unfinished; the next one starts blind.
    let sends = l.act.sends().len();
    l.dial.failing.store(true, Ordering::SeqCst);
    let mut t = l.t;
    let mut c2 = l.next_process(c, t).await;
    for _ in 0..6 {
        c2.tick(T0.plus(t)).await.expect("tick");
        t += Duration::from_secs(15);
    }
    assert_eq!(l.act.sends().len(), sends, "nothing compensated blind");
    assert_eq!(
        l.store.unfinished_executions().await.expect("read").len(),
        1,
        "the execution waits to be settled"
    );
    // Sight: recovery undoes the scale-out, then the loop goes on.
    l.dial.failing.store(false, Ordering::SeqCst);
    c2.tick(T0.plus(t)).await.expect("tick");
    let sends = l.act.sends();
    assert!(
        sends
            .last()
            .is_some_and(|(k, a, _)| k.ends_with("-undo") && a.kind == ActionKind::ScaleIn),
        "{sends:?}"
    );
    assert!(
        l.store
            .unfinished_executions()
            .await
            .expect("read")
            .is_empty()
    );
}

#[tokio::test]
async fn an_undo_that_landed_without_an_answer_is_sent_again_and_journaled_undone() {
    let c = charter("scale_out", "");
    let mut fake = Fake::new(Answer::Normal);
    fake.first_undo = Answer::LandsSilently;
    let mut l = start_with(c, fake, 0.8).await;
    l.until("the undo confirmed", 40, |e| {
        matches!(e, Event::Compensated { ok: true, .. })
    })
    .await;
    let undos: Vec<(String, Action, bool)> = l
        .act
        .sends()
        .into_iter()
        .filter(|(k, _, _)| k.ends_with("-undo"))
        .collect();
    assert_eq!(undos.len(), 2, "sent again once: {undos:?}");
    assert_eq!(undos[0].0, undos[1].0, "under the same key");
    assert!(undos[0].2 && !undos[1].2, "applied once: {undos:?}");
    assert_eq!(l.act.replicas(), 2);
    let j = l.store.journal(ExecutionId(1)).await.expect("journal");
    assert!(
        j.iter()
            .any(|r| r.status == JournalStatus::Compensated && r.idempotency_key.ends_with("-undo")),
        "{j:?}"
    );
    assert!(
        !j.iter().any(|r| r.status == JournalStatus::Failed),
        "{j:?}"
    );
    assert!(l.store.quarantined().await.expect("read").is_empty());
    assert_eq!(l.count(|e| matches!(e, Event::IncidentEscalated { .. })), 0);
}

#[tokio::test]
async fn a_clock_stepped_back_mid_run_does_not_hold_the_cooldown_until_it_catches_up() {
    let c = charter("scale_out", "guardrails: { cooldown: 5m }\n");
    let mut l = start(c, Answer::Normal, 0.8).await;
    l.t = Duration::from_secs(2 * 3600);
    l.until("a step applied", 10, |e| {
        matches!(e, Event::StepApplied { .. })
    })
    .await;
    // It helps: the incident resolves.
    *l.dial.value.lock().expect("lock") = 0.0;
    l.until("the incident resolved", 40, |e| {
        matches!(e, Event::IncidentResolved { .. })
    })
    .await;
    // The wall clock steps back an hour, and the fault comes back.
    l.t -= Duration::from_secs(3600);
    *l.dial.value.lock().expect("lock") = 0.8;
    let policies = l.count(|e| matches!(e, Event::PolicyDecided { .. }));
    // Within the cooldown (5 min) and a few cycles, not an hour later.
    l.until("a new policy", 40, |e| {
        matches!(e, Event::PolicyDecided { .. })
    })
    .await;
    assert_eq!(
        l.count(|e| matches!(e, Event::PolicyDecided { .. })),
        policies + 1
    );
}

/// Issue 17, item 5: an action is judged on what it was meant to relieve — its
/// component and the callers its effect reaches — not on the whole incident.
#[tokio::test]
async fn an_action_that_helped_its_target_is_not_rolled_back_because_an_unrelated_member_worsened()
{
    // Three components with nothing between them, turning bad in the same tick: one
    // incident (a burst). The planner scales api, the strongest; then api recovers
    // while the two others get much worse.
    let c = charter_of(
        "  - {{ name: api, actuator: fake, replicas: {{ min: 1, max: 20 }} }}
  - {{ name: batch, actuator: fake, replicas: {{ min: 1, max: 20 }} }}
  - {{ name: worker, actuator: fake, replicas: {{ min: 1, max: 20 }} }}",
        "scale_out",
        "",
    );
    let mut l = start(c, Answer::Normal, 0.0).await;
    l.tick().await;
    let set = |l: &Loop, api: f64, others: f64| {
        let mut on = l.dial.on.lock().expect("lock");
        on.insert("api".into(), api);
        on.insert("batch".into(), others);
        on.insert("worker".into(), others);
    };
    set(&l, 0.9, 0.2);
    l.until(
        "api scaled out",
        12,
        |e| matches!(e, Event::StepApplied { action, .. } if action.kind == ActionKind::ScaleOut && action.component == "api"),
    )
    .await;
    set(&l, 0.0, 0.9);
    l.until("the verification", 20, |e| {
        matches!(e, Event::Verified { .. })
    })
    .await;
    let (outcome, targets, context, line) = l
        .events
        .iter()
        .find_map(|(_, e)| match e {
            Event::Verified {
                outcome,
                targets,
                context,
                ..
            } => Some((*outcome, targets.clone(), context.clone(), e.to_string())),
            _ => None,
        })
        .expect("verified");
    assert_eq!(targets, ["saturation@api"], "judged on api only: {line}");
    assert_eq!(
        outcome,
        charter_model::OutcomeClass::Resolved,
        "api recovered: {line}"
    );
    assert_eq!(context, ["saturation@batch", "saturation@worker"], "{line}");
    assert!(
        line.contains("verified: resolved on its target saturation@api")
            && line.contains("still breaching: saturation@batch, saturation@worker"),
        "the line says what was judged and what still breaches: {line}"
    );
    l.tick().await;
    assert_eq!(
        l.count(|e| matches!(e, Event::Compensated { .. })),
        0,
        "nothing rolled back: {:#?}",
        l.events
    );
}

/// Issue 17, items 6 and 7: a component without data is said so, once, and when its
/// data returns.
#[tokio::test]
async fn a_component_without_data_is_announced_once_and_when_data_returns() {
    let c = charter_of(
        "  - {{ name: api, actuator: fake, replicas: {{ min: 1, max: 20 }} }}
  - {{ name: worker, actuator: fake, replicas: {{ min: 1, max: 20 }} }}",
        "scale_out",
        "",
    );
    let mut l = start(c, Answer::Normal, 0.0).await;
    l.dial.missing.lock().expect("lock").push("worker".into());
    for _ in 0..8 {
        l.tick().await;
    }
    let lines: Vec<String> = l
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Unobserved { .. }))
        .map(|(_, e)| e.to_string())
        .collect();
    assert_eq!(
        lines,
        [
            "worker is UNOBSERVED: no data for saturation; no action on it until data returns (diagnoses reason through it, never blame it)"
        ]
    );
    l.dial.missing.lock().expect("lock").clear();
    l.tick().await;
    assert_eq!(
        l.count(|e| matches!(e, Event::ObservedAgain { component } if component == "worker")),
        1,
        "{:#?}",
        l.events
    );
}
