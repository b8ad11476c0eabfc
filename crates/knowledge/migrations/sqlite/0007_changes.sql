-- Charter knowledge store, schema version 7 (SQLite): change events posted by deploy
-- tools (`POST /api/v1/changes`: the plain body, Argo CD, Flux).
--
-- One row per event, identified by `dedup_key` (the sender's id, or one derived from
-- the application, revision and reason): a retried or replayed webhook adds no row.
-- `seq` orders rows for the loop, which reads what is new since the last `seq` it saw.

CREATE TABLE changes (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key      TEXT    NOT NULL UNIQUE,
    at_ms          INTEGER NOT NULL,
    received_at_ms INTEGER NOT NULL,
    component      TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    body           TEXT    NOT NULL
);
