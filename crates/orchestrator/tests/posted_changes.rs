//! Changes that reach the loop only through the store, as `POST /api/v1/changes` puts
//! them there: the Westworld simulator's bad deploy, with the simulator's own change
//! log withheld from the loop. The deploy tool (here the test) posts the deploy; the
//! loop must take it in on its next cycle, diagnose a bad change that says where the
//! change came from, and roll it back. Without the post, nothing tells the loop that
//! auth changed, and the diagnosis is no bad change.

use async_trait::async_trait;
use charter_knowledge::{ChangeRecord, SqliteStore, prelude::*};
use charter_model::{ActionKind, CauseClass, Change, ChangeSource, Charter, Diagnosis, Timestamp};
use charter_monitor::{MetricSource, Observation, SourceError};
use charter_orchestrator::{Controller, Event, Health, LoopMetrics};
use charter_sim::{Scenario, Simulator};
use charter_testkit::{EPOCH, actuators, simulator, westworld};
use prometheus_client::registry::Registry;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The simulator as a metric source that keeps its change log to itself: the changes
/// it would report go to `withheld`, where the test (the deploy tool) finds them.
struct Withholding {
    sim: Simulator,
    withheld: Mutex<Vec<Change>>,
}

#[async_trait]
impl MetricSource for Withholding {
    async fn observe(&self, charter: &Charter, now: Timestamp) -> Result<Observation, SourceError> {
        let mut obs = self.sim.observe(charter, now).await?;
        self.withheld
            .lock()
            .expect("lock")
            .extend(std::mem::take(&mut obs.changes));
        Ok(obs)
    }
}

struct Run {
    events: Vec<(Duration, Event)>,
    health: Arc<Health>,
    posted: usize,
}

/// The bad-deploy scenario with the simulator's changes withheld; with `post`, each
/// deploy the simulator made (not Charter's own actions) is posted to the store as
/// Argo CD's webhook would be, after the cycle that made it.
async fn run(post: bool) -> Run {
    let scenario = Scenario::builtin("bad-deploy").expect("built-in scenario");
    let charter = westworld();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("k.db"))
            .await
            .expect("store"),
    );
    let sim = simulator(&scenario, 1, EPOCH);
    let source = Arc::new(Withholding {
        sim: sim.clone(),
        withheld: Mutex::new(Vec::new()),
    });
    let health = Arc::new(Health::default());
    let mut registry = Registry::default();
    let mut c = Controller::new(
        charter.clone(),
        source.clone(),
        actuators(&charter, Arc::new(sim.clone())),
        store.clone(),
        EPOCH,
    )
    .await
    .expect("controller")
    .with_health(health.clone(), LoopMetrics::register(&mut registry));
    let mut events = Vec::new();
    let mut posted = 0;
    let mut t = Duration::ZERO;
    while t <= scenario.duration {
        let report = c.tick(EPOCH.plus(t)).await.expect("tick");
        events.extend(report.events.into_iter().map(|e| (t, e.event)));
        let withheld = std::mem::take(&mut *source.withheld.lock().expect("lock"));
        let deploys: Vec<ChangeRecord> = withheld
            .into_iter()
            .filter(|ch| post && ch.by != "charter")
            .map(|ch| ChangeRecord {
                seq: 0,
                key: format!("argocd:argocd/{}@{}", ch.component, ch.at.millis()),
                received_at: EPOCH.plus(t),
                change: Change {
                    by: "argocd".into(),
                    source: ChangeSource::Argocd,
                    ..ch
                },
            })
            .collect();
        posted += deploys.len();
        // A webhook retried by its sender: recorded once.
        store.save_changes(&deploys).await.expect("save");
        store.save_changes(&deploys).await.expect("save again");
        t += charter.interval;
    }
    Run {
        events,
        health,
        posted,
    }
}

impl Run {
    fn first_diagnosis(&self) -> Option<&Diagnosis> {
        self.events.iter().find_map(|(_, e)| match e {
            Event::Diagnosed { diagnosis } => Some(diagnosis),
            _ => None,
        })
    }

    fn first_main(&self) -> Option<(ActionKind, String, Option<CauseClass>)> {
        self.events.iter().find_map(|(_, e)| match e {
            Event::PolicyDecided { policy } => {
                let a = &policy.actions[policy.main];
                Some((
                    a.kind,
                    a.component.clone(),
                    policy.context.as_ref().map(|c| c.cause),
                ))
            }
            _ => None,
        })
    }

    fn log(&self) -> String {
        self.events
            .iter()
            .map(|(t, e)| format!("{}s {e}", t.as_secs()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[tokio::test]
async fn a_posted_deploy_is_diagnosed_as_a_bad_change_and_rolled_back() {
    let r = run(true).await;
    assert!(
        r.posted >= 1,
        "the simulator deployed nothing:\n{}",
        r.log()
    );
    assert_eq!(
        r.first_main(),
        Some((
            ActionKind::Rollback,
            "auth".to_string(),
            Some(CauseClass::BadChange)
        )),
        "{}",
        r.log()
    );
    let d = r.first_diagnosis().expect("a diagnosis");
    let root = d.root().expect("a root cause");
    assert_eq!(
        (root.component.as_str(), root.cause),
        ("auth", CauseClass::BadChange)
    );
    assert!(
        root.evidence
            .iter()
            .any(|e| e.starts_with("deploy on auth")
                && e.ends_with("(by argocd, reported by argocd)")),
        "{:#?}",
        root.evidence
    );
    // The state the API serves lists the changes of the last hour with their source.
    let state = r.health.snapshot();
    assert!(
        state
            .changes
            .iter()
            .any(|c| c.component == "auth" && c.source == ChangeSource::Argocd),
        "{:?}",
        state.changes
    );
}

#[tokio::test]
async fn without_the_post_the_loop_never_hears_of_the_deploy() {
    let r = run(false).await;
    assert_eq!(r.posted, 0);
    let d = r.first_diagnosis().expect("a diagnosis");
    assert!(
        d.hypotheses
            .iter()
            .all(|h| h.cause != CauseClass::BadChange),
        "{d:#?}"
    );
    assert!(
        r.health
            .snapshot()
            .changes
            .iter()
            .all(|c| c.by == "charter"),
        "{:?}",
        r.health.snapshot().changes
    );
}
