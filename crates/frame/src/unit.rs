//! The unit a column is recorded in — bytes, seconds, a ratio or a percentage, at
//! some scale — read from its name or from a column map, so that evidence can say
//! "1.2 GiB → 3.4 GiB" instead of "1.289e9 → 3.651e9".

/// What a value measures, in its base unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// Bytes (memory, sizes).
    Bytes,
    /// Seconds (latency, durations).
    Seconds,
    /// A share of 1 (0.992 is 99.2 %).
    Ratio,
    /// A share of 100.
    Percent,
}

/// A column's unit: the quantity and how many base units one recorded unit is
/// (`Mi` is [`Quantity::Bytes`] × 1 048 576, `ms` is [`Quantity::Seconds`] × 0.001).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    pub quantity: Quantity,
    pub scale: f64,
}

/// Unit names as a column map or a name marker writes them, and what they mean.
const NAMES: &[(&[&str], Quantity, f64)] = &[
    (&["b", "byte", "bytes"], Quantity::Bytes, 1.0),
    (&["ki", "kib", "kibibytes"], Quantity::Bytes, 1024.0),
    (&["mi", "mib", "mebibytes"], Quantity::Bytes, 1_048_576.0),
    (
        &["gi", "gib", "gibibytes"],
        Quantity::Bytes,
        1_073_741_824.0,
    ),
    (&["kb", "kilobytes"], Quantity::Bytes, 1e3),
    (&["mb", "megabytes"], Quantity::Bytes, 1e6),
    (&["gb", "gigabytes"], Quantity::Bytes, 1e9),
    (
        &["s", "sec", "secs", "second", "seconds"],
        Quantity::Seconds,
        1.0,
    ),
    (
        &["ms", "msec", "millis", "milliseconds"],
        Quantity::Seconds,
        1e-3,
    ),
    (&["us", "µs", "microseconds"], Quantity::Seconds, 1e-6),
    (&["ns", "nanoseconds"], Quantity::Seconds, 1e-9),
    (&["ratio", "fraction"], Quantity::Ratio, 1.0),
    (
        &["%", "pct", "percent", "percentage"],
        Quantity::Percent,
        1.0,
    ),
];

/// Names accepted after a `_` at the end of a column name (`db_query_ms`,
/// `heap_bytes`): the unambiguous ones. A bare `s`, `b` or `mb` is too often part
/// of a name (`lat_s`, `rps_b`) to be read as a unit there; they count only in
/// parentheses (`Latency(s)`).
const SUFFIXES: &[&str] = &[
    "bytes",
    "seconds",
    "secs",
    "ms",
    "milliseconds",
    "us",
    "microseconds",
    "ns",
    "nanoseconds",
    "ratio",
    "pct",
    "percent",
];

impl Unit {
    /// The unit named `text` (case-insensitive): `bytes`, `KiB`/`Ki`, `MiB`/`Mi`,
    /// `GiB`/`Gi`, `KB`, `MB`, `GB`, `seconds`/`s`, `ms`, `us`, `ns`, `ratio`,
    /// `percent`/`%`/`pct`.
    pub fn parse(text: &str) -> Option<Unit> {
        let t = text.trim().to_lowercase();
        NAMES
            .iter()
            .find(|(names, _, _)| names.contains(&t.as_str()))
            .map(|&(_, quantity, scale)| Unit { quantity, scale })
    }

