//! Issue 17, item 3, through the loop: a zone losing capacity is diagnosed as the
//! zone and remedied by one group failover policy; a single service's fault in that
//! zone is still the service's.
//!
//! The source is scripted: an edge in zone a calls three services in zone b and one
//! in zone a, all using a store in zone a. When zone b loses half its capacity, every
//! service still running there doubles its CPU and slows down, and so does the edge
//! for as long as one of them is still there. The actuator moves a service to its
//! standby zone on failover, which the source then reads as healthy.

use async_trait::async_trait;
use charter_execute::{Actuator, ActuatorError, Applied, ComponentState};
use charter_knowledge::SqliteStore;
use charter_model::{
    Action, ActionKind, Charter, Diagnosis, Policy, Sample, Timestamp, parse_charter,
};
use charter_monitor::{MetricSource, Observation, SourceError};
use charter_orchestrator::{Controller, Event};
use charter_testkit::actuators;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const T0: Timestamp = charter_testkit::EPOCH;
const ZONE_B: [&str; 3] = ["cat", "ord", "pay"];

fn charter() -> Arc<Charter> {
    let text = r#"name: zones
interval: 15s
mode: autonomous
source:
  prometheus: { url: "http://127.0.0.1:9" }
actuators:
  fake: { http: { url: "http://127.0.0.1:9" } }
components:
  - { name: edge, depends_on: [cat, ord, pay, search], actuator: fake, replicas: { min: 2, max: 10 }, zone: a }
  - { name: cat, depends_on: [store], actuator: fake, replicas: { min: 2, max: 10 }, zone: b }
  - { name: ord, depends_on: [store], actuator: fake, replicas: { min: 2, max: 10 }, zone: b }
  - { name: pay, depends_on: [store], actuator: fake, replicas: { min: 2, max: 10 }, zone: b }
  - { name: search, depends_on: [store], actuator: fake, replicas: { min: 2, max: 10 }, zone: a }
  - { name: store, actuator: fake, replicas: { min: 2, max: 10 }, zone: a }
objectives:
  - name: cpu
    metric: cpu
    signal: utilization
    above: { warning: 0.8, critical: 0.95, clear: 0.7 }
    for: 30s
    remedies: [failover, scale_out]
  - name: latency
    metric: lat
    signal: latency
    above: { warning: 0.5, critical: 1.0, clear: 0.4 }
    for: 30s
    remedies: [scale_out, failover]
actions:
  failover: { disruption: 1, resource: 1, risk: 1 }
guardrails: { auto_approve_max_cost: 20, max_actions_per_hour: 20, max_concurrent: 4 }
"#;
    let (c, _) = parse_charter(text, "zones.yaml", Path::new(".")).expect("valid charter");
    Arc::new(c)
}

/// Where each component runs now (the actuator moves them), and which services
/// are degraded wherever they run (a fault of their own).
#[derive(Default)]
struct World {
    zone: BTreeMap<String, String>,
    zone_b_lost_capacity: bool,
    own_fault: BTreeSet<String>,
    applied: Vec<Action>,
}

impl World {
    fn degraded(&self, c: &str) -> bool {
        self.own_fault.contains(c)
            || (self.zone_b_lost_capacity && self.zone.get(c).is_some_and(|z| z == "b"))
    }
}

struct Scripted(Arc<Mutex<World>>);

#[async_trait]
impl MetricSource for Scripted {
    async fn observe(&self, charter: &Charter, now: Timestamp) -> Result<Observation, SourceError> {
        let w = self.0.lock().expect("lock");
        // A little deterministic wobble so that baselines have a spread.
        let wobble = ((now.0 / 15_000) % 3) as f64 * 0.01;
        let callee_slow = ZONE_B.iter().any(|c| w.degraded(c)) || w.degraded("search");
        let samples = charter
            .components
            .iter()
            .flat_map(|c| {
                let bad = w.degraded(&c.name);
                let edge_slow = c.name == "edge" && callee_slow;
                [
                    ("cpu", if bad { 0.97 } else { 0.45 + wobble }),
                    ("latency", if bad || edge_slow { 0.9 } else { 0.2 + wobble }),
                ]
                .map(|(o, v)| Sample {
                    objective: o.into(),
                    component: c.name.clone(),
                    at: now,
                    value: Some(v),
                })
            })
            .collect();
        Ok(Observation {
            at: Some(now),
            samples,
            changes: Vec::new(),
            problems: Vec::new(),
        })
    }
}

struct Mover(Arc<Mutex<World>>);

