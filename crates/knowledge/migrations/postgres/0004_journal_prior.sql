-- Charter knowledge store, schema version 4 (PostgreSQL): the prior state in
-- the journal (JSON object, string to string) on `applied` rows, so that
-- startup recovery can build the inverse of a step applied by a process that
-- has since died.

ALTER TABLE journal ADD COLUMN prior TEXT NOT NULL DEFAULT '{}';
