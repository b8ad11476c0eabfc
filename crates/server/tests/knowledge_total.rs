//! Issue 16 item 15: `/api/v1/knowledge` answers for any stored value. On base a
//! prior with `time_to_effect_secs: 1e300` (imported before imports were checked, or
//! written by another build) made the handler panic.

use charter_knowledge::prelude::*;
use charter_knowledge::{LearnedPrior, OutcomeRecord, SqliteStore};
use charter_model::charter::Learning;
use charter_model::{
    ActionKind, CauseClass, ExecutionId, IncidentId, Outcome, OutcomeClass, PolicyId, Timestamp,
};
use charter_server::{KnowledgeApi, knowledge_router};
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;

const T0: Timestamp = Timestamp(1_767_225_600_000);

fn outcome(tte: f64, at: Timestamp) -> OutcomeRecord {
    OutcomeRecord {
        outcome: Outcome {
            execution_id: ExecutionId(1),
            policy_id: PolicyId(1),
            incident_id: IncidentId(1),
            at,
            class: OutcomeClass::Resolved,
            rolled_back: false,
            time_to_effect_secs: tte,
            violations_before: 1e300,
            violations_after: -1e300,
            detail: "\n\u{1b}[31m".into(),
        },
        action_kind: ActionKind::Restart,
        component: "orders".into(),
        objective: "mem".into(),
        cause: Some(CauseClass::Leak),
    }
}

#[tokio::test]
async fn absurd_stored_values_do_not_panic_the_endpoint() {
    let store = Arc::new(SqliteStore::open_in_memory().await.expect("store"));
    for (tte, at) in [
        (1e300, T0),
        (f64::MAX, Timestamp(i64::MAX)),
        (-1e300, Timestamp(i64::MIN)),
        (1.8e19, T0),
    ] {
        store.save_outcome(&outcome(tte, at)).await.expect("save");
    }
    let prior = |kind, tte, alpha: f64, weight: f64| LearnedPrior {
        kind,
        objective: "mem".into(),
        component: "orders".into(),
        source: format!("other@{alpha}"),
        alpha,
        beta: 1.0,
        time_to_effect_secs: Some(tte),
        weight,
        imported_at: T0,
    };
    store
        .save_priors(&[
            prior(ActionKind::Restart, 1e300, 1.0, 1.0),
            prior(ActionKind::ScaleOut, 1e300, 1e300, 1.0),
            prior(ActionKind::Failover, f64::MAX, 1e-300, 1e-300),
        ])
        .await
        .expect("priors");
    for now in [T0, Timestamp(i64::MAX), Timestamp(0)] {
        let api = KnowledgeApi {
            store: store.clone(),
            learning: Learning::default(),
            clock: match now {
                Timestamp(0) => || Timestamp(0),
                Timestamp(i64::MAX) => || Timestamp(i64::MAX),
                _ => || T0,
            },
        };
        let resp = tokio::spawn(async move {
            knowledge_router(api)
                .oneshot(
                    axum::http::Request::get("/api/v1/knowledge")
                        .body(axum::body::Body::empty())
                        .expect("request"),
                )
                .await
                .expect("response")
        })
        .await
        .expect("the handler did not panic");
        assert_eq!(resp.status(), axum::http::StatusCode::OK, "at {now:?}");
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert!(v["contexts"].is_array(), "{v}");
    }
}
