//! The raw charter document and its validation.
//!
//! [`CharterConfig`] is the serde parse (unknown keys are errors, values keep their
//! source locations); [`validate`] turns it into a [`Charter`], collecting every
//! semantic error at once, each with `file:line:col`, the key path and a message.
//!
//! Structural errors (YAML syntax, an unknown key, a value of the wrong type) stop
//! the serde parse, so only the first of those is reported; once the document is
//! well-formed every remaining error is reported in one pass.

pub mod defaults;

use crate::action::ActionKind;
use crate::charter::*;
use crate::topology::Topology;
use crate::vocab::Severity;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

type S<T> = Spanned<T>;

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
        retries: Option<u32>,
        #[serde(default)]
        blind_after: Option<S<u32>>,
    },
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
    pub exploration: Option<crate::charter::Exploration>,
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
    pub zone: Option<String>,
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
}

/// One problem found in a charter, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationIssue {
    pub file: String,
    pub line: u64,
    pub column: u64,
    /// The key path, e.g. `components[2].depends_on[0]`.
    pub path: String,
    pub message: String,
    /// Warnings do not make a charter invalid unless `--deny-warnings`.
    pub warning: bool,
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = if self.warning { "warning: " } else { "" };
        write!(
            f,
            "{}:{}:{}: {level}{}: {}",
            self.file, self.line, self.column, self.path, self.message
        )
    }
}

/// Why a charter could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read charter {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", fmt_issues(.0))]
    Invalid(Vec<ValidationIssue>),
}

fn fmt_issues(issues: &[ValidationIssue]) -> String {
    let errors = issues.iter().filter(|i| !i.warning).count();
    let mut s = format!("charter is invalid ({errors} error(s))");
    for i in issues {
        s.push_str("\n  ");
        s.push_str(&i.to_string());
    }
    s
}

/// Read and validate a charter file. Returns the charter and its warnings.
pub fn load_charter(path: &Path) -> Result<(Charter, Vec<ValidationIssue>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse_charter(&text, &path.display().to_string(), base)
}

/// Parse and validate charter text. `file` names it in messages; relative paths in
/// the charter are resolved against `base`.
pub fn parse_charter(
    text: &str,
    file: &str,
    base: &Path,
) -> Result<(Charter, Vec<ValidationIssue>), ConfigError> {
    let raw: CharterConfig = serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        ConfigError::Invalid(vec![ValidationIssue {
            file: file.to_string(),
            line: line.max(1),
            column: column.max(1),
            path: "(document)".into(),
            message: structural_message(&e),
            warning: false,
        }])
    })?;
    validate(raw, file, base)
}

/// serde-saphyr's message without its snippet or trailing location, since we print
/// the location ourselves.
fn structural_message(e: &serde_saphyr::Error) -> String {
    let full = e.without_snippet().to_string();
    let first = full.lines().next().unwrap_or("invalid document").trim();
    let cut = first.find(" at line ").map_or(first, |i| &first[..i]);
    cut.trim_end_matches('.').to_string()
}

struct Issues<'a> {
    file: &'a str,
    list: Vec<ValidationIssue>,
}

impl Issues<'_> {
    fn at<T>(&mut self, span: &S<T>, path: impl Into<String>, message: impl Into<String>) {
        self.push(span, path, message, false);
    }

    fn warn<T>(&mut self, span: &S<T>, path: impl Into<String>, message: impl Into<String>) {
        self.push(span, path, message, true);
    }

    fn push<T>(
        &mut self,
        span: &S<T>,
        path: impl Into<String>,
        message: impl Into<String>,
        warning: bool,
    ) {
        self.list.push(ValidationIssue {
            file: self.file.to_string(),
            line: span.referenced.line().max(1),
            column: span.referenced.column().max(1),
            path: path.into(),
            message: message.into(),
            warning,
        });
    }

    fn duration(&mut self, v: &Option<S<String>>, path: &str, default: Duration) -> Duration {
        let Some(s) = v else { return default };
        match humantime::parse_duration(s.value.trim()) {
            Ok(d) => d,
            Err(e) => {
                self.at(
                    s,
                    path,
                    format!(
                        "invalid duration `{}`: {e} (write e.g. 30s, 5m, 1h)",
                        s.value
                    ),
                );
                default
            }
        }
    }
}

