//! What a Deployment or StatefulSet event means for Charter: the pure half of the
//! rollout watcher ([`crate::watch`]); no I/O.
//!
//! A [`Tracker`] remembers, per workload of one kind in one namespace, what it last
//! saw ([`Observed`]): the rollout revision, the pod template, the pod template at
//! the last rollout and the replica count. Each object read (from a list or a watch
//! event) is compared with it:
//!
//! - the revision moved (a Deployment's `deployment.kubernetes.io/revision`, a
//!   StatefulSet's `status.updateRevision`): a rollout, described by how the pod
//!   template differs from the one at the previous rollout — container images
//!   (from → to) make it a [`ChangeKind::Deploy`]; only `restartedAt` a
//!   [`ChangeKind::Restart`]; anything else (annotations, env, ConfigMap and Secret
//!   references, other fields) a [`ChangeKind::Config`];
//! - `spec.replicas` moved: a [`ChangeKind::Scale`].
//!
//! The revision is compared, not the template: the template changes first (the
//! user's write), the revision when the controller starts rolling it out, and only
//! then is there a rollout to name. The first list only learns; a later list (after a
//! watch error) is compared like events are, so a rollout made during the gap is
//! reported once, and one seen before is not reported again.

use charter_model::{ChangeKind, Timestamp};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Who made a change when the object does not say (no field manager wrote the
/// fields that changed).
pub const CHANGE_BY: &str = "kubernetes";

/// A change the rollout watcher saw, for the changes store. Its `key` is the same
/// for the same rollout however often, and by however many replicas, it is seen.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutChange {
    /// When it was made: the time `managedFields` records for the last write of the
    /// changed field (`spec.template`, `spec.replicas`), unless that is later than
    /// when the watcher saw the change; else when the watcher saw it (late, after a
    /// gap in the watch).
    pub at: Timestamp,
    /// The Charter component the workload stands for.
    pub component: String,
    pub kind: ChangeKind,
    /// What changed, from → to: `deployment shop/catalog-deploy rolled out revision
    /// 4 (was 3): image of container `catalog` catalog:3 → catalog:4`.
    pub description: String,
    /// The field manager that last wrote the changed fields (`kubectl-client-side-apply`,
    /// `helm`, `argocd-controller`, `charter` for Charter's own actions), or
    /// [`CHANGE_BY`].
    pub by: String,
    /// The dedup key: `kubernetes/<ns>/<kind>/<name>/<revision>` for a rollout,
    /// `…/<revision>/scale/<generation>` for a scale (see [`Observed::revision`]).
    pub key: String,
}

