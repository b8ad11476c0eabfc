//! The Alertmanager webhook receiver over real HTTP: a server on 127.0.0.1:0 with a
//! SQLite store on a temporary file, and reqwest as Alertmanager.

use charter_knowledge::{SqliteStore, prelude::*};
use charter_model::{AlertStatus, Clock, Severity, Timestamp};
use charter_orchestrator::Health;
use charter_server::{ALERTS_PATH, AlertIngest, ServerState, router};
use charter_testkit::charter_from;
use prometheus_client::registry::Registry;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::{Notify, oneshot};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TOKEN: &str = "am-7d1f0c9e2b";

/// Two objectives over three declared components; `db` is declared but not covered by
/// `latency_p99`.
const CHARTER: &str = r#"
name: shop
source: { simulator: {} }
alerts: { token_file: alert-token }
actuators:
  sim: { simulator: {} }
components:
  - { name: api, depends_on: [db], actuator: sim }
  - { name: frontend, depends_on: [api], actuator: sim }
  - { name: db, actuator: sim }
objectives:
  - name: latency_p99
    metric: http_latency_p99_seconds
    components: [api, frontend]
    above: { warning: 0.3, critical: 1.0, clear: 0.25 }
    remedies: [scale_out]
  - name: error_ratio
    metric: http_error_ratio
    above: { warning: 0.02, critical: 0.1, clear: 0.01 }
    remedies: [rollback]
"#;

/// When the receiver says alerts arrived: its injected clock reads this.
const RECEIVED: Timestamp = Timestamp(1_767_225_600_000);

#[derive(Debug)]
struct Received;

impl Clock for Received {
    fn now(&self) -> Timestamp {
        RECEIVED
    }
}

/// A running server and what the tests look at behind it.
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
        Harness::start_with(CHARTER, Some(TOKEN), 64 * 1024).await
    }

    async fn start_with(
        charter_text: &str,
        token: Option<&str>,
        max_body_bytes: usize,
    ) -> Result<Harness, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = Arc::new(SqliteStore::open(&dir.path().join("charter.db")).await?);
        let wake = Arc::new(Notify::new());
        let state = ServerState {
            health: Arc::new(Health::default()),
            registry: Arc::new(Registry::default()),
            alerts: Some(AlertIngest {
                store: store.clone(),
                charter: Arc::new(charter_from(charter_text)),
                token: token.map(String::from),
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

    fn post(&self) -> reqwest::RequestBuilder {
        self.client.post(format!("{}{ALERTS_PATH}", self.url))
    }

    /// POST `payload` as Alertmanager does, with the right token.
    async fn send(&self, payload: &Value) -> Result<(StatusCode, Value), reqwest::Error> {
        let resp = self.post().bearer_auth(TOKEN).json(payload).send().await?;
        Ok((resp.status(), resp.json().await?))
    }

    /// Whether the loop was woken since the last check (a permit is stored by
    /// `notify_one` before the response is sent, so no waiting is needed to say no).
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
        assert!(error.contains(reason), "{body}");
        assert!(self.store.recent_alerts(100).await?.is_empty());
        assert!(!self.woken_now().await, "a refused webhook woke the loop");
        Ok(())
    }
}

/// One alert as Alertmanager's webhook renders it.
fn am_alert(status: &str, alertname: &str, service: &str, fingerprint: &str) -> Value {
    json!({
        "status": status,
        "labels": {
            "alertname": alertname,
            "service": service,
            "severity": "critical",
            "instance": "10.0.3.17:8080",
            "job": "shop",
        },
        "annotations": {
            "summary": format!("{alertname} on {service}"),
            "description": "p99 latency has been above 1s for 5 minutes",
        },
        "startsAt": "2024-05-01T12:00:00.123456789Z",
        "endsAt": if status == "resolved" { "2024-05-01T12:10:30.5Z" } else { "0001-01-01T00:00:00Z" },
        "generatorURL": "http://prometheus:9090/graph?g0.expr=http_latency_p99_seconds+%3E+1&g0.tab=1",
        "fingerprint": fingerprint,
    })
}

/// A version 4 webhook body around `alerts`.
fn payload(status: &str, alerts: Vec<Value>) -> Value {
    json!({
        "receiver": "charter",
        "status": status,
        "alerts": alerts,
        "groupLabels": { "alertname": "latency_p99" },
        "commonLabels": { "alertname": "latency_p99", "job": "shop", "severity": "critical" },
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": "{}/{severity=\"critical\"}:{alertname=\"latency_p99\"}",
        "truncatedAlerts": 0,
    })
}

fn firing() -> Value {
    payload(
        "firing",
        vec![
            am_alert("firing", "latency_p99", "api", "5ce2a5b2b7a7e1b4"),
            am_alert("firing", "latency_p99", "frontend", "0c6d7e3b9f1a2c44"),
        ],
    )
}

#[tokio::test]
async fn a_valid_webhook_is_stored_and_wakes_the_loop() -> TestResult {
    let h = Harness::start().await?;
    let (status, body) = h.send(&firing()).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"accepted": 2, "new": 2, "unmapped": 0}));
    tokio::time::timeout(Duration::from_secs(5), h.wake.notified()).await?;

    let stored = h.store.recent_alerts(10).await?;
    assert_eq!(stored.len(), 2);
    let api = stored
        .iter()
        .find(|a| a.fingerprint == "5ce2a5b2b7a7e1b4")
        .ok_or("api alert not stored")?;
    assert_eq!(api.received_at, RECEIVED, "stamped by the injected clock");
    assert_eq!(api.status, AlertStatus::Firing);
    assert_eq!(api.objective.as_deref(), Some("latency_p99"));
    assert_eq!(api.component.as_deref(), Some("api"));
    assert_eq!(api.severity, Some(Severity::Critical));
    assert_eq!(api.starts_at, Timestamp(1_714_564_800_123));
    assert_eq!(api.ends_at, None, "Go's zero time means no end");
    assert_eq!(api.labels["instance"], "10.0.3.17:8080");
    assert_eq!(api.annotations["summary"], "latency_p99 on api");
    assert!(api.seq > 0);
    Ok(())
}

