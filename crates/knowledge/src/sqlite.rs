//! [`SqliteStore`]: the default backend, one SQLite file in WAL mode with `synchronous=FULL`.
//!
//! [`alerts`] holds the group-committing writer of webhook alerts.

mod alerts;

use crate::error::StoreError;
use crate::lease::{self, LeaseGrant, LeaseRecord};
use crate::records::LearnedPrior;
use crate::records::{
    AuditEntry, ExecutionRecord, JournalRecord, JournalStatus, NextIds, OutcomeRecord, SuccessRate,
};
use crate::store::Store;
use async_trait::async_trait;
use charter_model::{
    ActionKind, Alert, ApprovalState, Diagnosis, Incident, IncidentState, Policy, Timestamp,
    Violation, ViolationState,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// WAL lets readers run beside the one writer; a few connections are enough for the
/// loop, the executor and the API.
const MAX_CONNECTIONS: u32 = 4;

/// One versioned step of the schema. Versions only ever grow; a released migration is
/// never edited, a change is a new one.
struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "initial schema",
        sql: include_str!("../migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        description: "alerts from alertmanager webhooks",
        sql: include_str!("../migrations/sqlite/0002_alerts.sql"),
    },
    Migration {
        version: 3,
        description: "guardrail state (kill switch, quarantine)",
        sql: include_str!("../migrations/sqlite/0003_guard_state.sql"),
    },
    Migration {
        version: 4,
        description: "prior state in the journal",
        sql: include_str!("../migrations/sqlite/0004_journal_prior.sql"),
    },
    Migration {
        version: 5,
        description: "learned priors imported from another installation",
        sql: include_str!("../migrations/sqlite/0005_learned_priors.sql"),
    },
    Migration {
        version: 6,
        description: "leader lease",
        sql: include_str!("../migrations/sqlite/0006_leader_lease.sql"),
    },
];

/// Now, in milliseconds since the Unix epoch, by the database's clock (the lease's
/// only clock).
const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// The SQLite knowledge store.
///
/// Every write is a single autocommitted statement (or one transaction), and with
/// `synchronous=FULL` SQLite syncs the WAL before the commit returns, so a record is on
/// disk when the method returns `Ok`.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: Option<PathBuf>,
    /// Alert batches waiting for the one task that writes them (see [`alerts`]).
    alert_queue: Arc<alerts::AlertQueue>,
}

impl SqliteStore {
    /// Open (creating if missing) the database at `path` and bring its schema up to
    /// [`SCHEMA_VERSION`].
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        // SQLite's own error for this is "unable to open database file", which does not
        // say that the directory is what is missing.
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
            && !dir.is_dir()
        {
            return Err(StoreError::MissingDirectory {
                path: path.to_path_buf(),
                dir: dir.to_path_buf(),
            });
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let store = SqliteStore {
            pool,
            path: Some(path.to_path_buf()),
            alert_queue: Arc::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// A store that lives in memory and vanishes when dropped: for tests, demos and
    /// simulations that need no history.
    pub async fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true);
        // An in-memory database lives and dies with its connection, so the pool keeps
        // exactly one and never retires it.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: PathBuf::from(":memory:"),
                source,
            })?;
        let store = SqliteStore {
            pool,
            path: None,
            alert_queue: Arc::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The schema version recorded in the database (0 before any migration).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            .fetch_one(&self.pool)
            .await
            .map_err(query_err("read the schema version"))
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_version (\
                 version INTEGER PRIMARY KEY, \
                 description TEXT NOT NULL)",
        )
        .execute(&self.pool)
        .await
        .map_err(|source| StoreError::Migrate {
            version: 0,
            description: "schema version table",
            source,
        })?;
        let found = self.schema_version().await?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                known: SCHEMA_VERSION,
            });
        }
        for migration in MIGRATIONS.iter().filter(|m| m.version > found) {
            self.apply(migration).await?;
        }
        Ok(())
    }

    async fn apply(&self, migration: &Migration) -> Result<(), StoreError> {
        let err = |source| StoreError::Migrate {
            version: migration.version,
            description: migration.description,
            source,
        };
        // IMMEDIATE takes the write lock up front: two processes opening a fresh file at
        // once queue here, and the second sees the version the first wrote.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        let current: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                .fetch_one(&mut *tx)
                .await
                .map_err(err)?;
        if current >= migration.version {
            return Ok(());
        }
        sqlx::raw_sql(migration.sql)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query("INSERT INTO schema_version (version, description) VALUES ($1, $2)")
            .bind(migration.version)
            .bind(migration.description)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)
    }

    /// Select the `body` column of many rows (`sql` binds at most one integer) and
    /// decode each as a `record`; `read` names the query for errors.
    async fn bodies<T: DeserializeOwned>(
        &self,
        read: &'static str,
        record: &'static str,
        sql: &'static str,
        bind: Option<i64>,
    ) -> Result<Vec<T>, StoreError> {
        let mut query = sqlx::query_scalar::<_, String>(sql);
        if let Some(value) = bind {
            query = query.bind(value);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(query_err(read))?;
        rows.iter().map(|body| from_json(record, body)).collect()
    }
}

