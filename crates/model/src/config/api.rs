//! `api:` — the REST API, whose mutating endpoints always need a token.

use super::issues::Issues;
use super::raw::{ApiConfig, S};
use crate::charter::ApiSpec;
use std::path::Path;

/// Compile `api:`; `None` when the charter has no such block or it is invalid.
pub(super) fn compile(
    is: &mut Issues<'_>,
    api: Option<&S<ApiConfig>>,
    base: &Path,
) -> Option<ApiSpec> {
    let a = api?;
    match &a.value.token_file {
        Some(f) if !f.value.trim().is_empty() => Some(ApiSpec {
            token_file: base.join(&f.value),
        }),
        Some(f) => {
            is.at(f, "api.token_file", "must name a file");
            None
        }
        None => {
            is.at(
                a,
                "api",
                "needs `token_file` (the API never runs its mutating endpoints without a token)",
            );
            None
        }
    }
}
