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