/// Validate a parsed charter, collecting every error.
pub fn validate(
    raw: CharterConfig,
    file: &str,
    base: &Path,
) -> Result<(Charter, Vec<ValidationIssue>), ConfigError> {
    let mut is = Issues {
        file,
        list: Vec::new(),
    };

    if raw.name.value.trim().is_empty() {
        is.at(&raw.name, "name", "must not be empty");
    }
    let interval = is.duration(&raw.interval, "interval", defaults::INTERVAL);
    if let Some(iv) = &raw.interval
        && interval.is_zero()
    {
        is.at(iv, "interval", "must be greater than zero");
    }

    let source = match &raw.source {
        None => SourceSpec::Simulator {
            scenario: None,
            seed: None,
        },
        Some(s) => match &s.value {
            SourceConfig::Simulator { scenario, seed } => SourceSpec::Simulator {
                scenario: scenario.as_ref().map(|p| base.join(p)),
                seed: *seed,
            },
            SourceConfig::Prometheus {
                url,
                timeout,
                headers,
                bearer_token_file,
                max_in_flight,
                retries,
                blind_after,
            } => {
                if !(url.value.starts_with("http://") || url.value.starts_with("https://")) {
                    is.at(
                        url,
                        "source.prometheus.url",
                        "must start with http:// or https://",
                    );
                }
                if let Some(m) = max_in_flight
                    && m.value == 0
                {
                    is.at(m, "source.prometheus.max_in_flight", "must be at least 1");
                }
                if let Some(b) = blind_after
                    && b.value == 0
                {
                    is.at(b, "source.prometheus.blind_after", "must be at least 1");
                }
                let timeout = is.duration(
                    timeout,
                    "source.prometheus.timeout",
                    defaults::PROMETHEUS_TIMEOUT,
                );
                SourceSpec::Prometheus(PrometheusSpec {
                    url: url.value.trim_end_matches('/').to_string(),
                    timeout,
                    headers: headers.clone(),
                    bearer_token_file: bearer_token_file.as_ref().map(|p| base.join(p)),
                    max_in_flight: max_in_flight
                        .as_ref()
                        .map_or(defaults::PROMETHEUS_MAX_IN_FLIGHT, |m| m.value),
                    retries: retries.unwrap_or(defaults::PROMETHEUS_RETRIES),
                    blind_after: blind_after
                        .as_ref()
                        .map_or(defaults::BLIND_AFTER, |b| b.value),
                })
            }
        },
    };

    let alerts = raw.alerts.as_ref().map(|a| {
        let none = a.value.auth.as_ref().is_some_and(|x| x.value == "none");
        if let Some(x) = &a.value.auth
            && x.value != "none"
            && x.value != "token"
        {
            is.at(x, "alerts.auth", "must be `token` (the default) or `none`");
        }
        if !none && a.value.token_file.is_none() {
            is.at(
                a,
                "alerts",
                "needs `token_file` (or `auth: none` for loopback use without a token)",
            );
        }
        AlertsSpec {
            token_file: if none {
                None
            } else {
                a.value.token_file.as_ref().map(|p| base.join(&p.value))
            },
            objective_label: a
                .value
                .objective_label
                .clone()
                .unwrap_or_else(|| defaults::OBJECTIVE_LABEL.into()),
            component_label: a
                .value
                .component_label
                .clone()
                .unwrap_or_else(|| defaults::COMPONENT_LABEL.into()),
            max_body_bytes: a
                .value
                .max_body_bytes
                .unwrap_or(defaults::ALERTS_MAX_BODY_BYTES),
        }
    });

    let api = raw.api.as_ref().and_then(|a| match &a.value.token_file {
        Some(f) if !f.value.trim().is_empty() => Some(ApiSpec {
            token_file: base.join(&f.value),
        }),
        Some(f) => {
            is.at(f, "api.token_file", "must name a file");
            None
        }
        None => {
            is.at(
                a,
                "api",
                "needs `token_file` (the API never runs its mutating endpoints without a token)",
            );
            None
        }
    });

    let knowledge = raw
        .knowledge
        .as_ref()
        .and_then(|k| check_knowledge_store(&mut is, base, k));
    let learning = raw
        .knowledge
        .as_ref()
        .and_then(|k| k.learning.as_ref())
        .map(|l| check_learning(&mut is, l))
        .unwrap_or_default();
    let mut retention = defaults::RETENTION;
    if let Some(r) = raw.knowledge.as_ref().and_then(|k| k.retention.as_ref()) {
        retention = is.duration(&Some(r.clone()), "knowledge.retention", retention);
        if retention < defaults::MIN_RETENTION {
            is.at(
                r,
                "knowledge.retention",
                "must be at least 1d (guardrails look back an hour and more; incidents need their evidence)",
            );
        }
    }

    let lease = raw
        .knowledge
        .as_ref()
        .and_then(|k| k.lease.as_ref())
        .map(|l| check_lease(&mut is, l))
        .unwrap_or_default();

    let actuators: BTreeMap<String, ActuatorSpec> = raw
        .actuators
        .iter()
        .map(|(name, a)| {
            let spec = match &a.value {
                ActuatorConfig::Simulator {} => ActuatorSpec::Simulator,
                ActuatorConfig::Http {
                    url,
                    token_file,
                    timeout,
                } => {
                    let p = format!("actuators.{name}.http");
                    if !(url.value.starts_with("http://") || url.value.starts_with("https://")) {
                        is.at(
                            url,
                            format!("{p}.url"),
                            "must start with http:// or https://",
                        );
                    }
                    ActuatorSpec::Http {
                        url: url.value.trim_end_matches('/').to_string(),
                        token_file: token_file.as_ref().map(|t| base.join(t)),
                        timeout: is.duration(
                            timeout,
                            &format!("{p}.timeout"),
                            defaults::HTTP_TIMEOUT,
                        ),
                    }
                }
                ActuatorConfig::Command(c) => {
                    ActuatorSpec::Command(command_spec(&mut is, name, a, c, &raw.actions))
                }
                ActuatorConfig::Kubernetes(k) => ActuatorSpec::Kubernetes(kubernetes_spec(
                    &mut is,
                    name,
                    k,
                    &raw.components,
                    base,
                )),
            };
            (name.clone(), spec)
        })
        .collect();

    // Components: names, duplicates, dependencies, actuators, replica limits.
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, c) in raw.components.iter().enumerate() {
        let p = format!("components[{i}]");
        if c.name.value.trim().is_empty() {
            is.at(&c.name, format!("{p}.name"), "must not be empty");
        } else if let Some(first) = seen.insert(c.name.value.as_str(), i) {
            is.at(
                &c.name,
                format!("{p}.name"),
                format!(
                    "duplicate component `{}` (first declared at components[{first}])",
                    c.name.value
                ),
            );
        }
    }
    for (i, c) in raw.components.iter().enumerate() {
        let p = format!("components[{i}]");
        for (j, d) in c.depends_on.iter().enumerate() {
            if !seen.contains_key(d.value.as_str()) {
                is.at(
                    d,
                    format!("{p}.depends_on[{j}]"),
                    format!("unknown component `{}`", d.value),
                );
            } else if d.value == c.name.value {
                is.at(
                    d,
                    format!("{p}.depends_on[{j}]"),
                    "a component cannot depend on itself",
                );
            }
        }
        if let Some(a) = &c.actuator
            && !actuators.contains_key(&a.value)
        {
            is.at(
                a,
                format!("{p}.actuator"),
                format!(
                    "unknown actuator `{}` (declare it under `actuators:`)",
                    a.value
                ),
            );
        }
        if let Some(r) = &c.replicas
            && r.value.min > r.value.max
        {
            is.at(
                r,
                format!("{p}.replicas"),
                format!(
                    "min ({}) is greater than max ({})",
                    r.value.min, r.value.max
                ),
            );
        }
    }
    let components: Vec<Component> = raw
        .components
        .iter()
        .map(|c| Component {
            name: c.name.value.clone(),
            depends_on: c.depends_on.iter().map(|d| d.value.clone()).collect(),
            actuator: c.actuator.as_ref().map(|a| a.value.clone()),
            replicas: c.replicas.as_ref().map(|r| ReplicaLimits {
                min: r.value.min,
                max: r.value.max,
            }),
            zone: c.zone.clone(),
        })
        .collect();
    let topology = Topology::new(
        components
            .iter()
            .map(|c| (c.name.as_str(), c.depends_on.as_slice())),
    );
    if let Some(cycle) = topology.find_cycle() {
        let first = &cycle[0];
        if let Some((i, c)) = raw
            .components
            .iter()
            .enumerate()
            .find(|(_, c)| &c.name.value == first)
        {
            let mut path = cycle.clone();
            path.push(first.clone());
            is.at(
                &c.name,
                format!("components[{i}].depends_on"),
                format!("dependency cycle: {}", path.join(" -> ")),
            );
        }
    }

    // Actions.
    let mut actions: BTreeMap<ActionKind, ActionSpec> = ActionKind::ALL
        .into_iter()
        .map(|k| (k, ActionSpec::default_for(k)))
        .collect();
    for (name, a) in &raw.actions {
        let p = format!("actions.{name}");
        let kind = match name.parse::<ActionKind>() {
            Ok(k) => k,
            Err(e) => {
                is.at(a, &p, e.to_string());
                continue;
            }
        };
        let mut spec = ActionSpec::default_for(kind);
        let terms = [
            ("disruption", a.value.disruption),
            ("resource", a.value.resource),
            ("risk", a.value.risk),
        ];
        for (field, v) in terms.iter().chain([("cost", a.value.cost)].iter()) {
            if let Some(c) = v
                && !(c.is_finite() && *c >= 0.0)
            {
                is.at(a, format!("{p}.{field}"), "must be a finite number >= 0");
            }
        }
        let has_terms = terms.iter().any(|(_, v)| v.is_some());
        match (a.value.cost, has_terms) {
            (Some(_), true) => is.at(
                a,
                format!("{p}.cost"),
                "give either `cost` or `disruption`/`resource`/`risk`, not both (cost is their sum)",
            ),
            (Some(c), false) => spec = spec.with_total_cost(c),
            (None, true) => {
                spec.disruption = a.value.disruption.unwrap_or(0.0);
                spec.resource = a.value.resource.unwrap_or(0.0);
                spec.risk = a.value.risk.unwrap_or(0.0);
                spec.cost = spec.disruption + spec.resource + spec.risk;
            }
            (None, false) => {}
        }
        if let Some(s) = a.value.step {
            if s == 0 {
                is.at(a, format!("{p}.step"), "must be at least 1");
            }
            spec.step = s;
        }
        spec.time_to_effect = is.duration(
            &a.value.time_to_effect,
            &format!("{p}.time_to_effect"),
            spec.time_to_effect,
        );
        if let Some(ap) = a.value.approval {
            spec.approval = ap;
        }
        spec.params = a.value.params.clone();
        actions.insert(kind, spec);
    }

    // Objectives.
    let mut seen_obj: HashMap<&str, usize> = HashMap::new();
    let mut objectives = Vec::new();
    for (i, o) in raw.objectives.iter().enumerate() {
        let p = format!("objectives[{i}]");
        if o.name.value.trim().is_empty() {
            is.at(&o.name, format!("{p}.name"), "must not be empty");
        } else if let Some(first) = seen_obj.insert(o.name.value.as_str(), i) {
            is.at(
                &o.name,
                format!("{p}.name"),
                format!(
                    "duplicate objective `{}` (first declared at objectives[{first}])",
                    o.name.value
                ),
            );
        }
        let source = match (&o.metric, &o.expr) {
            (Some(m), None) => {
                if m.value.trim().is_empty() {
                    is.at(m, format!("{p}.metric"), "must name a metric");
                }
                ObjectiveSource::Metric {
                    name: m.value.clone(),
                    labels: o.labels.clone(),
                }
            }
            (None, Some(e)) => {
                if e.value.trim().is_empty() {
                    is.at(e, format!("{p}.expr"), "must not be empty");
                } else if let Err(msg) = promql_parser::parser::parse(&e.value) {
                    is.at(
                        e,
                        format!("{p}.expr"),
                        format!("invalid PromQL: {}", msg.trim()),
                    );
                }
                ObjectiveSource::Expr(e.value.clone())
            }
            (Some(m), Some(_)) => {
                is.at(m, &p, "give either `metric` or `expr`, not both");
                ObjectiveSource::Expr(String::new())
            }
            (None, None) => {
                is.at(&o.name, &p, "needs `metric` or `expr`");
                ObjectiveSource::Expr(String::new())
            }
        };
        let (direction, th) = match (&o.above, &o.below) {
            (Some(t), None) => (Direction::Above, Some(t)),
            (None, Some(t)) => (Direction::Below, Some(t)),
            (Some(t), Some(_)) => {
                is.at(t, &p, "give either `above` or `below`, not both");
                (Direction::Above, None)
            }
            (None, None) => {
                is.at(
                    &o.name,
                    &p,
                    "needs thresholds: `above: {warning, critical, clear}` or `below: {...}`",
                );
                (Direction::Above, None)
            }
        };
        let thresholds = th.map(|t| check_thresholds(&mut is, t, direction, &p));
        for (j, c) in o.components.iter().enumerate() {
            if !seen.contains_key(c.value.as_str()) {
                is.at(
                    c,
                    format!("{p}.components[{j}]"),
                    format!("unknown component `{}`", c.value),
                );
            }
        }
        let mut remedies = Vec::new();
        for (j, r) in o.remedies.iter().enumerate() {
            match r.value.parse::<ActionKind>() {
                Ok(k) if remedies.contains(&k) => {
                    is.warn(
                        r,
                        format!("{p}.remedies[{j}]"),
                        format!("`{k}` is listed twice"),
                    );
                }
                Ok(k) => remedies.push(k),
                Err(e) => is.at(r, format!("{p}.remedies[{j}]"), e.to_string()),
            }
        }
        if o.remedies.is_empty() {
            is.warn(
                &o.name,
                format!("{p}.remedies"),
                "no remedies: violations will be reported, never acted on",
            );
        }
        let for_ = is.duration(&o.for_, &format!("{p}.for"), defaults::OBJECTIVE_FOR);
        let keep_firing_for = is.duration(
            &o.keep_firing_for,
            &format!("{p}.keep_firing_for"),
            defaults::OBJECTIVE_KEEP_FIRING_FOR,
        );
        if let Some(thresholds) = thresholds {
            objectives.push(Objective {
                name: o.name.value.clone(),
                source,
                component_label: o
                    .component_label
                    .clone()
                    .unwrap_or_else(|| defaults::COMPONENT_LABEL.into()),
                components: if o.components.is_empty() {
                    components.iter().map(|c| c.name.clone()).collect()
                } else {
                    o.components.iter().map(|c| c.value.clone()).collect()
                },
                signal: o.signal.unwrap_or_default(),
                direction,
                thresholds,
                for_,
                keep_firing_for,
                remedies,
            });
        }
    }

    let mut guardrails = Guardrails::default();
    if let Some(g) = &raw.guardrails {
        if let Some(v) = g.max_actions_per_hour {
            guardrails.max_actions_per_hour = v;
        }
        if let Some(v) = g.max_concurrent {
            guardrails.max_concurrent = v;
        }
        if let Some(v) = g.auto_approve_max_cost {
            guardrails.auto_approve_max_cost = v;
        }
        if let Some(v) = g.max_attempts_per_incident {
            guardrails.max_attempts_per_incident = v;
        }
        if let Some(kinds) = &g.auto_approve_kinds {
            let mut list = Vec::new();
            for (i, k) in kinds.iter().enumerate() {
                match k.value.parse::<ActionKind>() {
                    Ok(kind) => list.push(kind),
                    Err(e) => is.at(
                        k,
                        format!("guardrails.auto_approve_kinds[{i}]"),
                        e.to_string(),
                    ),
                }
            }
            guardrails.auto_approve_kinds = Some(list);
        }
        if let Some(v) = g.auto_approve_max_severity {
            guardrails.auto_approve_max_severity = v;
        }
        if let Some(sp) = &g.max_restart_share {
            let v = sp.value;
            if !(v > 0.0 && v <= 1.0) {
                is.at(
                    sp,
                    "guardrails.max_restart_share",
                    "must be a share in (0, 1] (0.5: at most half the replicas at once)",
                );
            }
            guardrails.max_restart_share = v;
        }
        if let Some(sp) = &g.max_scale_step {
            let v = sp.value;
            if v == 0 {
                is.at(sp, "guardrails.max_scale_step", "must be at least 1");
            }
            guardrails.max_scale_step = v;
        }
        if let Some(sp) = &g.max_reversals {
            let v = sp.value;
            if v == 0 {
                is.at(sp, "guardrails.max_reversals", "must be at least 1");
            }
            guardrails.max_reversals = v;
        }
        if let Some(sp) = &g.risk_weight {
            let v = sp.value;
            if !(v.is_finite() && v >= 0.0) {
                is.at(sp, "guardrails.risk_weight", "must be a finite number >= 0");
            }
            guardrails.risk_weight = v;
        }
        guardrails.oscillation_window = is.duration(
            &g.oscillation_window,
            "guardrails.oscillation_window",
            guardrails.oscillation_window,
        );
        guardrails.cooldown = is.duration(&g.cooldown, "guardrails.cooldown", guardrails.cooldown);
        guardrails.approval_timeout = is.duration(
            &g.approval_timeout,
            "guardrails.approval_timeout",
            guardrails.approval_timeout,
        );
    }

    let mut list = is.list;
    list.sort_by_key(|i| (i.line, i.column));
    if list.iter().any(|i| !i.warning) {
        return Err(ConfigError::Invalid(list));
    }
    let charter = Charter {
        name: raw.name.value,
        interval,
        mode: raw.mode.map(|m| m.value).unwrap_or_default(),
        source,
        alerts,
        api,
        knowledge,
        learning,
        retention,
        lease,
        actuators,
        components,
        objectives,
        actions,
        guardrails,
        topology,
    };
    Ok((charter, list))
}

