//! Prometheus alerting rules to charter objectives.
//!
//! [`import_rules`] reads rule files — `groups: [{name, rules: [...]}]`, or a Kubernetes
//! `PrometheusRule` whose `spec.groups` holds the same — and turns every alerting rule
//! of the form `EXPR <op> NUMBER` into a candidate objective; [`render_objectives`]
//! prints the result as charter YAML to paste under a charter and review.
//!
//! What converts:
//!
//! - `a > 5` and `5 < a` become `above` 5; `a < 5` and `5 > a` become `below` 5. The
//!   number may be a constant expression (`86400 * 7`) or parenthesised.
//! - `>=` and `<=` become `above` / `below` with a note: the charter compares strictly,
//!   so a value exactly at the threshold no longer breaches.
//! - Equality has no threshold form in general, so `==` / `!=` convert only where the
//!   value can be read as a whole number: `== 0` (and `!= 0`) on a bare selector or a
//!   `sum`, `min`, `max` or `count` of one becomes `below 1` (`above 0`), exact for
//!   non-negative whole numbers such as `up` or a replica count; `== 1` (and `!= 1`) on
//!   a bare selector or a `min` / `max` of one is read as a 0/1 flag
//!   (`node_filesystem_readonly == 1`) and becomes `above 0` (`below 1`).
//! - Comparisons of two expressions are rewritten exactly into one expression against
//!   a number: `a != b` as `abs(a - b)` above 0, `a == b` of whole numbers as
//!   `abs(a - b)` below 1, `a > b * k` as `a / b` above `k` when `b` is never negative,
//!   any other order comparison as `a - b` against 0.
//! - `absent(EXPR)` becomes an `absent:` objective on `EXPR`.
//! - `labels.severity` picks the slot: `critical`, `crit`, `page`, `high`, `major` and
//!   `emergency` are critical, anything else (`warning`, `info`, `low`, none) warning.
//! - The component label comes from the expression (`labels`): its outermost
//!   grouping, else its selectors, else the preferred label, assumed.
//!
//! What is skipped, each with a reason in [`ImportReport::skipped`]: `bool`
//! comparisons, `and` / `or` / `unless` at the top, equality of two expressions that
//! are not whole numbers, expressions without a comparison (`vector(1)`),
//! `absent_over_time`, aggregations that keep no label (`sum(...)` without `by`),
//! other equalities, invalid PromQL or durations, and files that are not YAML rule
//! files. Recording rules are skipped silently. docs/import-rules.md says what to
//! write instead.
//!
//! Rules comparing the same expression in the same direction merge into one objective
//! holding at most one warning and one critical threshold (taking the shortest `for`
//! and the longest `keep_firing_for`); thresholds in the wrong order for the direction
//! (including equal ones) stay separate objectives named `<alert>_<severity>`. `clear`
//! is left to the charter's default.

use crate::charter::{Direction, Signal};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::Duration;

mod labels;
mod promql;
mod render;

pub use promql::{
    MAX_EXPR_BYTES, MAX_EXPR_DEPTH, MAX_EXPR_TOKENS, check_bounds as check_promql_bounds,
    parse_bounded as parse_promql,
};
pub use render::render_objectives;

/// How rules are imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// The preferred label naming components: chosen among several grouping labels
    /// and assumed for an expression that aggregates nothing and whose selectors
    /// name no other component label.
    pub component_label: String,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            component_label: crate::config::defaults::COMPONENT_LABEL.into(),
        }
    }
}

/// What [`import_rules`] made of a set of rule files.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImportReport {
    /// Objectives, in the order their first rule appears.
    pub objectives: Vec<ImportedObjective>,
    /// Alerting rules (and whole files) that could not be converted, in file order.
    pub skipped: Vec<SkippedRule>,
}

