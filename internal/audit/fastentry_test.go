package audit

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// fastEntrySamples are lines as export writes them, with the awkward
// content a log holds: non-ASCII plates and reasons, characters JSON may
// escape, empty and binary payloads, the first entry without a prev hash.
func fastEntrySamples(t testing.TB) [][]byte {
	t.Helper()
	h := bytes.Repeat([]byte{0xab}, HashSize)
	entries := []store.AuditEntry{
		{Seq: 1, Time: time.Date(2026, 11, 25, 1, 0, 0, 1000, time.UTC), Kind: KindDeclarationAccepted, Actor: "trader:0101234567",
			DeclarationID: "D1", Plate: "12C-00001", Payload: []byte(`{"gate":"HUUNGHI"}`), Hash: h},
		{Seq: 2, Time: time.Date(2026, 11, 25, 1, 0, 1, 0, time.UTC), Kind: KindMessageOutbound, Actor: "hub", DeclarationID: "D1",
			MessageID: "M1", Agency: "customs", Plate: "桂A·12345", Payload: []byte("<a xmlns=\"urn:x\">\x00\xff<b/></a>"), PrevHash: h, Hash: h},
		{Seq: 3, Time: time.Date(2026, 11, 25, 1, 0, 2, 123000, time.UTC), Kind: KindAckRefused, Actor: "guangxi <&>", Payload: nil, PrevHash: h, Hash: h},
		{Seq: 4, Time: time.Date(2026, 11, 25, 1, 0, 3, 0, time.UTC), Kind: "k", Actor: "line\nbreak \"quoted\" back\\slash \u2028", PrevHash: h, Hash: h, Payload: []byte{}},
		{Seq: 123456789012, Time: time.Date(2026, 11, 25, 1, 0, 3, 0, time.UTC), Kind: "k", Plate: "Lạng Sơn", PrevHash: h, Hash: h, Payload: []byte("x")},
	}
	var out [][]byte
	for i := range entries {
		line, err := entryLine(&entries[i])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.TrimSuffix(line, []byte("\n")))
	}
	return out
}

// checkFastAgrees: whatever the fast path accepts, encoding/json accepts
// too and decodes to the same entry.
func checkFastAgrees(t *testing.T, line []byte) bool {
	t.Helper()
	fast, ok := fastEntryLine(line)
	if !ok {
		return false
	}
	slow, err := jsonEntryLine(line, 1)
	if err != nil {
		t.Fatalf("fast path accepted what encoding/json refuses (%v): %q", err, line)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("fast path decoded\n%#v\nencoding/json\n%#v\nfrom %q", fast, slow, line)
	}
	return true
}

func TestFastEntryLineAgreesWithJSON(t *testing.T) {
	lines := fastEntrySamples(t)
	for i, line := range lines {
		// Lines whose strings export escaped go the slow way; the rest
		// must take the fast path, or it saves nothing.
		wantFast := !bytes.Contains(line, []byte(`\`))
		if got := checkFastAgrees(t, line); got != wantFast {
			t.Errorf("line %d: fast path taken %v, want %v: %s", i, got, wantFast, line)
		}
	}
	// Variants encoding/json reads differently, or not at all: the fast
	// path must refuse them or agree.
	base := string(lines[1])
	variants := []string{
		strings.Replace(base, `{"seq":2`, `{ "seq":2`, 1),
		strings.Replace(base, `{"seq":2`, `{"seq":02`, 1),
		strings.Replace(base, `{"seq":2`, `{"seq":-2`, 1),
		strings.Replace(base, `{"seq":2`, `{"seq":2.0`, 1),
		strings.Replace(base, `{"seq":2`, `{"seq":99999999999999999999`, 1),
		strings.Replace(base, `"kind"`, `"Kind"`, 1),
		strings.Replace(base, `"agency":"customs"`, `"agency":null`, 1),
		strings.Replace(base, `"time":"2026-11-25T01:00:01Z"`, `"time":"2026-11-25T01:00:01.0000001Z"`, 1),
		strings.Replace(base, `"time":"2026-11-25T01:00:01Z"`, `"time":"2026-11-25T08:00:01+07:00"`, 1),
		strings.Replace(base, `"time":"2026-11-25T01:00:01Z"`, `"time":"2026-11-25t01:00:01z"`, 1),
		strings.Replace(base, `"payload":"`, `"payload":"=`, 1),
		strings.Replace(base, `"payload":"`, `"payload":"\r`, 1),
		strings.Replace(base, `"hash":"abab`, `"hash":"ABAB`, 1),
		strings.Replace(base, `"hash":"abab`, `"hash":"aba`, 1),
		base + " ",
		base + "{}",
		strings.TrimSuffix(base, "}") + `,"extra":1}`,
		strings.Replace(base, "customs", "cust\x01oms", 1),
		strings.Replace(base, "customs", "cust\xffoms", 1),
	}
	for _, v := range variants {
		checkFastAgrees(t, []byte(v))
	}
}

// FuzzFastEntryLine holds the fast path to encoding/json on any input.
func FuzzFastEntryLine(f *testing.F) {
	for _, l := range fastEntrySamples(f) {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		checkFastAgrees(t, line)
	})
}
