//! Flaps: a flapping metric spikes for exactly its declared length every period, by
//! exactly its factor, and nothing else in the world changes.

use charter_sim::{FLAPPABLE, Flap, METRICS, Scenario, World};
use std::time::Duration;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The library's flapping scenario without its flaps: the same world, unflapped.
fn with_and_without() -> (Scenario, Scenario) {
    let flapping = Scenario::builtin("flapping-metric").expect("built-in");
    let mut plain = flapping.clone();
    plain.flaps.clear();
    (flapping, plain)
}

#[test]
fn flaps_spike_their_metric_for_their_length_every_period_and_nothing_else() {
    let (flapping, plain) = with_and_without();
    assert_eq!(flapping.flaps.len(), 2);
    let seed = flapping.seed;
    let mut a = World::new(&flapping, seed);
    let mut b = World::new(&plain, seed);
    let services = a.services();
    // Per flap, the seconds at which its metric differed from the unflapped world.
    let mut seen: Vec<Vec<u64>> = vec![Vec::new(); flapping.flaps.len()];
    while a.elapsed() < flapping.duration {
        a.step();
        b.step();
        let t = a.elapsed();
        for s in &services {
            for m in METRICS {
                let (got, base) = (
                    a.metric(m, s).expect("known"),
                    b.metric(m, s).expect("known"),
                );
                let flap = flapping
                    .flaps
                    .iter()
                    .position(|f| f.target == *s && f.metric == m);
                match flap {
                    Some(k) if got != base => {
                        let f = &flapping.flaps[k];
                        let expected = base * f.factor;
                        let expected = if m.ends_with("_ratio") {
                            expected.min(1.0)
                        } else {
                            expected
                        };
                        assert!(
                            (got - expected).abs() <= 1e-12 * expected.abs(),
                            "{m} on {s} at {t:?}: {got} is not {base} × {}",
                            f.factor
                        );
                        seen[k].push(t.as_secs());
                    }
                    _ => assert_eq!(got, base, "{m} on {s} changed at {t:?} without a flap"),
                }
            }
        }
    }
    for (f, seen) in flapping.flaps.iter().zip(&seen) {
        let (at, every, length) = (f.at.as_secs(), f.every.as_secs(), f.length.as_secs());
        let end = flapping.duration.as_secs();
        let expected: Vec<u64> = (1..=end)
            .filter(|&t| t >= at && (t - at) % every < length)
            .collect();
        assert_eq!(seen, &expected, "{} on {}", f.metric, f.target);
        // Each spike is shorter than the 30 s `for:` of the example charter's
        // objectives, and there are many of them.
        assert!(f.length < secs(30));
        assert!(expected.len() as u64 >= 10 * length, "{}", expected.len());
    }
}

#[test]
fn a_spike_crosses_the_threshold_it_is_meant_to_cross() {
    // The example charter's backend p99 warning is 0.4 s and its error-ratio
    // warning 0.02: every spike crosses them, and outside spikes the values stay far
    // below.
    let (flapping, _) = with_and_without();
    let mut w = World::new(&flapping, flapping.seed);
    let (mut in_min, mut out_max) = ([f64::MAX; 2], [0.0f64; 2]);
    let thresholds = [0.4, 0.02];
    while w.elapsed() < flapping.duration {
        w.step();
        for (k, f) in flapping.flaps.iter().enumerate() {
            let v = w.metric(&f.metric, &f.target).expect("known");
            if f.spiking(w.elapsed()) {
                in_min[k] = in_min[k].min(v);
            } else {
                out_max[k] = out_max[k].max(v);
            }
        }
    }
    for k in 0..2 {
        assert!(in_min[k] > thresholds[k], "flap {k}: {}", in_min[k]);
        assert!(out_max[k] < thresholds[k] / 2.0, "flap {k}: {}", out_max[k]);
    }
}

#[test]
fn a_flap_is_not_a_fault() {
    let (flapping, _) = with_and_without();
    assert!(flapping.ground_truth().is_empty());
    let mut w = World::new(&flapping, 1);
    w.advance_to(flapping.duration);
    assert!(w.fault_reports().is_empty());
    assert!(w.drain_changes().is_empty(), "a flap records no change");
}

