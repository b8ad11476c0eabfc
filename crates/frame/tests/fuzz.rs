//! Fuzzing the replay readers (issue 16): a wide CSV file and a Prometheus
//! range-query JSON file, mutated from `fuzz/corpus/replay_csv/` and
//! `fuzz/corpus/replay_prometheus/`: no panic, each case read in bounded time (the
//! driver's watchdog, 2 s), every refusal an error with a message. Run length:
//! `CHARTER_FUZZ_CASES` / `CHARTER_FUZZ_SECS` (see `charter_testkit::fuzz`).

use charter_frame::{
    CsvTable, Frame, HeaderRows, Naming, load_graph, load_prometheus, split_by_duration,
};
use charter_testkit::Fuzz;

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("charter-fuzz-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join("input")
}

/// What replay does with a frame once read: split it, cut the series, print times.
fn use_frame(frame: &Frame) {
    if frame.times.is_empty() {
        return;
    }
    let onset = frame.times.len() / 2;
    let (normal, anomalous) = split_by_duration(&frame.times, onset, None);
    let _ = frame.series(normal, anomalous);
    let _ = frame.times[0].to_string();
    let _ = frame.times[frame.times.len() - 1].to_string();
}

#[test]
fn fuzz_replay_csv() {
    Fuzz::new("replay_csv")
        .dictionary(&[
            "ts",
            "time",
            "_latency_p99_seconds",
            "_error_ratio",
            "\"\"",
            ",,,",
            "2026-01-01T00:00:00Z",
            "10000-01-01T00:00:00Z",
            "1e300",
        ])
        .run(|| {
            let path = scratch("csv");
            move |input: &[u8]| {
                std::fs::write(&path, input).expect("write");
                let table = CsvTable::read(&path).map_err(|e| e.to_string())?;
                let frame = table
                    .into_frame("ts", Naming::Convention)
                    .map_err(|e| e.to_string())?;
                use_frame(&frame);
                Ok(())
            }
        });
}

/// Issue 18: headers of several lines (detected or declared), names with `_`, and
/// units read from names and shown.
#[test]
fn fuzz_replay_csv_levels() {
    Fuzz::new("replay_csv_levels")
        .dictionary(&[
            "time", "service", "metric", ",,,", "_mem", "_cpu", "_lat_", "(s)", "(Mi)", "(%)",
            "_ratio", "::", "\n", "1e300", "-1e300", "NaN",
        ])
        .run(|| {
            let path = scratch("levels");
            move |input: &[u8]| {
                std::fs::write(&path, input).expect("write");
                let declared = input.first().map_or(1, |b| usize::from(b % 6));
                let rows = if declared == 0 {
                    HeaderRows::Detect
                } else {
                    HeaderRows::Exactly(declared)
                };
                let table = CsvTable::read_with(&path, rows, "time").map_err(|e| e.to_string())?;
                let frame = table
                    .into_frame("time", Naming::Convention)
                    .map_err(|e| e.to_string())?;
                use_frame(&frame);
                for c in &frame.columns {
                    if let Some(unit) = c.unit {
                        for v in &c.values {
                            let _ = unit.format(*v);
                        }
                    }
                }
                Ok(())
            }
        });
}

/// Issue 18: graph CSVs, an adjacency matrix or an edge list.
#[test]
fn fuzz_replay_graph_csv() {
    Fuzz::new("replay_graph_csv")
        .dictionary(&[
            "caller",
            "callee",
            "source,target",
            ",0,1",
            "1.0",
            "NaN",
            "\"\"",
        ])
        .run(|| {
            let dir = scratch("graph");
            let path = dir.with_file_name("graph.csv");
            move |input: &[u8]| {
                std::fs::write(&path, input).expect("write");
                let graph = load_graph(&path).map_err(|e| e.to_string())?;
                let _ = graph.names().len();
                Ok(())
            }
        });
}

#[test]
fn fuzz_replay_prometheus_json() {
    Fuzz::new("replay_prometheus")
        .dictionary(&[
            "\"status\"",
            "\"success\"",
            "\"error\"",
            "\"data\"",
            "\"resultType\"",
            "\"matrix\"",
            "\"vector\"",
            "\"result\"",
            "\"metric\"",
            "\"values\"",
            "\"value\"",
            "\"__name__\"",
            "\"service\"",
            "\"job\"",
            "[1767225600,\"1\"]",
            "null",
            "{}",
            "[]",
        ])
        .run(|| {
            let path = scratch("prom");
            move |input: &[u8]| {
                std::fs::write(&path, input).expect("write");
                let frame = load_prometheus(&path, "service", None).map_err(|e| e.to_string())?;
                use_frame(&frame);
                Ok(())
            }
        });
}