/// `knowledge.sqlite` or `knowledge.postgres` (at most one); `None` when neither is
/// given (a `knowledge:` block with only learning settings).
fn check_knowledge_store(
    is: &mut Issues<'_>,
    base: &Path,
    k: &KnowledgeConfig,
) -> Option<KnowledgeSpec> {
    match (&k.sqlite, &k.postgres) {
        (Some(_), Some(pg)) => {
            is.at(
                pg,
                "knowledge.postgres",
                "`sqlite` and `postgres` are exclusive: keep knowledge in one store",
            );
            None
        }
        (Some(file), None) => {
            if file.value.trim().is_empty() {
                is.at(file, "knowledge.sqlite", "must name a database file");
            }
            Some(KnowledgeSpec::Sqlite {
                path: base.join(&file.value),
            })
        }
        (None, Some(pg)) => {
            let url = match (&pg.value.url, &pg.value.url_file) {
                (Some(url), None) => {
                    let u = url.value.trim();
                    if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) {
                        is.at(
                            url,
                            "knowledge.postgres.url",
                            "must be a postgres:// URL (postgres://user@host:port/database)",
                        );
                    } else if url_has_password(u) {
                        is.warn(
                            url,
                            "knowledge.postgres.url",
                            "holds a password; put the URL in a file named by `url_file` instead",
                        );
                    }
                    PostgresUrl::Inline(u.to_string())
                }
                (None, Some(file)) => {
                    if file.value.trim().is_empty() {
                        is.at(file, "knowledge.postgres.url_file", "must name a file");
                    }
                    PostgresUrl::File(base.join(&file.value))
                }
                (Some(_), Some(file)) => {
                    is.at(
                        file,
                        "knowledge.postgres",
                        "give either `url` or `url_file`, not both",
                    );
                    return None;
                }
                (None, None) => {
                    is.at(
                        pg,
                        "knowledge.postgres",
                        "needs `url` or `url_file` (a file holding the connection URL)",
                    );
                    return None;
                }
            };
            Some(KnowledgeSpec::Postgres { url })
        }
        (None, None) => None,
    }
}

