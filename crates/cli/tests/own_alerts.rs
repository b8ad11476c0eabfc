//! Charter's own alerts (deploy/prometheus/charter-rules.yaml) and dashboard
//! (deploy/grafana/charter-dashboard.json), checked against the real thing:
//! - `promtool check rules` accepts the rules file (Debian's `prometheus` package
//!   ships promtool; scripts/test installs it; CHARTER_PROMTOOL_BIN overrides);
//! - a real Prometheus scraping a real `charter run` whose metric source is
//!   unreachable fires `CharterBlind` from the shipped rules (their `for:` shortened
//!   to 1s for the test, nothing else changed), and not `CharterNoLeader`;
//! - every metric the dashboard's queries and the rules' expressions name is one a
//!   running `charter run` exposes at /metrics.
//!
//! A missing binary fails the test: it is never skipped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod servers;

use servers::{Proc, bin, free_port};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rules_path() -> PathBuf {
    repo().join("deploy/prometheus/charter-rules.yaml")
}

/// A charter whose Prometheus source is a loopback port nothing listens on: every
/// read fails, and after `blind_after` of them Charter is blind.
fn blind_charter(dead: u16) -> String {
    format!(
        r#"name: own-alerts
interval: 1s
mode: autonomous
source:
  prometheus: {{ url: "http://127.0.0.1:{dead}", timeout: 1s, blind_after: 2, retries: 0 }}
actuators:
  mesh: {{ http: {{ url: "http://127.0.0.1:{dead}", timeout: 1s }} }}
components:
  - {{ name: api, actuator: mesh, replicas: {{ min: 1, max: 4 }} }}
objectives:
  - name: latency_p99
    metric: http_latency_p99_seconds
    components: [api]
    signal: latency
    above: {{ warning: 0.4, critical: 1.0, clear: 0.3 }}
    for: 10s
    remedies: [scale_out]
"#
    )
}

fn start_charter(dir: &Path, port: u16) -> Proc {
    std::fs::write(dir.join("charter.yaml"), blind_charter(free_port())).expect("write");
    Proc::start(
        "charter",
        dir,
        env!("CARGO_BIN_EXE_charter"),
        &[
            "run".into(),
            "charter.yaml".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--db".into(),
            "k.db".into(),
        ],
    )
}

/// GET `http://host:port/path` over HTTP/1.0; the body when the status is 200.
fn get(url: &str) -> Option<String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_at(rest.find('/')?);
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.")
        .then(|| head.split_whitespace().nth(1) == Some("200"))
        .filter(|ok| *ok)
        .map(|_| body.to_string())
}

fn wait_for<T>(
    what: &str,
    timeout: Duration,
    logs: &[&Proc],
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            let tails: Vec<String> = logs.iter().map(|p| p.tail(30)).collect();
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                tails.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The series names an exposition offers: gauges and unknowns by their name,
/// counters with `_total`, histograms and summaries with their suffixes.
fn exported_series(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut it = rest.split_whitespace();
        let (Some(name), Some(kind)) = (it.next(), it.next()) else {
            continue;
        };
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
                names.insert(format!("{name}_created"));
            }
            "histogram" => {
                for s in ["_bucket", "_sum", "_count", "_created"] {
                    names.insert(format!("{name}{s}"));
                }
            }
            "summary" => {
                for s in ["", "_sum", "_count", "_created"] {
                    names.insert(format!("{name}{s}"));
                }
            }
            _ => {
                names.insert(name.to_string());
            }
        }
    }
    names
}

/// The metric families Charter's code registers: the `"charter_..."` literal that
/// opens each `register(` call (prometheus-client) in crates/*/src.
fn registered_families() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    for c in std::fs::read_dir(repo().join("crates"))
        .expect("crates")
        .flatten()
    {
        walk(&c.path().join("src"), &mut files);
    }
    let mut names = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for (i, _) in text.match_indices("register(") {
            let rest = text[i + "register(".len()..].trim_start();
            if let Some(lit) = rest.strip_prefix('"')
                && let Some(end) = lit.find('"')
                && lit[..end].starts_with("charter_")
            {
                names.insert(lit[..end].to_string());
            }
        }
        // A collector describes its metrics at scrape time (the process metrics): in
        // its file, every string literal with a metric prefix names one.
        if text.contains("impl Collector for") {
            for (i, _) in text.match_indices('"') {
                let lit = &text[i + 1..];
                if let Some(end) = lit.find('"')
                    && METRIC_PREFIXES
                        .iter()
                        .any(|p| lit[..end].starts_with(p) && end > p.len())
                    && lit[..end]
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'_')
                {
                    names.insert(lit[..end].to_string());
                }
            }
        }
    }
    names
}

