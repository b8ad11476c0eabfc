//! The change receiver over real HTTP: a server on 127.0.0.1:0 with a SQLite store on
//! a temporary file, and reqwest as the deploy tool (a script with the plain body,
//! Argo CD notifications with the template of docs/api.md, Flux's notification-
//! controller).

use charter_knowledge::{SqliteStore, prelude::*};
use charter_model::{ChangeKind, ChangeSource, Clock, Timestamp};
use charter_orchestrator::Health;
use charter_server::{AlertIngest, CHANGES_PATH, ServerState, router};
use charter_testkit::charter_from;
use prometheus_client::registry::Registry;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::{Notify, oneshot};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TOKEN: &str = "deploys-5b0e41";

/// Three components; two deploy-tool objects mapped to components whose names differ.
const CHARTER: &str = r#"
name: shop
source: { simulator: {} }
alerts: { token_file: alert-token }
changes:
  applications:
    argocd/shop-db: db
    apps/frontend-release: frontend
actuators:
  sim: { simulator: {} }
components:
  - { name: api, depends_on: [db], actuator: sim }
  - { name: frontend, depends_on: [api], actuator: sim }
  - { name: db, actuator: sim }
objectives:
  - name: error_ratio
    metric: http_error_ratio
    above: { warning: 0.02, critical: 0.1, clear: 0.01 }
    remedies: [rollback]
"#;

/// When the receiver says changes arrived: its injected clock reads this.
const RECEIVED: Timestamp = Timestamp(1_767_225_600_000);

#[derive(Debug)]
struct Received;

impl Clock for Received {
    fn now(&self) -> Timestamp {
        RECEIVED
    }
}

struct Harness {
    url: String,
    client: reqwest::Client,
    store: Arc<SqliteStore>,
    wake: Arc<Notify>,
    _stop: oneshot::Sender<()>,
    _dir: TempDir,
}

impl Harness {
    async fn start() -> Result<Harness, Box<dyn std::error::Error>> {
        Harness::start_with(64 * 1024).await
    }

    async fn start_with(max_body_bytes: usize) -> Result<Harness, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = Arc::new(SqliteStore::open(&dir.path().join("charter.db")).await?);
        let wake = Arc::new(Notify::new());
        let state = ServerState {
            health: Arc::new(Health::default()),
            registry: Arc::new(Registry::default()),
            alerts: Some(AlertIngest {
                store: store.clone(),
                charter: Arc::new(charter_from(CHARTER)),
                token: Some(TOKEN.into()),
                wake: wake.clone(),
                max_body_bytes,
                clock: Arc::new(Received),
                reloaded: None,
            }),
            policies: None,
            knowledge: None,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = axum::serve(listener, router(state)).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        tokio::spawn(std::future::IntoFuture::into_future(server));
        Ok(Harness {
            url,
            client: reqwest::Client::new(),
            store,
            wake,
            _stop: stop,
            _dir: dir,
        })
    }

    fn post(&self, query: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{CHANGES_PATH}{query}", self.url))
    }

    /// POST `body` with the right token.
    async fn send(&self, body: &Value) -> Result<(StatusCode, Value), reqwest::Error> {
        let resp = self.post("").bearer_auth(TOKEN).json(body).send().await?;
        Ok((resp.status(), resp.json().await?))
    }

    async fn woken_now(&self) -> bool {
        tokio::time::timeout(Duration::ZERO, self.wake.notified())
            .await
            .is_ok()
    }

    /// A refused request: the status, the reason in `{"error": ...}`, nothing stored
    /// and the loop not woken.
    async fn assert_refused(
        &self,
        resp: reqwest::Response,
        status: StatusCode,
        reason: &str,
    ) -> TestResult {
        assert_eq!(resp.status(), status);
        let body: Value = resp.json().await?;
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(reason), "expected `{reason}` in {body}");
        assert!(self.store.changes_since(0).await?.is_empty());
        assert!(!self.woken_now().await, "a refused change woke the loop");
        Ok(())
    }

    async fn refused(&self, body: &Value, status: StatusCode, reason: &str) -> TestResult {
        let resp = self.post("").bearer_auth(TOKEN).json(body).send().await?;
        self.assert_refused(resp, status, reason).await
    }
}

