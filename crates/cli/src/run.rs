//! `charter run`: the daemon. One task ticks the loop on the charter's interval and owns
//! the controller, one serves HTTP; the HTTP task reaches the loop only through the
//! control channel (approve, reject, pause, resume, list), whose commands the ticker
//! applies between cycles. SIGTERM or SIGINT cancels both, the current cycle finishes,
//! the store closes, all within a grace period.

use crate::wiring;
use anyhow::Context;
use charter_knowledge::LeaseGrant;
use charter_model::{KnowledgeSpec, LeaseSpec, SourceSpec, Timestamp, load_charter};
use charter_orchestrator::{Fence, Health, LoopMetrics, Role};
use charter_server::alerts::AlertIngest;
use charter_server::control::{self, Applied, ControlHandle};
use charter_server::{PolicyApi, ServerState, serve};
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
    let mut controller = controller.map(|c| c.with_health(health.clone(), metrics.clone()));
    if replica.is_none() {
        metrics.leader.set(1);
    }
    if let Some(p) = controller
        .as_ref()
        .and_then(|c| c.pause_state())
        .filter(|p| p.paused)
    {
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
        "charter: running `{}` every {:?}; http on {addr}; knowledge in {store_at}{}",
        charter.name,
        charter.interval,
        match &replica {
            Some(r) => format!(
                "; replica `{r}` (lease ttl {:?}, renewed every {:?})",
                charter.lease.ttl, charter.lease.renew
            ),
            None => String::new(),
        }
    );

    let cancel = CancellationToken::new();
    let (fence_tx, mut fence_rx) = watch::channel::<Option<Arc<Fence>>>(None);
    let lease_task = replica.clone().map(|replica| {
        health.set_role(Role::Follower {
            replica: replica.clone(),
            leader: None,
            epoch: None,
        });
        metrics.leader.set(0);
        tokio::spawn(lease_loop(LeaseLoop {
            store: store.clone(),
            replica,
            spec: charter.lease,
            poll: charter.lease.renew.min(charter.interval) / 4,
            fences: fence_tx,
            health: health.clone(),
            metrics: metrics.clone(),
            cancel: cancel.clone(),
        }))
    });
    let server_cancel = cancel.clone();
    let server = tokio::spawn(serve(
        listener,
        ServerState {
            health: health.clone(),
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
    let mut fence: Option<Arc<Fence>> = None;
    loop {
        // Whether a cycle runs now, and why.
        let run = tokio::select! {
            _ = cancel.cancelled() => break,
            Ok(()) = fence_rx.changed() => {
                let next = fence_rx.borrow_and_update().clone();
                match next {
                    Some(f) if controller.is_none() => {
                        // Leader now: build the loop afresh from the store (recovery first).
                        health.restart_loop();
                        match charter_orchestrator::Controller::new_leader(
                            charter.clone(),
                            source.clone(),
                            actuators.clone(),
                            store.clone(),
                            Timestamp::now_wall(),
                            f.clone(),
                        )
                        .await
                        {
                            Ok(c) => {
                                eprintln!("charter: leading under fencing epoch {}", f.epoch());
                                controller = Some(c.with_health(health.clone(), metrics.clone()));
                                fence = Some(f);
                                interval.reset_immediately();
                            }
                            Err(e) if e.lost_leadership() => {
                                tracing::warn!(error = %e, "lease lost while starting the loop");
                                f.revoke();
                            }
                            Err(e) => {
                                failure = Some(e);
                                cancel.cancel();
                                break;
                            }
                        }
                    }
                    None => step_down(&mut controller, &mut fence, "the lease was lost"),
                    _ => {}
                }
                false
            }
            _ = wake.notified() => {
                // An alert arrived: run a cycle now, and the next regular one a full interval later.
                interval.reset();
                true
            }
            Some(command) = commands.recv() => {
                let now = Timestamp::now_wall();
                // Between cycles: the controller is ours until the command is answered.
                let applied = match controller.as_mut() {
                    Some(c) => control::apply(c, command, now).await,
                    None => control::apply_as_follower(store.as_ref(), &health, command, now).await,
                };
                // An approved policy starts now rather than an interval later.
                if applied == Applied::RunCycle {
                    interval.reset();
                }
                applied == Applied::RunCycle
            }
            // A cycle in progress is not interrupted: cancellation is checked between cycles.
            _ = interval.tick() => true,
        };
        let Some(c) = controller.as_mut().filter(|_| run) else {
            continue;
        };
        if let Err(e) = run_cycle(c).await {
            if e.lost_leadership() {
                step_down(&mut controller, &mut fence, &e.to_string());
            } else {
                failure = Some(e);
                cancel.cancel();
                break;
            }
        }
    }
    // The lease goes back at once, so a follower need not wait for it to expire.
    drop(controller);
    if let Some(task) = lease_task {
        let _ = tokio::time::timeout(args.grace, task).await;
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

/// Stop acting: drop the loop (a new leader recovers its executions from the journal)
/// and give the lease up.
fn step_down(
    controller: &mut Option<charter_orchestrator::Controller>,
    fence: &mut Option<Arc<Fence>>,
    why: &str,
) {
    if let Some(f) = fence.take() {
        f.revoke();
    }
    if controller.take().is_some() {
        eprintln!("charter: stepping down to follower: {why}");
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

/// What the lease task needs.
struct LeaseLoop {
    store: Arc<dyn charter_knowledge::Store>,
    replica: String,
    spec: LeaseSpec,
    /// How often a follower tries to take the lease: often enough that it takes over
    /// within the ttl plus one loop interval of the leader's last renewal.
    poll: Duration,
    /// The fence while this replica leads, `None` while it follows.
    fences: watch::Sender<Option<Arc<Fence>>>,
    health: Arc<Health>,
    metrics: LoopMetrics,
    cancel: CancellationToken,
}

/// Take the lease when it is free, renew it every `renew` while leading (sooner after
/// a failed renewal), publish the fence, and give the lease up on shutdown. The fence's
/// deadline is the send time of the last successful renewal plus ttl minus margin, so
/// the loop stops acting before the lease can expire even if renewals stall.
async fn lease_loop(l: LeaseLoop) {
    let (ttl, margin) = (l.spec.ttl, l.spec.margin());
    let mut fence: Option<Arc<Fence>> = None;
    let follow = |leader: Option<(String, u64)>| {
        l.health.set_role(Role::Follower {
            replica: l.replica.clone(),
            leader: leader.as_ref().map(|(h, _)| h.clone()),
            epoch: leader.as_ref().map(|(_, e)| *e),
        });
        l.metrics.leader.set(0);
        if let Some((_, e)) = leader {
            l.metrics
                .lease_epoch
                .set(i64::try_from(e).unwrap_or(i64::MAX));
        }
    };
    loop {
        let sent = std::time::Instant::now();
        let mut wait = if fence.is_some() {
            l.spec.renew
        } else {
            l.poll
        };
        match fence.clone() {
            Some(f) if f.is_revoked() => {
                // The loop stepped down (a fenced claim): let the lease go, follow.
                if let Err(e) = l.store.release_lease(&l.replica, f.epoch()).await {
                    tracing::warn!(error = %e, "cannot release the leader lease");
                }
                fence = None;
                let _ = l.fences.send(None);
                follow(None);
            }
            Some(f) => match l
                .store
                .renew_lease(&l.replica, f.epoch(), ttl, margin)
                .await
            {
                Ok(true) => f.extend(Fence::deadline_after(sent, ttl, margin)),
                Ok(false) => {
                    eprintln!(
                        "charter: lost the leader lease of epoch {}: another replica took it",
                        f.epoch()
                    );
                    f.revoke();
                    fence = None;
                    let _ = l.fences.send(None);
                    follow(None);
                    wait = Duration::ZERO;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot renew the leader lease; retrying");
                    wait = l.spec.renew / 4;
                }
            },
            None => match l.store.acquire_lease(&l.replica, ttl, margin).await {
                Ok(LeaseGrant::Acquired { epoch, .. }) => {
                    let f = Arc::new(Fence::new(epoch, Fence::deadline_after(sent, ttl, margin)));
                    l.health.set_role(Role::Leader {
                        replica: l.replica.clone(),
                        epoch,
                    });
                    l.metrics.leader.set(1);
                    l.metrics
                        .lease_epoch
                        .set(i64::try_from(epoch).unwrap_or(i64::MAX));
                    fence = Some(f.clone());
                    let _ = l.fences.send(Some(f));
                    wait = l.spec.renew;
                }
                Ok(LeaseGrant::HeldBy(lease)) => follow(Some((lease.holder, lease.epoch))),
                Err(e) => tracing::warn!(error = %e, "cannot read the leader lease; retrying"),
            },
        }
        tokio::select! {
            _ = l.cancel.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    if let Some(f) = fence {
        f.revoke();
        match l.store.release_lease(&l.replica, f.epoch()).await {
            Ok(()) => eprintln!("charter: released the leader lease of epoch {}", f.epoch()),
            Err(e) => tracing::warn!(error = %e, "cannot release the leader lease"),
        }
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
