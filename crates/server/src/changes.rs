//! `POST /api/v1/changes`, the change events of deploy tools, and `GET /api/v1/changes`,
//! the list of what was stored.
//!
//! Three bodies are understood (`docs/api.md` shows each, with the Argo CD and Flux
//! configuration that sends it):
//!
//! - `plain`: one change or a list, `{component, kind, description?, by?, at?, id?}`;
//! - `argocd`: what the webhook template of `docs/api.md` makes Argo CD notifications
//!   send on `on-deployed` (an Application synced to a revision);
//! - `flux`: the event Flux's notification-controller posts to a `generic` provider.
//!
//! The format is `?format=plain|argocd|flux` when given; otherwise it is read from the
//! body: an `involvedObject` is Flux, an `application` is Argo CD, anything else plain.
//!
//! Like an alert, a change is evidence, not a command: it is checked, stored durably,
//! the loop is woken and the request answered; the loop reads what is new each cycle.
//! The receiver shares the alert receiver's `alerts:` block: its bearer token, its body
//! limit and its listener check. Checks run in this order, and a request that fails
//! one stores nothing: bearer token (401), body size (413), JSON and fields (400), every
//! change naming a declared component (422, naming what did not map). Each change has a
//! key (the sender's `id`, or one derived from application, revision and reason), and a
//! replay of a stored key is recorded once.

use crate::alerts::{AlertIngest, Auth, Rejection, error_chain, parse_time, read_body};
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use charter_knowledge::{ChangeRecord, Store};
use charter_model::{Change, ChangeKind, ChangeSource, Charter, Clock, Timestamp};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{Notify, watch};

/// The path of the change receiver and of the change list.
pub const CHANGES_PATH: &str = "/api/v1/changes";

/// Changes listed by `GET` when the request gives no `limit`, and the most it lists.
const DEFAULT_LIST_LIMIT: usize = 100;
const MAX_LIST_LIMIT: usize = 1000;

/// The longest message of a Flux event kept in a change's description, in characters.
const MAX_MESSAGE_CHARS: usize = 300;

/// The reasons of Flux events that report a change applied to the cluster. Failures
/// (`severity: error`) and everything else (health checks, dependencies not ready,
/// artifacts fetched) are accepted and ignored.
const FLUX_CHANGE_REASONS: &[&str] = &[
    "ReconciliationSucceeded",
    "Progressing",
    "InstallSucceeded",
    "UpgradeSucceeded",
    "RollbackSucceeded",
    "UninstallSucceeded",
];

/// The routes of the change receiver (`POST` and `GET` on [`CHANGES_PATH`]), built
/// from the alert receiver's settings: the same store, token, body limit and wake-up.
pub fn changes_router(ingest: AlertIngest) -> Router {
    let receiver = ChangeReceiver {
        auth: Auth::of(&ingest),
        store: ingest.store,
        charter: ingest.charter,
        reloaded: ingest.reloaded,
        wake: ingest.wake,
        max_body_bytes: ingest.max_body_bytes,
        clock: ingest.clock,
    };
    Router::new()
        .route(CHANGES_PATH, post(receive).get(list))
        .with_state(Arc::new(receiver))
}

struct ChangeReceiver {
    auth: Auth,
    store: Arc<dyn Store>,
    charter: Arc<Charter>,
    /// The charter a reload swapped in, if any: what changes may name follows it.
    reloaded: Option<watch::Receiver<Arc<Charter>>>,
    wake: Arc<Notify>,
    max_body_bytes: usize,
    clock: Arc<dyn Clock>,
}

/// The body formats understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Plain,
    Argocd,
    Flux,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Plain => "plain",
            Format::Argocd => "argocd",
            Format::Flux => "flux",
        }
    }

    /// `?format=`, or the body's shape.
    fn of(asked: Option<&str>, body: &Value) -> Result<Format, Rejection> {
        match asked {
            Some("plain") => Ok(Format::Plain),
            Some("argocd") => Ok(Format::Argocd),
            Some("flux") => Ok(Format::Flux),
            Some(other) => Err(Rejection::bad_request(format!(
                "unknown format `{other}` (expected plain, argocd or flux)"
            ))),
            None if body.get("involvedObject").is_some() => Ok(Format::Flux),
            None if body.get("application").is_some() => Ok(Format::Argocd),
            None => Ok(Format::Plain),
        }
    }
}

/// A change whose component is still the sender's word, before mapping.
struct Unmapped {
    /// Where it was in the body, for messages (`changes[2]`, `application`).
    field: String,
    /// What the sender called it: a component, or an application as `namespace/name`.
    name: String,
    namespace: Option<String>,
    key: String,
    change: Change,
}

