-- Charter knowledge store, schema version 3 (PostgreSQL): guardrail state that
-- must survive a restart, as a small key/value of JSON documents — the kill
-- switch (`paused`) and the quarantined components (`quarantined`).

CREATE TABLE guard_state (
    key  TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
