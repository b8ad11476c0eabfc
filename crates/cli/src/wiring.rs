//! Wiring a charter to its source, actuators and store.

use anyhow::Context;
use charter_execute::Actuator;
use charter_knowledge::{PostgresStore, SqliteStore, Store};
use charter_model::charter::PostgresUrl;
use charter_model::{ActuatorSpec, Charter, KnowledgeSpec, SourceSpec, Timestamp};
use charter_monitor::MetricSource;
use charter_orchestrator::Controller;
use charter_sim::{Scenario, Simulator, World};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

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
