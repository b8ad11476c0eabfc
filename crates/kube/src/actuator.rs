//! [`KubernetesActuator`]: Charter's actions on the Deployments of one namespace.
//!
//! Every action starts by reading the Deployment. If its record
//! ([`crate::record`]) carries the same key, the recorded result is returned (or the
//! recorded remaining writes are finished) and nothing is planned again. Otherwise
//! the objects the action depends on are read, a [`Plan`] of absolute writes is made,
//! and it is carried out:
//!
//! - a plan that only changes the Deployment's pod template (restart, rollback) is one
//!   merge patch: the template change and the `done` record together, guarded by the
//!   `resourceVersion` read, so a concurrent change makes it fail with 409 instead of
//!   acting on a stale view;
//! - any other plan first writes a `pending` record with its steps (guarded the same
//!   way), then the steps (`/scale`, the HPA, the ConfigMap), then the `done` record
//!   with the template change, if any.
//!
//! With a leader lease, the first (`resourceVersion`-guarded) record write of an
//! action also stores the leader's fencing epoch ([`crate::FENCING_EPOCH`]), and a
//! replica does not start or finish an action on a Deployment that carries a newer
//! epoch than its own: once a new leader has acted on a Deployment, an old leader
//! that was stopped and continued cannot.
//!
//! Results are also remembered in memory by key, so a repeated key in the same process
//! makes no request at all. Failures are not remembered: a retry reads the record
//! again and finishes what a failed attempt started.

use crate::plan::{self, HpaBounds, OriginalMax, Plan, Revision, Step};
use crate::record::{Record, State};
use crate::{FENCING_EPOCH, FIELD_MANAGER, ORIGINAL_MAX_REPLICAS, REVISION};
use async_trait::async_trait;
use charter_execute::{Actuator, ActuatorError, Applied};
use charter_model::{Action, ActionKind, ComponentState, KubernetesSpec, fmt_duration};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// The longest remote message quoted in an error, in characters.
const MAX_QUOTE: usize = 300;

/// What a key's first apply left: the action, and its result (`Err`: a precondition).
type Remembered = Arc<tokio::sync::Mutex<Option<(Action, Result<Applied, String>)>>>;

/// The wall clock as RFC 3339, for `restartedAt`; tests inject a fixed one.
type Clock = Arc<dyn Fn() -> String + Send + Sync>;

enum ClientSource {
    Ready(Client),
    /// Built on first use from the spec's kubeconfig or the in-cluster account: a
    /// client needs a runtime, and an exec credential plugin may take a while.
    Lazy(OnceCell<Client>),
}

/// An [`Actuator`] for the Deployments of one namespace (`actuators.NAME.kubernetes`).
pub struct KubernetesActuator {
    name: String,
    spec: KubernetesSpec,
    client: ClientSource,
    now: Clock,
    done: Mutex<HashMap<String, Remembered>>,
    /// The component each key was sent for in this process, for `status`.
    sent: Mutex<HashMap<String, String>>,
    /// The leader's fencing epoch (0: a single replica without a lease, not fenced).
    epoch: AtomicU64,
}

impl fmt::Debug for KubernetesActuator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubernetesActuator")
            .field("name", &self.name)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

fn failed(message: impl Into<String>) -> ActuatorError {
    ActuatorError::Failed(message.into())
}

fn wall_clock() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| k8s_openapi::jiff::Timestamp::now().to_string())
}

impl KubernetesActuator {
    /// The actuator `name` acting through `client` (tests pass a mocked one).
    pub fn new(name: impl Into<String>, spec: KubernetesSpec, client: Client) -> Self {
        Self::with_source(name.into(), spec, ClientSource::Ready(client))
    }

    /// The actuator `name` for `spec`, connecting on first use with the spec's
    /// kubeconfig and context, or else `KUBECONFIG`, `~/.kube/config` or the pod's
    /// service account. A named kubeconfig is read now, so that a missing file or
    /// context is reported when Charter starts.
    pub fn connect(name: impl Into<String>, spec: KubernetesSpec) -> Result<Self, ActuatorError> {
        let name = name.into();
        if let Some(path) = &spec.kubeconfig {
            let kc = Kubeconfig::read_from(path).map_err(|e| {
                failed(format!(
                    "cannot read kubeconfig {}: {}",
                    path.display(),
                    causes(&e)
                ))
            })?;
            if let Some(ctx) = &spec.context
                && !kc.contexts.iter().any(|c| &c.name == ctx)
            {
                return Err(failed(format!(
                    "kubeconfig {} has no context `{ctx}`",
                    path.display()
                )));
            }
        }
        Ok(Self::with_source(
            name,
            spec,
            ClientSource::Lazy(OnceCell::new()),
        ))
    }

