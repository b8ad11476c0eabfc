//! The API's JSON envelope and result types, values in Prometheus's spelling, and
//! server-controlled text made safe to quote.

use charter_model::Direction;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Server-controlled text quoted in problems is cut to this many characters.
pub(super) const MAX_QUOTE_CHARS: usize = 200;

/// The envelope of every Prometheus API response.
#[derive(Debug, Deserialize)]
pub(super) struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
    /// VictoriaMetrics' vmselect sets this when a storage node did not answer and it
    /// returned what the others had (unless run with `-search.denyPartialResponse`).
    #[serde(default, rename = "isPartial")]
    is_partial: bool,
}

/// `data` of a query response.
#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub(super) enum QueryData {
    Vector(Vec<VectorSeries>),
    Matrix(Vec<MatrixSeries>),
    Scalar(RawPoint),
    String(serde::de::IgnoredAny),
}

#[derive(Debug, Deserialize)]
pub(super) struct VectorSeries {
    #[serde(default)]
    pub(super) metric: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) value: Option<RawPoint>,
}

#[derive(Debug, Deserialize)]
pub(super) struct MatrixSeries {
    #[serde(default)]
    pub(super) metric: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) values: Vec<RawPoint>,
}

/// `[unix seconds, "value"]`; Prometheus sends values as strings so that NaN and
/// ±Inf survive JSON.
#[derive(Debug, Deserialize)]
pub(super) struct RawPoint(pub(super) f64, pub(super) String);

/// The data of a successful envelope, or why there is none usable.
pub(super) fn parse_data(envelope: Envelope) -> Result<QueryData, String> {
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
    if envelope.is_partial {
        return Err(
            "result may be partial, server answered `isPartial: true` (a storage node \
             did not answer)"
                .into(),
        );
    }
    let data = envelope
        .data
        .ok_or_else(|| "response has no data".to_string())?;
    serde_json::from_value(data)
        .map_err(|e| format!("invalid response data: {}", quote(&e.to_string())))
}

pub(super) fn api_error(envelope: &Envelope) -> String {
    match (&envelope.error_type, &envelope.error) {
        (Some(t), Some(e)) => format!("{}: {}", quote(t), quote(e)),
        (None, Some(e)) => quote(e),
        (Some(t), None) => quote(t),
        (None, None) => "no error message".into(),
    }
}

pub(super) fn result_type(data: &QueryData) -> &'static str {
    match data {
        QueryData::Vector(_) => "vector",
        QueryData::Matrix(_) => "matrix",
        QueryData::Scalar(_) => "scalar",
        QueryData::String(_) => "string",
    }
}

/// Prometheus's spelling of values: decimal, `NaN`, `+Inf`, `-Inf`.
pub(super) fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => v
            .parse::<f64>()
            .map_err(|_| format!("unparseable value `{}`", quote(v))),
    }
}

/// A finite value, or why the value cannot be used.
pub(super) fn checked_value(v: &str) -> Result<f64, String> {
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
pub(super) fn worst(direction: Direction, values: &[Result<f64, String>]) -> Result<f64, String> {
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

pub(super) fn fmt_labels(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", pairs.join(","))
}

/// Server-controlled text made safe for a log line: control characters replaced and
/// cut to a bounded length.
pub(super) fn quote(s: &str) -> String {
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
