//! `charter knowledge`: what was learned (rates with credible intervals,
//! recommendations, insights), and `export` / `import` of learned statistics.

use anyhow::Context as _;
use charter_knowledge::export::{KnowledgeExport, export, import};
use charter_knowledge::insights::{KnowledgeReport, report};
use charter_knowledge::{SqliteStore, Store};
use charter_model::charter::Learning;
use charter_model::{Charter, KnowledgeSpec, Timestamp, fmt_duration_secs, load_charter};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// `charter knowledge [--db DB | --charter FILE] [--json] [export FILE | import FILE]`.
#[derive(Debug, clap::Args)]
pub struct KnowledgeArgs {
    /// The knowledge database (SQLite); default: the charter's knowledge store
    /// (`knowledge.sqlite` or `knowledge.postgres`).
    #[arg(long, global = true)]
    db: Option<PathBuf>,
    /// The charter whose `knowledge.learning` settings (half-life, credit) apply.
    #[arg(long, global = true)]
    charter: Option<PathBuf>,
    /// Decay evidence as of the last recorded outcome instead of now (for histories
    /// recorded in virtual time, such as `charter simulate`).
    #[arg(long, global = true)]
    as_of_last_outcome: bool,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<KnowledgeCommand>,
}

#[derive(Debug, clap::Subcommand)]
enum KnowledgeCommand {
    /// Write the learned statistics (decayed per-context evidence) to a JSON file.
    Export {
        /// The file to write.
        file: PathBuf,
    },
    /// Store another installation's export as priors that count `--weight` times.
    Import {
        /// The file written by `charter knowledge export`.
        file: PathBuf,
        /// How much the imported evidence counts, in (0, 1].
        #[arg(long, default_value_t = 0.5)]
        weight: f64,
    },
}

/// Where the knowledge is: an SQLite file (`--db`, or the charter's
/// `knowledge.sqlite`) or the charter's PostgreSQL database.
enum Location {
    Sqlite(PathBuf),
    Charter(Box<Charter>),
}

impl Location {
    /// Open the store; an SQLite file must exist already, except to import into.
    async fn open(&self, create: bool) -> anyhow::Result<(Arc<dyn Store>, String)> {
        match self {
            Location::Sqlite(db) => {
                if !create && !db.exists() {
                    anyhow::bail!("knowledge database {} does not exist", db.display());
                }
                let store = SqliteStore::open(db).await?;
                Ok((Arc::new(store), db.display().to_string()))
            }
            Location::Charter(charter) => crate::wiring::store(charter, None).await,
        }
    }

    /// A name for exports when no charter names one.
    fn default_name(&self) -> String {
        match self {
            Location::Sqlite(db) => db
                .file_stem()
                .map_or("charter".into(), |s| s.to_string_lossy().into_owned()),
            Location::Charter(c) => c.name.clone(),
        }
    }
}