    fn with_source(name: String, spec: KubernetesSpec, client: ClientSource) -> Self {
        KubernetesActuator {
            name,
            spec,
            client,
            now: Arc::new(wall_clock),
            done: Mutex::new(HashMap::new()),
            sent: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
        }
    }

    /// Use `now` (RFC 3339) for `restartedAt` instead of the wall clock.
    pub fn with_clock(mut self, now: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.now = Arc::new(now);
        self
    }

    async fn client(&self) -> Result<Client, ActuatorError> {
        match &self.client {
            ClientSource::Ready(c) => Ok(c.clone()),
            ClientSource::Lazy(cell) => cell
                .get_or_try_init(|| async {
                    let built = build_client(&self.spec, Some(self.spec.timeout));
                    match tokio::time::timeout(self.spec.timeout, built).await {
                        Ok(r) => r,
                        Err(_) => Err(format!(
                            "no configuration within {}",
                            fmt_duration(self.spec.timeout)
                        )),
                    }
                })
                .await
                .cloned()
                .map_err(|e| failed(format!("actuator `{}`: {e}", self.name))),
        }
    }

    /// Run one API request within the timeout, naming it in any error.
    async fn call<T>(
        &self,
        what: impl FnOnce() -> String,
        request: impl Future<Output = kube::Result<T>>,
    ) -> Result<T, ActuatorError> {
        self.timed(what, request, false).await
    }

    /// [`Self::call`] for a write: one without an answer in time may have been made,
    /// so its timeout is an unknown outcome, not a failure.
    async fn write<T>(
        &self,
        what: impl FnOnce() -> String,
        request: impl Future<Output = kube::Result<T>>,
    ) -> Result<T, ActuatorError> {
        self.timed(what, request, true).await
    }

