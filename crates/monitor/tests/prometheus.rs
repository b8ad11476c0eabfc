//! `PrometheusSource` against a wiremock Prometheus: mapping, Unknown on every kind of
//! doubt, retries, unavailability and bounded concurrency.

use charter_model::{Charter, PrometheusSpec, Sample, SourceSpec, Timestamp};
use charter_monitor::prometheus::{PrometheusSource, query_for, step_for};
use charter_monitor::{MetricSource, Observation, SourceError};
use charter_testkit::charter_from;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const NOW: Timestamp = Timestamp(1_700_000_000_123);

/// A charter builder: three components (`api`, `db`, `web`) and the objectives given.
struct Fixture {
    url: String,
    source: Vec<String>,
    objectives: Vec<String>,
}

impl Fixture {
    fn new(url: &str) -> Self {
        Fixture {
            url: url.to_string(),
            source: vec!["timeout: 2s".into(), "retries: 0".into()],
            objectives: Vec::new(),
        }
    }

    /// Add a `source.prometheus` setting, e.g. `retries: 2`.
    fn with(mut self, setting: &str) -> Self {
        let key = setting.split(':').next().unwrap_or_default().to_string();
        self.source.retain(|s| !s.starts_with(&format!("{key}:")));
        self.source.push(setting.to_string());
        self
    }

    /// Add an objective; `source` is the `metric: ...` or `expr: ...` line.
    fn objective(mut self, name: &str, source: &str, components: &str, direction: &str) -> Self {
        let thresholds = if direction == "below" {
            "below: { warning: 0.9, critical: 0.5, clear: 0.95 }"
        } else {
            "above: { warning: 0.5, critical: 1.0, clear: 0.4 }"
        };
        self.objectives.push(format!(
            "  - name: {name}\n    {source}\n    components: [{components}]\n    {thresholds}\n    remedies: [restart]\n"
        ));
        self
    }

    fn charter(&self) -> Charter {
        let text = format!(
            "name: t\nsource:\n  prometheus: {{ url: \"{}\", {} }}\ncomponents:\n  - name: api\n  - name: db\n  - name: web\nobjectives:{}",
            self.url,
            self.source.join(", "),
            if self.objectives.is_empty() {
                " []\n".to_string()
            } else {
                format!("\n{}", self.objectives.concat())
            }
        );
        charter_from(&text)
    }

    fn build(&self) -> (Charter, PrometheusSource) {
        let charter = self.charter();
        let source = PrometheusSource::new(spec(&charter)).expect("source");
        (charter, source)
    }
}

fn spec(charter: &Charter) -> &PrometheusSpec {
    match &charter.source {
        SourceSpec::Prometheus(p) => p,
        other => panic!("not a prometheus source: {other:?}"),
    }
}

/// A successful instant-vector response with one series per `(service, value)`.
fn vector(series: &[(&str, &str)]) -> Value {
    let result: Vec<Value> = series
        .iter()
        .map(|(svc, v)| json!({"metric": {"service": svc}, "value": [1_700_000_000.123, v]}))
        .collect();
    json!({"status": "success", "data": {"resultType": "vector", "result": result}})
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

async fn answer(server: &MockServer, query: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .and(query_param("query", query))
        .respond_with(response)
        .mount(server)
        .await;
}

fn value(obs: &Observation, objective: &str, component: &str) -> Option<f64> {
    let found: Vec<&Sample> = obs
        .samples
        .iter()
        .filter(|s| s.objective == objective && s.component == component)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "exactly one sample for {objective}@{component}: {:?}",
        obs.samples
    );
    found[0].value
}

fn has_problem(obs: &Observation, needles: &[&str]) -> bool {
    obs.problems
        .iter()
        .any(|p| needles.iter().all(|n| p.contains(n)))
}

