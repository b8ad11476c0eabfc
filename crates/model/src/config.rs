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
//!   `interval`, `mode`), `sources`, `alerts`, `changes` (how change events name
//!   components), `api`, `knowledge` (store,
//!   learning, retention, lease), `actuators` (with `command` and `kubernetes`),
//!   `components` (and the topology), `actions`, `objectives`, `guardrails`.

mod actions;
mod actuators;
mod alerts;
mod api;
mod changes;
mod components;
pub mod defaults;
mod files;
mod general;
mod guardrails;
mod issues;
mod knowledge;
mod objectives;
mod raw;
mod sources;

pub use issues::{ConfigError, OneLine, ValidationIssue};
pub use raw::*;

use crate::charter::Charter;
use issues::Issues;
use std::path::{Path, PathBuf};

/// [`load_charter`], and every file the charter names must exist and be readable
/// (token files as `run` reads them): what `charter validate` runs.
pub fn load_charter_checked(path: &Path) -> Result<(Charter, Vec<ValidationIssue>), ConfigError> {
    let text = read_charter_text(path).map_err(|cause| ConfigError::Read {
        path: path.display().to_string(),
        cause,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let file = path.display().to_string();
    compile(parse_raw(&text, &file)?, &file, base, true)
}

/// Read and validate a charter file. Returns the charter and its warnings.
pub fn load_charter(path: &Path) -> Result<(Charter, Vec<ValidationIssue>), ConfigError> {
    let text = read_charter_text(path).map_err(|cause| ConfigError::Read {
        path: path.display().to_string(),
        cause,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse_charter(&text, &path.display().to_string(), base)
}

/// The largest charter file read, in bytes.
pub const MAX_CHARTER_BYTES: u64 = 4 << 20;

/// A charter's text: a regular file (a FIFO would block, a device never end) of at
/// most [`MAX_CHARTER_BYTES`], in UTF-8.
fn read_charter_text(path: &Path) -> std::io::Result<String> {
    crate::files::read_text_bounded(path, MAX_CHARTER_BYTES)
}

/// Parse and validate charter text. `file` names it in messages; relative paths in
/// the charter are resolved against `base`.
///
/// A structural error names the key path it was found at (tracked while
/// deserializing) and says what is wrong in the charter's words, never in the YAML
/// library's (`set DuplicateKeyPolicy in Options`, `budget breached: ...`).
pub fn parse_charter(
    text: &str,
    file: &str,
    base: &Path,
) -> Result<(Charter, Vec<ValidationIssue>), ConfigError> {
    validate(parse_raw(text, file)?, file, base)
}

/// The serde parse of [`parse_charter`], with structural errors located and worded.
fn parse_raw(text: &str, file: &str) -> Result<CharterConfig, ConfigError> {
    let mut path = None;
    let parsed = serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize::<_, CharterConfig>(de).map_err(|e| {
            path = key_path(e.path());
            e.into_inner()
        })
    });
    let raw = parsed.map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        ConfigError::Invalid(vec![ValidationIssue {
            file: file.to_string(),
            line: line.max(1),
            column: column.max(1),
            path: path.unwrap_or_else(|| "(document)".into()),
            message: structural_message(&e),
            warning: false,
        }])
    })?;
    Ok(raw)
}

/// A deserializer's path in the charter's notation (`components[0].replicas.min`),
/// without the `value` step of a located value ([`raw::S`]) or unknown steps; `None`
/// at the top of the document.
fn key_path(path: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } if key == "value" => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A structural error in the charter's words: the cases whose library message names
/// library APIs or internals are rewritten; the rest keep the library's first line,
/// without its snippet or trailing location (we print the location ourselves).
fn structural_message(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::Error as E;
    match e.without_snippet() {
        E::AliasError { error, .. } | E::WithSnippet { error, .. } => structural_message(error),
        E::DuplicateMappingKey { key: Some(k), .. } => {
            format!("duplicate key `{k}`: each key may appear once in a mapping")
        }
        E::DuplicateMappingKey { key: None, .. } => {
            "duplicate key: each key may appear once in a mapping".into()
        }
        E::MultipleDocuments { .. } => {
            "more than one YAML document (a `---` after content): a charter is one document".into()
        }
        E::Budget { breach, .. } => budget_message(breach),
        E::InvalidScalar { ty, .. } => scalar_message(ty),
        other => {
            let full = other.to_string();
            let first = full.lines().next().unwrap_or("invalid document").trim();
            let cut = first.find(" at line ").map_or(first, |i| &first[..i]);
            cut.trim_end_matches('.').to_string()
        }
    }
}

