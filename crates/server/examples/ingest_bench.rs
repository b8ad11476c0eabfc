//! Webhook ingest benchmark: concurrent clients post Alertmanager v4 payloads over
//! loopback to the real router, backed by a SQLite store on a temporary file (WAL,
//! `synchronous=FULL`: every acknowledged batch is on disk), and the run reports
//! alerts per second and acknowledgement latency.
//!
//! ```text
//! cargo run --release -p charter-server --example ingest_bench -- \
//!     [--seconds 10] [--clients 4] [--batch 50]
//! ```
//!
//! Every alert has a fresh fingerprint, so every one is a new row: the worst case for
//! the store. Clients and server share one process and one tokio runtime, so on a
//! small machine the clients' own work counts against the server's.

use charter_knowledge::{SqliteStore, prelude::*};
use charter_model::parse_charter;
use charter_orchestrator::Health;
use charter_server::{ALERTS_PATH, AlertIngest, ServerState, router};
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use std::error::Error;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const TOKEN: &str = "bench-token-0123456789abcdef";

const CHARTER: &str = r#"
name: bench
source: { simulator: {} }
alerts: { token_file: alert-token }
actuators:
  sim: { simulator: {} }
components:
  - { name: api, depends_on: [db], actuator: sim }
  - { name: frontend, depends_on: [api], actuator: sim }
  - { name: db, actuator: sim }
objectives:
  - name: latency_p99
    metric: http_latency_p99_seconds
    above: { warning: 0.3, critical: 1.0, clear: 0.25 }
    remedies: [scale_out]
"#;

/// Command-line settings.
struct Settings {
    seconds: u64,
    clients: usize,
    batch: usize,
}

impl Settings {
    fn from_args() -> Result<Settings, Box<dyn Error>> {
        let mut s = Settings {
            seconds: 10,
            clients: 4,
            batch: 50,
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let value = args.next().ok_or(format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--seconds" => s.seconds = value.parse()?,
                "--clients" => s.clients = value.parse()?,
                "--batch" => s.batch = value.parse()?,
                other => return Err(format!("unknown flag {other}").into()),
            }
        }
        if s.clients == 0 || s.batch == 0 || s.seconds == 0 {
            return Err("--seconds, --clients and --batch must be positive".into());
        }
        Ok(s)
    }
}

