//! Fuzzing the HTTP bodies the server parses (issue 16): the Alertmanager webhook
//! and the approve / reject / pause / resume bodies, mutated from
//! `fuzz/corpus/webhook/` and `fuzz/corpus/control/`, sent through the real routers
//! with a valid token. No panic, each request answered in bounded time (the
//! driver's watchdog, 2 s), never a 5xx, and every 4xx with a message. Run length:
//! `CHARTER_FUZZ_CASES` / `CHARTER_FUZZ_SECS` (see `charter_testkit::fuzz`).

use axum::body::Body;
use axum::http::Request;
use charter_knowledge::SqliteStore;
use charter_model::Timestamp;
use charter_orchestrator::Controller;
use charter_orchestrator::daemon::{self as control, ControlHandle};
use charter_server::{AlertIngest, PolicyApi, alerts_router, policy_router};
use charter_sim::Scenario;
use charter_testkit::{EPOCH, Fuzz, WESTWORLD, actuators, charter_from, simulator};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tower::ServiceExt;

const TOKEN: &str = "fuzz-token-5b1e";

/// Send `req` to `router`: `Ok` on 2xx, `Err(body)` on 4xx, a failure on 5xx.
async fn answer(router: &axum::Router, req: Request<Body>) -> Result<(), String> {
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&body).to_string();
    assert!(
        !status.is_server_error(),
        "{status} on a client's input: {text}"
    );
    if status.is_success() {
        Ok(())
    } else {
        assert!(status.is_client_error(), "{status}: {text}");
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|_| format!("{status}: {text}"))?;
        Err(v["error"].as_str().unwrap_or(&text).to_string())
    }
}

#[test]
fn fuzz_webhook_body() {
    Fuzz::new("webhook")
        .dictionary(&[
            "\"alerts\"",
            "\"status\"",
            "\"firing\"",
            "\"resolved\"",
            "\"labels\"",
            "\"alertname\"",
            "\"service\"",
            "\"severity\"",
            "\"critical\"",
            "\"startsAt\"",
            "\"endsAt\"",
            "\"fingerprint\"",
            "\"error_ratio\"",
            "\"latency_p99\"",
            "\"db\"",
            "\"2026-01-01T00:00:00Z\"",
            "\"0001-01-01T00:00:00Z\"",
            "\"99999-01-01T00:00:00Z\"",
            "\"2026-02-30T25:61:61Z\"",
            "null",
            "{}",
            "[]",
        ])
        .run(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let charter = Arc::new(charter_from(&WESTWORLD.replace(
                "name: westworld",
                "name: westworld\nalerts: { token_file: t }",
            )));
            let store = rt.block_on(SqliteStore::open_in_memory()).expect("store");
            let router = alerts_router(AlertIngest {
                store: Arc::new(store),
                charter,
                token: Some(TOKEN.into()),
                wake: Arc::new(Notify::new()),
                max_body_bytes: 64 * 1024,
                clock: Arc::new(charter_model::WallClock),
                reloaded: None,
            });
            move |input: &[u8]| {
                let req = Request::post(charter_server::ALERTS_PATH)
                    .header("authorization", format!("Bearer {TOKEN}"))
                    .header("content-type", "application/json")
                    .body(Body::from(input.to_vec()))
                    .expect("request");
                rt.block_on(answer(&router, req))
            }
        });
}

#[test]
fn fuzz_control_bodies() {
    Fuzz::new("control")
        .dictionary(&[
            "\"by\"",
            "\"reason\"",
            "/approve",
            "/reject",
            "/api/v1/pause",
            "/api/v1/resume",
            "/api/v1/policies/",
            "%00",
            "%2F..%2F",
            "\"\\n\"",
            "\"\\u0000\"",
        ])
        .case_bound(Duration::from_secs(3))
        .run(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let router = rt.block_on(async {
                let charter = Arc::new(charter_from(
                    &WESTWORLD.replace("mode: autonomous", "mode: supervised"),
                ));
                let scenario = Scenario::builtin("bad-deploy").expect("scenario");
                let sim = simulator(&scenario, scenario.seed, EPOCH);
                let acts = actuators(&charter, Arc::new(sim.clone()));
                let store = Arc::new(SqliteStore::open_in_memory().await.expect("store"));
                let mut controller =
                    Controller::new(charter.clone(), Arc::new(sim), acts, store, EPOCH)
                        .await
                        .expect("controller");
                let (handle, mut commands) = ControlHandle::channel();
                tokio::spawn(async move {
                    let now: Timestamp = EPOCH;
                    while let Some(command) = commands.recv().await {
                        control::apply(&mut controller, command, now).await;
                    }
                });
                policy_router(PolicyApi {
                    control: handle,
                    token: Some(TOKEN.into()),
                    approval_timeout: Duration::from_secs(900),
                })
            });
            move |input: &[u8]| {
                // The first line is the path, the rest the body.
                let split = input
                    .iter()
                    .position(|&b| b == b'\n')
                    .unwrap_or(input.len());
                let path = String::from_utf8_lossy(&input[..split]).to_string();
                let body = input.get(split + 1..).unwrap_or_default().to_vec();
                let Ok(req) = Request::post(path.as_str())
                    .header("authorization", format!("Bearer {TOKEN}"))
                    .body(Body::from(body))
                else {
                    return Err(format!("not a request path: {path:?}"));
                };
                let out = rt.block_on(answer(&router, req));
                if let Err(e) = &out {
                    assert_ne!(e.trim(), "", "an empty refusal for {path:?}");
                }
                // A 404 from the router has no body: say so rather than nothing.
                out.map_err(|e| {
                    if e.is_empty() {
                        format!("no route {path:?}")
                    } else {
                        e
                    }
                })
            }
        });
}
