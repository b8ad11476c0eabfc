//! Helpers of the tests that run `charter` processes (crash, failover): children
//! killed when dropped, logs, and a `charter sim serve` on a free port.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
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
