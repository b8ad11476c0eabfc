//! Importing the community-style rule files in `fixtures/rules/` into charter objectives.

use charter_model::rules::{
    ImportOptions, ImportReport, ImportedObjective, Severity, import_rules, render_objectives,
};
use charter_model::{ConfigError, Direction, ObjectiveSource, Signal, parse_charter};
use std::path::Path;
use std::time::Duration;

/// Every fixture, sorted by file name, as `(name, text)`.
fn fixtures() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures folder")
        .map(|e| e.expect("fixture entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&p).expect("readable fixture");
            (name, text)
        })
        .collect()
}

fn imported() -> ImportReport {
    import_rules(&fixtures(), &ImportOptions::default())
}

fn objective<'a>(r: &'a ImportReport, name: &str) -> &'a ImportedObjective {
    r.objectives
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no objective {name}; have {:?}", names(r)))
}

fn names(r: &ImportReport) -> Vec<&str> {
    r.objectives.iter().map(|o| o.name.as_str()).collect()
}

const MINIMAL: &str = "name: x\ncomponents: [{name: api}]\n";

#[test]
fn fixtures_hold_enough_alerting_rules() {
    let files = fixtures();
    assert!(files.len() >= 5, "{} fixture files", files.len());
    let alerts: usize = files
        .iter()
        .map(|(_, t)| t.matches("- alert:").count())
        .sum();
    assert!(alerts >= 25, "{alerts} alerting rules");
}

#[test]
fn fixtures_convert_to_the_expected_objectives() {
    let r = imported();
    // Three rules skipped on the base commit now import: a `!=` and an `==` of two
    // series and an `absent()`; `count(...)` without `by` is now skipped.
    assert_eq!(r.objectives.len(), 33, "{:#?}", names(&r));
    assert_eq!(r.skipped.len(), 9, "{:#?}", r.skipped);
    // Objectives come in the order of their first rule, files sorted by name.
    assert_eq!(names(&r)[0], "postgresql_down");
    // The component label follows each expression's grouping or selectors; the
    // default (`service`) only where nothing says otherwise.
    let labelled = [
        ("postgresql_too_many_connections", "job"),
        ("kube_pod_crash_looping", "pod"),
        ("kube_deployment_replicas_mismatch", "deployment"),
        ("kube_deployment_unavailable", "deployment"),
        ("kube_hpa_maxed_out", "horizontalpodautoscaler"),
        ("kube_job_failed", "job_name"),
        ("kube_persistent_volume_filling_up", "persistentvolumeclaim"),
        ("kube_state_metrics_absent", "job"),
        ("host_high_cpu_load", "instance"),
        ("host_out_of_memory", "instance"),
        ("host_oom_kill_detected", "instance"),
        ("host_out_of_disk_space", "instance"),
        ("host_disk_will_fill_in24_hours", "instance"),
        ("host_filesystem_read_only", "instance"),
        ("host_systemd_service_crashed", "instance"),
    ];
    for o in &r.objectives {
        let want = labelled
            .iter()
            .find(|(n, _)| *n == o.name)
            .map_or("service", |(_, l)| *l);
        assert_eq!(o.component_label, want, "{}", o.name);
        assert!(
            o.warning.is_some() || o.critical.is_some(),
            "{} has no threshold",
            o.name
        );
        assert!(
            promql_parser::parser::parse(&o.expr).is_ok(),
            "{}: {}",
            o.name,
            o.expr
        );
    }
}

