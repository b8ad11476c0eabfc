//! Fuzzing Prometheus query responses (issue 16): a fake Prometheus answers every
//! query with the case's status and body (mutated from
//! `fuzz/corpus/prometheus_response/`, first line the status), and the real source
//! reads it through `observe` (instant queries) and `query_range`. No panic, each
//! case answered in bounded time (the driver's watchdog, 5 s: two requests, each
//! under the source's 2 s timeout), every refusal an error with a message. Run length:
//! `CHARTER_FUZZ_CASES` / `CHARTER_FUZZ_SECS` (see `charter_testkit::fuzz`).

use charter_model::{SourceSpec, Timestamp};
use charter_monitor::MetricSource;
use charter_monitor::prometheus::PrometheusSource;
use charter_testkit::{Fuzz, charter_from};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const NOW: Timestamp = Timestamp(1_767_225_600_000);

/// Answers every request with the current case.
#[derive(Clone, Default)]
struct Current(Arc<Mutex<(u16, Vec<u8>)>>);

impl Respond for Current {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let (status, body) = self.0.lock().map(|c| c.clone()).unwrap_or_default();
        ResponseTemplate::new(status)
            .insert_header("content-type", "application/json")
            .set_body_bytes(body)
    }
}

/// `STATUS\nBODY`; without a status line, 200 and the whole input.
pub fn split_case(input: &[u8]) -> (u16, Vec<u8>) {
    if let Some(nl) = input.iter().position(|&b| b == b'\n')
        && let Some(code) = std::str::from_utf8(&input[..nl])
            .ok()
            .and_then(|s| s.trim().parse::<u16>().ok())
            .filter(|c| (100..600).contains(c) && !(100..200).contains(c))
    {
        return (code, input[nl + 1..].to_vec());
    }
    (200, input.to_vec())
}

#[test]
fn fuzz_prometheus_responses() {
    Fuzz::new("prometheus_response")
        .dictionary(&[
            "\"status\"", "\"success\"", "\"error\"", "\"data\"", "\"resultType\"", "\"vector\"",
            "\"matrix\"", "\"scalar\"", "\"string\"", "\"result\"", "\"metric\"", "\"value\"",
            "\"values\"", "\"warnings\"", "\"errorType\"", "\"service\"", "\"api\"", "\"db\"",
            "\"NaN\"", "\"+Inf\"", "\"-Inf\"", "\"1e400\"", "[1767225600,\"1\"]", "null", "{}",
            "[]",
        ])
        .case_bound(Duration::from_secs(5))
        .run(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let current = Current::default();
            let server = rt.block_on(async {
                let server = MockServer::builder()
                    .disable_request_recording()
                    .start()
                    .await;
                Mock::given(wiremock::matchers::any())
                    .respond_with(current.clone())
                    .mount(&server)
                    .await;
                server
            });
            let charter = charter_from(&format!(
                "name: t\nsource:\n  prometheus: {{ url: \"{}\", timeout: 2s, retries: 0 }}\n\
                 components: [{{ name: api }}, {{ name: db }}]\nobjectives:\n\
                 \x20 - {{ name: lat, metric: latency_seconds, above: {{ warning: 0.5, critical: 1 }}, remedies: [restart] }}\n\
                 \x20 - {{ name: err, expr: 'sum(rate(errors[5m])) by (service)', below: {{ warning: 0.9, critical: 0.5 }} }}\n",
                server.uri()
            ));
            let SourceSpec::Prometheus(spec) = &charter.source else {
                panic!("a prometheus source")
            };
            let source = PrometheusSource::new(spec).expect("source");
            move |input: &[u8]| {
                let _keep = &server;
                if let Ok(mut c) = current.0.lock() {
                    *c = split_case(input);
                }
                rt.block_on(async {
                    let observed = source.observe(&charter, NOW).await;
                    let ranged = source
                        .query_range("up", NOW, NOW.plus(Duration::from_secs(600)), Duration::from_secs(15))
                        .await;
                    // Accepted when either read used the answer; every refusal of
                    // either still needs its message.
                    let mut refusals = Vec::new();
                    let mut used = false;
                    match observed {
                        Ok(o) => {
                            used |= o.problems.is_empty();
                            refusals.extend(o.problems);
                        }
                        Err(e) => refusals.push(e.to_string()),
                    }
                    match ranged {
                        Ok(_) => used = true,
                        Err(e) => refusals.push(e.to_string()),
                    }
                    for r in &refusals {
                        assert!(!r.trim().is_empty(), "an empty refusal");
                    }
                    if used { Ok(()) } else { Err(refusals.join("; ")) }
                })
            }
        });
}