#[test]
fn flaps_built_in_code_work_like_parsed_ones() {
    let flap = Flap {
        target: "queue".into(),
        metric: "westworld_cpu_utilization".into(),
        factor: 3.0,
        at: secs(10),
        every: secs(60),
        length: secs(5),
        until: Some(secs(100)),
    };
    let s = Scenario::default_shop("t", secs(200)).with_flap(flap.clone());
    let plain = Scenario::default_shop("t", secs(200));
    let (mut a, mut b) = (World::new(&s, 4), World::new(&plain, 4));
    let mut on = Vec::new();
    for _ in 0..200 {
        a.step();
        b.step();
        let m = "westworld_cpu_utilization";
        if a.metric(m, "queue") != b.metric(m, "queue") {
            on.push(a.elapsed().as_secs());
        }
    }
    let expected: Vec<u64> = (10..15).chain(70..75).collect();
    assert_eq!(on, expected);
}

fn issues(text: &str) -> Vec<(u64, String, String)> {
    let err = Scenario::from_yaml(text, "f.yaml").expect_err("invalid");
    assert!(err.to_string().contains("f.yaml:"), "{err}");
    err.issues()
        .iter()
        .map(|i| (i.line, i.path.clone(), i.message.clone()))
        .collect()
}

#[test]
fn bad_flaps_are_reported_by_file_line_and_field() {
    let text = "\
name: f
duration: 10m
flaps:
  - { target: nowhere, metric: westworld_latency_p99_seconds, factor: 2, at: 1m, every: 2m, length: 10s }
  - { target: api, metric: westworld_restarts_total, factor: 2, at: 1m, every: 2m, length: 10s }
  - { target: api, metric: latency, factor: 2, at: 1m, every: 2m, length: 10s }
  - { target: api, metric: westworld_error_ratio, factor: 0, at: 1m, every: 2m, length: 10s }
  - { target: api, metric: westworld_error_ratio, factor: 2, at: 1m, every: 10s, length: 10s }
  - { target: api, metric: westworld_error_ratio, factor: 2, at: 1m, every: 1m, length: 0s }
  - { target: api, metric: westworld_error_ratio, factor: 2, at: 11m, every: 1m, length: 5s }
  - { target: api, metric: westworld_error_ratio, factor: 2, at: 5m, every: 1m, length: 5s, until: 4m }
  - { target: api, metric: westworld_error_ratio, factor: 2, at: 1m, every: often, length: 5s }
";
    let list = issues(text);
    let expect = [
        (4, "flaps[0].target", "unknown service `nowhere`"),
        (
            5,
            "flaps[1].metric",
            "`westworld_restarts_total` cannot flap",
        ),
        (6, "flaps[2].metric", "unknown metric `latency`"),
        (7, "flaps[3].factor", "must be a positive number"),
        (8, "flaps[4].every", "must be longer than `length` (10s)"),
        (9, "flaps[5].length", "must be positive"),
        (10, "flaps[6].at", "starts after the scenario ends"),
        (11, "flaps[7].until", "must be after `at`"),
        (12, "flaps[8].every", "invalid duration `often`"),
    ];
    assert_eq!(list.len(), expect.len(), "{list:#?}");
    for ((line, path, message), (l, p, m)) in list.iter().zip(expect) {
        assert_eq!((*line, path.as_str()), (l, p), "{list:#?}");
        assert!(message.contains(m), "{path}: {message}");
    }
    // The metric errors list what may flap.
    assert!(list[1].2.contains(FLAPPABLE[0]), "{}", list[1].2);

    let unknown_key = "\
name: f
flaps:
  - { target: api, metric: westworld_error_ratio, factor: 2, at: 1m, every: 1m, length: 5s, jitter: 1s }
";
    let list = issues(unknown_key);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].0, 3);
    assert!(list[0].2.contains("jitter"), "{list:?}");
}
