//! Charter against VictoriaMetrics, the Prometheus-compatible store whose query API
//! vmselect serves in its cluster version (as Thanos Query and Mimir serve the same
//! API): Debian's `victoria-metrics` scraping `charter sim serve` — the data the
//! real-Prometheus end-to-end tests use — with its default flags.
//!
//! - The Prometheus source's reads, through VictoriaMetrics' own path prefix
//!   (`/select/0/prometheus`, the URL form of vmselect): objectives, fresh values (the
//!   server's default `-search.latencyOffset` of 30 s must not age them), an unlabelled
//!   scalar, an error in VictoriaMetrics' words, range queries, history, the
//!   `changes:` queries, and unavailability once the server is stopped.
//! - The same reads through a gateway in Mimir's form (`/prometheus`, `X-Scope-OrgID`
//!   required) in front of it, with and without `headers:`.
//! - The loop: `examples/prometheus.yaml` on VictoriaMetrics with vmalert and
//!   Alertmanager (real_path's [`Metrics::VictoriaMetrics`]): a bad deploy, seen through
//!   the change queries, is rolled back through the HTTP actuator; then, with
//!   VictoriaMetrics stopped, Charter reports itself blind.
//!
//! CHARTER_VICTORIA_METRICS_BIN overrides the binary's path (`victoria-metrics`);
//! `scripts/test` installs it. A binary that cannot start fails the test: it is never
//! skipped.

#[allow(dead_code)]
mod real_path;
#[allow(dead_code)]
mod servers;

use charter_model::{ChangeKind, Charter, SourceSpec, Timestamp};
use charter_monitor::prometheus::{CHANGE_BY, PrometheusSource};
use charter_monitor::{MetricSource, Observation, SourceError};
use charter_testkit::{WESTWORLD_COMPONENTS, charter_from};
use real_path::{Metrics, Ports, Stack};
use serde_json::{Value, json};
use servers::{Proc, bin, free_port};
use std::future::Future;
use std::time::{Duration, Instant};

/// vmselect's URL form for tenant 0; single-node serves it with `-http.pathPrefix`.
const PREFIX: &str = "/select/0/prometheus";

