//! Fault tests of execution against the Westworld simulator, checked on the
//! simulator's own state:
//!
//! - an actuator failing at step k of an n-step policy leaves the system as it was;
//! - an action after which the objective is worse is rolled back;
//! - a compensation that fails quarantines the component and escalates, once.
//!
//! The actuator is the simulator wrapped in [`Faulty`], which fails or misbehaves
//! on purpose at chosen calls and records every call.

use async_trait::async_trait;
use charter_execute::{Actuator, ActuatorError, Applied, ComponentState};
use charter_knowledge::SqliteStore;
use charter_model::{Action, ActionKind, Charter, OutcomeClass};
use charter_orchestrator::{Controller, Event, Health, LoopMetrics};
use charter_sim::{Fault, FaultKind, Scenario, Simulator};
use charter_testkit::{EPOCH, WESTWORLD_COMPONENTS, actuators, simulator, westworld};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The simulator as an actuator that fails where told to.
struct Faulty {
    sim: Simulator,
    /// Fail the forward step with this index (0-based, counted over the run).
    fail_forward: Option<usize>,
    /// Fail every compensation.
    fail_undo: bool,
    /// When a forward action of this kind is applied, make things much worse: a
    /// second, bigger surge arrives at its component.
    worsen_on: Option<ActionKind>,
    forward: AtomicUsize,
    /// Every component's state just before the first forward call.
    before: Mutex<Option<BTreeMap<String, ComponentState>>>,
    calls: Mutex<Vec<(String, Action, bool)>>,
}

impl Faulty {
    fn new(sim: &Simulator) -> Self {
        Faulty {
            sim: sim.clone(),
            fail_forward: None,
            fail_undo: false,
            worsen_on: None,
            forward: AtomicUsize::new(0),
            before: Mutex::new(None),
            calls: Mutex::new(Vec::new()),
        }
    }

    async fn states(&self) -> BTreeMap<String, ComponentState> {
        let mut m = BTreeMap::new();
        for c in WESTWORLD_COMPONENTS {
            m.insert(c.to_string(), self.sim.describe(c).await.expect("describe"));
        }
        m
    }
}

#[async_trait]
impl Actuator for Faulty {
    async fn apply(&self, key: &str, action: &Action) -> Result<Applied, ActuatorError> {
        let undo = key.ends_with("-undo");
        if undo {
            let ok = !self.fail_undo;
            self.calls
                .lock()
                .expect("lock")
                .push((key.into(), action.clone(), ok));
            if !ok {
                return Err(ActuatorError::Failed("injected: undo refused".into()));
            }
            return self.sim.apply(key, action).await;
        }
        let n = self.forward.fetch_add(1, Ordering::SeqCst);
        if n == 0 {
            let s = self.states().await;
            *self.before.lock().expect("lock") = Some(s);
        }
        let fail = self.fail_forward == Some(n);
        self.calls
            .lock()
            .expect("lock")
            .push((key.into(), action.clone(), !fail));
        if fail {
            return Err(ActuatorError::Failed(format!("injected: step {n} fails")));
        }
        let r = self.sim.apply(key, action).await;
        if self.worsen_on == Some(action.kind) {
            let target = action.component.clone();
            self.sim.with_world(|w| {
                let at = w.now().since(self.sim.epoch());
                let mut f = Fault::new(FaultKind::TrafficSurge, &target, at);
                f.effect = charter_sim::FaultEffect::TrafficSurge { factor: 8.0 };
                f.duration = Some(Duration::from_secs(1800));
                w.inject(f).expect("inject the worsening surge");
            });
        }
        r
    }

    async fn describe(&self, component: &str) -> Result<ComponentState, ActuatorError> {
        self.sim.describe(component).await
    }

    async fn status(&self, key: &str) -> Result<Option<Applied>, ActuatorError> {
        self.sim.status(key).await
    }
}

struct Run {
    controller: Controller,
    /// The controller's own metrics (shared: read them after ticks).
    metrics: LoopMetrics,
    act: Arc<Faulty>,
    events: Vec<(Duration, Event)>,
    t: Duration,
    interval: Duration,
    end: Duration,
    _dir: tempfile::TempDir,
}

