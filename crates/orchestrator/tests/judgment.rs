//! Issue 17, items 1 and 2, at loop level: a controller whose source and actuator
//! are scripted (one component; CPU, and offered load when the test shows it).
//!
//! A good version is deployed two minutes before a 3× surge:
//! - when the load is visible, the change is weighed against it and the first action
//!   is a scale-out or throttle, not a rollback;
//! - when it is not, the rollback that comes first is verified `no_effect`, which
//!   refutes "bad change"; the incident is diagnosed again and the scale-out or
//!   throttle its revised cause calls for runs inside the component's cooldown.
//!
//! And a "no action" line names every reason the candidates were turned down.

use async_trait::async_trait;
use charter_execute::{Actuator, ActuatorError, Applied, ComponentState};
use charter_knowledge::SqliteStore;
use charter_model::{
    Action, ActionKind, CauseClass, Change, ChangeKind, Charter, OutcomeClass, Policy, Sample,
    Timestamp, parse_charter,
};
use charter_monitor::{MetricSource, Observation, SourceError};
use charter_orchestrator::{Controller, Event};
use charter_testkit::actuators;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const T0: Timestamp = charter_testkit::EPOCH;
const TICK: Duration = Duration::from_secs(15);
/// The deploy, and the surge two minutes later.
const DEPLOY: Duration = Duration::from_secs(5 * 60);
const SURGE: Duration = Duration::from_secs(7 * 60);
/// The charter's cooldown.
const COOLDOWN: Duration = Duration::from_secs(10 * 60);

/// One component with a CPU objective; with `load`, a request-rate objective too
/// (judged only when it drops, as an edge's traffic objective is).
fn charter(load: bool) -> Arc<Charter> {
    let requests = if load {
        r#"  - name: requests
    metric: requests
    signal: traffic
    below: { warning: 5, critical: 1, clear: 6 }
    for: 1m
    remedies: [failover]
"#
    } else {
        ""
    };
    let text = format!(
        r#"name: judgment
interval: 15s
mode: autonomous
source:
  prometheus: {{ url: "http://127.0.0.1:9", blind_after: 2 }}
actuators:
  fake: {{ http: {{ url: "http://127.0.0.1:9" }} }}
components:
  - {{ name: api, actuator: fake, replicas: {{ min: 1, max: 20 }} }}
objectives:
  - name: cpu
    metric: cpu
    signal: utilization
    above: {{ warning: 0.85, critical: 1.0, clear: 0.75 }}
    for: 30s
    remedies: [rollback, scale_out, throttle]
{requests}actions:
  throttle: {{ params: {{ rate: "50" }} }}
  rollback: {{ time_to_effect: 1m }}
guardrails: {{ cooldown: 10m, max_actions_per_hour: 20, max_attempts_per_incident: 5, auto_approve_max_cost: 20 }}
"#
    );
    let (c, _) = parse_charter(&text, "judgment.yaml", Path::new(".")).expect("valid charter");
    Arc::new(c)
}

/// Each objective's value, and changes not yet reported.
#[derive(Default)]
struct Script {
    values: Mutex<BTreeMap<String, f64>>,
    changes: Mutex<Vec<Change>>,
}

impl Script {
    fn set(&self, objective: &str, v: f64) {
        self.values
            .lock()
            .expect("lock")
            .insert(objective.into(), v);
    }
}

#[async_trait]
impl MetricSource for Script {
    async fn observe(&self, charter: &Charter, now: Timestamp) -> Result<Observation, SourceError> {
        let values = self.values.lock().expect("lock").clone();
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
                    value: values.get(&o.name).copied(),
                })
                .collect(),
            changes: std::mem::take(&mut *self.changes.lock().expect("lock")),
            problems: Vec::new(),
        })
    }
}

/// One component's replicas, throttle and version; every send applies.
struct Fake {
    state: Mutex<ComponentState>,
    applied: Mutex<BTreeMap<String, Applied>>,
}

impl Fake {
    /// Two replicas of v2, deployed over v1.
    fn new() -> Self {
        Fake::with(ComponentState {
            replicas: Some(2),
            version: Some("v2".into()),
            previous_version: Some("v1".into()),
            ..Default::default()
        })
    }

    fn with(state: ComponentState) -> Self {
        Fake {
            state: Mutex::new(state),
            applied: Mutex::new(BTreeMap::new()),
        }
    }
}