#[async_trait]
impl Store for SqliteStore {
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
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO violations (incident_id, objective, component, state, at_ms, body) ",
            );
            insert.push_values(chunk, |mut row, r| {
                row.push_bind(r.incident_id)
                    .push_bind(r.objective)
                    .push_bind(r.component)
                    .push_bind(r.state.as_str())
                    .push_bind(r.at_ms)
                    .push_bind(r.body.as_str());
            });
            insert.build().execute(&mut *tx).await.map_err(err)?;
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
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
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
            lease::fenced_journal_sql(NOW_MS)
        } else {
            "INSERT INTO journal \
               (execution_id, step, status, idempotency_key, epoch, at_ms, action, detail, \
                prior) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (execution_id, step, status) DO NOTHING"
                .to_string()
        };
        let inserted = sqlx::query(&sql)
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
            .map_err(query_err("write journal step"))?
            .rows_affected();
        if inserted > 0 {
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
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
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
        let rows: Vec<(String, String, String, i64, i64, Option<f64>)> = sqlx::query_as(
            "SELECT action_kind, objective, component, SUM(success), COUNT(*), \
                    AVG(CASE WHEN success = 1 THEN time_to_effect_secs END) \
             FROM outcomes GROUP BY action_kind, objective, component",
        )
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
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT action_kind, SUM(success), COUNT(*) FROM outcomes GROUP BY action_kind",
        )
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
            removed += sqlx::query(sql)
                .bind(before.millis())
                .execute(&mut *tx)
                .await
                .map_err(err)?
                .rows_affected();
        }
        tx.commit().await.map_err(err)?;
        Ok(removed)
    }

    async fn save_alerts(&self, alerts: &[Alert]) -> Result<Vec<bool>, StoreError> {
        alerts::save(&self.pool, &self.alert_queue, alerts).await
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
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await
                .map_err(query_err("read recent alerts"))?;
        rows.into_iter().map(alert_row).collect()
    }

    async fn save_priors(&self, priors: &[LearnedPrior]) -> Result<(), StoreError> {
        let err = query_err("save learned priors");
        let mut tx = self.pool.begin().await.map_err(err)?;
        for p in priors {
            sqlx::query(
                "INSERT OR REPLACE INTO learned_priors \
                   (action_kind, objective, component, source, alpha, beta, \
                    time_to_effect_secs, weight, imported_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
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
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT action_kind, objective, component, source, alpha, beta, \
                    time_to_effect_secs, weight, imported_at_ms \
             FROM learned_priors ORDER BY action_kind, objective, component, source",
        )
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
        let got: Option<(i64, i64)> = sqlx::query_as(&lease::acquire_sql(NOW_MS))
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
        let renewed = sqlx::query(&lease::renew_sql(NOW_MS))
            .bind(holder)
            .bind(db_id("lease epoch", epoch)?)
            .bind(lease::ms(ttl))
            .bind(lease::ms(margin))
            .execute(&self.pool)
            .await
            .map_err(query_err("renew the leader lease"))?
            .rows_affected();
        Ok(renewed > 0)
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
        let row: Option<(String, i64, i64)> = sqlx::query_as(&lease::read_sql(NOW_MS))
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
        // Fold the WAL into the main file so the database is a single file at rest. A
        // failed checkpoint loses nothing: the WAL is replayed on the next open.
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await;
        self.pool.close().await;
    }
}

/// `execution_id, step, status, idempotency_key, epoch, at_ms, action, detail, prior`.
pub(crate) type JournalRow = (i64, i64, String, String, i64, i64, String, String, String);

pub(crate) fn journal_record(row: JournalRow) -> Result<JournalRecord, StoreError> {
    let (execution_id, step, status, idempotency_key, epoch, at, action, detail, prior) = row;
    Ok(JournalRecord {
        execution_id: model_id("journal execution id", execution_id)?,
        step: u32::try_from(step).map_err(|e| decode_err("journal step", e))?,
        idempotency_key,
        epoch: model_id("journal fencing epoch", epoch)?,
        action: from_json("journal action", &action)?,
        status: status
            .parse::<JournalStatus>()
            .map_err(|e| decode_err("journal status", e))?,
        detail,
        prior: from_json("journal prior", &prior)?,
        at: Timestamp(at),
    })
}

