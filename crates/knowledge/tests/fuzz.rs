//! Fuzzing knowledge import (issue 16): export files mutated from
//! `fuzz/corpus/knowledge_import/` are read as `charter knowledge import` reads them
//! (JSON, then [`import`]) and what is accepted is learned from and reported as
//! `/api/v1/knowledge` does. No panic, each case in bounded time (the driver's
//! watchdog, 2 s), every refusal an error with a message. Run length:
//! `CHARTER_FUZZ_CASES` / `CHARTER_FUZZ_SECS` (see `charter_testkit::fuzz`).

use charter_knowledge::export::{KnowledgeExport, import};
use charter_knowledge::insights::report;
use charter_model::Timestamp;
use charter_model::charter::Learning;
use charter_testkit::Fuzz;

const NOW: Timestamp = Timestamp(1_767_225_600_000);

#[test]
fn fuzz_knowledge_import() {
    Fuzz::new("knowledge_import")
        .dictionary(&[
            "\"format\"",
            "\"version\"",
            "\"source\"",
            "\"exported_at\"",
            "\"half_life_secs\"",
            "\"contexts\"",
            "\"kind\"",
            "\"objective\"",
            "\"component\"",
            "\"alpha\"",
            "\"beta\"",
            "\"outcomes\"",
            "\"time_to_effect_secs\"",
            "\"restart\"",
            "\"failover\"",
            "\"charter-knowledge\"",
            "null",
            "{}",
            "[]",
        ])
        .run(|| {
            |input: &[u8]| {
                let file: KnowledgeExport = serde_json::from_slice(input)
                    .map_err(|e| format!("not a knowledge export: {e}"))?;
                let priors = import(&file, 0.5, NOW).map_err(|e| e.to_string())?;
                let r = report(&[], &priors, &Learning::default(), NOW);
                serde_json::to_string(&r).map_err(|e| format!("report: {e}"))?;
                Ok(())
            }
        });
}
