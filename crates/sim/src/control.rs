//! Controls: the nine action kinds applied to the world, idempotent on a key.
//!
//! Every action changes the model with a realistic delay (new replicas and
//! rollbacks take a start-up delay, a failover a start-up delay plus draining),
//! reports the prior state its inverse needs, and records a change by `charter`.

use crate::world::{Effect, Pending, Stored, World};
use charter_execute::{ActuatorError, Applied, ComponentState};
use charter_model::{Action, ActionKind, ChangeKind};
use std::collections::BTreeMap;

/// Extra time a failover spends draining connections after the standby is ready.
const FAILOVER_DRAIN_SECS: f64 = 5.0;

type Outcome = Result<Applied, ActuatorError>;

fn precondition(msg: impl Into<String>) -> ActuatorError {
    ActuatorError::Precondition(msg.into())
}

fn parse_param<T: std::str::FromStr>(
    action: &Action,
    key: &str,
) -> Result<Option<T>, ActuatorError> {
    match action.param(key) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| precondition(format!("invalid `{key}` value `{v}`"))),
    }
}

fn applied(prior: BTreeMap<String, String>, detail: String) -> Applied {
    Applied { prior, detail }
}

fn prior1(key: &str, value: impl ToString) -> BTreeMap<String, String> {
    BTreeMap::from([(key.to_string(), value.to_string())])
}

impl World {
    /// Apply an action once per idempotency `key`; a repeated key returns the first
    /// call's result (success or error) and changes nothing.
    pub fn apply(&mut self, key: &str, action: &Action) -> Result<Applied, ActuatorError> {
        if let Some(stored) = self.applied.get(key) {
            return match stored.clone() {
                Stored::Ok(a) => Ok(a),
                Stored::Precondition(m) => Err(ActuatorError::Precondition(m)),
                Stored::Unknown(c) => Err(ActuatorError::UnknownComponent(c)),
            };
        }
        let result = self.apply_once(action);
        let changed = u32::from(result.is_ok());
        *self.effects.entry(key.to_string()).or_default() += changed;
        let stored = match &result {
            Ok(a) => Stored::Ok(a.clone()),
            Err(ActuatorError::UnknownComponent(c)) => Stored::Unknown(c.clone()),
            Err(e) => Stored::Precondition(match e {
                ActuatorError::Precondition(m)
                | ActuatorError::Failed(m)
                | ActuatorError::Indeterminate(m) => m.clone(),
                ActuatorError::UnknownComponent(c) => c.clone(),
            }),
        };
        self.applied.insert(key.to_string(), stored);
        result
    }

    /// What the first [`World::apply`] with `key` did, without acting: the applied
    /// result, `None` if it was refused or the key was never used (either way the
    /// key changed nothing).
    pub fn recorded(&self, key: &str) -> Option<Applied> {
        match self.applied.get(key)? {
            Stored::Ok(a) => Some(a.clone()),
            Stored::Precondition(_) | Stored::Unknown(_) => None,
        }
    }

    /// The current state of a service, for preconditions and inverses.
    pub fn describe(&self, service: &str) -> Result<ComponentState, ActuatorError> {
        let i = self.service_index(service)?;
        let s = &self.services[i];
        Ok(ComponentState {
            replicas: Some(s.replicas.len() as u32),
            version: Some(s.version.clone()),
            previous_version: s.previous_version.clone(),
            zone: Some(s.zone.clone()),
            standby_zone: Some(s.standby_zone.clone()),
            open_circuits: s
                .edges
                .iter()
                .filter(|e| e.open)
                .map(|e| self.services[e.to].spec.name.clone())
                .collect(),
            throttle_rate: s.throttle,
        })
    }

    fn service_index(&self, service: &str) -> Result<usize, ActuatorError> {
        self.index
            .get(service)
            .copied()
            .ok_or_else(|| ActuatorError::UnknownComponent(service.to_string()))
    }

