//! HTTP: health, readiness, Charter's own metrics, the Alertmanager webhook, and the
//! policy and kill-switch API.
//!
//! - this module: [`router`] and [`serve`]; `serve` takes its listener and its shutdown
//!   future as arguments, so tests bind port 0 and stop it deterministically.
//!   `GET /api/v1/state`: the loop's state at the end of its last cycle, with the kill
//!   switch as it is now (read-only).
//! - [`alerts`]: `POST /api/v1/alerts` (the Alertmanager v4 webhook receiver) and
//!   `GET /api/v1/alerts`, joined to the router when [`ServerState::alerts`] is set.
//! - [`changes`]: `POST /api/v1/changes` (change events: a plain body, Argo CD
//!   notifications, Flux's notification-controller) and `GET /api/v1/changes`, joined
//!   with the alert receiver and sharing its token, body limit and listener check.
//! - [`api`]: policies (list, show, approve, reject) and the kill switch (pause,
//!   resume), joined when [`ServerState::policies`] is set; mutating calls need the
//!   API bearer token (`docs/api.md`).
//! - [`knowledge`]: `GET /api/v1/knowledge`, what was learned (read-only), joined
//!   when [`ServerState::knowledge`] is set.
//! - [`reload`]: `POST /-/reload`, re-read the charter file (API token required);
//!   merged by the caller with [`reload_router`] and served with [`serve_router`].
//! - [`process`]: the standard `process_*` metrics, read from `/proc` at scrape time.
//!
//! The channel those handlers use to reach the loop is the orchestrator's
//! (`charter_orchestrator::daemon`): commands go to the task that owns the controller,
//! which applies them between cycles and answers.

pub mod alerts;
pub mod api;
pub mod changes;
pub mod knowledge;
pub mod process;
pub mod reload;

pub use alerts::{ALERTS_PATH, AlertIngest, alerts_router};
pub use api::{PolicyApi, PolicyView, policy_router};
pub use changes::{CHANGES_PATH, changes_router};
pub use charter_orchestrator::daemon::{Command, ControlHandle};
pub use knowledge::{KnowledgeApi, knowledge_router};
pub use process::ProcessCollector;
pub use reload::{RELOAD_PATH, ReloadApi, reload_router};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use charter_orchestrator::Health;
use prometheus_client::registry::Registry;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// What the handlers read.
#[derive(Clone)]
pub struct ServerState {
    pub health: Arc<Health>,
    pub registry: Arc<Registry>,
    /// The alert webhook receiver; `None` when the charter has no `alerts:` block.
    pub alerts: Option<AlertIngest>,
    /// The policy and kill-switch API; `None`: its routes are absent (404).
    pub policies: Option<PolicyApi>,
    /// `GET /api/v1/knowledge` (read-only); `None`: the route is absent (404).
    pub knowledge: Option<KnowledgeApi>,
}

/// The router, for tests and for [`serve`].
pub fn router(state: ServerState) -> Router {
    let alerts = state.alerts.clone();
    let policies = state.policies.clone();
    let knowledge = state.knowledge.clone();
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/state", get(state_snapshot))
        .with_state(state);
    if let Some(ingest) = alerts {
        // The change receiver shares the alert receiver's token, limit and store.
        router = router
            .merge(changes_router(ingest.clone()))
            .merge(alerts_router(ingest));
    }
    if let Some(api) = policies {
        router = router.merge(policy_router(api));
    }
    if let Some(api) = knowledge {
        router = router.merge(knowledge_router(api));
    }
    router
}

/// Serve until `shutdown` completes, then finish in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(listener, router(state), shutdown).await
}

/// Serve a router built by [`router`] and merged with more routes (the reload route).
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// `GET /api/v1/state`: the snapshot plus who paused (or resumed) automation, why and
/// when.
#[derive(Serialize)]
struct StateView {
    #[serde(flatten)]
    snapshot: charter_orchestrator::StateSnapshot,
    pause: Option<charter_knowledge::PauseRecord>,
}

/// The loop's state at the end of its last cycle: blind or not, open violations
/// (with whether Alertmanager also reported them), incidents, pending policies; and
/// the kill switch as it is now.
async fn state_snapshot(State(s): State<ServerState>) -> axum::Json<StateView> {
    axum::Json(StateView {
        snapshot: s.health.snapshot(),
        pause: s.health.pause(),
    })
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<ServerState>) -> impl IntoResponse {
    let role = match s.health.role() {
        charter_orchestrator::Role::Single => String::new(),
        role => format!(": {role}"),
    };
    // A store that cannot write (disk full) loses what it is sent: not ready until a
    // write succeeds again.
    let store = s
        .alerts
        .as_ref()
        .map(|a| &a.store)
        .or(s.knowledge.as_ref().map(|k| &k.store));
    let readiness = s.health.readiness().and_then(|()| match store {
        Some(store) => store
            .write_status()
            .map_err(|why| format!("the knowledge store is not writable: {why}")),
        None => Ok(()),
    });
    // Ready means "can serve": a blind monitor still serves the state, approvals and
    // the kill switch, so it stays ready and only says so (see Health::readiness).
    let blind = s
        .health
        .blind_reason()
        .map(|r| format!(" (monitor blind: {r})"))
        .unwrap_or_default();
    match readiness {
        Ok(()) => (StatusCode::OK, format!("ready{role}{blind}\n")),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready{role}: {why}\n"),
        ),
    }
}

