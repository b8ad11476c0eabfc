use super::promql::{Threshold, guess_signal, read_threshold};
use super::render::{duration as fmt_duration, quoted, scalar};
use super::*;

fn th(expr: &str) -> Threshold {
    read_threshold(expr, "Test", "service").unwrap_or_else(|e| panic!("`{expr}` skipped: {e}"))
}

fn skip_reason(expr: &str) -> String {
    match read_threshold(expr, "Test", "service") {
        Ok(t) => panic!("`{expr}` converted to {t:?}"),
        Err(e) => e,
    }
}

fn import(text: &str) -> ImportReport {
    import_rules(
        &[("rules.yml".to_string(), text.to_string())],
        &ImportOptions::default(),
    )
}

/// A rule file with one group holding `rules` (YAML list items at column 6).
fn file(rules: &str) -> String {
    format!("groups:\n  - name: g\n    rules:\n{rules}")
}

fn alert(name: &str, expr: &str, severity: &str, for_: &str) -> String {
    format!(
        "      - alert: {name}\n        expr: {}\n        for: {for_}\n        labels: {{ severity: {severity} }}\n",
        quoted(expr)
    )
}

#[test]
fn greater_than_a_number_is_above() {
    let t = th("rate(errors_total[5m]) > 5");
    assert_eq!(t.expr, "rate(errors_total[5m])");
    assert_eq!(t.direction, Direction::Above);
    assert_eq!(t.value, 5.0);
    assert_eq!(t.note, None);
}

#[test]
fn less_than_a_number_is_below() {
    let t = th("cache_hit_ratio < 0.7");
    assert_eq!((t.direction, t.value), (Direction::Below, 0.7));
}

#[test]
fn a_number_on_the_left_flips_the_comparison() {
    let t = th("5 < queue_depth");
    assert_eq!(
        (t.expr.as_str(), t.direction, t.value),
        ("queue_depth", Direction::Above, 5.0)
    );
    let t = th("5 > queue_depth");
    assert_eq!((t.direction, t.value), (Direction::Below, 5.0));
    let t = th("0.5 >= ratio");
    assert_eq!(t.direction, Direction::Below);
    assert!(t.note.is_some_and(|n| n.contains("`<= 0.5`")));
}

#[test]
fn inclusive_comparisons_become_strict_with_a_note() {
    let t = th("x >= 1");
    assert_eq!((t.direction, t.value), (Direction::Above, 1.0));
    let note = t.note.expect("a note");
    assert!(note.contains("strictly"), "{note}");
    let t = th("x <= 0.2");
    assert_eq!((t.direction, t.value), (Direction::Below, 0.2));
    assert!(t.note.is_some());
}

#[test]
fn constant_thresholds_are_folded() {
    assert_eq!(
        th("probe_ssl_earliest_cert_expiry - time() < 86400 * 7").value,
        604_800.0
    );
    assert_eq!(th("x > (5)").value, 5.0);
    assert_eq!(th("x < -1").value, -1.0);
    assert_eq!(th("x > 2 ^ 10").value, 1024.0);
    assert_eq!(th("x > (60 * 60) / 2").value, 1800.0);
}

#[test]
fn parentheses_around_the_expression_or_the_whole_rule_are_dropped() {
    assert_eq!(th("(a / b) > 5").expr, "a / b");
    assert_eq!(th("((a / b) > 5)").expr, "a / b");
    // Parentheses inside the expression stay.
    assert_eq!(th("(1 - a / b) * 100 > 90").expr, "(1 - a / b) * 100");
}

#[test]
fn multi_line_expressions_print_on_one_line_and_parse_back() {
    let t = th(
        "sum by (service) (rate(x{code=~\"5..\"}[5m]))\n  /\nsum by (service) (rate(x[5m]))\n  > 0.05",
    );
    assert_eq!(
        t.expr,
        "sum by (service) (rate(x{code=~\"5..\"}[5m])) / sum by (service) (rate(x[5m]))"
    );
    assert!(promql_parser::parser::parse(&t.expr).is_ok());
}

