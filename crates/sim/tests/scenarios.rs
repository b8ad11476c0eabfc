//! Every scenario file parses, is embedded, and says what it claims.

use charter_model::ActionKind;
use charter_sim::{FaultKind, Scenario, ScenarioError};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

#[test]
fn every_file_parses_and_is_built_in_under_its_stem() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenario_dir())
        .expect("scenarios/ exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    let mut names = Scenario::builtin_names();
    names.sort();
    let stems: Vec<String> = files
        .iter()
        .map(|p| p.file_stem().expect("stem").to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, stems, "every file is embedded, and nothing else");
    for (file, stem) in files.iter().zip(&stems) {
        let loaded = match Scenario::load(file) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(&loaded.name, stem);
        assert!(!loaded.description.is_empty(), "{stem} has a description");
        assert_eq!(Scenario::builtin(stem).as_ref(), Some(&loaded));
    }
}

#[test]
fn single_fault_scenarios_name_their_ground_truth() {
    for (name, kind, root, remedy) in [
        (
            "traffic-surge",
            FaultKind::TrafficSurge,
            "catalog",
            ActionKind::ScaleOut,
        ),
        (
            "memory-leak",
            FaultKind::MemoryLeak,
            "orders",
            ActionKind::Restart,
        ),
        (
            "bad-deploy",
            FaultKind::BadDeploy,
            "auth",
            ActionKind::Rollback,
        ),
        (
            "dependency-outage",
            FaultKind::DependencyOutage,
            "db",
            ActionKind::Failover,
        ),
        (
            "cache-poisoning",
            FaultKind::CachePoisoning,
            "cache",
            ActionKind::FlushCache,
        ),
        (
            "pool-exhaustion",
            FaultKind::PoolExhaustion,
            "auth",
            ActionKind::Reconfigure,
        ),
        (
            "zone-outage",
            FaultKind::ZoneOutage,
            "orders",
            ActionKind::Failover,
        ),
        (
            "noisy-neighbour",
            FaultKind::NoisyNeighbour,
            "api",
            ActionKind::ScaleOut,
        ),
    ] {
        let s = Scenario::builtin(name).expect("built-in");
        let gt = s.ground_truth();
        assert_eq!(gt.len(), 1, "{name}");
        assert_eq!(
            (gt[0].kind, gt[0].root_cause.as_str(), gt[0].remedy),
            (kind, root, remedy),
            "{name}"
        );
    }
    assert!(
        Scenario::builtin("no-fault")
            .expect("built-in")
            .ground_truth()
            .is_empty()
    );
}

#[test]
fn demo_tells_five_incidents_with_healthy_gaps() {
    let s = Scenario::builtin("demo").expect("built-in");
    let gt = s.ground_truth();
    let kinds: Vec<FaultKind> = gt.iter().map(|g| g.kind).collect();
    assert_eq!(
        kinds,
        [
            FaultKind::TrafficSurge,
            FaultKind::MemoryLeak,
            FaultKind::BadDeploy,
            FaultKind::DependencyOutage,
            FaultKind::NoisyNeighbour
        ]
    );
    for pair in gt.windows(2) {
        let end = pair[0].until.unwrap_or(pair[0].at);
        assert!(pair[1].at >= end + Duration::from_secs(5 * 60), "{pair:?}");
    }
    // The innocent deploy comes a minute before the noisy neighbour on the same service.
    let last = gt.last().expect("faults");
    assert_eq!(s.deploys.len(), 1);
    let d = &s.deploys[0];
    assert_eq!(d.target, last.root_cause);
    assert!(d.one_way_migration);
    assert_eq!(d.at + Duration::from_secs(60), last.at);
    assert_eq!(s.duration, Duration::from_secs(145 * 60));
}

#[test]
fn errors_name_the_file_and_line() {
    let missing = Scenario::load("no/such/scenario.yaml").expect_err("missing");
    assert!(matches!(missing, ScenarioError::Read { .. }));
    assert!(missing.to_string().contains("no/such/scenario.yaml"));

    let text = "name: broken\nfaults:\n  - { kind: traffic_surge, target: catalog, at: soon }\n";
    let err = Scenario::from_yaml(text, "broken.yaml").expect_err("invalid");
    let issues = err.issues();
    assert_eq!(issues.len(), 1);
    assert_eq!(
        (issues[0].line, issues[0].path.as_str()),
        (3, "faults[0].at")
    );
    assert!(err.to_string().contains("broken.yaml:3:"), "{err}");

    let syntax = Scenario::from_yaml("name: [unclosed\n", "syntax.yaml").expect_err("invalid");
    assert!(syntax.issues()[0].line >= 1);
    assert!(
        syntax.to_string().starts_with("scenario is invalid"),
        "{syntax}"
    );
}

