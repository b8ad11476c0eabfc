//! A scripted Kubernetes API server (`tower_test::mock`) and object builders.
//!
//! Each test answers the actuator's requests one by one; every request is checked
//! against the Role in `deploy/kubernetes/rbac.yaml`, so a request the Role does not
//! grant fails the test that makes it.

#![allow(dead_code)]

use charter_kube::KubernetesActuator;
use charter_model::KubernetesSpec;
use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use tower_test::mock::{self, Handle, SendResponse};

pub const NS: &str = "shop";
pub const NOW: &str = "2026-01-02T03:04:05Z";
pub const DEPLOY: &str = "/apis/apps/v1/namespaces/shop/deployments/catalog-deploy";
pub const SCALE: &str = "/apis/apps/v1/namespaces/shop/deployments/catalog-deploy/scale";
pub const HPAS: &str = "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers";
pub const REPLICASETS: &str = "/apis/apps/v1/namespaces/shop/replicasets";
pub const CONFIGMAP: &str = "/api/v1/namespaces/shop/configmaps/catalog-deploy-config";
pub const MERGE_PATCH: &str = "application/merge-patch+json";
pub const UID: &str = "0b5e-catalog";

/// `catalog` runs as Deployment `catalog-deploy`; its ConfigMap is the default.
pub fn spec() -> KubernetesSpec {
    KubernetesSpec {
        namespace: NS.into(),
        kubeconfig: None,
        context: None,
        timeout: Duration::from_secs(10),
        deployments: BTreeMap::from([("catalog".into(), "catalog-deploy".into())]),
        configmaps: BTreeMap::new(),
    }
}

/// An actuator talking to a fresh mocked API server.
pub fn actuator() -> (KubernetesActuator, ApiServer) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, NS);
    let act = KubernetesActuator::new("k8s", spec(), client).with_clock(|| NOW.to_string());
    (
        act,
        ApiServer {
            handle,
            role: Role::load(),
            stash: Vec::new(),
        },
    )
}

/// A client talking to a fresh mocked API server, for anything but the actuator.
pub fn mocked_client() -> (Client, ApiServer) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (
        Client::new(service, NS),
        ApiServer {
            handle,
            role: Role::load(),
            stash: Vec::new(),
        },
    )
}

/// The server side of the mock.
pub struct ApiServer {
    handle: Handle<Request<Body>, Response<Body>>,
    role: Role,
    /// Requests received while waiting for another ([`ApiServer::take`]).
    stash: Vec<Exchange>,
}

/// One request, to be answered.
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: Option<String>,
    /// The JSON body (`Null` when empty).
    pub body: Value,
    send: SendResponse<Response<Body>>,
}

impl ApiServer {
    /// The next request, which must be `method path`; it must be granted by the Role.
    pub async fn expect(&mut self, method: &str, path: &str) -> Exchange {
        let x = self
            .receive()
            .await
            .unwrap_or_else(|| panic!("expected {method} {path}, but the client is gone"));
        assert_eq!(
            (x.method.as_str(), x.path.as_str()),
            (method, path),
            "unexpected request {} {}?{} {}",
            x.method,
            x.path,
            x.query,
            x.body
        );
        x
    }

    /// The first request, received now or earlier, that is a GET of `path` and a
    /// watch or not as `watch` says; requests for anything else wait (unanswered)
    /// for their own `take`. For clients that make several requests at once.
    pub async fn take(&mut self, path: &str, watch: bool) -> Exchange {
        let wanted = |x: &Exchange| x.method == "GET" && x.path == path && x.is_watch() == watch;
        if let Some(i) = self.stash.iter().position(wanted) {
            return self.stash.remove(i);
        }
        loop {
            // In paused time a client that never asks fails the test instead of hanging it.
            let received = tokio::time::timeout(Duration::from_secs(600), self.receive())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "expected GET {path} (watch: {watch}) within 600 s; pending: {:?}",
                        self.pending()
                    )
                });
            let x = received.unwrap_or_else(|| {
                panic!("expected GET {path} (watch: {watch}), but the client is gone")
            });
            if wanted(&x) {
                return x;
            }
            self.stash.push(x);
        }
    }

    /// The next request, checked against the Role; `None` when the client is gone.
    async fn receive(&mut self) -> Option<Exchange> {
        let (req, send) = self.handle.next_request().await?;
        let (parts, body) = req.into_parts();
        let bytes = body.collect_bytes().await.expect("request body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("a JSON request body")
        };
        let x = Exchange {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            // kube's query builder may lead with `&`; the API server ignores it.
            query: parts
                .uri
                .query()
                .unwrap_or_default()
                .trim_start_matches('&')
                .to_string(),
            content_type: parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .map(|v| v.to_str().expect("ascii").to_string()),
            body,
            send,
        };
        self.role.assert_grants(&x.method, &x.path, &x.query);
        Some(x)
    }

    /// `expect` a GET and answer it with `object`; its query string is returned.
    pub async fn get(&mut self, path: &str, object: Value) -> String {
        let x = self.expect("GET", path).await;
        let query = x.query.clone();
        x.respond(200, object);
        query
    }

    /// `expect` a merge PATCH and answer it with `object`; its body is returned.
    pub async fn patch(&mut self, path: &str, object: Value) -> Value {
        let x = self.expect("PATCH", path).await;
        assert_eq!(x.content_type.as_deref(), Some(MERGE_PATCH), "{path}");
        assert_eq!(x.query, "fieldManager=charter", "{path}");
        let body = x.body.clone();
        x.respond(200, object);
        body
    }

    /// Wait until the client is dropped; fails if it made another request.
    pub async fn assert_no_more_requests(mut self) {
        if let Some((req, _)) = self.handle.next_request().await {
            panic!("unexpected request {} {}", req.method(), req.uri());
        }
    }

    /// Requests received but not taken yet, as `METHOD path?query`.
    pub fn pending(&self) -> Vec<String> {
        self.stash
            .iter()
            .map(|x| format!("{} {}?{}", x.method, x.path, x.query))
            .collect()
    }
}

