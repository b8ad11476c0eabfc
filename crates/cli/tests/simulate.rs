//! `charter simulate` as a user runs it: one scenario file, readable output.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn simulate_names_the_root_cause_and_the_action() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A short surge: catalog's load doubles at 1m for 5 minutes.
    let scenario = dir.path().join("short-surge.yaml");
    std::fs::write(
        &scenario,
        "name: short-surge\n\
         seed: 5\n\
         duration: 9m\n\
         services: default\n\
         faults:\n\
         \x20 - { kind: traffic_surge, target: catalog, at: 1m, duration: 5m, factor: 2.5 }\n",
    )
    .expect("write scenario");
    let out = Command::new(env!("CARGO_BIN_EXE_charter"))
        .arg("simulate")
        .arg(root().join("examples/westworld.yaml"))
        .arg("--scenario")
        .arg(&scenario)
        .output()
        .expect("run charter simulate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("root cause: catalog"),
        "no diagnosis of catalog:\n{stdout}"
    );
    assert!(
        stdout.contains("applied scale_out(catalog"),
        "no scale_out of catalog:\n{stdout}"
    );
    assert!(stdout.contains("diagnosed catalog ✓"), "{stdout}");
    assert!(stdout.contains("violation-seconds"), "{stdout}");
}
