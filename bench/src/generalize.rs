//! `generalize`: a benchmark that cannot be learned by heart (issue 17, item 9).
//!
//! Each situation draws its own topology (a layered graph of 6–40 services with
//! caches, pools, zones and nodes), writes its charter from a healthy run of it, and
//! injects a situation of one category with known ground truth (see
//! [`situations`]). Every (situation, seed) runs under `none`, `static`, `charter`
//! and `oracle_detect` with `charter_evaluate`'s runner, and the results are reported
//! per category against the "Done means" targets.
//!
//! - `topology`: the generated topologies and their charters.
//! - `situations`: the categories, the tuning and validation seed ranges, and the
//!   draw of one situation.

pub mod situations;
pub mod topology;

use crate::calibrate::default_jobs;
use crate::pool::run_pool;
use crate::scenarios::Progress;
use anyhow::{Result, bail};
use charter_evaluate::{Run, RunOptions, Strategy, run_one};
use charter_model::ActionKind;
use serde::Serialize;
use situations::{Category, Range, Situation, Truth, draw};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of `charter-bench generalize`.
#[derive(clap::Args)]
pub struct GeneralizeArgs {
    /// Which seed range: `tune` while adjusting, `validate` for what is reported.
    #[arg(long, value_enum, default_value = "validate")]
    range: Range,
    /// How many situations (categories rotate, so 7 × k draws each category k times).
    #[arg(long, default_value_t = 210)]
    situations: u64,
    /// Seeds (runs) per situation.
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Strategies to compare, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,static,charter,oracle_detect"
    )]
    strategies: Vec<Strategy>,
    /// Runs at once, each on its own thread (default: available parallelism).
    #[arg(long)]
    jobs: Option<usize>,
    /// Print JSON instead of the Markdown table.
    #[arg(long)]
    json: bool,
    /// Write results.json, results.md and the generated charters' list here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Exit with 1 when a Done-means target of issue 17 is not met (and say which).
    #[arg(long)]
    check: bool,
    /// Seconds after which a simulated on-call approves a policy left pending
    /// (a group failover above `auto_approve_max_cost`, say); 0: nobody answers.
    #[arg(long, default_value_t = 180)]
    approve_after: u64,
    /// Print the `charter` decision log of one situation (its name, as in
    /// results.json) for each of its seeds, instead of the tables.
    #[arg(long)]
    trace: Option<String>,
}

/// What one run of one situation gave.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub situation: String,
    pub category: Category,
    pub variant: String,
    pub seed: u64,
    pub strategy: Strategy,
    pub violation_seconds: f64,
    /// Actions the actuator applied.
    pub actions: usize,
    /// `charter`: verified worsened or failed and not rolled back.
    pub harmful_unreverted: usize,
    /// Confounders with an innocent deploy: whether that service was rolled back.
    pub innocent_rolled_back: Option<bool>,
    /// Infrastructure: whether the first policy executed acted on several of the
    /// affected services at once (one group policy).
    pub group_policy: Option<bool>,
    /// `charter`: per ground-truth fault, whether the first diagnosis of its incident
    /// named the component (service, zone or node) at fault.
    pub top1: Vec<bool>,
}

/// Whether a diagnosed component names the target (a hypothesis about a zone or a
/// node may carry a prefix such as `zone:`).
fn names(diagnosed: &str, target: &str) -> bool {
    diagnosed == target || diagnosed.rsplit([':', '/', ' ']).next() == Some(target)
}

/// The first diagnosis of each truth's fault, judged against its target.
fn top1(truth: &[Truth], run: &Run) -> Vec<bool> {
    truth
        .iter()
        .filter_map(|t| {
            let same: Vec<_> = run
                .faults
                .iter()
                .filter(|f| (f.at_secs - t.at_secs).abs() < 0.5)
                .collect();
            let f = same
                .iter()
                .find(|f| f.root_cause == t.target)
                .or(same.first())?;
            Some(f.diagnosed.as_deref().is_some_and(|d| names(d, &t.target)))
        })
        .collect()
}