/// Poll `check` every 250 ms until it returns Some, or fail saying what and `logs()`.
async fn poll<T, F, Fut>(
    what: &str,
    timeout: Duration,
    logs: impl Fn() -> String,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The charter the source is built from: every simulated component, latency by
/// metric, errors by an aggregating `expr`, one scalar, one query VictoriaMetrics
/// refuses at run time (a bad
/// regular expression in `label_replace`), and the change queries of `examples/prometheus.yaml`.
fn source_charter(url: &str) -> Charter {
    let components: String = WESTWORLD_COMPONENTS
        .iter()
        .map(|c| format!("  - name: {c}\n"))
        .collect();
    let all = WESTWORLD_COMPONENTS.join(", ");
    charter_from(&format!(
        r#"name: vm
source:
  prometheus:
    url: "{url}"
    timeout: 2s
    retries: 0
    changes: {{ revision: "max by (service) (westworld_deploy_revision)", info: westworld_info }}
components:
{components}objectives:
  - name: latency
    metric: westworld_latency_p99_seconds
    components: [{all}]
    above: {{ warning: 0.4, critical: 1.0, clear: 0.3 }}
    remedies: [restart]
  - name: errors
    expr: max by (service) (westworld_error_ratio)
    components: [{all}]
    above: {{ warning: 0.02, critical: 0.1, clear: 0.01 }}
    remedies: [restart]
  - name: db_cpu
    expr: scalar(max(westworld_cpu_utilization{{service="db"}}))
    components: [db]
    above: {{ warning: 0.85, critical: 1.0, clear: 0.75 }}
    remedies: [restart]
  - name: broken
    expr: 'label_replace(westworld_error_ratio, "x", "$1", "service", "a(b")'
    components: [api]
    above: {{ warning: 0.02, critical: 0.1, clear: 0.01 }}
    remedies: [restart]
"#
    ))
}

fn value(obs: &Observation, objective: &str, component: &str) -> Option<f64> {
    obs.samples
        .iter()
        .find(|s| s.objective == objective && s.component == component)
        .unwrap_or_else(|| panic!("no sample for {objective}@{component}: {:?}", obs.samples))
        .value
}

/// The simulator's own exposition of `westworld_latency_p99_seconds` for `service`.
async fn sim_latency(http: &reqwest::Client, sim: u16, service: &str) -> Option<f64> {
    let text = http
        .get(format!("http://127.0.0.1:{sim}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let prefix = format!("westworld_latency_p99_seconds{{service=\"{service}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

async fn inject(http: &reqwest::Client, sim: u16, fault: Value) {
    let r = http
        .post(format!("http://127.0.0.1:{sim}/faults"))
        .json(&fault)
        .send()
        .await
        .expect("inject");
    assert_eq!(r.status().as_u16(), 201, "{fault}");
}

/// A gateway in Mimir's form in front of VictoriaMetrics: `/prometheus/...` is
/// forwarded to `upstream` + `/...` only with the header `X-Scope-OrgID: tenant`;
/// without it, 401 `no org id`, as Mimir answers. GET only, one request per
/// connection. Returns its port.
async fn tenant_gateway(upstream: String, tenant: &'static str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let http = reqwest::Client::new();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (http, upstream) = (http.clone(), upstream.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let target = head.split(' ').nth(1).unwrap_or_default().to_string();
                let org = head.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("x-scope-orgid")
                        .then(|| v.trim().to_string())
                });
                let (status, body) = match (org, target.strip_prefix("/prometheus")) {
                    (Some(o), Some(rest)) if o == tenant => {
                        match http.get(format!("{upstream}{rest}")).send().await {
                            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                            Err(e) => (502, e.to_string()),
                        }
                    }
                    (_, Some(_)) => (401, "no org id\n".to_string()),
                    (_, None) => (404, "404 page not found\n".to_string()),
                };
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(response.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prometheus_source_reads_victoriametrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (sim, vm) = (free_port(), free_port());
    std::fs::write(
        d.join("scrape.yml"),
        format!(
            "global: {{ scrape_interval: 1s }}\nscrape_configs:\n  - job_name: westworld\n    static_configs: [{{ targets: [\"127.0.0.1:{sim}\"] }}]\n"
        ),
    )
    .expect("write");
    let mut procs = [
        Proc::start(
            "sim",
            d,
            env!("CARGO_BIN_EXE_charter"),
            &[
                "sim".into(),
                "serve".into(),
                "--listen".into(),
                format!("127.0.0.1:{sim}"),
                "--seed".into(),
                "5".into(),
            ],
        ),
        // Default flags but the prefix: -search.latencyOffset stays at 30 s.
        Proc::start(
            "victoria-metrics",
            d,
            &bin("CHARTER_VICTORIA_METRICS_BIN", "victoria-metrics"),
            &[
                format!("-httpListenAddr=127.0.0.1:{vm}"),
                "-storageDataPath=vm-data".into(),
                "-promscrape.config=scrape.yml".into(),
                format!("-http.pathPrefix={PREFIX}"),
                "-loggerLevel=WARN".into(),
            ],
        ),
    ];
    let logs = || {
        ["sim", "victoria-metrics"]
            .iter()
            .map(|n| {
                let log = d.join(format!("{n}.log"));
                format!(
                    "--- {n} ---\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{vm}{PREFIX}");
    // The first scrape stored.
    let up = format!("{base}/api/v1/query?query=up&nocache=1");
    poll(
        "victoria-metrics to scrape the simulator",
        Duration::from_secs(60),
        logs,
        || async {
            let v: Value = http.get(&up).send().await.ok()?.json().await.ok()?;
            (v["data"]["result"][0]["value"][1] == "1").then_some(())
        },
    )
    .await;

    let charter = source_charter(&base);
    let SourceSpec::Prometheus(spec) = &charter.source else {
        panic!("prometheus source")
    };
    let source = PrometheusSource::new(spec).expect("source");

    // Every objective but the broken one read. New series become searchable in
    // VictoriaMetrics some seconds after their first sample (seen here: 0 to 20 s).
    let obs = poll(
        "every series searchable",
        Duration::from_secs(60),
        logs,
        || async {
            let obs = source.observe(&charter, Timestamp::now_wall()).await.ok()?;
            let known = obs.samples.iter().filter(|s| s.value.is_some()).count();
            (known == 2 * WESTWORLD_COMPONENTS.len() + 1).then_some(obs)
        },
    )
    .await;
    for c in WESTWORLD_COMPONENTS {
        let latency = value(&obs, "latency", c);
        assert!(
            latency.is_some_and(|v| v > 0.0 && v < 0.4),
            "latency@{c} of a healthy world, read seconds after the first scrape: {latency:?}\n{:?}",
            obs.problems
        );
        let errors = value(&obs, "errors", c);
        assert!(errors.is_some_and(|v| v >= 0.0), "errors@{c}: {errors:?}");
    }
    // VictoriaMetrics answers `scalar(...)` with an unlabelled vector.
    let cpu = value(&obs, "db_cpu", "db");
    assert!(
        cpu.is_some_and(|v| v > 0.0 && v < 1.0),
        "db_cpu: {cpu:?}\n{:?}",
        obs.problems
    );
    // Its error body (HTTP 422, not Prometheus's 400 bad_data) in the problem.
    assert_eq!(value(&obs, "broken", "api"), None);
    assert!(
        obs.problems
            .iter()
            .any(|p| p.contains("`broken`") && p.contains("http 422")),
        "{:?}",
        obs.problems
    );
    assert!(obs.changes.is_empty(), "first read: {:?}", obs.changes);

    // Let history accumulate past the server's latency offset.
    let scraped = Timestamp::now_wall().minus(Duration::from_secs(2));
    tokio::time::sleep(Duration::from_secs(50)).await;
    // Range queries and history over what was scraped before the surge. Their last
    // 30 s (-search.latencyOffset) VictoriaMetrics fills with the last older value
    // even with nocache=1, so the window ends before that.
    let end = Timestamp::now_wall().minus(Duration::from_secs(35));
    let start = scraped.minus(Duration::from_secs(5));
    assert!(
        end.since(start) >= Duration::from_secs(10),
        "waited too little"
    );
    let step = Duration::from_secs(2);
    let series = source
        .query_range("westworld_latency_p99_seconds", start, end, step)
        .await
        .expect("range query");
    let services: Vec<&str> = series
        .iter()
        .filter_map(|(labels, _)| labels.get("service").map(String::as_str))
        .collect();
    for c in WESTWORLD_COMPONENTS {
        assert!(
            services.contains(&c),
            "no range series for {c}: {services:?}"
        );
    }
    for (labels, points) in &series {
        assert!(points.len() >= 4, "{labels:?}: {points:?}");
        assert!(
            points
                .iter()
                .all(|(t, v)| *t >= start.minus(step) && *t <= end && v.is_finite() && *v < 0.4),
            "{labels:?}: points of a healthy world in [{start}, {end}]: {points:?}"
        );
    }
    let history = source
        .history(&charter, start, end, step)
        .await
        .expect("history");
    for c in WESTWORLD_COMPONENTS {
        for objective in ["latency", "errors"] {
            assert!(
                history
                    .iter()
                    .any(|s| s.objective == objective && s.component == c && s.value.is_some()),
                "no history of {objective}@{c}"
            );
        }
    }

    // A surge is seen as it happens: within a few seconds of the simulator exposing it,
    // not 30 s later.
    inject(
        &http,
        sim,
        json!({"kind": "traffic_surge", "target": "catalog", "factor": 4.0, "duration": "10m"}),
    )
    .await;
    let exposed = poll(
        "the simulator to expose the surge",
        Duration::from_secs(60),
        logs,
        || async { (sim_latency(&http, sim, "catalog").await? > 0.4).then(Instant::now) },
    )
    .await;
    let seen = poll(
        "the source to read the surge",
        Duration::from_secs(60),
        logs,
        || async {
            let obs = source.observe(&charter, Timestamp::now_wall()).await.ok()?;
            (value(&obs, "latency", "catalog")? > 0.4).then(Instant::now)
        },
    )
    .await;
    let lag = seen.saturating_duration_since(exposed);
    eprintln!(
        "surge read {:.1}s after the simulator exposed it",
        lag.as_secs_f64()
    );
    assert!(
        lag < Duration::from_secs(10),
        "read {lag:?} after it was exposed"
    );

    // A deploy is reported by the change queries.
    inject(&http, sim, json!({"kind": "bad_deploy", "target": "auth"})).await;
    let change = poll(
        "the deploy of auth",
        Duration::from_secs(60),
        logs,
        || async {
            let obs = source.observe(&charter, Timestamp::now_wall()).await.ok()?;
            obs.changes.into_iter().find(|c| c.component == "auth")
        },
    )
    .await;
    assert_eq!(
        (change.kind, change.by.as_str()),
        (ChangeKind::Deploy, CHANGE_BY)
    );
    assert!(change.description.contains("deployed"), "{change:?}");

    // Through a gateway in Mimir's form: URL `.../prometheus`, tenant header.
    let gateway = tenant_gateway(base.clone(), "shop").await;
    let mimir = format!("http://127.0.0.1:{gateway}/prometheus");
    let tenant = |headers: bool| {
        let mut c = source_charter(&mimir);
        if let SourceSpec::Prometheus(p) = &mut c.source {
            p.changes = None;
            if headers {
                p.headers.insert("X-Scope-OrgID".into(), "shop".into());
            }
        }
        c
    };
    let with_tenant = tenant(true);
    let SourceSpec::Prometheus(spec) = &with_tenant.source else {
        panic!("prometheus source")
    };
    let obs = PrometheusSource::new(spec)
        .expect("source")
        .observe(&with_tenant, Timestamp::now_wall())
        .await
        .expect("observe through the gateway");
    for c in WESTWORLD_COMPONENTS {
        assert!(
            value(&obs, "latency", c).is_some(),
            "latency@{c} through the gateway: {:?}",
            obs.problems
        );
    }
    let without = tenant(false);
    let SourceSpec::Prometheus(spec) = &without.source else {
        panic!("prometheus source")
    };
    match PrometheusSource::new(spec)
        .expect("source")
        .observe(&without, Timestamp::now_wall())
        .await
    {
        Err(SourceError::Unavailable(why)) => {
            assert!(
                why.contains("http 401") && why.contains("no org id"),
                "{why}"
            )
        }
        other => panic!("expected 401 without the tenant header, got {other:?}"),
    }

    // Stopped: every query fails to connect, so the source is unavailable (blind).
    procs
        .iter_mut()
        .find(|p| p.name == "victoria-metrics")
        .expect("vm")
        .stop();
    match source.observe(&charter, Timestamp::now_wall()).await {
        Err(SourceError::Unavailable(why)) => assert!(why.contains("cannot connect"), "{why}"),
        other => panic!("expected the source unavailable, got {other:?}"),
    }
}

fn example(path: &str) -> String {
    let file = format!("{}/../../examples/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {file}: {e}"))
}

/// Replace `from` (which must occur) by `to` everywhere in `text`.
fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the example no longer holds `{from}`");
    text.replace(from, to)
}

/// `examples/prometheus.yaml` on the test's ports, reading every 2 s, its `for:`
/// durations a third as long — as in real_path_judgment.rs.
fn example_charter(ports: Ports) -> String {
    let text = example("prometheus.yaml");
    let text = replace(
        &text,
        "http://127.0.0.1:9090",
        &format!("http://127.0.0.1:{}", ports.prometheus),
    );
    let text = replace(
        &text,
        "http://127.0.0.1:8700",
        &format!("http://127.0.0.1:{}", ports.sim),
    );
    let text = replace(&text, "interval: 15s", "interval: 2s");
    // The stack writes the webhook's token beside the charter.
    let text = replace(
        &text,
        "token_file: prometheus/alert-token",
        "token_file: alert-token",
    );
    let text = replace(&text, "for: 30s", "for: 10s");
    replace(&text, "for: 15s", "for: 5s")
}

fn example_rules() -> String {
    let text = example("prometheus/rules.yml");
    let text = replace(&text, "for: 30s", "for: 10s");
    replace(&text, "for: 15s", "for: 5s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_deploy_is_rolled_back_on_victoriametrics() {
    let mut stack = Stack::start_on(
        Metrics::VictoriaMetrics,
        8,
        example_charter,
        &example_rules(),
    )
    .await;
    // Healthy for a while: the diagnosis compares the incident with what came before.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let before = stack.policies().await.expect("policies");
    assert!(
        before.is_empty(),
        "acted before any fault: {before:?}\n{}",
        stack.logs()
    );
    stack
        .inject(json!({"kind": "bad_deploy", "target": "auth"}))
        .await;
    let policy = stack
        .wait_for("the first policy", Duration::from_secs(120), || async {
            stack.policies().await?.into_iter().next()
        })
        .await;
    let main = policy["main"].as_u64().unwrap_or(0) as usize;
    let action = &policy["actions"][main];
    assert!(
        action["kind"] == "rollback" && action["component"] == "auth",
        "first action {action}, expected rollback of auth: {policy}\n{}",
        stack.logs()
    );
    assert_eq!(policy["context"]["cause"], "bad_change", "{policy}");
    // Done through the HTTP actuator: the simulator rolled auth back.
    let sim = stack.ports.sim;
    stack
        .wait_for("the rollback applied", Duration::from_secs(60), || async {
            let v = stack
                .get_json(&format!("http://127.0.0.1:{sim}/v1/effects"))
                .await?;
            (v["total"].as_u64()? >= 1).then_some(())
        })
        .await;

    // VictoriaMetrics stopped: Charter says it is blind.
    stack.stop("victoria-metrics");
    let charter = stack.ports.charter;
    stack
        .wait_for(
            "charter to report itself blind",
            Duration::from_secs(60),
            || async {
                let r = stack
                    .http
                    .get(format!("http://127.0.0.1:{charter}/metrics"))
                    .send()
                    .await
                    .ok()?;
                r.text()
                    .await
                    .ok()?
                    .contains("charter_blind 1")
                    .then_some(())
            },
        )
        .await;
}
