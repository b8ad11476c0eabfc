//! The validated charter: what the services must keep and what Charter may do.

use crate::action::ActionKind;
use crate::config::defaults;
use crate::topology::Topology;
use crate::vocab::Severity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How far automation may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Plans are recorded, never executed.
    Shadow,
    /// Every policy needs a human approval.
    Supervised,
    /// Guardrails decide what needs approval.
    #[default]
    Autonomous,
}

/// Where samples come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// The Westworld simulator, in process.
    Simulator {
        /// Scenario file; the built-in default scenario when absent.
        scenario: Option<PathBuf>,
        seed: Option<u64>,
    },
    /// A Prometheus-compatible HTTP API.
    Prometheus(PrometheusSpec),
}

/// How to reach a Prometheus-compatible HTTP API.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusSpec {
    /// Base URL, e.g. `http://127.0.0.1:9090` (no trailing `/api/v1`).
    pub url: String,
    /// Per-query timeout (also sent to the server as `timeout`, minus a margin).
    pub timeout: Duration,
    /// Extra request headers (e.g. a tenant id for Mimir / Thanos).
    pub headers: BTreeMap<String, String>,
    /// A file holding a bearer token, read at start.
    pub bearer_token_file: Option<PathBuf>,
    /// Queries in flight at once.
    pub max_in_flight: usize,
    /// Retries of a failed query within the cycle's budget.
    pub retries: u32,
    /// Consecutive failed cycles after which the monitor is blind.
    pub blind_after: u32,
    /// Queries that reveal deploys (`source.prometheus.changes`); `None`: the source
    /// reports no changes.
    pub changes: Option<ChangeQueries>,
}

/// How the Prometheus source sees deploys: a query per component whose value moves
/// with every deploy, and/or one whose version label names what runs. A value or
/// version that differs from the previous read is reported as a deploy.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeQueries {
    /// PromQL with one series per component whose value changes with every deploy (a
    /// revision counter, a build timestamp).
    pub revision: Option<String>,
    /// PromQL with one series per component whose `version_label` names the running
    /// version (an info metric); it gives a deploy its from/to versions.
    pub info: Option<String>,
    /// The label naming the component in both queries' results.
    pub component_label: String,
    /// The label of `info`'s series naming the version.
    pub version_label: String,
}

/// `changes:`: how the change events of deploy tools (`POST /api/v1/changes`) name
/// components.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEventsSpec {
    /// An Argo CD Application or a Flux object, as `namespace/name` or `name`, to the
    /// declared component it deploys.
    pub applications: BTreeMap<String, String>,
    /// Whether `charter run` lists and watches the Deployments and StatefulSets of
    /// every kubernetes actuator and records their rollouts as changes
    /// (`changes.watch_rollouts`, default true; a restart applies it).
    pub watch_rollouts: bool,
}

impl Default for ChangeEventsSpec {
    fn default() -> Self {
        ChangeEventsSpec {
            applications: BTreeMap::new(),
            watch_rollouts: true,
        }
    }
}

impl ChangeEventsSpec {
    /// The component a deploy tool's object deploys: `applications` by
    /// `namespace/name`, then by `name`; else the component of that very name.
    /// `None`: nothing maps it (`declared` says what is a component).
    pub fn component_of(
        &self,
        namespace: Option<&str>,
        name: &str,
        declared: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let qualified = namespace
            .filter(|ns| !ns.is_empty())
            .and_then(|ns| self.applications.get(&format!("{ns}/{name}")));
        qualified
            .or_else(|| self.applications.get(name))
            .cloned()
            .or_else(|| declared(name).then(|| name.to_string()))
    }
}

/// How Alertmanager webhooks are received and mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsSpec {
    /// Bearer token file, or `None` when the charter says `auth: none`.
    pub token_file: Option<PathBuf>,
    /// The alert label naming the objective (default `alertname`).
    pub objective_label: String,
    /// The alert label naming the component (default `service`).
    pub component_label: String,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// What a firing alert may do without the objective's query.
    pub trust: AlertTrust,
    /// A firing alert that Alertmanager has not re-sent for this long no longer counts
    /// (it re-sends every `repeat_interval`, 4h by default).
    pub expire_after: Duration,
    /// Stored alerts received longer ago than this are pruned.
    pub retention: Duration,
}

