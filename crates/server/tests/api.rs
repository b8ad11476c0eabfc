//! The policy and kill-switch API over real HTTP, in front of a real controller.
//!
//! Each harness runs the Westworld charter in `supervised` mode against the simulator's
//! bad-deploy scenario, in virtual time, until the loop holds a policy pending
//! approval; then a task owns the controller and applies the API's commands exactly as
//! `charter run`'s ticker does, and the server listens on 127.0.0.1:0.

use charter_knowledge::{SqliteStore, prelude::*};
use charter_model::{ApprovalState, Charter, Policy, Timestamp};
use charter_orchestrator::daemon::{self as control, ControlHandle};
use charter_orchestrator::{Controller, Health, LoopMetrics};
use charter_server::{PolicyApi, ServerState, router};
use charter_sim::Scenario;
use charter_testkit::{EPOCH, WESTWORLD, actuators, charter_from, simulator};
use prometheus_client::registry::Registry;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::{mpsc, oneshot};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TOKEN: &str = "api-3f9a61c0d2";

fn supervised_charter() -> Arc<Charter> {
    let text = WESTWORLD.replace("mode: autonomous", "mode: supervised");
    assert_ne!(text, WESTWORLD, "the example charter's mode line changed");
    Arc::new(charter_from(&text))
}

/// A request to the task that owns the controller, besides the API's commands.
type TickRequest = (Timestamp, oneshot::Sender<Vec<Policy>>);

struct Harness {
    url: String,
    client: reqwest::Client,
    store: Arc<SqliteStore>,
    /// The virtual time of the last tick: what the loop stamps decisions with.
    now: Timestamp,
    interval: Duration,
    ticks: mpsc::Sender<TickRequest>,
    _stop: oneshot::Sender<()>,
    _dir: TempDir,
}

impl Harness {
    async fn start(token: Option<&str>) -> Result<(Harness, Policy), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let charter = supervised_charter();
        let scenario = Scenario::builtin("bad-deploy").ok_or("no bad-deploy scenario")?;
        let sim = simulator(&scenario, scenario.seed, EPOCH);
        let actuators = actuators(&charter, Arc::new(sim.clone()));
        let store = Arc::new(SqliteStore::open(&dir.path().join("charter.db")).await?);
        let health = Arc::new(Health::default());
        let mut controller = Controller::new(
            charter.clone(),
            Arc::new(sim.clone()),
            actuators,
            store.clone(),
            EPOCH,
        )
        .await?
        .with_health(health.clone(), LoopMetrics::unregistered());

        // Run the loop until it asks a human.
        let mut now = EPOCH;
        let pending = loop {
            controller.tick(now).await?;
            if let Some(p) = controller.pending_policies().into_iter().next() {
                break p;
            }
            now = now.plus(charter.interval);
            if now.since(EPOCH) > scenario.duration {
                return Err("no policy became pending during the scenario".into());
            }
        };

        // The task that owns the controller: API commands between ticks, as the daemon.
        let (handle, mut commands) = ControlHandle::channel();
        let (ticks, mut tick_requests) = mpsc::channel::<TickRequest>(4);
        tokio::spawn(async move {
            let mut clock = now;
            loop {
                tokio::select! {
                    Some(command) = commands.recv() => {
                        control::apply(&mut controller, command, clock).await;
                    }
                    Some((at, done)) = tick_requests.recv() => {
                        clock = at;
                        controller.tick(at).await.expect("tick");
                        let _ = done.send(controller.pending_policies());
                    }
                    else => break,
                }
            }
        });

        let state = ServerState {
            health,
            registry: Arc::new(Registry::default()),
            alerts: None,
            policies: Some(PolicyApi {
                control: handle,
                token: token.map(String::from),
                approval_timeout: charter.guardrails.approval_timeout,
            }),
            knowledge: None,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = axum::serve(listener, router(state)).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        tokio::spawn(std::future::IntoFuture::into_future(server));
        Ok((
            Harness {
                url,
                client: reqwest::Client::new(),
                store,
                now,
                interval: charter.interval,
                ticks,
                _stop: stop,
                _dir: dir,
            },
            pending,
        ))
    }

