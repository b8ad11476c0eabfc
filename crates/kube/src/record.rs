//! The idempotency record kept on the Deployment.
//!
//! Two annotations: `charter.dev/last-action-key` names the key, and
//! `charter.dev/last-action` holds a [`Record`] as JSON. A record is `done` once the
//! action's writes are all made; it is `pending`, with the remaining writes, while
//! they are under way — so a Charter that restarts in between finishes exactly those
//! writes instead of planning the action again from a state it already changed.
//!
//! Only the last key is kept: Charter runs one execution per component at a time
//! and retries only the step in progress, which is always the last one applied.

use crate::plan::Step;
use crate::{LAST_ACTION, LAST_ACTION_KEY};
use charter_model::Action;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Whether the writes of a recorded action are all made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Done,
}

/// What the Deployment remembers about the last action applied to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub state: State,
    pub action: Action,
    pub prior: BTreeMap<String, String>,
    pub detail: String,
    /// The writes still to make (`pending` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
}

impl Record {
    /// The record of `key` among a Deployment's annotations: `None` when the last
    /// action had another key (or there was none); an error when the record of this
    /// key cannot be read — then nobody can tell what was done, and acting again
    /// could act twice.
    pub fn read(
        annotations: Option<&BTreeMap<String, String>>,
        key: &str,
    ) -> Result<Option<Record>, String> {
        let Some(a) = annotations else {
            return Ok(None);
        };
        if a.get(LAST_ACTION_KEY).map(String::as_str) != Some(key) {
            return Ok(None);
        }
        let text = a.get(LAST_ACTION).ok_or_else(|| {
            format!("`{LAST_ACTION_KEY}` is `{key}` but `{LAST_ACTION}` is missing")
        })?;
        serde_json::from_str(text).map_err(|e| format!("`{LAST_ACTION}` is not a record: {e}"))
    }

    /// The annotations (a merge-patch fragment) that store this record under `key`.
    pub fn annotations(&self, key: &str) -> Value {
        // A record always serializes: its fields are strings, maps and enums.
        let text = serde_json::to_string(self).unwrap_or_default();
        json!({ LAST_ACTION_KEY: key, LAST_ACTION: text })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_model::ActionKind;

    #[test]
    fn a_record_round_trips_through_the_annotations() {
        let r = Record {
            state: State::Pending,
            action: Action::new(ActionKind::ScaleOut, "web").with_param("step", 2),
            prior: BTreeMap::from([("replicas".into(), "3".into())]),
            detail: "scaled".into(),
            steps: vec![Step::Scale { replicas: 5 }],
        };
        let patch = r.annotations("7-0");
        let annotations: BTreeMap<String, String> =
            serde_json::from_value(patch).expect("string map");
        assert_eq!(Record::read(Some(&annotations), "7-0"), Ok(Some(r)));
        assert_eq!(Record::read(Some(&annotations), "7-1"), Ok(None));
        assert_eq!(Record::read(None, "7-0"), Ok(None));
        let broken = BTreeMap::from([(LAST_ACTION_KEY.to_string(), "7-0".to_string())]);
        assert!(Record::read(Some(&broken), "7-0").is_err());
    }
}
