//! Id newtypes: incidents, policies and executions are numbered separately, and
//! the types keep one kind of id from being passed where another is expected.
//!
//! Each serializes as the bare number (`#[serde(transparent)]`) and displays as
//! the bare number, so stored JSON, logs and messages read as before.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The bare number.
            pub fn get(self) -> u64 {
                self.0
            }
        }

        impl From<u64> for $name {
            fn from(value: u64) -> Self {
                Self(value)
            }
        }

        impl From<$name> for u64 {
            fn from(id: $name) -> u64 {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

id_type!(
    /// The id of an [`Incident`](crate::Incident).
    IncidentId
);
id_type!(
    /// The id of a [`Policy`](crate::Policy).
    PolicyId
);
id_type!(
    /// The id of an execution of a policy.
    ExecutionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_and_serializes_as_the_bare_number() {
        assert_eq!(IncidentId(7).to_string(), "7");
        assert_eq!(format!("{:>4}", PolicyId(12)), "  12");
        assert_eq!(
            serde_json::to_string(&ExecutionId(3)).ok().as_deref(),
            Some("3")
        );
        let back: Option<IncidentId> = serde_json::from_str("42").ok();
        assert_eq!(back, Some(IncidentId(42)));
        assert_eq!(PolicyId::from(5).get(), 5);
    }
}
