//! Builders for the vocabulary's records: defaults for every field a test does not
//! care about, chainable setters for the ones it does.

use charter_model::{
    Action, ApprovalState, CauseClass, Diagnosis, Hypothesis, Incident, IncidentId, IncidentState,
    Policy, PolicyId, Severity, Signal, Timestamp, Topology, Violation, ViolationState,
};

/// A violation of `objective` on `component`: by default firing (no severity yet),
/// a latency signal, since `Timestamp(0)` and firing since then, no value, no flaps,
/// not alerted.
///
/// ```
/// use charter_model::{Severity, Timestamp};
/// let v = charter_testkit::violation("latency", "api")
///     .firing(Severity::Critical)
///     .since(Timestamp::from_secs(100))
///     .value(2.0)
///     .build();
/// assert_eq!(v.firing_since, Some(Timestamp::from_secs(100)));
/// assert_eq!(v.worst, Some(2.0));
/// ```
pub fn violation(objective: &str, component: &str) -> ViolationBuilder {
    ViolationBuilder {
        v: Violation {
            objective: objective.into(),
            component: component.into(),
            signal: Signal::Latency,
            state: ViolationState::Firing,
            severity: None,
            since: Timestamp(0),
            firing_since: None,
            resolved_at: None,
            value: None,
            worst: None,
            flaps: 0,
            alerted: false,
        },
        firing_since: None,
        worst: None,
    }
}

/// A [`Violation`] under construction; see [`violation`].
#[derive(Debug, Clone)]
pub struct ViolationBuilder {
    v: Violation,
    /// Set explicitly; otherwise `since` while firing, `None` otherwise.
    firing_since: Option<Option<Timestamp>>,
    /// Set explicitly; otherwise the value.
    worst: Option<Option<f64>>,
}

impl ViolationBuilder {
    /// Firing with this severity.
    pub fn firing(mut self, severity: Severity) -> Self {
        self.v.state = ViolationState::Firing;
        self.v.severity = Some(severity);
        self
    }

    /// Breaching but not yet for long enough: no severity.
    pub fn pending(mut self) -> Self {
        self.v.state = ViolationState::Pending;
        self.v.severity = None;
        self
    }

    /// The state as given, severity untouched.
    pub fn state(mut self, state: ViolationState) -> Self {
        self.v.state = state;
        self
    }

    /// The severity as given, state untouched.
    pub fn severity(mut self, severity: Option<Severity>) -> Self {
        self.v.severity = severity;
        self
    }

    /// The objective's signal.
    pub fn signal(mut self, signal: Signal) -> Self {
        self.v.signal = signal;
        self
    }

    /// When the breach began; also when it started firing unless
    /// [`firing_since`](Self::firing_since) says otherwise.
    pub fn since(mut self, at: Timestamp) -> Self {
        self.v.since = at;
        self
    }

    /// When it started firing (`None`: never), whatever its state.
    pub fn firing_since(mut self, at: Option<Timestamp>) -> Self {
        self.firing_since = Some(at);
        self
    }

    /// When it resolved.
    pub fn resolved_at(mut self, at: Timestamp) -> Self {
        self.v.resolved_at = Some(at);
        self
    }

    /// The current value; also the worst unless [`worst`](Self::worst) says otherwise.
    pub fn value(mut self, value: f64) -> Self {
        self.v.value = Some(value);
        self
    }

    /// The worst value of the episode.
    pub fn worst(mut self, worst: f64) -> Self {
        self.worst = Some(Some(worst));
        self
    }

    /// Times it went back to breaching while held open.
    pub fn flaps(mut self, flaps: u32) -> Self {
        self.v.flaps = flaps;
        self
    }

    /// Alertmanager reported it too.
    pub fn alerted(mut self) -> Self {
        self.v.alerted = true;
        self
    }

    /// The violation.
    pub fn build(self) -> Violation {
        let mut v = self.v;
        v.firing_since = self
            .firing_since
            .unwrap_or((v.state == ViolationState::Firing).then_some(v.since));
        v.worst = self.worst.unwrap_or(v.value);
        v
    }
}

impl From<ViolationBuilder> for Violation {
    fn from(b: ViolationBuilder) -> Violation {
        b.build()
    }
}

/// Incident `id`: open at `Timestamp(0)`, no member violations, no root cause, no
/// attempts.
pub fn incident(id: impl Into<IncidentId>) -> IncidentBuilder {
    IncidentBuilder(Incident {
        id: id.into(),
        opened_at: Timestamp(0),
        state: IncidentState::Open,
        violations: vec![],
        root_cause: None,
        resolved_at: None,
        attempts: 0,
    })
}

