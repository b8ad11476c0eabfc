//! Generated topologies and their charters.
//!
//! A topology is a layered call graph of 6–40 services: one or two entry services,
//! middle layers, and a last layer of stores; caches sit beside a store and are
//! called by one owner, which sends its misses to the store; some services hold a
//! connection pool to a dependency. Services live in 2–3 zones and on several nodes
//! per zone, with random replica counts, limits, base latencies and call ratios.
//! Capacities are sized from the offered load so every service runs at a drawn
//! utilisation (0.35–0.55; caches lower).
//!
//! The charter of a topology is written from a healthy run of it ([`Profile`]):
//! every threshold is the healthy maximum of its metric times a margin, so a healthy
//! run violates nothing and a fault shows.

use charter_model::Charter;
use charter_model::config::parse_charter;
use charter_sim::{CacheSpec, PoolSpec, Scenario, ServiceSpec, Traffic, TrafficPattern, World};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// A small seeded generator (SplitMix64): the benchmark's draws depend only on the
/// seed, never on the simulator's own streams.
#[derive(Debug, Clone)]
pub struct Draw(u64);

impl Draw {
    pub fn new(seed: u64) -> Self {
        Draw(seed ^ 0x005E_ED0F_C4A7_7E12)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn float(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in lo..=hi.
    pub fn int(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.next_u64() as usize % xs.len()]
    }
}

/// Healthy maxima of a topology, per service.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub p99: Vec<f64>,
    pub cpu: Vec<f64>,
    pub hit: Vec<f64>,
    pub pool: Vec<f64>,
    /// Pool demand (connections held) per ready replica.
    pub pool_demand: Vec<f64>,
    pub memory: Vec<f64>,
    pub error: Vec<f64>,
    pub dep_error: Vec<f64>,
}

/// A generated topology with its charter.
#[derive(Debug, Clone)]
pub struct Topology {
    pub seed: u64,
    pub services: Vec<ServiceSpec>,
    /// Service indices per layer; layer 0 holds the entry services.
    pub layers: Vec<Vec<usize>>,
    pub zones: Vec<String>,
    /// The node of each service (in its zone).
    pub node_of: Vec<String>,
    /// Replica limits (min, max) per service.
    pub limits: Vec<(u32, u32)>,
    pub rps: f64,
    pub profile: Profile,
    /// Per pool owner, the pool size at which its pool is exhausted (utilisation ≥ 1.5
    /// where the demand allows it).
    pub exhausted_pool: BTreeMap<usize, u32>,
    /// The latency-p99 warning threshold of each service's objective.
    pub latency_warning: Vec<f64>,
    pub charter_yaml: String,
}

/// Charter interval.
pub const INTERVAL_SECS: u64 = 15;
/// The healthy cost of every service per hour: prices are set per topology so that
/// each service's initial replicas cost this much.
pub const HEALTHY_COST: f64 = 0.3;
/// The most calls per request a service makes, over all its dependencies.
const MAX_CALLS: f64 = 1.6;
/// How long the healthy run that sets thresholds lasts.
const PROFILE_SECS: u64 = 600;

