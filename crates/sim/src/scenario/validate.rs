//! A parsed scenario file checked into a [`Scenario`], every semantic error collected
//! with `file:line:col` and the key path.

use super::config::{FlapConfig, S, ScenarioConfig, ServiceConfig, ServicesConfig, TrafficConfig};
use super::faults::validate_fault;
use super::{Deploy, MetricGap, Scenario, Traffic, TrafficPattern};
use crate::flap::{FLAPPABLE, Flap};
use crate::topology::{CacheSpec, Dependency, PoolSpec, ServiceSpec, check_services, default_shop};
use std::fmt;
use std::time::Duration;

/// One problem found in a scenario, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioIssue {
    pub file: String,
    pub line: u64,
    pub column: u64,
    /// The key path, e.g. `faults[1].target`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for ScenarioIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.path, self.message
        )
    }
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", fmt_issues(.0))]
    Invalid(Vec<ScenarioIssue>),
}

impl ScenarioError {
    /// The located problems (empty for a read error).
    pub fn issues(&self) -> &[ScenarioIssue] {
        match self {
            ScenarioError::Invalid(list) => list,
            ScenarioError::Read { .. } => &[],
        }
    }
}

fn fmt_issues(issues: &[ScenarioIssue]) -> String {
    let mut s = format!("scenario is invalid ({} error(s))", issues.len());
    for i in issues {
        s.push_str("\n  ");
        s.push_str(&i.to_string());
    }
    s
}

/// serde-saphyr's message without its snippet or trailing location, since the
/// location is printed separately.
pub(super) fn structural_message(e: &serde_saphyr::Error) -> String {
    let full = e.without_snippet().to_string();
    let first = full.lines().next().unwrap_or("invalid document").trim();
    let cut = first.find(" at line ").map_or(first, |i| &first[..i]);
    cut.trim_end_matches('.').to_string()
}

pub(super) struct Issues<'a> {
    file: &'a str,
    list: Vec<ScenarioIssue>,
}

impl Issues<'_> {
    pub(super) fn at<T>(
        &mut self,
        span: &S<T>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.list.push(ScenarioIssue {
            file: self.file.to_string(),
            line: span.referenced.line().max(1),
            column: span.referenced.column().max(1),
            path: path.into(),
            message: message.into(),
        });
    }

    pub(super) fn duration(&mut self, v: &S<String>, path: &str) -> Option<Duration> {
        match humantime::parse_duration(v.value.trim()) {
            Ok(d) => Some(d),
            Err(e) => {
                self.at(
                    v,
                    path,
                    format!(
                        "invalid duration `{}`: {e} (write e.g. 30s, 5m, 1h)",
                        v.value
                    ),
                );
                None
            }
        }
    }

    fn opt_duration(&mut self, v: &Option<S<String>>, path: &str, default: Duration) -> Duration {
        v.as_ref()
            .and_then(|s| self.duration(s, path))
            .unwrap_or(default)
    }

    pub(super) fn ratio(&mut self, v: &S<f64>, path: &str) -> f64 {
        if !(0.0..=1.0).contains(&v.value) {
            self.at(v, path, format!("must be in [0, 1], got {}", v.value));
        }
        v.value.clamp(0.0, 1.0)
    }
}

