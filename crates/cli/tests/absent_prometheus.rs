//! `absent()` alerting rules imported as `absent` objectives and read by the
//! Prometheus source from a real Prometheus: a component with no series is violated
//! (1), one with a series is not (0), and a Prometheus that cannot be reached leaves
//! every component Unknown — blindness is never read as absence.
//!
//! The Prometheus binary comes from Debian's `prometheus` (`scripts/test` installs
//! it; CHARTER_PROMETHEUS_BIN overrides the path). A missing binary fails the test.

mod servers;

use charter_model::rules::{ImportOptions, import_rules, render_objectives};
use charter_model::{Charter, SourceSpec, Timestamp};
use charter_monitor::MetricSource;
use charter_monitor::prometheus::{PrometheusSource, query_for};
use servers::{Proc, bin, free_port};
use std::time::{Duration, Instant};

/// Three `absent()` rules in the kube-prometheus style.
const RULES: &str = r#"groups:
  - name: targets
    rules:
      - alert: TargetMissing
        expr: absent(up == 1)
        labels: { severity: warning }
      - alert: ApiDown
        expr: absent(up{job="api"} == 1)
        labels: { severity: critical }
      - alert: PromDown
        expr: absent(up{job="prom"})
        labels: { severity: critical }
"#;

/// The imported objectives under a charter reading Prometheus at `url`, with the
/// three components `prom` (scraped, up), `api` (scraped, down) and `web` (never
/// scraped).
fn imported_charter(url: &str) -> Charter {
    let report = import_rules(
        &[("targets.yml".into(), RULES.into())],
        &ImportOptions {
            component_label: "job".into(),
        },
    );
    assert_eq!(report.objectives.len(), 3, "{:#?}", report.skipped);
    assert!(report.objectives.iter().all(|o| o.absent));
    let text = format!(
        "name: absent\ninterval: 1s\nsource:\n  prometheus:\n    url: \"{url}\"\n    \
         retries: 0\n    timeout: 2s\ncomponents:\n  - name: prom\n  - name: api\n  - name: web\n{}",
        render_objectives(&report)
    );
    charter_testkit::charter_from(&text)
}

fn source_for(charter: &Charter) -> PrometheusSource {
    let SourceSpec::Prometheus(spec) = &charter.source else {
        panic!("a prometheus source")
    };
    PrometheusSource::new(spec).expect("source")
}

/// `objective`/`component` → value, from one observation.
fn values(
    obs: &charter_monitor::Observation,
) -> std::collections::BTreeMap<(String, String), Option<f64>> {
    obs.samples
        .iter()
        .map(|s| ((s.objective.clone(), s.component.clone()), s.value))
        .collect()
}

fn key(objective: &str, component: &str) -> (String, String) {
    (objective.to_string(), component.to_string())
}

#[tokio::test]
async fn absent_objectives_read_absence_from_a_real_prometheus_and_blindness_as_unknown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (prom, dead) = (free_port(), free_port());
    std::fs::write(
        d.join("prometheus.yml"),
        format!(
            "global: {{ scrape_interval: 1s }}\nscrape_configs:\n  - job_name: prom\n    \
             static_configs: [{{ targets: [\"127.0.0.1:{prom}\"] }}]\n  - job_name: api\n    \
             static_configs: [{{ targets: [\"127.0.0.1:{dead}\"] }}]\n"
        ),
    )
    .expect("write");
    let p = Proc::start(
        "prometheus",
        d,
        &bin("CHARTER_PROMETHEUS_BIN", "prometheus"),
        &[
            "--config.file=prometheus.yml".into(),
            "--storage.tsdb.path=prom-data".into(),
            format!("--web.listen-address=127.0.0.1:{prom}"),
        ],
    );
    let url = format!("http://127.0.0.1:{prom}");
    let charter = imported_charter(&url);
    let names: Vec<&str> = charter.objectives.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["target_missing", "api_down", "prom_down"]);
    assert_eq!(
        query_for(&charter.objectives[1]),
        "count by (job) (up{job=\"api\"} == 1)"
    );
    let source = source_for(&charter);

    // Wait until both targets have been scraped: `up` has a series for each job.
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = async {
            let v: serde_json::Value = client
                .get(format!("{url}/api/v1/query"))
                .query(&[("query", "count(up)")])
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            v["data"]["result"][0]["value"][1]
                .as_str()?
                .parse::<u32>()
                .ok()
        }
        .await;
        if n == Some(2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped both targets\n{}",
            p.tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let obs = source
        .observe(&charter, Timestamp::now_wall())
        .await
        .expect("observe");
    let v = values(&obs);
    // `absent(up == 1)` applies to every component: present only for `prom`.
    assert_eq!(v[&key("target_missing", "prom")], Some(0.0), "{obs:?}");
    assert_eq!(v[&key("target_missing", "api")], Some(1.0), "{obs:?}");
    assert_eq!(v[&key("target_missing", "web")], Some(1.0), "{obs:?}");
    // The rules that fix `job` apply to that component only.
    assert_eq!(v[&key("api_down", "api")], Some(1.0), "{obs:?}");
    assert_eq!(v[&key("prom_down", "prom")], Some(0.0), "{obs:?}");
    assert_eq!(v.len(), 5, "{obs:?}");
    assert!(obs.problems.is_empty(), "{:?}", obs.problems);
    // 1 is above the critical threshold of 0: a violation; 0 is not.
    let api_down = &charter.objectives[1];
    assert_eq!(api_down.thresholds.critical, Some(0.0));

    // Blind: Prometheus gone. No component reads as absent; every one is Unknown.
    drop(p);
    let blind = imported_charter(&format!("http://127.0.0.1:{dead}"));
    let result = source_for(&blind)
        .observe(&blind, Timestamp::now_wall())
        .await;
    match result {
        Err(e) => assert!(
            e.to_string().contains("all 3 queries failed"),
            "unexpected error: {e}"
        ),
        Ok(obs) => {
            assert!(!obs.samples.is_empty());
            assert!(obs.samples.iter().all(|s| s.value.is_none()), "{obs:?}");
        }
    }
}
