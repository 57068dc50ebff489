package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// EntryEncoding names the canonical entry encoding hashed by EntryHash.
const EntryEncoding = "gatehub-audit-entry/v1"

// HashSize is the length of every entry hash (SHA-256).
const HashSize = sha256.Size

// Problem is one integrity failure, tied to the entry where it was found.
// Seq is 0 for failures of the archive as a whole.
type Problem struct {
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

func (p Problem) Error() string {
	if p.Seq == 0 {
		return p.Reason
	}
	return fmt.Sprintf("entry %d: %s", p.Seq, p.Reason)
}

// truncTime is the one precision every time in the log is kept at: both
// stores keep microseconds, and the hash must be recomputable from a row.
func truncTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// writeCanonical writes canonical(e), as described in the package
// documentation, to w. PrevHash and Hash are not part of it: PrevHash is
// chained in by EntryHash, Hash is the result. It streams the fields
// instead of building the encoding first: the payload of a signed message
// would otherwise be copied once more for every entry, inside the commit.
func writeCanonical(w io.Writer, e *store.AuditEntry) {
	var b [8]byte
	writeString(w, EntryEncoding)
	binary.BigEndian.PutUint64(b[:], uint64(e.Seq))
	w.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(e.Time.UnixMicro()))
	w.Write(b[:])
	for _, s := range [...]string{e.Kind, e.Actor, e.DeclarationID, e.MessageID, e.Agency, e.Plate} {
		writeString(w, s)
	}
	binary.BigEndian.PutUint64(b[:], uint64(len(e.Payload)))
	w.Write(b[:])
	w.Write(e.Payload)
}

func writeString(w io.Writer, s string) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(len(s)))
	w.Write(b[:])
	io.WriteString(w, s)
}

// EntryHash returns SHA-256(prev || canonical(e)). It ignores e.PrevHash and
// e.Hash, so a verifier passes the hash it expects the entry to chain to.
func EntryHash(prev []byte, e *store.AuditEntry) []byte {
	h := sha256.New()
	h.Write(prev)
	writeCanonical(h, e)
	return h.Sum(nil)
}

// Append links e to the chain head and stores it. It must run inside the
// transaction that makes the change e records, so the log and the state
// never disagree; AuditHead's lock serializes concurrent appenders. The
// caller sets Time; Append keeps it in UTC at microsecond precision and
// assigns Seq, PrevHash and Hash.
func Append(ctx context.Context, tx store.Tx, e *store.AuditEntry) error {
	return AppendAll(ctx, tx, []*store.AuditEntry{e})
}

// AppendAll is Append for several entries, in order, reading the head once
// and storing them together: the head lock is held from the read to the
// end of the transaction, so the less happens between the two, the less
// other appenders wait. Nothing is stored if any entry is refused.
func AppendAll(ctx context.Context, tx store.Tx, es []*store.AuditEntry) error {
	if len(es) == 0 {
		return nil
	}
	for _, e := range es {
		if err := checkEntry(e); err != nil {
			return err
		}
	}
	seq, head, err := tx.AuditHead(ctx)
	if err != nil {
		return fmt.Errorf("audit append %s: read head: %w", es[0].Kind, err)
	}
	if err := checkHead(seq, head); err != nil {
		return fmt.Errorf("audit append %s: %w", es[0].Kind, err)
	}
	for _, e := range es {
		seq++
		e.Seq = seq
		e.Time = truncTime(e.Time)
		e.PrevHash = bytes.Clone(head)
		e.Hash = EntryHash(e.PrevHash, e)
		head = e.Hash
	}
	if err := tx.AppendAudit(ctx, es...); err != nil {
		if len(es) == 1 {
			return fmt.Errorf("audit append %s seq %d: %w", es[0].Kind, es[0].Seq, err)
		}
		return fmt.Errorf("audit append %s… seq %d-%d: %w", es[0].Kind, es[0].Seq, seq, err)
	}
	return nil
}

