//! What an action will write, decided from the objects already read; no I/O.
//!
//! Every [`Step`] is absolute (a replica count, a bound, a value, a template), never
//! relative to what is there when it runs, so a step that is written twice — a
//! retry after a timeout, a restarted Charter finishing a recorded plan — leaves the
//! cluster as writing it once would.

use charter_execute::ActuatorError;
use charter_model::{Action, ActionKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One write of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "write", rename_all = "snake_case")]
pub enum Step {
    /// `PATCH deployments/NAME/scale` to this replica count.
    Scale { replicas: i32 },
    /// `PATCH horizontalpodautoscalers/NAME`: new bounds, and what becomes of the
    /// annotation that remembers the `maxReplicas` Charter raised.
    Hpa {
        name: String,
        min_replicas: i32,
        max_replicas: i32,
        #[serde(default)]
        original_max: OriginalMax,
    },
    /// `PATCH configmaps/NAME`: one key of `data`.
    ConfigMap {
        name: String,
        key: String,
        value: String,
    },
    /// A JSON merge patch of the Deployment's `spec.template`; written together with
    /// the final record, so the template change and the record are one request.
    Template { patch: Value },
}

/// What happens to the HPA's `charter.dev/original-max-replicas` annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OriginalMax {
    /// Left as it is.
    #[default]
    Keep,
    /// Set: Charter raised `maxReplicas` from this value.
    Set(i32),
    /// Removed: `maxReplicas` is back to the original.
    Remove,
}

/// The writes an action needs, and what its inverse needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub prior: BTreeMap<String, String>,
    pub detail: String,
    pub steps: Vec<Step>,
}

/// How many replicas a scale asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleRequest {
    /// `step`: this many more (scale_out) or fewer (scale_in).
    Step(i32),
    /// `to_replicas`: exactly this many (set by the inverse of a scale).
    To(i32),
}

/// The HPA bounds that matter for a scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HpaBounds {
    pub name: String,
    /// `minReplicas` (1 when absent, as the API server defaults it).
    pub min: i32,
    pub max: i32,
    /// The `maxReplicas` before Charter raised it, if it did.
    pub original_max: Option<i32>,
}

/// A ReplicaSet of the Deployment, by revision.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    pub number: u64,
    /// The ReplicaSet's name.
    pub name: String,
    /// Its pod template, as JSON.
    pub template: Value,
}

fn precondition(message: impl Into<String>) -> ActuatorError {
    ActuatorError::Precondition(message.into())
}

fn invalid(message: impl Into<String>) -> ActuatorError {
    ActuatorError::Failed(message.into())
}

