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

use crate::source::{MetricSource, Observation, SourceError};
use async_trait::async_trait;
use charter_model::{
    Charter, Direction, Objective, ObjectiveSource, PrometheusSpec, Sample, Timestamp,
};
use futures::stream::{self, StreamExt};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, StatusCode, redirect};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Prometheus refuses range queries of more points than this per series.
pub const MAX_POINTS_PER_SERIES: u64 = 11_000;

/// Largest response body read; a bigger one is an error rather than a memory spike.
const MAX_BODY_BYTES: usize = 32 << 20;

/// Most distinct ignored-series problems remembered (and so reported) per source.
const MAX_REPORTED: usize = 10_000;

/// The first retry waits this long; each further retry doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Server-controlled text quoted in problems is cut to this many characters.
const MAX_QUOTE_CHARS: usize = 200;

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
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Reported {
    /// A series whose component label is missing (`None`) or names no component of
    /// the objective.
    Ignored {
        objective: String,
        value: Option<String>,
    },
    /// Several series for one component of an objective.
    Several {
        objective: String,
        component: String,
    },
}

/// Why one HTTP exchange with the server did not give a usable body.
#[derive(Debug)]
struct FetchError {
    message: String,
    /// Whether the server could not be reached or answered with an HTTP error: the
    /// kind of failure that, on every query of a cycle, means the source is down.
    transport: bool,
    /// Whether trying again may help (timeouts, connection errors, 5xx, 429).
    retryable: bool,
}

impl FetchError {
    fn api(message: impl Into<String>) -> Self {
        FetchError {
            message: message.into(),
            transport: false,
            retryable: false,
        }
    }
}

/// The envelope of every Prometheus API response.
#[derive(Debug, Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

/// `data` of a query response.
#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum QueryData {
    Vector(Vec<VectorSeries>),
    Matrix(Vec<MatrixSeries>),
    Scalar(RawPoint),
    String(serde::de::IgnoredAny),
}

#[derive(Debug, Deserialize)]
struct VectorSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    value: Option<RawPoint>,
}

#[derive(Debug, Deserialize)]
struct MatrixSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<RawPoint>,
}

/// `[unix seconds, "value"]`; Prometheus sends values as strings so that NaN and
/// ±Inf survive JSON.
#[derive(Debug, Deserialize)]
struct RawPoint(f64, String);

/// What one objective's query gave this cycle.
struct ObjectiveReading {
    samples: Vec<Sample>,
    problems: Vec<String>,
    /// Set when the query failed at the transport or HTTP level.
    transport_failure: Option<String>,
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

    /// The `timeout` sent to the server: a tenth below ours, so that the server gives
    /// up (and says so) before our client does.
    fn server_timeout(&self) -> Duration {
        self.timeout.mul_f64(0.9).max(Duration::from_millis(1))
    }

    /// Query one objective and map its result onto the objective's components.
    async fn read_objective(
        &self,
        charter: &Charter,
        objective: &Objective,
        now: Timestamp,
    ) -> ObjectiveReading {
        let query = query_for(objective);
        let params = [
            ("query", query),
            ("time", unix_seconds(now)),
            ("timeout", seconds(self.server_timeout())),
        ];
        let unknown_all = |why: String, transport: bool| {
            tracing::debug!(objective = %objective.name, problem = %why, "objective unknown");
            ObjectiveReading {
                samples: objective
                    .components
                    .iter()
                    .map(|c| sample(objective, c, now, None))
                    .collect(),
                problems: vec![format!("objective `{}`: {why}", objective.name)],
                transport_failure: transport.then_some(why),
            }
        };
        let envelope = match self.fetch("query", &params).await {
            Ok(envelope) => envelope,
            Err(e) => return unknown_all(e.message, e.transport),
        };
        let data = match parse_data(envelope) {
            Ok(data) => data,
            Err(why) => return unknown_all(why, false),
        };
        match data {
            QueryData::Vector(series) => self.map_vector(charter, objective, series, now),
            QueryData::Scalar(RawPoint(_, v)) if objective.components.len() == 1 => {
                let mut reading = ObjectiveReading {
                    samples: Vec::new(),
                    problems: Vec::new(),
                    transport_failure: None,
                };
                let component = &objective.components[0];
                let value = match checked_value(&v) {
                    Ok(x) => Some(x),
                    Err(why) => {
                        reading.problems.push(format!(
                            "objective `{}`: component `{component}`: {why}",
                            objective.name
                        ));
                        None
                    }
                };
                reading
                    .samples
                    .push(sample(objective, component, now, value));
                reading
            }
            other => unknown_all(
                format!(
                    "query returned a {} result; it must return an instant vector with a \
                     `{}` label per series",
                    result_type(&other),
                    objective.component_label
                ),
                false,
            ),
        }
    }

