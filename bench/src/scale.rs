//! `scale`: the cost of one loop cycle, peak memory and simulator speed as the
//! system grows.
//!
//! For each size, a child process (this binary, re-run with a hidden flag) builds
//! the synthetic system of [`workload`], brings the loop to its steady state, times
//! many cycles (median, p99, per stage), reads its peak resident memory (`VmHWM`)
//! and then times the simulator on as many services. The parent checks the growth
//! between sizes against n log n and writes the table, JSON, Markdown and a log–log
//! SVG plot.

pub mod workload;

use anyhow::{Context, Result, bail};
use charter_orchestrator::Stages;
use charter_sim::{Fault, FaultKind, Scenario, ServiceSpec, World};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use workload::{Workload, layered_dag};

/// Growth between two sizes passes when the time ratio is at most this factor times
/// the n log n ratio (timing noise on a shared machine).
pub const GROWTH_TOLERANCE: f64 = 1.25;
/// Cycles run before timing starts (after the hour that fills the history).
const WARM_CYCLES: usize = 20;
/// Sizes above this run a fifth of `--cycles` (at least 20).
const LARGE: usize = 1_000;

/// Options of `charter-bench scale`.
#[derive(clap::Args)]
pub struct ScaleArgs {
    /// Component counts (15 objectives each).
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000,10000")]
    sizes: Vec<usize>,
    /// Timed cycles per size up to 1,000 components; larger sizes run a fifth (≥ 20).
    #[arg(long, default_value_t = 300)]
    cycles: usize,
    /// Seed of the synthetic system and its churn.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write results.json, results.md and scale.svg into this folder.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run one size in this process and print its result as JSON (used by the parent).
    #[arg(long, hide = true)]
    child: Option<usize>,
}

/// Medians of each stage of the tick, in milliseconds ([`Stages`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PhaseMs {
    pub read: f64,
    pub monitor: f64,
    pub analyze: f64,
    pub plan: f64,
    pub execute: f64,
}

/// Mean work per timed cycle.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Load {
    pub faulty_components: f64,
    pub transitions: f64,
    pub open_violations: f64,
    pub incidents: f64,
    /// Violations that ever joined the largest open incident.
    pub largest_incident_violations: f64,
    pub diagnoses: f64,
    pub windows: f64,
    pub decisions: f64,
    /// Steps applied.
    pub actions: f64,
}

/// Simulator speed on one synthetic topology.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimSpeed {
    pub services: usize,
    pub virtual_secs: f64,
    pub wall_secs: f64,
    /// Virtual seconds per wall second.
    pub speed: f64,
}

/// One size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SizeResult {
    pub components: usize,
    pub series: usize,
    pub cycles: usize,
    pub median_ms: f64,
    /// The mean cycle: the loop's work per interval (diagnoses run in some cycles
    /// only, fewer of them on small systems).
    pub mean_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub phases_median_ms: PhaseMs,
    pub load: Load,
    /// Peak resident set of the child process, in MB (10^6 bytes).
    pub peak_mb: f64,
    /// Wall time of setup and warm-up, in seconds.
    pub setup_secs: f64,
    pub sim: SimSpeed,
}

/// Growth from one size to the next.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Growth {
    pub from_series: usize,
    pub to_series: usize,
    /// t(to) / t(from), medians.
    pub time_ratio: f64,
    /// (s log s)(to) / (s log s)(from).
    pub nlogn_ratio: f64,
    /// Log–log slope: ln(time ratio) / ln(series ratio); 1 is linear.
    pub slope: f64,
    pub ok: bool,
}

/// The 50-service hour.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimHour {
    pub services: usize,
    pub runs: usize,
    pub median_wall_secs: f64,
    pub speed: f64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub machine: String,
    pub sizes: Vec<SizeResult>,
    pub growth: Vec<Growth>,
    pub sim_hour: SimHour,
    pub targets: Vec<Target>,
}

/// A target of the issue and whether it is met.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub what: String,
    pub measured: String,
    pub met: Option<bool>,
}