fn prior(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// The replica request of a `scale_out` or `scale_in`: `to_replicas` if given, else
/// `step` (default 2 out, 1 in). A malformed number is a failure, not a precondition:
/// it is a bug in whoever built the action.
pub fn scale_request(action: &Action) -> Result<ScaleRequest, ActuatorError> {
    let number = |name: &str, min: i32| -> Result<Option<i32>, ActuatorError> {
        match action.param(name) {
            None => Ok(None),
            Some(v) => match v.trim().parse::<i32>() {
                Ok(n) if n >= min => Ok(Some(n)),
                _ => Err(invalid(format!(
                    "`{name}` must be a whole number of at least {min}, not `{v}`"
                ))),
            },
        }
    };
    if let Some(n) = number("to_replicas", 0)? {
        return Ok(ScaleRequest::To(n));
    }
    let default = if action.kind == ActionKind::ScaleOut {
        2
    } else {
        1
    };
    Ok(ScaleRequest::Step(number("step", 1)?.unwrap_or(default)))
}

/// The replica count a scale of `deployment` leaves, from `current`. A scale-in by
/// step stops at one replica and is refused when there is only one.
pub fn scale_target(
    kind: ActionKind,
    request: ScaleRequest,
    current: i32,
    deployment: &str,
) -> Result<i32, ActuatorError> {
    match (kind, request) {
        (_, ScaleRequest::To(n)) => Ok(n),
        (ActionKind::ScaleIn, ScaleRequest::Step(s)) => {
            if current <= 1 {
                return Err(precondition(format!(
                    "deployment `{deployment}` has {current} replica(s); a scale-in would leave none"
                )));
            }
            Ok((current - s).max(1))
        }
        (_, ScaleRequest::Step(s)) => Ok(current.saturating_add(s)),
    }
}

/// Scale `deployment` through its `/scale` subresource.
pub fn scale_plan(
    kind: ActionKind,
    request: ScaleRequest,
    current: i32,
    deployment: &str,
) -> Result<Plan, ActuatorError> {
    let target = scale_target(kind, request, current, deployment)?;
    Ok(Plan {
        prior: prior(&[("replicas", current.to_string())]),
        detail: format!("scaled deployment `{deployment}` from {current} to {target} replicas"),
        steps: vec![Step::Scale { replicas: target }],
    })
}

/// Scale `deployment` by moving the bounds of the HPA that owns its replica count:
/// scaling the Deployment itself would be undone by the HPA at its next sync.
///
/// A scale-out raises `minReplicas` to the target (and `maxReplicas` with it when it
/// has to, remembering the original in an annotation); a scale-in lowers
/// `minReplicas` so the HPA may go down. `prior.replicas` is the previous
/// `minReplicas`, so the inverse (`to_replicas`) puts the bound back, and the
/// original `maxReplicas` with it.
pub fn hpa_plan(
    kind: ActionKind,
    request: ScaleRequest,
    current: i32,
    hpa: &HpaBounds,
    deployment: &str,
) -> Result<Plan, ActuatorError> {
    let name = &hpa.name;
    let min = match (kind, request) {
        (_, ScaleRequest::To(n)) => n,
        (ActionKind::ScaleIn, ScaleRequest::Step(_)) => {
            let target = scale_target(kind, request, current, deployment)?;
            if hpa.min <= target {
                return Err(precondition(format!(
                    "HorizontalPodAutoscaler `{name}` manages deployment `{deployment}` and already \
                     allows {target} replica(s) (minReplicas {}); it scales in by itself",
                    hpa.min
                )));
            }
            target
        }
        (_, ScaleRequest::Step(_)) => hpa
            .min
            .max(scale_target(kind, request, current, deployment)?),
    };
    if min < 1 {
        return Err(precondition(format!(
            "HorizontalPodAutoscaler `{name}` cannot have minReplicas {min}; the least is 1"
        )));
    }
    let (max, original_max) = if min > hpa.max {
        let keep = match hpa.original_max {
            Some(_) => OriginalMax::Keep,
            None => OriginalMax::Set(hpa.max),
        };
        (min, keep)
    } else {
        match hpa.original_max {
            Some(o) if min <= o => (o, OriginalMax::Remove),
            _ => (hpa.max, OriginalMax::Keep),
        }
    };
    let mut detail = format!(
        "HorizontalPodAutoscaler `{name}` manages deployment `{deployment}` ({current} replicas): \
         set its minReplicas {} → {min}",
        hpa.min
    );
    if max != hpa.max {
        detail.push_str(&format!(", maxReplicas {} → {max}", hpa.max));
    }
    detail.push_str(" instead of scaling the deployment, which the HPA would undo");
    Ok(Plan {
        prior: prior(&[
            ("replicas", hpa.min.to_string()),
            ("hpa", name.clone()),
            ("hpa_min_replicas", hpa.min.to_string()),
            ("hpa_max_replicas", hpa.max.to_string()),
            ("deployment_replicas", current.to_string()),
        ]),
        detail,
        steps: vec![Step::Hpa {
            name: name.clone(),
            min_replicas: min,
            max_replicas: max,
            original_max,
        }],
    })
}

/// A rolling restart: a new `restartedAt` on the pod template. Irreversible.
pub fn restart_plan(deployment: &str, now: &str) -> Plan {
    Plan {
        prior: BTreeMap::new(),
        detail: format!(
            "rolling restart of deployment `{deployment}` ({} = {now}); a restart cannot be undone",
            crate::RESTARTED_AT
        ),
        steps: vec![restart_step(now)],
    }
}

fn restart_step(now: &str) -> Step {
    Step::Template {
        patch: serde_json::json!({ "metadata": { "annotations": { (crate::RESTARTED_AT): now } } }),
    }
}

/// The newest revision older than `current`: what a rollback returns to.
pub fn previous_revision(current: u64, revisions: &[Revision]) -> Option<&Revision> {
    revisions
        .iter()
        .filter(|r| r.number < current)
        .max_by_key(|r| r.number)
}

/// Roll `deployment` from revision `current` (pod template `template`) back to the
/// previous revision, or to revision `to_version` (the inverse of a rollback rolls
/// forward this way).
pub fn rollback_plan(
    deployment: &str,
    current: u64,
    template: &Value,
    revisions: &[Revision],
    to_version: Option<&str>,
) -> Result<Plan, ActuatorError> {
    let target = match to_version {
        Some(v) => {
            let n: u64 = v.trim().parse().map_err(|_| {
                invalid(format!("`to_version` must be a revision number, not `{v}`"))
            })?;
            revisions.iter().find(|r| r.number == n).ok_or_else(|| {
                precondition(format!(
                    "deployment `{deployment}` has no ReplicaSet with revision {n}"
                ))
            })?
        }
        None => previous_revision(current, revisions).ok_or_else(|| {
            precondition(format!(
                "deployment `{deployment}` has no revision before {current} to roll back to"
            ))
        })?,
    };
    if target.number == current {
        return Err(precondition(format!(
            "deployment `{deployment}` is already at revision {current}"
        )));
    }
    let mut wanted = target.template.clone();
    if let Some(labels) = wanted
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(crate::POD_TEMPLATE_HASH);
    }
    let Some(patch) = merge_diff(template, &wanted) else {
        return Err(precondition(format!(
            "deployment `{deployment}` already runs the pod template of revision {} (ReplicaSet `{}`)",
            target.number, target.name
        )));
    };
    let direction = if target.number < current {
        "back"
    } else {
        "forward"
    };
    Ok(Plan {
        prior: prior(&[("version", current.to_string())]),
        detail: format!(
            "rolled deployment `{deployment}` {direction} from revision {current} to the pod \
             template of revision {} (ReplicaSet `{}`)",
            target.number, target.name
        ),
        steps: vec![Step::Template { patch }],
    })
}