/// What Argo CD notifications sends with the template of docs/api.md, rendered for
/// Application `argocd/<app>` synced to `revision`.
fn argo(app: &str, revision: &str, phase: &str) -> Value {
    json!({
        "application": app,
        "namespace": "argocd",
        "project": "default",
        "revision": revision,
        "syncStatus": "Synced",
        "healthStatus": "Healthy",
        "phase": phase,
        "images": ["registry.example.com/shop/db:15.4", "registry.example.com/shop/pgbouncer:1.22"],
        "finishedAt": "2026-01-01T00:00:10Z",
        "repoURL": "https://git.example.com/shop/deploy.git",
    })
}

/// What Flux's notification-controller posts to a `generic` provider.
fn flux(kind: &str, namespace: &str, name: &str, reason: &str, severity: &str) -> Value {
    json!({
        "involvedObject": {
            "kind": kind,
            "namespace": namespace,
            "name": name,
            "uid": "7c1f2d57-0d4e-4b7e-9f0b-3f3b2d1c9a10",
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "resourceVersion": "5421",
        },
        "severity": severity,
        "timestamp": "2026-01-01T00:00:20Z",
        "message": "Helm upgrade succeeded for release apps/frontend.v7 with chart frontend@2.4.1",
        "reason": reason,
        "metadata": { "revision": "2.4.1", "token": "a1b2c3" },
        "reportingController": "helm-controller",
        "reportingInstance": "helm-controller-6c9d7c8b9-x2k4p",
    })
}

#[tokio::test]
async fn a_plain_change_is_stored_with_its_source_and_wakes_the_loop() -> TestResult {
    let h = Harness::start().await?;
    let (status, body) = h
        .send(&json!({
            "component": "api",
            "kind": "deploy",
            "description": "api 1.8.0 (was 1.7.3)",
            "by": "ci pipeline 4411",
            "at": "2026-01-01T00:00:05Z",
            "id": "pipeline-4411",
        }))
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"format": "plain", "accepted": 1, "new": 1, "ignored": []})
    );
    assert!(h.woken_now().await);
    let stored = h.store.changes_since(0).await?;
    assert_eq!(stored.len(), 1);
    let r = &stored[0];
    assert_eq!(r.key, "api:pipeline-4411");
    assert_eq!(r.received_at, RECEIVED);
    assert_eq!(r.change.component, "api");
    assert_eq!(r.change.kind, ChangeKind::Deploy);
    assert_eq!(r.change.description, "api 1.8.0 (was 1.7.3)");
    assert_eq!(r.change.by, "ci pipeline 4411");
    assert_eq!(r.change.source, ChangeSource::Api);
    assert_eq!(r.change.at, Timestamp(1_767_225_605_000));

    // Text from the sender stays on one line.
    let (status, _) = h
        .send(&json!({"component": "api", "kind": "config", "description": "pool 50\nERROR forged line", "by": "ci\u{1b}[31m", "id": "x"}))
        .await?;
    assert_eq!(status, StatusCode::OK);
    let last = &h.store.recent_changes(1).await?[0];
    assert_eq!(last.change.description, "pool 50 ERROR forged line");
    assert_eq!(last.change.by, "ci [31m");

    // Without `at`: now; without `description` and `by`: said so.
    let (status, _) = h
        .send(&json!({"component": "db", "kind": "config"}))
        .await?;
    assert_eq!(status, StatusCode::OK);
    let last = &h.store.recent_changes(1).await?[0];
    assert_eq!(last.change.at, RECEIVED);
    assert_eq!(last.change.description, "config of db");
    assert_eq!(last.change.by, "unknown");
    Ok(())
}

