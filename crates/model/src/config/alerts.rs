//! `alerts:` — the Alertmanager webhook receiver and the labels it maps.

use super::defaults;
use super::issues::Issues;
use super::raw::{AlertsConfig, S};
use crate::charter::{AlertTrust, AlertsSpec};
use std::path::Path;
use std::time::Duration;

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
    let trust = match &a.value.trust {
        None => AlertTrust::default(),
        Some(x) => match x.value.as_str() {
            "confirm" => AlertTrust::Confirm,
            "alone" => AlertTrust::Alone,
            _ => {
                is.at(
                    x,
                    "alerts.trust",
                    "must be `confirm` (the default: the objective's query must agree) or `alone`",
                );
                AlertTrust::default()
            }
        },
    };
    let expire_after = bounded(
        is,
        &a.value.expire_after,
        "alerts.expire_after",
        defaults::ALERTS_EXPIRE_AFTER,
        (
            defaults::MIN_ALERTS_EXPIRE_AFTER,
            defaults::MAX_ALERTS_EXPIRE_AFTER,
        ),
        "must be between 1m and 7d (Alertmanager re-sends a firing alert every `repeat_interval`)",
    );
    let retention = bounded(
        is,
        &a.value.retention,
        "alerts.retention",
        defaults::ALERTS_RETENTION,
        (
            defaults::MIN_ALERTS_RETENTION,
            defaults::MAX_ALERTS_RETENTION,
        ),
        "must be between 1h and 366d",
    );
    if let Some(r) = &a.value.retention
        && retention < expire_after
    {
        is.at(
            r,
            "alerts.retention",
            "must be at least `alerts.expire_after` (an alert still counting must not be pruned)",
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
        trust,
        expire_after,
        retention,
    })
}

/// A duration within `(min, max)`; out of range is reported with `message` and the
/// default used instead, so later checks see a sensible value.
fn bounded(
    is: &mut Issues<'_>,
    v: &Option<S<String>>,
    path: &str,
    default: Duration,
    (min, max): (Duration, Duration),
    message: &str,
) -> Duration {
    let d = is.duration(v, path, default);
    match v {
        Some(s) if d < min || d > max => {
            is.at(s, path, message);
            default
        }
        _ => d,
    }
}