async fn start(scenario: &str, configure: impl FnOnce(&mut Faulty)) -> Run {
    start_with(scenario, westworld(), 1, configure).await
}

async fn start_with(
    scenario: &str,
    charter: Arc<Charter>,
    seed: u64,
    configure: impl FnOnce(&mut Faulty),
) -> Run {
    let scenario = Scenario::builtin(scenario).expect("built-in scenario");
    let sim = simulator(&scenario, seed, EPOCH);
    let mut f = Faulty::new(&sim);
    configure(&mut f);
    let act = Arc::new(f);
    let actuators = actuators(&charter, act.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("k.db"))
            .await
            .expect("store"),
    );
    let controller = Controller::new(charter.clone(), Arc::new(sim), actuators, store, EPOCH)
        .await
        .expect("controller");
    let metrics = LoopMetrics::unregistered();
    let controller = controller.with_health(Arc::new(Health::default()), metrics.clone());
    Run {
        controller,
        metrics,
        act,
        events: Vec::new(),
        t: Duration::ZERO,
        interval: charter.interval,
        end: scenario.duration,
        _dir: dir,
    }
}

impl Run {
    /// Tick until `stop` holds for the events of one tick (then return them), or the
    /// scenario ends (then panic with `what`).
    async fn until(&mut self, what: &str, stop: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        while self.t <= self.end {
            let report = self
                .controller
                .tick(EPOCH.plus(self.t))
                .await
                .expect("tick");
            let evs: Vec<Event> = report.events.into_iter().map(|e| e.event).collect();
            self.events.extend(evs.iter().cloned().map(|e| (self.t, e)));
            self.t += self.interval;
            if stop(&evs) {
                return evs;
            }
        }
        panic!("never saw: {what}; events: {:#?}", self.events);
    }

    fn first_policy_len(&self) -> usize {
        self.events
            .iter()
            .find_map(|(_, e)| match e {
                Event::PolicyDecided { policy } => Some(policy.actions.len()),
                _ => None,
            })
            .expect("a policy was decided")
    }
}

#[tokio::test]
async fn a_failure_at_any_step_of_a_policy_leaves_the_system_as_before() {
    // The traffic surge gets the 3-step policy: throttle, scale out, lift the throttle.
    for k in 0..3 {
        let mut run = start("traffic-surge", |f| f.fail_forward = Some(k)).await;
        let evs = run
            .until("a failed step", |evs| {
                evs.iter().any(|e| matches!(e, Event::StepFailed { .. }))
            })
            .await;
        assert_eq!(run.first_policy_len(), 3, "the bridge policy is planned");
        // Compensation ran in the same cycle: the world is as it was before step 0.
        let before = run
            .act
            .before
            .lock()
            .expect("lock")
            .clone()
            .expect("snapshot");
        let after = run.act.states().await;
        for c in WESTWORLD_COMPONENTS {
            let (b, a) = (&before[c], &after[c]);
            assert_eq!(
                (b.replicas, b.throttle_rate, &b.version, &b.zone),
                (a.replicas, a.throttle_rate, &a.version, &a.zone),
                "step {k} failed: {c} is not as before"
            );
        }
        let undone = evs
            .iter()
            .filter(|e| matches!(e, Event::Compensated { ok: true, .. }))
            .count();
        assert_eq!(undone, k, "step {k} failed: {k} completed step(s) undone");
    }
}

