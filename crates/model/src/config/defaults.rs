//! Every default and limit of the charter file, defined once.
//!
//! The compiler fills what a charter leaves out from here, and the `Default` impls of
//! the validated types ([`crate::charter::Guardrails`], [`crate::charter::Learning`],
//! [`crate::charter::LeaseSpec`], ...) are built from the same constants, so a crate
//! that needs "what the charter would have said" uses these instead of a copy.
//!
//! Limits are the bounds validation enforces; the messages that name them say the
//! same value in words (`must be at least 1d`).

use crate::action::ActionKind;
use crate::charter::{ActionSpec, Approval};
use crate::vocab::Severity;
use std::collections::BTreeMap;
use std::time::Duration;

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// `interval`: how often the loop reads its sources.
pub const INTERVAL: Duration = Duration::from_secs(30);

/// The range of `interval`: at least 100 ms (each cycle queries every objective: at
/// most ten cycles a second; sub-second cycles are for the simulator run faster
/// than real time), at most an hour (a violation waits a cycle to be seen).
pub const INTERVAL_RANGE: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(HOUR));
/// The range of every request timeout (`source.prometheus.timeout`,
/// `actuators.NAME.http.timeout`, `actuators.NAME.kubernetes.timeout`).
pub const REQUEST_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(5 * MINUTE));
/// The range of `actuators.NAME.command.timeout`.
pub const COMMAND_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(HOUR));
/// The range of `knowledge.retention`: at least a day, at most ten years.
pub const RETENTION_RANGE: (Duration, Duration) = (MIN_RETENTION, Duration::from_secs(3650 * DAY));
/// The range of `knowledge.lease.ttl`.
pub const LEASE_TTL_RANGE: (Duration, Duration) = (MIN_LEASE_TTL, Duration::from_secs(HOUR));
/// The range of `knowledge.learning.half_life`.
pub const HALF_LIFE_RANGE: (Duration, Duration) =
    (Duration::from_secs(MINUTE), Duration::from_secs(3650 * DAY));
/// The range of every span of time a charter may set for objectives, actions and
/// guardrails (`for`, `keep_firing_for`, `time_to_effect`, `cooldown`,
/// `oscillation_window`, `approval_timeout`): at most a week.
pub const SPAN_RANGE: (Duration, Duration) = (Duration::ZERO, Duration::from_secs(7 * DAY));
/// The range of `source.prometheus.max_in_flight`.
pub const MAX_IN_FLIGHT_RANGE: (usize, usize) = (1, 1024);
/// The range of `source.prometheus.retries`.
pub const RETRIES_RANGE: (u32, u32) = (0, 10);
/// The range of `source.prometheus.blind_after`.
pub const BLIND_AFTER_RANGE: (u32, u32) = (1, 1000);

/// `source.prometheus.timeout`: bound on each query.
pub const PROMETHEUS_TIMEOUT: Duration = Duration::from_secs(10);
/// `source.prometheus.max_in_flight`: queries in flight at once.
pub const PROMETHEUS_MAX_IN_FLIGHT: usize = 8;
/// `source.prometheus.retries`: retries of a failed query within a cycle.
pub const PROMETHEUS_RETRIES: u32 = 2;
/// `source.prometheus.blind_after`: consecutive failed reads after which the monitor
/// is blind; also the threshold for sources that have no such setting (the simulator).
pub const BLIND_AFTER: u32 = 4;