/// Whether the first policy the run executed acted on ≥ 2 of `group`.
fn first_policy_is_group(run: &Run, group: &[String]) -> bool {
    let mut applied: Vec<_> = run.applied().filter(|a| a.execution_id.is_some()).collect();
    applied.sort_by(|a, b| a.at_secs.total_cmp(&b.at_secs));
    let Some(first) = applied.first().and_then(|a| a.execution_id) else {
        return false;
    };
    let touched: BTreeSet<&str> = applied
        .iter()
        .filter(|a| a.execution_id == Some(first))
        .map(|a| a.component.as_str())
        .filter(|c| group.iter().any(|g| g == c))
        .collect();
    touched.len() >= 2
}

fn outcome(s: &Situation, run: &Run) -> Outcome {
    let charter = run.strategy == Strategy::Charter;
    Outcome {
        situation: s.name.clone(),
        category: s.category,
        variant: s.variant.clone(),
        seed: run.seed,
        strategy: run.strategy,
        violation_seconds: run.violation_seconds,
        actions: run.applied().count(),
        harmful_unreverted: if charter {
            run.applied().filter(|a| a.harmful && !a.reverted).count()
        } else {
            0
        },
        innocent_rolled_back: s.innocent.as_ref().map(|x| {
            run.applied()
                .any(|a| a.kind == ActionKind::Rollback && &a.component == x)
        }),
        group_policy: (s.category == Category::Infrastructure)
            .then(|| first_policy_is_group(run, &s.group)),
        top1: if charter {
            top1(&s.truth, run)
        } else {
            Vec::new()
        },
    }
}

/// One row of the table: a category (or `all`).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub category: String,
    pub situations: usize,
    /// Severity-weighted violation-seconds, mean per run, per strategy.
    pub violation_seconds: BTreeMap<Strategy, f64>,
    pub charter_vs_oracle_detect: Option<f64>,
    pub charter_vs_static: Option<f64>,
    /// Actions `charter` applied (the target is zero in controls).
    pub charter_actions: usize,
    pub harmful_unreverted: usize,
    /// Share of `charter` runs that rolled the innocent change back.
    pub innocent_rollback_share: Option<f64>,
    /// Share of `charter` runs whose first policy was one group policy.
    pub group_policy_share: Option<f64>,
    /// Share of ground-truth faults whose first diagnosis named the component.
    pub top1: Option<f64>,
}

fn share(xs: impl Iterator<Item = bool>) -> Option<f64> {
    let (mut yes, mut n) = (0usize, 0usize);
    for x in xs {
        n += 1;
        yes += usize::from(x);
    }
    (n > 0).then(|| yes as f64 / n as f64)
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    if b > 0.0 {
        Some(a / b)
    } else if a > 0.0 {
        None
    } else {
        Some(1.0)
    }
}

fn row(name: &str, situations: usize, outcomes: &[&Outcome]) -> Row {
    let mut sums: BTreeMap<Strategy, (f64, usize)> = BTreeMap::new();
    for o in outcomes {
        let e = sums.entry(o.strategy).or_default();
        e.0 += o.violation_seconds;
        e.1 += 1;
    }
    let vs: BTreeMap<Strategy, f64> = sums
        .into_iter()
        .map(|(k, (s, n))| (k, s / n.max(1) as f64))
        .collect();
    let charter: Vec<&&Outcome> = outcomes
        .iter()
        .filter(|o| o.strategy == Strategy::Charter)
        .collect();
    let ch = vs.get(&Strategy::Charter).copied();
    let vs_of = |st| ch.zip(vs.get(&st).copied()).and_then(|(a, b)| ratio(a, b));
    Row {
        category: name.to_string(),
        situations,
        charter_vs_oracle_detect: vs_of(Strategy::OracleDetect),
        charter_vs_static: vs_of(Strategy::Static),
        violation_seconds: vs,
        charter_actions: charter.iter().map(|o| o.actions).sum(),
        harmful_unreverted: charter.iter().map(|o| o.harmful_unreverted).sum(),
        innocent_rollback_share: share(charter.iter().filter_map(|o| o.innocent_rolled_back)),
        group_policy_share: share(charter.iter().filter_map(|o| o.group_policy)),
        top1: share(charter.iter().flat_map(|o| o.top1.iter().copied())),
    }
}

/// One Done-means target of issue 17 and whether it is met.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    pub pass: bool,
    pub detail: String,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub range: Range,
    pub first_seed: u64,
    pub situations: usize,
    pub seeds_per_situation: u64,
    pub strategies: Vec<Strategy>,
    pub rows: Vec<Row>,
    /// Per (category, variant): the same measures.
    pub variants: Vec<Row>,
    pub targets: Vec<Target>,
    pub runs: usize,
    pub wall_secs: f64,
    pub jobs: usize,
    pub machine: String,
}

