//! Which label of an alert expression's result names the component.
//!
//! An aggregation keeps only its grouping labels, so `sum by (instance) (...)` can
//! only be mapped through `instance`: the label is read from the expression's
//! outermost grouping. An expression that aggregates nothing keeps its series'
//! labels; then the selectors decide (a matcher on the preferred label, a metric
//! family's naming label, an equality matcher on a label that names components),
//! and failing that the preferred label is assumed.

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::token::{T_BOTTOMK, T_COUNT_VALUES, T_LIMIT_RATIO, T_LIMITK, T_TOPK};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{
    AggregateExpr, Expr, LabelModifier, VectorMatchCardinality, VectorSelector,
};

/// Labels that name components, most component-like first; used to pick one of
/// several grouping labels (`by (namespace, deployment)` → `deployment`) and to
/// recognise an equality matcher that picks one component (`up{job="api"}`).
pub const COMPONENT_LABELS: &[&str] = &[
    "service",
    "app",
    "app_kubernetes_io_name",
    "deployment",
    "statefulset",
    "daemonset",
    "job_name",
    "job",
    "persistentvolumeclaim",
    "horizontalpodautoscaler",
    "pod",
    "container",
    "instance",
    "node",
];

/// Metric families whose series name their object in a fixed label
/// (kube-state-metrics, node-exporter, kubelet, cAdvisor).
const FAMILIES: &[(&str, &str, &str)] = &[
    ("kube_deployment_", "deployment", "a Deployment"),
    ("kube_statefulset_", "statefulset", "a StatefulSet"),
    ("kube_daemonset_", "daemonset", "a DaemonSet"),
    (
        "kube_horizontalpodautoscaler_",
        "horizontalpodautoscaler",
        "an HPA",
    ),
    ("kube_job_", "job_name", "a Job"),
    ("kube_pod_", "pod", "a Pod"),
    (
        "kube_persistentvolumeclaim_",
        "persistentvolumeclaim",
        "a PVC",
    ),
    ("kubelet_volume_stats_", "persistentvolumeclaim", "a PVC"),
    ("kube_node_", "node", "a Node"),
    ("node_", "instance", "a host (node-exporter target)"),
    ("container_", "container", "a container (cAdvisor)"),
];

/// The label chosen, and why, in words for the generated comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LabelChoice {
    pub label: String,
    /// Where the label came from (for example: from the grouping `sum by (instance)`).
    pub why: String,
    /// The one component every selector picks with `label="value"`, if any.
    pub component: Option<String>,
}

/// What labels an expression's result series carry.
enum Out<'a> {
    /// Exactly these labels (an aggregation's `by`), and the text that set them.
    Only(Vec<String>, String),
    /// Whatever the selectors' series carry, except `dropped` (by `without (...)`
    /// or a function such as `histogram_quantile`, which drops `le`).
    All {
        selectors: Vec<&'a VectorSelector>,
        dropped: Vec<String>,
    },
}