    fn apply_once(&mut self, action: &Action) -> Outcome {
        let i = self.service_index(&action.component)?;
        let result = match action.kind {
            ActionKind::ScaleOut => self.scale_out(i, action),
            ActionKind::ScaleIn => self.scale_in(i, action),
            ActionKind::Restart => self.restart(i, action),
            ActionKind::Rollback => self.rollback(i, action),
            ActionKind::Throttle => self.throttle(i, action),
            ActionKind::CircuitBreak => self.circuit_break(i, action),
            ActionKind::Failover => self.failover(i, action),
            ActionKind::FlushCache => self.flush_cache(i),
            ActionKind::Reconfigure => self.reconfigure(i, action),
        }?;
        let t = self.now_secs();
        let settle = self.settle_secs(i, action.kind);
        for k in 0..self.faults.len() {
            let f = &self.faults[k];
            let hits_target = f.target == Some(i)
                || (action.kind == ActionKind::FlushCache && f.owners.contains(&i));
            if !(hits_target && f.in_effect(t) && f.fault.cured_by(action.kind)) {
                continue;
            }
            if f.fault.remedy == f.fault.kind().default_remedy() {
                // A restart ends a leak and a flush a poisoning; their symptoms still go
                // through the model (memory resets replica by replica, the cache warms).
                self.faults[k].cured = true;
            } else {
                // A declared remedy ends its fault once the action has taken effect
                // through the model, as it would for any controller, not at once.
                self.pending.push(Pending {
                    at: t + settle,
                    service: i,
                    effect: Effect::Cure(k),
                });
            }
        }
        let description = format!("{action}: {}", result.detail);
        let kind = match action.kind {
            ActionKind::ScaleOut | ActionKind::ScaleIn => ChangeKind::Scale,
            ActionKind::Restart => ChangeKind::Restart,
            ActionKind::Rollback => ChangeKind::Deploy,
            ActionKind::Throttle
            | ActionKind::CircuitBreak
            | ActionKind::Reconfigure
            | ActionKind::FlushCache => ChangeKind::Config,
            ActionKind::Failover => ChangeKind::Other,
        };
        self.record(i, kind, description, "charter");
        Ok(result)
    }

    /// Seconds until an action of `kind` just applied to service `i` has taken effect
    /// in the model: new or restarted replicas ready, a version rolled out, traffic
    /// moved, a cache warm; 0 for what acts at once.
    fn settle_secs(&self, i: usize, kind: ActionKind) -> f64 {
        let svc = &self.services[i];
        let startup = svc.spec.startup_delay.as_secs_f64();
        let t = self.now_secs();
        match kind {
            ActionKind::ScaleOut | ActionKind::Rollback => startup,
            ActionKind::Restart => svc
                .replicas
                .iter()
                .filter_map(|r| r.restart_at)
                .map(|at| at + startup - t)
                .fold(0.0, f64::max),
            ActionKind::Failover => startup + FAILOVER_DRAIN_SECS,
            ActionKind::FlushCache => crate::world::CACHE_WARMUP_SECS,
            ActionKind::ScaleIn
            | ActionKind::Throttle
            | ActionKind::CircuitBreak
            | ActionKind::Reconfigure => 0.0,
        }
    }

    fn scale_out(&mut self, i: usize, action: &Action) -> Outcome {
        let now = self.services[i].replicas.len() as u32;
        let to = match parse_param::<u32>(action, "to_replicas")? {
            Some(to) if to < now => {
                return Err(precondition(format!(
                    "scale_out to {to} replicas, but {now} are running"
                )));
            }
            Some(to) => to,
            None => {
                let step = parse_param::<u32>(action, "step")?.unwrap_or(2);
                if step == 0 {
                    return Err(precondition("scale_out step must be at least 1"));
                }
                now.saturating_add(step)
            }
        };
        let startup = self.services[i].spec.startup_delay.as_secs_f64();
        let ready_at = self.now_secs() + startup;
        for _ in now..to {
            let r = self.new_replica(ready_at);
            self.services[i].replicas.push(r);
        }
        Ok(applied(
            prior1("replicas", now),
            format!("{now} → {to} replicas, new ones ready in {startup:.0}s"),
        ))
    }

