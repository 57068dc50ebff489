-- Messages an agency sends on its own (HOLD, RELEASE, REVOKE,
-- CROSSING-CONFIRMED), verified and accepted, one row per message id: a
-- resend with the same id and bytes gets the stored answer back, the same
-- id with other bytes is a conflict. The declaration's clearance decision
-- and its lanes are derived from these rows with its messages and ACKs.
-- Rows are never updated; raw is the exact signed bytes received (also in
-- the audit log), answer the JSON the hub gave the agency.
CREATE TABLE IF NOT EXISTS agency_messages (
    id             TEXT PRIMARY KEY,
    agency         TEXT NOT NULL,
    kind           TEXT NOT NULL,
    declaration_id TEXT NOT NULL,
    version        INTEGER NOT NULL,
    checkpoint     TEXT NOT NULL DEFAULT '',
    reason_code    TEXT NOT NULL DEFAULT '',
    reason_text    TEXT NOT NULL DEFAULT '',
    detail         BYTEA,
    raw            BYTEA NOT NULL,
    answer         BYTEA,
    received_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS agency_messages_declaration ON agency_messages (declaration_id, received_at, id);
