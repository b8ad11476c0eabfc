//! Where components run — zones and nodes (hosts) — as components of the topology
//! in their own right: a cause shared by everything placed there is a hypothesis
//! (`zone:b`, `node:x`) that competes with the services, and its remedy is a group
//! policy over the services placed there.

use crate::charter::{Charter, Component};
use std::collections::BTreeMap;
use std::fmt;

/// What kind of place a common-cause hypothesis names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PlacementKind {
    /// A zone (`components[].zone`).
    Zone,
    /// A node, host or machine (`components[].node`).
    Node,
}

impl PlacementKind {
    /// Both kinds, the wider first.
    pub const ALL: [PlacementKind; 2] = [PlacementKind::Zone, PlacementKind::Node];

    /// `zone` or `node`: the prefix of a hypothesis' name and the charter key.
    pub fn as_str(self) -> &'static str {
        match self {
            PlacementKind::Zone => "zone",
            PlacementKind::Node => "node",
        }
    }

    /// Each declared component placed somewhere of this kind, with its place.
    pub fn placed(self, charter: &Charter) -> BTreeMap<String, String> {
        charter
            .components
            .iter()
            .filter_map(|c| Some((c.name.clone(), self.of(c)?.to_string())))
            .collect()
    }

    /// The component's place of this kind, as the charter declares it.
    pub fn of(self, c: &Component) -> Option<&str> {
        match self {
            PlacementKind::Zone => c.zone.as_deref(),
            PlacementKind::Node => c.node.as_deref(),
        }
    }
}

/// A zone or a node: the name of a common-cause hypothesis (`zone:b`, `node:x`).
/// A hypothesis' component is this name, never a service's: the compiler refuses a
/// component named like a declared zone or node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Placement {
    pub kind: PlacementKind,
    pub name: String,
}

impl Placement {
    pub fn new(kind: PlacementKind, name: impl Into<String>) -> Self {
        Placement {
            kind,
            name: name.into(),
        }
    }

    /// Read a hypothesis' component back: `zone:b` or `node:x`, `None` for anything
    /// else (a service).
    pub fn parse(s: &str) -> Option<Placement> {
        let (kind, name) = s.split_once(':')?;
        let kind = PlacementKind::ALL
            .into_iter()
            .find(|k| k.as_str() == kind)?;
        (!name.is_empty()).then(|| Placement::new(kind, name))
    }

    /// The declared components placed here, in declaration order.
    pub fn members<'c>(&self, charter: &'c Charter) -> Vec<&'c Component> {
        charter
            .components
            .iter()
            .filter(|c| self.kind.of(c) == Some(self.name.as_str()))
            .collect()
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placement_reads_back_from_its_name_and_a_service_does_not() {
        let p = Placement::new(PlacementKind::Zone, "b");
        assert_eq!(p.to_string(), "zone:b");
        assert_eq!(Placement::parse("zone:b"), Some(p));
        assert_eq!(
            Placement::parse("node:host-1"),
            Some(Placement::new(PlacementKind::Node, "host-1"))
        );
        assert_eq!(Placement::parse("orders"), None);
        assert_eq!(Placement::parse("zone:"), None);
        assert_eq!(Placement::parse("rack:r1"), None);
    }
}