    /// Advance the loop by one interval; the policies pending after that tick.
    async fn tick(&mut self) -> Result<Vec<Policy>, Box<dyn std::error::Error>> {
        self.now = self.now.plus(self.interval);
        let (done, pending) = oneshot::channel();
        self.ticks.send((self.now, done)).await?;
        Ok(pending.await?)
    }

    async fn get(&self, path: &str) -> Result<(StatusCode, Value), reqwest::Error> {
        let resp = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await?;
        Ok((resp.status(), resp.json().await?))
    }

    /// POST with the right token and a JSON body (`Value::Null`: no body at all).
    async fn post(&self, path: &str, body: Value) -> Result<(StatusCode, Value), reqwest::Error> {
        let mut req = self
            .client
            .post(format!("{}{path}", self.url))
            .bearer_auth(TOKEN);
        if !body.is_null() {
            req = req.json(&body);
        }
        let resp = req.send().await?;
        Ok((resp.status(), resp.json().await?))
    }
}

fn error_of(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn mutating_endpoints_refuse_a_missing_or_wrong_token() -> TestResult {
    let (h, pending) = Harness::start(Some(TOKEN)).await?;
    let paths = [
        format!("/api/v1/policies/{}/approve", pending.id),
        format!("/api/v1/policies/{}/reject", pending.id),
        "/api/v1/pause".to_string(),
        "/api/v1/resume".to_string(),
    ];
    for path in &paths {
        let url = format!("{}{path}", h.url);
        let body = json!({"reason": "r"});
        let resp = h.client.post(&url).json(&body).send().await?;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            resp.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
        let body: Value = resp.json().await?;
        assert!(error_of(&body).contains("missing bearer token"), "{body}");

        let resp = h
            .client
            .post(&url)
            .bearer_auth("api-3f9a61c0d3")
            .json(&json!({"reason": "r"}))
            .send()
            .await?;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
        let body: Value = resp.json().await?;
        assert!(error_of(&body).contains("wrong bearer token"), "{body}");
    }
    // Nothing changed: still pending, not paused.
    let (code, body) = h.get(&format!("/api/v1/policies/{}", pending.id)).await?;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["state"], "pending", "{body}");
    assert_eq!(h.store.pause().await?, None);
    Ok(())
}

#[tokio::test]
async fn without_a_configured_token_mutations_are_forbidden() -> TestResult {
    let (h, pending) = Harness::start(None).await?;
    for path in [
        format!("/api/v1/policies/{}/approve", pending.id),
        "/api/v1/pause".to_string(),
    ] {
        // Even with some token: there is none to match.
        let (code, body) = h.post(&path, Value::Null).await?;
        assert_eq!(code, StatusCode::FORBIDDEN, "{path}");
        let error = error_of(&body);
        assert!(error.contains("no API token is configured"), "{body}");
        assert!(error.contains("api: { token_file: FILE }"), "{body}");
        assert!(error.contains("--api-token-file"), "{body}");
    }
    // Reading needs no token.
    let (code, body) = h.get("/api/v1/policies").await?;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body[0]["id"], pending.id.get(), "{body}");
    assert_eq!(h.store.policy(pending.id).await?, Some(pending));
    Ok(())
}

