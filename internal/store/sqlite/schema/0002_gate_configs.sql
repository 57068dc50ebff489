-- Gate files applied at run time (gatehubctl gates apply): they override the
-- shipped file of the same gate on every instance and survive restarts.
CREATE TABLE gate_configs (
    code       TEXT PRIMARY KEY,
    yaml       BLOB NOT NULL,
    version    INTEGER NOT NULL,
    applied_by TEXT NOT NULL,
    applied_at INTEGER NOT NULL
);
