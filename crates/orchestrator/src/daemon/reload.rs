//! Configuration reload: `SIGHUP` and `POST /-/reload` both call [`Reloader::reload`],
//! which re-reads the charter file, validates it, refuses changes that need a restart,
//! and hands the new charter to the ticker through the control channel
//! ([`Command::Reload`]); the ticker swaps it in between cycles. What the loop knows
//! (open incidents, pending approvals, executions, guardrail state, the journal and
//! what was learned) lives in the controller and the store, not in the charter, so it
//! survives.
//!
//! A reload can change how the loop judges and acts: `interval`, `mode`, `components`
//! (with `depends_on`, zones, replica limits), `objectives`, `actions` and
//! `guardrails`. Sections that were wired into other tasks when the daemon started
//! ([`RESTART_ONLY`]) need a restart; a charter that changes one of them is refused
//! as a whole, so that what runs is always exactly one file's charter. Until a reload
//! succeeds, the charter that ran before keeps running.

use super::commands::{CallError, Command, ControlHandle};
use crate::health::LoopMetrics;
use charter_model::{Charter, Clock, ConfigError};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{Mutex, watch};

/// Sections a reload cannot change (they were wired into the metric source, the
/// store, the lease keeper, the HTTP server and the actuators at start).
pub const RESTART_ONLY: &[&str] = &[
    "source",
    "knowledge",
    "alerts",
    "api",
    "actuators",
    "changes.watch_rollouts",
];

/// The loop will not take a charter that is valid on its own (it would orphan an open
/// violation or an execution in progress, say).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReloadRefused(pub String);

/// Why a reload kept the charter that ran before.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file cannot be read or is not a valid charter (every issue, as
    /// `FILE:LINE:COL: key.path: message`).
    #[error("{0}")]
    Invalid(ConfigError),
    /// The file changes sections that only a restart applies.
    #[error(
        "{file}: {} cannot change without a restart (changed: {}); restart charter to apply \
         this file, or undo those changes and reload",
        RESTART_ONLY.join(", "),
        .changed.join(", ")
    )]
    NeedsRestart {
        file: String,
        changed: Vec<&'static str>,
    },
    /// The loop refused the new charter.
    #[error("{file}: the loop kept its charter: {refused}")]
    Refused {
        file: String,
        refused: ReloadRefused,
    },
    /// The loop did not answer.
    #[error("{0}")]
    Loop(CallError),
}

impl ReloadError {
    /// Whether the reload failed for the daemon's sake (its loop did not answer) rather
    /// than the file's: HTTP says 503 rather than 422.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ReloadError::Loop(_))
    }
}

/// What a successful reload did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reloaded {
    /// The charter's name.
    pub charter: String,
    /// The sections whose content changed (empty: the file was the same).
    pub changed: Vec<&'static str>,
    /// The new file's warnings, as `FILE:LINE:COL: key.path: message`.
    pub warnings: Vec<String>,
}

/// Re-reads the daemon's charter file on demand; shared by the signal handler and the
/// HTTP route. Reloads are serialised: a second waits for the first.
pub struct Reloader {
    file: PathBuf,
    control: ControlHandle,
    /// The charter running now (the lock also serialises reloads).
    current: Mutex<Arc<Charter>>,
    metrics: LoopMetrics,
    clock: Arc<dyn Clock>,
    /// Every charter swapped in, for the tasks outside the loop that read it.
    published: watch::Sender<Arc<Charter>>,
}

impl Reloader {
    /// The reloader of `file`, whose charter `running` the daemon started with. Sets
    /// `charter_config_last_reload_successful` to 1 and its timestamp to now, as a
    /// start is a successful load.
    pub fn new(
        file: PathBuf,
        running: Arc<Charter>,
        control: ControlHandle,
        metrics: LoopMetrics,
        clock: Arc<dyn Clock>,
    ) -> Self {
        metrics.config_reload_successful.set(1);
        metrics
            .config_reload_success_timestamp
            .set(clock.now().millis() as f64 / 1000.0);
        let (published, _) = watch::channel(running.clone());
        Reloader {
            file,
            control,
            current: Mutex::new(running),
            metrics,
            clock,
            published,
        }
    }

