//! `charter sim serve`: the simulator in real time behind HTTP, for a real Prometheus
//! to scrape and for Charter's HTTP actuator to act on (`docs/actuator-api.md`).

use anyhow::Context;
use charter_model::Timestamp;
use charter_sim::{Scenario, Simulator, World};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::net::TcpListener;

/// The scenario served when none is given.
const DEFAULT_SCENARIO: &str = "no-fault";

/// Options of `charter sim serve`.
#[derive(clap::Args)]
pub struct SimServeArgs {
    /// A scenario file, or the name of a built-in scenario (default: no-fault).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8700")]
    listen: SocketAddr,
    /// Seed of the simulation; overrides the scenario's.
    #[arg(long)]
    seed: Option<u64>,
    /// A file holding the bearer token the actuator API (`/v1/*`) requires.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Simulated seconds per real second: at 10 the world runs ten times faster than
    /// the wall clock (fault durations are simulated time).
    #[arg(long, default_value_t = 1.0, value_parser = positive_speed)]
    speed: f64,
    /// Answer a new action only this long after it took effect (e.g. 100ms): widens
    /// the window a crash test can hit between an action and its answer.
    #[arg(long, default_value = "0s", value_parser = duration)]
    action_delay: Duration,
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration `{s}`: {e} (write e.g. 100ms)"))
}

fn positive_speed(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1000.0 => Ok(v),
        _ => Err(format!(
            "invalid speed `{s}`: a number above 0 and at most 1000"
        )),
    }
}

/// Serve the simulator until SIGTERM or SIGINT.
pub async fn run(args: SimServeArgs) -> anyhow::Result<ExitCode> {
    let scenario = load_scenario(args.scenario.as_deref())?;
    let seed = args.seed.unwrap_or(scenario.seed);
    let token = args
        .token_file
        .as_deref()
        .map(charter_execute::read_token_file)
        .transpose()?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let sim = Simulator::new(World::new(&scenario, seed), Timestamp::now_wall());
    // Tests read the address from this line: keep its shape.
    eprintln!("charter sim: serving {} on http://{addr}", scenario.name);
    tracing::info!(
        scenario = %scenario.name,
        seed,
        %addr,
        auth = token.is_some(),
        speed = args.speed,
        "simulator serving"
    );
    let options = charter_sim::http::ServeOptions {
        token,
        speed: args.speed,
        action_delay: args.action_delay,
        ..Default::default()
    };
    charter_sim::http::serve_with_options(listener, sim, options, crate::run::wait_for_signal())
        .await
        .context("serving the simulator")?;
    Ok(ExitCode::SUCCESS)
}

/// A file if `arg` names one, else a built-in scenario by name.
fn load_scenario(arg: Option<&std::path::Path>) -> anyhow::Result<Scenario> {
    let Some(path) = arg else {
        return Scenario::builtin(DEFAULT_SCENARIO)
            .with_context(|| format!("built-in scenario `{DEFAULT_SCENARIO}` is missing"));
    };
    if !path.exists()
        && let Some(builtin) = path.to_str().and_then(Scenario::builtin)
    {
        return Ok(builtin);
    }
    Scenario::load(path).with_context(|| {
        format!(
            "loading scenario {} (built-in scenarios: {})",
            path.display(),
            Scenario::builtin_names().join(", ")
        )
    })
}
