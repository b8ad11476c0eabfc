//! Writing webhook alerts to PostgreSQL.
//!
//! Each batch is one transaction. Alert writers take a transaction-scoped advisory lock
//! first, for two reasons: `seq` must become visible in increasing order (otherwise a
//! poller of [`crate::AlertInbox::alerts_since`] that saw seq 11 could miss a seq 10
//! that commits later), and two HA peers sending the same group at once must not both
//! see an episode as new. The lock is released when the transaction commits, after its
//! rows are visible. The rows are processed as SQLite does: every episode inserted
//! first, then the duplicates in order, so both backends assign the same order.

use crate::error::StoreError;
use crate::sql::codec::{query_err, to_json};
use crate::store::ALERT_RESEND_AFTER_MS;
use charter_model::{Alert, Timestamp};
use sqlx::PgConnection;
use sqlx::postgres::PgPool;

/// Advisory lock serializing alert writers (per database).
const ALERTS_LOCK: i64 = 0x4348_4152_5445_5202; // "CHARTER" 02

/// [`crate::AlertInbox::save_alerts`] for PostgreSQL.
pub(super) async fn save(pool: &PgPool, alerts: &[Alert]) -> Result<Vec<bool>, StoreError> {
    let err = query_err("save alerts");
    if alerts.is_empty() {
        return Ok(Vec::new());
    }
    let bodies = alerts
        .iter()
        .map(|a| to_json("alert", a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tx = pool.begin().await.map_err(err)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(ALERTS_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
    let new = write_in(&mut tx, alerts, &bodies).await.map_err(err)?;
    tx.commit().await.map_err(err)?;
    Ok(new)
}

async fn write_in(
    conn: &mut PgConnection,
    alerts: &[Alert],
    bodies: &[String],
) -> Result<Vec<bool>, sqlx::Error> {
    let mut new = Vec::with_capacity(alerts.len());
    for (alert, body) in alerts.iter().zip(bodies) {
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO alerts (fingerprint, starts_at_ms, status, ends_at_ms, \
               received_at_ms, objective, component, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (fingerprint, starts_at_ms) DO NOTHING RETURNING seq",
        )
        .bind(&alert.fingerprint)
        .bind(alert.starts_at.millis())
        .bind(alert.status.as_str())
        .bind(alert.ends_at.map(Timestamp::millis))
        .bind(alert.received_at.millis())
        .bind(&alert.objective)
        .bind(&alert.component)
        .bind(body)
        .fetch_optional(&mut *conn)
        .await?;
        new.push(inserted.is_some());
    }
    // A duplicate with another status (firing -> resolved), or a firing alert re-sent
    // later than a retry would come (`ALERT_RESEND_AFTER_MS`), moves to a fresh seq so that
    // pollers see it again; a plain retry matches no row and changes nothing.
    for ((alert, body), _) in alerts
        .iter()
        .zip(bodies)
        .zip(&new)
        .filter(|(_, fresh)| !**fresh)
    {
        sqlx::query(
            "UPDATE alerts SET seq = nextval(pg_get_serial_sequence('alerts', 'seq')), \
               status = $3, ends_at_ms = $4, received_at_ms = $5, objective = $6, \
               component = $7, body = $8 \
             WHERE fingerprint = $1 AND starts_at_ms = $2 \
               AND (status <> $3 OR (status = 'firing' AND received_at_ms <= $5 - $9))",
        )
        .bind(&alert.fingerprint)
        .bind(alert.starts_at.millis())
        .bind(alert.status.as_str())
        .bind(alert.ends_at.map(Timestamp::millis))
        .bind(alert.received_at.millis())
        .bind(&alert.objective)
        .bind(&alert.component)
        .bind(body)
        .bind(ALERT_RESEND_AFTER_MS)
        .execute(&mut *conn)
        .await?;
    }
    Ok(new)
}