/// The query of both routes.
#[derive(Debug, Deserialize)]
struct ChangesQuery {
    format: Option<String>,
    limit: Option<String>,
}

/// `POST /api/v1/changes`.
async fn receive(
    State(receiver): State<Arc<ChangeReceiver>>,
    headers: HeaderMap,
    query: Result<Query<ChangesQuery>, QueryRejection>,
    body: Body,
) -> Response {
    match accept(&receiver, &headers, query, body).await {
        Ok(response) => response,
        Err(rejection) => {
            tracing::warn!(
                status = rejection.status.as_u16(),
                reason = %rejection.message,
                "change event refused"
            );
            rejection.into_response()
        }
    }
}

async fn accept(
    receiver: &ChangeReceiver,
    headers: &HeaderMap,
    query: Result<Query<ChangesQuery>, QueryRejection>,
    body: Body,
) -> Result<Response, Rejection> {
    receiver.auth.check(headers)?;
    let Query(query) = query.map_err(|e| Rejection::bad_request(e.body_text()))?;
    let bytes = read_body(body, headers, receiver.max_body_bytes).await?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Rejection::bad_request(format!("malformed change body: {e}")))?;
    let format = Format::of(query.format.as_deref(), &value)?;
    let received_at = receiver.clock.now();
    let events = parse(format, value, received_at)?;
    let mut records = Vec::new();
    let mut ignored = Vec::new();
    for event in events {
        match event {
            Parsed::Ignored(why) => ignored.push(why),
            Parsed::Unmapped(u) => records.push(receiver.map(u, received_at)?),
        }
    }
    let new = if records.is_empty() {
        0
    } else {
        match receiver.store.save_changes(&records).await {
            Ok(new) => new.iter().filter(|&&n| n).count(),
            Err(e) => {
                tracing::error!(error = %error_chain(&e), changes = records.len(), "cannot store change events");
                let status = if e.is_unavailable() {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                };
                return Err(Rejection::new(
                    status,
                    format!("cannot store changes: {}", error_chain(&e)),
                ));
            }
        }
    };
    if new > 0 {
        // Stored first, then the wake-up: the loop that wakes must find the changes.
        receiver.wake.notify_one();
    }
    for r in &records {
        tracing::info!(
            component = %r.change.component,
            source = %r.change.source,
            key = %r.key,
            "change event received: {}",
            r.change.description
        );
    }
    Ok(Json(json!({
        "format": format.name(),
        "accepted": records.len(),
        "new": new,
        "ignored": ignored,
    }))
    .into_response())
}

impl ChangeReceiver {
    /// The change with its component mapped to a declared one, or a 422 naming what
    /// did not map.
    fn map(&self, u: Unmapped, received_at: Timestamp) -> Result<ChangeRecord, Rejection> {
        let charter = match &self.reloaded {
            Some(r) => r.borrow().clone(),
            None => self.charter.clone(),
        };
        let component = match u.change.source {
            // The plain body names the component itself.
            ChangeSource::Api => charter.component(&u.name).map(|c| c.name.clone()),
            _ => charter
                .changes
                .component_of(u.namespace.as_deref(), &u.name, |n| {
                    charter.component(n).is_some()
                }),
        };
        let Some(component) = component else {
            let what = match (&u.change.source, &u.namespace) {
                (ChangeSource::Api, _) => format!(
                    "{}.component: `{}` is not a component of charter `{}`",
                    u.field, u.name, charter.name
                ),
                (_, Some(ns)) => format!(
                    "{}: `{ns}/{}` maps to no component of charter `{}`: name it in the \
                     charter's `changes.applications` (as `{ns}/{}` or `{}`) or give it a \
                     component's name",
                    u.field, u.name, charter.name, u.name, u.name
                ),
                (_, None) => format!(
                    "{}: `{}` maps to no component of charter `{}`: name it in the \
                     charter's `changes.applications` or give it a component's name",
                    u.field, u.name, charter.name
                ),
            };
            return Err(Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, what));
        };
        // Free text from the sender reaches logs, evidence and `charter` output: one
        // line each, so a value cannot forge another line.
        let description = one_line(&u.change.description);
        let by = one_line(&u.change.by);
        Ok(ChangeRecord {
            seq: 0,
            key: u.key,
            received_at,
            change: Change {
                component,
                description,
                by,
                ..u.change
            },
        })
    }
}

/// `text` with control characters (newlines, escape sequences) made spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// An event of the body before mapping.
enum Parsed {
    Unmapped(Unmapped),
    Ignored(String),
}

