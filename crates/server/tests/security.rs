//! Attacks on the webhook boundary, end to end (safety invariants 2 and 8).
//!
//! An attacker who can reach the Alertmanager webhook, or write alerting rules, controls
//! every label and annotation of an alert. These tests send such alerts through the real
//! receiver (`alerts_router` over a SQLite store) into a real [`Controller`] running over
//! the Westworld simulator in virtual time, with the charter's real actuators:
//!
//! - a `command` actuator whose programs are shell scripts in a temporary directory that
//!   record every argv element and their environment, NUL-separated, one file per call;
//! - an `http` actuator pointing at wiremock server A, which answers the actuator API
//!   from the simulated world (so its actions really act);
//! - wiremock server B, which no charter names: alerts point at it, nothing may call it.
//!
//! Hostile values carry `$(...)`, backticks, `;`, newlines, `{{ }}`, placeholder names
//! and URLs, and would create a canary file if anything ever ran them through a shell.

use axum::Router;
use axum::body::Body;
use axum::http::{Request as HttpRequest, header};
use charter_execute::{Actuator, ActuatorError, CommandActuator, HttpActuator};
use charter_knowledge::{SqliteStore, prelude::*};
use charter_model::{Action, ActionKind, ActuatorSpec, Charter, Timestamp, parse_charter};
use charter_orchestrator::{Controller, Event};
use charter_server::{ALERTS_PATH, AlertIngest, alerts_router};
use charter_sim::{Fault, FaultKind, Scenario, Simulator, World};
use http_body_util::BodyExt;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::Notify;
use tower::ServiceExt;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

#[path = "security/attack.rs"]
mod attack;
use attack::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// 2026-01-01T00:00:00Z, virtual zero.
const EPOCH: Timestamp = Timestamp(1_767_225_600_000);

const TOKEN: &str = "am-5f0e7c1d9a";

/// The shop, split between the two actuators: `orders` and `queue` are driven by
/// programs (`ops`), everything else over the actuator API (`shop`). `SCRIPT` and
/// `API_URL` are filled in at run time.
const CHARTER: &str = r#"
name: security
interval: 15s
mode: autonomous
source: { simulator: {} }
alerts: { token_file: alert.token, objective_label: alertname, component_label: service }
actuators:
  ops:
    command:
      timeout: 10s
      actions:
        restart:
          apply: ["SCRIPT", "restart", "{component}", "--key={idempotency_key}", "--action={action}", "--drain={drain}", "{{literal}}"]
        scale_out:
          apply: ["SCRIPT", "scale_out", "{component}", "--by={step}", "{idempotency_key}"]
          undo: ["SCRIPT", "scale_out_undo", "{component}", "--to", "{to_replicas}", "{idempotency_key}"]
        throttle:
          apply: ["SCRIPT", "throttle", "{component}", "--rate={rate}"]
          undo: ["SCRIPT", "throttle_undo", "{component}", "--rate={rate}"]
  shop:
    http: { url: "API_URL", timeout: 5s }
components:
  - { name: frontend, depends_on: [api], actuator: shop, replicas: { min: 2, max: 12 }, zone: a }
  - { name: api, depends_on: [catalog, orders, auth], actuator: shop, replicas: { min: 2, max: 12 }, zone: a }
  - { name: catalog, depends_on: [db, cache], actuator: shop, replicas: { min: 2, max: 10 }, zone: a }
  - { name: orders, depends_on: [db, queue], actuator: ops, replicas: { min: 4, max: 10 }, zone: a }
  - { name: auth, depends_on: [db], actuator: shop, replicas: { min: 2, max: 10 }, zone: a }
  - { name: db, actuator: shop, replicas: { min: 2, max: 4 }, zone: a }
  - { name: cache, actuator: shop, replicas: { min: 1, max: 4 }, zone: a }
  - { name: queue, actuator: ops, replicas: { min: 2, max: 4 }, zone: a }
