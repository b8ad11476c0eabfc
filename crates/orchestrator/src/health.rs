//! The loop's health and metrics, shared with the HTTP server.

use charter_knowledge::PauseRecord;
use charter_model::{Change, ExecutionId, Incident, Policy, Timestamp, Violation};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// What the loop looked like at the end of its last cycle, for the read API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StateSnapshot {
    pub at: Option<Timestamp>,
    pub blind: bool,
    pub paused: bool,
    /// Open violation episodes (pending, firing, unknown).
    pub violations: Vec<Violation>,
    /// Incidents not yet resolved.
    pub incidents: Vec<Incident>,
    pub pending_policies: Vec<Policy>,
    /// Executions in progress, by id.
    pub executions: Vec<ExecutionId>,
    /// The changes of the last hour that a diagnosis may weigh, oldest first, each
    /// with who made it (`by`) and where Charter learned of it (`source`).
    pub changes: Vec<Change>,
}

/// This replica's part when several share one store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "role")]
pub enum Role {
    /// The only replica: no lease is taken (an SQLite store, or a test).
    #[default]
    Single,
    /// It holds the lease and runs the loop.
    Leader { replica: String, epoch: u64 },
    /// Another replica holds the lease (or nobody yet): it serves the read API only.
    Follower {
        replica: String,
        leader: Option<String>,
        epoch: Option<u64>,
    },
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Single => f.write_str("single replica"),
            Role::Leader { replica, epoch } => write!(f, "leader {replica} (epoch {epoch})"),
            Role::Follower {
                replica,
                leader: Some(l),
                epoch,
            } => write!(
                f,
                "follower {replica} (leader {l}{})",
                epoch.map(|e| format!(", epoch {e}")).unwrap_or_default()
            ),
            Role::Follower {
                replica,
                leader: None,
                ..
            } => write!(f, "follower {replica} (no leader yet)"),
        }
    }
}

/// What `/healthz`, `/readyz` and the read API report.
#[derive(Debug, Default)]
pub struct Health {
    /// Leader, follower or the only replica.
    role: Mutex<Role>,
    ticked: AtomicBool,
    blind: AtomicBool,
    last_tick_ms: AtomicI64,
    reason: Mutex<String>,
    snapshot: Mutex<StateSnapshot>,
    /// The kill switch as last set, kept apart from the snapshot because a human
    /// sets it between cycles and the read API must show it at once.
    pause: Mutex<Option<PauseRecord>>,
}

impl Health {
    /// Record a completed tick.
    pub fn tick_done(&self, at_ms: i64, blind: bool, reason: &str) {
        self.ticked.store(true, Ordering::Relaxed);
        self.blind.store(blind, Ordering::Relaxed);
        self.last_tick_ms.store(at_ms, Ordering::Relaxed);
        if let Ok(mut r) = self.reason.lock() {
            *r = reason.to_string();
        }
    }

    /// Ready when the loop has completed a tick; otherwise why not. Readiness means
    /// "can serve": a blind monitor can still serve the read API, the approvals and the
    /// kill switch (and taking it out of a Service would hide exactly that state), so
    /// blindness shows in `/api/v1/state`, `charter_blind` and the log, not here.
    /// A follower runs no loop: it is ready to serve the read API.
    pub fn readiness(&self) -> Result<(), String> {
        if matches!(self.role(), Role::Follower { .. }) {
            return Ok(());
        }
        if !self.ticked.load(Ordering::Relaxed) {
            return Err("the loop has not completed its first cycle".into());
        }
        Ok(())
    }

    /// Why the monitor is blind, if it was at the end of the last cycle.
    pub fn blind_reason(&self) -> Option<String> {
        self.blind
            .load(Ordering::Relaxed)
            .then(|| self.reason.lock().map(|r| r.clone()).unwrap_or_default())
    }

    /// Record this replica's part.
    pub fn set_role(&self, role: Role) {
        if let Ok(mut r) = self.role.lock() {
            *r = role;
        }
    }

