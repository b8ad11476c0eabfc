//! CSV files for the dataset adapters: `charter_model::csv` records (every field
//! with its line and column) and numbers reported as `file:line:column`.

use anyhow::{Context, Result};
use std::path::Path;

pub use charter_model::csv::{Field, Record};

/// Read a whole CSV file.
pub fn read_csv(path: &Path) -> Result<Vec<Record>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(charter_model::csv::parse_csv(
        &text,
        &path.display().to_string(),
    )?)
}

/// A field as a number; an empty field is a missing value (NaN).
pub fn number(field: &Field, path: &Path, line: usize) -> Result<f64> {
    let t = field.text.trim();
    if t.is_empty() {
        return Ok(f64::NAN);
    }
    t.parse::<f64>().with_context(|| {
        format!(
            "{}:{line}:{}: not a number: {t:?}",
            path.display(),
            field.column
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_model::csv::split_line;

    #[test]
    fn bad_number_names_file_line_and_column() {
        let p = Path::new("m.csv");
        let f = split_line("1,x2", "m.csv", 7).expect("valid line");
        let err = number(&f[1], p, 7).expect_err("not a number");
        assert!(
            format!("{err:#}").starts_with("m.csv:7:3: not a number"),
            "{err:#}"
        );
    }
}