#[test]
fn printing_may_reorder_label_matchers() {
    let t = th("http_requests_total{path=~\"/api/.*\\\\.json\", code=\"500\"} > 1");
    assert_eq!(
        t.expr,
        "http_requests_total{code=\"500\",path=~\"/api/.*\\\\.json\"}"
    );
}

#[test]
fn equal_to_zero_on_a_whole_number_becomes_below_one() {
    for expr in [
        "up == 0",
        "mysql_up{job=\"db\"} == 0",
        "sum by (svc) (up) == 0",
        "count by (namespace) (kube_pod_info) == 0",
        "0 == up",
        "up != 1",
    ] {
        let t = th(expr);
        assert_eq!((t.direction, t.value), (Direction::Below, 1.0), "{expr}");
        assert!(t.note.is_some_and(|n| n.contains("below 1")), "{expr}");
    }
}

#[test]
fn equal_to_one_on_a_flag_becomes_above_zero() {
    for expr in [
        "node_filesystem_readonly == 1",
        "max by (instance) (node_filesystem_readonly) == 1",
        "kube_job_failed != 0",
    ] {
        let t = th(expr);
        assert_eq!((t.direction, t.value), (Direction::Above, 0.0), "{expr}");
    }
}

#[test]
fn other_equalities_are_skipped() {
    for expr in [
        "x == 3",
        "avg(up) == 0",
        "sum(up) == 1",
        "rate(requests_total[5m]) == 0",
        "x != 2",
    ] {
        let reason = skip_reason(expr);
        assert!(reason.contains("exact value"), "{expr}: {reason}");
    }
}

#[test]
fn bool_comparisons_are_skipped() {
    let reason = skip_reason("rate(errors_total[5m]) > bool 0");
    assert!(reason.contains("`> bool`"), "{reason}");
}

#[test]
fn set_operators_at_the_top_are_skipped() {
    for (expr, op) in [
        ("a > 5 and b == 0", "and"),
        ("a > 5 or b > 3", "or"),
        ("a > 5 unless b", "unless"),
    ] {
        let reason = skip_reason(expr);
        assert!(reason.contains(&format!("`{op}`")), "{expr}: {reason}");
    }
}

#[test]
fn comparisons_between_two_expressions_are_rewritten_exactly() {
    // An order comparison of two expressions: their difference against 0.
    let t = th("kube_deployment_spec_replicas > kube_deployment_status_replicas");
    assert_eq!(
        t.expr,
        "kube_deployment_spec_replicas - kube_deployment_status_replicas"
    );
    assert_eq!((t.direction, t.value), (Direction::Above, 0.0));
    assert!(
        t.note
            .as_deref()
            .is_some_and(|n| n.contains("`a - b` above 0"))
    );
    // `!=`: the absolute difference above 0.
    let t = th("kube_deployment_spec_replicas != kube_deployment_status_replicas_available");
    assert_eq!(
        t.expr,
        "abs(kube_deployment_spec_replicas - kube_deployment_status_replicas_available)"
    );
    assert_eq!((t.direction, t.value), (Direction::Above, 0.0));
    assert_eq!(t.label.label, "deployment");
    // A side scaled by a number, on either side, becomes a ratio when the divisor
    // cannot be negative; the matching modifier is kept.
    for (expr, ratio, dir, k) in [
        ("a > 0.8 * b_bytes", "a / b_bytes", Direction::Above, 0.8),
        (
            "rate(x_total[5m]) < on (service) rate(y_total[5m]) / 4",
            "rate(x_total[5m]) / on (service) rate(y_total[5m])",
            Direction::Below,
            0.25,
        ),
        (
            "kube_hpa_spec_max_replicas * 0.9 <= kube_hpa_status_current_replicas",
            "kube_hpa_status_current_replicas / kube_hpa_spec_max_replicas",
            Direction::Above,
            0.9,
        ),
    ] {
        let t = th(expr);
        assert_eq!(
            (t.expr.as_str(), t.direction, t.value),
            (ratio, dir, k),
            "{expr}"
        );
    }
    // A divisor that may be negative keeps the difference, which is exact for any sign.
    let t = th("node_temperature > node_temperature_limit * 0.9");
    assert_eq!(t.expr, "node_temperature - (node_temperature_limit * 0.9)");
    assert_eq!((t.direction, t.value), (Direction::Above, 0.0));
    // Operands that are themselves binary expressions keep their brackets.
    let t = th("a + b > c - d");
    assert_eq!(t.expr, "(a + b) - (c - d)");
    // Equality of two expressions has no exact threshold form.
    let reason = skip_reason("rate(a_total[5m]) == rate(b_total[5m])");
    assert!(reason.contains("write `abs(a - b)`"), "{reason}");
    // ... unless both sides are whole numbers (selectors, counts, sums of them).
    let t = th("kube_hpa_status_current_replicas == kube_hpa_spec_max_replicas");
    assert_eq!(
        t.expr,
        "abs(kube_hpa_status_current_replicas - kube_hpa_spec_max_replicas)"
    );
    assert_eq!((t.direction, t.value), (Direction::Below, 1.0));
}

