//! Westworld as a real-time HTTP server: `/metrics` for Prometheus, fault injection,
//! and the Charter actuator API (`docs/actuator-api.md`).
//!
//! The world runs on the wall clock: before any request is answered, a middleware
//! advances it to `(now - epoch) × speed`, so a scrape sees the world as it is at that
//! moment (`speed` is 1 unless [`ServeOptions::speed`] says otherwise). The world's
//! std mutex is only ever taken inside synchronous closures
//! ([`Simulator::with_world`]), never across an `.await`.
//!
//! Routes:
//! - `GET /healthz`, `GET /metrics` (Prometheus text format 0.0.4);
//! - `GET /api/v1/query`: a Prometheus instant query, for plain selectors only
//!   ([`crate::query`]), so that a charter's `prometheus` source can read this world;
//!   `/api/v1/query_range` answers that there is no history;
//! - `GET /faults`, `POST /faults`: list and inject faults, with their ground truth;
//! - `/v1/...`: the actuator API. `POST /v1/actions` applies an action once per
//!   `Idempotency-Key`; `GET /v1/actions/{key}`, `GET /v1/components/{name}` and
//!   `GET /v1/effects` read results, state, how often each key changed the world and
//!   how often it was posted. With a token only `/v1/*` requires
//!   `Authorization: Bearer`.
//! - Fencing: a `/v1/actions` request with a `charter-fencing-epoch` older than the
//!   highest one seen is refused with `409` (a resource that honours the leader's
//!   fencing token); `GET /v1/effects` also reports, per key that changed the world,
//!   the epoch that did it, the highest epoch and how many stale requests were refused.
//!
//! The server consumes the world's change log (each change is logged at `info`), so
//! a [`Simulator`] that serves HTTP should not also be observed in process.
//!
//! Here: the options, the router and its middleware (catching up with the wall clock,
//! bearer tokens). The handlers are in `actions` (the actuator API with its ledger of
//! idempotency keys and fencing epochs), `faults` (listing and injecting faults) and
//! `prometheus` (`/metrics` and the query API).

mod actions;
mod faults;
mod prometheus;

use crate::simulator::Simulator;
use crate::world::World;
use actions::{Ledger, get_action, get_component, get_effects, lock, post_action};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use charter_model::Timestamp;
use faults::{list_faults, post_fault};
use prometheus::{instant_query, metrics, range_query};
use serde_json::json;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// The header that makes `POST /v1/actions` idempotent.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Longest idempotency key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 255;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// With a token, every `/v1/*` request must carry `Authorization: Bearer <token>`
    /// (compared in constant time). An empty token admits nobody. `/healthz`,
    /// `/metrics`, `/api/v1/*` and `/faults` stay open.
    pub token: Option<String>,
    /// Simulated seconds per wall-clock second (default 1): at 10, a fault's ten
    /// simulated minutes pass in one real minute. Durations given to `/faults` are
    /// simulated time; times reported are wall-clock.
    pub speed: f64,
    /// How long the answer to a first `POST /v1/actions` waits after the action took
    /// effect (zero by default). Crash tests widen with it the window in which the
    /// world has changed but the client has not heard, like a slow real system.
    pub action_delay: Duration,
    /// The wall clock the world follows and reported times are read from.
    pub clock: Arc<dyn charter_model::Clock>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            token: None,
            speed: 1.0,
            action_delay: Duration::ZERO,
            clock: Arc::new(charter_model::WallClock),
        }
    }
}

/// The wall clock mapped onto the world's virtual time.
#[derive(Debug, Clone)]
struct Clock {
    epoch: Timestamp,
    speed: f64,
    wall: Arc<dyn charter_model::Clock>,
}

impl Clock {
    /// Virtual time now.
    fn now(&self) -> Duration {
        self.wall.now().since(self.epoch).mul_f64(self.speed)
    }

    /// Wall-clock time now.
    fn wall_now(&self) -> Timestamp {
        self.wall.now()
    }

    /// The wall-clock time of virtual time `t`.
    fn wall(&self, t: Duration) -> Timestamp {
        self.epoch.plus(t.div_f64(self.speed))
    }
}

/// The router without authentication, for tests and for [`serve`].
pub fn router(sim: Simulator) -> Router {
    router_with_options(sim, ServeOptions::default())
}

/// The router; with `token`, every `/v1/*` request must carry
/// `Authorization: Bearer <token>` (compared in constant time). An empty token admits
/// nobody. `/healthz`, `/metrics` and `/faults` stay open.
pub fn router_with_token(sim: Simulator, token: Option<String>) -> Router {
    router_with_options(
        sim,
        ServeOptions {
            token,
            ..ServeOptions::default()
        },
    )
}