/// What a budget breach means for a charter: the document is too large or too
/// nested for a configuration file, usually by an alias bomb.
fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    let what = match breach {
        B::Aliases { aliases } => format!("{aliases} aliases (`*name`)"),
        B::Anchors { anchors } => format!("{anchors} anchors (`&name`)"),
        B::AliasAnchorRatio { aliases, anchors } => {
            format!("{aliases} aliases for {anchors} anchors")
        }
        B::Depth { depth } => format!("nesting {depth} deep"),
        B::Events { events } => format!("{events} YAML events"),
        B::Nodes { nodes } => format!("{nodes} nodes"),
        B::Documents { documents } => format!("{documents} documents"),
        B::ScalarBytes { total_scalar_bytes } => format!("{total_scalar_bytes} bytes of values"),
        B::InputBytes { input_bytes } => format!("{input_bytes} bytes"),
        B::MergeKeys { merge_keys } => format!("{merge_keys} merge keys (`<<`)"),
        _ => "a structure past the parser's limits".into(),
    };
    format!(
        "the document is too large or too nested to be a charter ({what}); \
         write it out without alias expansion or deep nesting"
    )
}

/// A scalar of the wrong form, said as what the key needs.
fn scalar_message(ty: &str) -> String {
    match ty {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => {
            format!("must be a whole number from 0 to {}", unsigned_max(ty))
        }
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "must be a whole number".into(),
        "f32" | "f64" => "must be a number".into(),
        "bool" => "must be `true` or `false`".into(),
        "char" => "must be a single character".into(),
        other => format!("must be a valid {other}"),
    }
}

fn unsigned_max(ty: &str) -> String {
    match ty {
        "u8" => u8::MAX.to_string(),
        "u16" => u16::MAX.to_string(),
        "u32" => u32::MAX.to_string(),
        _ => u64::MAX.to_string(),
    }
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
    compile(raw, file, base, false)
}

/// [`validate`], checking the files the charter names when `check_files`.
fn compile(
    raw: CharterConfig,
    file: &str,
    base: &Path,
    check_files: bool,
) -> Result<(Charter, Vec<ValidationIssue>), ConfigError> {
    let mut is = Issues::new(file);
    let general = general::compile(&mut is, &raw);
    let source = sources::compile(&mut is, raw.source.as_ref(), base);
    let alerts = alerts::compile(&mut is, raw.alerts.as_ref(), base);
    let changes = changes::compile(&mut is, raw.changes.as_ref(), &raw.components);
    let api = api::compile(&mut is, raw.api.as_ref(), base);
    let knowledge = knowledge::compile(&mut is, raw.knowledge.as_ref(), base);
    let actuators =
        actuators::compile(&mut is, &raw.actuators, &raw.components, &raw.actions, base);
    let components = components::compile(&mut is, &raw.components, &actuators);
    let actions = actions::compile(&mut is, &raw.actions);
    let objectives = objectives::compile(&mut is, &raw.objectives, &components);
    let guardrails = guardrails::compile(&mut is, raw.guardrails.as_ref());
    if check_files {
        files::check(&mut is, &raw, base);
    }
    let warnings = is.finish()?;
    let charter = Charter {
        name: general.name,
        interval: general.interval,
        mode: general.mode,
        source,
        alerts,
        changes,
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