pub(super) fn validate(raw: ScenarioConfig, file: &str) -> Result<Scenario, ScenarioError> {
    let mut is = Issues {
        file,
        list: Vec::new(),
    };
    if raw.name.value.trim().is_empty() {
        is.at(&raw.name, "name", "must not be empty");
    }
    let duration = is.opt_duration(&raw.duration, "duration", Duration::from_secs(3600));
    let step = is.opt_duration(&raw.step, "step", Duration::from_secs(1));
    if let Some(s) = &raw.step
        && (step.is_zero() || step > Duration::from_secs(60))
    {
        is.at(s, "step", "must be between 1ms and 60s");
    }
    if let Some(d) = &raw.duration
        && duration.is_zero()
    {
        is.at(d, "duration", "must be positive");
    }

    let traffic = validate_traffic(&mut is, raw.traffic.as_ref());
    let services = match &raw.services {
        None => default_shop(),
        Some(s) => match &s.value {
            ServicesConfig::Preset(p) if p == "default" => default_shop(),
            ServicesConfig::Preset(p) => {
                is.at(
                    s,
                    "services",
                    format!("unknown topology `{p}` (write `default` or a list of services)"),
                );
                default_shop()
            }
            ServicesConfig::Inline(list) => validate_services(&mut is, list),
        },
    };

    let mut faults = Vec::new();
    for (i, f) in raw.faults.iter().enumerate() {
        if let Some(fault) = validate_fault(&mut is, f, i, &services, duration) {
            faults.push(fault);
        }
    }
    let mut deploys = Vec::new();
    for (i, d) in raw.deploys.iter().enumerate() {
        let p = format!("deploys[{i}]");
        let known = check_target(&mut is, &d.target, &format!("{p}.target"), &services);
        let at = start_time(&mut is, &d.at, &format!("{p}.at"), duration);
        if let (true, Some(at)) = (known, at) {
            deploys.push(Deploy {
                target: d.target.value.clone(),
                at,
                one_way_migration: d.one_way_migration,
            });
        }
    }

    let mut flaps = Vec::new();
    for (i, f) in raw.flaps.iter().enumerate() {
        if let Some(flap) = validate_flap(&mut is, f, i, &services, duration) {
            flaps.push(flap);
        }
    }

    let mut metric_gaps = Vec::new();
    for (i, g) in raw.metric_gaps.iter().enumerate() {
        let p = format!("metric_gaps[{i}]");
        let known = check_target(&mut is, &g.target, &format!("{p}.target"), &services);
        let at = start_time(&mut is, &g.at, &format!("{p}.at"), duration);
        let length = is.duration(&g.duration, &format!("{p}.duration"));
        if length.is_some_and(|l| l.is_zero()) {
            is.at(&g.duration, format!("{p}.duration"), "must be positive");
        }
        if let (true, Some(at), Some(length)) = (known, at, length.filter(|l| !l.is_zero())) {
            metric_gaps.push(MetricGap {
                target: g.target.value.clone(),
                at,
                duration: length,
            });
        }
    }

    if !is.list.is_empty() {
        is.list.sort_by_key(|i| (i.line, i.column));
        return Err(ScenarioError::Invalid(is.list));
    }
    Ok(Scenario {
        name: raw.name.value,
        description: raw.description.unwrap_or_default(),
        seed: raw.seed.unwrap_or(1),
        duration,
        step,
        traffic,
        services,
        faults,
        deploys,
        flaps,
        metric_gaps,
    })
}

fn validate_flap(
    is: &mut Issues<'_>,
    f: &FlapConfig,
    i: usize,
    services: &[ServiceSpec],
    scenario_duration: Duration,
) -> Option<Flap> {
    let p = format!("flaps[{i}]");
    let known = check_target(is, &f.target, &format!("{p}.target"), services);
    let metric_ok = FLAPPABLE.contains(&f.metric.value.as_str());
    if !metric_ok {
        let why = if crate::world::METRICS.contains(&f.metric.value.as_str()) {
            format!(
                "`{}` cannot flap: it is a count or is 0 when healthy",
                f.metric.value
            )
        } else {
            format!("unknown metric `{}`", f.metric.value)
        };
        is.at(
            &f.metric,
            format!("{p}.metric"),
            format!("{why} (flappable: {})", FLAPPABLE.join(", ")),
        );
    }
    let factor_ok = f.factor.value.is_finite() && f.factor.value > 0.0;
    if !factor_ok {
        is.at(
            &f.factor,
            format!("{p}.factor"),
            format!("must be a positive number, got {}", f.factor.value),
        );
    }
    let at = start_time(is, &f.at, &format!("{p}.at"), scenario_duration);
    let every = is.duration(&f.every, &format!("{p}.every"));
    let length = is.duration(&f.length, &format!("{p}.length"));
    if length.is_some_and(|l| l.is_zero()) {
        is.at(&f.length, format!("{p}.length"), "must be positive");
    }
    if let (Some(every), Some(length)) = (every, length)
        && every <= length
    {
        is.at(
            &f.every,
            format!("{p}.every"),
            format!(
                "must be longer than `length` ({}), or the metric never comes back",
                humantime::format_duration(length)
            ),
        );
    }
    let until = f
        .until
        .as_ref()
        .and_then(|u| Some((u, is.duration(u, &format!("{p}.until"))?)));
    if let (Some((span, until)), Some(at)) = (until, at)
        && until <= at
    {
        is.at(span, format!("{p}.until"), "must be after `at`");
    }
    if !(known && metric_ok && factor_ok) {
        return None;
    }
    Some(Flap {
        target: f.target.value.clone(),
        metric: f.metric.value.clone(),
        factor: f.factor.value,
        at: at?,
        every: every?,
        length: length.filter(|l| !l.is_zero())?,
        until: until.map(|(_, u)| u),
    })
}

