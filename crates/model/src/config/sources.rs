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
            })
        }
    }
}
