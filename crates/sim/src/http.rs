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

use crate::exposition;
use crate::fault::{Fault, FaultEffect, FaultKind, GroundTruth};
use crate::query::{MAX_SKEW, Selector};
use crate::simulator::Simulator;
use crate::world::{FaultReport, InjectError, World};
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use charter_execute::{ActuatorError, Applied};
use charter_model::{Action, ActionKind, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
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
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            token: None,
            speed: 1.0,
            action_delay: Duration::ZERO,
        }
    }
}

/// The wall clock mapped onto the world's virtual time.
#[derive(Debug, Clone, Copy)]
struct Clock {
    epoch: Timestamp,
    speed: f64,
}

impl Clock {
    /// Virtual time now.
    fn now(&self) -> Duration {
        Timestamp::now_wall().since(self.epoch).mul_f64(self.speed)
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
    };
    let state = AppState {
        sim: sim.clone(),
        clock,
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

fn lock(ledger: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    // The ledger is a map updated in one statement; a panic elsewhere cannot tear it.
    ledger.lock().unwrap_or_else(|e| e.into_inner())
}

/// The answers given per idempotency key, replayed for a repeated key.
#[derive(Default)]
struct Ledger {
    actions: HashMap<String, Entry>,
    /// Per key, how many `POST /v1/actions` carried it (replays and conflicts
    /// included): a client that re-sends a key it should have looked up shows here.
    requests: BTreeMap<String, u64>,
    /// The highest fencing epoch any request carried (0: none did).
    max_epoch: u64,
    /// Requests refused because they carried an older epoch than `max_epoch`.
    stale: u64,
    /// Per key that changed the world, the fencing epoch of the request that did it.
    epochs: BTreeMap<String, u64>,
}

impl Ledger {
    /// A fencing resource: remember the highest epoch seen, refuse older ones.
    fn fence(&mut self, epoch: Option<u64>) -> Result<(), String> {
        let Some(epoch) = epoch else { return Ok(()) };
        if epoch < self.max_epoch {
            self.stale += 1;
            return Err(format!(
                "stale fencing epoch {epoch}: a leader with epoch {} has acted since",
                self.max_epoch
            ));
        }
        self.max_epoch = epoch;
        Ok(())
    }
}

/// The request's fencing epoch (`charter-fencing-epoch`), if it carries one.
fn fencing_epoch(headers: &HeaderMap) -> Result<Option<u64>, String> {
    match headers.get(charter_execute::FENCING_EPOCH_HEADER) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| "the fencing epoch header must be a whole number".to_string()),
    }
}

struct Entry {
    status: StatusCode,
    record: ActionRecord,
}