/// Run `charter-bench scale`.
pub fn run(args: &ScaleArgs) -> Result<()> {
    if let Some(n) = args.child {
        let r = measure_size(n, cycles_for(n, args.cycles), args.seed)?;
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    if args.sizes.is_empty() || args.sizes.contains(&0) {
        bail!("--sizes needs positive component counts");
    }
    let mut sizes = args.sizes.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let exe = std::env::current_exe().context("cannot find this program to re-run it")?;
    let mut results = Vec::new();
    for &n in &sizes {
        eprintln!("scale: {n} components…");
        let mut command = Command::new(&exe);
        command.args([
            "scale",
            "--child",
            &n.to_string(),
            "--cycles",
            &args.cycles.to_string(),
            "--seed",
            &args.seed.to_string(),
        ]);
        let out = command
            .output()
            .with_context(|| format!("running {}", exe.display()))?;
        if !out.status.success() {
            bail!(
                "the run of {n} components failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let r: SizeResult = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("reading the result of {n} components"))?;
        eprintln!(
            "scale: {n} components: median {:.3} ms, p99 {:.3} ms, peak {:.0} MB",
            r.median_ms, r.p99_ms, r.peak_mb
        );
        results.push(r);
    }
    let sim_hour = sim_hour(50, 3);
    let growth = growth(
        &results
            .iter()
            .map(|r| (r.series, r.mean_ms))
            .collect::<Vec<_>>(),
    );
    let targets = targets(&results, &growth, &sim_hour);
    let report = Report {
        machine: machine(),
        sizes: results,
        growth,
        sim_hour,
        targets,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", markdown(&report));
    }
    if let Some(dir) = &args.out {
        write_outputs(dir, &report)?;
    }
    Ok(())
}

fn cycles_for(n: usize, cycles: usize) -> usize {
    if n > LARGE {
        (cycles / 5).max(20)
    } else {
        cycles.max(1)
    }
}

fn write_outputs(dir: &Path, report: &Report) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write("results.json", serde_json::to_string_pretty(report)? + "\n")?;
    write("results.md", markdown(report))?;
    write("scale.svg", svg(&report.sizes))?;
    Ok(())
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median_of(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 50.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One size, in this process.
fn measure_size(n: usize, cycles: usize, seed: u64) -> Result<SizeResult> {
    let started = Instant::now();
    let mut w = Workload::new(n, seed)?;
    w.warm_up(WARM_CYCLES)?;
    let setup_secs = started.elapsed().as_secs_f64();
    let mut phases = Vec::with_capacity(cycles);
    let mut load = Load::default();
    for _ in 0..cycles {
        let (p, a) = w.cycle()?;
        phases.push(p);
        load.faulty_components += a.faulty as f64;
        load.transitions += a.transitions as f64;
        load.open_violations += a.open_violations as f64;
        load.incidents += a.incidents as f64;
        load.largest_incident_violations += a.largest_incident as f64;
        load.diagnoses += a.diagnosed as f64;
        load.windows += a.windows as f64;
        load.decisions += a.decisions as f64;
        load.actions += a.acts as f64;
    }
    let k = cycles as f64;
    for x in [
        &mut load.faulty_components,
        &mut load.transitions,
        &mut load.open_violations,
        &mut load.incidents,
        &mut load.largest_incident_violations,
        &mut load.diagnoses,
        &mut load.windows,
        &mut load.decisions,
        &mut load.actions,
    ] {
        *x /= k;
    }
    let mut totals: Vec<f64> = phases.iter().map(|p| ms(p.total())).collect();
    totals.sort_by(f64::total_cmp);
    let stage = |f: fn(&Stages) -> Duration| median_of(phases.iter().map(|p| ms(f(p))).collect());
    let result = SizeResult {
        components: n,
        series: w.series(),
        cycles,
        median_ms: percentile(&totals, 50.0),
        mean_ms: totals.iter().sum::<f64>() / totals.len().max(1) as f64,
        p99_ms: percentile(&totals, 99.0),
        max_ms: totals.last().copied().unwrap_or(f64::NAN),
        phases_median_ms: PhaseMs {
            read: stage(|p| p.read),
            monitor: stage(|p| p.monitor),
            analyze: stage(|p| p.analyze),
            plan: stage(|p| p.plan),
            execute: stage(|p| p.execute),
        },
        load,
        peak_mb: peak_rss_mb().unwrap_or(f64::NAN),
        setup_secs,
        sim: SimSpeed {
            services: 0,
            virtual_secs: 0.0,
            wall_secs: 0.0,
            speed: 0.0,
        },
    };
    // After the memory reading: the simulator is not part of the loop's footprint.
    drop(w);
    Ok(SizeResult {
        sim: sim_speed(n, Duration::from_secs(3600), Duration::from_secs(2)),
        ..result
    })
}

/// `VmHWM` of this process in MB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0 / 1e6)
}

/// A Westworld scenario over `n` services in the same layered DAG as the charter:
/// each calls its first dependency once per request and the others half as often;
/// 40 rps enter at every entry point; a memory leak at 10 minutes and a traffic
/// surge at 15, as `crates/sim/benches/step.rs` has.
fn sim_scenario(n: usize, duration: Duration) -> Scenario {
    let dag = layered_dag(n, &mut workload::Rng(7));
    let services: Vec<ServiceSpec> = dag
        .iter()
        .map(|(name, deps)| {
            deps.iter()
                .enumerate()
                .fold(ServiceSpec::new(name, 60.0), |s, (k, d)| {
                    s.calls(d, if k == 0 { 1.0 } else { 0.5 })
                })
        })
        .collect();
    let mut scenario = Scenario::default_shop("scale", duration);
    scenario.traffic.rps = 40.0;
    let middle = dag[dag.len() / 2].0.clone();
    let entry = dag[0].0.clone();
    scenario.services = services;
    scenario.faults = vec![
        Fault::new(FaultKind::MemoryLeak, &middle, Duration::from_secs(600)),
        Fault::new(FaultKind::TrafficSurge, &entry, Duration::from_secs(900)),
    ];
    scenario
}

/// Step the simulator at its usual 1 s step for up to `virtual_time`, stopping early
/// once `wall_budget` has passed (large worlds), and report its speed.
fn sim_speed(n: usize, virtual_time: Duration, wall_budget: Duration) -> SimSpeed {
    let scenario = sim_scenario(n, virtual_time);
    let mut world = World::new(&scenario, 1);
    let started = Instant::now();
    let mut t = Duration::ZERO;
    while t < virtual_time {
        t += Duration::from_secs(60);
        world.advance_to(t);
        if started.elapsed() >= wall_budget {
            break;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    SimSpeed {
        services: n,
        virtual_secs: t.as_secs_f64(),
        wall_secs: wall,
        speed: t.as_secs_f64() / wall,
    }
}

/// An hour of virtual time for `n` services, `runs` times.
fn sim_hour(n: usize, runs: usize) -> SimHour {
    let walls: Vec<f64> = (0..runs)
        .map(|_| sim_speed(n, Duration::from_secs(3600), Duration::from_secs(3600)).wall_secs)
        .collect();
    let wall = median_of(walls);
    SimHour {
        services: n,
        runs,
        median_wall_secs: wall,
        speed: 3600.0 / wall,
    }
}

/// Growth between successive sizes of `(series, median time)`: passes when
/// `t2 / t1 ≤ GROWTH_TOLERANCE · (s2 ln s2) / (s1 ln s1)`.
pub fn growth(points: &[(usize, f64)]) -> Vec<Growth> {
    points
        .windows(2)
        .map(|w| {
            let ((s1, t1), (s2, t2)) = (w[0], w[1]);
            let nlogn = |s: usize| s as f64 * (s as f64).ln();
            let time_ratio = t2 / t1;
            let nlogn_ratio = nlogn(s2) / nlogn(s1);
            Growth {
                from_series: s1,
                to_series: s2,
                time_ratio,
                nlogn_ratio,
                slope: time_ratio.ln() / (s2 as f64 / s1 as f64).ln(),
                ok: time_ratio <= GROWTH_TOLERANCE * nlogn_ratio,
            }
        })
        .collect()
}

fn targets(sizes: &[SizeResult], growth: &[Growth], hour: &SimHour) -> Vec<Target> {
    let at_1000 = sizes.iter().find(|r| r.components == 1_000);
    vec![
        Target {
            what: "full cycle, 1,000 components: median < 20 ms".into(),
            measured: at_1000.map_or("not run".into(), |r| format!("{:.2} ms", r.median_ms)),
            met: at_1000.map(|r| r.median_ms < 20.0),
        },
        Target {
            what: "peak memory, 1,000 components: < 200 MB".into(),
            measured: at_1000.map_or("not run".into(), |r| format!("{:.0} MB", r.peak_mb)),
            met: at_1000.map(|r| r.peak_mb < 200.0),
        },
        Target {
            what: format!(
                "growth of the mean cycle no worse than n log n in series (t2/t1 ≤ {GROWTH_TOLERANCE} × n log n ratio)"
            ),
            measured: growth
                .iter()
                .map(|g| format!("{:.2}", g.slope))
                .collect::<Vec<_>>()
                .join(", ")
                + " (log–log slopes)",
            met: (!growth.is_empty()).then(|| growth.iter().all(|g| g.ok)),
        },
        Target {
            what: "1 h of virtual time for 50 services: < 1 s".into(),
            measured: format!("{:.3} s", hour.median_wall_secs),
            met: Some(hour.median_wall_secs < 1.0),
        },
    ]
}

/// CPU model and core count.
fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{model}, {cores} cores")
}

fn markdown(r: &Report) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "Machine: {}\n", r.machine);
    m.push_str(
        "| components | series | cycles | median ms | mean ms | p99 ms | peak MB | sim vsec/wsec (services) |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in &r.sizes {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.0} | {:.0} ({}) |",
            s.components,
            s.series,
            s.cycles,
            s.median_ms,
            s.mean_ms,
            s.p99_ms,
            s.peak_mb,
            s.sim.speed,
            s.sim.services
        );
    }
    m.push_str(
        "\nMedian per stage (ms) and mean work per cycle:\n\n\
         | components | read | monitor | analyze | plan | execute | faulty | transitions | open violations | incidents | largest incident (violations) | diagnoses | windows | decisions | actions |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in &r.sizes {
        let (p, l) = (&s.phases_median_ms, &s.load);
        let _ = writeln!(
            m,
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.1} | {:.2} |",
            s.components,
            p.read,
            p.monitor,
            p.analyze,
            p.plan,
            p.execute,
            l.faulty_components,
            l.transitions,
            l.open_violations,
            l.incidents,
            l.largest_incident_violations,
            l.diagnoses,
            l.windows,
            l.decisions,
            l.actions
        );
    }
    m.push_str(
        "\nGrowth between sizes (mean cycles: the work per interval):\n\n\
         | series | time ratio | n log n ratio | log–log slope | ≤ 1.25 × n log n |\n\
         |---|---:|---:|---:|---|\n",
    );
    for g in &r.growth {
        let _ = writeln!(
            m,
            "| {} → {} | {:.2} | {:.2} | {:.2} | {} |",
            g.from_series,
            g.to_series,
            g.time_ratio,
            g.nlogn_ratio,
            g.slope,
            if g.ok { "yes" } else { "no" }
        );
    }
    let h = &r.sim_hour;
    let _ = writeln!(
        m,
        "\nSimulator: 1 h of virtual time (1 s steps) for {} services: {:.3} s wall (median of {}), {:.0} virtual s per wall s.\n",
        h.services, h.median_wall_secs, h.runs, h.speed
    );
    m.push_str("| target | measured | met |\n|---|---|---|\n");
    for t in &r.targets {
        let met = match t.met {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        let _ = writeln!(m, "| {} | {} | {met} |", t.what, t.measured);
    }
    m
}

/// A log–log plot of cycle time (median and p99) against series, with an n log n
/// reference through the smallest size's median.
pub fn svg(sizes: &[SizeResult]) -> String {
    const W: f64 = 640.0;
    const H: f64 = 420.0;
    // Margins: left, right, top, bottom.
    const L: f64 = 70.0;
    const R: f64 = 20.0;
    const T: f64 = 30.0;
    const B: f64 = 50.0;
    let pts: Vec<(f64, f64, f64)> = sizes
        .iter()
        .filter(|s| s.series > 0 && s.median_ms > 0.0 && s.p99_ms > 0.0)
        .map(|s| (s.series as f64, s.median_ms, s.p99_ms))
        .collect();
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n"
    );
    let Some(&(s0, t0, _)) = pts.first() else {
        out.push_str("<text x=\"20\" y=\"40\">no data</text>\n</svg>\n");
        return out;
    };
    let nlogn = |s: f64| t0 * (s * s.ln()) / (s0 * s0.ln());
    let xs = pts.iter().map(|p| p.0);
    let ys = pts.iter().flat_map(|p| [p.1, p.2, nlogn(p.0)]);
    let x_lo = xs.clone().fold(f64::INFINITY, f64::min).log10().floor();
    let x_hi = xs.fold(0.0, f64::max).log10().ceil().max(x_lo + 1.0);
    let y_lo = ys.clone().fold(f64::INFINITY, f64::min).log10().floor();
    let y_hi = ys.fold(0.0, f64::max).log10().ceil().max(y_lo + 1.0);
    let px = |s: f64| L + (s.log10() - x_lo) / (x_hi - x_lo) * (W - L - R);
    let py = |t: f64| H - B - (t.log10() - y_lo) / (y_hi - y_lo) * (H - T - B);
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">One loop cycle vs series (log–log)</text>",
        W / 2.0
    );
    // Axes, decade ticks and grid.
    let _ = writeln!(
        out,
        "<path d=\"M{L} {T} V{} H{}\" stroke=\"black\" fill=\"none\"/>",
        H - B,
        W - R
    );
    for e in x_lo as i32..=x_hi as i32 {
        let x = px(10f64.powi(e));
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{T}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#ddd\"/>\
             <line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"black\"/>\
             <text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            H - B,
            H - B,
            H - B + 5.0,
            H - B + 18.0,
            decade_label(e)
        );
    }
    for e in y_lo as i32..=y_hi as i32 {
        let y = py(10f64.powi(e));
        let _ = writeln!(
            out,
            "<line x1=\"{L}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <line x1=\"{}\" y1=\"{y:.1}\" x2=\"{L}\" y2=\"{y:.1}\" stroke=\"black\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - R,
            L - 5.0,
            L - 8.0,
            y + 4.0,
            decade_label(e)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">series (objective × component)</text>\n\
         <text transform=\"translate(18 {}) rotate(-90)\" text-anchor=\"middle\">cycle time (ms)</text>",
        (L + W - R) / 2.0,
        H - 10.0,
        (T + H - B) / 2.0
    );
    // n log n reference over the plotted range.
    let (a, b) = (10f64.powf(x_lo).max(2.0), 10f64.powf(x_hi));
    let reference: Vec<String> = (0..=40)
        .map(|k| {
            let s = a * (b / a).powf(k as f64 / 40.0);
            format!("{:.1},{:.1}", px(s), py(nlogn(s)))
        })
        .collect();
    let _ = writeln!(
        out,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#999\" stroke-dasharray=\"6 4\"/>",
        reference.join(" ")
    );
    for (color, pick) in [("#1f77b4", 1usize), ("#d62728", 2)] {
        let line: Vec<String> = pts
            .iter()
            .map(|p| {
                let t = if pick == 1 { p.1 } else { p.2 };
                format!("{:.1},{:.1}", px(p.0), py(t))
            })
            .collect();
        let _ = writeln!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
            line.join(" ")
        );
        for p in &pts {
            let t = if pick == 1 { p.1 } else { p.2 };
            let _ = writeln!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{color}\"><title>{} series: {t:.3} ms</title></circle>",
                px(p.0),
                py(t),
                p.0
            );
        }
    }
    // Legend.
    let (lx, ly) = (L + 15.0, T + 15.0);
    for (k, (color, dash, label)) in [
        ("#1f77b4", "", "median"),
        ("#d62728", "", "p99"),
        ("#999", "6 4", "n log n (through the smallest median)"),
    ]
    .iter()
    .enumerate()
    {
        let y = ly + 18.0 * k as f64;
        let _ = writeln!(
            out,
            "<line x1=\"{lx}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{color}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\"/>\
             <text x=\"{}\" y=\"{}\">{label}</text>",
            lx + 24.0,
            lx + 30.0,
            y + 4.0
        );
    }
    out.push_str("</svg>\n");
    out
}

