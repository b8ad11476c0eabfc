//! The Charter actuator API (`/v1/...`): actions applied once per idempotency key,
//! fenced by the leader's epoch, and what they did to the world.

use super::{AppState, IDEMPOTENCY_KEY, MAX_KEY_LEN, error};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use charter_execute::{ActuatorError, Applied};
use charter_model::Action;
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

pub(super) fn lock(ledger: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    // The ledger is a map updated in one statement; a panic elsewhere cannot tear it.
    ledger.lock().unwrap_or_else(|e| e.into_inner())
}

/// The answers given per idempotency key, replayed for a repeated key.
#[derive(Default)]
pub(super) struct Ledger {
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

/// The request's idempotency key: exactly one header, visible ASCII, not blank.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<String, String> {
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

pub(super) async fn post_action(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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

pub(super) async fn get_action(
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

pub(super) async fn get_component(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    match s.sim.with_world(|w| w.describe(&name)) {
        Ok(state) => Json(state).into_response(),
        Err(e) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "status": "unknown_component", "error": e.to_string() })),
        )
            .into_response(),
    }
}

pub(super) async fn get_effects(State(s): State<AppState>) -> Response {
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
