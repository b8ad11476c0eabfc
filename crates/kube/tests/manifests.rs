//! The manifests in `deploy/kubernetes/`: least privilege for the actuator, a
//! locked-down Deployment for Charter, and a charter in it that validates.

mod common;

use common::{Role, rbac_documents};
use std::collections::BTreeSet;

/// Every (API group, resource, verb) the actuator's and the rollout watcher's
/// requests need. The scripted API servers of `tests/actuator.rs` and
/// `tests/watch.rs` check each request they see against the Role; this list makes
/// the converse hold: the Role grants nothing beyond it.
const NEEDED: &[(&str, &str, &str)] = &[
    ("apps", "deployments", "get"),
    ("apps", "deployments", "list"),
    ("apps", "deployments", "watch"),
    ("apps", "deployments", "patch"),
    ("apps", "statefulsets", "list"),
    ("apps", "statefulsets", "watch"),
    ("apps", "deployments/scale", "get"),
    ("apps", "deployments/scale", "patch"),
    ("apps", "replicasets", "list"),
    ("autoscaling", "horizontalpodautoscalers", "list"),
    ("autoscaling", "horizontalpodautoscalers", "patch"),
    ("", "configmaps", "get"),
    ("", "configmaps", "patch"),
];

fn manifest(name: &str) -> String {
    let path = format!(
        "{}/../../deploy/kubernetes/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).expect("manifest")
}

#[test]
fn rbac_has_no_wildcards_and_no_secrets() {
    let text = manifest("rbac.yaml");
    let code: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!code.contains('*'), "a wildcard in rbac.yaml");
    assert!(
        !code.to_lowercase().contains("secret"),
        "secrets in rbac.yaml"
    );
    for doc in rbac_documents() {
        assert_ne!(
            doc.kind, "ClusterRole",
            "the actuator needs no cluster-wide rights"
        );
        assert_ne!(doc.kind, "ClusterRoleBinding");
        for rule in &doc.rules {
            for v in &rule.verbs {
                assert!(
                    ["get", "list", "watch", "patch"].contains(&v.as_str()),
                    "verb `{v}` is more than the actuator and the watcher need"
                );
            }
        }
    }
}

#[test]
fn rbac_grants_exactly_what_the_actuator_requests() {
    let role = Role::load();
    let mut granted = BTreeSet::new();
    for rule in &role.rules {
        assert!(rule.resource_names.is_empty() || rule.resources == ["configmaps"]);
        for g in &rule.api_groups {
            for r in &rule.resources {
                for v in &rule.verbs {
                    granted.insert((g.clone(), r.clone(), v.clone()));
                }
            }
        }
    }
    let needed: BTreeSet<_> = NEEDED
        .iter()
        .map(|(g, r, v)| (g.to_string(), r.to_string(), v.to_string()))
        .collect();
    assert_eq!(granted, needed);
    // The binding gives the Role to the ServiceAccount the Deployment runs as.
    let docs = rbac_documents();
    assert!(
        docs.iter()
            .any(|d| d.kind == "ServiceAccount" && d.metadata.name == "charter")
    );
    let binding = manifest("rbac.yaml");
    assert!(binding.contains("kind: RoleBinding"));
    assert!(manifest("deployment.yaml").contains("serviceAccountName: charter"));
}

#[test]
fn charter_runs_non_root_with_a_read_only_root_and_limits() {
    let text = manifest("deployment.yaml");
    for needle in [
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "drop: [\"ALL\"]",
        "limits: { cpu: \"1\", memory: 512Mi }",
        "requests: { cpu: 100m, memory: 128Mi }",
    ] {
        assert!(text.contains(needle), "deployment.yaml lacks `{needle}`");
    }
}

#[test]
fn the_example_charter_in_the_deployment_validates() {
    #[derive(serde::Deserialize)]
    struct Doc {
        kind: String,
        #[serde(default)]
        data: std::collections::BTreeMap<String, String>,
    }
    let text = manifest("deployment.yaml");
    let docs: Vec<Doc> = serde_saphyr::from_multiple(&text).expect("deployment.yaml parses");
    let charter = docs
        .iter()
        .find(|d| d.kind == "ConfigMap")
        .and_then(|d| d.data.get("charter.yaml"))
        .expect("a charter in the ConfigMap");
    let (c, _) = charter_model::parse_charter(charter, "charter.yaml", std::path::Path::new("/"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        c.actuators.get("k8s"),
        Some(charter_model::ActuatorSpec::Kubernetes(k)) if k.namespace == "shop"
    ));
}

#[test]
fn the_replicated_statefulset_runs_two_leased_replicas_on_postgres() {
    #[derive(serde::Deserialize)]
    struct Doc {
        kind: String,
        #[serde(default)]
        data: std::collections::BTreeMap<String, String>,
    }
    let text = manifest("statefulset-ha.yaml");
    let docs: Vec<Doc> = serde_saphyr::from_multiple(&text).expect("statefulset-ha.yaml parses");
    let charter = docs
        .iter()
        .find(|d| d.kind == "ConfigMap")
        .and_then(|d| d.data.get("charter.yaml"))
        .expect("a charter in the ConfigMap");
    let (c, _) = charter_model::parse_charter(charter, "charter.yaml", std::path::Path::new("/"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        c.knowledge,
        Some(charter_model::KnowledgeSpec::Postgres { .. })
    ));
    assert_eq!(c.lease, charter_model::LeaseSpec::default());
    assert!(docs.iter().any(|d| d.kind == "StatefulSet"));
    for needle in [
        "replicas: 2",
        "serviceAccountName: charter",
        "name: CHARTER_REPLICA_ID",
        "fieldPath: metadata.name",
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "secretName: charter-postgres",
    ] {
        assert!(
            text.contains(needle),
            "statefulset-ha.yaml lacks `{needle}`"
        );
    }
    // The URL is read from the secret, never written into the charter.
    assert!(!charter.contains("postgres://"));
}

#[test]
fn the_charts_role_grants_what_rbac_yaml_grants() {
    // The chart's Role rules are plain YAML between `rules:` and the next document.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../charts/charter/templates/rbac.yaml"
    );
    let text = std::fs::read_to_string(path).expect("the chart's rbac.yaml");
    let start = text.find("rules:\n").expect("rules in the chart's Role") + "rules:\n".len();
    let end = start
        + text[start..]
            .find("\n---")
            .expect("a RoleBinding after the Role");
    let rules: Vec<common::Rule> =
        serde_saphyr::from_str(&text[start..end]).expect("the chart's rules parse");
    let triples = |rules: &[common::Rule]| -> BTreeSet<(String, String, String)> {
        rules
            .iter()
            .flat_map(|r| {
                r.api_groups.iter().flat_map(move |g| {
                    r.resources.iter().flat_map(move |res| {
                        r.verbs
                            .iter()
                            .map(move |v| (g.clone(), res.clone(), v.clone()))
                    })
                })
            })
            .collect()
    };
    assert_eq!(triples(&rules), triples(&Role::load().rules));
}
