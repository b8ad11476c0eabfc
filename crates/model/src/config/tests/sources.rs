//! `source:` and `alerts:`.

use super::*;

#[test]
fn prometheus_source_and_alerts_are_parsed_with_defaults() {
    let text = VALID.replace(
        "mode: autonomous\n",
        "mode: autonomous\nsource:\n  prometheus: { url: \"http://127.0.0.1:9090/\", timeout: 5s }\nalerts: { token_file: tok }\n",
    );
    let (c, _) = parse_charter(&text, "shop.yaml", Path::new("/etc/charter")).expect("valid");
    let SourceSpec::Prometheus(p) = &c.source else {
        panic!("prometheus source")
    };
    assert_eq!(p.url, "http://127.0.0.1:9090");
    assert_eq!(p.timeout, Duration::from_secs(5));
    assert_eq!((p.max_in_flight, p.blind_after), (8, 4));
    let a = c.alerts.expect("alerts");
    assert_eq!(a.token_file, Some(PathBuf::from("/etc/charter/tok")));
    assert_eq!(
        (a.objective_label.as_str(), a.component_label.as_str()),
        ("alertname", "service")
    );

    let no_token = VALID.replace(
        "mode: autonomous\n",
        "mode: autonomous\nalerts: { objective_label: alertname }\n",
    );
    one(&no_token, "needs `token_file`");
    let open = VALID.replace(
        "mode: autonomous\n",
        "mode: autonomous\nalerts: { auth: none }\n",
    );
    let (c, _) = parse_charter(&open, "shop.yaml", Path::new(".")).expect("valid");
    assert_eq!(c.alerts.map(|a| a.token_file), Some(None));
}

#[test]
fn prometheus_source_settings_are_checked() {
    let text = VALID.replace(
        "mode: autonomous\n",
        "mode: autonomous\nsource:\n  prometheus: { url: \"ftp://prom\", max_in_flight: 0, blind_after: 0 }\n",
    );
    assert_eq!(
        located(&text),
        [
            "5:22: source.prometheus.url: must start with http:// or https://",
            "5:51: source.prometheus.max_in_flight: 0 is out of range: must be between 1 and 1024",
            "5:67: source.prometheus.blind_after: 0 is out of range: must be between 1 and 1000",
        ]
    );
}

#[test]
fn without_a_source_samples_come_from_the_simulator() {
    let (c, _) = parse_charter(VALID, "shop.yaml", Path::new(".")).expect("valid");
    assert_eq!(
        c.source,
        SourceSpec::Simulator {
            scenario: None,
            seed: None
        }
    );
    assert_eq!(c.alerts, None);
}

#[test]
fn prometheus_change_queries_are_parsed_with_default_labels() {
    let text = VALID.replace(
        "mode: autonomous\n",
        "mode: autonomous\nsource:\n  prometheus:\n    url: http://prom:9090\n    changes:\n      revision: max by (service) (deploy_revision)\n      info: build_info\n",
    );
    let (c, _) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    let SourceSpec::Prometheus(p) = &c.source else {
        panic!("prometheus source")
    };
    let q = p.changes.as_ref().expect("changes");
    assert_eq!(
        q.revision.as_deref(),
        Some("max by (service) (deploy_revision)")
    );
    assert_eq!(q.info.as_deref(), Some("build_info"));
    assert_eq!(
        (q.component_label.as_str(), q.version_label.as_str()),
        ("service", "version")
    );

    let without = VALID.replace(
        "mode: autonomous\n",
        "mode: autonomous\nsource:\n  prometheus: { url: \"http://prom:9090\" }\n",
    );
    let (c, _) = parse_charter(&without, "shop.yaml", Path::new(".")).expect("valid");
    let SourceSpec::Prometheus(p) = &c.source else {
        panic!("prometheus source")
    };
    assert_eq!(p.changes, None);
}

#[test]
fn prometheus_change_queries_are_checked() {
    let neither = VALID.replace(
        "mode: autonomous\n",
        "mode: autonomous\nsource:\n  prometheus:\n    url: http://prom:9090\n    changes: { version_label: v }\n",
    );
    assert_eq!(
        located(&neither),
        [
            "7:14: source.prometheus.changes: needs `revision` (a query whose value changes with every deploy) or `info` (a query whose version label names what runs), or both"
        ]
    );
    let bad = VALID.replace(
        "mode: autonomous\n",
        "mode: autonomous\nsource:\n  prometheus:\n    url: http://prom:9090\n    changes: { revision: \"sum(\", info: \" \" }\n",
    );
    let issues = located(&bad);
    assert_eq!(issues.len(), 2, "{issues:?}");
    assert!(
        issues[0].starts_with("7:26: source.prometheus.changes.revision: "),
        "{issues:?}"
    );
    assert_eq!(
        issues[1],
        "7:40: source.prometheus.changes.info: must be a PromQL query, not empty"
    );
}

#[test]
fn change_event_mappings_must_name_declared_components() {
    let text = VALID.replace(
        "mode: autonomous\n",
        "mode: autonomous\nchanges:\n  applications:\n    argocd/shop-api: api\n    web: frontend\n",
    );
    let (c, _) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    let declared = |n: &str| ["frontend", "api", "db"].contains(&n);
    // `namespace/name` first, then `name`, then a component of that very name.
    assert_eq!(
        c.changes.component_of(Some("argocd"), "shop-api", declared),
        Some("api".into())
    );
    assert_eq!(
        c.changes.component_of(Some("other"), "shop-api", declared),
        None
    );
    assert_eq!(
        c.changes.component_of(Some("flux-system"), "web", declared),
        Some("frontend".into())
    );
    assert_eq!(
        c.changes.component_of(Some("apps"), "db", declared),
        Some("db".into())
    );
    assert_eq!(c.changes.component_of(None, "billing", declared), None);

    let bad = VALID.replace(
        "mode: autonomous\n",
        "mode: autonomous\nchanges:\n  applications:\n    argocd/billing: payments\n    a/b/c: api\n",
    );
    assert_eq!(
        located(&bad),
        [
            "6:21: changes.applications.argocd/billing: names `payments`, which is not a declared component",
            "7:12: changes.applications.a/b/c: the key must be an application's `name` or `namespace/name`",
        ]
    );
}

#[test]
fn rollouts_are_watched_unless_the_charter_says_not() {
    let (c, _) = parse_charter(VALID, "shop.yaml", Path::new(".")).expect("valid");
    assert!(c.changes.watch_rollouts);
    let text = VALID.replace(
        "mode: autonomous\n",
        "mode: autonomous\nchanges:\n  watch_rollouts: false\n",
    );
    let (c, _) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    assert!(!c.changes.watch_rollouts);
    let text = VALID.replace(
        "mode: autonomous\n",
        "mode: autonomous\nchanges:\n  watch_rollout: false\n",
    );
    let err = parse_charter(&text, "shop.yaml", Path::new("."))
        .expect_err("a misspelt key is refused")
        .to_string();
    assert!(err.contains("watch_rollout"), "{err}");
}
