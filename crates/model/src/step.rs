//! Typed references to a journaled step: which step of an execution (a forward step
//! or the undo of one) and the idempotency key an actuator sees.
//!
//! The journal stores a step as a number and its key as text; these types are the one
//! place that knows how the two kinds of step are numbered and keyed, so no caller
//! spells out `1000 + step` or `"{key}-undo"` again.

use crate::{ExecutionId, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Journal step numbers from this one up are compensations: `UNDO_BASE + n` undoes
/// step `n`. A policy has a handful of steps, far fewer than this.
const UNDO_BASE: u32 = 1000;

/// A step of an execution as the journal knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StepRef {
    /// Step `n` of the policy.
    Forward(u32),
    /// The compensation of step `n`.
    Undo(u32),
}

impl StepRef {
    /// The number the journal stores for this step.
    pub fn journal_number(self) -> u32 {
        match self {
            StepRef::Forward(n) => n,
            StepRef::Undo(n) => UNDO_BASE + n,
        }
    }

    /// The step a journal number stands for.
    pub fn from_journal_number(number: u32) -> Self {
        match number.checked_sub(UNDO_BASE) {
            Some(n) => StepRef::Undo(n),
            None => StepRef::Forward(number),
        }
    }

    /// The policy step this is, or undoes.
    pub fn step(self) -> u32 {
        match self {
            StepRef::Forward(n) | StepRef::Undo(n) => n,
        }
    }
}

/// The key an actuator applies at most once: `{start ms}-{execution}-{step}` for a
/// step, with `-undo` appended for its compensation. The start time makes keys
/// unique across knowledge databases too: a fresh database restarts execution ids,
/// while an actuator remembers keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key of step `step` of execution `execution`, started at `started`.
    pub fn for_step(started: Timestamp, execution: ExecutionId, step: u32) -> Self {
        IdempotencyKey(format!("{}-{execution}-{step}", started.millis()))
    }

    /// The key of the compensation of the step this key belongs to.
    pub fn undo(&self) -> Self {
        IdempotencyKey(format!("{}-undo", self.0))
    }

    /// Whether this is the key of a compensation.
    pub fn is_undo(&self) -> bool {
        self.0.ends_with("-undo")
    }

    /// The key as the actuator and the journal see it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for IdempotencyKey {
    /// A key as stored in the journal.
    fn from(key: String) -> Self {
        IdempotencyKey(key)
    }
}

impl From<IdempotencyKey> for String {
    fn from(key: IdempotencyKey) -> Self {
        key.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<&str> for IdempotencyKey {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_numbers_round_trip_and_keep_forward_and_undo_apart() {
        for n in [0, 1, 7, 999] {
            for s in [StepRef::Forward(n), StepRef::Undo(n)] {
                assert_eq!(StepRef::from_journal_number(s.journal_number()), s);
                assert_eq!(s.step(), n);
            }
            assert_ne!(
                StepRef::Forward(n).journal_number(),
                StepRef::Undo(n).journal_number()
            );
        }
        assert_eq!(StepRef::Undo(2).journal_number(), 1002);
        assert_eq!(StepRef::from_journal_number(3), StepRef::Forward(3));
    }

    #[test]
    fn a_compensation_key_is_the_step_key_with_undo() {
        let k = IdempotencyKey::for_step(Timestamp::from_secs(2), ExecutionId(9), 1);
        assert_eq!(k, "2000-9-1");
        assert!(!k.is_undo());
        let u = k.undo();
        assert_eq!(u, "2000-9-1-undo");
        assert!(u.is_undo());
        assert_eq!(String::from(u.clone()), "2000-9-1-undo");
        assert_eq!(IdempotencyKey::from("2000-9-1-undo".to_string()), u);
    }
}
