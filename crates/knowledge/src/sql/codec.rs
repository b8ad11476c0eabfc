//! Records into columns and back: ids, enum names, JSON bodies and the rows that are
//! not plain bodies (journal steps, alerts, violations), the same on every backend.

use crate::error::StoreError;
use crate::records::{JournalRecord, JournalStatus};
use charter_model::{
    ActionKind, Alert, ApprovalState, IncidentId, Timestamp, Violation, ViolationState,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// `execution_id, step, status, idempotency_key, epoch, at_ms, action, detail, prior`.
pub(crate) type JournalRow = (i64, i64, String, String, i64, i64, String, String, String);

pub(crate) fn journal_record(row: JournalRow) -> Result<JournalRecord, StoreError> {
    let (execution_id, step, status, idempotency_key, epoch, at, action, detail, prior) = row;
    Ok(JournalRecord {
        execution_id: model_id("journal execution id", execution_id)?,
        step: u32::try_from(step).map_err(|e| decode_err("journal step", e))?,
        idempotency_key,
        epoch: model_id("journal fencing epoch", epoch)?,
        action: from_json("journal action", &action)?,
        status: status
            .parse::<JournalStatus>()
            .map_err(|e| decode_err("journal status", e))?,
        detail,
        prior: from_json("journal prior", &prior)?,
        at: Timestamp(at),
    })
}

/// An alert read back, with the `seq` of its row (the body holds the `seq` it was
/// given, not the one the store assigned).
pub(crate) fn alert_row((seq, body): (i64, String)) -> Result<Alert, StoreError> {
    let mut alert: Alert = from_json("alert", &body)?;
    alert.seq = model_id("alert sequence number", seq)?;
    Ok(alert)
}

/// Rows per multi-row violation insert (6 parameters each; SQLite allows 32,766).
pub(crate) const VIOLATION_ROWS_PER_INSERT: usize = 500;

/// One violation transition as the `violations` table stores it.
pub(crate) struct ViolationRow<'a> {
    pub incident_id: Option<i64>,
    pub objective: &'a str,
    pub component: &'a str,
    pub state: String,
    pub at_ms: i64,
    pub body: String,
}

/// The rows of `records`, or the first value that cannot be stored.
pub(crate) fn violation_rows(
    records: &[(Option<IncidentId>, Violation)],
) -> Result<Vec<ViolationRow<'_>>, StoreError> {
    records
        .iter()
        .map(|(incident_id, v)| {
            Ok(ViolationRow {
                incident_id: incident_id.map(|id| db_id("incident id", id)).transpose()?,
                objective: &v.objective,
                component: &v.component,
                state: enum_text("violation state", v.state)?,
                at_ms: transition_time(v).millis(),
                body: to_json("violation", v)?,
            })
        })
        .collect()
}

/// When a violation last changed state: the time its row is filed under.
pub(crate) fn transition_time(violation: &Violation) -> Timestamp {
    match violation.state {
        ViolationState::Resolved => violation.resolved_at,
        ViolationState::Firing => violation.firing_since,
        ViolationState::Pending | ViolationState::Unknown => None,
    }
    .unwrap_or(violation.since)
}

/// The `approval` column: the variant's name without its fields.
pub(crate) fn approval_tag(approval: &ApprovalState) -> &'static str {
    match approval {
        ApprovalState::AutoApproved => "auto_approved",
        ApprovalState::Pending => "pending",
        ApprovalState::Approved { .. } => "approved",
        ApprovalState::Rejected { .. } => "rejected",
        ApprovalState::Expired => "expired",
        ApprovalState::NotExecuted => "not_executed",
    }
}

pub(crate) fn action_kind(text: &str) -> Result<ActionKind, StoreError> {
    text.parse().map_err(|e| decode_err("action kind", e))
}

pub(crate) fn count(what: &'static str, value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|e| decode_err(what, e))
}

pub(crate) fn db_id(what: &'static str, value: impl Into<u64>) -> Result<i64, StoreError> {
    let value: u64 = value.into();
    i64::try_from(value).map_err(|_| StoreError::OutOfRange { what, value })
}

pub(crate) fn model_id<T: From<u64>>(what: &'static str, value: i64) -> Result<T, StoreError> {
    u64::try_from(value)
        .map(T::from)
        .map_err(|e| decode_err(what, e))
}

/// The serde name of a unit enum variant, as stored in scalar columns.
pub(crate) fn enum_text<T: Serialize>(what: &'static str, value: T) -> Result<String, StoreError> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => Ok(text),
        Ok(other) => Err(StoreError::Encode {
            what,
            source: serde::ser::Error::custom(format!("expected a unit variant, got {other}")),
        }),
        Err(source) => Err(StoreError::Encode { what, source }),
    }
}

pub(crate) fn to_json<T: Serialize + ?Sized>(
    what: &'static str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::Encode { what, source })
}

pub(crate) fn from_json<T: DeserializeOwned>(
    what: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| decode_err(what, e))
}

pub(crate) fn decode_err(
    what: &'static str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    StoreError::Decode {
        what,
        source: Box::new(source),
    }
}

pub(crate) fn query_err(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError + Copy {
    move |source| StoreError::Query {
        what,
        source: source.into(),
    }
}

/// A `LIMIT` as the database's integer; `usize::MAX` means no limit.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_are_filed_under_their_latest_transition() {
        let mut v = Violation {
            objective: "latency".into(),
            component: "api".into(),
            signal: charter_model::Signal::Latency,
            state: ViolationState::Pending,
            severity: None,
            since: Timestamp(1),
            firing_since: None,
            resolved_at: None,
            value: None,
            worst: None,
            flaps: 0,
            alerted: false,
        };
        assert_eq!(transition_time(&v), Timestamp(1));
        v.state = ViolationState::Firing;
        v.firing_since = Some(Timestamp(2));
        assert_eq!(transition_time(&v), Timestamp(2));
        v.state = ViolationState::Resolved;
        v.resolved_at = Some(Timestamp(3));
        assert_eq!(transition_time(&v), Timestamp(3));
    }
}