#[tokio::test]
async fn an_action_that_makes_things_worse_is_rolled_back() {
    let mut run = start("traffic-surge", |f| {
        f.worsen_on = Some(ActionKind::ScaleOut)
    })
    .await;
    let evs = run
        .until("a worsened verification", |evs| {
            evs.iter().any(|e| {
                matches!(
                    e,
                    Event::Verified {
                        outcome: OutcomeClass::Worsened,
                        ..
                    }
                )
            })
        })
        .await;
    let before = run
        .act
        .before
        .lock()
        .expect("lock")
        .clone()
        .expect("snapshot");
    let after = run.act.states().await;
    // Every applied step was undone, most recent first, and catalog is back to its
    // replica count and admission limit from before the policy.
    let undone: Vec<ActionKind> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Compensated {
                action: Some(a),
                ok: true,
                ..
            } => Some(a.kind),
            _ => None,
        })
        .collect();
    let applied: Vec<ActionKind> = run
        .act
        .calls
        .lock()
        .expect("lock")
        .iter()
        .filter(|(k, _, ok)| *ok && !k.ends_with("-undo"))
        .map(|(_, a, _)| a.kind)
        .collect();
    assert!(!applied.is_empty());
    let reversible: Vec<ActionKind> = applied
        .iter()
        .rev()
        .copied()
        .filter(|k| k.is_reversible())
        .map(|k| match k {
            ActionKind::ScaleOut => ActionKind::ScaleIn,
            k => k,
        })
        .collect();
    assert_eq!(undone, reversible, "compensations in reverse order");
    assert_eq!(before["catalog"].replicas, after["catalog"].replicas);
    assert_eq!(
        before["catalog"].throttle_rate,
        after["catalog"].throttle_rate
    );
}

#[tokio::test]
async fn a_failing_compensation_quarantines_and_escalates_once() {
    // Step 1 (scale out) fails, so step 0 (throttle) must be undone — and the undo
    // is refused.
    let mut run = start("traffic-surge", |f| {
        f.fail_forward = Some(1);
        f.fail_undo = true;
    })
    .await;
    run.until("an escalation", |evs| {
        evs.iter()
            .any(|e| matches!(e, Event::IncidentEscalated { .. }))
    })
    .await;
    // Run the rest of the scenario: nothing more may happen on catalog, and the
    // escalation is not repeated.
    let calls_at_escalation = run.act.calls.lock().expect("lock").len();
    while run.t <= run.end {
        let report = run.controller.tick(EPOCH.plus(run.t)).await.expect("tick");
        run.events
            .extend(report.events.into_iter().map(|e| (run.t, e.event)));
        run.t += run.interval;
    }
    // The escalation is not repeated for its incident. (A later, separate incident
    // may be escalated for its own failed undo: every undo is refused here.)
    let escalations: Vec<(charter_model::IncidentId, &String)> = run
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::IncidentEscalated {
                incident_id,
                reason,
            } => Some((*incident_id, reason)),
            _ => None,
        })
        .collect();
    let first = escalations[0].0;
    assert_eq!(
        escalations.iter().filter(|(id, _)| *id == first).count(),
        1,
        "{escalations:?}"
    );
    assert!(
        escalations[0].1.contains("compensation failed"),
        "{escalations:?}"
    );
    let later: Vec<(String, Action, bool)> =
        run.act.calls.lock().expect("lock")[calls_at_escalation..].to_vec();
    assert!(
        later.iter().all(|(_, a, _)| a.component != "catalog"),
        "acted on quarantined catalog: {later:?}"
    );
    // The operating gauges follow: one escalation counted per escalation event, and
    // the quarantined components as the guard holds them.
    assert!(run.metrics.quarantined_components.get() >= 1);
    assert_eq!(run.metrics.escalations.get(), escalations.len() as u64);
}