#[tokio::test]
async fn the_same_webhook_again_adds_no_rows() -> TestResult {
    let h = Harness::start().await?;
    h.send(&firing()).await?;
    let before = h.store.alerts_since(0).await?;
    // An Alertmanager retry, or its HA peer sending the same group.
    let (status, body) = h.send(&firing()).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"accepted": 2, "new": 0, "unmapped": 0}));
    assert_eq!(h.store.alerts_since(0).await?, before);
    Ok(())
}

#[tokio::test]
async fn a_resolved_notification_updates_the_stored_alert() -> TestResult {
    let h = Harness::start().await?;
    h.send(&firing()).await?;
    let last = h.store.alerts_since(0).await?.iter().map(|a| a.seq).max();
    let resolved = payload(
        "resolved",
        vec![am_alert(
            "resolved",
            "latency_p99",
            "api",
            "5ce2a5b2b7a7e1b4",
        )],
    );
    let (status, body) = h.send(&resolved).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"accepted": 1, "new": 0, "unmapped": 0}));

    let changed = h.store.alerts_since(last.unwrap_or(0)).await?;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].fingerprint, "5ce2a5b2b7a7e1b4");
    assert_eq!(changed[0].status, AlertStatus::Resolved);
    assert_eq!(changed[0].ends_at, Some(Timestamp(1_714_565_430_500)));
    assert_eq!(h.store.recent_alerts(10).await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn alerts_outside_the_charter_are_kept_unmapped() -> TestResult {
    let h = Harness::start().await?;
    let mut no_service = am_alert("firing", "latency_p99", "api", "f4");
    no_service["labels"]
        .as_object_mut()
        .ok_or("labels")?
        .remove("service");
    let body = payload(
        "firing",
        vec![
            // Not a charter objective.
            am_alert("firing", "NodeDiskFull", "api", "f1"),
            // A declared component, but not one of this objective's.
            am_alert("firing", "latency_p99", "db", "f2"),
            // Not a declared component at all.
            am_alert("firing", "error_ratio", "payments", "f3"),
            no_service,
            // Mapped: error_ratio covers every component.
            am_alert("firing", "error_ratio", "db", "f5"),
        ],
    );
    let (status, counts) = h.send(&body).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(counts, json!({"accepted": 5, "new": 5, "unmapped": 4}));
    let stored = h.store.alerts_since(0).await?;
    assert_eq!(stored.len(), 5);
    for alert in &stored {
        if alert.fingerprint == "f5" {
            assert_eq!(alert.objective.as_deref(), Some("error_ratio"));
            assert_eq!(alert.component.as_deref(), Some("db"));
        } else {
            assert_eq!(alert.objective, None, "{}", alert.fingerprint);
            assert_eq!(alert.component, None, "{}", alert.fingerprint);
        }
    }
    Ok(())
}

#[tokio::test]
async fn recent_alerts_are_listed_newest_first_with_the_same_token() -> TestResult {
    let h = Harness::start().await?;
    h.send(&firing()).await?;
    let url = format!("{}{ALERTS_PATH}?limit=1", h.url);

    let resp = h.client.get(&url).bearer_auth(TOKEN).send().await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await?;
    let listed = body["alerts"].as_array().ok_or("alerts array")?;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["fingerprint"], "0c6d7e3b9f1a2c44");
    assert_eq!(listed[0]["status"], "firing");
    assert_eq!(listed[0]["component"], "frontend");

    let resp = h.client.get(&url).send().await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = h
        .client
        .get(format!("{}{ALERTS_PATH}?limit=many", h.url))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    Ok(())
}

