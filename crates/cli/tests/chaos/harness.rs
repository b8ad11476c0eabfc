//! The chaos suite's harness: `charter run` daemons with their logs and addresses,
//! the simulator's ledger, a real Prometheus, charters written for each scenario,
//! polling with deadlines, and the tally line every scenario prints.
//!
//! Every process is a [`Proc`] (killed and reaped when dropped), every port comes
//! from the OS, every file lives in the scenario's temporary directory, and every
//! failure message carries the tails of the logs.

use crate::common::{Proc, charter_bin, tail, wait_for_line};
use charter_testkit::WESTWORLD_COMPONENTS;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Print the scenario's tally line, `chaos: NAME: OBSERVED (expected EXPECTED)`.
///
/// Written to the process's stderr directly, not through `eprintln!`, so that the
/// test harness does not capture it: `cargo test` shows it for passing tests too.
pub fn tally(scenario: &str, observed: &str, expected: &str) {
    let line = format!("chaos: {scenario}: {observed} (expected {expected})\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// A free loopback port (bound, then released: the process that takes it binds it
/// again at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("local addr")
        .port()
}

/// An HTTP client that never goes through a proxy and gives up after 10 s.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// The tails of several logs, each under its name, for failure messages.
pub fn tails(logs: &[&Path]) -> String {
    logs.iter()
        .map(|l| format!("--- {} ---\n{}", l.display(), tail(l, 40)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Poll `check` every 100 ms until it returns `Some`, or `None` after `timeout`.
pub async fn poll<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `charter` process started in the background, its log (stdout and stderr).
pub struct Spawned {
    pub proc: Proc,
    pub log: PathBuf,
}

impl Spawned {
    /// Start `charter ARGS` in `dir`, logging to `dir/NAME.log` (appended).
    pub fn charter(dir: &Path, name: &str, args: &[&str]) -> Spawned {
        let log = dir.join(format!("{name}.log"));
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(charter_bin())
            .args(args)
            // Plain logs: they end up in failure messages.
            .env("NO_COLOR", "1")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `charter {}`: {e}", args.join(" ")));
        Spawned {
            proc: Proc(child),
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.proc.0.id()
    }

    /// The exit status, if the process has ended within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.proc.0.try_wait().expect("poll child") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then wait up to 20 s for a clean exit (the store closed); SIGKILL
    /// after that. The exit status if it ended by itself.
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.proc.0.try_wait().expect("poll child") {
            return Some(status);
        }
        crate::common::signal(&self.proc.0, "TERM");
        let status = self.wait_exit(Duration::from_secs(20));
        if status.is_none() {
            let _ = self.proc.0.kill();
            let _ = self.proc.0.wait();
        }
        status
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.proc.0.kill();
        let _ = self.proc.0.wait();
    }

    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A `charter run` daemon that reported its address.
pub struct Daemon {
    pub run: Spawned,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl Daemon {
    /// `charter --log info run CHARTER --db DB --listen 127.0.0.1:0` in `dir`; waits
    /// for the line that names its address, and fails with the log if the process
    /// ends first or does not say within 60 s.
    pub fn start(dir: &Path, name: &str, charter: &Path, db: &Path) -> Daemon {
        let mut run = Spawned::charter(
            dir,
            name,
            &[
                "--log",
                "info",
                "run",
                charter.to_str().expect("utf-8 path"),
                "--db",
                db.to_str().expect("utf-8 path"),
                "--listen",
                "127.0.0.1:0",
            ],
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(rest) = wait_for_line(&run.log, "http on ", Duration::from_millis(200)) {
                let addr = rest
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                return Daemon {
                    run,
                    url: format!("http://{addr}"),
                };
            }
            if let Some(status) = run.wait_exit(Duration::ZERO) {
                panic!(
                    "`charter run` ({name}) ended with {status} before serving\n{}",
                    tail(&run.log, 40)
                );
            }
            assert!(
                Instant::now() < deadline,
                "`charter run` ({name}) did not report its address within 60 s\n{}",
                tail(&run.log, 40)
            );
        }
    }

    /// Wait until `/readyz` answers `code`; its body.
    pub async fn wait_ready(&self, http: &reqwest::Client, code: u16, timeout: Duration) -> String {
        let url = format!("{}/readyz", self.url);
        poll(timeout, || async {
            let r = http.get(&url).send().await.ok()?;
            (r.status().as_u16() == code).then_some(())?;
            r.text().await.ok()
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "/readyz did not answer {code} within {timeout:?}\n{}",
                tail(&self.run.log, 40)
            )
        })
    }

    /// `/readyz`: status and body, `None` when unreachable.
    pub async fn readyz(&self, http: &reqwest::Client) -> Option<(u16, String)> {
        let r = http.get(format!("{}/readyz", self.url)).send().await.ok()?;
        let code = r.status().as_u16();
        Some((code, r.text().await.unwrap_or_default()))
    }

    /// `/api/v1/state`, `None` when unreachable.
    pub async fn state(&self, http: &reqwest::Client) -> Option<Value> {
        let r = http
            .get(format!("{}/api/v1/state", self.url))
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    /// Post an Alertmanager webhook (version 4) with `alerts`; the status and body, or
    /// the transport error.
    pub async fn post_alerts(
        &self,
        http: &reqwest::Client,
        token: &str,
        alerts: &[Value],
    ) -> Result<(u16, String), String> {
        let body = serde_json::json!({
            "version": "4",
            "groupKey": "{}:{alertname=\"chaos\"}",
            "status": "firing",
            "receiver": "charter",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.invalid",
            "alerts": alerts,
        });
        let r = http
            .post(format!("{}/api/v1/alerts", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("{e}"))?;
        let code = r.status().as_u16();
        Ok((code, r.text().await.unwrap_or_default()))
    }
}

/// One alert of a webhook, as Alertmanager sends it.
pub fn alert(fingerprint: &str, labels: &[(&str, &str)], starts_at: &str) -> Value {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    serde_json::json!({
        "status": "firing",
        "labels": labels,
        "annotations": {},
        "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.invalid/graph",
        "fingerprint": fingerprint,
    })
}

/// RFC 3339 (UTC, seconds) of `t`, for webhook bodies.
pub fn rfc3339(t: charter_model::Timestamp) -> String {
    let secs = t.millis().div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `charter sim serve` and what its ledger says.
pub struct Sim {
    /// Kept for its drop: the server dies with the scenario.
    _proc: Proc,
    pub base: String,
    pub log: PathBuf,
}

/// The simulator's ledger (`GET /v1/effects`): per idempotency key, how often it
/// changed the world and how often it was posted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    pub effects: BTreeMap<String, u64>,
    pub requests: BTreeMap<String, u64>,
}

impl Ledger {
    /// Every `POST /v1/actions` the server received.
    pub fn posts(&self) -> u64 {
        self.requests.values().sum()
    }

    /// Keys that changed the world.
    pub fn landed(&self) -> Vec<String> {
        self.effects
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

impl Sim {
    pub fn start(dir: &Path, seed: u64, speed: f64, action_delay: &str) -> Sim {
        let (proc, base) = crate::common::start_simulator(dir, seed, speed, action_delay);
        Sim {
            _proc: proc,
            base,
            log: dir.join("sim.log"),
        }
    }

    /// `host:port` of the server.
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    pub async fn ledger(&self, http: &reqwest::Client) -> Ledger {
        let v: Value = http
            .get(format!("{}/v1/effects", self.base))
            .send()
            .await
            .expect("GET /v1/effects")
            .json()
            .await
            .expect("effects body");
        let map = |field: &str| -> BTreeMap<String, u64> {
            v[field]
                .as_object()
                .unwrap_or_else(|| panic!("no `{field}` in {v}"))
                .iter()
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                .collect()
        };
        Ledger {
            effects: map("effects"),
            requests: map("requests"),
        }
    }

    /// The action the server recorded under `key` (`GET /v1/actions/{key}`).
    pub async fn action(&self, http: &reqwest::Client, key: &str) -> Option<Value> {
        let r = http
            .get(format!("{}/v1/actions/{key}", self.base))
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json::<Value>().await.ok().map(|v| v["action"].clone())
    }

    /// A component's state (`GET /v1/components/{name}`).
    pub async fn component(&self, http: &reqwest::Client, name: &str) -> Value {
        http.get(format!("{}/v1/components/{name}", self.base))
            .send()
            .await
            .expect("GET /v1/components")
            .json()
            .await
            .expect("component body")
    }

    /// Inject a fault now (`POST /faults`); the server must accept it.
    pub async fn inject(&self, http: &reqwest::Client, fault: Value) {
        let r = http
            .post(format!("{}/faults", self.base))
            .json(&fault)
            .send()
            .await
            .expect("POST /faults");
        let code = r.status().as_u16();
        assert_eq!(
            code,
            201,
            "fault {fault} refused: {}",
            r.text().await.unwrap_or_default()
        );
    }
}

/// A real Prometheus scraping the simulator every second.
pub struct Prometheus {
    pub proc: Option<Proc>,
    pub port: u16,
    pub log: PathBuf,
    dir: PathBuf,
}

impl Prometheus {
    /// Start Prometheus in `dir` on a free port, scraping `target` (`host:port`)
    /// every second. A missing binary fails the scenario: it is never skipped.
    pub fn start(dir: &Path, target: &str) -> Prometheus {
        std::fs::write(
            dir.join("prometheus.yml"),
            format!(
                "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\n\
                 scrape_configs:\n  - job_name: westworld\n    static_configs: [{{ targets: [\"{target}\"] }}]\n"
            ),
        )
        .expect("write prometheus.yml");
        let mut p = Prometheus {
            proc: None,
            port: free_port(),
            log: dir.join("prometheus.log"),
            dir: dir.to_path_buf(),
        };
        p.restart();
        p
    }

    /// (Re)start the server on its port and data directory.
    pub fn restart(&mut self) {
        let bin = std::env::var("CHARTER_PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".into());
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(&bin)
            .arg("--config.file=prometheus.yml")
            .arg("--storage.tsdb.path=prom-data")
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start Prometheus ({bin}): {e}; scripts/test installs it \
                     (or set CHARTER_PROMETHEUS_BIN)"
                )
            });
        self.proc = Some(Proc(child));
    }

    /// SIGKILL the server.
    pub fn kill(&mut self) {
        self.proc = None;
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Wait until Prometheus has scraped `metric` from the simulator.
    pub async fn wait_for_series(&self, http: &reqwest::Client, metric: &str, timeout: Duration) {
        let url = format!("{}/api/v1/query?query={metric}", self.url());
        let seen = poll(timeout, || async {
            let v: Value = http.get(&url).send().await.ok()?.json().await.ok()?;
            (!v["data"]["result"].as_array()?.is_empty()).then_some(())
        })
        .await;
        assert!(
            seen.is_some(),
            "Prometheus did not scrape `{metric}` within {timeout:?}\n{}",
            tail(&self.log, 30)
        );
    }
}

/// A charter for one scenario: every Westworld component on one HTTP actuator, the
/// CPU objective with the given remedies, the given actions and guardrails.
pub struct CharterSpec<'a> {
    pub name: &'a str,
    pub interval_ms: u64,
    pub mode: &'a str,
    /// The Prometheus API the source reads (the simulator's own, or a real server).
    pub source_url: &'a str,
    pub blind_after: u32,
    /// The HTTP actuator's base URL and timeout.
    pub actuator_url: &'a str,
    pub actuator_timeout_ms: u64,
    /// With a webhook token file (`alert-token`, holding [`ALERT_TOKEN`]).
    pub alerts: bool,
    /// The remedies of `cpu_utilization`.
    pub remedies: &'a str,
    /// The `actions:` entries, one a line, indented by two spaces.
    pub actions: &'a str,
    /// The `guardrails:` entries, one a line, indented by two spaces.
    pub guardrails: &'a str,
}

/// The webhook's bearer token in charters with `alerts: true`.
pub const ALERT_TOKEN: &str = "chaos-alert-token";

impl Default for CharterSpec<'_> {
    fn default() -> Self {
        CharterSpec {
            name: "chaos",
            interval_ms: 300,
            mode: "autonomous",
            source_url: "",
            blind_after: 3,
            actuator_url: "",
            actuator_timeout_ms: 5000,
            alerts: false,
            remedies: "[scale_out]",
            actions: "  scale_out: { cost: 1, step: 1, time_to_effect: 2s }\n",
            guardrails: "  max_actions_per_hour: 1000\n  cooldown: 0s\n  max_concurrent: 8\n  \
                         auto_approve_max_cost: 100\n  max_attempts_per_incident: 8\n  \
                         max_reversals: 1000\n",
        }
    }
}

impl CharterSpec<'_> {
    /// Write `dir/charter.yaml` (and `dir/alert-token` when alerts are on).
    pub fn write(&self, dir: &Path) -> PathBuf {
        let components: String = WESTWORLD_COMPONENTS
            .iter()
            .map(|c| {
                format!("  - {{ name: {c}, actuator: sim, replicas: {{ min: 1, max: 1000 }} }}\n")
            })
            .collect();
        let alerts = if self.alerts {
            std::fs::write(dir.join("alert-token"), format!("{ALERT_TOKEN}\n"))
                .expect("write alert token");
            "alerts: { token_file: alert-token }\n"
        } else {
            ""
        };
        let text = format!(
            "name: {name}
interval: {interval}ms
mode: {mode}
source:
  prometheus: {{ url: \"{source}\", timeout: 1s, blind_after: {blind}, retries: 0 }}
{alerts}actuators:
  sim: {{ http: {{ url: \"{actuator}\", timeout: {timeout}ms }} }}
components:
{components}objectives:
  - name: cpu_utilization
    metric: westworld_cpu_utilization
    signal: utilization
    above: {{ warning: 0.85, critical: 1.0, clear: 0.75 }}
    remedies: {remedies}
actions:
{actions}guardrails:
{guardrails}",
            name = self.name,
            interval = self.interval_ms,
            mode = self.mode,
            source = self.source_url,
            blind = self.blind_after,
            actuator = self.actuator_url,
            timeout = self.actuator_timeout_ms,
            remedies = self.remedies,
            actions = self.actions,
            guardrails = self.guardrails,
        );
        let path = dir.join("charter.yaml");
        std::fs::write(&path, text).expect("write charter");
        path
    }
}

/// Write zeros to `path` until the file system refuses any more; how many bytes it
/// took.
pub fn fill(path: &Path) -> u64 {
    let mut f = File::create(path).expect("create filler");
    let chunk = vec![0u8; 16 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(_) => break,
        }
    }
    // Whatever fits of a smaller write: leave no byte free.
    for size in [4096usize, 512, 1] {
        while f.write(&chunk[..size]).map(|n| n > 0).unwrap_or(false) {
            written += size as u64;
        }
    }
    let _ = f.sync_all();
    written
}
