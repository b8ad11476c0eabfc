-- Charter knowledge store, schema version 3 (SQLite): guardrail state that must
-- survive a restart, as a small key/value of JSON documents — the kill switch
-- (`paused`: who, why, when) and the quarantined components (`quarantined`).
-- A restart must not silently resume automation or release a quarantine.

CREATE TABLE guard_state (
    key  TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