    async fn timed<T>(
        &self,
        what: impl FnOnce() -> String,
        request: impl Future<Output = kube::Result<T>>,
        writes: bool,
    ) -> Result<T, ActuatorError> {
        match tokio::time::timeout(self.spec.timeout, request).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(failed(format!("{}: {}", what(), kube_error(&e)))),
            Err(_) => {
                let m = format!(
                    "{}: no answer within {}",
                    what(),
                    fmt_duration(self.spec.timeout)
                );
                Err(if writes {
                    ActuatorError::Indeterminate(format!("{m}; the write may have been made"))
                } else {
                    failed(m)
                })
            }
        }
    }

    fn params() -> PatchParams {
        PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        }
    }

    async fn deployment(&self, client: &Client, name: &str) -> Result<Deployment, ActuatorError> {
        let ns = &self.spec.namespace;
        let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
        self.call(|| format!("get deployment {ns}/{name}"), api.get(name))
            .await
    }

    /// The ReplicaSets the Deployment owns that carry a revision number.
    async fn revisions(
        &self,
        client: &Client,
        d: &Deployment,
    ) -> Result<Vec<Revision>, ActuatorError> {
        let ns = &self.spec.namespace;
        let name = d.metadata.name.as_deref().unwrap_or_default();
        let selector = d
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.as_ref())
            .map(|labels| {
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let api: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
        let list = self
            .call(
                || format!("list replicasets of deployment {ns}/{name}"),
                api.list(&ListParams::default().labels(&selector)),
            )
            .await?;
        let uid = d.metadata.uid.as_deref();
        Ok(list
            .items
            .into_iter()
            .filter(|rs| {
                rs.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| Some(o.uid.as_str()) == uid)
            })
            .filter_map(|rs| {
                let number = rs
                    .metadata
                    .annotations
                    .as_ref()?
                    .get(REVISION)?
                    .parse()
                    .ok()?;
                let template = serde_json::to_value(rs.spec?.template?).ok()?;
                Some(Revision {
                    number,
                    name: rs.metadata.name.unwrap_or_default(),
                    template,
                })
            })
            .collect())
    }

    /// The HorizontalPodAutoscaler whose target is the Deployment, if any (the first
    /// by name when several are — a misconfiguration the API server allows).
    async fn hpa(
        &self,
        client: &Client,
        deployment: &str,
    ) -> Result<Option<HorizontalPodAutoscaler>, ActuatorError> {
        let ns = &self.spec.namespace;
        let api: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), ns);
        let list = self
            .call(
                || format!("list horizontalpodautoscalers in {ns}"),
                api.list(&ListParams::default()),
            )
            .await?;
        let mut targeting: Vec<_> = list
            .items
            .into_iter()
            .filter(|h| {
                h.spec.as_ref().is_some_and(|s| {
                    let r = &s.scale_target_ref;
                    r.kind == "Deployment"
                        && r.name == deployment
                        && r.api_version
                            .as_deref()
                            .is_none_or(|v| v.starts_with("apps/"))
                })
            })
            .collect();
        targeting.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        Ok(targeting.into_iter().next())
    }

    async fn plan(
        &self,
        client: &Client,
        d: &Deployment,
        action: &Action,
    ) -> Result<Plan, ActuatorError> {
        let ns = &self.spec.namespace;
        let name = self.spec.deployment(&action.component);
        let paused = d.spec.as_ref().and_then(|s| s.paused) == Some(true);
        let refuse_paused = || {
            ActuatorError::Precondition(format!(
                "deployment `{name}` is paused; a {} would not roll out until it is resumed",
                action.kind
            ))
        };
        match action.kind {
            ActionKind::ScaleOut | ActionKind::ScaleIn => {
                let request = plan::scale_request(action)?;
                let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
                let scale = self
                    .call(
                        || format!("get deployment {ns}/{name} scale"),
                        api.get_scale(name),
                    )
                    .await?;
                let current = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
                match self.hpa(client, name).await? {
                    None => plan::scale_plan(action.kind, request, current, name),
                    Some(h) => {
                        let bounds = HpaBounds {
                            name: h.metadata.name.clone().unwrap_or_default(),
                            min: h.spec.as_ref().and_then(|s| s.min_replicas).unwrap_or(1),
                            max: h.spec.as_ref().map_or(1, |s| s.max_replicas),
                            original_max: h
                                .metadata
                                .annotations
                                .as_ref()
                                .and_then(|a| a.get(ORIGINAL_MAX_REPLICAS))
                                .and_then(|v| v.parse().ok()),
                        };
                        plan::hpa_plan(action.kind, request, current, &bounds, name)
                    }
                }
            }
            ActionKind::Restart => {
                if paused {
                    return Err(refuse_paused());
                }
                Ok(plan::restart_plan(name, &(self.now)()))
            }
            ActionKind::Rollback => {
                if paused {
                    return Err(refuse_paused());
                }
                let current: u64 = d
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(REVISION))
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| {
                        ActuatorError::Precondition(format!(
                            "deployment `{name}` has no revision yet (no `{REVISION}` annotation)"
                        ))
                    })?;
                let template = d
                    .spec
                    .as_ref()
                    .map(|s| serde_json::to_value(&s.template))
                    .transpose()
                    .map_err(|e| failed(format!("deployment `{name}`: {e}")))?
                    .unwrap_or(Value::Null);
                let revisions = self.revisions(client, d).await?;
                plan::rollback_plan(
                    name,
                    current,
                    &template,
                    &revisions,
                    action.param("to_version"),
                )
            }
            ActionKind::Reconfigure => {
                if paused {
                    return Err(refuse_paused());
                }
                let (Some(key), Some(value)) = (action.param("key"), action.param("value")) else {
                    return Err(failed("reconfigure needs the `key` and `value` parameters"));
                };
                let cm_name = self.spec.configmap(&action.component);
                let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
                let cm = self
                    .call(
                        || format!("get configmap {ns}/{cm_name}"),
                        api.get(&cm_name),
                    )
                    .await?;
                plan::reconfigure_plan(name, &cm_name, cm.data.as_ref(), key, value, &(self.now)())
            }
            kind => Err(unsupported(&self.name, kind)),
        }
    }

    /// Refuse to write on a Deployment a leader of a newer fencing epoch has written
    /// on. Without a lease (epoch 0) nothing is fenced.
    fn check_fence(&self, d: &Deployment, name: &str) -> Result<(), ActuatorError> {
        let ours = self.epoch.load(Ordering::Relaxed);
        let theirs = d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(FENCING_EPOCH))
            .and_then(|e| e.parse::<u64>().ok())
            .unwrap_or(0);
        if ours != 0 && theirs > ours {
            return Err(failed(format!(
                "deployment {}/{name} was last acted on by the leader of fencing epoch {theirs}; \
                 this replica holds epoch {ours}, so a newer leader exists: not acting",
                self.spec.namespace
            )));
        }
        Ok(())
    }

    /// Patch the Deployment's annotations with `record` (and its pod template with
    /// `template`), guarded by `resource_version` when given — and then with this
    /// leader's fencing epoch.
    async fn write_record(
        &self,
        client: &Client,
        name: &str,
        key: &str,
        record: &Record,
        template: Option<&Value>,
        resource_version: Option<&str>,
    ) -> Result<(), ActuatorError> {
        let ns = &self.spec.namespace;
        let mut annotations = record.annotations(key);
        // The epoch goes only with guarded writes: an unguarded one (the `done`
        // record after the steps) could lower a newer leader's.
        let epoch = self.epoch.load(Ordering::Relaxed);
        if epoch != 0 && resource_version.is_some() {
            annotations[FENCING_EPOCH] = json!(epoch.to_string());
        }
        let mut metadata = json!({ "annotations": annotations });
        if let Some(rv) = resource_version {
            metadata["resourceVersion"] = json!(rv);
        }
        let mut patch = json!({ "metadata": metadata });
        if let Some(t) = template {
            patch["spec"] = json!({ "template": t });
        }
        let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
        self.write(
            || format!("patch deployment {ns}/{name}"),
            api.patch(name, &Self::params(), &Patch::Merge(&patch)),
        )
        .await?;
        Ok(())
    }

    /// Make one write other than the template change.
    async fn write_step(
        &self,
        client: &Client,
        name: &str,
        step: &Step,
    ) -> Result<(), ActuatorError> {
        let ns = &self.spec.namespace;
        let pp = Self::params();
        match step {
            Step::Scale { replicas } => {
                let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
                let patch = json!({ "spec": { "replicas": replicas } });
                self.write(
                    || format!("patch deployment {ns}/{name} scale"),
                    api.patch_scale(name, &pp, &Patch::Merge(&patch)),
                )
                .await?;
            }
            Step::Hpa {
                name: hpa,
                min_replicas,
                max_replicas,
                original_max,
            } => {
                let mut patch = json!({
                    "spec": { "minReplicas": min_replicas, "maxReplicas": max_replicas }
                });
                let annotation = match original_max {
                    OriginalMax::Keep => None,
                    OriginalMax::Set(n) => Some(json!(n.to_string())),
                    OriginalMax::Remove => Some(Value::Null),
                };
                if let Some(a) = annotation {
                    patch["metadata"] = json!({ "annotations": { ORIGINAL_MAX_REPLICAS: a } });
                }
                let api: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), ns);
                self.write(
                    || format!("patch horizontalpodautoscaler {ns}/{hpa}"),
                    api.patch(hpa, &pp, &Patch::Merge(&patch)),
                )
                .await?;
            }
            Step::ConfigMap {
                name: cm,
                key,
                value,
            } => {
                let mut data = serde_json::Map::new();
                data.insert(key.clone(), json!(value));
                let patch = json!({ "data": data });
                let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
                self.write(
                    || format!("patch configmap {ns}/{cm}"),
                    api.patch(cm, &pp, &Patch::Merge(&patch)),
                )
                .await?;
            }
            Step::Template { .. } => {}
        }
        Ok(())
    }

    /// Make the writes of a `pending` record (already stored), then store it `done`.
    async fn finish(
        &self,
        client: &Client,
        name: &str,
        key: &str,
        mut record: Record,
    ) -> Result<Applied, ActuatorError> {
        for step in &record.steps {
            self.write_step(client, name, step).await?;
        }
        let template = template_of(&record.steps).cloned();
        record.state = State::Done;
        record.steps.clear();
        self.write_record(client, name, key, &record, template.as_ref(), None)
            .await?;
        Ok(Applied {
            prior: record.prior,
            detail: record.detail,
        })
    }

    /// Apply `action` under `key`, reading the record first; no memory involved.
    async fn apply_once(&self, key: &str, action: &Action) -> Result<Applied, ActuatorError> {
        let client = self.client().await?;
        let name = self.spec.deployment(&action.component);
        let d = self.deployment(&client, name).await?;
        let recorded = Record::read(d.metadata.annotations.as_ref(), key).map_err(|e| {
            failed(format!(
                "deployment {}/{name}: the record of key `{key}` cannot be read ({e}); not acting again",
                self.spec.namespace
            ))
        })?;
        if let Some(r) = &recorded {
            if r.action != *action {
                return Err(different_action(key, &r.action));
            }
            // A done key only reports what happened; writing is fenced.
            if r.state == State::Done {
                tracing::info!(component = %action.component, key, "kubernetes: key already applied");
                return Ok(Applied {
                    prior: r.prior.clone(),
                    detail: r.detail.clone(),
                });
            }
        }
        self.check_fence(&d, name)?;
        if let Some(r) = recorded {
            tracing::info!(component = %action.component, key, "kubernetes: finishing a recorded action");
            return self.finish(&client, name, key, r).await;
        }
        let plan = self.plan(&client, &d, action).await?;
        let rv = d.metadata.resource_version.as_deref();
        let record = Record {
            state: State::Pending,
            action: action.clone(),
            prior: plan.prior,
            detail: plan.detail,
            steps: plan.steps,
        };
        let applied = if record
            .steps
            .iter()
            .all(|s| matches!(s, Step::Template { .. }))
        {
            let template = template_of(&record.steps).cloned();
            let done = Record {
                state: State::Done,
                steps: Vec::new(),
                ..record
            };
            self.write_record(&client, name, key, &done, template.as_ref(), rv)
                .await?;
            Applied {
                prior: done.prior,
                detail: done.detail,
            }
        } else {
            self.write_record(&client, name, key, &record, None, rv)
                .await?;
            self.finish(&client, name, key, record).await?
        };
        tracing::info!(
            component = %action.component,
            action = %action,
            key,
            detail = %applied.detail,
            "kubernetes: applied"
        );
        Ok(applied)
    }
}