/// Whether a connection URL carries a password (`user:password@`).
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// Validate `knowledge.learning:`.
/// `knowledge.lease`: the renewal must leave room for at least one retry before the
/// lease can expire, so `renew` is at most half of `ttl`.
fn check_lease(is: &mut Issues<'_>, l: &LeaseConfig) -> crate::charter::LeaseSpec {
    let default = crate::charter::LeaseSpec::default();
    let ttl = is.duration(&l.ttl, "knowledge.lease.ttl", default.ttl);
    let renew = is.duration(&l.renew, "knowledge.lease.renew", default.renew);
    if let Some(t) = &l.ttl
        && ttl < defaults::MIN_LEASE_TTL
    {
        is.at(t, "knowledge.lease.ttl", "must be at least 500ms");
        return default;
    }
    if renew.is_zero() || renew.saturating_mul(2) > ttl {
        let why = format!(
            "must be longer than zero and at most half of the ttl ({}): a leader must be \
             able to miss one renewal without losing its lease",
            humantime::format_duration(ttl)
        );
        match (&l.renew, &l.ttl) {
            (Some(r), _) => is.at(r, "knowledge.lease.renew", why),
            (None, Some(t)) => is.at(t, "knowledge.lease.ttl", why),
            (None, None) => {}
        }
        return default;
    }
    crate::charter::LeaseSpec { ttl, renew }
}

