//! Scenario files: topology, traffic, timed faults and flaps, parsed from YAML and
//! validated.
//!
//! [`ScenarioConfig`] is the raw serde parse (unknown keys are errors, values keep
//! their source locations); [`Scenario::from_yaml`] validates it, collecting every
//! semantic error at once with `file:line:col` and the key path.
//!
//! - `config`: the file format, as serde reads it.
//! - `validate`: a parsed file checked into a [`Scenario`], and the located issues.
//! - `faults`: the checks of one fault entry and its kind's parameters.
//!
//! The scenarios embedded from `scenarios/` are [`Scenario::builtin`].

mod config;
mod faults;
mod validate;

pub use config::{
    CacheConfig, DeployConfig, FaultConfig, FlapConfig, MetricGapConfig, PoolConfig,
    ScenarioConfig, ServiceConfig, ServicesConfig, TrafficConfig,
};
pub use validate::{ScenarioError, ScenarioIssue};

use crate::fault::{Fault, GroundTruth};
use crate::flap::Flap;
use crate::topology::{ServiceSpec, default_shop};
use std::path::Path;
use std::time::Duration;
use validate::{structural_message, validate};

// `BUILTIN`: every `scenarios/*.yaml` by file stem, listed by `build.rs`, so that
// adding a scenario needs only a new file.
include!(concat!(env!("OUT_DIR"), "/builtin_scenarios.rs"));

/// How the offered load varies over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrafficPattern {
    /// Constant.
    Flat,
    /// A sine of ±20% with a 24 h period, rising from the start of the run.
    Diurnal,
}

/// The load that enters the system.
#[derive(Debug, Clone, PartialEq)]
pub struct Traffic {
    /// Requests per second entering at every service nobody calls.
    pub rps: f64,
    pub pattern: TrafficPattern,
    /// Standard deviation of the multiplicative load noise (0.03 = 3%).
    pub noise: f64,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic {
            rps: 200.0,
            pattern: TrafficPattern::Flat,
            noise: 0.03,
        }
    }
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// The seed used when a run does not choose one.
    pub seed: u64,
    pub duration: Duration,
    /// Virtual time per simulation step.
    pub step: Duration,
    pub traffic: Traffic,
    pub services: Vec<ServiceSpec>,
    pub faults: Vec<Fault>,
    /// Deploys that are not faults (changes that may mislead a diagnosis).
    pub deploys: Vec<Deploy>,
    /// Short spikes of a metric that are not faults (nothing to fix).
    pub flaps: Vec<Flap>,
    /// Windows during which a service's metrics cannot be read.
    pub metric_gaps: Vec<MetricGap>,
}

/// A window during which every metric of `target` is missing from every read (the
/// in-process source, `/metrics`, the query endpoint); the world keeps running.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricGap {
    /// The service whose metrics are missing.
    pub target: String,
    /// When the gap starts, from the start of the run.
    pub at: Duration,
    /// How long it lasts.
    pub duration: Duration,
}

impl MetricGap {
    /// Whether the gap covers `t` (from the start of the run): `[at, at + duration)`.
    pub fn covers(&self, t: Duration) -> bool {
        t >= self.at && t < self.at + self.duration
    }
}

/// A deploy that is not a fault: at `at`, `ci` rolls out the next version of
/// `target`, which works as well as the one before. With a one-way schema migration
/// the previous version can no longer start, so rolling back to it stalls the
/// rollout with one replica crash-looping until the service is rolled forward.
#[derive(Debug, Clone, PartialEq)]
pub struct Deploy {
    /// The service deployed.
    pub target: String,
    /// When, from the start of the run.
    pub at: Duration,
    /// The new version migrates the schema one way.
    pub one_way_migration: bool,
}

impl Scenario {
    /// The default shop under default traffic, without faults: a builder for tests
    /// and for programmatic scenarios.
    pub fn default_shop(name: &str, duration: Duration) -> Self {
        Scenario {
            name: name.to_string(),
            description: String::new(),
            seed: 1,
            duration,
            step: Duration::from_secs(1),
            traffic: Traffic::default(),
            services: default_shop(),
            faults: Vec::new(),
            deploys: Vec::new(),
            flaps: Vec::new(),
            metric_gaps: Vec::new(),
        }
    }

    /// Add a fault.
    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Add a deploy that is not a fault.
    pub fn with_deploy(mut self, deploy: Deploy) -> Self {
        self.deploys.push(deploy);
        self
    }

    /// Add a flap (a short periodic spike of a metric, not a fault).
    pub fn with_flap(mut self, flap: Flap) -> Self {
        self.flaps.push(flap);
        self
    }

    /// Add a metric gap.
    pub fn with_metric_gap(mut self, gap: MetricGap) -> Self {
        self.metric_gaps.push(gap);
        self
    }