#[async_trait]
impl Actuator for KubernetesActuator {
    async fn apply(&self, key: &str, action: &Action) -> Result<Applied, ActuatorError> {
        if !matches!(
            action.kind,
            ActionKind::ScaleOut
                | ActionKind::ScaleIn
                | ActionKind::Restart
                | ActionKind::Rollback
                | ActionKind::Reconfigure
        ) {
            return Err(unsupported(&self.name, action.kind));
        }
        if key.is_empty() {
            return Err(failed("the idempotency key is empty"));
        }
        let slot = {
            let mut done = self
                .done
                .lock()
                .map_err(|_| failed("the result memory is poisoned"))?;
            done.entry(key.to_string()).or_default().clone()
        };
        // Concurrent calls with one key wait here for the first.
        let mut slot = slot.lock().await;
        if let Some((first, result)) = &*slot {
            if first != action {
                return Err(different_action(key, first));
            }
            return result.clone().map_err(ActuatorError::Precondition);
        }
        if let Ok(mut sent) = self.sent.lock() {
            sent.insert(key.to_string(), action.component.clone());
        }
        let result = self.apply_once(key, action).await;
        match &result {
            Ok(a) => *slot = Some((action.clone(), Ok(a.clone()))),
            Err(ActuatorError::Precondition(m)) => *slot = Some((action.clone(), Err(m.clone()))),
            Err(_) => {}
        }
        result
    }

