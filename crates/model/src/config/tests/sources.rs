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
