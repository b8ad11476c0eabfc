//! Issue 16 item 15: every file read is bounded. On base a replay input that is a
//! FIFO blocked forever in `open` (and `/dev/zero` was read until memory ran out).

use charter_frame::{CsvTable, load_prometheus};
use std::time::Duration;

#[test]
fn a_fifo_is_refused_at_once_not_waited_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("metrics.csv");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo unavailable; skipped");
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let f = fifo.clone();
    std::thread::spawn(move || {
        let csv = CsvTable::read(&f).err().map(|e| {
            format!(
                "{e}: {:?}",
                std::error::Error::source(&e).map(ToString::to_string)
            )
        });
        let prom = load_prometheus(&f, "service", None).err().map(|e| {
            format!(
                "{e}: {:?}",
                std::error::Error::source(&e).map(ToString::to_string)
            )
        });
        let _ = tx.send((csv, prom));
    });
    let (csv, prom) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("reading a FIFO returned within 5 s");
    for e in [csv, prom] {
        let e = e.expect("refused");
        assert!(
            e.contains("metrics.csv") && e.contains("not a regular file"),
            "{e}"
        );
    }
}

#[test]
fn a_device_is_refused_without_reading_it() {
    let e = CsvTable::read(std::path::Path::new("/dev/zero"))
        .err()
        .expect("refused");
    let cause = std::error::Error::source(&e)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(cause.contains("not a regular file"), "{e}: {cause}");
}
