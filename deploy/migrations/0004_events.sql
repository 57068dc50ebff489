-- Durable lane and decision events (transactional outbox): written in the
-- transaction that changes what they announce, published to the fan-out bus
-- by one relay at a time, marked published, pruned after a retention.
CREATE TABLE events (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic         TEXT        NOT NULL,
    type          TEXT        NOT NULL,
    key           TEXT        NOT NULL DEFAULT '',
    data          BYTEA       NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    published_at  TIMESTAMPTZ
);
-- The relay's queue: only the unpublished rows, so it stays small however
-- long the retention.
CREATE INDEX events_unpublished ON events (id) WHERE published_at IS NULL;
-- A lane's current state: the newest event of each key of its topic.
CREATE INDEX events_topic_key ON events (topic, key, id);
CREATE INDEX events_published ON events (published_at) WHERE published_at IS NOT NULL;

-- One row whose lease names the instance that relays events now: one
-- relay at a time keeps a topic's events in commit order on the bus.
CREATE TABLE event_relay (
    id           INTEGER     NOT NULL PRIMARY KEY CHECK (id = 1),
    owner        TEXT        NOT NULL DEFAULT '',
    lease_until  TIMESTAMPTZ
);
INSERT INTO event_relay (id) VALUES (1);