#[test]
fn warning_and_critical_of_one_alert_merge_into_one_objective() {
    let r = imported();
    let o = objective(&r, "high_latency_p99");
    assert_eq!(
        o.expr,
        "histogram_quantile(0.99, sum by (le, service) (rate(http_request_duration_seconds_bucket[5m])))"
    );
    assert_eq!(o.direction, Direction::Above);
    assert_eq!((o.warning, o.critical), (Some(0.5), Some(1.0)));
    assert_eq!(o.for_, Duration::from_secs(5 * 60), "the shorter `for`");
    assert_eq!(o.keep_firing_for, Duration::from_secs(5 * 60));
    assert_eq!(o.signal, Signal::Latency);
    assert_eq!(o.from, ["HighLatencyP99"]);
    let lines: Vec<(u64, Severity)> = o.origins.iter().map(|x| (x.line, x.severity)).collect();
    assert_eq!(lines, [(32, Severity::Warning), (40, Severity::Critical)]);
    assert_eq!(
        o.summary.as_deref(),
        Some("p99 latency of {{ $labels.service }} above 500ms")
    );

    let o = objective(&r, "high_error_rate");
    assert_eq!(
        o.expr,
        "sum by (service) (rate(http_requests_total{code=~\"5..\"}[5m])) / sum by (service) (rate(http_requests_total[5m]))"
    );
    assert_eq!((o.warning, o.critical), (Some(0.05), Some(0.2)));
    assert_eq!(o.for_, Duration::from_secs(2 * 60));
    assert_eq!(o.signal, Signal::Errors);

    let o = objective(&r, "host_out_of_disk_space");
    assert_eq!(o.direction, Direction::Below);
    assert_eq!((o.warning, o.critical), (Some(10.0), Some(5.0)));
    assert_eq!(o.signal, Signal::Saturation);

    // Differently named alerts on one expression merge under their common name.
    let o = objective(&r, "slow_responses");
    assert_eq!(o.from, ["SlowResponsesWarning", "SlowResponsesCritical"]);
    assert_eq!((o.warning, o.critical), (Some(0.3), Some(0.8)));
}

#[test]
fn equal_thresholds_stay_two_objectives_named_by_severity() {
    let r = imported();
    let w = objective(&r, "too_many_requests_in_flight_warning");
    let c = objective(&r, "too_many_requests_in_flight_critical");
    assert_eq!((w.warning, w.critical), (Some(100.0), None));
    assert_eq!((c.warning, c.critical), (None, Some(100.0)));
    assert_eq!(w.for_, Duration::from_secs(10 * 60));
    assert_eq!(c.for_, Duration::from_secs(30 * 60));
    assert!(!names(&r).contains(&"too_many_requests_in_flight"));
}

#[test]
fn comparisons_convert_by_side_and_operator() {
    let r = imported();
    // `== 0` on an `up`-like metric: below 1.
    let o = objective(&r, "mysql_down");
    assert_eq!(
        (o.expr.as_str(), o.direction),
        ("mysql_up", Direction::Below)
    );
    assert_eq!((o.warning, o.critical), (None, Some(1.0)));
    assert_eq!(o.signal, Signal::Availability);
    assert!(
        o.notes[0].contains("`== 0` became `below 1`"),
        "{:?}",
        o.notes
    );
    // `== 1` on a flag: above 0.
    let o = objective(&r, "host_filesystem_read_only");
    assert_eq!(
        o.expr,
        "node_filesystem_readonly{fstype!~\"tmpfs|overlay\"}"
    );
    assert_eq!((o.direction, o.critical), (Direction::Above, Some(0.0)));
    // `predict_linear(...) < 0` and a folded constant threshold.
    let o = objective(&r, "host_disk_will_fill_in24_hours");
    assert_eq!((o.direction, o.warning), (Direction::Below, Some(0.0)));
    let o = objective(&r, "ssl_certificate_expiring_soon");
    assert_eq!(o.expr, "probe_ssl_earliest_cert_expiry - time()");
    assert_eq!(o.warning, Some(604_800.0));
    // The brief's crash-loop rule; `severity: page` is critical.
    let o = objective(&r, "kube_pod_crash_looping");
    assert_eq!(
        o.expr,
        "increase(kube_pod_container_status_restarts_total{job=\"kube-state-metrics\"}[15m])"
    );
    assert_eq!((o.direction, o.warning), (Direction::Above, Some(3.0)));
    let o = objective(&r, "kube_deployment_unavailable");
    assert_eq!(o.critical, Some(1.0));
}