/// Set `key` of ConfigMap `configmap` (whose data is `data`) to `value`, then restart
/// `deployment` so its pods read it. `prior.value` is the old value; a key that was
/// not set has none, and the change cannot be undone by an inverse.
pub fn reconfigure_plan(
    deployment: &str,
    configmap: &str,
    data: Option<&BTreeMap<String, String>>,
    key: &str,
    value: &str,
    now: &str,
) -> Result<Plan, ActuatorError> {
    if key.is_empty()
        || key.len() > 253
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(invalid(format!(
            "`{key}` is not a ConfigMap key (letters, digits, `-`, `_` and `.`)"
        )));
    }
    let old = data.and_then(|d| d.get(key));
    if old.map(String::as_str) == Some(value) {
        return Ok(Plan {
            prior: prior(&[("value", value.to_string())]),
            detail: format!(
                "configmap `{configmap}` already has {key} = `{value}`; nothing changed"
            ),
            steps: Vec::new(),
        });
    }
    let (prior, was) = match old {
        Some(v) => (prior(&[("value", v.clone())]), format!("`{v}`")),
        None => (
            BTreeMap::new(),
            "unset (the change cannot be undone)".to_string(),
        ),
    };
    Ok(Plan {
        prior,
        detail: format!(
            "set {key} = `{value}` in configmap `{configmap}` (was {was}) and restarted deployment \
             `{deployment}` ({} = {now})",
            crate::RESTARTED_AT
        ),
        steps: vec![
            Step::ConfigMap {
                name: configmap.to_string(),
                key: key.to_string(),
                value: value.to_string(),
            },
            restart_step(now),
        ],
    })
}

