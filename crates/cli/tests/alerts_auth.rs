//! `alerts.auth: none` is for a loopback listener only (issue 16, item 17):
//! `charter run` refuses to start it on an address other hosts can reach, and names
//! the address; on loopback it starts.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn westworld_with_open_alerts(dir: &Path) -> String {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/westworld.yaml");
    let text = std::fs::read_to_string(example).expect("example charter");
    let file = dir.join("open.yaml");
    std::fs::write(&file, format!("alerts:\n  auth: none\n{text}")).expect("write");
    file.display().to_string()
}

fn run(dir: &Path, listen: &str) -> Child {
    let charter = westworld_with_open_alerts(dir);
    Command::new(env!("CARGO_BIN_EXE_charter"))
        .args(["run", &charter, "--listen", listen, "--db"])
        .arg(dir.join("k.db"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn charter run")
}

/// Wait up to `limit` for the process to exit; kill it if it does not.
fn exited_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn auth_none_on_every_interface_is_refused_with_the_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = run(dir.path(), "0.0.0.0:0");
    let status = exited_within(&mut child, Duration::from_secs(20))
        .expect("`charter run` must refuse to start, not serve an open receiver");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert!(!status.success(), "{err}");
    assert!(
        err.contains("alerts.auth: none") && err.contains("listen address is 0.0.0.0:0"),
        "{err}"
    );
    // Refused before anything started: no store was created.
    assert!(!dir.path().join("k.db").exists());
}

#[test]
fn auth_none_on_loopback_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = run(dir.path(), "127.0.0.1:0");
    // Still running after two seconds: it started.
    assert!(exited_within(&mut child, Duration::from_secs(2)).is_none());
}
