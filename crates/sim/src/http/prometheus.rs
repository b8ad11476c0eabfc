//! What Prometheus reads: `/metrics` in the text format, and instant queries of plain
//! selectors on the world as it is now (there is no history for range queries).

use super::AppState;
use crate::exposition;
use crate::query::{MAX_SKEW, Selector};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use charter_model::Timestamp;
use serde::Deserialize;
use serde_json::json;

pub(super) async fn metrics(State(s): State<AppState>) -> Response {
    let body = s.sim.with_world(|w| exposition::render(w));
    ([(header::CONTENT_TYPE, exposition::CONTENT_TYPE)], body).into_response()
}

/// The parameters of a Prometheus instant query.
#[derive(Debug, Deserialize)]
pub(super) struct InstantQuery {
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
pub(super) async fn instant_query(
    State(s): State<AppState>,
    Query(q): Query<InstantQuery>,
) -> Response {
    let Some(query) = q.query else {
        return prometheus_error(StatusCode::BAD_REQUEST, "bad_data", "missing `query`");
    };
    let selector = match Selector::parse(&query) {
        Ok(sel) => sel,
        Err(e) => return prometheus_error(StatusCode::BAD_REQUEST, "bad_data", e),
    };
    let now = s.clock.wall_now();
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
pub(super) async fn range_query() -> Response {
    prometheus_error(
        StatusCode::BAD_REQUEST,
        "bad_data",
        "the simulator keeps no history: range queries are not supported",
    )
}
