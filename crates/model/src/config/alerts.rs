//! `alerts:` — the Alertmanager webhook receiver and the labels it maps.

use super::defaults;
use super::issues::Issues;
use super::raw::{AlertsConfig, S};
use crate::charter::AlertsSpec;
use std::path::Path;

/// Compile `alerts:`; `None` when the charter has no such block.
pub(super) fn compile(
    is: &mut Issues<'_>,
    alerts: Option<&S<AlertsConfig>>,
    base: &Path,
) -> Option<AlertsSpec> {
    let a = alerts?;
    let none = a.value.auth.as_ref().is_some_and(|x| x.value == "none");
    if let Some(x) = &a.value.auth
        && x.value != "none"
        && x.value != "token"
    {
        is.at(x, "alerts.auth", "must be `token` (the default) or `none`");
    }
    if !none && a.value.token_file.is_none() {
        is.at(
            a,
            "alerts",
            "needs `token_file` (or `auth: none` for loopback use without a token)",
        );
    }
    Some(AlertsSpec {
        token_file: if none {
            None
        } else {
            a.value.token_file.as_ref().map(|p| base.join(&p.value))
        },
        objective_label: a
            .value
            .objective_label
            .clone()
            .unwrap_or_else(|| defaults::OBJECTIVE_LABEL.into()),
        component_label: a
            .value
            .component_label
            .clone()
            .unwrap_or_else(|| defaults::COMPONENT_LABEL.into()),
        max_body_bytes: a
            .value
            .max_body_bytes
            .unwrap_or(defaults::ALERTS_MAX_BODY_BYTES),
    })
}
