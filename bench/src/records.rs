//! Wide CSV files of the Nezha and Sock Shop chaos datasets, and what their columns
//! measure.
//!
//! A file is a header row, then one row per time; the time column may sit anywhere
//! and every field may be quoted. Rows whose times are merely out of order are
//! sorted (and the file is counted as sorted); a time that repeats is refused with
//! the file, line and column of both rows, since nothing says which row is right.
//! Cells are numbers (`NaN` and empty cells are missing values); a column the caller
//! does not keep (text such as pod names, database ids, clocks) is not read.

use anyhow::{Result, bail};
use charter_analyze::Worse;
use charter_frame::signal::words;
use charter_frame::{Column, ColumnMeta, Frame};
use charter_model::csv::parse_csv;
use charter_model::{Signal, Timestamp};
use std::path::Path;

/// Read `path`: times from the column named `time_column` (read by `parse_time`,
/// in seconds), and every column `meta` describes (`None`: not read). A file whose
/// rows were out of time order, and so were sorted, is added to `sorted`.
pub fn read_wide(
    path: &Path,
    time_column: &str,
    parse_time: &dyn Fn(&str) -> Option<i64>,
    meta: &dyn Fn(&str) -> Option<ColumnMeta>,
    sorted: &mut Vec<String>,
) -> Result<Frame> {
    let file = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {file}: {e}"))?;
    let records = parse_csv(&text, &file)?;
    let Some((header, rows)) = records.split_first() else {
        bail!("{file}: empty file (no header row)");
    };
    let names: Vec<&str> = header.fields.iter().map(|f| f.text.trim()).collect();
    let Some(time_idx) = names.iter().position(|n| *n == time_column) else {
        bail!(
            "{file}:{}:1: no `{time_column}` column (header: {})",
            header.line,
            names.join(", ")
        );
    };
    let specs: Vec<(usize, ColumnMeta)> = names
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != time_idx)
        .filter_map(|(i, n)| Some((i, meta(n)?)))
        .collect();
    if rows.is_empty() {
        bail!("{file}: no data rows");
    }
    let mut problems = Vec::new();
    let mut times: Vec<(i64, usize, usize)> = Vec::with_capacity(rows.len());
    let mut values = vec![Vec::with_capacity(rows.len()); specs.len()];
    for r in rows {
        if r.fields.len() != names.len() {
            problems.push(format!(
                "{file}:{}:1: {} fields, expected {}",
                r.line,
                r.fields.len(),
                names.len()
            ));
            continue;
        }
        let tf = &r.fields[time_idx];
        match parse_time(tf.text.trim()) {
            Some(t) => times.push((t, r.line, tf.column)),
            None => problems.push(format!(
                "{file}:{}:{}: `{}` is not a time",
                r.line,
                tf.column,
                tf.text.trim()
            )),
        }
        for (col, (i, _)) in values.iter_mut().zip(&specs) {
            let f = &r.fields[*i];
            let t = f.text.trim();
            col.push(if t.is_empty() {
                f64::NAN
            } else {
                t.parse::<f64>().unwrap_or_else(|_| {
                    problems.push(format!(
                        "{file}:{}:{}: {}: `{t}` is not a number",
                        r.line, f.column, names[*i]
                    ));
                    f64::NAN
                })
            });
        }
        if problems.len() >= 10 {
            break;
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    let mut order: Vec<usize> = (0..times.len()).collect();
    let unordered = times.windows(2).any(|w| w[1].0 < w[0].0);
    order.sort_by_key(|&i| times[i].0);
    for w in order.windows(2) {
        let (a, b) = (times[w[0]], times[w[1]]);
        if a.0 == b.0 {
            let (first, second) = if a.1 < b.1 { (a, b) } else { (b, a) };
            bail!(
                "{file}:{}:{}: time {} repeats the one at line {}: rows out of order \
                 cannot be sorted when a time appears twice",
                second.1,
                second.2,
                Timestamp::from_secs(a.0).as_secs_f64(),
                first.1
            );
        }
    }
    let columns = specs
        .into_iter()
        .zip(values)
        .map(|((i, m), v)| {
            Column::new(
                names[i].to_string(),
                m,
                order.iter().map(|&k| v[k]).collect(),
            )
        })
        .collect();
    if unordered {
        sorted.push(file.clone());
    }
    Ok(Frame {
        source: file,
        times: order
            .iter()
            .map(|&k| Timestamp::from_secs(times[k].0))
            .collect(),
        lines: Some(order.iter().map(|&k| times[k].1).collect()),
        columns,
    })
}

/// Unix seconds (fractions dropped).
pub fn unix_secs(text: &str) -> Option<i64> {
    let v: f64 = text.parse().ok()?;
    v.is_finite().then_some(v.floor() as i64)
}

/// `d/m/yyyy HH:MM:SS` read as UTC (the Sock Shop chaos export's clock).
pub fn day_month_year_secs(text: &str) -> Option<i64> {
    let (date, clock) = text.split_once(' ')?;
    let mut d = date.split('/').map(|p| p.parse::<i64>().ok());
    let (day, month, year) = (d.next()??, d.next()??, d.next()??);
    let mut c = clock.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (c.next()??, c.next()??, c.next()??);
    if d.next().is_some() || c.next().is_some() {
        return None;
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// `yyyy-mm-dd HH:MM:SS` read as UTC (the clock of the datasets' `inject_time`).
#[cfg(test)]
pub fn iso_secs(text: &str) -> Option<i64> {
    let (date, clock) = text.trim().split_once(' ')?;
    let mut d = date.split('-');
    let (y, mo, da) = (d.next()?, d.next()?, d.next()?);
    day_month_year_secs(&format!("{da}/{mo}/{y} {clock}"))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The service a pod belongs to: its name without the last two `-` parts (the
/// Kubernetes replica-set hash and pod suffix), `None` when it has fewer than three.
pub fn service_of_pod(pod: &str) -> Option<&str> {
    let (rest, _) = pod.rsplit_once('-')?;
    let (service, _) = rest.rsplit_once('-')?;
    (!service.is_empty()).then_some(service)
}

/// What a resource or request metric measures and which way is harmful, from the
/// words of its column name. Generic column semantics, the same for every dataset:
///
/// | words                                                     | signal       | harmful |
/// |-----------------------------------------------------------|--------------|---------|
/// | `latency`                                                 | latency      | up      |
/// | `success`                                                 | availability | down    |
/// | `retrans`, `failures`, `error`                            | errors       | up      |
/// | `cpu` (use, rate, seconds)                                 | utilization  | up      |
/// | memory totals (`usage`, `rate`, `rss`, `working set`)     | memory       | up      |
/// | other memory breakdowns (cache, active, slab, …)          | memory       | either  |
/// | `load`, `procs running/blocked`, scheduler `waiting`      | saturation   | up      |
/// | network bytes/packets, `net_in/out`, `workload`, ops      | traffic      | either  |
/// | syscalls, disk and file-system I/O, threads, sockets, fds | other        | either  |
///
/// Network bytes and workload are load: they fall when a fault blocks requests and
/// rise when retries pile up, so either way counts. Syscalls follow the work a pod
/// does (either way). CPU and memory in use only hurt when they grow.
pub fn semantics(name: &str) -> (Signal, Worse) {
    let w = words(name);
    let has = |s: &str| w.iter().any(|x| x == s);
    let starts = |s: &str| w.iter().any(|x| x.starts_with(s));
    if starts("latency") {
        (Signal::Latency, Worse::Up)
    } else if starts("success") {
        (Signal::Availability, Worse::Down)
    } else if starts("retrans") || has("failures") || starts("error") {
        (Signal::Errors, Worse::Up)
    } else if has("cpu") {
        (Signal::Utilization, Worse::Up)
    } else if starts("mem") {
        if has("usage") || has("rate") || has("rss") || has("working") {
            (Signal::Memory, Worse::Up)
        } else {
            (Signal::Memory, Worse::Either)
        }
    } else if starts("load")
        || (has("procs") && (has("running") || has("blocked")))
        || (has("schedstat") && has("waiting"))
    {
        (Signal::Saturation, Worse::Up)
    } else if starts("network")
        || has("net")
        || has("netstat")
        || starts("workload")
        || has("ops")
        || starts("octets")
        || starts("segs")
        || starts("packets")
    {
        (Signal::Traffic, Worse::Either)
    } else {
        (Signal::Other, Worse::Either)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_and_names() {
        assert_eq!(
            day_month_year_secs("20/8/2023 15:50:46"),
            Some(1_692_546_646)
        );
        assert_eq!(iso_secs("2023-08-20 16:10:06"), Some(1_692_547_806));
        assert_eq!(iso_secs("2022-08-22 04:36:03"), Some(1_661_142_963));
        assert_eq!(
            service_of_pod("ts-basic-service-5dc8d4f9fd-46997"),
            Some("ts-basic-service")
        );
        assert_eq!(service_of_pod("carts-db-d765fd64d-67pr6"), Some("carts-db"));
        assert_eq!(service_of_pod("x-y"), None);
        assert_eq!(
            semantics("CpuUsageRate(%)"),
            (Signal::Utilization, Worse::Up)
        );
        assert_eq!(
            semantics("PodServerLatencyP99(s)"),
            (Signal::Latency, Worse::Up)
        );
        assert_eq!(
            semantics("PodSuccessRate(%)"),
            (Signal::Availability, Worse::Down)
        );
        assert_eq!(semantics("MemoryUsage(Mi)"), (Signal::Memory, Worse::Up));
        assert_eq!(
            semantics("NetworkReceiveBytes"),
            (Signal::Traffic, Worse::Either)
        );
        assert_eq!(semantics("SyscallRead"), (Signal::Other, Worse::Either));
        assert_eq!(
            semantics("container_memory_cache"),
            (Signal::Memory, Worse::Either)
        );
        assert_eq!(semantics("node_load1"), (Signal::Saturation, Worse::Up));
        assert_eq!(semantics("net_in"), (Signal::Traffic, Worse::Either));
    }
}