#[tokio::test]
async fn policies_list_pending_first_with_rationale_alternatives_and_expiry() -> TestResult {
    let (h, pending) = Harness::start(Some(TOKEN)).await?;
    let (code, body) = h.get("/api/v1/policies").await?;
    assert_eq!(code, StatusCode::OK);
    let list = body.as_array().ok_or("a list")?;
    let first = &list[0];
    assert_eq!(first["id"], pending.id.get(), "{body}");
    assert_eq!(first["state"], "pending");
    assert_eq!(first["approval"], "pending");
    assert_eq!(first["incident_id"], pending.incident_id.get());
    assert!(!first["rationale"].as_str().unwrap_or_default().is_empty());
    assert!(first["rejected"].is_array(), "{first}");
    assert!(!first["actions"].as_array().ok_or("actions")?.is_empty());
    let expires = pending.created_at.plus(Duration::from_secs(15 * 60));
    assert_eq!(first["expires_at"], expires.millis(), "{first}");

    let (code, one) = h.get(&format!("/api/v1/policies/{}", pending.id)).await?;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(&one, first);

    let (code, body) = h.get("/api/v1/policies/424242").await?;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body), "no policy 424242");
    let (code, body) = h.get("/api/v1/policies/first").await?;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(error_of(&body).contains("whole number"), "{body}");
    let (code, _) = h.get("/api/v1/policies?limit=lots").await?;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    Ok(())
}

#[tokio::test]
async fn approve_records_who_and_when_and_starts_the_execution() -> TestResult {
    let (h, pending) = Harness::start(Some(TOKEN)).await?;
    let path = format!("/api/v1/policies/{}/approve", pending.id);
    let (code, body) = h.post(&path, json!({"by": "alice"})).await?;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "approved");
    assert_eq!(body["approval"]["approved"]["by"], "alice", "{body}");
    assert_eq!(body["approval"]["approved"]["at"], h.now.millis(), "{body}");
    assert_eq!(body["expires_at"], Value::Null);

    let stored = h.store.policy(pending.id).await?.ok_or("stored policy")?;
    assert_eq!(
        stored.approval,
        ApprovalState::Approved {
            by: "alice".into(),
            at: Some(h.now)
        }
    );
    let executions = h.store.executions().await?;
    assert!(
        executions.iter().any(|e| e.policy_id == pending.id),
        "no execution for the approved policy: {executions:?}"
    );
    let audit = h.store.audit_log(20).await?;
    assert!(
        audit.iter().any(|a| a.kind == "approval"
            && a.at == h.now
            && a.body["by"] == "alice"
            && a.body["policy"] == pending.id.get()
            && a.body["approved"] == true),
        "{audit:?}"
    );

    // Decided once: approving or rejecting again is a conflict that names the state.
    let (code, body) = h.post(&path, json!({"by": "bob"})).await?;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(
        error_of(&body),
        format!("policy {} is not pending: it is approved", pending.id)
    );
    let (code, body) = h
        .post(
            &format!("/api/v1/policies/{}/reject", pending.id),
            json!({"reason": "too late"}),
        )
        .await?;
    assert_eq!(code, StatusCode::CONFLICT);
    assert!(error_of(&body).contains("it is approved"), "{body}");
    Ok(())
}

#[tokio::test]
async fn reject_needs_a_reason_and_the_next_plan_avoids_the_rejected_actions() -> TestResult {
    let (mut h, pending) = Harness::start(Some(TOKEN)).await?;
    let path = format!("/api/v1/policies/{}/reject", pending.id);
    for body in [
        Value::Null,
        json!({}),
        json!({"reason": "  ", "by": "carol"}),
    ] {
        let (code, answer) = h.post(&path, body.clone()).await?;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
        assert!(error_of(&answer).contains("reason"), "{answer}");
    }
    let (code, body) = h.post(&path, json!({"reason": "change freeze"})).await?;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "rejected");
    let stored = h.store.policy(pending.id).await?.ok_or("stored policy")?;
    assert_eq!(
        stored.approval,
        ApprovalState::Rejected {
            by: "api".into(),
            reason: "change freeze".into(),
            at: Some(h.now)
        }
    );
    assert!(
        h.store
            .audit_log(20)
            .await?
            .iter()
            .any(|a| a.kind == "approval"
                && a.body["approved"] == false
                && a.body["reason"] == "change freeze"
                && a.body["by"] == "api")
    );
    assert!(
        h.store
            .executions()
            .await?
            .iter()
            .all(|e| e.policy_id != pending.id)
    );

    // The next plan for the incident does not propose the rejected actions again.
    let mut next = Vec::new();
    for _ in 0..4 {
        next = h.tick().await?;
        if !next.is_empty() {
            break;
        }
    }
    // bad-deploy on auth: rollback first; once that is rejected, a restart.
    assert!(!next.is_empty(), "no new policy after the rejection");
    for p in &next {
        assert_ne!(p.id, pending.id);
        for a in &pending.actions {
            assert!(!p.actions.contains(a), "{a} proposed again after rejection");
        }
    }
    // Approving the new one with no body records the default name.
    let (code, body) = h
        .post(
            &format!("/api/v1/policies/{}/approve", next[0].id),
            Value::Null,
        )
        .await?;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["approval"]["approved"]["by"], "api", "{body}");
    Ok(())
}