/// An alert read back, with the `seq` of its row (the body holds the `seq` it was
/// given, not the one the store assigned).
pub(crate) fn alert_row((seq, body): (i64, String)) -> Result<Alert, StoreError> {
    let mut alert: Alert = from_json("alert", &body)?;
    alert.seq = model_id("alert sequence number", seq)?;
    Ok(alert)
}

/// When a violation last changed state: the time its row is filed under.
/// Rows per multi-row violation insert (6 parameters each; SQLite allows 32,766).
pub(crate) const VIOLATION_ROWS_PER_INSERT: usize = 500;

/// One violation transition as the `violations` table stores it.
pub(crate) struct ViolationRow<'a> {
    pub incident_id: Option<i64>,
    pub objective: &'a str,
    pub component: &'a str,
    pub state: String,
    pub at_ms: i64,
    pub body: String,
}

/// The rows of `records`, or the first value that cannot be stored.
pub(crate) fn violation_rows(
    records: &[(Option<u64>, Violation)],
) -> Result<Vec<ViolationRow<'_>>, StoreError> {
    records
        .iter()
        .map(|(incident_id, v)| {
            Ok(ViolationRow {
                incident_id: incident_id.map(|id| db_id("incident id", id)).transpose()?,
                objective: &v.objective,
                component: &v.component,
                state: enum_text("violation state", v.state)?,
                at_ms: transition_time(v).millis(),
                body: to_json("violation", v)?,
            })
        })
        .collect()
}

pub(crate) fn transition_time(violation: &Violation) -> Timestamp {
    match violation.state {
        ViolationState::Resolved => violation.resolved_at,
        ViolationState::Firing => violation.firing_since,
        ViolationState::Pending | ViolationState::Unknown => None,
    }
    .unwrap_or(violation.since)
}

/// The `approval` column: the variant's name without its fields.
pub(crate) fn approval_tag(approval: &ApprovalState) -> &'static str {
    match approval {
        ApprovalState::AutoApproved => "auto_approved",
        ApprovalState::Pending => "pending",
        ApprovalState::Approved { .. } => "approved",
        ApprovalState::Rejected { .. } => "rejected",
        ApprovalState::Expired => "expired",
        ApprovalState::NotExecuted => "not_executed",
    }
}

pub(crate) fn action_kind(text: &str) -> Result<ActionKind, StoreError> {
    text.parse().map_err(|e| decode_err("action kind", e))
}

pub(crate) fn count(what: &'static str, value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|e| decode_err(what, e))
}

pub(crate) fn db_id(what: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange { what, value })
}

pub(crate) fn model_id(what: &'static str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|e| decode_err(what, e))
}

/// The serde name of a unit enum variant, as stored in scalar columns.
pub(crate) fn enum_text<T: Serialize>(what: &'static str, value: T) -> Result<String, StoreError> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => Ok(text),
        Ok(other) => Err(StoreError::Encode {
            what,
            source: serde::ser::Error::custom(format!("expected a unit variant, got {other}")),
        }),
        Err(source) => Err(StoreError::Encode { what, source }),
    }
}

pub(crate) fn to_json<T: Serialize + ?Sized>(
    what: &'static str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::Encode { what, source })
}

pub(crate) fn from_json<T: DeserializeOwned>(
    what: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| decode_err(what, e))
}

pub(crate) fn decode_err(
    what: &'static str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    StoreError::Decode {
        what,
        source: Box::new(source),
    }
}

pub(crate) fn query_err(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError + Copy {
    move |source| StoreError::Query { what, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_sets_the_durability_pragmas() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = SqliteStore::open(&dir.path().join("k.db")).await?;
        let mut conn = store.pool.acquire().await?;
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await?;
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await?;
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await?;
        let busy_timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await?;
        assert_eq!(mode, "wal");
        assert_eq!(synchronous, 2, "synchronous=FULL");
        assert_eq!(foreign_keys, 1);
        assert_eq!(busy_timeout, BUSY_TIMEOUT.as_millis() as i64);
        Ok(())
    }

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.description);
        }
    }

    #[test]
    fn violations_are_filed_under_their_latest_transition() {
        let mut v = Violation {
            objective: "latency".into(),
            component: "api".into(),
            signal: charter_model::Signal::Latency,
            state: ViolationState::Pending,
            severity: None,
            since: Timestamp(1),
            firing_since: None,
            resolved_at: None,
            value: None,
            worst: None,
            flaps: 0,
            alerted: false,
        };
        assert_eq!(transition_time(&v), Timestamp(1));
        v.state = ViolationState::Firing;
        v.firing_since = Some(Timestamp(2));
        assert_eq!(transition_time(&v), Timestamp(2));
        v.state = ViolationState::Resolved;
        v.resolved_at = Some(Timestamp(3));
        assert_eq!(transition_time(&v), Timestamp(3));
    }
}
