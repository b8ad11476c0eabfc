use super::*;
use charter_testkit::charter_from;

fn charter(for_: &str) -> Charter {
    charter_keep(for_, "0s")
}

fn charter_keep(for_: &str, keep: &str) -> Charter {
    let text = format!(
        r#"name: t
components: [{{ name: api }}]
objectives:
  - name: latency
    metric: lat
    above: {{ warning: 1.0, critical: 2.0, clear: 0.8 }}
    for: {for_}
    keep_firing_for: {keep}
    remedies: [scale_out]
  - name: hit
    metric: hit
    below: {{ warning: 0.8, critical: 0.5, clear: 0.9 }}
    remedies: [flush_cache]
"#
    );
    charter_from(&text)
}

fn sample(obj: &str, t: i64, v: Option<f64>) -> Sample {
    Sample {
        objective: obj.into(),
        component: "api".into(),
        at: Timestamp::from_secs(t),
        value: v,
    }
}

fn feed(d: &mut Detector, c: &Charter, obj: &str, t: i64, v: Option<f64>) -> Vec<Transition> {
    d.update(c, &[sample(obj, t, v)], Timestamp::from_secs(t))
}

#[test]
fn fires_only_after_the_for_duration() {
    let c = charter("60s");
    let mut d = Detector::new();
    let t = feed(&mut d, &c, "latency", 0, Some(1.5));
    assert_eq!(t[0].violation.state, ViolationState::Pending);
    assert!(feed(&mut d, &c, "latency", 30, Some(1.5)).is_empty());
    let t = feed(&mut d, &c, "latency", 60, Some(2.5));
    assert_eq!(t[0].violation.state, ViolationState::Firing);
    assert_eq!(t[0].violation.severity, Some(Severity::Critical));
}

#[test]
fn a_short_blip_never_fires() {
    let c = charter("60s");
    let mut d = Detector::new();
    feed(&mut d, &c, "latency", 0, Some(1.5));
    let t = feed(&mut d, &c, "latency", 30, Some(0.5));
    assert_eq!(t[0].violation.state, ViolationState::Resolved);
    assert!(t[0].violation.firing_since.is_none());
    assert_eq!(d.active().count(), 0);
}

#[test]
fn hysteresis_keeps_firing_until_clear() {
    let c = charter("0s");
    let mut d = Detector::new();
    feed(&mut d, &c, "latency", 0, Some(1.5));
    // Below warning but above clear: still firing.
    assert!(feed(&mut d, &c, "latency", 10, Some(0.9)).is_empty());
    assert_eq!(
        d.get("latency", "api").map(|v| v.state),
        Some(ViolationState::Firing)
    );
    let t = feed(&mut d, &c, "latency", 20, Some(0.7));
    assert_eq!(t[0].violation.state, ViolationState::Resolved);
    assert_eq!(t[0].violation.worst, Some(1.5));
}

#[test]
fn below_direction_uses_reversed_thresholds() {
    let c = charter("0s");
    let mut d = Detector::new();
    let t = feed(&mut d, &c, "hit", 0, Some(0.4));
    assert_eq!(t[0].violation.severity, Some(Severity::Critical));
    assert!(
        feed(&mut d, &c, "hit", 10, Some(0.85))
            .iter()
            .all(|t| t.violation.state == ViolationState::Firing)
    );
    let t = feed(&mut d, &c, "hit", 20, Some(0.95));
    assert_eq!(t[0].violation.state, ViolationState::Resolved);
}

#[test]
fn missing_data_is_unknown_never_healthy_never_violated() {
    let c = charter("0s");
    let mut d = Detector::new();
    // Unknown on a healthy series starts no episode.
    assert!(feed(&mut d, &c, "latency", 0, None).is_empty());
    assert!(d.is_unknown("latency", "api"));
    assert_eq!(d.active().count(), 0);
    // A firing episode that loses data becomes Unknown, not resolved.
    feed(&mut d, &c, "latency", 10, Some(3.0));
    let t = feed(&mut d, &c, "latency", 20, Some(f64::NAN));
    assert_eq!(t[0].violation.state, ViolationState::Unknown);
    assert_eq!(d.active().count(), 1);
    // Data comes back still bad: firing again, same episode.
    let t = feed(&mut d, &c, "latency", 30, Some(3.0));
    assert_eq!(t[0].violation.state, ViolationState::Firing);
    assert_eq!(t[0].violation.since, Timestamp::from_secs(10));
}

