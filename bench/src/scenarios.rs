//! `scenarios`: the remediation benchmark — every scenario file × seed under the
//! strategies `none`, `static`, `charter` and `oracle`, measured with one yardstick
//! (`charter_evaluate`). Writes JSON, a Markdown table and SVG plots.

use crate::calibrate::{default_jobs, load_charter, scenario_files};
use crate::pool::run_pool;
use anyhow::{Context, Result, bail};
use charter_evaluate::summary::{Summary, markdown, render_targets, summarize};
use charter_evaluate::{Run, RunOptions, Strategy, plots, run_one, svg};
use charter_model::Charter;
use charter_sim::Scenario;
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Options of `charter-bench scenarios`.
#[derive(clap::Args)]
pub struct ScenariosArgs {
    /// Scenario files, from any directory; default: every `scenarios/*.yaml` here.
    files: Vec<PathBuf>,
    /// The charter to run (its source and actuators must be the simulator).
    #[arg(long, default_value = "examples/westworld.yaml")]
    charter: PathBuf,
    /// Strategies to compare, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,static,charter,oracle"
    )]
    strategies: Vec<Strategy>,
    /// Seeds per scenario.
    #[arg(long, default_value_t = 20)]
    seeds: u64,
    /// The first seed (differs from calibrate's fit and check seeds, 1000 and 2000).
    #[arg(long, default_value_t = 3000)]
    first_seed: u64,
    /// Print JSON instead of the Markdown table.
    #[arg(long)]
    json: bool,
    /// Write results.json, results.md, timeline-<scenario>.svg and violation-seconds.svg here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Runs at once, each on its own thread (default: available parallelism).
    #[arg(long)]
    jobs: Option<usize>,
    /// Exit with 1 when a Done-means target is not met.
    #[arg(long)]
    check: bool,
}

/// What `results.json` holds.
#[derive(Serialize)]
struct Results<'a> {
    summary: &'a Summary,
    runs: &'a [Run],
}

/// Run `charter-bench scenarios`; false when `--check` finds a target not met.
pub fn run(args: &ScenariosArgs) -> Result<bool> {
    let started = Instant::now();
    let files = if args.files.is_empty() {
        scenario_files(Path::new("scenarios"))
            .context("no FILES given and no scenarios/*.yaml here (run from the workspace root)")?
    } else {
        args.files.clone()
    };
    if args.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let mut strategies = args.strategies.clone();
    strategies.sort();
    strategies.dedup();
    let charter = Arc::new(load_charter(&args.charter)?);
    let scenarios: Vec<Scenario> = files
        .iter()
        .map(|p| Scenario::load(p).with_context(|| format!("loading scenario {}", p.display())))
        .collect::<Result<_>>()?;
    let seeds: Vec<u64> = (args.first_seed..args.first_seed + args.seeds).collect();
    let jobs = args.jobs.unwrap_or_else(default_jobs).max(1);
    let mut runs = run_all(&charter, &scenarios, &seeds, &strategies, jobs)?;
    runs.sort_by(|a, b| (&a.scenario, a.seed, a.strategy).cmp(&(&b.scenario, b.seed, b.strategy)));
    let names: Vec<String> = scenarios.iter().map(|s| s.name.clone()).collect();
    let mut summary = summarize(
        &args.charter.display().to_string(),
        &names,
        &strategies,
        &seeds,
        &mut runs,
    );
    summary.wall_secs = started.elapsed().as_secs_f64();
    let table = markdown(&summary);
    if let Some(dir) = &args.out {
        write_out(
            dir,
            &charter,
            &scenarios,
            &strategies,
            &seeds,
            &summary,
            &runs,
        )?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        eprint!("{}", render_targets(&summary.targets));
    } else {
        print!("{table}");
        println!(
            "\n{} runs in {:.1}s on {jobs} thread(s)",
            runs.len(),
            summary.wall_secs
        );
        if let Some(dir) = &args.out {
            println!("wrote {}", dir.display());
        }
    }
    let failed = summary.targets.iter().any(|t| !t.pass);
    Ok(!(args.check && failed))
}

