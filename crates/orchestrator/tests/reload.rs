//! Configuration reload (issue 19 item 5) on a real controller whose source is a dial:
//! the [`Reloader`] re-reads a charter file and the control channel hands it to the
//! loop between cycles. A changed threshold takes effect at the next cycle; open
//! incidents and pending approvals survive; a bad file, a file that would orphan an
//! open violation, and a file that changes a restart-only section each keep the
//! running charter, say why, and set `charter_config_last_reload_successful` to 0.
//! And the ticker times its cycles by a reloaded interval.

use async_trait::async_trait;
use charter_execute::{Actuator, ActuatorError, Applied as Done, ComponentState};
use charter_knowledge::SqliteStore;
use charter_knowledge::prelude::*;
use charter_model::{Action, Charter, Clock, Sample, Timestamp, load_charter};
use charter_monitor::{MetricSource, Observation, SourceError};
use charter_orchestrator::daemon::{
    Applied, Command, ControlHandle, Host, Loop, ReloadError, Reloader, Ticker, TokioClock, apply,
};
use charter_orchestrator::{
    Controller, ControllerError, Fence, Health, LoopMetrics, StateSnapshot, TickReport,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

const T0: Timestamp = charter_testkit::EPOCH;

/// The charter file's text: one component, one objective `name` with these
/// thresholds, nothing auto-approved (every policy waits for a human).
fn charter_text(objective: &str, warning: f64, critical: f64, url: &str) -> String {
    format!(
        r#"name: dial
interval: 15s
mode: autonomous
source:
  prometheus: {{ url: "{url}", blind_after: 2 }}
actuators:
  fake: {{ http: {{ url: "http://127.0.0.1:9" }} }}
components:
  - {{ name: api, actuator: fake, replicas: {{ min: 1, max: 20 }} }}
objectives:
  - name: {objective}
    metric: m
    signal: saturation
    above: {{ warning: {warning}, critical: {critical}, clear: 0.1 }}
    remedies: [scale_out]
guardrails:
  auto_approve_max_cost: 0
"#
    )
}

const URL: &str = "http://127.0.0.1:9";

/// Every objective reads `value` on every component it covers.
#[derive(Debug)]
struct Dial(Mutex<f64>);

#[async_trait]
impl MetricSource for Dial {
    async fn observe(&self, charter: &Charter, now: Timestamp) -> Result<Observation, SourceError> {
        let v = *self.0.lock().expect("lock");
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
                    value: Some(v),
                })
                .collect(),
            changes: Vec::new(),
            problems: Vec::new(),
        })
    }
}

/// Never called: every policy waits for approval.
struct Idle;

#[async_trait]
impl Actuator for Idle {
    async fn apply(&self, _key: &str, action: &Action) -> Result<Done, ActuatorError> {
        panic!("nothing is approved, yet {action:?} was applied")
    }
    async fn describe(&self, _component: &str) -> Result<ComponentState, ActuatorError> {
        Ok(ComponentState {
            replicas: Some(2),
            ..Default::default()
        })
    }
}

/// A clock the test sets.
#[derive(Debug)]
struct Manual(Mutex<Timestamp>);

impl Clock for Manual {
    fn now(&self) -> Timestamp {
        *self.0.lock().expect("lock")
    }
}

struct World {
    _dir: tempfile::TempDir,
    file: PathBuf,
    controller: Controller,
    commands: mpsc::Receiver<Command>,
    reloader: Reloader,
    health: Arc<Health>,
    metrics: LoopMetrics,
    clock: Arc<Manual>,
    now: Timestamp,
}

