//! [`ChangeLog`] on every SQL dialect: change events stored once per key, read by
//! sequence number.

use super::codec::{self, db_id, enum_text, from_json, model_id, query_err, to_json};
use super::{Dialect, SqlStore};
use crate::error::StoreError;
use crate::records::ChangeRecord;
use crate::store::ChangeLog;
use async_trait::async_trait;
use charter_model::{Change, Timestamp};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

/// A `changes` row as read: `seq`, `dedup_key`, `received_at_ms`, `body`.
type Row = (i64, String, i64, String);

fn change_row((seq, key, received_at_ms, body): Row) -> Result<ChangeRecord, StoreError> {
    Ok(ChangeRecord {
        seq: model_id("change sequence number", seq)?,
        key,
        received_at: Timestamp(received_at_ms),
        change: from_json::<Change>("change", &body)?,
    })
}

#[async_trait]
impl<D: Dialect> ChangeLog for SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    for<'q> <D::DB as Database>::Arguments<'q>: IntoArguments<'q, D::DB>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    for<'q> i64: Type<D::DB> + Encode<'q, D::DB> + Decode<'q, D::DB>,
    for<'q> String: Type<D::DB> + Encode<'q, D::DB> + Decode<'q, D::DB>,
{
    async fn save_changes(&self, changes: &[ChangeRecord]) -> Result<Vec<bool>, StoreError> {
        let err = query_err("save changes");
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let rows = changes
            .iter()
            .map(|r| {
                Ok((
                    enum_text("change source", r.change.source)?,
                    to_json("change", &r.change)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut tx = self.pool.begin().await.map_err(err)?;
        if let Some(lock) = D::LOCK_CHANGES {
            sqlx::query(lock).execute(&mut *tx).await.map_err(err)?;
        }
        let mut new = Vec::with_capacity(changes.len());
        for (r, (source, body)) in changes.iter().zip(rows) {
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO changes (dedup_key, at_ms, received_at_ms, component, source, body) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (dedup_key) DO NOTHING RETURNING seq",
            )
            .bind(r.key.clone())
            .bind(r.change.at.millis())
            .bind(r.received_at.millis())
            .bind(r.change.component.clone())
            .bind(source)
            .bind(body)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?;
            new.push(inserted.is_some());
        }
        tx.commit().await.map_err(err)?;
        Ok(new)
    }

    async fn changes_since(&self, seq: u64) -> Result<Vec<ChangeRecord>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT seq, dedup_key, received_at_ms, body FROM changes WHERE seq > $1 ORDER BY seq",
        )
        .bind(db_id("change sequence number", seq)?)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("read changes"))?;
        rows.into_iter().map(change_row).collect()
    }

    async fn recent_changes(&self, limit: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT seq, dedup_key, received_at_ms, body FROM changes ORDER BY seq DESC LIMIT $1",
        )
        .bind(codec::limit(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("read recent changes"))?;
        rows.into_iter().map(change_row).collect()
    }

    async fn prune_changes(&self, before: Timestamp) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM changes WHERE received_at_ms < $1")
            .bind(before.millis())
            .execute(&self.pool)
            .await
            .map_err(query_err("prune changes"))?;
        Ok(D::rows_affected(&deleted))
    }
}
