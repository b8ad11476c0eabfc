//! How long one monitor cycle takes against a real Prometheus, and how that compares
//! with the queries run one at a time.
//!
//! ```text
//! cargo run --release -p charter-monitor --example prom_cycle -- \
//!     --prometheus http://127.0.0.1:19090 [--objectives 100] [--rounds 30] [--in-flight 16,8]
//! ```
//!
//! The charter has N objectives over the Westworld simulator's metrics (`charter sim
//! serve`, scraped by that Prometheus), each an `expr:` rotating through a dozen
//! PromQL shapes (plain selectors, `*_over_time`, `rate`, aggregations by `service`),
//! over the shop's eight components. Each round measures:
//!
//! - the wall time of one `PrometheusSource::observe` over all N objectives, once per
//!   `--in-flight` setting;
//! - the wall time of each objective's query alone (`observe` on a one-objective
//!   charter), run one after the other; their sum is what a sequential monitor costs.
//!
//! One warm-up round (connections, Prometheus's caches) is run first and not counted.
//! Client and server share the machine, so on a small one the client's own work
//! (JSON parsing, sample mapping) counts against the server's.

use charter_model::{Charter, SourceSpec, Timestamp, parse_charter};
use charter_monitor::{MetricSource, PrometheusSource};
use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

const COMPONENTS: [&str; 8] = [
    "frontend", "api", "catalog", "orders", "auth", "db", "cache", "queue",
];

/// The PromQL shapes objectives rotate through; each returns one series per
/// `service`.
const EXPRS: [&str; 12] = [
    "westworld_latency_p99_seconds",
    "avg_over_time(westworld_cpu_utilization[1m])",
    "max by (service) (westworld_error_ratio)",
    "rate(westworld_restarts_total[5m])",
    "max_over_time(westworld_memory_utilization[5m])",
    "quantile_over_time(0.9, westworld_latency_p50_seconds[2m])",
    "avg by (service) (westworld_saturation)",
    "westworld_pool_utilization",
    "min_over_time(westworld_cache_hit_ratio[1m])",
    "sum by (service) (increase(westworld_restarts_total[10m]))",
    "avg_over_time(westworld_request_rate[5m])",
    "max by (service) (westworld_dependency_error_ratio)",
];

/// Command-line settings.
struct Settings {
    prometheus: String,
    objectives: usize,
    rounds: usize,
    in_flight: Vec<usize>,
}

impl Settings {
    fn from_args() -> Result<Settings, Box<dyn Error>> {
        let mut s = Settings {
            prometheus: String::new(),
            objectives: 100,
            rounds: 30,
            in_flight: vec![16, 8],
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--prometheus" => s.prometheus = value()?,
                "--objectives" => s.objectives = value()?.parse()?,
                "--rounds" => s.rounds = value()?.parse()?,
                "--in-flight" => {
                    s.in_flight = value()?
                        .split(',')
                        .map(|x| x.trim().parse::<usize>())
                        .collect::<Result<_, _>>()?;
                }
                "-h" | "--help" => {
                    println!(
                        "usage: prom_cycle --prometheus URL [--objectives N] [--rounds R] \
                         [--in-flight A,B,...]"
                    );
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument `{other}`").into()),
            }
        }
        if s.prometheus.is_empty() {
            return Err("--prometheus URL is required".into());
        }
        if s.objectives == 0 || s.rounds == 0 || s.in_flight.contains(&0) {
            return Err("--objectives, --rounds and --in-flight must be positive".into());
        }
        Ok(s)
    }
}

