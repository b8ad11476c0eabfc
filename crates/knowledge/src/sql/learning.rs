//! [`LearningStore`] on every SQL dialect: outcomes, success rates and imported priors.

use super::codec::{action_kind, count, db_id, enum_text, query_err, to_json};
use super::{Dialect, SqlStore};
use crate::error::StoreError;
use crate::records::{LearnedPrior, OutcomeRecord, SuccessRate};
use crate::store::LearningStore;
use async_trait::async_trait;
use charter_model::{ActionKind, Timestamp};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

#[async_trait]
impl<D: Dialect> LearningStore for SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    for<'q> <D::DB as Database>::Arguments<'q>: IntoArguments<'q, D::DB>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    for<'q> i64: Type<D::DB> + Encode<'q, D::DB> + Decode<'q, D::DB>,
    for<'q> f64: Type<D::DB> + Encode<'q, D::DB> + Decode<'q, D::DB>,
    for<'q> String: Type<D::DB> + Encode<'q, D::DB> + Decode<'q, D::DB>,
    for<'q> &'q str: Type<D::DB> + Encode<'q, D::DB>,
    for<'q> Option<f64>: Encode<'q, D::DB>,
    for<'q> Option<String>: Encode<'q, D::DB>,
{
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
}