#[tokio::test]
async fn a_replayed_plain_change_is_recorded_once() -> TestResult {
    let h = Harness::start().await?;
    let change = json!({"component": "api", "kind": "deploy", "description": "1.8.0", "id": "d-1"});
    assert_eq!(h.send(&change).await?.1["new"], 1);
    assert!(h.woken_now().await);
    let (status, body) = h.send(&change).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["accepted"].as_u64(), body["new"].as_u64()),
        (Some(1), Some(0))
    );
    // A replay wakes nobody: there is nothing new to read.
    assert!(!h.woken_now().await);
    // Without an id, the same change at the same time is the same event.
    let timed = json!({"component": "db", "kind": "restart", "at": "2026-01-01T00:00:00Z"});
    assert_eq!(h.send(&timed).await?.1["new"], 1);
    assert_eq!(h.send(&timed).await?.1["new"], 0);
    assert_eq!(h.store.changes_since(0).await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_list_naming_an_unknown_component_is_refused_whole() -> TestResult {
    let h = Harness::start().await?;
    let body = json!([
        {"component": "api", "kind": "deploy", "id": "a"},
        {"component": "payments", "kind": "deploy", "id": "b"},
    ]);
    h.refused(
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "changes[1].component: `payments` is not a component of charter `shop`",
    )
    .await?;
    // A list of known components is stored whole.
    let (status, body) = h
        .send(&json!([
            {"component": "api", "kind": "deploy", "id": "a"},
            {"component": "frontend", "kind": "scale", "id": "b"},
        ]))
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["new"], 2);
    Ok(())
}

#[tokio::test]
async fn malformed_bodies_are_400_with_the_reason() -> TestResult {
    let h = Harness::start().await?;
    let resp = h
        .post("")
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{\"component\": \"api\", ")
        .send()
        .await?;
    h.assert_refused(resp, StatusCode::BAD_REQUEST, "malformed change body")
        .await?;
    let cases = [
        (
            json!({"kind": "deploy"}),
            "missing field `change.component`",
        ),
        (json!({"component": "api"}), "missing field `change.kind`"),
        (
            json!({"component": " ", "kind": "deploy"}),
            "change.component is empty",
        ),
        (
            json!({"component": "api", "kind": "upgrade"}),
            "change.kind: `upgrade` is not one of deploy, config, scale, restart, other",
        ),
        (
            json!({"component": "api", "kind": "deploy", "at": "yesterday"}),
            "change.at: `yesterday` is not an RFC 3339 time",
        ),
        (
            json!({"component": "api", "kind": "deploy", "id": ""}),
            "change.id is empty",
        ),
        (
            json!({"componnet": "api", "kind": "deploy"}),
            "change: unknown field `componnet`",
        ),
        (
            json!([{"component": "api", "kind": "deploy"}, {"component": 7, "kind": "deploy"}]),
            "changes[1]: invalid type",
        ),
        (
            json!(42),
            "a plain change body is an object or a list of objects",
        ),
        // Argo CD: the application and the revision are required.
        (json!({"application": "api"}), "missing field `revision`"),
        (
            json!({"application": "", "revision": "abc"}),
            "application is empty",
        ),
        (
            json!({"application": "api", "revision": "abc", "finishedAt": "soon"}),
            "finishedAt: `soon` is not an RFC 3339 time",
        ),
        // Flux: the object's kind and name, and the reason.
        (
            json!({"involvedObject": {"kind": "HelmRelease"}, "reason": "UpgradeSucceeded"}),
            "missing field `involvedObject.name`",
        ),
        (
            json!({"involvedObject": {"kind": "HelmRelease", "name": "api"}}),
            "missing field `reason`",
        ),
    ];
    for (body, reason) in cases {
        h.refused(&body, StatusCode::BAD_REQUEST, reason).await?;
    }
    // An explicit format wins over the body's shape, and must be known.
    let resp = h
        .post("?format=flux")
        .bearer_auth(TOKEN)
        .json(&json!({"component": "api", "kind": "deploy"}))
        .send()
        .await?;
    h.assert_refused(
        resp,
        StatusCode::BAD_REQUEST,
        "missing field `involvedObject`",
    )
    .await?;
    let resp = h
        .post("?format=spinnaker")
        .bearer_auth(TOKEN)
        .json(&json!({"component": "api", "kind": "deploy"}))
        .send()
        .await?;
    h.assert_refused(resp, StatusCode::BAD_REQUEST, "unknown format `spinnaker`")
        .await
}

