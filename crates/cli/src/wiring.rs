//! Wiring a charter to its source, actuators and store.

use anyhow::Context;
use charter_execute::Actuator;
use charter_knowledge::{ChangeLog, ChangeRecord, PostgresStore, SqliteStore, Store};
use charter_kube::RolloutChange;
use charter_model::charter::PostgresUrl;
use charter_model::{
    ActuatorSpec, Change, ChangeSource, Charter, Clock, KnowledgeSpec, SourceSpec, Timestamp,
};
use charter_monitor::MetricSource;
use charter_orchestrator::Controller;
use charter_sim::{Scenario, Simulator, World};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// The simulator behind a charter whose source is `simulator`, and its scenario.
pub fn simulator(
    charter: &Charter,
    default: &str,
    scenario_override: Option<&Path>,
    seed_override: Option<u64>,
    epoch: Timestamp,
) -> anyhow::Result<(Simulator, Scenario, u64)> {
    let SourceSpec::Simulator { scenario, seed } = &charter.source else {
        anyhow::bail!("this command needs a charter whose source is `simulator`");
    };
    let scenario = match scenario_override.or(scenario.as_deref()) {
        Some(path) => {
            Scenario::load(path).with_context(|| format!("loading scenario {}", path.display()))?
        }
        None => Scenario::builtin(default)
            .with_context(|| format!("built-in scenario `{default}` is missing"))?,
    };
    let seed = seed_override.or(*seed).unwrap_or(scenario.seed);
    let world = World::new(&scenario, seed);
    Ok((Simulator::new(world, epoch), scenario, seed))
}

/// Actuators by charter name; `sim` serves the `simulator` ones.
pub fn actuators(
    charter: &Charter,
    sim: Option<&Simulator>,
) -> anyhow::Result<BTreeMap<String, Arc<dyn Actuator>>> {
    let mut out: BTreeMap<String, Arc<dyn Actuator>> = BTreeMap::new();
    for (name, spec) in &charter.actuators {
        let a: Arc<dyn Actuator> = match spec {
            ActuatorSpec::Simulator => match sim {
                Some(sim) => Arc::new(sim.clone()),
                None => anyhow::bail!(
                    "actuator `{name}` is the in-process simulator, which needs `source: simulator`"
                ),
            },
            ActuatorSpec::Http {
                url,
                token_file,
                timeout,
            } => {
                let token = match token_file {
                    Some(f) => Some(charter_execute::http::read_token_file(f)?),
                    None => None,
                };
                Arc::new(
                    charter_execute::http::HttpActuator::new(url, token, *timeout)
                        .with_context(|| format!("actuator `{name}`"))?,
                )
            }
            ActuatorSpec::Command(spec) => Arc::new(
                charter_execute::command::CommandActuator::new(name.clone(), spec.clone()),
            ),
            // Connects on first use (kubeconfig, context, or the pod's service account);
            // a named kubeconfig file and context are checked now.
            ActuatorSpec::Kubernetes(spec) => Arc::new(
                charter_kube::KubernetesActuator::connect(name.clone(), spec.clone())
                    .with_context(|| format!("actuator `{name}`"))?,
            ),
        };
        out.insert(name.clone(), a);
    }
    Ok(out)
}

/// Open an SQLite file as its one writer ([`SqliteStore::open_writer`]: the writer
/// lock, then `quick_check`), for a command that runs the loop or recovery on it.
pub async fn open_writer(db: &Path) -> anyhow::Result<Arc<SqliteStore>> {
    // The store's errors name the file and say what to do; no context to add.
    Ok(Arc::new(SqliteStore::open_writer(db).await?))
}

/// Open the knowledge store the charter names: `db` (the `--db` flag, always an SQLite
/// file) first, then `knowledge.sqlite` or `knowledge.postgres`, else `charter.db`.
/// Returns the store and where it is, for messages (a URL without its password).
///
/// For commands that read: an SQLite file is opened without its writer lock (see
/// [`writer_store`]).
pub async fn store(
    charter: &Charter,
    db: Option<&Path>,
) -> anyhow::Result<(Arc<dyn Store>, String)> {
    open_store(charter, db, false).await
}

/// [`store`] for the process that runs the loop: an SQLite file is opened as its one
/// writer ([`open_writer`]). A PostgreSQL store is shared by replicas, which take turns
/// through its lease before anything (startup recovery included) runs.
pub async fn writer_store(
    charter: &Charter,
    db: Option<&Path>,
) -> anyhow::Result<(Arc<dyn Store>, String)> {
    open_store(charter, db, true).await
}

async fn open_store(
    charter: &Charter,
    db: Option<&Path>,
    writer: bool,
) -> anyhow::Result<(Arc<dyn Store>, String)> {
    let sqlite = |path: &Path| {
        let path = path.to_path_buf();
        async move {
            let store = if writer {
                SqliteStore::open_writer(&path).await?
            } else {
                SqliteStore::open(&path)
                    .await
                    .with_context(|| format!("opening knowledge database {}", path.display()))?
            };
            anyhow::Ok((
                Arc::new(store) as Arc<dyn Store>,
                path.display().to_string(),
            ))
        }
    };
    match (db, &charter.knowledge) {
        (Some(path), _) => sqlite(path).await,
        (None, Some(KnowledgeSpec::Sqlite { path })) => sqlite(path).await,
        (None, None) => sqlite(Path::new("charter.db")).await,
        (None, Some(KnowledgeSpec::Postgres { url })) => {
            let url = match url {
                PostgresUrl::Inline(url) => url.clone(),
                PostgresUrl::File(file) => {
                    charter_model::read_token_file(file).context("knowledge.postgres.url_file")?
                }
            };
            let store = PostgresStore::connect(&url).await?;
            let at = format!("postgres {}", store.url());
            Ok((Arc::new(store), at))
        }
    }
}

