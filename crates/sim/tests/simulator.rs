//! The simulator behind the loop's boundaries: `MetricSource` and `Actuator`.

mod common;

use charter_execute::Actuator;
use charter_model::{ActionKind, ChangeKind, Charter};
use charter_monitor::MetricSource;
use charter_sim::{Scenario, Simulator};
use charter_testkit::{EPOCH, charter_from};
use common::{action, secs};

const CHARTER: &str = "\
name: shop
components:
  - { name: frontend, depends_on: [api] }
  - { name: api, depends_on: [auth] }
  - { name: auth }
objectives:
  - name: errors
    metric: westworld_error_ratio
    components: [frontend, auth]
    above: { warning: 0.02, critical: 0.1 }
  - name: slo_burn
    expr: sum(rate(http_errors_total[5m]))
    components: [api]
    above: { warning: 1 }
  - name: made_up
    metric: westworld_happiness
    components: [api]
    below: { warning: 0.5 }
";

fn charter() -> Charter {
    charter_from(CHARTER)
}

fn simulator() -> Simulator {
    let s = Scenario::builtin("bad-deploy").expect("built-in");
    charter_testkit::simulator(&s, s.seed, EPOCH)
}

#[tokio::test]
async fn observe_advances_virtual_time_and_samples_every_pair() {
    let sim = simulator();
    let charter = charter();
    let at = EPOCH.plus(secs(60));
    let obs = sim.observe(&charter, at).await.expect("observed");
    assert_eq!(sim.with_world(|w| w.elapsed()), secs(60));
    assert_eq!(obs.at, Some(at));
    let pairs: Vec<(&str, &str, bool)> = obs
        .samples
        .iter()
        .map(|s| {
            (
                s.objective.as_str(),
                s.component.as_str(),
                s.value.is_some(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("errors", "frontend", true),
            ("errors", "auth", true),
            ("slo_burn", "api", false),
            ("made_up", "api", false),
        ]
    );
    assert!(obs.samples.iter().all(|s| s.at == at));
    assert!(
        obs.problems
            .iter()
            .any(|p| p.contains("slo_burn") && p.contains("PromQL")),
        "{:?}",
        obs.problems
    );
    assert!(
        obs.problems
            .iter()
            .any(|p| p.contains("westworld_happiness")),
        "{:?}",
        obs.problems
    );
    let frontend = obs.samples[0].value.expect("known");
    assert_eq!(
        Some(frontend),
        sim.with_world(|w| w.metric("westworld_error_ratio", "frontend"))
    );
    assert!(obs.changes.is_empty());

    // The bad deploy at 5m shows up as a change stamped in virtual time.
    let obs = sim
        .observe(&charter, EPOCH.plus(secs(330)))
        .await
        .expect("observed");
    assert_eq!(obs.changes.len(), 1);
    let deploy = &obs.changes[0];
    assert_eq!(
        (deploy.kind, deploy.by.as_str()),
        (ChangeKind::Deploy, "ci")
    );
    assert_eq!(deploy.at, EPOCH.plus(secs(300)));
    let auth = obs.samples[1].value.expect("known");
    assert!(auth > 0.25, "auth errors {auth}");

    // Time never runs backwards.
    sim.observe(&charter, EPOCH.plus(secs(10)))
        .await
        .expect("observed");
    assert_eq!(sim.with_world(|w| w.elapsed()), secs(330));
}

#[tokio::test]
async fn actuator_applies_through_the_shared_world() {
    let sim = simulator();
    let charter = charter();
    sim.observe(&charter, EPOCH.plus(secs(400)))
        .await
        .expect("observed");
    let state = sim.describe("auth").await.expect("known");
    assert_eq!(state.version.as_deref(), Some("v2"));
    assert_eq!(state.previous_version.as_deref(), Some("v1"));

    let rollback = action(ActionKind::Rollback, "auth", &[]);
    let clone = sim.clone();
    let applied = clone.apply("incident-1", &rollback).await.expect("applied");
    let again = sim.apply("incident-1", &rollback).await.expect("replayed");
    assert_eq!(applied, again);

    let obs = sim
        .observe(&charter, EPOCH.plus(secs(460)))
        .await
        .expect("observed");
    let ours: Vec<_> = obs.changes.iter().filter(|c| c.by == "charter").collect();
    assert_eq!(ours.len(), 1, "{:?}", obs.changes);
    assert_eq!(ours[0].at, EPOCH.plus(secs(400)));
    assert!(obs.samples[1].value.expect("known") < 0.01, "rolled back");
    assert_eq!(
        sim.describe("auth")
            .await
            .expect("known")
            .version
            .as_deref(),
        Some("v1")
    );
    assert!(sim.describe("mainframe").await.is_err());
}

#[tokio::test]
async fn status_reports_what_a_key_did_without_acting() {
    let sim = simulator();
    assert_eq!(sim.status("k-0").await.expect("known"), None);
    let scale = action(ActionKind::ScaleOut, "api", &[("step", "1")]);
    let applied = sim.apply("k-0", &scale).await.expect("applied");
    let replicas = sim.describe("api").await.expect("known").replicas;
    assert_eq!(sim.status("k-0").await.expect("known"), Some(applied));
    assert_eq!(sim.describe("api").await.expect("known").replicas, replicas);
    // A refused key changed nothing.
    let unknown = action(ActionKind::Restart, "mainframe", &[]);
    assert!(sim.apply("k-1", &unknown).await.is_err());
    assert_eq!(sim.status("k-1").await.expect("known"), None);
    assert_eq!(
        sim.with_world(|w| w.effects().clone()),
        [("k-0".to_string(), 1), ("k-1".to_string(), 0)].into()
    );
}