/// Every event of a body in `format`; the first problem refuses the whole body.
fn parse(format: Format, value: Value, now: Timestamp) -> Result<Vec<Parsed>, Rejection> {
    match format {
        Format::Plain => match value {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| plain(&format!("changes[{i}]"), item, now))
                .collect(),
            item @ Value::Object(_) => Ok(vec![plain("change", item, now)?]),
            _ => Err(Rejection::bad_request(
                "a plain change body is an object or a list of objects",
            )),
        },
        Format::Argocd => Ok(vec![argocd(value, now)?]),
        Format::Flux => Ok(vec![flux(value, now)?]),
    }
}

/// Deserialize `value` as `T`, a 400 naming `field` if it does not fit.
fn typed<T: DeserializeOwned>(field: &str, value: Value) -> Result<T, Rejection> {
    serde_json::from_value(value).map_err(|e| Rejection::bad_request(format!("{field}: {e}")))
}

fn required(field: &str, value: Option<String>) -> Result<String, Rejection> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        Some(_) => Err(Rejection::bad_request(format!("{field} is empty"))),
        None => Err(Rejection::bad_request(format!("missing field `{field}`"))),
    }
}

/// An optional RFC 3339 time; empty counts as absent (a template's missing field).
fn time(field: &str, value: Option<&str>) -> Result<Option<Timestamp>, Rejection> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => parse_time(field, text).map(Some),
    }
}

/// The plain body: one change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainChange {
    component: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

fn plain(field: &str, value: Value, now: Timestamp) -> Result<Parsed, Rejection> {
    let p: PlainChange = typed(field, value)?;
    let component = required(&format!("{field}.component"), p.component)?;
    let kind_text = required(&format!("{field}.kind"), p.kind)?;
    let kind = match kind_text.as_str() {
        "deploy" => ChangeKind::Deploy,
        "config" => ChangeKind::Config,
        "scale" => ChangeKind::Scale,
        "restart" => ChangeKind::Restart,
        "other" => ChangeKind::Other,
        other => {
            return Err(Rejection::bad_request(format!(
                "{field}.kind: `{other}` is not one of deploy, config, scale, restart, other"
            )));
        }
    };
    let given_at = time(&format!("{field}.at"), p.at.as_deref())?;
    let at = given_at.unwrap_or(now);
    let description = p
        .description
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| format!("{kind_text} of {component}"));
    let key = match p.id {
        Some(id) if id.trim().is_empty() => {
            return Err(Rejection::bad_request(format!("{field}.id is empty")));
        }
        Some(id) => format!("api:{id}"),
        // Without an id the event is its content: the same change at the same time is
        // one; without `at` either, every post is a new change.
        None => format!("api:{component}:{kind_text}:{}:{description}", at.millis()),
    };
    Ok(Parsed::Unmapped(Unmapped {
        field: field.to_string(),
        name: component.clone(),
        namespace: None,
        key,
        change: Change {
            at,
            component,
            kind,
            description,
            by: p
                .by
                .filter(|b| !b.trim().is_empty())
                .unwrap_or_else(|| "unknown".into()),
            source: ChangeSource::Api,
        },
    }))
}

/// What Charter's Argo CD webhook template (`docs/api.md`) sends.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArgoEvent {
    application: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    revision: Option<String>,
    #[serde(default)]
    sync_status: Option<String>,
    #[serde(default)]
    health_status: Option<String>,
    #[serde(default)]
    phase: Option<String>,
    #[serde(default)]
    images: Option<Vec<String>>,
    #[serde(default)]
    finished_at: Option<String>,
    #[serde(default)]
    by: Option<String>,
}

fn argocd(value: Value, now: Timestamp) -> Result<Parsed, Rejection> {
    let e: ArgoEvent = typed("argocd body", value)?;
    let app = required("application", e.application)?;
    let revision = required("revision", e.revision)?;
    let namespace = e.namespace.filter(|n| !n.trim().is_empty());
    let qualified = match &namespace {
        Some(ns) => format!("{ns}/{app}"),
        None => app.clone(),
    };
    if let Some(phase) = e
        .phase
        .as_deref()
        .filter(|p| !p.is_empty() && *p != "Succeeded")
    {
        return Ok(Parsed::Ignored(format!(
            "argocd application {qualified}: operation phase {phase} is no change applied"
        )));
    }
    let at = time("finishedAt", e.finished_at.as_deref())?.unwrap_or(now);
    let mut description = format!("argo cd synced {qualified} to revision {revision}");
    let images: Vec<String> = e.images.unwrap_or_default();
    if !images.is_empty() {
        description.push_str(&format!(" (images: {})", images.join(", ")));
    }
    let states: Vec<String> = [("sync", &e.sync_status), ("health", &e.health_status)]
        .into_iter()
        .filter_map(|(what, s)| {
            s.as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| format!("{what} {s}"))
        })
        .collect();
    if !states.is_empty() {
        description.push_str(&format!(", {}", states.join(", ")));
    }
    Ok(Parsed::Unmapped(Unmapped {
        field: "application".into(),
        name: app,
        namespace,
        key: format!("argocd:{qualified}@{revision}"),
        change: Change {
            at,
            component: String::new(),
            kind: ChangeKind::Deploy,
            description,
            by: e
                .by
                .filter(|b| !b.trim().is_empty())
                .unwrap_or_else(|| "argocd".into()),
            source: ChangeSource::Argocd,
        },
    }))
}

