//! [`LeaderLease`] on every SQL dialect, by the statements of [`crate::lease`].

use super::codec::{db_id, model_id, query_err};
use super::{Dialect, SqlStore};
use crate::error::StoreError;
use crate::lease::{self, LeaseGrant, LeaseRecord};
use crate::store::LeaderLease;
use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};
use std::time::Duration;

#[async_trait]
impl<D: Dialect> LeaderLease for SqlStore<D>
where
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    for<'q> <D::DB as Database>::Arguments<'q>: IntoArguments<'q, D::DB>,
    usize: ColumnIndex<<D::DB as Database>::Row>,
    for<'q> i64: Type<D::DB> + Encode<'q, D::DB> + Decode<'q, D::DB>,
    for<'r> String: Type<D::DB> + Decode<'r, D::DB>,
    for<'q> &'q str: Type<D::DB> + Encode<'q, D::DB>,
{
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
                    source: sqlx::Error::RowNotFound.into(),
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
}