    fn set_fencing_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
    }

    /// What an apply with `key` sent by this process did, from the record it keeps on
    /// the Deployment: done → applied (with its prior); another key (or none) → never
    /// applied, since Charter sends one action per component at a time; pending →
    /// unknown (its writes are under way; the same key finishes them). A key this
    /// process never sent is unknown: which Deployment to look at is not known.
    async fn status(&self, key: &str) -> Result<Option<Applied>, ActuatorError> {
        let component = self
            .sent
            .lock()
            .map_err(|_| failed("the key memory is poisoned"))?
            .get(key)
            .cloned()
            .ok_or_else(|| {
                failed(format!(
                    "the kubernetes actuator `{}` did not send key `{key}` in this process; \
                     which Deployment it was for is unknown",
                    self.name
                ))
            })?;
        let client = self.client().await?;
        let name = self.spec.deployment(&component);
        let d = self.deployment(&client, name).await?;
        let ns = &self.spec.namespace;
        match Record::read(d.metadata.annotations.as_ref(), key)
            .map_err(|e| failed(format!("deployment {ns}/{name}: {e}")))?
        {
            Some(r) if r.state == State::Done => Ok(Some(Applied {
                prior: r.prior,
                detail: r.detail,
            })),
            Some(_) => Err(failed(format!(
                "deployment {ns}/{name}: the writes of key `{key}` are under way"
            ))),
            None => Ok(None),
        }
    }

    async fn describe(&self, component: &str) -> Result<ComponentState, ActuatorError> {
        let client = self.client().await?;
        let name = self.spec.deployment(component);
        let d = self.deployment(&client, name).await?;
        let version = d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION))
            .cloned();
        let previous_version = match version.as_deref().and_then(|v| v.parse::<u64>().ok()) {
            Some(current) => {
                let revisions = self.revisions(&client, &d).await?;
                plan::previous_revision(current, &revisions).map(|r| r.number.to_string())
            }
            None => None,
        };
        let from_hpa = self
            .hpa(&client, name)
            .await?
            .and_then(|h| h.status)
            .and_then(|s| s.current_replicas);
        let replicas = from_hpa.or_else(|| d.spec.as_ref().map(|s| s.replicas.unwrap_or(1)));
        Ok(ComponentState {
            replicas: replicas.and_then(|r| u32::try_from(r).ok()),
            version,
            previous_version,
            ..ComponentState::default()
        })
    }
}