async fn metrics(State(s): State<ServerState>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &s.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("cannot encode metrics: {e}\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use charter_orchestrator::LoopMetrics;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(state: &ServerState, path: &str) -> (StatusCode, String) {
        let resp = router(state.clone())
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = resp.status();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn state() -> (ServerState, LoopMetrics) {
        let mut registry = Registry::default();
        let m = LoopMetrics::register(&mut registry);
        (
            ServerState {
                health: Arc::new(Health::default()),
                registry: Arc::new(registry),
                alerts: None,
                policies: None,
                knowledge: None,
            },
            m,
        )
    }

    #[tokio::test]
    async fn readiness_follows_the_loop() {
        let (s, _) = state();
        assert_eq!(get(&s, "/healthz").await.0, StatusCode::OK);
        let (code, body) = get(&s, "/readyz").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("first cycle"), "{body}");
        s.health.tick_done(1, false, "");
        assert_eq!(get(&s, "/readyz").await.0, StatusCode::OK);
        // Readiness means "can serve": a blind monitor still serves, and says why.
        s.health.tick_done(2, true, "connection refused");
        let (code, body) = get(&s, "/readyz").await;
        assert_eq!(code, StatusCode::OK, "{body}");
        assert!(body.contains("blind: connection refused"), "{body}");
        s.health.tick_done(3, false, "");
        let (code, body) = get(&s, "/readyz").await;
        assert_eq!((code, body.as_str()), (StatusCode::OK, "ready\n"));
    }

    #[tokio::test]
    async fn operating_gauges_are_exposed() {
        let (s, m) = state();
        let (_, body) = get(&s, "/metrics").await;
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            body.contains(&format!(
                "charter_build_info{{version=\"{version}\",revision=\""
            )),
            "{body}"
        );
        for line in [
            "charter_pending_approvals 0",
            "charter_paused 0",
            "charter_quarantined_components 0",
            "charter_escalations_total 0",
        ] {
            assert!(body.lines().any(|l| l == line), "{line} missing:\n{body}");
        }
        m.pending_approvals.set(2);
        m.paused.set(1);
        m.quarantined_components.set(3);
        m.escalations.inc();
        let (_, body) = get(&s, "/metrics").await;
        for line in [
            "charter_pending_approvals 2",
            "charter_paused 1",
            "charter_quarantined_components 3",
            "charter_escalations_total 1",
        ] {
            assert!(body.lines().any(|l| l == line), "{line} missing:\n{body}");
        }
    }

    #[tokio::test]
    async fn process_metrics_are_read_at_scrape_time() {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ProcessCollector::new()));
        let s = ServerState {
            registry: Arc::new(registry),
            ..state().0
        };
        let value = |body: &str, name: &str| -> f64 {
            body.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} missing:\n{body}"))
                .parse()
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let (_, first) = get(&s, "/metrics").await;
        // Burn CPU for a while (far more than the 10 ms resolution of /proc times):
        // the next scrape must count more.
        let busy = std::time::Instant::now();
        let mut x = 0u64;
        while busy.elapsed() < std::time::Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        let (_, second) = get(&s, "/metrics").await;
        assert!(
            value(&second, "process_cpu_seconds_total")
                > value(&first, "process_cpu_seconds_total"),
            "{first}\n{second}"
        );
        // Other tests open and close descriptors meanwhile: only bounds hold.
        assert!(value(&second, "process_open_fds") >= 1.0);
        let rss = value(&second, "process_resident_memory_bytes");
        let vsz = value(&second, "process_virtual_memory_bytes");
        assert!(rss > 1e6 && rss < 1e10, "{rss}");
        assert!(vsz >= rss, "{vsz} < {rss}");
        assert!(value(&second, "process_max_fds") >= value(&second, "process_open_fds"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64();
        let started = value(&second, "process_start_time_seconds");
        // This test process started in the last hour, not in the future.
        assert!(
            started <= now + 1.0 && started > now - 3600.0,
            "{started} vs {now}"
        );
        assert!(
            second.contains("# TYPE process_cpu_seconds counter"),
            "{second}"
        );
    }

    #[tokio::test]
    async fn metrics_are_exposed_in_text_format() {
        let (s, m) = state();
        m.ticks.inc();
        m.ticks.inc();
        let (code, body) = get(&s, "/metrics").await;
        assert_eq!(code, StatusCode::OK);
        assert!(body.contains("charter_ticks_total 2"), "{body}");
        assert!(body.contains("# HELP charter_blind"), "{body}");
    }
}
