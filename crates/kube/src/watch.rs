//! The rollout watcher: Deployments and StatefulSets listed, then watched, in each
//! namespace a charter's Kubernetes actuators name; their rollouts and scales sent
//! as [`RolloutChange`]s (what they mean is decided in [`crate::rollout`]).
//!
//! Per namespace and kind, one loop: list (learn, or compare after a gap), then
//! watch from the list's `resourceVersion`, re-watching from the last version seen
//! whenever the server ends the stream. A failed list or watch, or an error event,
//! is logged and retried after a backoff (doubling from `backoff_min` to
//! `backoff_max`, back to the least after a list succeeds); an expired version
//! (410 Gone) lists again at once. An object that cannot be read is logged and
//! skipped; the watch goes on. Nothing stops a loop but the cancellation token or
//! the receiver going away.
//!
//! Objects are read as plain JSON and only then as Deployments or StatefulSets, so
//! one bad object costs only itself, not the list or the watch it came in.

use crate::rollout::{RolloutChange, Seen, Tracker, WorkloadKind};
use charter_model::{ActuatorSpec, Charter, Clock, KubernetesSpec, WallClock};
use futures::StreamExt;
use kube::Client;
use kube::api::{ListParams, WatchEvent, WatchParams};
use kube::core::Request;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Which workloads stand for which components: per namespace, workload name →
/// component. A Deployment and a StatefulSet of the same name stand for the same
/// component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolloutMapping {
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
}

impl RolloutMapping {
    pub fn new() -> Self {
        Self::default()
    }

    /// Say that workload `workload` of `namespace` is `component`.
    pub fn insert(
        &mut self,
        namespace: impl Into<String>,
        workload: impl Into<String>,
        component: impl Into<String>,
    ) -> &mut Self {
        self.namespaces
            .entry(namespace.into())
            .or_default()
            .insert(workload.into(), component.into());
        self
    }

    /// The components of `charter` acted on by its Kubernetes actuator `actuator`,
    /// mapped as the actuator maps them: the workload named in the actuator's
    /// `deployments:`, else the component's own name, in the actuator's namespace.
    /// Empty when `actuator` is not a Kubernetes actuator.
    pub fn of_actuator(charter: &Charter, actuator: &str) -> Self {
        let mut m = Self::new();
        if let Some(ActuatorSpec::Kubernetes(spec)) = charter.actuators.get(actuator) {
            for c in &charter.components {
                if c.actuator.as_deref() == Some(actuator) {
                    m.insert(&spec.namespace, spec.deployment(&c.name), &c.name);
                }
            }
        }
        m
    }

    /// Every Kubernetes actuator of `charter` with at least one component: its name,
    /// its spec (to connect with, see [`watch_client`]) and its mapping.
    pub fn of_charter(charter: &Charter) -> Vec<(String, KubernetesSpec, RolloutMapping)> {
        charter
            .actuators
            .iter()
            .filter_map(|(name, spec)| match spec {
                ActuatorSpec::Kubernetes(k) => {
                    let m = Self::of_actuator(charter, name);
                    (!m.is_empty()).then(|| (name.clone(), k.clone(), m))
                }
                _ => None,
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.namespaces.values().all(BTreeMap::is_empty)
    }

    /// The namespaces named.
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.namespaces.keys().map(String::as_str)
    }

    /// The component workload `workload` of `namespace` stands for.
    pub fn component(&self, namespace: &str, workload: &str) -> Option<&str> {
        self.namespaces
            .get(namespace)?
            .get(workload)
            .map(String::as_str)
    }
}

/// A client for watching with `spec`'s kubeconfig, context or service account: like
/// the actuator's, but with no read timeout shorter than a watch's (an idle watch
/// reads nothing for minutes).
pub async fn watch_client(spec: &KubernetesSpec) -> Result<Client, String> {
    crate::actuator::build_client(spec, None).await
}

/// Watch the workloads `mapping` names through `client` until `cancel`, sending
/// each rollout and scale of a mapped workload to `tx`. See [`RolloutWatcher`].
pub async fn watch_rollouts(
    client: Client,
    mapping: RolloutMapping,
    tx: mpsc::Sender<RolloutChange>,
    cancel: CancellationToken,
) {
    RolloutWatcher::new(client, mapping).run(tx, cancel).await;
}

/// The rollout watcher (module docs), with its clock and backoff.
pub struct RolloutWatcher {
    client: Client,
    mapping: RolloutMapping,
    clock: Arc<dyn Clock>,
    backoff_min: Duration,
    backoff_max: Duration,
    /// The server-side bound of one watch request.
    watch_timeout: u32,
}

impl RolloutWatcher {
    /// Watch with `client` the workloads of `mapping`; wall clock, backoff 1 s to
    /// 60 s.
    pub fn new(client: Client, mapping: RolloutMapping) -> Self {
        RolloutWatcher {
            client,
            mapping,
            clock: Arc::new(WallClock),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            watch_timeout: 290,
        }
    }