/// The kinds of workload watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 2] = [WorkloadKind::Deployment, WorkloadKind::StatefulSet];

    /// The kind, as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
        }
    }

    /// The resource, as RBAC and the API paths spell it.
    pub fn plural(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployments",
            WorkloadKind::StatefulSet => "statefulsets",
        }
    }

    /// The lowercase word used in descriptions and logs.
    pub fn word(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployment",
            WorkloadKind::StatefulSet => "statefulset",
        }
    }

    /// Read an object of this kind (as the API server sent it) into its name and
    /// what the watcher keeps of it. An object that is not one (missing name, spec
    /// or pod template, fields of the wrong type) is an error naming what is wrong.
    pub fn observe(self, object: &Value) -> Result<(String, Observed), String> {
        match self {
            WorkloadKind::Deployment => observe_deployment(object),
            WorkloadKind::StatefulSet => observe_statefulset(object),
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the watcher keeps of one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The rollout revision: a Deployment's `deployment.kubernetes.io/revision`
    /// annotation (a number the controller raises with each rollout, rollbacks
    /// included); a StatefulSet's `status.updateRevision` (a ControllerRevision
    /// name). `None` until the controller has set it.
    pub revision: Option<String>,
    /// The revision as the dedup key names it: a Deployment's revision; a
    /// StatefulSet's followed by `@` and its generation, since a rollback to an
    /// earlier template reuses that template's ControllerRevision name.
    pub rollout_id: Option<String>,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `spec.replicas` (the API server's default, 1, when absent).
    pub replicas: i32,
    /// `spec.template`, as JSON.
    pub template: Value,
    /// The pod template when the revision last moved (or was first seen): what the
    /// next rollout is compared with.
    pub rolled_template: Value,
    /// Who last wrote `spec.template`, if recorded.
    pub template_by: Option<Writer>,
    /// Who last wrote `spec.replicas`, if recorded.
    pub replicas_by: Option<Writer>,
}

/// A field manager's last write of a field, as `metadata.managedFields` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    /// The field manager (`kubectl-client-side-apply`, `helm`, `charter`, …).
    pub manager: String,
    /// When (the API server's clock), if recorded.
    pub at: Option<Timestamp>,
}

impl Writer {
    /// Who made a change, and when: the writer's time when it is known and not
    /// later than `seen` (the write came first, however late the watcher sees its
    /// rollout — after a gap in the watch, for example), else `seen`.
    fn stamp(writer: Option<&Writer>, seen: Timestamp) -> (String, Timestamp) {
        match writer {
            Some(w) => (
                w.manager.clone(),
                w.at.filter(|t| *t <= seen).unwrap_or(seen),
            ),
            None => (CHANGE_BY.to_string(), seen),
        }
    }
}

fn bad(what: &str, object: &Value, e: impl fmt::Display) -> String {
    match object.pointer("/metadata/name").and_then(Value::as_str) {
        Some(name) => format!("{what} `{name}` cannot be read: {e}"),
        None => format!("a {what} cannot be read: {e}"),
    }
}

fn observe_deployment(object: &Value) -> Result<(String, Observed), String> {
    let d: Deployment =
        serde_json::from_value(object.clone()).map_err(|e| bad("deployment", object, e))?;
    let name = d
        .metadata
        .name
        .clone()
        .ok_or_else(|| bad("deployment", object, "no metadata.name"))?;
    let spec = d
        .spec
        .as_ref()
        .ok_or_else(|| bad("deployment", object, "no spec"))?;
    let template =
        serde_json::to_value(&spec.template).map_err(|e| bad("deployment", object, e))?;
    let revision = d
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(crate::REVISION))
        .cloned();
    Ok((
        name,
        Observed {
            rollout_id: revision.clone(),
            revision,
            generation: d.metadata.generation,
            replicas: spec.replicas.unwrap_or(1),
            rolled_template: template.clone(),
            template,
            template_by: last_writer(object, &["f:spec", "f:template"]),
            replicas_by: last_writer(object, &["f:spec", "f:replicas"]),
        },
    ))
}

fn observe_statefulset(object: &Value) -> Result<(String, Observed), String> {
    let s: StatefulSet =
        serde_json::from_value(object.clone()).map_err(|e| bad("statefulset", object, e))?;
    let name = s
        .metadata
        .name
        .clone()
        .ok_or_else(|| bad("statefulset", object, "no metadata.name"))?;
    let spec = s
        .spec
        .as_ref()
        .ok_or_else(|| bad("statefulset", object, "no spec"))?;
    let template =
        serde_json::to_value(&spec.template).map_err(|e| bad("statefulset", object, e))?;
    let revision = s
        .status
        .as_ref()
        .and_then(|st| st.update_revision.clone())
        .filter(|r| !r.is_empty());
    let rollout_id = revision.as_ref().map(|r| match s.metadata.generation {
        Some(g) => format!("{r}@{g}"),
        None => r.clone(),
    });
    Ok((
        name,
        Observed {
            rollout_id,
            revision,
            generation: s.metadata.generation,
            replicas: spec.replicas.unwrap_or(1),
            rolled_template: template.clone(),
            template,
            template_by: last_writer(object, &["f:spec", "f:template"]),
            replicas_by: last_writer(object, &["f:spec", "f:replicas"]),
        },
    ))
}

/// The newest `metadata.managedFields` entry that owns the field at `path` (in
/// `fieldsV1` notation); later entries win a tie, entries without a time lose.
fn last_writer(object: &Value, path: &[&str]) -> Option<Writer> {
    let entries = object.pointer("/metadata/managedFields")?.as_array()?;
    let mut best: Option<(Option<Timestamp>, &str)> = None;
    for e in entries {
        let mut fields = e.get("fieldsV1");
        for p in path {
            fields = fields.and_then(|f| f.get(*p));
        }
        if fields.is_none() {
            continue;
        }
        let Some(manager) = e.get("manager").and_then(Value::as_str) else {
            continue;
        };
        let time = e
            .get("time")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
            .map(|t| Timestamp(t.as_millisecond()));
        if best.is_none_or(|(t, _)| time >= t) {
            best = Some((time, manager));
        }
    }
    best.map(|(at, m)| Writer {
        manager: m.to_string(),
        at,
    })
}

