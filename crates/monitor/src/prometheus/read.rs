//! One objective's instant query mapped onto its components: one sample each, Unknown
//! on any doubt, and problems about other series reported once.

use super::PrometheusSource;
use super::query::query_for;
use super::response::{
    QueryData, RawPoint, VectorSeries, checked_value, fmt_labels, parse_data, quote, result_type,
    worst,
};
use charter_model::{Charter, Objective, ObjectiveSource, Sample, Timestamp};
use std::collections::BTreeMap;

/// Most distinct ignored-series problems remembered (and so reported) per source.
const MAX_REPORTED: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Reported {
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

/// What one objective's query gave this cycle.
pub(super) struct ObjectiveReading {
    pub(super) samples: Vec<Sample>,
    pub(super) problems: Vec<String>,
    /// Set when the query failed at the transport or HTTP level.
    pub(super) transport_failure: Option<String>,
}

impl PrometheusSource {
    /// Query one objective and map its result onto the objective's components.
    pub(super) async fn read_objective(
        &self,
        charter: &Charter,
        objective: &Objective,
        now: Timestamp,
    ) -> ObjectiveReading {
        let params = self.instant_params(query_for(objective), now);
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
        let single = objective.components.len() == 1;
        match data {
            // VictoriaMetrics answers a scalar expression with a one-series vector
            // without labels; like a scalar, it fits a single-component objective.
            QueryData::Vector(series)
                if single && series.len() == 1 && series[0].metric.is_empty() =>
            {
                let value = match &series[0].value {
                    Some(RawPoint(_, v)) => checked_value(v),
                    None => Err("the series has no float value (a native histogram?)".into()),
                };
                single_reading(objective, now, value)
            }
            QueryData::Vector(series) => self.map_vector(charter, objective, series, now),
            QueryData::Scalar(RawPoint(_, v)) if single => {
                single_reading(objective, now, checked_value(&v))
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
                // A component of the charter that the objective leaves out: the
                // objective's `components:` chose that, and a metric shared by
                // several objectives (backend and edge latency of one histogram)
                // returns their series too. Nothing to fix, so nothing to report.
                if charter.component(value).is_some() {
                    tracing::debug!(objective = %name, component = %value, "series of a component outside the objective ignored");
                    continue;
                }
                let key = Reported::Ignored {
                    objective: name.clone(),
                    value: Some(value.clone()),
                };
                if self.first_report(key) {
                    let p = format!(
                        "objective `{name}`: ignored series for `{label}=\"{}\"`: it is not \
                         a component of the charter",
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

        // An `absent` objective's query counts series per component: a successful
        // answer without a component is its absence (1), any series its presence (0).
        let absence = matches!(objective.source, ObjectiveSource::Absent(_));
        let mut samples = Vec::with_capacity(objective.components.len());
        for component in &objective.components {
            let values = found.remove(component.as_str()).unwrap_or_default();
            let value = match values.as_slice() {
                [] if absence => Ok(1.0),
                _ if absence => Ok(0.0),
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
}

/// The reading of a single-component objective whose query gave one unlabelled value.
fn single_reading(
    objective: &Objective,
    now: Timestamp,
    value: Result<f64, String>,
) -> ObjectiveReading {
    let component = &objective.components[0];
    let mut problems = Vec::new();
    let value = match value {
        Ok(x) => Some(x),
        Err(why) => {
            problems.push(format!(
                "objective `{}`: component `{component}`: {why}",
                objective.name
            ));
            None
        }
    };
    ObjectiveReading {
        samples: vec![sample(objective, component, now, value)],
        problems,
        transport_failure: None,
    }
}

fn sample(objective: &Objective, component: &str, at: Timestamp, value: Option<f64>) -> Sample {
    Sample {
        objective: objective.name.clone(),
        component: component.to_string(),
        at,
        value,
    }
}
