//! The `charter` binary as a user runs it: exit codes, messages, the demo's summary
//! and the daemon's HTTP endpoints and shutdown.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn charter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_charter"))
}

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/westworld.yaml")
        .display()
        .to_string()
}

#[test]
fn validate_accepts_the_example_charter() {
    let out = charter()
        .args(["validate", &example()])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("15 objectives"));
}

#[test]
fn validate_reports_every_error_with_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "name: bad\n\
         components:\n\
         \x20 - { name: api, depends_on: [db, nosuch], replicas: { min: 5, max: 2 } }\n\
         \x20 - { name: db }\n\
         \x20 - { name: api }\n\
         objectives:\n\
         \x20 - name: lat\n\
         \x20   metric: m\n\
         \x20   above: { warning: 2, critical: 1 }\n\
         \x20   remedies: [scale_out, reboot]\n",
    )
    .expect("write");
    let out = charter()
        .args(["validate", &file.display().to_string()])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let f = file.display().to_string();
    for expected in [
        format!("{f}:3:35: components[0].depends_on[1]: unknown component `nosuch`"),
        format!("{f}:3:54: components[0].replicas: min (5) is greater than max (2)"),
        format!("{f}:5:13: components[2].name: duplicate component `api`"),
        format!("{f}:9:12: objectives[0].above: critical (1) must be greater than warning (2)"),
        format!("{f}:10:27: objectives[0].remedies[1]: unknown action kind `reboot`"),
    ] {
        assert!(err.contains(&expected), "missing {expected:?} in:\n{err}");
    }
    assert!(err.contains("5 error(s)"), "{err}");
}

#[test]
fn validate_deny_warnings_fails_on_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("warn.yaml");
    std::fs::write(
        &file,
        "name: w\ncomponents: [{ name: api }]\nobjectives:\n  - { name: lat, metric: m, above: { warning: 1 } }\n",
    )
    .expect("write");
    let path = file.display().to_string();
    assert_eq!(
        charter()
            .args(["validate", &path])
            .output()
            .expect("run")
            .status
            .code(),
        Some(0)
    );
    let out = charter()
        .args(["validate", "--deny-warnings", &path])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: objectives[0].remedies"));
}

