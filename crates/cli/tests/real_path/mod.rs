//! The real path, started for a test: `charter sim serve`, a real Prometheus scraping
//! it and evaluating alerting rules every second, a real Alertmanager whose webhook
//! points at Charter (bearer token from a file), and `charter run` on a charter —
//! all on free loopback ports in a temporary directory, every process killed when the
//! [`Stack`] is dropped (also on failure). The same servers and settings as
//! `e2e_prometheus.rs`; the charter and the rules are the test's.
//!
//! The binaries come from Debian's `prometheus` and `prometheus-alertmanager`
//! (`scripts/test` installs them); CHARTER_PROMETHEUS_BIN and
//! CHARTER_ALERTMANAGER_BIN override their paths. A missing binary fails the test: it
//! is never skipped.
//!
//! [`Stack::start_on`] with [`Metrics::VictoriaMetrics`] puts Debian's
//! `victoria-metrics` in Prometheus's place (it scrapes the simulator and serves the
//! query API, with its default flags) and its `vmalert` evaluating the rules against
//! it for Alertmanager; CHARTER_VICTORIA_METRICS_BIN and CHARTER_VMALERT_BIN override
//! their paths.

use crate::servers::{Proc, bin, free_port};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The webhook's bearer token.
pub const TOKEN: &str = "real-path-token";

impl Drop for Stack {
    /// With REAL_PATH_KEEP set, the directory (configs, logs, Charter's store) is kept
    /// for a look after the test.
    fn drop(&mut self) {
        if std::env::var_os("REAL_PATH_KEEP").is_some() {
            let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().expect("tempdir"));
            eprintln!("kept {}", dir.keep().display());
        }
    }
}

/// What stores the simulator's metrics and serves the query API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metrics {
    /// Prometheus, evaluating the rules itself.
    Prometheus,
    /// VictoriaMetrics single-node, with vmalert evaluating the rules.
    #[allow(dead_code)] // victoriametrics.rs
    VictoriaMetrics,
}

/// Ports of the stack's servers.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub sim: u16,
    /// The query API: Prometheus's, or VictoriaMetrics' with [`Metrics::VictoriaMetrics`].
    pub prometheus: u16,
    pub alertmanager: u16,
    pub charter: u16,
}

/// The running servers.
pub struct Stack {
    pub ports: Ports,
    pub http: reqwest::Client,
    procs: Vec<Proc>,
    _dir: tempfile::TempDir,
}

impl Stack {
    /// Start the servers: `charter(ports)` is the charter's text, `rules` Prometheus's
    /// rule file. Returns when Prometheus scrapes the simulator, Alertmanager is
    /// ready and Charter is ready.
    pub async fn start(seed: u64, charter: impl Fn(Ports) -> String, rules: &str) -> Stack {
        Stack::start_on(Metrics::Prometheus, seed, charter, rules).await
    }

