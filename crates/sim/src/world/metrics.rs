//! The metrics every service exports, and their computation each step: offered
//! load down the graph, then latency and errors up it, with seeded noise.

use super::World;
use super::state::Role;
use crate::flap::Flap;
use crate::scenario::TrafficPattern;

/// Names of the metrics every service exports, in a fixed order.
pub const METRICS: [&str; 16] = [
    "westworld_request_rate",
    "westworld_latency_p50_seconds",
    "westworld_latency_p99_seconds",
    "westworld_error_ratio",
    "westworld_cpu_utilization",
    "westworld_memory_utilization",
    "westworld_saturation",
    "westworld_ready_replicas",
    "westworld_cache_hit_ratio",
    "westworld_pool_utilization",
    "westworld_throttled_ratio",
    "westworld_restarts_total",
    "westworld_dependency_error_ratio",
    "westworld_circuit_open",
    "westworld_cost_per_hour",
    "westworld_deploy_revision",
];

const REQUEST_RATE: usize = 0;
const P50: usize = 1;
const P99: usize = 2;
const ERROR: usize = 3;
const CPU: usize = 4;
const MEMORY: usize = 5;
const SATURATION: usize = 6;
const READY: usize = 7;
const HIT: usize = 8;
const POOL: usize = 9;
const THROTTLED: usize = 10;
const RESTARTS: usize = 11;
const DEP_ERROR: usize = 12;
const CIRCUITS: usize = 13;
const COST: usize = 14;
const REVISION: usize = 15;

/// Standard deviation of the multiplicative noise on every reported value.
const METRIC_NOISE: f64 = 0.02;
/// Own error ratio of a healthy service (a few stray failures).
const BASE_ERROR: f64 = 0.0003;
/// Latencies are cut off here, as a client timeout would.
const MAX_LATENCY: f64 = 30.0;
/// Time for a flushed cache to warm back up to its hit ratio.
pub(crate) const CACHE_WARMUP_SECS: f64 = 30.0;

impl World {
    /// The value of a metric for a service as a reader sees it; `None` for an unknown
    /// name or service, and while a metric gap hides the service.
    pub fn metric(&self, name: &str, service: &str) -> Option<f64> {
        let i = *self.index.get(service)?;
        if self.in_gap(i) {
            return None;
        }
        self.actual_metric(name, service)
    }

    /// The value of a metric for a service whether or not a metric gap hides it: what
    /// the world is, for a yardstick; `None` for an unknown name or service.
    pub fn actual_metric(&self, name: &str, service: &str) -> Option<f64> {
        let m = METRICS.iter().position(|n| *n == name)?;
        let i = *self.index.get(service)?;
        Some(self.services[i].metrics[m])
    }

    /// Every metric of a service, in [`METRICS`] order; `None` for an unknown service
    /// and while a metric gap hides it.
    pub fn metrics(&self, service: &str) -> Option<Vec<(&'static str, f64)>> {
        let i = *self.index.get(service)?;
        if self.in_gap(i) {
            return None;
        }
        Some(
            METRICS
                .iter()
                .zip(self.services[i].metrics)
                .map(|(n, v)| (*n, v))
                .collect(),
        )
    }