/// The body of every answer of `POST /v1/actions` and of `GET /v1/actions/{key}`.
#[derive(Debug, Clone, Serialize)]
struct ActionRecord {
    key: String,
    /// `applied`, `precondition_failed`, `unknown_component` or `failed`.
    status: &'static str,
    action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    prior: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl Entry {
    /// The answer to the first request with `key`.
    fn new(key: &str, action: Action, result: Result<Applied, ActuatorError>) -> Entry {
        let mut record = ActionRecord {
            key: key.to_string(),
            status: "applied",
            action,
            prior: None,
            detail: None,
            error: None,
        };
        let status = match result {
            Ok(applied) => {
                record.prior = Some(applied.prior);
                record.detail = Some(applied.detail);
                StatusCode::OK
            }
            Err(ActuatorError::Precondition(m)) => {
                record.status = "precondition_failed";
                record.error = Some(m);
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Err(e @ ActuatorError::UnknownComponent(_)) => {
                record.status = "unknown_component";
                record.error = Some(e.to_string());
                StatusCode::NOT_FOUND
            }
            // The world is in this process: it always knows whether it acted.
            Err(ActuatorError::Failed(m) | ActuatorError::Indeterminate(m)) => {
                record.status = "failed";
                record.error = Some(m);
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        Entry { status, record }
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

async fn metrics(State(s): State<AppState>) -> Response {
    let body = s.sim.with_world(|w| exposition::render(w));
    ([(header::CONTENT_TYPE, exposition::CONTENT_TYPE)], body).into_response()
}

/// A fault to inject, as `POST /faults` takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    kind: String,
    target: String,
    #[serde(default)]
    duration: Option<String>,
    #[serde(default)]
    remedy: Option<String>,
    #[serde(default)]
    factor: Option<f64>,
    #[serde(default)]
    rate: Option<f64>,
    #[serde(default)]
    error_ratio: Option<f64>,
    #[serde(default)]
    hit_ratio: Option<f64>,
    #[serde(default)]
    pool_size: Option<u32>,
    #[serde(default)]
    loss: Option<f64>,
}

impl FaultRequest {
    /// The fault, with the kind's defaults for what is not given; `at` is set by
    /// [`World::inject`].
    fn into_fault(self) -> Result<Fault, String> {
        let kind: FaultKind = self
            .kind
            .parse()
            .map_err(|e: crate::fault::UnknownFaultKind| e.to_string())?;
        let allowed = kind.params();
        let given = [
            ("factor", self.factor.is_some()),
            ("rate", self.rate.is_some()),
            ("error_ratio", self.error_ratio.is_some()),
            ("hit_ratio", self.hit_ratio.is_some()),
            ("pool_size", self.pool_size.is_some()),
            ("loss", self.loss.is_some()),
        ];
        if let Some((name, _)) = given
            .iter()
            .find(|(name, present)| *present && !allowed.contains(name))
        {
            let takes = if allowed.is_empty() {
                "it takes none".to_string()
            } else {
                format!("it takes: {}", allowed.join(", "))
            };
            return Err(format!("`{name}` does not apply to {kind} ({takes})"));
        }
        let effect = match FaultEffect::default_for(kind) {
            FaultEffect::TrafficSurge { factor } => FaultEffect::TrafficSurge {
                factor: self.factor.unwrap_or(factor),
            },
            FaultEffect::MemoryLeak { rate } => FaultEffect::MemoryLeak {
                rate: self.rate.unwrap_or(rate),
            },
            FaultEffect::BadDeploy { error_ratio } => FaultEffect::BadDeploy {
                error_ratio: self.error_ratio.unwrap_or(error_ratio),
            },
            FaultEffect::CachePoisoning { hit_ratio } => FaultEffect::CachePoisoning {
                hit_ratio: self.hit_ratio.unwrap_or(hit_ratio),
            },
            FaultEffect::PoolExhaustion { pool_size } => FaultEffect::PoolExhaustion {
                pool_size: self.pool_size.unwrap_or(pool_size),
            },
            FaultEffect::NoisyNeighbour { loss } => FaultEffect::NoisyNeighbour {
                loss: self.loss.unwrap_or(loss),
            },
            e @ (FaultEffect::DependencyOutage | FaultEffect::ZoneOutage) => e,
        };
        let mut fault = Fault::new(kind, &self.target, Duration::ZERO).with_effect(effect);
        if let Some(d) = &self.duration {
            let d = humantime::parse_duration(d.trim())
                .map_err(|e| format!("invalid duration `{d}`: {e} (write e.g. 30s, 5m, 1h)"))?;
            fault = fault.lasting(d);
        }
        if let Some(r) = &self.remedy {
            fault.remedy = r.parse::<ActionKind>().map_err(|e| e.to_string())?;
        }
        Ok(fault)
    }
}

/// A fault as `/faults` reports it.
#[derive(Debug, Serialize)]
struct FaultJson {
    id: usize,
    injected: bool,
    started: bool,
    acting: bool,
    cured: bool,
    ground_truth: TruthJson,
}

#[derive(Debug, Serialize)]
struct TruthJson {
    kind: &'static str,
    root_cause: String,
    remedy: &'static str,
    /// Seconds from the start of the world.
    at_seconds: f64,
    /// Wall-clock time, RFC 3339.
    at: String,
    until_seconds: Option<f64>,
    until: Option<String>,
}

impl FaultJson {
    fn new(r: FaultReport, clock: Clock) -> Self {
        FaultJson {
            id: r.id,
            injected: r.injected,
            started: r.started,
            acting: r.acting,
            cured: r.cured,
            ground_truth: TruthJson::new(r.truth, clock),
        }
    }
}

impl TruthJson {
    fn new(t: GroundTruth, clock: Clock) -> Self {
        TruthJson {
            kind: t.kind.as_str(),
            root_cause: t.root_cause,
            remedy: t.remedy.as_str(),
            at_seconds: t.at.as_secs_f64(),
            at: clock.wall(t.at).to_string(),
            until_seconds: t.until.map(|u| u.as_secs_f64()),
            until: t.until.map(|u| clock.wall(u).to_string()),
        }
    }
}

async fn list_faults(State(s): State<AppState>) -> Response {
    let clock = s.clock;
    let faults: Vec<FaultJson> = s.sim.with_world(|w| {
        w.fault_reports()
            .into_iter()
            .map(|r| FaultJson::new(r, clock))
            .collect()
    });
    Json(json!({ "faults": faults })).into_response()
}

async fn post_fault(State(s): State<AppState>, body: Bytes) -> Response {
    let request: FaultRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid fault: {e}")),
    };
    let fault = match request.into_fault() {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let clock = s.clock;
    let injected = s.sim.with_world(|w| {
        let id = w.inject(fault)?;
        Ok::<_, InjectError>(w.fault_reports().into_iter().nth(id))
    });
    match injected {
        Ok(Some(report)) => {
            let truth = &report.truth;
            tracing::info!(
                id = report.id,
                kind = %truth.kind,
                target = %truth.root_cause,
                "fault injected"
            );
            (StatusCode::CREATED, Json(FaultJson::new(report, clock))).into_response()
        }
        Ok(None) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the injected fault is missing from the world",
        ),
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// The request's idempotency key: exactly one header, visible ASCII, not blank.
fn idempotency_key(headers: &HeaderMap) -> Result<String, String> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err("exactly one Idempotency-Key header is required".into());
    };
    let key = value
        .to_str()
        .map_err(|_| "the Idempotency-Key must be visible ASCII".to_string())?
        .trim();
    if key.is_empty() {
        return Err("the Idempotency-Key must not be empty".into());
    }
    if key.len() > MAX_KEY_LEN {
        return Err(format!(
            "the Idempotency-Key is longer than {MAX_KEY_LEN} bytes"
        ));
    }
    Ok(key.to_string())
}

async fn post_action(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let key = match idempotency_key(&headers) {
        Ok(k) => k,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let action: Action = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid action: {e}")),
    };
    let epoch = match fencing_epoch(&headers) {
        Ok(e) => e,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    // The fencing check, the look-up, the apply and the record happen under one lock,
    // so two concurrent requests with the same key cannot both apply, and a request of
    // an old epoch cannot slip in after a newer one.
    let answer = s.with(|world, ledger| {
        *ledger.requests.entry(key.clone()).or_default() += 1;
        if let Err(stale) = ledger.fence(epoch) {
            return Ok(Err(stale));
        }
        match ledger.actions.get(&key) {
            Some(e) if e.record.action != action => Err(e.record.action.to_string()),
            Some(e) => Ok(Ok((e.status, e.record.clone(), true))),
            None => {
                let result = world.apply(&key, &action);
                if result.is_ok() {
                    ledger.epochs.insert(key.clone(), epoch.unwrap_or(0));
                }
                let entry = Entry::new(&key, action.clone(), result);
                let answer = (entry.status, entry.record.clone(), false);
                ledger.actions.insert(key.clone(), entry);
                Ok(Ok(answer))
            }
        }
    });
    let answer = match answer {
        Ok(Err(stale)) => {
            tracing::warn!(key = %key, "{stale}");
            return error(StatusCode::CONFLICT, stale);
        }
        Ok(Ok(a)) => Ok(a),
        Err(first) => Err(first),
    };
    if let Ok((_, _, false)) = &answer
        && !s.action_delay.is_zero()
    {
        tokio::time::sleep(s.action_delay).await;
    }
    match answer {
        Ok((status, record, replay)) => {
            tracing::info!(
                key = %key,
                component = %record.action.component,
                action = %record.action,
                status = status.as_u16(),
                replay,
                "action"
            );
            (status, Json(record)).into_response()
        }
        Err(first) => error(
            StatusCode::CONFLICT,
            format!("idempotency key `{key}` was already used for a different action: {first}"),
        ),
    }
}

async fn get_action(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    let epoch = match fencing_epoch(&headers) {
        Ok(e) => e,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    // A look-up by a newer leader fences the older one out too, before it answers.
    let record = s.with(|_, ledger| -> Result<Option<ActionRecord>, String> {
        ledger.fence(epoch)?;
        Ok(ledger.actions.get(&key).map(|e| e.record.clone()))
    });
    match record {
        Err(stale) => error(StatusCode::CONFLICT, stale),
        Ok(Some(r)) => Json(r).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("no action with idempotency key `{key}`"),
        ),
    }
}

async fn get_component(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    match s.sim.with_world(|w| w.describe(&name)) {
        Ok(state) => Json(state).into_response(),
        Err(e) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "status": "unknown_component", "error": e.to_string() })),
        )
            .into_response(),
    }
}

async fn get_effects(State(s): State<AppState>) -> Response {
    let (effects, requests, epochs, max_epoch, stale) = s.with(|w, ledger| {
        (
            w.effects().clone(),
            ledger.requests.clone(),
            ledger.epochs.clone(),
            ledger.max_epoch,
            ledger.stale,
        )
    });
    let total: u64 = effects.values().map(|&n| u64::from(n)).sum();
    Json(json!({
        "effects": effects,
        "total": total,
        "requests": requests,
        "epochs": epochs,
        "max_epoch": max_epoch,
        "stale_refused": stale,
    }))
    .into_response()
}

/// The parameters of a Prometheus instant query.
#[derive(Debug, Deserialize)]
struct InstantQuery {
    #[serde(default)]
    query: Option<String>,
    /// Unix seconds; now when absent.
    #[serde(default)]
    time: Option<String>,
}

/// A Prometheus API error envelope.
fn prometheus_error(status: StatusCode, error_type: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "status": "error", "errorType": error_type, "error": message.into() })),
    )
        .into_response()
}