/// Build the controller on a store already opened (see [`store`]).
pub async fn controller_on(
    charter: Arc<Charter>,
    source: Arc<dyn MetricSource>,
    actuators: BTreeMap<String, Arc<dyn Actuator>>,
    store: Arc<dyn Store>,
    now: Timestamp,
) -> anyhow::Result<Controller> {
    Ok(Controller::new(charter, source, actuators, store, now).await?)
}

/// Start one rollout watcher per kubernetes actuator (`changes.watch_rollouts`, on by
/// default) and record what they see in the store's change log, as the changes API
/// does: once per key, with the source `kubernetes`. An actuator whose client cannot
/// be built is named in a warning and not watched; the others are.
pub async fn watch_rollouts(
    charter: &Charter,
    store: Arc<dyn ChangeLog>,
    wake: Arc<Notify>,
    clock: Arc<dyn Clock>,
    cancel: CancellationToken,
) {
    let watched = charter_kube::RolloutMapping::of_charter(charter);
    if !charter.changes.watch_rollouts || watched.is_empty() {
        return;
    }
    let (tx, rx) = mpsc::channel(256);
    for (name, spec, mapping) in watched {
        match charter_kube::watch_client(&spec).await {
            Ok(client) => {
                tracing::info!(actuator = %name, namespace = %spec.namespace, "watching rollouts");
                tokio::spawn(charter_kube::watch_rollouts(
                    client,
                    mapping,
                    tx.clone(),
                    cancel.clone(),
                ));
            }
            Err(e) => tracing::warn!(
                "actuator `{name}`: cannot watch the rollouts of namespace {} \
                 (changes.watch_rollouts): {e}; its rollouts are not seen as changes",
                spec.namespace
            ),
        }
    }
    drop(tx);
    tokio::spawn(record_rollouts(rx, store, wake, clock));
}

/// Record each rollout the watchers send until they are all gone: stored first, then
/// the loop is woken to take it in. A rollout the store cannot take is logged with
/// its key (the readiness probe reports an unwritable store).
pub async fn record_rollouts(
    mut rx: mpsc::Receiver<RolloutChange>,
    store: Arc<dyn ChangeLog>,
    wake: Arc<Notify>,
    clock: Arc<dyn Clock>,
) {
    while let Some(rollout) = rx.recv().await {
        let record = rollout_record(rollout, clock.now());
        match store.save_changes(std::slice::from_ref(&record)).await {
            Ok(new) if new.first() == Some(&true) => wake.notify_one(),
            Ok(_) => tracing::debug!(key = %record.key, "rollout already recorded"),
            Err(e) => tracing::error!(
                "the rollout {} ({}) was not recorded: {e}",
                record.key,
                record.change.description
            ),
        }
    }
}

/// A watcher's rollout as the change log keeps it.
fn rollout_record(r: RolloutChange, received_at: Timestamp) -> ChangeRecord {
    ChangeRecord {
        seq: 0,
        key: r.key,
        received_at,
        change: Change {
            at: r.at,
            component: r.component,
            kind: r.kind,
            description: r.description,
            by: r.by,
            source: ChangeSource::Kubernetes,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_model::ChangeKind;

    /// The time the recorder receives rollouts at.
    #[derive(Debug)]
    struct At(Timestamp);

    impl Clock for At {
        fn now(&self) -> Timestamp {
            self.0
        }
    }

    fn rollout(key: &str, component: &str) -> RolloutChange {
        RolloutChange {
            at: Timestamp::from_secs(1_000),
            component: component.into(),
            kind: ChangeKind::Deploy,
            description: format!("deployment shop/{component} rolled out revision 4 (was 3)"),
            by: "helm".into(),
            key: key.into(),
        }
    }

    #[tokio::test]
    async fn rollouts_are_recorded_once_per_key_as_kubernetes_changes() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("k.db"))
                .await
                .expect("store"),
        );
        let (tx, rx) = mpsc::channel(8);
        let wake = Arc::new(Notify::new());
        let recorder = tokio::spawn(record_rollouts(
            rx,
            store.clone(),
            wake.clone(),
            Arc::new(At(Timestamp::from_secs(1_010))),
        ));
        let a = "kubernetes/shop/deployment/catalog/4";
        for r in [
            rollout(a, "catalog"),
            rollout(a, "catalog"),
            rollout("kubernetes/shop/deployment/orders/2", "orders"),
        ] {
            tx.send(r).await.expect("send");
        }
        drop(tx);
        recorder.await.expect("recorder");
        let mut stored = store.recent_changes(10).await.expect("changes");
        stored.reverse();
        let seen: Vec<(&str, &str, ChangeSource)> = stored
            .iter()
            .map(|r| (r.key.as_str(), r.change.component.as_str(), r.change.source))
            .collect();
        assert_eq!(
            seen,
            vec![
                (a, "catalog", ChangeSource::Kubernetes),
                (
                    "kubernetes/shop/deployment/orders/2",
                    "orders",
                    ChangeSource::Kubernetes
                )
            ]
        );
        assert_eq!(stored[0].change.by, "helm");
        assert_eq!(stored[0].change.at, Timestamp::from_secs(1_000));
        assert_eq!(stored[0].received_at, Timestamp::from_secs(1_010));
    }
}
