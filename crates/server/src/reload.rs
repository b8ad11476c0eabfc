//! `POST /-/reload` (and `PUT`, as Prometheus accepts both): re-read the charter file
//! and swap it in between cycles (`charter_orchestrator::daemon::Reloader`; what a
//! reload can change is documented there and in docs/charter.md).
//!
//! It needs the API bearer token like the other mutating endpoints: 403 when none is
//! configured, 401 when missing or wrong. Then 200 with what changed, 422 when the
//! file is invalid or changes what only a restart applies (the running charter stays;
//! the body says why, every issue as `FILE:LINE:COL: key.path: message`), 503 when
//! the loop does not answer.

use crate::alerts::{bearer_token, constant_time_eq};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use charter_orchestrator::daemon::Reloader;
use serde_json::json;
use std::sync::Arc;

/// The path of the reload endpoint.
pub const RELOAD_PATH: &str = "/-/reload";

/// What the reload endpoint needs.
#[derive(Clone)]
pub struct ReloadApi {
    pub reloader: Arc<Reloader>,
    /// The API bearer token (the same as the policy API's); `None`: 403.
    pub token: Option<String>,
}

/// The reload route, to merge into the main router.
pub fn reload_router(api: ReloadApi) -> Router {
    Router::new()
        .route(RELOAD_PATH, post(reload).put(reload))
        .with_state(Arc::new(api))
}

fn refuse(status: StatusCode, message: &str) -> Response {
    let body = Json(json!({ "error": message }));
    if status == StatusCode::UNAUTHORIZED {
        (status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response()
    } else {
        (status, body).into_response()
    }
}

async fn reload(State(api): State<Arc<ReloadApi>>, headers: HeaderMap) -> Response {
    let Some(expected) = api.token.as_deref().filter(|t| !t.is_empty()) else {
        return refuse(
            StatusCode::FORBIDDEN,
            "reload is disabled: no API token is configured; set `api: { token_file: FILE }` \
             in the charter or start `charter run` with `--api-token-file FILE` (or send \
             SIGHUP)",
        );
    };
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| bearer_token(v.as_bytes()))
    else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "missing bearer token (Authorization: Bearer <token>)",
        );
    };
    if !constant_time_eq(given, expected.as_bytes()) {
        return refuse(StatusCode::UNAUTHORIZED, "wrong bearer token");
    }
    match api.reloader.reload("api").await {
        Ok(reloaded) => (StatusCode::OK, Json(reloaded)).into_response(),
        Err(e) if e.is_unavailable() => refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        Err(e) => refuse(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use charter_orchestrator::LoopMetrics;
    use charter_orchestrator::daemon::ControlHandle;
    use http_body_util::BodyExt;
    use std::path::PathBuf;
    use tower::ServiceExt;

    async fn call(api: &ReloadApi, method: &str, token: Option<&str>) -> (StatusCode, String) {
        let mut req = Request::builder().method(method).uri(RELOAD_PATH);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let resp = reload_router(api.clone())
            .oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = resp.status();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn reload_needs_the_api_token_before_it_reads_anything() {
        let (control, _commands) = ControlHandle::channel();
        let metrics = LoopMetrics::unregistered();
        let reloader = Arc::new(Reloader::new(
            PathBuf::from("/nonexistent/charter.yaml"),
            charter_testkit::westworld(),
            control,
            metrics.clone(),
            Arc::new(charter_model::WallClock),
        ));
        let closed = ReloadApi {
            reloader: reloader.clone(),
            token: None,
        };
        let (code, body) = call(&closed, "POST", Some("anything")).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("SIGHUP"), "{body}");
        let open = ReloadApi {
            reloader,
            token: Some("the-token".into()),
        };
        assert_eq!(call(&open, "POST", None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(
            call(&open, "PUT", Some("wrong")).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call(&open, "GET", Some("the-token")).await.0,
            StatusCode::METHOD_NOT_ALLOWED
        );
        // Nothing was attempted so far.
        assert_eq!(metrics.config_reload_successful.get(), 1);
        let (code, body) = call(&open, "POST", Some("the-token")).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.contains("/nonexistent/charter.yaml"), "{body}");
        assert_eq!(metrics.config_reload_successful.get(), 0);
    }
}