    /// Stamp changes with `clock` instead of the wall clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Retry a failed list or watch after `min`, doubling up to `max`.
    pub fn with_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = min;
        self.backoff_max = max.max(min);
        self
    }

    /// Run until `cancel` is cancelled or `tx`'s receiver is dropped: one loop per
    /// namespace and kind, all in this task (none, and it returns at once, when the
    /// mapping is empty).
    pub async fn run(self, tx: mpsc::Sender<RolloutChange>, cancel: CancellationToken) {
        let loops = self.mapping.namespaces.iter().flat_map(|(ns, workloads)| {
            WorkloadKind::ALL.into_iter().map(|kind| {
                let tracker = Tracker::new(kind, ns.clone(), workloads.clone());
                self.watch_one(tracker, tx.clone(), cancel.clone())
            })
        });
        futures::future::join_all(loops).await;
    }

    /// The list-then-watch loop of one namespace and kind.
    async fn watch_one(
        &self,
        tracker: Tracker,
        tx: mpsc::Sender<RolloutChange>,
        cancel: CancellationToken,
    ) {
        let span = tracing::info_span!(
            "rollout_watch",
            namespace = %tracker.namespace(),
            kind = tracker.kind().word()
        );
        self.list_and_watch(tracker, tx, cancel)
            .instrument(span)
            .await;
    }

