//! The scenario file as written: the raw serde parse, unknown keys refused and values
//! kept with their source locations.

use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::fmt;

pub(super) type S<T> = Spanned<T>;

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
    #[serde(default)]
    pub metric_gaps: Vec<MetricGapConfig>,
}

/// One metric gap as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricGapConfig {
    pub target: S<String>,
    pub at: S<String>,
    pub duration: S<String>,
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
    /// The node (host) in its zone; default `node-<zone>`.
    #[serde(default)]
    pub node: Option<String>,
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