/// `alerts.trust`: how far an alert is believed. An alert is a claim, the objective's
/// query the measurement: a reading that contradicts the alert always ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertTrust {
    /// A firing alert opens or keeps a violation only once the query's next reading
    /// of the series agrees; while the query has no reading the alert waits.
    #[default]
    Confirm,
    /// While the query has no reading of the series (no data, or it never reports
    /// it), a firing alert opens a violation by itself until it resolves, expires or
    /// a reading contradicts it.
    Alone,
}

impl AlertTrust {
    /// The name the charter uses.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertTrust::Confirm => "confirm",
            AlertTrust::Alone => "alone",
        }
    }
}

/// `api:` — the REST API's mutating endpoints (approve, reject, pause, resume).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiSpec {
    /// The bearer token file callers must match; read when the daemon starts.
    pub token_file: PathBuf,
}

/// Where knowledge is kept.
#[derive(Debug, Clone, PartialEq)]
pub enum KnowledgeSpec {
    Sqlite {
        path: PathBuf,
    },
    /// A PostgreSQL database (`knowledge.postgres`), shared by replicas.
    Postgres {
        url: PostgresUrl,
    },
}

/// `knowledge.postgres`: the connection URL, or the file it is read from when the
/// daemon starts (so that a password need not be written in the charter).
#[derive(Debug, Clone, PartialEq)]
pub enum PostgresUrl {
    /// `url:` in the charter.
    Inline(String),
    /// `url_file:`, resolved against the charter's directory.
    File(PathBuf),
}

/// `knowledge.learning:` — how outcomes become P(success) (`docs/knowledge.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct Learning {
    /// Evidence loses half its weight in this time, so a changed system is re-learned.
    pub half_life: Duration,
    /// How the planner turns the posterior into P(success).
    pub exploration: Exploration,
    /// Seed of the Thompson draws: the same seed and history give the same decisions.
    pub seed: u64,
    /// The success credit of each outcome class, in [0, 1].
    pub credit: OutcomeCredit,
}

/// `knowledge.lease`: replicas sharing a store elect one leader with a lease of `ttl`
/// that it renews every `renew` (defaults 15 s and 5 s; `renew` ≤ `ttl` / 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseSpec {
    pub ttl: Duration,
    pub renew: Duration,
}

impl Default for LeaseSpec {
    fn default() -> Self {
        LeaseSpec {
            ttl: defaults::LEASE_TTL,
            renew: defaults::LEASE_RENEW,
        }
    }
}

impl LeaseSpec {
    /// How long before the lease's end a leader stops acting: one renewal period, so
    /// a leader that missed its last renewal stops while its lease still holds.
    pub fn margin(&self) -> Duration {
        self.renew
    }
}

/// Default of `knowledge.retention`.
pub use crate::config::defaults::RETENTION as DEFAULT_RETENTION;

impl Default for Learning {
    fn default() -> Self {
        Learning {
            half_life: defaults::HALF_LIFE,
            exploration: Exploration::None,
            seed: defaults::LEARNING_SEED,
            credit: OutcomeCredit::default(),
        }
    }
}

/// `knowledge.learning.exploration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exploration {
    /// P(success) is the posterior mean.
    #[default]
    None,
    /// P(success) is a draw from the posterior (Thompson sampling), within the guardrails.
    Thompson,
}

/// `knowledge.learning.credit`: how much of a success each outcome class counts as
/// (the rest counts as failure).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutcomeCredit {
    pub resolved: f64,
    pub improved: f64,
    pub no_effect: f64,
    pub worsened: f64,
    pub failed: f64,
}

impl Default for OutcomeCredit {
    fn default() -> Self {
        OutcomeCredit {
            resolved: defaults::CREDIT_RESOLVED,
            improved: defaults::CREDIT_IMPROVED,
            no_effect: defaults::CREDIT_NO_EFFECT,
            worsened: defaults::CREDIT_WORSENED,
            failed: defaults::CREDIT_FAILED,
        }
    }
}

