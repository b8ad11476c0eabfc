//! The daemon's status lines ("running …", "leading under fencing epoch …",
//! "stopped"): for a human, `charter: <line>` on stderr whatever the log filter; with
//! `--log-format json`, an event of target `charter::status` instead, so that stderr
//! stays one JSON object per line (the binary's log filter always lets that target
//! through at INFO).
//!
//! How the process logs is decided once, at start, like tracing's own global
//! subscriber; hence one process-wide switch rather than an argument threaded
//! through every task.

use std::sync::atomic::{AtomicBool, Ordering};

/// The events' target, which the binary's log filter always lets through.
pub const TARGET: &str = "charter::status";

static JSON: AtomicBool = AtomicBool::new(false);

/// Log status lines as events (the process logs JSON) rather than printing them.
pub fn log_as_events(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// A status line.
pub fn say(line: std::fmt::Arguments<'_>) {
    if JSON.load(Ordering::Relaxed) {
        tracing::info!(target: TARGET, "{line}");
    } else {
        eprintln!("charter: {line}");
    }
}

/// A failure that ends the process.
pub fn fail(line: std::fmt::Arguments<'_>) {
    if JSON.load(Ordering::Relaxed) {
        tracing::error!(target: TARGET, "{line}");
    } else {
        eprintln!("error: {line}");
    }
}
