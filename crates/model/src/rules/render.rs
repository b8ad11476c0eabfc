//! Imported objectives printed as charter YAML, written by hand so that origins,
//! summaries and to-dos can travel along as comments.

use super::{ImportReport, ImportedObjective};
use crate::charter::{Direction, Signal};
use std::fmt::Write as _;
use std::time::Duration;

/// The report as an `objectives:` block that `parse_charter` accepts once pasted into
/// a charter. Each objective carries its origins, summary and notes as comments and
/// an empty `remedies` list to fill in; skipped rules are listed in the header.
pub fn render_objectives(report: &ImportReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Imported from Prometheus alerting rules: {} objective(s), {} rule(s) skipped.",
        report.objectives.len(),
        report.skipped.len()
    );
    out.push_str(
        "# Review each objective: its components, a `clear` threshold, and its remedies.\n",
    );
    if !report.skipped.is_empty() {
        out.push_str("# Skipped:\n");
        for s in &report.skipped {
            comment(&mut out, "", &format!("  {s}"));
        }
    }
    if report.objectives.is_empty() {
        out.push_str("objectives: []\n");
        return out;
    }
    out.push_str("objectives:\n");
    for o in &report.objectives {
        objective(&mut out, o);
    }
    out
}

fn objective(out: &mut String, o: &ImportedObjective) {
    const IN: &str = "  ";
    for origin in &o.origins {
        let when = if o.absent {
            "when absent".to_string()
        } else {
            format!("{} {}", side(o.direction), number(origin.threshold))
        };
        comment(
            out,
            IN,
            &format!(
                "from alert {} ({}:{}, {} {when})",
                origin.alert, origin.file, origin.line, origin.severity,
            ),
        );
    }
    if let Some(s) = &o.summary {
        comment(out, IN, &format!("summary: {s}"));
    }
    comment(
        out,
        IN,
        &format!(
            "component_label `{}`: {}",
            o.component_label, o.component_label_why
        ),
    );
    if let [c] = o.components.as_slice() {
        comment(
            out,
            IN,
            &format!(
                "components: the selectors pick `{c}` only; declare it if the charter lacks it"
            ),
        );
    }
    for n in &o.notes {
        comment(out, IN, &format!("note: {n}"));
    }
    let _ = writeln!(out, "{IN}- name: {}", scalar(&o.name));
    let key = if o.absent { "absent" } else { "expr" };
    let _ = writeln!(out, "{IN}  {key}: {}", quoted(&o.expr));
    let _ = writeln!(out, "{IN}  component_label: {}", scalar(&o.component_label));
    if !o.components.is_empty() {
        let list: Vec<String> = o.components.iter().map(|c| scalar(c)).collect();
        let _ = writeln!(out, "{IN}  components: [{}]", list.join(", "));
    }
    let _ = writeln!(out, "{IN}  signal: {}", signal(o.signal));
    let mut thresholds = Vec::new();
    if let Some(w) = o.warning {
        thresholds.push(format!("warning: {}", number(w)));
    }
    if let Some(c) = o.critical {
        thresholds.push(format!("critical: {}", number(c)));
    }
    let _ = writeln!(
        out,
        "{IN}  {}: {{ {} }}",
        side(o.direction),
        thresholds.join(", ")
    );
    if !o.for_.is_zero() {
        let _ = writeln!(out, "{IN}  for: {}", duration(o.for_));
    }
    if !o.keep_firing_for.is_zero() {
        let _ = writeln!(
            out,
            "{IN}  keep_firing_for: {}",
            duration(o.keep_firing_for)
        );
    }
    let _ = writeln!(out, "{IN}  # TODO choose remedies");
    let _ = writeln!(out, "{IN}  remedies: []");
}

/// One `# ` comment line per line of `text`.
fn comment(out: &mut String, indent: &str, text: &str) {
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            let _ = writeln!(out, "{indent}#");
        } else {
            let _ = writeln!(out, "{indent}# {line}");
        }
    }
}

fn side(d: Direction) -> &'static str {
    match d {
        Direction::Above => "above",
        Direction::Below => "below",
    }
}

fn signal(s: Signal) -> &'static str {
    match s {
        Signal::Latency => "latency",
        Signal::Errors => "errors",
        Signal::Saturation => "saturation",
        Signal::Utilization => "utilization",
        Signal::Memory => "memory",
        Signal::Availability => "availability",
        Signal::Cache => "cache",
        Signal::Pool => "pool",
        Signal::Traffic => "traffic",
        Signal::Cost => "cost",
        Signal::Other => "other",
        Signal::Network => "network",
        Signal::Io => "io",
    }
}

/// A number as YAML reads it back; Rust never prints `f64` with an exponent.
fn number(v: f64) -> String {
    format!("{v}")
}

/// A compact duration humantime reads back: `5m`, `1h30m`, `500ms`.
pub(super) fn duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut s = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            let _ = write!(s, "{}{unit}", ms / size);
            ms %= size;
        }
    }
    s
}

/// A plain scalar when it cannot be misread (a lowercase identifier that is not a YAML
/// keyword), else a double-quoted one.
pub(super) fn scalar(s: &str) -> String {
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !matches!(
            s,
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain { s.to_string() } else { quoted(s) }
}

/// A YAML double-quoted scalar; escapes backslashes, quotes and control characters.
pub(super) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