#[test]
fn the_library_scenarios_name_their_ground_truth() {
    // A cascade: the fault at a leaf, three levels below the edge.
    let s = Scenario::builtin("cascading-failure").expect("built-in");
    let gt = s.ground_truth();
    assert_eq!(gt.len(), 1);
    assert_eq!(
        (gt[0].kind, gt[0].root_cause.as_str(), gt[0].remedy),
        (FaultKind::NoisyNeighbour, "db", ActionKind::ScaleOut)
    );
    let depth = |name: &str| -> usize {
        // The longest call path from an entry service down to `name`.
        fn walk(s: &Scenario, from: &str, to: &str) -> Option<usize> {
            if from == to {
                return Some(0);
            }
            let spec = s.services.iter().find(|x| x.name == from)?;
            spec.depends_on
                .iter()
                .filter_map(|d| walk(s, &d.name, to).map(|n| n + 1))
                .max()
        }
        walk(&s, "frontend", name).expect("reachable from the edge")
    };
    assert_eq!(depth(&gt[0].root_cause), 3);

    // Two faults on different components, starting within a minute of each other,
    // each with its own remedy.
    let s = Scenario::builtin("two-faults").expect("built-in");
    let gt = s.ground_truth();
    let truth: Vec<(FaultKind, &str, ActionKind)> = gt
        .iter()
        .map(|g| (g.kind, g.root_cause.as_str(), g.remedy))
        .collect();
    assert_eq!(
        truth,
        [
            (FaultKind::CachePoisoning, "cache", ActionKind::FlushCache),
            (FaultKind::BadDeploy, "auth", ActionKind::Rollback),
        ]
    );
    assert!(gt[1].at - gt[0].at <= Duration::from_secs(60));

    // A flapping metric and no fault: the right number of actions is zero.
    let s = Scenario::builtin("flapping-metric").expect("built-in");
    assert!(s.ground_truth().is_empty());
    assert!(!s.flaps.is_empty());
}

#[test]
fn the_cascade_breaks_three_levels_above_a_leaf_inside_its_objectives() {
    use charter_sim::World;
    // Thresholds of examples/westworld.yaml: warnings, each held for `for: 30s`.
    let s = Scenario::builtin("cascading-failure").expect("built-in");
    for seed in [s.seed, 1, 2, 3] {
        let mut w = World::new(&s, seed);
        w.advance_to(Duration::from_secs(6 * 60));
        // Longest run of consecutive seconds above a threshold, and window means.
        let mut runs: std::collections::HashMap<&str, (u32, u32)> = Default::default();
        let mut sums: std::collections::HashMap<(&str, &str), f64> = Default::default();
        let db_limits = [
            ("westworld_cpu_utilization", 0.85),
            ("westworld_latency_p99_seconds", 0.4),
            ("westworld_latency_p50_seconds", 0.15),
            ("westworld_error_ratio", 0.02),
        ];
        let watched = [
            ("auth", "westworld_latency_p50_seconds"),
            ("api", "westworld_latency_p99_seconds"),
            ("frontend", "westworld_latency_p99_seconds"),
            ("db", "westworld_latency_p50_seconds"),
        ];
        let mut n = 0.0;
        while w.elapsed() < Duration::from_secs(24 * 60) {
            w.step();
            n += 1.0;
            for (m, limit) in db_limits {
                let v = w.metric(m, "db").expect("known");
                let (run, longest) = runs.entry(m).or_default();
                *run = if v > limit { *run + 1 } else { 0 };
                *longest = (*longest).max(*run);
            }
            for (svc, m) in watched {
                *sums.entry((svc, m)).or_default() += w.metric(m, svc).expect("known");
            }
        }
        for (m, _) in db_limits {
            assert!(
                runs[m].1 < 30,
                "seed {seed}: db {m} breached for {}s",
                runs[m].1
            );
        }
        let mean = |svc, m| sums[&(svc, m)] / n;
        // db is slower than its healthy 0.0096 s, but far inside its objectives.
        let db_p50 = mean("db", "westworld_latency_p50_seconds");
        assert!(
            (0.018..0.1).contains(&db_p50),
            "seed {seed}: db p50 {db_p50}"
        );
        // Level 1, 2 and 3 above it break their objectives.
        let auth = mean("auth", "westworld_latency_p50_seconds");
        let api = mean("api", "westworld_latency_p99_seconds");
        let frontend = mean("frontend", "westworld_latency_p99_seconds");
        assert!(auth > 0.15, "seed {seed}: auth p50 {auth}");
        assert!(api > 0.8 && frontend > 0.8, "seed {seed}: {api} {frontend}");
    }
}
