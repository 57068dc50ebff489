package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/app/apptest"
	"github.com/gatehub/gatehub/internal/config"
)

// copiedHub is a hub running on copies of the repository's mappings and
// schemas under src, so a test can change them after the hub logged what
// it built with.
type copiedHub struct {
	src  string
	cfg  config.Config
	app  *app.App
	stop context.CancelFunc
	done chan error
}

func startCopiedHub(t *testing.T) *copiedHub {
	t.Helper()
	h := &copiedHub{src: t.TempDir(), done: make(chan error, 1)}
	copyTree(t, filepath.Join(repoRoot, "mappings"), filepath.Join(h.src, "mappings"))
	copyTree(t, filepath.Join(repoRoot, "schemas"), filepath.Join(h.src, "schemas"))
	h.cfg = apptest.Config(t, repoRoot)
	h.cfg.MappingsDir, h.cfg.SchemasDir = filepath.Join(h.src, "mappings"), filepath.Join(h.src, "schemas")
	var ctx context.Context
	ctx, h.stop = context.WithCancel(t.Context())
	t.Cleanup(h.stop)
	a, err := app.New(ctx, h.cfg, app.Options{Log: apptest.Log()})
	if err != nil {
		t.Fatal(err)
	}
	h.app = a
	go func() { h.done <- a.Run(ctx) }()
	return h
}

// call sends a trader's request and returns the status and body.
func (h *copiedHub) call(t *testing.T, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, h.app.URL()+path, bytes.NewReader(body))
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

// declare posts the conformance declaration and returns the answer.
func (h *copiedHub) declare(t *testing.T) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(repoRoot, "conformance-tests/declarations/huu-nghi-export.json"))
	if err != nil {
		t.Fatal(err)
	}
	code, answer := h.call(t, "POST", "/v1/declarations", body)
	if code != http.StatusCreated {
		t.Fatalf("POST declaration: %d %s", code, answer)
	}
	return answer
}

// export stops the hub and exports its whole log into one archive.
func (h *copiedHub) export(t *testing.T) string {
	t.Helper()
	h.stop()
	if err := <-h.done; err != nil {
		t.Fatalf("hub run: %v", err)
	}
	arch := filepath.Join(t.TempDir(), "log.tar.gz")
	var out bytes.Buffer
	if err := execute(t.Context(), []string{"audit", "export", "--data-dir", h.cfg.DataDir, "--trust", h.cfg.TrustDir, "--database-url", "", "--out", arch}, nil, &out, io.Discard); err != nil {
		t.Fatalf("export: %v\n%s", err, out.String())
	}
	return arch
}

// edit replaces old by new in the copied file rel, as a later release would.
func (h *copiedHub) edit(t *testing.T, rel, old, new string) {
	t.Helper()
	path := filepath.Join(h.src, rel)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(b), old, new, 1)
	if changed == string(b) {
		t.Fatalf("%s holds no %q to change", rel, old)
	}
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
}
