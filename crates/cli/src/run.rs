//! `charter run`: the daemon, wired from the orchestrator's tasks
//! (`charter_orchestrator::daemon`). The ticker owns the controller and ticks it on the
//! charter's interval, the lease keeper (several replicas) holds the leader lease, one
//! task serves HTTP; the HTTP task reaches the loop only through the control channel
//! (approve, reject, pause, resume, list, reload), whose commands the ticker applies
//! between cycles. SIGHUP or `POST /-/reload` re-reads the charter file
//! (`charter_orchestrator::daemon::Reloader`). SIGTERM or SIGINT cancels them all, the
//! current cycle finishes, the store closes, all within a grace period.

use crate::wiring;
use anyhow::Context;
use charter_model::{Clock, KnowledgeSpec, SourceSpec, WallClock, load_charter};
use charter_orchestrator::daemon::status;
use charter_orchestrator::daemon::{ControlHandle, LeaseKeeper, LoopParts, Reloader, Ticker};
use charter_orchestrator::{Fence, Health, LoopMetrics};
use charter_server::alerts::AlertIngest;
use charter_server::{PolicyApi, ReloadApi, ServerState, reload_router, router, serve_router};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// Options of `charter run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The charter file.
    file: PathBuf,
    /// Address for /healthz, /readyz and /metrics.
    #[arg(long, default_value = "127.0.0.1:8464", env = "CHARTER_LISTEN")]
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
    /// This replica's name in the leader lease (with a PostgreSQL store). Unique per
    /// replica and stable across its restarts (a pod name), so that a restarted replica
    /// takes its lease back at once; default `<hostname>-<pid>`.
    #[arg(long, env = "CHARTER_REPLICA_ID")]
    replica_id: Option<String>,
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
    // Before anything else starts: an open alert receiver must not face the network.
    charter_server::alerts::check_listener(charter.alerts.as_ref(), args.listen)?;
    let charter = Arc::new(charter);
    let clock: Arc<dyn Clock> = Arc::new(WallClock);
    let now = clock.now();
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
    let (store, store_at) = wiring::writer_store(&charter, args.db.as_deref()).await?;
    // Several replicas share a PostgreSQL store and take turns through its lease; an
    // SQLite file belongs to one process.
    let replica = match (&charter.knowledge, &args.db) {
        (Some(KnowledgeSpec::Postgres { .. }), None) => {
            Some(args.replica_id.clone().unwrap_or_else(default_replica_id))
        }
        _ => None,
    };
    let controller = match replica {
        None => Some(
            wiring::controller_on(
                charter.clone(),
                source.clone(),
                actuators.clone(),
                store.clone(),
                now,
            )
            .await?,
        ),
        Some(_) => None,
    };
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
                clock: clock.clone(),
                reloaded: None,
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
    let (control_handle, commands) = ControlHandle::channel();
    let policies = PolicyApi {
        control: control_handle.clone(),
        token: api_token.clone(),
        approval_timeout: charter.guardrails.approval_timeout,
    };
    let mut registry = Registry::default();
    let metrics = LoopMetrics::register(&mut registry);
    registry.register_collector(Box::new(charter_server::ProcessCollector::new()));
    // SIGHUP and POST /-/reload re-read the charter file (docs/charter.md, "Reloading a
    // running charter"); the webhook receiver follows what they swap in.
    let reloader = Arc::new(Reloader::new(
        args.file.clone(),
        charter.clone(),
        control_handle,
        metrics.clone(),
        clock.clone(),
    ));
    let alerts = alerts.map(|a| AlertIngest {
        reloaded: Some(reloader.subscribe()),
        ..a
    });
    let health = Arc::new(Health::default());
    let controller = controller.map(|c| c.with_health(health.clone(), metrics.clone()));
    if replica.is_none() {
        metrics.leader.set(1);
    }
    if let Some(p) = controller
        .as_ref()
        .and_then(|c| c.pause_state())
        .filter(|p| p.paused)
    {
        status::say(format_args!(
            "automation is paused (since {} by {}{}); `charter resume` lifts it",
            p.at,
            p.by,
            if p.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", p.reason)
            }
        ));
    }

    // Before the daemon says it runs: from now on SIGHUP reloads instead of ending it.
    let hangups = reload_on_hangup(reloader.clone())?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    status::say(format_args!(
        "running `{}` every {:?}; http on {addr}; knowledge in {store_at}{}",
        charter.name,
        charter.interval,
        match &replica {
            Some(r) => format!(
                "; replica `{r}` (lease ttl {:?}, renewed every {:?})",
                charter.lease.ttl, charter.lease.renew
            ),
            None => String::new(),
        }
    ));

    let cancel = CancellationToken::new();
    // Rollouts of the kubernetes actuators' workloads are change events too.
    wiring::watch_rollouts(
        &charter,
        store.clone(),
        wake.clone(),
        clock.clone(),
        cancel.clone(),
    )
    .await;
    let parts = LoopParts {
        charter: charter.clone(),
        source,
        actuators,
        store: store.clone(),
        health: health.clone(),
        metrics: metrics.clone(),
    };
    let (ticker, lease_task) = match (controller, replica.clone()) {
        (Some(c), _) => (Ticker::single(parts, clock, c, wake, commands), None),
        (None, replica) => {
            let replica = replica.unwrap_or_else(default_replica_id);
            let (fence_tx, fence_rx) = watch::channel::<Option<Arc<Fence>>>(None);
            let keeper = LeaseKeeper::new(
                store.clone(),
                replica,
                charter.lease,
                charter.lease.renew.min(charter.interval) / 4,
                fence_tx,
                health.clone(),
                metrics.clone(),
            );
            let task = tokio::spawn(keeper.run(cancel.clone()));
            (
                Ticker::replicated(parts, clock, fence_rx, wake, commands),
                Some(task),
            )
        }
    };
    let server_cancel = cancel.clone();
    let reload_api = ReloadApi {
        reloader,
        token: api_token,
    };
    let server = tokio::spawn(serve_router(
        listener,
        router(ServerState {
            health: health.clone(),
            registry: Arc::new(registry),
            alerts,
            policies: Some(policies),
            knowledge: Some(charter_server::KnowledgeApi::new(
                store.clone(),
                charter.learning.clone(),
            )),
        })
        .merge(reload_router(reload_api)),
        async move { server_cancel.cancelled().await },
    ));
    let signal_cancel = cancel.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        signal_cancel.cancel();
    });

    // The ticker owns the loop until a signal, or a failure that stops everything.
    let failure = ticker.run(cancel.clone()).await.err();
    hangups.abort();
    if failure.is_some() {
        cancel.cancel();
    }
    // The lease goes back at once, so a follower need not wait for it to expire.
    if let Some(task) = lease_task {
        let _ = tokio::time::timeout(args.grace, task).await;
    }
    let drained = tokio::time::timeout(args.grace, async {
        let _ = server.await;
        store.close().await;
    })
    .await;
    if drained.is_err() {
        status::say(format_args!(
            "shutdown grace period of {:?} exceeded; exiting",
            args.grace
        ));
    }
    status::say(format_args!("stopped"));
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// `<hostname>-<pid>`: unique on a machine, but new at every start.
fn default_replica_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "charter".into());
    format!("{host}-{}", std::process::id())
}

/// Reload the charter on every SIGHUP (the outcome is logged by the reloader). Where
/// there are no Unix signals, reload is only reachable over HTTP.
fn reload_on_hangup(reloader: Arc<Reloader>) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
        Ok(tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                let _ = reloader.reload("SIGHUP").await;
            }
        }))
    }
    #[cfg(not(unix))]
    {
        let _ = reloader;
        Ok(tokio::spawn(async {}))
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
