//! Scenario files: topology, traffic, timed faults and flaps, parsed from YAML and
//! validated.
//!
//! [`ScenarioConfig`] is the raw serde parse (unknown keys are errors, values keep
//! their source locations); [`Scenario::from_yaml`] validates it, collecting every
//! semantic error at once with `file:line:col` and the key path.

use crate::fault::{Fault, FaultEffect, FaultKind, GroundTruth};
use crate::flap::{FLAPPABLE, Flap};
use crate::topology::{CacheSpec, Dependency, PoolSpec, ServiceSpec, check_services, default_shop};
use charter_model::ActionKind;
use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

type S<T> = Spanned<T>;

// `BUILTIN`: every `scenarios/*.yaml` by file stem, listed by `build.rs`, so that
// adding a scenario needs only a new file.
include!(concat!(env!("OUT_DIR"), "/builtin_scenarios.rs"));

/// How the offered load varies over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrafficPattern {
    /// Constant.
    Flat,
    /// A sine of ±20% with a 24 h period, rising from the start of the run.
    Diurnal,
}

/// The load that enters the system.
#[derive(Debug, Clone, PartialEq)]
pub struct Traffic {
    /// Requests per second entering at every service nobody calls.
    pub rps: f64,
    pub pattern: TrafficPattern,
    /// Standard deviation of the multiplicative load noise (0.03 = 3%).
    pub noise: f64,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic {
            rps: 200.0,
            pattern: TrafficPattern::Flat,
            noise: 0.03,
        }
    }
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// The seed used when a run does not choose one.
    pub seed: u64,
    pub duration: Duration,
    /// Virtual time per simulation step.
    pub step: Duration,
    pub traffic: Traffic,
    pub services: Vec<ServiceSpec>,
    pub faults: Vec<Fault>,
    /// Deploys that are not faults (changes that may mislead a diagnosis).
    pub deploys: Vec<Deploy>,
    /// Short spikes of a metric that are not faults (nothing to fix).
    pub flaps: Vec<Flap>,
}

/// A deploy that is not a fault: at `at`, `ci` rolls out the next version of
/// `target`, which works as well as the one before. With a one-way schema migration
/// the previous version can no longer start, so rolling back to it stalls the
/// rollout with one replica crash-looping until the service is rolled forward.
#[derive(Debug, Clone, PartialEq)]
pub struct Deploy {
    /// The service deployed.
    pub target: String,
    /// When, from the start of the run.
    pub at: Duration,
    /// The new version migrates the schema one way.
    pub one_way_migration: bool,
}

impl Scenario {
    /// The default shop under default traffic, without faults: a builder for tests
    /// and for programmatic scenarios.
    pub fn default_shop(name: &str, duration: Duration) -> Self {
        Scenario {
            name: name.to_string(),
            description: String::new(),
            seed: 1,
            duration,
            step: Duration::from_secs(1),
            traffic: Traffic::default(),
            services: default_shop(),
            faults: Vec::new(),
            deploys: Vec::new(),
            flaps: Vec::new(),
        }
    }

    /// Add a fault.
    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Add a deploy that is not a fault.
    pub fn with_deploy(mut self, deploy: Deploy) -> Self {
        self.deploys.push(deploy);
        self
    }

    /// Add a flap (a short periodic spike of a metric, not a fault).
    pub fn with_flap(mut self, flap: Flap) -> Self {
        self.flaps.push(flap);
        self
    }

    /// Parse and validate scenario text; `file` names it in messages.
    pub fn from_yaml(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let raw: ScenarioConfig = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            ScenarioError::Invalid(vec![ScenarioIssue {
                file: file.to_string(),
                line: line.max(1),
                column: column.max(1),
                path: "(document)".into(),
                message: structural_message(&e),
            }])
        })?;
        validate(raw, file)
    }

    /// Read and validate a scenario file.
    pub fn load(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::from_yaml(&text, &path.display().to_string())
    }

    /// A scenario embedded from `scenarios/*.yaml`, by file stem (e.g. `demo`).
    pub fn builtin(name: &str) -> Option<Scenario> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        Scenario::from_yaml(text, &format!("scenarios/{name}.yaml")).ok()
    }

    /// Names of the embedded scenarios.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// What is true about each fault: root cause, right remedy, when. Deploys and
    /// flaps are not faults and have none.
    pub fn ground_truth(&self) -> Vec<GroundTruth> {
        self.faults
            .iter()
            .map(|f| GroundTruth {
                kind: f.kind(),
                root_cause: f.target.clone(),
                remedy: f.remedy,
                at: f.at,
                until: f.until(),
            })
            .collect()
    }
}

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
fn structural_message(e: &serde_saphyr::Error) -> String {
    let full = e.without_snippet().to_string();
    let first = full.lines().next().unwrap_or("invalid document").trim();
    let cut = first.find(" at line ").map_or(first, |i| &first[..i]);
    cut.trim_end_matches('.').to_string()
}

