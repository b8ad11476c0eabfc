-- Charter knowledge store, schema version 1 (PostgreSQL).
--
-- The same tables as migrations/sqlite/0001_initial.sql, version for version,
-- so that a schema version means the same records on either backend. Every
-- table keeps the full record as JSON text in `body` (text, not jsonb: jsonb
-- would reorder keys and rewrite numbers, and a stored float must read back
-- bit for bit) and copies the fields that queries filter, group or order by
-- into scalar columns. Timestamps are milliseconds since the Unix epoch. All
-- integers are bigint so that they read back as i64 like SQLite's INTEGER.
-- History tables are append-only and ordered by `seq`, drawn from a sequence
-- that never goes back, so "later" always means larger. No foreign keys: a
-- failed constraint must never block the journal write that precedes a side
-- effect.

CREATE TABLE incidents (
    id             BIGINT PRIMARY KEY,
    opened_at_ms   BIGINT NOT NULL,
    state          TEXT   NOT NULL,
    resolved_at_ms BIGINT,
    body           TEXT   NOT NULL
);
CREATE INDEX incidents_by_state ON incidents (state);

CREATE TABLE violations (
    seq         BIGSERIAL PRIMARY KEY,
    incident_id BIGINT,
    objective   TEXT   NOT NULL,
    component   TEXT   NOT NULL,
    state       TEXT   NOT NULL,
    at_ms       BIGINT NOT NULL,
    body        TEXT   NOT NULL
);
CREATE INDEX violations_by_incident ON violations (incident_id, seq);
CREATE INDEX violations_by_time ON violations (at_ms);

CREATE TABLE diagnoses (
    seq         BIGSERIAL PRIMARY KEY,
    incident_id BIGINT NOT NULL,
    at_ms       BIGINT NOT NULL,
    body        TEXT   NOT NULL
);
CREATE INDEX diagnoses_by_incident ON diagnoses (incident_id, seq);

CREATE TABLE policies (
    id            BIGINT PRIMARY KEY,
    incident_id   BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    approval      TEXT   NOT NULL,
    body          TEXT   NOT NULL
);
CREATE INDEX policies_by_incident ON policies (incident_id, id);
CREATE INDEX policies_by_approval ON policies (approval);

CREATE TABLE executions (
    id             BIGINT PRIMARY KEY,
    policy_id      BIGINT NOT NULL,
    incident_id    BIGINT NOT NULL,
    started_at_ms  BIGINT NOT NULL,
    finished_at_ms BIGINT,
    state          TEXT   NOT NULL,
    body           TEXT   NOT NULL
);
CREATE INDEX executions_unfinished ON executions (finished_at_ms);

-- The write-ahead journal of side effects (safety invariant 3): one row per
-- (execution, step, status), never updated.
CREATE TABLE journal (
    seq             BIGSERIAL PRIMARY KEY,
    execution_id    BIGINT NOT NULL,
    step            BIGINT NOT NULL,
    status          TEXT   NOT NULL,
    idempotency_key TEXT   NOT NULL,
    epoch           BIGINT NOT NULL,
    at_ms           BIGINT NOT NULL,
    action          TEXT   NOT NULL,
    detail          TEXT   NOT NULL,
    UNIQUE (execution_id, step, status)
);
CREATE INDEX journal_by_status ON journal (status);

CREATE TABLE outcomes (
    seq                 BIGSERIAL PRIMARY KEY,
    execution_id        BIGINT           NOT NULL,
    policy_id           BIGINT           NOT NULL,
    incident_id         BIGINT           NOT NULL,
    at_ms               BIGINT           NOT NULL,
    class               TEXT             NOT NULL,
    success             BIGINT           NOT NULL,
    time_to_effect_secs DOUBLE PRECISION NOT NULL,
    action_kind         TEXT             NOT NULL,
    component           TEXT             NOT NULL,
    objective           TEXT             NOT NULL,
    cause               TEXT,
    body                TEXT             NOT NULL
);
CREATE INDEX outcomes_by_context ON outcomes (action_kind, objective, component);

CREATE TABLE audit_log (
    seq   BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    kind  TEXT   NOT NULL,
    body  TEXT   NOT NULL
);

-- Guardrail state (safety invariant 4): every action taken, for cooldowns and
-- rate limits that survive a restart.
CREATE TABLE guardrail_actions (
    seq         BIGSERIAL PRIMARY KEY,
    component   TEXT   NOT NULL,
    action_kind TEXT   NOT NULL,
    at_ms       BIGINT NOT NULL
);
CREATE INDEX guardrail_actions_by_time ON guardrail_actions (at_ms);