    /// One sample per component of `objective` from an instant vector.
    fn map_vector(
        &self,
        charter: &Charter,
        objective: &Objective,
        series: Vec<VectorSeries>,
        now: Timestamp,
    ) -> ObjectiveReading {
        let name = &objective.name;
        let label = &objective.component_label;
        let mut problems = Vec::new();
        // Per component of the objective: every value the server sent for it.
        let mut found: BTreeMap<&str, Vec<Result<f64, String>>> = BTreeMap::new();
        for s in &series {
            let Some(value) = s.metric.get(label) else {
                let key = Reported::Ignored {
                    objective: name.clone(),
                    value: None,
                };
                if self.first_report(key) {
                    let p = format!(
                        "objective `{name}`: ignored a series without a `{label}` label: {}",
                        quote(&fmt_labels(&s.metric))
                    );
                    tracing::warn!(objective = %name, problem = %p, "series ignored");
                    problems.push(p);
                }
                continue;
            };
            let Some(component) = objective.components.iter().find(|c| *c == value) else {
                let key = Reported::Ignored {
                    objective: name.clone(),
                    value: Some(value.clone()),
                };
                if self.first_report(key) {
                    let why = if charter.component(value).is_some() {
                        "is not among the objective's components"
                    } else {
                        "is not a component of the charter"
                    };
                    let p = format!(
                        "objective `{name}`: ignored series for `{label}=\"{}\"`: it {why}",
                        quote(value)
                    );
                    tracing::warn!(objective = %name, problem = %p, "series ignored");
                    problems.push(p);
                }
                continue;
            };
            let value = match &s.value {
                Some(RawPoint(_, v)) => checked_value(v),
                None => Err("the series has no float value (a native histogram?)".into()),
            };
            found.entry(component.as_str()).or_default().push(value);
        }

        let mut samples = Vec::with_capacity(objective.components.len());
        for component in &objective.components {
            let values = found.remove(component.as_str()).unwrap_or_default();
            let value = match values.as_slice() {
                [] => Err("no series in the result".to_string()),
                [one] => one.clone(),
                several => {
                    let key = Reported::Several {
                        objective: name.clone(),
                        component: component.clone(),
                    };
                    if self.first_report(key) {
                        let p = format!(
                            "objective `{name}`: {} series for component `{component}`; \
                             using the worst — aggregate the query by `{label}`",
                            several.len()
                        );
                        tracing::warn!(objective = %name, component = %component, problem = %p, "several series");
                        problems.push(p);
                    }
                    worst(objective.direction, several)
                }
            };
            let value = match value {
                Ok(v) => Some(v),
                Err(why) => {
                    problems.push(format!(
                        "objective `{name}`: component `{component}` unknown: {why}"
                    ));
                    None
                }
            };
            samples.push(sample(objective, component, now, value));
        }
        ObjectiveReading {
            samples,
            problems,
            transport_failure: None,
        }
    }