    fn scale_in(&mut self, i: usize, action: &Action) -> Outcome {
        let now = self.services[i].replicas.len() as u32;
        let to = match parse_param::<u32>(action, "to_replicas")? {
            Some(to) if to > now => {
                return Err(precondition(format!(
                    "scale_in to {to} replicas, but only {now} are running"
                )));
            }
            Some(to) => to,
            None => {
                let step = parse_param::<u32>(action, "step")?.unwrap_or(1);
                if step == 0 {
                    return Err(precondition("scale_in step must be at least 1"));
                }
                now.saturating_sub(step)
            }
        };
        if to < 1 {
            return Err(precondition(format!(
                "scale_in would leave {to} replicas; at least 1 must remain"
            )));
        }
        // Remove replicas still starting first, then the newest.
        let t = self.now_secs();
        let replicas = &mut self.services[i].replicas;
        replicas.sort_by(|a, b| {
            let key = |r: &crate::world::Replica| r.ready_at > t;
            key(a).cmp(&key(b))
        });
        replicas.truncate(to as usize);
        Ok(applied(
            prior1("replicas", now),
            format!("{now} → {to} replicas"),
        ))
    }

    fn restart(&mut self, i: usize, action: &Action) -> Outcome {
        let max_unavailable = parse_param::<u32>(action, "max_unavailable")?.unwrap_or(1);
        if max_unavailable == 0 {
            return Err(precondition("max_unavailable must be at least 1"));
        }
        let t = self.now_secs();
        let svc = &mut self.services[i];
        let startup = svc.spec.startup_delay.as_secs_f64();
        let n = svc.replicas.len();
        for (k, r) in svc.replicas.iter_mut().enumerate() {
            let batch = (k / max_unavailable as usize) as f64;
            r.restart_at = Some(t + batch * startup);
        }
        let batches = n.div_ceil(max_unavailable as usize);
        Ok(applied(
            BTreeMap::new(),
            format!(
                "rolling restart of {n} replicas, {max_unavailable} at a time, done in about {:.0}s",
                batches as f64 * startup
            ),
        ))
    }

    fn rollback(&mut self, i: usize, action: &Action) -> Outcome {
        let svc = &self.services[i];
        let to = match action.param("to_version") {
            Some(v) => v.to_string(),
            None => svc.previous_version.clone().ok_or_else(|| {
                precondition(format!("`{}` has no previous version", svc.spec.name))
            })?,
        };
        if to == svc.version {
            return Err(precondition(format!(
                "`{}` already runs {to}",
                svc.spec.name
            )));
        }
        let current = svc.version.clone();
        let delay = svc.spec.startup_delay.as_secs_f64();
        self.pending.push(Pending {
            at: self.now_secs() + delay,
            service: i,
            effect: Effect::Version(to.clone()),
        });
        Ok(applied(
            prior1("version", &current),
            format!("{current} → {to}, rolled out in {delay:.0}s"),
        ))
    }

    fn throttle(&mut self, i: usize, action: &Action) -> Outcome {
        let rate = match action.param("rate").map(str::trim) {
            None => return Err(precondition("throttle needs a `rate` (requests/s or none)")),
            Some("none") => None,
            Some(_) => match parse_param::<f64>(action, "rate")? {
                Some(r) if r.is_finite() && r > 0.0 => Some(r),
                _ => return Err(precondition("throttle `rate` must be positive")),
            },
        };
        let svc = &mut self.services[i];
        let prior = svc.throttle.map(|r| prior1("rate", r)).unwrap_or_default();
        svc.throttle = rate;
        let detail = match rate {
            Some(r) => format!("admission limited to {r} requests/s"),
            None => "admission limit removed".to_string(),
        };
        Ok(applied(prior, detail))
    }

