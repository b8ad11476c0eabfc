//! K, the knowledge store: everything Charter must remember across restarts.
//!
//! - [`store`] defines a trait per role — [`Incidents`] (incidents, violations,
//!   diagnoses, policies), [`Journal`] (the write-ahead journal of side effects,
//!   executions), [`GuardStore`] (guardrail state: actions taken, the kill switch,
//!   quarantined components; the audit log), [`LearningStore`] (outcomes, the success
//!   rates learning starts from, imported priors), [`AlertInbox`] (the alerts received
//!   from Alertmanager), [`ChangeLog`] (the change events deploy tools post),
//!   [`LeaderLease`] — and [`Store`], all of them, which the
//!   orchestrator holds as `Arc<dyn Store>`. [`prelude`] brings them all in scope.
//! - [`sql`] is [`SqlStore`], the store on an SQL database: every query written once,
//!   generic over a [`sql::Dialect`] that holds what differs between databases, and the
//!   schema migrations of both (the same versions).
//! - [`sqlite`] is [`SqliteStore`], the default backend (WAL, `synchronous=FULL`,
//!   migrations from `migrations/sqlite/`, the group-committing alert writer).
//! - [`postgres`] is [`PostgresStore`], the same store on a PostgreSQL server
//!   (migrations from `migrations/postgres/` under an advisory lock).
//! - [`records`] holds the records that are not model types: [`JournalRecord`],
//!   [`ExecutionRecord`], [`OutcomeRecord`], [`AuditEntry`], [`SuccessRate`],
//!   [`PauseRecord`].
//! - [`insights`] turns stored outcomes into what people read: success rates with
//!   credible intervals, recommendations and insights in words (pure).
//! - [`export`] is the versioned file of learned statistics that `charter knowledge
//!   export` writes and `import` stores as weighted priors ([`LearnedPrior`]).
//! - [`lease`] is the leader lease of replicas sharing a store, and the fencing of
//!   journal claims by its epoch.
//! - [`writer_lock`] is [`WriterLock`]: one process at a time runs the loop on an
//!   SQLite file (`FILE.lock`, holding the holder's identity).
//! - [`error`] holds [`StoreError`].

pub mod error;
pub mod export;
pub mod insights;
pub mod lease;
pub mod postgres;
pub mod records;
pub mod sql;
pub mod sqlite;
pub mod store;
pub mod writer_lock;

pub use error::{DbError, StoreError};
pub use lease::{LeaseGrant, LeaseRecord};
pub use postgres::{POSTGRES_SCHEMA_VERSION, PostgresStore};
pub use records::LearnedPrior;
pub use records::{
    AuditEntry, AuditKind, ChangeRecord, ExecutionRecord, ExecutionState, GUARD_PAUSED,
    GUARD_QUARANTINED, JournalRecord, JournalStatus, NextIds, OutcomeRecord, PauseRecord,
    SuccessRate, UnknownJournalStatus,
};
pub use sql::{SCHEMA_VERSION, SqlStore};
pub use sqlite::SqliteStore;
pub use store::{
    AlertInbox, ChangeLog, GuardStore, Incidents, Journal, LeaderLease, LearningStore, Store,
};
pub use writer_lock::WriterLock;

/// The store's traits, for calling store methods on a concrete [`SqliteStore`] or
/// [`PostgresStore`] (through `Arc<dyn Store>` no import is needed).
pub mod prelude {
    pub use crate::store::{
        AlertInbox, ChangeLog, GuardStore, Incidents, Journal, LeaderLease, LearningStore, Store,
    };
}
