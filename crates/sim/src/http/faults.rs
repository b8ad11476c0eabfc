//! Fault injection over HTTP: `GET /faults` lists the world's faults with their
//! ground truth, `POST /faults` injects one now.

use super::{AppState, Clock, error};
use crate::fault::{Fault, FaultEffect, FaultKind, GroundTruth};
use crate::world::{FaultReport, InjectError};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use charter_model::ActionKind;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

/// A fault to inject, as `POST /faults` takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FaultRequest {
    kind: String,
    target: String,
    #[serde(default)]
    duration: Option<String>,
    #[serde(default)]
    remedy: Option<String>,
    #[serde(default)]
    factor: Option<f64>,
    #[serde(default)]
    rate: Option<f64>,
    #[serde(default)]
    error_ratio: Option<f64>,
    #[serde(default)]
    hit_ratio: Option<f64>,
    #[serde(default)]
    pool_size: Option<u32>,
    #[serde(default)]
    loss: Option<f64>,
}

impl FaultRequest {
    /// The fault, with the kind's defaults for what is not given; `at` is set by
    /// [`World::inject`](crate::World::inject).
    pub(super) fn into_fault(self) -> Result<Fault, String> {
        let kind: FaultKind = self
            .kind
            .parse()
            .map_err(|e: crate::fault::UnknownFaultKind| e.to_string())?;
        let allowed = kind.params();
        let given = [
            ("factor", self.factor.is_some()),
            ("rate", self.rate.is_some()),
            ("error_ratio", self.error_ratio.is_some()),
            ("hit_ratio", self.hit_ratio.is_some()),
            ("pool_size", self.pool_size.is_some()),
            ("loss", self.loss.is_some()),
        ];
        if let Some((name, _)) = given
            .iter()
            .find(|(name, present)| *present && !allowed.contains(name))
        {
            let takes = if allowed.is_empty() {
                "it takes none".to_string()
            } else {
                format!("it takes: {}", allowed.join(", "))
            };
            return Err(format!("`{name}` does not apply to {kind} ({takes})"));
        }
        let effect = match FaultEffect::default_for(kind) {
            FaultEffect::TrafficSurge { factor } => FaultEffect::TrafficSurge {
                factor: self.factor.unwrap_or(factor),
            },
            FaultEffect::MemoryLeak { rate } => FaultEffect::MemoryLeak {
                rate: self.rate.unwrap_or(rate),
            },
            FaultEffect::BadDeploy { error_ratio } => FaultEffect::BadDeploy {
                error_ratio: self.error_ratio.unwrap_or(error_ratio),
            },
            FaultEffect::CachePoisoning { hit_ratio } => FaultEffect::CachePoisoning {
                hit_ratio: self.hit_ratio.unwrap_or(hit_ratio),
            },
            FaultEffect::PoolExhaustion { pool_size } => FaultEffect::PoolExhaustion {
                pool_size: self.pool_size.unwrap_or(pool_size),
            },
            FaultEffect::NoisyNeighbour { loss } => FaultEffect::NoisyNeighbour {
                loss: self.loss.unwrap_or(loss),
            },
            FaultEffect::ZoneDegraded { loss } => FaultEffect::ZoneDegraded {
                loss: self.loss.unwrap_or(loss),
            },
            FaultEffect::NodeStress { loss } => FaultEffect::NodeStress {
                loss: self.loss.unwrap_or(loss),
            },
            FaultEffect::CostOverrun { factor } => FaultEffect::CostOverrun {
                factor: self.factor.unwrap_or(factor),
            },
            e @ (FaultEffect::DependencyOutage | FaultEffect::ZoneOutage) => e,
        };
        let mut fault = Fault::new(kind, &self.target, Duration::ZERO).with_effect(effect);
        if let Some(d) = &self.duration {
            let d = humantime::parse_duration(d.trim())
                .map_err(|e| format!("invalid duration `{d}`: {e} (write e.g. 30s, 5m, 1h)"))?;
            fault = fault.lasting(d);
        }
        if let Some(r) = &self.remedy {
            fault.remedy = r.parse::<ActionKind>().map_err(|e| e.to_string())?;
        }
        Ok(fault)
    }
}

/// A fault as `/faults` reports it.
#[derive(Debug, Serialize)]
struct FaultJson {
    id: usize,
    injected: bool,
    started: bool,
    acting: bool,
    cured: bool,
    ground_truth: TruthJson,
}

#[derive(Debug, Serialize)]
struct TruthJson {
    kind: &'static str,
    root_cause: String,
    remedy: &'static str,
    /// Seconds from the start of the world.
    at_seconds: f64,
    /// Wall-clock time, RFC 3339.
    at: String,
    until_seconds: Option<f64>,
    until: Option<String>,
}

impl FaultJson {
    fn new(r: FaultReport, clock: &Clock) -> Self {
        FaultJson {
            id: r.id,
            injected: r.injected,
            started: r.started,
            acting: r.acting,
            cured: r.cured,
            ground_truth: TruthJson::new(r.truth, clock),
        }
    }
}

impl TruthJson {
    fn new(t: GroundTruth, clock: &Clock) -> Self {
        TruthJson {
            kind: t.kind.as_str(),
            root_cause: t.root_cause,
            remedy: t.remedy.as_str(),
            at_seconds: t.at.as_secs_f64(),
            at: clock.wall(t.at).to_string(),
            until_seconds: t.until.map(|u| u.as_secs_f64()),
            until: t.until.map(|u| clock.wall(u).to_string()),
        }
    }
}

pub(super) async fn list_faults(State(s): State<AppState>) -> Response {
    let clock = s.clock.clone();
    let faults: Vec<FaultJson> = s.sim.with_world(|w| {
        w.fault_reports()
            .into_iter()
            .map(|r| FaultJson::new(r, &clock))
            .collect()
    });
    Json(json!({ "faults": faults })).into_response()
}

pub(super) async fn post_fault(State(s): State<AppState>, body: Bytes) -> Response {
    let request: FaultRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid fault: {e}")),
    };
    let fault = match request.into_fault() {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let clock = s.clock.clone();
    let injected = s.sim.with_world(|w| {
        let id = w.inject(fault)?;
        Ok::<_, InjectError>(w.fault_reports().into_iter().nth(id))
    });
    match injected {
        Ok(Some(report)) => {
            let truth = &report.truth;
            tracing::info!(
                id = report.id,
                kind = %truth.kind,
                target = %truth.root_cause,
                "fault injected"
            );
            (StatusCode::CREATED, Json(FaultJson::new(report, &clock))).into_response()
        }
        Ok(None) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the injected fault is missing from the world",
        ),
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}
