//! `changes:` — how the change events deploy tools post (`POST /api/v1/changes`) name
//! the charter's components.

use super::issues::Issues;
use super::raw::{ChangeEventsConfig, ComponentConfig, S};
use crate::charter::ChangeEventsSpec;

/// Compile `changes:`; empty when the charter has no such block. Every mapping must
/// name a declared component: an event mapped to nothing would be refused at run time
/// with a message about the charter, so the charter is refused now instead.
pub(super) fn compile(
    is: &mut Issues<'_>,
    changes: Option<&S<ChangeEventsConfig>>,
    components: &[ComponentConfig],
) -> ChangeEventsSpec {
    let Some(c) = changes else {
        return ChangeEventsSpec::default();
    };
    let mut spec = ChangeEventsSpec::default();
    if let Some(w) = &c.value.watch_rollouts {
        spec.watch_rollouts = w.value;
    }
    for (name, component) in &c.value.applications {
        let path = format!("changes.applications.{name}");
        if name.trim().is_empty() || name.split('/').count() > 2 || name.starts_with('/') {
            is.at(
                component,
                &path,
                "the key must be an application's `name` or `namespace/name`",
            );
            continue;
        }
        if !components.iter().any(|d| d.name.value == component.value) {
            is.at(
                component,
                &path,
                format!(
                    "names `{}`, which is not a declared component",
                    component.value
                ),
            );
            continue;
        }
        spec.applications
            .insert(name.clone(), component.value.clone());
    }
    spec
}
