//! [`AlertInbox`] on every SQL dialect: the dialect writes alerts, the reads are shared.

use super::codec::{self, alert_row, db_id, query_err};
use super::{Dialect, SqlStore};
use crate::error::StoreError;
use crate::store::AlertInbox;
use async_trait::async_trait;
use charter_model::{Alert, Timestamp};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

#[async_trait]
impl<D: Dialect> AlertInbox for SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    for<'q> <D::DB as Database>::Arguments<'q>: IntoArguments<'q, D::DB>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    for<'q> i64: Type<D::DB> + Encode<'q, D::DB> + Decode<'q, D::DB>,
    for<'r> String: Type<D::DB> + Decode<'r, D::DB>,
{
    async fn save_alerts(&self, alerts: &[Alert]) -> Result<Vec<bool>, StoreError> {
        self.dialect.save_alerts(&self.pool, alerts).await
    }

    async fn alerts_since(&self, seq: u64) -> Result<Vec<Alert>, StoreError> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT seq, body FROM alerts WHERE seq > $1 ORDER BY seq")
                .bind(db_id("alert sequence number", seq)?)
                .fetch_all(&self.pool)
                .await
                .map_err(query_err("read alerts"))?;
        rows.into_iter().map(alert_row).collect()
    }

    async fn recent_alerts(&self, limit: usize) -> Result<Vec<Alert>, StoreError> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT seq, body FROM alerts ORDER BY seq DESC LIMIT $1")
                .bind(codec::limit(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(query_err("read recent alerts"))?;
        rows.into_iter().map(alert_row).collect()
    }

    async fn prune_alerts(&self, before: Timestamp) -> Result<u64, StoreError> {
        // `seq` is AUTOINCREMENT (SQLite) or a sequence (PostgreSQL): deleting the
        // newest rows never lets a later alert take a number a poller has seen.
        let deleted = sqlx::query("DELETE FROM alerts WHERE received_at_ms < $1")
            .bind(before.millis())
            .execute(&self.pool)
            .await
            .map_err(query_err("prune alerts"))?;
        Ok(D::rows_affected(&deleted))
    }
}
