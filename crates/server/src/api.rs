//! The policy and kill-switch API: list and show policies, approve or reject a
//! pending one, pause and resume automation.
//!
//! - `GET /api/v1/policies[?limit=N]`: pending policies first (with their expiry time),
//!   then the newest others.
//! - `GET /api/v1/policies/{id}`.
//! - `POST /api/v1/policies/{id}/approve`, body optional: `{"by": "..."}`.
//! - `POST /api/v1/policies/{id}/reject`, body `{"reason": "...", "by": "..."}`.
//! - `POST /api/v1/pause`, body optional: `{"reason": "...", "by": "..."}`.
//! - `POST /api/v1/resume`, body optional: `{"by": "..."}`.
//!
//! Every `POST` needs `Authorization: Bearer <token>`. Without a configured token they
//! all answer 403: the API is never open by default. Checks run in this order: token
//! (403 when none is configured, 401 when missing or wrong), body (413, 400), then the
//! loop's answer (404 unknown policy, 409 not pending or paused). Errors are JSON,
//! `{"error": "..."}`. Who decided is the body's `by`, or `api`; it is recorded with
//! the time in the policy and the audit log.
//!
//! Handlers never touch the controller: they send a [`Command`] on the control
//! channel and wait for the loop's answer.

use crate::alerts::{bearer_token, constant_time_eq, error_chain, read_limited};
use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use charter_knowledge::PauseRecord;
use charter_model::{ApprovalState, Policy, PolicyId, Timestamp};
use charter_orchestrator::ControllerError;
use charter_orchestrator::controller::ApprovalError;
use charter_orchestrator::daemon::{CallError, Command, ControlHandle};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Largest accepted request body: these bodies hold a name and a reason.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Longest accepted `by`.
const MAX_BY_CHARS: usize = 128;

/// Longest accepted `reason`.
const MAX_REASON_CHARS: usize = 2000;

/// Policies listed when the request gives no `limit` (pending ones always are).
const DEFAULT_LIST_LIMIT: usize = 50;

/// The most non-pending policies one `GET` lists.
const MAX_LIST_LIMIT: usize = 1000;

/// Who decided when the body does not say.
pub const DEFAULT_BY: &str = "api";

/// What the policy API needs.
#[derive(Debug, Clone)]
pub struct PolicyApi {
    /// The channel to the task that owns the controller.
    pub control: ControlHandle,
    /// The bearer token of the mutating endpoints; `None`: they answer 403.
    pub token: Option<String>,
    /// The charter's `guardrails.approval_timeout`, to show when a pending policy expires.
    pub approval_timeout: Duration,
}

/// The API's routes, to merge into the main router.
pub fn policy_router(api: PolicyApi) -> Router {
    Router::new()
        .route("/api/v1/policies", get(list))
        .route("/api/v1/policies/{id}", get(show))
        .route("/api/v1/policies/{id}/approve", post(approve))
        .route("/api/v1/policies/{id}/reject", post(reject))
        .route("/api/v1/pause", post(pause))
        .route("/api/v1/resume", post(resume))
        .with_state(Arc::new(api))
}

/// A policy as the API shows it: the policy, its state by name, and when a pending one
/// expires.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyView {
    #[serde(flatten)]
    pub policy: Policy,
    /// `pending`, `approved`, `rejected`, `expired`, `auto_approved`, `not_executed`.
    pub state: &'static str,
    /// For a pending policy: `created_at + guardrails.approval_timeout` (ms since the
    /// epoch); then it expires and its incident is escalated.
    pub expires_at: Option<Timestamp>,
}

impl PolicyView {
    fn new(policy: Policy, approval_timeout: Duration) -> PolicyView {
        let expires_at = (policy.approval == ApprovalState::Pending)
            .then(|| policy.created_at.plus(approval_timeout));
        PolicyView {
            state: policy.approval.name(),
            expires_at,
            policy,
        }
    }
}

