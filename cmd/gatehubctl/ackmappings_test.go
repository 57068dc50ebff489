package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/ack"
	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/app/apptest"
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
	src := t.TempDir()
	copyTree(t, filepath.Join(repoRoot, "mappings"), filepath.Join(src, "mappings"))
	copyTree(t, filepath.Join(repoRoot, "schemas"), filepath.Join(src, "schemas"))
	cfg := apptest.Config(t, repoRoot)
	cfg.MappingsDir, cfg.SchemasDir = filepath.Join(src, "mappings"), filepath.Join(src, "schemas")
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	a, err := app.New(runCtx, cfg, app.Options{Log: apptest.Log()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	body, err := os.ReadFile(filepath.Join(repoRoot, "conformance-tests/declarations/huu-nghi-export.json"))
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path string, body []byte) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, a.URL()+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer dev-trader-0101234567")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, answer := call("POST", "/v1/declarations", body)
	if code != http.StatusCreated {
		t.Fatalf("POST declaration: %d %s", code, answer)
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(answer, &created); err != nil || created.ID == "" {
		t.Fatalf("POST answer %s: %v", answer, err)
	}
	// Every agency answers (the simulators ACK): the decision is CLEARED.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, b := call("GET", "/v1/declarations/"+created.ID+"/decision", nil)
		if code == http.StatusOK && strings.Contains(string(b), `"CLEARED"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no CLEARED decision within 30 s: %d %s", code, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("hub run: %v", err)
	}
	arch := filepath.Join(t.TempDir(), "acks.tar.gz")
	var out bytes.Buffer
	if err := execute(ctx, []string{"audit", "export", "--data-dir", cfg.DataDir, "--trust", cfg.TrustDir, "--database-url", "", "--out", arch}, nil, &out, io.Discard); err != nil {
		t.Fatalf("export: %v\n%s", err, out.String())
	}
	// The later release reads the referenced message id from elsewhere.
	path := filepath.Join(src, "mappings", "customs", "ack.yaml")
	y, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(y), "Response/ReferencedMessageID", "Response/RefMessage", 1)
	if broken == string(y) {
		t.Fatal("the customs ACK mapping has no Response/ReferencedMessageID to change")
	}
	if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	replayArgs := []string{"audit", "replay", "--no-compare", "--mappings", filepath.Join(src, "mappings"), "-o", "json", arch}
	out.Reset()
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
	r := ack.Reader{Verifier: app.ArchiveVerifier(old.Certs), Mappings: broke}
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