impl Topology {
    /// The index of a service by name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.services.iter().position(|s| s.name == name)
    }

    /// Indices of the services `i` calls, directly or not.
    pub fn descendants(&self, i: usize) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        let mut stack = vec![i];
        while let Some(j) = stack.pop() {
            for d in &self.services[j].depends_on {
                if let Some(k) = self.index(&d.name)
                    && !out.contains(&k)
                {
                    out.push(k);
                    stack.push(k);
                }
            }
        }
        out
    }

    /// Whether one of the two calls the other, directly or not.
    pub fn related(&self, a: usize, b: usize) -> bool {
        a == b || self.descendants(a).contains(&b) || self.descendants(b).contains(&a)
    }

    /// Services that call `i` directly.
    #[cfg(test)]
    pub fn callers(&self, i: usize) -> Vec<usize> {
        let name = &self.services[i].name;
        (0..self.services.len())
            .filter(|&j| self.services[j].depends_on.iter().any(|d| &d.name == name))
            .collect()
    }

    /// Cache services (a dependency some service uses as its cache).
    pub fn caches(&self) -> Vec<usize> {
        self.services
            .iter()
            .filter_map(|s| s.cache.as_ref())
            .filter_map(|c| self.index(&c.dependency))
            .collect()
    }

    /// Services of a node.
    pub fn on_node(&self, node: &str) -> Vec<usize> {
        (0..self.services.len())
            .filter(|&i| self.node_of[i] == node)
            .collect()
    }

    /// Services of a zone.
    pub fn in_zone(&self, zone: &str) -> Vec<usize> {
        (0..self.services.len())
            .filter(|&i| self.services[i].zone == zone)
            .collect()
    }

    /// Every node, sorted.
    pub fn nodes(&self) -> Vec<String> {
        let mut v = self.node_of.clone();
        v.sort();
        v.dedup();
        v
    }

    /// A scenario of this topology without faults.
    pub fn scenario(&self, name: &str, duration: Duration, pattern: TrafficPattern) -> Scenario {
        let mut s = Scenario::default_shop(name, duration);
        s.services = self.services.clone();
        s.traffic = Traffic {
            rps: self.rps,
            pattern,
            noise: 0.03,
        };
        s
    }

    /// The charter, compiled.
    pub fn charter(&self) -> Result<Charter, String> {
        parse_charter(
            &self.charter_yaml,
            &format!("generated-{}.yaml", self.seed),
            Path::new("."),
        )
        .map(|(c, _)| c)
        .map_err(|e| e.to_string())
    }

    /// A fingerprint of the drawn structure (names, edges, capacities, zones).
    #[cfg(test)]
    pub fn fingerprint(&self) -> String {
        let mut out = String::new();
        for (s, node) in self.services.iter().zip(&self.node_of) {
            let _ = write!(out, "{}@{}/{}:{:.3}:", s.name, s.zone, node, s.capacity);
            for d in &s.depends_on {
                let _ = write!(out, "{}*{:.1},", d.name, d.call_ratio);
            }
            out.push(';');
        }
        out
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Draw the topology of a seed.
pub fn generate(seed: u64) -> Topology {
    let mut r = Draw::new(seed);
    let n = r.int(6, 40) as usize;
    let caches = 1 + n / 15;
    let core = n - caches;
    let depth = (r.int(3, 3 + (core as u64 / 8).min(2))) as usize;
    let entries = if core >= 16 && r.chance(0.5) { 2 } else { 1 };
    // Layer sizes: entries, then at least one per middle layer and two stores.
    let mut sizes = vec![1usize; depth];
    sizes[0] = entries;
    sizes[depth - 1] = 2;
    let mut left = core - sizes.iter().sum::<usize>();
    while left > 0 {
        let k = r.int(1, depth as u64 - 1) as usize;
        sizes[k] += 1;
        left -= 1;
    }
    let mut layers: Vec<Vec<usize>> = Vec::new();
    let mut next = 0;
    for &size in &sizes {
        layers.push((next..next + size).collect());
        next += size;
    }
    let names: Vec<String> = (0..n).map(|i| format!("s{i:02}")).collect();
    let mut specs: Vec<ServiceSpec> = names
        .iter()
        .map(|name| ServiceSpec::new(name, 100.0))
        .collect();
    let mut edges: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    for k in 0..depth - 1 {
        let deeper: Vec<usize> = layers[k + 1..].iter().flatten().copied().collect();
        for &s in &layers[k] {
            let fanout = r.int(1, 3) as usize;
            for _ in 0..fanout {
                let to = if r.chance(0.8) {
                    *r.pick(&layers[k + 1])
                } else {
                    *r.pick(&deeper)
                };
                if !edges[s].iter().any(|(t, _)| *t == to) {
                    edges[s].push((to, round1(r.float(0.2, 1.2))));
                }
            }
        }
        // Everyone in the next layer has a caller.
        for &t in &layers[k + 1] {
            if !edges.iter().any(|e| e.iter().any(|(x, _)| *x == t)) {
                let from = *r.pick(&layers[k]);
                edges[from].push((t, round1(r.float(0.2, 1.2))));
            }
        }
    }
    // Calls fan out but do not multiply: a service's call ratios add up to at most
    // MAX_CALLS, so load and latency stay within reason down a deep graph.
    for e in &mut edges {
        let sum: f64 = e.iter().map(|(_, x)| x).sum();
        if sum > MAX_CALLS {
            for (_, x) in e.iter_mut() {
                *x = round1(*x * MAX_CALLS / sum).max(0.1);
            }
        }
    }
    // Caches: a new leaf beside a store, called by one owner that calls the store.
    let stores = layers[depth - 1].clone();
    let mut cache_of: BTreeMap<usize, (usize, usize, f64)> = BTreeMap::new();
    for c in core..n {
        let candidates: Vec<(usize, usize)> = (0..core)
            .filter(|o| !cache_of.contains_key(o))
            .flat_map(|o| {
                edges[o]
                    .iter()
                    .filter(|(t, _)| stores.contains(t))
                    .map(move |(t, _)| (o, *t))
            })
            .collect();
        let (owner, store) = if candidates.is_empty() {
            // Every caller of a store already owns a cache: another service starts
            // calling a store.
            let free: Vec<usize> = (0..core)
                .filter(|o| !cache_of.contains_key(o) && !stores.contains(o))
                .collect();
            let (o, b) = (*r.pick(&free), *r.pick(&stores));
            if !edges[o].iter().any(|(t, _)| *t == b) {
                edges[o].push((b, 0.5));
            }
            (o, b)
        } else {
            *r.pick(&candidates)
        };
        edges[owner].push((c, 1.0));
        cache_of.insert(
            owner,
            (c, store, (r.float(0.8, 0.95) * 100.0).round() / 100.0),
        );
    }
    layers[depth - 1].extend(core..n);

    // Zones and nodes.
    let zone_count = r.int(2, 3) as usize;
    let zones: Vec<String> = (1..=zone_count).map(|z| format!("z{z}")).collect();
    let mut zone_of = Vec::with_capacity(n);
    for spec in &mut specs {
        let z = r.int(0, zone_count as u64 - 1) as usize;
        let mut standby = r.int(0, zone_count as u64 - 2) as usize;
        if standby >= z {
            standby += 1;
        }
        spec.zone = zones[z].clone();
        spec.standby_zone = zones[standby].clone();
        zone_of.push(z);
    }
    // 2–3 nodes per zone, but at least two services per node on average.
    let nodes_per_zone: Vec<u64> = (0..zone_count)
        .map(|z| {
            let k = zone_of.iter().filter(|&&x| x == z).count() as u64;
            r.int(2, 3).min((k / 2).max(1))
        })
        .collect();
    let node_of: Vec<String> = zone_of
        .iter()
        .map(|&z| format!("{}n{}", zones[z], r.int(1, nodes_per_zone[z])))
        .collect();

    // Edges, caches, replicas, latencies.
    let mut limits = Vec::with_capacity(n);
    for (i, spec) in specs.iter_mut().enumerate() {
        spec.node = node_of[i].clone();
        for &(to, ratio) in &edges[i] {
            spec.depends_on.push(charter_sim::Dependency {
                name: names[to].clone(),
                call_ratio: ratio,
            });
        }
        if let Some(&(c, store, hit)) = cache_of.get(&i) {
            spec.cache = Some(CacheSpec {
                dependency: names[c].clone(),
                backend: names[store].clone(),
                hit_ratio: hit,
            });
        }
        let is_cache = i >= core;
        let is_store = stores.contains(&i);
        spec.replicas = r.int(2, if is_store || is_cache { 3 } else { 4 }) as u32;
        let ms = if is_cache {
            r.int(1, 3)
        } else if is_store {
            r.int(8, 25)
        } else {
            r.int(4, 20)
        };
        spec.base_latency = Duration::from_millis(ms);
        spec.memory_baseline = (r.float(0.35, 0.5) * 100.0).round() / 100.0;
        spec.price_per_hour = HEALTHY_COST / f64::from(spec.replicas);
        let min = r.int(1, 2).min(u64::from(spec.replicas)) as u32;
        let max = spec.replicas + r.int(3, 8) as u32;
        limits.push((min, max));
    }
    let mut order: Vec<usize> = layers.iter().flatten().copied().collect();
    order.sort_by_key(|&i| layers.iter().position(|l| l.contains(&i)));

    // Offered load, callers first, then capacities for a drawn utilisation.
    let rps = (r.float(100.0, 400.0) / 10.0).round() * 10.0;
    let mut load = vec![0.0; n];
    for &e in &layers[0] {
        load[e] = rps;
    }
    for &i in &order {
        let backend = specs[i]
            .cache
            .as_ref()
            .map(|c| (c.backend.clone(), c.hit_ratio));
        for d in specs[i].depends_on.clone() {
            let Some(to) = names.iter().position(|x| *x == d.name) else {
                continue;
            };
            let miss = match &backend {
                Some((b, hit)) if *b == d.name => 1.0 - hit,
                _ => 1.0,
            };
            load[to] += load[i] * d.call_ratio * miss;
        }
    }
    for (i, spec) in specs.iter_mut().enumerate() {
        let u = if i >= core {
            r.float(0.2, 0.3)
        } else {
            r.float(0.35, 0.55)
        };
        spec.capacity = (load[i] / (f64::from(spec.replicas) * u)).max(5.0);
    }

    // Pools: up to 1 + n/12 of the busiest services that call a store (or anything).
    let mut by_load: Vec<usize> = (0..core).filter(|&i| !edges[i].is_empty()).collect();
    by_load.sort_by(|&a, &b| {
        (load[b] / f64::from(specs[b].replicas))
            .total_cmp(&(load[a] / f64::from(specs[a].replicas)))
    });
    let pools = 1 + n / 12;
    for &i in by_load.iter().take(pools) {
        let dep = edges[i]
            .iter()
            .filter(|(t, _)| *t < core)
            .max_by_key(|(t, _)| stores.contains(t))
            .map(|(t, _)| *t);
        if let Some(d) = dep {
            specs[i].pool = Some(PoolSpec {
                dependency: names[d].clone(),
                size: 64,
            });
        }
    }

    let mut t = Topology {
        seed,
        services: specs,
        layers,
        zones,
        node_of,
        limits,
        rps,
        profile: Profile::default(),
        exhausted_pool: BTreeMap::new(),
        latency_warning: Vec::new(),
        charter_yaml: String::new(),
    };
    t.profile = profile(&t, seed ^ 0xA11CE);
    // Size each pool to a healthy utilisation of about 0.5, and the exhausted size for
    // a utilisation of about 2 (at least 1 connection per replica).
    for i in 0..n {
        let demand = t.profile.pool_demand[i];
        if let Some(p) = t.services[i].pool.as_mut() {
            let size = ((demand / 0.5).ceil() as u32).max(2);
            p.size = size;
            t.profile.pool[i] = demand / f64::from(size);
            t.exhausted_pool
                .insert(i, ((demand / 2.0).floor() as u32).clamp(1, size - 1));
        }
    }
    t.latency_warning = vec![0.0; n];
    for (_, members, warning) in latency_groups(&t.profile) {
        for i in members {
            t.latency_warning[i] = warning;
        }
    }
    t.charter_yaml = charter_yaml(&t);
    t
}

/// Latency objectives: services whose healthy p99 is within 2× of each other share
/// one, whose warning is the group's healthy maximum × [`LATENCY_MARGIN`] (at least
/// 20 ms above it). `(bucket, members, warning)`.
fn latency_groups(p: &Profile) -> Vec<(i32, Vec<usize>, f64)> {
    let mut buckets: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for (i, &p99) in p.p99.iter().enumerate() {
        let b = ((p99.max(1e-3) / 0.005).log2().ceil() as i32).max(0);
        buckets.entry(b).or_default().push(i);
    }
    buckets
        .into_iter()
        .map(|(b, members)| {
            let worst = members.iter().map(|&i| p.p99[i]).fold(0.0, f64::max);
            (b, members, (worst * LATENCY_MARGIN).max(worst + 0.02))
        })
        .collect()
}

/// The healthy maxima of a topology over [`PROFILE_SECS`] of flat traffic.
fn profile(t: &Topology, seed: u64) -> Profile {
    let scenario = t.scenario(
        "profile",
        Duration::from_secs(PROFILE_SECS),
        TrafficPattern::Flat,
    );
    let mut world = World::new(&scenario, seed);
    let n = t.services.len();
    let mut p = Profile {
        p99: vec![0.0; n],
        cpu: vec![0.0; n],
        hit: vec![1.0; n],
        pool: vec![0.0; n],
        pool_demand: vec![0.0; n],
        memory: vec![0.0; n],
        error: vec![0.0; n],
        dep_error: vec![0.0; n],
    };
    for sec in 1..=PROFILE_SECS {
        world.advance_to(Duration::from_secs(sec));
        if sec < 30 {
            continue;
        }
        for (i, s) in t.services.iter().enumerate() {
            let m = |name: &str| world.metric(name, &s.name).unwrap_or(0.0);
            p.p99[i] = p.p99[i].max(m("westworld_latency_p99_seconds"));
            p.cpu[i] = p.cpu[i].max(m("westworld_cpu_utilization"));
            p.hit[i] = p.hit[i].min(m("westworld_cache_hit_ratio"));
            p.memory[i] = p.memory[i].max(m("westworld_memory_utilization"));
            p.error[i] = p.error[i].max(m("westworld_error_ratio"));
            p.dep_error[i] = p.dep_error[i].max(m("westworld_dependency_error_ratio"));
            // Connections held per ready replica: utilisation × size per replica.
            if let Some(pool) = &s.pool {
                let u = m("westworld_pool_utilization");
                p.pool_demand[i] = p.pool_demand[i].max(u * f64::from(pool.size));
            }
        }
    }
    p
}

/// Margin of a latency warning over the healthy maximum.
const LATENCY_MARGIN: f64 = 2.0;

fn list(t: &Topology, idx: &[usize]) -> String {
    idx.iter()
        .map(|&i| t.services[i].name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The charter of a topology: components with zones, nodes and replica limits, the
/// objectives with thresholds from its healthy profile, and the actions and
/// guardrails of `examples/westworld.yaml`.
fn charter_yaml(t: &Topology) -> String {
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Generated by charter-bench generalize from topology seed {}.\n\
         name: generated-{}\ninterval: {INTERVAL_SECS}s\nmode: autonomous\n\
         source:\n  simulator: {{}}\nknowledge: {{ sqlite: generated.db }}\n\
         actuators:\n  sim: {{ simulator: {{}} }}\n\ncomponents:",
        t.seed, t.seed
    );
    for (i, s) in t.services.iter().enumerate() {
        let deps: Vec<&str> = s.depends_on.iter().map(|d| d.name.as_str()).collect();
        let (min, max) = t.limits[i];
        let _ = writeln!(
            y,
            "  - {{ name: {}, depends_on: [{}], actuator: sim, replicas: {{ min: {min}, max: {max} }}, zone: {}, node: {} }}",
            s.name,
            deps.join(", "),
            s.zone,
            t.node_of[i]
        );
    }
    y.push_str("\nobjectives:\n");
    for (b, members, warning) in latency_groups(&t.profile) {
        let _ = writeln!(
            y,
            "  - name: latency_p99_{b}\n    metric: westworld_latency_p99_seconds\n    \
             components: [{}]\n    signal: latency\n    \
             above: {{ warning: {:.4}, critical: {:.4}, clear: {:.4} }}\n    for: 30s\n    \
             remedies: [scale_out, rollback]",
            list(t, &members),
            warning,
            warning * 2.5,
            warning * 0.8
        );
    }
    let callers: Vec<usize> = (0..t.services.len())
        .filter(|&i| !t.services[i].depends_on.is_empty())
        .collect();
    let pooled: Vec<usize> = (0..t.services.len())
        .filter(|&i| t.services[i].pool.is_some())
        .collect();
    let cached: Vec<usize> = (0..t.services.len())
        .filter(|&i| t.services[i].cache.is_some())
        .chain(t.caches())
        .collect();
    // Errors: the usual 2% / 5% warnings, or 3× the healthy maximum where calls
    // through many services add up to more.
    let worst = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let err = (3.0 * worst(&t.profile.error)).max(0.02);
    let error_th = format!(
        "above: {{ warning: {err:.4}, critical: {:.4}, clear: {:.4} }}",
        (err * 5.0).max(0.1),
        err / 2.0
    );
    let dep = (3.0 * worst(&t.profile.dep_error)).max(0.05);
    let dep_error_th = format!(
        "above: {{ warning: {dep:.4}, critical: {:.4}, clear: {:.4} }}",
        (dep * 4.0).max(0.2),
        dep * 0.4
    );
    let fixed = [
        (
            "error_ratio",
            "westworld_error_ratio",
            None,
            "errors",
            error_th.as_str(),
            "30s",
            "[rollback, failover, restart, circuit_break]",
        ),
        (
            "dependency_error_ratio",
            "westworld_dependency_error_ratio",
            Some(&callers),
            "errors",
            dep_error_th.as_str(),
            "30s",
            "[circuit_break, failover]",
        ),
        (
            "cpu_utilization",
            "westworld_cpu_utilization",
            None,
            "utilization",
            "above: { warning: 0.85, critical: 1.0, clear: 0.75 }",
            "30s",
            "[scale_out, throttle]",
        ),
        (
            "memory_utilization",
            "westworld_memory_utilization",
            None,
            "memory",
            "above: { warning: 0.8, critical: 0.9, clear: 0.7 }",
            "30s",
            "[restart, scale_out]",
        ),
        (
            "saturation",
            "westworld_saturation",
            None,
            "saturation",
            "above: { warning: 0.1, critical: 0.5, clear: 0.05 }",
            "30s",
            "[scale_out, throttle]",
        ),
        (
            "pool_utilization",
            "westworld_pool_utilization",
            Some(&pooled),
            "pool",
            "above: { warning: 0.9, critical: 0.98, clear: 0.8 }",
            "30s",
            "[reconfigure, scale_out]",
        ),
        (
            "ready_replicas",
            "westworld_ready_replicas",
            None,
            "availability",
            "below: { critical: 1, clear: 1 }",
            "1m",
            "[failover, scale_out]",
        ),
        (
            "throttled_ratio",
            "westworld_throttled_ratio",
            None,
            "traffic",
            "above: { warning: 0.05, critical: 0.3, clear: 0.02 }",
            "2m",
            "[scale_out]",
        ),
    ];
    for (name, metric, comps, signal, th, for_, remedies) in fixed {
        if comps.is_some_and(|c| c.is_empty()) {
            continue;
        }
        let _ = writeln!(y, "  - name: {name}\n    metric: {metric}");
        if let Some(c) = comps {
            let _ = writeln!(y, "    components: [{}]", list(t, c));
        }
        let _ = writeln!(
            y,
            "    signal: {signal}\n    {th}\n    for: {for_}\n    remedies: {remedies}"
        );
    }
    let entries = &t.layers[0];
    let _ = writeln!(
        y,
        "  - name: request_rate\n    metric: westworld_request_rate\n    components: [{}]\n    \
         signal: traffic\n    below: {{ warning: {:.1}, critical: {:.1}, clear: {:.1} }}\n    \
         for: 1m\n    remedies: [failover]",
        list(t, entries),
        t.rps * 0.25,
        t.rps * 0.05,
        t.rps * 0.4
    );
    if !cached.is_empty() {
        let lowest = cached.iter().map(|&i| t.profile.hit[i]).fold(1.0, f64::min);
        let _ = writeln!(
            y,
            "  - name: cache_hit_ratio\n    metric: westworld_cache_hit_ratio\n    \
             components: [{}]\n    signal: cache\n    \
             below: {{ warning: {:.3}, critical: {:.3}, clear: {:.3} }}\n    for: 30s\n    \
             remedies: [flush_cache]",
            list(t, &cached),
            lowest * 0.75,
            lowest * 0.4,
            lowest * 0.85
        );
    }
    let _ = writeln!(
        y,
        "  - name: cost_per_hour\n    metric: westworld_cost_per_hour\n    signal: cost\n    \
         above: {{ warning: {:.3}, critical: {:.3}, clear: {:.3} }}\n    for: 5m\n    \
         remedies: [scale_in]",
        HEALTHY_COST * 1.7,
        HEALTHY_COST * 2.5,
        HEALTHY_COST * 1.35
    );
    y.push_str(
        "\nactions:\n  scale_out: { cost: 1, step: 2, time_to_effect: 2m }\n  \
         scale_in: { cost: 1, step: 1, time_to_effect: 1m }\n  \
         restart: { cost: 3, time_to_effect: 90s }\n  \
         rollback: { cost: 4, time_to_effect: 1m }\n  \
         throttle: { cost: 3, time_to_effect: 30s, params: { rate: \"RATE\" } }\n  \
         circuit_break: { cost: 3, time_to_effect: 30s }\n  \
         failover: { cost: 5, time_to_effect: 1m }\n  \
         flush_cache: { cost: 2, time_to_effect: 30s }\n  \
         reconfigure: { cost: 3, time_to_effect: 1m, params: { key: pool_size, value: \"40\" } }\n\n\
         guardrails:\n  max_actions_per_hour: 20\n  cooldown: 5m\n  max_concurrent: 2\n  \
         auto_approve_max_cost: 5\n  approval_timeout: 15m\n  max_attempts_per_incident: 3\n",
    );
    // A throttle admits the healthy entry rate.
    y.replace("RATE", &format!("{:.0}", t.rps))
}
