// Package apptest gives tests one definition of a test hub's configuration:
// the repository's own data files (gates, mappings, schemas, dev tokens), a
// fresh data directory, in-process simulators, fast polling and backoff, no
// rate limit (nor refusal aggregation) and no periodic checkpoints.
package apptest

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/config"
	"github.com/gatehub/gatehub/internal/simulator"
)

// Config returns that configuration; repoRoot is the repository root as
// seen from the calling test's package directory.
func Config(t testing.TB, repoRoot string) config.Config {
	t.Helper()
	cfg := config.Default()
	dir := t.TempDir()
	cfg.Addr = "127.0.0.1:0"
	cfg.PublicURL = "http://127.0.0.1:0"
	cfg.DataDir = dir
	cfg.KeysDir = filepath.Join(dir, "keys")
	cfg.TrustDir = filepath.Join(dir, "trust")
	cfg.GatesDir = filepath.Join(repoRoot, "deploy/gates")
	cfg.AgenciesDir = filepath.Join(repoRoot, "deploy/agencies")
	cfg.SimulatorRulesDir = filepath.Join(repoRoot, "simulators")
	cfg.MappingsDir = filepath.Join(repoRoot, "mappings")
	cfg.SchemasDir = filepath.Join(repoRoot, "schemas")
	cfg.TokensFile = filepath.Join(repoRoot, "deploy/tokens.dev.yaml")
	cfg.Simulators = true
	cfg.Delivery.Poll = 50 * time.Millisecond
	cfg.Delivery.BaseBackoff = 20 * time.Millisecond
	cfg.Delivery.MaxBackoff = 100 * time.Millisecond
	cfg.Delivery.Timeout = 5 * time.Second
	cfg.RateLimit.Rate = 0
	// Tests count audit entries one by one: refusals from 127.0.0.1 are
	// not aggregated or throttled unless a test asks for it.
	cfg.Limits.Refusals.Detailed = 1 << 20
	cfg.Limits.Refusals.PerSource = config.RateLimit{Rate: 1e6, Burst: 1 << 20}
	cfg.Limits.Refusals.Entries = config.RateLimit{Rate: 1e6, Burst: 1 << 20}
	cfg.Limits.AckPerSource.Rate = 0
	cfg.Limits.AckPerAgency.Rate = 0
	cfg.CheckpointEvery = 0
	return cfg
}

// Log discards the hub's log unless the test runs verbose, where warnings
// and errors help explain a failure.
func Log() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Agencies is the repository's agency set.
func Agencies(t testing.TB, repoRoot string) *agencies.Set {
	t.Helper()
	set, err := agencies.LoadDir(filepath.Join(repoRoot, "deploy/agencies"))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// SimDefinitions are the repository's agencies with their simulator rules,
// for tests that start simulators themselves.
func SimDefinitions(t testing.TB, repoRoot string) []simulator.Definition {
	t.Helper()
	defs, err := simulator.Definitions(Agencies(t, repoRoot), filepath.Join(repoRoot, "simulators"))
	if err != nil {
		t.Fatal(err)
	}
	return defs
}