objectives:
  - name: backend_latency_p99
    metric: westworld_latency_p99_seconds
    components: [catalog, orders, auth, db, cache, queue]
    signal: latency
    above: { warning: 0.4, critical: 1.0, clear: 0.3 }
    for: 30s
    remedies: [scale_out, rollback, restart]
  - name: error_ratio
    metric: westworld_error_ratio
    signal: errors
    above: { warning: 0.02, critical: 0.1, clear: 0.01 }
    for: 30s
    remedies: [rollback, failover, restart]
  - name: cpu_utilization
    metric: westworld_cpu_utilization
    signal: utilization
    above: { warning: 0.85, critical: 1.0, clear: 0.75 }
    for: 30s
    remedies: [scale_out, throttle]
  - name: memory_utilization
    metric: westworld_memory_utilization
    signal: memory
    above: { warning: 0.8, critical: 0.9, clear: 0.7 }
    for: 30s
    remedies: [restart, scale_out]
  - name: cache_hit_ratio
    metric: westworld_cache_hit_ratio
    components: [catalog, cache]
    signal: cache
    below: { warning: 0.7, critical: 0.4, clear: 0.8 }
    for: 30s
    remedies: [flush_cache]
actions:
  scale_out: { cost: 2, step: 2, time_to_effect: 2m }
  restart: { cost: 3, time_to_effect: 90s, params: { drain: 30s } }
  rollback: { cost: 4, time_to_effect: 1m }
  throttle: { cost: 3, time_to_effect: 30s, params: { rate: "250" } }
  failover: { cost: 5, time_to_effect: 1m }
  flush_cache: { cost: 2, time_to_effect: 30s }
"#;

/// The programs every command runs: record argv (`$0` first) and the environment, each
/// element NUL-terminated so that newlines stay visible, into a file of their own.
const RECORDER: &str = r#"#!/bin/sh
{
  printf 'argv\0'
  printf '%s\0' "$0" "$@"
  printf 'env\0'
  /usr/bin/env -0
} > 'CALLS/call.'$$
if [ "$1" = scale_out ]; then printf 'charter:prior replicas=4\n'; fi
exit 0
"#;

/// One recorded run of a program.
#[derive(Debug)]
struct Call {
    argv: Vec<String>,
    env: BTreeMap<String, String>,
}

/// Everything an attack runs against, wired as `charter run` wires it.
struct Lab {
    /// Holds the scripts, the records and the database.
    _dir: TempDir,
    /// Created only if some hostile string was ever run by a shell.
    canary: PathBuf,
    calls: PathBuf,
    script: String,
    sim: Simulator,
    /// Records already applied to the world by [`Lab::play_new_calls`].
    played: BTreeSet<PathBuf>,
    /// Server A: the actuator API the charter names.
    api: MockServer,
    /// Server B: named only by alerts.
    decoy: MockServer,
    charter: Arc<Charter>,
    store: Arc<SqliteStore>,
    alerts: Router,
    controller: Controller,
    events: Vec<(Duration, Event)>,
}

impl Lab {
    async fn start(scenario: &Scenario, seed: u64) -> Result<Lab, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let canary = dir.path().join("pwned");
        let calls = dir.path().join("calls");
        std::fs::create_dir(&calls)?;
        let script = dir.path().join("record.sh");
        std::fs::write(&script, RECORDER.replace("CALLS", &path_str(&calls)?))?;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
        let script = path_str(&script)?;
        std::fs::write(dir.path().join("alert.token"), format!("{TOKEN}\n"))?;

        let sim = Simulator::new(World::new(scenario, seed), EPOCH);
        let api = MockServer::start().await;
        Mock::given(any())
            .respond_with(ActuatorApi { sim: sim.clone() })
            .mount(&api)
            .await;
        let decoy = MockServer::start().await;

