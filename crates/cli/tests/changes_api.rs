//! A bad deploy that reaches Charter only through `POST /api/v1/changes`, on the real
//! path: `charter sim serve`, a real Prometheus and Alertmanager, `charter run` on
//! `examples/prometheus.yaml` with its Prometheus `changes:` queries taken out, so
//! nothing in the metrics tells Charter that a service changed. The simulator deploys
//! a bad version of auth; the deploy tool (the test, as Argo CD notifications would
//! with the template of docs/api.md) posts the sync; Charter must diagnose a bad
//! change and roll auth back through the HTTP actuator.

mod real_path;
mod servers;

use real_path::{Ports, Stack, TOKEN};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime};

fn example(path: &str) -> String {
    let file = format!("{}/../../examples/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {file}: {e}"))
}

/// Replace `from` (which must occur) by `to` everywhere in `text`.
fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the example no longer holds `{from}`");
    text.replace(from, to)
}

/// `text` without its `source.prometheus.changes:` block (the key and the lines
/// indented under it).
fn without_change_queries(text: &str) -> String {
    let mut out = Vec::new();
    let mut inside: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(depth) = inside {
            if line.trim().is_empty() || indent > depth {
                continue;
            }
            inside = None;
        }
        if line.trim_start() == "changes:" {
            inside = Some(indent);
            continue;
        }
        out.push(line);
    }
    assert!(
        text.lines().count() > out.len(),
        "the example no longer has a `changes:` block"
    );
    out.join("\n") + "\n"
}

/// The example on the test's ports, reading every 2 s, `for:` a third as long, its
/// change queries removed, and Argo CD's `shop/auth-service` mapped to auth.
fn charter(ports: Ports) -> String {
    let text = without_change_queries(&example("prometheus.yaml"));
    assert!(!text.contains("westworld_deploy_revision"), "{text}");
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
    let text = scale_for(&text);
    format!("{text}changes:\n  applications:\n    shop/auth-service: auth\n")
}

fn scale_for(text: &str) -> String {
    let text = replace(text, "for: 30s", "for: 10s");
    replace(&text, "for: 15s", "for: 5s")
}

/// What Argo CD notifications sends on `on-deployed` with the template of docs/api.md.
fn argo_sync(finished_at: SystemTime) -> Value {
    json!({
        "application": "auth-service",
        "namespace": "shop",
        "project": "default",
        "revision": "3f9c2e1d",
        "syncStatus": "Synced",
        "healthStatus": "Healthy",
        "phase": "Succeeded",
        "images": ["registry.example.com/westworld/auth:2.0.0"],
        "finishedAt": humantime::format_rfc3339_millis(finished_at).to_string(),
        "repoURL": "https://git.example.com/westworld/deploy.git",
    })
}

impl Stack {
    /// POST a change body with the alert receiver's token; the status and the answer.
    async fn post_change(&self, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!(
                "http://127.0.0.1:{}/api/v1/changes",
                self.ports.charter
            ))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .expect("post change");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The version the simulator runs of `component`.
    async fn version(&self, component: &str) -> Option<String> {
        let state = self
            .get_json(&format!(
                "http://127.0.0.1:{}/v1/components/{component}",
                self.ports.sim
            ))
            .await?;
        state["version"].as_str().map(str::to_string)
    }

    /// The recent changes `/api/v1/state` lists.
    async fn state_changes(&self) -> Vec<Value> {
        self.get_json(&format!(
            "http://127.0.0.1:{}/api/v1/state",
            self.ports.charter
        ))
        .await
        .and_then(|s| s["changes"].as_array().cloned())
        .unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_deploy_posted_by_argocd_is_rolled_back() {
    let rules = scale_for(&example("prometheus/rules.yml"));
    let stack = Stack::start(8, charter, &rules).await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    let before = stack.policies().await.expect("policies");
    assert!(
        before.is_empty(),
        "acted before any fault: {before:?}\n{}",
        stack.logs()
    );

    let good = stack.version("auth").await.expect("auth's version");
    let deployed = SystemTime::now();
    let injected = Instant::now();
    stack
        .inject(json!({"kind": "bad_deploy", "target": "auth"}))
        .await;
    let bad = stack.version("auth").await.expect("auth's version");
    assert_ne!(bad, good, "the simulator deployed nothing");
    // Two cycles later Charter still knows of no change: the simulator's own change
    // log does not reach it.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let seen = stack.state_changes().await;
    assert!(
        seen.is_empty(),
        "a change reached Charter before the post: {seen:?}"
    );

    let (status, answer) = stack.post_change(&argo_sync(deployed)).await;
    assert_eq!(status, 200, "{answer}\n{}", stack.logs());
    assert_eq!(
        (answer["format"].as_str(), answer["new"].as_u64()),
        (Some("argocd"), Some(1)),
        "{answer}"
    );
    // Argo CD sends it again: recorded once.
    let (status, again) = stack.post_change(&argo_sync(deployed)).await;
    assert_eq!((status, again["new"].as_u64()), (200, Some(0)), "{again}");

    let policy = stack
        .wait_for("the first policy", Duration::from_secs(120), || async {
            stack.policies().await?.into_iter().next()
        })
        .await;
    eprintln!(
        "first policy {:.0}s after the deploy: {policy}",
        injected.elapsed().as_secs_f64()
    );
    let main = policy["main"].as_u64().unwrap_or(0) as usize;
    let action = &policy["actions"][main];
    assert_eq!(
        (action["kind"].as_str(), action["component"].as_str()),
        (Some("rollback"), Some("auth")),
        "{policy}\n{}",
        stack.logs()
    );
    assert_eq!(policy["context"]["cause"], "bad_change", "{policy}");

    // The state shows the change with where it came from.
    let changes = stack.state_changes().await;
    assert!(
        changes.iter().any(|c| c["component"] == "auth"
            && c["source"] == "argocd"
            && c["by"] == "argocd"
            && c["description"]
                .as_str()
                .is_some_and(|d| d.contains("shop/auth-service to revision 3f9c2e1d"))),
        "{changes:?}"
    );
    // The rollback ran through the HTTP actuator: auth runs again the version it ran
    // before the bad one.
    stack
        .wait_for(
            "auth rolled back in the simulator",
            Duration::from_secs(60),
            || async {
                let now = stack.version("auth").await?;
                (now == good).then_some(())
            },
        )
        .await;
}