impl OutcomeCredit {
    /// The success credit of one outcome class.
    pub fn of(&self, class: crate::vocab::OutcomeClass) -> f64 {
        use crate::vocab::OutcomeClass as C;
        match class {
            C::Resolved => self.resolved,
            C::Improved => self.improved,
            C::NoEffect => self.no_effect,
            C::Worsened => self.worsened,
            C::Failed => self.failed,
        }
    }
}

/// How a component is acted on.
#[derive(Debug, Clone, PartialEq)]
pub enum ActuatorSpec {
    /// The in-process simulator.
    Simulator,
    /// The Charter actuator API over HTTP (`docs/actuator-api.md`).
    Http {
        url: String,
        token_file: Option<PathBuf>,
        timeout: Duration,
    },
    /// Programs named in the charter, run directly (never through a shell).
    Command(CommandSpec),
    /// Deployments in one namespace, acted on through the Kubernetes API
    /// (`docs/kubernetes.md`).
    Kubernetes(KubernetesSpec),
}

/// `actuators.NAME.kubernetes`: the Deployments of one namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct KubernetesSpec {
    /// The namespace of every object the actuator reads or writes.
    pub namespace: String,
    /// A kubeconfig file; `None`: `KUBECONFIG`, `~/.kube/config`, or the in-cluster
    /// service account, in that order.
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context; `None`: its current context.
    pub context: Option<String>,
    /// Bound on each API request.
    pub timeout: Duration,
    /// Component → Deployment name, where they differ.
    pub deployments: BTreeMap<String, String>,
    /// Component → ConfigMap that `reconfigure` edits, where it is not
    /// `<deployment>-config`.
    pub configmaps: BTreeMap<String, String>,
}

impl KubernetesSpec {
    /// The Deployment behind `component` (its own name unless mapped).
    pub fn deployment<'a>(&'a self, component: &'a str) -> &'a str {
        self.deployments
            .get(component)
            .map_or(component, String::as_str)
    }

    /// The ConfigMap `reconfigure` edits for `component`.
    pub fn configmap(&self, component: &str) -> String {
        match self.configmaps.get(component) {
            Some(c) => c.clone(),
            None => format!("{}-config", self.deployment(component)),
        }
    }
}

/// The environment variable carrying an invocation's idempotency key to a command
/// actuator's program; Charter sets it, so `env` cannot pass it through.
pub const IDEMPOTENCY_KEY_VARIABLE: &str = "CHARTER_IDEMPOTENCY_KEY";

/// `actuators.NAME.command`: the programs run for each action kind.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandSpec {
    /// Bound on each invocation; the child is killed when it runs over.
    pub timeout: Duration,
    /// Variables passed through from Charter's own environment; nothing else is
    /// inherited.
    pub env: Vec<String>,
    /// The commands for each action kind this actuator can carry out.
    pub actions: BTreeMap<ActionKind, ActionCommands>,
}

/// The argv lists for one action kind.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionCommands {
    /// Run to apply the action; the first element is an absolute path.
    pub apply: Vec<ArgTemplate>,
    /// Run to undo it (for the inverse action); `None`: this actuator cannot undo it.
    pub undo: Option<Vec<ArgTemplate>>,
}

impl ActionCommands {
    /// The argv to run, `undo` or `apply`.
    pub fn argv(&self, undo: bool) -> Option<&[ArgTemplate]> {
        if undo {
            self.undo.as_deref()
        } else {
            Some(&self.apply)
        }
    }
}

/// The placeholders a command of `kind` may use besides `{component}`, `{action}`,
/// `{idempotency_key}` and the `actions.KIND.params` of the charter: the parameters
/// the planner sets on the action (`undo == false`) or that [`crate::Action::inverse`]
/// sets on the inverse (`undo == true`).
pub fn command_params(kind: ActionKind, undo: bool) -> &'static [&'static str] {
    use ActionKind::*;
    match (kind, undo) {
        (ScaleOut | ScaleIn, false) => &["step"],
        (ScaleOut | ScaleIn, true) => &["to_replicas"],
        (Rollback, true) => &["to_version"],
        (Throttle, _) => &["rate"],
        (CircuitBreak, false) => &["dependency"],
        (CircuitBreak, true) => &["dependency", "state"],
        (Failover, true) => &["to_zone"],
        (Reconfigure, _) => &["key", "value"],
        (Restart, false) => &["max_unavailable"],
        (Rollback | Failover | Restart | FlushCache, _) => &[],
    }
}