fn fmt_opt(x: Option<f64>, digits: usize) -> String {
    x.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn fmt_ratio(x: Option<f64>) -> String {
    x.map_or("∞".into(), |v| format!("{v:.2}"))
}

fn targets(report: &Report, has: &dyn Fn(Strategy) -> bool) -> Vec<Target> {
    let mut out = Vec::new();
    let counts: BTreeMap<&str, usize> = report
        .rows
        .iter()
        .filter(|r| r.category != "all")
        .map(|r| (r.category.as_str(), r.situations))
        .collect();
    out.push(Target {
        name: "validation range".into(),
        pass: report.range == Range::Validate,
        detail: format!("{:?} from seed {}", report.range, report.first_seed),
    });
    out.push(Target {
        name: "≥ 200 situations, each category ≥ 20, 3 seeds each".into(),
        pass: report.situations >= 200
            && report.seeds_per_situation >= 3
            && Category::ALL
                .iter()
                .all(|c| counts.get(c.as_str()).copied().unwrap_or(0) >= 20),
        detail: format!(
            "{} situations × {} seeds; per category {:?}",
            report.situations, report.seeds_per_situation, counts
        ),
    });
    for r in &report.rows {
        let vs = |st: Strategy| r.violation_seconds.get(&st).copied().unwrap_or(0.0);
        // `a ≤ k × b` on the means, so a category where neither has any
        // violation-seconds (the controls) passes.
        for (st, k, shown) in [
            (Strategy::OracleDetect, 1.5, r.charter_vs_oracle_detect),
            (Strategy::Static, 0.3, r.charter_vs_static),
        ] {
            if has(st) && has(Strategy::Charter) {
                out.push(Target {
                    name: format!("{}: charter ≤ {k} × {st}", r.category),
                    pass: vs(Strategy::Charter) <= k * vs(st),
                    detail: format!(
                        "{:.0} vs {:.0} (ratio {})",
                        vs(Strategy::Charter),
                        vs(st),
                        fmt_ratio(shown)
                    ),
                });
            }
        }
    }
    let find = |c: &str| report.rows.iter().find(|r| r.category == c);
    if let Some(c) = find(Category::Control.as_str()) {
        out.push(Target {
            name: "zero actions in the controls".into(),
            pass: c.charter_actions == 0,
            detail: format!("{} action(s)", c.charter_actions),
        });
    }
    if let Some(all) = find("all") {
        out.push(Target {
            name: "no harmful action left unreverted".into(),
            pass: all.harmful_unreverted == 0,
            detail: format!("{} unreverted", all.harmful_unreverted),
        });
    }
    if let Some(c) = find(Category::Confounder.as_str()) {
        out.push(Target {
            name: "confounders: innocent change rolled back in ≤ 5% of runs".into(),
            pass: c.innocent_rollback_share.is_some_and(|x| x <= 0.05),
            detail: fmt_opt(c.innocent_rollback_share.map(|x| x * 100.0), 1) + "%",
        });
    }
    if let Some(c) = find(Category::Infrastructure.as_str()) {
        out.push(Target {
            name: "infrastructure: one group policy in ≥ 90% of runs".into(),
            pass: c.group_policy_share.is_some_and(|x| x >= 0.9),
            detail: fmt_opt(c.group_policy_share.map(|x| x * 100.0), 1) + "%",
        });
    }
    out
}

/// The Markdown tables and the target lines.
pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{} generated situations ({:?} range, situation seeds {}..{}) × {} seeds × {} \
         strategies = {} runs in {:.0} s on {} thread(s) ({}). Violation-seconds are \
         severity-weighted (warning 1, critical 3), mean per run.\n\n",
        r.situations,
        r.range,
        r.first_seed,
        r.first_seed + r.situations as u64,
        r.seeds_per_situation,
        r.strategies.len(),
        r.runs,
        r.wall_secs,
        r.jobs,
        r.machine
    ));
    let table = |rows: &[Row], out: &mut String| {
        out.push_str(
            "| category | situations | none | static | charter | oracle_detect | charter / oracle_detect | charter / static | charter actions | harmful unreverted | innocent rolled back | group policy | top-1 |\n",
        );
        out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for row in rows {
            let v = |st| fmt_opt(row.violation_seconds.get(&st).copied(), 0);
            let name = if row.category == "all" {
                "**all**".to_string()
            } else {
                row.category.clone()
            };
            out.push_str(&format!(
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                row.situations,
                v(Strategy::None),
                v(Strategy::Static),
                v(Strategy::Charter),
                v(Strategy::OracleDetect),
                fmt_ratio(row.charter_vs_oracle_detect),
                fmt_ratio(row.charter_vs_static),
                row.charter_actions,
                row.harmful_unreverted,
                fmt_opt(row.innocent_rollback_share.map(|x| x * 100.0), 0)
                    + if row.innocent_rollback_share.is_some() {
                        "%"
                    } else {
                        ""
                    },
                fmt_opt(row.group_policy_share.map(|x| x * 100.0), 0)
                    + if row.group_policy_share.is_some() {
                        "%"
                    } else {
                        ""
                    },
                fmt_opt(row.top1, 2),
            ));
        }
    };
    table(&r.rows, &mut out);
    out.push_str("\nPer variant:\n\n");
    table(&r.variants, &mut out);
    out.push('\n');
    for t in &r.targets {
        out.push_str(&format!(
            "{} {}: {}\n",
            if t.pass { "PASS" } else { "FAIL" },
            t.name,
            t.detail
        ));
    }
    out
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} CPU(s), {model}")
}