#[test]
fn severity_escalates_and_is_reported() {
    let c = charter("0s");
    let mut d = Detector::new();
    feed(&mut d, &c, "latency", 0, Some(1.2));
    let t = feed(&mut d, &c, "latency", 10, Some(2.2));
    assert_eq!(t[0].violation.severity, Some(Severity::Critical));
    assert_eq!(t[0].from, Some(ViolationState::Firing));
}

#[test]
fn keep_firing_for_holds_the_episode_and_counts_flaps() {
    let c = charter_keep("0s", "60s");
    let mut d = Detector::new();
    feed(&mut d, &c, "latency", 0, Some(1.5));
    // Clear, but not for 60 s yet: still firing.
    assert!(feed(&mut d, &c, "latency", 10, Some(0.5)).is_empty());
    assert!(feed(&mut d, &c, "latency", 40, Some(0.5)).is_empty());
    // Back to breaching inside the window: a flap, same episode.
    feed(&mut d, &c, "latency", 50, Some(1.5));
    assert_eq!(d.get("latency", "api").map(|v| v.flaps), Some(1));
    feed(&mut d, &c, "latency", 60, Some(0.5));
    assert!(feed(&mut d, &c, "latency", 100, Some(0.5)).is_empty());
    let t = feed(&mut d, &c, "latency", 120, Some(0.5));
    assert_eq!(t[0].violation.state, ViolationState::Resolved);
    assert_eq!(t[0].violation.flaps, 1);
    assert_eq!(t[0].violation.since, Timestamp::from_secs(0));
}

#[test]
fn an_alert_and_the_query_collapse_into_one_violation() {
    let c = charter("60s");
    let obj = c.objective("latency").expect("objective").clone();
    let mut d = Detector::new();
    // The query sees a breach first: pending.
    feed(&mut d, &c, "latency", 0, Some(1.5));
    // Alertmanager says the rule fired: the same episode is promoted, not duplicated.
    let t = d
        .observe_alert(
            &obj,
            "api",
            true,
            Some(Severity::Critical),
            Timestamp::from_secs(0),
            Timestamp::from_secs(20),
        )
        .expect("transition");
    assert_eq!(t.violation.state, ViolationState::Firing);
    assert!(t.violation.alerted);
    assert_eq!(d.active().count(), 1);
    // A duplicate alert changes nothing.
    assert!(
        d.observe_alert(
            &obj,
            "api",
            true,
            Some(Severity::Critical),
            Timestamp::from_secs(0),
            Timestamp::from_secs(25)
        )
        .is_none()
    );
    // The query says clear, but the alert still fires: not resolved.
    assert!(feed(&mut d, &c, "latency", 30, Some(0.5)).is_empty());
    // Alert resolved: still only the query can end it.
    d.observe_alert(
        &obj,
        "api",
        false,
        None,
        Timestamp::from_secs(0),
        Timestamp::from_secs(35),
    );
    assert_eq!(d.active().count(), 1);
    let t = feed(&mut d, &c, "latency", 40, Some(0.5));
    assert_eq!(t[0].violation.state, ViolationState::Resolved);
}

#[test]
fn an_alert_alone_opens_a_firing_violation_that_the_query_confirms_closed() {
    let c = charter("60s");
    let obj = c.objective("latency").expect("objective").clone();
    let mut d = Detector::new();
    let t = d
        .observe_alert(
            &obj,
            "api",
            true,
            None,
            Timestamp::from_secs(0),
            Timestamp::from_secs(5),
        )
        .expect("transition");
    assert_eq!(
        (t.violation.state, t.violation.severity),
        (ViolationState::Firing, Some(Severity::Warning))
    );
    // The query keeps it (still breaching), then the alert resolves and the query clears.
    assert!(
        feed(&mut d, &c, "latency", 10, Some(1.5))
            .iter()
            .all(|t| t.violation.state == ViolationState::Firing)
    );
    d.observe_alert(
        &obj,
        "api",
        false,
        None,
        Timestamp::from_secs(0),
        Timestamp::from_secs(15),
    );
    assert_eq!(
        feed(&mut d, &c, "latency", 20, Some(0.5))[0]
            .violation
            .state,
        ViolationState::Resolved
    );
}

