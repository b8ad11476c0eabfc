-- Charter knowledge store, schema version 2 (PostgreSQL): alerts received from
-- Alertmanager webhooks.
--
-- One row per alert episode, identified by (fingerprint, starts_at_ms). A
-- status change (firing -> resolved) moves the row to a fresh `seq` (drawn
-- from alerts_seq_seq), so pollers that read "since" see the change again.
-- Writers of alerts are serialized by an advisory lock, so rows become visible
-- in `seq` order and a poller never skips a smaller `seq` committed late.

CREATE TABLE alerts (
    seq            BIGSERIAL PRIMARY KEY,
    fingerprint    TEXT   NOT NULL,
    starts_at_ms   BIGINT NOT NULL,
    status         TEXT   NOT NULL,
    ends_at_ms     BIGINT,
    received_at_ms BIGINT NOT NULL,
    objective      TEXT,
    component      TEXT,
    body           TEXT   NOT NULL,
    UNIQUE (fingerprint, starts_at_ms)
);