        let text = CHARTER
            .replace("SCRIPT", &script)
            .replace("API_URL", &api.uri());
        let charter = Arc::new(parse_charter(&text, "security.yaml", dir.path())?.0);
        let actuators = actuators(&charter)?;
        let store = Arc::new(SqliteStore::open(&dir.path().join("charter.db")).await?);
        let controller = Controller::new(
            charter.clone(),
            Arc::new(sim.clone()),
            actuators,
            store.clone(),
            EPOCH,
        )
        .await?;
        let alerts = alerts_router(AlertIngest {
            store: store.clone(),
            charter: charter.clone(),
            token: Some(TOKEN.into()),
            wake: Arc::new(Notify::new()),
            max_body_bytes: 1 << 20,
            clock: Arc::new(charter_model::WallClock),
            reloaded: None,
        });
        Ok(Lab {
            _dir: dir,
            canary,
            calls,
            script,
            sim,
            played: BTreeSet::new(),
            api,
            decoy,
            charter,
            store,
            alerts,
            controller,
            events: Vec::new(),
        })
    }

    /// The decoy's address as an attacker would write it into a label.
    fn decoy_url(&self) -> String {
        format!("{}/v1/actions", self.decoy.uri())
    }

    /// POST a webhook through the real receiver; its answer must be 200.
    async fn post(&self, payload: &Value) -> Result<Value, Box<dyn std::error::Error>> {
        let request = HttpRequest::post(ALERTS_PATH)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(payload)?))?;
        let response = self.alerts.clone().oneshot(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        let body: Value = serde_json::from_slice(&body)?;
        assert_eq!(status, 200, "webhook refused: {body}");
        Ok(body)
    }

    /// Tick every interval up to `end`, posting each webhook of `schedule` just before
    /// the first tick at or after its time.
    async fn run(&mut self, end: Duration, schedule: &[(Duration, Value, u64)]) -> TestResult {
        let mut t = Duration::ZERO;
        let mut posted = 0;
        while t <= end {
            while let Some((at, payload, unmapped)) = schedule.get(posted)
                && *at <= t
            {
                let answer = self.post(payload).await?;
                assert_eq!(
                    answer["unmapped"],
                    json!(unmapped),
                    "webhook {posted}: {answer}"
                );
                posted += 1;
            }
            let report = self.controller.tick(EPOCH.plus(t)).await?;
            self.events
                .extend(report.events.into_iter().map(|e| (t, e.event)));
            self.play_new_calls()?;
            t += self.charter.interval;
        }
        assert_eq!(posted, schedule.len(), "webhooks scheduled after the end");
        Ok(())
    }

    /// Every program run so far.
    fn calls(&self) -> Result<Vec<Call>, Box<dyn std::error::Error>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.calls)? {
            out.push(read_call(&entry?.path())?);
        }
        Ok(out)
    }

    /// Make the programs' restarts and scale-outs happen in the simulated world (the
    /// system they stand for), so that the loop sees its actions work and the
    /// incidents close, as they would in production.
    fn play_new_calls(&mut self) -> TestResult {
        for entry in std::fs::read_dir(&self.calls)? {
            let path = entry?.path();
            if !self.played.insert(path.clone()) {
                continue;
            }
            let call = read_call(&path)?;
            let (Some(tag), Some(component), Some(key)) = (
                call.argv.get(1),
                call.argv.get(2),
                call.env.get("CHARTER_IDEMPOTENCY_KEY"),
            ) else {
                continue;
            };
            let action = match tag.as_str() {
                "restart" => Action::new(ActionKind::Restart, component),
                "scale_out" => match call.argv.get(3).and_then(|a| a.strip_prefix("--by=")) {
                    Some(step) => {
                        Action::new(ActionKind::ScaleOut, component).with_param("step", step)
                    }
                    None => continue,
                },
                _ => continue,
            };
            // A refusal is the system's answer, not this harness's concern.
            let _ = self.sim.with_world(|w| w.apply(key, &action));
        }
        Ok(())
    }

    fn components_of(&self, actuator: &str) -> BTreeSet<String> {
        self.charter
            .components
            .iter()
            .filter(|c| c.actuator.as_deref() == Some(actuator))
            .map(|c| c.name.clone())
            .collect()
    }

    fn applied(&self) -> Vec<&Action> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::StepApplied { action, .. } => Some(action),
                _ => None,
            })
            .collect()
    }

    /// The loop's story, for failure messages.
    fn log(&self) -> String {
        self.events
            .iter()
            .filter(|(_, e)| !matches!(e, Event::Violation { .. }))
            .map(|(t, e)| format!("[{:>5}s] {e}", t.as_secs()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// What holds whatever the attack: the canary was never created, the decoy was
    /// never called, and every incident, hypothesis and action names only declared
    /// objectives and components.
    async fn assert_contained(&self, hostile: &[String]) -> TestResult {
        assert!(
            !self.canary.exists(),
            "a hostile label was run by a shell: {} exists",
            self.canary.display()
        );
        let decoy = self
            .decoy
            .received_requests()
            .await
            .ok_or("recording off")?;
        assert!(decoy.is_empty(), "server B was called: {decoy:#?}");

        let components: BTreeSet<&str> = self
            .charter
            .components
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let series: BTreeSet<String> = self
            .charter
            .objectives
            .iter()
            .flat_map(|o| o.components.iter().map(move |c| format!("{}@{c}", o.name)))
            .collect();
        for incident in self.store.incidents().await? {
            for key in &incident.violations {
                assert!(
                    series.contains(key),
                    "incident on `{key:?}`:\n{}",
                    self.log()
                );
            }
        }
        for (_, event) in &self.events {
            match event {
                Event::Violation { violation: v, .. } => assert!(
                    series.contains(&format!("{}@{}", v.objective, v.component)),
                    "violation of {v:?}"
                ),
                Event::Diagnosed { diagnosis } => {
                    for h in &diagnosis.hypotheses {
                        assert!(components.contains(h.component.as_str()), "{h:?}");
                    }
                }
                Event::StepApplied { action, .. } | Event::StepFailed { action, .. } => {
                    assert!(components.contains(action.component.as_str()), "{action}");
                    for value in action.params.values() {
                        assert_clean("action parameter", value, hostile);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// One record written by [`RECORDER`].
fn read_call(path: &Path) -> Result<Call, Box<dyn std::error::Error>> {
    let text = String::from_utf8(std::fs::read(path)?)?;
    let mut fields: Vec<&str> = text.split('\0').collect();
    // Every field is NUL-terminated: the last split is empty.
    if fields.pop() != Some("") || fields.first() != Some(&"argv") {
        return Err(format!("malformed record {text:?}").into());
    }
    let env_at = fields
        .iter()
        .position(|f| *f == "env")
        .ok_or_else(|| format!("no environment in {text:?}"))?;
    let argv = fields[1..env_at].iter().map(|s| s.to_string()).collect();
    let mut env = BTreeMap::new();
    for kv in &fields[env_at + 1..] {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("bad environment entry {kv:?}"))?;
        env.insert(k.to_string(), v.to_string());
    }
    Ok(Call { argv, env })
}

fn path_str(p: &Path) -> Result<String, Box<dyn std::error::Error>> {
    Ok(p.to_str().ok_or("temporary path is not UTF-8")?.to_string())
}

/// The charter's actuators, built as the `charter` binary builds them.
fn actuators(
    charter: &Charter,
) -> Result<BTreeMap<String, Arc<dyn Actuator>>, Box<dyn std::error::Error>> {
    let mut out: BTreeMap<String, Arc<dyn Actuator>> = BTreeMap::new();
    for (name, spec) in &charter.actuators {
        let actuator: Arc<dyn Actuator> = match spec {
            ActuatorSpec::Http { url, timeout, .. } => {
                Arc::new(HttpActuator::new(url, None, *timeout)?)
            }
            ActuatorSpec::Command(spec) => Arc::new(CommandActuator::new(name, spec.clone())),
            other => return Err(format!("unexpected actuator {other:?}").into()),
        };
        out.insert(name.clone(), actuator);
    }
    Ok(out)
}

/// Server A: the Charter actuator API (`docs/actuator-api.md`) in front of the
/// simulated world.
struct ActuatorApi {
    sim: Simulator,
}

impl Respond for ActuatorApi {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let error = |status: u16, message: &str| {
            ResponseTemplate::new(status).set_body_json(json!({ "error": message }))
        };
        let path = request.url.path();
        match (request.method.as_str(), path.strip_prefix("/v1/")) {
            ("POST", Some("actions")) => {
                let Some(key) = request
                    .headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                else {
                    return error(400, "missing Idempotency-Key");
                };
                let Ok(action) = serde_json::from_slice::<Action>(&request.body) else {
                    return error(400, "not an action");
                };
                match self.sim.with_world(|w| w.apply(key, &action)) {
                    Ok(applied) => ResponseTemplate::new(200).set_body_json(json!({
                        "key": key, "status": "applied", "action": action,
                        "prior": applied.prior, "detail": applied.detail,
                    })),
                    Err(ActuatorError::Precondition(m)) => ResponseTemplate::new(422)
                        .set_body_json(json!({
                            "key": key, "status": "precondition_failed", "action": action,
                            "error": m,
                        })),
                    Err(ActuatorError::UnknownComponent(c)) => ResponseTemplate::new(404)
                        .set_body_json(json!({
                            "key": key, "status": "unknown_component", "action": action,
                            "error": format!("no component {c}"),
                        })),
                    Err(ActuatorError::Failed(m) | ActuatorError::Indeterminate(m)) => {
                        error(500, &m)
                    }
                }
            }
            ("GET", Some(rest)) => {
                if let Some(name) = rest.strip_prefix("components/") {
                    match self.sim.with_world(|w| w.describe(name)) {
                        Ok(state) => ResponseTemplate::new(200).set_body_json(state),
                        Err(_) => ResponseTemplate::new(404).set_body_json(json!({
                            "status": "unknown_component", "error": "no such component",
                        })),
                    }
                } else if let Some(key) = rest.strip_prefix("actions/") {
                    match self.sim.with_world(|w| w.recorded(key)) {
                        Some(a) => ResponseTemplate::new(200).set_body_json(json!({
                            "key": key, "status": "applied", "prior": a.prior, "detail": a.detail,
                        })),
                        None => error(404, "unknown key"),
                    }
                } else {
                    error(404, "not found")
                }
            }
            _ => error(404, "not found"),
        }
    }
}

/// `orders` (behind the programs) leaks memory first; later a crawler surges
/// `catalog` (behind server A). Hostile alerts arrive throughout; two well-formed alerts
/// with hostile extra labels and annotations point at the faults. The loop must act
/// through both actuators, and nothing an attacker wrote may reach either.
#[tokio::test]
async fn hostile_alert_labels_reach_no_command_line_and_no_undeclared_url() -> TestResult {
    let min = |m: u64| Duration::from_secs(m * 60);
    let scenario = Scenario::default_shop("security", min(40))
        .with_fault(Fault::new(FaultKind::MemoryLeak, "orders", min(2)).lasting(min(20)))
        .with_fault(Fault::new(FaultKind::TrafficSurge, "catalog", min(20)).lasting(min(10)));
    let mut lab = Lab::start(&scenario, 7).await?;
    let attack = Attack::new(&lab.canary, &lab.decoy_url());
    let hostile_batch = |tag: &str, at: Duration| {
        let alerts = attack.unmapped(tag, at);
        let n = alerts.len() as u64;
        (at, webhook(alerts), n)
    };
    let well_formed = |fingerprint: &str, objective: &str, component: &str, at: Duration| {
        let alert = attack.mapped(fingerprint, objective, component, at);
        (at, webhook(vec![alert]), 0)
    };
    // Alertmanager's notice that an alert ended, `minutes` after it started.
    let resolved = |fingerprint: &str, objective: &str, component: &str, at: Duration, minutes| {
        let end = at + min(minutes);
        let mut alert = attack.mapped(fingerprint, objective, component, at);
        alert["status"] = json!("resolved");
        alert["endsAt"] = json!(rfc3339(end));
        (end, webhook(vec![alert]), 0)
    };
    // The well-formed alerts arrive while their objective's query breaches (an alert is
    // a claim the query must confirm): orders' memory at 645 s, catalog's CPU at 1230 s.
    let secs = Duration::from_secs;
    let schedule = vec![
        hostile_batch("early", Duration::ZERO),
        hostile_batch("leak", min(4)),
        well_formed("orders-memory", "memory_utilization", "orders", secs(645)),
        resolved(
            "orders-memory",
            "memory_utilization",
            "orders",
            secs(645),
            5,
        ),
        well_formed("catalog-cpu", "cpu_utilization", "catalog", secs(1230)),
        hostile_batch("surge", min(22)),
        resolved("catalog-cpu", "cpu_utilization", "catalog", secs(1230), 9),
        hostile_batch("late", min(32)),
    ];
    lab.run(min(40), &schedule).await?;
    let log = lab.log();

    // The receiver mapped only the two well-formed alerts, to exactly their labels.
    let stored = lab.store.recent_alerts(10_000).await?;
    let mapped: Vec<_> = stored.iter().filter(|a| a.objective.is_some()).collect();
    assert_eq!(mapped.len(), 2, "{mapped:#?}");
    for a in &mapped {
        assert_eq!(a.objective.as_ref(), a.labels.get("alertname"));
        assert_eq!(a.component.as_ref(), a.labels.get("service"));
    }
    assert!(stored.len() > 100, "only {} alerts stored", stored.len());
    // The alerts were evidence the loop used: their violations carry `alerted`.
    for (objective, component) in [
        ("cpu_utilization", "catalog"),
        ("memory_utilization", "orders"),
    ] {
        assert!(
            lab.events.iter().any(|(_, e)| matches!(e,
                Event::Violation { violation: v, .. }
                    if v.alerted && v.objective == objective && v.component == component)),
            "the alert for {objective}@{component} was not used:\n{log}"
        );
    }

    // The loop acted through both actuators: otherwise this test proves nothing.
    let ops = lab.components_of("ops");
    let shop = lab.components_of("shop");
    let applied = lab.applied();
    assert!(
        applied.iter().any(|a| ops.contains(&a.component)),
        "nothing ran through the command actuator:\n{log}"
    );
    assert!(
        applied.iter().any(|a| shop.contains(&a.component)),
        "nothing went through the http actuator:\n{log}"
    );

    // Every program run: argv and environment derived from the charter alone.
    let calls = lab.calls()?;
    assert!(!calls.is_empty(), "no program ran:\n{log}");
    for call in &calls {
        if let Err(e) = check_argv(call, &lab.script, &ops) {
            panic!("{e}\nall calls: {calls:#?}");
        }
        for arg in &call.argv {
            assert_clean("argv element", arg, &attack.hostile);
        }
        for (k, v) in &call.env {
            assert_clean("environment", &format!("{k}={v}"), &attack.hostile);
        }
    }
    let restarts = calls.iter().filter(|c| c.argv[1] == "restart").count();
    assert!(restarts >= 1, "no restart of orders ran: {calls:#?}\n{log}");

    // Server A: only the API's paths, only components behind it, only clean values.
    let requests = lab.api.received_requests().await.ok_or("recording off")?;
    let mut posts = 0;
    for r in &requests {
        let path = r.url.path();
        let what = format!("{} {}", r.method, r.url);
        assert!(r.url.query().is_none(), "{what}");
        match (r.method.as_str(), path) {
            ("POST", "/v1/actions") => {
                posts += 1;
                let action: Action = serde_json::from_slice(&r.body)?;
                assert!(shop.contains(&action.component), "{what}: {action}");
                for v in action.params.values() {
                    assert_clean("action parameter", v, &attack.hostile);
                }
                let key = r
                    .headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| format!("{what} without a key"))?;
                assert!(is_key(key), "{what}: key {key:?}");
            }
            ("GET", p) => {
                let name = p
                    .strip_prefix("/v1/components/")
                    .ok_or_else(|| format!("{what}: not a component request"))?;
                assert!(shop.contains(name), "{what}");
            }
            _ => panic!("unexpected request {what}"),
        }
        for (name, value) in &r.headers {
            assert_clean(
                "header",
                &format!("{name}: {}", String::from_utf8_lossy(value.as_bytes())),
                &attack.hostile,
            );
        }
    }
    assert!(posts >= 1, "server A got no action:\n{log}");
    lab.assert_contained(&attack.hostile).await?;
    Ok(())
}

/// A loop with nothing wrong, and alerts that name what the charter does not declare:
/// an undeclared component, an undeclared objective, a declared objective on a declared
/// component it does not cover, near-misses of real names. None may open an incident or
/// call an actuator.
#[tokio::test]
async fn alerts_for_undeclared_targets_cause_no_action() -> TestResult {
    let scenario = Scenario::builtin("no-fault").ok_or("built-in scenario")?;
    let mut lab = Lab::start(&scenario, 1).await?;
    let at = Duration::from_secs(60);
    let labels = |objective: &str, component: &str| {
        vec![
            ("alertname", objective.to_string()),
            ("service", component.to_string()),
            ("severity", "critical".to_string()),
        ]
    };
    let alerts = vec![
        alert("evil", &labels("memory_utilization", "evil"), &[], at),
        alert("no-objective", &labels("disk_full", "orders"), &[], at),
        // `cache_hit_ratio` covers only catalog and cache.
        alert("uncovered", &labels("cache_hit_ratio", "orders"), &[], at),
        alert("case", &labels("memory_utilization", "Orders"), &[], at),
        alert("space", &labels("memory_utilization ", "orders"), &[], at),
        alert(
            "swapped",
            &[
                ("service", "memory_utilization".to_string()),
                ("alertname", "orders".to_string()),
            ],
            &[],
            at,
        ),
        alert(
            "other-labels",
            &[
                ("objective", "memory_utilization".to_string()),
                ("component", "orders".to_string()),
            ],
            &[],
            at,
        ),
        alert(
            "no-component",
            &[("alertname", "memory_utilization".to_string())],
            &[],
            at,
        ),
    ];
    let n = alerts.len() as u64;
    let schedule = vec![
        (at, webhook(alerts.clone()), n),
        (Duration::from_secs(5 * 60), webhook(alerts), n),
    ];
    lab.run(Duration::from_secs(15 * 60), &schedule).await?;
    let log = lab.log();

    assert_eq!(lab.store.recent_alerts(100).await?.len() as u64, n);
    assert!(lab.store.incidents().await?.is_empty(), "incidents:\n{log}");
    assert!(
        !lab.events.iter().any(|(_, e)| matches!(
            e,
            Event::IncidentOpened { .. } | Event::PolicyDecided { .. } | Event::StepApplied { .. }
        )),
        "the loop acted:\n{log}"
    );
    assert!(lab.calls()?.is_empty(), "a program ran");
    let requests = lab.api.received_requests().await.ok_or("recording off")?;
    assert!(requests.is_empty(), "server A was called: {requests:#?}");
    lab.assert_contained(&["evil".to_string(), "disk_full".to_string()])
        .await?;
    Ok(())
}
