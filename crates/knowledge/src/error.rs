//! [`StoreError`]: what went wrong in the store, naming the record or file involved.

use charter_model::ExecutionId;
use std::path::PathBuf;

/// A database driver's error, printed once.
///
/// sqlx prints a database's own error inside its message *and* returns it as the
/// source, so a `{:#}` chain said "(code: 26) file is not a database" twice. This
/// prints the database's message once, with its code, and ends the chain there; any
/// other driver error is passed through with its own source.
#[derive(Debug)]
pub struct DbError(pub sqlx::Error);

impl DbError {
    /// The database's error code (SQLite's primary or extended code as text, a
    /// PostgreSQL SQLSTATE), if the database answered.
    pub fn code(&self) -> Option<String> {
        match &self.0 {
            sqlx::Error::Database(e) => e.code().map(|c| c.into_owned()),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> DbError {
        DbError(e)
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            sqlx::Error::Database(e) => match e.code() {
                Some(code) => write!(f, "{} (code {code})", e.message()),
                None => f.write_str(e.message()),
            },
            other => std::fmt::Display::fmt(other, f),
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            sqlx::Error::Database(_) => None,
            other => other.source(),
        }
    }
}

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
        source: DbError,
    },

    /// The PostgreSQL server could not be reached, or refused the connection.
    #[error("cannot connect to knowledge store {url}")]
    Connect {
        /// The connection URL with any password replaced by `***`.
        url: String,
        #[source]
        source: DbError,
    },

    /// A schema migration failed; the store is left at the previous version.
    #[error("cannot apply knowledge store schema migration {version} ({description})")]
    Migrate {
        version: i64,
        description: &'static str,
        #[source]
        source: DbError,
    },

    /// The database was written by a newer Charter whose schema this build does not know.
    #[error(
        "knowledge store schema version {found} is newer than the newest this build knows ({known}); upgrade charter"
    )]
    SchemaTooNew { found: i64, known: i64 },

    /// Another process holds the store's writer lock ([`crate::WriterLock`]).
    #[error(
        "knowledge store {} is in use by another charter process ({holder}); lock file {}: \
         stop that process first (one writer per store)",
        db.display(),
        path.display()
    )]
    Locked {
        db: PathBuf,
        path: PathBuf,
        /// What the lock file says about the holder.
        holder: String,
    },

    /// The lock file could not be created or locked.
    #[error("cannot lock knowledge store: lock file {}", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `PRAGMA quick_check` found damage: nothing may run on this store.
    #[error(
        "{}: the knowledge store is corrupted (quick_check: {report}); restore it from a \
         backup or move it aside",
        path.display()
    )]
    Corrupt { path: PathBuf, report: String },

    /// A statement failed (I/O, lock timeout, closed store, or a column of the wrong type).
    #[error("knowledge store cannot {what}")]
    Query {
        what: &'static str,
        #[source]
        source: DbError,
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

impl StoreError {
    /// Whether the store cannot write *for now* — disk full, an I/O error, a read-only
    /// or busy database, a lost connection — rather than refusing this record: the
    /// caller should answer "unavailable, retry later" (HTTP 503), not "failed".
    pub fn is_unavailable(&self) -> bool {
        let source = match self {
            StoreError::Query { source, .. }
            | StoreError::Open { source, .. }
            | StoreError::Connect { source, .. }
            | StoreError::Migrate { source, .. } => source,
            _ => return false,
        };
        match &source.0 {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(_) => source.code().is_some_and(|c| unavailable_code(&c)),
            _ => false,
        }
    }
}

/// SQLite result codes (primary code in the low byte of the extended one) and
/// PostgreSQL SQLSTATEs that mean "cannot write now".
fn unavailable_code(code: &str) -> bool {
    if let Ok(n) = code.parse::<i64>() {
        // BUSY 5, LOCKED 6, READONLY 8, IOERR 10, FULL 13, CANTOPEN 14.
        return matches!(n & 0xff, 5 | 6 | 8 | 10 | 13 | 14);
    }
    // 53: insufficient resources (disk full, out of memory); 08: connection;
    // 57P: operator intervention (shutdown); 25006: read-only transaction.
    code.starts_with("53") || code.starts_with("08") || code.starts_with("57P") || code == "25006"
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
