//! [`Journal`] on every SQL dialect: the journal and the executions.

use super::codec::{JournalRow, db_id, journal_record, query_err, to_json};
use super::{Dialect, SqlStore};
use crate::error::StoreError;
use crate::lease;
use crate::records::{ExecutionRecord, JournalRecord, JournalStatus};
use crate::store::{Journal, LeaderLease};
use async_trait::async_trait;
use charter_model::{ExecutionId, Timestamp};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

#[async_trait]
impl<D: Dialect> Journal for SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    for<'q> <D::DB as Database>::Arguments<'q>: IntoArguments<'q, D::DB>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    for<'q> i64: Type<D::DB> + Encode<'q, D::DB> + Decode<'q, D::DB>,
    for<'q> String: Type<D::DB> + Encode<'q, D::DB> + Decode<'q, D::DB>,
    for<'q> &'q str: Type<D::DB> + Encode<'q, D::DB>,
    for<'q> Option<i64>: Encode<'q, D::DB>,
{
    async fn journal_step(&self, record: &JournalRecord) -> Result<bool, StoreError> {
        let execution_id = db_id("execution id", record.execution_id)?;
        // A claim (an intent) is written only if its epoch may act, in the same
        // statement that checks it (crate::lease). A concurrent insert of the same row
        // makes this one do nothing, so the read below always finds the winner.
        let claim = record.status == JournalStatus::Intent;
        let sql = if claim {
            lease::fenced_journal_sql(D::NOW_MS)
        } else {
            "INSERT INTO journal \
               (execution_id, step, status, idempotency_key, epoch, at_ms, action, detail, \
                prior) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (execution_id, step, status) DO NOTHING"
                .to_string()
        };
        let written = sqlx::query(&sql)
            .bind(execution_id)
            .bind(i64::from(record.step))
            .bind(record.status.as_str())
            .bind(&record.idempotency_key)
            .bind(db_id("fencing epoch", record.epoch)?)
            .bind(record.at.millis())
            .bind(to_json("journal action", &record.action)?)
            .bind(&record.detail)
            .bind(to_json("journal prior", &record.prior)?)
            .execute(&self.pool)
            .await
            .map_err(query_err("write journal step"))?;
        if D::rows_affected(&written) > 0 {
            return Ok(true);
        }
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT idempotency_key FROM journal \
             WHERE execution_id = $1 AND step = $2 AND status = $3",
        )
        .bind(execution_id)
        .bind(i64::from(record.step))
        .bind(record.status.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err("read existing journal step"))?;
        let Some(existing) = existing else {
            // Nothing there and nothing inserted: the claim was fenced.
            let current = self
                .lease()
                .await?
                .map(|l| (l.holder, l.epoch, l.expires_in_ms));
            return Err(StoreError::Fenced {
                epoch: record.epoch,
                current,
            });
        };
        if existing == record.idempotency_key {
            Ok(false)
        } else {
            Err(StoreError::JournalConflict {
                execution_id: record.execution_id,
                step: record.step,
                status: record.status.as_str(),
                existing,
                given: record.idempotency_key.clone(),
            })
        }
    }

    async fn journal(&self, execution_id: ExecutionId) -> Result<Vec<JournalRecord>, StoreError> {
        let rows: Vec<JournalRow> = sqlx::query_as(
            "SELECT execution_id, step, status, idempotency_key, epoch, at_ms, action, detail, \
                    prior \
             FROM journal WHERE execution_id = $1 ORDER BY seq",
        )
        .bind(db_id("execution id", execution_id)?)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("read journal"))?;
        rows.into_iter().map(journal_record).collect()
    }

    async fn unfinished_journal(&self) -> Result<Vec<JournalRecord>, StoreError> {
        let rows: Vec<JournalRow> = sqlx::query_as(
            "SELECT i.execution_id, i.step, i.status, i.idempotency_key, i.epoch, i.at_ms, \
                    i.action, i.detail, i.prior \
             FROM journal AS i \
             WHERE i.status = $1 AND NOT EXISTS ( \
               SELECT 1 FROM journal AS r \
               WHERE r.execution_id = i.execution_id AND r.step = i.step \
                 AND r.status IN ($2, $3, $4) AND r.seq > i.seq) \
             ORDER BY i.execution_id, i.step",
        )
        .bind(JournalStatus::Intent.as_str())
        .bind(JournalStatus::Applied.as_str())
        .bind(JournalStatus::Failed.as_str())
        // A compensation's row (step 1000 + n) ends with `compensated`, not `applied`.
        .bind(JournalStatus::Compensated.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("read unfinished journal steps"))?;
        rows.into_iter().map(journal_record).collect()
    }

    async fn save_execution(&self, execution: &ExecutionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO executions \
               (id, policy_id, incident_id, started_at_ms, finished_at_ms, state, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET \
               policy_id = excluded.policy_id, incident_id = excluded.incident_id, \
               started_at_ms = excluded.started_at_ms, \
               finished_at_ms = excluded.finished_at_ms, \
               state = excluded.state, body = excluded.body",
        )
        .bind(db_id("execution id", execution.id)?)
        .bind(db_id("policy id", execution.policy_id)?)
        .bind(db_id("incident id", execution.incident_id)?)
        .bind(execution.started_at.millis())
        .bind(execution.finished_at.map(Timestamp::millis))
        .bind(execution.state.as_str())
        .bind(to_json("execution", execution)?)
        .execute(&self.pool)
        .await
        .map_err(query_err("save execution"))?;
        Ok(())
    }

    async fn executions(&self) -> Result<Vec<ExecutionRecord>, StoreError> {
        self.bodies(
            "read executions",
            "execution",
            "SELECT body FROM executions ORDER BY id",
            None,
        )
        .await
    }

    async fn unfinished_executions(&self) -> Result<Vec<ExecutionRecord>, StoreError> {
        self.bodies(
            "read unfinished executions",
            "execution",
            "SELECT body FROM executions WHERE finished_at_ms IS NULL ORDER BY id",
            None,
        )
        .await
    }
}