fn template_of(steps: &[Step]) -> Option<&Value> {
    steps.iter().find_map(|s| match s {
        Step::Template { patch } => Some(patch),
        _ => None,
    })
}

fn unsupported(actuator: &str, kind: ActionKind) -> ActuatorError {
    ActuatorError::Precondition(format!(
        "the kubernetes actuator `{actuator}` cannot {kind}: a Deployment has no such operation; \
         use an http or command actuator for it"
    ))
}

fn different_action(key: &str, first: &Action) -> ActuatorError {
    failed(format!(
        "idempotency key `{key}` was first used for a different action, {first}; nothing was done"
    ))
}

/// Build a client from the spec: its kubeconfig (and context), or what
/// [`Config::infer`] finds; with the spec's timeout on connecting and writing, and
/// `read_timeout` on reading (`None`: kube's default, longer than a watch lasts).
pub(crate) async fn build_client(
    spec: &KubernetesSpec,
    read_timeout: Option<std::time::Duration>,
) -> Result<Client, String> {
    let options = KubeConfigOptions {
        context: spec.context.clone(),
        ..KubeConfigOptions::default()
    };
    let mut config = match (&spec.kubeconfig, &spec.context) {
        (Some(path), _) => {
            let kc = Kubeconfig::read_from(path).map_err(|e| {
                format!("cannot read kubeconfig {}: {}", path.display(), causes(&e))
            })?;
            Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| format!("kubeconfig {}: {}", path.display(), causes(&e)))?
        }
        (None, Some(ctx)) => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| format!("kubeconfig context `{ctx}`: {}", causes(&e)))?,
        (None, None) => Config::infer()
            .await
            .map_err(|e| format!("no kubeconfig and not in a cluster: {}", causes(&e)))?,
    };
    config.default_namespace = spec.namespace.clone();
    config.connect_timeout = Some(spec.timeout);
    if read_timeout.is_some() {
        config.read_timeout = read_timeout;
    }
    config.write_timeout = Some(spec.timeout);
    Client::try_from(config)
        .map_err(|e| format!("cannot build the kubernetes client: {}", causes(&e)))
}

/// An API error as `403 Forbidden: <message>`; anything else with its causes.
pub(crate) fn kube_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => {
            let mut s = status.code.to_string();
            if !status.reason.is_empty() {
                s.push(' ');
                s.push_str(&quote(&status.reason));
            }
            if !status.message.is_empty() {
                s.push_str(": ");
                s.push_str(&quote(&status.message));
            }
            s
        }
        other => causes(other),
    }
}

/// An error and its sources, `: `-separated.
fn causes(e: &dyn std::error::Error) -> String {
    let mut s = quote(&e.to_string());
    let mut source = e.source();
    while let Some(c) = source {
        let text = quote(&c.to_string());
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = c.source();
    }
    s
}

/// A remote message, on one line and at most [`MAX_QUOTE`] characters.
fn quote(text: &str) -> String {
    let mut out: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_QUOTE)
        .collect();
    if text.trim().chars().count() > MAX_QUOTE {
        out.push('…');
    }
    out
}
