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
	cfg.AgenciesDir, cfg.SimulatorRulesDir = filepath.Join(root, "deploy/agencies"), filepath.Join(root, "simulators")
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
	return declareClearedPlate(t, hubURL, "", "")
}

// declareClearedPlate is declareCleared for a truck with other plates
// (none: the sample's).
func declareClearedPlate(t *testing.T, hubURL, vn, cn string) string {
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
	if vn != "" {
		body = bytes.ReplaceAll(bytes.ReplaceAll(body, []byte("12C-12345"), []byte(vn)), []byte("桂A12345"), []byte(cn))
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

func TestGatesimPlaysACrossing(t *testing.T) {
	a := startHub(t)
	id := declareCleared(t, a.URL())
	pub := filepath.Join(a.Config.KeysDir, gatedevice.PublicKeyFile)
	otherKey := filepath.Join(t.TempDir(), "other")
	if _, _, err := gatedevice.LoadOrCreateKey(otherKey); err != nil {
		t.Fatal(err)
	}
	gatefile := filepath.Join(root, "deploy/gates/huunghi.yaml")

	tests := []struct {
		name string
		args []string
		exit int
		want []string
	}{
		{"a signature the barrier cannot verify", []string{"-plate", "12C-12345", "-checkpoint", "B1",
			"-keys", filepath.Join(otherKey, gatedevice.PublicKeyFile)}, exitFailed, []string{"refuses the decision"}},
		{"overweight at the weighbridge, after B1", []string{"-plate", "12c 12345", "-weight", "41000"}, exitClosed,
			[]string{"[B1]", "barrier: OPEN / barie: MỞ (verified, key ed25519-", "[B2]",
				"barrier: KEEP-CLOSED / barie: GIỮ ĐÓNG (verified", "EN: weight 41,000 kg", "VI: khối lượng 41.000 kg"}},
		{"the QR of another truck", []string{"-plate", "29C-99999", "-weight", "38600", "-qr", id, "-checkpoint", "B2"}, exitClosed,
			[]string{"KEEP-CLOSED", "QR code names declaration " + id}},
		{"unknown truck", []string{"-plate", "99Z-99999", "-checkpoint", "B1"}, exitClosed,
			[]string{"KEEP-CLOSED", "unsigned: no declaration", "no declaration found"}},
		{"no plate", []string{"-weight", "38600"}, exitUsage, []string{"usage"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-hub", a.URL(), "-gatefile", gatefile, "-agencies", filepath.Join(root, "deploy/agencies"), "-keys", pub}, tc.args...)
			var out bytes.Buffer
			code := run(context.Background(), args, &out, &out, a.Tx.Clock)
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

	t.Run("whole crossing of a fresh truck", func(t *testing.T) {
		fresh := declareClearedPlate(t, a.URL(), "12C-77001", "桂A77001")
		var out bytes.Buffer
		args := []string{"-hub", a.URL(), "-gatefile", gatefile, "-agencies", filepath.Join(root, "deploy/agencies"), "-keys", pub, "-plate", "12C-77001", "-weight", "38600"}
		if code := run(context.Background(), args, &out, &out, a.Tx.Clock); code != exitOpen {
			t.Fatalf("exit %d:\n%s", code, out.String())
		}
		for _, w := range []string{"route: B1 → B2 → B0", "[B1]", "[B2]", "[B0]", "scanned " + fresh, "crossing complete: 12C-77001 exited at B0"} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("output lacks %q:\n%s", w, out.String())
			}
		}
		// Back at the gate after another truck, the clearance is used.
		out.Reset()
		run(context.Background(), []string{"-hub", a.URL(), "-gatefile", gatefile, "-agencies", filepath.Join(root, "deploy/agencies"), "-keys", pub, "-plate", "99Z-00002", "-checkpoint", "B1"}, &out, &out, a.Tx.Clock)
		out.Reset()
		if code := run(context.Background(), args, &out, &out, a.Tx.Clock); code != exitClosed || !strings.Contains(out.String(), "clearance already used") {
			t.Fatalf("second crossing: exit %d:\n%s", code, out.String())
		}
	})
	// The key file the hub writes is the one documented for device vendors.
	if _, err := os.Stat(pub); err != nil {
		t.Fatalf("lane decision public key: %v", err)
	}
}