/// What Charter's own metrics start with: its loop's, and its process's.
const METRIC_PREFIXES: [&str; 2] = ["charter_", "process_"];

/// Identifiers in a PromQL expression that look like Charter's metrics.
fn charter_metrics_in(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = expr.as_bytes();
    let mut i = 0;
    let next = |from: &str| METRIC_PREFIXES.iter().filter_map(|p| from.find(p)).min();
    while let Some(pos) = next(&expr[i..]) {
        let start = i + pos;
        let before_ok =
            start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_');
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_' || b[end] == b':')
        {
            end += 1;
        }
        if before_ok {
            out.push(expr[start..end].to_string());
        }
        i = end;
    }
    out
}

/// Every `expr` in the dashboard's panels' targets, with the panel's title, and
/// every query of its variables.
fn dashboard_queries() -> Vec<(String, String)> {
    let path = repo().join("deploy/grafana/charter-dashboard.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        if let Some(panels) = v["panels"].as_array() {
            for p in panels {
                let title = p["title"].as_str().unwrap_or("?").to_string();
                for t in p["targets"].as_array().into_iter().flatten() {
                    if let Some(e) = t["expr"].as_str() {
                        out.push((title.clone(), e.to_string()));
                    }
                }
                walk(p, out);
            }
        }
    }
    walk(&v, &mut out);
    // The variables' queries too (label_values(charter_..., label)).
    for var in v["templating"]["list"].as_array().into_iter().flatten() {
        if let Some(q) = var["query"]["query"]
            .as_str()
            .or(var["definition"].as_str())
            && q.contains('(')
        {
            let name = format!("variable {}", var["name"].as_str().unwrap_or("?"));
            out.push((name, q.to_string()));
        }
    }
    out
}

/// Every `expr` of the rules file, with the alert's name.
fn rule_exprs(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut alert = String::new();
    for line in text.lines() {
        let t = line.trim_start().trim_start_matches("- ");
        if let Some(a) = t.strip_prefix("alert: ") {
            alert = a.trim().to_string();
        } else if let Some(e) = t.strip_prefix("expr: ") {
            out.push((alert.clone(), e.trim().to_string()));
        }
    }
    out
}

