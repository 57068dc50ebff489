-- The API request that created a message (X-Request-Id) and its W3C trace
-- id, so that every delivery attempt, on whichever instance and however
-- late, logs them and passes them on to the agency. Empty for messages the
-- hub created on its own and for messages stored before this migration.
ALTER TABLE messages ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN trace_id   TEXT NOT NULL DEFAULT '';
