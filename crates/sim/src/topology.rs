//! Services, their call edges, and the built-in default shop.

use std::collections::HashMap;
use std::time::Duration;

/// A call edge from a service to one of its dependencies.
#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    /// The called service.
    pub name: String,
    /// Calls to the dependency per admitted request (1.0 = one call per request).
    pub call_ratio: f64,
}

/// A cache in front of a backend: calls go to `dependency`, misses go on to `backend`.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheSpec {
    /// The cache service (must be in `depends_on`).
    pub dependency: String,
    /// Where misses go (must be in `depends_on`).
    pub backend: String,
    /// Fraction of cache lookups that hit, when the cache is warm and healthy.
    pub hit_ratio: f64,
}

/// A connection pool to a dependency, per replica.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSpec {
    /// The pooled dependency (must be in `depends_on`).
    pub dependency: String,
    /// Connections per replica.
    pub size: u32,
}

/// The static description of one service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub name: String,
    pub depends_on: Vec<Dependency>,
    /// Replicas at the start.
    pub replicas: u32,
    /// Requests per second one replica handles at utilization 1.
    pub capacity: f64,
    /// Own latency with no queueing.
    pub base_latency: Duration,
    /// How long a new or restarted replica takes to become ready.
    pub startup_delay: Duration,
    /// The zone it runs in.
    pub zone: String,
    /// The zone a failover moves it to.
    pub standby_zone: String,
    /// The node (host) it runs on in its own zone; `node-<zone>` unless the scenario
    /// names one. In any other zone (after a failover) it runs on `node-<that zone>`.
    pub node: String,
    pub version: String,
    /// Memory utilization of a fresh replica (fraction of its limit).
    pub memory_baseline: f64,
    pub cache: Option<CacheSpec>,
    pub pool: Option<PoolSpec>,
    /// Admission limit in requests per second, if throttled from the start.
    pub throttle_rate: Option<f64>,
    /// Price of one replica per hour.
    pub price_per_hour: f64,
}

impl ServiceSpec {
    /// A service with the defaults: 3 replicas, 10 ms base latency, 20 s start-up,
    /// zone `a` with standby `b`, version `v1`, memory baseline 0.45, $0.10/replica/h.
    pub fn new(name: &str, capacity: f64) -> Self {
        ServiceSpec {
            name: name.to_string(),
            depends_on: Vec::new(),
            replicas: 3,
            capacity,
            base_latency: Duration::from_millis(10),
            startup_delay: Duration::from_secs(20),
            zone: "a".into(),
            standby_zone: "b".into(),
            node: node_of_zone("a"),
            version: "v1".into(),
            memory_baseline: 0.45,
            cache: None,
            pool: None,
            throttle_rate: None,
            price_per_hour: 0.10,
        }
    }

    /// Add a dependency with a call ratio.
    pub fn calls(mut self, dependency: &str, call_ratio: f64) -> Self {
        self.depends_on.push(Dependency {
            name: dependency.to_string(),
            call_ratio,
        });
        self
    }

    /// Set the replica count.
    pub fn replicas(mut self, n: u32) -> Self {
        self.replicas = n;
        self
    }

    /// Set the base latency in milliseconds.
    pub fn base_latency_ms(mut self, ms: u64) -> Self {
        self.base_latency = Duration::from_millis(ms);
        self
    }

    /// Put a cache in front of a backend.
    pub fn cache(mut self, dependency: &str, backend: &str, hit_ratio: f64) -> Self {
        self.cache = Some(CacheSpec {
            dependency: dependency.into(),
            backend: backend.into(),
            hit_ratio,
        });
        self
    }

    /// Give it a connection pool to a dependency.
    pub fn pool(mut self, dependency: &str, size: u32) -> Self {
        self.pool = Some(PoolSpec {
            dependency: dependency.into(),
            size,
        });
        self
    }