#[tokio::test]
async fn a_pause_holds_back_compensations_too() {
    // The scale out makes things worse; before its verification a human pulls the
    // kill switch: nothing is sent while paused (the execution waits, announced once,
    // and nothing fails, is undone or quarantined); after the resume it goes on, is
    // found worse and rolled back.
    let mut run = start("traffic-surge", |f| {
        f.worsen_on = Some(ActionKind::ScaleOut)
    })
    .await;
    run.until("the scale out", |evs| {
        evs.iter().any(|e| {
            matches!(e, Event::StepApplied { action, .. } if action.kind == ActionKind::ScaleOut)
        })
    })
    .await;
    run.controller
        .pause("alice", "looking at it", EPOCH.plus(run.t))
        .await
        .expect("pause");
    let calls_at_pause = run.act.calls.lock().expect("lock").len();
    assert_eq!(run.metrics.paused.get(), 0, "not yet published");
    run.until("the execution held", |evs| {
        evs.iter()
            .any(|e| matches!(e, Event::Held { reason, .. } if reason.contains("paused")))
    })
    .await;
    for _ in 0..20 {
        let report = run.controller.tick(EPOCH.plus(run.t)).await.expect("tick");
        run.events
            .extend(report.events.into_iter().map(|e| (run.t, e.event)));
        run.t += run.interval;
    }
    let later: Vec<(String, Action, bool)> =
        run.act.calls.lock().expect("lock")[calls_at_pause..].to_vec();
    assert!(later.is_empty(), "acted while paused: {later:?}");
    assert_eq!(run.metrics.paused.get(), 1, "charter_paused while paused");
    let after_pause = |f: &dyn Fn(&Event) -> bool| run.events.iter().filter(|(_, e)| f(e)).count();
    assert_eq!(after_pause(&|e| matches!(e, Event::Held { .. })), 1);
    assert_eq!(
        after_pause(&|e| matches!(
            e,
            Event::Compensated { .. } | Event::IncidentEscalated { .. }
        )),
        0,
        "a pause neither fails nor escalates"
    );
    run.controller
        .resume("alice", EPOCH.plus(run.t))
        .await
        .expect("resume");
    run.until("a cycle after the resume", |_| true).await;
    assert_eq!(
        run.metrics.paused.get(),
        0,
        "charter_paused after the resume"
    );
    run.until("the rollback after the resume", |evs| {
        evs.iter()
            .any(|e| matches!(e, Event::Compensated { ok: true, .. }))
    })
    .await;
}

#[tokio::test]
async fn pending_approvals_are_counted_each_cycle() {
    // Nothing is cheap enough to approve itself: every policy waits for a human, and
    // charter_pending_approvals shows how many wait at the end of each cycle.
    let mut manual = (*westworld()).clone();
    manual.guardrails.auto_approve_max_cost = 0.0;
    let mut run = start_with("traffic-surge", Arc::new(manual), 1, |_| {}).await;
    let mut seen = 0;
    while run.t <= run.end {
        run.controller.tick(EPOCH.plus(run.t)).await.expect("tick");
        run.t += run.interval;
        let pending = run.controller.pending_policies().len();
        assert_eq!(run.metrics.pending_approvals.get(), pending as i64);
        seen = seen.max(pending);
    }
    assert!(seen > 0, "no policy ever waited for approval");
}

#[tokio::test]
async fn shadow_mode_never_calls_an_actuator() {
    let mut shadow = (*westworld()).clone();
    shadow.mode = charter_model::Mode::Shadow;
    let shadow = Arc::new(shadow);
    let mut decided = 0;
    for scenario in Scenario::builtin_names() {
        for seed in [1] {
            let mut run = start_with(scenario, shadow.clone(), seed, |_| {}).await;
            while run.t <= run.end {
                let report = run.controller.tick(EPOCH.plus(run.t)).await.expect("tick");
                for e in report.events {
                    if let Event::PolicyDecided { policy } = &e.event {
                        assert_eq!(
                            policy.approval,
                            charter_model::ApprovalState::NotExecuted,
                            "{scenario} seed {seed}"
                        );
                        decided += 1;
                    }
                    assert!(
                        !matches!(
                            e.event,
                            Event::StepApplied { .. } | Event::Compensated { .. }
                        ),
                        "{scenario} seed {seed}: shadow mode acted: {:?}",
                        e.event
                    );
                }
                run.t += run.interval;
            }
            let calls = run.act.calls.lock().expect("lock").len();
            assert_eq!(
                calls, 0,
                "{scenario} seed {seed}: actuator called in shadow mode"
            );
        }
    }
    // Shadow mode still plans and records: the property is not vacuous.
    assert!(decided >= 5, "only {decided} shadow policies");
}
