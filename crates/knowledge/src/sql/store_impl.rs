//! The [`Store`] methods of [`SqlStore`], on every dialect.

use super::codec::{
    self, JournalRow, VIOLATION_ROWS_PER_INSERT, action_kind, alert_row, approval_tag, count,
    db_id, enum_text, from_json, journal_record, model_id, query_err, to_json, violation_rows,
};
use super::{Dialect, SqlStore};
use crate::error::StoreError;
use crate::lease::{self, LeaseGrant, LeaseRecord};
use crate::records::{
    AuditEntry, ExecutionRecord, JournalRecord, JournalStatus, LearnedPrior, NextIds,
    OutcomeRecord, SuccessRate,
};
use crate::store::Store;
use async_trait::async_trait;
use charter_model::{
    ActionKind, Alert, ApprovalState, Diagnosis, Incident, IncidentState, Policy, Timestamp,
    Violation,
};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};
use std::time::Duration;

#[async_trait]
impl<D: Dialect> Store for SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    for<'q> <D::DB as Database>::Arguments<'q>: IntoArguments<'q, D::DB>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    for<'q> i64: Type<D::DB> + Encode<'q, D::DB> + Decode<'q, D::DB>,
    for<'q> f64: Type<D::DB> + Encode<'q, D::DB> + Decode<'q, D::DB>,
    for<'q> String: Type<D::DB> + Encode<'q, D::DB> + Decode<'q, D::DB>,
    for<'q> &'q str: Type<D::DB> + Encode<'q, D::DB>,
    for<'q> Option<i64>: Encode<'q, D::DB>,
    for<'q> Option<f64>: Encode<'q, D::DB>,
    for<'q> Option<String>: Encode<'q, D::DB>,
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
            incident: model_id("incident id", incident)? + 1,
            policy: model_id("policy id", policy)? + 1,
            execution: model_id("execution id", execution)? + 1,
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
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT body FROM incidents WHERE state <> $1 ORDER BY id")
                .bind(resolved)
                .fetch_all(&self.pool)
                .await
                .map_err(query_err("read open incidents"))?;
        rows.iter().map(|b| from_json("incident", b)).collect()
    }

    async fn record_violations(
        &self,
        records: &[(Option<u64>, Violation)],
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

    async fn violations(&self, incident_id: u64) -> Result<Vec<Violation>, StoreError> {
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

    async fn diagnoses(&self, incident_id: u64) -> Result<Vec<Diagnosis>, StoreError> {
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

    async fn policies(&self, incident_id: Option<u64>) -> Result<Vec<Policy>, StoreError> {
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

    async fn policy(&self, id: u64) -> Result<Option<Policy>, StoreError> {
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

    async fn journal(&self, execution_id: u64) -> Result<Vec<JournalRecord>, StoreError> {
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
        .bind(&execution.state)
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

    async fn save_outcome(&self, record: &OutcomeRecord) -> Result<(), StoreError> {
        let outcome = &record.outcome;
        sqlx::query(
            "INSERT INTO outcomes \
               (execution_id, policy_id, incident_id, at_ms, class, success, \
                time_to_effect_secs, action_kind, component, objective, cause, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(db_id("execution id", outcome.execution_id)?)
        .bind(db_id("policy id", outcome.policy_id)?)
        .bind(db_id("incident id", outcome.incident_id)?)
        .bind(outcome.at.millis())
        .bind(outcome.class.as_str())
        .bind(i64::from(outcome.class.is_success()))
        .bind(outcome.time_to_effect_secs)
        .bind(record.action_kind.as_str())
        .bind(&record.component)
        .bind(&record.objective)
        .bind(record.cause.map(|c| enum_text("cause", c)).transpose()?)
        .bind(to_json("outcome", record)?)
        .execute(&self.pool)
        .await
        .map_err(query_err("save outcome"))?;
        Ok(())
    }

    async fn outcomes(&self) -> Result<Vec<OutcomeRecord>, StoreError> {
        self.bodies(
            "read outcomes",
            "outcome",
            "SELECT body FROM outcomes ORDER BY seq",
            None,
        )
        .await
    }

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

    async fn success_rates(&self) -> Result<Vec<SuccessRate>, StoreError> {
        let sql = format!(
            "SELECT action_kind, objective, component, {}, COUNT(*), \
                    AVG(CASE WHEN success = 1 THEN time_to_effect_secs END) \
             FROM outcomes GROUP BY action_kind, objective, component",
            D::SUM_SUCCESS
        );
        let rows: Vec<(String, String, String, i64, i64, Option<f64>)> = sqlx::query_as(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("read success rates"))?;
        let mut rates = rows
            .into_iter()
            .map(|(kind, objective, component, successes, total, mean)| {
                Ok(SuccessRate {
                    kind: action_kind(&kind)?,
                    objective,
                    component,
                    successes: count("success count", successes)?,
                    total: count("outcome count", total)?,
                    mean_time_to_effect_secs: mean.unwrap_or(0.0),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        rates.sort_by(|a, b| {
            (a.kind, &a.objective, &a.component).cmp(&(b.kind, &b.objective, &b.component))
        });
        Ok(rates)
    }

    async fn kind_success_rates(&self) -> Result<Vec<(ActionKind, u32, u32)>, StoreError> {
        let sql = format!(
            "SELECT action_kind, {}, COUNT(*) FROM outcomes GROUP BY action_kind",
            D::SUM_SUCCESS
        );
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("read success rates per kind"))?;
        let mut rates = rows
            .into_iter()
            .map(|(kind, successes, total)| {
                Ok((
                    action_kind(&kind)?,
                    count("success count", successes)?,
                    count("outcome count", total)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        rates.sort_by_key(|&(kind, _, _)| kind);
        Ok(rates)
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

    async fn save_priors(&self, priors: &[LearnedPrior]) -> Result<(), StoreError> {
        let err = query_err("save learned priors");
        let sql = format!(
            "{} learned_priors \
               (action_kind, objective, component, source, alpha, beta, \
                time_to_effect_secs, weight, imported_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9){}",
            D::REPLACE_PRIOR,
            D::REPLACE_PRIOR_END
        );
        let mut tx = self.pool.begin().await.map_err(err)?;
        for p in priors {
            sqlx::query(&sql)
                .bind(p.kind.as_str())
                .bind(&p.objective)
                .bind(&p.component)
                .bind(&p.source)
                .bind(p.alpha)
                .bind(p.beta)
                .bind(p.time_to_effect_secs)
                .bind(p.weight)
                .bind(p.imported_at.millis())
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    async fn priors(&self) -> Result<Vec<LearnedPrior>, StoreError> {
        type Row = (
            String,
            String,
            String,
            String,
            f64,
            f64,
            Option<f64>,
            f64,
            i64,
        );
        let sql = format!(
            "SELECT action_kind, objective, component, source, alpha, beta, \
                    time_to_effect_secs, weight, imported_at_ms \
             FROM learned_priors \
             ORDER BY action_kind{o}, objective{o}, component{o}, source{o}",
            o = D::BYTE_ORDER
        );
        let rows: Vec<Row> = sqlx::query_as(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("read learned priors"))?;
        rows.into_iter()
            .map(
                |(kind, objective, component, source, alpha, beta, tte, weight, at)| {
                    Ok(LearnedPrior {
                        kind: action_kind(&kind)?,
                        objective,
                        component,
                        source,
                        alpha,
                        beta,
                        time_to_effect_secs: tte,
                        weight,
                        imported_at: Timestamp(at),
                    })
                },
            )
            .collect()
    }

    async fn acquire_lease(
        &self,
        holder: &str,
        ttl: Duration,
        margin: Duration,
    ) -> Result<LeaseGrant, StoreError> {
        let got: Option<(i64, i64)> = sqlx::query_as(&lease::acquire_sql(D::NOW_MS))
            .bind(holder)
            .bind(lease::ms(ttl))
            .bind(lease::ms(margin))
            .fetch_optional(&self.pool)
            .await
            .map_err(query_err("acquire the leader lease"))?;
        match got {
            Some((epoch, expires_in_ms)) => Ok(LeaseGrant::Acquired {
                epoch: model_id("lease epoch", epoch)?,
                expires_in_ms,
            }),
            None => match self.lease().await? {
                Some(l) => Ok(LeaseGrant::HeldBy(l)),
                // Taken and dropped between the two statements: try again next time.
                None => Err(StoreError::Query {
                    what: "acquire the leader lease",
                    source: sqlx::Error::RowNotFound,
                }),
            },
        }
    }

    async fn renew_lease(
        &self,
        holder: &str,
        epoch: u64,
        ttl: Duration,
        margin: Duration,
    ) -> Result<bool, StoreError> {
        let renewed = sqlx::query(&lease::renew_sql(D::NOW_MS))
            .bind(holder)
            .bind(db_id("lease epoch", epoch)?)
            .bind(lease::ms(ttl))
            .bind(lease::ms(margin))
            .execute(&self.pool)
            .await
            .map_err(query_err("renew the leader lease"))?;
        Ok(D::rows_affected(&renewed) > 0)
    }

    async fn release_lease(&self, holder: &str, epoch: u64) -> Result<(), StoreError> {
        sqlx::query(lease::RELEASE_SQL)
            .bind(holder)
            .bind(db_id("lease epoch", epoch)?)
            .execute(&self.pool)
            .await
            .map_err(query_err("release the leader lease"))?;
        Ok(())
    }

    async fn lease(&self) -> Result<Option<LeaseRecord>, StoreError> {
        let row: Option<(String, i64, i64)> = sqlx::query_as(&lease::read_sql(D::NOW_MS))
            .fetch_optional(&self.pool)
            .await
            .map_err(query_err("read the leader lease"))?;
        row.map(|(holder, epoch, expires_in_ms)| {
            Ok(LeaseRecord {
                holder,
                epoch: model_id("lease epoch", epoch)?,
                expires_in_ms,
            })
        })
        .transpose()
    }

    async fn close(&self) {
        self.dialect.close(&self.pool).await;
    }
}