    /// Set the price per replica-hour.
    pub fn price(mut self, per_hour: f64) -> Self {
        self.price_per_hour = per_hour;
        self
    }

    /// Run it in `zone`, on that zone's default node.
    pub fn zone(mut self, zone: &str) -> Self {
        self.zone = zone.to_string();
        self.node = node_of_zone(zone);
        self
    }

    /// Run it on a named node of its zone.
    pub fn node(mut self, node: &str) -> Self {
        self.node = node.to_string();
        self
    }

    /// The node it runs on when it runs in `zone`: its own node in its own zone, else
    /// the zone's default node.
    pub fn node_in(&self, zone: &str) -> String {
        if zone == self.zone {
            self.node.clone()
        } else {
            node_of_zone(zone)
        }
    }

    /// Names of the dependencies.
    pub fn dependency_names(&self) -> Vec<String> {
        self.depends_on.iter().map(|d| d.name.clone()).collect()
    }
}

/// The default node of a zone: `node-<zone>`.
pub fn node_of_zone(zone: &str) -> String {
    format!("node-{zone}")
}

/// The default shop: frontend → api → {catalog, orders, auth}; catalog → {db, cache};
/// orders → {db, queue}; auth → {db}.
///
/// Sized for 200 rps at `frontend` so that every service runs at a utilization of
/// about 0.44–0.48, except `cache`, which is deliberately over-provisioned (≈0.29)
/// so that a 2.5× surge at `catalog` does not also overload it.
pub fn default_shop() -> Vec<ServiceSpec> {
    vec![
        ServiceSpec::new("frontend", 150.0)
            .calls("api", 1.0)
            .base_latency_ms(10),
        ServiceSpec::new("api", 150.0)
            .calls("catalog", 1.0)
            .calls("orders", 0.5)
            .calls("auth", 1.0)
            .base_latency_ms(8),
        ServiceSpec::new("catalog", 150.0)
            .calls("cache", 1.0)
            .calls("db", 1.0)
            .cache("cache", "db", 0.92)
            .pool("db", 3)
            .base_latency_ms(12),
        ServiceSpec::new("orders", 70.0)
            .calls("db", 1.0)
            .calls("queue", 1.0)
            .pool("db", 2)
            .base_latency_ms(15),
        ServiceSpec::new("auth", 140.0)
            .calls("db", 1.0)
            .pool("db", 3)
            .base_latency_ms(6),
        ServiceSpec::new("db", 330.0)
            .replicas(2)
            .base_latency_ms(5)
            .price(0.40),
        ServiceSpec::new("cache", 340.0)
            .replicas(2)
            .base_latency_ms(1)
            .price(0.20),
        ServiceSpec::new("queue", 110.0)
            .replicas(2)
            .base_latency_ms(3),
    ]
}