    /// The charter after each successful reload.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Charter>> {
        self.published.subscribe()
    }

    /// Re-read, validate and swap in the charter file; `by` says who asked (logged).
    /// On failure the running charter stays, the reason is logged and returned, and
    /// `charter_config_last_reload_successful` becomes 0 until a reload succeeds.
    pub async fn reload(&self, by: &str) -> Result<Reloaded, ReloadError> {
        let mut current = self.current.lock().await;
        let result = self.swap(&current).await;
        match &result {
            Ok((charter, reloaded)) => {
                *current = charter.clone();
                self.published.send_replace(charter.clone());
                self.metrics.config_reload_successful.set(1);
                self.metrics
                    .config_reload_success_timestamp
                    .set(self.clock.now().millis() as f64 / 1000.0);
                for w in &reloaded.warnings {
                    tracing::warn!("{w}");
                }
                // A status line: shown whatever the log filter, like the start's.
                super::status::say(format_args!(
                    "reloaded {} (asked by {by}; changed: {})",
                    self.file.display(),
                    if reloaded.changed.is_empty() {
                        "nothing".to_string()
                    } else {
                        reloaded.changed.join(", ")
                    }
                ));
            }
            Err(e) => {
                self.metrics.config_reload_successful.set(0);
                tracing::error!(by, file = %self.file.display(), "charter reload failed; the running charter stays:\n{e}");
            }
        }
        result.map(|(_, reloaded)| reloaded)
    }

    async fn swap(&self, running: &Charter) -> Result<(Arc<Charter>, Reloaded), ReloadError> {
        let file = self.file.display().to_string();
        let (charter, warnings) =
            charter_model::load_charter(&self.file).map_err(ReloadError::Invalid)?;
        let restart = restart_only_changes(running, &charter);
        if !restart.is_empty() {
            return Err(ReloadError::NeedsRestart {
                file,
                changed: restart,
            });
        }
        let changed = changed_sections(running, &charter);
        let charter = Arc::new(charter);
        let next = charter.clone();
        self.control
            .call(|reply| Command::Reload {
                charter: next,
                reply,
            })
            .await
            .map_err(ReloadError::Loop)?
            .map_err(|refused| ReloadError::Refused { file, refused })?;
        Ok((
            charter.clone(),
            Reloaded {
                charter: charter.name.clone(),
                changed,
                warnings: warnings.iter().map(ToString::to_string).collect(),
            },
        ))
    }
}

/// The [`RESTART_ONLY`] sections that differ between two charters.
pub fn restart_only_changes(old: &Charter, new: &Charter) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if old.source != new.source {
        changed.push("source");
    }
    // `knowledge:` holds the store, `retention`, `learning` and `lease`.
    if old.knowledge != new.knowledge
        || old.retention != new.retention
        || old.learning != new.learning
        || old.lease != new.lease
    {
        changed.push("knowledge");
    }
    if old.alerts != new.alerts {
        changed.push("alerts");
    }
    if old.api != new.api {
        changed.push("api");
    }
    if old.actuators != new.actuators {
        changed.push("actuators");
    }
    // The rollout watchers are started with the daemon.
    if old.changes.watch_rollouts != new.changes.watch_rollouts {
        changed.push("changes.watch_rollouts");
    }
    changed
}

/// The reloadable sections that differ between two charters.
pub fn changed_sections(old: &Charter, new: &Charter) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if old.name != new.name {
        changed.push("name");
    }
    if old.interval != new.interval {
        changed.push("interval");
    }
    if old.mode != new.mode {
        changed.push("mode");
    }
    if old.components != new.components || old.topology != new.topology {
        changed.push("components");
    }
    if old.objectives != new.objectives {
        changed.push("objectives");
    }
    if old.actions != new.actions {
        changed.push("actions");
    }
    if old.guardrails != new.guardrails {
        changed.push("guardrails");
    }
    changed
}
