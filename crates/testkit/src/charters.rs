//! Charters for tests: the example every end-to-end test runs, and any charter a
//! test writes out itself.

use charter_model::{Charter, parse_charter};
use std::path::Path;
use std::sync::Arc;

/// The text of `examples/westworld.yaml`, the charter of the Westworld shop.
pub const WESTWORLD: &str = include_str!("../../../examples/westworld.yaml");

/// The components of [`WESTWORLD`], callers before their dependencies.
pub const WESTWORLD_COMPONENTS: [&str; 8] = [
    "frontend", "api", "catalog", "orders", "auth", "db", "cache", "queue",
];

/// The example charter, parsed as `examples/westworld.yaml` with relative paths
/// resolved against the working directory.
///
/// # Panics
/// If the example no longer validates: every test that uses it would be wrong.
pub fn westworld() -> Arc<Charter> {
    Arc::new(parse("examples/westworld.yaml", WESTWORLD))
}

/// A charter written in a test, parsed as `test.yaml` (relative paths against the
/// working directory); its warnings are dropped.
///
/// # Panics
/// If the text does not validate, with every issue in the message.
pub fn charter_from(yaml: &str) -> Charter {
    parse("test.yaml", yaml)
}

fn parse(file: &str, yaml: &str) -> Charter {
    match parse_charter(yaml, file, Path::new(".")) {
        Ok((charter, _warnings)) => charter,
        Err(e) => panic!("{file} is not a valid charter: {e}\n{yaml}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn westworld_declares_the_components_the_kit_lists() {
        let c = westworld();
        let names: Vec<&str> = c.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, WESTWORLD_COMPONENTS);
    }
}