#[async_trait]
impl Actuator for Fake {
    async fn apply(&self, key: &str, action: &Action) -> Result<Applied, ActuatorError> {
        if let Some(done) = self.applied.lock().expect("lock").get(key).cloned() {
            return Ok(done);
        }
        let mut st = self.state.lock().expect("lock");
        let mut prior = BTreeMap::new();
        match action.kind {
            ActionKind::ScaleOut | ActionKind::ScaleIn => {
                let r = st.replicas.unwrap_or(0);
                prior.insert("replicas".into(), r.to_string());
                let step: u32 = action
                    .param("step")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                let to = action
                    .param("to_replicas")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(if action.kind == ActionKind::ScaleOut {
                        r + step
                    } else {
                        r.saturating_sub(step)
                    });
                st.replicas = Some(to);
            }
            ActionKind::Throttle => {
                prior.insert(
                    "rate".into(),
                    st.throttle_rate.map_or("none".into(), |r| r.to_string()),
                );
                st.throttle_rate = action.param("rate").and_then(|v| v.parse().ok());
            }
            ActionKind::Rollback => {
                let from = st.version.clone().unwrap_or_default();
                prior.insert("version".into(), from.clone());
                let to = action
                    .param("to_version")
                    .map(str::to_string)
                    .or(st.previous_version.clone());
                st.version = to;
                st.previous_version = Some(from);
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
    script: Arc<Script>,
    t: Duration,
    events: Vec<(Duration, Event)>,
    /// When the good version is deployed (DEPLOY unless a test moves it).
    deploy_at: Duration,
    _dir: tempfile::TempDir,
}

impl Loop {
    async fn start(charter: Arc<Charter>) -> Loop {
        Loop::start_with(charter, Fake::new()).await
    }

    async fn start_with(charter: Arc<Charter>, fake: Fake) -> Loop {
        let script = Arc::new(Script::default());
        script.set("cpu", 0.5);
        script.set("requests", 100.0);
        let act = Arc::new(fake);
        let actuators = actuators(&charter, act);
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("k.db"))
                .await
                .expect("store"),
        );
        let controller = Controller::new(charter, script.clone(), actuators, store, T0)
            .await
            .expect("controller");
        Loop {
            controller,
            script,
            t: Duration::ZERO,
            events: Vec::new(),
            deploy_at: DEPLOY,
            _dir: dir,
        }
    }

    async fn tick(&mut self) {
        let report = self.controller.tick(T0.plus(self.t)).await.expect("tick");
        self.events
            .extend(report.events.into_iter().map(|e| (self.t, e.event)));
        self.t += TICK;
    }

    /// A good version deployed at `deploy_at`, then a 3× surge at SURGE (CPU 0.5 → 1.5,
    /// requests 100 → 300), run until `until`.
    async fn run_surge(&mut self, until: Duration) {
        while self.t < until {
            if self.t == self.deploy_at {
                self.script.changes.lock().expect("lock").push(Change {
                    at: T0.plus(self.deploy_at),
                    component: "api".into(),
                    kind: ChangeKind::Deploy,
                    description: "v2".into(),
                    by: "ci".into(),
                    source: charter_model::ChangeSource::Simulator,
                });
            }
            if self.t == SURGE {
                self.script.set("cpu", 1.5);
                self.script.set("requests", 300.0);
            }
            self.tick().await;
        }
    }

    fn policies(&self) -> Vec<(Duration, Policy)> {
        self.events
            .iter()
            .filter_map(|(t, e)| match e {
                Event::PolicyDecided { policy } => Some((*t, policy.clone())),
                _ => None,
            })
            .collect()
    }

    fn log(&self) -> String {
        self.events
            .iter()
            .map(|(t, e)| format!("{}s {e}", t.as_secs()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn relieves_load(p: &Policy) -> bool {
    p.actions
        .iter()
        .any(|a| matches!(a.kind, ActionKind::ScaleOut | ActionKind::Throttle))
        && p.actions.iter().all(|a| a.kind != ActionKind::Rollback)
}

#[tokio::test]
async fn a_deploy_just_before_a_visible_surge_is_not_rolled_back_first() {
    let mut l = Loop::start(charter(true)).await;
    l.run_surge(SURGE + Duration::from_secs(4 * 60)).await;
    let policies = l.policies();
    let (_, first) = policies
        .first()
        .unwrap_or_else(|| panic!("no policy:\n{}", l.log()));
    assert!(
        relieves_load(first),
        "first policy: {} ({})\n{}",
        first
            .actions
            .iter()
            .map(Action::to_string)
            .collect::<Vec<_>>()
            .join(" -> "),
        first.rationale,
        l.log()
    );
    assert_eq!(
        first.context.as_ref().map(|c| c.cause),
        Some(CauseClass::Overload),
        "{}",
        first.rationale
    );
}

#[tokio::test]
async fn a_deploy_that_served_normally_before_an_unseen_surge_is_not_rolled_back_first() {
    // The load is not visible, but the new version ran two minutes with normal CPU
    // before it rose: a costlier version would have shown at once.
    let mut l = Loop::start(charter(false)).await;
    l.run_surge(SURGE + Duration::from_secs(4 * 60)).await;
    let policies = l.policies();
    let (_, first) = policies
        .first()
        .unwrap_or_else(|| panic!("no policy:\n{}", l.log()));
    assert!(
        relieves_load(first),
        "first policy: {} ({})\n{}",
        first
            .actions
            .iter()
            .map(Action::to_string)
            .collect::<Vec<_>>()
            .join(" -> "),
        first.rationale,
        l.log()
    );
    assert!(
        policies
            .iter()
            .all(|(_, p)| p.actions.iter().all(|a| a.kind != ActionKind::Rollback)),
        "{}",
        l.log()
    );
}

#[tokio::test]
async fn a_rollback_verified_no_effect_is_followed_by_the_revised_remedy_inside_the_cooldown() {
    // The load is not visible and the deploy rolled out as the surge began: nothing
    // tells the deploy from the surge, and the rollback comes first.
    let mut l = Loop::start(charter(false)).await;
    l.deploy_at = SURGE - Duration::from_secs(30);
    l.run_surge(SURGE + Duration::from_secs(9 * 60)).await;
    let policies = l.policies();
    let (t_first, first) = policies
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("no policy:\n{}", l.log()));
    assert_eq!(
        first.actions[first.main].kind,
        ActionKind::Rollback,
        "{}\n{}",
        first.rationale,
        l.log()
    );
    let refuted_at = l
        .events
        .iter()
        .find(|(_, e)| {
            matches!(
                e,
                Event::Verified {
                    outcome: OutcomeClass::NoEffect,
                    ..
                }
            )
        })
        .map(|(t, _)| *t)
        .unwrap_or_else(|| panic!("the rollback was never verified no_effect:\n{}", l.log()));
    let (t_next, next) = policies
        .iter()
        .find(|(t, _)| *t >= refuted_at)
        .cloned()
        .unwrap_or_else(|| panic!("nothing after the no_effect rollback:\n{}", l.log()));
    assert!(relieves_load(&next), "{}\n{}", next.rationale, l.log());
    assert!(
        next.actions.iter().all(|a| a.component == "api"),
        "{:?}",
        next.actions
    );
    assert!(
        t_next < t_first + COOLDOWN,
        "the revised remedy waited for the cooldown: rollback at {}s, next at {}s",
        t_first.as_secs(),
        t_next.as_secs()
    );
    assert!(
        next.rationale.contains("passes the cooldown on api: the diagnosis was revised to overload after rollback(api) verified no_effect (bad change) refuted the earlier cause"),
        "{}",
        next.rationale
    );
    // Nothing is planned on the refuted hypothesis again (no restart or second
    // rollback between the two).
    assert!(
        policies
            .iter()
            .filter(|(t, _)| *t > t_first && *t < t_next)
            .all(|(_, p)| relieves_load(p)),
        "{}",
        l.log()
    );
}

#[tokio::test]
async fn a_scale_out_that_improved_without_resolving_may_take_another_step() {
    // No deploy; the surge's CPU 1.5 falls to 1.0 after the first scale-out: better,
    // still above the warning. The next step is another scale-out, not a throttle or
    // nothing because scale-out was "already tried".
    let mut l = Loop::start(charter(false)).await;
    l.deploy_at = Duration::MAX;
    let mut relieved = false;
    while l.t < SURGE + Duration::from_secs(25 * 60) {
        if l.t == SURGE {
            l.script.set("cpu", 1.5);
        }
        if !relieved
            && l.policies()
                .iter()
                .any(|(_, p)| p.actions.iter().any(|a| a.kind == ActionKind::ScaleOut))
        {
            l.script.set("cpu", 1.0);
            relieved = true;
        }
        l.tick().await;
    }
    let improved_at = l
        .events
        .iter()
        .find(|(_, e)| {
            matches!(
                e,
                Event::Verified {
                    outcome: OutcomeClass::Improved,
                    ..
                }
            )
        })
        .map(|(t, _)| *t)
        .unwrap_or_else(|| panic!("the scale-out was never verified improved:\n{}", l.log()));
    let policies = l.policies();
    let (_, next) = policies
        .iter()
        .find(|(t, _)| *t >= improved_at)
        .unwrap_or_else(|| panic!("nothing after the improved scale-out:\n{}", l.log()));
    assert!(
        next.actions.iter().any(|a| a.kind == ActionKind::ScaleOut),
        "{}\n{}",
        next.rationale,
        l.log()
    );
}

#[tokio::test]
async fn a_no_action_line_names_every_reason_not_only_the_first() {
    // No previous version to roll back to, no replica to add, no throttle rate:
    // three reasons, each its own.
    let (c, _) = parse_charter(
        r#"name: judgment
interval: 15s
mode: autonomous
source:
  prometheus: { url: "http://127.0.0.1:9", blind_after: 2 }
actuators:
  fake: { http: { url: "http://127.0.0.1:9" } }
components:
  - { name: api, actuator: fake, replicas: { min: 1, max: 2 } }
objectives:
  - name: cpu
    metric: cpu
    signal: utilization
    above: { warning: 0.85, critical: 1.0, clear: 0.75 }
    for: 30s
    remedies: [rollback, scale_out, throttle]
"#,
        "judgment.yaml",
        Path::new("."),
    )
    .expect("valid charter");
    let mut l = Loop::start_with(
        Arc::new(c),
        Fake::with(ComponentState {
            replicas: Some(2),
            version: Some("v1".into()),
            ..Default::default()
        }),
    )
    .await;
    l.run_surge(SURGE + Duration::from_secs(2 * 60)).await;
    let reasons: Vec<&str> = l
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::NoAction { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "every candidate was rejected: precondition: api has no previous version (rollback(api)); precondition: api is at max replicas (2) (scale_out(api)); precondition: throttle needs `actions.throttle.params.rate` (throttle(api))"
        ],
        "{}",
        l.log()
    );
}
