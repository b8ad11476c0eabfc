//! `charter run`: the daemon. One task ticks the loop on the charter's interval and owns
//! the controller, one serves HTTP; the HTTP task reaches the loop only through the
//! control channel (approve, reject, pause, resume, list), whose commands the ticker
//! applies between cycles. SIGTERM or SIGINT cancels both, the current cycle finishes,
//! the store closes, all within a grace period.

use crate::wiring;
use anyhow::Context;
use charter_model::{SourceSpec, Timestamp, load_charter};
use charter_orchestrator::{Health, LoopMetrics};
use charter_server::alerts::AlertIngest;
use charter_server::control::{self, Applied, ControlHandle};
use charter_server::{PolicyApi, ServerState, serve};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Options of `charter run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The charter file.
    file: PathBuf,
    /// Address for /healthz, /readyz and /metrics.
    #[arg(long, default_value = "127.0.0.1:9464", env = "CHARTER_LISTEN")]
    listen: SocketAddr,
    /// Knowledge database (an SQLite file); overrides the charter's `knowledge` store.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Bearer token file for the API's mutating endpoints (approve, reject, pause,
    /// resume); overrides the charter's `api.token_file`. Without either they answer 403.
    #[arg(long, env = "CHARTER_API_TOKEN_FILE")]
    api_token_file: Option<PathBuf>,
    /// Seed for a simulator source; overrides the charter's.
    #[arg(long)]
    seed: Option<u64>,
    /// How long shutdown may take before the process exits anyway.
    #[arg(long, default_value = "10s", value_parser = humantime_duration)]
    grace: Duration,
}

fn humantime_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration `{s}`: {e} (write e.g. 10s)"))
}

/// Run the daemon until a signal arrives.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let (charter, warnings) = load_charter(&args.file)?;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let charter = Arc::new(charter);
    let now = Timestamp::now_wall();
    let (source, sim): (Arc<dyn charter_monitor::MetricSource>, _) = match &charter.source {
        SourceSpec::Simulator { .. } => {
            let (sim, scenario, seed) =
                wiring::simulator(&charter, "no-fault", None, args.seed, now)?;
            tracing::info!(scenario = %scenario.name, seed, "simulator source in real time");
            (Arc::new(sim.clone()), Some(sim))
        }
        SourceSpec::Prometheus(p) => {
            let source = charter_monitor::prometheus::PrometheusSource::new(p)
                .with_context(|| format!("prometheus source {}", p.url))?;
            (Arc::new(source), None)
        }
    };
    let actuators = wiring::actuators(&charter, sim.as_ref())?;
    // `--db` is an SQLite file and overrides the charter's `knowledge` store.
    let (store, store_at) = wiring::store(&charter, args.db.as_deref()).await?;
    let controller =
        wiring::controller_on(charter.clone(), source, actuators, store.clone(), now).await?;
    let wake = Arc::new(Notify::new());
    let alerts = match &charter.alerts {
        None => None,
        Some(a) => {
            let token = match &a.token_file {
                Some(f) => Some(
                    charter_model::read_token_file(f)
                        .context("alerts token (alerts.token_file)")?,
                ),
                None => None,
            };
            Some(AlertIngest {
                store: store.clone(),
                charter: charter.clone(),
                token,
                wake: wake.clone(),
                max_body_bytes: a.max_body_bytes,
            })
        }
    };
    let api_token = match args
        .api_token_file
        .as_ref()
        .or(charter.api.as_ref().map(|a| &a.token_file))
    {
        Some(f) => Some(charter_model::read_token_file(f).context("API token")?),
        None => {
            tracing::warn!(
                "no API token configured (`api.token_file` or --api-token-file): approve, \
                 reject, pause and resume over HTTP are refused"
            );
            None
        }
    };
    let (control_handle, mut commands) = ControlHandle::channel();
    let policies = PolicyApi {
        control: control_handle,
        token: api_token,
        approval_timeout: charter.guardrails.approval_timeout,
    };
    let mut registry = Registry::default();
    let metrics = LoopMetrics::register(&mut registry);
    let health = Arc::new(Health::default());
    let mut controller = controller.with_health(health.clone(), metrics);
    if let Some(p) = controller.pause_state().filter(|p| p.paused) {
        eprintln!(
            "charter: automation is paused (since {} by {}{}); `charter resume` lifts it",
            p.at,
            p.by,
            if p.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", p.reason)
            }
        );
    }

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    eprintln!(
        "charter: running `{}` every {:?}; http on {addr}; knowledge in {store_at}",
        charter.name, charter.interval,
    );

    let cancel = CancellationToken::new();
    let server_cancel = cancel.clone();
    let server = tokio::spawn(serve(
        listener,
        ServerState {
            health,
            registry: Arc::new(registry),
            alerts,
            policies: Some(policies),
            knowledge: Some(charter_server::KnowledgeApi::new(
                store.clone(),
                charter.learning.clone(),
            )),
        },
        async move { server_cancel.cancelled().await },
    ));
    let signal_cancel = cancel.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        signal_cancel.cancel();
    });

    let mut interval = tokio::time::interval(charter.interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failure = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = wake.notified() => {
                // An alert arrived: run a cycle now, and the next regular one a full interval later.
                interval.reset();
                if let Err(e) = run_cycle(&mut controller).await {
                    failure = Some(e);
                    cancel.cancel();
                    break;
                }
            }
            Some(command) = commands.recv() => {
                // Between cycles: the controller is ours until the command is answered.
                if control::apply(&mut controller, command, Timestamp::now_wall()).await
                    == Applied::RunCycle
                {
                    // An approved policy starts now rather than an interval later.
                    interval.reset();
                    if let Err(e) = run_cycle(&mut controller).await {
                        failure = Some(e);
                        cancel.cancel();
                        break;
                    }
                }
            }
            _ = interval.tick() => {
                // A cycle in progress is not interrupted: cancellation is checked between cycles.
                if let Err(e) = run_cycle(&mut controller).await {
                    failure = Some(e);
                    cancel.cancel();
                    break;
                }
            }
        }
    }
    let drained = tokio::time::timeout(args.grace, async {
        let _ = server.await;
        store.close().await;
    })
    .await;
    if drained.is_err() {
        eprintln!(
            "charter: shutdown grace period of {:?} exceeded; exiting",
            args.grace
        );
    }
    eprintln!("charter: stopped");
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(ExitCode::SUCCESS),
    }
}

async fn run_cycle(
    controller: &mut charter_orchestrator::Controller,
) -> Result<(), charter_orchestrator::ControllerError> {
    match controller.tick(Timestamp::now_wall()).await {
        Ok(report) => {
            for e in &report.events {
                tracing::info!(target: "charter::event", "{}", e.event);
            }
            Ok(())
        }
        Err(e) => {
            tracing::error!(error = %e, "loop cycle failed; stopping");
            Err(e)
        }
    }
}

/// Resolve on SIGTERM or SIGINT.
pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
