-- Crossings (one per declaration: its lifecycle at the gate) and the state
-- of each lane at each checkpoint (the vehicle it deals with and its fused
-- readings), shared by every instance and kept across restarts.
CREATE TABLE crossings (
    declaration_id TEXT PRIMARY KEY,
    gate           TEXT NOT NULL,
    plate          TEXT NOT NULL,
    state          TEXT NOT NULL,
    active         INTEGER NOT NULL,
    detail         BLOB NOT NULL,
    updated_at     INTEGER NOT NULL
);
-- One active crossing per vehicle per gate: a second declaration for a
-- plate still crossing is refused, by whichever instance receives it.
CREATE UNIQUE INDEX crossings_active_plate ON crossings (gate, plate) WHERE active = 1;

CREATE TABLE lane_states (
    gate       TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    lane       TEXT NOT NULL,
    vehicle    INTEGER NOT NULL,
    state      BLOB,
    rev        INTEGER NOT NULL,
    updated_at INTEGER,
    PRIMARY KEY (gate, checkpoint, lane)
);
