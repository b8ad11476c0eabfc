//! The webhook and `/readyz` while the disk is full (issue 16, item 10): SQLite on a
//! small tmpfs that a filler file fills, then frees. Needs root to mount; without it
//! the test says so and passes vacuously.

use charter_knowledge::{SqliteStore, prelude::*};
use charter_model::{Clock, Timestamp};
use charter_orchestrator::daemon::{self as control, ControlHandle};
use charter_orchestrator::{Controller, Health, LoopMetrics};
use charter_server::{ALERTS_PATH, AlertIngest, PolicyApi, ServerState, router};
use charter_sim::Scenario;
use charter_testkit::{EPOCH, WESTWORLD, actuators, charter_from, simulator};
use prometheus_client::registry::Registry;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use tokio::sync::{Notify, oneshot};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TOKEN: &str = "api-5be1d07c";

const CHARTER: &str = r#"
name: shop
source: { simulator: {} }
alerts: { auth: none }
actuators:
  sim: { simulator: {} }
components:
  - { name: api, actuator: sim }
objectives:
  - name: latency_p99
    metric: http_latency_p99_seconds
    above: { warning: 0.3, critical: 1.0, clear: 0.25 }
    remedies: [scale_out]
"#;

#[derive(Debug)]
struct Fixed;

impl Clock for Fixed {
    fn now(&self) -> Timestamp {
        Timestamp(1_767_225_600_000)
    }
}

struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

fn fill(dir: &Path) -> std::io::Result<PathBuf> {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path)?;
    while f.write_all(&[0u8; 64 * 1024]).is_ok() {}
    for _ in 0..64 {
        if f.write_all(&[0u8; 1024]).is_err() {
            break;
        }
    }
    let _ = f.sync_all();
    Ok(path)
}

fn webhook(tag: &str, n: usize) -> Value {
    let alerts: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "status": "firing",
                "labels": { "alertname": "latency_p99", "service": "api", "n": format!("{tag}-{i}") },
                "annotations": { "summary": "x".repeat(2000) },
                "startsAt": "2024-05-01T12:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": format!("{tag}-{i}"),
            })
        })
        .collect();
    json!({
        "receiver": "charter", "status": "firing", "alerts": alerts,
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "", "version": "4", "groupKey": "{}", "truncatedAlerts": 0,
    })
}

#[tokio::test]
async fn a_full_disk_answers_503_and_not_ready_then_ingest_resumes() -> TestResult {
    let Some(fs) = Tmpfs::mount("2m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs (needs root)");
        return Ok(());
    };
    let store = Arc::new(SqliteStore::open_writer(&fs.0.path().join("charter.db")).await?);
    let health = Arc::new(Health::default());
    // The loop has ticked and sees its metrics: ready but for the store.
    health.tick_done(0, false, "");
    // A controller on the same store, behind the kill-switch API.
    let charter = Arc::new(charter_from(WESTWORLD));
    let scenario = Scenario::builtin("bad-deploy").ok_or("no bad-deploy scenario")?;
    let sim = simulator(&scenario, scenario.seed, EPOCH);
    let mut controller = Controller::new(
        charter.clone(),
        Arc::new(sim.clone()),
        actuators(&charter, Arc::new(sim.clone())),
        store.clone(),
        EPOCH,
    )
    .await?
    .with_health(health.clone(), LoopMetrics::unregistered());
    let (handle, mut commands) = ControlHandle::channel();
    tokio::spawn(async move {
        while let Some(command) = commands.recv().await {
            control::apply(&mut controller, command, EPOCH).await;
        }
    });
    let state = ServerState {
        health,
        registry: Arc::new(Registry::default()),
        alerts: Some(AlertIngest {
            store: store.clone(),
            charter: Arc::new(charter_from(CHARTER)),
            token: None,
            wake: Arc::new(Notify::new()),
            max_body_bytes: 4 * 1024 * 1024,
            clock: Arc::new(Fixed),
            reloaded: None,
        }),
        policies: Some(PolicyApi {
            control: handle,
            token: Some(TOKEN.into()),
            approval_timeout: charter.guardrails.approval_timeout,
        }),
        knowledge: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (_stop, stopped) = oneshot::channel::<()>();
    let server = axum::serve(listener, router(state)).with_graceful_shutdown(async {
        let _ = stopped.await;
    });
    tokio::spawn(std::future::IntoFuture::into_future(server));
    let client = reqwest::Client::new();
    let readyz = || async {
        let r = client.get(format!("{url}/readyz")).send().await?;
        Ok::<_, reqwest::Error>((r.status(), r.text().await?))
    };
    assert_eq!(readyz().await?.0, StatusCode::OK);

    let mut acknowledged = 0usize;
    let filler = fill(fs.0.path())?;
    let mut refused = None;
    for i in 0..200 {
        let resp = client
            .post(format!("{url}{ALERTS_PATH}"))
            .json(&webhook(&format!("full{i}"), 20))
            .send()
            .await?;
        if resp.status().is_success() {
            acknowledged += 20;
            continue;
        }
        refused = Some(resp);
        break;
    }
    let refused = refused.ok_or("the full disk never refused a webhook")?;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await?;
    assert!(
        !body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("transaction depth"),
        "{body}"
    );
    let (status, text) = readyz().await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(
        text.contains("the knowledge store is not writable"),
        "{text}"
    );
    // A pause the store cannot keep is refused and does not take effect.
    let pause = || async {
        let r = client
            .post(format!("{url}/api/v1/pause"))
            .bearer_auth(TOKEN)
            .json(&json!({"reason": "disk full", "by": "bob"}))
            .send()
            .await?;
        let status = r.status();
        let retry = r.headers().contains_key("retry-after");
        Ok::<_, reqwest::Error>((status, retry, r.json::<Value>().await?))
    };
    let paused = || async {
        let r = client.get(format!("{url}/api/v1/state")).send().await?;
        Ok::<_, reqwest::Error>(r.json::<Value>().await?["paused"].clone())
    };
    let (status, retry, body) = pause().await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(retry, "{body}");
    assert_eq!(paused().await?, json!(false), "not paused in memory either");
    assert_eq!(store.pause().await?, None);
    // Still full: still 503, never a 500.
    for i in 0..3 {
        let resp = client
            .post(format!("{url}{ALERTS_PATH}"))
            .json(&webhook(&format!("still{i}"), 1))
            .send()
            .await?;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    std::fs::remove_file(&filler)?;
    for i in 0..8 {
        let resp = client
            .post(format!("{url}{ALERTS_PATH}"))
            .json(&webhook(&format!("after{i}"), 1))
            .send()
            .await?;
        let status = resp.status();
        assert_eq!(status, StatusCode::OK, "{}", resp.text().await?);
        acknowledged += 1;
    }
    assert_eq!(readyz().await?.0, StatusCode::OK);
    let (status, _, body) = pause().await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(paused().await?, json!(true));
    // Every acknowledged alert is stored.
    assert_eq!(store.alerts_since(0).await?.len(), acknowledged);
    Ok(())
}