#[test]
fn absent_becomes_an_absence_objective() {
    let t = th("absent(up{job=\"x\"})");
    assert!(t.absent);
    assert_eq!(t.expr, "up{job=\"x\"}");
    assert_eq!((t.direction, t.value), (Direction::Above, 0.0));
    assert_eq!(t.label.label, "job");
    assert_eq!(t.label.component.as_deref(), Some("x"));
    let reason = skip_reason("absent_over_time(up{job=\"x\"}[10m])");
    assert!(
        reason.contains("write `absent: <the selector>`"),
        "{reason}"
    );
}

#[test]
fn expressions_without_a_comparison_are_skipped() {
    let reason = skip_reason("vector(1)");
    assert!(reason.contains("no comparison"), "{reason}");
    let reason = skip_reason("a - b");
    assert!(reason.contains("it is `-`"), "{reason}");
}

#[test]
fn the_component_label_comes_from_the_grouping() {
    let label = |expr: &str| th(expr).label;
    let l = label("sum by (instance) (rate(node_cpu_seconds_total[5m])) > 3");
    assert_eq!(l.label, "instance");
    assert!(l.why.contains("`sum by (instance)`"), "{}", l.why);
    // Several labels: the one that names components.
    assert_eq!(
        label("sum by (namespace, deployment) (x) > 1").label,
        "deployment"
    );
    assert_eq!(label("sum by (region, zone) (x) > 1").label, "region");
    assert!(
        label("sum by (region, zone) (x) > 1")
            .why
            .contains("the first of")
    );
    // The preferred label wins among several.
    let t = read_threshold("max by (pod, team) (x) > 1", "T", "team").expect("imported");
    assert_eq!(t.label.label, "team");
    // `histogram_quantile` consumes `le`.
    let l = label("histogram_quantile(0.99, sum by (le, service) (rate(h_bucket[5m]))) > 1");
    assert_eq!(l.label, "service");
    // Both sides of a ratio aggregated the same way.
    assert_eq!(
        label("sum by (job) (rate(e_total[5m])) / sum by (job) (rate(r_total[5m])) > 0.1").label,
        "job"
    );
    // `without` keeps the selectors' labels minus the listed ones.
    let l = label("sum without (cpu, mode) (rate(x_total[5m])) > 1");
    assert_eq!(l.label, "service");
    assert!(l.why.contains("without (cpu, mode)"), "{}", l.why);
    let reason = skip_reason("sum without (service) (rate(x_total[5m])) > 1");
    assert!(
        reason.contains("`without (service)` drops `service`"),
        "{reason}"
    );
    // Aggregating every label away leaves nothing to map.
    let reason = skip_reason("sum(rate(x_total[5m])) > 1");
    assert!(
        reason.contains("`sum(...)` without `by` keeps no label"),
        "{reason}"
    );
    // Not aggregated: a matcher on the preferred label, a metric family, an equality
    // matcher on a component label, else the preferred label, assumed.
    assert_eq!(label("x{service=~\"a|b\"} > 1").label, "service");
    let l = label("kube_deployment_status_replicas_unavailable{job=\"kube-state-metrics\"} > 0");
    assert_eq!(l.label, "deployment");
    let l = label("up{job=\"api\"} == 0");
    assert_eq!(
        (l.label.as_str(), l.component.as_deref()),
        ("job", Some("api"))
    );
    let l = label("some_gauge > 1");
    assert_eq!(l.label, "service");
    assert!(l.why.starts_with("assumed"), "{}", l.why);
}

