-- Durable lane and decision events (transactional outbox), as in the
-- Postgres migration 0004. Times are microseconds since the epoch.
CREATE TABLE events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    topic         TEXT    NOT NULL,
    type          TEXT    NOT NULL,
    key           TEXT    NOT NULL DEFAULT '',
    data          BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    published_at  INTEGER
);
CREATE INDEX events_unpublished ON events (id) WHERE published_at IS NULL;
CREATE INDEX events_topic_key ON events (topic, key, id);
CREATE INDEX events_published ON events (published_at) WHERE published_at IS NOT NULL;

CREATE TABLE event_relay (
    id           INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    owner        TEXT    NOT NULL DEFAULT '',
    lease_until  INTEGER
);
INSERT INTO event_relay (id) VALUES (1);