fn charter_yaml(url: &str, objectives: usize) -> String {
    let mut y = format!(
        "name: prom-cycle\ninterval: 15s\n\
         source:\n  prometheus: {{ url: \"{url}\", timeout: 10s, retries: 0 }}\n\
         components:\n"
    );
    for c in COMPONENTS {
        let _ = writeln!(y, "  - {{ name: {c} }}");
    }
    y.push_str("objectives:\n");
    for i in 0..objectives {
        let _ = writeln!(
            y,
            "  - name: q{i}\n    expr: '{}'\n    component_label: service\n    \
             above: {{ warning: 1000000000 }}\n    remedies: [scale_out]",
            EXPRS[i % EXPRS.len()]
        );
    }
    y
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank.
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Median and p90 of some durations.
fn stats(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (percentile(&v, 0.5), percentile(&v, 0.9))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn cpu_model() -> (String, usize) {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|x| x.1))
        .map_or_else(|| "unknown".to_string(), |m| m.trim().to_string());
    let count = info.lines().filter(|l| l.starts_with("processor")).count();
    (model, count)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

async fn prometheus_version(url: &str) -> String {
    let get = async {
        let v: serde_json::Value = reqwest::Client::builder()
            .no_proxy()
            .build()?
            .get(format!("{url}/api/v1/status/buildinfo"))
            .send()
            .await?
            .json()
            .await?;
        Ok::<_, reqwest::Error>(v["data"]["version"].as_str().unwrap_or("?").to_string())
    };
    get.await.unwrap_or_else(|e| format!("unknown ({e})"))
}

/// What one `observe` saw: its wall time, its samples and how many were Unknown.
struct Reading {
    took: Duration,
    samples: usize,
    unknown: usize,
    problem: Option<String>,
}

async fn observe(source: &PrometheusSource, charter: &Charter) -> Result<Reading, Box<dyn Error>> {
    let started = Instant::now();
    let obs = source.observe(charter, Timestamp::now_wall()).await?;
    let took = started.elapsed();
    Ok(Reading {
        took,
        samples: obs.samples.len(),
        unknown: obs.samples.iter().filter(|s| s.value.is_none()).count(),
        problem: obs.problems.into_iter().next(),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let s = Settings::from_args()?;
    let url = s.prometheus.trim_end_matches('/').to_string();
    let (charter, _warnings) = parse_charter(
        &charter_yaml(&url, s.objectives),
        "prom_cycle.yaml",
        Path::new("."),
    )?;
    let SourceSpec::Prometheus(spec) = &charter.source else {
        return Err("the generated charter has no prometheus source".into());
    };
    let sources: Vec<(usize, PrometheusSource)> = s
        .in_flight
        .iter()
        .map(|&f| {
            let mut spec = spec.clone();
            spec.max_in_flight = f;
            PrometheusSource::new(&spec).map(|src| (f, src))
        })
        .collect::<Result<_, _>>()?;
    let singles: Vec<Charter> = charter
        .objectives
        .iter()
        .map(|o| Charter {
            objectives: vec![o.clone()],
            ..charter.clone()
        })
        .collect();
    let single_source = PrometheusSource::new(spec)?;

    let (model, cpus) = cpu_model();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "machine: nproc {nproc}, {cpus} × {model}; load average {}",
        loadavg()
    );
    println!(
        "prometheus: {url} (version {})",
        prometheus_version(&url).await
    );
    println!(
        "charter: {} objectives × {} components, {} rounds after 1 warm-up round",
        s.objectives,
        COMPONENTS.len(),
        s.rounds
    );

    let mut cycles: Vec<Vec<Duration>> = vec![Vec::new(); sources.len()];
    let mut single_times = Vec::new();
    let mut sums = Vec::new();
    let (mut samples, mut unknown) = (0usize, 0usize);
    let mut problem = None;
    for round in 0..=s.rounds {
        let warm_up = round == 0;
        // Alternate which setting goes first, so neither always runs on a cold server.
        for k in 0..sources.len() {
            let i = (k + round) % sources.len();
            let r = observe(&sources[i].1, &charter).await?;
            if !warm_up {
                cycles[i].push(r.took);
                samples += r.samples;
                unknown += r.unknown;
                problem = problem.or(r.problem);
            }
        }
        let mut sum = Duration::ZERO;
        for one in &singles {
            let r = observe(&single_source, one).await?;
            sum += r.took;
            if !warm_up {
                single_times.push(r.took);
            }
        }
        if !warm_up {
            sums.push(sum);
        }
    }

    let (single_med, single_p90) = stats(single_times);
    let (sum_med, sum_p90) = stats(sums);
    println!();
    println!("{:<38} {:>10} {:>10}", "", "median", "p90");
    let mut cycle_meds = Vec::new();
    for (i, (f, _)) in sources.iter().enumerate() {
        let (med, p90) = stats(cycles[i].clone());
        cycle_meds.push((*f, med));
        println!(
            "{:<38} {:>10} {:>10}",
            format!("cycle, {} objectives, in flight {f}", s.objectives),
            ms(med),
            ms(p90)
        );
    }
    println!(
        "{:<38} {:>10} {:>10}",
        "single query (alone)",
        ms(single_med),
        ms(single_p90)
    );
    println!(
        "{:<38} {:>10} {:>10}",
        "sum of single queries (sequential)",
        ms(sum_med),
        ms(sum_p90)
    );
    println!();
    for (f, med) in &cycle_meds {
        println!(
            "in flight {f}: cycle / single-query median = {:.1}; sequential sum / cycle = {:.2}×",
            med.as_secs_f64() / single_med.as_secs_f64().max(1e-9),
            sum_med.as_secs_f64() / med.as_secs_f64().max(1e-9),
        );
    }
    println!(
        "unknown samples in cycles: {unknown} of {samples}{}",
        problem.map_or_else(String::new, |p| format!(" (first problem: {p})"))
    );
    println!("load average at end: {}", loadavg());
    Ok(())
}