#[test]
fn skipped_rules_carry_their_location_and_reason() {
    let r = imported();
    let expected = [
        (
            "PostgresqlTableNotAutoVacuumed",
            "databases.yml",
            48,
            "`and` at the top level",
        ),
        ("AnyServerErrors", "http.yml", 85, "uses `> bool`"),
        (
            "RedisMissingMaster",
            "databases.yml",
            110,
            "`count(...)` without `by` keeps no label",
        ),
        (
            "KubeContainerOOMKilled",
            "kubernetes.yml",
            59,
            "`and` at the top level",
        ),
        (
            "KubeContainerCpuThrottled",
            "kubernetes.yml",
            91,
            "uses `> bool`",
        ),
        (
            "Watchdog",
            "kubernetes.yml",
            111,
            "no comparison with a number",
        ),
        (
            "NodeFilesystemAlmostOutOfSpace",
            "node.yml",
            64,
            "`and` at the top level",
        ),
        (
            "HostClockNotSynchronising",
            "node.yml",
            92,
            "`and` at the top level",
        ),
    ];
    for (alert, file, line, reason) in expected {
        let s = r
            .skipped
            .iter()
            .find(|s| s.rule == alert)
            .unwrap_or_else(|| panic!("{alert} not skipped: {:#?}", r.skipped));
        assert_eq!((s.file.as_str(), s.line), (file, line), "{alert}");
        assert!(s.reason.contains(reason), "{alert}: {}", s.reason);
        assert!(!s.group.is_empty(), "{alert}");
    }
    let watchdog = r
        .skipped
        .iter()
        .find(|s| s.rule == "Watchdog")
        .expect("Watchdog skipped");
    assert_eq!(
        watchdog.to_string(),
        "kubernetes.yml:111: general.rules/Watchdog: no comparison with a number in \
         `vector(1)`, so there is no threshold to import"
    );
}

#[test]
fn recording_rules_are_skipped_silently() {
    let r = imported();
    assert!(
        r.skipped.iter().all(|s| s.group != "postgres.recording"),
        "{:#?}",
        r.skipped
    );
    assert!(
        r.objectives
            .iter()
            .flat_map(|o| &o.origins)
            .all(|o| o.group != "postgres.recording")
    );
}

#[test]
fn prometheus_rule_resources_are_read_from_spec_groups() {
    let r = imported();
    let from_k8s = r
        .objectives
        .iter()
        .filter(|o| o.origins.iter().any(|x| x.file == "kubernetes.yml"))
        .count();
    assert_eq!(from_k8s, 7, "{:#?}", names(&r));
    let o = objective(&r, "kube_persistent_volume_filling_up");
    assert_eq!((o.warning, o.critical), (Some(0.15), Some(0.03)));
    assert_eq!(o.for_, Duration::from_secs(60));
}

#[test]
fn names_are_unique_snake_case() {
    let r = imported();
    let mut seen = std::collections::HashSet::new();
    for n in names(&r) {
        assert!(seen.insert(n), "duplicate {n}");
        assert!(
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{n}"
        );
    }
}

#[test]
fn signals_are_guessed_for_the_fixtures() {
    let r = imported();
    for (name, signal) in [
        ("host_high_cpu_load", Signal::Utilization),
        ("host_out_of_memory", Signal::Memory),
        ("host_oom_kill_detected", Signal::Memory),
        ("kube_persistent_volume_filling_up", Signal::Saturation),
        ("postgresql_too_many_connections", Signal::Pool),
        ("postgresql_replication_lag", Signal::Latency),
        ("redis_out_of_memory", Signal::Memory),
        ("redis_cache_hit_ratio_low", Signal::Cache),
        ("blackbox_probe_failed", Signal::Availability),
        ("kube_job_failed", Signal::Errors),
        ("traffic_dropped", Signal::Traffic),
        ("kube_pod_crash_looping", Signal::Other),
    ] {
        assert_eq!(objective(&r, name).signal, signal, "{name}");
    }
}

#[test]
fn malformed_file_is_reported_not_a_panic() {
    let r = imported();
    let s = r
        .skipped
        .iter()
        .find(|s| s.file == "malformed.yml")
        .expect("malformed.yml reported");
    assert_eq!((s.group.as_str(), s.rule.as_str(), s.line), ("", "", 7));
    assert!(
        s.to_string()
            .starts_with("malformed.yml:7: not a valid rule file: ")
    );
    assert!(
        s.reason.starts_with("not a valid rule file: "),
        "{}",
        s.reason
    );
    assert!(!s.reason.contains('\n'), "{}", s.reason);

    for text in [
        "groups: [",
        "groups: 5",
        "- just\n- a list\n",
        "groups:\n  - name: g\n    rules: {alert: A}\n",
        "groups:\n\t- name: tabs\n",
        "\u{0}\u{1}binary",
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: x > 1\n        labels: {severity: ~}\n",
    ] {
        let r = import_rules(
            &[("bad.yml".into(), text.into())],
            &ImportOptions::default(),
        );
        assert!(r.objectives.is_empty(), "{text:?}");
        assert_eq!(r.skipped.len(), 1, "{text:?}: {:#?}", r.skipped);
        assert!(r.skipped[0].line >= 1);
        assert!(!r.skipped[0].reason.contains("Option<"), "{}", r.skipped[0]);
    }
}