    /// Compute load, latency, errors and metrics for the current time.
    pub(super) fn evaluate(&mut self) {
        let t = self.now_secs();
        let dt = self.step_ms as f64 / 1000.0;

        // Offered load at the entry points: pattern × autocorrelated noise.
        let sd = self.traffic.noise;
        let phi = (-dt / 30.0).exp();
        let z = self.traffic_rng.normal();
        self.traffic_noise = phi * self.traffic_noise + (1.0 - phi * phi).sqrt() * sd * z;
        let pattern = match self.traffic.pattern {
            TrafficPattern::Flat => 1.0,
            TrafficPattern::Diurnal => 1.0 + 0.2 * (std::f64::consts::TAU * t / 86_400.0).sin(),
        };
        let entry =
            self.traffic.rps * pattern * (1.0 + self.traffic_noise.clamp(-3.0 * sd, 3.0 * sd));

        self.inflow.fill(0.0);
        for &r in &self.roots {
            self.inflow[r] += entry;
        }
        for &i in &self.order {
            let fx = self.fx[i];
            let hit = self.services[i].cache.as_ref().map(|c| {
                let edge = &self.services[i].edges[c.cache_edge];
                if edge.open {
                    return 0.0;
                }
                let nominal = fx.poisoned_hit.unwrap_or(c.hit_ratio);
                let warm = c
                    .flushed_at
                    .map_or(1.0, |f| ((t - f) / CACHE_WARMUP_SECS).clamp(0.0, 1.0));
                // A failing cache answers nothing: its errors become misses.
                nominal * warm * (1.0 - self.services[edge.to].error)
            });
            let svc = &mut self.services[i];
            let offered = self.inflow[i] * fx.surge;
            let admitted = svc.throttle.map_or(offered, |r| offered.min(r));
            let ready = if fx.down {
                0
            } else if let Some(since) = svc.stalled_since {
                // Only replicas that were up before the stalled rollout still serve,
                // less the one it replaced.
                (svc.replicas.iter().filter(|r| r.ready_at <= since).count() as u32)
                    .saturating_sub(1)
            } else {
                svc.replicas.iter().filter(|r| r.ready_at <= t).count() as u32
            };
            let capacity = f64::from(ready) * svc.spec.capacity * (1.0 - fx.loss);
            let served = if fx.broken || fx.down {
                0.0
            } else {
                admitted.min(capacity)
            };
            let hit_now = hit.unwrap_or(1.0);
            for e in &mut svc.edges {
                e.frac = if e.open {
                    0.0
                } else if e.role == Role::Backend {
                    e.ratio * (1.0 - hit_now)
                } else {
                    e.ratio
                };
                self.inflow[e.to] += served * e.frac;
            }
            svc.offered = offered;
            svc.admitted = admitted;
            svc.capacity = capacity;
            svc.served = served;
            svc.ready = ready;
            svc.hit = hit_now;
        }

        for k in (0..self.order.len()).rev() {
            let i = self.order[k];
            let fx = self.fx[i];
            let svc = &self.services[i];

            // What the dependencies contribute, weighted by calls per request.
            let (mut dep_ok, mut dep_p50, mut dep_p99) = (1.0, 0.0, 0.0);
            for e in &svc.edges {
                if e.open {
                    // An open breaker fails the calls fast: the requests that needed
                    // the dependency get an error at once (latency traded for errors).
                    // Bypassing a cache is the exception: its misses go to the backend.
                    let lost = match e.role {
                        Role::Cache => 0.0,
                        Role::Backend => e.ratio * (1.0 - svc.hit),
                        Role::Call => e.ratio,
                    };
                    dep_ok *= 1.0 - lost.min(1.0);
                    continue;
                }
                if e.frac <= 0.0 {
                    continue;
                }
                let d = &self.services[e.to];
                dep_ok *= if e.frac <= 1.0 {
                    1.0 - e.frac * d.error
                } else {
                    (1.0 - d.error).powf(e.frac)
                };
                dep_p50 += e.frac * d.p50;
                dep_p99 += e.frac * d.p99;
            }

            // The connection pool: connections are held for about two queries.
            let (mut pool_u, mut wait) = (0.0, 0.0);
            if let Some(p) = &svc.pool {
                let e = &svc.edges[p.edge];
                let hold = 2.0 * self.services[e.to].p50;
                let demand = svc.served * e.frac * hold;
                let total = f64::from(p.size * svc.ready);
                pool_u = if total > 0.0 {
                    demand / total
                } else if demand > 0.0 {
                    10.0
                } else {
                    0.0
                };
                let rho = pool_u.min(0.97);
                wait = hold * rho.powi(8) / (1.0 - rho) * (1.0 + 10.0 * (pool_u - 1.0).max(0.0));
            }
            let pool_err = if pool_u > 1.0 {
                1.0 - 1.0 / pool_u
            } else {
                0.0
            };

            let base = svc.spec.base_latency.as_secs_f64();
            let (u, overload_err, own_p50, own_p99, cpu) = if svc.capacity <= 0.0 {
                let err = if svc.admitted > 0.0 { 1.0 } else { 0.0 };
                (0.0, err, base, base * 2.5, 0.0)
            } else {
                let u = svc.admitted / svc.capacity;
                let rho = u.min(0.97);
                let queue = 1.0 + rho / (1.0 - rho);
                let over = 1.0 + 10.0 * (u - 1.0).max(0.0);
                let p50 = base * queue * over;
                let p99 = p50 * (2.5 + 2.0 * u.min(1.0));
                let err = if u > 1.0 { 1.0 - 1.0 / u } else { 0.0 };
                if fx.broken {
                    // Requests fail fast: little work, no queueing.
                    (u, 0.0, base, base * 2.5, 0.05 * u.min(1.0))
                } else {
                    (u, err, p50, p99, u)
                }
            };
            let oom_err = if t < svc.oom_until {
                0.5 / svc.replicas.len().max(1) as f64
            } else {
                0.0
            };
            let broken = if fx.broken { 1.0 } else { 0.0 };
            let own_ok = (1.0 - BASE_ERROR)
                * (1.0 - overload_err)
                * (1.0 - pool_err)
                * (1.0 - fx.bad_error)
                * (1.0 - oom_err)
                * (1.0 - broken);
            let (dep_ok, dep_p50, dep_p99) = if fx.broken || fx.down || svc.served <= 0.0 {
                (1.0, 0.0, 0.0)
            } else {
                (dep_ok, dep_p50, dep_p99)
            };
            let error = (1.0 - own_ok * dep_ok).clamp(0.0, 1.0);
            let p50 = (own_p50 + wait + dep_p50).min(MAX_LATENCY);
            let p99 = (own_p99 + 3.0 * wait + dep_p99).min(MAX_LATENCY).max(p50);
            let saturation = (u - 1.0).max(0.0) + (pool_u - 1.0).max(0.0);
            let throttled = if svc.offered > 0.0 {
                1.0 - svc.admitted / svc.offered
            } else {
                0.0
            };
            let memory = svc
                .replicas
                .iter()
                .filter(|r| r.ready_at <= t)
                .map(|r| svc.spec.memory_baseline + r.leaked)
                .fold(svc.spec.memory_baseline, f64::max);
            let has_cache = svc.cache.is_some();
            let circuits = svc.edges.iter().filter(|e| e.open).count() as f64;
            let cost = svc.replicas.len() as f64 * svc.spec.price_per_hour;

            let svc = &mut self.services[i];
            svc.p50 = p50;
            svc.p99 = p99;
            svc.error = error;
            // A fixed number of draws per step, whatever the state (see module docs).
            let mut n = [0.0; 10];
            for x in &mut n {
                *x = svc.rng.factor(METRIC_NOISE);
            }
            let m = &mut svc.metrics;
            m[REQUEST_RATE] = svc.offered * n[0];
            m[P50] = p50 * n[1];
            m[P99] = (p99 * n[2]).max(m[P50]);
            m[ERROR] = (error * n[3]).min(1.0);
            m[CPU] = cpu * n[4];
            m[MEMORY] = (memory * n[5]).min(1.0);
            m[SATURATION] = saturation * n[6];
            m[READY] = f64::from(svc.ready);
            m[HIT] = if has_cache {
                (svc.hit * n[7]).min(1.0)
            } else {
                1.0
            };
            m[POOL] = pool_u * n[8];
            m[THROTTLED] = throttled;
            m[RESTARTS] = svc.restarts as f64;
            m[DEP_ERROR] = ((1.0 - dep_ok) * n[9]).clamp(0.0, 1.0);
            m[CIRCUITS] = circuits;
            m[COST] = cost;
            m[REVISION] = svc.revision as f64;
        }
        // A cache reports the hit ratio its owners see, weighted by their traffic (as a
        // cache server counts its own hits and misses).
        let mut seen = vec![(0.0, 0.0); self.services.len()];
        for svc in &self.services {
            if let Some(c) = &svc.cache {
                let to = svc.edges[c.cache_edge].to;
                seen[to].0 += svc.metrics[HIT] * svc.offered;
                seen[to].1 += svc.offered;
            }
        }
        for (svc, (hits, total)) in self.services.iter_mut().zip(seen) {
            if total > 0.0 {
                svc.metrics[HIT] = hits / total;
            }
        }
        // Flaps change the reported value only, after everything else is computed,
        // so no other metric and no other service sees them.
        let now = self.elapsed();
        for (i, m, flap) in &self.flaps {
            if flap.spiking(now) {
                let v = &mut self.services[*i].metrics[*m];
                *v *= flap.factor;
                if Flap::is_ratio(&flap.metric) {
                    *v = v.min(1.0);
                }
            }
        }
    }
}