/// Whether `target` names a service; reports it if not.
pub(super) fn check_target(
    is: &mut Issues<'_>,
    target: &S<String>,
    path: &str,
    services: &[ServiceSpec],
) -> bool {
    if services.iter().any(|s| s.name == target.value) {
        return true;
    }
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    is.at(
        target,
        path,
        format!(
            "unknown service `{}` (services: {})",
            target.value,
            names.join(", ")
        ),
    );
    false
}

/// A start time, which must not be after the scenario's end.
pub(super) fn start_time(
    is: &mut Issues<'_>,
    at: &S<String>,
    path: &str,
    scenario_duration: Duration,
) -> Option<Duration> {
    let t = is.duration(at, path)?;
    if t > scenario_duration {
        is.at(at, path, "starts after the scenario ends");
    }
    Some(t)
}

fn validate_traffic(is: &mut Issues<'_>, t: Option<&TrafficConfig>) -> Traffic {
    let mut traffic = Traffic::default();
    let Some(t) = t else { return traffic };
    if let Some(r) = &t.rps {
        if !(r.value.is_finite() && r.value >= 0.0) {
            is.at(r, "traffic.rps", "must be a non-negative number");
        } else {
            traffic.rps = r.value;
        }
    }
    if let Some(p) = &t.pattern {
        match p.value.as_str() {
            "flat" => traffic.pattern = TrafficPattern::Flat,
            "diurnal" => traffic.pattern = TrafficPattern::Diurnal,
            other => is.at(
                p,
                "traffic.pattern",
                format!("unknown pattern `{other}` (expected flat or diurnal)"),
            ),
        }
    }
    if let Some(n) = &t.noise {
        if !(0.0..=0.5).contains(&n.value) {
            is.at(n, "traffic.noise", "must be in [0, 0.5]");
        } else {
            traffic.noise = n.value;
        }
    }
    traffic
}

fn validate_services(is: &mut Issues<'_>, list: &[ServiceConfig]) -> Vec<ServiceSpec> {
    let mut specs = Vec::with_capacity(list.len());
    for (i, c) in list.iter().enumerate() {
        let p = format!("services[{i}]");
        let mut s = ServiceSpec::new(&c.name.value, c.capacity.unwrap_or(100.0));
        for d in &c.depends_on {
            s.depends_on.push(Dependency {
                name: d.value.clone(),
                call_ratio: 1.0,
            });
        }
        for (dep, ratio) in &c.call_ratio {
            match s.depends_on.iter_mut().find(|d| &d.name == dep) {
                Some(d) => d.call_ratio = ratio.value,
                None => is.at(
                    ratio,
                    format!("{p}.call_ratio.{dep}"),
                    format!("`{dep}` is not in depends_on"),
                ),
            }
        }
        if let Some(n) = c.replicas {
            s.replicas = n;
        }
        if let Some(d) = &c.base_latency {
            s.base_latency = is
                .duration(d, &format!("{p}.base_latency"))
                .unwrap_or(s.base_latency);
        }
        if let Some(d) = &c.startup_delay {
            s.startup_delay = is
                .duration(d, &format!("{p}.startup_delay"))
                .unwrap_or(s.startup_delay);
        }
        if let Some(z) = &c.zone {
            s = s.zone(z);
        }
        if let Some(n) = &c.node {
            s.node = n.clone();
        }
        if let Some(z) = &c.standby_zone {
            s.standby_zone = z.clone();
        }
        if let Some(v) = &c.version {
            s.version = v.clone();
        }
        if let Some(m) = c.memory_baseline {
            s.memory_baseline = m;
        }
        s.cache = c.cache.as_ref().map(|k| CacheSpec {
            dependency: k.dependency.clone(),
            backend: k.backend.clone(),
            hit_ratio: k.hit_ratio.unwrap_or(0.9),
        });
        s.pool = c.pool.as_ref().map(|k| PoolSpec {
            dependency: k.dependency.clone(),
            size: k.size,
        });
        s.throttle_rate = c.throttle_rate;
        if let Some(price) = c.price_per_hour {
            s.price_per_hour = price;
        }
        specs.push(s);
    }
    for (i, message) in check_services(&specs) {
        is.at(&list[i].name, format!("services[{i}]"), message);
    }
    specs
}