/// One workload's identity, for descriptions and keys.
struct Workload<'a> {
    kind: WorkloadKind,
    namespace: &'a str,
    name: &'a str,
    component: &'a str,
}

impl Workload<'_> {
    fn key(&self, revision: &str) -> String {
        format!(
            "kubernetes/{}/{}/{}/{revision}",
            self.namespace, self.kind, self.name
        )
    }
}

impl fmt::Display for Workload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind.word(), self.namespace, self.name)
    }
}

/// The changes between what was known of a workload (`old`) and what is seen now
/// (`new`); `new.rolled_template` is set to what the next comparison needs.
fn compare(
    w: &Workload<'_>,
    old: &Observed,
    new: &mut Observed,
    at: Timestamp,
) -> Vec<RolloutChange> {
    let mut out = Vec::new();
    match (&old.revision, &new.revision) {
        (was, Some(now)) if was.as_ref() != Some(now) => {
            let (kind, what) = describe_template_change(&old.rolled_template, &new.template);
            let from = match was {
                Some(r) => format!("(was {r})"),
                None => "(its first)".to_string(),
            };
            let description = match what {
                Some(what) => format!("{w} rolled out revision {now} {from}: {what}"),
                None => format!(
                    "{w} rolled out revision {now} {from}; its pod template is the one last seen \
                     (it changed before the watch saw it)"
                ),
            };
            let (by, at) = Writer::stamp(new.template_by.as_ref(), at);
            out.push(RolloutChange {
                at,
                component: w.component.to_string(),
                kind,
                description,
                by,
                key: w.key(new.rollout_id.as_deref().unwrap_or(now)),
            });
            // new.rolled_template is already new.template.
        }
        _ => new.rolled_template = old.rolled_template.clone(),
    }
    if old.replicas != new.replicas {
        let revision = new.revision.as_deref().unwrap_or("-");
        let step = match new.generation {
            Some(g) => g.to_string(),
            None => format!("to-{}", new.replicas),
        };
        let (by, at) = Writer::stamp(new.replicas_by.as_ref(), at);
        out.push(RolloutChange {
            at,
            component: w.component.to_string(),
            kind: ChangeKind::Scale,
            description: format!(
                "{w} scaled from {} to {} replicas",
                old.replicas, new.replicas
            ),
            by,
            key: w.key(&format!("{revision}/scale/{step}")),
        });
    }
    out
}