#[test]
fn undeclared_components_are_not_judged_and_a_batch_may_change_order() {
    let c = charter("0s");
    let mut d = Detector::new();
    let ghost = |t: i64, v: f64| Sample {
        component: "ghost".into(),
        ..sample("latency", t, Some(v))
    };
    // The same series in two orders; the undeclared one breaches and is ignored.
    let batch = [
        ghost(0, 5.0),
        sample("latency", 0, Some(2.5)),
        sample("hit", 0, Some(0.95)),
    ];
    let t = d.update(&c, &batch, Timestamp::from_secs(0));
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].violation.component, "api");
    let reordered = [
        sample("hit", 15, Some(0.3)),
        ghost(15, 5.0),
        sample("latency", 15, Some(0.5)),
    ];
    let t = d.update(&c, &reordered, Timestamp::from_secs(15));
    let keys: Vec<(String, ViolationState)> = t
        .iter()
        .map(|x| (x.violation.key(), x.violation.state))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("hit@api".to_string(), ViolationState::Firing),
            ("latency@api".to_string(), ViolationState::Resolved),
        ]
    );
    assert_eq!(d.latest("hit", "api"), Some(0.3));
    assert_eq!(d.latest("latency", "ghost"), None);
    assert!(d.active().all(|v| v.component == "api"));
}

#[test]
fn active_and_unknown_follow_every_path_in_first_seen_order() {
    let c = charter("0s");
    let obj = c.objective("latency").expect("objective").clone();
    let mut d = Detector::new();
    let active = |d: &Detector| -> Vec<String> { d.active().map(Violation::key).collect() };
    let unknown = |d: &Detector| -> Vec<(String, String)> {
        d.unknown()
            .map(|(o, c)| (o.to_string(), c.to_string()))
            .collect()
    };
    let batch = |lat: Option<f64>, hit: Option<f64>, t: i64| {
        vec![sample("latency", t, lat), sample("hit", t, hit)]
    };
    // Both series seen healthy: latency first, hit second.
    d.update(
        &c,
        &batch(Some(0.5), Some(0.95), 0),
        Timestamp::from_secs(0),
    );
    assert!(active(&d).is_empty() && unknown(&d).is_empty());
    // An alert opens latency's episode; hit breaches by query.
    d.observe_alert(
        &obj,
        "api",
        true,
        None,
        Timestamp::from_secs(5),
        Timestamp::from_secs(5),
    );
    assert_eq!(active(&d), vec!["latency@api"]);
    d.update(
        &c,
        &batch(Some(1.5), Some(0.1), 10),
        Timestamp::from_secs(10),
    );
    assert_eq!(active(&d), vec!["latency@api", "hit@api"]);
    // Hit loses its data: still open, and unknown.
    d.update(&c, &batch(Some(1.5), None, 20), Timestamp::from_secs(20));
    assert_eq!(active(&d), vec!["latency@api", "hit@api"]);
    assert_eq!(unknown(&d), vec![("hit".to_string(), "api".to_string())]);
    // Latency clears once the alert is gone; hit comes back healthy and resolves.
    d.observe_alert(
        &obj,
        "api",
        false,
        None,
        Timestamp::from_secs(5),
        Timestamp::from_secs(25),
    );
    d.update(
        &c,
        &batch(Some(0.5), Some(0.95), 30),
        Timestamp::from_secs(30),
    );
    assert!(active(&d).is_empty(), "{:?}", active(&d));
    assert!(unknown(&d).is_empty());
    // A healthy series that goes unknown is listed as unknown, never as active.
    d.update(&c, &batch(None, Some(0.95), 40), Timestamp::from_secs(40));
    assert!(active(&d).is_empty());
    assert_eq!(
        unknown(&d),
        vec![("latency".to_string(), "api".to_string())]
    );
}
