package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/ack"
	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/mapping"
)

// TestReplayReadsAcksWithTheArchivesMappings runs a declaration until its
// agencies answered, exports the log, then breaks the customs ACK mapping
// in the working tree (as a later release reading ACKs differently would):
// replay reads every logged ACK with the mappings the archive carries, and
// still replays; the control reads the same ACKs with the changed
// mappings, as replay did through --mappings, and the customs one fails.
func TestReplayReadsAcksWithTheArchivesMappings(t *testing.T) {
	ctx := t.Context()
	h := startCopiedHub(t)
	var created struct {
		ID string `json:"id"`
	}
	if answer := h.declare(t); json.Unmarshal(answer, &created) != nil || created.ID == "" {
		t.Fatalf("POST answer %s", answer)
	}
	// Every agency answers (the simulators ACK): the decision is CLEARED.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, b := h.call(t, "GET", "/v1/declarations/"+created.ID+"/decision", nil)
		if code == http.StatusOK && strings.Contains(string(b), `"CLEARED"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no CLEARED decision within 30 s: %d %s", code, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	arch := h.export(t)
	// The later release reads the referenced message id from elsewhere.
	h.edit(t, "mappings/customs/ack.yaml", "Response/ReferencedMessageID", "Response/RefMessage")
	src := h.src
	var out bytes.Buffer
	replayArgs := []string{"audit", "replay", "--no-compare", "--mappings", filepath.Join(src, "mappings"), "-o", "json", arch}
	if err := execute(ctx, replayArgs, nil, &out, io.Discard); err != nil {
		t.Fatalf("replay with the archive's mappings: %v\n%s", err, out.String())
	}
	var sum struct {
		Messages int  `json:"messages"`
		OK       bool `json:"ok"`
	}
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil || !sum.OK || sum.Messages != 4 {
		t.Fatalf("replay summary %s: %v", out.String(), err)
	}

	// Control: read through the working tree's (broken) mappings, as
	// --mappings was, the customs ACK is refused.
	broke, err := mapping.Load(filepath.Join(src, "mappings"))
	if err != nil {
		t.Fatal(err)
	}
	old, err := readArchiveFile(arch)
	if err != nil {
		t.Fatal(err)
	}
	known, err := localAgencies()
	if err != nil {
		t.Fatal(err)
	}
	r := ack.Reader{Verifier: app.ArchiveVerifier(known, old.Certs), Mappings: broke}
	acks := 0
	for _, e := range old.Entries {
		if e.Kind != audit.KindAckInbound {
			continue
		}
		acks++
		if _, err := r.Read(e.Agency, e.Payload, e.Time); (err != nil) != (e.Agency == "customs") {
			t.Errorf("%s ACK read with the changed mappings: %v", e.Agency, err)
		}
	}
	if acks != 4 {
		t.Fatalf("archive holds %d ACKs, want 4", acks)
	}
}
