-- Charter knowledge store, schema version 7 (PostgreSQL): change events posted by
-- deploy tools (`POST /api/v1/changes`: the plain body, Argo CD, Flux).
--
-- One row per event, identified by `dedup_key`: a retried or replayed webhook adds no
-- row. Writers of changes are serialized by an advisory lock, so rows become visible
-- in `seq` order and the loop, which reads "since" the last `seq` it saw, never skips
-- a smaller `seq` committed late.

CREATE TABLE changes (
    seq            BIGSERIAL PRIMARY KEY,
    dedup_key      TEXT   NOT NULL UNIQUE,
    at_ms          BIGINT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    component      TEXT   NOT NULL,
    source         TEXT   NOT NULL,
    body           TEXT   NOT NULL
);
