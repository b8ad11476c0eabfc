//! `POST /api/v1/alerts`, the Alertmanager webhook receiver (payload version 4), and
//! `GET /api/v1/alerts`, the list of what was received.
//!
//! A webhook is evidence, not a command: the receiver checks it, stores the alerts
//! durably, wakes the loop and answers. No action runs inside the request, and a
//! missed or repeated webhook does no harm because the loop is level-triggered.
//!
//! Checks run in this order, and a request that fails one stores nothing and wakes
//! nothing: bearer token (401), body size (413), JSON (400), `version` "4" (400),
//! required fields (400, naming the field).
//!
//! Labels only *select among* the charter (safety invariant 2): an alert is mapped to
//! an objective and component only when its objective label names a charter objective
//! and its component label one of that objective's declared components. Anything else
//! is kept and listed with both `None`, and never acted on. Label and annotation values
//! are stored as data and never reach a shell or a template (safety invariant 8).

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use charter_knowledge::Store;
use charter_model::config::defaults;
use charter_model::{Alert, AlertStatus, AlertsSpec, Charter, Clock, Severity, Timestamp};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use tokio::sync::{Notify, watch};

/// The path of the webhook receiver and of the alert list.
pub const ALERTS_PATH: &str = "/api/v1/alerts";

/// The only Alertmanager webhook payload version understood.
const PAYLOAD_VERSION: &str = "4";

/// `Retry-After` of a 503 (the store cannot write for now), in seconds.
pub(crate) const RETRY_AFTER_SECS: &str = "10";

/// Alerts listed by `GET` when the request gives no `limit`.
const DEFAULT_LIST_LIMIT: usize = 100;

/// The most alerts one `GET` lists, whatever `limit` asks for.
const MAX_LIST_LIMIT: usize = 1000;

/// What the alert receiver needs: where alerts go, what they may name, who may send
/// them, and whom to wake.
#[derive(Clone)]
pub struct AlertIngest {
    /// Where accepted alerts are stored, before the request is answered.
    pub store: Arc<dyn Store>,
    /// The charter whose objectives and components alerts may name.
    pub charter: Arc<Charter>,
    /// The bearer token senders must present. `None` only when the charter says
    /// `auth: none` (`charter.alerts.token_file` is `None`); with a token file and no
    /// token, or an empty token, every request is refused.
    pub token: Option<String>,
    /// Notified once per accepted webhook, after its alerts are stored.
    pub wake: Arc<Notify>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Stamps each alert's `received_at`.
    pub clock: Arc<dyn Clock>,
    /// The charter after each reload (`charter_orchestrator::daemon::Reloader`), so that
    /// alerts may name the objectives and components it declares; `None`: `charter`
    /// for good.
    pub reloaded: Option<watch::Receiver<Arc<Charter>>>,
}

/// `alerts.auth: none` on a listener that other hosts can reach: anyone who can reach
/// the port could post alerts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "alerts.auth: none accepts webhooks without a token, so it is for a loopback listener \
     only, but the listen address is {addr}; listen on 127.0.0.1 or ::1, or set \
     alerts.auth: token with alerts.token_file"
)]
pub struct OpenReceiverError {
    pub addr: SocketAddr,
}

/// Refuse to serve the alert receiver (and the change receiver, which shares its
/// auth) without a token on a non-loopback address (`0.0.0.0` and `::` included: they
/// listen on every interface).
pub fn check_listener(
    spec: Option<&AlertsSpec>,
    addr: SocketAddr,
) -> Result<(), OpenReceiverError> {
    match spec {
        Some(a) if a.token_file.is_none() && !addr.ip().is_loopback() => {
            Err(OpenReceiverError { addr })
        }
        _ => Ok(()),
    }
}

/// The receiver's routes (`POST` and `GET` on [`ALERTS_PATH`]), to merge into the
/// main router.
pub fn alerts_router(ingest: AlertIngest) -> Router {
    let receiver = Receiver::new(ingest);
    Router::new()
        .route(ALERTS_PATH, post(receive).get(list))
        .with_state(Arc::new(receiver))
}

