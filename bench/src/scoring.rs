//! Scores over cases: AC@k (share of cases whose truth is in the top k) and
//! Avg@5 = mean of AC@1..AC@5, per group and overall.

use serde::Serialize;
use std::collections::BTreeMap;

/// The outcome of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub case: String,
    /// Fault type (Sock Shop) or scenario/target (PetShop).
    pub group: String,
    pub truth: String,
    /// 1-based rank of the truth, `None` if it was not ranked.
    pub rank: Option<usize>,
    pub top: Vec<String>,
    pub evidence: Vec<String>,
    /// Detected minus true onset, when the onset was detected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onset_error_secs: Option<f64>,
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
    pub avg5: f64,
}

impl Accuracy {
    fn of<'a>(results: impl Iterator<Item = &'a CaseResult>) -> Self {
        let mut hits = [0usize; 5];
        let mut n = 0;
        for r in results {
            n += 1;
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
            avg5: ac_at.iter().sum::<f64>() / 5.0,
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
    pub cases: Vec<CaseResult>,
}

impl AccuracyTable {
    /// Score a set of case results.
    pub fn from_results(cases: Vec<CaseResult>) -> Self {
        let mut names: Vec<&str> = cases.iter().map(|c| c.group.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let groups = names
            .iter()
            .map(|g| {
                (
                    g.to_string(),
                    Accuracy::of(cases.iter().filter(|c| c.group == *g)),
                )
            })
            .collect();
        let n = cases.len().max(1) as f64;
        Self {
            groups,
            overall: Accuracy::of(cases.iter()),
            mean_wall_ms_per_case: cases.iter().map(|c| c.wall_ms).sum::<f64>() / n,
            mean_analysis_ms_per_case: cases.iter().map(|c| c.analysis_ms).sum::<f64>() / n,
            cases,
        }
    }
}