impl Exchange {
    /// Whether this is a watch request (`?watch=true`).
    pub fn is_watch(&self) -> bool {
        self.query
            .split('&')
            .any(|p| p == "watch=true" || p == "watch=1")
    }

    /// The value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k == name).then(|| v.to_string())
        })
    }

    /// Answer a watch with these lines (events, or anything else) and end it.
    pub fn respond_lines(self, lines: &[String]) {
        let mut text = lines.join("\n");
        text.push('\n');
        let response = Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::from(text.into_bytes()))
            .expect("response");
        self.send.send_response(response);
    }

    /// Answer with `status` and a JSON body.
    pub fn respond(self, status: u16, body: Value) {
        let response = Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&body).expect("json")))
            .expect("response");
        self.send.send_response(response);
    }

    /// Keep the request unanswered (for timeouts): the sender is returned.
    pub fn hold(self) -> SendResponse<Response<Body>> {
        self.send
    }
}

/// A Kubernetes `Status` error body.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "code": code, "reason": reason, "message": message
    })
}

/// A Deployment fixture.
#[derive(Clone)]
pub struct Deploy {
    pub replicas: i32,
    pub revision: Option<u64>,
    pub image: String,
    pub paused: bool,
    pub annotations: BTreeMap<String, String>,
    pub resource_version: String,
}

impl Deploy {
    /// `catalog-deploy` at revision 3, image `catalog:3`, 3 replicas.
    pub fn test() -> Self {
        Deploy {
            replicas: 3,
            revision: Some(3),
            image: "catalog:3".into(),
            paused: false,
            annotations: BTreeMap::new(),
            resource_version: "100".into(),
        }
    }

    /// With the annotations of a merge patch body this actuator wrote.
    pub fn annotated_by(mut self, patch: &Value) -> Self {
        if let Some(a) = patch["metadata"]["annotations"].as_object() {
            for (k, v) in a {
                self.annotations
                    .insert(k.clone(), v.as_str().expect("string").to_string());
            }
        }
        self
    }

    pub fn json(&self) -> Value {
        let mut annotations = self.annotations.clone();
        if let Some(r) = self.revision {
            annotations.insert("deployment.kubernetes.io/revision".into(), r.to_string());
        }
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": "catalog-deploy", "namespace": NS, "uid": UID,
                "resourceVersion": self.resource_version, "annotations": annotations
            },
            "spec": {
                "replicas": self.replicas,
                "paused": self.paused,
                "selector": { "matchLabels": { "app": "catalog" } },
                "template": template(&self.image, None)
            }
        })
    }
}

/// A pod template running `image`, with the ReplicaSet's hash label if given.
pub fn template(image: &str, hash: Option<&str>) -> Value {
    let mut labels = json!({ "app": "catalog" });
    if let Some(h) = hash {
        labels["pod-template-hash"] = json!(h);
    }
    json!({
        "metadata": { "labels": labels },
        "spec": { "containers": [ { "name": "catalog", "image": image } ] }
    })
}

