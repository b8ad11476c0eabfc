//! The simulator's real-time HTTP server: metrics, faults and the actuator API.

use charter_execute::{Actuator, ActuatorError, HttpActuator};
use charter_model::{Action, ActionKind, Timestamp};
use charter_sim::http::{ServeOptions, serve_with_options, serve_with_token};
use charter_sim::{Scenario, Simulator, World};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server on a free port, stopped by [`Server::stop`] or with the test's runtime.
struct Server {
    base: String,
    sim: Simulator,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// The default shop, stepped every `step`, its virtual zero `ago` before now.
    async fn start(step: Duration, ago: Duration, token: Option<&str>) -> Server {
        let mut scenario = Scenario::default_shop("http", Duration::from_secs(3600));
        scenario.step = step;
        let sim = Simulator::new(World::new(&scenario, 7), Timestamp::now_wall().minus(ago));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with_token(
            listener,
            sim.clone(),
            token.map(str::to_string),
            async move {
                let _ = rx.await;
            },
        ));
        Server {
            base: format!("http://{addr}"),
            sim,
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// A server with `options`, its virtual zero `ago` before now.
    async fn with_options(ago: Duration, options: ServeOptions) -> Server {
        let mut scenario = Scenario::default_shop("http", Duration::from_secs(3600));
        scenario.step = Duration::from_secs(1);
        let sim = Simulator::new(World::new(&scenario, 7), Timestamp::now_wall().minus(ago));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with_options(
            listener,
            sim.clone(),
            options,
            async move {
                let _ = rx.await;
            },
        ));
        Server {
            base: format!("http://{addr}"),
            sim,
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
            stop: Some(tx),
            task: Some(task),
        }
    }

    async fn default() -> Server {
        Server::start(Duration::from_secs(1), Duration::ZERO, None).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self.client.get(self.url(path)).send().await.expect("sent");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, key: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut req = self.client.post(self.url(path)).json(&body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().await.expect("sent");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn metrics(&self) -> (String, HashMap<(String, String), f64>) {
        let resp = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let text = resp.text().await.expect("body");
        let parsed = parse_exposition(&text);
        (text, parsed)
    }

    async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(t) => t.await.expect("server task"),
            None => Ok(()),
        }
    }
}

/// Parse the text format line by line: `name{service="x",...} value`, keyed by
/// (name, service). Panics on any line that is not a comment or a valid sample.
fn parse_exposition(text: &str) -> HashMap<(String, String), f64> {
    let mut out = HashMap::new();
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        assert!(value.is_finite(), "{line}");
        let (name, labels) = series.split_once('{').unwrap_or_else(|| panic!("{line}"));
        let labels = labels.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        let service = labels
            .split(',')
            .find_map(|l| l.strip_prefix("service=\""))
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or_else(|| panic!("no service label: {line}"));
        out.insert((name.to_string(), service.to_string()), value);
    }
    out
}

fn scale_out(component: &str) -> Value {
    json!({ "kind": "scale_out", "component": component, "params": { "step": "2" } })
}

#[tokio::test]
async fn metrics_have_help_type_and_a_value_per_service() {
    let server = Server::default().await;
    let (text, samples) = server.metrics().await;
    let services = server.sim.with_world(|w| w.services());
    for name in charter_sim::METRICS {
        assert!(
            text.contains(&format!("\n# HELP {name} "))
                || text.starts_with(&format!("# HELP {name} "))
        );
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name}");
        for s in &services {
            assert!(
                samples.contains_key(&(name.to_string(), s.clone())),
                "{name} {s}"
            );
        }
    }
    for s in &services {
        assert_eq!(
            samples.get(&("westworld_info".into(), s.clone())),
            Some(&1.0)
        );
    }
    assert!(text.contains("westworld_info{service=\"api\",version=\"v1\",zone=\""));
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn the_world_advances_to_the_wall_clock_before_answering() {
    let server = Server::start(Duration::from_secs(1), Duration::from_secs(300), None).await;
    assert_eq!(server.sim.with_world(|w| w.elapsed()), Duration::ZERO);
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let elapsed = server.sim.with_world(|w| w.elapsed());
    assert!(elapsed >= Duration::from_secs(300), "{elapsed:?}");
}

