//! Tests of the charter compiler, one module per section, sharing a valid charter
//! ([`VALID`]) that each test breaks in one place.

use super::*;
use crate::action::ActionKind;
use crate::charter::{ActuatorSpec, Direction, KnowledgeSpec, ObjectiveSource, SourceSpec};
use std::time::Duration;

mod actions;
mod actuators;
mod components;
mod guardrails;
mod knowledge;
mod objectives;
mod sources;

const VALID: &str = r#"name: shop
interval: 15s
mode: autonomous
components:
  - name: frontend
    depends_on: [api]
    replicas: { min: 2, max: 10 }
  - name: api
    depends_on: [db]
  - name: db
objectives:
  - name: latency_p99
    metric: westworld_latency_p99_seconds
    signal: latency
    above: { warning: 0.3, critical: 1.0, clear: 0.25 }
    for: 1m
    remedies: [scale_out, rollback]
  - name: cache_hit
    metric: westworld_cache_hit_ratio
    below: { warning: 0.8, critical: 0.5, clear: 0.85 }
    remedies: [flush_cache]
actions:
  scale_out: { cost: 2, step: 2, time_to_effect: 60s }
guardrails:
  cooldown: 5m
"#;

fn errors(text: &str) -> Vec<ValidationIssue> {
    match parse_charter(text, "shop.yaml", Path::new(".")) {
        Ok(_) => panic!("expected errors"),
        Err(ConfigError::Invalid(list)) => list.into_iter().filter(|i| !i.warning).collect(),
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// Every issue of an invalid charter, warnings included and in the order reported,
/// as `charter validate` prints it without the file: `line:col: path: message`.
fn located(text: &str) -> Vec<String> {
    match parse_charter(text, "shop.yaml", Path::new(".")) {
        Ok(_) => panic!("expected errors"),
        Err(ConfigError::Invalid(list)) => list
            .iter()
            .map(|i| {
                let s = i.to_string();
                s.strip_prefix("shop.yaml:").unwrap_or(&s).to_string()
            })
            .collect(),
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn one(text: &str, needle: &str) -> ValidationIssue {
    let errs = errors(text);
    errs.iter()
        .find(|e| e.message.contains(needle))
        .cloned()
        .unwrap_or_else(|| panic!("no error containing {needle:?} in {errs:#?}"))
}

#[test]
fn valid_charter_parses_with_defaults() {
    let (c, warnings) = parse_charter(VALID, "shop.yaml", Path::new(".")).expect("valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.interval, Duration::from_secs(15));
    assert_eq!(c.objectives[0].for_, Duration::from_secs(60));
    assert_eq!(c.objectives[0].components, vec!["frontend", "api", "db"]);
    assert_eq!(c.objectives[1].direction, Direction::Below);
    assert_eq!(c.objectives[1].thresholds.clear, 0.85);
    assert_eq!(
        c.action(ActionKind::ScaleOut).time_to_effect,
        Duration::from_secs(60)
    );
    assert_eq!(c.actions.len(), 9);
    assert_eq!(c.guardrails.cooldown, Duration::from_secs(300));
    assert!(c.topology.depends_on("frontend", "db"));
}

#[test]
fn unknown_keys_are_errors_with_location() {
    let text = VALID.replace(
        "    replicas: { min: 2, max: 10 }",
        "    replicas: { min: 2, max: 10 }\n    colour: blue",
    );
    let e = one(&text, "colour");
    assert_eq!(e.line, 8);
    assert_eq!(e.file, "shop.yaml");
}

#[test]
fn bad_durations_are_errors() {
    let text = VALID.replace("for: 1m", "for: soon");
    let e = one(&text, "invalid duration `soon`");
    assert_eq!(e.path, "objectives[0].for");
    assert_eq!(e.line, 16);
}

#[test]
fn every_error_is_reported_at_once() {
    let text = VALID
        .replace("depends_on: [db]", "depends_on: [dbx]")
        .replace("remedies: [flush_cache]", "remedies: [flush]")
        .replace("{ min: 2, max: 10 }", "{ min: 12, max: 10 }");
    let errs = errors(&text);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    // Sorted by position in the file.
    assert!(errs.windows(2).all(|w| w[0].line <= w[1].line));
}

/// Issues at one position are listed in the order the section passes found them,
/// which the split into one pass per section had to keep.
#[test]
fn issues_at_one_position_keep_the_order_the_passes_found_them_in() {
    let text = VALID
        .replace(
            "  scale_out: { cost: 2, step: 2, time_to_effect: 60s }\n",
            "  restart: { cost: -1, disruption: -1, resource: .nan, risk: -2, step: 0 }\n",
        )
        .replace(
            "    remedies: [flush_cache]\n",
            "    remedies: [flush_cache]\n  - name: nothing\n",
        );
    assert_eq!(
        located(&text),
        [
            "22:11: objectives[2]: needs `metric`, `expr` or `absent`",
            "22:11: objectives[2]: needs thresholds: `above: {warning, critical, clear}` or `below: {...}`",
            "22:11: warning: objectives[2].remedies: no remedies: violations will be reported, never acted on",
            "24:12: actions.restart.disruption: must be a finite number >= 0",
            "24:12: actions.restart.resource: must be a finite number >= 0",
            "24:12: actions.restart.risk: must be a finite number >= 0",
            "24:12: actions.restart.cost: must be a finite number >= 0",
            "24:12: actions.restart.cost: give either `cost` or `disruption`/`resource`/`risk`, not both (cost is their sum)",
            "24:12: actions.restart.step: must be at least 1",
        ]
    );
}
