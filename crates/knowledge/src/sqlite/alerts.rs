//! Writing webhook alerts: one writer at a time, with group commit.
//!
//! Concurrent webhooks arrive in bursts (Alertmanager sends one per group, and HA
//! peers repeat them). Two things would make a burst slow if each batch simply ran its
//! own transaction:
//!
//! - writers of one process that collide inside SQLite wait in its busy handler, which
//!   sleeps in growing steps of up to 100 ms, so a burst turns into a long tail;
//! - with `synchronous=FULL` every commit waits for an fsync, about half the cost of
//!   storing a 50-alert webhook on the machine it was measured on.
//!
//! So batches queue here and a single writer task takes everything queued, writes it
//! in one transaction, commits, and only then answers each caller: every batch is
//! still all-or-nothing and durable before its `save_alerts` returns, and a burst pays
//! for one fsync. The task is spawned when work arrives and ends when the queue is
//! empty; because it is a task, a caller that gives up (a client that disconnects)
//! cannot cancel a transaction that carries other callers' batches. If a combined
//! transaction fails, each batch is retried alone, so one bad batch fails only its own
//! caller.
//!
//! The writer also keeps checkpoints out of the acknowledgement path. SQLite copies the
//! WAL back into the database file (a checkpoint, with its own fsyncs) inside whichever
//! commit takes the WAL past 1000 pages; at webhook rates that is one commit in a
//! hundred, and it was the whole p99 (13 ms against a 2 ms median in the ingest
//! benchmark). So every few hundred rows the writer starts a passive checkpoint on
//! another connection, which runs beside the following commits; the WAL then never
//! grows to the automatic threshold.

use crate::error::StoreError;
use crate::sql::codec::{query_err, to_json};
use crate::store::ALERT_RESEND_AFTER_MS;
use charter_model::{Alert, AlertStatus, Timestamp};
use sqlx::query::QueryAs;
use sqlx::sqlite::{SqliteArguments, SqlitePool};
use sqlx::{Sqlite, SqliteConnection};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;

/// The columns of an `alerts` row the store writes, in [`bind_row`]'s order.
const INSERT_ALERTS: &str = "INSERT INTO alerts (fingerprint, starts_at_ms, status, ends_at_ms, \
     received_at_ms, objective, component, body) VALUES";
const ALERT_COLUMNS: usize = 8;

/// Rows per multi-row statement: a webhook is one round trip to the database thread,
/// and bound parameters stay well below SQLite's 32766 (and PostgreSQL's 65535).
const ROWS_PER_STATEMENT: usize = 200;

/// Alert rows committed between background checkpoints: about 100 WAL pages, well
/// below the 1000 at which SQLite checkpoints automatically inside a commit.
const CHECKPOINT_EVERY_ROWS: usize = 500;

/// Batches waiting to be written, and whether a writer task is running.
#[derive(Debug, Default)]
pub(super) struct AlertQueue {
    state: Mutex<QueueState>,
    /// Why the last write failed, while the database cannot write (disk full, I/O
    /// error, read-only); cleared by the next write that succeeds.
    unwritable: Mutex<Option<String>>,
}

#[derive(Debug, Default)]
struct QueueState {
    jobs: Vec<Job>,
    writing: bool,
    /// Rows committed since the last checkpoint was started.
    since_checkpoint: usize,
    /// Whether a checkpoint task is running.
    checkpointing: bool,
}

/// One caller's batch and where its answer goes.
#[derive(Debug)]
struct Job {
    rows: Vec<Row>,
    reply: oneshot::Sender<Result<Vec<bool>, StoreError>>,
}

/// An alert encoded for its row.
#[derive(Debug)]
struct Row {
    fingerprint: String,
    starts_at_ms: i64,
    status: &'static str,
    ends_at_ms: Option<i64>,
    received_at_ms: i64,
    objective: Option<String>,
    component: Option<String>,
    body: String,
}

impl Row {
    fn new(alert: &Alert) -> Result<Row, StoreError> {
        Ok(Row {
            fingerprint: alert.fingerprint.clone(),
            starts_at_ms: alert.starts_at.millis(),
            status: alert.status.as_str(),
            ends_at_ms: alert.ends_at.map(Timestamp::millis),
            received_at_ms: alert.received_at.millis(),
            objective: alert.objective.clone(),
            component: alert.component.clone(),
            body: to_json("alert", alert)?,
        })
    }

    fn key(&self) -> (String, i64) {
        (self.fingerprint.clone(), self.starts_at_ms)
    }
}