#[test]
fn rendered_objectives_pass_parse_charter() {
    let r = imported();
    let yaml = render_objectives(&r);
    // The absent() rule picks the component `kube-state-metrics`, which must be declared.
    let text =
        format!("name: x\ncomponents: [{{name: api}}, {{name: kube-state-metrics}}]\n{yaml}");
    let (charter, warnings) = match parse_charter(&text, "imported.yaml", Path::new(".")) {
        Ok(ok) => ok,
        Err(ConfigError::Invalid(issues)) => panic!("{issues:#?}\n{text}"),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(charter.objectives.len(), r.objectives.len());
    // The only warnings are the empty remedies left for the reviewer.
    assert_eq!(warnings.len(), r.objectives.len());
    assert!(warnings.iter().all(|w| w.path.ends_with(".remedies")));
    for (o, c) in r.objectives.iter().zip(&charter.objectives) {
        assert_eq!(c.name, o.name);
        let source = if o.absent {
            ObjectiveSource::Absent(o.expr.clone())
        } else {
            ObjectiveSource::Expr(o.expr.clone())
        };
        assert_eq!(c.source, source, "{}", o.name);
        assert_eq!(c.direction, o.direction, "{}", o.name);
        assert_eq!(
            (c.thresholds.warning, c.thresholds.critical),
            (o.warning, o.critical),
            "{}",
            o.name
        );
        assert_eq!(
            (c.for_, c.keep_firing_for),
            (o.for_, o.keep_firing_for),
            "{}",
            o.name
        );
        assert_eq!(c.signal, o.signal, "{}", o.name);
        assert_eq!(c.component_label, o.component_label, "{}", o.name);
        if !o.components.is_empty() {
            assert_eq!(c.components, o.components, "{}", o.name);
        }
        assert!(c.remedies.is_empty());
    }
}

#[test]
fn rendered_objectives_explain_themselves_in_comments() {
    let yaml = render_objectives(&imported());
    assert!(yaml.contains(
        "  # from alert HighLatencyP99 (http.yml:32, warning above 0.5)\n  # from alert HighLatencyP99 (http.yml:40, critical above 1)\n  # summary: p99 latency of {{ $labels.service }} above 500ms\n  # component_label `service`: from the only label of the grouping `sum by (le, service)`\n  - name: high_latency_p99\n"
    ), "{yaml}");
    assert!(yaml.contains("    # TODO choose remedies\n    remedies: []\n"));
    assert!(yaml.contains(
        "#   kubernetes.yml:59: kubernetes-apps/KubeContainerOOMKilled: combines conditions"
    ));
    // A multi-line description stays inside comments.
    assert!(yaml.lines().all(|l| !l.starts_with("  VALUE")));
}

#[test]
fn rendering_survives_awkward_expressions_and_labels() {
    let rules = r#"groups:
  - name: "odd: names"
    rules:
      - alert: "Weird \"quoted\" alert"
        expr: 'rate(http_requests_total{path=~"/api/.*\\.json", msg="say \"hi\"\tnow"}[5m]) > 1'
        annotations:
          summary: "first line\n\nthird line: {{ $value }}"
      - alert: "true"
        expr: up == 0
"#;
    let options = ImportOptions {
        component_label: "app.kubernetes.io/name".into(),
    };
    let r = import_rules(&[("odd.yml".into(), rules.into())], &options);
    assert_eq!(r.objectives.len(), 2, "{r:#?}");
    let text = format!("{MINIMAL}{}", render_objectives(&r));
    let (charter, _) =
        parse_charter(&text, "odd.yaml", Path::new(".")).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(charter.objectives[0].name, "weird_quoted_alert");
    assert_eq!(
        charter.objectives[0].source,
        ObjectiveSource::Expr(r.objectives[0].expr.clone())
    );
    assert_eq!(
        charter.objectives[0].component_label,
        "app.kubernetes.io/name"
    );
    assert_eq!(charter.objectives[1].name, "true");
}

#[test]
fn an_empty_report_renders_an_empty_list() {
    let r = import_rules(&[], &ImportOptions::default());
    let yaml = render_objectives(&r);
    assert!(yaml.ends_with("objectives: []\n"), "{yaml}");
    let (charter, _) =
        parse_charter(&format!("{MINIMAL}{yaml}"), "empty.yaml", Path::new(".")).expect("valid");
    assert!(charter.objectives.is_empty());
}

// --- A mixed rule file of 13 alerting rules (fixtures/mixed/mixed-rules.yml) ---

const MIXED: &str = "mixed-rules.yml";

fn mixed() -> ImportReport {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mixed")
        .join(MIXED);
    let text = std::fs::read_to_string(&path).expect("mixed fixture");
    import_rules(&[(MIXED.into(), text)], &ImportOptions::default())
}

/// The objective holding `alert`'s threshold.
fn from_alert<'a>(r: &'a ImportReport, alert: &str) -> &'a ImportedObjective {
    r.objectives
        .iter()
        .find(|o| o.from.iter().any(|a| a == alert))
        .unwrap_or_else(|| panic!("{alert} not imported: {:#?}", r.skipped))
}

