//! Export and import of learned statistics (`charter knowledge export|import`), so a
//! new installation starts from what another learned.
//!
//! The file is versioned JSON ([`KnowledgeExport`]): per exact context the decayed
//! Beta evidence (alpha, beta) at export time and the time to effect. An import turns
//! it into [`LearnedPrior`]s with a weight at most 1, which the learning view adds as
//! pseudo-outcomes that do not decay. Only the exporting installation's own outcomes
//! are exported, never what it imported, so evidence is not counted twice along a
//! chain of installations.

use crate::insights;
use crate::records::{LearnedPrior, OutcomeRecord};
use charter_model::charter::Learning;
use charter_model::{ActionKind, Timestamp};
use serde::{Deserialize, Serialize};

/// The `format` field of an export.
pub const EXPORT_FORMAT: &str = "charter-knowledge";
/// The version this build writes and reads.
pub const EXPORT_VERSION: u32 = 1;

/// The most evidence (alpha or beta) one context may carry: a million outcomes,
/// far past what decayed learning keeps, and small enough that the arithmetic of
/// the credible intervals stays exact.
pub const MAX_EVIDENCE: f64 = 1e6;
/// The longest time to effect an export may carry: a week (the longest verification
/// a charter can set is shorter).
pub const MAX_TIME_TO_EFFECT_SECS: f64 = 7.0 * 86_400.0;
/// The longest half-life an export may name: ten years, as the charter allows.
pub const MAX_HALF_LIFE_SECS: f64 = 3650.0 * 86_400.0;

/// A knowledge export file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnowledgeExport {
    pub format: String,
    pub version: u32,
    /// Who exported it (the charter's name), recorded with imported rows.
    pub source: String,
    pub exported_at: Timestamp,
    /// The half-life the evidence was decayed with.
    pub half_life_secs: f64,
    pub contexts: Vec<ExportedContext>,
}

/// The learned statistics of one (kind, objective, component).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedContext {
    pub kind: ActionKind,
    pub objective: String,
    pub component: String,
    /// Decayed success credit.
    pub alpha: f64,
    /// Decayed failure credit.
    pub beta: f64,
    /// Outcomes behind it, not decayed.
    pub outcomes: u32,
    pub time_to_effect_secs: Option<f64>,
}

/// Why an export file cannot be imported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    #[error("not a charter knowledge export (format `{0}`)")]
    Format(String),
    #[error("export version {found} is newer than this build understands ({known})")]
    Version { found: u32, known: u32 },
    #[error("weight must be greater than 0 and at most 1, not {0}")]
    Weight(f64),
    #[error("context {0} has a negative or non-finite alpha or beta")]
    Evidence(String),
    /// A value outside what any installation can have learned.
    #[error("{at}: {field} {} is out of range (must be a number from 0 to {max})", num(*.value))]
    OutOfRange {
        /// `contexts[i] (kind/objective/component)`, or `half_life_secs`.
        at: String,
        field: &'static str,
        value: f64,
        max: f64,
    },
}

/// A number as a person reads it: scientific notation when it is huge or tiny.
fn num(v: f64) -> String {
    if v != 0.0 && !(1e-6..1e9).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

/// Export the own outcomes' decayed evidence at `now`.
pub fn export(
    outcomes: &[OutcomeRecord],
    learning: &Learning,
    source: &str,
    now: Timestamp,
) -> KnowledgeExport {
    let view = insights::view(outcomes, &[], learning);
    let contexts = insights::exact_contexts(&view, now)
        .into_iter()
        .filter_map(|(c, e)| {
            Some(ExportedContext {
                kind: c.kind,
                objective: c.objective?,
                component: c.component?,
                alpha: e.alpha,
                beta: e.beta,
                outcomes: e.raw,
                time_to_effect_secs: e.time_to_effect().map(|d| d.as_secs_f64()),
            })
        })
        .collect();
    KnowledgeExport {
        format: EXPORT_FORMAT.to_string(),
        version: EXPORT_VERSION,
        source: source.to_string(),
        exported_at: now,
        half_life_secs: learning.half_life.as_secs_f64(),
        contexts,
    }
}

/// The priors an import stores, each with `weight` (in (0, 1]).
pub fn import(
    file: &KnowledgeExport,
    weight: f64,
    now: Timestamp,
) -> Result<Vec<LearnedPrior>, ImportError> {
    if file.format != EXPORT_FORMAT {
        return Err(ImportError::Format(file.format.clone()));
    }
    if file.version > EXPORT_VERSION {
        return Err(ImportError::Version {
            found: file.version,
            known: EXPORT_VERSION,
        });
    }
    if !(weight > 0.0 && weight <= 1.0) {
        return Err(ImportError::Weight(weight));
    }
    let range = |at: &dyn Fn() -> String, field, value: f64, max| {
        if (0.0..=max).contains(&value) {
            Ok(())
        } else {
            Err(ImportError::OutOfRange {
                at: at(),
                field,
                value,
                max,
            })
        }
    };
    range(
        &|| "export".into(),
        "half_life_secs",
        file.half_life_secs,
        MAX_HALF_LIFE_SECS,
    )?;
    let source = format!("{}@{}", file.source, file.exported_at.millis());
    file.contexts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let ok = |x: f64| x.is_finite() && x >= 0.0;
            if !ok(c.alpha) || !ok(c.beta) {
                return Err(ImportError::Evidence(format!(
                    "{}/{}/{}",
                    c.kind, c.objective, c.component
                )));
            }
            let at = || format!("contexts[{i}] ({}/{}/{})", c.kind, c.objective, c.component);
            range(&at, "alpha", c.alpha, MAX_EVIDENCE)?;
            range(&at, "beta", c.beta, MAX_EVIDENCE)?;
            if let Some(t) = c.time_to_effect_secs {
                range(&at, "time_to_effect_secs", t, MAX_TIME_TO_EFFECT_SECS)?;
            }
            Ok(LearnedPrior {
                kind: c.kind,
                objective: c.objective.clone(),
                component: c.component.clone(),
                source: source.clone(),
                alpha: c.alpha,
                beta: c.beta,
                time_to_effect_secs: c.time_to_effect_secs,
                weight,
                imported_at: now,
            })
        })
        .collect()
}
