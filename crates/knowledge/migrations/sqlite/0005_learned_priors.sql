-- Charter knowledge store, schema version 5 (SQLite): learned statistics
-- imported from another installation (`charter knowledge import`).
--
-- One row per (context, source): the exported decayed Beta evidence (alpha,
-- beta), its time to effect and the weight (at most 1) the learning view
-- multiplies it by before adding it as pseudo-outcomes. Importing the same
-- source again replaces its rows.

CREATE TABLE learned_priors (
    action_kind         TEXT    NOT NULL,
    objective           TEXT    NOT NULL,
    component           TEXT    NOT NULL,
    source              TEXT    NOT NULL,
    alpha               REAL    NOT NULL,
    beta                REAL    NOT NULL,
    time_to_effect_secs REAL,
    weight              REAL    NOT NULL,
    imported_at_ms      INTEGER NOT NULL,
    PRIMARY KEY (action_kind, objective, component, source)
);