/// The severity slot an alerting rule's threshold fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    /// Read a rule's `severity` label; unknown and missing values are warnings.
    pub fn from_label(label: Option<&str>) -> Severity {
        let label = label.map(|l| l.trim().to_ascii_lowercase());
        match label.as_deref() {
            Some("critical" | "crit" | "page" | "high" | "major" | "emergency") => {
                Severity::Critical
            }
            _ => Severity::Warning,
        }
    }

    /// `warning` or `critical`, as the charter spells the threshold.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one merged alerting rule came from.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleOrigin {
    pub file: String,
    pub group: String,
    /// The alert name.
    pub alert: String,
    /// The line of the rule in its file (1-based).
    pub line: u64,
    pub severity: Severity,
    /// The rule's threshold, after any rewrite (`== 0` becomes `below 1`).
    pub threshold: f64,
}

/// A charter objective read from one or more alerting rules.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedObjective {
    /// snake_case of the alert name, unique within the report.
    pub name: String,
    /// The compared PromQL expression, as printed by the parser.
    pub expr: String,
    pub direction: Direction,
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    /// The shortest `for` among the merged rules.
    pub for_: Duration,
    /// The longest `keep_firing_for` among the merged rules: one rule asking to
    /// hold a firing alert against flapping is enough to keep it.
    pub keep_firing_for: Duration,
    /// The label naming the component, read from the expression's grouping or
    /// selectors (see [`ImportedObjective::component_label_why`]).
    pub component_label: String,
    /// Where `component_label` came from, in words for the generated comment
    /// (for example: from the only label of the grouping `sum by (instance)`).
    pub component_label_why: String,
    /// The one component the expression's selectors pick (`up{job="api"}` with
    /// `component_label: job`); empty when it applies to every component.
    pub components: Vec<String>,
    /// `absent(EXPR)`: `expr` is the argument and the objective is violated while
    /// it returns no series for a component (`absent:` in the charter).
    pub absent: bool,
    /// Guessed from the alert and metric names.
    pub signal: Signal,
    /// The first rule's `summary` annotation (or `description`, or `message`).
    pub summary: Option<String>,
    /// The alert names merged in, without repeats.
    pub from: Vec<String>,
    /// Each merged rule, in file order.
    pub origins: Vec<RuleOrigin>,
    /// How comparisons were rewritten, for the reviewer.
    pub notes: Vec<String>,
}

/// An alerting rule, or a whole file, that did not become an objective.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRule {
    pub file: String,
    /// The group's name; empty when the whole file was skipped.
    pub group: String,
    /// The alert name; empty when the whole file was skipped or the rule has none.
    pub rule: String,
    /// 1-based line of the rule, or of the parse error for a file.
    pub line: u64,
    pub reason: String,
}

impl fmt::Display for SkippedRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        match (self.group.is_empty(), self.rule.is_empty()) {
            (false, false) => write!(f, "{}/{}: ", self.group, self.rule)?,
            (false, true) => write!(f, "{}: ", self.group)?,
            (true, false) => write!(f, "{}: ", self.rule)?,
            (true, true) => {}
        }
        f.write_str(&self.reason)
    }
}

/// Convert alerting rules into objectives. `files` holds `(file name, text)` pairs;
/// the name only labels origins and skipped rules. Never fails: whatever cannot be
/// converted is listed in [`ImportReport::skipped`].
pub fn import_rules(files: &[(String, String)], options: &ImportOptions) -> ImportReport {
    let mut candidates = Vec::new();
    let mut skipped = Vec::new();
    for (file, text) in files {
        read_file(
            file,
            text,
            &options.component_label,
            &mut candidates,
            &mut skipped,
        );
    }
    ImportReport {
        objectives: merge(candidates),
        skipped,
    }
}

type S<T> = Spanned<T>;

/// A rule file as written: plain, or a `PrometheusRule` resource.
#[derive(Debug, Deserialize)]
struct RuleFileConfig {
    #[serde(default, deserialize_with = "present")]
    groups: Option<Option<Vec<S<GroupConfig>>>>,
    #[serde(default, deserialize_with = "present")]
    spec: Option<Option<SpecConfig>>,
}

