//! The rollout watcher against a scripted API server: list, then watch events; what
//! is reported (once, with from → to), what is not (unmapped workloads, what already
//! ran, what a re-list sees again), and bad input. Every request is checked against
//! the Role in `deploy/kubernetes/rbac.yaml`.

mod common;

use charter_kube::{RolloutChange, RolloutMapping, RolloutWatcher};
use charter_model::{ChangeKind, Clock, Timestamp};
use common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/shop/deployments";
const STATEFULSETS: &str = "/apis/apps/v1/namespaces/shop/statefulsets";
const AT: i64 = 1_800_000_000;

#[derive(Debug)]
struct Fixed;

impl Clock for Fixed {
    fn now(&self) -> Timestamp {
        Timestamp::from_secs(AT)
    }
}

/// `catalog` is Deployment `catalog-deploy`, `orders` StatefulSet `orders-db`.
fn mapping() -> RolloutMapping {
    let mut m = RolloutMapping::new();
    m.insert(NS, "catalog-deploy", "catalog")
        .insert(NS, "orders-db", "orders");
    m
}

struct Watch {
    api: ApiServer,
    /// Watches left open.
    open: Vec<tower_test::mock::SendResponse<http::Response<kube::client::Body>>>,
    rx: mpsc::Receiver<RolloutChange>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

fn start() -> Watch {
    let (client, api) = mocked_client();
    let (tx, rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let watcher = RolloutWatcher::new(client, mapping())
        .with_clock(Arc::new(Fixed))
        .with_backoff(Duration::from_secs(1), Duration::from_secs(8));
    let task = tokio::spawn(watcher.run(tx, cancel.clone()));
    Watch {
        api,
        open: Vec::new(),
        rx,
        cancel,
        task,
    }
}

impl Watch {
    /// Answer the list of `path` with `items` at `version`.
    async fn list(&mut self, path: &str, version: &str, items: Vec<Value>) {
        let x = self.api.take(path, false).await;
        x.respond(
            200,
            json!({ "apiVersion": "v1", "kind": "List",
                    "metadata": { "resourceVersion": version }, "items": items }),
        );
    }

    /// Answer the next watch of `path` with `lines`, then end it; the watch's query
    /// parameter `resourceVersion` is returned.
    async fn watch(&mut self, path: &str, lines: &[String]) -> String {
        let x = self.api.take(path, true).await;
        let version = x.param("resourceVersion").expect("a resourceVersion");
        x.respond_lines(lines);
        version
    }

    /// The next watch of `path` (which proves everything before it was read), left
    /// unanswered; its `resourceVersion` is returned.
    async fn watching(&mut self, path: &str) -> String {
        let x = self.api.take(path, true).await;
        let v = x.param("resourceVersion").expect("a resourceVersion");
        // Keep the request open: the watcher waits on it.
        self.open.push(x.hold());
        v
    }

    /// The changes sent so far.
    fn changes(&mut self) -> Vec<RolloutChange> {
        let mut out = Vec::new();
        while let Ok(c) = self.rx.try_recv() {
            out.push(c);
        }
        out
    }

    /// Cancel the watcher and check that it stops.
    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the watcher stops when cancelled")
            .expect("the watcher task");
    }
}

/// A Deployment as the API server sends it.
fn deployment(name: &str, revision: Option<u64>, image: &str, replicas: i32, rv: u64) -> Value {
    let mut annotations = json!({});
    if let Some(r) = revision {
        annotations["deployment.kubernetes.io/revision"] = json!(r.to_string());
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": name, "namespace": NS, "resourceVersion": rv.to_string(),
            "generation": rv, "annotations": annotations
        },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [ { "name": "app", "image": image,
                    "env": [ { "name": "POOL", "value": "10" } ] } ] }
            }
        }
    })
}

fn catalog(revision: u64, image: &str, replicas: i32, rv: u64) -> Value {
    deployment("catalog-deploy", Some(revision), image, replicas, rv)
}