/// Who may call the receiver, decided once when the router is built (shared by the
/// alert and the change receivers: one `alerts:` block, one token).
pub(crate) enum Auth {
    /// `Authorization: Bearer <token>` with exactly this token.
    Bearer(Vec<u8>),
    /// The charter says `auth: none`.
    Open,
    /// A token is required but none (or an empty one) was given: refuse everything
    /// rather than run open by accident.
    Misconfigured,
}

/// The handlers' state: the ingest plus what is derived from the charter once.
struct Receiver {
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
    clock: Arc<dyn Clock>,
    max_body_bytes: usize,
    auth: Auth,
    objective_label: String,
    component_label: String,
    /// What alerts may name, and the charter it was derived from.
    targets: RwLock<(Arc<Charter>, Arc<Targets>)>,
    reloaded: Option<watch::Receiver<Arc<Charter>>>,
}

/// Objective name to the declared components it covers: all an alert may name.
type Targets = HashMap<String, HashSet<String>>;

fn targets_of(charter: &Charter) -> Targets {
    let declared: HashSet<&str> = charter.components.iter().map(|c| c.name.as_str()).collect();
    charter
        .objectives
        .iter()
        .map(|o| {
            let components = o
                .components
                .iter()
                .filter(|c| declared.contains(c.as_str()))
                .cloned()
                .collect();
            (o.name.clone(), components)
        })
        .collect()
}

impl Auth {
    /// The receivers' auth: the token read from `alerts.token_file`, or none when the
    /// charter says `alerts.auth: none`.
    pub(crate) fn of(ingest: &AlertIngest) -> Auth {
        match (&ingest.token, ingest.charter.alerts.as_ref()) {
            (Some(token), _) if !token.is_empty() => Auth::Bearer(token.as_bytes().to_vec()),
            (None, Some(spec)) if spec.token_file.is_none() => Auth::Open,
            _ => {
                tracing::error!(
                    "webhook receiver has no usable bearer token although the charter requires \
                     one; refusing every webhook"
                );
                Auth::Misconfigured
            }
        }
    }

    /// Whether `headers` carry what this auth asks for.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        let expected = match self {
            Auth::Open => return Ok(()),
            Auth::Misconfigured => {
                return Err(Rejection::unauthorized(
                    "webhook receiver has no token configured",
                ));
            }
            Auth::Bearer(token) => token,
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| bearer_token(v.as_bytes()))
            .ok_or_else(|| Rejection::unauthorized("missing bearer token"))?;
        if constant_time_eq(given, expected) {
            Ok(())
        } else {
            Err(Rejection::unauthorized("wrong bearer token"))
        }
    }
}

impl Receiver {
    fn new(ingest: AlertIngest) -> Receiver {
        let charter = &ingest.charter;
        let spec = charter.alerts.as_ref();
        let auth = Auth::of(&ingest);
        let targets = Arc::new(targets_of(charter));
        Receiver {
            store: ingest.store,
            wake: ingest.wake,
            clock: ingest.clock,
            max_body_bytes: ingest.max_body_bytes,
            auth,
            // Without an `alerts:` block: the charter's defaults.
            objective_label: spec.map_or(defaults::OBJECTIVE_LABEL.into(), |s| {
                s.objective_label.clone()
            }),
            component_label: spec.map_or(defaults::COMPONENT_LABEL.into(), |s| {
                s.component_label.clone()
            }),
            targets: RwLock::new((ingest.charter.clone(), targets)),
            reloaded: ingest.reloaded,
        }
    }

    /// What alerts may name now: derived again once a reload swapped the charter.
    fn targets(&self) -> Arc<Targets> {
        let read = |l: &RwLock<(Arc<Charter>, Arc<Targets>)>| {
            l.read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        };
        let (derived_from, targets) = read(&self.targets);
        let Some(latest) = self.reloaded.as_ref().map(|r| r.borrow().clone()) else {
            return targets;
        };
        if Arc::ptr_eq(&latest, &derived_from) {
            return targets;
        }
        let targets = Arc::new(targets_of(&latest));
        *self
            .targets
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (latest, targets.clone());
        targets
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        self.auth.check(headers)
    }

