//! Scores over cases: AC@k (share of cases whose truth is in the top k) and
//! Avg@5 = mean of AC@1..AC@5, per group and overall, and the tables as text.

use charter_analyze::{DiagnosisInput, EpisodeLog, MetricSeries, RankOptions, diagnose};
use charter_model::{Hypothesis, IncidentId, Timestamp, Topology};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The ranking every dataset harness runs: [`charter_analyze::diagnose`] on metric
/// windows alone (no violations, changes, refutations or history), with the graph,
/// the nodes hosting each component and the alert's target where the dataset gives
/// them, at `now` (default: the last anomalous time of any series).
pub fn rank_offline(
    series: &[MetricSeries],
    graph: Option<&Topology>,
    nodes: Option<&BTreeMap<String, String>>,
    target: Option<&str>,
    now: Option<Timestamp>,
    options: &RankOptions,
) -> Vec<Hypothesis> {
    let now = now.unwrap_or_else(|| {
        series
            .iter()
            .filter_map(|s| s.times.last())
            .max()
            .copied()
            .unwrap_or(Timestamp(0))
    });
    diagnose(DiagnosisInput {
        incident_id: IncidentId(0),
        now,
        violations: &[],
        series,
        topology: graph,
        zones: None,
        nodes,
        changes: &[],
        refuted: &[],
        episodes: EpisodeLog::none(),
        observed_since: Timestamp(0),
        unobserved: &[],
        target,
        options,
    })
    .hypotheses
}

/// The outcome of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub case: String,
    /// Fault type (Sock Shop, Nezha, chaos) or scenario/target (PetShop).
    pub group: String,
    /// A coarser label where the dataset gives one (Nezha: resource or code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    pub truth: String,
    /// 1-based rank of the truth, `None` if it was not ranked.
    pub rank: Option<usize>,
    pub top: Vec<String>,
    pub evidence: Vec<String>,
    /// Detected minus true onset, when the onset was detected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onset_error_secs: Option<f64>,
    /// What the harness had to say about the case: an empty ranking, a baseline
    /// recorded after the incident, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Loading and analysis.
    pub wall_ms: f64,
    /// Analysis alone (onset detection and ranking).
    pub analysis_ms: f64,
}

/// AC@1..AC@5 and Avg@5 of a group of cases.
#[derive(Debug, Clone, Serialize)]
pub struct Accuracy {
    pub cases: usize,
    pub ac_at: [f64; 5],
    pub ac1: f64,
    pub ac3: f64,
    pub ac5: f64,
    pub avg5: f64,
    /// Cases whose ranking came out empty.
    pub empty: usize,
}

impl Accuracy {
    /// The accuracy of these cases.
    pub fn of<'a>(results: impl Iterator<Item = &'a CaseResult>) -> Self {
        let mut hits = [0usize; 5];
        let mut n = 0;
        let mut empty = 0;
        for r in results {
            n += 1;
            if r.top.is_empty() {
                empty += 1;
            }
            for (k, h) in hits.iter_mut().enumerate() {
                if r.rank.is_some_and(|p| p <= k + 1) {
                    *h += 1;
                }
            }
        }
        let ac_at = hits.map(|h| if n == 0 { 0.0 } else { h as f64 / n as f64 });
        Self {
            cases: n,
            ac_at,
            ac1: ac_at[0],
            ac3: ac_at[2],
            ac5: ac_at[4],
            avg5: ac_at.iter().sum::<f64>() / 5.0,
            empty,
        }
    }
}

/// Per-group and overall accuracy, and the cases behind them.
#[derive(Debug, Clone, Serialize)]
pub struct AccuracyTable {
    pub groups: BTreeMap<String, Accuracy>,
    pub overall: Accuracy,
    pub mean_wall_ms_per_case: f64,
    pub mean_analysis_ms_per_case: f64,
    pub max_analysis_ms_per_case: f64,
    pub cases: Vec<CaseResult>,
}

impl AccuracyTable {
    /// Score a set of case results.
    pub fn from_results(cases: Vec<CaseResult>) -> Self {
        let n = cases.len().max(1) as f64;
        Self {
            groups: by(&cases, |c| c.group.clone()),
            overall: Accuracy::of(cases.iter()),
            mean_wall_ms_per_case: cases.iter().map(|c| c.wall_ms).sum::<f64>() / n,
            mean_analysis_ms_per_case: cases.iter().map(|c| c.analysis_ms).sum::<f64>() / n,
            max_analysis_ms_per_case: cases.iter().map(|c| c.analysis_ms).fold(0.0, f64::max),
            cases,
        }
    }

    /// Accuracy per value of `key`.
    pub fn by(&self, key: impl Fn(&CaseResult) -> String) -> BTreeMap<String, Accuracy> {
        by(&self.cases, key)
    }

    /// The groups' table, then `all`.
    pub fn render(&self) -> String {
        let mut rows: Vec<(String, &Accuracy)> =
            self.groups.iter().map(|(g, a)| (g.clone(), a)).collect();
        rows.push(("all".into(), &self.overall));
        render_groups(&rows)
    }

    /// One line per case (rank of the truth, top 5, notes), then the times.
    pub fn render_cases(&self) -> String {
        let mut s = String::new();
        for c in &self.cases {
            let _ = writeln!(
                s,
                "  {:<44} truth {:<22} rank {:>2} top {:?}{}{}",
                c.case,
                c.truth,
                c.rank.map_or("-".into(), |r| r.to_string()),
                c.top,
                c.onset_error_secs
                    .map_or(String::new(), |e| format!(" onset err {e:+}s")),
                c.note.as_ref().map_or(String::new(), |n| format!(" [{n}]"))
            );
        }
        let _ = writeln!(
            s,
            "wall {:.1} ms/case (loading and analysis), analysis {:.3} ms/case (max {:.3})",
            self.mean_wall_ms_per_case,
            self.mean_analysis_ms_per_case,
            self.max_analysis_ms_per_case
        );
        s
    }
}

fn by(cases: &[CaseResult], key: impl Fn(&CaseResult) -> String) -> BTreeMap<String, Accuracy> {
    let mut names: Vec<String> = cases.iter().map(&key).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|g| {
            let a = Accuracy::of(cases.iter().filter(|c| key(c) == g));
            (g, a)
        })
        .collect()
}

/// A table of named groups: cases, AC@1, AC@3, AC@5, Avg@5, empty rankings.
pub fn render_groups(rows: &[(String, &Accuracy)]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<24} {:>5} {:>6} {:>6} {:>6} {:>6} {:>6}",
        "group", "cases", "AC@1", "AC@3", "AC@5", "Avg@5", "empty"
    );
    for (g, a) in rows {
        let _ = writeln!(
            s,
            "{g:<24} {:>5} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6}",
            a.cases, a.ac1, a.ac3, a.ac5, a.avg5, a.empty
        );
    }
    s
}
