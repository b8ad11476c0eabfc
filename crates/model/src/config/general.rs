//! The top-level settings: `name`, `interval` and `mode`.

use super::defaults;
use super::issues::Issues;
use super::raw::CharterConfig;
use crate::charter::Mode;
use std::time::Duration;

/// The compiled top-level settings.
pub(super) struct General {
    pub name: String,
    pub interval: Duration,
    pub mode: Mode,
}

/// Compile `name`, `interval` and `mode`.
pub(super) fn compile(is: &mut Issues<'_>, raw: &CharterConfig) -> General {
    if raw.name.value.trim().is_empty() {
        is.at(&raw.name, "name", "must not be empty");
    }
    let interval = is.duration_in(
        &raw.interval,
        "interval",
        defaults::INTERVAL,
        defaults::INTERVAL_RANGE,
    );
    General {
        name: raw.name.value.clone(),
        interval,
        mode: raw.mode.as_ref().map(|m| m.value).unwrap_or_default(),
    }
}