#[test]
fn mixed_rule_file_imports_eleven_of_thirteen_rules() {
    let r = mixed();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mixed")
        .join(MIXED);
    let text = std::fs::read_to_string(path).expect("mixed fixture");
    assert_eq!(text.matches("- alert:").count(), 13);
    assert_eq!(r.objectives.len(), 11, "{:#?}", names(&r));
    assert_eq!(r.skipped.len(), 2, "{:#?}", r.skipped);
}

#[test]
fn mixed_rules_take_their_component_label_from_the_expression() {
    let r = mixed();
    // (alert, component label, why contains, components, direction, warning, critical)
    type Row<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a [&'a str],
        Direction,
        Option<f64>,
        Option<f64>,
    );
    let rows: [Row; 11] = [
        (
            "ApiHighErrorRate",
            "service",
            "the only label of the grouping `sum by (service)`",
            &[],
            Direction::Above,
            Some(0.05),
            None,
        ),
        (
            "ApiLatencyP99High",
            "service",
            "`sum by (le, service)`",
            &[],
            Direction::Above,
            None,
            Some(0.5),
        ),
        (
            "ApiErrorBudgetBurn",
            "service",
            "the recording rule's name `service:http_errors:ratio_rate5m`",
            &[],
            Direction::Above,
            None,
            Some(0.0144),
        ),
        (
            "ApiDown",
            "job",
            "the selector picks `job=\"api\"`",
            &["api"],
            Direction::Above,
            None,
            Some(0.0),
        ),
        (
            "NodeHighCpuUsage",
            "instance",
            "the only label of the grouping `avg by (instance)`",
            &[],
            Direction::Above,
            Some(90.0),
            None,
        ),
        (
            "WebInstancesDown",
            "job",
            "kept by `without (instance)`",
            &["web"],
            Direction::Below,
            None,
            Some(1.0),
        ),
        (
            "KubeDeploymentReplicasMismatch",
            "deployment",
            "`kube_deployment_*` series name a Deployment",
            &[],
            Direction::Above,
            Some(0.0),
            None,
        ),
        (
            "KubeHpaMaxedOut",
            "horizontalpodautoscaler",
            "`kube_horizontalpodautoscaler_*`",
            &[],
            Direction::Below,
            Some(1.0),
            None,
        ),
        (
            "KubePodNotReady",
            "pod",
            "of `namespace`, `pod`, `pod` is the one that names components",
            &[],
            Direction::Above,
            Some(0.0),
            None,
        ),
        (
            "ContainerMemoryNearLimit",
            "container",
            "`container_*` series name a container",
            &[],
            Direction::Above,
            Some(0.9),
            None,
        ),
        (
            "KubeStateMetricsDown",
            "job",
            "the selector picks `job=\"kube-state-metrics\"`",
            &["kube-state-metrics"],
            Direction::Above,
            None,
            Some(0.0),
        ),
    ];
    for (alert, label, why, components, direction, warning, critical) in rows {
        let o = from_alert(&r, alert);
        assert_eq!(o.component_label, label, "{alert}");
        assert!(
            o.component_label_why.contains(why),
            "{alert}: {}",
            o.component_label_why
        );
        assert_eq!(o.components, components, "{alert}");
        assert_eq!(
            (o.direction, o.warning, o.critical),
            (direction, warning, critical),
            "{alert}"
        );
    }
    // No objective of a `by (instance)` expression is left on `service`.
    for o in &r.objectives {
        if o.expr.contains("by (instance)") {
            assert_eq!(o.component_label, "instance", "{}", o.name);
        }
    }
}