    /// Parse and validate scenario text; `file` names it in messages.
    pub fn from_yaml(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let raw: ScenarioConfig = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            ScenarioError::Invalid(vec![ScenarioIssue {
                file: file.to_string(),
                line: line.max(1),
                column: column.max(1),
                path: "(document)".into(),
                message: structural_message(&e),
            }])
        })?;
        validate(raw, file)
    }

    /// Read and validate a scenario file.
    pub fn load(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::from_yaml(&text, &path.display().to_string())
    }

    /// A scenario embedded from `scenarios/*.yaml`, by file stem (e.g. `demo`).
    pub fn builtin(name: &str) -> Option<Scenario> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        Scenario::from_yaml(text, &format!("scenarios/{name}.yaml")).ok()
    }

    /// Names of the embedded scenarios.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// What is true about each fault: root cause, right remedy, when. Deploys and
    /// flaps are not faults and have none.
    pub fn ground_truth(&self) -> Vec<GroundTruth> {
        self.faults
            .iter()
            .map(|f| GroundTruth {
                kind: f.kind(),
                root_cause: f.target.clone(),
                scope: f.kind().scope(),
                affected: affected_services(&self.services, f),
                remedy: f.remedy,
                at: f.at,
                until: f.until(),
            })
            .collect()
    }
}

/// The services a fault acts on, as placed at the start of the run: its target, or
/// every service in its zone or on its node, in declaration order.
pub fn affected_services(services: &[ServiceSpec], fault: &Fault) -> Vec<String> {
    use crate::fault::TargetScope;
    services
        .iter()
        .filter(|s| match fault.kind().scope() {
            TargetScope::Service => s.name == fault.target,
            TargetScope::Zone => s.zone == fault.target,
            TargetScope::Node => s.node == fault.target,
        })
        .map(|s| s.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FaultEffect;
    use charter_model::ActionKind;

    const GOOD: &str = "\
name: memory-leak
description: orders leaks memory until restarted
seed: 7
duration: 40m
step: 1s
traffic: { rps: 200, pattern: flat, noise: 0.03 }
services: default
faults:
  - { kind: memory_leak, target: orders, at: 5m, duration: 20m, rate: 0.04 }
";

    fn issues(text: &str) -> Vec<ScenarioIssue> {
        match Scenario::from_yaml(text, "s.yaml") {
            Err(ScenarioError::Invalid(list)) => list,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_documented_example() {
        let s = Scenario::from_yaml(GOOD, "s.yaml").expect("valid");
        assert_eq!(s.seed, 7);
        assert_eq!(s.duration, Duration::from_secs(2400));
        assert_eq!(s.services.len(), 8);
        assert_eq!(s.faults[0].effect, FaultEffect::MemoryLeak { rate: 0.04 });
        let gt = s.ground_truth();
        assert_eq!(gt[0].root_cause, "orders");
        assert_eq!(gt[0].remedy, ActionKind::Restart);
        assert_eq!(gt[0].until, Some(Duration::from_secs(1500)));
    }

    #[test]
    fn unknown_key_is_located() {
        let list = issues("name: x\nduraton: 5m\n");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].line, 2, "{list:?}");
        assert!(list[0].message.contains("duraton"), "{list:?}");
    }

    #[test]
    fn semantic_errors_are_all_reported_with_lines() {
        let text = "\
name: x
duration: 10m
faults:
  - { kind: meteor_strike, target: db, at: 1m }
  - { kind: traffic_surge, target: nowhere, at: 2m }
  - { kind: bad_deploy, target: auth, at: 3m, rate: 0.1 }
  - { kind: memory_leak, target: orders, at: 20m }
";
        let list = issues(text);
        let lines: Vec<u64> = list.iter().map(|i| i.line).collect();
        assert_eq!(lines, vec![4, 5, 6, 7], "{list:?}");
        assert!(
            list[0]
                .message
                .contains("unknown fault kind `meteor_strike`")
        );
        assert!(list[1].message.contains("unknown service `nowhere`"));
        assert!(
            list[2]
                .message
                .contains("`rate` does not apply to bad_deploy")
        );
        assert!(list[3].message.contains("after the scenario ends"));
        let shown = ScenarioError::Invalid(list).to_string();
        assert!(shown.contains("s.yaml:4:"), "{shown}");
    }

    #[test]
    fn inline_services_are_validated() {
        let text = "\
name: tiny
services:
  - { name: web, depends_on: [store], capacity: 100 }
  - { name: store, depends_on: [web], capacity: 100 }
";
        let list = issues(text);
        assert!(list.iter().any(|i| i.message.contains("cycle")), "{list:?}");

        let ok = "\
name: tiny
services:
  - name: web
    depends_on: [store]
    call_ratio: { store: 2.0 }
    capacity: 100
    base_latency: 5ms
  - { name: store, capacity: 300, replicas: 1 }
faults:
  - { kind: dependency_outage, target: store, at: 1m, duration: 5m }
";
        let s = Scenario::from_yaml(ok, "tiny.yaml").expect("valid");
        assert_eq!(s.services[0].depends_on[0].call_ratio, 2.0);
        assert_eq!(s.services[0].base_latency, Duration::from_millis(5));
        assert_eq!(s.services[1].replicas, 1);
    }

    #[test]
    fn every_builtin_parses() {
        for name in Scenario::builtin_names() {
            let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name).expect("listed");
            if let Err(e) = Scenario::from_yaml(text, name) {
                panic!("{name}: {e}");
            }
        }
        assert!(Scenario::builtin("demo").is_some());
        assert!(Scenario::builtin("nope").is_none());
    }
}
