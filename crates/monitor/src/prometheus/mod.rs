//! A [`MetricSource`] reading objectives from a Prometheus-compatible HTTP API.
//!
//! Every objective of the charter is one instant query (`/api/v1/query`), run
//! concurrently with at most `max_in_flight` in flight, so waiting on the network
//! overlaps; when the server itself is CPU-bound, the cycle is bounded by its cores
//! instead (measured on 2 cores shared with Prometheus: 100 queries in 26 ms
//! concurrently against 51 ms one at a time, `examples/prom_cycle.rs`). Results are mapped onto the charter's components through the
//! objective's `component_label`; anything the server says about other label values is
//! reported once and ignored (DESIGN.md §3, invariant 2). Whatever cannot be read
//! cleanly — NaN, ±Inf, an empty result, an HTTP error, `status: "error"`, a response
//! with warnings, a timeout — becomes an Unknown sample with a problem in words
//! (invariant 1), never a healthy or violated one.
//!
//! Here: the source, its range queries and the [`MetricSource`] implementation. Then
//! `query` builds the PromQL and the API's time parameters, `client` does HTTP with
//! retries and backoff, `response` parses the API's envelope and values, `read`
//! maps one objective's instant query onto its components, and `changes` turns the
//! optional change queries into deploys.

mod changes;
mod client;
mod query;
mod read;
mod response;

pub use changes::CHANGE_BY;
pub use query::{query_for, step_for};

use crate::source::{MetricSource, Observation, SourceError};
use async_trait::async_trait;
use changes::Deploys;
use charter_model::{ChangeQueries, Charter, ObjectiveSource, PrometheusSpec, Sample, Timestamp};
use futures::stream::{self, StreamExt};
use query::{seconds, unix_seconds};
use read::{ObjectiveReading, Reported};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, redirect};
use response::{QueryData, RawPoint, parse_data, parse_value, result_type};
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

/// Prometheus refuses range queries of more points than this per series.
pub const MAX_POINTS_PER_SERIES: u64 = 11_000;

/// Labels and values of one series of a range query.
pub type RangeSeries = (BTreeMap<String, String>, Vec<(Timestamp, f64)>);

/// Reads a charter's objectives from Prometheus (or Thanos, Mimir, VictoriaMetrics).
#[derive(Debug)]
pub struct PrometheusSource {
    client: Client,
    base: String,
    timeout: Duration,
    max_in_flight: usize,
    retries: u32,
    /// Problems reported once for the life of the source: series for undeclared
    /// components and components with several series. Re-reporting them every cycle
    /// would bury the problems that change.
    reported: Mutex<HashSet<Reported>>,
    /// `source.prometheus.changes`: the queries that reveal deploys.
    changes: Option<ChangeQueries>,
    /// What those queries last said, to tell a deploy from the previous read.
    deploys: Mutex<Deploys>,
}