#[test]
fn usage_errors_and_missing_files_exit_2() {
    assert_eq!(charter().output().expect("run").status.code(), Some(2));
    assert_eq!(
        charter()
            .args(["validate", "/nonexistent/charter.yaml"])
            .output()
            .expect("run")
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn demo_heals_every_injected_fault_and_reports_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("demo.db");
    let out = charter()
        .args([
            "demo",
            "--json",
            "--seed",
            "3",
            "--db",
            &db.display().to_string(),
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let faults = v["faults"].as_array().expect("faults");
    let kinds: Vec<&str> = faults.iter().filter_map(|f| f["fault"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "traffic_surge",
            "memory_leak",
            "bad_deploy",
            "dependency_outage",
            "noisy_neighbour"
        ]
    );
    for f in faults {
        assert_eq!(f["diagnosed_root_cause"], f["truth_root_cause"], "{f}");
        assert_eq!(f["root_cause_correct"], true, "{f}");
        assert_eq!(f["remedy_correct"], true, "{f}");
        assert_eq!(f["resolved"], true, "{f}");
        let c = f["confidence"].as_f64().expect("confidence");
        assert!((0.0..=1.0).contains(&c));
        assert!(f["time_to_recover_secs"].as_f64().is_some());
        // The resolving action is the truth's remedy at the truth's root.
        let remedy = format!(
            "{}({}",
            f["truth_remedy"].as_str().expect("remedy"),
            f["truth_root_cause"].as_str().expect("root")
        );
        let resolving = f["resolving_action"].as_str().expect("resolving action");
        assert!(resolving.starts_with(&remedy), "{f}");
    }
    assert_eq!(v["unexplained_incidents"].as_array().map(Vec::len), Some(0));
    let fault = |kind: &str| {
        faults
            .iter()
            .find(|f| f["fault"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    };

    // The surge gets a multi-action policy, judged by its main action.
    let surge = &fault("traffic_surge")["policies"][0];
    let steps: Vec<&str> = surge["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert_eq!(steps.len(), 3, "{surge}");
    assert!(steps[0].starts_with("throttle(catalog"), "{surge}");
    assert!(
        steps[2].starts_with("throttle(catalog, rate=none"),
        "{surge}"
    );
    assert!(
        surge["main_action"]
            .as_str()
            .is_some_and(|a| a.starts_with("scale_out(catalog")),
        "{surge}"
    );
    assert_eq!(fault("traffic_surge")["first_action_correct"], true);

    // One policy waited for a human: the failover, approved by the scripted operator,
    // who is recorded as its approver.
    let approvals = v["approvals"].as_array().expect("approvals");
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(approvals[0]["by"], "alice");
    assert_eq!(approvals[0]["waited_secs"], 45.0);
    let outage = &fault("dependency_outage")["policies"][0];
    assert_eq!(outage["id"], approvals[0]["policy_id"], "{outage}");
    assert_eq!(outage["actions"][0], "failover(db)");
    assert_eq!(outage["approval"], "approved", "{outage}");
    assert_eq!(outage["approved_by"], "alice", "{outage}");
    assert_eq!(outage["outcome"], "resolved", "{outage}");
    for f in faults.iter().filter(|f| f["fault"] != "dependency_outage") {
        for p in f["policies"].as_array().expect("policies") {
            assert_eq!(p["approval"], "auto_approved", "{p}");
        }
    }

    // One worsened outcome, rolled back by its inverse; the next candidate resolved it.
    let nn = fault("noisy_neighbour");
    assert_eq!(
        nn["outcomes"],
        serde_json::json!(["worsened", "rolled_back", "resolved"]),
        "{nn}"
    );
    let (first, second) = (&nn["policies"][0], &nn["policies"][1]);
    assert_eq!(first["main_action"], "rollback(orders)", "{nn}");
    assert_eq!(first["outcome"], "worsened", "{nn}");
    assert_eq!(first["rolled_back"], true, "{nn}");
    assert!(
        first["compensations"][0]
            .as_str()
            .is_some_and(|a| a.starts_with("rollback(orders, to_version=")),
        "{nn}"
    );
    assert_eq!(nn["first_action_correct"], false, "reported honestly: {nn}");
    assert!(
        second["main_action"]
            .as_str()
            .is_some_and(|a| a.starts_with("scale_out(orders")),
        "{nn}"
    );
    assert_eq!(second["outcome"], "resolved", "{nn}");
    let worsened: usize = faults
        .iter()
        .flat_map(|f| f["policies"].as_array().expect("policies"))
        .filter(|p| p["outcome"] == "worsened")
        .count();
    assert_eq!(worsened, 1);

    // The knowledge went to --db and `charter knowledge` reads it back.
    let out = charter()
        .args(["knowledge", "--db", &db.display().to_string()])
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for kind in ["scale_out", "restart", "rollback", "failover"] {
        assert!(text.contains(kind), "{kind} missing from:\n{text}");
    }
}

#[test]
fn demo_log_shows_the_operator_approving_and_the_rollback() {
    let out = charter()
        .args(["demo", "--seed", "2"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "approval required for: failover",
        "[Pending]: failover(db)",
        "operator alice approves policy #",
        "verified: worsened",
        "rolled back with rollback(orders, to_version=v2)",
        "worsened → rolled back, then resolved",
        "5/5 root causes right, 5/5 right remedies (4/5 right first actions), 5/5 resolved",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}

fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Some((code, body))
}

#[test]
fn run_serves_health_and_metrics_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("run.db");
    let mut child = charter()
        .args([
            "run",
            &example(),
            "--listen",
            "127.0.0.1:0",
            "--db",
            &db.display().to_string(),
            "--grace",
            "5s",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    // The banner names the bound address; log lines may come before it.
    let mut seen = String::new();
    let addr = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).expect("stderr") == 0 {
            let status = child.wait().expect("wait");
            panic!("charter run exited ({status:?}) before its banner; stderr:\n{seen}");
        }
        seen.push_str(&line);
        if let Some(addr) = line
            .split("http on ")
            .nth(1)
            .and_then(|r| r.split(';').next())
        {
            break addr.to_string();
        }
    };

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ready = None;
    while Instant::now() < deadline {
        if let Some((200, body)) = http_get(&addr, "/readyz") {
            ready = Some(body);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ready.is_some(), "never ready");
    assert_eq!(http_get(&addr, "/healthz").map(|r| r.0), Some(200));
    let (code, metrics) = http_get(&addr, "/metrics").expect("metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("charter_ticks_total"), "{metrics}");
    assert!(metrics.contains("charter_blind 0"), "{metrics}");

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "did not stop within the grace period"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).expect("stderr");
    assert!(status.success(), "exit {status:?}: {rest}");
    assert!(rest.contains("charter: stopped"), "{rest}");
    // The store was closed cleanly: the WAL was checkpointed into the database.
    assert!(db.exists());
}