/// The event Flux's notification-controller posts (only the fields Charter reads).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FluxEvent {
    involved_object: Option<FluxObject>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    message: Option<String>,
    reason: Option<String>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    reporting_controller: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FluxObject {
    kind: Option<String>,
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
}

fn flux(value: Value, now: Timestamp) -> Result<Parsed, Rejection> {
    let e: FluxEvent = typed("flux event", value)?;
    let object = e
        .involved_object
        .ok_or_else(|| Rejection::bad_request("missing field `involvedObject`"))?;
    let kind = required("involvedObject.kind", object.kind)?;
    let name = required("involvedObject.name", object.name)?;
    let reason = required("reason", e.reason)?;
    let namespace = object.namespace.filter(|n| !n.trim().is_empty());
    let qualified = match &namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.clone(),
    };
    let at = time("timestamp", e.timestamp.as_deref())?;
    let severity = e.severity.unwrap_or_else(|| "info".into());
    if severity != "info" {
        return Ok(Parsed::Ignored(format!(
            "flux {kind} {qualified}: a {severity} event ({reason}) is no change applied"
        )));
    }
    if !FLUX_CHANGE_REASONS.contains(&reason.as_str()) {
        return Ok(Parsed::Ignored(format!(
            "flux {kind} {qualified}: reason {reason} is no change applied"
        )));
    }
    // The controllers write `<group>/revision`; notification-controller forwards it
    // as `revision`. Either will do.
    let revision = e.metadata.as_ref().and_then(|m| {
        m.get("revision").cloned().or_else(|| {
            m.iter()
                .find(|(k, _)| k.ends_with("/revision"))
                .map(|(_, v)| v.clone())
        })
    });
    let at = at.unwrap_or(now);
    let change_kind = if reason == "UninstallSucceeded" {
        ChangeKind::Other
    } else {
        ChangeKind::Deploy
    };
    let message: String = e
        .message
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .collect();
    let mut description = format!("flux {kind} {qualified} {reason}");
    if let Some(r) = &revision {
        description.push_str(&format!(" at revision {r}"));
    }
    if !message.is_empty() {
        description.push_str(&format!(": {message}"));
    }
    // Without a revision, the event's own time tells one event from the next.
    let version = revision.unwrap_or_else(|| format!("t{}", at.millis()));
    Ok(Parsed::Unmapped(Unmapped {
        field: "involvedObject".into(),
        name,
        namespace,
        key: format!("flux:{kind}/{qualified}@{version}#{reason}"),
        change: Change {
            at,
            component: String::new(),
            kind: change_kind,
            description,
            by: e
                .reporting_controller
                .filter(|c| !c.trim().is_empty())
                .unwrap_or_else(|| "flux".into()),
            source: ChangeSource::Flux,
        },
    }))
}

/// `GET /api/v1/changes?limit=N`: the newest stored changes, newest first.
async fn list(
    State(receiver): State<Arc<ChangeReceiver>>,
    headers: HeaderMap,
    query: Result<Query<ChangesQuery>, QueryRejection>,
) -> Response {
    let result = async {
        receiver.auth.check(&headers)?;
        let Query(query) = query.map_err(|e| Rejection::bad_request(e.body_text()))?;
        let limit = match query.limit {
            None => DEFAULT_LIST_LIMIT,
            Some(text) => text.parse::<usize>().map_err(|_| {
                Rejection::bad_request(format!("limit `{text}` is not a non-negative integer"))
            })?,
        }
        .min(MAX_LIST_LIMIT);
        let changes = receiver.store.recent_changes(limit).await.map_err(|e| {
            tracing::error!(error = %error_chain(&e), "cannot list changes");
            Rejection::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read changes: {e}"),
            )
        })?;
        Ok::<_, Rejection>(Json(json!({ "changes": changes })).into_response())
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}
