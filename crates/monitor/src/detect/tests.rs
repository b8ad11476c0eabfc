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

fn alert(firing: bool, sev: Option<Severity>, starts: i64, received: i64) -> AlertEvidence {
    AlertEvidence {
        firing,
        severity: sev,
        starts_at: Timestamp::from_secs(starts),
        received_at: Timestamp::from_secs(received),
    }
}

/// Post a firing (or resolved) alert for `latency@api` at `t`.
fn claim(d: &mut Detector, c: &Charter, firing: bool, t: i64) -> Option<Transition> {
    let obj = c.objective("latency").expect("objective").clone();
    d.observe_alert(
        c,
        &obj,
        "api",
        alert(firing, Some(Severity::Critical), 0, t),
        Timestamp::from_secs(t),
    )
}

fn with_alerts(c: Charter, extra: &str) -> Charter {
    let mut text = String::from("alerts:\n  auth: none\n");
    text.push_str(extra);
    let mut with = charter_from(&format!(
        "{text}name: t\ncomponents: [{{ name: api }}]\nobjectives:\n  - name: latency\n    metric: lat\n    above: {{ warning: 1.0, critical: 2.0, clear: 0.8 }}\n    remedies: [scale_out]\n"
    ));
    with.objectives = c.objectives;
    with
}

#[test]
fn an_alert_and_the_query_collapse_into_one_violation() {
    let c = charter("60s");
    let mut d = Detector::new();
    // The query sees a breach first: pending.
    feed(&mut d, &c, "latency", 0, Some(1.5));
    // Alertmanager says the rule fired: a claim, nothing moves before the query reads.
    assert!(claim(&mut d, &c, true, 20).is_none());
    // The next reading agrees: the same episode fires at once (the rule waited for its
    // `for`), marked as alerted and with the query's value and severity.
    let t = feed(&mut d, &c, "latency", 25, Some(1.5));
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].violation.state, ViolationState::Firing);
    assert_eq!(t[0].violation.severity, Some(Severity::Warning));
    assert_eq!(t[0].violation.value, Some(1.5));
    assert!(t[0].violation.alerted);
    assert_eq!(d.active().count(), 1);
    // A duplicate alert changes nothing.
    assert!(claim(&mut d, &c, true, 26).is_none());
    assert!(feed(&mut d, &c, "latency", 28, Some(1.5)).is_empty());
    // The query says clear: the alert no longer holds the episode open.
    let t = feed(&mut d, &c, "latency", 30, Some(0.5));
    assert_eq!(t[0].violation.state, ViolationState::Resolved);
    assert!(!d.has_claim("latency", "api"));
    // A confirmed claim that the query later contradicts is no unconfirmed alert.
    assert!(d.take_verdicts().is_empty());
}

#[test]
fn an_alert_the_query_contradicts_opens_nothing_and_is_recorded_unconfirmed() {
    let c = charter("0s");
    let mut d = Detector::new();
    feed(&mut d, &c, "latency", 0, Some(0.3));
    assert!(claim(&mut d, &c, true, 5).is_none());
    assert_eq!(d.active().count(), 0);
    // The query's next reading is healthy: the claim ends, nothing opens.
    assert!(feed(&mut d, &c, "latency", 10, Some(0.3)).is_empty());
    assert_eq!(d.active().count(), 0);
    assert!(!d.has_claim("latency", "api"));
    assert_eq!(
        d.take_verdicts(),
        vec![ClaimVerdict::Unconfirmed {
            objective: "latency".into(),
            component: "api".into(),
            severity: Some(Severity::Critical),
            starts_at: Timestamp::from_secs(0),
            received_at: Timestamp::from_secs(5),
            value: 0.3,
        }]
    );
    // The claim is gone: a later breach goes through `for` as usual, unalerted.
    let t = feed(&mut d, &c, "latency", 20, Some(1.5));
    assert!(!t[0].violation.alerted);
}

#[test]
fn an_alert_without_a_reading_waits_and_never_acts() {
    let c = charter("60s");
    let mut d = Detector::new();
    // No reading yet, then an unknown one: the claim waits.
    assert!(claim(&mut d, &c, true, 0).is_none());
    assert!(feed(&mut d, &c, "latency", 10, None).is_empty());
    assert_eq!(d.active().count(), 0);
    assert!(d.has_claim("latency", "api"));
    assert!(d.take_verdicts().is_empty());
    // The first reading that agrees confirms it: firing without waiting for `for`.
    let t = feed(&mut d, &c, "latency", 20, Some(2.5));
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].violation.state, t[0].violation.severity),
        (ViolationState::Firing, Some(Severity::Critical))
    );
    assert!(t[0].violation.alerted);
}

