//! `PrometheusSource` against the answers of Prometheus-compatible backends that differ
//! from Prometheus's own (VictoriaMetrics, vmselect, Mimir behind a path prefix), on a
//! wiremock server. The same behaviour against a real VictoriaMetrics is tested in
//! crates/cli/tests/victoriametrics.rs.

use charter_model::{Charter, SourceSpec, Timestamp};
use charter_monitor::prometheus::PrometheusSource;
use charter_monitor::{MetricSource, Observation};
use charter_testkit::charter_from;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const NOW: Timestamp = Timestamp(1_700_000_000_123);

/// A charter on `url` with components `api` and `db`, and the objectives given as
/// `(name, metric, components)`.
fn charter(url: &str, objectives: &[(&str, &str, &str)]) -> Charter {
    let mut text = format!(
        "name: t\nsource:\n  prometheus: {{ url: \"{url}\", timeout: 2s, retries: 0 }}\ncomponents:\n  - name: api\n  - name: db\nobjectives:\n"
    );
    for (name, metric, components) in objectives {
        text.push_str(&format!(
            "  - name: {name}\n    metric: {metric}\n    components: [{components}]\n    above: {{ warning: 0.5, critical: 1.0, clear: 0.4 }}\n    remedies: [restart]\n"
        ));
    }
    charter_from(&text)
}

fn source(charter: &Charter) -> PrometheusSource {
    let SourceSpec::Prometheus(spec) = &charter.source else {
        panic!("not a prometheus source");
    };
    PrometheusSource::new(spec).expect("source")
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn value(obs: &Observation, objective: &str, component: &str) -> Option<f64> {
    let found: Vec<_> = obs
        .samples
        .iter()
        .filter(|s| s.objective == objective && s.component == component)
        .collect();
    assert_eq!(found.len(), 1, "{objective}@{component}: {:?}", obs.samples);
    found[0].value
}

#[tokio::test]
async fn a_partial_vmselect_result_is_unknown() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .respond_with(ok(json!({"status": "success", "isPartial": true, "data": {
            "resultType": "vector",
            "result": [{"metric": {"service": "api"}, "value": [1.0, "0.1"]}]}})))
        .mount(&server)
        .await;
    let charter = charter(&server.uri(), &[("latency", "latency", "api")]);
    let obs = source(&charter)
        .observe(&charter, NOW)
        .await
        .expect("observe");
    // A partial answer can look healthy: the missing storage node may hold the bad
    // series.
    assert_eq!(value(&obs, "latency", "api"), None);
    assert!(
        obs.problems
            .iter()
            .any(|p| p.contains("partial") && p.contains("isPartial")),
        "{:?}",
        obs.problems
    );
}

#[tokio::test]
async fn a_complete_vmselect_result_is_read() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .respond_with(ok(
            json!({"status": "success", "isPartial": false, "data": {
            "resultType": "vector",
            "result": [{"metric": {"service": "api"}, "value": [1.0, "0.1"]}]}}),
        ))
        .mount(&server)
        .await;
    let charter = charter(&server.uri(), &[("latency", "latency", "api")]);
    let obs = source(&charter)
        .observe(&charter, NOW)
        .await
        .expect("observe");
    assert_eq!(value(&obs, "latency", "api"), Some(0.1));
    assert!(obs.problems.is_empty(), "{:?}", obs.problems);
}

#[tokio::test]
async fn instant_queries_ask_victoriametrics_for_the_value_at_now() {
    // Without nocache=1, VictoriaMetrics evaluates a query near its clock 30 s
    // earlier (-search.latencyOffset) and stamps the answer with the time asked.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .and(query_param("nocache", "1"))
        .and(query_param("time", "1700000000.123"))
        .respond_with(ok(
            json!({"status": "success", "data": {"resultType": "vector",
            "result": [{"metric": {"service": "api"}, "value": [1_700_000_000.123, "0.3"]}]}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let charter = charter(&server.uri(), &[("latency", "latency", "api")]);
    let obs = source(&charter)
        .observe(&charter, NOW)
        .await
        .expect("observe");
    assert_eq!(value(&obs, "latency", "api"), Some(0.3));
}

#[tokio::test]
async fn an_unlabelled_single_series_fits_only_a_single_component_objective() {
    // VictoriaMetrics answers `scalar(...)` or a literal with a vector of one series
    // without labels where Prometheus answers a scalar.
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .respond_with(ok(
            json!({"status": "success", "data": {"resultType": "vector",
            "result": [{"metric": {}, "value": [1.0, "0.7"]}]}}),
        ))
        .mount(&server)
        .await;
    let charter = charter(
        &server.uri(),
        &[("one", "one", "api"), ("two", "two", "api, db")],
    );
    let obs = source(&charter)
        .observe(&charter, NOW)
        .await
        .expect("observe");
    assert_eq!(value(&obs, "one", "api"), Some(0.7));
    // Two components: the series names neither, so both stay unknown.
    assert_eq!(value(&obs, "two", "api"), None);
    assert_eq!(value(&obs, "two", "db"), None);
    assert!(
        obs.problems
            .iter()
            .any(|p| p.contains("`two`") && p.contains("without a `service` label")),
        "{:?}",
        obs.problems
    );
}

#[tokio::test]
async fn a_url_with_a_path_prefix_keeps_it() {
    // Mimir serves the API under /prometheus, VictoriaMetrics' vmselect under
    // /select/<tenant>/prometheus.
    let server = MockServer::start().await;
    Mock::given(path("/select/0/prometheus/api/v1/query"))
        .respond_with(ok(
            json!({"status": "success", "data": {"resultType": "vector",
            "result": [{"metric": {"service": "api"}, "value": [1.0, "0.2"]}]}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let url = format!("{}/select/0/prometheus/", server.uri());
    let charter = charter(&url, &[("latency", "latency", "api")]);
    let obs = source(&charter)
        .observe(&charter, NOW)
        .await
        .expect("observe");
    assert_eq!(value(&obs, "latency", "api"), Some(0.2));
}
