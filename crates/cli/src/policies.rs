//! `charter policies`, `approve`, `reject`, `pause`, `resume`: a client of a running
//! daemon's API (`docs/api.md`).
//!
//! Exit codes: 0 done; 1 the daemon refused (unknown policy, not pending, bad or
//! missing token); 2 the daemon could not be reached or failed.

use anyhow::Context;
use charter_model::{Policy, Timestamp};
use reqwest::{Client, Method, StatusCode};
use serde::Deserialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The daemon's address, the default of `charter run --listen`.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8464";

/// Longer than the daemon's own wait for the loop (30 s), so its answer arrives.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);

/// Where the daemon is and how to prove the right to change it.
#[derive(clap::Args, Debug, Clone)]
pub struct Target {
    /// The daemon's base URL.
    #[arg(long, env = "CHARTER_URL", default_value = DEFAULT_URL)]
    url: String,
    /// File holding the API bearer token (the daemon's `api.token_file`).
    #[arg(long, env = "CHARTER_TOKEN_FILE")]
    token_file: Option<PathBuf>,
}

/// Options of `charter policies`.
#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    target: Target,
    /// Print the daemon's JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// At most this many policies besides the pending ones.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

/// Options of `charter approve`.
#[derive(clap::Args)]
pub struct ApproveArgs {
    /// The policy id (see `charter policies`).
    id: u64,
    /// Who approves, recorded with the time; default: $USER, else `api`.
    #[arg(long)]
    by: Option<String>,
    #[command(flatten)]
    target: Target,
}

/// Options of `charter reject`.
#[derive(clap::Args)]
pub struct RejectArgs {
    /// The policy id (see `charter policies`).
    id: u64,
    /// Why; recorded with the policy and in the audit log.
    #[arg(long)]
    reason: String,
    /// Who rejects; default: $USER, else `api`.
    #[arg(long)]
    by: Option<String>,
    #[command(flatten)]
    target: Target,
}

/// Options of `charter pause`.
#[derive(clap::Args)]
pub struct PauseArgs {
    /// Why automation stops.
    #[arg(long, default_value = "")]
    reason: String,
    /// Who pauses; default: $USER, else `api`.
    #[arg(long)]
    by: Option<String>,
    #[command(flatten)]
    target: Target,
}

/// Options of `charter resume`.
#[derive(clap::Args)]
pub struct ResumeArgs {
    /// Who resumes; default: $USER, else `api`.
    #[arg(long)]
    by: Option<String>,
    #[command(flatten)]
    target: Target,
}

/// A policy as the API lists it.
#[derive(Debug, Deserialize)]
struct PolicyRow {
    #[serde(flatten)]
    policy: Policy,
    state: String,
    expires_at: Option<Timestamp>,
}

/// The kill switch as the API answers it.
#[derive(Debug, Deserialize)]
struct PauseRow {
    paused: bool,
    by: String,
    reason: String,
    at: Timestamp,
}

/// The outcome of one request: the body of a 2xx, or why not.
enum Answer {
    Ok(serde_json::Value),
    /// The daemon refused (4xx): exit 1.
    Refused(String),
}

struct Api {
    client: Client,
    base: String,
    token: Option<String>,
}

impl Api {
    fn new(target: &Target) -> anyhow::Result<Api> {
        let token = match &target.token_file {
            Some(f) => Some(charter_model::read_token_file(f).context("API token (--token-file)")?),
            None => None,
        };
        let client = Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Api {
            client,
            base: target.url.trim_end_matches('/').to_string(),
            token,
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<Answer> {
        let url = format!("{}{path}", self.base);
        let mut request = self.client.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_connect() {
                anyhow::anyhow!(
                    "cannot connect to {}: is `charter run` listening on {}? ({e})",
                    self.base,
                    self.base
                )
            } else if e.is_timeout() {
                anyhow::anyhow!("{url}: no answer within {REQUEST_TIMEOUT:?}")
            } else {
                anyhow::Error::new(e).context(format!("request to {url} failed"))
            }
        })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("reading the answer of {url}"))?;
        let value: Option<serde_json::Value> = serde_json::from_str(&text).ok();
        if status.is_success() {
            return value
                .map(Answer::Ok)
                .with_context(|| format!("{url} answered {status} with a body that is not JSON"));
        }
        let reason = value
            .as_ref()
            .and_then(|v| v["error"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| text.trim().to_string());
        let hint = match status {
            StatusCode::UNAUTHORIZED if self.token.is_none() => {
                "; pass --token-file FILE or set CHARTER_TOKEN_FILE"
            }
            StatusCode::NOT_FOUND if reason.is_empty() => {
                "; is this a `charter run` daemon of this version?"
            }
            _ => "",
        };
        let message = format!("{status}: {reason}{hint}");
        if status.is_client_error() {
            Ok(Answer::Refused(message))
        } else {
            anyhow::bail!("{url}: {message}")
        }
    }
}

/// Who the user is, when `--by` is not given.
fn default_by(by: Option<String>) -> Option<String> {
    by.or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
}

fn refused(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}

/// `charter policies`.
pub async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.target)?;
    let path = format!("/api/v1/policies?limit={}", args.limit);
    let value = match api.call(Method::GET, &path, None).await? {
        Answer::Ok(v) => v,
        Answer::Refused(m) => return Ok(refused(&m)),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<PolicyRow> =
        serde_json::from_value(value).context("the daemon's policy list is not understood")?;
    print!("{}", table(&rows, Timestamp::now_wall()));
    Ok(ExitCode::SUCCESS)
}