/// The JSON merge patch (RFC 7386) that turns `from` into `to`, `None` when they are
/// equal. Keys only in `from` become `null` (removed); arrays and scalars are replaced
/// whole, as a merge patch does.
pub fn merge_diff(from: &Value, to: &Value) -> Option<Value> {
    if from == to {
        return None;
    }
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let mut patch = Map::new();
            for (k, av) in a {
                match b.get(k) {
                    None => {
                        patch.insert(k.clone(), Value::Null);
                    }
                    Some(bv) => {
                        if let Some(d) = merge_diff(av, bv) {
                            patch.insert(k.clone(), d);
                        }
                    }
                }
            }
            for (k, bv) in b {
                if !a.contains_key(k) {
                    patch.insert(k.clone(), bv.clone());
                }
            }
            Some(Value::Object(patch))
        }
        _ => Some(to.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hpa(min: i32, max: i32, original_max: Option<i32>) -> HpaBounds {
        HpaBounds {
            name: "web".into(),
            min,
            max,
            original_max,
        }
    }

    fn hpa_step(plan: &Plan) -> (i32, i32, OriginalMax) {
        match &plan.steps[..] {
            [
                Step::Hpa {
                    min_replicas,
                    max_replicas,
                    original_max,
                    ..
                },
            ] => (*min_replicas, *max_replicas, *original_max),
            other => panic!("expected one hpa step, got {other:?}"),
        }
    }

    #[test]
    fn scale_requests_default_and_reject_nonsense() {
        let out = Action::new(ActionKind::ScaleOut, "web");
        assert_eq!(scale_request(&out).ok(), Some(ScaleRequest::Step(2)));
        let inn = Action::new(ActionKind::ScaleIn, "web");
        assert_eq!(scale_request(&inn).ok(), Some(ScaleRequest::Step(1)));
        let to = inn
            .clone()
            .with_param("to_replicas", 4)
            .with_param("step", 9);
        assert_eq!(scale_request(&to).ok(), Some(ScaleRequest::To(4)));
        for bad in ["0", "-1", "two", ""] {
            let a = out.clone().with_param("step", bad);
            assert!(matches!(
                scale_request(&a),
                Err(ActuatorError::Failed(m)) if m.contains("`step`")
            ));
        }
    }

    #[test]
    fn a_scale_in_by_step_stops_at_one_replica() {
        let s = |cur| scale_target(ActionKind::ScaleIn, ScaleRequest::Step(3), cur, "web");
        assert_eq!(s(5).ok(), Some(2));
        assert_eq!(s(2).ok(), Some(1));
        assert!(matches!(s(1), Err(ActuatorError::Precondition(_))));
    }

    #[test]
    fn an_hpa_scale_out_raises_min_and_max_and_its_inverse_restores_both() {
        let out = hpa_plan(
            ActionKind::ScaleOut,
            ScaleRequest::Step(2),
            3,
            &hpa(2, 4, None),
            "web",
        )
        .expect("plan");
        assert_eq!(hpa_step(&out), (5, 5, OriginalMax::Set(4)));
        assert_eq!(out.prior["replicas"], "2");
        assert!(out.detail.contains("minReplicas 2 → 5, maxReplicas 4 → 5"));
        // The inverse, once the HPA is at 5..5 with the annotation.
        let inverse = Action::new(ActionKind::ScaleOut, "web")
            .inverse(&out.prior)
            .expect("reversible");
        let back = hpa_plan(
            inverse.kind,
            scale_request(&inverse).expect("request"),
            5,
            &hpa(5, 5, Some(4)),
            "web",
        )
        .expect("plan");
        assert_eq!(hpa_step(&back), (2, 4, OriginalMax::Remove));
    }

    #[test]
    fn an_hpa_scale_in_lowers_min_only_when_it_binds() {
        let p = hpa_plan(
            ActionKind::ScaleIn,
            ScaleRequest::Step(1),
            4,
            &hpa(4, 8, None),
            "web",
        )
        .expect("plan");
        assert_eq!(hpa_step(&p), (3, 8, OriginalMax::Keep));
        let refused = hpa_plan(
            ActionKind::ScaleIn,
            ScaleRequest::Step(1),
            4,
            &hpa(2, 8, None),
            "web",
        );
        assert!(
            matches!(refused, Err(ActuatorError::Precondition(m)) if m.contains("scales in by itself"))
        );
    }

    fn revision(number: u64, image: &str) -> Revision {
        Revision {
            number,
            name: format!("web-{number}"),
            template: json!({
                "metadata": { "labels": { "app": "web", "pod-template-hash": format!("h{number}") } },
                "spec": { "containers": [ { "name": "web", "image": image } ] }
            }),
        }
    }

    #[test]
    fn rollback_picks_the_newest_older_revision_and_patches_only_the_difference() {
        let current = json!({
            "metadata": { "labels": { "app": "web" }, "annotations": { "x": "1" } },
            "spec": { "containers": [ { "name": "web", "image": "web:3" } ] }
        });
        let revs = [
            revision(1, "web:1"),
            revision(2, "web:2"),
            revision(3, "web:3"),
        ];
        let p = rollback_plan("web", 3, &current, &revs, None).expect("plan");
        assert_eq!(p.prior["version"], "3");
        assert_eq!(
            p.steps,
            vec![Step::Template {
                patch: json!({
                    "metadata": { "annotations": null },
                    "spec": { "containers": [ { "name": "web", "image": "web:2" } ] }
                })
            }]
        );
        let to = rollback_plan("web", 3, &current, &revs, Some("1")).expect("plan");
        assert!(to.detail.contains("revision 1"), "{}", to.detail);
        assert!(matches!(
            rollback_plan("web", 1, &current, &revs[..1], None),
            Err(ActuatorError::Precondition(m)) if m.contains("no revision before 1")
        ));
        assert!(matches!(
            rollback_plan("web", 3, &current, &revs, Some("v2")),
            Err(ActuatorError::Failed(_))
        ));
    }

    #[test]
    fn merge_diff_removes_replaces_and_adds() {
        let from = json!({ "a": 1, "b": { "c": 2, "d": 3 }, "l": [1, 2] });
        let to = json!({ "b": { "c": 2, "e": 4 }, "l": [1], "n": "x" });
        assert_eq!(
            merge_diff(&from, &to),
            Some(json!({ "a": null, "b": { "d": null, "e": 4 }, "l": [1], "n": "x" }))
        );
        assert_eq!(merge_diff(&from, &from), None);
    }

    #[test]
    fn reconfigure_records_the_old_value_and_skips_a_no_op() {
        let data = BTreeMap::from([("pool".to_string(), "10".to_string())]);
        let p =
            reconfigure_plan("web", "web-config", Some(&data), "pool", "20", "t").expect("plan");
        assert_eq!(p.prior["value"], "10");
        assert_eq!(p.steps.len(), 2);
        let same =
            reconfigure_plan("web", "web-config", Some(&data), "pool", "10", "t").expect("plan");
        assert!(same.steps.is_empty());
        let new = reconfigure_plan("web", "web-config", None, "flag", "on", "t").expect("plan");
        assert!(new.prior.is_empty() && new.detail.contains("cannot be undone"));
        assert!(reconfigure_plan("web", "c", None, "a/b", "1", "t").is_err());
    }
}
