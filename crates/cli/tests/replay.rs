//! `charter replay` as a user runs it: recorded metrics in, a ranked diagnosis out,
//! and input errors that name the file, line and column with exit code 2.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn charter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_charter"))
}

/// What a run printed.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }

    /// Components of the ranked hypotheses, best first (`--json` output).
    fn ranking(&self) -> Vec<String> {
        self.json()["diagnosis"]["hypotheses"]
            .as_array()
            .expect("hypotheses")
            .iter()
            .map(|h| h["component"].as_str().expect("component").to_string())
            .collect()
    }
}

fn replay(args: &[&str]) -> Run {
    let out = charter()
        .arg("replay")
        .args(args)
        .output()
        .expect("run charter");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Deterministic noise in [-1, 1] for row `i` of series `k` (splitmix64).
fn noise(i: usize, k: usize) -> f64 {
    let mut z = (i as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((k as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// First row's time; rows are `STEP` seconds apart.
const T0: i64 = 1_767_225_600;
const STEP: i64 = 15;

/// A five-component shop: web → api → {orders, cache}, orders → db. db's latency
/// jumps at `fault_row`, its callers' one row later.
struct Shop {
    rows: usize,
    fault_row: Option<usize>,
    /// Multiplies db's latency column (a change of units).
    db_scale: f64,
}

impl Shop {
    fn incident() -> Self {
        Shop {
            rows: 80,
            fault_row: Some(50),
            db_scale: 1.0,
        }
    }

    fn calm() -> Self {
        Shop {
            fault_row: None,
            ..Shop::incident()
        }
    }

    fn db_scale(mut self, s: f64) -> Self {
        self.db_scale = s;
        self
    }

    /// (column, normal level, noise amplitude, jump, delay in rows after the fault)
    const COLUMNS: [(&str, f64, f64, f64, usize); 8] = [
        ("web_latency", 120.0, 4.0, 45.0, 1),
        ("api_latency", 80.0, 3.0, 42.0, 1),
        ("orders_latency", 50.0, 2.0, 40.0, 1),
        ("db_latency", 10.0, 1.0, 90.0, 0),
        ("cache_latency", 2.0, 0.2, 0.0, 0),
        ("api_cpu", 40.0, 3.0, 0.0, 0),
        ("db_cpu", 30.0, 3.0, 0.0, 0),
        ("cache_hit", 0.95, 0.01, 0.0, 0),
    ];

    fn csv(&self) -> String {
        let mut out = String::from("time");
        for (name, ..) in Self::COLUMNS {
            out.push(',');
            out.push_str(name);
        }
        out.push('\n');
        for i in 0..self.rows {
            out.push_str(&(T0 + STEP * i as i64).to_string());
            for (k, (name, level, amp, jump, delay)) in Self::COLUMNS.iter().enumerate() {
                let faulty = self.fault_row.is_some_and(|f| i >= f + delay);
                let mut v = level + amp * noise(i, k) + if faulty { *jump } else { 0.0 };
                if *name == "db_latency" {
                    v *= self.db_scale;
                }
                out.push_str(&format!(",{v:.6}"));
            }
            out.push('\n');
        }
        out
    }

    fn fault_time(&self) -> String {
        (T0 + STEP * self.fault_row.unwrap_or(40) as i64).to_string()
    }
}

const GRAPH: &str = "components:\n\
  \x20 - { name: web, depends_on: [api] }\n\
  \x20 - { name: api, depends_on: [orders, cache] }\n\
  \x20 - { name: orders, depends_on: [db] }\n";

/// Files of one test, removed at the end.
struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Self {
        Files(tempfile::tempdir().expect("tempdir"))
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p: PathBuf = self.0.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    }
}

#[test]
fn a_slow_leaf_database_is_the_root_cause_with_a_graph_at_a_given_time() {
    let f = Files::new();
    let shop = Shop::incident();
    let csv = f.write("shop.csv", &shop.csv());
    let graph = f.write("graph.yaml", GRAPH);
    let at = shop.fault_time();

    let run = replay(&["--csv", &csv, "--graph", &graph, "--at", &at, "--json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let ranking = run.ranking();
    assert_eq!(ranking[0], "db", "{}", run.stdout);
    assert_eq!(
        ranking.iter().filter(|c| *c == "cache").count(),
        0,
        "cache is healthy: {ranking:?}"
    );
    let j = run.json();
    assert_eq!(j["found"], "given");
    assert_eq!(j["onset_row"], 51);
    assert_eq!(j["normal_rows"], 50);
    assert_eq!(j["anomalous_rows"], 30);

    let text = replay(&["--csv", &csv, "--graph", &graph, "--at", &at]);
    assert_eq!(text.code, Some(0), "{}", text.stderr);
    assert!(text.stdout.contains("  1. db  "), "{}", text.stdout);
    assert!(
        text.stdout.contains("propagation: db → api, orders, web"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_detected_onset_is_within_a_few_rows_and_blames_the_same_database() {
    let f = Files::new();
    let shop = Shop::incident();
    let csv = f.write("shop.csv", &shop.csv());
    let graph = f.write("graph.yaml", GRAPH);

    let run = replay(&["--csv", &csv, "--graph", &graph, "--detect", "--json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let j = run.json();
    assert_eq!(j["found"], "detected");
    let row = j["onset_row"].as_u64().expect("onset_row") as i64;
    assert!((row - 51).abs() <= 2, "detected row {row}, fault at row 51");
    assert!(j["strength"].as_f64().expect("strength") > 1.0);
    assert_eq!(run.ranking()[0], "db");
}

#[test]
fn without_a_graph_the_largest_anomaly_ranks_first() {
    let f = Files::new();
    let shop = Shop::incident();
    let csv = f.write("shop.csv", &shop.csv());
    let run = replay(&["--csv", &csv, "--at", &shop.fault_time(), "--json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let ranking = run.ranking();
    assert_eq!(ranking[0], "db");
    assert_eq!(
        ranking.len(),
        4,
        "web, api, orders and db are abnormal: {ranking:?}"
    );
}

#[test]
fn data_without_a_change_has_no_root_cause() {
    let f = Files::new();
    let shop = Shop::calm();
    let csv = f.write("calm.csv", &shop.csv());
    let graph = f.write("graph.yaml", GRAPH);
    let at = shop.fault_time();

    let run = replay(&["--csv", &csv, "--graph", &graph, "--at", &at, "--json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["diagnosis"]["hypotheses"], Value::Array(vec![]));

    let text = replay(&["--csv", &csv, "--at", &at]);
    assert_eq!(text.code, Some(0), "{}", text.stderr);
    assert!(
        text.stdout.contains("no root cause: nothing is abnormal"),
        "{}",
        text.stdout
    );
}

#[test]
fn changing_the_unit_of_a_column_does_not_change_the_ranking() {
    let f = Files::new();
    let shop = Shop::incident();
    let at = shop.fault_time();
    let seconds = f.write("ms.csv", &shop.csv());
    let micros = f.write("us.csv", &Shop::incident().db_scale(1000.0).csv());
    for graph in [None, Some(f.write("graph.yaml", GRAPH))] {
        let mut args = vec!["--at", &at, "--json"];
        if let Some(g) = &graph {
            args.extend(["--graph", g]);
        }
        let a = replay(&[&["--csv", seconds.as_str()], args.as_slice()].concat());
        let b = replay(&[&["--csv", micros.as_str()], args.as_slice()].concat());
        assert_eq!(a.code, Some(0), "{}", a.stderr);
        assert_eq!(b.code, Some(0), "{}", b.stderr);
        assert_eq!(a.ranking(), b.ranking(), "graph: {graph:?}");
        assert_eq!(a.ranking()[0], "db");
    }
}

/// A range-query response: frontend → api → db latency, db slowing at row 40,
/// its callers one step later; db is scraped 5 s after the others.
fn prometheus_response() -> String {
    let series = [
        ("frontend", "service", 0, 0.20, 0.01, 0.25, 1),
        ("api", "service", 0, 0.10, 0.005, 0.20, 1),
        ("db", "job", 5, 0.01, 0.001, 0.30, 0),
    ];
    let result: Vec<Value> = series
        .iter()
        .enumerate()
        .map(|(k, (name, label, offset, level, amp, jump, delay))| {
            let values: Vec<Value> = (0..70)
                .map(|i| {
                    let t = T0 + STEP * i as i64 + offset;
                    let v = level + amp * noise(i, k) + if i >= 40 + delay { *jump } else { 0.0 };
                    serde_json::json!([t, format!("{v}")])
                })
                .collect();
            serde_json::json!({
                "metric": { "__name__": "request_latency_seconds", *label: name },
                "values": values,
            })
        })
        .collect();
    serde_json::json!({
        "status": "success",
        "data": { "resultType": "matrix", "result": result },
    })
    .to_string()
}

#[test]
fn a_prometheus_range_query_is_replayed_on_the_union_of_its_timestamps() {
    let f = Files::new();
    let prom = f.write("query.json", &prometheus_response());
    let graph = f.write(
        "graph.yaml",
        "components:\n  - { name: frontend, depends_on: [api] }\n  - { name: api, depends_on: [db] }\n",
    );
    let at = (T0 + STEP * 40).to_string();
    for extra in [vec![], vec!["--graph", graph.as_str()]] {
        let run = replay(
            &[
                &["--prometheus", prom.as_str(), "--at", &at, "--json"],
                extra.as_slice(),
            ]
            .concat(),
        );
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let j = run.json();
        assert_eq!(j["series"], 3);
        assert_eq!(j["rows"], 140, "two scrape offsets, 70 steps each");
        assert_eq!(run.ranking()[0], "db", "{}", run.stdout);
        assert_eq!(
            j["diagnosis"]["hypotheses"][0]["symptoms"][0],
            "request_latency_seconds@db"
        );
    }
}

#[test]
fn a_bad_cell_is_reported_with_file_line_and_column_and_exit_code_2() {
    let f = Files::new();
    let mut text = Shop::incident().csv();
    // Line 4 is the third data row; its second field starts after "<10 digits>,".
    let line = text.lines().nth(3).expect("row").to_string();
    let (time, rest) = line.split_once(',').expect("fields");
    let (_, tail) = rest.split_once(',').expect("fields");
    text = text.replacen(&line, &format!("{time},12x,{tail}"), 1);
    let csv = f.write("bad.csv", &text);

    let run = replay(&["--csv", &csv, "--detect"]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains(&format!(
            "{csv}:4:12: column `web_latency`: not a number: \"12x\""
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn a_map_naming_a_missing_column_is_an_error_at_its_line() {
    let f = Files::new();
    let csv = f.write("shop.csv", &Shop::incident().csv());
    let map = f.write(
        "map.yaml",
        "columns:\n  db_latency: { component: db, metric: latency }\n  db_lat: { component: db }\n",
    );
    let run = replay(&["--csv", &csv, "--map", &map, "--detect"]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .contains(&format!("{map}:3:3: columns.db_lat: no column `db_lat`")),
        "{}",
        run.stderr
    );

    let unknown_key = f.write(
        "typo.yaml",
        "columns:\n  db_latency: { component: db, sgnal: latency }\n",
    );
    let run = replay(&["--csv", &csv, "--map", &unknown_key, "--detect"]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains(&format!("{unknown_key}:2:")) && run.stderr.contains("sgnal"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_mapped_csv_with_rfc3339_times_and_a_charter_as_graph() {
    let f = Files::new();
    let plain = Shop::incident().csv();
    let mut text = String::new();
    for (i, line) in plain.lines().enumerate() {
        if i == 0 {
            text.push_str(&line.replacen("time", "ts", 1));
        } else {
            let (t, rest) = line.split_once(',').expect("fields");
            let secs: i64 = t.parse().expect("seconds");
            text.push_str(&format!("{},{rest}", rfc3339(secs)));
        }
        text.push('\n');
    }
    let csv = f.write("shop.csv", &text);
    let map = f.write(
        "map.yaml",
        "columns:\n\
         \x20 web_latency: { component: web, metric: p99 }\n\
         \x20 api_latency: { component: api, metric: p99, signal: latency }\n\
         \x20 orders_latency: { component: orders, metric: p99, signal: latency, worse: up }\n\
         \x20 db_latency: { component: db, metric: query_time, signal: latency }\n",
    );
    let charter = f.write(
        "charter.yaml",
        "name: shop\n\
         components:\n\
         \x20 - { name: web, depends_on: [api] }\n\
         \x20 - { name: api, depends_on: [orders] }\n\
         \x20 - { name: orders, depends_on: [db] }\n\
         \x20 - { name: db }\n\
         objectives:\n\
         \x20 - { name: lat, metric: m, above: { warning: 1 } }\n",
    );
    let run = replay(&[
        "--csv",
        &csv,
        "--time-column",
        "ts",
        "--map",
        &map,
        "--graph",
        &charter,
        "--at",
        "2026-01-01T00:12:30Z",
        "--target",
        "web",
        "--json",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["onset_row"], 51);
    assert_eq!(run.ranking(), ["db", "orders", "api", "web"]);
    assert!(
        run.stderr.contains("note: ignored, not in"),
        "unmapped columns are named: {}",
        run.stderr
    );
}

/// RFC 3339 in UTC of unix seconds on the shop's day (2026-01-01), without a date
/// library in the tests.
fn rfc3339(secs: i64) -> String {
    let s = secs - T0;
    assert!((0..86_400).contains(&s), "not on 2026-01-01: {secs}");
    format!(
        "2026-01-01T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[test]
fn an_onset_outside_the_data_is_an_input_error() {
    let f = Files::new();
    let csv = f.write("shop.csv", &Shop::incident().csv());
    for at in [T0.to_string(), (T0 + 100_000).to_string()] {
        let run = replay(&["--csv", &csv, "--at", &at]);
        assert_eq!(run.code, Some(2));
        assert!(
            run.stderr.contains("is outside the data of"),
            "{}",
            run.stderr
        );
    }
    let run = replay(&["--csv", &csv, "--at", "noon"]);
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("not a time"), "{}", run.stderr);
}

#[test]
fn the_shipped_example_blames_the_database() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/replay");
    let file = |n: &str| dir.join(n).display().to_string();
    let run = replay(&[
        "--csv",
        &file("metrics.csv"),
        "--time-column",
        "ts",
        "--map",
        &file("map.yaml"),
        "--graph",
        &file("graph.yaml"),
        "--detect",
        "--json",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.ranking()[0], "db");

    let run = replay(&[
        "--prometheus",
        &file("query_range.json"),
        "--graph",
        &file("graph.yaml"),
        "--detect",
        "--target",
        "api",
        "--json",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.ranking(), ["db", "orders", "api"]);
}

/// Regression: a time at or after the year 10000 made the report's time formatting
/// panic, and replay exited 101.
#[test]
fn times_after_the_year_9999_are_reported_not_a_panic() {
    let f = Files::new();
    let first = 253_402_300_800_i64 + 60; // 10000-01-01T00:01:00Z
    let mut csv = String::from("time,api_latency_p99,db_latency_p99\n");
    for i in 0..120_i64 {
        let step = if i >= 60 { 0.5 } else { 0.0 };
        let (db, api) = (
            0.05 + 0.002 * noise(i as usize, 0) + step,
            0.1 + 0.004 * noise(i as usize, 1) + if i >= 61 { 0.6 } else { 0.0 },
        );
        csv.push_str(&format!("{},{api:.4},{db:.4}\n", first + 30 * i));
    }
    let path = f.write("year10k.csv", &csv);
    let run = replay(&["--csv", &path, "--detect"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.contains("from 10000-01-01T00:01:00Z"),
        "{}",
        run.stdout
    );
}

// ---- issue 18: what users export -------------------------------------------------

/// `csv` (a header line, then rows) cut at data row `at`: the rows before it, and
/// the rows from it with their times moved by `shift` seconds; both with the header.
fn cut(csv: &str, at: usize, shift: i64) -> (String, String) {
    let mut lines = csv.lines();
    let header = lines.next().expect("header");
    let rows: Vec<&str> = lines.collect();
    let mut normal = format!("{header}\n");
    for r in &rows[..at] {
        normal.push_str(r);
        normal.push('\n');
    }
    let mut anomalous = format!("{header}\n");
    for r in &rows[at..] {
        let (t, rest) = r.split_once(',').expect("a time and values");
        let t: i64 = t.parse().expect("unix seconds");
        anomalous.push_str(&format!("{},{rest}\n", t + shift));
    }
    (normal, anomalous)
}

const DAY: i64 = 86_400;

#[test]
fn a_normal_file_given_apart_is_the_baseline_and_the_incident_starts_with_its_data() {
    let f = Files::new();
    let (normal, anomalous) = cut(&Shop::incident().csv(), 50, 0);
    let normal = f.write("normal.csv", &normal);
    let anomalous = f.write("anomalous.csv", &anomalous);
    let graph = f.write("graph.yaml", GRAPH);

    let run = replay(&[
        "--normal", &normal, "--csv", &anomalous, "--graph", &graph, "--json",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let j = run.json();
    assert_eq!(j["found"], "start");
    assert_eq!(j["onset_row"], 1);
    assert_eq!(j["normal_rows"], 50);
    assert_eq!(j["anomalous_rows"], 30);
    assert_eq!(j["normal"]["rows"], 50);
    assert!(j.get("warnings").is_none(), "adjacent data: {}", run.stdout);
    assert_eq!(run.ranking()[0], "db", "{}", run.stdout);

    // The normal data recorded after the incident is still the baseline (an
    // empty "before" window would have ranked nothing).
    let (normal_after, anomalous_before) = {
        let (n, a) = cut(&Shop::incident().csv(), 50, -DAY);
        (f.write("n2.csv", &n), f.write("a2.csv", &a))
    };
    let run = replay(&[
        "--normal",
        &normal_after,
        "--csv",
        &anomalous_before,
        "--graph",
        &graph,
        "--json",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.ranking()[0], "db", "{}", run.stdout);

    // --at picks the onset inside the incident data; its earlier rows are not used.
    let at = (T0 + STEP * 60).to_string();
    let run = replay(&[
        "--normal", &normal, "--csv", &anomalous, "--at", &at, "--json",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let j = run.json();
    assert_eq!(
        (j["found"].as_str(), j["onset_row"].as_u64()),
        (Some("given"), Some(11))
    );
    assert_eq!(j["anomalous_rows"], 20);
    assert_eq!(j["normal_rows"], 50);
}

#[test]
fn normal_data_far_from_the_incident_warns_of_drift() {
    let f = Files::new();
    for (shift, warned) in [
        (0, false),
        (2 * DAY, true),
        (-3 * DAY, true),
        (DAY / 2, true),
    ] {
        let (normal, anomalous) = cut(&Shop::incident().csv(), 50, shift);
        let normal = f.write("normal.csv", &normal);
        let anomalous = f.write("anomalous.csv", &anomalous);
        let run = replay(&["--normal", &normal, "--csv", &anomalous, "--json"]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let warnings = run.json()["warnings"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(!warnings.is_empty(), warned, "shift {shift}: {warnings:?}");
        if warned {
            let w = warnings[0].as_str().expect("text");
            assert!(w.contains("drift"), "{w}");
            let side = if shift > 0 {
                "before the incident data begins"
            } else {
                "after the incident data ends"
            };
            assert!(w.contains(side), "{w}");
            assert!(
                run.stderr.contains("warning: the normal data"),
                "{}",
                run.stderr
            );
        }
    }
    // Text output shows it under the windows.
    let (normal, anomalous) = cut(&Shop::incident().csv(), 50, 2 * DAY);
    let normal = f.write("normal.csv", &normal);
    let anomalous = f.write("anomalous.csv", &anomalous);
    let run = replay(&["--normal", &normal, "--csv", &anomalous]);
    assert!(
        run.stdout.contains("warning: the normal data")
            && run.stdout.contains("ends 2 days before"),
        "{}",
        run.stdout
    );
}

/// The shop with several header lines, as PetShop exports its metrics: component /
/// metric / statistic, then a line naming the time column; component names with
/// `_` and `::`, one empty cell per column.
fn levels_csv(shop: &Shop) -> String {
    let plain = shop.csv();
    let mut lines = plain.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').skip(1).collect();
    let rename = |c: &str| format!("{c}_svc::ECS");
    let (mut services, mut metrics, mut stats) = (
        String::from("microservice"),
        String::from("metric"),
        String::from("statistic"),
    );
    for name in &header {
        let (c, m) = name.split_once('_').expect("component_metric");
        services.push_str(&format!(",{}", rename(c)));
        metrics.push_str(&format!(",{m}"));
        stats.push_str(",p99");
    }
    let mut out = format!(
        "{services}\n{metrics}\n{stats}\nunix_timestamp{}\n",
        ",".repeat(header.len())
    );
    for (i, row) in lines.enumerate() {
        // A missing value in one row of every column.
        if i == 3 {
            let t = row.split(',').next().expect("time");
            out.push_str(&format!("{t}{}\n", ",".repeat(header.len())));
        } else {
            out.push_str(row);
            out.push('\n');
        }
    }
    out
}

const LEVELS_GRAPH: &str = "components:\n\
  \x20 - { name: \"web_svc::ECS\", depends_on: [\"api_svc::ECS\"] }\n\
  \x20 - { name: \"api_svc::ECS\", depends_on: [\"orders_svc::ECS\", \"cache_svc::ECS\"] }\n\
  \x20 - { name: \"orders_svc::ECS\", depends_on: [\"db_svc::ECS\"] }\n";

#[test]
fn a_csv_with_several_header_lines_names_component_metric_and_statistic() {
    let f = Files::new();
    let shop = Shop::incident();
    let csv = f.write("levels.csv", &levels_csv(&shop));
    let graph = f.write("graph.yaml", LEVELS_GRAPH);
    let at = shop.fault_time();
    for declared in [None, Some("3"), Some("4")] {
        let mut args = vec![
            "--csv",
            &csv,
            "--time-column",
            "unix_timestamp",
            "--graph",
            &graph,
        ];
        args.extend(["--at", &at, "--json"]);
        if let Some(n) = declared {
            args.extend(["--header-rows", n]);
        }
        let run = replay(&args);
        assert_eq!(run.code, Some(0), "{declared:?}: {}", run.stderr);
        let j = run.json();
        assert_eq!(j["series"], 8);
        assert_eq!(j["onset_line"], 55, "4 header lines, then rows");
        assert_eq!(run.ranking()[0], "db_svc::ECS", "{}", run.stdout);
        let root = &j["diagnosis"]["hypotheses"][0];
        assert_eq!(root["symptoms"][0], "latency/p99@db_svc::ECS");
    }
    // A header line too few: the statistic line is read as data.
    let run = replay(&[
        "--csv",
        &csv,
        "--time-column",
        "microservice",
        "--header-rows",
        "2",
        "--at",
        &at,
    ]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains(&format!(
            "{csv}:3:1: not a time (unix seconds or RFC 3339 in UTC): \"statistic\""
        )),
        "{}",
        run.stderr
    );
    let run = replay(&["--csv", &csv, "--header-rows", "0", "--at", &at]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
}

#[test]
fn a_bad_cell_under_several_header_lines_names_its_line_and_column() {
    let f = Files::new();
    let shop = Shop::incident();
    let text = levels_csv(&shop).replacen(",10.", ",1x.", 1);
    let line = text
        .lines()
        .position(|l| l.contains(",1x."))
        .expect("bad cell")
        + 1;
    let column = text
        .lines()
        .nth(line - 1)
        .expect("line")
        .find(",1x.")
        .expect("cell")
        + 2;
    let csv = f.write("levels.csv", &text);
    let run = replay(&["--csv", &csv, "--time-column", "unix_timestamp", "--detect"]);
    assert_eq!(run.code, Some(2), "{}", run.stdout);
    assert!(
        run.stderr.contains(&format!(
            "{csv}:{line}:{column}: column `db_svc::ECS/latency/p99`: not a number:"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn component_names_with_underscores_keep_them_in_single_line_headers() {
    let f = Files::new();
    let shop = Shop::incident();
    let plain = shop.csv();
    let (header, rows) = plain.split_once('\n').expect("header");
    let header = header
        .replace("db_latency", "orders_db_latency")
        .replace("db_cpu", "orders_db_cpu")
        .replace("web_latency", "web_front_latency");
    let csv = f.write("shop.csv", &format!("{header}\n{rows}"));
    let graph = f.write(
        "graph.yaml",
        &GRAPH
            .replace("[db]", "[orders_db]")
            .replace("name: web,", "name: web_front,"),
    );
    let run = replay(&[
        "--csv",
        &csv,
        "--graph",
        &graph,
        "--at",
        &shop.fault_time(),
        "--json",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let ranking = run.ranking();
    assert_eq!(ranking[0], "orders_db", "{}", run.stdout);
    assert!(ranking.contains(&"web_front".to_string()), "{ranking:?}");
    assert!(!run.stderr.contains("not in the graph"), "{}", run.stderr);
}

#[test]
fn evidence_shows_values_in_their_units() {
    let f = Files::new();
    let mut csv = String::from("time,cart_mem,cart_latency_ms,cart_error_ratio,cart_requests\n");
    for i in 0..60_usize {
        let faulty = i >= 40;
        let mem = 1.2 * 1024f64.powi(3) * (1.0 + 0.01 * noise(i, 0))
            + if faulty { 2.2 * 1024f64.powi(3) } else { 0.0 };
        let lat = 40.0 + 2.0 * noise(i, 1) + if faulty { 300.0 } else { 0.0 };
        let err = 0.001 + 0.0001 * noise(i, 2) + if faulty { 0.05 } else { 0.0 };
        let hits = 100.0 + 5.0 * noise(i, 3) + if faulty { 400.0 } else { 0.0 };
        csv.push_str(&format!(
            "{},{mem:.0},{lat:.3},{err:.6},{hits:.2}\n",
            T0 + STEP * i as i64
        ));
    }
    let path = f.write("units.csv", &csv);
    let at = (T0 + STEP * 40).to_string();
    let run = replay(&["--csv", &path, "--at", &at]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let line = |metric: &str| {
        run.stdout
            .lines()
            .find(|l| l.contains(&format!("- cart: {metric} rose")))
            .unwrap_or_else(|| panic!("no evidence for {metric}:\n{}", run.stdout))
            .to_string()
    };
    let (mem, lat, err) = (line("mem"), line("latency_ms"), line("error_ratio"));
    assert!(mem.contains(" GiB → 3.") && mem.ends_with(" GiB)"), "{mem}");
    assert!(
        lat.contains("(40") && lat.contains(" ms → 3") && lat.ends_with(" ms)"),
        "{lat}"
    );
    assert!(err.contains(" % → 5.") && err.ends_with(" %)"), "{err}");
    assert!(
        run.stdout.contains("mem on cart has been rising ") && run.stdout.contains(" MiB/min"),
        "{}",
        run.stdout
    );

    // A map's unit comes before the name's.
    let map = f.write(
        "map.yaml",
        "columns:\n  cart_mem: { component: cart, metric: mem, unit: KiB }\n",
    );
    let run = replay(&["--csv", &path, "--map", &map, "--at", &at]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("(1.2 TiB → 3.4"), "{}", run.stdout);
    let map = f.write(
        "bad.yaml",
        "columns:\n  cart_requests: { component: cart, unit: furlongs }\n",
    );
    let run = replay(&["--csv", &path, "--map", &map, "--at", &at]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains(&format!(
            "{map}:2:43: columns.cart_requests.unit: unknown unit \"furlongs\""
        )),
        "{}",
        run.stderr
    );
}

/// The shared datasets, read as a user would (`../shared/data` from the repo root).
fn shared_data(rel: &str) -> Option<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel);
    if p.exists() {
        Some(p.display().to_string())
    } else {
        eprintln!(
            "skipped: no {} (the shared data folder is absent)",
            p.display()
        );
        None
    }
}

#[test]
fn a_petshop_issue_replays_from_its_own_files() {
    let Some(dir) = shared_data("petshop/low_traffic") else {
        return;
    };
    let run = replay(&[
        "--normal",
        &format!("{dir}/noissue/metrics.csv"),
        "--csv",
        &format!("{dir}/train/issue_0/metrics.csv"),
        "--time-column",
        "unix_timestamp",
        "--graph",
        &format!("{dir}/graph.csv"),
        "--target",
        "PetSite",
        "--json",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let j = run.json();
    // target.json: root cause PetSearch_AWS::ECS::Fargate.
    assert_eq!(
        run.ranking()[0],
        "PetSearch_AWS::ECS::Fargate",
        "{}",
        run.stdout
    );
    assert_eq!(j["components"], 42);
    // The noissue data was recorded four months after the issue.
    let w = j["warnings"][0].as_str().expect("a drift warning");
    assert!(w.contains("124 days after the incident data ends"), "{w}");
}

#[test]
fn the_petshop_graph_matrix_reads_as_calls_from_row_to_column() {
    let Some(dir) = shared_data("petshop/low_traffic") else {
        return;
    };
    // Only PetSite, whose row calls PetSearch, is a caller of the slow service here:
    // with the edges reversed, PetSearch would be blamed for PetSite's symptoms
    // instead of explaining them.
    let run = replay(&[
        "--normal",
        &format!("{dir}/noissue/metrics.csv"),
        "--csv",
        &format!("{dir}/train/issue_0/metrics.csv"),
        "--time-column",
        "unix_timestamp",
        "--graph",
        &format!("{dir}/graph.csv"),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout
            .contains("PetSearch_client, PetSite depend on it"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_sock_shop_case_replays_from_its_normal_and_anomalous_files() {
    let Some(dir) = shared_data("sockshop/carts-mem/1") else {
        return;
    };
    let run = replay(&[
        "--normal",
        &format!("{dir}/normal.csv"),
        "--csv",
        &format!("{dir}/anomalous.csv"),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("  1. carts  leak"), "{}", run.stdout);
    assert!(
        run.stdout.contains("- carts: mem rose") && run.stdout.contains(" MiB → "),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("components"), "{}", run.stdout);
    assert!(
        run.stdout.contains("13 components"),
        "carts-db is one: {}",
        run.stdout
    );
}

#[test]
fn a_prometheus_baseline_apart_is_read_like_the_incident_data() {
    let f = Files::new();
    let full: Value = serde_json::from_str(&prometheus_response()).expect("json");
    // The same series cut at the fault: rows before it, and rows from it.
    let part = |before: bool| {
        let mut j = full.clone();
        for s in j["data"]["result"].as_array_mut().expect("result") {
            s["values"]
                .as_array_mut()
                .expect("values")
                .retain(|v| (v[0].as_i64().expect("time") < T0 + STEP * 40) == before);
        }
        j.to_string()
    };
    let normal = f.write("normal.json", &part(true));
    let incident = f.write("incident.json", &part(false));
    let run = replay(&["--normal", &normal, "--prometheus", &incident, "--json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let j = run.json();
    assert_eq!(
        (j["normal_rows"].as_u64(), j["anomalous_rows"].as_u64()),
        (Some(80), Some(60))
    );
    assert_eq!(run.ranking()[0], "db", "{}", run.stdout);
}

#[test]
fn normal_data_without_a_matching_series_or_row_is_an_input_error() {
    let f = Files::new();
    let (normal, anomalous) = cut(&Shop::incident().csv(), 50, 0);
    // The same data under other component names.
    let (header, rows) = normal.split_once('\n').expect("header");
    let other = f.write(
        "other.csv",
        &format!("{}\n{rows}", header.replace(",", ",other-")),
    );
    let anomalous = f.write("anomalous.csv", &anomalous);
    let run = replay(&["--normal", &other, "--csv", &anomalous]);
    assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "error: no series of {anomalous} is in the normal data {other}"
        )),
        "{}",
        run.stderr
    );
    let normal = f.write("normal.csv", &normal);
    let run = replay(&["--normal", &normal, "--csv", &anomalous, "--window", "0s"]);
    assert_eq!(run.code, Some(2), "{}", run.stdout);
    assert!(
        run.stderr.contains(&format!(
            "no rows of the normal data {normal} within the window"
        )),
        "{}",
        run.stderr
    );
}

/// Regression: `charter replay ... | head` made replay panic (exit 101) writing to
/// the closed pipe.
#[test]
fn a_reader_closing_the_pipe_early_is_not_a_panic() {
    let f = Files::new();
    let shop = Shop::incident();
    let csv = f.write("shop.csv", &shop.csv());
    for _ in 0..3 {
        let mut child = charter()
            .args([
                "replay",
                "--csv",
                &csv,
                "--at",
                &shop.fault_time(),
                "--json",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run charter");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