/// What differs between two pod templates, and the kind of change it makes: an
/// image change is a deploy, a new `restartedAt` alone a restart, anything else a
/// config change. `None` when they are equal.
pub fn describe_template_change(from: &Value, to: &Value) -> (ChangeKind, Option<String>) {
    if from == to {
        return (ChangeKind::Deploy, None);
    }
    // Nothing before (a workload's first rollout): what it runs.
    if from.is_null() {
        let parts: Vec<String> = images(to)
            .iter()
            .map(|(c, i)| format!("image of container `{c}` {i}"))
            .collect();
        return (ChangeKind::Deploy, Some(parts.join("; ")));
    }
    let mut parts = Vec::new();
    // Images, per container (init containers included), from → to.
    let (ia, ib) = (images(from), images(to));
    let mut image_moved = false;
    for (c, b) in &ib {
        match ia.get(c) {
            Some(a) if a != b => {
                parts.push(format!("image of container `{c}` {a} → {b}"));
                image_moved = true;
            }
            None => {
                parts.push(format!("container `{c}` added ({b})"));
                image_moved = true;
            }
            _ => {}
        }
    }
    for (c, a) in &ia {
        if !ib.contains_key(c) {
            parts.push(format!("container `{c}` removed (was {a})"));
            image_moved = true;
        }
    }
    // Pod template annotations, restartedAt apart.
    let (aa, ab) = (
        string_map(from.pointer("/metadata/annotations")),
        string_map(to.pointer("/metadata/annotations")),
    );
    let restarted = aa.get(crate::RESTARTED_AT) != ab.get(crate::RESTARTED_AT);
    let mut annotations = changed_keys(&aa, &ab);
    annotations.remove(crate::RESTARTED_AT);
    let mut other = Vec::new();
    if !annotations.is_empty() {
        other.push(format!("pod annotations {}", list(&annotations)));
    }
    let labels = changed_keys(
        &string_map(from.pointer("/metadata/labels")),
        &string_map(to.pointer("/metadata/labels")),
    );
    if !labels.is_empty() {
        other.push(format!("pod labels {}", list(&labels)));
    }
    // Per container: env, and any other field.
    let (ca, cb) = (containers(from), containers(to));
    for (c, b) in &cb {
        let Some(a) = ca.get(c) else { continue };
        let env = changed_keys(&env_map(a), &env_map(b));
        if !env.is_empty() {
            other.push(format!("env of container `{c}` {}", list(&env)));
        }
        let fields = changed_fields(a, b, &["image", "env"]);
        if !fields.is_empty() {
            other.push(format!("container `{c}` {}", list(&fields)));
        }
    }
    // ConfigMaps and Secrets the pods read.
    let (ra, rb) = (references(from), references(to));
    if ra != rb {
        let gone: Vec<_> = ra.difference(&rb).cloned().collect();
        let new: Vec<_> = rb.difference(&ra).cloned().collect();
        other.push(format!(
            "references {} → {}",
            if gone.is_empty() {
                "-".into()
            } else {
                gone.join(", ")
            },
            if new.is_empty() {
                "-".into()
            } else {
                new.join(", ")
            }
        ));
    }
    // The rest of the pod spec.
    let spec = changed_fields(
        from.get("spec").unwrap_or(&Value::Null),
        to.get("spec").unwrap_or(&Value::Null),
        &["containers", "initContainers"],
    );
    let spec: BTreeSet<String> = spec
        .into_iter()
        // A volume whose only change is its reference is said above.
        .filter(|f| f != "volumes" || !volumes_differ_only_by_reference(from, to))
        .collect();
    if !spec.is_empty() {
        other.push(format!("pod spec {}", list(&spec)));
    }
    if restarted {
        let at = ab
            .get(crate::RESTARTED_AT)
            .map_or("removed", String::as_str);
        parts.push(format!("restarted ({} = {at})", crate::RESTARTED_AT));
    }
    let kind = if image_moved {
        ChangeKind::Deploy
    } else if other.is_empty() && restarted {
        ChangeKind::Restart
    } else {
        ChangeKind::Config
    };
    if kind == ChangeKind::Config {
        parts.insert(0, "no image change".to_string());
    }
    parts.extend(other);
    (kind, Some(parts.join("; ")))
}

