//! What the plots show: a scenario's main series and the data of its timeline and of
//! the violation-seconds bar chart.

use crate::run::Run;
use crate::strategy::Strategy;
use crate::summary::Row;
use crate::svg::{BarGroup, Panel, Timeline};
use charter_model::Charter;
use charter_sim::Scenario;
use std::collections::BTreeMap;

/// The scenario's main series (`objective@component`): the one with the most
/// violation-seconds under `none` (every strategy when `none` did not run) on the
/// first fault's root cause, else on any component; the charter's first series when
/// nothing was violated.
pub fn main_series(charter: &Charter, scenario: &Scenario, runs: &[&Run]) -> Option<String> {
    let mine: Vec<&&Run> = runs
        .iter()
        .filter(|r| r.scenario == scenario.name)
        .collect();
    let reference: Vec<&&Run> = if mine.iter().any(|r| r.strategy == Strategy::None) {
        mine.iter()
            .copied()
            .filter(|r| r.strategy == Strategy::None)
            .collect()
    } else {
        mine
    };
    let mut total: BTreeMap<&str, f64> = BTreeMap::new();
    for r in &reference {
        for (k, v) in &r.per_series {
            *total.entry(k.as_str()).or_default() += v;
        }
    }
    let best = |filter: &dyn Fn(&str) -> bool| {
        total
            .iter()
            .filter(|(k, v)| **v > 0.0 && filter(k))
            .max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(k, _)| k.to_string())
    };
    let root = scenario.ground_truth().into_iter().min_by_key(|g| g.at);
    root.and_then(|g| best(&|k: &str| k.ends_with(&format!("@{}", g.root_cause))))
        .or_else(|| best(&|_| true))
        .or_else(|| {
            let o = charter.objectives.first()?;
            Some(format!("{}@{}", o.name, o.components.first()?))
        })
}

/// The timeline of `series` in the runs of one scenario and seed that recorded their
/// values, one panel per strategy in `strategies` order.
pub fn timeline(
    charter: &Charter,
    scenario: &Scenario,
    seed: u64,
    series: &str,
    runs: &[&Run],
    strategies: &[Strategy],
) -> Timeline {
    let objective = series.split('@').next().and_then(|o| charter.objective(o));
    let mut thresholds = Vec::new();
    if let Some(o) = objective {
        if let Some(w) = o.thresholds.warning {
            thresholds.push(("warning".to_string(), w));
        }
        if let Some(c) = o.thresholds.critical {
            thresholds.push(("critical".to_string(), c));
        }
    }
    let end = scenario.duration.as_secs_f64();
    let faults = scenario
        .ground_truth()
        .iter()
        .map(|g| (g.at.as_secs_f64(), g.until.map_or(end, |u| u.as_secs_f64())))
        .collect();
    let panels = strategies
        .iter()
        .filter_map(|&st| {
            let r = runs
                .iter()
                .find(|r| r.scenario == scenario.name && r.seed == seed && r.strategy == st)?;
            let values = r.values.as_ref()?.get(series)?;
            Some(Panel {
                strategy: st,
                points: r
                    .ticks
                    .iter()
                    .zip(values)
                    .map(|(t, v)| (t.at_secs, *v))
                    .collect(),
                actions: grouped_actions(r),
            })
        })
        .collect();
    Timeline {
        title: format!("{} (seed {seed})", scenario.name),
        series: series.to_string(),
        duration_secs: end,
        faults,
        thresholds,
        panels,
    }
}

/// One marker per interval with actions: the first action's kind and component,
/// and how many more there were (so that a burst of scripts stays readable).
fn grouped_actions(r: &Run) -> Vec<(f64, String)> {
    let mut out: Vec<(f64, String, usize)> = Vec::new();
    for a in r.applied() {
        match out.last_mut() {
            Some((at, _, more)) if *at == a.at_secs => *more += 1,
            _ => out.push((a.at_secs, format!("{} {}", a.kind, a.component), 0)),
        }
    }
    out.into_iter()
        .map(|(at, label, more)| match more {
            0 => (at, label),
            n => (at, format!("{label} +{n}")),
        })
        .collect()
}

/// Violation-seconds per strategy: `all` first, then each scenario.
pub fn violation_bars(rows: &[Row], scenarios: &[String]) -> Vec<BarGroup> {
    std::iter::once("all".to_string())
        .chain(scenarios.iter().cloned())
        .map(|s| BarGroup {
            bars: rows
                .iter()
                .filter(|r| r.scenario == s)
                .map(|r| (r.strategy, r.violation_seconds))
                .collect(),
            label: s,
        })
        .collect()
}
