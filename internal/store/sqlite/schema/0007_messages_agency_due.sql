-- Delivery claims per agency (one lane each, so that one agency's outage
-- never delays another's messages). An agency that is down keeps a backlog
-- of due, unclaimed messages; without the agency leading the index, every
-- other agency's claim would walk that backlog.
CREATE INDEX IF NOT EXISTS messages_agency_due ON messages (agency, state, next_attempt_at);
