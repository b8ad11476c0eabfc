//! The HTTP actuator against a mock of the Charter actuator API.

use charter_execute::{Actuator, ActuatorError, HttpActuator, NextStep, read_token_file};
use charter_model::{Action, ActionKind};
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{body_json, header, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn scale_out() -> Action {
    Action::new(ActionKind::ScaleOut, "catalog").with_param("step", 2)
}

fn actuator(server: &MockServer) -> HttpActuator {
    HttpActuator::new(&server.uri(), None, Duration::from_secs(5)).expect("valid")
}

fn failed(r: Result<impl std::fmt::Debug, ActuatorError>) -> String {
    match r {
        Err(ActuatorError::Failed(m)) => m,
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn applied_answer_maps_to_prior_and_detail() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/actions"))
        .and(header("idempotency-key", "inc-1/step-0"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "kind": "scale_out", "component": "catalog", "params": { "step": "2" }
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "key": "inc-1/step-0",
            "status": "applied",
            "prior": { "replicas": "3" },
            "detail": "3 → 5 replicas"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let applied = actuator(&server)
        .apply("inc-1/step-0", &scale_out())
        .await
        .expect("applied");
    assert_eq!(applied.prior.get("replicas").map(String::as_str), Some("3"));
    assert_eq!(applied.detail, "3 → 5 replicas");
}

#[tokio::test]
async fn unprocessable_is_a_precondition_failure_with_the_remote_reason() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/actions"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "key": "k", "status": "precondition_failed",
            "error": "`catalog` has no previous version"
        })))
        .mount(&server)
        .await;
    match actuator(&server).apply("k", &scale_out()).await {
        Err(ActuatorError::Precondition(m)) => {
            assert_eq!(m, "`catalog` has no previous version")
        }
        other => panic!("expected Precondition, got {other:?}"),
    }
}

#[tokio::test]
async fn not_found_is_an_unknown_component_only_when_the_body_says_so() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/actions"))
        .and(header("idempotency-key", "known"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "key": "known", "status": "unknown_component",
            "error": "unknown component `catalog`"
        })))
        .mount(&server)
        .await;
    let a = actuator(&server);
    match a.apply("known", &scale_out()).await {
        Err(ActuatorError::UnknownComponent(c)) => assert_eq!(c, "catalog"),
        other => panic!("expected UnknownComponent, got {other:?}"),
    }
    // No mock matches: the mock server's bare 404, as from a wrong base URL.
    let m = failed(a.apply("other", &scale_out()).await);
    assert!(
        m.contains(&format!("POST {}/v1/actions", server.uri())),
        "{m}"
    );
    assert!(m.contains("404"), "{m}");
}

#[tokio::test]
async fn server_error_is_a_failure_naming_url_and_status() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/actions"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({ "error": "disk full" })))
        .mount(&server)
        .await;
    let m = failed(actuator(&server).apply("k", &scale_out()).await);
    assert!(m.contains(&format!("{}/v1/actions", server.uri())), "{m}");
    assert!(m.contains("500 Internal Server Error"), "{m}");
    assert!(m.contains("disk full"), "{m}");
}

#[tokio::test]
async fn a_200_without_an_applied_body_is_a_failure() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/actions"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>login</html>"))
        .mount(&server)
        .await;
    let m = failed(actuator(&server).apply("k", &scale_out()).await);
    assert!(m.contains("invalid body"), "{m}");
}

#[tokio::test]
async fn a_slow_answer_leaves_the_outcome_unknown() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/actions"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(10)))
        .mount(&server)
        .await;
    let a = HttpActuator::new(&server.uri(), None, Duration::from_millis(200)).expect("valid");
    // The request was sent: it may have been applied, so the error is no refusal.
    let e = a.apply("k", &scale_out()).await.expect_err("times out");
    assert_eq!(e.next_step(), NextStep::AskStatus, "{e:?}");
    let ActuatorError::Indeterminate(m) = e else {
        panic!("expected Indeterminate, got {e:?}");
    };
    assert!(m.contains("no answer within 200ms"), "{m}");
    assert!(m.contains(&server.uri()), "{m}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/actions"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/elsewhere", server.uri())),
        )
        .mount(&server)
        .await;
    Mock::given(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let m = failed(actuator(&server).apply("k", &scale_out()).await);
    assert!(m.contains("307"), "{m}");
    assert!(m.contains("redirects are not followed"), "{m}");
}

#[tokio::test]
async fn token_is_sent_as_a_bearer_header() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/components/catalog"))
        .and(header("authorization", "Bearer s3cret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "replicas": 3, "version": "v1", "previous_version": null, "zone": "a",
            "standby_zone": "b", "open_circuits": [], "throttle_rate": null
        })))
        .expect(1)
        .mount(&server)
        .await;
    let a = HttpActuator::new(
        &server.uri(),
        Some("s3cret\n".into()),
        Duration::from_secs(5),
    )
    .expect("valid");
    let state = a.describe("catalog").await.expect("described");
    assert_eq!(state.replicas, Some(3));
    assert_eq!(state.zone.as_deref(), Some("a"));
}

