//! The vocabulary of one cycle: samples, violations, changes, patterns, diagnoses,
//! incidents, policies and outcomes (DESIGN.md §2).

use crate::action::Action;
use crate::charter::Signal;
use crate::ids::{ExecutionId, IncidentId, PolicyId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How bad a firing violation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    /// Weight used in benefit and violation-seconds: a critical counts three warnings.
    pub fn weight(self) -> f64 {
        match self {
            Severity::Warning => 1.0,
            Severity::Critical => 3.0,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        })
    }
}

/// One measurement of one objective on one component. `value: None` is Unknown:
/// missing, stale, NaN or errored data — never healthy, never violated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub objective: String,
    pub component: String,
    pub at: Timestamp,
    pub value: Option<f64>,
}

/// The state of a violation episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationState {
    /// Breaching, but not yet for the objective's `for` duration.
    Pending,
    /// Breaching for long enough.
    Firing,
    /// Data is missing; neither healthy nor violated.
    Unknown,
    /// Back past the clear threshold.
    Resolved,
}

/// An episode of one objective on one component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    pub objective: String,
    pub component: String,
    pub signal: Signal,
    pub state: ViolationState,
    /// Present while firing (and kept at its worst once resolved).
    pub severity: Option<Severity>,
    /// When the breach began (entered pending).
    pub since: Timestamp,
    pub firing_since: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub value: Option<f64>,
    /// The worst value seen in this episode.
    pub worst: Option<f64>,
    /// Times the value went back to breaching while `keep_firing_for` held the episode open.
    #[serde(default)]
    pub flaps: u32,
    /// Whether Alertmanager also reported this episode (the same violation, counted once).
    #[serde(default)]
    pub alerted: bool,
}

impl Violation {
    /// `objective@component`, the key of an episode as incidents and policies show it
    /// (text: never parse it back; [`Violation::series`] is the typed form).
    pub fn key(&self) -> String {
        self.series().to_string()
    }

    /// The series this is an episode of.
    pub fn series(&self) -> crate::SeriesKey {
        crate::SeriesKey::new(&self.objective, &self.component)
    }

    /// Whether it counts as an active problem.
    pub fn is_firing(&self) -> bool {
        self.state == ViolationState::Firing
    }
}

/// What kind of change happened to a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Deploy,
    Config,
    Scale,
    Restart,
    Other,
}

/// Where Charter learned of a change: the source that reported it, which is not
/// always who made it ([`Change::by`]): a Prometheus `changes:` query or a Kubernetes
/// watch may see Charter's own rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeSource {
    /// The simulator's own change log (`source: simulator`, `charter sim serve`).
    Simulator,
    /// A `source.prometheus.changes` query.
    Prometheus,
    /// `POST /api/v1/changes` with the plain JSON body.
    Api,
    /// `POST /api/v1/changes` from Argo CD notifications.
    Argocd,
    /// `POST /api/v1/changes` from Flux's notification-controller.
    Flux,
    /// A watch of Deployments and StatefulSets.
    Kubernetes,
    /// Charter itself.
    Charter,
    /// Recorded before changes carried their source.
    #[default]
    Unknown,
}

impl ChangeSource {
    /// The name as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeSource::Simulator => "simulator",
            ChangeSource::Prometheus => "prometheus",
            ChangeSource::Api => "api",
            ChangeSource::Argocd => "argocd",
            ChangeSource::Flux => "flux",
            ChangeSource::Kubernetes => "kubernetes",
            ChangeSource::Charter => "charter",
            ChangeSource::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ChangeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event that can explain incidents: a deploy, a config change, a scale or a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub at: Timestamp,
    pub component: String,
    pub kind: ChangeKind,
    pub description: String,
    /// Who made it: `charter` for our own actions, otherwise the source's word.
    pub by: String,
    /// Where Charter learned of it; `unknown` in records written before sources were
    /// kept.
    #[serde(default)]
    pub source: ChangeSource,
}

/// Evidence found by Analyze.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "pattern", rename_all = "snake_case")]
pub enum Pattern {
    /// Violation onsets clustered in time.
    Burst {
        start: Timestamp,
        end: Timestamp,
        onsets: usize,
    },
    /// Violations grouped in space (same component, shared dependency, zone).
    Cluster {
        around: String,
        members: Vec<String>,
    },
    /// A downstream anomaly that explains upstream symptoms.
    Propagation {
        from: String,
        to: Vec<String>,
        lead_secs: f64,
    },
    /// An objective violating far more often than its own history.
    FrequencyAnomaly {
        objective: String,
        component: String,
        recent: usize,
        expected: f64,
    },
}