/// Check a list of services: unique names, known dependencies, no cycles, sane
/// numbers. Returns `(service index, message)` for every problem.
pub(crate) fn check_services(services: &[ServiceSpec]) -> Vec<(usize, String)> {
    let mut problems = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, s) in services.iter().enumerate() {
        if s.name.is_empty() {
            problems.push((i, "service name must not be empty".into()));
        }
        if seen.insert(&s.name, i).is_some() {
            problems.push((i, format!("duplicate service `{}`", s.name)));
        }
    }
    for (i, s) in services.iter().enumerate() {
        for d in &s.depends_on {
            if d.name == s.name {
                problems.push((i, format!("`{}` depends on itself", s.name)));
            } else if !seen.contains_key(d.name.as_str()) {
                problems.push((i, format!("unknown dependency `{}`", d.name)));
            }
            if !(d.call_ratio.is_finite() && d.call_ratio >= 0.0) {
                problems.push((i, format!("call ratio to `{}` must be ≥ 0", d.name)));
            }
        }
        if s.replicas == 0 {
            problems.push((i, "replicas must be at least 1".into()));
        }
        if !(s.capacity.is_finite() && s.capacity > 0.0) {
            problems.push((i, "capacity must be a positive number of requests/s".into()));
        }
        if !(s.memory_baseline > 0.0 && s.memory_baseline < 1.0) {
            problems.push((i, "memory_baseline must be in (0, 1)".into()));
        }
        if s.node.is_empty() {
            problems.push((i, "node must not be empty".into()));
        }
        if s.zone == s.standby_zone {
            problems.push((i, "standby_zone must differ from zone".into()));
        }
        let has = |n: &str| s.depends_on.iter().any(|d| d.name == n);
        if let Some(c) = &s.cache {
            for n in [&c.dependency, &c.backend] {
                if !has(n) {
                    problems.push((i, format!("cache uses `{n}`, which is not in depends_on")));
                }
            }
            if !(0.0..=1.0).contains(&c.hit_ratio) {
                problems.push((i, "cache hit_ratio must be in [0, 1]".into()));
            }
        }
        if let Some(p) = &s.pool {
            if !has(&p.dependency) {
                problems.push((
                    i,
                    format!("pool uses `{}`, which is not in depends_on", p.dependency),
                ));
            }
            if p.size == 0 {
                problems.push((i, "pool size must be at least 1".into()));
            }
        }
        if let Some(r) = s.throttle_rate
            && !(r.is_finite() && r > 0.0)
        {
            problems.push((i, "throttle_rate must be positive".into()));
        }
    }
    if problems.is_empty()
        && let Err(at) = topological_order(services)
    {
        problems.push((
            at,
            format!("dependency cycle through `{}`", services[at].name),
        ));
    }
    problems
}

/// Indices in an order where every caller comes before what it calls; `Err(i)`
/// names a service on a cycle. Unknown dependency names are ignored.
pub(crate) fn topological_order(services: &[ServiceSpec]) -> Result<Vec<usize>, usize> {
    let index: HashMap<&str, usize> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut callers = vec![0usize; services.len()];
    for s in services {
        for d in &s.depends_on {
            if let Some(&j) = index.get(d.name.as_str()) {
                callers[j] += 1;
            }
        }
    }
    let mut ready: Vec<usize> = (0..services.len()).filter(|&i| callers[i] == 0).collect();
    ready.reverse();
    let mut order = Vec::with_capacity(services.len());
    while let Some(i) = ready.pop() {
        order.push(i);
        for d in &services[i].depends_on {
            if let Some(&j) = index.get(d.name.as_str()) {
                callers[j] -= 1;
                if callers[j] == 0 {
                    ready.push(j);
                }
            }
        }
    }
    if order.len() == services.len() {
        Ok(order)
    } else {
        Err((0..services.len()).find(|&i| callers[i] > 0).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_shop_is_valid_and_ordered_callers_first() {
        let shop = default_shop();
        assert!(check_services(&shop).is_empty());
        let order = topological_order(&shop).expect("acyclic");
        let pos = |n: &str| {
            order
                .iter()
                .position(|&i| shop[i].name == n)
                .expect("present")
        };
        assert!(pos("frontend") < pos("api"));
        assert!(pos("api") < pos("catalog"));
        assert!(pos("catalog") < pos("db"));
        assert!(pos("orders") < pos("queue"));
    }

    #[test]
    fn cycles_and_unknown_dependencies_are_reported() {
        let cyclic = vec![
            ServiceSpec::new("a", 10.0).calls("b", 1.0),
            ServiceSpec::new("b", 10.0).calls("a", 1.0),
        ];
        let p = check_services(&cyclic);
        assert!(p.iter().any(|(_, m)| m.contains("cycle")), "{p:?}");
        let unknown = vec![ServiceSpec::new("a", 10.0).calls("zz", 1.0)];
        let p = check_services(&unknown);
        assert!(p.iter().any(|(_, m)| m.contains("unknown dependency `zz`")));
    }
}