#[tokio::test]
async fn health_is_served_beside_the_receiver() -> TestResult {
    let h = Harness::start().await?;
    let resp = h.client.get(format!("{}/healthz", h.url)).send().await?;
    assert_eq!(resp.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn auth_none_accepts_webhooks_without_a_token() -> TestResult {
    let open = CHARTER.replace("{ token_file: alert-token }", "{ auth: none }");
    let h = Harness::start_with(&open, None, 64 * 1024).await?;
    let resp = h.post().json(&firing()).send().await?;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(h.store.recent_alerts(10).await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_charter_with_a_token_file_but_no_token_refuses_everything() -> TestResult {
    let h = Harness::start_with(CHARTER, None, 64 * 1024).await?;
    let resp = h.post().json(&firing()).send().await?;
    h.assert_refused(resp, StatusCode::UNAUTHORIZED, "no token configured")
        .await
}

#[tokio::test]
async fn no_token_is_401() -> TestResult {
    let h = Harness::start().await?;
    let resp = h.post().json(&firing()).send().await?;
    assert_eq!(
        resp.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    h.assert_refused(resp, StatusCode::UNAUTHORIZED, "missing bearer token")
        .await
}

#[tokio::test]
async fn a_wrong_token_is_401() -> TestResult {
    let h = Harness::start().await?;
    let wrong = TOKEN.replace('7', "8");
    let resp = h.post().bearer_auth(wrong).json(&firing()).send().await?;
    h.assert_refused(resp, StatusCode::UNAUTHORIZED, "wrong bearer token")
        .await?;
    let resp = h
        .post()
        .basic_auth("alertmanager", Some(TOKEN))
        .json(&firing())
        .send()
        .await?;
    h.assert_refused(resp, StatusCode::UNAUTHORIZED, "missing bearer token")
        .await
}

#[tokio::test]
async fn an_oversized_body_is_413() -> TestResult {
    let h = Harness::start_with(CHARTER, Some(TOKEN), 1024).await?;
    let big = payload(
        "firing",
        (0..20)
            .map(|i| am_alert("firing", "latency_p99", "api", &format!("f{i}")))
            .collect(),
    );
    let resp = h.post().bearer_auth(TOKEN).json(&big).send().await?;
    h.assert_refused(
        resp,
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than 1024 bytes",
    )
    .await?;
    // The token is checked before the size.
    let resp = h.post().json(&big).send().await?;
    h.assert_refused(resp, StatusCode::UNAUTHORIZED, "missing bearer token")
        .await
}

#[tokio::test]
async fn an_oversized_body_without_a_length_is_413() -> TestResult {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::start_with(CHARTER, Some(TOKEN), 1024).await?;
    let text = serde_json::to_vec(&firing())?;
    assert!(text.len() > 1024);
    // Chunked, so the size is only known by reading: written by hand, since the
    // client sends a Content-Length for a body it holds.
    let mut request = format!(
        "POST {ALERTS_PATH} HTTP/1.1\r\nhost: charter\r\nauthorization: Bearer {TOKEN}\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\n\
         connection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in text.chunks(256) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let addr = h.url.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    conn.write_all(&request).await?;
    let mut response = Vec::new();
    conn.read_to_end(&mut response).await?;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("larger than 1024 bytes"), "{response}");
    assert!(h.store.recent_alerts(100).await?.is_empty());
    assert!(!h.woken_now().await);
    Ok(())
}

#[tokio::test]
async fn malformed_json_is_400() -> TestResult {
    let h = Harness::start().await?;
    let resp = h
        .post()
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"version": "4", "alerts": [{"status": "firing""#)
        .send()
        .await?;
    h.assert_refused(resp, StatusCode::BAD_REQUEST, "malformed webhook body")
        .await
}

#[tokio::test]
async fn version_3_is_400() -> TestResult {
    let h = Harness::start().await?;
    let mut body = firing();
    body["version"] = json!("3");
    let resp = h.post().bearer_auth(TOKEN).json(&body).send().await?;
    h.assert_refused(
        resp,
        StatusCode::BAD_REQUEST,
        "unsupported webhook version `3`",
    )
    .await
}

#[tokio::test]
async fn a_missing_fingerprint_is_400_naming_the_field() -> TestResult {
    let h = Harness::start().await?;
    let mut body = firing();
    body["alerts"][1]
        .as_object_mut()
        .ok_or("alert")?
        .remove("fingerprint");
    let resp = h.post().bearer_auth(TOKEN).json(&body).send().await?;
    // The first alert is fine, but a webhook is stored whole or not at all.
    h.assert_refused(
        resp,
        StatusCode::BAD_REQUEST,
        "missing field `alerts[1].fingerprint`",
    )
    .await
}

#[tokio::test]
async fn a_missing_alerts_list_is_400_naming_the_field() -> TestResult {
    let h = Harness::start().await?;
    let mut body = firing();
    body.as_object_mut().ok_or("payload")?.remove("alerts");
    let resp = h.post().bearer_auth(TOKEN).json(&body).send().await?;
    h.assert_refused(resp, StatusCode::BAD_REQUEST, "missing field `alerts`")
        .await
}

#[tokio::test]
async fn a_bad_start_time_is_400() -> TestResult {
    let h = Harness::start().await?;
    let mut body = firing();
    body["alerts"][0]["startsAt"] = json!("yesterday");
    let resp = h.post().bearer_auth(TOKEN).json(&body).send().await?;
    h.assert_refused(
        resp,
        StatusCode::BAD_REQUEST,
        "alerts[0].startsAt: `yesterday` is not an RFC 3339 time",
    )
    .await
}
