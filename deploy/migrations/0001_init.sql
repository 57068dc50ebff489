-- Initial gatehub schema. Tables are created unqualified, in the first
-- schema of search_path, so a DSN can point one hub (or one test) at its
-- own schema.

CREATE TABLE declarations (
    id               TEXT        NOT NULL,
    version          INTEGER     NOT NULL,
    trader_tax_code  TEXT        NOT NULL DEFAULT '',
    gate             TEXT        NOT NULL DEFAULT '',
    lane             TEXT        NOT NULL DEFAULT '',
    plate_vn         TEXT        NOT NULL DEFAULT '',
    plate_cn         TEXT        NOT NULL DEFAULT '',
    status           TEXT        NOT NULL DEFAULT '',
    body             BYTEA,
    idempotency_key  TEXT        NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ,
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
    created_at      TIMESTAMPTZ,
    PRIMARY KEY (trader, key)
);

CREATE TABLE messages (
    id               TEXT        NOT NULL PRIMARY KEY,
    declaration_id   TEXT        NOT NULL,
    version          INTEGER     NOT NULL,
    agency           TEXT        NOT NULL DEFAULT '',
    kind             TEXT        NOT NULL DEFAULT '',
    previous_id      TEXT        NOT NULL DEFAULT '',
    mapping_version  TEXT        NOT NULL DEFAULT '',
    schema_version   TEXT        NOT NULL DEFAULT '',
    content_hash     TEXT        NOT NULL DEFAULT '',
    body             BYTEA,
    state            TEXT        NOT NULL,
    attempts         INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ,
    last_error       TEXT        NOT NULL DEFAULT '',
    lease_owner      TEXT        NOT NULL DEFAULT '',
    lease_until      TIMESTAMPTZ,
    sent_at          TIMESTAMPTZ,
    ack_deadline     TIMESTAMPTZ,
    created_at       TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ,
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
    raw          BYTEA,
    received_at  TIMESTAMPTZ
);

CREATE TABLE decisions (
    declaration_id  TEXT        NOT NULL,
    version         INTEGER     NOT NULL,
    status          TEXT        NOT NULL,
    detail          BYTEA,
    decided_at      TIMESTAMPTZ,
    PRIMARY KEY (declaration_id, version),
    FOREIGN KEY (declaration_id, version) REFERENCES declarations (id, version)
);

-- No foreign keys on purpose: the log records events about things that
-- were never stored (a rejected declaration, an unknown ACK).
CREATE TABLE audit_log (
    seq             BIGINT      NOT NULL PRIMARY KEY,
    time            TIMESTAMPTZ,
    kind            TEXT NOT NULL DEFAULT '',
    actor           TEXT NOT NULL DEFAULT '',
    declaration_id  TEXT NOT NULL DEFAULT '',
    message_id      TEXT NOT NULL DEFAULT '',
    agency          TEXT NOT NULL DEFAULT '',
    plate           TEXT NOT NULL DEFAULT '',
    payload         BYTEA,
    prev_hash       BYTEA,
    hash            BYTEA
);
CREATE INDEX audit_time ON audit_log (time);
CREATE INDEX audit_declaration ON audit_log (declaration_id);
CREATE INDEX audit_message ON audit_log (message_id);
CREATE INDEX audit_agency ON audit_log (agency);
CREATE INDEX audit_plate ON audit_log (plate);
CREATE INDEX audit_kind ON audit_log (kind);

-- One row whose lock is the audit chain head: appenders in any process
-- take it FOR UPDATE before reading the head, so they serialize. A row lock
-- (rather than an advisory lock) is scoped to this schema.
CREATE TABLE audit_head_lock (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1)
);
INSERT INTO audit_head_lock (id) VALUES (1);

CREATE TABLE audit_checkpoints (
    seq         BIGINT NOT NULL PRIMARY KEY,
    hash        BYTEA,
    signature   BYTEA,
    key_id      TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ
);
