-- Charter knowledge store, schema version 6 (SQLite): the leader lease of replicas
-- sharing one store. One row, named 'leader'. Times are the database's clock in
-- milliseconds since the Unix epoch, so replicas' clocks never need to agree.
-- `epoch` grows by one at every change of holder (the fencing epoch); `margin_ms` is
-- how long before `expires_at_ms` the holder stops claiming journal steps.

CREATE TABLE leader_lease (
    name           TEXT    NOT NULL PRIMARY KEY,
    holder         TEXT    NOT NULL,
    epoch          INTEGER NOT NULL,
    expires_at_ms  INTEGER NOT NULL,
    margin_ms      INTEGER NOT NULL,
    acquired_at_ms INTEGER NOT NULL
);
