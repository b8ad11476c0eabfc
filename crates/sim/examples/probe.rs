//! Print the mean of every metric per service over a window of a scenario.
//!
//! `cargo run -p charter-sim --example probe -- SCENARIO [FROM [TO]]`, where SCENARIO
//! is a built-in name or a file and FROM/TO are durations (default: the whole run).

use charter_sim::{METRICS, Scenario, World};
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("no-fault", String::as_str);
    let scenario = match Scenario::builtin(name) {
        Some(s) => s,
        None => match Scenario::load(name) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e:#}");
                std::process::exit(2);
            }
        },
    };
    let parse = |i: usize, default: Duration| {
        args.get(i)
            .and_then(|a| humantime::parse_duration(a).ok())
            .unwrap_or(default)
    };
    let from = parse(1, Duration::ZERO);
    let to = parse(2, scenario.duration);
    let mut world = World::new(&scenario, scenario.seed);
    world.advance_to(from);
    let services = world.services();
    let mut sums = vec![[0.0; METRICS.len()]; services.len()];
    let mut n: f64 = 0.0;
    while world.elapsed() < to {
        world.step();
        n += 1.0;
        for (s, sum) in services.iter().zip(&mut sums) {
            for (k, m) in METRICS.iter().enumerate() {
                sum[k] += world.metric(m, s).unwrap_or(f64::NAN);
            }
        }
    }
    println!(
        "{} from {from:?} to {to:?} (means over {n} steps)",
        scenario.name
    );
    print!("{:<34}", "metric");
    for s in &services {
        print!("{s:>10}");
    }
    println!();
    for (k, m) in METRICS.iter().enumerate() {
        print!("{:<34}", m.trim_start_matches("westworld_"));
        for sum in &sums {
            print!("{:>10.4}", sum[k] / n.max(1.0));
        }
        println!();
    }
}
