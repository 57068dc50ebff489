-- Each signed message and ACK was stored twice: in messages.body / acks.raw,
-- which the outbox and the views read, and again as the payload of its
-- message.outbound / ack.inbound audit entry. The audit log stays the
-- canonical record (its hash covers the bytes and export inlines them),
-- but an entry whose payload is those bytes now refers to the row instead
-- of holding a copy: payload NULL, payload_ref naming the row ('message':
-- messages.body of message_id; 'ack': acks.raw of message_id). Entries are
-- referred only where the bytes are equal, so nothing is lost.
ALTER TABLE audit_log ADD COLUMN payload_ref TEXT NOT NULL DEFAULT '';

UPDATE audit_log SET payload = NULL, payload_ref = 'message'
WHERE kind = 'message.outbound' AND payload_ref = ''
  AND payload = (SELECT body FROM messages WHERE messages.id = audit_log.message_id);

UPDATE audit_log SET payload = NULL, payload_ref = 'ack'
WHERE kind = 'ack.inbound' AND payload_ref = ''
  AND payload = (SELECT raw FROM acks WHERE acks.message_id = audit_log.message_id);
-- The freed pages are reused by later rows; VACUUM (offline) returns them
-- to the file system.
