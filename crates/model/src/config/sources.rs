//! `source:` — where samples come from (the simulator unless the charter says).

use super::defaults;
use super::issues::Issues;
use super::raw::{S, SourceConfig};
use crate::charter::{PrometheusSpec, SourceSpec};
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
        } => {
            if !(url.value.starts_with("http://") || url.value.starts_with("https://")) {
                is.at(
                    url,
                    "source.prometheus.url",
                    "must start with http:// or https://",
                );
            }
            if let Some(m) = max_in_flight
                && m.value == 0
            {
                is.at(m, "source.prometheus.max_in_flight", "must be at least 1");
            }
            if let Some(b) = blind_after
                && b.value == 0
            {
                is.at(b, "source.prometheus.blind_after", "must be at least 1");
            }
            let timeout = is.duration(
                timeout,
                "source.prometheus.timeout",
                defaults::PROMETHEUS_TIMEOUT,
            );
            SourceSpec::Prometheus(PrometheusSpec {
                url: url.value.trim_end_matches('/').to_string(),
                timeout,
                headers: headers.clone(),
                bearer_token_file: bearer_token_file.as_ref().map(|p| base.join(p)),
                max_in_flight: max_in_flight
                    .as_ref()
                    .map_or(defaults::PROMETHEUS_MAX_IN_FLIGHT, |m| m.value),
                retries: retries.unwrap_or(defaults::PROMETHEUS_RETRIES),
                blind_after: blind_after
                    .as_ref()
                    .map_or(defaults::BLIND_AFTER, |b| b.value),
            })
        }
    }
}
