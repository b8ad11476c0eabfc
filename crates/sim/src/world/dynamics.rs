//! One step of virtual time: faults and deploys that are due, delayed effects of
//! actions, and replicas moved through restarts, leaks and OOM kills.

use super::World;
use super::state::Effect;
use crate::rng::{mix, unit};
use charter_model::ChangeKind;
use std::time::Duration;

/// How long in-flight requests fail after an OOM kill.
const OOM_ERROR_SECS: f64 = 5.0;

impl World {
    /// Step until virtual time is at least `t`.
    pub fn advance_to(&mut self, t: Duration) {
        let target = t.as_millis() as u64;
        while self.elapsed_ms < target {
            self.step();
        }
    }

    /// Advance one fixed step of virtual time.
    pub fn step(&mut self) {
        self.elapsed_ms += self.step_ms;
        let t = self.now_secs();
        self.start_faults(t);
        self.start_deploys(t);
        self.land_pending(t);
        self.collect_effects(t);
        self.advance_replicas(t);
        self.evaluate();
    }

    /// Roll out the deploys that are due: the next version, by `ci`.
    fn start_deploys(&mut self, t: f64) {
        while let Some((i, d)) = self.deploys.get(self.deploys_done).cloned() {
            if d.at.as_secs_f64() > t {
                break;
            }
            self.deploys_done += 1;
            let svc = &mut self.services[i];
            let old = svc.version.clone();
            let new = next_version(&old);
            svc.previous_version = Some(old.clone());
            svc.version = new.clone();
            svc.revision += 1;
            let mut description = format!("deployed {new} (was {old})");
            if d.one_way_migration {
                svc.cannot_start.push(old.clone());
                description.push_str(&format!(
                    " with a one-way schema migration: {old} can no longer start"
                ));
            }
            self.record(i, ChangeKind::Deploy, description, "ci");
        }
    }

    fn land_pending(&mut self, t: f64) {
        let mut k = 0;
        while k < self.pending.len() {
            if self.pending[k].at > t {
                k += 1;
                continue;
            }
            let p = self.pending.swap_remove(k);
            if let Effect::Cure(f) = p.effect {
                if let Some(f) = self.faults.get_mut(f) {
                    f.cured = true;
                }
                continue;
            }
            let svc = &mut self.services[p.service];
            match p.effect {
                Effect::Version(to) => {
                    if to != svc.version {
                        let stalls = svc.cannot_start.contains(&to);
                        let old = std::mem::replace(&mut svc.version, to.clone());
                        svc.previous_version = Some(old);
                        svc.revision += 1;
                        svc.stalled_since = if stalls {
                            svc.stalled_since.or(Some(t))
                        } else {
                            None
                        };
                        if stalls {
                            // The rollout replaced one replica and stops there: the
                            // others keep running the version that can start.
                            self.record(
                                p.service,
                                ChangeKind::Restart,
                                format!(
                                    "rollout to {to} stalled: its first replica is crash-looping ({to} cannot start against the migrated schema)"
                                ),
                                "kubelet",
                            );
                        }
                    }
                }
                Effect::Cure(_) => {}
                Effect::Zone(to) => {
                    if to != svc.zone {
                        let old = std::mem::replace(&mut svc.zone, to);
                        svc.standby_zone = old;
                        // The standby replicas were started when the failover began.
                        for r in &mut svc.replicas {
                            r.leaked = 0.0;
                            r.restart_at = None;
                            r.ready_at = r.ready_at.min(t);
                        }
                    }
                }
            }
        }
    }

    fn advance_replicas(&mut self, t: f64) {
        let dt = self.step_ms as f64 / 1000.0;
        for i in 0..self.services.len() {
            let fx = self.fx[i];
            let seed = self.seed;
            let svc = &mut self.services[i];
            let startup = svc.spec.startup_delay.as_secs_f64();
            let baseline = svc.spec.memory_baseline;
            let mut killed = 0;
            for r in &mut svc.replicas {
                if let Some(at) = r.restart_at
                    && at <= t
                {
                    r.restart_at = None;
                    r.leaked = 0.0;
                    r.ready_at = at + startup;
                }
                if fx.down || r.ready_at > t || fx.leak_rate <= 0.0 {
                    continue;
                }
                // Replicas leak at slightly different rates, so they are killed one by one.
                let jitter = 0.85 + 0.3 * unit(mix(&[seed, r.id]));
                r.leaked += fx.leak_rate / 60.0 * dt * jitter;
                if baseline + r.leaked >= 1.0 {
                    r.leaked = 0.0;
                    r.ready_at = t + startup;
                    killed += 1;
                }
            }
            if killed > 0 {
                svc.restarts += killed;
                svc.oom_until = t + OOM_ERROR_SECS;
                for _ in 0..killed {
                    self.record(
                        i,
                        ChangeKind::Restart,
                        "replica OOM-killed at its memory limit and restarted".into(),
                        "kubelet",
                    );
                }
            }
        }
    }
}

/// `v1` → `v2`; anything else gets `-next` appended.
pub(crate) fn next_version(v: &str) -> String {
    match v.strip_prefix('v').and_then(|n| n.parse::<u64>().ok()) {
        Some(n) => format!("v{}", n + 1),
        None => format!("{v}-next"),
    }
}