/// The router with these options. A speed that is not a positive finite number is 1.
pub fn router_with_options(sim: Simulator, options: ServeOptions) -> Router {
    let speed = if options.speed.is_finite() && options.speed > 0.0 {
        options.speed
    } else {
        1.0
    };
    let clock = Clock {
        epoch: sim.epoch(),
        speed,
        wall: options.clock,
    };
    let state = AppState {
        sim: sim.clone(),
        clock: clock.clone(),
        action_delay: options.action_delay,
        ledger: Arc::new(Mutex::new(Ledger::default())),
    };
    let token = options.token;
    let mut api = Router::new()
        .route("/v1/actions", axum::routing::post(post_action))
        .route("/v1/actions/{key}", get(get_action))
        .route("/v1/components/{name}", get(get_component))
        .route("/v1/effects", get(get_effects));
    if let Some(token) = token {
        api = api.route_layer(middleware::from_fn_with_state(
            Arc::<str>::from(token),
            require_token,
        ));
    }
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/query", get(instant_query))
        .route("/api/v1/query_range", get(range_query))
        .route("/faults", get(list_faults).post(post_fault))
        .merge(api)
        .with_state(state)
        .layer(middleware::from_fn_with_state((sim, clock), catch_up))
}

/// Serve [`router`] until `shutdown` completes, then finish in-flight requests.
pub async fn serve(
    listener: TcpListener,
    sim: Simulator,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_token(listener, sim, None, shutdown).await
}

/// Serve [`router_with_token`] until `shutdown` completes, then finish in-flight
/// requests.
pub async fn serve_with_token(
    listener: TcpListener,
    sim: Simulator,
    token: Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let options = ServeOptions {
        token,
        ..ServeOptions::default()
    };
    serve_with_options(listener, sim, options, shutdown).await
}

/// Serve [`router_with_options`] until `shutdown` completes, then finish in-flight
/// requests.
pub async fn serve_with_options(
    listener: TcpListener,
    sim: Simulator,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router_with_options(sim, options))
        .with_graceful_shutdown(shutdown)
        .await
}

#[derive(Clone)]
struct AppState {
    sim: Simulator,
    clock: Clock,
    action_delay: Duration,
    /// Only locked inside [`Simulator::with_world`], so the lock order is always
    /// world, then ledger.
    ledger: Arc<Mutex<Ledger>>,
}

impl AppState {
    /// Run `f` with the world and the ledger locked.
    fn with<R>(&self, f: impl FnOnce(&mut World, &mut Ledger) -> R) -> R {
        self.sim.with_world(|w| f(w, &mut lock(&self.ledger)))
    }
}

/// A JSON error body `{ "error": ... }`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Advance the world to the wall clock before the request is handled.
async fn catch_up(
    State((sim, clock)): State<(Simulator, Clock)>,
    req: Request,
    next: Next,
) -> Response {
    sim.with_world(|w| {
        w.advance_to(clock.now());
        // Nobody observes this world in process; the log keeps what happened.
        for c in w.drain_changes() {
            tracing::info!(
                component = %c.component,
                kind = ?c.kind,
                by = %c.by,
                at = %c.at,
                "{}",
                c.description
            );
        }
    });
    next.run(req).await
}

/// Admit a request only with the right bearer token.
async fn require_token(State(token): State<Arc<str>>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    if presented.is_some_and(|t| !t.is_empty() && constant_time_eq(t.as_bytes(), token.as_bytes()))
    {
        return next.run(req).await;
    }
    let mut resp = error(StatusCode::UNAUTHORIZED, "missing or invalid bearer token");
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    resp
}

/// The token of an `Authorization: Bearer <token>` value (the scheme is
/// case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compare without an early exit, so the time taken does not tell how many leading
/// bytes matched. The length is not secret.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn healthz() -> &'static str {
    "ok\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FaultEffect;
    use actions::idempotency_key;
    use axum::http::HeaderMap;
    use charter_model::ActionKind;
    use faults::FaultRequest;

    #[test]
    fn bearer_tokens_are_parsed_case_insensitively() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn idempotency_key_must_be_single_and_sane() {
        let mut h = HeaderMap::new();
        assert!(idempotency_key(&h).is_err());
        h.insert(IDEMPOTENCY_KEY, "  ".parse().expect("header"));
        assert!(idempotency_key(&h).is_err());
        h.insert(IDEMPOTENCY_KEY, "k-1".parse().expect("header"));
        assert_eq!(idempotency_key(&h), Ok("k-1".into()));
        h.append(IDEMPOTENCY_KEY, "k-2".parse().expect("header"));
        assert!(idempotency_key(&h).is_err());
        let mut h = HeaderMap::new();
        h.insert(
            IDEMPOTENCY_KEY,
            "x".repeat(MAX_KEY_LEN + 1).parse().expect("header"),
        );
        assert!(idempotency_key(&h).is_err());
    }

    #[test]
    fn fault_requests_reject_parameters_of_other_kinds() {
        let req: FaultRequest = serde_json::from_value(json!({
            "kind": "memory_leak", "target": "orders", "factor": 2.0
        }))
        .expect("parses");
        let err = req
            .into_fault()
            .expect_err("factor is not a leak parameter");
        assert!(
            err.contains("`factor` does not apply to memory_leak"),
            "{err}"
        );
    }

    #[test]
    fn fault_requests_take_kind_parameters_and_duration() {
        let req: FaultRequest = serde_json::from_value(json!({
            "kind": "traffic_surge", "target": "catalog", "factor": 3.0, "duration": "10m"
        }))
        .expect("parses");
        let f = req.into_fault().expect("valid");
        assert_eq!(f.effect, FaultEffect::TrafficSurge { factor: 3.0 });
        assert_eq!(f.duration, Some(Duration::from_secs(600)));
        assert_eq!(f.remedy, ActionKind::ScaleOut);
    }
}
