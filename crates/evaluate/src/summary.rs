//! Runs summarised per scenario and strategy, the Done-means targets, and the
//! Markdown table.

use crate::run::{Run, judge_against_none};
use crate::strategy::Strategy;
use serde::Serialize;
use std::collections::BTreeMap;

/// The metrics of one strategy over a set of runs.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// A scenario's name, or `all`.
    pub scenario: String,
    pub strategy: Strategy,
    pub runs: usize,
    /// Severity-weighted violation-seconds, mean per run.
    pub violation_seconds: f64,
    /// Over every fault of every run: median and worst time to recover (an
    /// unrecovered fault counts its whole window), and how many did not recover.
    pub ttr_median_secs: Option<f64>,
    pub ttr_worst_secs: Option<f64>,
    pub faults: usize,
    pub unrecovered: usize,
    /// Actions the actuator applied, in total.
    pub actions: usize,
    /// Actions the actuator refused or that failed.
    pub failed_actions: usize,
    pub harmful: usize,
    /// Harmful and not rolled back.
    pub harmful_unreverted: usize,
    /// Actions applied in control scenarios (no fault).
    pub control_actions: usize,
    /// Replica-hours, mean per run.
    pub replica_hours: f64,
    /// Faults whose first diagnosis named the root cause, over faults (`charter`).
    pub root_cause_accuracy: Option<f64>,
}

/// One Done-means target and whether it is met.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    pub pass: bool,
    pub detail: String,
}

/// Whether a scenario is a control: it injects no fault, so the right number of
/// actions is zero.
pub fn is_control(run: &Run) -> bool {
    run.faults.is_empty()
}

fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Summarise the runs of one strategy (any mix of scenarios).
pub fn row(scenario: &str, strategy: Strategy, runs: &[&Run]) -> Row {
    let n = runs.len();
    let mut ttr: Vec<f64> = runs
        .iter()
        .flat_map(|r| r.faults.iter().map(|f| f.recovery.secs))
        .collect();
    ttr.sort_by(f64::total_cmp);
    let faults: Vec<_> = runs.iter().flat_map(|r| &r.faults).collect();
    let judged: Vec<bool> = faults.iter().filter_map(|f| f.root_cause_correct).collect();
    let applied = || runs.iter().flat_map(|r| r.applied());
    let mean = |f: &dyn Fn(&Run) -> f64| {
        if n == 0 {
            0.0
        } else {
            runs.iter().map(|r| f(r)).sum::<f64>() / n as f64
        }
    };
    Row {
        scenario: scenario.to_string(),
        strategy,
        runs: n,
        violation_seconds: mean(&|r| r.violation_seconds),
        ttr_median_secs: median(&ttr),
        ttr_worst_secs: ttr.last().copied(),
        faults: faults.len(),
        unrecovered: faults.iter().filter(|f| !f.recovery.recovered).count(),
        actions: applied().count(),
        failed_actions: runs
            .iter()
            .flat_map(|r| &r.actions)
            .filter(|a| !a.ok)
            .count(),
        harmful: applied().filter(|a| a.harmful).count(),
        harmful_unreverted: applied().filter(|a| a.harmful && !a.reverted).count(),
        control_actions: runs
            .iter()
            .filter(|r| is_control(r))
            .map(|r| r.applied().count())
            .sum(),
        replica_hours: mean(&|r| r.replica_hours),
        root_cause_accuracy: (!judged.is_empty())
            .then(|| judged.iter().filter(|&&b| b).count() as f64 / judged.len() as f64),
    }
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub charter: String,
    pub scenarios: Vec<String>,
    pub strategies: Vec<Strategy>,
    pub seeds: Vec<u64>,
    /// Per scenario (in order) and strategy, then `all` per strategy.
    pub rows: Vec<Row>,
    pub targets: Vec<Target>,
    pub wall_secs: f64,
    /// Severity weights used (warning, critical).
    pub weights: (f64, f64),
    pub static_cooldown_secs: f64,
}

/// Judge `static` and `oracle` actions against the paired `none` runs (when `none`
/// ran), then summarise; `runs` may be in any order.
pub fn summarize(
    charter: &str,
    scenarios: &[String],
    strategies: &[Strategy],
    seeds: &[u64],
    runs: &mut [Run],
) -> Summary {
    let none: BTreeMap<(String, u64), usize> = runs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.strategy == Strategy::None)
        .map(|(i, r)| ((r.scenario.clone(), r.seed), i))
        .collect();
    for i in 0..runs.len() {
        if let Some(&j) = none.get(&(runs[i].scenario.clone(), runs[i].seed)) {
            let reference = runs[j].clone();
            judge_against_none(&mut runs[i], &reference);
        }
    }
    let mut rows = Vec::new();
    for s in scenarios {
        for &st in strategies {
            let mine: Vec<&Run> = runs
                .iter()
                .filter(|r| &r.scenario == s && r.strategy == st)
                .collect();
            rows.push(row(s, st, &mine));
        }
    }
    for &st in strategies {
        let mine: Vec<&Run> = runs.iter().filter(|r| r.strategy == st).collect();
        rows.push(row("all", st, &mine));
    }
    let targets = targets(&rows, seeds.len());
    Summary {
        charter: charter.to_string(),
        scenarios: scenarios.to_vec(),
        strategies: strategies.to_vec(),
        seeds: seeds.to_vec(),
        rows,
        targets,
        wall_secs: 0.0,
        weights: (
            crate::measure::WARNING_WEIGHT,
            crate::measure::CRITICAL_WEIGHT,
        ),
        static_cooldown_secs: crate::strategy::STATIC_COOLDOWN.as_secs_f64(),
    }
}

