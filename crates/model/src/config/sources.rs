//! `source:` — where samples come from (the simulator unless the charter says).

use super::defaults;
use super::issues::Issues;
use super::raw::{ChangesConfig, S, SourceConfig};
use crate::charter::{ChangeQueries, PrometheusSpec, SourceSpec};
use std::path::Path;

/// Compile `source:`; relative paths are resolved against `base`.
pub(super) fn compile(
    is: &mut Issues<'_>,
    source: Option<&S<SourceConfig>>,
    base: &Path,
) -> SourceSpec {
    let Some(s) = source else {
        return SourceSpec::Simulator {
            scenario: None,
            seed: None,
        };
    };
    match &s.value {
        SourceConfig::Simulator { scenario, seed } => SourceSpec::Simulator {
            scenario: scenario.as_ref().map(|p| base.join(p)),
            seed: *seed,
        },
        SourceConfig::Prometheus {
            url,
            timeout,
            headers,
            bearer_token_file,
            max_in_flight,
            retries,
            blind_after,
            changes,
        } => {
            if !(url.value.starts_with("http://") || url.value.starts_with("https://")) {
                is.at(
                    url,
                    "source.prometheus.url",
                    "must start with http:// or https://",
                );
            }
            let timeout = is.duration_in(
                timeout,
                "source.prometheus.timeout",
                defaults::PROMETHEUS_TIMEOUT,
                defaults::REQUEST_TIMEOUT_RANGE,
            );
            let max_in_flight = is.count_in(
                max_in_flight,
                "source.prometheus.max_in_flight",
                defaults::PROMETHEUS_MAX_IN_FLIGHT,
                defaults::MAX_IN_FLIGHT_RANGE,
            );
            let retries = is.count_in(
                retries,
                "source.prometheus.retries",
                defaults::PROMETHEUS_RETRIES,
                defaults::RETRIES_RANGE,
            );
            let blind_after = is.count_in(
                blind_after,
                "source.prometheus.blind_after",
                defaults::BLIND_AFTER,
                defaults::BLIND_AFTER_RANGE,
            );
            SourceSpec::Prometheus(PrometheusSpec {
                url: url.value.trim_end_matches('/').to_string(),
                timeout,
                headers: headers.clone(),
                bearer_token_file: bearer_token_file.as_ref().map(|p| base.join(p)),
                max_in_flight,
                retries,
                blind_after,
                changes: changes.as_ref().and_then(|c| compile_changes(is, c)),
            })
        }
    }
}

/// Compile `source.prometheus.changes`: at least one non-empty query.
fn compile_changes(is: &mut Issues<'_>, c: &S<ChangesConfig>) -> Option<ChangeQueries> {
    const P: &str = "source.prometheus.changes";
    let mut query = |q: &Option<S<String>>, key: &str| {
        let q = q.as_ref()?;
        if q.value.trim().is_empty() {
            is.at(q, format!("{P}.{key}"), "must be a PromQL query, not empty");
            return None;
        }
        if let Err(msg) = crate::rules::parse_promql(&q.value) {
            is.at(q, format!("{P}.{key}"), msg);
            return None;
        }
        Some(q.value.trim().to_string())
    };
    let revision = query(&c.value.revision, "revision");
    let info = query(&c.value.info, "info");
    if c.value.revision.is_none() && c.value.info.is_none() {
        is.at(
            c,
            P,
            "needs `revision` (a query whose value changes with every deploy) or `info` (a query whose version label names what runs), or both",
        );
        return None;
    }
    let label = |l: &Option<String>, key: &str, default: &str, is: &mut Issues<'_>| match l {
        Some(l) if l.trim().is_empty() => {
            is.at(c, format!("{P}.{key}"), "must name a label, not be empty");
            default.to_string()
        }
        Some(l) => l.trim().to_string(),
        None => default.to_string(),
    };
    let component_label = label(
        &c.value.component_label,
        "component_label",
        defaults::COMPONENT_LABEL,
        is,
    );
    let version_label = label(&c.value.version_label, "version_label", "version", is);
    (revision.is_some() || info.is_some()).then_some(ChangeQueries {
        revision,
        info,
        component_label,
        version_label,
    })
}