#[tokio::test]
async fn unknown_policies_are_404_and_bad_bodies_400() -> TestResult {
    let (h, pending) = Harness::start(Some(TOKEN)).await?;
    let (code, body) = h
        .post("/api/v1/policies/424242/approve", json!({"by": "alice"}))
        .await?;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body), "no policy 424242");
    let (code, body) = h
        .post("/api/v1/policies/424242/reject", json!({"reason": "no"}))
        .await?;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");

    let path = format!("/api/v1/policies/{}/approve", pending.id);
    for (body, says) in [
        (json!({"by": 5}), "malformed JSON body"),
        (json!({"bye": "alice"}), "unknown field"),
        (json!({"by": "a\u{7}b"}), "control characters"),
        (json!({"reason": "ok"}), "takes no `reason`"),
    ] {
        let (code, answer) = h.post(&path, body.clone()).await?;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
        assert!(error_of(&answer).contains(says), "{body}: {answer}");
    }
    let resp = h
        .client
        .post(format!("{}{path}", h.url))
        .bearer_auth(TOKEN)
        .body("x".repeat(64 * 1024))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // None of that decided anything.
    let (_, body) = h.get(&format!("/api/v1/policies/{}", pending.id)).await?;
    assert_eq!(body["state"], "pending");
    Ok(())
}

#[tokio::test]
async fn pause_is_shown_at_once_persisted_and_blocks_approval_until_resume() -> TestResult {
    let (h, pending) = Harness::start(Some(TOKEN)).await?;
    let (code, body) = h
        .post(
            "/api/v1/pause",
            json!({"reason": "db migration", "by": "bob"}),
        )
        .await?;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["paused"], true);
    assert_eq!(body["by"], "bob");
    assert_eq!(body["at"], h.now.millis());

    let (_, state) = h.get("/api/v1/state").await?;
    assert_eq!(state["paused"], true, "{state}");
    assert_eq!(state["pause"]["reason"], "db migration", "{state}");
    let stored = h.store.pause().await?.ok_or("pause record")?;
    assert!(stored.paused);
    assert_eq!(stored.by, "bob");

    let approve = format!("/api/v1/policies/{}/approve", pending.id);
    let (code, body) = h.post(&approve, Value::Null).await?;
    assert_eq!(code, StatusCode::CONFLICT);
    assert!(error_of(&body).contains("paused"), "{body}");
    assert!(error_of(&body).contains("db migration"), "{body}");

    let (code, body) = h.post("/api/v1/resume", Value::Null).await?;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["paused"], false);
    assert_eq!(body["by"], "api");
    let (_, state) = h.get("/api/v1/state").await?;
    assert_eq!(state["paused"], false, "{state}");
    assert_eq!(h.store.pause().await?.map(|p| p.paused), Some(false));
    let audit = h.store.audit_log(20).await?;
    assert!(
        audit
            .iter()
            .any(|a| a.kind == "pause" && a.body["by"] == "bob")
    );
    assert!(
        audit
            .iter()
            .any(|a| a.kind == "resume" && a.body["by"] == "api")
    );

    let (code, body) = h.post(&approve, Value::Null).await?;
    assert_eq!(code, StatusCode::OK, "{body}");
    Ok(())
}