    /// The charter objective and component an alert's labels name, both or neither.
    fn map(&self, labels: &BTreeMap<String, String>) -> (Option<String>, Option<String>) {
        let objective = labels.get(&self.objective_label);
        let component = labels.get(&self.component_label);
        match (objective, component) {
            (Some(o), Some(c)) if self.targets().get(o).is_some_and(|cs| cs.contains(c)) => {
                (Some(o.clone()), Some(c.clone()))
            }
            _ => (None, None),
        }
    }
}

/// A refused request: its status and the reason, sent as `{"error": "..."}`.
#[derive(Debug)]
pub(crate) struct Rejection {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl Rejection {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Rejection {
        Rejection {
            status,
            message: message.into(),
        }
    }

    fn unauthorized(message: &str) -> Rejection {
        Rejection::new(StatusCode::UNAUTHORIZED, message)
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Rejection {
        Rejection::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.message }));
        if self.status == StatusCode::UNAUTHORIZED {
            (self.status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response()
        } else if self.status == StatusCode::SERVICE_UNAVAILABLE {
            (self.status, [(header::RETRY_AFTER, RETRY_AFTER_SECS)], body).into_response()
        } else {
            (self.status, body).into_response()
        }
    }
}

/// `POST /api/v1/alerts`.
async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match accept(&receiver, &headers, body).await {
        Ok(response) => response,
        Err(rejection) => {
            tracing::warn!(
                status = rejection.status.as_u16(),
                reason = %rejection.message,
                "alert webhook refused"
            );
            rejection.into_response()
        }
    }
}

async fn accept(
    receiver: &Receiver,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Rejection> {
    receiver.authorize(headers)?;
    let bytes = read_body(body, headers, receiver.max_body_bytes).await?;
    let message: WebhookMessage = serde_json::from_slice(&bytes)
        .map_err(|e| Rejection::bad_request(format!("malformed webhook body: {e}")))?;
    let received_at = receiver.clock.now();
    let alerts = message.into_alerts(receiver, received_at)?;
    if alerts.is_empty() {
        return Ok(counts(0, 0, 0));
    }
    let unmapped = alerts.iter().filter(|a| a.objective.is_none()).count();
    let new = match receiver.store.save_alerts(&alerts).await {
        Ok(new) => new.iter().filter(|&&n| n).count(),
        Err(e) => {
            tracing::error!(error = %error_chain(&e), alerts = alerts.len(), "cannot store webhook alerts");
            // The store cannot write for now (disk full, I/O error): 503 and a
            // Retry-After, so Alertmanager keeps the notification and sends it again.
            let status = if e.is_unavailable() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            return Err(Rejection::new(
                status,
                format!("cannot store alerts: {}", error_chain(&e)),
            ));
        }
    };
    // Stored first, then the wake-up: the loop that wakes must find the alerts.
    receiver.wake.notify_one();
    tracing::debug!(
        accepted = alerts.len(),
        new,
        unmapped,
        "alert webhook accepted"
    );
    Ok(counts(alerts.len(), new, unmapped))
}

fn counts(accepted: usize, new: usize, unmapped: usize) -> Response {
    Json(json!({ "accepted": accepted, "new": new, "unmapped": unmapped })).into_response()
}

/// Why a request body could not be read.
pub(crate) enum BodyError {
    /// Larger than the limit (announced or not): 413.
    TooLarge(usize),
    /// The connection failed while reading: 400.
    Unreadable(String),
}

impl BodyError {
    /// The status and message to answer with.
    pub(crate) fn answer(&self) -> (StatusCode, String) {
        match self {
            BodyError::TooLarge(max) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {max} bytes"),
            ),
            BodyError::Unreadable(e) => (StatusCode::BAD_REQUEST, format!("cannot read body: {e}")),
        }
    }
}