#[tokio::test]
async fn without_a_token_no_authorization_header_is_sent() {
    let server = MockServer::start().await;
    Mock::given(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(401))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/components/catalog"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "replicas": 2 })))
        .mount(&server)
        .await;
    let state = actuator(&server)
        .describe("catalog")
        .await
        .expect("described");
    assert_eq!(state.replicas, Some(2));
    assert!(state.open_circuits.is_empty());
}

#[tokio::test]
async fn describe_percent_encodes_the_name_and_maps_unknown() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/components/web%20tier%2Fblue"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "status": "unknown_component", "error": "unknown component"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let a = HttpActuator::new(
        &format!("{}/api/", server.uri()),
        None,
        Duration::from_secs(5),
    )
    .expect("valid");
    match a.describe("web tier/blue").await {
        Err(ActuatorError::UnknownComponent(c)) => assert_eq!(c, "web tier/blue"),
        other => panic!("expected UnknownComponent, got {other:?}"),
    }
    let m = failed(a.describe("..").await);
    assert!(m.contains("cannot be a segment"), "{m}");
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_string("x".repeat(charter_execute::http::MAX_BODY_BYTES + 1)),
        )
        .mount(&server)
        .await;
    let m = failed(actuator(&server).apply("k", &scale_out()).await);
    assert!(m.contains("larger than"), "{m}");
}

#[tokio::test]
async fn connection_refused_is_a_failure_naming_the_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let a =
        HttpActuator::new(&format!("http://{addr}"), None, Duration::from_secs(5)).expect("valid");
    // Never sent: a refusal, not an unknown outcome.
    let r = a.apply("k", &scale_out()).await;
    assert!(
        matches!(&r, Err(e) if e.next_step() == NextStep::Refused),
        "{r:?}"
    );
    let m = failed(r);
    assert!(m.contains(&format!("POST http://{addr}/v1/actions")), "{m}");
    assert!(m.contains("cannot connect"), "{m}");
}

#[test]
fn token_files_are_trimmed_and_errors_name_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("token");
    std::fs::write(&file, "  s3cret\n").expect("write");
    assert_eq!(read_token_file(&file).expect("read"), "s3cret");

    std::fs::write(&file, "\n \n").expect("write");
    let e = read_token_file(&file).expect_err("empty");
    assert!(e.to_string().contains(&file.display().to_string()), "{e}");

    let missing = dir.path().join("missing");
    let e = read_token_file(&missing).expect_err("missing");
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );
}

#[tokio::test]
async fn status_of_an_applied_key_returns_its_prior_and_detail() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/actions/7-0%2Fundo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "key": "7-0/undo", "status": "applied",
            "action": { "kind": "scale_out", "component": "catalog", "params": { "step": "2" } },
            "prior": { "replicas": "3" }, "detail": "3 → 5 replicas"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let applied = actuator(&server)
        .status("7-0/undo")
        .await
        .expect("known")
        .expect("applied");
    assert_eq!(applied.prior.get("replicas").map(String::as_str), Some("3"));
    assert_eq!(applied.detail, "3 → 5 replicas");
}

#[tokio::test]
async fn status_of_an_unused_or_refused_key_is_none() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/actions/never"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({ "error": "no action with idempotency key `never`" })),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/actions/refused"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "key": "refused", "status": "precondition_failed",
            "action": { "kind": "rollback", "component": "catalog" },
            "error": "no previous version"
        })))
        .mount(&server)
        .await;
    let a = actuator(&server);
    assert_eq!(a.status("never").await.expect("known"), None);
    assert_eq!(a.status("refused").await.expect("known"), None);
}

#[tokio::test]
async fn status_is_unknown_unless_the_api_says_so() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/actions/failed"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "key": "failed", "status": "failed", "error": "disk full"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/actions/other"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "key": "someone-else", "status": "applied", "prior": {}, "detail": "x"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/actions/down"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({ "error": "restarting" })))
        .mount(&server)
        .await;
    let a = actuator(&server);
    let m = failed(a.status("failed").await);
    assert!(m.contains("unknown") && m.contains("disk full"), "{m}");
    let m = failed(a.status("other").await);
    assert!(m.contains("someone-else"), "{m}");
    let m = failed(a.status("down").await);
    assert!(m.contains("503"), "{m}");
    // No mock matches: a bare 404 (a wrong base URL) is not "never applied".
    let m = failed(a.status("lost").await);
    assert!(m.contains("404"), "{m}");
}
