//! [`GuardStore`] on every SQL dialect: guardrail state and the audit log.

use super::codec::{self, action_kind, from_json, model_id, query_err, to_json};
use super::{Dialect, SqlStore};
use crate::error::StoreError;
use crate::records::AuditEntry;
use crate::store::GuardStore;
use async_trait::async_trait;
use charter_model::{ActionKind, Timestamp};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

#[async_trait]
impl<D: Dialect> GuardStore for SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    for<'q> <D::DB as Database>::Arguments<'q>: IntoArguments<'q, D::DB>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    for<'q> i64: Type<D::DB> + Encode<'q, D::DB> + Decode<'q, D::DB>,
    for<'q> String: Type<D::DB> + Encode<'q, D::DB> + Decode<'q, D::DB>,
    for<'q> &'q str: Type<D::DB> + Encode<'q, D::DB>,
{
    async fn audit(
        &self,
        at: Timestamp,
        kind: &str,
        body: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit_log (at_ms, kind, body) VALUES ($1, $2, $3)")
            .bind(at.millis())
            .bind(kind)
            .bind(to_json("audit entry", body)?)
            .execute(&self.pool)
            .await
            .map_err(query_err("append to the audit log"))?;
        Ok(())
    }

    async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<(i64, i64, String, String)> = sqlx::query_as(
            "SELECT seq, at_ms, kind, body FROM audit_log ORDER BY seq DESC LIMIT $1",
        )
        .bind(codec::limit(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("read the audit log"))?;
        rows.into_iter()
            .map(|(seq, at, kind, body)| {
                Ok(AuditEntry {
                    seq: model_id("audit sequence number", seq)?,
                    at: Timestamp(at),
                    kind,
                    body: from_json("audit entry", &body)?,
                })
            })
            .collect()
    }

    async fn record_action(
        &self,
        component: &str,
        kind: ActionKind,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO guardrail_actions (component, action_kind, at_ms) VALUES ($1, $2, $3)",
        )
        .bind(component)
        .bind(kind.as_str())
        .bind(at.millis())
        .execute(&self.pool)
        .await
        .map_err(query_err("record action for guardrails"))?;
        Ok(())
    }

    async fn actions_since(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(String, ActionKind, Timestamp)>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT component, action_kind, at_ms FROM guardrail_actions \
             WHERE at_ms >= $1 ORDER BY at_ms, seq",
        )
        .bind(since.millis())
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("read recent actions"))?;
        rows.into_iter()
            .map(|(component, kind, at)| Ok((component, action_kind(&kind)?, Timestamp(at))))
            .collect()
    }

    async fn last_record_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let latest: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(t) FROM (\
                 SELECT MAX(opened_at_ms) AS t FROM incidents \
                 UNION ALL SELECT MAX(resolved_at_ms) FROM incidents \
                 UNION ALL SELECT MAX(at_ms) FROM violations \
                 UNION ALL SELECT MAX(at_ms) FROM diagnoses \
                 UNION ALL SELECT MAX(created_at_ms) FROM policies \
                 UNION ALL SELECT MAX(started_at_ms) FROM executions \
                 UNION ALL SELECT MAX(finished_at_ms) FROM executions \
                 UNION ALL SELECT MAX(at_ms) FROM journal \
                 UNION ALL SELECT MAX(at_ms) FROM outcomes \
                 UNION ALL SELECT MAX(at_ms) FROM audit_log \
                 UNION ALL SELECT MAX(at_ms) FROM guardrail_actions) AS latest",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(query_err("read the time of the latest record"))?;
        Ok(latest.map(Timestamp))
    }

    async fn put_guard_state(
        &self,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO guard_state (key, body) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET body = excluded.body",
        )
        .bind(key)
        .bind(to_json("guardrail state", value)?)
        .execute(&self.pool)
        .await
        .map_err(query_err("save guardrail state"))?;
        Ok(())
    }

    async fn guard_state(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM guard_state WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(query_err("read guardrail state"))?;
        body.map(|b| from_json("guardrail state", &b)).transpose()
    }
}
