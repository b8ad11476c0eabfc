//! `objectives:` — what must stay within thresholds: a metric or a PromQL
//! expression, a direction with warning, critical and clear thresholds, the
//! components it applies to and the remedies that may fix a violation.

use super::components::Components;
use super::defaults;
use super::issues::Issues;
use super::raw::{ObjectiveConfig, S, ThresholdsConfig};
use crate::action::ActionKind;
use crate::charter::{Direction, Objective, ObjectiveSource, Thresholds};
use std::collections::HashMap;

/// Compile `objectives:`; an objective applies to the components it lists, which
/// must be declared, or to all of them. Objectives without valid thresholds are
/// reported and left out.
pub(super) fn compile(
    is: &mut Issues<'_>,
    raw: &[ObjectiveConfig],
    components: &Components<'_>,
) -> Vec<Objective> {
    let mut seen_obj: HashMap<&str, usize> = HashMap::new();
    let mut objectives = Vec::new();
    for (i, o) in raw.iter().enumerate() {
        let p = format!("objectives[{i}]");
        if o.name.value.trim().is_empty() {
            is.at(&o.name, format!("{p}.name"), "must not be empty");
        } else if let Some(first) = seen_obj.insert(o.name.value.as_str(), i) {
            is.at(
                &o.name,
                format!("{p}.name"),
                format!(
                    "duplicate objective `{}` (first declared at objectives[{first}])",
                    o.name.value
                ),
            );
        }
        let given: Vec<&str> = [
            ("metric", o.metric.is_some()),
            ("expr", o.expr.is_some()),
            ("absent", o.absent.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| *k)
        .collect();
        let source = match (&o.metric, &o.expr, &o.absent) {
            (Some(m), None, None) => {
                if m.value.trim().is_empty() {
                    is.at(m, format!("{p}.metric"), "must name a metric");
                }
                ObjectiveSource::Metric {
                    name: m.value.clone(),
                    labels: o.labels.clone(),
                }
            }
            (None, Some(e), None) => {
                if e.value.trim().is_empty() {
                    is.at(e, format!("{p}.expr"), "must not be empty");
                } else if let Err(msg) = crate::rules::parse_promql(&e.value) {
                    is.at(e, format!("{p}.expr"), msg);
                }
                ObjectiveSource::Expr(e.value.clone())
            }
            (None, None, Some(a)) => {
                if a.value.trim().is_empty() {
                    is.at(a, format!("{p}.absent"), "must not be empty");
                } else {
                    match crate::rules::parse_promql(&a.value) {
                        Err(msg) => is.at(a, format!("{p}.absent"), msg),
                        Ok(e)
                            if e.value_type()
                                != promql_parser::parser::value::ValueType::Vector =>
                        {
                            is.at(
                                a,
                                format!("{p}.absent"),
                                format!(
                                    "must be an instant vector such as `up{{job=\"api\"}}`, \
                                     not a {}",
                                    e.value_type()
                                ),
                            );
                        }
                        Ok(_) => {}
                    }
                }
                ObjectiveSource::Absent(a.value.clone())
            }
            (None, None, None) => {
                is.at(&o.name, &p, "needs `metric`, `expr` or `absent`");
                ObjectiveSource::Expr(String::new())
            }
            _ => {
                is.at(
                    &o.name,
                    &p,
                    format!(
                        "give one of `metric`, `expr` and `absent`, not {}",
                        given
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                );
                ObjectiveSource::Expr(String::new())
            }
        };
        let absent = matches!(source, ObjectiveSource::Absent(_));
        let (direction, th) = match (&o.above, &o.below) {
            (Some(t), None) => (Direction::Above, Some(t)),
            (Some(t), Some(_)) => {
                is.at(t, &p, "give either `above` or `below`, not both");
                (Direction::Above, None)
            }
            (None, Some(t)) if absent => {
                is.at(
                    t,
                    format!("{p}.below"),
                    "an `absent` objective reads 1 while nothing matches and 0 otherwise; \
                     give `above` (it defaults to `above: {critical: 0}`)",
                );
                (Direction::Above, None)
            }
            (None, Some(t)) => (Direction::Below, Some(t)),
            (None, None) if absent => (Direction::Above, None),
            (None, None) => {
                is.at(
                    &o.name,
                    &p,
                    "needs thresholds: `above: {warning, critical, clear}` or `below: {...}`",
                );
                (Direction::Above, None)
            }
        };
        let thresholds = match th {
            Some(t) => Some(compile_thresholds(is, t, direction, &p)),
            // Absence is violated at once: 1 is above a critical threshold of 0.
            None if absent && o.below.is_none() => Some(Thresholds {
                warning: None,
                critical: Some(0.0),
                clear: 0.0,
            }),
            None => None,
        };
        for (j, c) in o.components.iter().enumerate() {
            if !components.declared.contains(c.value.as_str()) {
                is.at(
                    c,
                    format!("{p}.components[{j}]"),
                    format!("unknown component `{}`", c.value),
                );
            }
        }
        let mut remedies = Vec::new();
        for (j, r) in o.remedies.iter().enumerate() {
            match r.value.parse::<ActionKind>() {
                Ok(k) if remedies.contains(&k) => {
                    is.warn(
                        r,
                        format!("{p}.remedies[{j}]"),
                        format!("`{k}` is listed twice"),
                    );
                }
                Ok(k) => remedies.push(k),
                Err(e) => is.at(r, format!("{p}.remedies[{j}]"), e.to_string()),
            }
        }
        if o.remedies.is_empty() {
            is.warn(
                &o.name,
                format!("{p}.remedies"),
                "no remedies: violations will be reported, never acted on",
            );
        }
        let for_ = is.duration_in(
            &o.for_,
            &format!("{p}.for"),
            defaults::OBJECTIVE_FOR,
            defaults::SPAN_RANGE,
        );
        let keep_firing_for = is.duration_in(
            &o.keep_firing_for,
            &format!("{p}.keep_firing_for"),
            defaults::OBJECTIVE_KEEP_FIRING_FOR,
            defaults::SPAN_RANGE,
        );
        if let Some(thresholds) = thresholds {
            objectives.push(Objective {
                name: o.name.value.clone(),
                source,
                component_label: o
                    .component_label
                    .clone()
                    .unwrap_or_else(|| defaults::COMPONENT_LABEL.into()),
                components: if o.components.is_empty() {
                    components.list.iter().map(|c| c.name.clone()).collect()
                } else {
                    o.components.iter().map(|c| c.value.clone()).collect()
                },
                signal: o.signal.unwrap_or_default(),
                direction,
                thresholds,
                for_,
                keep_firing_for,
                remedies,
            });
        }
    }
    objectives
}

/// Compile `above:` or `below:` (`dir`): at least one of `warning` and `critical`,
/// in order for the direction, and a `clear` no worse than the first of them
/// (it defaults to that threshold).
fn compile_thresholds(
    is: &mut Issues<'_>,
    t: &S<ThresholdsConfig>,
    dir: Direction,
    p: &str,
) -> Thresholds {
    let side = if dir == Direction::Above {
        "above"
    } else {
        "below"
    };
    let p = format!("{p}.{side}");
    let v = &t.value;
    for (name, x) in [
        ("warning", v.warning),
        ("critical", v.critical),
        ("clear", v.clear),
    ] {
        if let Some(x) = x
            && !x.is_finite()
        {
            is.at(t, format!("{p}.{name}"), "must be a finite number");
        }
    }
    if v.warning.is_none() && v.critical.is_none() {
        is.at(t, &p, "needs a `warning` or a `critical` threshold");
    }
    // "Worse" means higher for `above`, lower for `below`.
    let worse = |a: f64, b: f64| {
        if dir == Direction::Above {
            a > b
        } else {
            a < b
        }
    };
    if let (Some(w), Some(c)) = (v.warning, v.critical)
        && !worse(c, w)
    {
        let want = if dir == Direction::Above {
            "greater"
        } else {
            "less"
        };
        is.at(
            t,
            &p,
            format!("critical ({c}) must be {want} than warning ({w}) for `{side}`"),
        );
    }
    let first = v.warning.or(v.critical).unwrap_or(0.0);
    let clear = v.clear.unwrap_or(first);
    if v.clear.is_some() && worse(clear, first) {
        let want = if dir == Direction::Above {
            "at most"
        } else {
            "at least"
        };
        is.at(
            t,
            format!("{p}.clear"),
            format!("clear ({clear}) must be {want} the first threshold ({first}) for `{side}`"),
        );
    }
    Thresholds {
        warning: v.warning,
        critical: v.critical,
        clear,
    }
}
