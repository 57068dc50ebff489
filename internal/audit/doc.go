// Package audit keeps the hub's tamper-evident log: every message in and out,
// every ACK and every decision is appended as an entry whose hash covers the
// previous entry's hash, the hub periodically signs the chain head
// (checkpoints), and ranges of the log are exported as self-contained
// archives that an auditor verifies offline, with no access to the hub.
//
// # Entry hash (encoding "gatehub-audit-entry/v1")
//
// Hash = SHA-256(PrevHash || canonical(entry)). PrevHash is empty for the
// first entry (Seq 1) and the 32-byte Hash of entry Seq-1 otherwise.
// canonical(entry) is length-prefixed binary, all integers big-endian:
//
//	u32 len | "gatehub-audit-entry/v1"   domain and version tag
//	i64 Seq
//	i64 Time as Unix microseconds (UTC; sub-microsecond digits are not kept)
//	u32 len | Kind
//	u32 len | Actor
//	u32 len | DeclarationID
//	u32 len | MessageID
//	u32 len | Agency
//	u32 len | Plate
//	u64 len | Payload
//
// Every variable field carries its length, so no two different entries
// encode to the same bytes, and the tag keeps a future v2 encoding from
// colliding with v1.
//
// # Checkpoint signature (encoding "gatehub-audit-checkpoint/v1")
//
// The hub signs CheckpointBytes:
//
//	u32 len | "gatehub-audit-checkpoint/v1"
//	i64 Seq
//	u32 len | Hash
//	u32 len | KeyID
//	i64 CreatedAt as Unix microseconds (UTC)
//
// with SHA-256 and RSA PKCS#1 v1.5 or ECDSA (ASN.1 DER signature), chosen by
// the key type.
//
// # Archive format ("gatehub-audit-archive", version 1)
//
// A gzip-compressed tar file holding only regular files:
//
//	manifest.json        Manifest: format, version, entry encoding, from/to
//	                     seq, entry and checkpoint counts, from/to time (the
//	                     earliest and latest entry Time), prev_hash (the hash
//	                     the first entry continues from), head_hash (the last
//	                     entry's hash), created_at, hub_key_id (key id of the
//	                     newest checkpoint). Hashes are lowercase hex.
//	entries.jsonl        one JSON object per line, ascending seq: seq, time
//	                     (RFC 3339, UTC, microseconds), kind, actor,
//	                     declaration_id, message_id, agency, plate, payload
//	                     (standard base64), prev_hash and hash (hex).
//	checkpoints.json     JSON array: seq, hash (hex), signature (base64),
//	                     key_id, created_at.
//	certs/<participant>/<sha256 of DER, hex>.pem
//	                     the certificates needed to check signatures offline:
//	                     "hub" for checkpoints and message.outbound, each
//	                     agency for its ack.inbound.
//
// Unknown members and unknown JSON fields are refused, so a reader never
// silently ignores data an auditor would expect it to check. Archive N+1
// continues archive N when its from_seq is N's to_seq+1 and its prev_hash
// is N's head_hash (VerifyContinuity).
//
// An archive carries its own hub certificate, so it proves consistency, not
// origin: an auditor pins the hub certificate obtained out of band against
// Report.HubCerts.
//
// Entries after the newest checkpoint of an archive are protected by the
// chain only: cutting them off the end is detectable through continuity with
// the next archive, not within the archive itself. Run a checkpoint right
// before exporting.
package audit
