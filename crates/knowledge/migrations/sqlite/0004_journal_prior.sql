-- Charter knowledge store, schema version 4 (SQLite): the prior state in the
-- journal.
--
-- An `applied` row keeps what the actuator reported about the state before it
-- acted (JSON object, string to string), so that startup recovery can build the
-- inverse of a step applied by a process that has since died. Rows written
-- before this version have none.

ALTER TABLE journal ADD COLUMN prior TEXT NOT NULL DEFAULT '{}';