/// Read at most `max` bytes of body; more is refused, whether announced or not.
pub(crate) async fn read_limited(
    body: Body,
    headers: &HeaderMap,
    max: usize,
) -> Result<Bytes, BodyError> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge(max));
    }
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BodyError::TooLarge(max)),
        Err(e) => Err(BodyError::Unreadable(e.to_string())),
    }
}

/// The webhook's body, at most `max` bytes.
pub(crate) async fn read_body(
    body: Body,
    headers: &HeaderMap,
    max: usize,
) -> Result<Bytes, Rejection> {
    read_limited(body, headers, max).await.map_err(|e| {
        let (status, message) = e.answer();
        Rejection::new(status, message)
    })
}

/// The query of `GET /api/v1/alerts`.
#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<String>,
}

/// `GET /api/v1/alerts?limit=N`: the newest alerts, newest first.
async fn list(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let result = async {
        receiver.authorize(&headers)?;
        let Query(query) = query.map_err(|e| Rejection::bad_request(e.body_text()))?;
        let limit = match query.limit {
            None => DEFAULT_LIST_LIMIT,
            Some(text) => text.parse::<usize>().map_err(|_| {
                Rejection::bad_request(format!("limit `{text}` is not a non-negative integer"))
            })?,
        }
        .min(MAX_LIST_LIMIT);
        let alerts = receiver.store.recent_alerts(limit).await.map_err(|e| {
            tracing::error!(error = %error_chain(&e), "cannot list alerts");
            Rejection::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read alerts: {e}"),
            )
        })?;
        Ok::<_, Rejection>(Json(json!({ "alerts": alerts })).into_response())
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// The Alertmanager webhook payload, version 4. Only the fields Charter reads; the
/// others (`receiver`, `groupLabels`, `externalURL`, ...) are accepted and ignored.
/// Required fields are `Option`s so that their absence is reported by name.
#[derive(Debug, Deserialize)]
struct WebhookMessage {
    version: Option<String>,
    alerts: Option<Vec<WebhookAlert>>,
}

/// One alert of the payload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookAlert {
    status: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    fingerprint: Option<String>,
}

impl WebhookMessage {
    /// Check the version and required fields, and map every alert; the first problem
    /// refuses the whole payload, so a webhook is stored entirely or not at all.
    fn into_alerts(
        self,
        receiver: &Receiver,
        received_at: Timestamp,
    ) -> Result<Vec<Alert>, Rejection> {
        match self.version.as_deref() {
            Some(PAYLOAD_VERSION) => {}
            Some(other) => {
                return Err(Rejection::bad_request(format!(
                    "unsupported webhook version `{other}` (expected \"{PAYLOAD_VERSION}\")"
                )));
            }
            None => return Err(missing("version")),
        }
        let alerts = self.alerts.ok_or_else(|| missing("alerts"))?;
        alerts
            .into_iter()
            .enumerate()
            .map(|(i, alert)| alert.into_alert(i, receiver, received_at))
            .collect()
    }
}