/// One argv element: literal text and `{name}` placeholders (`{{` and `}}` are
/// literal braces).
///
/// A placeholder fills part or all of its element and never splits into several
/// arguments: the filled element is passed to the program as one argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgTemplate(Vec<ArgPiece>);

/// A piece of an [`ArgTemplate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgPiece {
    Text(String),
    Placeholder(String),
}

impl ArgTemplate {
    /// Parse `text`; a placeholder name is ASCII letters, digits and `_`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.contains('\0') {
            return Err("must not contain a NUL character".into());
        }
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) if c.is_ascii_alphanumeric() || c == '_' => name.push(c),
                            _ => {
                                return Err(format!(
                                    "`{text}`: a placeholder is `{{name}}` with letters, digits and `_` (write `{{{{` for a literal brace)"
                                ));
                            }
                        }
                    }
                    if name.is_empty() {
                        return Err(format!("`{text}`: empty placeholder `{{}}`"));
                    }
                    if !lit.is_empty() {
                        pieces.push(ArgPiece::Text(std::mem::take(&mut lit)));
                    }
                    pieces.push(ArgPiece::Placeholder(name));
                }
                '}' => {
                    return Err(format!(
                        "`{text}`: unmatched `}}` (write `}}}}` for a literal brace)"
                    ));
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() || pieces.is_empty() {
            pieces.push(ArgPiece::Text(lit));
        }
        Ok(ArgTemplate(pieces))
    }

    /// The placeholder names, in order.
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            ArgPiece::Placeholder(n) => Some(n.as_str()),
            ArgPiece::Text(_) => None,
        })
    }

    /// The element with every placeholder replaced by `value(name)`, verbatim;
    /// `Err(name)` for the first placeholder without a value.
    pub fn fill<'v>(&self, value: impl Fn(&str) -> Option<&'v str>) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                ArgPiece::Text(t) => out.push_str(t),
                ArgPiece::Placeholder(n) => out.push_str(value(n).ok_or_else(|| n.clone())?),
            }
        }
        Ok(out)
    }

    /// The literal text when there is no placeholder.
    pub fn as_literal(&self) -> Option<&str> {
        match self.0.as_slice() {
            [ArgPiece::Text(t)] => Some(t),
            _ => None,
        }
    }
}

/// Replica limits of a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaLimits {
    pub min: u32,
    pub max: u32,
}

/// A managed unit: a service, deployment, database or queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub name: String,
    pub depends_on: Vec<String>,
    pub actuator: Option<String>,
    pub replicas: Option<ReplicaLimits>,
    /// The zone it runs in: components of one zone share a common-cause hypothesis.
    pub zone: Option<String>,
    /// The node (host, machine) it runs on: components of one node share a
    /// common-cause hypothesis.
    pub node: Option<String>,
}

/// Which way an objective is violated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Violated when the value rises above the thresholds (latency, errors).
    Above,
    /// Violated when the value falls below the thresholds (availability, hit ratio).
    Below,
}

impl Direction {
    /// True if `value` is on the bad side of `threshold`.
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Direction::Above => value > threshold,
            Direction::Below => value < threshold,
        }
    }

    /// How far `value` is past `threshold`, relative to the threshold's size
    /// (positive = worse). Used for severity-weighted comparisons across units.
    pub fn excess(self, value: f64, threshold: f64) -> f64 {
        let scale = threshold.abs().max(1e-9);
        match self {
            Direction::Above => (value - threshold) / scale,
            Direction::Below => (threshold - value) / scale,
        }
    }
}

/// What an objective measures; Analyze uses it to name a cause class.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, PartialOrd, Ord,
)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    Latency,
    Errors,
    Saturation,
    Utilization,
    Memory,
    Availability,
    Cache,
    Pool,
    Traffic,
    Cost,
    #[default]
    Other,
    /// Network traffic or delay of the component itself (bytes sent and received,
    /// round-trip time): what a network fault moves.
    Network,
    /// Disk or syscall reads and writes of the component itself.
    Io,
}