/// The component label of `e`'s result. `preferred` is the label the user named
/// (`--component-label`, `service` by default). The error says why no label can work.
pub(super) fn choose(e: &Expr, preferred: &str) -> Result<LabelChoice, String> {
    let component = |label: &str| fixed_value(e, label);
    match out_labels(e) {
        Out::Only(labels, origin) => {
            let labels: Vec<String> = labels
                .into_iter()
                .filter(|l| l != "le" && l != "quantile")
                .collect();
            let (label, why) = match labels.as_slice() {
                [] => {
                    return Err(format!(
                        "{origin} keeps no label, so no result series names a component; \
                         aggregate `by` the label that names the component (for example \
                         `by ({preferred})`) or write the objective by hand"
                    ));
                }
                [one] => (
                    one.clone(),
                    format!("from the only label of the grouping {origin}"),
                ),
                several => {
                    let list = several
                        .iter()
                        .map(|l| format!("`{l}`"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let named = std::iter::once(preferred)
                        .chain(COMPONENT_LABELS.iter().copied())
                        .find(|c| several.iter().any(|l| l == c));
                    match named {
                        Some(l) => (
                            l.to_string(),
                            format!(
                                "from the grouping {origin}: of {list}, `{l}` is the one that \
                                 names components"
                            ),
                        ),
                        None => (
                            several[0].clone(),
                            format!(
                                "from the grouping {origin}: the first of {list} (none of them is \
                                 a usual component label)"
                            ),
                        ),
                    }
                }
            };
            let component = component(&label);
            Ok(LabelChoice {
                label,
                why,
                component,
            })
        }
        Out::All { selectors, dropped } => {
            let kept = |l: &str| !dropped.iter().any(|d| d == l);
            let matched = |l: &str, equal_only: bool| {
                selectors.iter().any(|vs| {
                    all_matchers(vs)
                        .any(|m| m.name == l && (!equal_only || matches!(m.op, MatchOp::Equal)))
                })
            };
            let choice = if kept(preferred) && matched(preferred, false) {
                Some((
                    preferred.to_string(),
                    format!("the selector matches on `{preferred}`"),
                ))
            } else if let Some((label, name)) =
                recorded_level(&selectors, preferred).filter(|(l, _)| kept(l))
            {
                Some((
                    label.clone(),
                    format!(
                        "from the recording rule's name `{name}`: by the `level:metric:operations` \
                         convention its series are aggregated by `{label}`"
                    ),
                ))
            } else if let Some((label, what, prefix)) = family(&selectors).filter(|f| kept(f.0)) {
                Some((
                    label.to_string(),
                    format!("from the metric family: `{prefix}*` series name {what} in `{label}`"),
                ))
            } else if let Some(l) = COMPONENT_LABELS
                .iter()
                .copied()
                .find(|l| kept(l) && matched(l, true))
            {
                let value = fixed_value(e, l).unwrap_or_default();
                Some((
                    l.to_string(),
                    format!("the selector picks `{l}=\"{value}\"` (`{l}` names components)"),
                ))
            } else if kept(preferred) {
                Some((
                    preferred.to_string(),
                    format!(
                        "assumed: the expression aggregates nothing, so its series keep all \
                         their labels; check that they carry `{preferred}`"
                    ),
                ))
            } else {
                None
            };
            let Some((label, mut why)) = choice else {
                return Err(format!(
                    "`without ({})` drops `{preferred}` and the selectors name no other \
                     component label; aggregate `by` the label that names the component",
                    dropped.join(", ")
                ));
            };
            let dropped: Vec<&String> = dropped.iter().filter(|d| *d != "le").collect();
            if !dropped.is_empty() {
                why.push_str(&format!(
                    " (kept by `without ({})`)",
                    dropped
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let component = component(&label);
            Ok(LabelChoice {
                label,
                why,
                component,
            })
        }
    }
}

/// For selectors of recorded series named `level:metric:operations`
/// (`service:http_errors:ratio_rate5m`), the label of the aggregation level that
/// names components, and the name it was read from. All selectors must agree.
fn recorded_level(selectors: &[&VectorSelector], preferred: &str) -> Option<(String, String)> {
    let mut found: Option<(String, String)> = None;
    for vs in selectors {
        let name = metric_name(vs)?;
        let parts: Vec<&str> = name.split(':').collect();
        if parts.len() < 3 || parts[0].is_empty() {
            return None;
        }
        let level = parts[0];
        // A level names one label (`job_name`) or several joined by `_`
        // (`namespace_pod`); a known label wins.
        let mut candidates = vec![level];
        candidates.extend(level.split('_'));
        let label = std::iter::once(preferred)
            .chain(COMPONENT_LABELS.iter().copied())
            .find(|l| candidates.contains(l))
            .or_else(|| (!level.contains('_')).then_some(level))?;
        match &found {
            None => found = Some((label.to_string(), name.clone())),
            Some((prev, _)) if prev == label => {}
            Some(_) => return None,
        }
    }
    found
}

fn all_matchers(vs: &VectorSelector) -> impl Iterator<Item = &Matcher> {
    vs.matchers
        .matchers
        .iter()
        .chain(vs.matchers.or_matchers.iter().flatten())
}

/// The label that the metric families of all selectors agree on, with what it names
/// and the family prefix.
fn family(selectors: &[&VectorSelector]) -> Option<(&'static str, &'static str, &'static str)> {
    let mut found = None;
    for vs in selectors {
        let name = metric_name(vs)?;
        let f = FAMILIES
            .iter()
            .find(|(prefix, ..)| name.starts_with(prefix))?;
        match found {
            None => found = Some(*f),
            Some(prev) if prev.1 == f.1 => {}
            Some(_) => return None,
        }
    }
    found.map(|(prefix, label, what)| (label, what, prefix))
}

fn metric_name(vs: &VectorSelector) -> Option<String> {
    vs.name.clone().or_else(|| {
        all_matchers(vs)
            .find(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal))
            .map(|m| m.value.clone())
    })
}

/// The value every selector of `e` fixes `label` to with `=`, if they all fix the
/// same one.
pub(super) fn fixed_value(e: &Expr, label: &str) -> Option<String> {
    let mut selectors = Vec::new();
    super::promql::collect_selectors(e, &mut selectors);
    let mut value: Option<String> = None;
    for vs in selectors {
        let v = vs
            .matchers
            .matchers
            .iter()
            .find(|m| m.name == label && matches!(m.op, MatchOp::Equal))
            .map(|m| m.value.clone());
        match (&value, v) {
            (_, None) => return None,
            (None, Some(v)) => value = Some(v),
            (Some(prev), Some(v)) if *prev == v => {}
            _ => return None,
        }
    }
    value.filter(|v| !v.is_empty())
}

fn is_scalar(e: &Expr) -> bool {
    matches!(e.value_type(), ValueType::Scalar | ValueType::String)
}

fn out_labels(e: &Expr) -> Out<'_> {
    match e {
        Expr::Paren(p) => out_labels(&p.expr),
        Expr::Unary(u) => out_labels(&u.expr),
        Expr::Subquery(s) => out_labels(&s.expr),
        Expr::VectorSelector(vs) => Out::All {
            selectors: vec![vs],
            dropped: Vec::new(),
        },
        Expr::MatrixSelector(ms) => Out::All {
            selectors: vec![&ms.vs],
            dropped: Vec::new(),
        },
        Expr::Aggregate(a) => aggregate(a),
        Expr::Call(c) => {
            let vectors: Vec<&Expr> = c
                .args
                .args
                .iter()
                .map(|a| a.as_ref())
                .filter(|a| !is_scalar(a))
                .collect();
            let Some(first) = vectors.first() else {
                return Out::Only(Vec::new(), format!("`{}()`", c.func.name));
            };
            let inner = out_labels(first);
            match c.func.name {
                // The bucket boundary is consumed.
                "histogram_quantile" | "histogram_fraction" => drop_labels(inner, &["le"]),
                _ => inner,
            }
        }
        Expr::Binary(b) => {
            let (l, r) = (is_scalar(&b.lhs), is_scalar(&b.rhs));
            if l && !r {
                return out_labels(&b.rhs);
            }
            if r || b.op.is_set_operator() {
                return out_labels(&b.lhs);
            }
            let card = b.modifier.as_ref().map(|m| &m.card);
            let on = b
                .modifier
                .as_ref()
                .and_then(|m| m.matching.as_ref())
                .is_some();
            match card {
                Some(VectorMatchCardinality::OneToMany(_)) => out_labels(&b.rhs),
                Some(VectorMatchCardinality::ManyToOne(_)) => out_labels(&b.lhs),
                // One-to-one without `on`/`ignoring`: both sides carry the same labels,
                // so an aggregated side tells what they are.
                _ if !on => match (out_labels(&b.lhs), out_labels(&b.rhs)) {
                    (lhs @ Out::Only(..), _) => lhs,
                    (_, rhs @ Out::Only(..)) => rhs,
                    (lhs, _) => lhs,
                },
                _ => out_labels(&b.lhs),
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {
            Out::Only(Vec::new(), "a constant".into())
        }
    }
}

fn aggregate(a: &AggregateExpr) -> Out<'_> {
    let op = a.op.id();
    // These pick series and keep their labels.
    if matches!(op, T_TOPK | T_BOTTOMK | T_LIMITK | T_LIMIT_RATIO) {
        return out_labels(&a.expr);
    }
    let mut extra = Vec::new();
    if op == T_COUNT_VALUES
        && let Some(p) = &a.param
        && let Expr::StringLiteral(s) = p.as_ref()
    {
        extra.push(s.val.clone());
    }
    match &a.modifier {
        Some(LabelModifier::Include(ls)) => {
            let mut labels = ls.labels.clone();
            labels.extend(extra);
            Out::Only(labels, format!("`{} by ({})`", a.op, ls.labels.join(", ")))
        }
        Some(LabelModifier::Exclude(ls)) => {
            let names: Vec<&str> = ls.labels.iter().map(String::as_str).collect();
            drop_labels(out_labels(&a.expr), &names)
        }
        None => Out::Only(extra, format!("`{}(...)` without `by`", a.op)),
    }
}

fn drop_labels<'a>(out: Out<'a>, names: &[&str]) -> Out<'a> {
    match out {
        Out::Only(labels, origin) => Out::Only(
            labels
                .into_iter()
                .filter(|l| !names.contains(&l.as_str()))
                .collect(),
            origin,
        ),
        Out::All {
            selectors,
            mut dropped,
        } => {
            dropped.extend(names.iter().map(|s| s.to_string()));
            Out::All { selectors, dropped }
        }
    }
}
