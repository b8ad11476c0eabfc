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