    fn circuit_break(&mut self, i: usize, action: &Action) -> Outcome {
        let dep = action
            .param("dependency")
            .ok_or_else(|| precondition("circuit_break needs a `dependency`"))?;
        let open = match action.param("state").unwrap_or("open") {
            "open" => true,
            "closed" => false,
            other => {
                return Err(precondition(format!(
                    "circuit state must be open or closed, not `{other}`"
                )));
            }
        };
        let to = self.service_index(dep).ok();
        let svc = &mut self.services[i];
        let edge = svc
            .edges
            .iter_mut()
            .find(|e| Some(e.to) == to)
            .ok_or_else(|| precondition(format!("`{}` does not call `{dep}`", svc.spec.name)))?;
        let was = if edge.open { "open" } else { "closed" };
        edge.open = open;
        let state = if open { "open" } else { "closed" };
        Ok(applied(
            prior1("state", was),
            format!("breaker to `{dep}` {was} → {state}"),
        ))
    }

    fn failover(&mut self, i: usize, action: &Action) -> Outcome {
        let svc = &self.services[i];
        let to = action
            .param("to_zone")
            .map_or_else(|| svc.standby_zone.clone(), str::to_string);
        if to == svc.zone {
            return Err(precondition(format!(
                "`{}` already runs in zone {to}",
                svc.spec.name
            )));
        }
        let from = svc.zone.clone();
        let delay = svc.spec.startup_delay.as_secs_f64() + FAILOVER_DRAIN_SECS;
        // Standby replicas start now and the old ones keep serving; traffic moves once
        // the standby is ready and connections have drained.
        let t = self.now_secs();
        self.pending.push(Pending {
            at: t + delay,
            service: i,
            effect: Effect::Zone(to.clone()),
        });
        Ok(applied(
            prior1("zone", &from),
            format!("zone {from} → {to}, traffic moves in {delay:.0}s"),
        ))
    }

    fn flush_cache(&mut self, i: usize) -> Outcome {
        let t = self.now_secs();
        let mut flushed = Vec::new();
        for o in 0..self.services.len() {
            let owns = self.services[o]
                .cache
                .as_ref()
                .is_some_and(|c| o == i || self.services[o].edges[c.cache_edge].to == i);
            if owns && let Some(c) = &mut self.services[o].cache {
                c.flushed_at = Some(t);
                flushed.push(self.services[o].spec.name.clone());
            }
        }
        if flushed.is_empty() {
            return Err(precondition(format!(
                "`{}` neither has nor is a cache",
                self.services[i].spec.name
            )));
        }
        Ok(applied(
            BTreeMap::new(),
            format!("cache of {} flushed, warming up", flushed.join(", ")),
        ))
    }

    fn reconfigure(&mut self, i: usize, action: &Action) -> Outcome {
        let key = action
            .param("key")
            .ok_or_else(|| precondition("reconfigure needs a `key`"))?;
        if key != "pool_size" {
            return Err(precondition(format!(
                "unknown configuration key `{key}` (supported: pool_size)"
            )));
        }
        let value = parse_param::<u32>(action, "value")?;
        let svc = &mut self.services[i];
        let name = svc.spec.name.clone();
        let pool = svc
            .pool
            .as_mut()
            .ok_or_else(|| precondition(format!("`{name}` has no connection pool")))?;
        // Without a value, restore the size the scenario configured.
        let to = value.unwrap_or(pool.configured);
        if to == 0 {
            return Err(precondition("pool_size must be at least 1"));
        }
        let old = pool.size;
        pool.size = to;
        Ok(applied(
            prior1("value", old),
            format!("pool_size {old} → {to}"),
        ))
    }
}
