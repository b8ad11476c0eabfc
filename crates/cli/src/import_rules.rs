//! `charter import-rules`: Prometheus alerting rules to charter objectives.

use charter_model::rules::{ImportOptions, import_rules, render_objectives};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `charter import-rules`.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// Prometheus rule files (`groups: [{name, rules: [...]}]`).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The label that names components: preferred among an expression's grouping
    /// labels, and assumed when the expression aggregates nothing and its selectors
    /// name no other (docs/import-rules.md).
    #[arg(long, default_value = charter_model::config::defaults::COMPONENT_LABEL)]
    component_label: String,
}

/// Convert; objectives go to stdout, rules that could not be converted to stderr.
pub fn run(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let mut files = Vec::new();
    for f in &args.files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?;
        files.push((f.display().to_string(), text));
    }
    let options = ImportOptions {
        component_label: args.component_label.clone(),
    };
    let report = import_rules(&files, &options);
    print!("{}", render_objectives(&report));
    for s in &report.skipped {
        eprintln!(
            "{}:{}: skipped {} (group {}): {}",
            s.file, s.line, s.rule, s.group, s.reason
        );
    }
    eprintln!(
        "{} objective(s) from {} file(s); {} rule(s) skipped",
        report.objectives.len(),
        files.len(),
        report.skipped.len()
    );
    Ok(if report.objectives.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
