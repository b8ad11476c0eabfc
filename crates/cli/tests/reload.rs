//! Issue 19 item 5 on the real binary: `charter run` reloads its charter on SIGHUP
//! and on `POST /-/reload` (API token required), keeps the running charter when the
//! file is bad and says why with FILE:LINE:COL, publishes
//! `charter_config_last_reload_successful` and its timestamp; `--log-format json`
//! writes one JSON object per stderr line; text logs into a pipe carry no colour
//! codes.

#[allow(dead_code)]
mod common;

use common::{Proc, charter_bin, signal, tail, wait_for_line};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "reload-test-token-0123456789";

/// A charter over the built-in simulator, its API token file beside it.
fn charter_text(warning: &str) -> String {
    format!(
        "name: reload
interval: 1s
mode: autonomous
source:
  simulator: {{}}
api: {{ token_file: api-token }}
actuators:
  sim: {{ simulator: {{}} }}
components:
  - {{ name: api, actuator: sim, replicas: {{ min: 2, max: 12 }} }}
objectives:
  - name: latency
    metric: westworld_latency_p99_seconds
    signal: latency
    above: {{ warning: {warning}, critical: 2.0, clear: 0.1 }}
    remedies: [scale_out]
"
    )
}

/// One HTTP/1.1 request; status and body.
fn http(addr: &str, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read");
    let code = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {buf}"));
    let body = buf.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (code, body)
}

/// A sample's value on `/metrics`.
fn metric(addr: &str, name: &str) -> f64 {
    let (_, body) = http(addr, "GET", "/metrics", None);
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing:\n{body}"))
}

/// Wait until the log has `marker` `n` times; the last such line.
fn wait_for_nth(log: &Path, marker: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let hits: Vec<&str> = text.lines().filter(|l| l.contains(marker)).collect();
        if hits.len() >= n {
            return hits[n - 1].to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no {n}th `{marker}` in the log:\n{}",
            tail(log, 30)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sighup_and_post_reload_swap_the_charter_keep_a_bad_one_out_and_every_log_line_is_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("charter.yaml");
    std::fs::write(&file, charter_text("0.8")).expect("write");
    let token = dir.path().join("api-token");
    std::fs::write(&token, TOKEN).expect("token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let log = dir.path().join("charter.log");
    let child = Command::new(charter_bin())
        .args([
            "run",
            "charter.yaml",
            "--listen",
            "127.0.0.1:0",
            "--grace",
            "5s",
        ])
        .args(["--db", &dir.path().join("k.db").display().to_string()])
        .args(["--log-format", "json", "--log", "info"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).expect("log")))
        .spawn()
        .expect("spawn charter run");
    let mut proc = Proc(child);
    let addr = wait_for_line(&log, "http on ", Duration::from_secs(30))
        .and_then(|rest| rest.split(';').next().map(str::to_string))
        .unwrap_or_else(|| panic!("no banner:\n{}", tail(&log, 30)));

    // A start is a successful load.
    assert_eq!(metric(&addr, "charter_config_last_reload_successful"), 1.0);
    let started = metric(
        &addr,
        "charter_config_last_reload_success_timestamp_seconds",
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    assert!(
        started > now - 120.0 && started <= now + 1.0,
        "{started} vs {now}"
    );

    // SIGHUP with a changed threshold: swapped in.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&file, charter_text("0.7")).expect("write");
    signal(&proc.0, "HUP");
    let line = wait_for_nth(&log, "reloaded charter.yaml", 1);
    assert!(
        line.contains("asked by SIGHUP; changed: objectives"),
        "{line}"
    );
    assert_eq!(metric(&addr, "charter_config_last_reload_successful"), 1.0);
    let hup = metric(
        &addr,
        "charter_config_last_reload_success_timestamp_seconds",
    );
    assert!(hup > started, "{hup} after {started}");

    // A bad file: the running charter stays, the log says where, the metric says 0.
    let bad = format!("{}bad: [\n", charter_text("0.6"));
    let bad_line = bad.lines().count();
    std::fs::write(&file, &bad).expect("write");
    signal(&proc.0, "HUP");
    let line = wait_for_nth(&log, "charter reload failed", 1);
    assert!(
        line.contains(&format!("charter.yaml:{bad_line}:")),
        "FILE:LINE:COL of the bad line ({bad_line}) in: {line}"
    );
    assert!(line.contains("\"level\":\"ERROR\""), "{line}");
    assert_eq!(metric(&addr, "charter_config_last_reload_successful"), 0.0);
    assert_eq!(
        metric(
            &addr,
            "charter_config_last_reload_success_timestamp_seconds"
        ),
        hup
    );

    // POST /-/reload: the token first, then the file's verdict.
    let (code, body) = http(&addr, "POST", "/-/reload", None);
    assert_eq!(code, 401, "{body}");
    let (code, body) = http(&addr, "POST", "/-/reload", Some("not-the-token-at-all"));
    assert_eq!(code, 401, "{body}");
    let (code, body) = http(&addr, "POST", "/-/reload", Some(TOKEN));
    assert_eq!(code, 422, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).expect("JSON error");
    let reason = error["error"].as_str().expect("error text");
    assert!(
        reason.contains(&format!("charter.yaml:{bad_line}:")),
        "{reason}"
    );
    assert_eq!(metric(&addr, "charter_config_last_reload_successful"), 0.0);

    std::fs::write(&file, charter_text("0.6")).expect("write");
    let (code, body) = http(&addr, "POST", "/-/reload", Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    let done: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(done["changed"], serde_json::json!(["objectives"]), "{body}");
    assert_eq!(metric(&addr, "charter_config_last_reload_successful"), 1.0);
    assert!(
        metric(
            &addr,
            "charter_config_last_reload_success_timestamp_seconds"
        ) >= hup
    );
    wait_for_nth(&log, "asked by api; changed: objectives", 1);

    // The daemon ran on through all of it, and stops cleanly.
    assert_eq!(http(&addr, "GET", "/healthz", None).0, 200);
    signal(&proc.0, "TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = proc.0.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}\n{}", tail(&log, 30));

    // Every stderr line is one JSON object with the expected keys.
    let text = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 6, "{text}");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for key in ["timestamp", "level", "target", "message"] {
            assert!(v[key].is_string(), "`{key}` missing in {line}");
        }
    }
    // Fields sit beside the message.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"by\":\"SIGHUP\"") && l.contains("charter reload failed")),
        "{text}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.contains("\"message\":\"stopped\"")),
        "{text}"
    );
}

#[test]
fn text_logs_into_a_pipe_carry_no_colour_codes() {
    let out = Command::new(charter_bin())
        .args(["demo", "--log", "info"])
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run charter demo");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(" INFO "), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "escape codes in piped logs:\n{stderr}"
    );
}
