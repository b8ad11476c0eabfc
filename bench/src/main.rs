//! `charter-bench`: evaluation harnesses on real fault-injection data.
//!
//! - [`scoring`]: AC@k and Avg@5 over cases.
//! - [`sockshop`]: the Sock Shop adapter (RCAEval protocol).
//! - [`petshop`]: the PetShop adapter (the dataset's own protocol).
//! - [`scenarios`]: the remediation benchmark (none, static, charter, oracle on every
//!   scenario × seed).
//! - [`generalize`]: the generated benchmark (random topologies, charters and
//!   situations by category, tuning and validation seed ranges).
//! - [`scale`]: loop cycle cost, peak memory and simulator speed as the system grows.
//!
//! Adapters only know each dataset's layout and protocol: they load their files with
//! `charter_frame`, the loaders `charter replay` uses, and every ranking comes from
//! `charter_analyze::anomaly`, the code the controller runs.

mod calibrate;
mod generalize;
mod inject;
mod petshop;
mod pool;
mod scale;
mod scenarios;
mod scoring;
mod sockshop;

use anyhow::Result;
use charter_analyze::anomaly::RankOptions;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "charter-bench",
    about = "Evaluate Charter's analysis on real datasets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Root-cause ranking accuracy over every case under a dataset folder.
    Rca(RcaArgs),
    /// Diagnosis top-1 accuracy and confidence calibration on labelled simulator incidents.
    Calibrate(calibrate::CalibrateArgs),
    /// Cost of one loop cycle, peak memory and simulator speed from 10 to 10,000 components.
    Scale(scale::ScaleArgs),
    /// Remediation benchmark: every scenario × seed under none, static, charter and oracle.
    Scenarios(scenarios::ScenariosArgs),
    /// Generated benchmark: random topologies and situations by category, per-category
    /// report against issue 17's targets.
    Generalize(generalize::GeneralizeArgs),
    /// Synthetic faults in a dataset's real normal data at every node in turn.
    Inject(inject::InjectArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Dataset {
    Sockshop,
    Petshop,
}

#[derive(Clone, Copy, ValueEnum)]
enum SplitArg {
    Train,
    Test,
    All,
}

#[derive(Clone, Copy, ValueEnum)]
enum MetricsArg {
    /// Every metric of every node.
    All,
    /// Only the alert's metric (latency or availability), every statistic.
    Target,
    /// Only the alert's metric and statistic (e.g. latency Average).
    Statistic,
}

#[derive(clap::Args)]
struct RcaArgs {
    /// Which adapter reads the folder.
    #[arg(long, value_enum)]
    dataset: Dataset,
    /// The dataset's root folder.
    #[arg(long)]
    path: PathBuf,
    /// Seconds by which the injection time is reported late (Sock Shop tΔ).
    #[arg(long, default_value_t = 0.0)]
    delay: f64,
    /// Find the onset from the data instead of being told (Sock Shop).
    #[arg(long)]
    detect: bool,
    /// Which issues to score (PetShop).
    #[arg(long, value_enum, default_value = "all")]
    split: SplitArg,
    /// Which metrics the ranking sees (PetShop).
    #[arg(long, value_enum, default_value = "target")]
    metrics: MetricsArg,
    /// Shortest segment on either side of a detected onset, in rows.
    #[arg(long, default_value_t = 30)]
    min_segment: usize,
    /// Robust z at which a metric counts as abnormal.
    #[arg(long, default_value_t = RankOptions::default().threshold)]
    threshold: f64,
    /// Smallest scale of a series as a fraction of its normal level.
    #[arg(long, default_value_t = RankOptions::default().relative_floor)]
    relative_floor: f64,
    /// Points a metric must stay abnormal for.
    #[arg(long, default_value_t = RankOptions::default().min_points)]
    min_points: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// The allocator `charter` ships with (see docs/ARCHITECTURE.md), so that the loop
/// measured here is the loop users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("charter-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let args = match cli.command {
        Command::Rca(args) => args,
        Command::Calibrate(args) => return calibrate::run(&args),
        Command::Scale(args) => return scale::run(&args),
        Command::Scenarios(args) => {
            if !scenarios::run(&args)? {
                // --check: a Done-means target is not met (reported above).
                std::process::exit(1);
            }
            return Ok(());
        }
        Command::Inject(args) => {
            if !inject::run(&args)? {
                // --check: the top-1 target is not met (reported above).
                std::process::exit(1);
            }
            return Ok(());
        }
        Command::Generalize(args) => {
            if !generalize::run(&args)? {
                // --check: a Done-means target is not met (reported above).
                std::process::exit(1);
            }
            return Ok(());
        }
    };
    let options = RankOptions {
        threshold: args.threshold,
        relative_floor: args.relative_floor,
        min_points: args.min_points,
        ..RankOptions::default()
    };
    match args.dataset {
        Dataset::Sockshop => {
            let settings = sockshop::Settings {
                delay_secs: args.delay,
                detect: args.detect,
                min_segment: args.min_segment,
            };
            let table = sockshop::run(&args.path, &settings, &options)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&table)?);
            } else {
                println!(
                    "{:<8} {:>5} {:>6} {:>6} {:>6}",
                    "fault", "cases", "AC@1", "AC@3", "Avg@5"
                );
                for (g, a) in table
                    .groups
                    .iter()
                    .chain([(&"all".to_string(), &table.overall)])
                {
                    println!(
                        "{g:<8} {:>5} {:>6.3} {:>6.3} {:>6.3}",
                        a.cases, a.ac1, a.ac3, a.avg5
                    );
                }
                for c in &table.cases {
                    println!(
                        "  {:<20} rank {:>4} top {:?}{}",
                        c.case,
                        c.rank.map_or("-".into(), |r| r.to_string()),
                        c.top,
                        c.onset_error_secs
                            .map_or(String::new(), |e| format!(" onset err {e:+}s"))
                    );
                }
                println!(
                    "mean wall {:.1} ms/case, analysis {:.1} ms/case",
                    table.mean_wall_ms_per_case, table.mean_analysis_ms_per_case
                );
            }
        }
        Dataset::Petshop => {
            let settings = petshop::Settings {
                split: match args.split {
                    SplitArg::Train => petshop::Split::Train,
                    SplitArg::Test => petshop::Split::Test,
                    SplitArg::All => petshop::Split::All,
                },
                metrics: match args.metrics {
                    MetricsArg::All => petshop::MetricChoice::All,
                    MetricsArg::Target => petshop::MetricChoice::TargetKind,
                    MetricsArg::Statistic => petshop::MetricChoice::TargetStatistic,
                },
            };
            let report = petshop::run(&args.path, &settings, &options)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{:<14} {:<13} {:>6} {:>6} {:>6} {:>7} {:>11}",
                    "scenario", "target", "issues", "top-1", "top-3", "normal", "specificity"
                );
                for r in &report.rows {
                    println!(
                        "{:<14} {:<13} {:>6} {:>6.3} {:>6.3} {:>7} {:>11.3}",
                        r.scenario,
                        r.target_metric,
                        r.issues,
                        r.top1,
                        r.top3,
                        r.normal_windows,
                        r.specificity
                    );
                }
                for c in &report.cases {
                    println!(
                        "  {:<14} {:<22} {:<13} truth {:<30} top {:?}",
                        c.scenario,
                        c.case,
                        c.target.metric,
                        c.truth.as_deref().unwrap_or("-"),
                        c.top.iter().take(3).collect::<Vec<_>>()
                    );
                }
                println!("mean wall {:.1} ms/case", report.mean_wall_ms_per_case);
            }
        }
    }
    Ok(())
}
