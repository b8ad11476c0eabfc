-- Charter knowledge store, schema version 5 (PostgreSQL): learned statistics
-- imported from another installation (`charter knowledge import`), one row per
-- (context, source); importing the same source again replaces its rows.

CREATE TABLE learned_priors (
    action_kind         TEXT             NOT NULL,
    objective           TEXT             NOT NULL,
    component           TEXT             NOT NULL,
    source              TEXT             NOT NULL,
    alpha               DOUBLE PRECISION NOT NULL,
    beta                DOUBLE PRECISION NOT NULL,
    time_to_effect_secs DOUBLE PRECISION,
    weight              DOUBLE PRECISION NOT NULL,
    imported_at_ms      BIGINT           NOT NULL,
    PRIMARY KEY (action_kind, objective, component, source)
);