#[test]
fn invalid_promql_and_infinite_thresholds_are_skipped() {
    assert!(skip_reason("rate(x[5m] > 1").starts_with("invalid PromQL"));
    assert!(skip_reason("x > Inf").contains("not a finite number"));
}

#[test]
fn severity_labels_pick_the_threshold() {
    for l in ["critical", "Critical", "page", "high", "crit"] {
        assert_eq!(Severity::from_label(Some(l)), Severity::Critical, "{l}");
    }
    for l in ["warning", "warn", "info", "low", "none"] {
        assert_eq!(Severity::from_label(Some(l)), Severity::Warning, "{l}");
    }
    assert_eq!(Severity::from_label(None), Severity::Warning);
}

#[test]
fn group_severity_applies_when_the_rule_has_none() {
    let text = "groups:\n  - name: g\n    labels: { severity: critical }\n    rules:\n      - alert: A\n        expr: x > 1\n";
    let r = import(text);
    assert_eq!(r.objectives[0].critical, Some(1.0));
    assert_eq!(r.objectives[0].warning, None);
}

#[test]
fn durations_read_prometheus_units() {
    assert_eq!(duration(None, "for"), Ok(Duration::ZERO));
    assert_eq!(duration(Some("0"), "for"), Ok(Duration::ZERO));
    assert_eq!(duration(Some("5m"), "for"), Ok(Duration::from_secs(300)));
    assert_eq!(
        duration(Some("1h30m"), "for"),
        Ok(Duration::from_secs(5400))
    );
    assert_eq!(duration(Some("1d"), "for"), Ok(Duration::from_secs(86_400)));
    let e = duration(Some("five minutes"), "for").expect_err("invalid");
    assert!(
        e.starts_with("invalid `for` duration `five minutes`"),
        "{e}"
    );
}

#[test]
fn durations_render_compactly_and_read_back() {
    for (secs, text) in [(300, "5m"), (5400, "1h30m"), (90_000, "1d1h"), (45, "45s")] {
        let d = Duration::from_secs(secs);
        assert_eq!(fmt_duration(d), text);
        assert_eq!(humantime::parse_duration(text).ok(), Some(d));
    }
    assert_eq!(fmt_duration(Duration::from_millis(1500)), "1s500ms");
}

#[test]
fn alert_names_become_snake_case() {
    for (alert, name) in [
        ("HighLatency", "high_latency"),
        ("KubePodCrashLooping", "kube_pod_crash_looping"),
        ("HTTPHighLatencyP99", "http_high_latency_p99"),
        (
            "MysqlTooManyConnections(>80%)",
            "mysql_too_many_connections_80",
        ),
        ("already_snake", "already_snake"),
        ("Disk space-low", "disk_space_low"),
        ("%%", "alert"),
    ] {
        assert_eq!(snake_case(alert), name, "{alert}");
    }
}