/// Run `charter knowledge` and its subcommands.
pub async fn run(args: KnowledgeArgs) -> anyhow::Result<ExitCode> {
    let (db, learning, name) = settings(&args)?;
    match &args.command {
        None => show(&db, &learning, args.as_of_last_outcome, args.json).await,
        Some(KnowledgeCommand::Export { file }) => {
            let (store, _) = db.open(false).await?;
            let outcomes = store.outcomes().await?;
            store.close().await;
            let now = as_of(&outcomes, args.as_of_last_outcome);
            let name = name.unwrap_or_else(|| db.default_name());
            let file_body = export(&outcomes, &learning, &name, now);
            let text = serde_json::to_string_pretty(&file_body)?;
            std::fs::write(file, text + "\n")
                .with_context(|| format!("cannot write {}", file.display()))?;
            eprintln!(
                "exported {} context(s) from {} outcome(s) to {}",
                file_body.contexts.len(),
                outcomes.len(),
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(KnowledgeCommand::Import { file, weight }) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let parsed: KnowledgeExport = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a knowledge export", file.display()))?;
            let priors = import(&parsed, *weight, Timestamp::now_wall())?;
            let (store, at) = db.open(true).await?;
            store.save_priors(&priors).await?;
            store.close().await;
            eprintln!(
                "imported {} context(s) from {} with weight {weight} into {at}",
                priors.len(),
                parsed.source,
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The database, learning settings and charter name the arguments name.
fn settings(args: &KnowledgeArgs) -> anyhow::Result<(Location, Learning, Option<String>)> {
    let Some(path) = &args.charter else {
        let db = args
            .db
            .clone()
            .context("name the knowledge database with --db, or a charter with --charter")?;
        return Ok((Location::Sqlite(db), Learning::default(), None));
    };
    let (charter, _) = load_charter(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (learning, name) = (charter.learning.clone(), Some(charter.name.clone()));
    let db = match (&args.db, &charter.knowledge) {
        (Some(db), _) => Location::Sqlite(db.clone()),
        (None, Some(KnowledgeSpec::Sqlite { path })) => Location::Sqlite(path.clone()),
        (None, Some(KnowledgeSpec::Postgres { .. })) => Location::Charter(Box::new(charter)),
        (None, None) => Location::Sqlite(PathBuf::from("charter.db")),
    };
    Ok((db, learning, name))
}

fn as_of(outcomes: &[charter_knowledge::OutcomeRecord], last: bool) -> Timestamp {
    match outcomes.iter().map(|o| o.outcome.at).max() {
        Some(t) if last => t,
        _ => Timestamp::now_wall(),
    }
}

/// Print rates, recommendations and insights.
async fn show(
    db: &Location,
    learning: &Learning,
    as_of_last: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let (store, at) = db.open(false).await?;
    let outcomes = store.outcomes().await?;
    let priors = store.priors().await?;
    store.close().await;
    let r = report(&outcomes, &priors, learning, as_of(&outcomes, as_of_last));
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    if r.contexts.is_empty() {
        println!("no outcomes recorded yet in {at}");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&r));
    Ok(ExitCode::SUCCESS)
}

/// The report as text.
pub fn render(r: &KnowledgeReport) -> String {
    let mut out = format!(
        "success per context (posterior mean and 90% credible interval; outcomes decayed with half-life {} / raw)\n",
        fmt_duration_secs(r.half_life_secs)
    );
    out += &format!(
        "{:<13} {:<28} {:<12} {:>5} {:>14} {:>15} {:>8}\n",
        "action", "objective", "component", "rate", "90% interval", "outcomes", "effect"
    );
    for c in &r.contexts {
        out += &format!(
            "{:<13} {:<28} {:<12} {:>4.0}% {:>5.0}% – {:>3.0}% {:>8.2} / {:<4} {:>8}\n",
            c.kind.as_str(),
            c.objective,
            c.component,
            100.0 * c.rate,
            100.0 * c.low,
            100.0 * c.high,
            c.outcomes,
            c.raw_outcomes,
            c.time_to_effect_secs.map_or("-".into(), fmt_duration_secs)
        );
    }
    out += "\nrecommended action per symptom\n";
    for rec in &r.recommendations {
        let when = rec
            .cause
            .map_or(String::new(), |c| format!(" (cause {})", cause_name(c)));
        out += &format!(
            "  {}{when}: {} — {:.0}% [{:.0}%, {:.0}%] over {} outcome(s)\n",
            rec.objective,
            rec.kind,
            100.0 * rec.rate,
            100.0 * rec.low,
            100.0 * rec.high,
            rec.raw_outcomes
        );
    }
    if !r.insights.is_empty() {
        out += "\ninsights\n";
        for i in &r.insights {
            out += &format!("  - {}\n", i.text);
        }
    }
    out
}

fn cause_name(c: charter_model::CauseClass) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{c:?}"))
}
