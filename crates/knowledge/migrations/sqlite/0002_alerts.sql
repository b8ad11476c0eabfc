-- Charter knowledge store, schema version 2 (SQLite): alerts received from
-- Alertmanager webhooks.
--
-- One row per alert episode, identified by (fingerprint, starts_at_ms):
-- Alertmanager retries and HA peers send the same episode again and must not
-- add rows. `seq` orders rows for readers that poll with "since": a status
-- change (firing -> resolved) replaces the row under a fresh `seq`, so the
-- change is seen again. `objective` and `component` are NULL for alerts that
-- do not name a charter objective and one of its components.

CREATE TABLE alerts (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint    TEXT    NOT NULL,
    starts_at_ms   INTEGER NOT NULL,
    status         TEXT    NOT NULL,
    ends_at_ms     INTEGER,
    received_at_ms INTEGER NOT NULL,
    objective      TEXT,
    component      TEXT,
    body           TEXT    NOT NULL,
    UNIQUE (fingerprint, starts_at_ms)
);