#[tokio::test]
async fn a_fault_injected_over_http_changes_the_metrics() {
    // A short step, so the fault shows within milliseconds of wall time.
    let server = Server::start(Duration::from_millis(10), Duration::from_secs(60), None).await;
    let rate = |m: &HashMap<(String, String), f64>| {
        m[&("westworld_request_rate".to_string(), "frontend".to_string())]
    };
    let before = rate(&server.metrics().await.1);

    let (status, body) = server
        .post(
            "/faults",
            None,
            json!({ "kind": "traffic_surge", "target": "frontend", "duration": "10m", "factor": 4.0 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["id"], 0);
    assert_eq!(body["ground_truth"]["kind"], "traffic_surge");
    assert_eq!(body["ground_truth"]["root_cause"], "frontend");
    assert_eq!(body["ground_truth"]["remedy"], "scale_out");
    let at = body["ground_truth"]["at_seconds"].as_f64().expect("at");
    assert!(at >= 60.0, "{body}");
    assert_eq!(
        body["ground_truth"]["until_seconds"].as_f64(),
        Some(at + 600.0)
    );

    // The surge acts from the next step; wait for it without a fixed sleep.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut after = before;
    while after < 2.5 * before && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = rate(&server.metrics().await.1);
    }
    assert!(after > 2.5 * before, "before {before}, after {after}");

    let (status, list) = server.get("/faults").await;
    assert_eq!(status, StatusCode::OK);
    let faults = list["faults"].as_array().expect("list");
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0]["injected"], true);
    assert_eq!(faults[0]["acting"], true);
    assert_eq!(faults[0]["ground_truth"]["root_cause"], "frontend");
}