// checkEntry refuses what an auditor could not use.
func checkEntry(e *store.AuditEntry) error {
	if e == nil {
		return errors.New("audit append: nil entry")
	}
	if e.Kind == "" {
		return errors.New("audit append: empty kind")
	}
	if e.Time.IsZero() {
		return fmt.Errorf("audit append %s: zero time", e.Kind)
	}
	if e.Kind == KindMessageOutbound || e.Kind == KindAckInbound || e.Kind == KindAgencyMessage {
		// Without the agency an auditor cannot tell whose signature an ACK
		// must carry, nor where a message went.
		if e.Agency == "" {
			return fmt.Errorf("audit append %s: agency required", e.Kind)
		}
		if len(e.Payload) == 0 {
			return fmt.Errorf("audit append %s: signed XML payload required", e.Kind)
		}
	}
	return nil
}

// checkHead refuses to extend a head that cannot be a valid chain head;
// chaining onto it would make the damage look like a new, valid history.
func checkHead(seq int64, head []byte) error {
	switch {
	case seq < 0:
		return fmt.Errorf("corrupt chain head: seq %d", seq)
	case seq == 0 && len(head) != 0:
		return errors.New("corrupt chain head: empty log with a head hash")
	case seq > 0 && len(head) != HashSize:
		return fmt.Errorf("corrupt chain head: seq %d has a %d-byte hash", seq, len(head))
	}
	return nil
}

// VerifyChain checks that entries are the contiguous run of the log that
// starts at Seq startSeq and continues from the hash startPrev (nil for
// startSeq 1), and returns a *Problem naming the first bad entry, or nil.
// Per entry it checks, in this order, the sequence number (deletion,
// insertion, reordering), the link to the previous hash (an earlier entry
// rewritten with a recomputed hash, or an insertion), and the entry's own
// hash (the entry modified).
func VerifyChain(startPrev []byte, startSeq int64, entries []store.AuditEntry) error {
	if startSeq < 1 {
		return &Problem{Reason: fmt.Sprintf("chain cannot start at seq %d", startSeq)}
	}
	if startSeq == 1 && len(startPrev) != 0 {
		return &Problem{Seq: 1, Reason: "first entry of the log must not continue from a hash"}
	}
	if startSeq > 1 && len(startPrev) != HashSize {
		return &Problem{Seq: startSeq, Reason: fmt.Sprintf("continues from a %d-byte hash, want %d", len(startPrev), HashSize)}
	}
	prev := startPrev
	for i := range entries {
		e := &entries[i]
		want := startSeq + int64(i)
		if e.Seq != want {
			return &Problem{Seq: want, Reason: seqReason(want, e.Seq)}
		}
		if !bytes.Equal(e.PrevHash, prev) {
			return &Problem{Seq: want, Reason: fmt.Sprintf("prev hash %s does not link to %s (an earlier entry rewritten, or an entry inserted or removed)",
				short(e.PrevHash), short(prev))}
		}
		if len(e.Hash) != HashSize {
			return &Problem{Seq: want, Reason: fmt.Sprintf("hash is %d bytes, want %d", len(e.Hash), HashSize)}
		}
		if !bytes.Equal(EntryHash(prev, e), e.Hash) {
			return &Problem{Seq: want, Reason: "hash mismatch (entry modified)"}
		}
		prev = e.Hash
	}
	return nil
}

func seqReason(want, got int64) string {
	switch {
	case got > want:
		return fmt.Sprintf("missing: found seq %d where %d belongs (entry deleted or entries reordered)", got, want)
	default:
		return fmt.Sprintf("found seq %d where %d belongs (entry inserted, duplicated or entries reordered)", got, want)
	}
}

// short renders a hash for messages: enough to tell hashes apart.
func short(h []byte) string {
	if len(h) == 0 {
		return "(none)"
	}
	s := hex.EncodeToString(h)
	if len(s) > 16 {
		s = s[:16] + "…"
	}
	return s
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