fn check_learning(is: &mut Issues<'_>, l: &LearningConfig) -> crate::charter::Learning {
    let mut out = crate::charter::Learning::default();
    out.half_life = is.duration(&l.half_life, "knowledge.learning.half_life", out.half_life);
    if let Some(h) = &l.half_life
        && out.half_life.is_zero()
    {
        is.at(
            h,
            "knowledge.learning.half_life",
            "must be longer than zero",
        );
        out.half_life = crate::charter::Learning::default().half_life;
    }
    if let Some(e) = l.exploration {
        out.exploration = e;
    }
    if let Some(seed) = l.seed {
        out.seed = seed;
    }
    if let Some(c) = &l.credit {
        let slots = [
            (&c.resolved, "resolved", &mut out.credit.resolved),
            (&c.improved, "improved", &mut out.credit.improved),
            (&c.no_effect, "no_effect", &mut out.credit.no_effect),
            (&c.worsened, "worsened", &mut out.credit.worsened),
            (&c.failed, "failed", &mut out.credit.failed),
        ];
        for (v, name, slot) in slots {
            let Some(v) = v else { continue };
            if (0.0..=1.0).contains(&v.value) {
                *slot = v.value;
            } else {
                is.at(
                    v,
                    format!("knowledge.learning.credit.{name}"),
                    "must be between 0 and 1 (the share of a success the class counts as)",
                );
            }
        }
    }
    out
}

