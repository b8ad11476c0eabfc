//! Helpers shared by the integration tests: scenarios with one fault and windowed means.

#![allow(dead_code)]

use charter_model::{Action, ActionKind};
use charter_sim::{Fault, FaultKind, METRICS, Scenario, World};
use std::collections::HashMap;
use std::time::Duration;

/// Seconds as a duration.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The default shop with one fault of `kind` on `target` at `at` seconds, lasting
/// until remedied, in a one-hour run.
pub fn with_fault(kind: FaultKind, target: &str, at: u64) -> Scenario {
    Scenario::default_shop("test", secs(3600)).with_fault(Fault::new(kind, target, secs(at)))
}

/// Means of every metric of every service over a window of virtual time.
pub struct Means(HashMap<(String, String), f64>);

impl Means {
    /// Step `world` for `seconds` and average every metric.
    pub fn over(world: &mut World, seconds: u64) -> Means {
        let services = world.services();
        let mut sums: HashMap<(String, String), f64> = HashMap::new();
        let end = world.elapsed() + secs(seconds);
        let mut n = 0.0;
        while world.elapsed() < end {
            world.step();
            n += 1.0;
            for s in &services {
                for m in METRICS {
                    let v = world.metric(m, s).expect("known metric");
                    *sums.entry((m.to_string(), s.clone())).or_default() += v;
                }
            }
        }
        Means(sums.into_iter().map(|(k, v)| (k, v / n)).collect())
    }

    /// The mean of `westworld_{metric}` on `service`.
    pub fn get(&self, metric: &str, service: &str) -> f64 {
        *self
            .0
            .get(&(format!("westworld_{metric}"), service.to_string()))
            .unwrap_or_else(|| panic!("no {metric} for {service}"))
    }
}

/// An action with parameters, e.g. `action(ScaleOut, "catalog", &[("step", "2")])`.
pub fn action(kind: ActionKind, component: &str, params: &[(&str, &str)]) -> Action {
    params
        .iter()
        .fold(Action::new(kind, component), |a, (k, v)| a.with_param(k, v))
}

/// True when a service looks healthy by the baseline's standards (a little looser on
/// CPU, since a remedy may leave more load on more replicas).
pub fn healthy(m: &Means, service: &str) -> bool {
    m.get("error_ratio", service) < 0.01
        && m.get("latency_p99_seconds", service) < 0.5
        && m.get("cpu_utilization", service) < 0.8
        && m.get("memory_utilization", service) < 0.6
        && m.get("saturation", service) == 0.0
}

/// Describe the service's means, for assertion messages.
pub fn show(m: &Means, service: &str) -> String {
    [
        "request_rate",
        "latency_p99_seconds",
        "error_ratio",
        "cpu_utilization",
        "memory_utilization",
        "saturation",
        "ready_replicas",
        "dependency_error_ratio",
    ]
    .iter()
    .map(|k| format!("{k}={:.4}", m.get(k, service)))
    .collect::<Vec<_>>()
    .join(" ")
}
