//! Export from one knowledge database, import into a fresh one: the planner's
//! P(success) for the exported context moves toward the exported rate.

use charter_knowledge::export::{KnowledgeExport, export, import};
use charter_knowledge::insights::view;
use charter_knowledge::{LearningStore, OutcomeRecord, SqliteStore, Store};
use charter_model::charter::Learning;
use charter_model::{ActionKind, CauseClass, Outcome, OutcomeClass, Timestamp};
use charter_model::{ExecutionId, IncidentId, PolicyId};

const T0: Timestamp = Timestamp(1_767_225_600_000);

fn outcome(kind: ActionKind, class: OutcomeClass) -> OutcomeRecord {
    OutcomeRecord {
        outcome: Outcome {
            execution_id: ExecutionId(1),
            policy_id: PolicyId(1),
            incident_id: IncidentId(1),
            at: T0,
            class,
            rolled_back: false,
            time_to_effect_secs: 120.0,
            violations_before: 1.0,
            violations_after: 0.0,
            detail: String::new(),
        },
        action_kind: kind,
        component: "orders".into(),
        objective: "memory_utilization".into(),
        cause: Some(CauseClass::Leak),
    }
}

#[tokio::test]
async fn import_moves_the_planners_p_toward_the_exported_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let learning = Learning::default();
    // Installation A: restart resolved 9 of 10 times.
    let a = SqliteStore::open(&dir.path().join("a.db"))
        .await
        .expect("a");
    for i in 0..10 {
        let class = if i == 0 {
            OutcomeClass::Failed
        } else {
            OutcomeClass::Resolved
        };
        a.save_outcome(&outcome(ActionKind::Restart, class))
            .await
            .expect("save");
    }
    let file = export(&a.outcomes().await.expect("outcomes"), &learning, "a", T0);
    a.close().await;
    let text = serde_json::to_string(&file).expect("encode");
    let read: KnowledgeExport = serde_json::from_str(&text).expect("decode");
    assert_eq!(read, file);
    assert_eq!(read.contexts.len(), 1);
    assert_eq!(read.contexts[0].time_to_effect_secs, Some(120.0));

    // Installation B: fresh; its planner starts from a weak prior of 0.3.
    let path = dir.path().join("b.db");
    let b = SqliteStore::open(&path).await.expect("b");
    let before = view(&[], &b.priors().await.expect("priors"), &learning).success(
        ActionKind::Restart,
        "memory_utilization",
        "orders",
        0.3,
        T0,
    );
    let priors = import(&read, 0.5, T0).expect("import");
    b.save_priors(&priors).await.expect("save priors");
    // Importing the same file again replaces, never doubles.
    b.save_priors(&priors).await.expect("save priors again");
    b.close().await;

    let b = SqliteStore::open(&path).await.expect("reopen b");
    let stored = b.priors().await.expect("priors");
    assert_eq!(stored, priors);
    let k = view(&[], &stored, &learning);
    let after = k.success(ActionKind::Restart, "memory_utilization", "orders", 0.3, T0);
    // Posterior: (0.3·2 + 4.5) / (2 + 5) = 0.73, toward the exported 0.9.
    assert!((before.0 - 0.3).abs() < 1e-9, "{before:?}");
    assert!((after.0 - 5.1 / 7.0).abs() < 1e-6, "{after:?}");
    assert_eq!(after.1, (4.5, 5.0));
    // Weighted evidence: a weight above 1 is refused.
    assert!(import(&read, 1.5, T0).is_err());
    let later = T0.plus(std::time::Duration::from_secs(365 * 24 * 3600));
    let (p, _) = k.success(
        ActionKind::Restart,
        "memory_utilization",
        "orders",
        0.3,
        later,
    );
    assert!((p - after.0).abs() < 1e-9, "imported priors do not decay");
}