/// `GET /api/v1/query`: a plain selector evaluated on the world as it is now.
async fn instant_query(State(s): State<AppState>, Query(q): Query<InstantQuery>) -> Response {
    let Some(query) = q.query else {
        return prometheus_error(StatusCode::BAD_REQUEST, "bad_data", "missing `query`");
    };
    let selector = match Selector::parse(&query) {
        Ok(sel) => sel,
        Err(e) => return prometheus_error(StatusCode::BAD_REQUEST, "bad_data", e),
    };
    let now = Timestamp::now_wall();
    let at = match q.time.as_deref().map(str::trim) {
        None | Some("") => now,
        Some(t) => match t.parse::<f64>() {
            Ok(secs) if secs.is_finite() => Timestamp((secs * 1000.0).round() as i64),
            _ => {
                return prometheus_error(
                    StatusCode::BAD_REQUEST,
                    "bad_data",
                    format!("invalid `time` {t:?}: the simulator takes unix seconds"),
                );
            }
        },
    };
    let skew = at.millis().abs_diff(now.millis());
    if u128::from(skew) > MAX_SKEW.as_millis() {
        return prometheus_error(
            StatusCode::BAD_REQUEST,
            "bad_data",
            format!(
                "the simulator keeps no history and only answers for now (within {}s)",
                MAX_SKEW.as_secs()
            ),
        );
    }
    let series = s.sim.with_world(|w| selector.evaluate(w));
    let t = at.millis() as f64 / 1000.0;
    let result: Vec<serde_json::Value> = series
        .into_iter()
        .map(|(labels, v)| json!({ "metric": labels, "value": [t, v.to_string()] }))
        .collect();
    Json(json!({
        "status": "success",
        "data": { "resultType": "vector", "result": result }
    }))
    .into_response()
}

/// `GET /api/v1/query_range`: the world keeps no history.
async fn range_query() -> Response {
    prometheus_error(
        StatusCode::BAD_REQUEST,
        "bad_data",
        "the simulator keeps no history: range queries are not supported",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