impl PrometheusSource {
    /// A source for `spec`: an HTTP client that never follows redirects, ignores proxy
    /// environment variables, sends `spec.headers` and the bearer token from
    /// `spec.bearer_token_file` on every request, and gives up on a request after
    /// `spec.timeout`.
    pub fn new(spec: &PrometheusSpec) -> Result<Self, SourceError> {
        let mut headers = HeaderMap::new();
        for (name, value) in &spec.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| SourceError::Config(format!("invalid header name `{name}`: {e}")))?;
            let mut value = HeaderValue::from_str(value).map_err(|e| {
                SourceError::Config(format!("invalid value of header `{name}`: {e}"))
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        if let Some(path) = &spec.bearer_token_file {
            let token = charter_model::read_token_file(path)?;
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                SourceError::Config(format!(
                    "bearer token file {} holds characters not allowed in a header",
                    path.display()
                ))
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let client = Client::builder()
            .redirect(redirect::Policy::none())
            .no_proxy()
            .timeout(spec.timeout)
            .default_headers(headers)
            .build()
            .map_err(|e| SourceError::Config(format!("cannot build http client: {e}")))?;
        Ok(PrometheusSource {
            client,
            base: spec.url.trim_end_matches('/').to_string(),
            timeout: spec.timeout,
            max_in_flight: spec.max_in_flight.max(1),
            retries: spec.retries,
            reported: Mutex::new(HashSet::new()),
            changes: spec.changes.clone(),
            deploys: Mutex::new(Deploys::default()),
        })
    }

    /// Run a range query (`/api/v1/query_range`) and return every series with its
    /// labels and finite points (NaN and ±Inf points are dropped).
    ///
    /// A response with warnings is an error, as for instant queries: its data may be
    /// partial. Use [`step_for`] to pick a `step` the server accepts.
    pub async fn query_range(
        &self,
        query: &str,
        start: Timestamp,
        end: Timestamp,
        step: Duration,
    ) -> Result<Vec<RangeSeries>, SourceError> {
        if step.is_zero() {
            return Err(SourceError::Query(
                "range query step must be positive".into(),
            ));
        }
        if end < start {
            return Err(SourceError::Query(format!(
                "range query ends ({end}) before it starts ({start})"
            )));
        }
        let points = end.since(start).as_millis() / step.as_millis().max(1) + 1;
        if points > u128::from(MAX_POINTS_PER_SERIES) {
            return Err(SourceError::Query(format!(
                "range query would return {points} points per series, more than the \
                 {MAX_POINTS_PER_SERIES} Prometheus allows; use a larger step"
            )));
        }
        let params = [
            ("query", query.to_string()),
            ("start", unix_seconds(start)),
            ("end", unix_seconds(end)),
            ("step", seconds(step)),
            ("timeout", seconds(self.server_timeout())),
        ];
        let envelope = self.fetch("query_range", &params).await.map_err(|e| {
            if e.transport {
                SourceError::Unavailable(e.message)
            } else {
                SourceError::Query(e.message)
            }
        })?;
        match parse_data(envelope).map_err(SourceError::Query)? {
            QueryData::Matrix(series) => Ok(series
                .into_iter()
                .map(|s| {
                    let points = s
                        .values
                        .iter()
                        .filter_map(|RawPoint(t, v)| {
                            let v = parse_value(v).ok()?;
                            (v.is_finite() && t.is_finite())
                                .then(|| (Timestamp((t * 1000.0).round() as i64), v))
                        })
                        .collect();
                    (s.metric, points)
                })
                .collect()),
            other => Err(SourceError::Query(format!(
                "range query returned a {} result, expected a matrix",
                result_type(&other)
            ))),
        }
    }
}

#[async_trait]
impl MetricSource for PrometheusSource {
    /// Range queries, one objective at a time (at most `max_in_flight` at once);
    /// series of undeclared components are ignored, as in [`MetricSource::observe`].
    async fn history(
        &self,
        charter: &Charter,
        start: Timestamp,
        end: Timestamp,
        step: Duration,
    ) -> Result<Vec<Sample>, SourceError> {
        let queries: Vec<_> = charter
            .objectives
            .iter()
            .map(|o| async move { (o, self.query_range(&query_for(o), start, end, step).await) })
            .collect();
        let results: Vec<_> = stream::iter(queries)
            .buffered(self.max_in_flight)
            .collect()
            .await;
        let mut out = Vec::new();
        for (objective, result) in results {
            let series = match result {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(objective = %objective.name, error = %e, "history unavailable");
                    continue;
                }
            };
            // A present series is 0 for an `absent` objective; the steps where a
            // component had none are not filled in (a range query cannot tell them
            // from steps the server skipped).
            let absence = matches!(objective.source, ObjectiveSource::Absent(_));
            for (labels, points) in series {
                let Some(component) = labels.get(&objective.component_label) else {
                    continue;
                };
                if !objective.components.iter().any(|c| c == component) {
                    continue;
                }
                out.extend(points.into_iter().map(|(at, v)| Sample {
                    objective: objective.name.clone(),
                    component: component.clone(),
                    at,
                    value: Some(if absence { 0.0 } else { v }),
                }));
            }
        }
        Ok(out)
    }

    async fn observe(&self, charter: &Charter, now: Timestamp) -> Result<Observation, SourceError> {
        // `buffered` keeps at most `max_in_flight` queries running and yields results
        // in charter order, so observations are deterministic.
        // Futures are lazy: collecting them starts nothing. (Collecting also keeps a
        // closure out of the stream's type, which the `Send` check cannot see through.)
        let queries: Vec<_> = charter
            .objectives
            .iter()
            .map(|o| self.read_objective(charter, o, now))
            .collect();
        let readings: Vec<ObjectiveReading> = stream::iter(queries)
            .buffered(self.max_in_flight)
            .collect()
            .await;

        if !readings.is_empty() && readings.iter().all(|r| r.transport_failure.is_some()) {
            let first = readings
                .iter()
                .find_map(|r| r.transport_failure.clone())
                .unwrap_or_default();
            return Err(SourceError::Unavailable(format!(
                "all {} queries failed, the first with: {first}",
                readings.len()
            )));
        }
        let mut observation = Observation {
            at: Some(now),
            ..Observation::default()
        };
        for r in readings {
            observation.samples.extend(r.samples);
            observation.problems.extend(r.problems);
        }
        let (changes, problems) = self.read_changes(charter, now).await;
        observation.changes = changes;
        observation.problems.extend(problems);
        Ok(observation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_model::Direction;
    use response::{MAX_QUOTE_CHARS, checked_value, quote, worst};

    #[test]
    fn times_and_durations_are_formatted_as_decimal_seconds() {
        assert_eq!(unix_seconds(Timestamp(1_700_000_000_123)), "1700000000.123");
        assert_eq!(unix_seconds(Timestamp(-1500)), "-2.500");
        assert_eq!(seconds(Duration::from_millis(4500)), "4.500");
    }

    #[test]
    fn values_follow_prometheus_spelling() {
        assert_eq!(parse_value("1.5"), Ok(1.5));
        assert_eq!(parse_value("+Inf"), Ok(f64::INFINITY));
        assert!(checked_value("NaN").is_err());
        assert!(checked_value("-Inf").is_err());
        assert!(checked_value("abc").is_err());
    }

    #[test]
    fn worst_depends_on_direction_and_any_bad_value_is_unknown() {
        let vals = [Ok(1.0), Ok(3.0), Ok(2.0)];
        assert_eq!(worst(Direction::Above, &vals), Ok(3.0));
        assert_eq!(worst(Direction::Below, &vals), Ok(1.0));
        assert!(worst(Direction::Above, &[Ok(1.0), Err("NaN".into())]).is_err());
    }

    #[test]
    fn step_respects_interval_and_point_limit() {
        let s = step_for(Duration::from_secs(15), Duration::from_secs(3600));
        assert_eq!(s, Duration::from_secs(15));
        let week = Duration::from_secs(7 * 24 * 3600);
        let s = step_for(Duration::from_secs(15), week);
        assert!(week.as_millis() / s.as_millis() < u128::from(MAX_POINTS_PER_SERIES));
        assert!(s > Duration::from_secs(15));
        assert!(!step_for(Duration::ZERO, Duration::ZERO).is_zero());
    }

    #[test]
    fn quote_strips_control_characters_and_bounds_length() {
        assert_eq!(quote("a\nb"), "a b");
        assert_eq!(quote(&"x".repeat(500)).chars().count(), MAX_QUOTE_CHARS + 1);
    }
}
