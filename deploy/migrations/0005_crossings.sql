-- Crossings (one per declaration: its lifecycle at the gate) and the state
-- of each lane at each checkpoint (the vehicle it deals with and its fused
-- readings), shared by every instance and kept across restarts.
CREATE TABLE crossings (
    declaration_id TEXT PRIMARY KEY,
    gate           TEXT NOT NULL,
    plate          TEXT NOT NULL,
    state          TEXT NOT NULL,
    active         BOOLEAN NOT NULL,
    detail         BYTEA NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
-- One active crossing per vehicle per gate: a second declaration for a
-- plate still crossing is refused, by whichever instance receives it.
CREATE UNIQUE INDEX crossings_active_plate ON crossings (gate, plate) WHERE active;

CREATE TABLE lane_states (
    gate       TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    lane       TEXT NOT NULL,
    vehicle    BIGINT NOT NULL,
    state      BYTEA,
    rev        BIGINT NOT NULL,
    updated_at TIMESTAMPTZ,
    PRIMARY KEY (gate, checkpoint, lane)
);