#[test]
fn a_firing_alert_not_re_sent_expires() {
    let c = with_alerts(charter("0s"), "  expire_after: 10m\n");
    let mut d = Detector::new();
    assert!(claim(&mut d, &c, true, 0).is_none());
    // A re-send refreshes the claim.
    assert!(d.expire_claims(&c, Timestamp::from_secs(300)).is_empty());
    claim(&mut d, &c, true, 300);
    assert!(d.expire_claims(&c, Timestamp::from_secs(600)).is_empty());
    assert!(d.has_claim("latency", "api"));
    // Ten minutes after the last receipt it no longer counts.
    assert!(d.expire_claims(&c, Timestamp::from_secs(900)).is_empty());
    assert!(!d.has_claim("latency", "api"));
    assert_eq!(
        d.take_verdicts(),
        vec![ClaimVerdict::Expired {
            objective: "latency".into(),
            component: "api".into(),
            starts_at: Timestamp::from_secs(0),
            received_at: Timestamp::from_secs(300),
            confirmed: false,
        }]
    );
    // An expired claim is no claim: the breach that follows waits like any other.
    let obj = c.objective("latency").expect("objective").clone();
    let stale = alert(true, None, 0, 1_000);
    assert!(
        d.observe_alert(&c, &obj, "api", stale, Timestamp::from_secs(1_600))
            .is_none()
    );
    assert!(!d.has_claim("latency", "api"));
    assert!(matches!(
        d.take_verdicts()[..],
        [ClaimVerdict::Expired { .. }]
    ));
}

#[test]
fn trust_alone_acts_without_a_reading_until_expiry_or_a_contradiction() {
    let c = with_alerts(charter("0s"), "  trust: alone\n  expire_after: 10m\n");
    let mut d = Detector::new();
    // No reading of the series: the alert opens a firing episode by itself.
    let t = claim(&mut d, &c, true, 0).expect("opened alone");
    assert_eq!(
        (t.violation.state, t.violation.severity, t.violation.value),
        (ViolationState::Firing, Some(Severity::Critical), None)
    );
    assert_eq!(d.active().count(), 1);
    // Expiry ends the claim and the episode it alone held.
    let t = d.expire_claims(&c, Timestamp::from_secs(600));
    assert_eq!(t[0].violation.state, ViolationState::Resolved);
    assert_eq!(d.active().count(), 0);
    // With a healthy reading, even trust `alone` waits for the query, which disagrees.
    feed(&mut d, &c, "latency", 700, Some(0.3));
    d.take_verdicts();
    assert!(claim(&mut d, &c, true, 710).is_none());
    assert!(feed(&mut d, &c, "latency", 720, Some(0.3)).is_empty());
    assert!(matches!(
        d.take_verdicts()[..],
        [ClaimVerdict::Unconfirmed { value, .. }] if value == 0.3
    ));
    // An unknown reading lets it act alone; the resolved alert ends that episode.
    feed(&mut d, &c, "latency", 730, None);
    claim(&mut d, &c, true, 740).expect("opened alone");
    let t = claim(&mut d, &c, false, 750).expect("ended with its claim");
    assert_eq!(t.violation.state, ViolationState::Resolved);
    // Under the default trust the same unknown reading opens nothing.
    let confirm = charter("0s");
    let mut d = Detector::new();
    feed(&mut d, &confirm, "latency", 730, None);
    assert!(claim(&mut d, &confirm, true, 740).is_none());
    assert_eq!(d.active().count(), 0);
}

#[test]
fn a_resolved_alert_does_not_end_an_episode_the_query_measures() {
    let c = charter("0s");
    let mut d = Detector::new();
    feed(&mut d, &c, "latency", 0, Some(1.5));
    claim(&mut d, &c, true, 5);
    feed(&mut d, &c, "latency", 10, Some(1.5));
    assert!(claim(&mut d, &c, false, 15).is_none());
    assert_eq!(d.active().count(), 1);
    let t = feed(&mut d, &c, "latency", 20, Some(0.5));
    assert_eq!(t[0].violation.state, ViolationState::Resolved);
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
    // An alert claims latency's episode: nothing opens before the query agrees.
    d.observe_alert(
        &c,
        &obj,
        "api",
        alert(true, None, 5, 5),
        Timestamp::from_secs(5),
    );
    assert!(active(&d).is_empty());
    // The query agrees on latency; hit breaches by query.
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
        &c,
        &obj,
        "api",
        alert(false, None, 5, 25),
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
