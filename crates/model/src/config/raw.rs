//! The charter as written: serde types that mirror the YAML document.
//!
//! Unknown keys are errors (`deny_unknown_fields`) and the values a section pass
//! reports on keep their source location ([`Spanned`]), so an issue can point at
//! `file:line:col`. Nothing here is checked beyond its type; the section passes
//! compile these into the validated types of [`crate::charter`].

use crate::charter::{Approval, Exploration, Mode, Signal};
use crate::vocab::Severity;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// A value with the place it was written.
pub(super) type S<T> = Spanned<T>;

/// The charter as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CharterConfig {
    pub name: S<String>,
    #[serde(default)]
    pub interval: Option<S<String>>,
    #[serde(default)]
    pub mode: Option<S<Mode>>,
    #[serde(default)]
    pub source: Option<S<SourceConfig>>,
    #[serde(default)]
    pub alerts: Option<S<AlertsConfig>>,
    #[serde(default)]
    pub changes: Option<S<ChangeEventsConfig>>,
    #[serde(default)]
    pub api: Option<S<ApiConfig>>,
    #[serde(default)]
    pub knowledge: Option<KnowledgeConfig>,
    #[serde(default)]
    pub actuators: BTreeMap<String, S<ActuatorConfig>>,
    #[serde(default)]
    pub components: Vec<ComponentConfig>,
    #[serde(default)]
    pub objectives: Vec<ObjectiveConfig>,
    #[serde(default)]
    pub actions: BTreeMap<String, S<ActionConfig>>,
    #[serde(default)]
    pub guardrails: Option<GuardrailsConfig>,
}

/// `source:` — where samples come from.
// Parsed once per charter load; boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    Simulator {
        #[serde(default)]
        scenario: Option<String>,
        #[serde(default)]
        seed: Option<u64>,
    },
    Prometheus {
        url: S<String>,
        #[serde(default)]
        timeout: Option<S<String>>,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        bearer_token_file: Option<String>,
        #[serde(default)]
        max_in_flight: Option<S<usize>>,
        #[serde(default)]
        retries: Option<S<u32>>,
        #[serde(default)]
        blind_after: Option<S<u32>>,
        #[serde(default)]
        changes: Option<S<ChangesConfig>>,
    },
}

/// `source.prometheus.changes:` — queries that reveal deploys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangesConfig {
    #[serde(default)]
    pub revision: Option<S<String>>,
    #[serde(default)]
    pub info: Option<S<String>>,
    #[serde(default)]
    pub component_label: Option<String>,
    #[serde(default)]
    pub version_label: Option<String>,
}

/// `alerts:` — the Alertmanager webhook receiver.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// `none` to accept webhooks without a token (loopback use only).
    #[serde(default)]
    pub auth: Option<S<String>>,
    #[serde(default)]
    pub token_file: Option<S<String>>,
    #[serde(default)]
    pub objective_label: Option<String>,
    #[serde(default)]
    pub component_label: Option<String>,
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    /// `confirm` (the default: the objective's query must agree) or `alone`.
    #[serde(default)]
    pub trust: Option<S<String>>,
    /// A firing alert not re-sent for this long no longer counts.
    #[serde(default)]
    pub expire_after: Option<S<String>>,
    /// Stored alerts older than this are pruned.
    #[serde(default)]
    pub retention: Option<S<String>>,
}

/// `changes:` — change events posted to `POST /api/v1/changes` by deploy tools.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeEventsConfig {
    /// An Argo CD Application or a Flux object (`name` or `namespace/name`) to the
    /// component it deploys.
    #[serde(default)]
    pub applications: BTreeMap<String, S<String>>,
    /// Whether `charter run` watches the rollouts of the kubernetes actuators'
    /// workloads (default true).
    #[serde(default)]
    pub watch_rollouts: Option<S<bool>>,
}

/// `api:` — the REST API.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// The bearer token file for the mutating endpoints.
    #[serde(default)]
    pub token_file: Option<S<String>>,
}

/// `knowledge:` — where knowledge is kept.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeConfig {
    /// The SQLite database file; exclusive with `postgres`.
    #[serde(default)]
    pub sqlite: Option<S<String>>,
    /// A PostgreSQL database; exclusive with `sqlite`.
    #[serde(default)]
    pub postgres: Option<S<PostgresConfig>>,
    /// How outcomes are learned from; defaults when absent.
    #[serde(default)]
    pub learning: Option<LearningConfig>,
    /// History older than this is pruned (default 30d).
    #[serde(default)]
    pub retention: Option<S<String>>,
    /// The leader lease replicas sharing this store take turns on.
    #[serde(default)]
    pub lease: Option<LeaseConfig>,
}

/// `knowledge.lease:` — how long a leader's lease lasts and how often it renews it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseConfig {
    #[serde(default)]
    pub ttl: Option<S<String>>,
    #[serde(default)]
    pub renew: Option<S<String>>,
}

/// `knowledge.postgres:` — the connection URL inline or in a file (one of them).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    #[serde(default)]
    pub url: Option<S<String>>,
    #[serde(default)]
    pub url_file: Option<S<String>>,
}

/// `knowledge.learning:` — decay, exploration and the credit of each outcome class.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearningConfig {
    #[serde(default)]
    pub half_life: Option<S<String>>,
    #[serde(default)]
    pub exploration: Option<Exploration>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub credit: Option<CreditConfig>,
}

