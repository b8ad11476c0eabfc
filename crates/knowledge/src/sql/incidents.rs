//! [`Incidents`] on every SQL dialect: incidents, violations, diagnoses and policies.

use super::codec::{
    self, VIOLATION_ROWS_PER_INSERT, approval_tag, db_id, enum_text, from_json, model_id,
    query_err, to_json, violation_rows,
};
use super::{Dialect, SqlStore};
use crate::error::StoreError;
use crate::records::NextIds;
use crate::store::Incidents;
use async_trait::async_trait;
use charter_model::{
    ApprovalState, Diagnosis, ExecutionId, Incident, IncidentId, IncidentState, Policy, PolicyId,
    Timestamp, Violation,
};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

#[async_trait]
impl<D: Dialect> Incidents for SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    for<'q> <D::DB as Database>::Arguments<'q>: IntoArguments<'q, D::DB>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    for<'q> i64: Type<D::DB> + Encode<'q, D::DB> + Decode<'q, D::DB>,
    for<'q> String: Type<D::DB> + Encode<'q, D::DB> + Decode<'q, D::DB>,
    for<'q> &'q str: Type<D::DB> + Encode<'q, D::DB>,
    for<'q> Option<i64>: Encode<'q, D::DB>,
{
    async fn next_ids(&self) -> Result<NextIds, StoreError> {
        // Ids referenced by other records count too, so an id seen in a journal or an
        // outcome is never handed out again even if its own row was never saved.
        let (incident, policy, execution): (i64, i64, i64) = sqlx::query_as(
            "SELECT \
               (SELECT COALESCE(MAX(m), 0) FROM ( \
                  SELECT MAX(id) AS m FROM incidents \
                  UNION ALL SELECT MAX(incident_id) FROM violations \
                  UNION ALL SELECT MAX(incident_id) FROM diagnoses \
                  UNION ALL SELECT MAX(incident_id) FROM policies \
                  UNION ALL SELECT MAX(incident_id) FROM executions \
                  UNION ALL SELECT MAX(incident_id) FROM outcomes) AS i), \
               (SELECT COALESCE(MAX(m), 0) FROM ( \
                  SELECT MAX(id) AS m FROM policies \
                  UNION ALL SELECT MAX(policy_id) FROM executions \
                  UNION ALL SELECT MAX(policy_id) FROM outcomes) AS p), \
               (SELECT COALESCE(MAX(m), 0) FROM ( \
                  SELECT MAX(id) AS m FROM executions \
                  UNION ALL SELECT MAX(execution_id) FROM journal \
                  UNION ALL SELECT MAX(execution_id) FROM outcomes) AS e)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(query_err("read the largest ids"))?;
        Ok(NextIds {
            incident: IncidentId(model_id::<u64>("incident id", incident)? + 1),
            policy: PolicyId(model_id::<u64>("policy id", policy)? + 1),
            execution: ExecutionId(model_id::<u64>("execution id", execution)? + 1),
        })
    }

    async fn save_incident(&self, incident: &Incident) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO incidents (id, opened_at_ms, state, resolved_at_ms, body) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET \
               opened_at_ms = excluded.opened_at_ms, state = excluded.state, \
               resolved_at_ms = excluded.resolved_at_ms, body = excluded.body",
        )
        .bind(db_id("incident id", incident.id)?)
        .bind(incident.opened_at.millis())
        .bind(enum_text("incident state", incident.state)?)
        .bind(incident.resolved_at.map(Timestamp::millis))
        .bind(to_json("incident", incident)?)
        .execute(&self.pool)
        .await
        .map_err(query_err("save incident"))?;
        Ok(())
    }

    async fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.bodies(
            "read incidents",
            "incident",
            "SELECT body FROM incidents ORDER BY id",
            None,
        )
        .await
    }

    async fn open_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        let resolved = enum_text("incident state", IncidentState::Resolved)?;
        let closed = enum_text("incident state", IncidentState::Closed)?;
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM incidents WHERE state <> $1 AND state <> $2 ORDER BY id",
        )
        .bind(resolved)
        .bind(closed)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("read open incidents"))?;
        rows.iter().map(|b| from_json("incident", b)).collect()
    }

    async fn record_violations(
        &self,
        records: &[(Option<IncidentId>, Violation)],
    ) -> Result<(), StoreError> {
        let rows = violation_rows(records)?;
        if rows.is_empty() {
            return Ok(());
        }
        let err = query_err("record violations");
        let mut tx = self.pool.begin().await.map_err(err)?;
        // Multi-row statements: one round trip per {VIOLATION_ROWS_PER_INSERT} rows.
        for chunk in rows.chunks(VIOLATION_ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO violations (incident_id, objective, component, state, at_ms, body) \
                 VALUES {}",
                D::placeholders(chunk.len(), 6)
            );
            let mut insert = sqlx::query(&sql);
            for r in chunk {
                insert = insert
                    .bind(r.incident_id)
                    .bind(r.objective)
                    .bind(r.component)
                    .bind(r.state.as_str())
                    .bind(r.at_ms)
                    .bind(r.body.as_str());
            }
            insert.execute(&mut *tx).await.map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        Ok(())
    }

    async fn violations(&self, incident_id: IncidentId) -> Result<Vec<Violation>, StoreError> {
        self.bodies(
            "read violations",
            "violation",
            "SELECT body FROM violations WHERE incident_id = $1 ORDER BY seq",
            Some(db_id("incident id", incident_id)?),
        )
        .await
    }

    async fn violation_history(&self, since: Timestamp) -> Result<Vec<Violation>, StoreError> {
        self.bodies(
            "read violation history",
            "violation",
            "SELECT body FROM violations WHERE at_ms >= $1 ORDER BY seq",
            Some(since.millis()),
        )
        .await
    }

    async fn save_diagnosis(&self, diagnosis: &Diagnosis) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO diagnoses (incident_id, at_ms, body) VALUES ($1, $2, $3)")
            .bind(db_id("incident id", diagnosis.incident_id)?)
            .bind(diagnosis.at.millis())
            .bind(to_json("diagnosis", diagnosis)?)
            .execute(&self.pool)
            .await
            .map_err(query_err("save diagnosis"))?;
        Ok(())
    }

    async fn diagnoses(&self, incident_id: IncidentId) -> Result<Vec<Diagnosis>, StoreError> {
        self.bodies(
            "read diagnoses",
            "diagnosis",
            "SELECT body FROM diagnoses WHERE incident_id = $1 ORDER BY seq",
            Some(db_id("incident id", incident_id)?),
        )
        .await
    }

    async fn save_policy(&self, policy: &Policy) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO policies (id, incident_id, created_at_ms, approval, body) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET \
               incident_id = excluded.incident_id, created_at_ms = excluded.created_at_ms, \
               approval = excluded.approval, body = excluded.body",
        )
        .bind(db_id("policy id", policy.id)?)
        .bind(db_id("incident id", policy.incident_id)?)
        .bind(policy.created_at.millis())
        .bind(approval_tag(&policy.approval))
        .bind(to_json("policy", policy)?)
        .execute(&self.pool)
        .await
        .map_err(query_err("save policy"))?;
        Ok(())
    }

    async fn policies(&self, incident_id: Option<IncidentId>) -> Result<Vec<Policy>, StoreError> {
        match incident_id {
            Some(id) => {
                self.bodies(
                    "read policies",
                    "policy",
                    "SELECT body FROM policies WHERE incident_id = $1 ORDER BY id",
                    Some(db_id("incident id", id)?),
                )
                .await
            }
            None => {
                self.bodies(
                    "read policies",
                    "policy",
                    "SELECT body FROM policies ORDER BY id",
                    None,
                )
                .await
            }
        }
    }

    async fn policy(&self, id: PolicyId) -> Result<Option<Policy>, StoreError> {
        let body: Option<String> = sqlx::query_scalar("SELECT body FROM policies WHERE id = $1")
            .bind(db_id("policy id", id)?)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_err("read policy"))?;
        body.map(|b| from_json("policy", &b)).transpose()
    }

    async fn recent_policies(&self, limit: usize) -> Result<Vec<Policy>, StoreError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT body FROM policies ORDER BY id DESC LIMIT $1")
                .bind(codec::limit(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(query_err("read recent policies"))?;
        rows.iter().map(|b| from_json("policy", b)).collect()
    }

    async fn pending_policies(&self) -> Result<Vec<Policy>, StoreError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT body FROM policies WHERE approval = $1 ORDER BY id")
                .bind(approval_tag(&ApprovalState::Pending))
                .fetch_all(&self.pool)
                .await
                .map_err(query_err("read pending policies"))?;
        rows.iter().map(|b| from_json("policy", b)).collect()
    }

    async fn prune_history(&self, before: Timestamp) -> Result<u64, StoreError> {
        let err = query_err("prune history");
        let mut tx = self.pool.begin().await.map_err(err)?;
        let mut removed = 0;
        for sql in [
            "DELETE FROM violations WHERE at_ms < $1",
            "DELETE FROM diagnoses WHERE at_ms < $1",
            "DELETE FROM guardrail_actions WHERE at_ms < $1",
        ] {
            let deleted = sqlx::query(sql)
                .bind(before.millis())
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            removed += D::rows_affected(&deleted);
        }
        tx.commit().await.map_err(err)?;
        Ok(removed)
    }
}
