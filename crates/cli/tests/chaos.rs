//! The chaos suite (issue 16): the real `charter run` binary against the simulator's
//! HTTP server (`charter sim serve`, source and actuator), a real Prometheus where a
//! scenario needs one, and an operator's mischief — forged and stale alerts, a
//! Prometheus killed mid-policy, an actuator slower than its timeout, a second daemon
//! on the same store, a corrupted store, a disk that fills and frees, a clock stepped
//! back, and repeated `charter demo --db` runs.
//!
//! Each scenario is one test that asserts the behaviour Charter promises and prints
//! one tally line, `chaos: SCENARIO: OBSERVED (expected EXPECTED)`, which `cargo test`
//! shows also when the test passes (it bypasses the output capture). Nothing is
//! skipped: a binary or a mount that cannot be had fails the scenario with the
//! reason. Every process is killed when its scenario ends, also on failure; every
//! port comes from the OS and every file lives in a temporary directory.

// Shared with the crash and failover tests; not every helper is used here.
#[allow(dead_code)]
mod common;

#[path = "chaos/actuator.rs"]
mod actuator;
#[path = "chaos/alerts.rs"]
mod alerts;
#[path = "chaos/blind.rs"]
mod blind;
#[path = "chaos/harness.rs"]
mod harness;
#[path = "chaos/store.rs"]
mod store;
#[path = "chaos/time.rs"]
mod time;