/// Draw the situations of a range.
pub fn draw_all(range: Range, n: u64) -> Vec<Situation> {
    (0..n).map(|i| draw(range, i)).collect()
}

/// Run `charter-bench generalize`; false when `--check` finds a target not met.
pub fn run(args: &GeneralizeArgs) -> Result<bool> {
    let started = Instant::now();
    if args.seeds == 0 || args.situations == 0 {
        bail!("--seeds and --situations must be at least 1");
    }
    if args.range == Range::Tune && args.situations > situations::VALIDATE_BASE {
        bail!(
            "--range tune has {} situations; more would reach the validation seeds",
            situations::VALIDATE_BASE
        );
    }
    let mut strategies = args.strategies.clone();
    strategies.sort();
    strategies.dedup();
    let situations = draw_all(args.range, args.situations);
    if let Some(name) = &args.trace {
        return trace(args, &situations, name);
    }
    let mut work: Vec<(usize, u64, Strategy)> = situations
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            let strategies = &strategies;
            s.run_seeds(args.seeds)
                .into_iter()
                .flat_map(move |seed| strategies.iter().map(move |&st| (i, seed, st)))
        })
        .collect();
    // The slow `charter` runs first, so the pool ends evenly.
    work.sort_by_key(|(_, _, st)| *st != Strategy::Charter);
    let jobs = args.jobs.unwrap_or_else(default_jobs).max(1);
    let approve_after = args.approve_after;
    let progress = Progress::new(work.len());
    let outcomes = run_pool(
        &work,
        jobs,
        |&(i, seed, strategy)| {
            let s = &situations[i];
            let run = run_one(
                s.charter.clone(),
                &s.scenario,
                seed,
                strategy,
                RunOptions {
                    approve_after: (approve_after > 0)
                        .then(|| std::time::Duration::from_secs(approve_after)),
                    ..RunOptions::default()
                },
            );
            async move {
                let run = run.await.map_err(|e| {
                    anyhow::Error::new(e).context(format!(
                        "situation {} seed {seed} strategy {strategy}",
                        s.name
                    ))
                })?;
                Ok(outcome(s, &run))
            }
        },
        |n, o: &Outcome| {
            progress.update_with(
                n,
                &format!("{} {} seed {}", o.situation, o.strategy, o.seed),
            )
        },
    )?;
    progress.finish();
    let mut outcomes = outcomes;
    outcomes.sort_by(|a, b| {
        (&a.situation, a.seed, a.strategy).cmp(&(&b.situation, b.seed, b.strategy))
    });

    let mut rows = Vec::new();
    let mut variants = Vec::new();
    for c in Category::ALL {
        let mine: Vec<&Outcome> = outcomes.iter().filter(|o| o.category == c).collect();
        let n = situations.iter().filter(|s| s.category == c).count();
        rows.push(row(c.as_str(), n, &mine));
        let mut names: Vec<&str> = situations
            .iter()
            .filter(|s| s.category == c)
            .map(|s| s.variant.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        for v in names {
            let theirs: Vec<&Outcome> = mine.iter().copied().filter(|o| o.variant == v).collect();
            let n = situations
                .iter()
                .filter(|s| s.category == c && s.variant == v)
                .count();
            variants.push(row(&format!("{c}/{v}"), n, &theirs));
        }
    }
    let all: Vec<&Outcome> = outcomes.iter().collect();
    rows.push(row("all", situations.len(), &all));
    let mut report = Report {
        range: args.range,
        first_seed: args.range.seed(0),
        situations: situations.len(),
        seeds_per_situation: args.seeds,
        strategies: strategies.clone(),
        rows,
        variants,
        targets: Vec::new(),
        runs: outcomes.len(),
        wall_secs: started.elapsed().as_secs_f64(),
        jobs,
        machine: machine(),
    };
    report.targets = targets(&report, &|st| strategies.contains(&st));
    let table = markdown(&report);
    if let Some(dir) = &args.out {
        write_out(dir, &report, &outcomes, &situations)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{table}");
    }
    let failed: Vec<&Target> = report.targets.iter().filter(|t| !t.pass).collect();
    if args.check && !failed.is_empty() {
        for t in &failed {
            eprintln!(
                "charter-bench generalize: target not met: {}: {}",
                t.name, t.detail
            );
        }
        return Ok(false);
    }
    Ok(true)
}