impl World {
    async fn new(text: &str, value: f64) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("charter.yaml");
        std::fs::write(&file, text).expect("write");
        let (charter, _) = load_charter(&file).expect("valid charter");
        let charter = Arc::new(charter);
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().await.expect("store"));
        let actuators: BTreeMap<String, Arc<dyn Actuator>> =
            BTreeMap::from([("fake".to_string(), Arc::new(Idle) as Arc<dyn Actuator>)]);
        let health = Arc::new(Health::default());
        let metrics = LoopMetrics::unregistered();
        let controller = Controller::new(
            charter.clone(),
            Arc::new(Dial(Mutex::new(value))),
            actuators,
            store,
            T0,
        )
        .await
        .expect("controller")
        .with_health(health.clone(), metrics.clone());
        let (control, commands) = ControlHandle::channel();
        let clock = Arc::new(Manual(Mutex::new(T0)));
        let reloader = Reloader::new(
            file.clone(),
            charter,
            control,
            metrics.clone(),
            clock.clone(),
        );
        World {
            _dir: dir,
            file,
            controller,
            commands,
            reloader,
            health,
            metrics,
            clock,
            now: T0,
        }
    }

    async fn tick(&mut self) -> StateSnapshot {
        self.now = self.now.plus(Duration::from_secs(15));
        *self.clock.0.lock().expect("lock") = self.now;
        self.controller.tick(self.now).await.expect("tick");
        self.health.snapshot()
    }

    /// Write the file and reload it, the loop applying commands as the ticker does.
    async fn reload(&mut self, text: &str) -> Result<Vec<&'static str>, ReloadError> {
        std::fs::write(&self.file, text).expect("write");
        let reload = self.reloader.reload("test");
        tokio::pin!(reload);
        loop {
            tokio::select! {
                result = &mut reload => return result.map(|r| r.changed),
                Some(command) = self.commands.recv() => {
                    apply(&mut self.controller, command, self.now).await;
                }
            }
        }
    }

    fn successful(&self) -> i64 {
        self.metrics.config_reload_successful.get()
    }

    fn success_at(&self) -> f64 {
        self.metrics.config_reload_success_timestamp.get()
    }
}

fn keys(s: &StateSnapshot) -> Vec<String> {
    s.violations
        .iter()
        .map(|v| format!("{}@{}:{:?}", v.objective, v.component, v.severity))
        .collect()
}

#[tokio::test]
async fn a_reloaded_threshold_takes_effect_at_the_next_cycle_and_incidents_and_approvals_survive() {
    // 0.4 is under the warning threshold of 0.5: nothing is wrong.
    let mut w = World::new(&charter_text("saturation", 0.5, 0.9, URL), 0.4).await;
    assert_eq!(w.successful(), 1, "a start is a successful load");
    assert_eq!(w.success_at(), T0.millis() as f64 / 1000.0);
    let s = w.tick().await;
    assert!(s.violations.is_empty(), "{:?}", keys(&s));

    // The same value breaches a threshold of 0.3 once it is reloaded.
    let changed = w
        .reload(&charter_text("saturation", 0.3, 0.9, URL))
        .await
        .expect("reloaded");
    assert_eq!(changed, vec!["objectives"]);
    assert_eq!(
        w.controller.charter().objectives[0].thresholds.warning,
        Some(0.3)
    );
    let mut s = w.tick().await;
    for _ in 0..3 {
        if !s.pending_policies.is_empty() {
            break;
        }
        s = w.tick().await;
    }
    assert_eq!(s.violations.len(), 1, "{:?}", keys(&s));
    assert_eq!(s.incidents.len(), 1);
    assert_eq!(s.pending_policies.len(), 1, "nothing is auto-approved");
    let incident = s.incidents[0].id;
    let policy = s.pending_policies[0].id;

    // Another reload (critical moves under the value): the incident and its pending
    // policy are the same ones, and the violation is judged by the new threshold.
    let at = w.now;
    w.reload(&charter_text("saturation", 0.3, 0.35, URL))
        .await
        .expect("reloaded");
    assert_eq!(w.success_at(), at.millis() as f64 / 1000.0);
    let s = w.tick().await;
    assert_eq!(
        s.incidents.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![incident]
    );
    assert_eq!(
        s.pending_policies.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![policy]
    );
    assert_eq!(
        keys(&s),
        vec!["saturation@api:Some(Critical)".to_string()],
        "the new critical threshold judges the reading"
    );
}