/// Warning / critical thresholds with a clear threshold for hysteresis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    /// A firing violation resolves only once the value is back past this.
    pub clear: f64,
}

/// How an objective's samples are obtained.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectiveSource {
    /// A metric name and label matchers (turned into PromQL for Prometheus).
    Metric {
        name: String,
        labels: BTreeMap<String, String>,
    },
    /// Any PromQL expression.
    Expr(String),
    /// An instant-vector expression (usually a selector) whose absence is the
    /// violation: the objective reads 1 for a component none of whose series the
    /// expression returns, 0 for one it returns. A failed query stays Unknown, so
    /// a blind monitor is never mistaken for absent data.
    Absent(String),
}

/// A measurement per component that must stay within thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    pub name: String,
    pub source: ObjectiveSource,
    /// The label whose value names the component of a series.
    pub component_label: String,
    /// The components this objective applies to (all when the charter lists none).
    pub components: Vec<String>,
    pub signal: Signal,
    pub direction: Direction,
    pub thresholds: Thresholds,
    /// How long a breach must last before it fires.
    pub for_: Duration,
    /// How long a firing violation keeps firing after the value is back past `clear`,
    /// against flapping.
    pub keep_firing_for: Duration,
    /// Action kinds that plausibly fix a violation, in the user's order of preference.
    pub remedies: Vec<ActionKind>,
}

/// Whether an action kind may run without a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// Guardrails decide.
    #[default]
    Auto,
    /// Always ask a human.
    Required,
}

/// What an action kind costs and how it behaves, from the charter.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionSpec {
    /// Disruption + resource + risk, in one unit chosen by the user (a severity-weighted
    /// violation removed is worth 10).
    pub cost: f64,
    /// What users feel while it runs (dropped requests, cold caches).
    pub disruption: f64,
    /// What it costs to run (replicas, standby capacity).
    pub resource: f64,
    /// How likely and how bad a side effect is; weighted by `guardrails.risk_weight`.
    pub risk: f64,
    /// Replicas per scale step.
    pub step: u32,
    /// When to verify after the action.
    pub time_to_effect: Duration,
    pub approval: Approval,
    /// Default parameters passed to the actuator (e.g. `rate` for throttle).
    pub params: BTreeMap<String, String>,
    /// Keep the action in place when it had no effect (`on_no_effect: keep`), for an
    /// action the next attempt builds on; by default what did not help is undone.
    pub keep_on_no_effect: bool,
}

impl ActionSpec {
    /// Set the total cost, keeping the catalogue's split into disruption, resource
    /// and risk (a charter that gives only `cost`).
    pub fn with_total_cost(mut self, cost: f64) -> Self {
        let total = self.disruption + self.resource + self.risk;
        let f = if total > 0.0 { cost / total } else { 0.0 };
        if total > 0.0 {
            self.disruption *= f;
            self.resource *= f;
            self.risk *= f;
        } else {
            self.disruption = cost;
        }
        self.cost = cost;
        self
    }

    /// The cost the planner subtracts: disruption + resource + `risk_weight` × risk.
    pub fn weighted_cost(&self, risk_weight: f64) -> f64 {
        self.disruption + self.resource + risk_weight * self.risk
    }

    /// The catalogue default for a kind, used when the charter does not configure it.
    pub fn default_for(kind: ActionKind) -> Self {
        defaults::action(kind)
    }
}