impl WebhookAlert {
    fn into_alert(
        self,
        i: usize,
        receiver: &Receiver,
        received_at: Timestamp,
    ) -> Result<Alert, Rejection> {
        let field = |name: &str| format!("alerts[{i}].{name}");
        let status = match self.status.as_deref() {
            Some("firing") => AlertStatus::Firing,
            Some("resolved") => AlertStatus::Resolved,
            Some(other) => {
                return Err(Rejection::bad_request(format!(
                    "{}: `{other}` is neither firing nor resolved",
                    field("status")
                )));
            }
            None => return Err(missing(&field("status"))),
        };
        let labels = self.labels.ok_or_else(|| missing(&field("labels")))?;
        let starts_at = self.starts_at.ok_or_else(|| missing(&field("startsAt")))?;
        let fingerprint = self
            .fingerprint
            .ok_or_else(|| missing(&field("fingerprint")))?;
        if fingerprint.is_empty() {
            return Err(Rejection::bad_request(format!(
                "{} is empty",
                field("fingerprint")
            )));
        }
        let starts_at = parse_time(&field("startsAt"), &starts_at)?;
        let ends_at = match self.ends_at {
            Some(text) => Some(parse_time(&field("endsAt"), &text)?),
            None => None,
        }
        // Alertmanager sends Go's zero time while an alert has not ended.
        .filter(|t| t.millis() > GO_ZERO_TIME_MS);
        let severity = labels.get("severity").and_then(|s| {
            if s.eq_ignore_ascii_case("critical") {
                Some(Severity::Critical)
            } else if s.eq_ignore_ascii_case("warning") {
                Some(Severity::Warning)
            } else {
                None
            }
        });
        let (objective, component) = receiver.map(&labels);
        Ok(Alert {
            fingerprint,
            status,
            starts_at,
            ends_at,
            labels,
            annotations: self.annotations.unwrap_or_default(),
            objective,
            component,
            severity,
            received_at,
            seq: 0,
        })
    }
}

fn missing(field: &str) -> Rejection {
    Rejection::bad_request(format!("missing field `{field}`"))
}

pub(crate) fn parse_time(field: &str, text: &str) -> Result<Timestamp, Rejection> {
    parse_rfc3339(text)
        .map(Timestamp)
        .ok_or_else(|| Rejection::bad_request(format!("{field}: `{text}` is not an RFC 3339 time")))
}

/// The bearer token of an `Authorization` header value (scheme case-insensitive).
pub(crate) fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if scheme.eq_ignore_ascii_case(b"bearer ") {
        Some(rest.trim_ascii())
    } else {
        None
    }
}