fn check_thresholds(
    is: &mut Issues<'_>,
    t: &S<ThresholdsConfig>,
    dir: Direction,
    p: &str,
) -> Thresholds {
    let side = if dir == Direction::Above {
        "above"
    } else {
        "below"
    };
    let p = format!("{p}.{side}");
    let v = &t.value;
    for (name, x) in [
        ("warning", v.warning),
        ("critical", v.critical),
        ("clear", v.clear),
    ] {
        if let Some(x) = x
            && !x.is_finite()
        {
            is.at(t, format!("{p}.{name}"), "must be a finite number");
        }
    }
    if v.warning.is_none() && v.critical.is_none() {
        is.at(t, &p, "needs a `warning` or a `critical` threshold");
    }
    // "Worse" means higher for `above`, lower for `below`.
    let worse = |a: f64, b: f64| {
        if dir == Direction::Above {
            a > b
        } else {
            a < b
        }
    };
    if let (Some(w), Some(c)) = (v.warning, v.critical)
        && !worse(c, w)
    {
        let want = if dir == Direction::Above {
            "greater"
        } else {
            "less"
        };
        is.at(
            t,
            &p,
            format!("critical ({c}) must be {want} than warning ({w}) for `{side}`"),
        );
    }
    let first = v.warning.or(v.critical).unwrap_or(0.0);
    let clear = v.clear.unwrap_or(first);
    if v.clear.is_some() && worse(clear, first) {
        let want = if dir == Direction::Above {
            "at most"
        } else {
            "at least"
        };
        is.at(
            t,
            format!("{p}.clear"),
            format!("clear ({clear}) must be {want} the first threshold ({first}) for `{side}`"),
        );
    }
    Thresholds {
        warning: v.warning,
        critical: v.critical,
        clear,
    }
}