#[test]
fn signals_are_guessed_from_alert_and_metric_names() {
    let cases = [
        (
            "HighLatency",
            "histogram_quantile(0.99, rate(http_request_duration_seconds_bucket[5m])) > 1",
            Signal::Latency,
        ),
        (
            "HighErrorRate",
            "rate(http_requests_total{code=~\"5..\"}[5m]) > 1",
            Signal::Errors,
        ),
        (
            "ServerErrors",
            "rate(http_requests_total{status=\"503\"}[5m]) > 1",
            Signal::Errors,
        ),
        (
            "HostHighCpuLoad",
            "rate(node_cpu_seconds_total[5m]) > 1",
            Signal::Utilization,
        ),
        ("ContainerOomKilled", "increase(x[5m]) > 0", Signal::Memory),
        (
            "HostOutOfMemory",
            "node_memory_MemAvailable_bytes < 10",
            Signal::Memory,
        ),
        (
            "DiskFull",
            "node_filesystem_avail_bytes < 10",
            Signal::Saturation,
        ),
        ("MysqlDown", "mysql_up == 0", Signal::Availability),
        ("ProbeFailed", "probe_success == 0", Signal::Availability),
        (
            "NoReplicas",
            "kube_deployment_status_replicas_available == 0",
            Signal::Availability,
        ),
        ("LowHitRate", "cache_hits_ratio < 0.5", Signal::Cache),
        (
            "PoolExhausted",
            "db_pool_in_use / db_pool_size > 0.9",
            Signal::Pool,
        ),
        (
            "TooManyConnections",
            "pg_stat_activity_count > 90",
            Signal::Pool,
        ),
        ("ReplicationLag", "pg_replication_lag > 30", Signal::Latency),
        (
            "TrafficDropped",
            "sum(rate(http_requests_total[5m])) < 1",
            Signal::Traffic,
        ),
        (
            "CrashLooping",
            "increase(kube_pod_container_status_restarts_total[15m]) > 3",
            Signal::Other,
        ),
    ];
    for (alert, expr, want) in cases {
        let parsed = promql_parser::parser::parse(expr).expect("valid PromQL");
        assert_eq!(guess_signal(alert, &parsed), want, "{alert}: {expr}");
    }
}

#[test]
fn warning_and_critical_on_one_expression_merge() {
    let r = import(&file(&format!(
        "{}{}",
        alert("HighLatency", "latency_seconds > 0.5", "warning", "10m"),
        alert("HighLatency", "latency_seconds > 1", "critical", "5m"),
    )));
    assert_eq!(r.objectives.len(), 1, "{r:#?}");
    let o = &r.objectives[0];
    assert_eq!(o.name, "high_latency");
    assert_eq!((o.warning, o.critical), (Some(0.5), Some(1.0)));
    assert_eq!(o.for_, Duration::from_secs(300));
    assert_eq!(o.from, vec!["HighLatency".to_string()]);
    assert_eq!(o.origins.len(), 2);
}

#[test]
fn differently_named_alerts_on_one_expression_merge_under_their_common_name() {
    let r = import(&file(&format!(
        "{}{}",
        alert(
            "SlowResponsesWarning",
            "p95_seconds > 0.3",
            "warning",
            "15m"
        ),
        alert(
            "SlowResponsesCritical",
            "p95_seconds > 0.8",
            "critical",
            "5m"
        ),
    )));
    assert_eq!(r.objectives.len(), 1, "{r:#?}");
    assert_eq!(r.objectives[0].name, "slow_responses");
    assert_eq!(r.objectives[0].from.len(), 2);
}

#[test]
fn thresholds_in_the_wrong_order_stay_separate_objectives() {
    // Critical below warning for `above`: the charter would reject one objective.
    let r = import(&file(&format!(
        "{}{}",
        alert("QueueBacklog", "queue_depth > 1000", "warning", "5m"),
        alert("QueueBacklog", "queue_depth > 500", "critical", "30m"),
    )));
    let names: Vec<&str> = r.objectives.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["queue_backlog_warning", "queue_backlog_critical"]);
    assert_eq!(r.objectives[0].warning, Some(1000.0));
    assert_eq!(r.objectives[1].critical, Some(500.0));
}

