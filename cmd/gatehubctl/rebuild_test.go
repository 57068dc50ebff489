package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/app/apptest"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/replay"
	"github.com/gatehub/gatehub/internal/sign"
)

const repoRoot = "../.."

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if fi.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRebuildOldArchiveAfterMappingChange builds messages with one version
// of the mappings, exports the log, then changes a mapping (as a later
// release would) and rebuilds the old archive in a clean directory with
// only the changed mappings at hand: the archive carries the inputs its
// messages were built with, so every message still rebuilds byte for byte.
func TestRebuildOldArchiveAfterMappingChange(t *testing.T) {
	ctx := t.Context()
	src := t.TempDir()
	copyTree(t, filepath.Join(repoRoot, "mappings"), filepath.Join(src, "mappings"))
	copyTree(t, filepath.Join(repoRoot, "schemas"), filepath.Join(src, "schemas"))
	cfg := apptest.Config(t, repoRoot)
	cfg.MappingsDir, cfg.SchemasDir = filepath.Join(src, "mappings"), filepath.Join(src, "schemas")

	runCtx, cancel := context.WithCancel(ctx)
	a, err := app.New(runCtx, cfg, app.Options{Log: apptest.Log()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	body, err := os.ReadFile(filepath.Join(repoRoot, "conformance-tests/declarations/huu-nghi-export.json"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", a.URL()+"/v1/declarations", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer dev-trader-0101234567")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST declaration: %d %s", resp.StatusCode, answer)
	}
	// The 201 comes after the four signed messages and their message.built
	// entries are committed; deliveries need not have happened.
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("hub run: %v", err)
	}

	arch := filepath.Join(t.TempDir(), "old.tar.gz")
	var out bytes.Buffer
	if err := execute(ctx, []string{"audit", "export", "--data-dir", cfg.DataDir, "--trust", cfg.TrustDir, "--database-url", "", "--out", arch}, nil, &out, io.Discard); err != nil {
		t.Fatalf("export: %v\n%s", err, out.String())
	}

	// A later release: the customs submit mapping changes version and
	// content, and the old files are gone from the working tree.
	path := filepath.Join(src, "mappings", "customs", "submit.yaml")
	y, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	changed := regexp.MustCompile(`mappingVersion: "[^"]*"`).ReplaceAllString(string(y), `mappingVersion: "9.9.9"`)
	if changed == string(y) {
		t.Fatal("the customs submit mapping has no version to change")
	}
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	newReg, err := mapping.Load(filepath.Join(src, "mappings"))
	if err != nil {
		t.Fatal(err)
	}

	// Control: with only the changed mappings, the customs message cannot
	// be rebuilt — which is what made rebuilding old logs need history.
	old, err := readArchiveFile(arch)
	if err != nil {
		t.Fatal(err)
	}
	if old.Manifest.Blobs == 0 {
		t.Fatal("the archive carries no build inputs")
	}
	ts := pki.NewTrustStore()
	for p, cs := range old.Certs {
		for _, c := range cs {
			ts.Add(p, c, old.Manifest.FromTime.AddDate(-1, 0, 0), old.Manifest.ToTime.AddDate(1, 0, 0))
		}
	}
	v := sign.NewVerifier(ts)
	control, err := replay.Rebuild(ctx, old.Entries, newReg, func(p string, x []byte, at2 time.Time) error { _, err := v.Verify(p, x, at2); return err })
	if err != nil {
		t.Fatal(err)
	}
	if control.Skipped == 0 {
		t.Fatalf("control rebuild with the changed mapping skipped nothing: %+v", control)
	}

	clean := t.TempDir()
	t.Chdir(clean)
	out.Reset()
	err = execute(ctx, []string{"audit", "replay", "--rebuild", "--no-compare", "--mappings", filepath.Join(src, "mappings"), arch}, nil, &out, io.Discard)
	if err != nil {
		t.Fatalf("replay --rebuild of the old archive: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "rebuilt 4 messages: 4 ok, 0 mismatched, 0 skipped") {
		t.Fatalf("rebuild:\n%s", out.String())
	}
	if entries, _ := os.ReadDir(clean); len(entries) != 0 {
		t.Fatalf("replay left files in the working directory: %v", entries)
	}
}
