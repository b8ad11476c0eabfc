//! `charter-bench`: evaluation harnesses on real fault-injection data.
//!
//! - [`scoring`]: AC@k and Avg@5 over cases.
//! - [`sockshop`]: the Sock Shop adapter (RCAEval protocol).
//! - [`petshop`]: the PetShop adapter (the dataset's own protocol).
//! - [`nezha`]: the Nezha adapter (Online Boutique, Train Ticket; the README's protocol).
//! - [`chaos`]: the Sock Shop chaos adapter (container and node faults).
//! - [`records`]: the wide CSV files of the newer datasets and what their columns measure.
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
mod chaos;
mod generalize;
mod inject;
mod nezha;
mod petshop;
mod pool;
mod records;
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
    Nezha,
    SockshopChaos,
}

#[derive(Clone, Copy, ValueEnum)]
enum BaselineArg {
    /// The case's own rows before the (told) injection time.
    Case,
    /// The dataset's `normal/` folder (pods), the case's rows for machines.
    Normal,
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
    /// Seconds by which the injection time is reported late (tΔ; Sock Shop, Nezha,
    /// Sock Shop chaos).
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
    /// Where the normal rows come from (Sock Shop chaos).
    #[arg(long, value_enum, default_value = "case")]
    baseline: BaselineArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// The allocator `charter` ships with (see docs/ARCHITECTURE.md), so that the loop
/// measured here is the loop users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("charter-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Write `text` to standard output. A reader that went away (`| head`) is a normal
/// end, not an error: the process exits 0.
pub fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("charter-bench: cannot write to standard output: {e}");
            std::process::exit(2);
        }
    }
}

/// The other subcommands print with `println!`, which panics when standard output
/// is a closed pipe: such a panic ends the process quietly with status 0 (the
/// reader had what it wanted); any other panic is reported as before.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
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
    let text = match args.dataset {
        Dataset::Sockshop => {
            let settings = sockshop::Settings {
                delay_secs: args.delay,
                detect: args.detect,
                min_segment: args.min_segment,
            };
            let table = sockshop::run(&args.path, &settings, &options)?;
            if args.json {
                serde_json::to_string_pretty(&table)?
            } else {
                format!("{}{}", table.render(), table.render_cases())
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
                serde_json::to_string_pretty(&report)?
            } else {
                report.render()
            }
        }
        Dataset::Nezha => {
            let settings = nezha::Settings {
                delay_secs: args.delay,
            };
            let report = nezha::run(&args.path, &settings, &options)?;
            if args.json {
                serde_json::to_string_pretty(&report)?
            } else {
                report.render()
            }
        }
        Dataset::SockshopChaos => {
            let settings = chaos::Settings {
                delay_secs: args.delay,
                baseline: match args.baseline {
                    BaselineArg::Case => chaos::Baseline::Case,
                    BaselineArg::Normal => chaos::Baseline::NormalFolder,
                },
            };
            let report = chaos::run(&args.path, &settings, &options)?;
            if args.json {
                serde_json::to_string_pretty(&report)?
            } else {
                report.render()
            }
        }
    };
    emit(&text);
    Ok(())
}
