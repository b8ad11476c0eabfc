//! The standard process metrics (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`,
//! `process_max_fds`, `process_start_time_seconds`), read from `/proc` at scrape time
//! by a prometheus-client [`Collector`]. Where `/proc` is missing (not Linux) or a file
//! cannot be read, the metrics it feeds are left out of the scrape rather than
//! reported as zero.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::path::{Path, PathBuf};

/// Clock ticks per second in `/proc` times: USER_HZ, which the kernel fixes at 100
/// for user space on every architecture Linux supports (reading `sysconf` would need
/// `unsafe`, which this workspace forbids).
const USER_HZ: f64 = 100.0;

/// Collects this process's metrics from a procfs.
#[derive(Debug, Clone)]
pub struct ProcessCollector {
    /// The process's directory (`/proc/self`).
    process: PathBuf,
    /// The procfs root (`/proc`), for the boot time.
    proc: PathBuf,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        ProcessCollector::new()
    }
}

impl ProcessCollector {
    /// The collector of the calling process.
    pub fn new() -> Self {
        ProcessCollector {
            process: PathBuf::from("/proc/self"),
            proc: PathBuf::from("/proc"),
        }
    }

    /// What a scrape reports now; each field `None` when it cannot be read.
    pub fn read(&self) -> ProcessStats {
        let stat = std::fs::read_to_string(self.process.join("stat"))
            .ok()
            .and_then(|s| parse_stat(&s));
        let boot = std::fs::read_to_string(self.proc.join("stat"))
            .ok()
            .and_then(|s| parse_boot_time(&s));
        let status = std::fs::read_to_string(self.process.join("status")).ok();
        ProcessStats {
            cpu_seconds: stat.map(|s| (s.utime + s.stime) as f64 / USER_HZ),
            resident_bytes: status
                .as_deref()
                .and_then(|s| status_kib(s, "VmRSS:"))
                .map(|k| k * 1024),
            virtual_bytes: stat.map(|s| s.vsize),
            open_fds: count_entries(&self.process.join("fd")),
            max_fds: std::fs::read_to_string(self.process.join("limits"))
                .ok()
                .and_then(|s| parse_max_open_files(&s)),
            start_time_seconds: match (stat, boot) {
                (Some(s), Some(b)) => Some(b as f64 + s.starttime as f64 / USER_HZ),
                _ => None,
            },
        }
    }
}

/// One reading of the process metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub start_time_seconds: Option<f64>,
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.read();
        if let Some(v) = s.cpu_seconds {
            // A counter: the text encoding appends `_total`.
            let c = ConstCounter::new(v);
            c.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                c.metric_type(),
            )?)?;
        }
        let gauges: [(&str, &str, Option<f64>); 5] = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                s.resident_bytes.map(|v| v as f64),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                s.virtual_bytes.map(|v| v as f64),
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                s.open_fds.map(|v| v as f64),
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors (the soft limit)",
                s.max_fds.map(|v| v as f64),
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch in seconds",
                s.start_time_seconds,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(v) = value {
                let g = ConstGauge::new(v);
                g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
            }
        }
        Ok(())
    }
}

/// The fields of `/proc/<pid>/stat` used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    utime: u64,
    stime: u64,
    starttime: u64,
    vsize: u64,
}

/// Parse `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may hold
/// spaces and parentheses itself, so fields are counted after the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    // `rest` starts at field 3 (state): field n is at index n - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime: field(14)?,
        stime: field(15)?,
        starttime: field(22)?,
        vsize: field(23)?,
    })
}

/// The boot time (`btime`, Unix seconds) from `/proc/stat`.
fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime"))
        .and_then(|v| v.trim().parse().ok())
}

/// A `kB` value of `/proc/<pid>/status`, e.g. `VmRSS:     1234 kB`.
fn status_kib(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix(key))?;
    let mut words = line.split_whitespace();
    let value = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(value)
}

/// The soft limit of open files from `/proc/<pid>/limits` (`None` when unlimited).
fn parse_max_open_files(text: &str) -> Option<u64> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// Entries of a directory (the open descriptors in `/proc/<pid>/fd`).
fn count_entries(dir: &Path) -> Option<u64> {
    Some(std::fs::read_dir(dir).ok()?.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        // A command name with a space and a parenthesis must not shift the fields.
        let text = "4242 (charter (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                    250 70 0 0 20 0 9 0 123456 987654321 2048 18446744073709551615 \
                    1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            parse_stat(text),
            Some(Stat {
                utime: 250,
                stime: 70,
                starttime: 123456,
                vsize: 987654321,
            })
        );
        assert_eq!(parse_stat("4242 (no closing paren S 1"), None);
    }

    #[test]
    fn status_limits_and_boot_time_are_read() {
        let status = "Name:\tcharter\nVmSize:\t  20000 kB\nVmRSS:\t   5120 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(5120));
        assert_eq!(status_kib(status, "VmSwap:"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_max_open_files(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_max_open_files(unlimited), None);
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nbtime 1765000000\nprocesses 9\n"),
            Some(1_765_000_000)
        );
    }

    #[test]
    fn a_missing_procfs_leaves_every_metric_out() {
        let c = ProcessCollector {
            process: PathBuf::from("/nonexistent/self"),
            proc: PathBuf::from("/nonexistent"),
        };
        assert_eq!(c.read(), ProcessStats::default());
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(c));
        let mut body = String::new();
        prometheus_client::encoding::text::encode(&mut body, &registry).expect("encodes");
        assert!(!body.contains("process_"), "{body}");
    }
}