#[tokio::test]
async fn the_alert_receivers_token_and_limit_guard_changes_too() -> TestResult {
    let h = Harness::start_with(512).await?;
    let change = json!({"component": "api", "kind": "deploy"});
    let resp = h.post("").json(&change).send().await?;
    h.assert_refused(resp, StatusCode::UNAUTHORIZED, "missing bearer token")
        .await?;
    let resp = h.post("").bearer_auth("guess").json(&change).send().await?;
    h.assert_refused(resp, StatusCode::UNAUTHORIZED, "wrong bearer token")
        .await?;
    let big = json!({"component": "api", "kind": "deploy", "description": "x".repeat(600)});
    let resp = h.post("").bearer_auth(TOKEN).json(&big).send().await?;
    h.assert_refused(
        resp,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body larger than 512 bytes",
    )
    .await?;
    // The list needs the token as well.
    let resp = h
        .client
        .get(format!("{}{CHANGES_PATH}", h.url))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn an_argocd_sync_is_mapped_through_the_charter_and_recorded_once() -> TestResult {
    let h = Harness::start().await?;
    let (status, body) = h.send(&argo("shop-db", "9c1e5a7", "Succeeded")).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"format": "argocd", "accepted": 1, "new": 1, "ignored": []})
    );
    let stored = h.store.changes_since(0).await?;
    assert_eq!(stored.len(), 1);
    let r = &stored[0];
    // `argocd/shop-db` is `db` by the charter's `changes.applications`.
    assert_eq!(r.change.component, "db");
    assert_eq!(r.change.source, ChangeSource::Argocd);
    assert_eq!(r.change.by, "argocd");
    assert_eq!(r.change.kind, ChangeKind::Deploy);
    assert_eq!(r.change.at, Timestamp(1_767_225_610_000));
    assert_eq!(r.key, "argocd:argocd/shop-db@9c1e5a7");
    assert_eq!(
        r.change.description,
        "argo cd synced argocd/shop-db to revision 9c1e5a7 (images: \
         registry.example.com/shop/db:15.4, registry.example.com/shop/pgbouncer:1.22), \
         sync Synced, health Healthy"
    );
    // The notification sent again (a controller restart, a retry): recorded once.
    assert_eq!(
        h.send(&argo("shop-db", "9c1e5a7", "Succeeded")).await?.1["new"],
        0
    );
    // A new revision is a new change.
    assert_eq!(
        h.send(&argo("shop-db", "0d44f2b", "Succeeded")).await?.1["new"],
        1
    );
    // An Application named like a component needs no mapping.
    let (_, body) = h.send(&argo("api", "9c1e5a7", "Succeeded")).await?;
    assert_eq!(body["new"], 1);
    assert_eq!(h.store.recent_changes(1).await?[0].change.component, "api");
    // A sync that failed applied nothing: accepted, ignored, nothing stored.
    let (status, body) = h.send(&argo("api", "77aa001", "Failed")).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["accepted"], 0);
    assert_eq!(
        body["ignored"][0],
        "argocd application argocd/api: operation phase Failed is no change applied"
    );
    assert_eq!(h.store.changes_since(0).await?.len(), 3);
    Ok(())
}