    /// One name of each unit [`Unit::parse`] accepts, for error messages.
    pub fn names() -> &'static [&'static str] {
        &[
            "bytes", "KiB", "MiB", "GiB", "KB", "MB", "GB", "s", "ms", "us", "ns", "ratio", "%",
        ]
    }

    /// The unit a column's name states, if any:
    /// - a marker in parentheses at its end: `Latency(s)`, `Usage(Mi)`, `Rate(%)`;
    /// - its last `_`/`.`-separated word: `_bytes`, `_seconds`, `_ms`, `_ratio`,
    ///   `_pct`, `_percent`, ...;
    /// - a last word that starts with `mem` (`carts_mem`, `memory`): bytes, the unit
    ///   in which cAdvisor and Prometheus export memory.
    pub fn from_name(name: &str) -> Option<Unit> {
        let name = name.trim();
        if let Some(open) = name.strip_suffix(')').and_then(|n| n.rfind('(')) {
            return Unit::parse(&name[open + 1..name.len() - 1]);
        }
        let last = name
            .rsplit(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or("")
            .to_lowercase();
        if last.is_empty() || last.len() == name.len() && !last.starts_with("mem") {
            // A name of one word is a metric, not a unit (`ms` alone says nothing).
            return None;
        }
        if SUFFIXES.contains(&last.as_str()) {
            return Unit::parse(&last);
        }
        last.starts_with("mem").then_some(Unit {
            quantity: Quantity::Bytes,
            scale: 1.0,
        })
    }

    /// `value` (in this unit) in words: bytes with binary prefixes (`1.2 GiB`),
    /// seconds as `µs`/`ms`/`s`/`min`/`h` (`340 ms`), ratios and percentages as a
    /// percentage (`99.24 %`). Four significant digits at most.
    pub fn format(&self, value: f64) -> String {
        if !value.is_finite() {
            return value.to_string();
        }
        let v = value * self.scale;
        match self.quantity {
            Quantity::Bytes => {
                const PREFIXES: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
                let mut x = v;
                let mut i = 0;
                while x.abs() >= 1024.0 && i + 1 < PREFIXES.len() {
                    x /= 1024.0;
                    i += 1;
                }
                format!("{} {}", sig(x), PREFIXES[i])
            }
            Quantity::Seconds => {
                let a = v.abs();
                let (x, unit) = if a == 0.0 {
                    (v, "s")
                } else if a < 1e-3 {
                    (v * 1e6, "µs")
                } else if a < 1.0 {
                    (v * 1e3, "ms")
                } else if a < 120.0 {
                    (v, "s")
                } else if a < 7200.0 {
                    (v / 60.0, "min")
                } else {
                    (v / 3600.0, "h")
                };
                format!("{} {unit}", sig(x))
            }
            Quantity::Ratio => format!("{} %", sig(v * 100.0)),
            Quantity::Percent => format!("{} %", sig(v)),
        }
    }
}

/// `x` with at most four significant digits, no exponent, no trailing zeros.
fn sig(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let digits = x.abs().log10().floor() as i32 + 1;
    let decimals = (4 - digits).clamp(0, 12) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_come_from_markers_suffixes_and_memory_names() {
        let u = |n: &str| Unit::from_name(n);
        assert_eq!(
            u("CpuUsageRate(%)").map(|u| u.quantity),
            Some(Quantity::Percent)
        );
        assert_eq!(
            u("MemoryUsage(Mi)"),
            Some(Unit {
                quantity: Quantity::Bytes,
                scale: 1_048_576.0
            })
        );
        assert_eq!(u("PodClientLatencyP90(s)").map(|u| u.scale), Some(1.0));
        assert_eq!(u("db_query_ms").map(|u| u.scale), Some(1e-3));
        assert_eq!(u("heap_bytes").map(|u| u.quantity), Some(Quantity::Bytes));
        assert_eq!(u("carts-db_mem").map(|u| u.quantity), Some(Quantity::Bytes));
        assert_eq!(u("error_ratio").map(|u| u.quantity), Some(Quantity::Ratio));
        assert_eq!(u("CpuUsage(m)"), None, "millicores are not a unit shown");
        assert_eq!(u("carts_lat_50"), None);
        assert_eq!(u("ms"), None);
        assert_eq!(u("lat_s"), None);
        assert_eq!(u("membership_count"), None);
    }

    #[test]
    fn values_read_in_their_unit() {
        let bytes = Unit::parse("bytes").expect("unit");
        assert_eq!(bytes.format(1_288_490_188.8), "1.2 GiB");
        assert_eq!(bytes.format(3_650_722_201.6), "3.4 GiB");
        assert_eq!(bytes.format(512.0), "512 B");
        assert_eq!(Unit::parse("Mi").expect("unit").format(300.5), "300.5 MiB");
        let ms = Unit::parse("ms").expect("unit");
        assert_eq!(ms.format(340.0), "340 ms");
        assert_eq!(ms.format(1234.6), "1.235 s");
        assert_eq!(Unit::parse("s").expect("unit").format(0.000_012), "12 µs");
        assert_eq!(
            Unit::parse("ratio").expect("unit").format(0.99241),
            "99.24 %"
        );
        assert_eq!(Unit::parse("%").expect("unit").format(45.0), "45 %");
        assert_eq!(
            Unit::parse("GB"),
            Some(Unit {
                quantity: Quantity::Bytes,
                scale: 1e9
            })
        );
        assert_eq!(Unit::parse("furlongs"), None);
        assert_eq!(bytes.format(f64::NAN), "NaN");
    }
}
