//! The charter compiler: the raw document, compiled one section at a time.
//!
//! [`CharterConfig`] is the serde parse (unknown keys are errors, values keep their
//! source locations); [`validate`] compiles it into a [`Charter`] by running one
//! pass per section, each turning its raw part into validated types and reporting
//! every issue it finds, with `file:line:col`, the key path and a message, into one
//! collector. Structural errors (YAML syntax, an unknown key, a value of the wrong
//! type) stop the serde parse, so only the first of those is reported; once the
//! document is well-formed every remaining issue is reported in one pass.
//!
//! - `raw`: the serde types of the document ([`CharterConfig`] and its parts).
//! - `issues`: [`ValidationIssue`], [`ConfigError`] and the collector the passes share.
//! - [`defaults`]: every default and limit, defined once.
//! - the section passes, in the order [`validate`] runs them: `general` (`name`,
//!   `interval`, `mode`), `sources`, `alerts`, `api`, `knowledge` (store,
//!   learning, retention, lease), `actuators` (with `command` and `kubernetes`),
//!   `components` (and the topology), `actions`, `objectives`, `guardrails`.

mod actions;
mod actuators;
mod alerts;
mod api;
mod components;
pub mod defaults;
mod general;
mod guardrails;
mod issues;
mod knowledge;
mod objectives;
mod raw;
mod sources;

pub use issues::{ConfigError, ValidationIssue};
pub use raw::*;

use crate::charter::Charter;
use issues::Issues;
use std::path::{Path, PathBuf};

/// Read and validate a charter file. Returns the charter and its warnings.
pub fn load_charter(path: &Path) -> Result<(Charter, Vec<ValidationIssue>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse_charter(&text, &path.display().to_string(), base)
}

/// Parse and validate charter text. `file` names it in messages; relative paths in
/// the charter are resolved against `base`.
pub fn parse_charter(
    text: &str,
    file: &str,
    base: &Path,
) -> Result<(Charter, Vec<ValidationIssue>), ConfigError> {
    let raw: CharterConfig = serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        ConfigError::Invalid(vec![ValidationIssue {
            file: file.to_string(),
            line: line.max(1),
            column: column.max(1),
            path: "(document)".into(),
            message: structural_message(&e),
            warning: false,
        }])
    })?;
    validate(raw, file, base)
}

/// serde-saphyr's message without its snippet or trailing location, since we print
/// the location ourselves.
fn structural_message(e: &serde_saphyr::Error) -> String {
    let full = e.without_snippet().to_string();
    let first = full.lines().next().unwrap_or("invalid document").trim();
    let cut = first.find(" at line ").map_or(first, |i| &first[..i]);
    cut.trim_end_matches('.').to_string()
}

/// Compile a parsed charter, collecting every issue: one pass per section, each
/// after the passes whose output it refers to (components name actuators,
/// objectives name components; actuators read the raw `components` and `actions`
/// they map). The order is also the order of issues found at one position.
pub fn validate(
    raw: CharterConfig,
    file: &str,
    base: &Path,
) -> Result<(Charter, Vec<ValidationIssue>), ConfigError> {
    let mut is = Issues::new(file);
    let general = general::compile(&mut is, &raw);
    let source = sources::compile(&mut is, raw.source.as_ref(), base);
    let alerts = alerts::compile(&mut is, raw.alerts.as_ref(), base);
    let api = api::compile(&mut is, raw.api.as_ref(), base);
    let knowledge = knowledge::compile(&mut is, raw.knowledge.as_ref(), base);
    let actuators =
        actuators::compile(&mut is, &raw.actuators, &raw.components, &raw.actions, base);
    let components = components::compile(&mut is, &raw.components, &actuators);
    let actions = actions::compile(&mut is, &raw.actions);
    let objectives = objectives::compile(&mut is, &raw.objectives, &components);
    let guardrails = guardrails::compile(&mut is, raw.guardrails.as_ref());
    let warnings = is.finish()?;
    let charter = Charter {
        name: general.name,
        interval: general.interval,
        mode: general.mode,
        source,
        alerts,
        api,
        knowledge: knowledge.store,
        learning: knowledge.learning,
        retention: knowledge.retention,
        lease: knowledge.lease,
        actuators,
        components: components.list,
        objectives,
        actions,
        guardrails,
        topology: components.topology,
    };
    Ok((charter, warnings))
}

/// Resolve a path relative to a charter file's folder (absolute paths unchanged).
pub fn resolve_relative(charter_file: &Path, p: &str) -> PathBuf {
    charter_file.parent().unwrap_or(Path::new(".")).join(p)
}

#[cfg(test)]
mod tests;
