//! Controls: idempotency, prior state for inverses, preconditions and recorded changes.

mod common;

use charter_execute::ActuatorError;
use charter_model::{ActionKind, ChangeKind, Timestamp};
use charter_sim::{Scenario, World};
use common::{Means, action, secs};

fn world() -> World {
    let mut w = World::new(&Scenario::default_shop("controls", secs(3600)), 1);
    w.advance_to(secs(30));
    w
}

#[test]
fn the_same_key_applies_once() {
    let mut w = world();
    let a = action(ActionKind::ScaleOut, "api", &[("step", "2")]);
    let first = w.apply("incident-1/step-0", &a).expect("applied");
    let second = w.apply("incident-1/step-0", &a).expect("replayed");
    assert_eq!(first, second);
    assert_eq!(w.describe("api").expect("known").replicas, Some(5));
    assert_eq!(w.drain_changes().len(), 1, "one change for one application");
    // A new key is a new application.
    w.apply("incident-1/step-1", &a).expect("applied");
    assert_eq!(w.describe("api").expect("known").replicas, Some(7));
}

#[test]
fn a_failed_key_replays_its_error() {
    let mut w = world();
    let a = action(ActionKind::Rollback, "api", &[]);
    let e1 = w.apply("k", &a).expect_err("no previous version");
    assert!(matches!(e1, ActuatorError::Precondition(_)), "{e1}");
    let e2 = w.apply("k", &a).expect_err("replayed");
    assert_eq!(e1.to_string(), e2.to_string());
}

#[test]
fn scale_inverses_restore_the_count() {
    let mut w = world();
    let out = action(ActionKind::ScaleOut, "catalog", &[("step", "2")]);
    let applied = w.apply("a", &out).expect("scale out");
    let back = out.inverse(&applied.prior).expect("reversible");
    assert_eq!(back.kind, ActionKind::ScaleIn);
    w.apply("b", &back).expect("scale back");
    assert_eq!(w.describe("catalog").expect("known").replicas, Some(3));

    let inn = action(ActionKind::ScaleIn, "catalog", &[]);
    let applied = w.apply("c", &inn).expect("scale in");
    assert_eq!(w.describe("catalog").expect("known").replicas, Some(2));
    w.step();
    assert_eq!(
        w.metric("westworld_ready_replicas", "catalog"),
        Some(2.0),
        "scale in is immediate"
    );
    w.apply("d", &inn.inverse(&applied.prior).expect("reversible"))
        .expect("scale out again");
    assert_eq!(w.describe("catalog").expect("known").replicas, Some(3));
}

#[test]
fn impossible_requests_are_preconditions() {
    let mut w = world();
    let cases = [
        action(ActionKind::ScaleIn, "db", &[("to_replicas", "0")]),
        action(ActionKind::ScaleIn, "db", &[("step", "5")]),
        action(ActionKind::ScaleOut, "db", &[("to_replicas", "1")]),
        action(ActionKind::ScaleOut, "db", &[("step", "many")]),
        action(ActionKind::Rollback, "db", &[]),
        action(ActionKind::Throttle, "db", &[]),
        action(ActionKind::Throttle, "db", &[("rate", "-3")]),
        action(ActionKind::CircuitBreak, "api", &[("dependency", "queue")]),
        action(ActionKind::CircuitBreak, "api", &[]),
        action(ActionKind::Failover, "db", &[("to_zone", "a")]),
        action(
            ActionKind::Reconfigure,
            "db",
            &[("key", "pool_size"), ("value", "4")],
        ),
        action(
            ActionKind::Reconfigure,
            "auth",
            &[("key", "colour"), ("value", "blue")],
        ),
        action(ActionKind::Restart, "db", &[("max_unavailable", "0")]),
    ];
    for (i, a) in cases.iter().enumerate() {
        match w.apply(&format!("k{i}"), a) {
            Err(ActuatorError::Precondition(m)) => assert!(!m.is_empty()),
            other => panic!("{a}: expected a precondition error, got {other:?}"),
        }
    }
    assert!(
        w.drain_changes().is_empty(),
        "failed actions change nothing"
    );
    assert!(matches!(
        w.apply("u", &action(ActionKind::Restart, "mainframe", &[])),
        Err(ActuatorError::UnknownComponent(c)) if c == "mainframe"
    ));
    assert!(matches!(
        w.describe("mainframe"),
        Err(ActuatorError::UnknownComponent(_))
    ));
}

