//! `GET /api/v1/knowledge`: what was learned — per-context success rates with 90%
//! credible intervals, the recommended action per symptom objective, and insights in
//! plain words ([`charter_knowledge::insights::KnowledgeReport`]). Read-only, no token.
//!
//! It reads the store directly (not through the loop): outcomes are append-only and
//! the report is computed from them alone, so it never waits behind a cycle.

use crate::alerts::error_chain;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use charter_knowledge::Store;
use charter_knowledge::insights::report;
use charter_model::Timestamp;
use charter_model::charter::Learning;
use serde_json::json;
use std::sync::Arc;

/// What the knowledge endpoint reads.
#[derive(Clone)]
pub struct KnowledgeApi {
    pub store: Arc<dyn Store>,
    /// The charter's learning settings (half-life, outcome credit).
    pub learning: Learning,
    /// The clock the decayed figures are computed at (injected for tests).
    pub clock: fn() -> Timestamp,
}

impl KnowledgeApi {
    /// The endpoint on `store`, with the wall clock.
    pub fn new(store: Arc<dyn Store>, learning: Learning) -> Self {
        KnowledgeApi {
            store,
            learning,
            clock: Timestamp::now_wall,
        }
    }
}

/// The knowledge route, to merge into the main router.
pub fn knowledge_router(api: KnowledgeApi) -> Router {
    Router::new()
        .route("/api/v1/knowledge", get(show))
        .with_state(Arc::new(api))
}

async fn show(State(api): State<Arc<KnowledgeApi>>) -> Response {
    let read = async {
        let outcomes = api.store.outcomes().await?;
        let priors = api.store.priors().await?;
        Ok::<_, charter_knowledge::StoreError>((outcomes, priors))
    };
    match read.await {
        Ok((outcomes, priors)) => {
            Json(report(&outcomes, &priors, &api.learning, (api.clock)())).into_response()
        }
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "knowledge: cannot read the store");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": error_chain(&e)})),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_knowledge::{OutcomeRecord, SqliteStore, prelude::*};
    use charter_model::{
        ActionKind, CauseClass, ExecutionId, IncidentId, Outcome, OutcomeClass, PolicyId,
    };
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    const T0: Timestamp = Timestamp(1_767_225_600_000);

    fn outcome(kind: ActionKind, class: OutcomeClass, cause: CauseClass) -> OutcomeRecord {
        OutcomeRecord {
            outcome: Outcome {
                execution_id: ExecutionId(1),
                policy_id: PolicyId(1),
                incident_id: IncidentId(1),
                at: T0,
                class,
                rolled_back: false,
                time_to_effect_secs: 90.0,
                violations_before: 1.0,
                violations_after: 0.0,
                detail: String::new(),
            },
            action_kind: kind,
            component: "orders".into(),
            objective: "memory_utilization".into(),
            cause: Some(cause),
        }
    }

    #[tokio::test]
    async fn knowledge_reports_rates_recommendations_and_insights() {
        let store = Arc::new(SqliteStore::open_in_memory().await.expect("store"));
        for i in 0..10 {
            let class = if i < 9 {
                OutcomeClass::Resolved
            } else {
                OutcomeClass::NoEffect
            };
            let o = outcome(ActionKind::Restart, class, CauseClass::Leak);
            store.save_outcome(&o).await.expect("save");
        }
        for _ in 0..4 {
            let o = outcome(
                ActionKind::ScaleOut,
                OutcomeClass::NoEffect,
                CauseClass::Leak,
            );
            store.save_outcome(&o).await.expect("save");
        }
        let api = KnowledgeApi {
            store,
            learning: Learning::default(),
            clock: || T0,
        };
        let resp = knowledge_router(api)
            .oneshot(
                axum::http::Request::get("/api/v1/knowledge")
                    .body(axum::body::Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(resp.status(), StatusCode::OK);
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let texts: Vec<&str> = v["insights"]
            .as_array()
            .expect("insights")
            .iter()
            .filter_map(|i| i["text"].as_str())
            .collect();
        assert!(
            texts.contains(&"restart resolved memory_utilization on orders 9 of 10 times"),
            "{texts:?}"
        );
        assert!(
            texts.contains(
                &"scale_out never helped memory_utilization on orders when the cause was leak (0 of 4)"
            ),
            "{texts:?}"
        );
        let restart = v["contexts"]
            .as_array()
            .expect("contexts")
            .iter()
            .find(|c| c["kind"] == "restart")
            .expect("restart context");
        assert_eq!(restart["raw_outcomes"], 10);
        let (low, rate, high) = (
            restart["low"].as_f64().expect("low"),
            restart["rate"].as_f64().expect("rate"),
            restart["high"].as_f64().expect("high"),
        );
        assert!(low < rate && rate < high && low > 0.5, "{restart}");
        let rec = v["recommendations"]
            .as_array()
            .expect("recommendations")
            .iter()
            .find(|r| r["objective"] == "memory_utilization" && r["cause"].is_null())
            .expect("recommendation");
        assert_eq!(rec["kind"], "restart");
    }
}