/// `spec:` of a `PrometheusRule`.
#[derive(Debug, Deserialize)]
struct SpecConfig {
    #[serde(default)]
    groups: Option<Vec<S<GroupConfig>>>,
}

/// `groups[i]`. Unknown keys (`interval`, `limit`, `query_offset`, ...) are ignored.
#[derive(Debug, Deserialize)]
struct GroupConfig {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    rules: Option<Vec<S<RuleConfig>>>,
    /// Group labels (Prometheus 3) apply to every rule; used for `severity`.
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// `groups[i].rules[j]`. Fields are optional so that one odd rule is reported alone
/// instead of failing its file.
#[derive(Debug, Deserialize)]
struct RuleConfig {
    #[serde(default)]
    alert: Option<String>,
    #[serde(default)]
    record: Option<String>,
    #[serde(default)]
    expr: Option<String>,
    #[serde(default, rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

/// Tells a key given as `null` (`Some(None)`) from a missing key (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// An alerting rule read as one threshold, before merging.
#[derive(Debug, Clone)]
struct Candidate {
    origin: RuleOrigin,
    expr: String,
    absent: bool,
    label: labels::LabelChoice,
    direction: Direction,
    for_: Duration,
    keep_firing_for: Duration,
    summary: Option<String>,
    signal: Signal,
    notes: Vec<String>,
}

fn read_file(
    file: &str,
    text: &str,
    preferred: &str,
    candidates: &mut Vec<Candidate>,
    skipped: &mut Vec<SkippedRule>,
) {
    let file_skip = |line: u64, reason: String| SkippedRule {
        file: file.to_string(),
        group: String::new(),
        rule: String::new(),
        line: line.max(1),
        reason,
    };
    // Prometheus accepts a rule file holding nothing but comments.
    if is_blank(text) {
        return;
    }
    let raw: RuleFileConfig = match serde_saphyr::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let line = e.location().map_or(1, |l| l.line());
            skipped.push(file_skip(
                line,
                format!("not a valid rule file: {}", yaml_message(&e)),
            ));
            return;
        }
    };
    let groups = match (raw.groups, raw.spec) {
        (Some(groups), _) => groups.unwrap_or_default(),
        (None, Some(spec)) => spec.and_then(|s| s.groups).unwrap_or_default(),
        (None, None) => {
            skipped.push(file_skip(
                1,
                "not a rule file: no `groups:` (or `spec.groups:`) key".into(),
            ));
            return;
        }
    };
    for group in &groups {
        let group_name = group.value.name.clone().unwrap_or_default();
        let group_severity = group
            .value
            .labels
            .as_ref()
            .and_then(|l| l.get("severity"))
            .map(String::as_str);
        for rule in group.value.rules.iter().flatten() {
            let line = rule.referenced.line().max(1);
            let r = &rule.value;
            let skip = |rule: Option<&String>, reason: String| SkippedRule {
                file: file.to_string(),
                group: group_name.clone(),
                rule: rule.cloned().unwrap_or_default(),
                line,
                reason,
            };
            let alert = match (&r.alert, &r.record) {
                // Recording rules name series; they hold no threshold.
                (None, Some(_)) => continue,
                (Some(a), Some(_)) => {
                    skipped.push(skip(Some(a), "has both `alert` and `record`".into()));
                    continue;
                }
                (None, None) => {
                    skipped.push(skip(None, "has neither `alert` nor `record`".into()));
                    continue;
                }
                (Some(a), None) if a.trim().is_empty() => {
                    skipped.push(skip(Some(a), "has an empty alert name".into()));
                    continue;
                }
                (Some(a), None) => a,
            };
            match read_rule(r, alert, group_severity, preferred) {
                Ok((threshold, severity, for_, keep_firing_for)) => candidates.push(Candidate {
                    origin: RuleOrigin {
                        file: file.to_string(),
                        group: group_name.clone(),
                        alert: alert.clone(),
                        line,
                        severity,
                        threshold: threshold.value,
                    },
                    expr: threshold.expr,
                    absent: threshold.absent,
                    label: threshold.label,
                    direction: threshold.direction,
                    for_,
                    keep_firing_for,
                    summary: summary(r),
                    signal: threshold.signal,
                    notes: threshold.note.into_iter().collect(),
                }),
                Err(reason) => skipped.push(skip(Some(alert), reason)),
            }
        }
    }
}

