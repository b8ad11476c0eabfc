//! `charter-bench inject` end to end: on a small system written in PetShop's layout
//! (a chain `front -> mid -> leaf` and a second leaf `side` under `front`, noisy
//! normal data) and, when present, on the shared PetShop sample.

use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const NODES: [&str; 4] = ["front", "mid", "leaf", "side"];
/// Edges caller -> callee.
const EDGES: [(&str, &str); 3] = [("front", "mid"), ("mid", "leaf"), ("front", "side")];

/// Deterministic uniform noise in [-1, 1): bounded, so a window of normal data never
/// departs by 5 robust sd (the noise's robust sd is 0.74 of its bound) and a fault
/// of that size always shows.
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn next(&mut self) -> f64 {
        2.0 * self.uniform() - 1.0
    }
}

/// A scenario folder `<dir>/system` with `graph.csv` and `noissue/metrics.csv`
/// (latency Average and p90 and availability Average per node, 200 rows at 5 min).
fn write_system(dir: &Path) -> PathBuf {
    let system = dir.join("system");
    std::fs::create_dir_all(system.join("noissue")).expect("mkdir");
    let mut graph = String::new();
    writeln!(graph, ",{}", NODES.join(",")).expect("write");
    for a in NODES {
        let cells: Vec<&str> = NODES
            .iter()
            .map(|b| if EDGES.contains(&(a, *b)) { "1" } else { "0" })
            .collect();
        writeln!(graph, "{a},{}", cells.join(",")).expect("write");
    }
    std::fs::write(system.join("graph.csv"), graph).expect("write graph");
    let columns: Vec<(&str, &str, &str)> = NODES
        .iter()
        .flat_map(|n| {
            [
                (*n, "latency", "Average"),
                (*n, "latency", "p90"),
                (*n, "availability", "Average"),
            ]
        })
        .collect();
    let mut csv = String::new();
    for (name, pick) in [
        ("microservice", 0usize),
        ("metric", 1),
        ("statistic", 2),
        ("unix_timestamp", 3),
    ] {
        let cells: Vec<&str> = columns
            .iter()
            .map(|c| match pick {
                0 => c.0,
                1 => c.1,
                2 => c.2,
                _ => "",
            })
            .collect();
        writeln!(csv, "{name},{}", cells.join(",")).expect("write");
    }
    let mut noise = Noise(7);
    for row in 0..200 {
        let mut line = format!("{}", 1_700_000_000 + 300 * row);
        for (k, c) in columns.iter().enumerate() {
            let v = match c.1 {
                "latency" => 0.05 * (k + 1) as f64 + 0.002 * noise.next(),
                _ => 99.0 + 0.5 * noise.next(),
            };
            write!(line, ",{v}").expect("write");
        }
        writeln!(csv, "{line}").expect("write");
    }
    std::fs::write(system.join("noissue").join("metrics.csv"), csv).expect("write metrics");
    dir.to_path_buf()
}

fn inject(path: &Path, seeds: u64) -> (String, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_charter-bench"))
        .args(["inject", "--dataset", "petshop", "--path"])
        .arg(path)
        .args(["--seeds", &seeds.to_string(), "--json"])
        .output()
        .expect("run charter-bench");
    assert!(
        out.status.success(),
        "charter-bench inject failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let json = serde_json::from_str(&text).expect("json");
    (text, json)
}

fn trials(report: &Value) -> &Vec<Value> {
    report["trials"].as_array().expect("trials")
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string"))
        .collect()
}

/// The fault's size where the alert fires (its target's share), in robust sd.
fn at_target(trial: &Value) -> f64 {
    let fault = &trial["fault"];
    let size = fault["size"].as_f64().expect("size");
    fault["reach"]
        .as_array()
        .expect("reach")
        .iter()
        .find(|r| r["component"] == trial["target"])
        .map_or(0.0, |r| size * r["share"].as_f64().expect("share"))
}

/// Large: at least twice the smallest fault (5 robust sd) where the alert fires, so
/// that no noise point or the first steps of a ramp decide.
const LARGE: f64 = 10.0;

/// Whether `a` calls `b`, directly or through others.
fn calls(a: &str, b: &str) -> bool {
    EDGES
        .iter()
        .any(|&(x, y)| x == a && (y == b || calls(y, b)))
}

#[test]
fn same_seed_same_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = write_system(dir.path());
    let (first, report) = inject(&root, 3);
    let (second, _) = inject(&root, 3);
    assert_eq!(first, second);
    // Every (root, class) pair is drawn once per seed, and the draws differ.
    let sizes: Vec<f64> = trials(&report)
        .iter()
        .map(|t| t["fault"]["size"].as_f64().expect("size"))
        .collect();
    assert_eq!(sizes.len(), NODES.len() * 2 * 3);
    assert!(sizes.windows(2).any(|w| w[0] != w[1]), "{sizes:?}");

    let petshop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/petshop");
    if !petshop.is_dir() {
        eprintln!(
            "skipped the PetShop sample: {} is absent",
            petshop.display()
        );
        return;
    }
    let (a, _) = inject(&petshop, 2);
    let (b, _) = inject(&petshop, 2);
    assert_eq!(a, b);
}

/// The control is the same fault at size 0: nothing in the window changes, so the
/// ranking is empty, while the same windows with a large fault are ranked.
#[test]
fn a_zero_size_fault_gives_an_empty_ranking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, report) = inject(&write_system(dir.path()), 10);
    let mut large = 0;
    for t in trials(&report) {
        assert!(strings(&t["control_top"]).is_empty(), "{t}");
        if at_target(t) >= LARGE {
            large += 1;
            assert!(!strings(&t["top"]).is_empty(), "{t}");
        }
    }
    assert!(large >= 20, "{large} large faults");
    assert_eq!(report["rows"][0]["specificity"].as_f64(), Some(1.0));
}

/// A fault reaches only the root's callers (edges point caller -> callee), farther
/// ones by a smaller share; on clean data a large fault ranks its root first, the
/// leaves included.
#[test]
fn a_large_fault_on_a_leaf_ranks_it_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, report) = inject(&write_system(dir.path()), 10);
    let mut large: Vec<&str> = Vec::new();
    for t in trials(&report) {
        let fault = &t["fault"];
        let root = fault["root"].as_str().expect("root");
        let reach = fault["reach"].as_array().expect("reach");
        assert_eq!(reach[0]["component"].as_str(), Some(root));
        for r in &reach[1..] {
            let c = r["component"].as_str().expect("component");
            assert!(calls(c, root), "{c} does not call {root}: {t}");
            assert!(r["share"].as_f64() <= reach[0]["share"].as_f64(), "{t}");
        }
        if root == "front" {
            assert_eq!(reach.len(), 1, "nothing calls the entry: {t}");
        }
        if at_target(t) >= LARGE {
            assert_eq!(strings(&t["top"]).first(), Some(&root), "{t}");
            large.push(root);
        }
    }
    for leaf in ["leaf", "side"] {
        let n = large.iter().filter(|r| **r == leaf).count();
        assert!(n >= 3, "{n} large faults on {leaf}");
    }
}