/// `10^e` as a plain number (1k, 10k… above 1,000; decimals below 1).
fn decade_label(e: i32) -> String {
    match e {
        e if e < 0 => format!("{}", 10f64.powi(e)),
        0..=2 => format!("{}", 10i64.pow(e as u32)),
        3..=5 => format!("{}k", 10i64.pow(e as u32 - 3)),
        e => format!("{}M", 10i64.pow((e - 6) as u32)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_gives_fifteen_series_per_component_and_violations() {
        let mut w = Workload::new(200, 3).expect("synthetic charter");
        assert_eq!(w.series(), 15 * 200);
        let mut firing = 0;
        let mut diagnosed = 0;
        for _ in 0..120 {
            let (_, a) = w.cycle().expect("a cycle");
            assert!(a.faulty <= 20);
            diagnosed += a.diagnosed;
            firing += a.open_violations;
        }
        assert!(firing > 0, "no violation in 120 cycles");
        assert!(diagnosed > 0, "no incident diagnosed in 120 cycles");
        // Not every series violates.
        assert!(firing / 120 < 15 * 200 / 10);
    }

    #[test]
    fn growth_rule_compares_with_n_log_n() {
        // 10× the series: n log n grows by 10 · ln(1000)/ln(100) = 15.
        let g = growth(&[
            (100, 1.0),
            (1_000, 15.0 * 1.24),
            (10_000, 15.0 * 1.24 * 20.0),
        ]);
        assert_eq!(g.len(), 2);
        assert!((g[0].nlogn_ratio - 15.0).abs() < 1e-9);
        assert!(g[0].ok, "just inside the tolerance passes");
        assert!((g[0].slope - (15.0f64 * 1.24).ln() / 10f64.ln()).abs() < 1e-9);
        // 10× series again: n log n ratio 10 · 4/3 = 13.33; ×20 is over 1.25 × 13.33.
        assert!((g[1].nlogn_ratio - 40.0 / 3.0).abs() < 1e-9);
        assert!(!g[1].ok);
        // Linear growth passes, quadratic does not.
        assert!(growth(&[(150, 1.0), (1_500, 10.0)])[0].ok);
        assert!(!growth(&[(150, 1.0), (1_500, 100.0)])[0].ok);
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 100.0);
        assert_eq!(percentile(&v, 99.0), 198.0);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
    }

    #[test]
    fn plot_has_axes_reference_and_legend() {
        let size = |n: usize, t: f64| SizeResult {
            components: n,
            series: 15 * n,
            cycles: 1,
            median_ms: t,
            mean_ms: t,
            p99_ms: 2.0 * t,
            max_ms: 2.0 * t,
            phases_median_ms: PhaseMs::default(),
            load: Load::default(),
            peak_mb: 1.0,
            setup_secs: 0.0,
            sim: SimSpeed {
                services: n,
                virtual_secs: 1.0,
                wall_secs: 1.0,
                speed: 1.0,
            },
        };
        let s = svg(&[size(10, 0.05), size(100, 0.4), size(1000, 5.0)]);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<circle").count(), 6);
        assert!(s.contains("n log n") && s.contains("median") && s.contains("p99"));
        assert!(s.contains(">1k<") && s.contains(">10k<"));
    }
}