fn read_rule(
    r: &RuleConfig,
    alert: &str,
    group_severity: Option<&str>,
    preferred: &str,
) -> Result<(promql::Threshold, Severity, Duration, Duration), String> {
    let expr = r
        .expr
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .ok_or("has no `expr`")?;
    let for_ = duration(r.for_.as_deref(), "for")?;
    let keep_firing_for = duration(r.keep_firing_for.as_deref(), "keep_firing_for")?;
    let threshold = promql::read_threshold(expr, alert, preferred)?;
    let label = r
        .labels
        .as_ref()
        .and_then(|l| l.get("severity"))
        .map(String::as_str)
        .or(group_severity);
    Ok((
        threshold,
        Severity::from_label(label),
        for_,
        keep_firing_for,
    ))
}

/// A Prometheus duration (`5m`, `1h30m`, `0`); humantime reads the same units.
fn duration(v: Option<&str>, key: &str) -> Result<Duration, String> {
    let Some(v) = v.map(str::trim) else {
        return Ok(Duration::ZERO);
    };
    if v == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(v).map_err(|e| format!("invalid `{key}` duration `{v}`: {e}"))
}

fn summary(r: &RuleConfig) -> Option<String> {
    let a = r.annotations.as_ref()?;
    ["summary", "description", "message"]
        .iter()
        .filter_map(|k| a.get(*k))
        .map(|s| s.trim())
        .find(|s| !s.is_empty())
        .map(str::to_string)
}

/// serde-saphyr's message without its snippet, its trailing location or its advice
/// to Rust programmers (`; use Option<String>`).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let full = e.without_snippet().to_string();
    let first = full.lines().next().unwrap_or("invalid document").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let cut = [" at line ", "; use "]
        .iter()
        .filter_map(|m| first.find(m))
        .min()
        .map_or(first, |i| &first[..i]);
    cut.trim_end_matches('.').to_string()
}

fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

/// True if `critical` is worse than `warning` for the direction, as the charter wants.
fn in_order(direction: Direction, warning: f64, critical: f64) -> bool {
    match direction {
        Direction::Above => critical > warning,
        Direction::Below => critical < warning,
    }
}

/// Merge candidates comparing the same expression the same way, at most one per
/// severity and only with thresholds in the charter's order; then name the results.
fn merge(candidates: Vec<Candidate>) -> Vec<ImportedObjective> {
    let mut slots: Vec<Vec<Candidate>> = Vec::new();
    for c in candidates {
        let fits = |slot: &Vec<Candidate>| {
            slot.iter().all(|m| {
                m.expr == c.expr
                    && m.absent == c.absent
                    && m.label == c.label
                    && m.direction == c.direction
                    && m.origin.severity != c.origin.severity
                    && match c.origin.severity {
                        Severity::Warning => {
                            in_order(c.direction, c.origin.threshold, m.origin.threshold)
                        }
                        Severity::Critical => {
                            in_order(c.direction, m.origin.threshold, c.origin.threshold)
                        }
                    }
            })
        };
        match slots.iter_mut().find(|s| fits(s)) {
            Some(slot) => slot.push(c),
            None => slots.push(vec![c]),
        }
    }

    let bases: Vec<String> = slots.iter().map(|s| base_name(s)).collect();
    let mut base_count: HashMap<&str, usize> = HashMap::new();
    for b in &bases {
        *base_count.entry(b.as_str()).or_default() += 1;
    }
    let mut used = HashSet::new();
    let mut objectives = Vec::with_capacity(slots.len());
    for (slot, base) in slots.iter().zip(&bases) {
        let mut name = base.clone();
        if base_count[base.as_str()] > 1 && slot.len() == 1 {
            name = format!("{base}_{}", slot[0].origin.severity);
        }
        objectives.push(objective(slot, unique(name, &mut used)));
    }
    objectives
}