#[tokio::test]
async fn a_bad_reload_keeps_the_running_charter_and_says_why() {
    let good = charter_text("saturation", 0.3, 0.9, URL);
    let mut w = World::new(&good, 0.4).await;
    w.tick().await;
    let s = w.tick().await;
    assert_eq!(s.violations.len(), 1, "{:?}", keys(&s));
    let started = w.success_at();

    // Not YAML a charter can be: every issue with FILE:LINE:COL.
    let broken = good.replace("warning: 0.3", "warning: lots");
    let e = w.reload(&broken).await.expect_err("invalid");
    let message = e.to_string();
    let file = w.file.display().to_string();
    assert!(matches!(e, ReloadError::Invalid(_)), "{e:?}");
    assert!(
        message.contains(&format!("{file}:")) && message.contains("objectives[0]"),
        "{message}"
    );
    let location = message
        .lines()
        .find(|l| l.contains(&file) && l.contains("objectives[0]"))
        .expect("an issue line");
    let rest = &location[location.find(&file).expect("file") + file.len()..];
    let mut parts = rest.trim_start_matches(':').split(':');
    assert!(
        parts.next().is_some_and(|l| l.parse::<u64>().is_ok()),
        "{location}"
    );
    assert!(
        parts.next().is_some_and(|c| c.parse::<u64>().is_ok()),
        "{location}"
    );
    assert_eq!(w.successful(), 0);
    assert_eq!(
        w.success_at(),
        started,
        "only a success moves the timestamp"
    );
    assert_eq!(
        w.controller.charter().objectives[0].thresholds.warning,
        Some(0.3)
    );

    // Valid, but it drops the objective an open violation is about.
    let e = w
        .reload(&charter_text("latency", 0.3, 0.9, URL))
        .await
        .expect_err("refused");
    assert!(matches!(e, ReloadError::Refused { .. }), "{e:?}");
    assert!(
        e.to_string().contains("open violation saturation@api"),
        "{e}"
    );
    assert_eq!(w.controller.charter().objectives[0].name, "saturation");
    assert_eq!(w.successful(), 0);

    // Valid, but the source was wired at start.
    let e = w
        .reload(&charter_text("saturation", 0.3, 0.9, "http://127.0.0.1:10"))
        .await
        .expect_err("needs a restart");
    assert!(
        matches!(&e, ReloadError::NeedsRestart { changed, .. } if changed == &vec!["source"]),
        "{e:?}"
    );
    assert!(e.to_string().contains("restart"), "{e}");
    // So are the rollout watchers.
    let e = w
        .reload(&format!("{good}changes: {{ watch_rollouts: false }}\n"))
        .await
        .expect_err("needs a restart");
    assert!(
        matches!(&e, ReloadError::NeedsRestart { changed, .. } if changed == &vec!["changes.watch_rollouts"]),
        "{e:?}"
    );

    // The loop went on with the old charter all along.
    let s = w.tick().await;
    assert_eq!(s.violations.len(), 1, "{:?}", keys(&s));

    // A good file again: success, and the same content reports no change.
    assert_eq!(w.reload(&good).await.expect("reloaded"), Vec::<&str>::new());
    assert_eq!(w.successful(), 1);
}

/// The ticker's side: a loop that records its cycles and the charters it was given.
#[derive(Default)]
struct Seen {
    ticks: Mutex<Vec<Timestamp>>,
    interval: Mutex<Option<Duration>>,
}

struct FakeLoop(Arc<Seen>);

impl Loop for FakeLoop {
    async fn tick(&mut self, now: Timestamp) -> Result<TickReport, ControllerError> {
        self.0.ticks.lock().expect("lock").push(now);
        Ok(TickReport::default())
    }
    async fn apply(&mut self, _command: Command, _now: Timestamp) -> Applied {
        Applied::Done
    }
}

struct FakeHost(Arc<Seen>);

impl Host for FakeHost {
    type Loop = FakeLoop;
    fn interval(&self) -> Duration {
        self.0
            .interval
            .lock()
            .expect("lock")
            .unwrap_or(Duration::from_secs(15))
    }
    async fn lead(&self, _fence: Arc<Fence>, _now: Timestamp) -> Result<FakeLoop, ControllerError> {
        Ok(FakeLoop(self.0.clone()))
    }
    async fn follow(&self, _command: Command, _now: Timestamp) -> Applied {
        Applied::Done
    }
    fn reload(&mut self, charter: Arc<Charter>) {
        *self.0.interval.lock().expect("lock") = Some(charter.interval);
    }
}

#[tokio::test(start_paused = true)]
async fn the_ticker_times_its_cycles_by_a_reloaded_interval() {
    let seen = Arc::new(Seen::default());
    let (control, commands) = ControlHandle::channel();
    let clock = Arc::new(TokioClock::starting_at(T0));
    let ticker = Ticker::single(
        FakeHost(seen.clone()),
        clock,
        FakeLoop(seen.clone()),
        Arc::new(Notify::new()),
        commands,
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn(ticker.run(stop.clone()));
    tokio::time::sleep(Duration::from_secs(31)).await;
    let at = |s: u64| T0.plus(Duration::from_secs(s));
    assert_eq!(
        *seen.ticks.lock().expect("lock"),
        vec![at(0), at(15), at(30)]
    );

    let text = charter_text("saturation", 0.5, 0.9, URL).replace("interval: 15s", "interval: 5s");
    let charter = Arc::new(
        charter_model::parse_charter(&text, "c.yaml", Path::new("."))
            .expect("valid")
            .0,
    );
    control
        .call(|reply| Command::Reload { charter, reply })
        .await
        .expect("answered")
        .expect("taken");
    // From the reload (at 31 s) on: every 5 s.
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(
        *seen.ticks.lock().expect("lock"),
        vec![at(0), at(15), at(30), at(36), at(41)]
    );
    stop.cancel();
    task.await.expect("joined").expect("no failure");
}