    /// True the first time `key` is seen in the life of this source.
    ///
    /// The label values come from the server, so the set is bounded: past
    /// [`MAX_REPORTED`] keys, further ones are ignored without a report (one last
    /// warning says so) rather than growing memory without end.
    fn first_report(&self, key: Reported) -> bool {
        // A panic while holding this lock leaves a set that is still valid.
        let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        if reported.len() >= MAX_REPORTED {
            return false;
        }
        let first = reported.insert(key);
        if reported.len() == MAX_REPORTED {
            tracing::warn!(
                "{MAX_REPORTED} distinct ignored series reported; further ones are ignored silently"
            );
        }
        first
    }

    /// GET `/api/v1/{endpoint}` with retries and exponential backoff, within a budget
    /// of 1.5 × the timeout for all attempts together.
    async fn fetch(
        &self,
        endpoint: &str,
        params: &[(&str, String)],
    ) -> Result<Envelope, FetchError> {
        let url = format!("{}/api/v1/{endpoint}", self.base);
        let started = Instant::now();
        let budget = self.timeout.mul_f64(1.5);
        let mut attempt: u32 = 0;
        loop {
            let remaining = budget.saturating_sub(started.elapsed());
            let result = self
                .fetch_once(&url, params, self.timeout.min(remaining))
                .await;
            let error = match result {
                Ok(envelope) => return Ok(envelope),
                Err(e) => e,
            };
            let backoff = FIRST_BACKOFF.saturating_mul(1 << attempt.min(16));
            let retry =
                error.retryable && attempt < self.retries && started.elapsed() + backoff < budget;
            if !retry {
                let message = if attempt == 0 {
                    error.message
                } else {
                    format!("{} (after {} attempts)", error.message, attempt + 1)
                };
                return Err(FetchError { message, ..error });
            }
            tracing::debug!(url = %url, attempt, problem = %error.message, "retrying query");
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }

    async fn fetch_once(
        &self,
        url: &str,
        params: &[(&str, String)],
        timeout: Duration,
    ) -> Result<Envelope, FetchError> {
        let transport = |e: reqwest::Error| FetchError {
            message: describe(&e, timeout),
            transport: true,
            retryable: true,
        };
        let mut response = self
            .client
            .get(url)
            .query(params)
            .timeout(timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(FetchError {
                    message: format!("response larger than {} MiB", MAX_BODY_BYTES >> 20),
                    transport: !status.is_success(),
                    retryable: false,
                });
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            // Prometheus explains its errors in a JSON envelope; a proxy may not.
            let detail = match serde_json::from_slice::<Envelope>(&body) {
                Ok(e) => api_error(&e),
                Err(_) => quote(String::from_utf8_lossy(&body).trim()),
            };
            let retryable = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
            return Err(FetchError {
                message: format!("http {}: {detail}", status.as_u16()),
                transport: true,
                retryable,
            });
        }
        serde_json::from_slice::<Envelope>(&body)
            .map_err(|e| FetchError::api(format!("invalid response: {}", quote(&e.to_string()))))
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
                    value: Some(v),
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
        Ok(observation)
    }
}

/// A range-query step of at least `interval` (no finer than the loop looks) that
/// keeps a `window`-long query within Prometheus's limit of
/// [`MAX_POINTS_PER_SERIES`] points per series. Never zero.
pub fn step_for(interval: Duration, window: Duration) -> Duration {
    let window_ms = window.as_millis();
    // n points span (n - 1) steps, so the step must cover window / (limit - 1).
    let needed_ms = window_ms.div_ceil(u128::from(MAX_POINTS_PER_SERIES - 1));
    let step_ms = needed_ms.max(interval.as_millis()).max(1);
    Duration::from_millis(u64::try_from(step_ms).unwrap_or(u64::MAX))
}

/// The PromQL an objective is read with: its `expr` as written, or its metric name
/// with label matchers in name order (`name{k="v",...}`, values escaped).
pub fn query_for(objective: &Objective) -> String {
    match &objective.source {
        ObjectiveSource::Expr(e) => e.clone(),
        ObjectiveSource::Metric { name, labels } if labels.is_empty() => name.clone(),
        ObjectiveSource::Metric { name, labels } => {
            let matchers: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label_value(v)))
                .collect();
            format!("{name}{{{}}}", matchers.join(","))
        }
    }
}