fn write_out(
    dir: &Path,
    charter: &Charter,
    scenarios: &[Scenario],
    strategies: &[Strategy],
    seeds: &[u64],
    summary: &Summary,
    runs: &[Run],
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    write(
        "results.json",
        &serde_json::to_string_pretty(&Results { summary, runs })?,
    )?;
    write("results.md", &markdown(summary))?;
    let all: Vec<&Run> = runs.iter().collect();
    let first = seeds.first().copied().unwrap_or_default();
    for s in scenarios {
        let Some(series) = plots::main_series(charter, s, &all) else {
            continue;
        };
        let t = plots::timeline(charter, s, first, &series, &all, strategies);
        write(&format!("timeline-{}.svg", s.name), &svg::timeline(&t))?;
    }
    let names: Vec<String> = scenarios.iter().map(|s| s.name.clone()).collect();
    write(
        "violation-seconds.svg",
        &svg::bar_chart(
            "Severity-weighted violation-seconds per strategy",
            &format!(
                "mean per run over {} seeds (warning ×{}, critical ×{})",
                seeds.len(),
                summary.weights.0,
                summary.weights.1
            ),
            &plots::violation_bars(&summary.rows, &names),
        ),
    )?;
    Ok(())
}

/// Every (scenario, seed, strategy) on `jobs` threads, each with its own
/// current-thread runtime; `charter` runs (the slow ones) are started first. The first
/// seed's runs record every series for the timelines. The first error stops new runs.
fn run_all(
    charter: &Arc<Charter>,
    scenarios: &[Scenario],
    seeds: &[u64],
    strategies: &[Strategy],
    jobs: usize,
) -> Result<Vec<Run>> {
    let mut work: Vec<(&Scenario, u64, Strategy)> = scenarios
        .iter()
        .flat_map(|s| {
            seeds
                .iter()
                .flat_map(move |&seed| strategies.iter().map(move |&st| (s, seed, st)))
        })
        .collect();
    work.sort_by_key(|(_, _, st)| *st != Strategy::Charter);
    let first_seed = seeds.first().copied();
    let progress = Progress::new(work.len());
    let runs = run_pool(
        &work,
        jobs,
        |&(scenario, seed, strategy)| {
            let options = RunOptions {
                record: Some(seed) == first_seed,
                ..RunOptions::default()
            };
            let run = run_one(charter.clone(), scenario, seed, strategy, options);
            async move {
                run.await.map_err(|e| {
                    anyhow::Error::new(e).context(format!(
                        "scenario {} seed {seed} strategy {strategy}",
                        scenario.name
                    ))
                })
            }
        },
        |n, run| progress.update(n, run),
    );
    progress.finish();
    runs
}

/// A progress bar on stderr: runs done of total, elapsed, ETA. On a terminal it
/// redraws one line; otherwise it prints a line every 5 %.
pub(crate) struct Progress {
    total: usize,
    started: Instant,
    tty: bool,
    last_pct: AtomicUsize,
}

impl Progress {
    pub(crate) fn new(total: usize) -> Self {
        Progress {
            total,
            started: Instant::now(),
            tty: std::io::stderr().is_terminal(),
            last_pct: AtomicUsize::new(0),
        }
    }

    fn update(&self, done: usize, run: &Run) {
        self.update_with(
            done,
            &format!("{} {} seed {}", run.scenario, run.strategy, run.seed),
        );
    }

    /// Redraw with `done` runs finished, the last one described by `last`.
    pub(crate) fn update_with(&self, done: usize, last: &str) {
        let pct = done * 100 / self.total.max(1);
        if !self.tty {
            let step = pct / 5;
            if self.last_pct.fetch_max(step, Ordering::Relaxed) >= step && done != self.total {
                return;
            }
        }
        let elapsed = self.started.elapsed();
        let eta = elapsed.mul_f64((self.total - done) as f64 / done.max(1) as f64);
        let width = 30;
        let filled = done * width / self.total.max(1);
        let line = format!(
            "[{}{}] {done}/{} runs, {} elapsed, ETA {} — {last}",
            "#".repeat(filled),
            "-".repeat(width - filled),
            self.total,
            clock(elapsed),
            clock(eta),
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    pub(crate) fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}