/// A ReplicaSet of revision `revision` running `catalog:<revision>`, owned by `owner`.
pub fn replicaset(revision: u64, owner: &str) -> Value {
    let hash = format!("h{revision}");
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": format!("catalog-deploy-{hash}"), "namespace": NS,
            "annotations": { "deployment.kubernetes.io/revision": revision.to_string() },
            "ownerReferences": [ {
                "apiVersion": "apps/v1", "kind": "Deployment", "name": "catalog-deploy",
                "uid": owner, "controller": true
            } ]
        },
        "spec": {
            "selector": { "matchLabels": { "app": "catalog" } },
            "template": template(&format!("catalog:{revision}"), Some(&hash))
        }
    })
}

pub fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({ "apiVersion": "v1", "kind": kind, "metadata": { "resourceVersion": "1" }, "items": items })
}

/// An autoscaling/v2 HPA named `catalog` scaling `target`.
pub fn hpa(target: &str, min: i32, max: i32, current: i32, annotations: Value) -> Value {
    json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": { "name": "catalog", "namespace": NS, "annotations": annotations },
        "spec": {
            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": target },
            "minReplicas": min, "maxReplicas": max
        },
        "status": { "currentReplicas": current, "desiredReplicas": current }
    })
}

pub fn scale(replicas: i32) -> Value {
    json!({
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": { "name": "catalog-deploy", "namespace": NS },
        "spec": { "replicas": replicas }, "status": { "replicas": replicas }
    })
}

pub fn configmap(data: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "catalog-deploy-config", "namespace": NS },
        "data": data
    })
}

/// The record the actuator stored in a Deployment patch.
pub fn record_in(patch: &Value) -> Value {
    let text = patch["metadata"]["annotations"]["charter.dev/last-action"]
        .as_str()
        .expect("a record");
    serde_json::from_str(text).expect("record json")
}

/// `deploy/kubernetes/rbac.yaml`, parsed.
pub fn rbac_documents() -> Vec<RbacDocument> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/kubernetes/rbac.yaml"
    );
    let text = std::fs::read_to_string(path).expect("rbac.yaml");
    serde_saphyr::from_multiple(&text).expect("rbac.yaml parses")
}

#[derive(Debug, Deserialize)]
pub struct RbacDocument {
    pub kind: String,
    pub metadata: Metadata,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub api_groups: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default)]
    pub resource_names: Vec<String>,
}

/// The Role of rbac.yaml.
pub struct Role {
    pub namespace: String,
    pub rules: Vec<Rule>,
}

impl Role {
    pub fn load() -> Role {
        let doc = rbac_documents()
            .into_iter()
            .find(|d| d.kind == "Role")
            .expect("a Role in rbac.yaml");
        Role {
            namespace: doc.metadata.namespace.expect("a namespaced Role"),
            rules: doc.rules,
        }
    }

    /// (group, resource, verb, namespace) of a namespaced request, as RBAC sees it.
    pub fn access(method: &str, path: &str, query: &str) -> (String, String, String, String) {
        let watch = query
            .split('&')
            .any(|p| p == "watch=true" || p == "watch=1");
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (group, rest) = match segments.as_slice() {
            ["api", "v1", rest @ ..] => (String::new(), rest),
            ["apis", group, _version, rest @ ..] => (group.to_string(), rest),
            _ => panic!("not an API path: {path}"),
        };
        let (ns, resource, name, sub) = match rest {
            ["namespaces", ns, resource] => (ns, *resource, None, None),
            ["namespaces", ns, resource, name] => (ns, *resource, Some(*name), None),
            ["namespaces", ns, resource, name, sub] => (ns, *resource, Some(*name), Some(*sub)),
            _ => panic!("not a namespaced request: {path}"),
        };
        let verb = match (method, name) {
            ("GET", None) if watch => "watch",
            ("GET", Some(_)) => "get",
            ("GET", None) => "list",
            ("PATCH", _) => "patch",
            ("PUT", _) => "update",
            ("POST", _) => "create",
            ("DELETE", _) => "delete",
            other => panic!("unexpected method {other:?}"),
        };
        let resource = match sub {
            Some(s) => format!("{resource}/{s}"),
            None => resource.to_string(),
        };
        (group, resource, verb.to_string(), ns.to_string())
    }

    pub fn grants(&self, group: &str, resource: &str, verb: &str) -> bool {
        self.rules.iter().any(|r| {
            r.api_groups.iter().any(|g| g == group)
                && r.resources.iter().any(|x| x == resource)
                && r.verbs.iter().any(|v| v == verb)
        })
    }

    pub fn assert_grants(&self, method: &str, path: &str, query: &str) {
        let (group, resource, verb, ns) = Role::access(method, path, query);
        assert_eq!(
            ns, self.namespace,
            "request outside the Role's namespace: {path}"
        );
        assert!(
            self.grants(&group, &resource, &verb),
            "rbac.yaml does not grant `{verb}` on `{resource}` (group `{group}`), needed by {method} {path}"
        );
    }
}