/// Escape a label value for a double-quoted PromQL string.
fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            _ => out.push(ch),
        }
    }
    out
}

fn sample(objective: &Objective, component: &str, at: Timestamp, value: Option<f64>) -> Sample {
    Sample {
        objective: objective.name.clone(),
        component: component.to_string(),
        at,
        value,
    }
}

/// The data of a successful envelope, or why there is none usable.
fn parse_data(envelope: Envelope) -> Result<QueryData, String> {
    if envelope.status != "success" {
        return Err(format!(
            "server answered status `{}`: {}",
            quote(&envelope.status),
            api_error(&envelope)
        ));
    }
    if !envelope.warnings.is_empty() {
        // Warnings mean the result may be partial (a store or shard missing), and a
        // partial result can look healthy.
        let list: Vec<String> = envelope.warnings.iter().map(|w| quote(w)).collect();
        return Err(format!(
            "result may be partial, server warned: {}",
            list.join("; ")
        ));
    }
    let data = envelope
        .data
        .ok_or_else(|| "response has no data".to_string())?;
    serde_json::from_value(data)
        .map_err(|e| format!("invalid response data: {}", quote(&e.to_string())))
}

fn api_error(envelope: &Envelope) -> String {
    match (&envelope.error_type, &envelope.error) {
        (Some(t), Some(e)) => format!("{}: {}", quote(t), quote(e)),
        (None, Some(e)) => quote(e),
        (Some(t), None) => quote(t),
        (None, None) => "no error message".into(),
    }
}

fn result_type(data: &QueryData) -> &'static str {
    match data {
        QueryData::Vector(_) => "vector",
        QueryData::Matrix(_) => "matrix",
        QueryData::Scalar(_) => "scalar",
        QueryData::String(_) => "string",
    }
}

/// Prometheus's spelling of values: decimal, `NaN`, `+Inf`, `-Inf`.
fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => v
            .parse::<f64>()
            .map_err(|_| format!("unparseable value `{}`", quote(v))),
    }
}

/// A finite value, or why the value cannot be used.
fn checked_value(v: &str) -> Result<f64, String> {
    let x = parse_value(v)?;
    if x.is_nan() {
        Err("value is NaN".into())
    } else if x.is_infinite() {
        Err(format!(
            "value is {}",
            if x > 0.0 { "+Inf" } else { "-Inf" }
        ))
    } else {
        Ok(x)
    }
}

/// The worst of several values; any unusable value makes the whole component Unknown,
/// since the series it came from might be the bad one.
fn worst(direction: Direction, values: &[Result<f64, String>]) -> Result<f64, String> {
    let mut out: Option<f64> = None;
    for v in values {
        let v = v.clone()?;
        out = Some(match (out, direction) {
            (None, _) => v,
            (Some(w), Direction::Above) => w.max(v),
            (Some(w), Direction::Below) => w.min(v),
        });
    }
    out.ok_or_else(|| "no series in the result".to_string())
}

fn fmt_labels(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", pairs.join(","))
}

/// Server-controlled text made safe for a log line: control characters replaced and
/// cut to a bounded length.
fn quote(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_QUOTE_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(MAX_QUOTE_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// A reqwest error in words, with its causes but without the URL (long, and already
/// known from the objective).
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("timed out after {}", seconds(timeout) + "s");
    }
    let mut message = if e.is_connect() {
        "cannot connect".to_string()
    } else if e.is_body() || e.is_decode() {
        "cannot read the response".to_string()
    } else {
        "request failed".to_string()
    };
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&quote(&c.to_string()));
        cause = c.source();
    }
    message
}

/// `t` as Unix seconds with millisecond precision, as the API expects.
fn unix_seconds(t: Timestamp) -> String {
    let ms = t.millis();
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// A duration as decimal seconds (`4.500`), which the API accepts for `step` and
/// `timeout`.
fn seconds(d: Duration) -> String {
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

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