/// The scenario as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioConfig {
    pub name: S<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub duration: Option<S<String>>,
    #[serde(default)]
    pub step: Option<S<String>>,
    #[serde(default)]
    pub traffic: Option<TrafficConfig>,
    #[serde(default)]
    pub services: Option<S<ServicesConfig>>,
    #[serde(default)]
    pub faults: Vec<FaultConfig>,
    #[serde(default)]
    pub deploys: Vec<DeployConfig>,
    #[serde(default)]
    pub flaps: Vec<FlapConfig>,
}

/// One flap as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlapConfig {
    pub target: S<String>,
    pub metric: S<String>,
    pub factor: S<f64>,
    pub at: S<String>,
    pub every: S<String>,
    pub length: S<String>,
    #[serde(default)]
    pub until: Option<S<String>>,
}

/// One deploy that is not a fault, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    pub target: S<String>,
    pub at: S<String>,
    #[serde(default)]
    pub one_way_migration: bool,
}

/// `traffic:` — the offered load.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficConfig {
    #[serde(default)]
    pub rps: Option<S<f64>>,
    #[serde(default)]
    pub pattern: Option<S<String>>,
    #[serde(default)]
    pub noise: Option<S<f64>>,
}

/// `services:` — `default` or an inline list.
#[derive(Debug)]
pub enum ServicesConfig {
    Preset(String),
    Inline(Vec<ServiceConfig>),
}

impl<'de> Deserialize<'de> for ServicesConfig {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ServicesConfig;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`default` or a list of services")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ServicesConfig::Preset(v.to_string()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(ServicesConfig::Inline)
            }
        }
        d.deserialize_any(V)
    }
}

/// One inline service.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub name: S<String>,
    #[serde(default)]
    pub depends_on: Vec<S<String>>,
    /// Calls per request to a dependency, by name (default 1.0).
    #[serde(default)]
    pub call_ratio: BTreeMap<String, S<f64>>,
    #[serde(default)]
    pub replicas: Option<u32>,
    /// Requests per second per replica.
    #[serde(default)]
    pub capacity: Option<f64>,
    #[serde(default)]
    pub base_latency: Option<S<String>>,
    #[serde(default)]
    pub startup_delay: Option<S<String>>,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub standby_zone: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub memory_baseline: Option<f64>,
    #[serde(default)]
    pub cache: Option<CacheConfig>,
    #[serde(default)]
    pub pool: Option<PoolConfig>,
    #[serde(default)]
    pub throttle_rate: Option<f64>,
    #[serde(default)]
    pub price_per_hour: Option<f64>,
}

/// `cache:` of an inline service.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    pub dependency: String,
    pub backend: String,
    #[serde(default)]
    pub hit_ratio: Option<f64>,
}

/// `pool:` of an inline service.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    pub dependency: String,
    pub size: u32,
}

/// One fault as written; the kind's parameters sit beside the common keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    pub kind: S<String>,
    pub target: S<String>,
    pub at: S<String>,
    #[serde(default)]
    pub duration: Option<S<String>>,
    #[serde(default)]
    pub remedy: Option<S<String>>,
    #[serde(default)]
    pub factor: Option<S<f64>>,
    #[serde(default)]
    pub rate: Option<S<f64>>,
    #[serde(default)]
    pub error_ratio: Option<S<f64>>,
    #[serde(default)]
    pub hit_ratio: Option<S<f64>>,
    #[serde(default)]
    pub pool_size: Option<S<u32>>,
    #[serde(default)]
    pub loss: Option<S<f64>>,
}

struct Issues<'a> {
    file: &'a str,
    list: Vec<ScenarioIssue>,
}

impl Issues<'_> {
    fn at<T>(&mut self, span: &S<T>, path: impl Into<String>, message: impl Into<String>) {
        self.list.push(ScenarioIssue {
            file: self.file.to_string(),
            line: span.referenced.line().max(1),
            column: span.referenced.column().max(1),
            path: path.into(),
            message: message.into(),
        });
    }

    fn duration(&mut self, v: &S<String>, path: &str) -> Option<Duration> {
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

    fn ratio(&mut self, v: &S<f64>, path: &str) -> f64 {
        if !(0.0..=1.0).contains(&v.value) {
            self.at(v, path, format!("must be in [0, 1], got {}", v.value));
        }
        v.value.clamp(0.0, 1.0)
    }
}