/// An [`Incident`] under construction; see [`incident`].
#[derive(Debug, Clone)]
pub struct IncidentBuilder(Incident);

impl IncidentBuilder {
    /// When it opened.
    pub fn opened_at(mut self, at: Timestamp) -> Self {
        self.0.opened_at = at;
        self
    }

    /// Its state.
    pub fn state(mut self, state: IncidentState) -> Self {
        self.0.state = state;
        self
    }

    /// The `objective@component` keys of its member violations.
    pub fn violations<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        self.0.violations = keys.into_iter().map(Into::into).collect();
        self
    }

    /// The component blamed.
    pub fn root_cause(mut self, component: &str) -> Self {
        self.0.root_cause = Some(component.into());
        self
    }

    /// When it resolved.
    pub fn resolved_at(mut self, at: Timestamp) -> Self {
        self.0.resolved_at = Some(at);
        self
    }

    /// Policies tried so far.
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.0.attempts = attempts;
        self
    }

    /// The incident.
    pub fn build(self) -> Incident {
        self.0
    }
}

/// A hypothesis that `component` is the root cause, for `cause`, with this
/// confidence; no symptoms or evidence.
pub fn hypothesis(component: &str, cause: CauseClass, confidence: f64) -> Hypothesis {
    Hypothesis {
        component: component.into(),
        cause,
        confidence,
        symptoms: vec![],
        evidence: vec![],
    }
}

/// A diagnosis of incident `incident_id` made at `at`, ranking `hypotheses`; no
/// patterns.
pub fn diagnosis(
    incident_id: impl Into<IncidentId>,
    at: Timestamp,
    hypotheses: Vec<Hypothesis>,
) -> Diagnosis {
    Diagnosis {
        incident_id: incident_id.into(),
        at,
        hypotheses,
        patterns: vec![],
    }
}

/// Policy 1 of incident 1 with these actions, auto-approved: created at
/// `Timestamp(0)`, no waits, the first action main, no targets, P(success) 0.5,
/// benefit 1, cost 1, score 0, no rationale, nothing rejected, no decision context.
pub fn policy(actions: Vec<Action>) -> PolicyBuilder {
    PolicyBuilder(Policy {
        id: PolicyId(1),
        incident_id: IncidentId(1),
        created_at: Timestamp(0),
        actions,
        waits_secs: vec![],
        main: 0,
        targets: vec![],
        p_success: 0.5,
        expected_benefit: 1.0,
        cost: 1.0,
        score: 0.0,
        rationale: String::new(),
        rejected: vec![],
        approval: ApprovalState::AutoApproved,
        context: None,
    })
}

/// A [`Policy`] under construction; see [`policy`].
#[derive(Debug, Clone)]
pub struct PolicyBuilder(Policy);

impl PolicyBuilder {
    /// Its id.
    pub fn id(mut self, id: impl Into<PolicyId>) -> Self {
        self.0.id = id.into();
        self
    }

    /// The incident it is for.
    pub fn incident(mut self, incident_id: impl Into<IncidentId>) -> Self {
        self.0.incident_id = incident_id.into();
        self
    }

    /// Seconds to wait before each step.
    pub fn waits_secs(mut self, waits: Vec<u64>) -> Self {
        self.0.waits_secs = waits;
        self
    }

    /// The index of the main action.
    pub fn main(mut self, main: usize) -> Self {
        self.0.main = main;
        self
    }

    /// The `objective@component` keys whose recovery verifies it.
    pub fn targets<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        self.0.targets = keys.into_iter().map(Into::into).collect();
        self
    }

    /// The planner's P(success), expected benefit, cost and score.
    pub fn scored(mut self, p_success: f64, expected_benefit: f64, cost: f64, score: f64) -> Self {
        self.0.p_success = p_success;
        self.0.expected_benefit = expected_benefit;
        self.0.cost = cost;
        self.0.score = score;
        self
    }

    /// Whether it may run.
    pub fn approval(mut self, approval: ApprovalState) -> Self {
        self.0.approval = approval;
        self
    }

    /// The policy.
    pub fn build(self) -> Policy {
        self.0
    }
}

/// A dependency graph from `(component, its dependencies)` pairs.
///
/// ```
/// let t = charter_testkit::topology(&[("api", &["db"]), ("db", &[])]);
/// assert_eq!(t.callers("db").count(), 1);
/// ```
pub fn topology(edges: &[(&str, &[&str])]) -> Topology {
    let owned: Vec<(String, Vec<String>)> = edges
        .iter()
        .map(|(a, ds)| (a.to_string(), ds.iter().map(|d| d.to_string()).collect()))
        .collect();
    Topology::new(owned.iter().map(|(a, d)| (a.as_str(), d.as_slice())))
}
