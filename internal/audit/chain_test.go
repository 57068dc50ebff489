package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

var t0 = time.Date(2026, 11, 25, 8, 30, 0, 123456789, time.UTC)

func sampleEntry() store.AuditEntry {
	return store.AuditEntry{
		Seq:           7,
		Time:          truncTime(t0),
		Kind:          KindMessageOutbound,
		Actor:         "hub",
		DeclarationID: "D-1",
		MessageID:     "M-1",
		Agency:        "customs",
		Plate:         "15C-12345",
		Payload:       []byte("<Msg/>"),
	}
}

// TestEntryHashGolden pins encoding v1: if this hash changes, every archive
// already handed to auditors stops verifying. The expected value was computed
// independently from the documented layout (Python struct + hashlib).
func TestEntryHashGolden(t *testing.T) {
	e := sampleEntry()
	prev := bytes.Repeat([]byte{0xab}, HashSize)
	got := hex.EncodeToString(EntryHash(prev, &e))
	const want = "f48aeb00931865d8470d4ecdd4dae413a07d344a9e267a0ad5451c19616d2307"
	if got != want {
		t.Fatalf("EntryHash = %s, want %s", got, want)
	}
}

func TestEntryHashCoversEveryField(t *testing.T) {
	base := sampleEntry()
	prev := bytes.Repeat([]byte{1}, HashSize)
	baseHash := EntryHash(prev, &base)
	tests := []struct {
		name   string
		mutate func(e *store.AuditEntry)
	}{
		{"seq", func(e *store.AuditEntry) { e.Seq++ }},
		{"time", func(e *store.AuditEntry) { e.Time = e.Time.Add(time.Microsecond) }},
		{"kind", func(e *store.AuditEntry) { e.Kind = KindAckInbound }},
		{"actor", func(e *store.AuditEntry) { e.Actor = "operator:x" }},
		{"declaration", func(e *store.AuditEntry) { e.DeclarationID = "D-2" }},
		{"message", func(e *store.AuditEntry) { e.MessageID = "M-2" }},
		{"agency", func(e *store.AuditEntry) { e.Agency = "guangxi" }},
		{"plate", func(e *store.AuditEntry) { e.Plate = "桂A12345" }},
		{"payload", func(e *store.AuditEntry) { e.Payload = []byte("<Msg />") }},
		// Moving bytes across a field boundary must change the hash.
		{"shift kind/actor", func(e *store.AuditEntry) { e.Kind, e.Actor = e.Kind+"h", "ub" }},
		{"shift plate/payload", func(e *store.AuditEntry) { e.Plate, e.Payload = e.Plate+"<", []byte("Msg/>") }},
		{"shift declaration/message", func(e *store.AuditEntry) { e.DeclarationID, e.MessageID = "", "D-1M-1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sampleEntry()
			tt.mutate(&e)
			if bytes.Equal(EntryHash(prev, &e), baseHash) {
				t.Fatal("hash unchanged")
			}
		})
	}
	t.Run("prev", func(t *testing.T) {
		if bytes.Equal(EntryHash(bytes.Repeat([]byte{2}, HashSize), &base), baseHash) {
			t.Fatal("hash unchanged")
		}
	})
	t.Run("same instant in another zone", func(t *testing.T) {
		e := sampleEntry()
		e.Time = e.Time.In(time.FixedZone("ICT", 7*3600))
		if !bytes.Equal(EntryHash(prev, &e), baseHash) {
			t.Fatal("zone changed the hash")
		}
	})
	t.Run("stored hashes are ignored", func(t *testing.T) {
		e := sampleEntry()
		e.PrevHash, e.Hash = []byte("x"), []byte("y")
		if !bytes.Equal(EntryHash(prev, &e), baseHash) {
			t.Fatal("PrevHash/Hash fields changed the hash")
		}
	})
}

