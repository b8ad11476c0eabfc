//! The Kubernetes actuator: Charter's actions on the Deployments of one namespace.
//!
//! - [`actuator`]: [`KubernetesActuator`], the [`charter_execute::Actuator`] that
//!   scales (through `/scale`, or through the HorizontalPodAutoscaler that owns the
//!   count), restarts, rolls back to an earlier ReplicaSet's pod template and
//!   reconfigures a ConfigMap key, with a timeout on every request.
//! - [`plan`]: what an action will write, decided from the objects read — pure
//!   functions (scale targets, HPA bounds, the rollback revision, merge-patch diffs).
//! - [`record`]: the idempotency record kept in the Deployment's annotations, so that
//!   a key seen again after a restart of Charter returns the first result instead of
//!   acting twice.
//! - [`watch`]: the rollout watcher — Deployments and StatefulSets of the mapped
//!   namespaces listed and watched (kube-rs, reconnecting with backoff); each rollout
//!   and scale of a workload that stands for a component sent as a
//!   [`RolloutChange`], the evidence of a bad change.
//! - [`rollout`]: what an object seen by the watcher means — revision moved, images
//!   from → to, config only, restart, scale — pure functions and a per-kind tracker.
//!
//! `docs/kubernetes.md` is the user's guide; `deploy/kubernetes/rbac.yaml` grants
//! exactly the requests made here.

pub mod actuator;
pub mod plan;
pub mod record;
pub mod rollout;
pub mod watch;

pub use actuator::KubernetesActuator;
pub use rollout::{RolloutChange, WorkloadKind};
pub use watch::{RolloutMapping, RolloutWatcher, watch_client, watch_rollouts};

/// The pod-template annotation whose change rolls a Deployment's pods; the same one
/// `kubectl rollout restart` sets.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// The Deployment annotation naming the idempotency key of the last action.
pub const LAST_ACTION_KEY: &str = "charter.dev/last-action-key";

/// The Deployment annotation holding the last action's record (JSON).
pub const LAST_ACTION: &str = "charter.dev/last-action";

/// The Deployment annotation holding the fencing epoch of the leader that last
/// wrote an action's record on it: a replica whose epoch is older does not act on
/// that Deployment (a newer leader has).
pub const FENCING_EPOCH: &str = "charter.dev/fencing-epoch";

/// The HPA annotation keeping the `maxReplicas` Charter raised, to restore it when
/// the scale-out is undone.
pub const ORIGINAL_MAX_REPLICAS: &str = "charter.dev/original-max-replicas";

/// The annotation the Deployment controller numbers revisions with.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// The label the Deployment controller adds to each ReplicaSet's pod template.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// The field manager named in every write.
pub const FIELD_MANAGER: &str = "charter";
