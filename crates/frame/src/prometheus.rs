//! A Prometheus range-query response (`/api/v1/query_range` JSON) as a [`Frame`]:
//! one column per series, aligned on the union of their timestamps.

use crate::error::{Location, Problem, Problems};
use crate::frame::{Column, ColumnMeta, Frame};
use crate::signal::infer_signal;
use crate::{LoadError, read_file};
use charter_model::Timestamp;
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// A `/api/v1/query_range` response; unknown fields (warnings, stats) are ignored.
#[derive(Debug, Deserialize)]
struct PromResponse {
    status: String,
    #[serde(default)]
    data: Option<PromData>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromData {
    result_type: String,
    result: Vec<PromSeries>,
}

#[derive(Debug, Deserialize)]
struct PromSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, PromValue)>,
}

/// A sample value: Prometheus sends numbers as strings (`"0.25"`, `"NaN"`, `"+Inf"`).
#[derive(Debug, Clone, Copy)]
struct PromValue(f64);

impl<'de> Deserialize<'de> for PromValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.trim()
            .parse::<f64>()
            .map(PromValue)
            .map_err(|_| serde::de::Error::custom(format!("sample value is not a number: {s:?}")))
    }
}

/// Read a range-query response. A series' component is its `component_label`, else
/// `job`, else `instance`; its metric is `__name__`, else `metric_name`. Series of
/// one component and metric (pods, instances) stay apart: their other labels join
/// the metric's name. A series without a point at a time is NaN there.
pub fn load_prometheus(
    path: &Path,
    component_label: &str,
    metric_name: Option<&str>,
) -> Result<Frame, LoadError> {
    let (file, text) = read_file(path)?;
    let resp: PromResponse = serde_json::from_str(&text).map_err(|e| {
        let msg = e.to_string();
        let msg = msg.find(" at line ").map_or(msg.as_str(), |i| &msg[..i]);
        LoadError::Syntax {
            at: Location::new(&file, e.line().max(1), e.column().max(1)),
            message: msg.to_string(),
        }
    })?;
    if resp.status != "success" {
        return Err(LoadError::QueryFailed {
            file,
            status: resp.status,
            message: resp.error,
        });
    }
    let Some(data) = resp.data else {
        return Err(LoadError::NoData { file });
    };
    if data.result_type != "matrix" {
        return Err(LoadError::NotMatrix {
            file,
            result_type: data.result_type,
        });
    }
    if data.result.is_empty() {
        return Err(LoadError::NoSeries { file });
    }

    let mut problems = Problems::default();
    let mut keyed: Vec<(String, String, &BTreeMap<String, String>)> = Vec::new();
    for (i, s) in data.result.iter().enumerate() {
        let component = [component_label, "job", "instance"]
            .iter()
            .find_map(|l| s.metric.get(*l));
        let metric = s.metric.get("__name__").map(String::as_str).or(metric_name);
        match (component, metric) {
            (Some(c), Some(m)) => keyed.push((c.clone(), m.to_string(), &s.metric)),
            (None, _) => problems.push(Problem::NoComponentLabel {
                file: file.clone(),
                index: i,
                labels: label_set(&s.metric, &[]),
                label: component_label.to_string(),
            }),
            (_, None) => problems.push(Problem::NoMetricName {
                file: file.clone(),
                index: i,
                labels: label_set(&s.metric, &[]),
            }),
        }
    }
    problems.into_result()?;
    let mut count: HashMap<(&str, &str), usize> = HashMap::new();
    for (c, m, _) in &keyed {
        *count.entry((c.as_str(), m.as_str())).or_default() += 1;
    }
    let names: Vec<(String, String)> = keyed
        .iter()
        .map(|(c, m, labels)| {
            let metric = if count[&(c.as_str(), m.as_str())] > 1 {
                format!("{m}{}", label_set(labels, &["__name__", component_label]))
            } else {
                m.clone()
            };
            (c.clone(), metric)
        })
        .collect();
    let mut unique = BTreeSet::new();
    for (c, m) in &names {
        if !unique.insert((c, m)) {
            return Err(LoadError::DuplicateSeries {
                file,
                component: c.clone(),
                metric: m.clone(),
            });
        }
    }

    let millis = |t: f64| (t * 1000.0).round() as i64;
    let axis: Vec<i64> = data
        .result
        .iter()
        .flat_map(|s| s.values.iter().map(|(t, _)| millis(*t)))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if axis.is_empty() {
        return Err(LoadError::NoSamples { file });
    }
    let position: HashMap<i64, usize> = axis.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let columns = data
        .result
        .iter()
        .zip(names)
        .map(|(s, (component, metric))| {
            let mut values = vec![f64::NAN; axis.len()];
            for (t, v) in &s.values {
                values[position[&millis(*t)]] = v.0;
            }
            let base = s.metric.get("__name__").map_or(metric.as_str(), |n| n);
            let (signal, worse) = infer_signal(base);
            Column::new(
                format!("{metric}@{component}"),
                ColumnMeta {
                    component,
                    metric,
                    signal,
                    worse,
                },
                values,
            )
        })
        .collect();
    Ok(Frame {
        source: file,
        times: axis.into_iter().map(Timestamp).collect(),
        lines: None,
        columns,
    })
}

