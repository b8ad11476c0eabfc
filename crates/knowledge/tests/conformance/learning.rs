//! Cases of the `LearningStore` role: outcomes, success rates and imported priors.

use super::{Backend, TestResult, outcome, t};
use charter_knowledge::{LearnedPrior, SuccessRate};
use charter_model::{ActionKind, OutcomeClass};
use std::sync::Arc;

pub async fn outcomes_round_trip_in_order(backend: Arc<dyn Backend>) -> TestResult {
    let store = backend.open().await?;
    let first = outcome(
        2,
        ActionKind::Rollback,
        "errors",
        "orders",
        OutcomeClass::Resolved,
        42.125,
    );
    let mut second = outcome(
        1,
        ActionKind::ScaleOut,
        "latency_p99",
        "api",
        OutcomeClass::Worsened,
        0.1,
    );
    second.cause = None;
    store.save_outcome(&first).await?;
    store.save_outcome(&second).await?;
    assert_eq!(store.outcomes().await?, vec![first, second]);
    Ok(())
}

pub async fn success_rates_count_resolved_as_success_and_others_as_failure(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    let lat = "latency_p99";
    for (class, tte) in [
        (OutcomeClass::Resolved, 30.0),
        (OutcomeClass::Resolved, 60.0),
        (OutcomeClass::Improved, 5.0),
        (OutcomeClass::NoEffect, 5.0),
        (OutcomeClass::Worsened, 5.0),
        (OutcomeClass::Failed, 5.0),
    ] {
        store
            .save_outcome(&outcome(1, ActionKind::ScaleOut, lat, "api", class, tte))
            .await?;
    }
    store
        .save_outcome(&outcome(
            2,
            ActionKind::ScaleOut,
            lat,
            "frontend",
            OutcomeClass::Failed,
            1.0,
        ))
        .await?;
    store
        .save_outcome(&outcome(
            3,
            ActionKind::Restart,
            "errors",
            "api",
            OutcomeClass::Resolved,
            10.0,
        ))
        .await?;

    let rate = |kind, objective: &str, component: &str, successes, total, mean| SuccessRate {
        kind,
        objective: objective.into(),
        component: component.into(),
        successes,
        total,
        mean_time_to_effect_secs: mean,
    };
    assert_eq!(
        store.success_rates().await?,
        vec![
            rate(ActionKind::ScaleOut, lat, "api", 2, 6, 45.0),
            rate(ActionKind::ScaleOut, lat, "frontend", 0, 1, 0.0),
            rate(ActionKind::Restart, "errors", "api", 1, 1, 10.0),
        ]
    );
    assert_eq!(
        store.kind_success_rates().await?,
        vec![(ActionKind::ScaleOut, 2, 7), (ActionKind::Restart, 1, 1)]
    );
    Ok(())
}

fn prior(kind: ActionKind, component: &str, source: &str, alpha: f64) -> LearnedPrior {
    LearnedPrior {
        kind,
        objective: "latency_p99".into(),
        component: component.into(),
        source: source.into(),
        alpha,
        beta: 1.0 / 3.0,
        time_to_effect_secs: (alpha > 1.0).then_some(42.5),
        weight: 0.5,
        imported_at: t(1000),
    }
}

pub async fn imported_priors_replace_their_source_and_come_back_sorted(
    backend: Arc<dyn Backend>,
) -> TestResult {
    let store = backend.open().await?;
    assert!(store.priors().await?.is_empty());
    let b_api = prior(ActionKind::Restart, "api", "b", 2.0);
    let a_db = prior(ActionKind::Restart, "db", "a", 0.5);
    let a_api = prior(ActionKind::Restart, "api", "a", 3.0);
    store
        .save_priors(&[b_api.clone(), a_db.clone(), a_api])
        .await?;
    // The same (context, source) again replaces its row.
    let a_api = prior(ActionKind::Restart, "api", "a", 7.25);
    store.save_priors(std::slice::from_ref(&a_api)).await?;
    store.close().await;

    let reopened = backend.open().await?;
    assert_eq!(reopened.priors().await?, vec![a_api, b_api, a_db]);
    Ok(())
}