impl AlertQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // The state is a list and a flag, consistent after every statement, so a
        // panic elsewhere while it was held leaves nothing half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Err(why)` while the last write failed because the database cannot write.
    pub(super) fn write_status(&self) -> Result<(), String> {
        match &*self
            .unwritable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        {
            Some(why) => Err(why.clone()),
            None => Ok(()),
        }
    }

    /// Remember how a write ended, for [`AlertQueue::write_status`].
    fn note<T>(&self, result: &Result<T, StoreError>) {
        let mut unwritable = self
            .unwritable
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(_) => *unwritable = None,
            Err(e) if e.is_unavailable() => *unwritable = Some(chain(e)),
            Err(_) => {}
        }
    }
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// [`crate::AlertInbox::save_alerts`] for SQLite: queue the batch, make sure a writer runs,
/// and wait for the commit that carries it.
pub(super) async fn save(
    pool: &SqlitePool,
    queue: &Arc<AlertQueue>,
    alerts: &[Alert],
) -> Result<Vec<bool>, StoreError> {
    if alerts.is_empty() {
        return Ok(Vec::new());
    }
    let rows = alerts.iter().map(Row::new).collect::<Result<Vec<_>, _>>()?;
    let (reply, answer) = oneshot::channel();
    let start_writer = {
        let mut state = queue.lock();
        state.jobs.push(Job { rows, reply });
        !std::mem::replace(&mut state.writing, true)
    };
    if start_writer {
        tokio::spawn(write_queue(pool.clone(), queue.clone()));
    }
    let result = answer.await.map_err(|_| StoreError::Query {
        what: "save alerts",
        source: sqlx::Error::WorkerCrashed.into(),
    });
    let result = result.and_then(|r| r);
    queue.note(&result);
    result
}

/// Clears the `writing` flag if the writer ends abnormally (a panic, or its runtime
/// shutting down), so that the next batch starts a new writer instead of waiting
/// forever. A normal end disarms it: the flag is cleared under the same lock that saw
/// the queue empty, so no batch can slip in between.
struct WriterGuard {
    queue: Arc<AlertQueue>,
    armed: bool,
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        if self.armed {
            let mut state = self.queue.lock();
            state.writing = false;
            // Dropping the queued jobs answers their callers with an error rather than
            // leaving them waiting.
            state.jobs.clear();
        }
    }
}

/// The writer task: write what is queued, answer, repeat until the queue is empty.
async fn write_queue(pool: SqlitePool, queue: Arc<AlertQueue>) {
    let mut guard = WriterGuard { queue, armed: true };
    loop {
        let jobs = {
            let mut state = guard.queue.lock();
            if state.jobs.is_empty() {
                state.writing = false;
                drop(state);
                guard.armed = false;
                return;
            }
            std::mem::take(&mut state.jobs)
        };
        let rows: Vec<&Row> = jobs.iter().flat_map(|j| &j.rows).collect();
        let count = rows.len();
        let written = write(&pool, &rows).await;
        drop(rows);
        match written {
            Ok(new) => {
                let mut new = new.into_iter();
                for job in jobs {
                    let mine = new.by_ref().take(job.rows.len()).collect();
                    // The caller may have given up; its alerts are stored all the same.
                    let _ = job.reply.send(Ok(mine));
                }
                checkpoint_in_background(&pool, &guard.queue, count);
            }
            Err(e) => match <[Job; 1]>::try_from(jobs) {
                Ok([job]) => {
                    let _ = job.reply.send(Err(e));
                }
                Err(jobs) => {
                    for job in jobs {
                        let rows: Vec<&Row> = job.rows.iter().collect();
                        let _ = job.reply.send(write(&pool, &rows).await);
                    }
                }
            },
        }
    }
}

/// Count `rows` just committed, and start a checkpoint beside the writer once enough
/// have accumulated and none is running.
fn checkpoint_in_background(pool: &SqlitePool, queue: &Arc<AlertQueue>, rows: usize) {
    {
        let mut state = queue.lock();
        state.since_checkpoint += rows;
        if state.since_checkpoint < CHECKPOINT_EVERY_ROWS || state.checkpointing {
            return;
        }
        state.since_checkpoint = 0;
        state.checkpointing = true;
    }
    let pool = pool.clone();
    let queue = queue.clone();
    tokio::spawn(async move {
        // A failed checkpoint loses nothing: the WAL keeps the data, and SQLite's
        // automatic checkpoint is still there. If this task never finishes, that
        // automatic checkpoint is all that remains, which is where we started.
        let _ = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await;
        queue.lock().checkpointing = false;
    });
}

/// Write `rows` in one transaction; per row, whether it was new.
async fn write(pool: &SqlitePool, rows: &[&Row]) -> Result<Vec<bool>, StoreError> {
    let err = query_err("save alerts");
    // IMMEDIATE takes the write lock up front: a deferred transaction that reads
    // first could fail to upgrade when another writer got in between.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
    let new = write_in(&mut tx, rows).await.map_err(err)?;
    tx.commit().await.map_err(err)?;
    Ok(new)
}

