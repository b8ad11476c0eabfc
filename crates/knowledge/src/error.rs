//! [`StoreError`]: what went wrong in the store, naming the record or file involved.

use charter_model::ExecutionId;
use std::path::PathBuf;

/// A failure of the knowledge store.
///
/// `what` fields name the operation in words ("save incident", "read journal"), so the
/// message says which record could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory that should hold the database file does not exist.
    #[error(
        "cannot open knowledge store {}: directory {} does not exist",
        path.display(),
        dir.display()
    )]
    MissingDirectory { path: PathBuf, dir: PathBuf },

    /// The database could not be opened or configured.
    #[error("cannot open knowledge store {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },

    /// The PostgreSQL server could not be reached, or refused the connection.
    #[error("cannot connect to knowledge store {url}")]
    Connect {
        /// The connection URL with any password replaced by `***`.
        url: String,
        #[source]
        source: sqlx::Error,
    },

    /// A schema migration failed; the store is left at the previous version.
    #[error("cannot apply knowledge store schema migration {version} ({description})")]
    Migrate {
        version: i64,
        description: &'static str,
        #[source]
        source: sqlx::Error,
    },

    /// The database was written by a newer Charter whose schema this build does not know.
    #[error(
        "knowledge store schema version {found} is newer than the newest this build knows ({known}); upgrade charter"
    )]
    SchemaTooNew { found: i64, known: i64 },

    /// A statement failed (I/O, lock timeout, closed store, or a column of the wrong type).
    #[error("knowledge store cannot {what}")]
    Query {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },

    /// A record could not be serialized to JSON.
    #[error("cannot encode {what} as json")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    /// A stored value could not be read back into its type.
    #[error("cannot decode {what} read from the knowledge store")]
    Decode {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// An id does not fit in the store's signed 64-bit integer columns.
    #[error(
        "{what} {value} is too large for the knowledge store (max {})",
        i64::MAX
    )]
    OutOfRange { what: &'static str, value: u64 },

    /// A journal step was recorded twice with different idempotency keys: two writers
    /// disagree about what the step is, so neither may act on it.
    #[error(
        "journal step {step} of execution {execution_id} already has a {status} record with idempotency key `{existing}`, not `{given}`"
    )]
    JournalConflict {
        execution_id: ExecutionId,
        step: u32,
        status: &'static str,
        existing: String,
        given: String,
    },

    /// A journal claim under a fencing epoch that is no longer the lease's (or whose
    /// lease is about to expire): another replica leads, or may by now. Nothing was
    /// written; the caller must not act.
    #[error("{}", fenced_message(*.epoch, .current.as_ref()))]
    Fenced {
        epoch: u64,
        /// The lease when the claim was refused: (holder, epoch, ms until it expires).
        current: Option<(String, u64, i64)>,
    },
}

fn fenced_message(epoch: u64, current: Option<&(String, u64, i64)>) -> String {
    match current {
        Some((holder, e, ms)) if *e == epoch => format!(
            "journal claim under fencing epoch {epoch} refused: the lease of `{holder}` \
             expires in {ms} ms, inside its safety margin"
        ),
        Some((holder, e, _)) => format!(
            "journal claim under fencing epoch {epoch} refused: `{holder}` leads under \
             epoch {e}"
        ),
        None => {
            format!("journal claim under fencing epoch {epoch} refused: no lease was ever taken")
        }
    }
}