fn list(keys: &BTreeSet<String>) -> String {
    let names: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    names.join(", ")
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn changed_keys<V: PartialEq>(
    a: &BTreeMap<String, V>,
    b: &BTreeMap<String, V>,
) -> BTreeSet<String> {
    a.keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// The keys of two objects whose values differ, less `skip`.
fn changed_fields(a: &Value, b: &Value, skip: &[&str]) -> BTreeSet<String> {
    let empty = serde_json::Map::new();
    let (a, b) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    a.keys()
        .chain(b.keys())
        .filter(|k| !skip.contains(&k.as_str()) && a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// Containers and init containers by name.
fn containers(template: &Value) -> BTreeMap<String, Value> {
    ["/spec/initContainers", "/spec/containers"]
        .iter()
        .filter_map(|p| template.pointer(p).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| Some((c.get("name")?.as_str()?.to_string(), c.clone())))
        .collect()
}

fn images(template: &Value) -> BTreeMap<String, String> {
    containers(template)
        .into_iter()
        .map(|(n, c)| {
            let image = c.get("image").and_then(Value::as_str).unwrap_or("(none)");
            (n, image.to_string())
        })
        .collect()
}

/// A container's env, by variable name (value or `valueFrom`, as JSON).
fn env_map(container: &Value) -> BTreeMap<String, Value> {
    container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let name = e.get("name")?.as_str()?.to_string();
            let mut rest = e.clone();
            if let Some(o) = rest.as_object_mut() {
                o.remove("name");
            }
            Some((name, rest))
        })
        .collect()
}

/// The ConfigMaps and Secrets a pod template reads (`configmap/NAME`,
/// `secret/NAME`): volumes (projected too), `envFrom`, and `env[].valueFrom`.
fn references(template: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut add = |kind: &str, name: Option<&Value>| {
        if let Some(n) = name.and_then(Value::as_str) {
            out.insert(format!("{kind}/{n}"));
        }
    };
    let volumes = template
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for v in volumes {
        add("configmap", v.pointer("/configMap/name"));
        add("secret", v.pointer("/secret/secretName"));
        for s in v
            .pointer("/projected/sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            add("configmap", s.pointer("/configMap/name"));
            add("secret", s.pointer("/secret/name"));
        }
    }
    for c in containers(template).values() {
        for e in c
            .get("envFrom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            add("configmap", e.pointer("/configMapRef/name"));
            add("secret", e.pointer("/secretRef/name"));
        }
        for e in c.get("env").and_then(Value::as_array).into_iter().flatten() {
            add("configmap", e.pointer("/valueFrom/configMapKeyRef/name"));
            add("secret", e.pointer("/valueFrom/secretKeyRef/name"));
        }
    }
    out
}

/// Whether the two templates' volumes are the same once ConfigMap and Secret names
/// are blanked out.
fn volumes_differ_only_by_reference(from: &Value, to: &Value) -> bool {
    fn blank(template: &Value) -> Value {
        let mut v = template
            .pointer("/spec/volumes")
            .cloned()
            .unwrap_or(Value::Null);
        for vol in v.as_array_mut().into_iter().flatten() {
            for p in ["/configMap/name", "/secret/secretName"] {
                if let Some(n) = vol.pointer_mut(p) {
                    *n = Value::Null;
                }
            }
            for s in vol
                .pointer_mut("/projected/sources")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                for p in ["/configMap/name", "/secret/name"] {
                    if let Some(n) = s.pointer_mut(p) {
                        *n = Value::Null;
                    }
                }
            }
        }
        v
    }
    blank(from) == blank(to)
}

/// What a watcher knows of the workloads of one kind in one namespace, and the
/// components they stand for.
#[derive(Debug)]
pub struct Tracker {
    kind: WorkloadKind,
    namespace: String,
    /// Workload name → component.
    components: BTreeMap<String, String>,
    known: BTreeMap<String, Observed>,
    /// Whether a list has been read: until then, objects are learnt, not reported.
    synced: bool,
    /// Workloads already logged as mapped to no component.
    ignored: BTreeSet<String>,
}

/// What reading an object did.
#[derive(Debug, PartialEq)]
pub enum Seen {
    /// The changes it reveals (none: nothing that matters moved, or it was learnt).
    Changes(Vec<RolloutChange>),
    /// No component stands for it.
    Unmapped,
    /// It cannot be read: why.
    Bad(String),
}

impl Tracker {
    /// A tracker for `kind` in `namespace`, whose workloads stand for components as
    /// `components` (workload name → component) says.
    pub fn new(
        kind: WorkloadKind,
        namespace: impl Into<String>,
        components: BTreeMap<String, String>,
    ) -> Self {
        Tracker {
            kind,
            namespace: namespace.into(),
            components,
            known: BTreeMap::new(),
            synced: false,
            ignored: BTreeSet::new(),
        }
    }

    pub fn kind(&self) -> WorkloadKind {
        self.kind
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Whether a list has been read.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// Read one object (a list item, an added or modified event) seen at `at`.
    pub fn upsert(&mut self, object: &Value, at: Timestamp) -> Seen {
        let (name, mut new) = match self.kind.observe(object) {
            Ok(o) => o,
            Err(e) => return Seen::Bad(e),
        };
        let Some(component) = self.components.get(&name) else {
            if self.ignored.insert(name.clone()) {
                tracing::debug!(
                    kind = self.kind.word(),
                    namespace = %self.namespace,
                    workload = %name,
                    "kubernetes watch: no component maps to it; ignored"
                );
            }
            return Seen::Unmapped;
        };
        let w = Workload {
            kind: self.kind,
            namespace: &self.namespace,
            name: &name,
            component,
        };
        let changes = match self.known.get(&name) {
            Some(old) => compare(&w, old, &mut new, at),
            None if !self.synced => Vec::new(),
            // New since the first list: compared with nothing, so its first revision
            // is a rollout and its replicas are not a scale.
            None => {
                let empty = Observed {
                    revision: None,
                    rollout_id: None,
                    generation: None,
                    replicas: new.replicas,
                    template: Value::Null,
                    rolled_template: Value::Null,
                    template_by: None,
                    replicas_by: None,
                };
                compare(&w, &empty, &mut new, at)
            }
        };
        self.known.insert(name, new);
        Seen::Changes(changes)
    }

    /// Forget a deleted object.
    pub fn delete(&mut self, object: &Value) {
        if let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str) {
            self.known.remove(name);
        }
    }

    /// A full list has been read (each item through [`Self::upsert`]): forget what
    /// it did not name (deleted meanwhile), and report changes from now on.
    pub fn end_list(&mut self, listed: &BTreeSet<String>) {
        self.known.retain(|n, _| listed.contains(n));
        self.synced = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(image: &str) -> Value {
        json!({
            "metadata": { "labels": { "app": "web" } },
            "spec": { "containers": [ { "name": "web", "image": image,
                "env": [ { "name": "A", "value": "1" } ] } ] }
        })
    }

    #[test]
    fn an_image_change_is_a_deploy_with_from_and_to() {
        let (kind, what) = describe_template_change(&template("web:1"), &template("web:2"));
        assert_eq!(kind, ChangeKind::Deploy);
        assert_eq!(
            what.as_deref(),
            Some("image of container `web` web:1 → web:2")
        );
    }

    #[test]
    fn env_annotations_and_references_without_an_image_change_are_config() {
        let a = template("web:1");
        let mut b = a.clone();
        b["metadata"]["annotations"] = json!({ "checksum/config": "abc" });
        b["spec"]["containers"][0]["env"][0]["value"] = json!("2");
        b["spec"]["volumes"] = json!([ { "name": "cfg", "configMap": { "name": "web-v2" } } ]);
        let mut a2 = a.clone();
        a2["spec"]["volumes"] = json!([ { "name": "cfg", "configMap": { "name": "web-v1" } } ]);
        let (kind, what) = describe_template_change(&a2, &b);
        assert_eq!(kind, ChangeKind::Config);
        assert_eq!(
            what.as_deref(),
            Some(
                "no image change; pod annotations `checksum/config`; env of container `web` `A`; \
                 references configmap/web-v1 → configmap/web-v2"
            )
        );
    }

    #[test]
    fn restarted_at_alone_is_a_restart_and_with_more_it_is_config() {
        let a = template("web:1");
        let mut b = a.clone();
        b["metadata"]["annotations"] = json!({ (crate::RESTARTED_AT): "2026-01-01T00:00:00Z" });
        let (kind, what) = describe_template_change(&a, &b);
        assert_eq!(kind, ChangeKind::Restart);
        assert_eq!(
            what.as_deref(),
            Some("restarted (kubectl.kubernetes.io/restartedAt = 2026-01-01T00:00:00Z)")
        );
        b["spec"]["containers"][0]["resources"] = json!({ "limits": { "cpu": "1" } });
        let (kind, what) = describe_template_change(&a, &b);
        assert_eq!(kind, ChangeKind::Config);
        assert!(
            what.as_deref()
                .is_some_and(|w| w.contains("container `web` `resources`")),
            "{what:?}"
        );
    }

    #[test]
    fn the_last_writer_of_a_field_is_the_newest_manager_owning_it() {
        let object = json!({ "metadata": { "managedFields": [
            { "manager": "helm", "operation": "Update", "time": "2026-01-01T00:00:00Z",
              "fieldsV1": { "f:spec": { "f:template": {}, "f:replicas": {} } } },
            { "manager": "kube-controller-manager", "operation": "Update",
              "time": "2026-01-03T00:00:00Z", "fieldsV1": { "f:status": {} } },
            { "manager": "kubectl-edit", "operation": "Update", "time": "2026-01-02T00:00:00Z",
              "fieldsV1": { "f:spec": { "f:template": {} } } }
        ] } });
        let day = |d: i64| Some(Timestamp::from_secs(1_767_225_600 + d * 86_400));
        assert_eq!(
            last_writer(&object, &["f:spec", "f:template"]),
            Some(Writer {
                manager: "kubectl-edit".into(),
                at: day(1)
            })
        );
        assert_eq!(
            last_writer(&object, &["f:spec", "f:replicas"]),
            Some(Writer {
                manager: "helm".into(),
                at: day(0)
            })
        );
        // A change is stamped with its write, unless the write claims to be later
        // than the watcher saw it.
        let w = Writer {
            manager: "helm".into(),
            at: day(0),
        };
        let seen = Timestamp::from_secs(1_767_225_600 + 3600);
        assert_eq!(
            Writer::stamp(Some(&w), seen),
            ("helm".to_string(), day(0).expect("t"))
        );
        let early = Timestamp::from_secs(1_767_225_600 - 1);
        assert_eq!(Writer::stamp(Some(&w), early), ("helm".to_string(), early));
        assert_eq!(Writer::stamp(None, seen), (CHANGE_BY.to_string(), seen));
        assert_eq!(last_writer(&object, &["f:spec", "f:paused"]), None);
    }
}