/// The class of cause named by a root-cause hypothesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum CauseClass {
    /// More load than capacity.
    Overload,
    /// Memory growing until it runs out.
    Leak,
    /// A deploy or config change shortly before onset.
    BadChange,
    /// The component itself is down or unreachable.
    Outage,
    /// A cache serving misses or garbage.
    CacheFailure,
    /// A connection pool too small for the load.
    PoolExhaustion,
    /// Symptoms passed on by a failing dependency.
    DependencyFailure,
    /// A zone or node losing capacity: a cause shared by the components placed
    /// there (the hypothesis names a [`crate::Placement`]).
    Infrastructure,
    /// Something the signals do not name.
    Unknown,
    /// The component's network is slow or lossy: its own network signals moved,
    /// its CPU and memory did not.
    NetworkDelay,
    /// The component's code fails (errors returned or thrown) while its CPU, memory
    /// and network look normal and no dependency explains it.
    CodeDefect,
}

impl fmt::Display for CauseClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CauseClass::Overload => "overload",
            CauseClass::Leak => "leak",
            CauseClass::BadChange => "bad change",
            CauseClass::Outage => "outage",
            CauseClass::CacheFailure => "cache failure",
            CauseClass::PoolExhaustion => "pool exhaustion",
            CauseClass::DependencyFailure => "dependency failure",
            CauseClass::Infrastructure => "infrastructure",
            CauseClass::Unknown => "unknown",
            CauseClass::NetworkDelay => "network delay",
            CauseClass::CodeDefect => "code defect",
        })
    }
}

/// One root-cause hypothesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hypothesis {
    pub component: String,
    pub cause: CauseClass,
    /// Probability that this is the root cause, in [0, 1].
    pub confidence: f64,
    /// `objective@component` of the violations this hypothesis explains.
    pub symptoms: Vec<String>,
    /// Checkable statements in words.
    pub evidence: Vec<String>,
}

/// Ranked root-cause hypotheses with their supporting patterns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub incident_id: IncidentId,
    pub at: Timestamp,
    /// Best first; empty means "no root cause".
    pub hypotheses: Vec<Hypothesis>,
    pub patterns: Vec<Pattern>,
}

impl Diagnosis {
    /// The top hypothesis, if any.
    pub fn root(&self) -> Option<&Hypothesis> {
        self.hypotheses.first()
    }
}

/// Lifecycle of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    Open,
    Diagnosed,
    Remediating,
    Verifying,
    Resolved,
    Escalated,
    /// Over without being resolved: an earlier run left it open, and this one closed
    /// it at start (the audit log says why); violations still firing open a new one.
    Closed,
}

impl IncidentState {
    /// Whether the incident is over.
    pub fn is_closed(self) -> bool {
        matches!(self, IncidentState::Resolved | IncidentState::Closed)
    }

    /// Whether a new violation may join the incident: it is being handled (not over,
    /// not waiting for an operator).
    pub fn takes_members(self) -> bool {
        !self.is_closed() && self != IncidentState::Escalated
    }
}

/// Related violations handled together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: IncidentId,
    pub opened_at: Timestamp,
    pub state: IncidentState,
    /// `objective@component` keys of the member violations.
    pub violations: Vec<String>,
    pub root_cause: Option<String>,
    pub resolved_at: Option<Timestamp>,
    /// Policies tried so far.
    pub attempts: u32,
}

/// Whether a policy may run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    AutoApproved,
    Pending,
    /// A human approved it: who, and when (`None` in records written before the time
    /// was kept).
    Approved {
        by: String,
        #[serde(default)]
        at: Option<Timestamp>,
    },
    /// A human rejected it: who, why, and when.
    Rejected {
        by: String,
        reason: String,
        #[serde(default)]
        at: Option<Timestamp>,
    },
    Expired,
    /// Shadow mode: recorded, never executed.
    NotExecuted,
}

impl ApprovalState {
    /// The state's name without its fields, as the API and the store show it.
    pub fn name(&self) -> &'static str {
        match self {
            ApprovalState::AutoApproved => "auto_approved",
            ApprovalState::Pending => "pending",
            ApprovalState::Approved { .. } => "approved",
            ApprovalState::Rejected { .. } => "rejected",
            ApprovalState::Expired => "expired",
            ApprovalState::NotExecuted => "not_executed",
        }
    }
}

/// An alternative the planner did not choose, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    pub action: Action,
    pub score: Option<f64>,
    pub reason: String,
}

/// The ordered actions chosen for an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub id: PolicyId,
    pub incident_id: IncidentId,
    pub created_at: Timestamp,
    pub actions: Vec<Action>,
    /// Seconds to wait after the previous step before each step (empty: no waits);
    /// e.g. lift a throttle only when the added capacity is ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waits_secs: Vec<u64>,
    /// The index of the main action, the one expected to resolve the incident (the
    /// others prepare or bridge it); outcomes are learned for it.
    #[serde(default)]
    pub main: usize,
    /// The objectives (`objective@component`) whose recovery verifies the policy.
    pub targets: Vec<String>,
    pub p_success: f64,
    pub expected_benefit: f64,
    pub cost: f64,
    pub score: f64,
    pub rationale: String,
    pub rejected: Vec<Rejected>,
    pub approval: ApprovalState,
    /// What the policy was decided for; its outcome is learned and stored under
    /// this context. `None` in policies stored before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<PolicyContext>,
}

