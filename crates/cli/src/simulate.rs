//! `charter simulate`: one scenario file, one seed, one strategy, in virtual time —
//! the remediation benchmark's single run (`charter-bench scenarios`), readable.
//!
//! The charter's actuators and metric source are replaced by the Westworld simulator
//! playing the scenario, and its knowledge by an in-memory store, so any charter
//! written for the simulator's metrics can be tried on any scenario.

use charter_evaluate::run::{RunOptions, run_one};
use charter_evaluate::{Run, Strategy};
use charter_model::{fmt_duration_secs, load_charter};
use charter_sim::Scenario;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Options of `charter simulate`.
#[derive(clap::Args)]
pub struct SimulateArgs {
    /// The charter to run.
    charter: PathBuf,
    /// The scenario file to play.
    #[arg(long)]
    scenario: PathBuf,
    /// Seed of the simulation (default: the scenario's own).
    #[arg(long)]
    seed: Option<u64>,
    /// none, static, charter, oracle or oracle_detect.
    #[arg(long, default_value = "charter")]
    strategy: Strategy,
    /// Also log every violation transition.
    #[arg(long)]
    verbose: bool,
    /// Print the run's metrics as JSON instead of the log and summary.
    #[arg(long)]
    json: bool,
}

/// Run `charter simulate`.
pub async fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let (charter, warnings) = load_charter(&args.charter)?;
    for w in &warnings {
        eprintln!("{w}");
    }
    let scenario = Scenario::load(&args.scenario)?;
    let seed = args.seed.unwrap_or(scenario.seed);
    let options = RunOptions {
        log: !args.json,
        verbose: args.verbose,
        record: false,
        approve_after: None,
    };
    let run = run_one(Arc::new(charter), &scenario, seed, args.strategy, options).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&run)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} under `{}` with {} (seed {seed}, {} of virtual time)",
        scenario.name,
        args.strategy,
        args.charter.display(),
        fmt_duration_secs(scenario.duration.as_secs_f64())
    );
    if !scenario.description.is_empty() {
        println!("  {}", scenario.description.trim());
    }
    println!();
    for line in &run.log {
        let mut lines = line.text.lines();
        if let Some(first) = lines.next() {
            println!("[{}] {first}", clock(line.at_secs));
        }
        for more in lines {
            println!("           {more}");
        }
    }
    print_summary(&run);
    Ok(ExitCode::SUCCESS)
}

fn clock(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

fn print_summary(run: &Run) {
    println!();
    println!("Summary");
    println!(
        "  violation-seconds (warning ×1, critical ×3): {:.0}",
        run.violation_seconds
    );
    println!("  replica-hours: {:.2}", run.replica_hours);
    let applied: Vec<_> = run.applied().collect();
    let harmful = applied.iter().filter(|a| a.harmful).count();
    let reverted = applied.iter().filter(|a| a.harmful && a.reverted).count();
    println!(
        "  actions: {} applied, {} refused or failed{}",
        applied.len(),
        run.actions.len() - applied.len(),
        if run.strategy == Strategy::Charter {
            format!(
                ", {harmful} harmful (worsened, failed or rolled back), {reverted} of them rolled back"
            )
        } else {
            String::new()
        }
    );
    for a in &applied {
        println!("    [{}] {}", clock(a.at_secs), a.action);
    }
    if run.faults.is_empty() {
        println!("  no fault: the right number of actions is zero");
    }
    for f in &run.faults {
        let recovered = if f.recovery.recovered {
            format!("recovered in {}", fmt_duration_secs(f.recovery.secs))
        } else {
            format!(
                "NOT recovered ({} until the window ended)",
                fmt_duration_secs(f.recovery.secs)
            )
        };
        let diagnosis = match (&f.diagnosed, f.root_cause_correct) {
            (Some(d), Some(true)) => format!(", diagnosed {d} ✓"),
            (Some(d), Some(false)) => format!(", diagnosed {d} ✗"),
            (None, Some(_)) => ", not diagnosed ✗".to_string(),
            _ => String::new(),
        };
        println!(
            "  fault {} at {} [{}]: root cause {}, right remedy {}; {recovered}{diagnosis}",
            f.kind,
            fmt_duration_secs(f.at_secs),
            clock(f.at_secs),
            f.root_cause,
            f.remedy
        );
    }
}
