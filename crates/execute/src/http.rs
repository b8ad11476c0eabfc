//! The HTTP actuator: acts through the Charter actuator API (`docs/actuator-api.md`).
//!
//! `apply` is `POST {base}/v1/actions` with an `Idempotency-Key` header, `status`
//! is `GET {base}/v1/actions/{key}`, `describe` is `GET {base}/v1/components/{name}`.
//! Every URL is built from the configured base and fixed, percent-encoded path
//! segments; nothing in a response can send a request elsewhere: redirects are not
//! followed and proxies from the environment are ignored. Bodies read from the
//! remote are capped, and remote messages quoted in errors are shortened and
//! stripped of control characters.

use crate::actuator::{Actuator, ActuatorError, Applied, FENCING_EPOCH_HEADER};
use async_trait::async_trait;
use charter_model::{Action, ComponentState};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use reqwest::redirect::Policy;
use reqwest::{Client, RequestBuilder, StatusCode, Url};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The largest response body read, in bytes; a larger one is an error.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The longest remote message quoted in an error, in characters.
const MAX_QUOTE: usize = 300;

/// An [`Actuator`] that speaks the Charter actuator API over HTTP.
#[derive(Clone)]
pub struct HttpActuator {
    client: Client,
    /// The base URL without a trailing slash.
    base: String,
    /// `Bearer <token>`, marked sensitive.
    auth: Option<HeaderValue>,
    timeout: Duration,
    /// The leader's fencing epoch, sent with every request when not 0.
    epoch: Arc<AtomicU64>,
}