async fn write_in(conn: &mut SqliteConnection, rows: &[&Row]) -> Result<Vec<bool>, sqlx::Error> {
    // Insert everything, a statement per chunk, skipping episodes already stored.
    let mut inserted: HashSet<(String, i64)> = HashSet::with_capacity(rows.len());
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "{INSERT_ALERTS} {} ON CONFLICT (fingerprint, starts_at_ms) DO NOTHING \
             RETURNING fingerprint, starts_at_ms",
            placeholders(chunk.len(), ALERT_COLUMNS)
        );
        let mut query = sqlx::query_as::<_, (String, i64)>(&sql);
        for row in chunk {
            query = bind_row(query, row);
        }
        inserted.extend(query.fetch_all(&mut *conn).await?);
    }

    // The first occurrence of an inserted episode is new; every other row is a
    // duplicate, of a stored episode or of one earlier in the rows.
    let mut new = Vec::with_capacity(rows.len());
    let mut duplicates = Vec::new();
    for row in rows {
        let fresh = inserted.remove(&row.key());
        new.push(fresh);
        if !fresh {
            duplicates.push(*row);
        }
    }

    // A duplicate with another status (firing -> resolved) is refiled under a fresh
    // seq (delete, then insert) rather than updated in place, so pollers of
    // `alerts_since` see it again. Plain retries, the common case, cost one read.
    // A firing alert re-sent later than a retry would come (see `ALERT_RESEND_AFTER_MS`) is
    // refiled the same way, with its new receipt.
    let mut stored: HashMap<(String, i64), (String, i64)> = HashMap::new();
    for chunk in duplicates.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT fingerprint, starts_at_ms, status, received_at_ms FROM alerts \
             WHERE (fingerprint, starts_at_ms) IN (VALUES {})",
            placeholders(chunk.len(), 2)
        );
        let mut query = sqlx::query_as::<_, (String, i64, String, i64)>(&sql);
        for row in chunk {
            query = query.bind(&row.fingerprint).bind(row.starts_at_ms);
        }
        for (fingerprint, starts_at_ms, status, received) in query.fetch_all(&mut *conn).await? {
            stored.insert((fingerprint, starts_at_ms), (status, received));
        }
    }
    for row in duplicates {
        let key = row.key();
        let unchanged = stored.get(&key).is_some_and(|(status, received)| {
            status == row.status
                && (row.status != AlertStatus::Firing.as_str()
                    || row.received_at_ms < received.saturating_add(ALERT_RESEND_AFTER_MS))
        });
        if unchanged {
            continue;
        }
        sqlx::query("DELETE FROM alerts WHERE fingerprint = $1 AND starts_at_ms = $2")
            .bind(&row.fingerprint)
            .bind(row.starts_at_ms)
            .execute(&mut *conn)
            .await?;
        let sql = format!(
            "{INSERT_ALERTS} {} RETURNING seq",
            placeholders(1, ALERT_COLUMNS)
        );
        bind_row(sqlx::query_as::<_, (i64,)>(&sql), row)
            .fetch_one(&mut *conn)
            .await?;
        stored.insert(key, (row.status.to_string(), row.received_at_ms));
    }
    Ok(new)
}

/// `(?, ?), (?, ?)` for `rows` rows of `columns` parameters.
///
/// Anonymous `?`, unlike the `$N` of the other statements: sqlx looks up every
/// numbered parameter by name, which SQLite answers by a linear scan, so a statement
/// with hundreds of `$N` costs time quadratic in its parameters (a quarter of the
/// ingest's CPU when measured). This function is the only SQLite-specific text here,
/// and SQLite's [`crate::sql::Dialect::placeholders`] for the shared statements.
pub(super) fn placeholders(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

/// A query with bound parameters, as built for the `alerts` table.
type AlertQuery<'q, O> = QueryAs<'q, Sqlite, O, SqliteArguments<'q>>;

/// Bind one row's [`INSERT_ALERTS`] columns.
fn bind_row<'q, O>(query: AlertQuery<'q, O>, row: &'q Row) -> AlertQuery<'q, O> {
    query
        .bind(&row.fingerprint)
        .bind(row.starts_at_ms)
        .bind(row.status)
        .bind(row.ends_at_ms)
        .bind(row.received_at_ms)
        .bind(&row.objective)
        .bind(&row.component)
        .bind(&row.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_cover_every_parameter() {
        assert_eq!(placeholders(1, 2), "(?, ?)");
        assert_eq!(placeholders(2, 3), "(?, ?, ?), (?, ?, ?)");
    }
}