/// Validate `actuators.NAME.command`.
fn command_spec(
    is: &mut Issues<'_>,
    name: &str,
    span: &S<ActuatorConfig>,
    c: &CommandConfig,
    action_configs: &BTreeMap<String, S<ActionConfig>>,
) -> CommandSpec {
    let p = format!("actuators.{name}.command");
    let timeout = is.duration(
        &c.timeout,
        &format!("{p}.timeout"),
        defaults::COMMAND_TIMEOUT,
    );
    if let Some(t) = &c.timeout
        && timeout.is_zero()
    {
        is.at(t, format!("{p}.timeout"), "must be positive");
    }
    let mut env = Vec::new();
    for v in &c.env {
        let ok = v
            .value
            .starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_')
            && v.value
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if !ok {
            is.at(
                v,
                format!("{p}.env"),
                format!("`{}` is not an environment variable name", v.value),
            );
        } else if v.value == "CHARTER_IDEMPOTENCY_KEY" {
            is.at(
                v,
                format!("{p}.env"),
                "`CHARTER_IDEMPOTENCY_KEY` is set by Charter for each invocation",
            );
        } else if !env.contains(&v.value) {
            env.push(v.value.clone());
        }
    }
    let mut actions = BTreeMap::new();
    for (kind_name, a) in &c.actions {
        let ap = format!("{p}.actions.{kind_name}");
        let kind = match kind_name.parse::<ActionKind>() {
            Ok(k) => k,
            Err(e) => {
                is.at(a, ap, e.to_string());
                continue;
            }
        };
        let charter_params: Vec<&str> = action_configs
            .get(kind_name)
            .map(|x| x.value.params.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let apply = command_argv(
            is,
            &format!("{ap}.apply"),
            &a.value.apply,
            kind,
            false,
            &charter_params,
        );
        let undo = a.value.undo.as_ref().map(|u| {
            if !kind.is_reversible() {
                is.at(
                    u,
                    format!("{ap}.undo"),
                    format!("`{kind}` cannot be undone; remove `undo`"),
                );
            }
            command_argv(is, &format!("{ap}.undo"), u, kind, true, &charter_params)
        });
        actions.insert(kind, ActionCommands { apply, undo });
    }
    if c.actions.is_empty() {
        is.at(
            span,
            format!("{p}.actions"),
            "must name a command for at least one action kind",
        );
    }
    CommandSpec {
        timeout,
        env,
        actions,
    }
}

/// Validate `actuators.NAME.kubernetes`: object names are Kubernetes names, mapped
/// components are declared, and every component bound to the actuator has a valid
/// Deployment name.
fn kubernetes_spec(
    is: &mut Issues<'_>,
    name: &str,
    k: &KubernetesConfig,
    components: &[ComponentConfig],
    base: &Path,
) -> KubernetesSpec {
    let p = format!("actuators.{name}.kubernetes");
    if !is_dns_label(&k.namespace.value) {
        is.at(
            &k.namespace,
            format!("{p}.namespace"),
            format!(
                "`{}` is not a namespace name (lowercase letters, digits and `-`, at most 63)",
                k.namespace.value
            ),
        );
    }
    if let Some(f) = &k.kubeconfig
        && f.value.trim().is_empty()
    {
        is.at(f, format!("{p}.kubeconfig"), "must name a file");
    }
    if let Some(c) = &k.context
        && c.value.trim().is_empty()
    {
        is.at(c, format!("{p}.context"), "must name a kubeconfig context");
    }
    let timeout = is.duration(
        &k.timeout,
        &format!("{p}.timeout"),
        defaults::KUBERNETES_TIMEOUT,
    );
    if let Some(t) = &k.timeout
        && timeout.is_zero()
    {
        is.at(t, format!("{p}.timeout"), "must be positive");
    }
    let mut names = |field: &str, map: &BTreeMap<String, S<String>>, what: &str| {
        let mut out = BTreeMap::new();
        for (component, object) in map {
            let fp = format!("{p}.{field}.{component}");
            if !components.iter().any(|c| c.name.value == *component) {
                is.at(
                    object,
                    &fp,
                    format!("unknown component `{component}` (declare it under `components:`)"),
                );
            }
            if !is_dns_subdomain(&object.value) {
                is.at(
                    object,
                    &fp,
                    format!(
                        "`{}` is not a {what} name (lowercase letters, digits, `-` and `.`, at most 253)",
                        object.value
                    ),
                );
            }
            out.insert(component.clone(), object.value.clone());
        }
        out
    };
    let deployments = names("deployments", &k.deployments, "Deployment");
    let configmaps = names("configmaps", &k.configmaps, "ConfigMap");
    for c in components {
        let bound = c.actuator.as_ref().is_some_and(|a| a.value == name);
        if bound && !deployments.contains_key(&c.name.value) && !is_dns_subdomain(&c.name.value) {
            is.at(
                &c.name,
                format!("{p}.deployments"),
                format!(
                    "component `{}` is not a valid Deployment name; map it to its Deployment under `{p}.deployments`",
                    c.name.value
                ),
            );
        }
    }
    KubernetesSpec {
        namespace: k.namespace.value.clone(),
        kubeconfig: k.kubeconfig.as_ref().map(|f| base.join(&f.value)),
        context: k.context.as_ref().map(|c| c.value.clone()),
        timeout,
        deployments,
        configmaps,
    }
}

/// A DNS-1123 label: what a namespace name must be.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain: what a Deployment or ConfigMap name must be.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Validate one argv list of a command actuator: a fixed absolute program path, then
/// arguments whose placeholders are all known for `kind`.
fn command_argv(
    is: &mut Issues<'_>,
    path: &str,
    argv: &S<Vec<S<String>>>,
    kind: ActionKind,
    undo: bool,
    charter_params: &[&str],
) -> Vec<ArgTemplate> {
    let Some(first) = argv.value.first() else {
        is.at(argv, path, "must name a program (an argv list such as [\"/usr/local/bin/restart-svc\", \"{component}\"])");
        return Vec::new();
    };
    if !Path::new(&first.value).is_absolute() || first.value.contains(['{', '}']) {
        is.at(
            first,
            path,
            format!(
                "the program `{}` must be a fixed absolute path (commands are argv lists run without a shell)",
                first.value
            ),
        );
    }
    let mut known: Vec<&str> = vec!["component", "action", "idempotency_key"];
    known.extend(command_params(kind, undo));
    // The inverse of an action carries only the parameters it sets.
    if !undo {
        known.extend(charter_params);
    }
    let mut out = Vec::new();
    for arg in &argv.value {
        match ArgTemplate::parse(&arg.value) {
            Ok(t) => {
                for name in t.placeholders() {
                    if !known.contains(&name) {
                        is.at(
                            arg,
                            path,
                            format!(
                                "unknown placeholder `{{{name}}}` for `{kind}`{} (known: {})",
                                if undo { " undo" } else { "" },
                                known
                                    .iter()
                                    .map(|k| format!("{{{k}}}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                    }
                }
                out.push(t);
            }
            Err(e) => is.at(arg, path, e),
        }
    }
    out
}

/// Resolve a path relative to a charter file's folder (absolute paths unchanged).
pub fn resolve_relative(charter_file: &Path, p: &str) -> PathBuf {
    charter_file.parent().unwrap_or(Path::new(".")).join(p)
}

#[cfg(test)]
mod tests;