#[test]
fn a_second_threshold_of_the_same_severity_gets_its_own_objective() {
    let r = import(&file(&format!(
        "{}{}{}",
        alert("DiskLow", "disk_free_ratio < 0.2", "warning", "1h"),
        alert("DiskLow", "disk_free_ratio < 0.1", "warning", "5m"),
        alert("DiskLow", "disk_free_ratio < 0.05", "critical", "1m"),
    )));
    let names: Vec<&str> = r.objectives.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["disk_low", "disk_low_warning"]);
    assert_eq!(
        (r.objectives[0].warning, r.objectives[0].critical),
        (Some(0.2), Some(0.05))
    );
    assert_eq!(r.objectives[1].warning, Some(0.1));
}

#[test]
fn same_expression_in_opposite_directions_does_not_merge() {
    let r = import(&file(&format!(
        "{}{}",
        alert("TrafficOdd", "rps > 1000", "warning", "5m"),
        alert("TrafficOdd", "rps < 10", "critical", "5m"),
    )));
    let names: Vec<&str> = r.objectives.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["traffic_odd_warning", "traffic_odd_critical"]);
    assert_eq!(r.objectives[1].direction, Direction::Below);
}

#[test]
fn names_stay_unique_when_alert_names_collide() {
    let r = import(&file(&format!(
        "{}{}",
        alert("HighLatency", "a_seconds > 1", "warning", "5m"),
        alert("high_latency", "b_seconds > 1", "warning", "5m"),
    )));
    let names: Vec<&str> = r.objectives.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["high_latency_warning", "high_latency_warning_2"]);
}

#[test]
fn keep_firing_for_takes_the_longest_and_for_the_shortest() {
    let rules = "      - alert: A\n        expr: x > 1\n        for: 10m\n        keep_firing_for: 5m\n      - alert: A\n        expr: x > 2\n        for: 2m\n        labels: { severity: critical }\n";
    let o = &import(&file(rules)).objectives[0];
    assert_eq!(o.for_, Duration::from_secs(120));
    assert_eq!(o.keep_firing_for, Duration::from_secs(300));
}

#[test]
fn odd_rules_are_reported_one_by_one() {
    let rules = "      - alert: NoExpr\n        for: 5m\n      - alert: Both\n        record: both\n        expr: x > 1\n      - expr: x > 1\n      - alert: BadFor\n        expr: x > 1\n        for: soon\n      - alert: Fine\n        expr: x > 1\n";
    let r = import(&file(rules));
    assert_eq!(r.objectives.len(), 1);
    let reasons: Vec<(&str, u64, &str)> = r
        .skipped
        .iter()
        .map(|s| (s.rule.as_str(), s.line, s.reason.as_str()))
        .collect();
    assert_eq!(reasons[0], ("NoExpr", 4, "has no `expr`"));
    assert_eq!(reasons[1], ("Both", 6, "has both `alert` and `record`"));
    assert_eq!(reasons[2], ("", 9, "has neither `alert` nor `record`"));
    assert_eq!(reasons[3].0, "BadFor");
    assert!(reasons[3].2.starts_with("invalid `for` duration `soon`"));
}

#[test]
fn empty_and_foreign_files() {
    assert_eq!(import(""), ImportReport::default());
    assert_eq!(import("# nothing yet\n---\n"), ImportReport::default());
    assert_eq!(import("groups:\n"), ImportReport::default());
    let r = import("scrape_configs:\n  - job_name: x\n");
    assert_eq!(r.skipped.len(), 1);
    assert!(r.skipped[0].reason.contains("no `groups:`"), "{r:?}");
}

#[test]
fn scalars_are_quoted_only_when_needed() {
    assert_eq!(scalar("high_latency"), "high_latency");
    assert_eq!(scalar("true"), "\"true\"");
    assert_eq!(scalar("1st"), "\"1st\"");
    assert_eq!(
        scalar("app.kubernetes.io/name"),
        "\"app.kubernetes.io/name\""
    );
    assert_eq!(quoted("a\"b\\c\nd\u{7}"), "\"a\\\"b\\\\c\\nd\\u0007\"");
}