#[test]
fn throttle_limits_admission_and_its_inverse_lifts_it() {
    let mut w = world();
    let t = action(ActionKind::Throttle, "frontend", &[("rate", "100")]);
    let applied = w.apply("t", &t).expect("throttle");
    assert!(applied.prior.is_empty(), "no limit before");
    assert_eq!(
        w.describe("frontend").expect("known").throttle_rate,
        Some(100.0)
    );
    let m = Means::over(&mut w, 30);
    assert!((m.get("throttled_ratio", "frontend") - 0.5).abs() < 0.06);
    assert!((m.get("request_rate", "api") - 100.0).abs() < 6.0);
    let lift = t.inverse(&applied.prior).expect("reversible");
    assert_eq!(lift.param("rate"), Some("none"));
    w.apply("t2", &lift).expect("lift");
    assert_eq!(w.describe("frontend").expect("known").throttle_rate, None);
    let m = Means::over(&mut w, 30);
    assert_eq!(m.get("throttled_ratio", "frontend"), 0.0);
}

#[test]
fn an_open_breaker_fails_the_calls_fast_instead_of_hiding_them() {
    let s = common::with_fault(charter_sim::FaultKind::BadDeploy, "auth", 10);
    let mut w = World::new(&s, 2);
    w.advance_to(secs(30));
    let b = action(ActionKind::CircuitBreak, "api", &[("dependency", "auth")]);
    let applied = w.apply("b", &b).expect("open");
    assert_eq!(
        applied.prior.get("state").map(String::as_str),
        Some("closed")
    );
    assert_eq!(
        w.describe("api").expect("known").open_circuits,
        vec!["auth".to_string()]
    );
    let m = Means::over(&mut w, 30);
    let open_errors = m.get("error_ratio", "api");
    assert!(
        open_errors > 0.25,
        "the requests that needed auth fail at api ({open_errors})"
    );
    assert_eq!(m.get("circuit_open", "api"), 1.0);
    assert!(
        m.get("request_rate", "auth") < 1.0,
        "auth is no longer called"
    );
    let close = b.inverse(&applied.prior).expect("reversible");
    w.apply("c", &close).expect("close");
    let m = Means::over(&mut w, 30);
    assert!(m.get("error_ratio", "api") > 0.25);
    assert!(
        open_errors >= m.get("error_ratio", "api"),
        "a breaker never hides a failing dependency's errors"
    );
    assert_eq!(m.get("circuit_open", "api"), 0.0);
}

#[test]
fn failover_and_fail_back() {
    let mut w = world();
    let f = action(ActionKind::Failover, "queue", &[]);
    let applied = w.apply("f", &f).expect("failover");
    let now = w.elapsed();
    w.advance_to(now + secs(26));
    assert_eq!(
        w.describe("queue").expect("known").zone.as_deref(),
        Some("b")
    );
    let back = f.inverse(&applied.prior).expect("reversible");
    assert_eq!(back.param("to_zone"), Some("a"));
    w.apply("g", &back).expect("fail back");
    let now = w.elapsed();
    w.advance_to(now + secs(26));
    assert_eq!(
        w.describe("queue").expect("known").zone.as_deref(),
        Some("a")
    );
    assert!(common::healthy(&Means::over(&mut w, 30), "queue"));
}

#[test]
fn changes_are_stamped_from_the_epoch_and_say_who() {
    let mut w = world();
    w.set_epoch(Timestamp::from_secs(1_000_000));
    w.apply("k", &action(ActionKind::ScaleOut, "orders", &[]))
        .expect("scale out");
    w.apply(
        "r",
        &action(
            ActionKind::Reconfigure,
            "orders",
            &[("key", "pool_size"), ("value", "6")],
        ),
    )
    .expect("reconfigure");
    let changes = w.drain_changes();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].at, Timestamp::from_secs(1_000_030));
    assert_eq!(changes[0].kind, ChangeKind::Scale);
    assert_eq!(changes[1].kind, ChangeKind::Config);
    assert!(
        changes
            .iter()
            .all(|c| c.by == "charter" && c.component == "orders")
    );
    assert!(
        changes[0].description.contains("3 → 5"),
        "{}",
        changes[0].description
    );
    assert!(w.drain_changes().is_empty(), "drained");
}

#[test]
fn topology_is_exposed_for_charters() {
    let w = world();
    assert_eq!(
        w.services(),
        [
            "frontend", "api", "catalog", "orders", "auth", "db", "cache", "queue"
        ]
    );
    assert_eq!(
        w.depends_on("api"),
        Some(vec![
            "catalog".to_string(),
            "orders".to_string(),
            "auth".to_string()
        ])
    );
    assert_eq!(w.depends_on("db"), Some(vec![]));
    assert_eq!(w.depends_on("nope"), None);
}