/// `alerts.objective_label`: the alert label naming the objective.
pub const OBJECTIVE_LABEL: &str = "alertname";
/// `alerts.component_label` and `objectives[i].component_label`: the label naming
/// the component of an alert or a series.
pub const COMPONENT_LABEL: &str = "service";
/// `alerts.max_body_bytes`: the largest webhook body accepted.
pub const ALERTS_MAX_BODY_BYTES: usize = 1 << 20;
/// `alerts.expire_after`: a firing alert not re-sent for this long no longer counts;
/// three of Alertmanager's default `repeat_interval` (4h), so two lost re-sends are
/// tolerated.
pub const ALERTS_EXPIRE_AFTER: Duration = Duration::from_secs(12 * HOUR);
/// The shortest `alerts.expire_after`.
pub const MIN_ALERTS_EXPIRE_AFTER: Duration = Duration::from_secs(MINUTE);
/// The longest `alerts.expire_after`.
pub const MAX_ALERTS_EXPIRE_AFTER: Duration = Duration::from_secs(7 * DAY);
/// `alerts.retention`: stored alerts received longer ago are pruned.
pub const ALERTS_RETENTION: Duration = Duration::from_secs(7 * DAY);
/// The shortest `alerts.retention`: an alert must outlive its expiry.
pub const MIN_ALERTS_RETENTION: Duration = Duration::from_secs(HOUR);
/// The longest `alerts.retention`.
pub const MAX_ALERTS_RETENTION: Duration = Duration::from_secs(366 * DAY);

/// `knowledge.retention`: history older than this is pruned.
pub const RETENTION: Duration = Duration::from_secs(30 * DAY);
/// The shortest `knowledge.retention`: guardrails look back an hour and more, and
/// incidents need their evidence.
pub const MIN_RETENTION: Duration = Duration::from_secs(DAY);
/// `knowledge.lease.ttl`: how long a leader's lease lasts.
pub const LEASE_TTL: Duration = Duration::from_secs(15);
/// `knowledge.lease.renew`: how often the leader renews it (at most half the ttl).
pub const LEASE_RENEW: Duration = Duration::from_secs(5);
/// The shortest `knowledge.lease.ttl`.
pub const MIN_LEASE_TTL: Duration = Duration::from_millis(500);
/// `knowledge.learning.half_life`: evidence loses half its weight in this time.
pub const HALF_LIFE: Duration = Duration::from_secs(7 * DAY);
/// `knowledge.learning.seed`: the seed of the Thompson draws.
pub const LEARNING_SEED: u64 = 0;
/// `knowledge.learning.credit.resolved`.
pub const CREDIT_RESOLVED: f64 = 1.0;
/// `knowledge.learning.credit.improved`.
pub const CREDIT_IMPROVED: f64 = 0.5;
/// `knowledge.learning.credit.no_effect`.
pub const CREDIT_NO_EFFECT: f64 = 0.0;
/// `knowledge.learning.credit.worsened`.
pub const CREDIT_WORSENED: f64 = 0.0;
/// `knowledge.learning.credit.failed`.
pub const CREDIT_FAILED: f64 = 0.0;

/// `actuators.NAME.http.timeout`: bound on each request.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// `actuators.NAME.command.timeout`: bound on each invocation.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// `actuators.NAME.kubernetes.timeout`: bound on each API request.
pub const KUBERNETES_TIMEOUT: Duration = Duration::from_secs(10);

/// `objectives[i].for`: how long a breach must last before it fires.
pub const OBJECTIVE_FOR: Duration = Duration::ZERO;
/// `objectives[i].keep_firing_for`: how long a violation keeps firing once clear.
pub const OBJECTIVE_KEEP_FIRING_FOR: Duration = Duration::ZERO;

/// `actions.KIND.step`: replicas per scale step.
pub const ACTION_STEP: u32 = 2;

