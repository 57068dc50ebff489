-- Messages an agency sends on its own (HOLD, RELEASE, REVOKE,
-- CROSSING-CONFIRMED), one row per message id. See
-- deploy/migrations/0012_agency_messages.sql.
CREATE TABLE IF NOT EXISTS agency_messages (
    id             TEXT PRIMARY KEY,
    agency         TEXT NOT NULL,
    kind           TEXT NOT NULL,
    declaration_id TEXT NOT NULL,
    version        INTEGER NOT NULL,
    checkpoint     TEXT NOT NULL DEFAULT '',
    reason_code    TEXT NOT NULL DEFAULT '',
    reason_text    TEXT NOT NULL DEFAULT '',
    detail         BLOB,
    raw            BLOB NOT NULL,
    answer         BLOB,
    received_at    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS agency_messages_declaration ON agency_messages (declaration_id, received_at, id);