/// `{k="v",...}` of the labels not in `skip` (empty when none are left).
fn label_set(labels: &BTreeMap<String, String>, skip: &[&str]) -> String {
    let parts: Vec<String> = labels
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_model::Signal;

    fn load(text: &str) -> Result<Frame, LoadError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("q.json");
        std::fs::write(&path, text).expect("write");
        load_prometheus(&path, "service", None)
    }

    #[test]
    fn prometheus_values_with_their_own_timestamps_align_on_the_union() {
        let f = load(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
              {"metric":{"__name__":"lat","service":"a"},"values":[[10,"1"],[20,"2"]]},
              {"metric":{"__name__":"lat","job":"b"},"values":[[15,"NaN"],[20,"+Inf"]]}]}}"#,
        )
        .expect("valid response");
        assert_eq!(
            f.times,
            [10, 15, 20].map(Timestamp::from_secs).to_vec(),
            "union of timestamps"
        );
        assert_eq!(f.columns[0].component, "a");
        assert_eq!(f.columns[1].component, "b");
        assert_eq!(f.columns[0].values[..1], [1.0]);
        assert!(f.columns[0].values[1].is_nan());
        assert!(f.columns[1].values[0].is_nan());
        assert_eq!(f.columns[1].values[2], f64::INFINITY);
    }

    #[test]
    fn series_of_one_component_and_metric_are_told_apart_by_their_labels() {
        let f = load(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
              {"metric":{"__name__":"cpu","service":"a","pod":"a-1"},"values":[[10,"1"]]},
              {"metric":{"__name__":"cpu","service":"a","pod":"a-2"},"values":[[10,"2"]]}]}}"#,
        )
        .expect("valid response");
        let metrics: Vec<&str> = f.columns.iter().map(|c| c.metric.as_str()).collect();
        assert_eq!(metrics, [r#"cpu{pod="a-1"}"#, r#"cpu{pod="a-2"}"#]);
        assert_eq!(f.columns[0].signal, Signal::Utilization);
    }

    #[test]
    fn series_without_names_are_all_listed() {
        let err = load(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
              {"metric":{"pod":"x"},"values":[[1,"1"]]},
              {"metric":{"service":"a"},"values":[[1,"1"]]}]}}"#,
        )
        .expect_err("unnamed series");
        let LoadError::Problems(problems) = err else {
            panic!("not a list of problems: {err}");
        };
        let kinds: Vec<bool> = problems
            .iter()
            .map(|p| matches!(p, Problem::NoComponentLabel { .. }))
            .collect();
        assert_eq!(kinds, [true, false]);
    }
}