#[test]
fn mixed_comparisons_of_two_series_are_rewritten_exactly() {
    let r = mixed();
    let o = from_alert(&r, "KubeDeploymentReplicasMismatch");
    assert_eq!(
        o.expr,
        "abs(kube_deployment_spec_replicas{job=\"kube-state-metrics\"} - \
         kube_deployment_status_replicas_available{job=\"kube-state-metrics\"})"
    );
    assert!(
        o.notes[0].contains("became `abs(a - b)` above 0"),
        "{:?}",
        o.notes
    );
    let o = from_alert(&r, "KubeHpaMaxedOut");
    assert_eq!(
        o.expr,
        "abs(kube_horizontalpodautoscaler_status_current_replicas{job=\"kube-state-metrics\"} - \
         kube_horizontalpodautoscaler_spec_max_replicas{job=\"kube-state-metrics\"})"
    );
    assert!(
        o.notes[0].contains("reading both as whole numbers"),
        "{:?}",
        o.notes
    );
    // `a > b * 0.9` with `b` a size in bytes: the ratio against 0.9.
    let o = from_alert(&r, "ContainerMemoryNearLimit");
    assert_eq!(
        o.expr,
        "container_memory_working_set_bytes{container!=\"\"} / \
         container_spec_memory_limit_bytes{container!=\"\"}"
    );
    assert!(o.notes[0].contains("is never negative"), "{:?}", o.notes);
    assert_eq!(o.signal, Signal::Memory);
}

#[test]
fn mixed_absent_rules_become_absent_objectives() {
    let r = mixed();
    let o = from_alert(&r, "ApiDown");
    assert!(o.absent);
    assert_eq!(o.expr, "up{job=\"api\"}");
    assert_eq!(o.signal, Signal::Availability);
    let o = from_alert(&r, "KubeStateMetricsDown");
    assert!(o.absent);
    assert_eq!(o.expr, "up{job=\"kube-state-metrics\"} == 1");
    let yaml = render_objectives(&r);
    assert!(
        yaml.contains("  - name: api_down\n    absent: \"up{job=\\\"api\\\"}\"\n    component_label: job\n    components: [api]\n"),
        "{yaml}"
    );
    assert!(
        yaml.contains("  # from alert ApiDown (mixed-rules.yml:50, critical when absent)\n"),
        "{yaml}"
    );
}

#[test]
fn mixed_skipped_rules_say_why_and_what_to_write() {
    let r = mixed();
    let reasons: Vec<(&str, u64, &str)> = r
        .skipped
        .iter()
        .map(|s| (s.rule.as_str(), s.line, s.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 2);
    assert_eq!((reasons[0].0, reasons[0].1), ("TotalTrafficDropped", 58));
    assert!(
        reasons[0]
            .2
            .contains("`sum(...)` without `by` keeps no label")
            && reasons[0]
                .2
                .contains("aggregate `by` the label that names the component"),
        "{}",
        reasons[0].2
    );
    assert_eq!(
        (reasons[1].0, reasons[1].1),
        ("NodeFilesystemAlmostOutOfSpace", 76)
    );
    assert!(
        reasons[1].2.contains("`and` at the top level"),
        "{}",
        reasons[1].2
    );
}

#[test]
fn mixed_import_loads_as_a_charter() {
    let r = mixed();
    let yaml = render_objectives(&r);
    let dir = std::env::temp_dir().join(format!("charter-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("imported.yaml");
    let text = format!(
        "name: imported\ncomponents:\n  - name: api\n  - name: web\n  - name: kube-state-metrics\n{yaml}"
    );
    std::fs::write(&path, &text).expect("write charter");
    let loaded = charter_model::load_charter(&path);
    let _ = std::fs::remove_dir_all(&dir);
    let (charter, issues) = loaded.unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(issues.iter().all(|i| i.warning), "{issues:#?}");
    assert_eq!(charter.objectives.len(), 11);
    let api_down = charter
        .objectives
        .iter()
        .find(|o| o.name == "api_down")
        .expect("api_down");
    assert_eq!(
        api_down.source,
        ObjectiveSource::Absent("up{job=\"api\"}".into())
    );
    assert_eq!(api_down.components, ["api"]);
    assert_eq!(
        (api_down.thresholds.critical, api_down.direction),
        (Some(0.0), Direction::Above)
    );
    let cpu = charter
        .objectives
        .iter()
        .find(|o| o.name == "node_high_cpu_usage")
        .expect("cpu");
    assert_eq!(cpu.component_label, "instance");
}