/// `knowledge.learning.credit:` — success credit per outcome class, each in [0, 1].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditConfig {
    #[serde(default)]
    pub resolved: Option<S<f64>>,
    #[serde(default)]
    pub improved: Option<S<f64>>,
    #[serde(default)]
    pub no_effect: Option<S<f64>>,
    #[serde(default)]
    pub worsened: Option<S<f64>>,
    #[serde(default)]
    pub failed: Option<S<f64>>,
}

/// `actuators.NAME:` — how components are acted on.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ActuatorConfig {
    Simulator {},
    Http {
        url: S<String>,
        #[serde(default)]
        token_file: Option<String>,
        #[serde(default)]
        timeout: Option<S<String>>,
    },
    Command(CommandConfig),
    Kubernetes(KubernetesConfig),
}

/// `actuators.NAME.kubernetes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    pub namespace: S<String>,
    #[serde(default)]
    pub kubeconfig: Option<S<String>>,
    #[serde(default)]
    pub context: Option<S<String>>,
    #[serde(default)]
    pub timeout: Option<S<String>>,
    /// Component → Deployment name.
    #[serde(default)]
    pub deployments: BTreeMap<String, S<String>>,
    /// Component → ConfigMap name.
    #[serde(default)]
    pub configmaps: BTreeMap<String, S<String>>,
}

/// `actuators.NAME.command`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    #[serde(default)]
    pub timeout: Option<S<String>>,
    #[serde(default)]
    pub env: Vec<S<String>>,
    pub actions: BTreeMap<String, S<CommandActionConfig>>,
}

/// `actuators.NAME.command.actions.KIND`: argv lists, never shell command lines.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandActionConfig {
    pub apply: S<Vec<S<String>>>,
    #[serde(default)]
    pub undo: Option<S<Vec<S<String>>>>,
}

/// `components[i]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentConfig {
    pub name: S<String>,
    #[serde(default)]
    pub depends_on: Vec<S<String>>,
    #[serde(default)]
    pub actuator: Option<S<String>>,
    #[serde(default)]
    pub replicas: Option<S<ReplicasConfig>>,
    #[serde(default)]
    pub zone: Option<S<String>>,
    #[serde(default)]
    pub node: Option<S<String>>,
}

/// `components[i].replicas`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicasConfig {
    pub min: u32,
    pub max: u32,
}

/// `objectives[i]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveConfig {
    pub name: S<String>,
    #[serde(default)]
    pub metric: Option<S<String>>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub expr: Option<S<String>>,
    /// An expression whose absence is the violation (`absent: up{job="api"}`).
    #[serde(default)]
    pub absent: Option<S<String>>,
    #[serde(default)]
    pub component_label: Option<String>,
    #[serde(default)]
    pub components: Vec<S<String>>,
    #[serde(default)]
    pub signal: Option<Signal>,
    #[serde(default)]
    pub above: Option<S<ThresholdsConfig>>,
    #[serde(default)]
    pub below: Option<S<ThresholdsConfig>>,
    #[serde(default, rename = "for")]
    pub for_: Option<S<String>>,
    #[serde(default)]
    pub keep_firing_for: Option<S<String>>,
    #[serde(default)]
    pub remedies: Vec<S<String>>,
}

/// `objectives[i].above` / `.below`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdsConfig {
    #[serde(default)]
    pub warning: Option<f64>,
    #[serde(default)]
    pub critical: Option<f64>,
    #[serde(default)]
    pub clear: Option<f64>,
}

/// `actions.KIND`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    #[serde(default)]
    pub cost: Option<f64>,
    #[serde(default)]
    pub disruption: Option<f64>,
    #[serde(default)]
    pub resource: Option<f64>,
    #[serde(default)]
    pub risk: Option<f64>,
    #[serde(default)]
    pub step: Option<u32>,
    #[serde(default)]
    pub time_to_effect: Option<S<String>>,
    #[serde(default)]
    pub approval: Option<Approval>,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// `undo` (the default) or `keep`: what becomes of the action when it had no effect.
    #[serde(default)]
    pub on_no_effect: Option<S<String>>,
}

/// `guardrails:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailsConfig {
    #[serde(default)]
    pub max_actions_per_hour: Option<u32>,
    #[serde(default)]
    pub cooldown: Option<S<String>>,
    #[serde(default)]
    pub max_concurrent: Option<u32>,
    #[serde(default)]
    pub auto_approve_max_cost: Option<f64>,
    #[serde(default)]
    pub approval_timeout: Option<S<String>>,
    #[serde(default)]
    pub max_attempts_per_incident: Option<u32>,
    #[serde(default)]
    pub recover_while_blind: Option<bool>,
    #[serde(default)]
    pub auto_approve_kinds: Option<Vec<S<String>>>,
    #[serde(default)]
    pub auto_approve_max_severity: Option<Severity>,
    #[serde(default)]
    pub max_restart_share: Option<S<f64>>,
    #[serde(default)]
    pub max_scale_step: Option<S<u32>>,
    #[serde(default)]
    pub oscillation_window: Option<S<String>>,
    #[serde(default)]
    pub max_reversals: Option<S<u32>>,
    #[serde(default)]
    pub risk_weight: Option<S<f64>>,
    #[serde(default)]
    pub min_success_probability_irreversible: Option<S<f64>>,
    #[serde(default)]
    pub min_margin: Option<S<f64>>,
}