/// `guardrails.max_actions_per_hour`.
pub const MAX_ACTIONS_PER_HOUR: u32 = 20;
/// `guardrails.cooldown`.
pub const COOLDOWN: Duration = Duration::from_secs(5 * MINUTE);
/// `guardrails.max_concurrent`.
pub const MAX_CONCURRENT: u32 = 2;
/// `guardrails.auto_approve_max_cost`.
pub const AUTO_APPROVE_MAX_COST: f64 = 5.0;
/// `guardrails.approval_timeout`.
pub const APPROVAL_TIMEOUT: Duration = Duration::from_secs(15 * MINUTE);
/// `guardrails.max_attempts_per_incident`.
pub const MAX_ATTEMPTS_PER_INCIDENT: u32 = 3;
/// `guardrails.auto_approve_max_severity`.
pub const AUTO_APPROVE_MAX_SEVERITY: Severity = Severity::Critical;
/// `guardrails.max_restart_share`.
pub const MAX_RESTART_SHARE: f64 = 0.5;
/// `guardrails.max_scale_step`.
pub const MAX_SCALE_STEP: u32 = 4;
/// `guardrails.oscillation_window`.
pub const OSCILLATION_WINDOW: Duration = Duration::from_secs(HOUR);
/// `guardrails.max_reversals`.
pub const MAX_REVERSALS: u32 = 2;
/// `guardrails.risk_weight`.
pub const RISK_WEIGHT: f64 = 1.0;
/// `guardrails.min_success_probability_irreversible`: an irreversible action (restart,
/// flush_cache) whose estimated probability of success is below this is not taken.
/// Low enough that a remedy the charter lists for a cause the diagnosis cannot
/// classify (prior 0.3, less for later remedies) can still be tried and learned —
/// a floor no prior reaches would make it unlearnable — and high enough to refuse a
/// restart or a flush for a cause it does not fit (prior 0.15 or 0.1).
pub const MIN_SUCCESS_PROBABILITY_IRREVERSIBLE: f64 = 0.25;
/// `guardrails.min_margin`: a policy's expected benefit must exceed its cost by at
/// least this much (in the unit of action costs).
pub const MIN_MARGIN: f64 = 0.5;

/// The catalogue entry of an action kind: what `actions.KIND` is when the charter
/// does not configure it (see [`ActionSpec::default_for`]).
pub fn action(kind: ActionKind) -> ActionSpec {
    let ((disruption, resource, risk), tte) = match kind {
        ActionKind::ScaleOut => ((0.0, 1.5, 0.5), 60),
        ActionKind::ScaleIn => ((0.5, 0.0, 0.5), 60),
        ActionKind::Restart => ((2.0, 0.0, 1.0), 90),
        ActionKind::Rollback => ((1.5, 0.0, 2.5), 90),
        ActionKind::Throttle => ((2.5, 0.0, 0.5), 30),
        ActionKind::CircuitBreak => ((2.0, 0.0, 1.0), 30),
        ActionKind::Failover => ((2.0, 1.0, 2.0), 60),
        ActionKind::FlushCache => ((1.5, 0.0, 0.5), 30),
        ActionKind::Reconfigure => ((1.0, 0.0, 2.0), 60),
    };
    ActionSpec {
        cost: disruption + resource + risk,
        disruption,
        resource,
        risk,
        step: ACTION_STEP,
        time_to_effect: Duration::from_secs(tte),
        approval: Approval::Auto,
        params: BTreeMap::new(),
        keep_on_no_effect: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limits are also written in their messages; this keeps the two in step.
    #[test]
    fn limits_are_the_values_their_messages_name() {
        assert_eq!(humantime::parse_duration("1d").ok(), Some(MIN_RETENTION));
        assert_eq!(humantime::parse_duration("500ms").ok(), Some(MIN_LEASE_TTL));
        // Every default lies within its range.
        let within = |d: Duration, (lo, hi): (Duration, Duration)| lo <= d && d <= hi;
        assert!(within(INTERVAL, INTERVAL_RANGE));
        assert!(within(PROMETHEUS_TIMEOUT, REQUEST_TIMEOUT_RANGE));
        assert!(within(HTTP_TIMEOUT, REQUEST_TIMEOUT_RANGE));
        assert!(within(KUBERNETES_TIMEOUT, REQUEST_TIMEOUT_RANGE));
        assert!(within(COMMAND_TIMEOUT, COMMAND_TIMEOUT_RANGE));
        assert!(within(RETENTION, RETENTION_RANGE));
        assert!(within(LEASE_TTL, LEASE_TTL_RANGE));
        assert!(within(HALF_LIFE, HALF_LIFE_RANGE));
        for d in [
            OBJECTIVE_FOR,
            OBJECTIVE_KEEP_FIRING_FOR,
            COOLDOWN,
            APPROVAL_TIMEOUT,
            OSCILLATION_WINDOW,
        ] {
            assert!(within(d, SPAN_RANGE));
        }
    }
}
