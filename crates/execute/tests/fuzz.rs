//! Fuzzing actuator API responses (issue 16): a fake actuator answers every request
//! with the case's status and body (mutated from `fuzz/corpus/actuator_response/`,
//! first line the status), and the real HTTP client reads it as the answer to
//! `apply`, `status(key)` and `describe`. No panic, each case answered in bounded
//! time (the driver's watchdog, 7 s: three requests, each under the client's 2 s
//! timeout), every refusal an error with a message. Run length: `CHARTER_FUZZ_CASES` / `CHARTER_FUZZ_SECS`
//! (see `charter_testkit::fuzz`).

use charter_execute::{Actuator, HttpActuator};
use charter_model::{Action, ActionKind};
use charter_testkit::Fuzz;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

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
fn split_case(input: &[u8]) -> (u16, Vec<u8>) {
    if let Some(nl) = input.iter().position(|&b| b == b'\n')
        && let Some(code) = std::str::from_utf8(&input[..nl])
            .ok()
            .and_then(|s| s.trim().parse::<u16>().ok())
            .filter(|c| (200..600).contains(c))
    {
        return (code, input[nl + 1..].to_vec());
    }
    (200, input.to_vec())
}

#[test]
fn fuzz_actuator_responses() {
    Fuzz::new("actuator_response")
        .dictionary(&[
            "\"status\"",
            "\"applied\"",
            "\"failed\"",
            "\"precondition_failed\"",
            "\"unknown_component\"",
            "\"prior\"",
            "\"detail\"",
            "\"key\"",
            "\"error\"",
            "\"code\"",
            "\"replicas\"",
            "\"version\"",
            "\"zone\"",
            "\"open_circuits\"",
            "\"throttle_rate\"",
            "4294967296",
            "null",
            "{}",
            "[]",
        ])
        .case_bound(Duration::from_secs(7))
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
            let actuator =
                HttpActuator::new(&server.uri(), Some("t0ken".into()), Duration::from_secs(2))
                    .expect("actuator");
            let action = Action::new(ActionKind::ScaleOut, "orders");
            move |input: &[u8]| {
                let _keep = &server;
                if let Ok(mut c) = current.0.lock() {
                    *c = split_case(input);
                }
                rt.block_on(async {
                    // Accepted when any of the three calls used the answer; every
                    // refusal still needs its message.
                    let results = [
                        actuator.apply("k-1", &action).await.map(|_| ()),
                        actuator.status("k-1").await.map(|_| ()),
                        actuator.describe("orders").await.map(|_| ()),
                    ];
                    let used = results.iter().any(Result::is_ok);
                    let refusals: Vec<String> = results
                        .into_iter()
                        .filter_map(|r| r.err().map(|e| e.to_string()))
                        .collect();
                    for r in &refusals {
                        assert!(!r.trim().is_empty(), "an empty refusal");
                    }
                    if used {
                        Ok(())
                    } else {
                        Err(refusals.join("; "))
                    }
                })
            }
        });
}
