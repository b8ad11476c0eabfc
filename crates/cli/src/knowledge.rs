//! `charter knowledge`: learned success rates.

use charter_knowledge::{SqliteStore, Store};
use std::path::Path;
use std::process::ExitCode;

/// Print per-action success rates from a knowledge database.
pub async fn show(db: &Path, json: bool) -> anyhow::Result<ExitCode> {
    if !db.exists() {
        anyhow::bail!("knowledge database {} does not exist", db.display());
    }
    let store = SqliteStore::open(db).await?;
    let rates = store.success_rates().await?;
    let kinds = store.kind_success_rates().await?;
    store.close().await;
    if json {
        let kinds: Vec<serde_json::Value> = kinds
            .iter()
            .map(|(k, s, n)| serde_json::json!({"kind": k, "successes": s, "total": n}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"by_kind": kinds, "by_context": rates})
            )?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if kinds.is_empty() {
        println!("no outcomes recorded yet in {}", db.display());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<14} {:>9} {:>7} {:>6}",
        "action", "successes", "total", "rate"
    );
    for (k, s, n) in &kinds {
        println!(
            "{:<14} {:>9} {:>7} {:>5.0}%",
            k.as_str(),
            s,
            n,
            100.0 * f64::from(*s) / f64::from((*n).max(1))
        );
    }
    println!();
    println!(
        "{:<14} {:<28} {:<12} {:>9} {:>8}",
        "action", "objective", "component", "success", "mean tte"
    );
    for r in &rates {
        println!(
            "{:<14} {:<28} {:<12} {:>5}/{:<3} {:>7.0}s",
            r.kind.as_str(),
            r.objective,
            r.component,
            r.successes,
            r.total,
            r.mean_time_to_effect_secs
        );
    }
    Ok(ExitCode::SUCCESS)
}
