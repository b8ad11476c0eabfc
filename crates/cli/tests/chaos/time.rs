//! Time that only moves forward for decisions: a store whose guardrail records are
//! dated later than now (a clock stepped back, or a store written by a run whose
//! virtual time was later) must not freeze the loop, and `charter demo --db FILE`
//! run again on the same file must do as well as the first run.

use crate::harness::{CharterSpec, Daemon, Sim, Spawned, client, poll, tails, tally};
use charter_knowledge::{SqliteStore, prelude::*};
use charter_model::{ActionKind, Timestamp};
use charter_testkit::WESTWORLD_COMPONENTS;
use serde_json::{Value, json};
use std::time::Duration;

/// How far ahead of the wall clock the earlier run's records are.
const AHEAD: Duration = Duration::from_secs(24 * 3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_stepped_back_the_loop_still_acts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let http = client();
    let db = d.join("charter.db");
    // An earlier run, a day "later", scaled every component out.
    let later = Timestamp::now_wall().plus(AHEAD);
    {
        let store = SqliteStore::open(&db).await.expect("create the store");
        for c in WESTWORLD_COMPONENTS {
            store
                .record_action(c, ActionKind::ScaleOut, later)
                .await
                .expect("record an action");
        }
        store
            .audit(later, "chaos", &json!({"note": "written a day ahead"}))
            .await
            .expect("audit");
        store.close().await;
    }
    let sim = Sim::start(d, 71, 1.0, "0s");
    let guardrails = "  max_actions_per_hour: 20\n  cooldown: 3s\n  max_concurrent: 8\n  \
                      auto_approve_max_cost: 100\n  max_attempts_per_incident: 8\n  \
                      max_reversals: 1000\n";
    let charter = CharterSpec {
        name: "clock-back",
        source_url: &sim.base,
        actuator_url: &sim.base,
        guardrails,
        ..Default::default()
    }
    .write(d);
    let mut daemon = Daemon::start(d, "run", &charter, &db);
    daemon.wait_ready(&http, 200, Duration::from_secs(30)).await;
    sim.inject(
        &http,
        json!({"kind": "traffic_surge", "target": "catalog", "factor": 3.0, "duration": "10m"}),
    )
    .await;
    let remedied = poll(Duration::from_secs(40), || async {
        let ledger = sim.ledger(&http).await;
        for key in ledger.landed() {
            let a = sim.action(&http, &key).await?;
            if a["kind"] == "scale_out" {
                return Some(a);
            }
        }
        None
    })
    .await;
    let logs = tails(&[&daemon.run.log, &sim.log]);
    daemon.run.terminate();
    tally(
        "clock stepped back",
        &match &remedied {
            Some(a) => format!("acted ({} on {})", a["kind"], a["component"]),
            None => "no action in 40s".into(),
        },
        "the fault gets its remedy",
    );
    assert!(
        remedied.is_some(),
        "with guardrail records dated {AHEAD:?} ahead, the loop took no action on a fault \
         within 40 s\n{logs}"
    );
}

/// What a demo run achieved, from its `--json` summary.
#[derive(Debug, Clone, PartialEq)]
struct Score {
    /// The demo's own verdict: every fault diagnosed, remedied and resolved.
    all_good: bool,
    faults: usize,
    resolved: usize,
    right_remedies: usize,
    right_causes: usize,
    /// Per fault, in order: the time to recover, `None` when it never did.
    recovery_secs: Vec<Option<f64>>,
}

impl Score {
    fn of(summary: &Value, all_good: bool) -> Score {
        let faults = summary["faults"]
            .as_array()
            .unwrap_or_else(|| panic!("no faults in the demo summary: {summary}"));
        let count = |field: &str| faults.iter().filter(|f| f[field] == true).count();
        Score {
            all_good,
            faults: faults.len(),
            resolved: count("resolved"),
            right_remedies: count("remedy_correct"),
            right_causes: count("root_cause_correct"),
            recovery_secs: faults
                .iter()
                .map(|f| f["time_to_recover_secs"].as_f64())
                .collect(),
        }
    }

    fn total_recovery(&self) -> f64 {
        self.recovery_secs.iter().flatten().sum()
    }

    /// Why `self` is worse than `first`, if it is: judged not all good where the first
    /// was, fewer resolved, right remedies or right causes, a fault that recovered in the first run and not now, or one that
    /// took more than half again as long (plus a minute of slack for timing).
    fn worse_than(&self, first: &Score) -> Vec<String> {
        let mut why = Vec::new();
        if first.all_good && !self.all_good {
            why.push("the demo judged this run not all good (exit 1), the first all good".into());
        }
        if self.faults != first.faults {
            why.push(format!("{} faults, first {}", self.faults, first.faults));
        }
        for (name, now, then) in [
            ("resolved", self.resolved, first.resolved),
            ("right remedies", self.right_remedies, first.right_remedies),
            ("right causes", self.right_causes, first.right_causes),
        ] {
            if now < then {
                why.push(format!("{name} {now}, first {then}"));
            }
        }
        for (i, (now, then)) in self
            .recovery_secs
            .iter()
            .zip(&first.recovery_secs)
            .enumerate()
        {
            match (now, then) {
                (None, Some(t)) => {
                    why.push(format!("fault {i} recovered in {t}s first, never now"))
                }
                (Some(n), Some(t)) if *n > t * 1.5 + 60.0 => {
                    why.push(format!("fault {i} took {n}s to recover, first {t}s"))
                }
                _ => {}
            }
        }
        why
    }
}

const DEMO_RUNS: usize = 3;
const DEMO_SEED: &str = "3";

#[test]
fn repeated_demo_runs_on_one_store_are_each_as_good_as_the_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let db = d.join("demo.db");
    let mut scores = Vec::new();
    for run in 0..DEMO_RUNS {
        let name = format!("demo-{run}");
        let mut demo = Spawned::charter(
            d,
            &name,
            &[
                "demo",
                "--db",
                db.to_str().expect("utf-8"),
                "--seed",
                DEMO_SEED,
                "--json",
            ],
        );
        let status = demo
            .wait_exit(Duration::from_secs(120))
            .unwrap_or_else(|| panic!("`charter demo` run {run} did not end within 120 s"));
        let text = demo.text();
        // 0: every fault diagnosed, remedied and resolved; 1: not all; else a failure.
        assert!(
            matches!(status.code(), Some(0 | 1)),
            "`charter demo` run {run} failed ({status})\n{}",
            tails(&[&demo.log])
        );
        // The summary is the JSON document on stdout; stderr shares the log.
        let start = text
            .find("{\n")
            .or_else(|| text.find('{'))
            .unwrap_or_else(|| panic!("no JSON summary from run {run}\n{text}"));
        let summary: Value = serde_json::Deserializer::from_str(&text[start..])
            .into_iter::<Value>()
            .next()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("unreadable JSON summary from run {run}\n{text}"));
        scores.push(Score::of(&summary, status.success()));
    }
    let first = &scores[0];
    let verdicts: Vec<Vec<String>> = scores[1..].iter().map(|s| s.worse_than(first)).collect();
    tally(
        "repeated demo --db runs",
        &scores
            .iter()
            .map(|s| {
                format!(
                    "{}/{} resolved, {} right remedies, recovery {:.0}s",
                    s.resolved,
                    s.faults,
                    s.right_remedies,
                    s.total_recovery()
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        "each run as good as the first",
    );
    for (i, why) in verdicts.iter().enumerate() {
        assert!(
            why.is_empty(),
            "demo run {} on the same store did worse than the first: {why:?}\nscores {scores:?}",
            i + 1
        );
    }
}