/// One webhook of `batch` new alerts; `client` and `request` make fingerprints unique.
fn payload(client: usize, request: u32, batch: usize) -> Value {
    let services = ["api", "frontend", "db", "payments"];
    let alerts: Vec<Value> = (0..batch)
        .map(|i| {
            let service = services[i % services.len()];
            json!({
                "status": "firing",
                "labels": {
                    "alertname": "latency_p99",
                    "service": service,
                    "severity": if i % 3 == 0 { "critical" } else { "warning" },
                    "instance": format!("10.0.{}.{}:8080", i / 250, i % 250),
                    "job": "shop",
                },
                "annotations": {
                    "summary": format!("p99 latency high on {service}"),
                    "description": "p99 latency has been above 1s for 5 minutes",
                },
                "startsAt": "2024-05-01T12:00:00.123456789Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=http_latency_p99_seconds",
                "fingerprint": format!("{client:04x}{request:08x}{i:04x}"),
            })
        })
        .collect();
    json!({
        "receiver": "charter",
        "status": "firing",
        "alerts": alerts,
        "groupLabels": { "alertname": "latency_p99" },
        "commonLabels": { "alertname": "latency_p99", "job": "shop" },
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": "{}:{alertname=\"latency_p99\"}",
        "truncatedAlerts": 0,
    })
}

/// A client's webhook body, rendered once; each request rewrites the request number
/// inside every fingerprint, so the client spends its time waiting, not building JSON.
struct Template {
    body: Vec<u8>,
    /// Where each fingerprint's 8 hex digits of request number start.
    request_digits: Vec<usize>,
}

impl Template {
    fn new(client: usize, batch: usize) -> Result<Template, serde_json::Error> {
        let body = serde_json::to_vec(&payload(client, 0, batch))?;
        let needle = format!("\"fingerprint\":\"{client:04x}");
        let request_digits = body
            .windows(needle.len())
            .enumerate()
            .filter(|(_, w)| *w == needle.as_bytes())
            .map(|(at, _)| at + needle.len())
            .collect();
        Ok(Template {
            body,
            request_digits,
        })
    }

    fn render(&mut self, request: u32) -> Vec<u8> {
        let digits = format!("{request:08x}");
        for &at in &self.request_digits {
            self.body[at..at + 8].copy_from_slice(digits.as_bytes());
        }
        self.body.clone()
    }
}

/// What one client saw.
#[derive(Default)]
struct ClientReport {
    latencies: Vec<Duration>,
    accepted: u64,
    new: u64,
    failures: u64,
}

async fn client(
    url: String,
    id: usize,
    batch: usize,
    deadline: Instant,
) -> Result<ClientReport, Box<dyn Error + Send + Sync>> {
    let http = reqwest::Client::new();
    let mut template = Template::new(id, batch)?;
    if template.request_digits.len() != batch {
        return Err("payload template lost its fingerprints".into());
    }
    let mut report = ClientReport::default();
    let mut request = 0u32;
    while Instant::now() < deadline {
        let body = template.render(request);
        request += 1;
        let started = Instant::now();
        let resp = http
            .post(&url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = resp.status();
        let counts: Value = resp.json().await?;
        report.latencies.push(started.elapsed());
        if status.is_success() {
            report.accepted += counts["accepted"].as_u64().unwrap_or(0);
            report.new += counts["new"].as_u64().unwrap_or(0);
        } else {
            report.failures += 1;
        }
    }
    Ok(report)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The CPU model, where the OS says it.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let settings = Settings::from_args()?;
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open(&dir.path().join("bench.db")).await?);
    let (charter, _warnings) = parse_charter(CHARTER, "bench.yaml", Path::new("."))?;
    let wake = Arc::new(Notify::new());
    // Stands in for the loop: consumes wake-ups as they come.
    let waker = wake.clone();
    tokio::spawn(async move {
        loop {
            waker.notified().await;
        }
    });
    let state = ServerState {
        health: Arc::new(Health::default()),
        registry: Arc::new(Registry::default()),
        alerts: Some(AlertIngest {
            store: store.clone(),
            charter: Arc::new(charter),
            token: Some(TOKEN.into()),
            wake,
            max_body_bytes: charter_model::config::defaults::ALERTS_MAX_BODY_BYTES,
            clock: Arc::new(charter_model::WallClock),
            reloaded: None,
        }),
        policies: None,
        knowledge: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}{ALERTS_PATH}", listener.local_addr()?);
    tokio::spawn(std::future::IntoFuture::into_future(axum::serve(
        listener,
        router(state),
    )));

    let body_bytes = serde_json::to_vec(&payload(0, 0, settings.batch))?.len();
    println!(
        "ingest_bench: {} clients x {}-alert payloads ({} bytes) for {} s over loopback; \
         sqlite WAL synchronous=FULL on {}",
        settings.clients,
        settings.batch,
        body_bytes,
        settings.seconds,
        dir.path().display()
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(settings.seconds);
    let tasks: Vec<_> = (0..settings.clients)
        .map(|id| tokio::spawn(client(url.clone(), id, settings.batch, deadline)))
        .collect();
    let mut latencies = Vec::new();
    let (mut accepted, mut new, mut failures) = (0u64, 0u64, 0u64);
    for task in tasks {
        let report = task.await?.map_err(|e| e.to_string())?;
        latencies.extend(report.latencies);
        accepted += report.accepted;
        new += report.new;
        failures += report.failures;
    }
    let elapsed = started.elapsed();
    latencies.sort();

    let stored = store.alerts_since(0).await?.len() as u64;
    println!(
        "machine: {} logical cpus (nproc), {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    println!(
        "requests: {} ({} failed) in {:.2} s",
        latencies.len(),
        failures,
        elapsed.as_secs_f64()
    );
    println!(
        "alerts: {accepted} accepted, {new} new, {stored} rows stored -> {:.0} alerts/s",
        accepted as f64 / elapsed.as_secs_f64()
    );
    println!(
        "ack latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies.last().copied().unwrap_or_default())
    );
    store.close().await;
    if failures > 0 || new != accepted || stored != accepted {
        return Err("some webhooks were refused or not stored".into());
    }
    Ok(())
}