// appendN appends n entries of rotating kinds, one second apart.
func appendN(t testing.TB, st *memStore, n int, start time.Time) {
	t.Helper()
	kinds := []store.AuditEntry{
		{Kind: KindDeclarationAccepted, Actor: "trader:0101234567", Payload: []byte(`{"version":1}`)},
		{Kind: KindMessageOutbound, Actor: "hub", Agency: "customs", Payload: []byte(`<Submit signer="hub"/>`)},
		{Kind: KindAckInbound, Actor: "customs", Agency: "customs", Payload: []byte(`<Ack signer="customs"/>`)},
		{Kind: KindDecision, Actor: "hub", Payload: []byte(`{"status":"CLEARED"}`)},
	}
	ctx := context.Background()
	for i := 0; i < n; i++ {
		e := kinds[i%len(kinds)]
		e.Time = start.Add(time.Duration(i) * time.Second)
		e.DeclarationID = fmt.Sprintf("D-%d", i/len(kinds))
		e.MessageID = fmt.Sprintf("M-%d", i)
		e.Plate = "15C-12345"
		if err := st.WithTx(ctx, func(tx store.Tx) error { return Append(ctx, tx, &e) }); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

func TestAppend(t *testing.T) {
	ctx := context.Background()
	st := &memStore{}
	appendN(t, st, 10, t0)
	for i, e := range st.entries {
		if e.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
		if e.Time.Location() != time.UTC || e.Time.Nanosecond()%1000 != 0 {
			t.Fatalf("entry %d time %v not UTC microseconds", e.Seq, e.Time)
		}
	}
	if st.entries[0].PrevHash != nil {
		t.Fatalf("first entry PrevHash = %x, want none", st.entries[0].PrevHash)
	}
	if err := VerifyChain(nil, 1, st.entries); err != nil {
		t.Fatalf("VerifyChain: %v", err)
	}
	// A rolled-back transaction leaves the head where it was.
	boom := errors.New("boom")
	err := st.WithTx(ctx, func(tx store.Tx) error {
		if err := Append(ctx, tx, &store.AuditEntry{Kind: KindDecision, Time: t0}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || len(st.entries) != 10 {
		t.Fatalf("rollback: err %v, %d entries", err, len(st.entries))
	}
	appendN(t, st, 1, t0)
	if err := VerifyChain(nil, 1, st.entries); err != nil {
		t.Fatalf("VerifyChain after rollback: %v", err)
	}
}

// TestAppendAllChainsAsAppend: entries appended together get the seqs,
// links and hashes they would get appended one by one, and a run with one
// refused entry stores nothing.
func TestAppendAllChainsAsAppend(t *testing.T) {
	ctx := context.Background()
	entries := func() []*store.AuditEntry {
		var out []*store.AuditEntry
		for i := range 5 {
			out = append(out, &store.AuditEntry{Kind: KindDecision, Time: t0.Add(time.Duration(i) * time.Millisecond),
				DeclarationID: "D1", Payload: []byte{byte(i)}})
		}
		return out
	}
	for _, before := range []int{0, 3} {
		t.Run(fmt.Sprintf("after %d entries", before), func(t *testing.T) {
			one, all := &memStore{}, &memStore{}
			appendN(t, one, before, t0)
			appendN(t, all, before, t0)
			for _, e := range entries() {
				if err := one.WithTx(ctx, func(tx store.Tx) error { return Append(ctx, tx, e) }); err != nil {
					t.Fatal(err)
				}
			}
			if err := all.WithTx(ctx, func(tx store.Tx) error { return AppendAll(ctx, tx, entries()) }); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(all.entries, one.entries) {
				t.Fatalf("appended together:\n%+v\none by one:\n%+v", all.entries, one.entries)
			}
			bad := entries()
			bad[3].Kind = ""
			err := all.WithTx(ctx, func(tx store.Tx) error { return AppendAll(ctx, tx, bad) })
			if err == nil || len(all.entries) != before+5 {
				t.Fatalf("a run with an entry without kind: err %v, %d entries; want a refusal and %d", err, len(all.entries), before+5)
			}
		})
	}
}

func TestAppendRefuses(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		e    *store.AuditEntry
		want string
	}{
		{"nil", nil, "nil entry"},
		{"no kind", &store.AuditEntry{Time: t0}, "empty kind"},
		{"no time", &store.AuditEntry{Kind: KindDecision}, "zero time"},
		{"outbound without agency", &store.AuditEntry{Kind: KindMessageOutbound, Time: t0, Payload: []byte("<a/>")}, "agency required"},
		{"ack without payload", &store.AuditEntry{Kind: KindAckInbound, Time: t0, Agency: "customs"}, "payload required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &memStore{}
			err := st.WithTx(ctx, func(tx store.Tx) error { return Append(ctx, tx, tt.e) })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("corrupt head", func(t *testing.T) {
		st := &memStore{entries: []store.AuditEntry{{Seq: 1, Hash: []byte("short")}}}
		err := st.WithTx(ctx, func(tx store.Tx) error {
			return Append(ctx, tx, &store.AuditEntry{Kind: KindDecision, Time: t0})
		})
		if err == nil || !strings.Contains(err.Error(), "corrupt chain head") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestVerifyChain(t *testing.T) {
	st := &memStore{}
	appendN(t, st, 8, t0)
	good := st.entries
	rehash := func(es []store.AuditEntry, i int) {
		es[i].Hash = EntryHash(es[i].PrevHash, &es[i])
	}
	tests := []struct {
		name    string
		tamper  func([]store.AuditEntry) []store.AuditEntry
		start   int64 // first seq handed to VerifyChain, default 1
		wantSeq int64 // 0: valid
		want    string
	}{
		{name: "valid", tamper: func(es []store.AuditEntry) []store.AuditEntry { return es }},
		{name: "valid tail", start: 4, tamper: func(es []store.AuditEntry) []store.AuditEntry { return es[3:] }},
		{name: "payload", wantSeq: 3, want: "entry modified", tamper: func(es []store.AuditEntry) []store.AuditEntry {
			es[2].Payload = []byte("<Ack>forged</Ack>")
			return es
		}},
		{name: "time", wantSeq: 5, want: "entry modified", tamper: func(es []store.AuditEntry) []store.AuditEntry {
			es[4].Time = es[4].Time.Add(-time.Hour)
			return es
		}},
		{name: "modified and rehashed", wantSeq: 6, want: "does not link", tamper: func(es []store.AuditEntry) []store.AuditEntry {
			es[4].Plate = "99X-99999"
			rehash(es, 4)
			return es
		}},
		{name: "modified last entry rehashed is undetectable by the chain alone", tamper: func(es []store.AuditEntry) []store.AuditEntry {
			es[7].Plate = "99X-99999"
			rehash(es, 7)
			return es
		}},
		{name: "hash", wantSeq: 2, want: "entry modified", tamper: func(es []store.AuditEntry) []store.AuditEntry {
			es[1].Hash[0] ^= 1
			return es
		}},
		{name: "prev hash", wantSeq: 4, want: "does not link", tamper: func(es []store.AuditEntry) []store.AuditEntry {
			es[3].PrevHash = bytes.Repeat([]byte{9}, HashSize)
			return es
		}},
		{name: "truncated hash", wantSeq: 4, want: "bytes", tamper: func(es []store.AuditEntry) []store.AuditEntry {
			es[3].Hash = es[3].Hash[:8]
			return es
		}},
		{name: "delete", wantSeq: 3, want: "missing", tamper: func(es []store.AuditEntry) []store.AuditEntry {
			return append(es[:2:2], es[3:]...)
		}},
		{name: "delete first", wantSeq: 1, want: "missing", tamper: func(es []store.AuditEntry) []store.AuditEntry {
			return es[1:]
		}},
		{name: "delete and renumber", wantSeq: 3, want: "does not link", tamper: func(es []store.AuditEntry) []store.AuditEntry {
			es = append(es[:2:2], es[3:]...)
			for i := 2; i < len(es); i++ {
				es[i].Seq--
			}
			return es
		}},
		{name: "insert chained to its predecessor", wantSeq: 4, want: "inserted", tamper: func(es []store.AuditEntry) []store.AuditEntry {
			ins := cloneEntry(es[2])
			ins.Payload = []byte("<Ack>extra</Ack>")
			ins.Hash = EntryHash(ins.PrevHash, &ins)
			return append(append(es[:2:2], ins), es[2:]...)
		}},
		{name: "swap", wantSeq: 5, want: "reordered", tamper: func(es []store.AuditEntry) []store.AuditEntry {
			es[4], es[5] = es[5], es[4]
			return es
		}},
		{name: "swap with seqs swapped back", wantSeq: 5, want: "does not link", tamper: func(es []store.AuditEntry) []store.AuditEntry {
			es[4], es[5] = es[5], es[4]
			es[4].Seq, es[5].Seq = 5, 6
			return es
		}},
		{name: "first entry claims a predecessor", wantSeq: 1, want: "does not link", tamper: func(es []store.AuditEntry) []store.AuditEntry {
			es[0].PrevHash = bytes.Repeat([]byte{0}, HashSize)
			return es
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := make([]store.AuditEntry, len(good))
			for i := range good {
				es[i] = cloneEntry(good[i])
			}
			es = tt.tamper(es)
			start, prev := int64(1), []byte(nil)
			if tt.start > 1 {
				start, prev = tt.start, good[tt.start-2].Hash
			}
			err := VerifyChain(prev, start, es)
			if tt.wantSeq == 0 {
				if err != nil {
					t.Fatalf("VerifyChain: %v", err)
				}
				return
			}
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("VerifyChain = %v, want *Problem", err)
			}
			if p.Seq != tt.wantSeq || !strings.Contains(p.Reason, tt.want) {
				t.Fatalf("problem %q, want entry %d with %q", p.Error(), tt.wantSeq, tt.want)
			}
		})
	}
}
