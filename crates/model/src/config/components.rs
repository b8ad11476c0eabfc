//! `components:` — the managed units and the dependency graph between them.

use super::issues::Issues;
use super::raw::ComponentConfig;
use crate::charter::{ActuatorSpec, Component, ReplicaLimits};
use crate::placement::{Placement, PlacementKind};
use crate::topology::Topology;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The compiled `components:` list and its topology.
pub(super) struct Components<'r> {
    pub list: Vec<Component>,
    pub topology: Topology,
    /// The names declared with a non-empty name, which other sections may refer to.
    pub declared: HashSet<&'r str>,
}

/// Compile `components:`: names, duplicates, dependencies, actuators (which must be
/// declared under `actuators:`), replica limits, zones and nodes, and dependency
/// cycles.
pub(super) fn compile<'r>(
    is: &mut Issues<'_>,
    components: &'r [ComponentConfig],
    actuators: &BTreeMap<String, ActuatorSpec>,
) -> Components<'r> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, c) in components.iter().enumerate() {
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
    for (i, c) in components.iter().enumerate() {
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
    placements(is, components);
    let list: Vec<Component> = components
        .iter()
        .map(|c| Component {
            name: c.name.value.clone(),
            depends_on: c.depends_on.iter().map(|d| d.value.clone()).collect(),
            actuator: c.actuator.as_ref().map(|a| a.value.clone()),
            replicas: c.replicas.as_ref().map(|r| ReplicaLimits {
                min: r.value.min,
                max: r.value.max,
            }),
            zone: c.zone.as_ref().map(|z| z.value.clone()),
            node: c.node.as_ref().map(|n| n.value.clone()),
        })
        .collect();
    let topology = Topology::new(
        list.iter()
            .map(|c| (c.name.as_str(), c.depends_on.as_slice())),
    );
    if let Some(cycle) = topology.find_cycle() {
        let first = &cycle[0];
        if let Some((i, c)) = components
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
    Components {
        list,
        topology,
        declared: seen.into_keys().collect(),
    }
}

/// `components[i].zone` and `.node`: a place has a name without spaces or `:`, and no
/// component may be named like the hypothesis of a declared place (`zone:b`), so a
/// diagnosis naming one is never read as the other.
fn placements(is: &mut Issues<'_>, components: &[ComponentConfig]) {
    let mut places: HashSet<String> = HashSet::new();
    for (i, c) in components.iter().enumerate() {
        for (kind, place) in [
            (PlacementKind::Zone, &c.zone),
            (PlacementKind::Node, &c.node),
        ] {
            let Some(place) = place else { continue };
            let path = format!("components[{i}].{}", kind.as_str());
            let name = place.value.as_str();
            if name.trim().is_empty() {
                is.at(place, path, "must not be empty");
            } else if name.contains(':') || name.contains(char::is_whitespace) {
                is.at(
                    place,
                    path,
                    format!("`{name}` must not contain `:` or spaces"),
                );
            } else {
                places.insert(Placement::new(kind, name).to_string());
            }
        }
    }
    for (i, c) in components.iter().enumerate() {
        if places.contains(c.name.value.as_str()) {
            is.at(
                &c.name,
                format!("components[{i}].name"),
                format!(
                    "`{}` names the common-cause hypothesis of a declared zone or node: rename the component",
                    c.name.value
                ),
            );
        }
    }
}
