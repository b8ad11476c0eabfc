//! `charter`: the command-line entry point. Thin: parses arguments, wires the
//! crates together and maps errors to exit codes (0 ok, 1 findings or errors, 2 usage
//! or internal failure).
//!
//! - `validate`: check a charter file, every error at once.
//! - `demo`: the loop against a built-in incident story in virtual time.
//! - `run`: the daemon, in real time.
//! - `policies`, `approve`, `reject`, `pause`, `resume`: a running daemon's policies and
//!   kill switch, through its API.
//! - `knowledge`: what was learned from a knowledge database; export and import.
//! - `import-rules`: Prometheus alerting rules to charter objectives.
//! - `replay`: root-cause analysis over recorded metrics (CSV or Prometheus JSON).
//! - `simulate`: one scenario file under one strategy in virtual time, with its metrics.
//! - `sim serve`: the Westworld simulator as a real-time HTTP server.

mod demo;
mod import_rules;
mod knowledge;
mod policies;
mod replay;
mod run;
mod sim_serve;
mod simulate;
mod wiring;

use charter_orchestrator::daemon::status;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Charter: a self-healing controller for services monitored by Prometheus.
#[derive(Parser)]
#[command(name = "charter", version, about)]
struct Cli {
    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or `charter=debug`.
    #[arg(long, global = true, env = "CHARTER_LOG", default_value = "warn")]
    log: String,
    /// Log lines as text for a human, or as one JSON object per line (timestamp, level,
    /// target, message and the event's fields) for a log pipeline.
    #[arg(
        long,
        global = true,
        env = "CHARTER_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Check a charter file; prints every error as FILE:LINE:COL: key.path: message.
    Validate {
        file: PathBuf,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Run the loop against the built-in incident story of the simulator, in virtual time.
    Demo(demo::DemoArgs),
    /// Run the controller daemon in real time.
    Run(run::RunArgs),
    /// List a running daemon's policies, pending ones first.
    Policies(policies::ListArgs),
    /// Approve a pending policy of a running daemon; its execution starts.
    Approve(policies::ApproveArgs),
    /// Reject a pending policy of a running daemon, with a reason.
    Reject(policies::RejectArgs),
    /// Stop a running daemon from taking any action (the kill switch); survives restarts.
    Pause(policies::PauseArgs),
    /// Let a paused daemon act again.
    Resume(policies::ResumeArgs),
    /// Show what Charter has learned (success rates with credible intervals,
    /// recommendations, insights); export or import learned statistics.
    Knowledge(knowledge::KnowledgeArgs),
    /// Convert Prometheus alerting rule files into charter objectives (YAML on stdout).
    ImportRules(import_rules::ImportArgs),
    /// Diagnose a past incident from recorded metrics (CSV or a Prometheus range query).
    Replay(replay::ReplayArgs),
    /// Play a scenario file against a charter in virtual time: faults, incidents,
    /// diagnoses, actions, verification, and the benchmark's metrics.
    Simulate(simulate::SimulateArgs),
    /// The Westworld simulator.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
}

#[derive(Subcommand)]
enum SimCommand {
    /// Serve /metrics, fault injection and the actuator API in real time.
    Serve(sim_serve::SimServeArgs),
}

/// mimalloc rather than the system allocator: the loop allocates and frees many
/// small strings per cycle, which glibc's malloc spends a third of a large
/// system's cycle on (see docs/ARCHITECTURE.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(&cli.log, cli.log_format);

    let result = match cli.command {
        Command::Validate {
            file,
            deny_warnings,
        } => return validate(&file, deny_warnings),
        Command::Demo(args) => runtime().and_then(|rt| rt.block_on(demo::run(args))),
        Command::Run(args) => runtime().and_then(|rt| rt.block_on(run::run(args))),
        Command::Policies(args) => runtime().and_then(|rt| rt.block_on(policies::list(args))),
        Command::Approve(args) => runtime().and_then(|rt| rt.block_on(policies::approve(args))),
        Command::Reject(args) => runtime().and_then(|rt| rt.block_on(policies::reject(args))),
        Command::Pause(args) => runtime().and_then(|rt| rt.block_on(policies::pause(args))),
        Command::Resume(args) => runtime().and_then(|rt| rt.block_on(policies::resume(args))),
        Command::Knowledge(args) => runtime().and_then(|rt| rt.block_on(knowledge::run(args))),
        Command::ImportRules(args) => import_rules::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Simulate(args) => runtime().and_then(|rt| rt.block_on(simulate::run(args))),
        Command::Sim {
            command: SimCommand::Serve(args),
        } => runtime().and_then(|rt| rt.block_on(sim_serve::run(args))),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            status::fail(format_args!("{e:#}"));
            ExitCode::from(2)
        }
    }
}

/// Logs go to stderr, filtered by `--log`. Text has colours only on a terminal (and
/// never with `NO_COLOR` set): escape codes in a file or a pipe are noise. JSON has one
/// object per line, the event's fields beside its message, and the daemon's status
/// lines become events too, so that every line parses.
fn init_logging(filter: &str, format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            logs.with_env_filter(filter).with_ansi(colour).init();
        }
        LogFormat::Json => {
            status::log_as_events(true);
            let filter = match format!("{}=info", status::TARGET).parse() {
                Ok(directive) => filter.add_directive(directive),
                Err(_) => filter,
            };
            logs.json()
                .flatten_event(true)
                .with_span_list(false)
                .with_env_filter(filter)
                .init();
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn validate(file: &std::path::Path, deny_warnings: bool) -> ExitCode {
    match charter_model::load_charter_checked(file) {
        Ok((charter, warnings)) => {
            for w in &warnings {
                eprintln!("{w}");
            }
            if deny_warnings && !warnings.is_empty() {
                eprintln!("{}: {} warning(s) denied", file.display(), warnings.len());
                return ExitCode::from(1);
            }
            println!(
                "{}: valid charter `{}`: {} components, {} objectives, mode {:?}",
                file.display(),
                charter.name,
                charter.components.len(),
                charter.objectives.len(),
                charter.mode
            );
            ExitCode::SUCCESS
        }
        Err(charter_model::ConfigError::Invalid(issues)) => {
            for i in &issues {
                eprintln!("{i}");
            }
            let errors = issues.iter().filter(|i| !i.warning).count();
            eprintln!("{}: {errors} error(s)", file.display());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