fn validate(raw: ScenarioConfig, file: &str) -> Result<Scenario, ScenarioError> {
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
fn check_target(
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
fn start_time(
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
            s.zone = z.clone();
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

fn validate_fault(
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
    check_target(is, &f.target, &format!("{p}.target"), services);
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
        FaultEffect::NoisyNeighbour { loss } => {
            let loss = match &f.loss {
                Some(v) if !(0.0..1.0).contains(&v.value) => {
                    is.at(v, format!("{p}.loss"), "must be in [0, 1)");
                    loss
                }
                Some(v) => v.value,
                None => loss,
            };
            FaultEffect::NoisyNeighbour { loss }
        }
        e @ (FaultEffect::DependencyOutage | FaultEffect::ZoneOutage) => e,
    };
    target?;
    Some(Fault {
        effect,
        target: f.target.value.clone(),
        at: at?,
        duration,
        remedy: remedy.unwrap_or(kind.default_remedy()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
name: memory-leak
description: orders leaks memory until restarted
seed: 7
duration: 40m
step: 1s
traffic: { rps: 200, pattern: flat, noise: 0.03 }
services: default
faults:
  - { kind: memory_leak, target: orders, at: 5m, duration: 20m, rate: 0.04 }
";

    fn issues(text: &str) -> Vec<ScenarioIssue> {
        match Scenario::from_yaml(text, "s.yaml") {
            Err(ScenarioError::Invalid(list)) => list,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_documented_example() {
        let s = Scenario::from_yaml(GOOD, "s.yaml").expect("valid");
        assert_eq!(s.seed, 7);
        assert_eq!(s.duration, Duration::from_secs(2400));
        assert_eq!(s.services.len(), 8);
        assert_eq!(s.faults[0].effect, FaultEffect::MemoryLeak { rate: 0.04 });
        let gt = s.ground_truth();
        assert_eq!(gt[0].root_cause, "orders");
        assert_eq!(gt[0].remedy, ActionKind::Restart);
        assert_eq!(gt[0].until, Some(Duration::from_secs(1500)));
    }

    #[test]
    fn unknown_key_is_located() {
        let list = issues("name: x\nduraton: 5m\n");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].line, 2, "{list:?}");
        assert!(list[0].message.contains("duraton"), "{list:?}");
    }

    #[test]
    fn semantic_errors_are_all_reported_with_lines() {
        let text = "\
name: x
duration: 10m
faults:
  - { kind: meteor_strike, target: db, at: 1m }
  - { kind: traffic_surge, target: nowhere, at: 2m }
  - { kind: bad_deploy, target: auth, at: 3m, rate: 0.1 }
  - { kind: memory_leak, target: orders, at: 20m }
";
        let list = issues(text);
        let lines: Vec<u64> = list.iter().map(|i| i.line).collect();
        assert_eq!(lines, vec![4, 5, 6, 7], "{list:?}");
        assert!(
            list[0]
                .message
                .contains("unknown fault kind `meteor_strike`")
        );
        assert!(list[1].message.contains("unknown service `nowhere`"));
        assert!(
            list[2]
                .message
                .contains("`rate` does not apply to bad_deploy")
        );
        assert!(list[3].message.contains("after the scenario ends"));
        let shown = ScenarioError::Invalid(list).to_string();
        assert!(shown.contains("s.yaml:4:"), "{shown}");
    }

    #[test]
    fn inline_services_are_validated() {
        let text = "\
name: tiny
services:
  - { name: web, depends_on: [store], capacity: 100 }
  - { name: store, depends_on: [web], capacity: 100 }
";
        let list = issues(text);
        assert!(list.iter().any(|i| i.message.contains("cycle")), "{list:?}");

        let ok = "\
name: tiny
services:
  - name: web
    depends_on: [store]
    call_ratio: { store: 2.0 }
    capacity: 100
    base_latency: 5ms
  - { name: store, capacity: 300, replicas: 1 }
faults:
  - { kind: dependency_outage, target: store, at: 1m, duration: 5m }
";
        let s = Scenario::from_yaml(ok, "tiny.yaml").expect("valid");
        assert_eq!(s.services[0].depends_on[0].call_ratio, 2.0);
        assert_eq!(s.services[0].base_latency, Duration::from_millis(5));
        assert_eq!(s.services[1].replicas, 1);
    }

    #[test]
    fn every_builtin_parses() {
        for name in Scenario::builtin_names() {
            let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name).expect("listed");
            if let Err(e) = Scenario::from_yaml(text, name) {
                panic!("{name}: {e}");
            }
        }
        assert!(Scenario::builtin("demo").is_some());
        assert!(Scenario::builtin("nope").is_none());
    }
}
