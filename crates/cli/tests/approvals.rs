//! Approvals and the kill switch end to end: `charter run` in `supervised` mode on the
//! simulator with a fault a few seconds in, and the `charter policies`, `approve`,
//! `pause` and `resume` commands talking to it with a token; then a restart on the
//! same database, which must still be paused.
//!
//! The daemon must start: if it cannot, the test fails (it never skips).

use charter_testkit::WESTWORLD;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "cli-approvals-5b2e77";

fn charter_bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_charter"));
    // The user's environment must not change what the commands do.
    c.env_remove("CHARTER_URL")
        .env_remove("CHARTER_TOKEN_FILE")
        .env_remove("CHARTER_API_TOKEN_FILE")
        .env_remove("CHARTER_LISTEN");
    c
}

/// The example charter, made fast and supervised: a 1 s interval, `for: 2s`
/// everywhere, the bad-deploy fault 8 s after start, and an `api:` token file.
fn write_charter(dir: &Path) -> PathBuf {
    let mut text = String::new();
    for line in WESTWORLD.lines() {
        let line = if line.starts_with("interval:") {
            "interval: 1s".to_string()
        } else if line.starts_with("mode:") {
            "mode: supervised\napi: { token_file: api-token }".to_string()
        } else if line.starts_with("  simulator: {}") {
            "  simulator: { scenario: fault.yaml }".to_string()
        } else if let Some(at) = line.find("for: ") {
            format!("{}for: 2s", &line[..at])
        } else {
            line.to_string()
        };
        text.push_str(&line);
        text.push('\n');
    }
    assert!(text.contains("mode: supervised") && text.contains("scenario: fault.yaml"));
    std::fs::write(
        dir.join("fault.yaml"),
        "name: quick-bad-deploy\n\
         description: auth v2 fails 30% of its requests, 8 s after start\n\
         seed: 23\n\
         duration: 1h\n\
         step: 1s\n\
         traffic: { rps: 200, pattern: flat, noise: 0.03 }\n\
         services: default\n\
         faults:\n\
         \x20 - { kind: bad_deploy, target: auth, at: 8s, error_ratio: 0.3 }\n",
    )
    .expect("scenario");
    std::fs::write(dir.join("api-token"), format!("{TOKEN}\n")).expect("token");
    let file = dir.join("charter.yaml");
    std::fs::write(&file, text).expect("charter");
    file
}

/// A running `charter run`, killed when dropped.
struct Daemon {
    child: Child,
    url: String,
    /// Everything the daemon wrote on stderr so far, for failure messages.
    log: Arc<Mutex<String>>,
}

