//! Helpers of the tests that run `charter` processes (crash, failover): children
//! killed when dropped, logs, a `charter sim serve` on a free port, and the charter
//! both run against it.

use charter_testkit::WESTWORLD_COMPONENTS;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process, continued (a stopped one cannot die), killed with SIGKILL and
/// reaped when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        signal(&self.0, "CONT");
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Send signal `name` (`KILL`, `STOP`, `CONT`) to a child.
pub fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .stderr(Stdio::null())
        .status();
}

pub fn charter_bin() -> &'static str {
    env!("CARGO_BIN_EXE_charter")
}

/// Wait for a line of `log` containing `marker`, and return what follows it.
pub fn wait_for_line(log: &Path, marker: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(f) = File::open(log) {
            for line in BufReader::new(f).lines().map_while(Result::ok) {
                if let Some(rest) = line.split(marker).nth(1) {
                    return Some(rest.to_string());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// The last `n` lines of a log, for failure messages.
pub fn tail(path: &Path, n: usize) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `charter sim serve` on a free loopback port, logging to `dir/sim.log`; its base
/// URL. `action_delay`: how long the server takes to answer an action.
pub fn start_simulator(dir: &Path, seed: u64, speed: f64, action_delay: &str) -> (Proc, String) {
    let log = dir.join("sim.log");
    let out = File::create(&log).expect("sim log");
    let child = Command::new(charter_bin())
        .args(["sim", "serve", "--listen", "127.0.0.1:0"])
        .args(["--seed", &seed.to_string(), "--speed", &speed.to_string()])
        .args(["--action-delay", action_delay])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `charter sim serve`: {e}"));
    let proc = Proc(child);
    let addr = wait_for_line(&log, "on http://", Duration::from_secs(30)).unwrap_or_else(|| {
        panic!(
            "`charter sim serve` did not report its address\n{}",
            tail(&log, 30)
        )
    });
    (proc, format!("http://{}", addr.trim()))
}

/// Writes `dir/charter.yaml` for `charter run` against `charter sim serve` at `base`:
/// Prometheus source and HTTP actuator on the server, every Westworld component with
/// room for 1,000 replicas, no cooldown, generous limits, every action auto-approved.
/// The only remedy is a one-replica scale-out (reversible, and too small to end a
/// surge at once), so each incident tries several components and nothing becomes
/// immune. `knowledge` is the charter's `knowledge:` section, if any, one line per
/// entry with a trailing newline.
pub fn write_charter(
    dir: &Path,
    name: &str,
    interval: Duration,
    base: &str,
    knowledge: &str,
) -> PathBuf {
    let components: String = WESTWORLD_COMPONENTS
        .iter()
        .map(|c| format!("  - {{ name: {c}, actuator: sim, replicas: {{ min: 1, max: 1000 }} }}\n"))
        .collect();
    let text = format!(
        "name: {name}
interval: {interval}ms
mode: autonomous
source:
  prometheus: {{ url: \"{base}\", timeout: 2s, blind_after: 1000 }}
{knowledge}actuators:
  sim: {{ http: {{ url: \"{base}\", timeout: 2s }} }}
components:
{components}objectives:
  - name: cpu_utilization
    metric: westworld_cpu_utilization
    signal: utilization
    above: {{ warning: 0.85, critical: 1.0, clear: 0.75 }}
    remedies: [scale_out]
actions:
  scale_out: {{ cost: 1, step: 1, time_to_effect: 600ms }}
guardrails:
  max_actions_per_hour: 1000000
  cooldown: 0s
  max_concurrent: 8
  auto_approve_max_cost: 100
  max_attempts_per_incident: 8
  max_reversals: 1000000
",
        interval = interval.as_millis(),
    );
    let path = dir.join("charter.yaml");
    std::fs::write(&path, text).expect("write charter");
    path
}
