package storetest

import (
	"github.com/gatehub/gatehub/internal/message"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// testAuditPayloadRefs: an audit payload that is the bytes of a message or
// an ACK is kept once, in that row, and read back whole; a reference that
// does not hold (other bytes, no such row, a row written later) leaves the
// payload in the log, so nothing is lost to it. Pruning the log keeps the
// rows and their bytes.
func testAuditPayloadRefs(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustInsertDecls(t, s, decl("D", 1, "T", "", "", at(0)))
	m1, m2 := msg("M1", "D", 1, "customs", message.Acked, at(0)), msg("M2", "D", 1, "quarantine", message.Sent, at(0))
	m1.Body = []byte("<Signed>\x00M1\xff</Signed>")
	mustInsertMsgs(t, s, m1, m2)
	ackRaw := []byte("<Ack>\x00M1</Ack>")
	inTx(t, s, func(tx store.Tx) error {
		return tx.InsertAck(ctx, &store.Ack{MessageID: "M1", Agency: "customs", Status: "ACK", Raw: ackRaw})
	})
	tests := []struct {
		name    string
		e       store.AuditEntry
		storeAs store.PayloadRef
	}{
		{"message bytes", store.AuditEntry{MessageID: "M1", Payload: m1.Body, PayloadOf: store.PayloadMessage}, store.PayloadMessage},
		{"ack bytes", store.AuditEntry{MessageID: "M1", Payload: ackRaw, PayloadOf: store.PayloadAck}, store.PayloadAck},
		{"not the message's bytes", store.AuditEntry{MessageID: "M1", Payload: []byte("<Signed>other</Signed>"), PayloadOf: store.PayloadMessage}, store.PayloadInline},
		{"another message's bytes", store.AuditEntry{MessageID: "M2", Payload: m1.Body, PayloadOf: store.PayloadMessage}, store.PayloadInline},
		{"no such message", store.AuditEntry{MessageID: "M9", Payload: m1.Body, PayloadOf: store.PayloadMessage}, store.PayloadInline},
		{"message without an ack", store.AuditEntry{MessageID: "M2", Payload: ackRaw, PayloadOf: store.PayloadAck}, store.PayloadInline},
		{"inline", store.AuditEntry{MessageID: "M1", Payload: m1.Body}, store.PayloadInline},
	}
	var want []store.AuditEntry
	inTx(t, s, func(tx store.Tx) error {
		for i, tc := range tests {
			tc.e.Time, tc.e.Kind = at(time.Duration(i)*time.Second), "k"
			e, err := appendNext(ctx, tx, tc.e)
			if err != nil {
				return err
			}
			e.Time, e.PayloadOf = store.Truncate(e.Time), tc.storeAs
			want = append(want, e)
		}
		return nil
	})
	check := func(what string, from int) {
		t.Helper()
		inTx(t, s, func(tx store.Tx) error {
			got, err := tx.ListAudit(ctx, store.AuditFilter{})
			if err != nil {
				return err
			}
			if len(got) != len(want)-from {
				t.Fatalf("%s: %d entries, want %d", what, len(got), len(want)-from)
			}
			for i, g := range got {
				w := want[from+i]
				equal(t, what+": "+tests[from+i].name, g, w)
			}
			// A filter on the message reads the referred bytes too.
			byMsg, err := tx.ListAudit(ctx, store.AuditFilter{MessageID: "M1", FromSeq: 1, ToSeq: 2})
			if err != nil {
				return err
			}
			if from == 0 && (len(byMsg) != 2 || string(byMsg[0].Payload) != string(m1.Body) || string(byMsg[1].Payload) != string(ackRaw)) {
				t.Errorf("%s: entries of M1 by filter = %+v", what, byMsg)
			}
			return nil
		})
	}
	check("as appended", 0)
	// A row written after the entry that names it does not make the entry
	// refer to it; the entry keeps its bytes.
	inTx(t, s, func(tx store.Tx) error {
		return tx.InsertAck(ctx, &store.Ack{MessageID: "M2", Agency: "quarantine", Status: "ACK", Raw: ackRaw})
	})
	check("after a later ACK", 0)
	inTx(t, s, func(tx store.Tx) error {
		_, err := tx.PruneAudit(ctx, 2)
		return err
	})
	check("after prune", 2)
	inTx(t, s, func(tx store.Tx) error {
		got, err := tx.GetMessage(ctx, "M1")
		if err != nil {
			return err
		}
		equal(t, "message bytes after prune", got.Body, m1.Body)
		a, err := tx.GetAck(ctx, "M1")
		if err != nil {
			return err
		}
		equal(t, "ack bytes after prune", a.Raw, ackRaw)
		return nil
	})
}