fn objective(slot: &[Candidate], name: String) -> ImportedObjective {
    let first = &slot[0];
    let threshold = |sev| {
        slot.iter()
            .find(|c| c.origin.severity == sev)
            .map(|c| c.origin.threshold)
    };
    let mut from: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for c in slot {
        if !from.contains(&c.origin.alert) {
            from.push(c.origin.alert.clone());
        }
        for n in &c.notes {
            if !notes.contains(n) {
                notes.push(n.clone());
            }
        }
    }
    ImportedObjective {
        name,
        expr: first.expr.clone(),
        direction: first.direction,
        warning: threshold(Severity::Warning),
        critical: threshold(Severity::Critical),
        for_: slot.iter().map(|c| c.for_).min().unwrap_or_default(),
        keep_firing_for: slot
            .iter()
            .map(|c| c.keep_firing_for)
            .max()
            .unwrap_or_default(),
        component_label: first.label.label.clone(),
        component_label_why: first.label.why.clone(),
        components: first.label.component.iter().cloned().collect(),
        absent: first.absent,
        signal: first.signal,
        summary: slot.iter().find_map(|c| c.summary.clone()),
        from,
        origins: slot.iter().map(|c| c.origin.clone()).collect(),
        notes,
    }
}

/// The slot's name before disambiguation: the alert's snake_case name, or, for
/// differently named alerts (`HighLatencyWarning` + `HighLatencyCritical`), their
/// common name once a severity suffix is dropped.
fn base_name(slot: &[Candidate]) -> String {
    let names: Vec<String> = slot.iter().map(|c| snake_case(&c.origin.alert)).collect();
    let first = names[0].clone();
    if names.iter().all(|n| *n == first) {
        return first;
    }
    let stripped: Vec<&str> = names.iter().map(|n| strip_severity(n)).collect();
    if !stripped[0].is_empty() && stripped.iter().all(|n| *n == stripped[0]) {
        return stripped[0].to_string();
    }
    first
}

fn strip_severity(name: &str) -> &str {
    for suffix in [
        "_warning",
        "_warn",
        "_critical",
        "_crit",
        "_page",
        "_info",
        "_high",
        "_low",
    ] {
        if let Some(s) = name.strip_suffix(suffix) {
            return s;
        }
    }
    name
}

fn unique(name: String, used: &mut HashSet<String>) -> String {
    let mut candidate = name.clone();
    let mut n = 2;
    while used.contains(&candidate) {
        candidate = format!("{name}_{n}");
        n += 1;
    }
    used.insert(candidate.clone());
    candidate
}

/// Lowercase words of an identifier, split at non-alphanumerics and at case changes
/// (`HTTPHighLatencyP99` → `http`, `high`, `latency`, `p99`).
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in s.split(|c: char| !c.is_alphanumeric()) {
        let chars: Vec<char> = part.chars().collect();
        let mut word = String::new();
        for (i, &c) in chars.iter().enumerate() {
            if i > 0 && c.is_uppercase() {
                let prev = chars[i - 1];
                let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
                if prev.is_lowercase() || prev.is_numeric() || (prev.is_uppercase() && next_lower) {
                    out.push(std::mem::take(&mut word));
                }
            }
            word.extend(c.to_lowercase());
        }
        if !word.is_empty() {
            out.push(word);
        }
    }
    out
}

/// snake_case of an alert name (`KubePodCrashLooping` → `kube_pod_crash_looping`).
fn snake_case(s: &str) -> String {
    let w = words(s);
    if w.is_empty() {
        "alert".into()
    } else {
        w.join("_")
    }
}

#[cfg(test)]
mod tests;