/// The policy table: id, incident, state, actions, score, expires, rationale.
fn table(rows: &[PolicyRow], now: Timestamp) -> String {
    if rows.is_empty() {
        return "no policies\n".to_string();
    }
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let p = &r.policy;
            let actions = p
                .actions
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let expires = match r.expires_at {
                Some(t) if t > now => format!("in {}", short_duration(t.since(now))),
                Some(_) => "now".to_string(),
                None => "-".to_string(),
            };
            [
                p.id.to_string(),
                p.incident_id.to_string(),
                r.state.clone(),
                actions,
                format!("{:.2}", p.score),
                expires,
                truncate(&p.rationale, 70),
            ]
        })
        .collect();
    let header = [
        "ID",
        "INCIDENT",
        "STATE",
        "ACTIONS",
        "SCORE",
        "EXPIRES",
        "RATIONALE",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: Vec<&str>| -> String {
        let mut out = String::new();
        for (i, (c, w)) in cols.iter().zip(&widths).enumerate() {
            if i + 1 == cols.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}  "));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in &cells {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn short_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 {
        format!("{}h{:02}m", secs / 3600, secs % 3600 / 60)
    } else if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

fn truncate(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// `charter approve`.
pub async fn approve(args: ApproveArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.target)?;
    let body = serde_json::json!({ "by": default_by(args.by) });
    let path = format!("/api/v1/policies/{}/approve", args.id);
    match api.call(Method::POST, &path, Some(body)).await? {
        Answer::Ok(v) => {
            let row: PolicyRow =
                serde_json::from_value(v).context("the daemon's answer is not understood")?;
            let (by, at) = match &row.policy.approval {
                charter_model::ApprovalState::Approved { by, at } => (by.clone(), *at),
                _ => (String::new(), None),
            };
            println!(
                "policy {} approved by {by}{}; its execution starts (incident {})",
                row.policy.id,
                at.map(|t| format!(" at {t}")).unwrap_or_default(),
                row.policy.incident_id
            );
            Ok(ExitCode::SUCCESS)
        }
        Answer::Refused(m) => Ok(refused(&m)),
    }
}

/// `charter reject`.
pub async fn reject(args: RejectArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.target)?;
    let body = serde_json::json!({ "by": default_by(args.by), "reason": args.reason });
    let path = format!("/api/v1/policies/{}/reject", args.id);
    match api.call(Method::POST, &path, Some(body)).await? {
        Answer::Ok(v) => {
            let row: PolicyRow =
                serde_json::from_value(v).context("the daemon's answer is not understood")?;
            if let charter_model::ApprovalState::Rejected { by, reason, .. } = &row.policy.approval
            {
                println!(
                    "policy {} rejected by {by}: {reason}; incident {} will be planned without it",
                    row.policy.id, row.policy.incident_id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Answer::Refused(m) => Ok(refused(&m)),
    }
}

/// `charter pause`.
pub async fn pause(args: PauseArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.target)?;
    let body = serde_json::json!({ "by": default_by(args.by), "reason": args.reason });
    switch(&api, "/api/v1/pause", body).await
}

/// `charter resume`.
pub async fn resume(args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.target)?;
    let body = serde_json::json!({ "by": default_by(args.by) });
    switch(&api, "/api/v1/resume", body).await
}

async fn switch(api: &Api, path: &str, body: serde_json::Value) -> anyhow::Result<ExitCode> {
    match api.call(Method::POST, path, Some(body)).await? {
        Answer::Ok(v) => {
            let p: PauseRow =
                serde_json::from_value(v).context("the daemon's answer is not understood")?;
            if p.paused {
                let why = if p.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", p.reason)
                };
                println!("automation paused by {} at {}{why}", p.by, p.at);
            } else {
                println!("automation resumed by {} at {}", p.by, p.at);
            }
            Ok(ExitCode::SUCCESS)
        }
        Answer::Refused(m) => Ok(refused(&m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row as the daemon sends it (a policy flattened with its state and expiry).
    fn row(id: u64, state: &str, expires_at: Option<Timestamp>) -> PolicyRow {
        serde_json::from_value(serde_json::json!({
            "id": id,
            "incident_id": 7,
            "created_at": 0,
            "actions": [{"kind": "rollback", "component": "auth"}],
            "targets": [],
            "p_success": 0.8,
            "expected_benefit": 10.0,
            "cost": 4.0,
            "score": 4.5,
            "rationale": "auth's errors began right after a deploy",
            "rejected": [],
            "approval": "pending",
            "state": state,
            "expires_at": expires_at,
        }))
        .expect("a policy row")
    }

    #[test]
    fn the_table_shows_state_actions_and_time_left() {
        let now = Timestamp::from_secs(1000);
        let text = table(
            &[
                row(3, "pending", Some(Timestamp::from_secs(1000 + 14 * 60 + 5))),
                row(2, "approved", None),
            ],
            now,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID  INCIDENT  STATE"), "{text}");
        assert!(lines[1].contains("pending"), "{text}");
        assert!(lines[1].contains("rollback(auth)"), "{text}");
        assert!(lines[1].contains("in 14m05s"), "{text}");
        assert!(lines[1].contains("4.50"), "{text}");
        assert!(lines[2].contains("approved"), "{text}");
        assert_eq!(table(&[], now), "no policies\n");
    }

    #[test]
    fn long_rationales_are_cut_on_one_line() {
        assert_eq!(truncate("a\nb", 10), "a b");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
