-- Charter knowledge store, schema version 1 (SQLite).
--
-- Every table keeps the full record as JSON text in `body` and copies the
-- fields that queries filter, group or order by into scalar columns.
-- Timestamps are milliseconds since the Unix epoch. History tables are
-- append-only and ordered by `seq`; AUTOINCREMENT keeps `seq` monotonic even
-- after retention deletes the newest rows, so "later" always means larger.
-- There are no foreign keys between tables: records arrive from independent
-- tasks in any order, and a failed constraint must never block the journal
-- write that precedes a side effect.

CREATE TABLE incidents (
    id             INTEGER PRIMARY KEY,
    opened_at_ms   INTEGER NOT NULL,
    state          TEXT    NOT NULL,
    resolved_at_ms INTEGER,
    body           TEXT    NOT NULL
);
CREATE INDEX incidents_by_state ON incidents (state);

CREATE TABLE violations (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER,
    objective   TEXT    NOT NULL,
    component   TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    at_ms       INTEGER NOT NULL,
    body        TEXT    NOT NULL
);
CREATE INDEX violations_by_incident ON violations (incident_id, seq);
CREATE INDEX violations_by_time ON violations (at_ms);

CREATE TABLE diagnoses (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    body        TEXT    NOT NULL
);
CREATE INDEX diagnoses_by_incident ON diagnoses (incident_id, seq);

CREATE TABLE policies (
    id            INTEGER PRIMARY KEY,
    incident_id   INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    approval      TEXT    NOT NULL,
    body          TEXT    NOT NULL
);
CREATE INDEX policies_by_incident ON policies (incident_id, id);
CREATE INDEX policies_by_approval ON policies (approval);

CREATE TABLE executions (
    id             INTEGER PRIMARY KEY,
    policy_id      INTEGER NOT NULL,
    incident_id    INTEGER NOT NULL,
    started_at_ms  INTEGER NOT NULL,
    finished_at_ms INTEGER,
    state          TEXT    NOT NULL,
    body           TEXT    NOT NULL
);
CREATE INDEX executions_unfinished ON executions (finished_at_ms);

-- The write-ahead journal of side effects (safety invariant 3): one row per
-- (execution, step, status), never updated.
CREATE TABLE journal (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id    INTEGER NOT NULL,
    step            INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    epoch           INTEGER NOT NULL,
    at_ms           INTEGER NOT NULL,
    action          TEXT    NOT NULL,
    detail          TEXT    NOT NULL,
    UNIQUE (execution_id, step, status)
);
CREATE INDEX journal_by_status ON journal (status);

CREATE TABLE outcomes (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id        INTEGER NOT NULL,
    policy_id           INTEGER NOT NULL,
    incident_id         INTEGER NOT NULL,
    at_ms               INTEGER NOT NULL,
    class               TEXT    NOT NULL,
    success             INTEGER NOT NULL,
    time_to_effect_secs REAL    NOT NULL,
    action_kind         TEXT    NOT NULL,
    component           TEXT    NOT NULL,
    objective           TEXT    NOT NULL,
    cause               TEXT,
    body                TEXT    NOT NULL
);
CREATE INDEX outcomes_by_context ON outcomes (action_kind, objective, component);

CREATE TABLE audit_log (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    kind  TEXT    NOT NULL,
    body  TEXT    NOT NULL
);

-- Guardrail state (safety invariant 4): every action taken, for cooldowns and
-- rate limits that survive a restart.
CREATE TABLE guardrail_actions (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    component   TEXT    NOT NULL,
    action_kind TEXT    NOT NULL,
    at_ms       INTEGER NOT NULL
);
CREATE INDEX guardrail_actions_by_time ON guardrail_actions (at_ms);
