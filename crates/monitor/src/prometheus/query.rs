//! The PromQL an objective is read with, the range-query step, and times and
//! durations spelled as the API takes them.

use super::MAX_POINTS_PER_SERIES;
use charter_model::{Objective, ObjectiveSource, Timestamp};
use std::time::Duration;

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

/// The PromQL an objective is read with: its `expr` as written, its metric name
/// with label matchers in name order (`name{k="v",...}`, values escaped), or for an
/// `absent` objective `count by (LABEL) (EXPR)`, which names every component that
/// has a series (the others are the absent ones).
pub fn query_for(objective: &Objective) -> String {
    match &objective.source {
        ObjectiveSource::Expr(e) => e.clone(),
        ObjectiveSource::Absent(e) => {
            format!(
                "count by ({}) ({e})",
                label_name(&objective.component_label)
            )
        }
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

/// A label name as PromQL's `by (...)` takes it: bare when it is a classic name,
/// quoted otherwise (Prometheus 3 reads `by ("app.kubernetes.io/name")`).
fn label_name(name: &str) -> String {
    let classic = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if classic {
        name.to_string()
    } else {
        format!("\"{}\"", escape_label_value(name))
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

/// `t` as Unix seconds with millisecond precision, as the API expects.
pub(super) fn unix_seconds(t: Timestamp) -> String {
    let ms = t.millis();
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// A duration as decimal seconds (`4.500`), which the API accepts for `step` and
/// `timeout`.
pub(super) fn seconds(d: Duration) -> String {
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_model::{Direction, Signal, Thresholds};

    fn absent(label: &str, expr: &str) -> Objective {
        Objective {
            name: "gone".into(),
            source: ObjectiveSource::Absent(expr.into()),
            component_label: label.into(),
            components: vec!["api".into()],
            signal: Signal::Availability,
            direction: Direction::Above,
            thresholds: Thresholds {
                warning: None,
                critical: Some(0.0),
                clear: 0.0,
            },
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            remedies: Vec::new(),
        }
    }

    #[test]
    fn an_absent_objective_counts_series_by_its_component_label() {
        assert_eq!(
            query_for(&absent("job", "up{job=\"api\"} == 1")),
            "count by (job) (up{job=\"api\"} == 1)"
        );
        // A label that is not a classic PromQL name is quoted (Prometheus 3).
        assert_eq!(
            query_for(&absent("app.kubernetes.io/name", "up")),
            "count by (\"app.kubernetes.io/name\") (up)"
        );
    }
}