/// A refused or failed request: its status and the reason, sent as `{"error": "..."}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// A controller's error: a follower's refusal is 503 (ask the leader), a store that
    /// cannot write for now (disk full) 503 with `Retry-After` — the command did not take
    /// effect — anything else a 500.
    fn controller(e: &ControllerError) -> ApiError {
        match e {
            ControllerError::NotLeader(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            ControllerError::Store(store) if store.is_unavailable() => {
                tracing::error!(error = %error_chain(e), "control command not persisted");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "not done: the knowledge store cannot write ({}); retry later",
                        error_chain(store)
                    ),
                )
            }
            _ => ApiError::internal(e),
        }
    }

    fn internal(e: &dyn std::error::Error) -> ApiError {
        tracing::error!(error = %error_chain(e), "control command failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error_chain(e))
    }
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

impl From<ApprovalError> for ApiError {
    fn from(e: ApprovalError) -> ApiError {
        match &e {
            ApprovalError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            ApprovalError::NotPending { .. }
            | ApprovalError::Paused(_)
            | ApprovalError::Blocked(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            ApprovalError::Controller(c) => ApiError::controller(c),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.message }));
        if self.status == StatusCode::UNAUTHORIZED {
            (self.status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response()
        } else if self.status == StatusCode::SERVICE_UNAVAILABLE {
            let retry = [(header::RETRY_AFTER, crate::alerts::RETRY_AFTER_SECS)];
            (self.status, retry, body).into_response()
        } else {
            (self.status, body).into_response()
        }
    }
}

impl PolicyApi {
    fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = self.token.as_deref().filter(|t| !t.is_empty()) else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "mutating endpoints are disabled: no API token is configured; set \
                 `api: { token_file: FILE }` in the charter or start `charter run` with \
                 `--api-token-file FILE`",
            ));
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| bearer_token(v.as_bytes()))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "missing bearer token (Authorization: Bearer <token>)",
                )
            })?;
        if constant_time_eq(given, expected.as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "wrong bearer token",
            ))
        }
    }

    fn view(&self, policy: Policy) -> PolicyView {
        PolicyView::new(policy, self.approval_timeout)
    }
}

/// The bodies of the `POST` endpoints; unknown fields are refused so that a typo is
/// not silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// `GET /api/v1/policies`'s query.
#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<String>,
}

async fn list(
    State(api): State<Arc<PolicyApi>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<PolicyView>>, ApiError> {
    let limit = match query.ok().and_then(|Query(q)| q.limit) {
        None => DEFAULT_LIST_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| {
                ApiError::bad_request(format!("limit must be a whole number, not `{text}`"))
            })?
            .min(MAX_LIST_LIMIT),
    };
    let policies = api
        .control
        .call(|reply| Command::ListPolicies { limit, reply })
        .await?
        .map_err(|e| ApiError::controller(&e))?;
    Ok(Json(policies.into_iter().map(|p| api.view(p)).collect()))
}

async fn show(
    State(api): State<Arc<PolicyApi>>,
    Path(id): Path<String>,
) -> Result<Json<PolicyView>, ApiError> {
    let id = policy_id(&id)?;
    match api
        .control
        .call(|reply| Command::GetPolicy { id, reply })
        .await?
        .map_err(|e| ApiError::controller(&e))?
    {
        Some(p) => Ok(Json(api.view(p))),
        None => Err(ApiError::from(ApprovalError::NotFound(id))),
    }
}

