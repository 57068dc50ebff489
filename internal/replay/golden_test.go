package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/gatehub/gatehub/internal/message"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/ack"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/lanes"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/replay"
	sim "github.com/gatehub/gatehub/internal/simulator"
	"github.com/gatehub/gatehub/internal/views"
)

// The golden archive of untyped payloads: exported by the hub while its
// audit payloads were still written as ad-hoc JSON maps (before they were
// typed and versioned), with the live state it replays to beside it. An
// archive exported then must verify and replay to the same state for as
// long as auditors keep such archives.
const (
	goldenPayloadsV1      = "testdata/payloads-v1.tar.gz"
	goldenPayloadsV1State = "testdata/payloads-v1.state.json"
)

// TestWriteGoldenPayloadsV1 regenerates the golden archive from a short run
// of the embedded hub: declarations with ACKs (sync and async agencies), a
// NACK, a retry, dead letters redriven and cancelled by an operator, an
// amendment, a trader's cancellation, a withdrawal and one truck's whole
// crossing B1 → B2 → B0. It only runs when asked, because the point of the
// golden file is that it was written by the code of its time:
//
//	GATEHUB_WRITE_GOLDEN=1 go test -run TestWriteGoldenPayloadsV1 ./internal/replay/
func TestWriteGoldenPayloadsV1(t *testing.T) {
	if os.Getenv("GATEHUB_WRITE_GOLDEN") == "" {
		t.Skip("writes testdata; set GATEHUB_WRITE_GOLDEN=1 to regenerate the golden archive")
	}
	h := startWith(t, func(c *sim.Config) {
		switch c.Agency {
		case "customs":
			c.FailFirst = 1
		case "borderguard":
			c.FailFirst = 2 // dead after the hub's two attempts; a redrive's attempt is the third
		case "guangxi":
			c.Mode = sim.ModeAsync
		}
	})
	ctx := context.Background()
	a := &truck{body: declaration(t, 200, false)}
	b := &truck{body: declaration(t, 201, true)} // expired inspection: the registry NACKs
	h.submit(a)
	h.submit(b)
	h.quiesce()
	dead := h.messages(message.Dead)
	if len(dead) != 2 {
		t.Fatalf("%d dead letters, want the border guard's two", len(dead))
	}
	for _, m := range dead {
		action := "redrive"
		if m.DeclarationID == b.id {
			action = "cancel"
		}
		h.do("POST", "/v1/admin/outbox/"+m.ID+"/"+action, operatorToken, nil)
	}
	h.quiesce()
	h.amend(a, rand.New(rand.NewPCG(1, 1)))
	h.cancel(b)
	h.quiesce()
	// The amendment's border guard message is dead-lettered too: redrive
	// it, so that truck A can be cleared.
	for _, m := range h.messages(message.Dead) {
		if m.DeclarationID == a.id {
			h.do("POST", "/v1/admin/outbox/"+m.ID+"/redrive", operatorToken, nil)
		}
	}
	h.quiesce()

	// The first held truck's customs delivery is in flight, so the
	// second's is never attempted: cancelling it withdraws it.
	h.sender.hold("customs")
	for _, n := range []int{202, 203} {
		held := &truck{body: declaration(t, n, false)}
		h.submit(held)
		h.cancel(held)
	}
	h.sender.releaseAll()
	h.quiesce()

	h.await("truck A cleared", func() bool {
		var v views.DeclarationView
		return json.Unmarshal(h.do("GET", "/v1/declarations/"+a.id, traderToken, nil), &v) == nil &&
			v.Decision.Status == "CLEARED"
	})
	plate := a.body["vehicle"].(map[string]any)["plateVN"].(string)
	for _, r := range []struct{ token, body, want string }{
		{"dev-HUUNGHI-GATE-1-camera", `{"kind":"plate","plate":"` + plate + `","confidence":0.97}`, "OPEN"},
		{"dev-HUUNGHI-EXP-1-camera", `{"kind":"plate","plate":"` + plate + `","confidence":0.97}`, "KEEP-CLOSED"},
		{"dev-HUUNGHI-EXP-1-scale", `{"kind":"weight","weightKg":38600}`, "KEEP-CLOSED"},
		{"dev-HUUNGHI-EXP-1-qr", `{"kind":"qr","code":"` + a.id + `"}`, "OPEN"},
		{"dev-HUUNGHI-MARK-1-camera", `{"kind":"plate","plate":"` + plate + `","confidence":0.97}`, "KEEP-CLOSED"},
		{"dev-HUUNGHI-MARK-1-qr", `{"kind":"qr","code":"` + a.id + `"}`, "OPEN"},
	} {
		var ans lanes.Answer
		if err := json.Unmarshal(h.do("POST", "/v1/devices/readings", r.token, []byte(r.body)), &ans); err != nil {
			t.Fatal(err)
		}
		if ans.Action != r.want {
			t.Fatalf("%s %s: %s %+v, want %s", r.token, r.body, ans.Action, ans.Reasons, r.want)
		}
	}
	// Every message answered, the async ones included.
	h.await("every message settled", func() bool {
		return len(h.messages(message.Pending)) == 0 && len(h.messages(message.Sent)) == 0
	})

	archive := h.export()
	live, err := replay.FromStore(ctx, h.app.Store)
	if err != nil {
		t.Fatal(err)
	}
	state, err := json.MarshalIndent(live, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(goldenPayloadsV1), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goldenPayloadsV1, archive, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goldenPayloadsV1State, append(state, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	ar, err := audit.ReadArchive(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	covered(t, ar.Entries)
}

// await polls cond until it holds, failing after a deadline.
func (h *harness) await(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: not after 60s", what)
		}
		select {
		case <-h.settled:
		case <-time.After(50 * time.Millisecond): // async ACKs settle no delivery: poll
		}
	}
}

// TestGoldenPayloadsV1Replays: the archive of untyped payloads still
// verifies, replays in memory and into both stores, and gives exactly the
// state the hub had when it exported it.
func TestGoldenPayloadsV1Replays(t *testing.T) {
	raw, err := os.ReadFile(goldenPayloadsV1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := audit.ReadArchive(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if rep := a.Verify(archiveVerifier(a)); !rep.OK() || rep.SignaturesChecked == 0 {
		t.Fatalf("golden archive does not verify: %+v", rep)
	}
	covered(t, a.Entries)
	kinds := map[string]bool{}
	for _, e := range a.Entries {
		kinds[e.Kind] = true
	}
	for _, k := range []string{audit.KindCrossingOpened, audit.KindCrossingPassed, audit.KindCrossingExited, audit.KindLaneDecision} {
		if !kinds[k] {
			t.Errorf("golden archive has no %s", k)
		}
	}
	// Every payload of a typed kind decodes strictly into its type: a key
	// renamed in a type (which a lenient decode would just leave empty)
	// fails here, naming the entry.
	typed := 0
	for _, e := range a.Entries {
		p, ok := audit.NewPayload(e.Kind)
		if !ok {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(e.Payload))
		dec.DisallowUnknownFields()
		if err := dec.Decode(p); err != nil {
			t.Errorf("entry %d (%s): %v: %s", e.Seq, e.Kind, err, e.Payload)
		}
		typed++
	}
	if typed < 100 {
		t.Errorf("only %d entries of typed payload kinds", typed)
	}

	var want replay.State
	sj, err := os.ReadFile(goldenPayloadsV1State)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(sj, &want); err != nil {
		t.Fatal(err)
	}
	reg, err := mapping.Load(filepath.Join(repoRoot, "mappings"))
	if err != nil {
		t.Fatal(err)
	}
	acks := &ack.Reader{Verifier: archiveSignVerifier(a), Mappings: reg}
	got, err := replay.FromEntries(a.Entries, acks.Read)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Declarations) != 4 || len(want.Crossings) == 0 {
		t.Fatalf("golden state has %d declarations, %d crossings", len(want.Declarations), len(want.Crossings))
	}
	for _, d := range replay.Diff(got, &want) {
		t.Errorf("replayed vs golden: %s", d)
	}
	restoreIntoBoth(t, a.Entries, acks.Read, &want, "golden")
}