/// Compare two secrets in time that depends only on their lengths, so response time
/// does not reveal how many leading bytes of a guess were right.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `0001-01-01T00:00:00Z`, Go's zero `time.Time`, in milliseconds since the epoch.
const GO_ZERO_TIME_MS: i64 = days_from_civil(1, 1, 1) * 86_400_000;

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parse an RFC 3339 date-time (`2024-05-01T12:00:00.123456789+02:00`, `...Z`) into
/// milliseconds since the epoch; fractions below a millisecond are dropped. Go, and so
/// Alertmanager, writes times with the sender's UTC offset, so offsets are honoured.
fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |from: usize, to: usize| -> Option<i64> {
        let digits = b.get(from..to)?;
        digits.iter().try_fold(0i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let at = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt ") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if at(i, b".") {
        let start = i + 1;
        let end = start + b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
        if end == start {
            return None;
        }
        // The first three digits, padded: ".5" is 500 ms, ".123456789" is 123 ms.
        millis = (start..start + 3).fold(0, |n, j| {
            n * 10 + if j < end { i64::from(b[j] - b'0') } else { 0 }
        });
        i = end;
    }
    let offset_minutes = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && at(i + 3, b":") => {
            let (h, m) = (num(i + 1, i + 3)?, num(i + 4, i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'-' {
                -(h * 60 + m)
            } else {
                h * 60 + m
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_minutes * 60;
    Some(secs * 1000 + millis)
}

/// An error and its sources, joined by `: ` (what `{:#}` prints with anyhow).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn alerts_may_name_what_a_reloaded_charter_declares() {
        let text = |objective: &str| {
            format!(
                "name: shop\nsource: {{ simulator: {{}} }}\nalerts: {{ auth: none }}\n\
                 actuators:\n  sim: {{ simulator: {{}} }}\ncomponents:\n  - {{ name: api, actuator: sim }}\n\
                 objectives:\n  - name: {objective}\n    metric: m\n    above: {{ warning: 1, critical: 2, clear: 0.5 }}\n    remedies: [scale_out]\n"
            )
        };
        let first = Arc::new(charter_testkit::charter_from(&text("latency")));
        let (reloads, reloaded) = watch::channel(first.clone());
        let store = charter_knowledge::SqliteStore::open_in_memory()
            .await
            .expect("store");
        let receiver = Receiver::new(AlertIngest {
            store: Arc::new(store),
            charter: first,
            token: None,
            wake: Arc::new(Notify::new()),
            max_body_bytes: 1024,
            clock: Arc::new(charter_model::WallClock),
            reloaded: Some(reloaded),
        });
        let labels = |objective: &str| {
            BTreeMap::from([
                (receiver.objective_label.clone(), objective.to_string()),
                (receiver.component_label.clone(), "api".to_string()),
            ])
        };
        let named = |o: &str| (Some(o.to_string()), Some("api".to_string()));
        assert_eq!(receiver.map(&labels("latency")), named("latency"));
        assert_eq!(receiver.map(&labels("errors")), (None, None));
        // A reload swaps `latency` for `errors`: the receiver follows at once.
        reloads.send_replace(Arc::new(charter_testkit::charter_from(&text("errors"))));
        assert_eq!(receiver.map(&labels("errors")), named("errors"));
        assert_eq!(receiver.map(&labels("latency")), (None, None));
    }

    #[test]
    fn rfc3339_times_parse_with_fractions_and_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-05-01T12:00:00.123456789Z"),
            Some(1_714_564_800_123)
        );
        assert_eq!(
            parse_rfc3339("2024-05-01T12:00:00.5Z"),
            Some(1_714_564_800_500)
        );
        assert_eq!(
            parse_rfc3339("2024-05-01T14:00:00+02:00"),
            parse_rfc3339("2024-05-01T12:00:00Z")
        );
        assert_eq!(
            parse_rfc3339("2024-05-01T07:30:00.25-04:30"),
            Some(1_714_564_800_250)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1000));
    }

    #[test]
    fn go_zero_time_is_recognised() {
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), Some(GO_ZERO_TIME_MS));
        assert_eq!(GO_ZERO_TIME_MS, -62_135_596_800_000);
    }

    #[test]
    fn malformed_times_are_refused() {
        for bad in [
            "",
            "2024-05-01",
            "2024-05-01T12:00:00",
            "2024-05-01T12:00:00+0200",
            "2024-05-01T12:00:00.Z",
            "2024-13-01T12:00:00Z",
            "2023-02-29T12:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:00:00Zjunk",
            "2024-05-01T12:00:00+24:00",
            "2024-05-01X12:00:00Z",
            "２０２4-05-01T12:00:00Z",
            "+024-05-01T12:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn auth_none_is_served_on_loopback_only() {
        let spec = |token: Option<&str>| AlertsSpec {
            token_file: token.map(Into::into),
            objective_label: "alertname".into(),
            component_label: "service".into(),
            max_body_bytes: 1024,
            trust: Default::default(),
            expire_after: std::time::Duration::from_secs(3600),
            retention: std::time::Duration::from_secs(7200),
        };
        let at = |a: &str| a.parse::<SocketAddr>().expect("address");
        let open = spec(None);
        for ok in ["127.0.0.1:8464", "127.8.0.1:1", "[::1]:8464"] {
            assert_eq!(check_listener(Some(&open), at(ok)), Ok(()), "{ok}");
        }
        for refused in [
            "0.0.0.0:8464",
            "[::]:8464",
            "10.0.0.7:8464",
            "[2001:db8::1]:80",
        ] {
            let e = check_listener(Some(&open), at(refused)).expect_err(refused);
            assert!(
                e.to_string()
                    .contains(&format!("listen address is {refused}")),
                "{e}"
            );
        }
        // With a token, or without an `alerts:` block, any address will do.
        assert_eq!(
            check_listener(Some(&spec(Some("t"))), at("0.0.0.0:1")),
            Ok(())
        );
        assert_eq!(check_listener(None, at("0.0.0.0:1")), Ok(()));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3cres"));
        assert!(!constant_time_eq(b"s3cret", b"s3cret!"));
        assert!(!constant_time_eq(b"s3cret", b""));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"bearer abc "), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bearer"), None);
    }
}
