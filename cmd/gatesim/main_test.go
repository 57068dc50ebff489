package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/adapters/gatedevice"
	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/config"
)

const root = "../.."

// startHub runs the embedded hub (SQLite, in-process agency simulators)
// on loopback with a clock fixed to the day the samples are dated for.
func startHub(t *testing.T) *app.App {
	t.Helper()
	cfg := config.Default()
	dir := t.TempDir()
	cfg.Addr, cfg.PublicURL, cfg.DataDir = "127.0.0.1:0", "http://127.0.0.1:0", dir
	cfg.KeysDir, cfg.TrustDir = filepath.Join(dir, "keys"), filepath.Join(dir, "trust")
	cfg.GatesDir, cfg.MappingsDir, cfg.SchemasDir = filepath.Join(root, "deploy/gates"), filepath.Join(root, "mappings"), filepath.Join(root, "schemas")
	cfg.TokensFile = filepath.Join(root, "deploy/tokens.dev.yaml")
	cfg.Simulators, cfg.RateLimit.Rate, cfg.CheckpointEvery = true, 0, 0
	cfg.Delivery.Poll, cfg.Delivery.Timeout = 50*time.Millisecond, 5*time.Second
	base, start := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC), time.Now()
	now := func() time.Time { return base.Add(time.Since(start)) }
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: now})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub: %v", err)
		}
	})
	return a
}

// declareCleared submits the sample declaration and returns once the hub
// announced it CLEARED on the lane's stream.
func declareCleared(t *testing.T, hubURL string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", hubURL+"/v1/gates/HUUNGHI/lanes/EXP-1/events", nil)
	req.Header.Set("Authorization", "Bearer dev-operator")
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	sc := bufio.NewScanner(stream.Body)
	if !sc.Scan() || sc.Text() != ": open" {
		t.Fatal("stream did not open")
	}
	body, err := os.ReadFile(filepath.Join(root, "conformance-tests/declarations/huu-nghi-export.json"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest("POST", hubURL+"/v1/declarations", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer dev-trader-0101234567")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit: HTTP %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "data: ") && strings.Contains(line, v.ID) && strings.Contains(line, `"CLEARED"`) {
			return v.ID
		}
	}
	t.Fatalf("stream ended before %s was CLEARED", v.ID)
	return ""
}

func TestGatesimPlaysALane(t *testing.T) {
	a := startHub(t)
	declareCleared(t, a.URL())
	pub := filepath.Join(a.Config.KeysDir, gatedevice.PublicKeyFile)
	otherKey := filepath.Join(t.TempDir(), "other")
	if _, _, err := gatedevice.LoadOrCreateKey(otherKey); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args []string
		exit int
		want []string
	}{
		{"camera only (the lane remembers no weight yet)", []string{"-plate", "12C-12345"}, exitOpen, []string{"barrier: OPEN"}},
		{"cleared truck of the declared weight", []string{"-plate", "12C-12345", "-weight", "38600"}, exitOpen,
			[]string{"barrier: OPEN / barie: MỞ (verified, key ed25519-", "EN: ", "VI: "}},
		{"overweight", []string{"-plate", "12c 12345", "-weight", "41000"}, exitClosed,
			[]string{"barrier: KEEP-CLOSED / barie: GIỮ ĐÓNG (verified", "EN: weight 41,000 kg", "VI: khối lượng 41.000 kg"}},
		{"unknown truck", []string{"-plate", "99Z-99999", "-weight", "20000"}, exitClosed,
			[]string{"KEEP-CLOSED", "unsigned: no declaration", "no declaration found"}},
		{"decision signed by a key the barrier does not hold", []string{"-plate", "12C-12345", "-weight", "38600",
			"-keys", filepath.Join(otherKey, gatedevice.PublicKeyFile)}, exitFailed, []string{"refuses the decision"}},
		{"another lane's barrier token", []string{"-plate", "12C-12345", "-barrier-token", "dev-HUUNGHI-EXP-2-barrier"}, exitFailed,
			[]string{"HTTP 403"}},
		{"no plate", []string{"-weight", "38600"}, exitUsage, []string{"usage"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-hub", a.URL(), "-gate", "HUUNGHI", "-lane", "EXP-1", "-keys", pub}, tc.args...)
			var out bytes.Buffer
			code := run(context.Background(), args, &out, &out, a.Hub.Clock)
			if code != tc.exit {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tc.exit, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
	// The key file the hub writes is the one documented for device vendors.
	if _, err := os.Stat(pub); err != nil {
		t.Fatalf("lane decision public key: %v", err)
	}
}