async fn approve(
    State(api): State<Arc<PolicyApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PolicyView>, ApiError> {
    api.authorize(&headers)?;
    let id = policy_id(&id)?;
    let body = decision_body(body, &headers).await?;
    if body.reason.is_some() {
        return Err(ApiError::bad_request(
            "approve takes no `reason` (only `by`)",
        ));
    }
    let by = who(body.by)?;
    let policy = api
        .control
        .call(|reply| Command::Approve { id, by, reply })
        .await??;
    Ok(Json(api.view(policy)))
}

async fn reject(
    State(api): State<Arc<PolicyApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PolicyView>, ApiError> {
    api.authorize(&headers)?;
    let id = policy_id(&id)?;
    let body = decision_body(body, &headers).await?;
    let reason = reason(body.reason)?
        .ok_or_else(|| ApiError::bad_request("reject needs a `reason`: {\"reason\": \"...\"}"))?;
    let by = who(body.by)?;
    let policy = api
        .control
        .call(|reply| Command::Reject {
            id,
            by,
            reason,
            reply,
        })
        .await??;
    Ok(Json(api.view(policy)))
}

async fn pause(
    State(api): State<Arc<PolicyApi>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PauseRecord>, ApiError> {
    api.authorize(&headers)?;
    let body = decision_body(body, &headers).await?;
    let reason = reason(body.reason)?.unwrap_or_default();
    let by = who(body.by)?;
    let record = api
        .control
        .call(|reply| Command::Pause { by, reason, reply })
        .await?
        .map_err(|e| ApiError::controller(&e))?;
    Ok(Json(record))
}

async fn resume(
    State(api): State<Arc<PolicyApi>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PauseRecord>, ApiError> {
    api.authorize(&headers)?;
    let body = decision_body(body, &headers).await?;
    if body.reason.is_some() {
        return Err(ApiError::bad_request(
            "resume takes no `reason` (only `by`)",
        ));
    }
    let by = who(body.by)?;
    let record = api
        .control
        .call(|reply| Command::Resume { by, reply })
        .await?
        .map_err(|e| ApiError::controller(&e))?;
    Ok(Json(record))
}

/// A policy id as stores keep them (up to `i64::MAX`); a larger number names no
/// policy and is refused here instead of failing in the store as a 500.
fn policy_id(text: &str) -> Result<PolicyId, ApiError> {
    text.parse::<u64>()
        .ok()
        .filter(|id| i64::try_from(*id).is_ok())
        .map(PolicyId)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "policy id must be a whole number from 0 to {}, not `{text}`",
                i64::MAX
            ))
        })
}

/// Who decided: the trimmed `by`, or [`DEFAULT_BY`].
fn who(by: Option<String>) -> Result<String, ApiError> {
    let by = by.as_deref().map(str::trim).unwrap_or_default();
    if by.is_empty() {
        return Ok(DEFAULT_BY.to_string());
    }
    if by.chars().count() > MAX_BY_CHARS {
        return Err(ApiError::bad_request(format!(
            "`by` is longer than {MAX_BY_CHARS} characters"
        )));
    }
    if by.chars().any(char::is_control) {
        return Err(ApiError::bad_request("`by` contains control characters"));
    }
    Ok(by.to_string())
}

/// The trimmed reason, `None` when absent or blank.
fn reason(reason: Option<String>) -> Result<Option<String>, ApiError> {
    let reason = reason.as_deref().map(str::trim).unwrap_or_default();
    if reason.is_empty() {
        return Ok(None);
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::bad_request(format!(
            "`reason` is longer than {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(Some(reason.to_string()))
}

/// Read an optional JSON body: empty means `{}`.
async fn decision_body(body: Body, headers: &HeaderMap) -> Result<DecisionBody, ApiError> {
    let bytes = read_body(body, headers).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(DecisionBody::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
}

/// Read at most [`MAX_BODY_BYTES`] of body; more is a 413. Runs after the token check,
/// so an unauthenticated caller learns nothing from the size limit.
async fn read_body(body: Body, headers: &HeaderMap) -> Result<Bytes, ApiError> {
    read_limited(body, headers, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            let (status, message) = e.answer();
            ApiError::new(status, message)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_defaults_to_api_and_refuses_junk() {
        assert_eq!(who(None).expect("default"), "api");
        assert_eq!(who(Some("  ".into())).expect("blank"), "api");
        assert_eq!(who(Some(" alice ".into())).expect("name"), "alice");
        assert!(who(Some("a\nb".into())).is_err());
        assert!(who(Some("x".repeat(MAX_BY_CHARS + 1))).is_err());
    }

    #[test]
    fn blank_reasons_are_absent() {
        assert_eq!(reason(None).expect("none"), None);
        assert_eq!(reason(Some(" \n".into())).expect("blank"), None);
        assert_eq!(
            reason(Some(" change freeze ".into())).expect("reason"),
            Some("change freeze".into())
        );
    }
}