    /// [`Stack::start`] with `metrics` storing the metrics and serving the queries.
    pub async fn start_on(
        metrics: Metrics,
        seed: u64,
        charter: impl Fn(Ports) -> String,
        rules: &str,
    ) -> Stack {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_path_buf();
        let ports = Ports {
            sim: free_port(),
            prometheus: free_port(),
            alertmanager: free_port(),
            charter: free_port(),
        };
        let write = |name: &str, text: &str| std::fs::write(d.join(name), text).expect("write");
        write("alert-token", &format!("{TOKEN}\n"));
        write("charter.yaml", &charter(ports));
        write("rules.yml", rules);
        write(
            "prometheus.yml",
            &format!(
                r#"global: {{ scrape_interval: 1s, evaluation_interval: 1s }}
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - static_configs: [{{ targets: ["127.0.0.1:{}"] }}]
scrape_configs:
  - job_name: westworld
    static_configs: [{{ targets: ["127.0.0.1:{}"] }}]
"#,
                ports.alertmanager, ports.sim
            ),
        );
        write(
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
      - url: http://127.0.0.1:{}/api/v1/alerts
        send_resolved: true
        http_config:
          authorization: {{ type: Bearer, credentials_file: {} }}
"#,
                ports.charter,
                d.join("alert-token").display()
            ),
        );
        let charter_bin = env!("CARGO_BIN_EXE_charter");
        let mut procs = vec![Proc::start(
            "sim",
            &d,
            charter_bin,
            &[
                "sim".into(),
                "serve".into(),
                "--listen".into(),
                format!("127.0.0.1:{}", ports.sim),
                "--seed".into(),
                seed.to_string(),
            ],
        )];
        procs.push(Proc::start(
            "alertmanager",
            &d,
            &bin("CHARTER_ALERTMANAGER_BIN", "prometheus-alertmanager"),
            &[
                "--config.file=alertmanager.yml".into(),
                "--storage.path=am-data".into(),
                format!("--web.listen-address=127.0.0.1:{}", ports.alertmanager),
                "--cluster.listen-address=".into(),
            ],
        ));
        match metrics {
            Metrics::Prometheus => procs.push(Proc::start(
                "prometheus",
                &d,
                &bin("CHARTER_PROMETHEUS_BIN", "prometheus"),
                &[
                    "--config.file=prometheus.yml".into(),
                    "--storage.tsdb.path=prom-data".into(),
                    format!("--web.listen-address=127.0.0.1:{}", ports.prometheus),
                ],
            )),
            Metrics::VictoriaMetrics => {
                // Its scraper refuses Prometheus's `rule_files` and `alerting`.
                write(
                    "scrape.yml",
                    &format!(
                        "global: {{ scrape_interval: 1s }}\nscrape_configs:\n  - job_name: westworld\n    static_configs: [{{ targets: [\"127.0.0.1:{}\"] }}]\n",
                        ports.sim
                    ),
                );
                procs.push(Proc::start(
                    "victoria-metrics",
                    &d,
                    &bin("CHARTER_VICTORIA_METRICS_BIN", "victoria-metrics"),
                    &[
                        format!("-httpListenAddr=127.0.0.1:{}", ports.prometheus),
                        "-storageDataPath=vm-data".into(),
                        "-promscrape.config=scrape.yml".into(),
                        "-loggerLevel=WARN".into(),
                    ],
                ));
                procs.push(Proc::start(
                    "vmalert",
                    &d,
                    &bin("CHARTER_VMALERT_BIN", "vmalert"),
                    &[
                        "-rule=rules.yml".into(),
                        format!("-datasource.url=http://127.0.0.1:{}", ports.prometheus),
                        format!("-notifier.url=http://127.0.0.1:{}", ports.alertmanager),
                        "-evaluationInterval=1s".into(),
                        format!("-httpListenAddr=127.0.0.1:{}", free_port()),
                        "-loggerLevel=WARN".into(),
                    ],
                ));
            }
        }
        procs.push(Proc::start(
            "charter",
            &d,
            charter_bin,
            &[
                "run".into(),
                "charter.yaml".into(),
                "--listen".into(),
                format!("127.0.0.1:{}", ports.charter),
                "--db".into(),
                "k.db".into(),
                "--log".into(),
                "info".into(),
            ],
        ));
        let stack = Stack {
            ports,
            http: reqwest::Client::new(),
            procs,
            _dir: dir,
        };
        // nocache=1: VictoriaMetrics would otherwise answer for 30 s ago.
        let up = format!(
            "http://127.0.0.1:{}/api/v1/query?query=up%7Bjob%3D%22westworld%22%7D&nocache=1",
            ports.prometheus
        );
        stack
            .wait_for(
                "the metrics store to scrape the simulator",
                Duration::from_secs(60),
                || async {
                    let v = stack.get_json(&up).await?;
                    (v["data"]["result"][0]["value"][1].as_str() == Some("1")).then_some(())
                },
            )
            .await;
        for (what, url) in [
            (
                "alertmanager ready",
                format!("http://127.0.0.1:{}/-/ready", ports.alertmanager),
            ),
            (
                "charter ready",
                format!("http://127.0.0.1:{}/readyz", ports.charter),
            ),
        ] {
            stack
                .wait_for(what, Duration::from_secs(30), || async {
                    let r = stack.http.get(&url).send().await.ok()?;
                    r.status().is_success().then_some(())
                })
                .await;
        }
        stack
    }

    /// Kill the server process `name` (e.g. `victoria-metrics`).
    #[allow(dead_code)] // victoriametrics.rs
    pub fn stop(&mut self, name: &str) {
        let p = self.procs.iter_mut().find(|p| p.name == name);
        p.unwrap_or_else(|| panic!("no process {name}")).stop();
    }

    /// The last lines of every process's log.
    pub fn logs(&self) -> String {
        self.procs
            .iter()
            .map(|p| p.tail(60))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `GET url` as JSON, `None` on any failure.
    pub async fn get_json(&self, url: &str) -> Option<Value> {
        let r = self.http.get(url).send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().await.ok()
    }

    /// Poll `check` every 250 ms until it returns Some, or fail with the logs.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, timeout: Duration, mut check: F) -> T
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

    /// Inject a fault into the simulator (`POST /faults`).
    pub async fn inject(&self, fault: Value) {
        let r = self
            .http
            .post(format!("http://127.0.0.1:{}/faults", self.ports.sim))
            .json(&fault)
            .send()
            .await
            .expect("inject");
        let status = r.status().as_u16();
        assert_eq!(
            status,
            201,
            "{fault}: {}",
            r.text().await.unwrap_or_default()
        );
    }

    /// Every policy Charter decided, oldest first.
    pub async fn policies(&self) -> Option<Vec<Value>> {
        let v = self
            .get_json(&format!(
                "http://127.0.0.1:{}/api/v1/policies?limit=100",
                self.ports.charter
            ))
            .await?;
        let mut list = v.as_array()?.clone();
        list.sort_by_key(|p| p["id"].as_u64());
        Some(list)
    }
}
