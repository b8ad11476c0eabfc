//! `objectives:`: names, sources, thresholds and remedies.

use super::*;

#[test]
fn duplicate_objective_names_are_errors() {
    let text = VALID.replace("name: cache_hit", "name: latency_p99");
    let e = one(&text, "duplicate objective");
    assert_eq!(e.path, "objectives[1].name");
    assert_eq!(e.line, 18);
}

#[test]
fn thresholds_in_the_wrong_order_for_the_direction() {
    let text = VALID.replace("warning: 0.3, critical: 1.0", "warning: 1.0, critical: 0.3");
    let e = one(&text, "critical (0.3) must be greater than warning (1)");
    assert_eq!(e.path, "objectives[0].above");
    assert_eq!(e.line, 15);

    let text = VALID.replace("warning: 0.8, critical: 0.5", "warning: 0.5, critical: 0.8");
    let e = one(&text, "must be less than warning");
    assert_eq!(e.path, "objectives[1].below");

    let text = VALID.replace("clear: 0.25", "clear: 0.5");
    let e = one(&text, "clear (0.5) must be at most");
    assert_eq!(e.path, "objectives[0].above.clear");
}

#[test]
fn unknown_remedy_kinds_are_errors() {
    let text = VALID.replace(
        "remedies: [scale_out, rollback]",
        "remedies: [scale_out, reboot]",
    );
    let e = one(&text, "unknown action kind `reboot`");
    assert_eq!((e.line, e.column), (17, 27));
    assert_eq!(e.path, "objectives[0].remedies[1]");
}

#[test]
fn objective_without_remedies_is_a_warning_not_an_error() {
    let text = VALID.replace("    remedies: [flush_cache]\n", "");
    let (_, warnings) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].warning);
    assert!(
        warnings[0]
            .to_string()
            .contains("warning: objectives[1].remedies")
    );
}

#[test]
fn promql_syntax_errors_are_located() {
    let text = VALID.replace(
        "metric: westworld_latency_p99_seconds",
        "expr: histogram_quantile(0.99, sum by (le (rate(x[1m])))",
    );
    let e = one(&text, "invalid PromQL");
    assert_eq!(e.path, "objectives[0].expr");
    assert_eq!((e.line, e.column), (13, 11));
    let ok = VALID.replace(
        "metric: westworld_latency_p99_seconds",
        "expr: histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket[1m])))",
    );
    assert!(parse_charter(&ok, "shop.yaml", Path::new(".")).is_ok());
}

/// `absent:` replaces `metric:` of the second objective.
fn absent_objective(absent: &str, thresholds: &str) -> String {
    VALID.replace(
        "    metric: westworld_cache_hit_ratio\n    below: { warning: 0.8, critical: 0.5, clear: 0.85 }\n",
        &format!("    absent: '{absent}'\n    components: [api]\n{thresholds}"),
    )
}

#[test]
fn absent_objectives_default_to_critical_when_nothing_matches() {
    let text = absent_objective("up{job=\"api\"}", "");
    let (charter, _) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    let o = &charter.objectives[1];
    assert_eq!(o.source, ObjectiveSource::Absent("up{job=\"api\"}".into()));
    assert_eq!(o.direction, Direction::Above);
    assert_eq!(
        (
            o.thresholds.warning,
            o.thresholds.critical,
            o.thresholds.clear
        ),
        (None, Some(0.0), 0.0)
    );
    // A warning instead is given as `above`.
    let text = absent_objective("up{job=\"api\"}", "    above: { warning: 0 }\n");
    let (charter, _) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    let t = &charter.objectives[1].thresholds;
    assert_eq!((t.warning, t.critical), (Some(0.0), None));
}

#[test]
fn absent_objectives_are_checked() {
    let text = absent_objective("up{job=\"api\"}", "    below: { critical: 1 }\n");
    let e = one(&text, "an `absent` objective reads 1 while nothing matches");
    assert_eq!(e.path, "objectives[1].below");
    let text = absent_objective("rate(x_total[5m]", "");
    let e = one(&text, "invalid PromQL");
    assert_eq!((e.path.as_str(), e.line), ("objectives[1].absent", 19));
    let text = absent_objective("x_total[5m]", "");
    let e = one(
        &text,
        "must be an instant vector such as `up{job=\"api\"}`, not a matrix",
    );
    assert_eq!(e.path, "objectives[1].absent");
    let text = absent_objective("up", "").replace(
        "    absent: 'up'\n",
        "    absent: 'up'\n    expr: 'up == 0'\n",
    );
    let e = one(
        &text,
        "give one of `metric`, `expr` and `absent`, not `expr` and `absent`",
    );
    assert_eq!(e.path, "objectives[1]");
}