/// Limits that automation must respect.
#[derive(Debug, Clone, PartialEq)]
pub struct Guardrails {
    pub max_actions_per_hour: u32,
    /// No new action on a component for this long after its last one.
    pub cooldown: Duration,
    pub max_concurrent: u32,
    /// Policies costing more than this need approval.
    pub auto_approve_max_cost: f64,
    pub approval_timeout: Duration,
    /// Policies tried per incident before it is escalated.
    pub max_attempts_per_incident: u32,
    /// Startup recovery compensates even while the monitor cannot read (default:
    /// it waits for the first good read, so that nothing is undone blind).
    pub recover_while_blind: bool,
    /// Only these kinds may be auto-approved (`None`: any kind whose action spec does
    /// not require approval).
    pub auto_approve_kinds: Option<Vec<ActionKind>>,
    /// Policies for incidents more severe than this need approval.
    pub auto_approve_max_severity: Severity,
    /// Blast radius: the largest share of a component's replicas restarted at once.
    pub max_restart_share: f64,
    /// Blast radius: the most replicas added or removed by one action.
    pub max_scale_step: u32,
    /// Oscillation: opposite actions (scale_out/scale_in, failover and fail back) on
    /// one component within this window are counted ...
    pub oscillation_window: Duration,
    /// ... and this many reversals stop automation there and escalate.
    pub max_reversals: u32,
    /// How much risk weighs against disruption and resource cost.
    pub risk_weight: f64,
    /// The floor for acting: no policy with an irreversible step is chosen when the
    /// estimated probability of success is below this.
    pub min_success_probability_irreversible: f64,
    /// The floor for acting: a policy's expected benefit must exceed its cost by at
    /// least this much.
    pub min_margin: f64,
}

impl Default for Guardrails {
    fn default() -> Self {
        Guardrails {
            max_actions_per_hour: defaults::MAX_ACTIONS_PER_HOUR,
            cooldown: defaults::COOLDOWN,
            max_concurrent: defaults::MAX_CONCURRENT,
            auto_approve_max_cost: defaults::AUTO_APPROVE_MAX_COST,
            approval_timeout: defaults::APPROVAL_TIMEOUT,
            max_attempts_per_incident: defaults::MAX_ATTEMPTS_PER_INCIDENT,
            recover_while_blind: false,
            auto_approve_kinds: None,
            auto_approve_max_severity: defaults::AUTO_APPROVE_MAX_SEVERITY,
            max_restart_share: defaults::MAX_RESTART_SHARE,
            max_scale_step: defaults::MAX_SCALE_STEP,
            oscillation_window: defaults::OSCILLATION_WINDOW,
            max_reversals: defaults::MAX_REVERSALS,
            risk_weight: defaults::RISK_WEIGHT,
            min_success_probability_irreversible: defaults::MIN_SUCCESS_PROBABILITY_IRREVERSIBLE,
            min_margin: defaults::MIN_MARGIN,
        }
    }
}

/// A validated charter.
#[derive(Debug, Clone)]
pub struct Charter {
    pub name: String,
    pub interval: Duration,
    pub mode: Mode,
    pub source: SourceSpec,
    /// Alertmanager webhook settings; `None` when the charter has no `alerts:` block.
    pub alerts: Option<AlertsSpec>,
    /// How change events name components (`changes:`); empty when absent.
    pub changes: ChangeEventsSpec,
    /// REST API settings; `None` when the charter has no `api:` block.
    pub api: Option<ApiSpec>,
    pub knowledge: Option<KnowledgeSpec>,
    /// Learning settings (`knowledge.learning:`); defaults when absent.
    pub learning: Learning,
    /// `knowledge.retention`: violation transitions, diagnoses and guardrail history
    /// older than this are pruned (open incidents and unfinished journals never are).
    pub retention: Duration,
    /// `knowledge.lease`: the leader lease of replicas sharing one store.
    pub lease: LeaseSpec,
    pub actuators: BTreeMap<String, ActuatorSpec>,
    pub components: Vec<Component>,
    pub objectives: Vec<Objective>,
    /// Every kind, filled with catalogue defaults where the charter is silent.
    pub actions: BTreeMap<ActionKind, ActionSpec>,
    pub guardrails: Guardrails,
    pub topology: Topology,
}

impl Charter {
    /// A component by name: O(1) through the topology's index (built from the
    /// components in declaration order), a scan if the two ever disagree.
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.topology
            .position(name)
            .and_then(|i| self.components.get(i))
            .filter(|c| c.name == name)
            .or_else(|| self.components.iter().find(|c| c.name == name))
    }

    /// An objective by name.
    pub fn objective(&self, name: &str) -> Option<&Objective> {
        self.objectives.iter().find(|o| o.name == name)
    }

    /// The spec of an action kind (always present after validation).
    pub fn action(&self, kind: ActionKind) -> ActionSpec {
        self.actions
            .get(&kind)
            .cloned()
            .unwrap_or_else(|| ActionSpec::default_for(kind))
    }
}
