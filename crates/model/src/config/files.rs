//! The files a charter names, checked by `charter validate` (and whoever loads with
//! [`super::load_charter_checked`]): each must exist, be a regular file and be
//! readable, and a token file must hold a token within the size limit, so that
//! what `validate` accepts `run` can open.

use super::issues::Issues;
use super::raw::{ActuatorConfig, CharterConfig, S, SourceConfig};
use std::path::Path;

/// Check every file `raw` names, relative paths resolved against `base`.
pub(super) fn check(is: &mut Issues<'_>, raw: &CharterConfig, base: &Path) {
    if let Some(a) = &raw.alerts {
        let none = a.value.auth.as_ref().is_some_and(|x| x.value == "none");
        if let Some(f) = a.value.token_file.as_ref().filter(|_| !none) {
            token(is, f, "alerts.token_file", base, &f.value);
        }
    }
    if let Some(f) = raw.api.as_ref().and_then(|a| a.value.token_file.as_ref()) {
        token(is, f, "api.token_file", base, &f.value);
    }
    if let Some(s) = &raw.source {
        match &s.value {
            SourceConfig::Prometheus {
                bearer_token_file: Some(f),
                ..
            } => token(is, s, "source.prometheus.bearer_token_file", base, f),
            SourceConfig::Simulator {
                scenario: Some(f), ..
            } => readable(is, s, "source.simulator.scenario", base, f),
            _ => {}
        }
    }
    if let Some(pg) = raw.knowledge.as_ref().and_then(|k| k.postgres.as_ref())
        && let Some(f) = &pg.value.url_file
    {
        token(is, f, "knowledge.postgres.url_file", base, &f.value);
    }
    for (name, a) in &raw.actuators {
        match &a.value {
            ActuatorConfig::Http {
                token_file: Some(f),
                ..
            } => token(is, a, &format!("actuators.{name}.http.token_file"), base, f),
            ActuatorConfig::Kubernetes(k) => {
                if let Some(f) = &k.kubeconfig {
                    readable(
                        is,
                        f,
                        &format!("actuators.{name}.kubernetes.kubeconfig"),
                        base,
                        &f.value,
                    );
                }
            }
            _ => {}
        }
    }
}

/// A token file: read as `run` reads it (bounded, a regular file, not empty).
fn token<T>(is: &mut Issues<'_>, span: &S<T>, path: &str, base: &Path, file: &str) {
    if file.trim().is_empty() {
        return; // reported by the section pass
    }
    if let Err(e) = crate::token::read_token_file(base.join(file)) {
        let msg = match &e {
            crate::TokenFileError::Read { source, .. } => format!("{e}: {source}"),
            _ => e.to_string(),
        };
        is.at(span, path, msg);
    }
}

/// Any other file: it exists, is a regular file and can be opened for reading.
fn readable<T>(is: &mut Issues<'_>, span: &S<T>, path: &str, base: &Path, file: &str) {
    if file.trim().is_empty() {
        return;
    }
    let full = base.join(file);
    let problem = match std::fs::metadata(&full) {
        Err(e) => Some(e.to_string()),
        Ok(m) if !m.is_file() => Some("not a regular file".to_string()),
        Ok(_) => std::fs::File::open(&full).err().map(|e| e.to_string()),
    };
    if let Some(p) = problem {
        is.at(span, path, format!("cannot read {}: {p}", full.display()));
    }
}
