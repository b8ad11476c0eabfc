//! Fuzzing the charter compiler (issue 16): mutated valid charters and structured
//! garbage never panic, each compiles in bounded time (2 s per case, enforced by
//! the driver's watchdog), and every refusal is a list of one-line located issues
//! with a message. Run length: `CHARTER_FUZZ_CASES` / `CHARTER_FUZZ_SECS` (see
//! `charter_testkit::fuzz`); the corpus is `fuzz/corpus/charter/`.

use charter_model::{ConfigError, parse_charter};
use charter_testkit::Fuzz;
use std::path::Path;

#[test]
fn fuzz_charter_compiler() {
    Fuzz::new("charter")
        .dictionary(&[
            "name", "interval", "mode", "autonomous", "shadow", "supervised", "source",
            "prometheus", "simulator", "url", "timeout", "retries", "max_in_flight",
            "blind_after", "bearer_token_file", "alerts", "auth", "token_file", "api",
            "knowledge", "sqlite", "postgres", "url_file", "retention", "lease", "ttl",
            "renew", "learning", "half_life", "credit", "actuators", "http", "command",
            "kubernetes", "namespace", "deployments", "apply", "undo", "components",
            "depends_on", "actuator", "replicas", "min", "max", "objectives", "metric",
            "expr", "above", "below", "warning", "critical", "clear", "for",
            "keep_firing_for", "remedies", "restart", "scale_out", "failover", "actions",
            "cost", "step", "time_to_effect", "approval", "guardrails", "cooldown",
            "max_actions_per_hour", "sum(rate(x[5m]))", "{component}", "http://a:1@b",
        ])
        .seed(format!(
            "name: deep\ncomponents: [{{ name: a }}]\nobjectives:\n  - {{ name: o, expr: '{}up{}', above: {{ warning: 1, critical: 2 }} }}\n",
            "(".repeat(3000),
            ")".repeat(3000)
        ))
        .run(|| {
            |input: &[u8]| {
                let text = std::str::from_utf8(input).map_err(|e| format!("not UTF-8: {e}"))?;
                match parse_charter(text, "fuzz.yaml", Path::new("/nonexistent")) {
                    Ok(_) => Ok(()),
                    Err(ConfigError::Invalid(issues)) => {
                        if issues.is_empty() {
                            return Err(String::new());
                        }
                        let mut all = Vec::new();
                        for i in &issues {
                            let line = i.to_string();
                            assert!(!line.contains('\n'), "an issue spans lines: {line:?}");
                            assert!(!i.message.trim().is_empty(), "an issue without a message");
                            assert!(!i.path.is_empty(), "an issue without a key path: {line}");
                            assert!(i.line >= 1 && i.column >= 1, "{line}");
                            all.push(line);
                        }
                        Err(all.join("\n"))
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
        });
}