/// `--trace`: one situation's `charter` runs with their decision logs.
fn trace(args: &GeneralizeArgs, situations: &[Situation], name: &str) -> Result<bool> {
    let Some(s) = situations.iter().find(|s| s.name == name) else {
        bail!(
            "--trace {name}: no such situation in the first {} of the {:?} range",
            situations.len(),
            args.range
        );
    };
    let seeds = s.run_seeds(args.seeds);
    let runs = run_pool(
        &seeds,
        1,
        |&seed| {
            let run = run_one(
                s.charter.clone(),
                &s.scenario,
                seed,
                Strategy::Charter,
                RunOptions {
                    log: true,
                    approve_after: (args.approve_after > 0)
                        .then(|| std::time::Duration::from_secs(args.approve_after)),
                    ..RunOptions::default()
                },
            );
            async move { run.await.map_err(anyhow::Error::new) }
        },
        |_, _| {},
    )?;
    println!(
        "{} ({}/{}): truth {:?}, innocent {:?}, group {:?}, blind {:?}",
        s.name, s.category, s.variant, s.truth, s.innocent, s.group, s.blind
    );
    // The dependency graph, to read the decisions against.
    for c in &s.charter.components {
        let deps: Vec<&str> = s.charter.topology.dependencies(&c.name).collect();
        println!("  {} -> [{}]", c.name, deps.join(", "));
    }
    for run in runs {
        let o = outcome(s, &run);
        println!(
            "\n== seed {}: {:.0} violation-s, {} actions, innocent rolled back {:?}, group policy {:?}, top-1 {:?}",
            run.seed,
            run.violation_seconds,
            o.actions,
            o.innocent_rolled_back,
            o.group_policy,
            o.top1
        );
        for line in &run.log {
            let t = line.at_secs.max(0.0) as u64;
            println!("[{:02}:{:02}] {}", t / 60, t % 60, line.text);
        }
    }
    Ok(true)
}

#[derive(Serialize)]
struct Results<'a> {
    report: &'a Report,
    outcomes: &'a [Outcome],
    situations: Vec<SituationInfo<'a>>,
}

#[derive(Serialize)]
struct SituationInfo<'a> {
    name: &'a str,
    category: Category,
    variant: &'a str,
    services: usize,
    zones: usize,
    nodes: usize,
    truth: &'a [Truth],
    innocent: Option<&'a str>,
    group: &'a [String],
    blind: Option<&'a str>,
}