#[test]
fn promtool_accepts_charter_rules() {
    let promtool = bin("CHARTER_PROMTOOL_BIN", "promtool");
    let out = Command::new(&promtool)
        .arg("check")
        .arg("rules")
        .arg(rules_path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {promtool}: {e}; scripts/test installs Debian's prometheus, which ships it"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool check rules failed:\n{text}");
    let n = rule_exprs(&std::fs::read_to_string(rules_path()).expect("rules file")).len();
    assert!(
        text.contains(&format!("SUCCESS: {n} rules found")),
        "{text}"
    );
}

#[test]
fn blind_alert_fires_on_real_prometheus_scraping_charter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (charter, prom) = (free_port(), free_port());
    // The shipped rules, every `for:` shortened to 1s so the test takes seconds.
    let rules = std::fs::read_to_string(rules_path()).expect("rules");
    let fast: String = rules
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("for: ") {
                let indent = &l[..l.len() - l.trim_start().len()];
                format!("{indent}for: 1s\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_ne!(fast, rules, "the rules have no `for:` to shorten");
    std::fs::write(d.join("charter-rules.yaml"), fast).expect("write");
    std::fs::write(
        d.join("prometheus.yml"),
        format!(
            r#"global: {{ scrape_interval: 1s, evaluation_interval: 1s }}
rule_files: [charter-rules.yaml]
scrape_configs:
  - job_name: charter
    static_configs: [{{ targets: ["127.0.0.1:{charter}"], labels: {{ namespace: test }} }}]
"#
        ),
    )
    .expect("write");
    let c = start_charter(d, charter);
    let p = Proc::start(
        "prometheus",
        d,
        &bin("CHARTER_PROMETHEUS_BIN", "prometheus"),
        &[
            "--config.file=prometheus.yml".into(),
            "--storage.tsdb.path=prom-data".into(),
            format!("--web.listen-address=127.0.0.1:{prom}"),
        ],
    );
    let logs = [&c, &p];
    let alerts = format!("http://127.0.0.1:{prom}/api/v1/alerts");
    let firing = wait_for(
        "CharterBlind firing in Prometheus",
        Duration::from_secs(90),
        &logs,
        || {
            let v: serde_json::Value = serde_json::from_str(&get(&alerts)?).ok()?;
            let list = v["data"]["alerts"].as_array()?.clone();
            list.iter()
                .any(|a| a["labels"]["alertname"] == "CharterBlind" && a["state"] == "firing")
                .then_some(list)
        },
    );
    let blind = firing
        .iter()
        .find(|a| a["labels"]["alertname"] == "CharterBlind")
        .expect("CharterBlind among the alerts");
    assert_eq!(blind["labels"]["severity"], "critical", "{blind}");
    assert_eq!(blind["labels"]["job"], "charter", "{blind}");
    assert_eq!(blind["labels"]["namespace"], "test", "{blind}");
    // A lone replica leads: the no-leader alert must stay quiet (it would fire if
    // its expression were always true).
    assert!(
        !firing
            .iter()
            .any(|a| a["labels"]["alertname"] == "CharterNoLeader"),
        "CharterNoLeader fires for a lone replica: {firing:?}"
    );
    // Prometheus saw it through the metric, not by chance: charter_blind is 1.
    let q = format!("http://127.0.0.1:{prom}/api/v1/query?query=charter_blind");
    let v: serde_json::Value =
        serde_json::from_str(&get(&q).expect("query")).expect("query answer");
    assert_eq!(v["data"]["result"][0]["value"][1], "1", "{v}");
}

#[test]
fn dashboard_and_rules_name_only_metrics_charter_exports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let c = start_charter(dir.path(), port);
    let url = format!("http://127.0.0.1:{port}/metrics");
    let exposition = wait_for("charter's /metrics", Duration::from_secs(30), &[&c], || {
        get(&url).filter(|t| t.contains("charter_ticks"))
    });
    let exported = exported_series(&exposition);
    assert!(exported.contains("charter_blind"), "{exposition}");
    // A labelled family with no child yet (no action taken, no outcome) is not in
    // the exposition; its registration in the code names it.
    let registered = registered_families();
    assert!(registered.contains("charter_actions"), "{registered:?}");
    let exposed: BTreeSet<&str> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for f in &exposed {
        assert!(
            registered.contains(*f),
            "`{f}` is exposed but no register(\"{f}\", ...) was found in crates/*/src"
        );
    }
    let known = |n: &str| {
        exported.contains(n)
            || registered.iter().any(|f| {
                !exposed.contains(f.as_str())
                    && ["", "_total", "_bucket", "_sum", "_count"]
                        .iter()
                        .any(|sfx| n == format!("{f}{sfx}"))
            })
    };

    let queries = dashboard_queries();
    assert!(
        queries.len() >= 8,
        "the dashboard has {} queries",
        queries.len()
    );
    let rules = rule_exprs(&std::fs::read_to_string(rules_path()).expect("rules file"));
    assert!(
        rules.len() >= 8,
        "the rules file has {} expressions",
        rules.len()
    );
    let mut unknown = Vec::new();
    let mut used = BTreeSet::new();
    for (owner, expr) in queries.iter().chain(rules.iter()) {
        let names = charter_metrics_in(expr);
        if names.is_empty() {
            unknown.push(format!("{owner}: `{expr}` names no charter_ metric"));
        }
        for n in names {
            if !known(&n) {
                unknown.push(format!("{owner}: `{n}` is not exported"));
            }
            used.insert(n);
        }
    }
    assert!(
        unknown.is_empty(),
        "{}\nexported: {exported:?}\nregistered: {registered:?}",
        unknown.join("\n")
    );
    // The dashboard shows every metric Charter exports (stages, incidents, actions,
    // outcomes, leadership, blindness).
    let dash: BTreeSet<String> = queries
        .iter()
        .flat_map(|(_, e)| charter_metrics_in(e))
        .collect();
    for f in registered
        .iter()
        .map(String::as_str)
        .chain(exposed.iter().copied())
    {
        assert!(
            dash.iter().any(|n| n.starts_with(f)),
            "the dashboard shows nothing of `{f}`"
        );
    }
}

#[test]
fn exposition_parsing_and_metric_names() {
    let e = "# TYPE charter_ticks counter\n# TYPE charter_blind gauge\n# TYPE charter_tick_seconds histogram\n";
    let s = exported_series(e);
    assert!(s.contains("charter_ticks_total") && !s.contains("charter_ticks"));
    assert!(s.contains("charter_tick_seconds_bucket") && s.contains("charter_blind"));
    assert_eq!(
        charter_metrics_in("sum(rate(charter_ticks_total[5m])) / xcharter_no + charter_blind"),
        vec!["charter_ticks_total", "charter_blind"]
    );
    assert_eq!(
        charter_metrics_in("rate(process_cpu_seconds_total[5m]) + charter_blind"),
        vec!["process_cpu_seconds_total", "charter_blind"]
    );
}
