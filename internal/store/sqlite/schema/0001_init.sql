-- Times are INTEGER microseconds since the Unix epoch (UTC); NULL means the
-- zero time.Time. Integers keep range scans and ordering exact, which text
-- timestamps only do when every writer formats them identically.

CREATE TABLE declarations (
    id               TEXT    NOT NULL,
    version          INTEGER NOT NULL,
    trader_tax_code  TEXT    NOT NULL DEFAULT '',
    gate             TEXT    NOT NULL DEFAULT '',
    lane             TEXT    NOT NULL DEFAULT '',
    plate_vn         TEXT    NOT NULL DEFAULT '',
    plate_cn         TEXT    NOT NULL DEFAULT '',
    status           TEXT    NOT NULL DEFAULT '',
    body             BLOB,
    idempotency_key  TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER,
    PRIMARY KEY (id, version)
);
CREATE INDEX declarations_plate_vn ON declarations (plate_vn);
CREATE INDEX declarations_plate_cn ON declarations (plate_cn);
CREATE INDEX declarations_trader ON declarations (trader_tax_code, created_at);
CREATE INDEX declarations_created ON declarations (created_at);

CREATE TABLE idempotency (
    trader          TEXT NOT NULL,
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL DEFAULT '',
    declaration_id  TEXT NOT NULL DEFAULT '',
    created_at      INTEGER,
    PRIMARY KEY (trader, key)
);

CREATE TABLE messages (
    id               TEXT    NOT NULL PRIMARY KEY,
    declaration_id   TEXT    NOT NULL,
    version          INTEGER NOT NULL,
    agency           TEXT    NOT NULL DEFAULT '',
    kind             TEXT    NOT NULL DEFAULT '',
    previous_id      TEXT    NOT NULL DEFAULT '',
    mapping_version  TEXT    NOT NULL DEFAULT '',
    schema_version   TEXT    NOT NULL DEFAULT '',
    content_hash     TEXT    NOT NULL DEFAULT '',
    body             BLOB,
    state            TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER,
    last_error       TEXT    NOT NULL DEFAULT '',
    lease_owner      TEXT    NOT NULL DEFAULT '',
    lease_until      INTEGER,
    sent_at          INTEGER,
    ack_deadline     INTEGER,
    created_at       INTEGER,
    updated_at       INTEGER,
    FOREIGN KEY (declaration_id, version) REFERENCES declarations (id, version)
);
CREATE INDEX messages_due ON messages (state, next_attempt_at);
CREATE INDEX messages_declaration ON messages (declaration_id, created_at);
CREATE INDEX messages_agency ON messages (agency, state);
CREATE INDEX messages_ack_deadline ON messages (state, ack_deadline);

CREATE TABLE acks (
    message_id   TEXT NOT NULL PRIMARY KEY REFERENCES messages (id),
    agency       TEXT NOT NULL DEFAULT '',
    ack_id       TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT '',
    reason_code  TEXT NOT NULL DEFAULT '',
    reason_text  TEXT NOT NULL DEFAULT '',
    raw          BLOB,
    received_at  INTEGER
);

CREATE TABLE decisions (
    declaration_id  TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    detail          BLOB,
    decided_at      INTEGER,
    PRIMARY KEY (declaration_id, version),
    FOREIGN KEY (declaration_id, version) REFERENCES declarations (id, version)
);

-- The audit log has no foreign keys on purpose: it must record events about
-- things that were never stored (a rejected declaration, an unknown ACK).
CREATE TABLE audit_log (
    seq             INTEGER NOT NULL PRIMARY KEY,
    time            INTEGER,
    kind            TEXT NOT NULL DEFAULT '',
    actor           TEXT NOT NULL DEFAULT '',
    declaration_id  TEXT NOT NULL DEFAULT '',
    message_id      TEXT NOT NULL DEFAULT '',
    agency          TEXT NOT NULL DEFAULT '',
    plate           TEXT NOT NULL DEFAULT '',
    payload         BLOB,
    prev_hash       BLOB,
    hash            BLOB
);
CREATE INDEX audit_time ON audit_log (time);
CREATE INDEX audit_declaration ON audit_log (declaration_id);
CREATE INDEX audit_message ON audit_log (message_id);
CREATE INDEX audit_agency ON audit_log (agency);
CREATE INDEX audit_plate ON audit_log (plate);
CREATE INDEX audit_kind ON audit_log (kind);

CREATE TABLE audit_checkpoints (
    seq         INTEGER NOT NULL PRIMARY KEY,
    hash        BLOB,
    signature   BLOB,
    key_id      TEXT NOT NULL DEFAULT '',
    created_at  INTEGER
);
