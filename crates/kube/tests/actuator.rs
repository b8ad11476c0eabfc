//! The Kubernetes actuator against a scripted API server: the exact requests each
//! action makes, idempotency (in memory and across restarts), errors and timeouts.

mod common;

use charter_execute::{Actuator, ActuatorError, Applied};
use charter_kube::KubernetesActuator;
use charter_model::{Action, ActionKind, ComponentState};
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::task::JoinHandle;

type Outcome = JoinHandle<Result<Applied, ActuatorError>>;

fn start(act: &Arc<KubernetesActuator>, key: &str, action: &Action) -> Outcome {
    let (act, key, action) = (act.clone(), key.to_string(), action.clone());
    tokio::spawn(async move { act.apply(&key, &action).await })
}

async fn finished(outcome: Outcome) -> Result<Applied, ActuatorError> {
    outcome.await.expect("the apply task")
}

fn prior(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn setup() -> (Arc<KubernetesActuator>, ApiServer) {
    let (act, api) = actuator();
    (Arc::new(act), api)
}

/// Drop the actuator (and with it the client), then check nothing else was sent.
async fn no_more(act: Arc<KubernetesActuator>, api: ApiServer) {
    drop(act);
    api.assert_no_more_requests().await;
}

#[tokio::test]
async fn scale_out_goes_through_the_scale_subresource() {
    let (act, mut api) = setup();
    let action = Action::new(ActionKind::ScaleOut, "catalog").with_param("step", 2);
    let outcome = start(&act, "e1-0", &action);

    api.get(DEPLOY, Deploy::test().json()).await;
    api.get(SCALE, scale(3)).await;
    // An HPA for another Deployment does not count.
    api.get(
        HPAS,
        list(
            "HorizontalPodAutoscalerList",
            vec![hpa("orders", 2, 4, 2, json!({}))],
        ),
    )
    .await;
    let claim = api.patch(DEPLOY, Deploy::test().json()).await;
    assert_eq!(claim["metadata"]["resourceVersion"], "100");
    assert_eq!(
        claim["metadata"]["annotations"]["charter.dev/last-action-key"],
        "e1-0"
    );
    let pending = record_in(&claim);
    assert_eq!(pending["state"], "pending");
    assert_eq!(
        pending["steps"],
        json!([{ "write": "scale", "replicas": 5 }])
    );
    assert!(
        claim.get("spec").is_none(),
        "the claim changes nothing else: {claim}"
    );

    let body = api.patch(SCALE, scale(5)).await;
    assert_eq!(body, json!({ "spec": { "replicas": 5 } }));

    let done = api.patch(DEPLOY, Deploy::test().json()).await;
    assert_eq!(record_in(&done)["state"], "done");
    assert!(done["metadata"].get("resourceVersion").is_none());

    let applied = finished(outcome).await.expect("applied");
    assert_eq!(applied.prior, prior(&[("replicas", "3")]));
    assert_eq!(
        applied.detail,
        "scaled deployment `catalog-deploy` from 3 to 5 replicas"
    );
    assert_eq!(
        action
            .inverse(&applied.prior)
            .and_then(|i| i.param("to_replicas").map(str::to_string)),
        Some("3".into())
    );
    no_more(act, api).await;
}

#[tokio::test]
async fn scale_out_moves_the_hpa_bounds_instead_of_fighting_the_hpa() {
    let (act, mut api) = setup();
    let action = Action::new(ActionKind::ScaleOut, "catalog").with_param("step", 2);
    let outcome = start(&act, "e2-0", &action);
    api.get(DEPLOY, Deploy::test().json()).await;
    api.get(SCALE, scale(3)).await;
    api.get(
        HPAS,
        list(
            "HorizontalPodAutoscalerList",
            vec![hpa("catalog-deploy", 2, 4, 3, json!({}))],
        ),
    )
    .await;
    api.patch(DEPLOY, Deploy::test().json()).await;
    let body = api
        .patch(
            &format!("{HPAS}/catalog"),
            hpa("catalog-deploy", 5, 5, 3, json!({})),
        )
        .await;
    assert_eq!(
        body,
        json!({
            "spec": { "minReplicas": 5, "maxReplicas": 5 },
            "metadata": { "annotations": { "charter.dev/original-max-replicas": "4" } }
        })
    );
    api.patch(DEPLOY, Deploy::test().json()).await;
    let applied = finished(outcome).await.expect("applied");
    assert_eq!(applied.prior["replicas"], "2", "the previous minReplicas");
    assert_eq!(applied.prior["hpa"], "catalog");
    assert!(
        applied
            .detail
            .contains("HorizontalPodAutoscaler `catalog` manages deployment `catalog-deploy`"),
        "{}",
        applied.detail
    );
    assert!(
        applied
            .detail
            .contains("minReplicas 2 → 5, maxReplicas 4 → 5")
    );

    // Undo: the inverse puts both bounds back and drops the annotation; /scale is
    // never written.
    let inverse = action.inverse(&applied.prior).expect("reversible");
    let outcome = start(&act, "e2-0-undo", &inverse);
    api.get(DEPLOY, Deploy::test().json()).await;
    api.get(SCALE, scale(5)).await;
    let annotated = json!({ "charter.dev/original-max-replicas": "4" });
    api.get(
        HPAS,
        list(
            "HorizontalPodAutoscalerList",
            vec![hpa("catalog-deploy", 5, 5, 5, annotated)],
        ),
    )
    .await;
    api.patch(DEPLOY, Deploy::test().json()).await;
    let body = api
        .patch(
            &format!("{HPAS}/catalog"),
            hpa("catalog-deploy", 2, 4, 5, json!({})),
        )
        .await;
    assert_eq!(
        body,
        json!({
            "spec": { "minReplicas": 2, "maxReplicas": 4 },
            "metadata": { "annotations": { "charter.dev/original-max-replicas": null } }
        })
    );
    api.patch(DEPLOY, Deploy::test().json()).await;
    finished(outcome).await.expect("undone");
    no_more(act, api).await;
}

#[tokio::test]
async fn restart_patches_the_pod_template_annotation_in_one_request() {
    let (act, mut api) = setup();
    let action = Action::new(ActionKind::Restart, "catalog");
    let outcome = start(&act, "e3-0", &action);
    api.get(DEPLOY, Deploy::test().json()).await;
    let body = api.patch(DEPLOY, Deploy::test().json()).await;
    assert_eq!(
        body["spec"],
        json!({ "template": { "metadata": { "annotations": {
            "kubectl.kubernetes.io/restartedAt": NOW
        } } } })
    );
    assert_eq!(body["metadata"]["resourceVersion"], "100");
    assert_eq!(record_in(&body)["state"], "done");
    let applied = finished(outcome).await.expect("applied");
    assert!(applied.prior.is_empty());
    assert!(
        applied.detail.contains("cannot be undone"),
        "{}",
        applied.detail
    );
    assert!(action.inverse(&applied.prior).is_none());
    no_more(act, api).await;
}

#[tokio::test]
async fn rollback_restores_the_previous_revisions_pod_template() {
    let (act, mut api) = setup();
    let action = Action::new(ActionKind::Rollback, "catalog");
    let outcome = start(&act, "e4-0", &action);
    api.get(DEPLOY, Deploy::test().json()).await;
    let query = api
        .get(
            REPLICASETS,
            list(
                "ReplicaSetList",
                vec![
                    replicaset(1, UID),
                    replicaset(2, UID),
                    replicaset(3, UID),
                    // Matches the labels but belongs to someone else.
                    replicaset(9, "another-uid"),
                ],
            ),
        )
        .await;
    assert_eq!(query, "labelSelector=app%3Dcatalog");
    let body = api.patch(DEPLOY, Deploy::test().json()).await;
    // Only the difference: the image; the ReplicaSet's pod-template-hash is not copied.
    assert_eq!(
        body["spec"],
        json!({ "template": { "spec": { "containers": [
            { "name": "catalog", "image": "catalog:2" }
        ] } } })
    );
    assert_eq!(body["metadata"]["resourceVersion"], "100");
    let applied = finished(outcome).await.expect("applied");
    assert_eq!(applied.prior, prior(&[("version", "3")]));
    assert!(
        applied.detail.contains(
            "from revision 3 to the pod template of revision 2 (ReplicaSet `catalog-deploy-h2`)"
        ),
        "{}",
        applied.detail
    );
    let inverse = action.inverse(&applied.prior).expect("reversible");
    assert_eq!(inverse.param("to_version"), Some("3"));
    no_more(act, api).await;
}

#[tokio::test]
async fn rollback_without_an_earlier_revision_is_a_precondition() {
    let (act, mut api) = setup();
    let outcome = start(&act, "e4-1", &Action::new(ActionKind::Rollback, "catalog"));
    api.get(DEPLOY, Deploy::test().json()).await;
    api.get(
        REPLICASETS,
        list("ReplicaSetList", vec![replicaset(3, UID)]),
    )
    .await;
    let e = finished(outcome).await.expect_err("refused");
    assert!(
        matches!(&e, ActuatorError::Precondition(m) if m.contains("no revision before 3")),
        "{e}"
    );
    no_more(act, api).await;
}

#[tokio::test]
async fn reconfigure_patches_the_configmap_then_restarts() {
    let (act, mut api) = setup();
    let action = Action::new(ActionKind::Reconfigure, "catalog")
        .with_param("key", "pool_size")
        .with_param("value", "20");
    let outcome = start(&act, "e5-0", &action);
    api.get(DEPLOY, Deploy::test().json()).await;
    api.get(
        CONFIGMAP,
        configmap(json!({ "pool_size": "10", "other": "x" })),
    )
    .await;
    let claim = api.patch(DEPLOY, Deploy::test().json()).await;
    assert_eq!(record_in(&claim)["state"], "pending");
    assert_eq!(claim["metadata"]["resourceVersion"], "100");
    let body = api
        .patch(
            CONFIGMAP,
            configmap(json!({ "pool_size": "20", "other": "x" })),
        )
        .await;
    assert_eq!(body, json!({ "data": { "pool_size": "20" } }));
    let done = api.patch(DEPLOY, Deploy::test().json()).await;
    assert_eq!(record_in(&done)["state"], "done");
    assert_eq!(
        done["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        NOW
    );
    let applied = finished(outcome).await.expect("applied");
    assert_eq!(applied.prior, prior(&[("value", "10")]));
    let inverse = action.inverse(&applied.prior).expect("reversible");
    assert_eq!(
        (inverse.param("key"), inverse.param("value")),
        (Some("pool_size"), Some("10"))
    );
    no_more(act, api).await;
}

#[tokio::test]
async fn kinds_a_deployment_cannot_do_are_refused_without_a_request() {
    let (act, api) = setup();
    for kind in [
        ActionKind::Throttle,
        ActionKind::CircuitBreak,
        ActionKind::Failover,
        ActionKind::FlushCache,
    ] {
        let e = act
            .apply("e6-0", &Action::new(kind, "catalog"))
            .await
            .expect_err("refused");
        assert!(
            matches!(&e, ActuatorError::Precondition(m)
                if m.contains(&format!("cannot {kind}")) && m.contains("http or command actuator")),
            "{e}"
        );
    }
    no_more(act, api).await;
}

#[tokio::test]
async fn a_repeated_key_is_not_applied_twice_even_after_a_restart() {
    let (act, mut api) = setup();
    let action = Action::new(ActionKind::Restart, "catalog");
    let outcome = start(&act, "e7-1", &action);
    api.get(DEPLOY, Deploy::test().json()).await;
    let written = api.patch(DEPLOY, Deploy::test().json()).await;
    let first = finished(outcome).await.expect("applied");

    // Same process: answered from memory, no request at all.
    let again = act.apply("e7-1", &action).await.expect("remembered");
    assert_eq!(again, first);
    // The same key for another action is refused, still without a request.
    let e = act
        .apply("e7-1", &Action::new(ActionKind::Rollback, "catalog"))
        .await
        .expect_err("different action");
    assert!(
        e.to_string().contains("first used for a different action"),
        "{e}"
    );
    no_more(act, api).await;

    // A restarted Charter: the record on the Deployment answers; one GET, no write.
    let (act, mut api) = setup();
    let outcome = start(&act, "e7-1", &action);
    let recorded = Deploy {
        resource_version: "101".into(),
        ..Deploy::test()
    }
    .annotated_by(&written);
    api.get(DEPLOY, recorded.json()).await;
    assert_eq!(finished(outcome).await.expect("recorded"), first);
    no_more(act, api).await;
}

#[tokio::test]
async fn a_pending_record_is_finished_not_planned_again() {
    // Charter stopped after recording a scale from 3 to 5 and before writing it.
    let action = Action::new(ActionKind::ScaleOut, "catalog").with_param("step", 2);
    let record = json!({
        "state": "pending",
        "action": action,
        "prior": { "replicas": "3" },
        "detail": "scaled deployment `catalog-deploy` from 3 to 5 replicas",
        "steps": [ { "write": "scale", "replicas": 5 } ]
    });
    let claimed = Deploy::test().annotated_by(&json!({ "metadata": { "annotations": {
        "charter.dev/last-action-key": "e8-0",
        "charter.dev/last-action": record.to_string(),
    } } }));
    let (act, mut api) = setup();
    let outcome = start(&act, "e8-0", &action);
    api.get(DEPLOY, claimed.json()).await;
    // No GET of /scale, no HPA lookup: the recorded target is written, not recomputed
    // from a count that may already be 5.
    let body = api.patch(SCALE, scale(5)).await;
    assert_eq!(body, json!({ "spec": { "replicas": 5 } }));
    let done = api.patch(DEPLOY, claimed.json()).await;
    assert_eq!(record_in(&done)["state"], "done");
    let applied = finished(outcome).await.expect("finished");
    assert_eq!(applied.prior, prior(&[("replicas", "3")]));
    no_more(act, api).await;
}

#[tokio::test]
async fn a_replica_with_an_older_fencing_epoch_does_not_act() {
    const EPOCH: &str = "charter.dev/fencing-epoch";
    let action = Action::new(ActionKind::Restart, "catalog");
    let mut marked = Deploy::test();
    marked.annotations.insert(EPOCH.into(), "4".into());

    // The leader of epoch 3 reads a Deployment the leader of epoch 4 has acted on.
    let (act, mut api) = setup();
    act.set_fencing_epoch(3);
    let outcome = start(&act, "e9-0", &action);
    api.get(DEPLOY, marked.json()).await;
    let e = finished(outcome).await.expect_err("fenced");
    assert!(e.to_string().contains("fencing epoch 4"), "{e}");
    no_more(act, api).await;

    // Nor does it finish an action it had recorded pending before it lost the lease.
    let pending = json!({
        "state": "pending", "action": Action::new(ActionKind::ScaleOut, "catalog").with_param("step", 2),
        "prior": { "replicas": "3" }, "detail": "scaled", "steps": [ { "write": "scale", "replicas": 5 } ]
    });
    let claimed = marked
        .clone()
        .annotated_by(&json!({ "metadata": { "annotations": {
        "charter.dev/last-action-key": "e9-1", "charter.dev/last-action": pending.to_string(),
    } } }));
    let (act, mut api) = setup();
    act.set_fencing_epoch(3);
    let scale_out = Action::new(ActionKind::ScaleOut, "catalog").with_param("step", 2);
    let outcome = start(&act, "e9-1", &scale_out);
    api.get(DEPLOY, claimed.json()).await;
    assert!(finished(outcome).await.is_err());
    no_more(act, api).await;

    // The leader of epoch 5 acts, and its guarded write carries its epoch.
    let (act, mut api) = setup();
    act.set_fencing_epoch(5);
    let outcome = start(&act, "e9-2", &action);
    api.get(DEPLOY, marked.json()).await;
    let body = api.patch(DEPLOY, marked.json()).await;
    assert_eq!(body["metadata"]["annotations"][EPOCH], "5");
    assert_eq!(body["metadata"]["resourceVersion"], "100");
    finished(outcome).await.expect("applied");
    no_more(act, api).await;

    // A single replica without a lease (epoch 0) is not fenced and writes no epoch.
    let (act, mut api) = setup();
    let outcome = start(&act, "e9-3", &action);
    api.get(DEPLOY, marked.json()).await;
    let body = api.patch(DEPLOY, marked.json()).await;
    assert!(
        body["metadata"]["annotations"].get(EPOCH).is_none(),
        "{body}"
    );
    finished(outcome).await.expect("applied");
    no_more(act, api).await;
}

#[tokio::test]
async fn api_errors_fail_with_the_servers_message_and_are_not_remembered() {
    let (act, mut api) = setup();
    let action = Action::new(ActionKind::Restart, "catalog");

    let outcome = start(&act, "e9-0", &action);
    api.expect("GET", DEPLOY).await.respond(
        403,
        status(
            403,
            "Forbidden",
            "deployments.apps \"catalog-deploy\" is forbidden: User \"system:serviceaccount:charter:charter\" cannot get resource",
        ),
    );
    let e = finished(outcome).await.expect_err("forbidden");
    assert!(
        matches!(&e, ActuatorError::Failed(m)
            if m.starts_with("get deployment shop/catalog-deploy: 403 Forbidden: deployments.apps \"catalog-deploy\" is forbidden")),
        "{e}"
    );

    // Someone changed the Deployment between our read and our write: 409.
    let outcome = start(&act, "e9-0", &action);
    api.get(DEPLOY, Deploy::test().json()).await;
    api.expect("PATCH", DEPLOY).await.respond(
        409,
        status(
            409,
            "Conflict",
            "Operation cannot be fulfilled on deployments.apps \"catalog-deploy\": the object has been modified",
        ),
    );
    let e = finished(outcome).await.expect_err("conflict");
    assert!(
        matches!(&e, ActuatorError::Failed(m)
            if m.contains("patch deployment shop/catalog-deploy: 409 Conflict: Operation cannot be fulfilled")),
        "{e}"
    );

    // A retry reads the Deployment again and acts: failures are not remembered.
    let outcome = start(&act, "e9-0", &action);
    api.get(DEPLOY, Deploy::test().json()).await;
    api.patch(DEPLOY, Deploy::test().json()).await;
    finished(outcome).await.expect("applied on retry");
    no_more(act, api).await;
}

#[tokio::test(start_paused = true)]
async fn a_request_without_an_answer_times_out() {
    let (act, mut api) = setup();
    let outcome = start(&act, "e10-0", &Action::new(ActionKind::Restart, "catalog"));
    let held = api.expect("GET", DEPLOY).await.hold();
    let e = finished(outcome).await.expect_err("timed out");
    assert!(
        matches!(&e, ActuatorError::Failed(m)
            if m == "get deployment shop/catalog-deploy: no answer within 10s"),
        "{e}"
    );
    drop(held);
    no_more(act, api).await;
}

#[tokio::test(start_paused = true)]
async fn a_write_without_an_answer_is_unknown_and_its_status_reads_the_record() {
    let (act, mut api) = setup();
    let action = Action::new(ActionKind::Restart, "catalog");
    // A key this process never sent: which Deployment to look at is unknown.
    assert!(act.status("e11-0").await.is_err());
    let outcome = start(&act, "e11-0", &action);
    api.get(DEPLOY, Deploy::test().json()).await;
    // The patch reaches the server (and is made there), but no answer comes back.
    let x = api.expect("PATCH", DEPLOY).await;
    let written = x.body.clone();
    let held = x.hold();
    let e = finished(outcome).await.expect_err("no answer");
    assert!(
        matches!(&e, ActuatorError::Indeterminate(m)
            if m.starts_with("patch deployment shop/catalog-deploy: no answer within 10s")),
        "{e}"
    );
    assert_eq!(e.next_step(), charter_execute::NextStep::AskStatus);
    drop(held);
    // Asked: the Deployment's record says the write was made.
    let status = {
        let act = act.clone();
        tokio::spawn(async move { act.status("e11-0").await })
    };
    api.get(DEPLOY, Deploy::test().annotated_by(&written).json())
        .await;
    let applied = status.await.expect("task").expect("known");
    assert!(applied.is_some(), "the record of the key is done");
    // Another key on the Deployment (or none): never applied.
    let status = {
        let act = act.clone();
        tokio::spawn(async move { act.status("e11-0").await })
    };
    api.get(DEPLOY, Deploy::test().json()).await;
    assert_eq!(status.await.expect("task").expect("known"), None);
    no_more(act, api).await;
}

#[tokio::test]
async fn describe_reports_replicas_revision_and_previous_revision() {
    let (act, mut api) = setup();
    let a = act.clone();
    let described: JoinHandle<Result<ComponentState, ActuatorError>> =
        tokio::spawn(async move { a.describe("catalog").await });
    api.get(DEPLOY, Deploy::test().json()).await;
    api.get(
        REPLICASETS,
        list(
            "ReplicaSetList",
            vec![replicaset(1, UID), replicaset(2, UID), replicaset(3, UID)],
        ),
    )
    .await;
    api.get(
        HPAS,
        list(
            "HorizontalPodAutoscalerList",
            vec![hpa("catalog-deploy", 2, 8, 4, json!({}))],
        ),
    )
    .await;
    let state = described.await.expect("task").expect("described");
    assert_eq!(
        state,
        ComponentState {
            replicas: Some(4),
            version: Some("3".into()),
            previous_version: Some("2".into()),
            ..ComponentState::default()
        }
    );

    // Without an HPA the Deployment's own count is used.
    let a = act.clone();
    let described = tokio::spawn(async move { a.describe("catalog").await });
    api.get(DEPLOY, Deploy::test().json()).await;
    api.get(
        REPLICASETS,
        list("ReplicaSetList", vec![replicaset(3, UID)]),
    )
    .await;
    api.get(
        HPAS,
        list("HorizontalPodAutoscalerList", Vec::<Value>::new()),
    )
    .await;
    let state = described.await.expect("task").expect("described");
    assert_eq!((state.replicas, state.previous_version), (Some(3), None));
    no_more(act, api).await;
}