impl Daemon {
    fn start(charter: &Path, db: &Path) -> Daemon {
        let mut child = charter_bin()
            .args(["run", &charter.display().to_string()])
            .args(["--listen", "127.0.0.1:0", "--grace", "5s"])
            .args(["--db", &db.display().to_string()])
            .env("CHARTER_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn charter run");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let log = Arc::new(Mutex::new(String::new()));
        let addr = loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).expect("read stderr") == 0 {
                let status = child.wait().expect("wait");
                panic!(
                    "charter run exited ({status}) before its banner:\n{}",
                    log.lock().map(|l| l.clone()).unwrap_or_default()
                );
            }
            if let Ok(mut l) = log.lock() {
                l.push_str(&line);
            }
            if let Some(addr) = line
                .split("http on ")
                .nth(1)
                .and_then(|r| r.split(';').next())
            {
                break addr.trim().to_string();
            }
        };
        // Keep draining stderr so the daemon never blocks on a full pipe.
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while stderr.read_line(&mut line).unwrap_or(0) > 0 {
                if let Ok(mut l) = sink.lock() {
                    l.push_str(&line);
                }
                line.clear();
            }
        });
        let daemon = Daemon {
            child,
            url: format!("http://{addr}"),
            log,
        };
        daemon.wait_for("ready", Duration::from_secs(20), || {
            daemon.http_get("/readyz").map(|(code, _)| code == 200)
        });
        daemon
    }

    fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn http_get(&self, path: &str) -> Option<(u16, String)> {
        let addr = self.url.trim_start_matches("http://");
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

    fn state(&self) -> Value {
        let (code, body) = self.http_get("/api/v1/state").expect("GET /api/v1/state");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).expect("state JSON")
    }

    /// Poll `check` until it says yes; fail with the daemon's log after `limit`.
    fn wait_for(&self, what: &str, limit: Duration, mut check: impl FnMut() -> Option<bool>) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if check() == Some(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("not {what} within {limit:?}; daemon log:\n{}", self.log());
    }

    /// A CLI command against this daemon.
    fn cli(&self, args: &[&str]) -> Output {
        charter_bin()
            .args(args)
            .args(["--url", &self.url])
            .output()
            .expect("run the charter CLI")
    }

    /// SIGTERM, and wait for a clean exit.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .expect("kill")
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "{status}; log:\n{}", self.log());
                return;
            }
            assert!(Instant::now() < deadline, "did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn policies_json(d: &Daemon) -> Vec<Value> {
    let out = d.cli(&["policies", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("policies JSON")
}

#[test]
fn approve_pause_and_a_restart_that_stays_paused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let charter = write_charter(dir.path());
    let db = dir.path().join("charter.db");
    let token_file = dir.path().join("api-token").display().to_string();
    let d = Daemon::start(&charter, &db);

    // The fault produces an incident, and in supervised mode its policy waits for us.
    let mut pending = Value::Null;
    d.wait_for("a pending policy", Duration::from_secs(90), || {
        pending = policies_json(&d)
            .into_iter()
            .find(|p| p["state"] == "pending")?;
        Some(true)
    });
    let id = pending["id"].as_u64().expect("policy id").to_string();
    assert!(pending["expires_at"].as_i64().is_some(), "{pending}");

    let table = d.cli(&["policies"]);
    assert!(table.status.success(), "{}", text(&table));
    let table_text = String::from_utf8_lossy(&table.stdout);
    assert!(table_text.starts_with("ID"), "{table_text}");
    assert!(table_text.contains("pending"), "{table_text}");

    // Without the token the daemon refuses, and the CLI says why and how.
    let out = d.cli(&["approve", &id]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401"), "{err}");
    assert!(err.contains("--token-file"), "{err}");

    let out = d.cli(&["approve", &id, "--by", "alice", "--token-file", &token_file]);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!("policy {id} approved by alice")),
        "{said}"
    );

    let approved = policies_json(&d)
        .into_iter()
        .find(|p| p["id"].as_u64().map(|i| i.to_string()) == Some(id.clone()))
        .expect("the approved policy is listed");
    assert_eq!(approved["state"], "approved", "{approved}");
    assert_eq!(
        approved["approval"]["approved"]["by"], "alice",
        "{approved}"
    );
    assert!(approved["approval"]["approved"]["at"].as_i64().is_some());
    d.wait_for("an execution", Duration::from_secs(20), || {
        let s = d.state();
        Some(!s["executions"].as_array()?.is_empty())
    });

    // Approving again is a conflict, reported with the daemon's reason.
    let out = d.cli(&["approve", &id, "--token-file", &token_file]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not pending: it is approved"),
        "{}",
        text(&out)
    );
    let out = d.cli(&["approve", "999999", "--token-file", &token_file]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no policy 999999"));

    // The kill switch, with the token from the environment this time.
    let out = charter_bin()
        .args(["pause", "--reason", "maintenance window", "--by", "bob"])
        .args(["--url", &d.url])
        .env("CHARTER_TOKEN_FILE", &token_file)
        .output()
        .expect("charter pause");
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("automation paused by bob"));
    let state = d.state();
    assert_eq!(state["paused"], true, "{state}");
    assert_eq!(state["pause"]["reason"], "maintenance window", "{state}");

    // A restart on the same database is still paused.
    d.stop();
    let d = Daemon::start(&charter, &db);
    let state = d.state();
    assert_eq!(state["paused"], true, "{state}");
    assert_eq!(state["pause"]["by"], "bob", "{state}");
    assert!(d.log().contains("automation is paused"), "{}", d.log());
    // After a cycle too: the loop itself restored it.
    d.wait_for("a cycle after restart", Duration::from_secs(10), || {
        Some(d.state()["at"].as_i64().is_some())
    });
    assert_eq!(d.state()["paused"], true);

    let out = d.cli(&["resume", "--token-file", &token_file, "--by", "bob"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("automation resumed by bob"));
    assert_eq!(d.state()["paused"], false);
    d.stop();
}

#[test]
fn the_cli_says_when_no_daemon_is_listening() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = charter_bin()
        .args(["policies", "--url", &url])
        .output()
        .expect("charter policies");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("is `charter run` listening on {url}?")),
        "{err}"
    );
}