#[tokio::test]
async fn vector_result_maps_to_one_sample_per_component() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .and(query_param("query", "latency_seconds"))
        .and(query_param("time", "1700000000.123"))
        .and(query_param("timeout", "1.800"))
        .respond_with(ok(vector(&[("api", "0.3"), ("db", "1.25")])))
        .expect(1)
        .mount(&server)
        .await;
    let (charter, source) = Fixture::new(&server.uri())
        .objective("latency", "metric: latency_seconds", "api, db", "above")
        .build();

    let obs = source.observe(&charter, NOW).await.expect("observe");

    assert_eq!(obs.at, Some(NOW));
    assert!(obs.changes.is_empty());
    assert!(obs.problems.is_empty(), "{:?}", obs.problems);
    assert_eq!(obs.samples.len(), 2);
    assert!(obs.samples.iter().all(|s| s.at == NOW));
    assert_eq!(value(&obs, "latency", "api"), Some(0.3));
    assert_eq!(value(&obs, "latency", "db"), Some(1.25));
}

#[tokio::test]
async fn metric_with_labels_becomes_a_sorted_escaped_selector() {
    let server = MockServer::start().await;
    let selector = r#"requests_total{job="a\"b",path="c\\d"}"#;
    answer(&server, selector, ok(vector(&[("api", "7")]))).await;
    answer(
        &server,
        "sum by (service) (rate(x[1m]))",
        ok(vector(&[("api", "2")])),
    )
    .await;
    let (charter, source) = Fixture::new(&server.uri())
        .objective(
            "requests",
            r#"metric: requests_total
    labels: { path: 'c\d', job: 'a"b' }"#,
            "api",
            "above",
        )
        .objective(
            "rate",
            r#"expr: "sum by (service) (rate(x[1m]))""#,
            "api",
            "above",
        )
        .build();

    assert_eq!(query_for(&charter.objectives[0]), selector);
    assert_eq!(
        query_for(&charter.objectives[1]),
        "sum by (service) (rate(x[1m]))"
    );
    let obs = source.observe(&charter, NOW).await.expect("observe");
    assert_eq!(value(&obs, "requests", "api"), Some(7.0));
    assert_eq!(value(&obs, "rate", "api"), Some(2.0));
}

#[tokio::test]
async fn nan_inf_unparseable_and_missing_series_are_unknown() {
    let server = MockServer::start().await;
    answer(
        &server,
        "a",
        ok(vector(&[("api", "NaN"), ("db", "+Inf"), ("web", "fast")])),
    )
    .await;
    answer(&server, "b", ok(vector(&[("api", "-Inf")]))).await;
    answer(&server, "c", ok(vector(&[]))).await;
    answer(&server, "healthy", ok(vector(&[("api", "0.1")]))).await;
    let (charter, source) = Fixture::new(&server.uri())
        .objective("a", "metric: a", "api, db, web", "above")
        .objective("b", "metric: b", "api, db", "above")
        .objective("c", "metric: c", "api", "above")
        .objective("healthy", "metric: healthy", "api", "above")
        .build();

    let obs = source.observe(&charter, NOW).await.expect("observe");

    for (o, c) in [
        ("a", "api"),
        ("a", "db"),
        ("a", "web"),
        ("b", "api"),
        ("b", "db"),
        ("c", "api"),
    ] {
        assert_eq!(value(&obs, o, c), None, "{o}@{c} must be unknown");
    }
    assert_eq!(value(&obs, "healthy", "api"), Some(0.1));
    assert!(
        has_problem(&obs, &["`a`", "`api`", "NaN"]),
        "{:?}",
        obs.problems
    );
    assert!(has_problem(&obs, &["`a`", "`db`", "+Inf"]));
    assert!(has_problem(&obs, &["`a`", "`web`", "unparseable"]));
    assert!(has_problem(&obs, &["`b`", "`api`", "-Inf"]));
    assert!(has_problem(&obs, &["`b`", "`db`", "no series"]));
    assert!(has_problem(&obs, &["`c`", "`api`", "no series"]));
}

