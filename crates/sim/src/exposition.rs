//! The world's metrics in the Prometheus text exposition format, version 0.0.4.
//!
//! Each of the [`METRICS`] gets a `# HELP` and a `# TYPE` line and one sample per
//! service, labelled `service`; `westworld_info` carries each service's version,
//! zone and node as labels. A value that is not finite is left out rather than written as
//! `NaN` or `+Inf`, so a scrape never records a value the world did not mean.

use crate::world::{METRICS, World};
use std::fmt::Write;

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Help text of each of the [`METRICS`], in the same order.
const HELP: [&str; METRICS.len()] = [
    "Requests per second offered to the service.",
    "Median request latency in seconds.",
    "99th percentile request latency in seconds.",
    "Fraction of requests that fail.",
    "CPU utilization of the ready replicas (0 to 1).",
    "Memory utilization of the fullest ready replica, as a fraction of its limit.",
    "Load beyond capacity (service and connection pool), 0 when nothing queues.",
    "Replicas ready to serve.",
    "Cache hit ratio (1 for a service without a cache).",
    "Connection pool utilization (demand over connections).",
    "Fraction of offered requests refused by the admission limit.",
    "Replica restarts since the start, including OOM kills.",
    "Fraction of requests failing because of a dependency.",
    "Dependencies whose circuit breaker is open.",
    "Cost of the service's replicas per hour.",
    "Deploy revision, incremented by every deploy and rollback.",
];

/// The metric's type: only the restart count is a counter.
fn metric_type(name: &str) -> &'static str {
    if name.ends_with("_total") {
        "counter"
    } else {
        "gauge"
    }
}

/// Render every metric of every service of `world`.
pub fn render(world: &World) -> String {
    let services = world.services();
    let mut out = String::with_capacity(256 * METRICS.len() + 64 * services.len() * 17);
    for (m, name) in METRICS.iter().enumerate() {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# HELP {name} {}", HELP[m]);
        let _ = writeln!(out, "# TYPE {name} {}", metric_type(name));
        for s in &services {
            if let Some(v) = world.metric(name, s).filter(|v| v.is_finite()) {
                let _ = writeln!(out, "{name}{{service=\"{}\"}} {v}", escape(s));
            }
        }
    }
    out.push_str("# HELP westworld_info Version, zone and node of each service (always 1).\n");
    out.push_str("# TYPE westworld_info gauge\n");
    for s in &services {
        if let Ok(state) = world.describe(s) {
            let _ = writeln!(
                out,
                "westworld_info{{service=\"{}\",version=\"{}\",zone=\"{}\",node=\"{}\"}} 1",
                escape(s),
                escape(state.version.as_deref().unwrap_or_default()),
                escape(state.zone.as_deref().unwrap_or_default()),
                escape(&world.node(s).unwrap_or_default()),
            );
        }
    }
    out
}

/// Escape a label value: backslash, double quote and line feed.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scenario;
    use std::time::Duration;

    fn text() -> (String, Vec<String>) {
        let mut w = World::new(&Scenario::default_shop("t", Duration::from_secs(60)), 1);
        w.advance_to(Duration::from_secs(10));
        (render(&w), w.services())
    }

    #[test]
    fn every_metric_has_help_type_and_a_finite_sample_per_service() {
        let (text, services) = text();
        for name in METRICS {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            let kind = if name == "westworld_restarts_total" {
                "counter"
            } else {
                "gauge"
            };
            assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name}");
            for s in &services {
                let prefix = format!("{name}{{service=\"{s}\"}} ");
                let line = text
                    .lines()
                    .find(|l| l.starts_with(&prefix))
                    .unwrap_or_else(|| panic!("no {name} for {s}"));
                let v: f64 = line[prefix.len()..].parse().expect("a number");
                assert!(v.is_finite());
            }
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn info_carries_version_and_zone() {
        let (text, _) = text();
        assert!(
            text.lines().any(
                |l| l.starts_with("westworld_info{service=\"api\",version=\"")
                    && l.ends_with("} 1")
            ),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn only_the_total_is_a_counter() {
        let counters: Vec<_> = METRICS
            .iter()
            .filter(|m| metric_type(m) == "counter")
            .collect();
        assert_eq!(counters, [&"westworld_restarts_total"]);
    }
}