/// The context a policy was decided for: the symptom objective its main action was
/// chosen to restore and the root cause class it treats. Outcomes are credited to
/// it, not to whatever the incident's targets or diagnosis say when the policy ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyContext {
    pub objective: String,
    pub cause: CauseClass,
}

/// How an execution turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeClass {
    Resolved,
    Improved,
    NoEffect,
    Worsened,
    Failed,
}

impl OutcomeClass {
    /// The name used in logs and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeClass::Resolved => "resolved",
            OutcomeClass::Improved => "improved",
            OutcomeClass::NoEffect => "no_effect",
            OutcomeClass::Worsened => "worsened",
            OutcomeClass::Failed => "failed",
        }
    }

    /// Whether the outcome counts as a success for learning.
    pub fn is_success(self) -> bool {
        self == OutcomeClass::Resolved
    }
}

impl fmt::Display for OutcomeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub execution_id: ExecutionId,
    pub policy_id: PolicyId,
    pub incident_id: IncidentId,
    pub at: Timestamp,
    pub class: OutcomeClass,
    pub rolled_back: bool,
    /// From the first step to verification.
    pub time_to_effect_secs: f64,
    /// Severity-weighted firing violations among the policy's targets.
    pub violations_before: f64,
    pub violations_after: f64,
    pub detail: String,
}

/// A hypothesis an action's verified outcome spoke against: the action assumed
/// `cause` on `component`, and verification found it `no_effect` or `worsened`. Kept
/// on the open incident; its next diagnosis lowers that hypothesis, and the planner
/// lets a remedy for a revised cause through the component's cooldown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refutation {
    pub component: String,
    pub cause: CauseClass,
    /// The action whose outcome refuted it.
    pub action: crate::action::ActionKind,
    pub outcome: OutcomeClass,
    pub at: Timestamp,
}

impl Refutation {
    /// `rollback(api) verified no_effect`, for evidence and rationales.
    pub fn describe(&self) -> String {
        format!(
            "{}({}) verified {}",
            self.action,
            self.component,
            self.outcome.as_str()
        )
    }
}

/// What a component looks like now, for preconditions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ComponentState {
    pub replicas: Option<u32>,
    pub version: Option<String>,
    /// The version a rollback would return to.
    pub previous_version: Option<String>,
    pub zone: Option<String>,
    /// The zone a failover would move to.
    pub standby_zone: Option<String>,
    /// Dependencies whose circuit breaker is open.
    pub open_circuits: Vec<String>,
    /// Current admission limit, if throttled.
    pub throttle_rate: Option<f64>,
}

/// Whether Alertmanager reports an alert as active or over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    /// The name Alertmanager uses, also stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert received from an Alertmanager webhook: evidence for the loop, never a
/// target by itself (safety invariant 2).
///
/// `objective` and `component` are both set only when the alert's labels name a
/// charter objective and one of that objective's components; otherwise both are
/// `None` and the alert is kept and listed but never acted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Alertmanager's identity of the label set; with `starts_at` it names one episode.
    pub fingerprint: String,
    pub status: AlertStatus,
    pub starts_at: Timestamp,
    /// When it ended (or is expected to end); `None` when Alertmanager sent none.
    pub ends_at: Option<Timestamp>,
    pub labels: std::collections::BTreeMap<String, String>,
    pub annotations: std::collections::BTreeMap<String, String>,
    /// The charter objective named by the objective label, when mapped.
    pub objective: Option<String>,
    /// The declared component named by the component label, when mapped.
    pub component: Option<String>,
    /// From the `severity` label: `warning` or `critical`, otherwise `None`.
    pub severity: Option<Severity>,
    /// When Charter received it.
    pub received_at: Timestamp,
    /// The store's sequence number (larger is later, bumped on a status change); 0
    /// before the alert is stored.
    pub seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_recorded_before_sources_were_kept_still_reads() {
        let old = r#"{"at":1000,"component":"api","kind":"deploy","description":"v2","by":"ci"}"#;
        let change: Change = serde_json::from_str(old).expect("old record");
        assert_eq!(change.source, ChangeSource::Unknown);
        assert_eq!(change.by, "ci");
        // And a new one carries its source by name.
        let new = Change {
            source: ChangeSource::Argocd,
            ..change
        };
        let text = serde_json::to_string(&new).expect("encode");
        assert!(text.contains(r#""source":"argocd""#), "{text}");
        assert_eq!(serde_json::from_str::<Change>(&text).expect("decode"), new);
    }
}