#[tokio::test]
async fn series_for_unknown_components_are_reported_once_and_ignored() {
    let server = MockServer::start().await;
    let body = json!({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"service": "api"}, "value": [1.0, "0.2"]},
        {"metric": {"service": "ghost"}, "value": [1.0, "99"]},
        {"metric": {"service": "db"}, "value": [1.0, "99"]},
        {"metric": {"instance": "x:9100"}, "value": [1.0, "99"]},
    ]}});
    answer(&server, "latency", ok(body)).await;
    let (charter, source) = Fixture::new(&server.uri())
        .objective("latency", "metric: latency", "api", "above")
        .build();

    let first = source.observe(&charter, NOW).await.expect("first cycle");
    assert_eq!(first.samples.len(), 1, "{:?}", first.samples);
    assert_eq!(value(&first, "latency", "api"), Some(0.2));
    assert!(has_problem(
        &first,
        &["ghost", "not a component of the charter"]
    ));
    // db is a component of the charter that this objective leaves out: its series
    // is expected (a metric shared by several objectives) and ignored unreported.
    assert!(
        !first.problems.iter().any(|p| p.contains("\"db\"")),
        "{:?}",
        first.problems
    );
    assert!(has_problem(&first, &["without a `service` label"]));
    assert_eq!(first.problems.len(), 2, "{:?}", first.problems);

    let second = source
        .observe(&charter, NOW.plus(Duration::from_secs(30)))
        .await
        .expect("second cycle");
    assert_eq!(value(&second, "latency", "api"), Some(0.2));
    assert!(second.problems.is_empty(), "{:?}", second.problems);
}

#[tokio::test]
async fn several_series_for_a_component_take_the_worst_and_are_reported_once() {
    let server = MockServer::start().await;
    let twice = ok(vector(&[("api", "0.3"), ("api", "0.9"), ("db", "0.2")]));
    answer(&server, "latency", twice.clone()).await;
    answer(&server, "availability", twice).await;
    let (charter, source) = Fixture::new(&server.uri())
        .objective("latency", "metric: latency", "api, db", "above")
        .objective("availability", "metric: availability", "api, db", "below")
        .build();

    let obs = source.observe(&charter, NOW).await.expect("observe");
    assert_eq!(value(&obs, "latency", "api"), Some(0.9));
    assert_eq!(value(&obs, "availability", "api"), Some(0.3));
    assert_eq!(value(&obs, "latency", "db"), Some(0.2));
    assert!(has_problem(&obs, &["`latency`", "2 series", "`api`"]));
    assert!(has_problem(&obs, &["`availability`", "2 series", "`api`"]));

    let again = source.observe(&charter, NOW).await.expect("observe");
    assert_eq!(value(&again, "latency", "api"), Some(0.9));
    assert!(again.problems.is_empty(), "{:?}", again.problems);
}