fn write_out(
    dir: &Path,
    report: &Report,
    outcomes: &[Outcome],
    situations: &[Situation],
) -> Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let infos = situations
        .iter()
        .map(|s| SituationInfo {
            name: &s.name,
            category: s.category,
            variant: &s.variant,
            services: s.topology.services.len(),
            zones: s.topology.zones.len(),
            nodes: s.topology.nodes().len(),
            truth: &s.truth,
            innocent: s.innocent.as_deref(),
            group: &s.group,
            blind: s.blind.as_deref(),
        })
        .collect();
    let results = Results {
        report,
        outcomes,
        situations: infos,
    };
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    write("results.json", &serde_json::to_string_pretty(&results)?)?;
    write("results.md", &markdown(report))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::situations::{DURATION, VALIDATE_BASE};
    use super::topology::generate;
    use super::*;
    use charter_evaluate::measure::{self, Meter};
    use charter_sim::{FaultKind, Simulator, World};
    use std::collections::BTreeSet;
    use std::time::Duration;

    /// Every category, and every single fault kind, in one rotation.
    const ROTATION: u64 = 7 * 8;

    #[test]
    fn tune_and_validate_seeds_never_give_the_same_topology() {
        assert!(Range::Tune.seed(VALIDATE_BASE - 1) < Range::Validate.seed(0));
        let prints = |range: Range| -> BTreeSet<String> {
            (0..40)
                .map(|i| generate(range.seed(i)).fingerprint())
                .collect()
        };
        let tune = prints(Range::Tune);
        let validate = prints(Range::Validate);
        // Different seeds give different topologies within a range too.
        assert_eq!(tune.len(), 40);
        assert_eq!(validate.len(), 40);
        assert!(tune.is_disjoint(&validate));
    }

    #[test]
    fn topologies_stay_within_the_drawn_bounds() {
        for i in 0..30 {
            let t = generate(Range::Tune.seed(i));
            let n = t.services.len();
            assert!((6..=40).contains(&n), "{n} services");
            assert!((2..=3).contains(&t.zones.len()));
            assert!(t.nodes().len() >= t.zones.len());
            assert!(!t.caches().is_empty(), "seed {i}: no cache");
            assert!(!t.exhausted_pool.is_empty(), "seed {i}: no pool");
            for (k, s) in t.services.iter().enumerate() {
                assert!(t.zones.contains(&s.zone));
                assert_ne!(s.zone, s.standby_zone);
                assert!(t.node_of[k].starts_with(&s.zone));
                let (min, max) = t.limits[k];
                assert!(min <= s.replicas && s.replicas < max);
                if k > 0 && !t.layers[0].contains(&k) {
                    assert!(
                        !t.callers(k).is_empty(),
                        "seed {i}: {} is never called",
                        s.name
                    );
                }
            }
        }
    }

    #[test]
    fn every_category_and_fault_kind_is_drawn_with_truth_in_the_topology() {
        let all = draw_all(Range::Validate, ROTATION);
        let categories: BTreeSet<Category> = all.iter().map(|s| s.category).collect();
        assert_eq!(categories.len(), Category::ALL.len());
        let kinds: BTreeSet<&str> = all
            .iter()
            .filter(|s| s.category == Category::Single)
            .map(|s| s.variant.as_str())
            .collect();
        assert_eq!(
            kinds,
            situations::single_kinds()
                .iter()
                .map(|k| k.as_str())
                .collect::<BTreeSet<_>>()
        );
        // Every kind the simulator has is drawn by some category.
        let drawn: BTreeSet<String> = all
            .iter()
            .flat_map(|s| {
                s.scenario
                    .faults
                    .iter()
                    .map(|f| f.kind().as_str().to_string())
            })
            .collect();
        for k in FaultKind::ALL {
            assert!(drawn.contains(k.as_str()), "{k} is never drawn");
        }
        for s in &all {
            let t = &s.topology;
            let known = |x: &str| {
                t.index(x).is_some()
                    || t.zones.iter().any(|z| z == x)
                    || t.nodes().iter().any(|n| n == x)
            };
            if s.category == Category::Control {
                assert!(
                    s.truth.is_empty() && s.scenario.faults.is_empty(),
                    "{}",
                    s.name
                );
            } else {
                assert!(!s.truth.is_empty(), "{}", s.name);
            }
            for truth in &s.truth {
                assert!(
                    known(&truth.target),
                    "{}: {} not in the topology",
                    s.name,
                    truth.target
                );
            }
            for f in &s.scenario.faults {
                assert!(known(&f.target), "{}: fault on {}", s.name, f.target);
            }
            if s.category == Category::MetricGap {
                let blind = s.blind.as_ref().expect("a blind service");
                let gap = &s.scenario.metric_gaps[0];
                assert_eq!(&gap.target, blind);
                // The fault sits below the blind service, inside the gap.
                let m = t.index(blind).expect("in the topology");
                let f = t.index(&s.truth[0].target).expect("a service");
                assert!(t.descendants(m).contains(&f), "{}", s.name);
                assert!(gap.covers(Duration::from_secs_f64(s.truth[0].at_secs)));
            }
            for x in s.innocent.iter().chain(&s.group).chain(&s.blind) {
                assert!(t.index(x).is_some(), "{}: {x}", s.name);
            }
            match s.category {
                Category::Confounder if s.variant == "deploy_then_surge" => {
                    let x = s.innocent.as_ref().expect("an innocent deploy");
                    assert_eq!(s.scenario.deploys[0].target, *x);
                    assert!(s.scenario.deploys[0].at.as_secs_f64() < s.truth[0].at_secs);
                }
                Category::Infrastructure => {
                    assert!(s.group.len() >= 2, "{}: {:?}", s.name, s.group);
                    // The simulator's ground truth hits exactly the drawn group.
                    let gt = s.scenario.ground_truth();
                    assert_eq!(gt[0].affected, s.group, "{}", s.name);
                    assert_eq!(gt[0].root_cause, s.truth[0].target);
                }
                Category::Simultaneous => assert_eq!(s.truth.len(), 2),
                _ => {}
            }
        }
    }

    #[test]
    fn generated_charters_validate_and_declare_zones_and_nodes() {
        for i in 0..20 {
            let t = generate(Range::Validate.seed(i));
            let c = t
                .charter()
                .unwrap_or_else(|e| panic!("seed {i}: {e}\n{}", t.charter_yaml));
            assert_eq!(c.components.len(), t.services.len());
            for (k, s) in t.services.iter().enumerate() {
                let comp = c.component(&s.name).expect("declared");
                assert_eq!(comp.zone.as_deref(), Some(s.zone.as_str()));
                assert_eq!(comp.node.as_deref(), Some(t.node_of[k].as_str()));
            }
        }
    }

    /// Severity-weighted violation-seconds of a scenario with nothing done, and the
    /// series that fired.
    fn untouched(s: &Situation, seed: u64) -> (f64, BTreeMap<String, f64>) {
        let charter = &s.charter;
        let sim = Simulator::new(World::new(&s.scenario, seed), charter_evaluate::EPOCH);
        let step = charter.interval;
        let mut meter = Meter::new(charter, step, false);
        let mut t = Duration::ZERO;
        while t <= s.scenario.duration {
            let now = charter_evaluate::EPOCH.plus(t);
            let (samples, replicas) = sim.with_world(|w| {
                w.advance_to(t);
                (
                    measure::samples_of(w, charter, now),
                    measure::total_replicas(w),
                )
            });
            meter.observe(charter, &samples, now, t.as_secs_f64(), replicas);
            t += step;
        }
        (
            measure::violation_seconds(&meter.ticks, step),
            meter.per_series,
        )
    }

    #[test]
    fn a_healthy_run_violates_nothing_and_every_single_fault_shows() {
        let all = draw_all(Range::Tune, ROTATION);
        for s in all.iter().filter(|s| s.category == Category::Control) {
            // Flaps are shorter than every `for`; diurnal traffic stays in bounds.
            for seed in s.run_seeds(2) {
                let (vs, series) = untouched(s, seed);
                assert_eq!(vs, 0.0, "{} seed {seed}: {series:?}", s.name);
            }
        }
        for s in all.iter().filter(|s| s.category == Category::Single) {
            let mut healthy = s.clone();
            healthy.scenario.faults.clear();
            let (vs, series) = untouched(&healthy, 7);
            assert_eq!(vs, 0.0, "{} without its fault: {series:?}", s.name);
            assert!(
                untouched(s, 7).0 > 0.0,
                "{}: the fault violates nothing",
                s.name
            );
        }
        assert_eq!(DURATION, Duration::from_secs(1800));
    }

    #[test]
    fn thresholds_hold_on_a_hundred_healthy_topologies() {
        for i in 0..100 {
            let mut s = super::situations::draw(Range::Tune, i);
            s.scenario.faults.clear();
            s.scenario.deploys.clear();
            s.scenario.flaps.clear();
            s.scenario.traffic.pattern = charter_sim::TrafficPattern::Diurnal;
            let (vs, series) = untouched(&s, 11);
            assert_eq!(vs, 0.0, "{} healthy: {series:?}", s.name);
        }
    }
}