/// The Done-means targets of issue 7, over the `all` rows.
pub fn targets(rows: &[Row], seeds: usize) -> Vec<Target> {
    let all = |st: Strategy| {
        rows.iter()
            .find(|r| r.scenario == "all" && r.strategy == st)
    };
    let mut out = Vec::new();
    let Some(ch) = all(Strategy::Charter) else {
        return out;
    };
    out.push(Target {
        name: "at least 20 seeds".into(),
        pass: seeds >= 20,
        detail: format!("{seeds} seeds"),
    });
    if let Some(o) = all(Strategy::Oracle) {
        out.push(Target {
            name: "charter violation-seconds ≤ 1.3 × oracle".into(),
            pass: ch.violation_seconds <= 1.3 * o.violation_seconds,
            detail: format!(
                "{:.0} vs {:.0} (ratio {})",
                ch.violation_seconds,
                o.violation_seconds,
                ratio(ch.violation_seconds, o.violation_seconds)
            ),
        });
    }
    if let Some(o) = all(Strategy::OracleDetect) {
        out.push(Target {
            name: "(info, not a target) charter violation-seconds vs oracle_detect".into(),
            pass: true,
            detail: format!(
                "{:.0} vs {:.0} (ratio {})",
                ch.violation_seconds,
                o.violation_seconds,
                ratio(ch.violation_seconds, o.violation_seconds)
            ),
        });
    }
    if let Some(s) = all(Strategy::Static) {
        out.push(Target {
            name: "charter violation-seconds ≤ 0.5 × static".into(),
            pass: ch.violation_seconds <= 0.5 * s.violation_seconds,
            detail: format!(
                "{:.0} vs {:.0} (ratio {})",
                ch.violation_seconds,
                s.violation_seconds,
                ratio(ch.violation_seconds, s.violation_seconds)
            ),
        });
    }
    out.push(Target {
        name: "zero actions in the control scenarios".into(),
        pass: ch.control_actions == 0,
        detail: format!("{} action(s)", ch.control_actions),
    });
    out.push(Target {
        name: "no harmful action left unreverted".into(),
        pass: ch.harmful_unreverted == 0,
        detail: format!(
            "{} harmful, {} unreverted",
            ch.harmful, ch.harmful_unreverted
        ),
    });
    out.push(Target {
        name: "root-cause accuracy ≥ 0.95".into(),
        pass: ch.root_cause_accuracy.is_some_and(|a| a >= 0.95),
        detail: ch
            .root_cause_accuracy
            .map_or("no faults".into(), |a| format!("{a:.3}")),
    });
    out
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else if a > 0.0 {
        "∞".into()
    } else {
        "1.00".into()
    }
}

fn secs(x: Option<f64>) -> String {
    x.map_or("-".into(), |s| format!("{s:.0}"))
}

/// The table: a row per scenario × strategy, then the overall rows.
pub fn markdown(s: &Summary) -> String {
    let mut out = String::new();
    let seeds = match (s.seeds.first(), s.seeds.last()) {
        (Some(a), Some(b)) => format!("seeds {a}..={b}"),
        _ => "no seeds".into(),
    };
    out.push_str(&format!(
        "{} scenarios × {} ({} seeds) × {} strategies with {}; violation-seconds weighted \
         warning {} / critical {}, mean per run; TTR over faults (unrecovered = rest of the \
         fault's window); actions in total.\n\n",
        s.scenarios.len(),
        seeds,
        s.seeds.len(),
        s.strategies.len(),
        s.charter,
        s.weights.0,
        s.weights.1
    ));
    out.push_str(
        "| scenario | strategy | violation-s | TTR median s | TTR worst s | unrecovered | actions | harmful (unreverted) | control actions | replica-h | root cause |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in &s.rows {
        let name = if r.scenario == "all" {
            "**all**".to_string()
        } else {
            r.scenario.clone()
        };
        out.push_str(&format!(
            "| {name} | {} | {:.0} | {} | {} | {}/{} | {} | {} ({}) | {} | {:.1} | {} |\n",
            r.strategy,
            r.violation_seconds,
            secs(r.ttr_median_secs),
            secs(r.ttr_worst_secs),
            r.unrecovered,
            r.faults,
            r.actions,
            r.harmful,
            r.harmful_unreverted,
            r.control_actions,
            r.replica_hours,
            r.root_cause_accuracy
                .map_or("-".into(), |a| format!("{a:.3}")),
        ));
    }
    if !s.targets.is_empty() {
        out.push('\n');
        out.push_str(&render_targets(&s.targets));
    }
    out
}

/// `PASS`/`FAIL` lines.
pub fn render_targets(targets: &[Target]) -> String {
    targets
        .iter()
        .map(|t| {
            format!(
                "{} {}: {}\n",
                if t.name.starts_with("(info") {
                    "INFO"
                } else if t.pass {
                    "PASS"
                } else {
                    "FAIL"
                },
                t.name,
                t.detail
            )
        })
        .collect()
}
