//! One GET against the API: a bounded body, errors in words, and retries with
//! exponential backoff within a time budget.

use super::PrometheusSource;
use super::query::{seconds, unix_seconds};
use super::response::{Envelope, api_error, quote};
use charter_model::Timestamp;
use reqwest::StatusCode;
use std::time::Duration;
use tokio::time::Instant;

/// Largest response body read; a bigger one is an error rather than a memory spike.
const MAX_BODY_BYTES: usize = 32 << 20;

/// The first retry waits this long; each further retry doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Why one HTTP exchange with the server did not give a usable body.
#[derive(Debug)]
pub(super) struct FetchError {
    pub(super) message: String,
    /// Whether the server could not be reached or answered with an HTTP error: the
    /// kind of failure that, on every query of a cycle, means the source is down.
    pub(super) transport: bool,
    /// Whether trying again may help (timeouts, connection errors, 5xx, 429).
    retryable: bool,
}

impl FetchError {
    fn api(message: impl Into<String>) -> Self {
        FetchError {
            message: message.into(),
            transport: false,
            retryable: false,
        }
    }
}

impl PrometheusSource {
    /// The `timeout` sent to the server: a tenth below ours, so that the server gives
    /// up (and says so) before our client does.
    pub(super) fn server_timeout(&self) -> Duration {
        self.timeout.mul_f64(0.9).max(Duration::from_millis(1))
    }

    /// The parameters of an instant query of `query` at `now`.
    ///
    /// `nocache=1` asks VictoriaMetrics (single-node or vmselect) for the value at
    /// `now` itself: without it, a query within `-search.latencyOffset` (30 s by
    /// default) of the server's clock is evaluated that much earlier and still stamped
    /// `now`, so every reading would be half a minute old without saying so.
    /// Prometheus, Thanos and Mimir ignore parameters they do not know.
    pub(super) fn instant_params(
        &self,
        query: String,
        now: Timestamp,
    ) -> [(&'static str, String); 4] {
        [
            ("query", query),
            ("time", unix_seconds(now)),
            ("timeout", seconds(self.server_timeout())),
            ("nocache", "1".to_string()),
        ]
    }

    /// GET `/api/v1/{endpoint}` with retries and exponential backoff, within a budget
    /// of 1.5 × the timeout for all attempts together.
    pub(super) async fn fetch(
        &self,
        endpoint: &str,
        params: &[(&str, String)],
    ) -> Result<Envelope, FetchError> {
        let url = format!("{}/api/v1/{endpoint}", self.base);
        let started = Instant::now();
        let budget = self.timeout.mul_f64(1.5);
        let mut attempt: u32 = 0;
        loop {
            let remaining = budget.saturating_sub(started.elapsed());
            let result = self
                .fetch_once(&url, params, self.timeout.min(remaining))
                .await;
            let error = match result {
                Ok(envelope) => return Ok(envelope),
                Err(e) => e,
            };
            let backoff = FIRST_BACKOFF.saturating_mul(1 << attempt.min(16));
            let retry =
                error.retryable && attempt < self.retries && started.elapsed() + backoff < budget;
            if !retry {
                let message = if attempt == 0 {
                    error.message
                } else {
                    format!("{} (after {} attempts)", error.message, attempt + 1)
                };
                return Err(FetchError { message, ..error });
            }
            tracing::debug!(url = %url, attempt, problem = %error.message, "retrying query");
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }

    async fn fetch_once(
        &self,
        url: &str,
        params: &[(&str, String)],
        timeout: Duration,
    ) -> Result<Envelope, FetchError> {
        let transport = |e: reqwest::Error| FetchError {
            message: describe(&e, timeout),
            transport: true,
            retryable: true,
        };
        let mut response = self
            .client
            .get(url)
            .query(params)
            .timeout(timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(FetchError {
                    message: format!("response larger than {} MiB", MAX_BODY_BYTES >> 20),
                    transport: !status.is_success(),
                    retryable: false,
                });
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            // Prometheus explains its errors in a JSON envelope; a proxy may not.
            let detail = match serde_json::from_slice::<Envelope>(&body) {
                Ok(e) => api_error(&e),
                Err(_) => quote(String::from_utf8_lossy(&body).trim()),
            };
            let retryable = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
            return Err(FetchError {
                message: format!("http {}: {detail}", status.as_u16()),
                transport: true,
                retryable,
            });
        }
        serde_json::from_slice::<Envelope>(&body)
            .map_err(|e| FetchError::api(format!("invalid response: {}", quote(&e.to_string()))))
    }
}

/// A reqwest error in words, with its causes but without the URL (long, and already
/// known from the objective).
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("timed out after {}", seconds(timeout) + "s");
    }
    let mut message = if e.is_connect() {
        "cannot connect".to_string()
    } else if e.is_body() || e.is_decode() {
        "cannot read the response".to_string()
    } else {
        "request failed".to_string()
    };
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&quote(&c.to_string()));
        cause = c.source();
    }
    message
}