#[tokio::test]
async fn a_bad_deploy_injected_over_http_changes_the_version_at_once() {
    let server = Server::default().await;
    let (status, body) = server
        .post(
            "/faults",
            None,
            json!({ "kind": "bad_deploy", "target": "auth" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["ground_truth"]["remedy"], "rollback");
    let (_, state) = server.get("/v1/components/auth").await;
    assert_eq!(state["version"], "v2");
    assert_eq!(state["previous_version"], "v1");
}

#[tokio::test]
async fn bad_faults_are_rejected_with_a_reason() {
    let server = Server::default().await;
    let cases = [
        (
            json!({ "kind": "meteor", "target": "api" }),
            "unknown fault kind",
        ),
        (
            json!({ "kind": "memory_leak", "target": "nope" }),
            "unknown service `nope`",
        ),
        (
            json!({ "kind": "memory_leak", "target": "orders", "factor": 2 }),
            "`factor` does not apply to memory_leak",
        ),
        (
            json!({ "kind": "traffic_surge", "target": "api", "factor": -1 }),
            "`factor` must be positive",
        ),
        (
            json!({ "kind": "pool_exhaustion", "target": "frontend" }),
            "has no connection pool",
        ),
        (
            json!({ "kind": "zone_outage", "target": "api", "duration": "soon" }),
            "invalid duration",
        ),
        (
            json!({ "kind": "zone_outage", "target": "api", "at": "5m" }),
            "unknown field",
        ),
    ];
    for (body, reason) in cases {
        let (status, answer) = server.post("/faults", None, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(reason), "{body}: {error}");
    }
    let (_, list) = server.get("/faults").await;
    assert_eq!(list["faults"], json!([]));
}

#[tokio::test]
async fn an_applied_action_changes_the_component_state() {
    let server = Server::default().await;
    let (_, before) = server.get("/v1/components/catalog").await;
    let replicas = before["replicas"].as_u64().expect("replicas");

    let (status, body) = server
        .post("/v1/actions", Some("k-1"), scale_out("catalog"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["key"], "k-1");
    assert_eq!(body["status"], "applied");
    assert_eq!(body["prior"]["replicas"], replicas.to_string());
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));

    let (_, after) = server.get("/v1/components/catalog").await;
    assert_eq!(after["replicas"].as_u64(), Some(replicas + 2));

    let (status, stored) = server.get("/v1/actions/k-1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored, body);
    let (status, _) = server.get("/v1/actions/never-used").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_repeated_idempotency_key_changes_replicas_once() {
    let server = Server::default().await;
    let (_, before) = server.get("/v1/components/catalog").await;
    let replicas = before["replicas"].as_u64().expect("replicas");

    let first = server
        .post("/v1/actions", Some("once"), scale_out("catalog"))
        .await;
    let second = server
        .post("/v1/actions", Some("once"), scale_out("catalog"))
        .await;
    assert_eq!(first.0, StatusCode::OK);
    assert_eq!(first, second);

    let (_, after) = server.get("/v1/components/catalog").await;
    assert_eq!(after["replicas"].as_u64(), Some(replicas + 2));
    let (status, effects) = server.get("/v1/effects").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        effects,
        json!({
            "effects": { "once": 1 }, "total": 1, "requests": { "once": 2 },
            "epochs": { "once": 0 }, "max_epoch": 0, "stale_refused": 0
        })
    );
}

#[tokio::test]
async fn the_same_key_for_a_different_action_is_a_conflict() {
    let server = Server::default().await;
    let (status, _) = server
        .post("/v1/actions", Some("k"), scale_out("catalog"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server
        .post("/v1/actions", Some("k"), scale_out("orders"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, effects) = server.get("/v1/effects").await;
    assert_eq!(effects["total"], 1);
}

#[tokio::test]
async fn a_missing_or_blank_idempotency_key_is_a_bad_request() {
    let server = Server::default().await;
    let (status, body) = server.post("/v1/actions", None, scale_out("catalog")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("Idempotency-Key"))
    );
    let (status, _) = server
        .post("/v1/actions", Some(" "), scale_out("catalog"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, effects) = server.get("/v1/effects").await;
    assert_eq!(effects["total"], 0);
}

#[tokio::test]
async fn malformed_actions_are_bad_requests_not_precondition_failures() {
    let server = Server::default().await;
    let (status, body) = server
        .post(
            "/v1/actions",
            Some("k"),
            json!({ "kind": "reboot", "component": "api" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = server
        .post(
            "/v1/actions",
            Some("k"),
            json!({ "kind": "scale_out", "component": "api", "params": { "step": 2 } }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Nothing was recorded for the key, so it can still be used.
    let (status, _) = server
        .post("/v1/actions", Some("k"), scale_out("api"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn precondition_failures_and_unknown_components_are_recorded_and_replayed() {
    let server = Server::default().await;
    let rollback = json!({ "kind": "rollback", "component": "catalog" });
    let first = server
        .post("/v1/actions", Some("rb"), rollback.clone())
        .await;
    assert_eq!(first.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", first.1);
    assert_eq!(first.1["status"], "precondition_failed");
    assert!(
        first.1["error"]
            .as_str()
            .is_some_and(|e| e.contains("no previous version"))
    );
    assert_eq!(
        server.post("/v1/actions", Some("rb"), rollback).await,
        first
    );

    let unknown = server
        .post("/v1/actions", Some("u"), scale_out("nope"))
        .await;
    assert_eq!(unknown.0, StatusCode::NOT_FOUND);
    assert_eq!(unknown.1["status"], "unknown_component");
    let (status, body) = server.get("/v1/components/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["status"], "unknown_component");

    let (_, effects) = server.get("/v1/effects").await;
    assert_eq!(
        effects,
        json!({
            "effects": { "rb": 0, "u": 0 }, "total": 0, "requests": { "rb": 2, "u": 1 },
            "epochs": {}, "max_epoch": 0, "stale_refused": 0
        })
    );
}

#[tokio::test]
async fn a_token_guards_the_actuator_api_only() {
    let server = Server::start(Duration::from_secs(1), Duration::ZERO, Some("s3cret")).await;
    let get = |auth: Option<&'static str>| {
        let mut req = server.client.get(server.url("/v1/effects"));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.send()
    };
    let resp = get(None).await.expect("sent");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    for bad in [
        "Bearer wrong",
        "Bearer s3cre",
        "Bearer ",
        "Basic czNjcmV0",
        "s3cret",
    ] {
        assert_eq!(
            get(Some(bad)).await.expect("sent").status(),
            StatusCode::UNAUTHORIZED,
            "{bad}"
        );
    }
    assert_eq!(
        get(Some("Bearer s3cret")).await.expect("sent").status(),
        StatusCode::OK
    );
    let (status, _) = server
        .post("/v1/actions", Some("k"), scale_out("api"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.sim.with_world(|w| w.effects().len()), 0);

    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    server.metrics().await;
    let (status, _) = server.get("/faults").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_http_actuator_speaks_the_servers_protocol() {
    let server = Server::start(Duration::from_secs(1), Duration::ZERO, Some("s3cret")).await;
    let actuator = HttpActuator::new(&server.base, Some("s3cret".into()), Duration::from_secs(5))
        .expect("valid");
    let before = actuator.describe("catalog").await.expect("described");
    let action = Action::new(ActionKind::ScaleOut, "catalog").with_param("step", 2);

    let applied = actuator.apply("e2e-1", &action).await.expect("applied");
    let again = actuator.apply("e2e-1", &action).await.expect("replayed");
    assert_eq!(applied, again);
    let replicas = before.replicas.expect("replicas");
    assert_eq!(applied.prior.get("replicas"), Some(&replicas.to_string()));
    let after = actuator.describe("catalog").await.expect("described");
    assert_eq!(after.replicas, Some(replicas + 2));
    assert_eq!(
        server.sim.with_world(|w| w.effects().get("e2e-1").copied()),
        Some(1)
    );

    let rollback = Action::new(ActionKind::Rollback, "catalog");
    assert!(matches!(
        actuator.apply("e2e-2", &rollback).await,
        Err(ActuatorError::Precondition(m)) if m.contains("no previous version")
    ));
    assert!(matches!(
        actuator.apply("e2e-3", &Action::new(ActionKind::Restart, "nope")).await,
        Err(ActuatorError::UnknownComponent(c)) if c == "nope"
    ));
    assert!(matches!(
        actuator.describe("nope").await,
        Err(ActuatorError::UnknownComponent(_))
    ));

    let wrong = HttpActuator::new(&server.base, Some("wrong".into()), Duration::from_secs(5))
        .expect("valid");
    match wrong.apply("e2e-4", &action).await {
        Err(ActuatorError::Failed(m)) => assert!(m.contains("401"), "{m}"),
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn requests_of_an_older_fencing_epoch_are_refused_once_a_newer_one_was_seen() {
    let server = Server::default().await;
    let old = HttpActuator::new(&server.base, None, Duration::from_secs(5)).expect("valid");
    let new = HttpActuator::new(&server.base, None, Duration::from_secs(5)).expect("valid");
    old.set_fencing_epoch(3);
    new.set_fencing_epoch(4);
    let action = Action::new(ActionKind::ScaleOut, "catalog").with_param("step", 1);
    old.apply("f-1", &action)
        .await
        .expect("epoch 3 is the newest so far");
    // The new leader looks a key up: from now on epoch 3 is stale.
    assert_eq!(new.status("f-2").await.expect("known"), None);
    match old.apply("f-2", &action).await {
        Err(ActuatorError::Failed(m)) => assert!(m.contains("stale fencing epoch 3"), "{m}"),
        other => panic!("a stale leader must be refused: {other:?}"),
    }
    assert!(
        old.status("f-1").await.is_err(),
        "a stale look-up is refused too"
    );
    new.apply("f-3", &action).await.expect("epoch 4 acts");
    let (_, effects) = server.get("/v1/effects").await;
    assert_eq!(effects["effects"], json!({ "f-1": 1, "f-3": 1 }));
    assert_eq!(effects["epochs"], json!({ "f-1": 3, "f-3": 4 }));
    assert_eq!(effects["max_epoch"], 4);
    assert_eq!(effects["stale_refused"], 2);
    // Without an epoch (a single replica) a request is not fenced.
    let single = HttpActuator::new(&server.base, None, Duration::from_secs(5)).expect("valid");
    single.apply("f-4", &action).await.expect("unfenced");
}

#[tokio::test]
async fn the_http_actuator_status_reads_what_a_key_did() {
    let server = Server::default().await;
    let actuator = HttpActuator::new(&server.base, None, Duration::from_secs(5)).expect("valid");
    let action = Action::new(ActionKind::ScaleOut, "catalog").with_param("step", 2);
    assert_eq!(actuator.status("s-1").await.expect("known"), None);
    let applied = actuator.apply("s-1", &action).await.expect("applied");
    assert_eq!(actuator.status("s-1").await.expect("known"), Some(applied));
    let rollback = Action::new(ActionKind::Rollback, "catalog");
    assert!(actuator.apply("s-2", &rollback).await.is_err());
    assert_eq!(actuator.status("s-2").await.expect("known"), None);
    // Looking up changes nothing and is not a request to act.
    let (_, effects) = server.get("/v1/effects").await;
    assert_eq!(effects["requests"], json!({ "s-1": 1, "s-2": 1 }));
    assert_eq!(effects["effects"], json!({ "s-1": 1, "s-2": 0 }));
}

#[tokio::test]
async fn instant_queries_answer_plain_selectors_from_the_present() {
    let server = Server::default().await;
    let (status, body) = server
        .get("/api/v1/query?query=westworld_ready_replicas%7Bservice%3D%22catalog%22%7D")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["resultType"], "vector");
    let result = body["data"]["result"].as_array().expect("vector");
    assert_eq!(result.len(), 1, "{body}");
    assert_eq!(result[0]["metric"]["service"], "catalog");
    assert_eq!(result[0]["metric"]["__name__"], "westworld_ready_replicas");
    let replicas = server.sim.with_world(|w| {
        w.metric("westworld_ready_replicas", "catalog")
            .expect("metric")
    });
    assert_eq!(result[0]["value"][1], json!(replicas.to_string()));

    let (status, body) = server
        .get("/api/v1/query?query=westworld_error_ratio")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"]["result"].as_array().map(Vec::len),
        Some(server.sim.with_world(|w| w.services().len()))
    );

    for refused in [
        "/api/v1/query?query=sum(westworld_error_ratio)",
        "/api/v1/query",
        "/api/v1/query?query=westworld_error_ratio&time=1000",
        "/api/v1/query_range?query=westworld_error_ratio&start=1&end=2&step=1",
    ] {
        let (status, body) = server.get(refused).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(body["status"], "error", "{refused}");
        assert_eq!(body["errorType"], "bad_data", "{refused}");
    }
}

#[tokio::test]
async fn a_faster_world_runs_ahead_of_the_wall_clock() {
    let options = ServeOptions {
        speed: 20.0,
        ..ServeOptions::default()
    };
    let server = Server::with_options(Duration::from_secs(30), options).await;
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let elapsed = server.sim.with_world(|w| w.elapsed());
    assert!(elapsed >= Duration::from_secs(600), "{elapsed:?}");
    // Reported times are wall-clock: a fault injected now is reported as now.
    let (status, fault) = server
        .post(
            "/faults",
            None,
            json!({ "kind": "traffic_surge", "target": "catalog", "duration": "10m" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{fault}");
    let at = fault["ground_truth"]["at_seconds"].as_f64().expect("at");
    let until = fault["ground_truth"]["until_seconds"]
        .as_f64()
        .expect("until");
    assert!(at >= 600.0 && (until - at - 600.0).abs() < 1e-6, "{fault}");
    let wall = |field: &str| {
        fault["ground_truth"][field]
            .as_str()
            .and_then(|t| humantime::parse_rfc3339(t).ok())
            .expect("a wall-clock time")
    };
    let ago = std::time::SystemTime::now()
        .duration_since(wall("at"))
        .unwrap_or_default();
    assert!(ago < Duration::from_secs(5), "{fault}");
    // Ten simulated minutes at 20× are thirty real seconds (times are in whole seconds).
    let real = wall("until")
        .duration_since(wall("at"))
        .expect("until after at");
    assert!(
        real.abs_diff(Duration::from_secs(30)) <= Duration::from_secs(1),
        "{real:?}"
    );
}

/// A wall clock an hour ahead of the real one.
#[derive(Debug)]
struct HourAhead;

impl charter_model::Clock for HourAhead {
    fn now(&self) -> Timestamp {
        Timestamp::now_wall().plus(Duration::from_secs(3600))
    }
}

#[tokio::test]
async fn the_world_follows_the_injected_clock() {
    let options = ServeOptions {
        clock: std::sync::Arc::new(HourAhead),
        ..ServeOptions::default()
    };
    // Started 30 s ago by the real clock; the server's clock says an hour later.
    let server = Server::with_options(Duration::from_secs(30), options).await;
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let elapsed = server.sim.with_world(|w| w.elapsed());
    assert!(
        elapsed >= Duration::from_secs(3630) && elapsed < Duration::from_secs(3700),
        "{elapsed:?}"
    );
}
