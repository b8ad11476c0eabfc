//! `source.prometheus.changes` against a wiremock Prometheus: a revision that moves
//! between two reads is reported as a deploy, with the versions the info query gives;
//! nothing is concluded from a first read, a failed query or a missing series.

use charter_model::{ChangeKind, SourceSpec, Timestamp};
use charter_monitor::MetricSource;
use charter_monitor::prometheus::{CHANGE_BY, PrometheusSource};
use charter_testkit::charter_from;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REVISION: &str = "max by (service) (deploy_revision)";
const INFO: &str = "build_info";

fn charter(url: &str) -> charter_model::Charter {
    charter_from(&format!(
        "name: t\nsource:\n  prometheus:\n    url: \"{url}\"\n    retries: 0\n    changes: {{ revision: \"{REVISION}\", info: {INFO} }}\ncomponents:\n  - name: api\n  - name: db\nobjectives: []\n"
    ))
}

fn vector(result: Vec<Value>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"status": "success", "data": {"resultType": "vector", "result": result}}),
    )
}

/// Revision values and versions per service; `ghost` is not in the charter.
async fn answer(server: &MockServer, revisions: &[(&str, &str)], versions: &[(&str, &str)]) {
    server.reset().await;
    let rev = revisions
        .iter()
        .map(|(s, v)| json!({"metric": {"service": s}, "value": [1.0, v]}))
        .collect();
    let info = versions
        .iter()
        .map(|(s, v)| json!({"metric": {"service": s, "version": v}, "value": [1.0, "1"]}))
        .collect();
    for (query, body) in [(REVISION, rev), (INFO, info)] {
        Mock::given(method("GET"))
            .and(path("/api/v1/query"))
            .and(query_param("query", query))
            .respond_with(vector(body))
            .mount(server)
            .await;
    }
}

#[tokio::test]
async fn a_moved_revision_is_a_deploy_with_its_versions() {
    let server = MockServer::start().await;
    let charter = charter(&server.uri());
    let SourceSpec::Prometheus(spec) = &charter.source else {
        panic!("prometheus source")
    };
    let source = PrometheusSource::new(spec).expect("source");
    let healthy = [("api", "1"), ("db", "4"), ("ghost", "1")];
    let v1 = [("api", "v1"), ("db", "v9")];

    answer(&server, &healthy, &v1).await;
    let first = source
        .observe(&charter, Timestamp(100_000))
        .await
        .expect("observe");
    assert!(first.changes.is_empty(), "first read: {:?}", first.changes);
    let same = source
        .observe(&charter, Timestamp(110_000))
        .await
        .expect("observe");
    assert!(same.changes.is_empty(), "nothing moved: {:?}", same.changes);

    answer(
        &server,
        &[("api", "2"), ("db", "4"), ("ghost", "7")],
        &[("api", "v2"), ("db", "v9")],
    )
    .await;
    let obs = source
        .observe(&charter, Timestamp(120_000))
        .await
        .expect("observe");
    assert_eq!(obs.changes.len(), 1, "{:?}", obs.changes);
    let c = &obs.changes[0];
    assert_eq!(c.component, "api");
    assert_eq!(c.kind, ChangeKind::Deploy);
    assert_eq!(c.by, CHANGE_BY);
    assert_eq!(c.description, "deployed v2 (was v1)");
    assert_eq!(c.at, Timestamp(115_000), "halfway between the two reads");

    // A failed revision query concludes nothing; the info query still answers.
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .and(query_param("query", REVISION))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .and(query_param("query", INFO))
        .respond_with(vector(vec![
            json!({"metric": {"service": "api", "version": "v2"}, "value": [1.0, "1"]}),
        ]))
        .mount(&server)
        .await;
    let obs = source
        .observe(&charter, Timestamp(130_000))
        .await
        .expect("observe");
    assert!(obs.changes.is_empty(), "{:?}", obs.changes);
    assert!(
        obs.problems
            .iter()
            .any(|p| p.contains("changes: revision query failed")),
        "{:?}",
        obs.problems
    );

    // db is deployed while its series was missing: seen on the next good read.
    answer(&server, &[("api", "2"), ("db", "5")], &[("api", "v2")]).await;
    let obs = source
        .observe(&charter, Timestamp(140_000))
        .await
        .expect("observe");
    assert_eq!(obs.changes.len(), 1, "{:?}", obs.changes);
    assert_eq!(obs.changes[0].component, "db");
    assert_eq!(obs.changes[0].description, "deployed revision 5 (was 4)");
}

#[tokio::test]
async fn without_change_queries_the_source_reports_no_changes_and_asks_nothing() {
    let server = MockServer::start().await;
    let charter = charter_from(&format!(
        "name: t\nsource:\n  prometheus: {{ url: \"{}\" }}\ncomponents:\n  - name: api\nobjectives: []\n",
        server.uri()
    ));
    let SourceSpec::Prometheus(spec) = &charter.source else {
        panic!("prometheus source")
    };
    let source = PrometheusSource::new(spec).expect("source");
    let obs = source
        .observe(&charter, Timestamp(1_000))
        .await
        .expect("observe");
    assert!(obs.changes.is_empty());
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}