#[tokio::test]
async fn http_errors_error_status_and_warnings_are_unknown() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .and(query_param("query", "down"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .expect(1) // retries: 0
        .mount(&server)
        .await;
    answer(
        &server,
        "errored",
        ok(json!({"status": "error", "errorType": "execution", "error": "too many samples"})),
    )
    .await;
    let mut warned = vector(&[("api", "0.1")]);
    warned["warnings"] = json!(["store gateway unreachable, result may be partial"]);
    answer(&server, "warned", ok(warned)).await;
    answer(&server, "healthy", ok(vector(&[("api", "0.1")]))).await;
    let (charter, source) = Fixture::new(&server.uri())
        .objective("down", "metric: down", "api", "above")
        .objective("errored", "metric: errored", "api", "above")
        .objective("warned", "metric: warned", "api", "above")
        .objective("healthy", "metric: healthy", "api", "above")
        .build();

    let obs = source.observe(&charter, NOW).await.expect("observe");

    assert_eq!(value(&obs, "down", "api"), None);
    assert_eq!(value(&obs, "errored", "api"), None);
    assert_eq!(value(&obs, "warned", "api"), None);
    assert_eq!(value(&obs, "healthy", "api"), Some(0.1));
    assert!(
        has_problem(&obs, &["`down`", "http 500", "boom"]),
        "{:?}",
        obs.problems
    );
    assert!(has_problem(
        &obs,
        &["`errored`", "execution", "too many samples"]
    ));
    assert!(has_problem(
        &obs,
        &["`warned`", "store gateway unreachable"]
    ));
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .and(query_param("query", "bad"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"status": "error", "errorType": "bad_data", "error": "parse error"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    answer(&server, "healthy", ok(vector(&[("api", "0.1")]))).await;
    let (charter, source) = Fixture::new(&server.uri())
        .with("retries: 3")
        .objective("bad", "metric: bad", "api", "above")
        .objective("healthy", "metric: healthy", "api", "above")
        .build();

    let obs = source.observe(&charter, NOW).await.expect("observe");
    assert_eq!(value(&obs, "bad", "api"), None);
    assert!(
        has_problem(&obs, &["http 400", "bad_data", "parse error"]),
        "{:?}",
        obs.problems
    );
}

#[tokio::test]
async fn a_query_slower_than_the_timeout_is_unknown() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .and(query_param("query", "slow"))
        .respond_with(ok(vector(&[("api", "0.1")])).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    answer(&server, "healthy", ok(vector(&[("api", "0.1")]))).await;
    let (charter, source) = Fixture::new(&server.uri())
        .with("timeout: 300ms")
        .with("retries: 5")
        .objective("slow", "metric: slow", "api", "above")
        .objective("healthy", "metric: healthy", "api", "above")
        .build();

    let obs = source.observe(&charter, NOW).await.expect("observe");
    assert_eq!(value(&obs, "slow", "api"), None);
    assert_eq!(value(&obs, "healthy", "api"), Some(0.1));
    assert!(
        has_problem(&obs, &["`slow`", "timed out"]),
        "{:?}",
        obs.problems
    );

    // Retries stay within 1.5 × timeout (450 ms): one 300 ms attempt, a 100 ms
    // backoff, at most one shortened attempt, and no room for a third of five.
    let requests = server.received_requests().await.unwrap_or_default();
    let slow = requests
        .iter()
        .filter(|r| r.url.query().is_some_and(|q| q.contains("query=slow")))
        .count();
    assert!((1..=2).contains(&slow), "{slow} attempts on the slow query");
}

#[tokio::test]
async fn a_failed_query_is_retried_with_backoff() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    answer(&server, "latency", ok(vector(&[("api", "0.4")]))).await;
    let (charter, source) = Fixture::new(&server.uri())
        .with("retries: 2")
        .objective("latency", "metric: latency", "api", "above")
        .build();

    let obs = source.observe(&charter, NOW).await.expect("observe");
    assert_eq!(value(&obs, "latency", "api"), Some(0.4));
    assert!(obs.problems.is_empty(), "{:?}", obs.problems);
}

#[tokio::test]
async fn every_query_failing_makes_the_source_unavailable() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let (charter, source) = Fixture::new(&format!("http://{closed}"))
        .with("retries: 1")
        .objective("a", "metric: a", "api", "above")
        .objective("b", "metric: b", "db", "above")
        .build();
    match source.observe(&charter, NOW).await {
        Err(SourceError::Unavailable(why)) => {
            assert!(why.contains("all 2 queries failed"), "{why}");
            assert!(why.contains("cannot connect"), "{why}");
        }
        other => panic!("expected unavailable, got {other:?}"),
    }

    // A server that answers every query with an HTTP error is as good as down.
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let (charter, source) = Fixture::new(&server.uri())
        .objective("a", "metric: a", "api", "above")
        .objective("b", "metric: b", "db", "above")
        .build();
    assert!(matches!(
        source.observe(&charter, NOW).await,
        Err(SourceError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_charter_without_objectives_observes_nothing() {
    let (charter, source) = Fixture::new("http://127.0.0.1:9").build();
    let obs = source.observe(&charter, NOW).await.expect("observe");
    assert!(obs.samples.is_empty());
}

#[tokio::test]
async fn a_scalar_result_fits_only_a_single_component_objective() {
    let server = MockServer::start().await;
    let scalar =
        ok(json!({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "0.7"]}}));
    answer(&server, "one", scalar.clone()).await;
    answer(&server, "two", scalar).await;
    let (charter, source) = Fixture::new(&server.uri())
        .objective("one", "metric: one", "api", "above")
        .objective("two", "metric: two", "api, db", "above")
        .build();

    let obs = source.observe(&charter, NOW).await.expect("observe");
    assert_eq!(value(&obs, "one", "api"), Some(0.7));
    assert_eq!(value(&obs, "two", "api"), None);
    assert_eq!(value(&obs, "two", "db"), None);
    assert!(
        has_problem(&obs, &["`two`", "scalar"]),
        "{:?}",
        obs.problems
    );
}

/// Answers every query for `api` after a fixed delay and records when each arrived.
struct Recorder {
    arrivals: Arc<Mutex<Vec<Instant>>>,
    delay: Duration,
}

impl Respond for Recorder {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if let Ok(mut a) = self.arrivals.lock() {
            a.push(Instant::now());
        }
        ok(vector(&[("api", "0.1")])).set_delay(self.delay)
    }
}

#[tokio::test]
async fn queries_run_concurrently_up_to_max_in_flight() {
    let server = MockServer::start().await;
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let delay = Duration::from_millis(300);
    Mock::given(path("/api/v1/query"))
        .respond_with(Recorder {
            arrivals: arrivals.clone(),
            delay,
        })
        .expect(10)
        .mount(&server)
        .await;
    let mut fixture = Fixture::new(&server.uri())
        .with("timeout: 10s")
        .with("max_in_flight: 4");
    for i in 0..10 {
        fixture = fixture.objective(&format!("o{i}"), &format!("metric: m{i}"), "api", "above");
    }
    let (charter, source) = fixture.build();

    let obs = source.observe(&charter, NOW).await.expect("observe");
    assert_eq!(obs.samples.len(), 10);
    assert!(obs.samples.iter().all(|s| s.value == Some(0.1)));

    // A request is in flight from its arrival until its response, sent no earlier
    // than `delay` later; a new one can only arrive after a response was received.
    // So the number of arrivals within `delay` of each other never overstates the
    // requests truly in flight.
    let arrivals = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    assert_eq!(arrivals.len(), 10);
    let most = arrivals
        .iter()
        .map(|&t| {
            arrivals
                .iter()
                .filter(|&&a| a <= t && t < a + delay)
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(most > 1, "queries ran one at a time");
    assert!(most <= 4, "{most} queries in flight, limit is 4");
}

#[tokio::test]
async fn headers_and_bearer_token_are_sent() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .and(header("authorization", "Bearer s3cret"))
        .and(header("x-scope-orgid", "tenant-1"))
        .respond_with(ok(vector(&[("api", "0.1")])))
        .expect(1)
        .mount(&server)
        .await;
    let token = std::env::temp_dir().join(format!("charter-token-{}", std::process::id()));
    std::fs::write(&token, "  s3cret\n").expect("write token");
    let charter = Fixture::new(&server.uri())
        .objective("latency", "metric: latency", "api", "above")
        .charter();
    let mut spec = spec(&charter).clone();
    spec.bearer_token_file = Some(token.clone());
    spec.headers
        .insert("X-Scope-OrgID".into(), "tenant-1".into());
    let source = PrometheusSource::new(&spec).expect("source");
    let obs = source.observe(&charter, NOW).await.expect("observe");
    let _ = std::fs::remove_file(&token);
    assert_eq!(value(&obs, "latency", "api"), Some(0.1));

    spec.bearer_token_file = Some(token.with_extension("missing"));
    match PrometheusSource::new(&spec) {
        Err(e @ SourceError::TokenFile { .. }) => {
            assert!(e.to_string().contains("missing"), "{e}");
        }
        other => panic!("expected a token file error, got {other:?}"),
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "http://127.0.0.1:9/"))
        .mount(&server)
        .await;
    let (charter, source) = Fixture::new(&server.uri())
        .objective("latency", "metric: latency", "api", "above")
        .build();
    // The only query failed at the HTTP level, so the source is unavailable.
    match source.observe(&charter, NOW).await {
        Err(SourceError::Unavailable(why)) => assert!(why.contains("http 302"), "{why}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn query_range_returns_labelled_finite_points() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query_range"))
        .and(query_param("query", "up"))
        .and(query_param("start", "1700000000.000"))
        .and(query_param("end", "1700000060.000"))
        .and(query_param("step", "30.000"))
        .respond_with(ok(
            json!({"status": "success", "data": {"resultType": "matrix", "result": [
                {"metric": {"service": "api", "__name__": "up"},
                 "values": [[1_700_000_000, "1"], [1_700_000_030.5, "NaN"], [1_700_000_060, "0"]]},
                {"metric": {"service": "db"},
                 "values": [[1_700_000_000, "+Inf"], [1_700_000_030, "0.25"]]},
            ]}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let (_, source) = Fixture::new(&server.uri()).build();
    let start = Timestamp::from_secs(1_700_000_000);
    let end = Timestamp::from_secs(1_700_000_060);

    let series = source
        .query_range("up", start, end, Duration::from_secs(30))
        .await
        .expect("range");

    assert_eq!(series.len(), 2);
    assert_eq!(series[0].0.get("service").map(String::as_str), Some("api"));
    assert_eq!(series[0].1, vec![(start, 1.0), (end, 0.0)]);
    assert_eq!(
        series[1].1,
        vec![(Timestamp::from_secs(1_700_000_030), 0.25)]
    );
}

#[tokio::test]
async fn query_range_reports_errors_and_refuses_too_many_points() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query_range"))
        .respond_with(ok(
            json!({"status": "error", "errorType": "bad_data", "error": "bad"}),
        ))
        .mount(&server)
        .await;
    let (_, source) = Fixture::new(&server.uri()).build();
    let start = Timestamp::from_secs(1_700_000_000);
    let day = Duration::from_secs(86_400);

    let err = source
        .query_range("up", start, start.plus(day), Duration::from_secs(60))
        .await;
    assert!(
        matches!(err, Err(SourceError::Query(ref m)) if m.contains("bad_data")),
        "{err:?}"
    );

    let too_fine = source
        .query_range("up", start, start.plus(day), Duration::from_secs(1))
        .await;
    assert!(
        matches!(too_fine, Err(SourceError::Query(_))),
        "{too_fine:?}"
    );

    let step = step_for(Duration::from_secs(1), day);
    assert!(step >= Duration::from_secs(1));
    assert!(day.as_millis() / step.as_millis() < 11_000);
    assert_eq!(
        step_for(Duration::from_secs(30), day),
        Duration::from_secs(30)
    );
}

#[tokio::test]
async fn history_backfills_declared_series_only() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query_range"))
        .and(query_param("query", "lat"))
        .respond_with(ok(json!({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"service": "api"}, "values": [[1_700_000_000, "0.1"], [1_700_000_030, "0.2"]]},
            {"metric": {"service": "db"}, "values": [[1_700_000_000, "9"]]},
            {"metric": {"service": "intruder"}, "values": [[1_700_000_000, "9"]]},
        ]}})))
        .expect(1)
        .mount(&server)
        .await;
    let (charter, source) = Fixture::new(&server.uri())
        .objective("latency", "metric: lat", "api", "above")
        .build();
    let start = Timestamp::from_secs(1_700_000_000);
    let samples = source
        .history(
            &charter,
            start,
            start.plus(Duration::from_secs(30)),
            Duration::from_secs(30),
        )
        .await
        .expect("history");
    // `db` is declared but not in this objective's components; `intruder` is not declared.
    assert_eq!(samples.len(), 2, "{samples:?}");
    assert!(
        samples
            .iter()
            .all(|s| s.component == "api" && s.objective == "latency")
    );
    assert_eq!(samples[1].value, Some(0.2));
}