    async fn list_and_watch(
        &self,
        mut tracker: Tracker,
        tx: mpsc::Sender<RolloutChange>,
        cancel: CancellationToken,
    ) {
        let path = format!(
            "/apis/apps/v1/namespaces/{}/{}",
            tracker.namespace(),
            tracker.kind().plural()
        );
        let request = Request::new(&path);
        let mut backoff = self.backoff_min;
        // Each pass: list, then watch until the watch cannot go on.
        loop {
            let listed = tokio::select! {
                _ = cancel.cancelled() => return,
                r = self.list(&request) => r,
            };
            let (items, version) = match listed {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(retry_in = ?backoff, "kubernetes watch: list {path}: {e}");
                    if !self.pause(&mut backoff, &cancel).await {
                        return;
                    }
                    continue;
                }
            };
            backoff = self.backoff_min;
            let at = self.clock.now();
            let mut names = BTreeSet::new();
            for item in &items {
                if let Some(n) = item.pointer("/metadata/name").and_then(Value::as_str) {
                    names.insert(n.to_string());
                }
                if !self.seen(&mut tracker, item, at, &tx).await {
                    return;
                }
            }
            tracker.end_list(&names);
            tracing::debug!(%version, objects = items.len(), "kubernetes watch: listed");
            let next = self
                .watch_from(&mut tracker, &request, version, &tx, &cancel, backoff)
                .await;
            match next {
                Next::Stop => return,
                Next::List => {}
                Next::ListAfterBackoff => {
                    if !self.pause(&mut backoff, &cancel).await {
                        return;
                    }
                }
            }
        }
    }

    /// Watch from `version`, re-watching from the last version seen whenever the
    /// server ends a watch, until the watch cannot go on; `backoff` is only logged.
    async fn watch_from(
        &self,
        tracker: &mut Tracker,
        request: &Request,
        mut version: String,
        tx: &mpsc::Sender<RolloutChange>,
        cancel: &CancellationToken,
        backoff: Duration,
    ) -> Next {
        let path = &request.url_path;
        loop {
            let params = WatchParams::default().timeout(self.watch_timeout);
            let stream = match request.watch(&params, &version) {
                Ok(r) => tokio::select! {
                    _ = cancel.cancelled() => return Next::Stop,
                    s = self.client.request_events::<Value>(r) => s,
                },
                Err(e) => Err(kube::Error::BuildRequest(e)),
            };
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    let e = crate::actuator::kube_error(&e);
                    tracing::warn!(retry_in = ?backoff, "kubernetes watch: watch {path}: {e}");
                    return Next::ListAfterBackoff;
                }
            };
            let mut stream = std::pin::pin!(stream);
            let mut events = 0usize;
            loop {
                let next = tokio::select! {
                    _ = cancel.cancelled() => return Next::Stop,
                    n = stream.next() => n,
                };
                let Some(next) = next else { break };
                events += 1;
                match next {
                    Ok(WatchEvent::Added(o) | WatchEvent::Modified(o)) => {
                        if let Some(v) = resource_version(&o) {
                            version = v;
                        }
                        if !self.seen(tracker, &o, self.clock.now(), tx).await {
                            return Next::Stop;
                        }
                    }
                    Ok(WatchEvent::Deleted(o)) => {
                        if let Some(v) = resource_version(&o) {
                            version = v;
                        }
                        tracker.delete(&o);
                    }
                    Ok(WatchEvent::Bookmark(b)) => version = b.metadata.resource_version,
                    Ok(WatchEvent::Error(status)) if status.code == 410 => {
                        tracing::info!(
                            "kubernetes watch: version {version} expired; listing again"
                        );
                        return Next::List;
                    }
                    Ok(WatchEvent::Error(status)) => {
                        tracing::warn!(
                            retry_in = ?backoff,
                            "kubernetes watch: {path}: {} {}: {}",
                            status.code,
                            status.reason,
                            status.message
                        );
                        return Next::ListAfterBackoff;
                    }
                    // A line that is not an event: skip it, the stream goes on.
                    Err(kube::Error::SerdeError(e)) => {
                        tracing::warn!(
                            "kubernetes watch: {path}: skipped a line that is not an event: {e}"
                        );
                    }
                    Err(e) => {
                        let e = crate::actuator::kube_error(&e);
                        tracing::warn!(retry_in = ?backoff, "kubernetes watch: {path}: {e}");
                        return Next::ListAfterBackoff;
                    }
                }
            }
            // The server ended the watch: go on from the last version seen; after a
            // pause if it ended with nothing, so that a server that keeps closing at
            // once is not asked in a busy loop.
            if events == 0 {
                let mut least = self.backoff_min;
                if !self.pause(&mut least, cancel).await {
                    return Next::Stop;
                }
            }
        }
    }

    /// One list: its items and `resourceVersion`.
    async fn list(&self, request: &Request) -> Result<(Vec<Value>, String), String> {
        let r = request
            .list(&ListParams::default())
            .map_err(|e| e.to_string())?;
        let mut list: Value = self
            .client
            .request(r)
            .await
            .map_err(|e| crate::actuator::kube_error(&e))?;
        let version = list
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .ok_or("the list has no metadata.resourceVersion")?
            .to_string();
        let items = match list.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => Vec::new(),
            Some(_) => return Err("the list's `items` is not an array".into()),
        };
        Ok((items, version))
    }

    /// Read one object into the tracker and send what it reveals; false when the
    /// receiver is gone.
    async fn seen(
        &self,
        tracker: &mut Tracker,
        object: &Value,
        at: charter_model::Timestamp,
        tx: &mpsc::Sender<RolloutChange>,
    ) -> bool {
        match tracker.upsert(object, at) {
            Seen::Changes(changes) => {
                for c in changes {
                    tracing::info!(
                        component = %c.component,
                        kind = ?c.kind,
                        key = %c.key,
                        by = %c.by,
                        "kubernetes watch: {}",
                        c.description
                    );
                    if tx.send(c).await.is_err() {
                        tracing::debug!("kubernetes watch: the receiver is gone; stopping");
                        return false;
                    }
                }
            }
            Seen::Unmapped => {}
            Seen::Bad(why) => tracing::warn!("kubernetes watch: skipped: {why}"),
        }
        true
    }

    /// Sleep `backoff` (then double it, up to the most); false if cancelled.
    async fn pause(&self, backoff: &mut Duration, cancel: &CancellationToken) -> bool {
        let wait = *backoff;
        *backoff = (*backoff * 2).min(self.backoff_max);
        tokio::select! {
            _ = cancel.cancelled() => false,
            _ = tokio::time::sleep(wait) => true,
        }
    }
}

/// How a watch ended.
enum Next {
    /// List again now (the version expired).
    List,
    /// List again after a backoff (an error).
    ListAfterBackoff,
    /// Cancelled, or the receiver is gone.
    Stop,
}

fn resource_version(object: &Value) -> Option<String> {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_string)
}
