//! End-to-end against real servers: the simulator served over HTTP, a real
//! Prometheus scraping it every second and evaluating alerting rules every second,
//! a real Alertmanager whose webhook points at Charter (bearer token from a file),
//! and `charter run` with the Prometheus source and the HTTP actuator.
//!
//! The binaries come from Debian's `prometheus` and `prometheus-alertmanager`
//! (`scripts/test` installs them); their paths can be overridden with
//! CHARTER_PROMETHEUS_BIN and CHARTER_ALERTMANAGER_BIN. A missing binary fails the
//! test: it is never skipped. Every process is killed when the test ends, also on
//! failure.

use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

mod servers;

use servers::{Proc, bin, free_port};

struct World {
    dir: tempfile::TempDir,
    http: reqwest::Client,
    sim: u16,
    charter: u16,
    procs: Vec<Proc>,
}

impl World {
    fn logs(&self) -> String {
        self.procs
            .iter()
            .map(|p| p.tail(40))
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn get_json(&self, url: &str) -> Option<Value> {
        let r = self.http.get(url).send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().await.ok()
    }

    async fn status(&self, url: &str) -> Option<(u16, String)> {
        let r = self.http.get(url).send().await.ok()?;
        let code = r.status().as_u16();
        Some((code, r.text().await.unwrap_or_default()))
    }

    /// Poll `check` every 250 ms until it returns Some, or fail with the logs.
    async fn wait_for<T, F, Fut>(&self, what: &str, timeout: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn state(&self) -> Option<Value> {
        self.get_json(&format!("http://127.0.0.1:{}/api/v1/state", self.charter))
            .await
    }

    async fn effects_total(&self) -> Option<u64> {
        let v = self
            .get_json(&format!("http://127.0.0.1:{}/v1/effects", self.sim))
            .await?;
        v["total"].as_u64()
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write config");
}

fn charter_yaml(prom: u16, sim: u16) -> String {
    let comps = [
        ("frontend", "[api]"),
        ("api", "[catalog, orders, auth]"),
        ("catalog", "[db, cache]"),
        ("orders", "[db, queue]"),
        ("auth", "[db]"),
        ("db", "[]"),
        ("cache", "[]"),
        ("queue", "[]"),
    ];
    let mut components = String::new();
    for (name, deps) in comps {
        components.push_str(&format!(
            "  - {{ name: {name}, depends_on: {deps}, actuator: mesh, replicas: {{ min: 1, max: 10 }} }}\n"
        ));
    }
    format!(
        r#"name: e2e
interval: 2s
mode: autonomous
source:
  prometheus: {{ url: "http://127.0.0.1:{prom}", timeout: 2s, blind_after: 3, retries: 0 }}
alerts: {{ token_file: alert-token }}
actuators:
  mesh: {{ http: {{ url: "http://127.0.0.1:{sim}", timeout: 5s }} }}
components:
{components}objectives:
  - name: backend_latency_p99
    metric: westworld_latency_p99_seconds
    components: [catalog, orders, auth, db, cache, queue]
    signal: latency
    above: {{ warning: 0.4, critical: 1.0, clear: 0.3 }}
    for: 10s
    remedies: [scale_out, rollback, restart]
  - name: edge_latency_p99
    metric: westworld_latency_p99_seconds
    components: [frontend, api]
    signal: latency
    above: {{ warning: 0.8, critical: 2.0, clear: 0.6 }}
    for: 10s
    remedies: [scale_out, restart]
  - name: cpu_utilization
    metric: westworld_cpu_utilization
    signal: utilization
    above: {{ warning: 0.85, critical: 1.0, clear: 0.75 }}
    for: 10s
    remedies: [scale_out]
  - name: error_ratio
    metric: westworld_error_ratio
    signal: errors
    above: {{ warning: 0.02, critical: 0.1, clear: 0.01 }}
    for: 10s
    remedies: [rollback, failover, restart]
actions:
  scale_out: {{ cost: 2, step: 2, time_to_effect: 40s }}
  rollback: {{ cost: 4, time_to_effect: 30s }}
guardrails: {{ cooldown: 1m, max_actions_per_hour: 20, max_concurrent: 2 }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_and_alertmanager_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_path_buf();
    let (sim, prom, am, charter) = (free_port(), free_port(), free_port(), free_port());
    let token = "e2e-secret-token";
    write(&d, "alert-token", &format!("{token}\n"));
    write(&d, "charter.yaml", &charter_yaml(prom, sim));
    write(
        &d,
        "rules.yml",
        r#"groups:
  - name: westworld
    interval: 1s
    rules:
      - alert: backend_latency_p99
        expr: westworld_latency_p99_seconds{service=~"catalog|orders|auth|db|cache|queue"} > 0.4
        for: 3s
        labels: { severity: critical }
        annotations: { summary: "p99 latency of {{ $labels.service }} is high" }
"#,
    );
    write(
        &d,
        "prometheus.yml",
        &format!(
            r#"global: {{ scrape_interval: 1s, evaluation_interval: 1s }}
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - static_configs: [{{ targets: ["127.0.0.1:{am}"] }}]
scrape_configs:
  - job_name: westworld
    static_configs: [{{ targets: ["127.0.0.1:{sim}"] }}]
"#
        ),
    );
    write(
        &d,
        "alertmanager.yml",
        &format!(
            r#"route:
  receiver: charter
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: charter
    webhook_configs:
      - url: http://127.0.0.1:{charter}/api/v1/alerts
        send_resolved: true
        http_config:
          authorization: {{ type: Bearer, credentials_file: {} }}
"#,
            d.join("alert-token").display()
        ),
    );

    let charter_bin = env!("CARGO_BIN_EXE_charter");
    let mut w = World {
        dir,
        http: reqwest::Client::new(),
        sim,
        charter,
        procs: Vec::new(),
    };
    w.procs.push(Proc::start(
        "sim",
        &d,
        charter_bin,
        &[
            "sim".into(),
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{sim}"),
            "--seed".into(),
            "5".into(),
        ],
    ));
    w.procs.push(Proc::start(
        "alertmanager",
        &d,
        &bin("CHARTER_ALERTMANAGER_BIN", "prometheus-alertmanager"),
        &[
            "--config.file=alertmanager.yml".into(),
            "--storage.path=am-data".into(),
            format!("--web.listen-address=127.0.0.1:{am}"),
            "--cluster.listen-address=".into(),
        ],
    ));
    w.procs.push(Proc::start(
        "prometheus",
        &d,
        &bin("CHARTER_PROMETHEUS_BIN", "prometheus"),
        &[
            "--config.file=prometheus.yml".into(),
            "--storage.tsdb.path=prom-data".into(),
            format!("--web.listen-address=127.0.0.1:{prom}"),
        ],
    ));
    w.procs.push(Proc::start(
        "charter",
        &d,
        charter_bin,
        &[
            "run".into(),
            "charter.yaml".into(),
            "--listen".into(),
            format!("127.0.0.1:{charter}"),
            "--db".into(),
            "k.db".into(),
            "--log".into(),
            "info".into(),
        ],
    ));

    // Everything up: Prometheus scrapes the simulator and Charter is ready.
    let up_query =
        format!("http://127.0.0.1:{prom}/api/v1/query?query=up%7Bjob%3D%22westworld%22%7D");
    w.wait_for(
        "prometheus to scrape the simulator",
        Duration::from_secs(60),
        || async {
            let v = w.get_json(&up_query).await?;
            (v["data"]["result"][0]["value"][1].as_str() == Some("1")).then_some(())
        },
    )
    .await;
    w.wait_for("alertmanager ready", Duration::from_secs(30), || async {
        w.status(&format!("http://127.0.0.1:{am}/-/ready"))
            .await
            .filter(|(c, _)| *c == 200)
            .map(|_| ())
    })
    .await;
    w.wait_for("charter ready", Duration::from_secs(30), || async {
        w.status(&format!("http://127.0.0.1:{charter}/readyz"))
            .await
            .filter(|(c, _)| *c == 200)
            .map(|_| ())
    })
    .await;
    // Healthy baseline: nothing firing, nothing done.
    let baseline = w.state().await.expect("state");
    assert_eq!(
        baseline["violations"].as_array().map(Vec::len),
        Some(0),
        "baseline: {baseline}"
    );
    assert_eq!(w.effects_total().await, Some(0));

    // Inject a traffic surge on catalog.
    let r = w
        .http
        .post(format!("http://127.0.0.1:{sim}/faults"))
        .json(&serde_json::json!({"kind": "traffic_surge", "target": "catalog", "factor": 2.5, "duration": "10m"}))
        .send()
        .await
        .expect("inject");
    assert_eq!(
        r.status().as_u16(),
        201,
        "{}",
        r.text().await.unwrap_or_default()
    );

    // Seen through both paths, counted once.
    let v = w
        .wait_for(
            "the violation seen by the query and the webhook",
            Duration::from_secs(90),
            || async {
                let s = w.state().await?;
                let vs: Vec<Value> = s["violations"]
                    .as_array()?
                    .iter()
                    .filter(|v| {
                        v["objective"] == "backend_latency_p99" && v["component"] == "catalog"
                    })
                    .cloned()
                    .collect();
                let v = vs.first()?;
                (v["alerted"] == true && v["value"].is_number() && v["state"] == "firing")
                    .then(|| (vs.len(), v.clone()))
            },
        )
        .await;
    assert_eq!(v.0, 1, "one violation per objective and component: {}", v.1);
    // The webhook stored the alert, mapped to the declared objective and component.
    let alerts = w
        .http
        .get(format!("http://127.0.0.1:{charter}/api/v1/alerts"))
        .bearer_auth(token)
        .send()
        .await
        .expect("alerts")
        .json::<Value>()
        .await
        .expect("json");
    let text = alerts.to_string();
    assert!(
        text.contains("backend_latency_p99") && text.contains("catalog"),
        "{text}"
    );

    // The right action: catalog scaled out through the HTTP actuator.
    w.wait_for("catalog scaled out", Duration::from_secs(90), || async {
        let c = w
            .get_json(&format!("http://127.0.0.1:{sim}/v1/components/catalog"))
            .await?;
        (c["replicas"].as_u64()? >= 5).then_some(())
    })
    .await;
    // And the objective recovers.
    w.wait_for(
        "catalog's objectives to recover",
        Duration::from_secs(150),
        || async {
            let s = w.state().await?;
            let firing_on_catalog = s["violations"]
                .as_array()?
                .iter()
                .any(|v| v["component"] == "catalog");
            (!firing_on_catalog).then_some(())
        },
    )
    .await;

    // Blind: stop Prometheus; Charter must say so and take no action. It stays ready
    // (readiness means "can serve"): /readyz answers 200 and names the blindness.
    let prom_idx = w
        .procs
        .iter()
        .position(|p| p.name == "prometheus")
        .expect("prometheus");
    w.procs[prom_idx].stop();
    let (_, why) = w
        .wait_for(
            "charter to report itself blind",
            Duration::from_secs(60),
            || async {
                w.status(&format!("http://127.0.0.1:{charter}/readyz"))
                    .await
                    .filter(|(c, body)| *c == 200 && body.contains("monitor blind"))
            },
        )
        .await;
    assert!(why.contains("blind"), "{why}");
    let metrics = w
        .status(&format!("http://127.0.0.1:{charter}/metrics"))
        .await
        .expect("metrics")
        .1;
    assert!(metrics.contains("charter_blind 1"), "{metrics}");
    let before = w.effects_total().await.expect("effects");
    let r = w
        .http
        .post(format!("http://127.0.0.1:{sim}/faults"))
        .json(&serde_json::json!({"kind": "bad_deploy", "target": "auth"}))
        .send()
        .await
        .expect("inject");
    assert_eq!(r.status().as_u16(), 201);
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        w.effects_total().await,
        Some(before),
        "an action was taken while blind\n{}",
        w.logs()
    );
    let (code, body) = w
        .status(&format!("http://127.0.0.1:{charter}/readyz"))
        .await
        .expect("readyz");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("monitor blind"), "{body}");
    let _ = &w.dir;
}