#[tokio::test]
async fn an_argocd_application_that_maps_to_nothing_is_refused_by_name() -> TestResult {
    let h = Harness::start().await?;
    h.refused(
        &argo("billing", "9c1e5a7", "Succeeded"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "application: `argocd/billing` maps to no component of charter `shop`: name it in \
         the charter's `changes.applications`",
    )
    .await
}

#[tokio::test]
async fn a_flux_upgrade_is_a_change_and_other_events_are_ignored() -> TestResult {
    let h = Harness::start().await?;
    let upgrade = flux(
        "HelmRelease",
        "apps",
        "frontend-release",
        "UpgradeSucceeded",
        "info",
    );
    let (status, body) = h.send(&upgrade).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"format": "flux", "accepted": 1, "new": 1, "ignored": []})
    );
    let r = &h.store.changes_since(0).await?[0];
    assert_eq!(r.change.component, "frontend");
    assert_eq!(r.change.source, ChangeSource::Flux);
    assert_eq!(r.change.by, "helm-controller");
    assert_eq!(r.change.at, Timestamp(1_767_225_620_000));
    assert_eq!(
        r.key,
        "flux:HelmRelease/apps/frontend-release@2.4.1#UpgradeSucceeded"
    );
    assert_eq!(
        r.change.description,
        "flux HelmRelease apps/frontend-release UpgradeSucceeded at revision 2.4.1: Helm \
         upgrade succeeded for release apps/frontend.v7 with chart frontend@2.4.1"
    );
    // Sent again: recorded once.
    assert_eq!(h.send(&upgrade).await?.1["new"], 0);
    // The controllers' own key for the revision is read as well.
    let mut kustomization = flux(
        "Kustomization",
        "flux-system",
        "db",
        "ReconciliationSucceeded",
        "info",
    );
    kustomization["metadata"] =
        json!({"kustomize.toolkit.fluxcd.io/revision": "main@sha1:5e2f9a0"});
    assert_eq!(h.send(&kustomization).await?.1["new"], 1);
    let last = &h.store.recent_changes(1).await?[0];
    assert_eq!(last.change.component, "db");
    assert_eq!(
        last.key,
        "flux:Kustomization/flux-system/db@main@sha1:5e2f9a0#ReconciliationSucceeded"
    );
    // Failures and reasons that apply nothing: accepted and ignored.
    for (event, why) in [
        (
            flux(
                "HelmRelease",
                "apps",
                "frontend-release",
                "UpgradeFailed",
                "error",
            ),
            "flux HelmRelease apps/frontend-release: a error event (UpgradeFailed) is no change applied",
        ),
        (
            flux(
                "Kustomization",
                "flux-system",
                "db",
                "HealthCheckFailed",
                "info",
            ),
            "flux Kustomization flux-system/db: reason HealthCheckFailed is no change applied",
        ),
    ] {
        let (status, body) = h.send(&event).await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["accepted"], 0, "{body}");
        assert_eq!(body["ignored"][0], why);
    }
    assert_eq!(h.store.changes_since(0).await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_flux_object_that_maps_to_nothing_is_refused_by_name() -> TestResult {
    let h = Harness::start().await?;
    h.refused(
        &flux("HelmRelease", "apps", "billing", "UpgradeSucceeded", "info"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "involvedObject: `apps/billing` maps to no component of charter `shop`",
    )
    .await
}

#[tokio::test]
async fn stored_changes_are_listed_newest_first() -> TestResult {
    let h = Harness::start().await?;
    for id in ["a", "b", "c"] {
        h.send(&json!({"component": "api", "kind": "deploy", "id": id}))
            .await?;
    }
    let resp = h
        .client
        .get(format!("{}{CHANGES_PATH}?limit=2", h.url))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await?;
    let keys: Vec<&str> = body["changes"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["key"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(keys, vec!["api:c", "api:b"]);
    assert_eq!(body["changes"][0]["change"]["source"], "api");
    Ok(())
}
