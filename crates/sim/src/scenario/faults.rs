//! The checks of one fault entry: its kind, target, timing, remedy, and the
//! parameters its kind takes.

use super::config::{FaultConfig, S};
use super::validate::{Issues, check_target, start_time};
use crate::fault::{Fault, FaultEffect, FaultKind, TargetScope};
use crate::topology::ServiceSpec;
use charter_model::ActionKind;
use std::time::Duration;

pub(super) fn validate_fault(
    is: &mut Issues<'_>,
    f: &FaultConfig,
    i: usize,
    services: &[ServiceSpec],
    scenario_duration: Duration,
) -> Option<Fault> {
    let p = format!("faults[{i}]");
    let kind = match f.kind.value.parse::<FaultKind>() {
        Ok(k) => Some(k),
        Err(e) => {
            is.at(&f.kind, format!("{p}.kind"), e.to_string());
            None
        }
    };
    let scope = kind.map_or(TargetScope::Service, FaultKind::scope);
    let target_ok = match scope {
        TargetScope::Service => check_target(is, &f.target, &format!("{p}.target"), services),
        TargetScope::Zone | TargetScope::Node => {
            check_place(is, &f.target, &format!("{p}.target"), services, scope)
        }
    };
    let target = services.iter().find(|s| s.name == f.target.value);
    let at = start_time(is, &f.at, &format!("{p}.at"), scenario_duration);
    let duration = f
        .duration
        .as_ref()
        .and_then(|d| is.duration(d, &format!("{p}.duration")));
    let remedy = f
        .remedy
        .as_ref()
        .and_then(|r| match r.value.parse::<ActionKind>() {
            Ok(k) => Some(k),
            Err(e) => {
                is.at(r, format!("{p}.remedy"), e.to_string());
                None
            }
        });
    let kind = kind?;

    // Parameters given but not meant for this kind.
    let given: [(&str, Option<&S<f64>>); 5] = [
        ("factor", f.factor.as_ref()),
        ("rate", f.rate.as_ref()),
        ("error_ratio", f.error_ratio.as_ref()),
        ("hit_ratio", f.hit_ratio.as_ref()),
        ("loss", f.loss.as_ref()),
    ];
    let allowed = kind.params();
    let expected = if allowed.is_empty() {
        "it takes none".to_string()
    } else {
        format!("it takes: {}", allowed.join(", "))
    };
    for (name, v) in given {
        if let Some(v) = v
            && !allowed.contains(&name)
        {
            is.at(
                v,
                format!("{p}.{name}"),
                format!("`{name}` does not apply to {kind} ({expected})"),
            );
        }
    }
    if let Some(v) = &f.pool_size
        && !allowed.contains(&"pool_size")
    {
        is.at(
            v,
            format!("{p}.pool_size"),
            format!("`pool_size` does not apply to {kind} ({expected})"),
        );
    }

    let effect = match FaultEffect::default_for(kind) {
        FaultEffect::TrafficSurge { factor } => {
            let factor = match &f.factor {
                Some(v) if !(v.value.is_finite() && v.value > 0.0) => {
                    is.at(v, format!("{p}.factor"), "must be positive");
                    factor
                }
                Some(v) => v.value,
                None => factor,
            };
            FaultEffect::TrafficSurge { factor }
        }
        FaultEffect::MemoryLeak { rate } => {
            let rate = match &f.rate {
                Some(v) if !(v.value.is_finite() && v.value > 0.0) => {
                    is.at(
                        v,
                        format!("{p}.rate"),
                        "must be a positive fraction per minute",
                    );
                    rate
                }
                Some(v) => v.value,
                None => rate,
            };
            FaultEffect::MemoryLeak { rate }
        }
        FaultEffect::BadDeploy { error_ratio } => FaultEffect::BadDeploy {
            error_ratio: f
                .error_ratio
                .as_ref()
                .map_or(error_ratio, |v| is.ratio(v, &format!("{p}.error_ratio"))),
        },
        FaultEffect::CachePoisoning { hit_ratio } => {
            if let Some(t) = target {
                let is_cache = services
                    .iter()
                    .any(|s| s.cache.as_ref().is_some_and(|c| c.dependency == t.name));
                if t.cache.is_none() && !is_cache {
                    is.at(
                        &f.target,
                        format!("{p}.target"),
                        format!("`{}` neither has nor is a cache", t.name),
                    );
                }
            }
            FaultEffect::CachePoisoning {
                hit_ratio: f
                    .hit_ratio
                    .as_ref()
                    .map_or(hit_ratio, |v| is.ratio(v, &format!("{p}.hit_ratio"))),
            }
        }
        FaultEffect::PoolExhaustion { pool_size } => {
            if let Some(t) = target
                && t.pool.is_none()
            {
                is.at(
                    &f.target,
                    format!("{p}.target"),
                    format!("`{}` has no connection pool", t.name),
                );
            }
            let pool_size = match &f.pool_size {
                Some(v) if v.value == 0 => {
                    is.at(v, format!("{p}.pool_size"), "must be at least 1");
                    pool_size
                }
                Some(v) => v.value,
                None => pool_size,
            };
            FaultEffect::PoolExhaustion { pool_size }
        }
        FaultEffect::NoisyNeighbour { loss } => FaultEffect::NoisyNeighbour {
            loss: loss_of(is, f, &p, loss),
        },
        FaultEffect::ZoneDegraded { loss } => FaultEffect::ZoneDegraded {
            loss: loss_of(is, f, &p, loss),
        },
        FaultEffect::NodeStress { loss } => FaultEffect::NodeStress {
            loss: loss_of(is, f, &p, loss),
        },
        FaultEffect::CostOverrun { factor } => {
            let factor = match &f.factor {
                Some(v) if !(v.value.is_finite() && v.value > 1.0) => {
                    is.at(
                        v,
                        format!("{p}.factor"),
                        "must be above 1 (the replicas are multiplied by it)",
                    );
                    factor
                }
                Some(v) => v.value,
                None => factor,
            };
            FaultEffect::CostOverrun { factor }
        }
        e @ (FaultEffect::DependencyOutage | FaultEffect::ZoneOutage) => e,
    };
    if !target_ok {
        return None;
    }
    Some(Fault {
        effect,
        target: f.target.value.clone(),
        at: at?,
        duration,
        remedy: remedy.unwrap_or(kind.default_remedy()),
    })
}

/// A capacity share lost, in [0, 1).
fn loss_of(is: &mut Issues<'_>, f: &FaultConfig, p: &str, default: f64) -> f64 {
    match &f.loss {
        Some(v) if !(0.0..1.0).contains(&v.value) => {
            is.at(v, format!("{p}.loss"), "must be in [0, 1)");
            default
        }
        Some(v) => v.value,
        None => default,
    }
}

/// Whether `target` names a zone or a node some service runs in (or, for a zone, may
/// fail over to); reports it if not.
fn check_place(
    is: &mut Issues<'_>,
    target: &S<String>,
    path: &str,
    services: &[ServiceSpec],
    scope: TargetScope,
) -> bool {
    let mut known: Vec<&str> = services
        .iter()
        .flat_map(|s| match scope {
            TargetScope::Zone => vec![s.zone.as_str(), s.standby_zone.as_str()],
            _ => vec![s.node.as_str()],
        })
        .collect();
    known.sort_unstable();
    known.dedup();
    if known.contains(&target.value.as_str()) {
        return true;
    }
    let what = scope.as_str();
    is.at(
        target,
        path,
        format!(
            "unknown {what} `{}` ({what}s: {})",
            target.value,
            known.join(", ")
        ),
    );
    false
}