impl fmt::Debug for HttpActuator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpActuator")
            .field("base", &self.base)
            .field("token", &self.auth.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn failed(message: impl Into<String>) -> ActuatorError {
    ActuatorError::Failed(message.into())
}

impl HttpActuator {
    /// An actuator for the API at `base_url` (`http` or `https`, possibly with a path
    /// prefix, without query, fragment or credentials). `token` is sent as
    /// `Authorization: Bearer <token>`; `timeout` bounds each request from connecting
    /// to the last byte of the body.
    pub fn new(
        base_url: &str,
        token: Option<String>,
        timeout: Duration,
    ) -> Result<Self, ActuatorError> {
        let url = Url::parse(base_url.trim())
            .map_err(|e| failed(format!("invalid actuator url `{}`: {e}", quote(base_url))))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(failed(format!(
                "actuator url `{url}` must use http or https"
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            // The URL is not echoed: it holds a secret.
            return Err(failed(
                "the actuator url must not carry a user name or password; use a token file",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(failed(format!(
                "actuator url `{url}` must not have a query or a fragment"
            )));
        }
        if timeout.is_zero() {
            return Err(failed("the actuator timeout must be positive"));
        }
        let auth = match token {
            None => None,
            Some(t) => {
                let t = t.trim();
                if t.is_empty() {
                    return Err(failed("the actuator token is empty"));
                }
                let mut v = HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
                    failed("the actuator token has characters not allowed in an HTTP header")
                })?;
                v.set_sensitive(true);
                Some(v)
            }
        };
        let client = Client::builder()
            .redirect(Policy::none())
            .timeout(timeout)
            .no_proxy()
            .user_agent(concat!("charter/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| failed(format!("cannot build the http client: {e}")))?;
        Ok(HttpActuator {
            client,
            base: url.as_str().trim_end_matches('/').to_string(),
            auth,
            timeout,
            epoch: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `{base}/seg/seg/...`, each segment percent-encoded; a segment that a URL
    /// parser would resolve (`.`, `..`) or drop (empty) is refused, so the result is
    /// always under the base.
    fn url(&self, segments: &[&str]) -> Result<Url, ActuatorError> {
        let mut s = self.base.clone();
        for seg in segments {
            if matches!(*seg, "" | "." | "..") {
                return Err(failed(format!(
                    "`{}` cannot be a segment of a URL path",
                    quote(seg)
                )));
            }
            s.push('/');
            s.push_str(&encode_segment(seg));
        }
        let url = Url::parse(&s).map_err(|e| failed(format!("invalid url `{s}`: {e}")))?;
        if !url.as_str().starts_with(&self.base) {
            return Err(failed(format!("`{url}` is not under `{}`", self.base)));
        }
        Ok(url)
    }

    /// Send a request and read its status and (capped) body.
    async fn send(
        &self,
        what: &str,
        request: RequestBuilder,
    ) -> Result<(StatusCode, Vec<u8>), ActuatorError> {
        let request = request.header(ACCEPT, "application/json");
        let request = match self.epoch.load(Ordering::Relaxed) {
            0 => request,
            epoch => request.header(FENCING_EPOCH_HEADER, epoch.to_string()),
        };
        let request = match &self.auth {
            Some(auth) => request.header(AUTHORIZATION, auth.clone()),
            None => request,
        };
        let mut resp = request.send().await.map_err(|e| self.transport(what, &e))?;
        let status = resp.status();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(what, &e))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(failed(format!(
                    "{what}: {status} with a body larger than {MAX_BODY_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }

    /// A transport error: a request that never left (no connection) was refused; one
    /// that was sent and got no answer may have been applied.
    fn transport(&self, what: &str, e: &reqwest::Error) -> ActuatorError {
        if e.is_connect() {
            failed(format!("{what}: cannot connect: {}", causes(e)))
        } else if e.is_timeout() {
            ActuatorError::Indeterminate(format!("{what}: no answer within {:?}", self.timeout))
        } else {
            ActuatorError::Indeterminate(format!("{what}: {}", causes(e)))
        }
    }
}

#[async_trait]
impl Actuator for HttpActuator {
    async fn apply(&self, key: &str, action: &Action) -> Result<Applied, ActuatorError> {
        let url = self.url(&["v1", "actions"])?;
        let what = format!("POST {url}");
        let key_header = HeaderValue::from_str(key).map_err(|_| {
            failed(format!(
                "{what}: idempotency key `{}` is not a valid header value",
                quote(key)
            ))
        })?;
        tracing::debug!(url = %url, key, action = %action, "applying over http");
        let request = self
            .client
            .post(url)
            .header("idempotency-key", key_header)
            .json(action);
        let (status, body) = self.send(&what, request).await?;
        match status {
            StatusCode::OK => {
                let r: AppliedBody = serde_json::from_slice(&body)
                    .map_err(|e| failed(format!("{what}: {status} with an invalid body: {e}")))?;
                if r.status != "applied" {
                    return Err(failed(format!(
                        "{what}: {status} with status `{}` instead of `applied`",
                        quote(&r.status)
                    )));
                }
                Ok(Applied {
                    prior: r.prior,
                    detail: r.detail,
                })
            }
            StatusCode::UNPROCESSABLE_ENTITY => Err(ActuatorError::Precondition(
                remote_error(&body).unwrap_or_else(|| "no reason given".to_string()),
            )),
            StatusCode::NOT_FOUND if is_unknown_component(&body) => {
                Err(ActuatorError::UnknownComponent(action.component.clone()))
            }
            _ => Err(failed(failure(&what, status, &body))),
        }
    }

    /// `GET {base}/v1/actions/{key}`: `200` with the recorded answer of the first
    /// `POST` with that key, or `404` with a JSON error body when the key was never
    /// used. Anything else — another status, a 404 that is not the API's (an HTML
    /// page), a recorded `failed`, a record for another key — is an error: the status
    /// is unknown.
    async fn status(&self, key: &str) -> Result<Option<Applied>, ActuatorError> {
        let url = self.url(&["v1", "actions", key])?;
        let what = format!("GET {url}");
        let (status, body) = self.send(&what, self.client.get(url)).await?;
        match status {
            StatusCode::OK => {
                let r: RecordBody = serde_json::from_slice(&body)
                    .map_err(|e| failed(format!("{what}: {status} with an invalid body: {e}")))?;
                if r.key.as_deref().is_some_and(|k| k != key) {
                    return Err(failed(format!(
                        "{what}: the answer is about key `{}`, not `{}`",
                        quote(r.key.as_deref().unwrap_or_default()),
                        quote(key)
                    )));
                }
                match r.status.as_str() {
                    "applied" => match (r.prior, r.detail) {
                        (Some(prior), Some(detail)) => Ok(Some(Applied { prior, detail })),
                        _ => Err(failed(format!(
                            "{what}: an `applied` record without `prior` and `detail`"
                        ))),
                    },
                    // The API guarantees that these changed nothing.
                    "precondition_failed" | "unknown_component" => Ok(None),
                    other => Err(failed(format!(
                        "{what}: the earlier apply ended with status `{}`{}; whether it \
                         changed anything is unknown",
                        quote(other),
                        r.error
                            .map(|e| format!(": {}", quote(&e)))
                            .unwrap_or_default()
                    ))),
                }
            }
            StatusCode::NOT_FOUND if remote_error(&body).is_some() => Ok(None),
            _ => Err(failed(failure(&what, status, &body))),
        }
    }

    async fn describe(&self, component: &str) -> Result<ComponentState, ActuatorError> {
        let url = self.url(&["v1", "components", component])?;
        let what = format!("GET {url}");
        let (status, body) = self.send(&what, self.client.get(url)).await?;
        match status {
            StatusCode::OK => serde_json::from_slice::<StateBody>(&body)
                .map(ComponentState::from)
                .map_err(|e| failed(format!("{what}: {status} with an invalid body: {e}"))),
            StatusCode::NOT_FOUND if is_unknown_component(&body) => {
                Err(ActuatorError::UnknownComponent(component.to_string()))
            }
            _ => Err(failed(failure(&what, status, &body))),
        }
    }

    fn set_fencing_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
    }
}

/// Read a bearer token from a file, without surrounding whitespace
/// ([`charter_model::read_token_file`], as an actuator error).
pub fn read_token_file(path: impl AsRef<Path>) -> Result<String, ActuatorError> {
    charter_model::read_token_file(path).map_err(|e| match &e {
        charter_model::TokenFileError::Read { source, .. } => failed(format!("{e}: {source}")),
        _ => failed(e.to_string()),
    })
}

/// The body of a 200 answer to `POST /v1/actions`.
#[derive(Deserialize)]
struct AppliedBody {
    status: String,
    prior: BTreeMap<String, String>,
    detail: String,
}

/// The body of `GET /v1/actions/{key}`: the recorded answer of the first `POST`.
#[derive(Deserialize)]
struct RecordBody {
    #[serde(default)]
    key: Option<String>,
    status: String,
    #[serde(default)]
    prior: Option<BTreeMap<String, String>>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// The body of an error answer.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// [`ComponentState`] as the API sends it; absent fields are empty.
#[derive(Default, Deserialize)]
#[serde(default)]
struct StateBody {
    replicas: Option<u32>,
    version: Option<String>,
    previous_version: Option<String>,
    zone: Option<String>,
    standby_zone: Option<String>,
    open_circuits: Vec<String>,
    throttle_rate: Option<f64>,
}

impl From<StateBody> for ComponentState {
    fn from(b: StateBody) -> Self {
        ComponentState {
            replicas: b.replicas,
            version: b.version,
            previous_version: b.previous_version,
            zone: b.zone,
            standby_zone: b.standby_zone,
            open_circuits: b.open_circuits,
            throttle_rate: b.throttle_rate,
        }
    }
}

/// The `error` of a JSON error body, quoted safely.
fn remote_error(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error)
        .map(|e| quote(&e))
}

/// A 404 means an unknown component only when the body says so; any other 404 (a
/// wrong base URL, a server that is not an actuator) is a failure.
fn is_unknown_component(body: &[u8]) -> bool {
    serde_json::from_slice::<ErrorBody>(body)
        .is_ok_and(|b| b.status.as_deref() == Some("unknown_component"))
}

/// `POST <url>: 500 Internal Server Error: <reason>`.
fn failure(what: &str, status: StatusCode, body: &[u8]) -> String {
    if status.is_redirection() {
        return format!("{what}: {status} (redirects are not followed)");
    }
    if let Some(e) = remote_error(body) {
        return format!("{what}: {status}: {e}");
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        format!("{what}: {status}")
    } else {
        format!("{what}: {status}: {}", quote(text))
    }
}

/// The messages of an error's causes, outermost first; reqwest's own message is
/// left out since it repeats the URL.
fn causes(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(e.to_string());
    }
    quote(&parts.join(": "))
}

/// A remote or user string made safe to put in a log line: control characters
/// become spaces and it is cut to [`MAX_QUOTE`] characters.
fn quote(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_QUOTE)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(MAX_QUOTE).is_some() {
        out.push('…');
    }
    out
}

/// Percent-encode everything but the unreserved characters of RFC 3986.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actuator(base: &str) -> HttpActuator {
        HttpActuator::new(base, None, Duration::from_secs(1)).expect("valid")
    }

    #[test]
    fn urls_stay_under_the_base_and_encode_segments() {
        let a = actuator("http://127.0.0.1:8700/sim/");
        assert_eq!(a.base_url(), "http://127.0.0.1:8700/sim");
        let u = a.url(&["v1", "components", "a b/c?d#e%"]).expect("url");
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:8700/sim/v1/components/a%20b%2Fc%3Fd%23e%25"
        );
        for bad in ["..", ".", ""] {
            assert!(a.url(&["v1", "components", bad]).is_err(), "{bad:?}");
        }
        assert!(a.url(&["v1", "components", "..."]).is_ok());
    }

    #[test]
    fn bad_base_urls_and_settings_are_refused() {
        let t = Duration::from_secs(1);
        for bad in [
            "ftp://h/",
            "not a url",
            "http://h/?q=1",
            "http://h/#f",
            "http://u:p@h/",
        ] {
            assert!(HttpActuator::new(bad, None, t).is_err(), "{bad}");
        }
        let e = HttpActuator::new("http://u:secret@h/", None, t).expect_err("credentials");
        assert!(!e.to_string().contains("secret"));
        assert!(HttpActuator::new("http://h", None, Duration::ZERO).is_err());
        assert!(HttpActuator::new("http://h", Some(" ".into()), t).is_err());
        assert!(HttpActuator::new("http://h", Some("a\nb".into()), t).is_err());
    }

    #[test]
    fn debug_does_not_show_the_token() {
        let a = HttpActuator::new("http://h", Some("s3cret".into()), Duration::from_secs(1))
            .expect("valid");
        let d = format!("{a:?}");
        assert!(!d.contains("s3cret") && d.contains("redacted"), "{d}");
    }

    #[test]
    fn quotes_are_short_and_single_line() {
        assert_eq!(quote("a\nb"), "a b");
        let long = "x".repeat(MAX_QUOTE + 10);
        assert_eq!(quote(&long).chars().count(), MAX_QUOTE + 1);
    }

    #[test]
    fn only_a_declared_unknown_component_is_one() {
        assert!(is_unknown_component(
            br#"{"status":"unknown_component","error":"unknown component `x`"}"#
        ));
        assert!(!is_unknown_component(b"Not Found"));
        assert!(!is_unknown_component(br#"{"error":"no route"}"#));
    }
}