#[async_trait]
impl Actuator for Mover {
    async fn apply(&self, _key: &str, action: &Action) -> Result<Applied, ActuatorError> {
        let mut w = self.0.lock().expect("lock");
        let mut prior = BTreeMap::new();
        if action.kind == ActionKind::Failover {
            let from = w.zone.get(&action.component).cloned().unwrap_or_default();
            prior.insert("zone".into(), from.clone());
            let to = if from == "b" { "a" } else { "b" };
            w.zone.insert(action.component.clone(), to.into());
        }
        w.applied.push(action.clone());
        Ok(Applied {
            prior,
            detail: format!("{action} done"),
        })
    }

    async fn describe(&self, component: &str) -> Result<ComponentState, ActuatorError> {
        let w = self.0.lock().expect("lock");
        let zone = w.zone.get(component).cloned().unwrap_or_default();
        Ok(ComponentState {
            replicas: Some(4),
            version: Some("v1".into()),
            standby_zone: Some(if zone == "b" { "a" } else { "b" }.into()),
            zone: Some(zone),
            ..Default::default()
        })
    }
}

struct Run {
    events: Vec<(Duration, Event)>,
    world: Arc<Mutex<World>>,
}

/// Healthy for ten minutes, then `fault` on the world, then twenty minutes of loop.
async fn run(fault: impl FnOnce(&mut World)) -> Run {
    let charter = charter();
    let world = Arc::new(Mutex::new(World {
        zone: charter
            .components
            .iter()
            .map(|c| (c.name.clone(), c.zone.clone().unwrap_or_default()))
            .collect(),
        ..Default::default()
    }));
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("k.db"))
            .await
            .expect("store"),
    );
    let mut controller = Controller::new(
        charter.clone(),
        Arc::new(Scripted(world.clone())),
        actuators(&charter, Arc::new(Mover(world.clone()))),
        store,
        T0,
    )
    .await
    .expect("controller");
    let mut events = Vec::new();
    let mut fault = Some(fault);
    let mut t = Duration::ZERO;
    while t <= Duration::from_secs(30 * 60) {
        if t >= Duration::from_secs(10 * 60)
            && let Some(f) = fault.take()
        {
            f(&mut world.lock().expect("lock"));
        }
        let report = controller.tick(T0.plus(t)).await.expect("tick");
        events.extend(report.events.into_iter().map(|e| (t, e.event)));
        t += charter.interval;
    }
    Run { events, world }
}

impl Run {
    fn policies(&self) -> Vec<&Policy> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::PolicyDecided { policy } => Some(policy),
                _ => None,
            })
            .collect()
    }

    /// The diagnosis the first policy was decided on.
    fn diagnosis_before_first_policy(&self) -> Option<&Diagnosis> {
        let mut last = None;
        for (_, e) in &self.events {
            match e {
                Event::Diagnosed { diagnosis } => last = Some(diagnosis),
                Event::PolicyDecided { .. } => return last,
                _ => {}
            }
        }
        last
    }
}

#[tokio::test]
async fn a_zone_losing_capacity_gets_one_group_failover_and_the_zone_as_root() {
    let r = run(|w| w.zone_b_lost_capacity = true).await;
    let d = r.diagnosis_before_first_policy().expect("a diagnosis");
    let root = d.root().expect("a root");
    assert_eq!(root.component, "zone:b", "{d:#?}");
    assert!(
        root.evidence[0].contains("cat, ord, pay"),
        "{:?}",
        root.evidence
    );
    let policies = r.policies();
    assert_eq!(policies.len(), 1, "{policies:#?}");
    let p = policies[0];
    let steps: Vec<(ActionKind, &str)> = p
        .actions
        .iter()
        .map(|a| (a.kind, a.component.as_str()))
        .collect();
    assert_eq!(
        steps,
        ZONE_B.map(|c| (ActionKind::Failover, c)).to_vec(),
        "{p:#?}"
    );
    assert!(p.waits_secs.iter().all(|w| *w == 0));
    assert!(
        p.rationale.contains("group failover of zone:b"),
        "{}",
        p.rationale
    );
    // Executed as one: every service moved, nothing else applied.
    let w = r.world.lock().expect("lock");
    assert_eq!(w.applied.len(), 3, "{:?}", w.applied);
    assert!(ZONE_B.iter().all(|c| w.zone[*c] == "a"));
}

#[tokio::test]
async fn a_single_service_fault_in_the_zone_is_still_the_service() {
    let r = run(|w| {
        w.own_fault.insert("ord".into());
    })
    .await;
    let d = r.diagnosis_before_first_policy().expect("a diagnosis");
    assert_eq!(d.root().expect("a root").component, "ord", "{d:#?}");
    assert!(d.hypotheses.iter().all(|h| h.component != "zone:b"));
    let p = r.policies().into_iter().next().expect("a policy");
    assert!(p.actions.iter().all(|a| a.component == "ord"), "{p:#?}");
}