    /// This replica's part.
    pub fn role(&self) -> Role {
        self.role.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// A leader starts its loop afresh: its first cycle is still to come.
    pub fn restart_loop(&self) {
        self.ticked.store(false, Ordering::Relaxed);
    }

    /// Replace the state snapshot.
    pub fn publish(&self, snapshot: StateSnapshot) {
        if let Ok(mut s) = self.snapshot.lock() {
            *s = snapshot;
        }
    }

    /// The state at the end of the last cycle, with the kill switch as it is now.
    pub fn snapshot(&self) -> StateSnapshot {
        let mut s = self.snapshot.lock().map(|s| s.clone()).unwrap_or_default();
        if let Some(p) = self.pause() {
            s.paused = p.paused;
        }
        s
    }

    /// Record the kill switch as just set (or restored).
    pub fn set_pause(&self, pause: Option<PauseRecord>) {
        if let Ok(mut p) = self.pause.lock() {
            *p = pause;
        }
    }

    /// The kill switch as last set: who, why, when; `None` if never.
    pub fn pause(&self) -> Option<PauseRecord> {
        self.pause.lock().ok().and_then(|p| p.clone())
    }

    /// Time of the last completed tick (ms since the epoch), 0 before the first.
    pub fn last_tick_ms(&self) -> i64 {
        self.last_tick_ms.load(Ordering::Relaxed)
    }
}

/// Charter's own metrics (bounded label sets only).
#[derive(Debug, Clone)]
pub struct LoopMetrics {
    pub ticks: Counter,
    pub source_errors: Counter,
    pub blind: Gauge,
    pub violations_firing: Gauge,
    pub incidents_open: Gauge,
    pub actions: Family<Vec<(String, String)>, Counter>,
    pub outcomes: Family<Vec<(String, String)>, Counter>,
    pub tick_seconds: Histogram,
    /// 1 while this replica leads (or is the only one), 0 while it follows.
    pub leader: Gauge,
    /// The fencing epoch this replica last acted under or saw (0 without a lease).
    pub lease_epoch: Gauge,
    /// Always 1, labelled with the version and the source revision (`CHARTER_REVISION`
    /// at build time, `unknown` without it).
    pub build_info: Family<Vec<(String, String)>, Gauge>,
    /// Policies waiting for a human's approval.
    pub pending_approvals: Gauge,
    /// 1 while the kill switch is on (all automation paused).
    pub paused: Gauge,
    /// Components under quarantine (a compensation failed on them).
    pub quarantined_components: Gauge,
    /// Incidents handed to an operator.
    pub escalations: Counter,
    /// 1 if the last configuration reload (or the start) succeeded, 0 if it failed.
    pub config_reload_successful: Gauge,
    /// When the charter was last loaded successfully, in Unix seconds.
    pub config_reload_success_timestamp: Gauge<f64, AtomicU64>,
}

impl LoopMetrics {
    /// Metrics that are not registered anywhere (tests, the demo).
    pub fn unregistered() -> Self {
        LoopMetrics {
            ticks: Counter::default(),
            source_errors: Counter::default(),
            blind: Gauge::default(),
            violations_firing: Gauge::default(),
            incidents_open: Gauge::default(),
            actions: Family::default(),
            outcomes: Family::default(),
            tick_seconds: Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
            leader: Gauge::default(),
            lease_epoch: Gauge::default(),
            build_info: Family::default(),
            pending_approvals: Gauge::default(),
            paused: Gauge::default(),
            quarantined_components: Gauge::default(),
            escalations: Counter::default(),
            config_reload_successful: Gauge::default(),
            config_reload_success_timestamp: Gauge::default(),
        }
    }

    /// Create the metrics and register them.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::unregistered();
        registry.register("charter_ticks", "Completed loop cycles", m.ticks.clone());
        registry.register(
            "charter_source_errors",
            "Failed reads of the metric source",
            m.source_errors.clone(),
        );
        registry.register(
            "charter_blind",
            "1 while the monitor is blind and actions are frozen",
            m.blind.clone(),
        );
        registry.register(
            "charter_violations_firing",
            "Firing violations",
            m.violations_firing.clone(),
        );
        registry.register(
            "charter_incidents_open",
            "Open incidents",
            m.incidents_open.clone(),
        );
        registry.register(
            "charter_actions",
            "Actions applied, by kind",
            m.actions.clone(),
        );
        registry.register(
            "charter_outcomes",
            "Execution outcomes, by class",
            m.outcomes.clone(),
        );
        registry.register(
            "charter_tick_seconds",
            "Duration of one loop cycle",
            m.tick_seconds.clone(),
        );
        registry.register(
            "charter_leader",
            "1 while this replica leads (or runs alone), 0 while it follows",
            m.leader.clone(),
        );
        registry.register(
            "charter_lease_epoch",
            "The leader lease's fencing epoch as this replica last saw it",
            m.lease_epoch.clone(),
        );
        m.build_info
            .get_or_create(&vec![
                ("version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
                (
                    "revision".to_string(),
                    option_env!("CHARTER_REVISION")
                        .unwrap_or("unknown")
                        .to_string(),
                ),
            ])
            .set(1);
        registry.register(
            "charter_build_info",
            "Always 1: the version and source revision of this binary",
            m.build_info.clone(),
        );
        registry.register(
            "charter_pending_approvals",
            "Policies waiting for a human's approval",
            m.pending_approvals.clone(),
        );
        registry.register(
            "charter_paused",
            "1 while the kill switch is on and all automation is paused",
            m.paused.clone(),
        );
        registry.register(
            "charter_quarantined_components",
            "Components quarantined after a failed compensation",
            m.quarantined_components.clone(),
        );
        registry.register(
            "charter_escalations",
            "Incidents escalated to an operator",
            m.escalations.clone(),
        );
        // Named as Prometheus names its own, so the same alerts and panels fit.
        registry.register(
            "charter_config_last_reload_successful",
            "1 if the last reload of the charter file (or the start) succeeded, 0 if it failed",
            m.config_reload_successful.clone(),
        );
        registry.register(
            "charter_config_last_reload_success_timestamp_seconds",
            "When the charter file was last loaded successfully (start or reload)",
            m.config_reload_success_timestamp.clone(),
        );
        m
    }
}