/// A StatefulSet whose controller has `update_revision` as its update revision.
fn statefulset(update_revision: &str, image: &str, generation: u64, rv: u64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": { "name": "orders-db", "namespace": NS, "resourceVersion": rv.to_string(),
                      "generation": generation },
        "spec": {
            "replicas": 3, "serviceName": "orders-db",
            "selector": { "matchLabels": { "app": "orders-db" } },
            "template": {
                "metadata": { "labels": { "app": "orders-db" } },
                "spec": { "containers": [ { "name": "db", "image": image } ] }
            }
        },
        "status": { "replicas": 3, "updateRevision": update_revision,
                    "currentRevision": update_revision }
    })
}

fn event(kind: &str, object: &Value) -> String {
    json!({ "type": kind, "object": object }).to_string()
}

fn modified(object: &Value) -> String {
    event("MODIFIED", object)
}

/// List both kinds: `deployments`, and no StatefulSets.
async fn listed(w: &mut Watch, deployments: Vec<Value>) {
    w.list(DEPLOYMENTS, "100", deployments).await;
    w.list(STATEFULSETS, "100", Vec::new()).await;
}

#[tokio::test(start_paused = true)]
async fn an_image_rollout_is_reported_once_with_from_and_to() {
    let mut w = start();
    listed(&mut w, vec![catalog(3, "catalog:3", 3, 100)]).await;
    // The user's write (template, same revision), the controller's (revision), then
    // status updates of the same revision.
    let mut written = catalog(3, "catalog:4", 3, 101);
    written["metadata"]["managedFields"] = json!([
        { "manager": "kube-controller-manager", "operation": "Update",
          "time": "2026-01-02T00:00:05Z", "fieldsV1": { "f:status": {} } },
        { "manager": "argocd-controller", "operation": "Apply",
          "time": "2026-01-02T00:00:00Z", "fieldsV1": { "f:spec": { "f:template": {} } } }
    ]);
    let mut rolled = written.clone();
    rolled["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!("4");
    rolled["metadata"]["resourceVersion"] = json!("102");
    let mut status = rolled.clone();
    status["metadata"]["resourceVersion"] = json!("103");
    status["status"] = json!({ "updatedReplicas": 3 });
    let from = w
        .watch(
            DEPLOYMENTS,
            &[modified(&written), modified(&rolled), modified(&status)],
        )
        .await;
    assert_eq!(from, "100", "the watch starts at the list's version");
    // The stream ended: the watcher goes on from the last version it saw.
    assert_eq!(w.watching(DEPLOYMENTS).await, "103");
    let changes = w.changes();
    assert_eq!(
        changes,
        vec![RolloutChange {
            // When argocd-controller wrote the template, not when the watcher saw it.
            at: Timestamp::from_secs(1_767_312_000),
            component: "catalog".into(),
            kind: ChangeKind::Deploy,
            description: "deployment shop/catalog-deploy rolled out revision 4 (was 3): \
                          image of container `app` catalog:3 → catalog:4"
                .into(),
            by: "argocd-controller".into(),
            key: "kubernetes/shop/Deployment/catalog-deploy/4".into(),
        }]
    );
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_config_only_rollout_is_config_and_a_replica_change_is_scale() {
    let mut w = start();
    listed(&mut w, vec![catalog(3, "catalog:3", 3, 100)]).await;
    let mut config = catalog(4, "catalog:3", 3, 101);
    config["spec"]["template"]["metadata"]["annotations"] = json!({ "checksum/config": "9f2" });
    config["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = json!("20");
    config["spec"]["template"]["spec"]["containers"][0]["envFrom"] =
        json!([ { "configMapRef": { "name": "catalog-config-v2" } } ]);
    let mut scaled = config.clone();
    scaled["spec"]["replicas"] = json!(5);
    scaled["metadata"]["generation"] = json!(102);
    scaled["metadata"]["resourceVersion"] = json!("102");
    w.watch(DEPLOYMENTS, &[modified(&config), modified(&scaled)])
        .await;
    w.watching(DEPLOYMENTS).await;
    let changes = w.changes();
    let kinds: Vec<_> = changes.iter().map(|c| (c.kind, c.key.as_str())).collect();
    assert_eq!(
        kinds,
        vec![
            (
                ChangeKind::Config,
                "kubernetes/shop/Deployment/catalog-deploy/4"
            ),
            (
                ChangeKind::Scale,
                "kubernetes/shop/Deployment/catalog-deploy/4/scale/102"
            ),
        ]
    );
    assert_eq!(
        changes[0].description,
        "deployment shop/catalog-deploy rolled out revision 4 (was 3): no image change; \
         pod annotations `checksum/config`; env of container `app` `POOL`; \
         container `app` `envFrom`; references - → configmap/catalog-config-v2"
    );
    assert_eq!(
        changes[1].description,
        "deployment shop/catalog-deploy scaled from 3 to 5 replicas"
    );
    // No managedFields: who is unknown, and the time is when the watcher saw it.
    assert!(
        changes
            .iter()
            .all(|c| c.by == "kubernetes" && c.at == Timestamp::from_secs(AT))
    );
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_workload_no_component_maps_to_is_ignored() {
    let mut w = start();
    let other =
        |rev, image: &str, replicas, rv| deployment("other", Some(rev), image, replicas, rv);
    listed(
        &mut w,
        vec![other(1, "other:1", 1, 100), catalog(3, "catalog:3", 3, 100)],
    )
    .await;
    w.watch(
        DEPLOYMENTS,
        &[
            modified(&other(2, "other:2", 4, 101)),
            event("ADDED", &deployment("newcomer", Some(1), "n:1", 1, 102)),
            // Mapped, to show the events were read.
            modified(&catalog(3, "catalog:3", 4, 103)),
        ],
    )
    .await;
    w.watching(DEPLOYMENTS).await;
    let changes = w.changes();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].component, "catalog");
    assert_eq!(changes[0].kind, ChangeKind::Scale);
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_relist_after_a_watch_error_reports_only_what_changed_in_the_gap() {
    let mut w = start();
    listed(&mut w, vec![catalog(3, "catalog:3", 3, 100)]).await;
    w.watch(DEPLOYMENTS, &[modified(&catalog(4, "catalog:4", 3, 101))])
        .await;
    // The watch request fails: after a backoff, a new list that shows the same
    // revision 4 reports nothing.
    let x = w.api.take(DEPLOYMENTS, true).await;
    assert_eq!(x.param("resourceVersion").as_deref(), Some("101"));
    let t0 = tokio::time::Instant::now();
    x.respond(500, status(500, "InternalError", "etcd is sad"));
    w.list(DEPLOYMENTS, "150", vec![catalog(4, "catalog:4", 3, 101)])
        .await;
    assert!(
        t0.elapsed() >= Duration::from_secs(1),
        "no backoff: {:?}",
        t0.elapsed()
    );
    // A watch whose version expired: listed again at once; revision 5 appeared in
    // the gap and is reported once, from revision 4's image.
    let gone =
        json!({ "type": "ERROR", "object": status(410, "Expired", "too old resource version") });
    assert_eq!(w.watch(DEPLOYMENTS, &[gone.to_string()]).await, "150");
    let t1 = tokio::time::Instant::now();
    w.list(DEPLOYMENTS, "200", vec![catalog(5, "catalog:5", 3, 190)])
        .await;
    assert_eq!(
        t1.elapsed(),
        Duration::ZERO,
        "an expired version is listed again at once"
    );
    assert_eq!(w.watching(DEPLOYMENTS).await, "200");
    let keys: Vec<_> = w
        .changes()
        .into_iter()
        .map(|c| (c.key, c.description))
        .collect();
    assert_eq!(
        keys,
        vec![
            (
                "kubernetes/shop/Deployment/catalog-deploy/4".to_string(),
                "deployment shop/catalog-deploy rolled out revision 4 (was 3): \
                 image of container `app` catalog:3 → catalog:4"
                    .to_string()
            ),
            (
                "kubernetes/shop/Deployment/catalog-deploy/5".to_string(),
                "deployment shop/catalog-deploy rolled out revision 5 (was 4): \
                 image of container `app` catalog:4 → catalog:5"
                    .to_string()
            ),
        ]
    );
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_list_is_retried_after_a_backoff() {
    let mut w = start();
    let t0 = tokio::time::Instant::now();
    let x = w.api.take(DEPLOYMENTS, false).await;
    x.respond(403, status(403, "Forbidden", "deployments is forbidden"));
    // The retry comes after the least backoff, then the watcher runs as usual.
    w.list(DEPLOYMENTS, "100", vec![catalog(3, "catalog:3", 3, 100)])
        .await;
    assert!(t0.elapsed() >= Duration::from_secs(1), "{:?}", t0.elapsed());
    w.list(STATEFULSETS, "100", Vec::new()).await;
    w.watch(DEPLOYMENTS, &[modified(&catalog(4, "catalog:4", 3, 101))])
        .await;
    w.watching(DEPLOYMENTS).await;
    assert_eq!(w.changes().len(), 1);
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_restarted_watcher_learns_what_runs_and_reports_nothing_of_it() {
    // The first watcher sees revision 4 roll out.
    let mut first = start();
    listed(&mut first, vec![catalog(3, "catalog:3", 3, 100)]).await;
    first
        .watch(DEPLOYMENTS, &[modified(&catalog(4, "catalog:4", 3, 101))])
        .await;
    first.watching(DEPLOYMENTS).await;
    assert_eq!(first.changes().len(), 1);
    first.stop().await;
    // A new one (Charter restarted) lists revision 4: nothing to report.
    let mut second = start();
    listed(&mut second, vec![catalog(4, "catalog:4", 3, 101)]).await;
    second.watch(DEPLOYMENTS, &[]).await;
    second.watching(DEPLOYMENTS).await;
    assert_eq!(second.changes(), vec![]);
    second.stop().await;
}

#[tokio::test(start_paused = true)]
async fn bad_objects_and_lines_are_skipped_and_the_watch_goes_on() {
    let mut w = start();
    // In the list: one without a name, one without a pod template.
    let mut no_template = catalog(3, "x", 1, 100);
    no_template["metadata"]["name"] = json!("broken");
    no_template["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("template");
    listed(
        &mut w,
        vec![
            json!({ "kind": "Deployment", "spec": {} }),
            no_template,
            catalog(3, "catalog:3", 3, 100),
        ],
    )
    .await;
    // In the watch: catalog with replicas of the wrong type, a line that is not
    // JSON, then catalog's rollout, which is read against what was known before.
    let mut wrong = catalog(4, "catalog:9", 3, 101);
    wrong["spec"]["replicas"] = json!("three");
    w.watch(
        DEPLOYMENTS,
        &[
            modified(&wrong),
            "{ not json".to_string(),
            modified(&catalog(4, "catalog:4", 3, 102)),
        ],
    )
    .await;
    assert_eq!(w.watching(DEPLOYMENTS).await, "102");
    let changes = w.changes();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        changes[0].description,
        "deployment shop/catalog-deploy rolled out revision 4 (was 3): \
         image of container `app` catalog:3 → catalog:4"
    );
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_statefulset_rollout_moves_its_update_revision_and_a_rollback_is_a_new_key() {
    let mut w = start();
    w.list(DEPLOYMENTS, "100", Vec::new()).await;
    w.list(
        STATEFULSETS,
        "100",
        vec![statefulset("orders-db-aaa", "pg:16.1", 7, 100)],
    )
    .await;
    w.watch(
        STATEFULSETS,
        &[
            // The template changes (generation 8) before the controller moves the
            // update revision.
            modified(&statefulset("orders-db-aaa", "pg:16.2", 8, 101)),
            modified(&statefulset("orders-db-bbb", "pg:16.2", 8, 102)),
            // Rolled back to the first template: its revision name again.
            modified(&statefulset("orders-db-bbb", "pg:16.1", 9, 103)),
            modified(&statefulset("orders-db-aaa", "pg:16.1", 9, 104)),
        ],
    )
    .await;
    w.watching(STATEFULSETS).await;
    let changes: Vec<_> = w
        .changes()
        .into_iter()
        .map(|c| (c.component, c.kind, c.key, c.description))
        .collect();
    assert_eq!(
        changes,
        vec![
            (
                "orders".to_string(),
                ChangeKind::Deploy,
                "kubernetes/shop/StatefulSet/orders-db/orders-db-bbb@8".to_string(),
                "statefulset shop/orders-db rolled out revision orders-db-bbb (was orders-db-aaa): \
                 image of container `db` pg:16.1 → pg:16.2"
                    .to_string()
            ),
            (
                "orders".to_string(),
                ChangeKind::Deploy,
                "kubernetes/shop/StatefulSet/orders-db/orders-db-aaa@9".to_string(),
                "statefulset shop/orders-db rolled out revision orders-db-aaa (was orders-db-bbb): \
                 image of container `db` pg:16.2 → pg:16.1"
                    .to_string()
            ),
        ]
    );
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_workload_created_after_the_list_is_reported_at_its_first_revision() {
    let mut w = start();
    listed(&mut w, Vec::new()).await;
    let created = deployment("catalog-deploy", None, "catalog:1", 2, 101);
    w.watch(
        DEPLOYMENTS,
        &[
            event("ADDED", &created),
            modified(&catalog(1, "catalog:1", 2, 102)),
            event("DELETED", &catalog(1, "catalog:1", 2, 103)),
            event("ADDED", &catalog(1, "catalog:1", 2, 104)),
        ],
    )
    .await;
    w.watching(DEPLOYMENTS).await;
    let changes: Vec<_> = w
        .changes()
        .into_iter()
        .map(|c| (c.kind, c.description))
        .collect();
    let first = (
        ChangeKind::Deploy,
        "deployment shop/catalog-deploy rolled out revision 1 (its first): \
         image of container `app` catalog:1"
            .to_string(),
    );
    // Deleted and created again: a new workload, reported again.
    assert_eq!(changes, vec![first.clone(), first]);
    w.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_watcher_stops_when_the_receiver_is_gone() {
    let (client, mut api) = mocked_client();
    let (tx, rx) = mpsc::channel(8);
    drop(rx);
    let task =
        tokio::spawn(RolloutWatcher::new(client, mapping()).run(tx, CancellationToken::new()));
    let empty = json!({ "kind": "List", "metadata": { "resourceVersion": "1" }, "items": [] });
    api.take(DEPLOYMENTS, false)
        .await
        .respond(200, empty.clone());
    api.take(STATEFULSETS, false).await.respond(200, empty);
    // Each loop ends at its first change, which it cannot send; nothing cancels them.
    api.take(DEPLOYMENTS, true)
        .await
        .respond_lines(&[event("ADDED", &catalog(1, "catalog:1", 1, 2))]);
    api.take(STATEFULSETS, true)
        .await
        .respond_lines(&[event("ADDED", &statefulset("orders-db-aaa", "pg:16", 1, 2))]);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the watcher ends")
        .expect("the watcher task");
    api.assert_no_more_requests().await;
}

#[test]
fn the_mapping_follows_the_actuators_deployment_names() {
    let text = r#"
name: shop
interval: 30s
source:
  prometheus: { url: "http://prometheus:9090" }
actuators:
  k8s:
    kubernetes:
      namespace: shop
      deployments: { catalog: catalog-deploy }
  web:
    http: { url: "http://127.0.0.1:1/" }
components:
  - { name: catalog, actuator: k8s }
  - { name: cart, actuator: k8s }
  - { name: search, actuator: web }
objectives:
  - name: latency
    metric: http_latency_p99_seconds
    components: [catalog, cart, search]
    signal: latency
    above: { warning: 0.4, critical: 1.0, clear: 0.3 }
"#;
    let (charter, _) =
        charter_model::parse_charter(text, "charter.yaml", std::path::Path::new("/"))
            .unwrap_or_else(|e| panic!("{e}"));
    let m = RolloutMapping::of_actuator(&charter, "k8s");
    assert_eq!(m.component("shop", "catalog-deploy"), Some("catalog"));
    assert_eq!(m.component("shop", "cart"), Some("cart"));
    assert_eq!(m.component("shop", "catalog"), None);
    assert_eq!(m.component("shop", "search"), None);
    assert!(RolloutMapping::of_actuator(&charter, "web").is_empty());
    let all = RolloutMapping::of_charter(&charter);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].0, "k8s");
    assert_eq!(all[0].2, m);
}
