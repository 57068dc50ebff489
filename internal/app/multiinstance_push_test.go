package app_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/app/apptest"
	"github.com/gatehub/gatehub/internal/config"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/redistest"
	"github.com/gatehub/gatehub/internal/schema"
	sim "github.com/gatehub/gatehub/internal/simulator"
	"github.com/gatehub/gatehub/internal/store/storetest"
)

// cluster is two hub instances sharing one Postgres store, one Redis key
// space, one hub key and one set of agency simulators, each serving on its
// own listener: the production shape behind a load balancer.
type cluster struct {
	a, b *instance
	sims *sim.Cluster
}

func startCluster(t *testing.T, edit func(*config.Config)) *cluster {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	_, prefix := redistest.Client(t)
	now := testClock()
	shared := t.TempDir()
	keysDir, trustDir := filepath.Join(shared, "keys"), filepath.Join(shared, "trust")

	// The simulators trust exactly one hub certificate, so both instances
	// must sign with the same key: they share the key directory.
	hubIDs := sharedHubKeys(t, keysDir, now())
	maps, err := mapping.Load(filepath.Join(repoRoot, "mappings"))
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := schema.Load(filepath.Join(repoRoot, "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(schemas.Close)
	trust := pki.NewTrustStore()
	for _, id := range hubIDs {
		trust.Add(hub.Participant, id.Cert, id.Cert.NotBefore, id.Cert.NotAfter)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sims, err := sim.StartAll(ctx, sim.Options{Definitions: apptest.SimDefinitions(t, repoRoot), Registry: maps, Validator: schemas, Trust: trust, Mode: "sync", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sims.Close() })
	sims.TrustAgencies(trust)
	if err := trust.Save(trustDir); err != nil {
		t.Fatal(err)
	}

	c := &cluster{sims: sims}
	for i, dst := range []**instance{&c.a, &c.b} {
		cfg := baseConfig(t)
		cfg.InstanceID = []string{"hub-a", "hub-b"}[i]
		cfg.DatabaseURL = dsn
		cfg.RedisURL = os.Getenv(redistest.EnvURL)
		cfg.RedisPrefix = prefix
		cfg.KeysDir, cfg.TrustDir = keysDir, trustDir
		cfg.Simulators = false
		cfg.AgencyURLs = sims.Endpoints()
		if edit != nil {
			edit(&cfg)
		}
		// Started one after the other: the first runs the migrations.
		*dst = launch(t, cfg, app.Options{Now: now})
	}
	return c
}

func TestTwoInstancesPushToDevicesOnEither(t *testing.T) {
	c := startCluster(t, nil)
	const barrier = "dev-HUUNGHI-EXP-1-barrier"

	// The barrier is connected to B; everything happens on A.
	onB, disconnect := c.b.laneStream(t, "HUUNGHI", "EXP-1", barrier, "")
	// An observer on A tells the test when A has published, so the
	// resume check below does not depend on timing.
	onA, _ := c.a.laneStream(t, "HUUNGHI", "EXP-1", operatorToken, "")

	v := c.a.submit(sample(t, withSerial("40001")))
	next(t, onB, "CLEARED decision on B", decisionFor(v.ID, "CLEARED"))

	tests := []struct {
		name, token, body, action string
	}{
		{"camera read on A: waits for the weighbridge", "dev-HUUNGHI-EXP-1-camera", `{"kind":"plate","plate":"12C-40001","confidence":0.96}`, "KEEP-CLOSED"},
		{"overweight on A", "dev-HUUNGHI-EXP-1-scale", `{"kind":"weight","plate":"12C-40001","weightKg":45000}`, "KEEP-CLOSED"},
	}
	if ans := c.a.reading(t, "dev-HUUNGHI-GATE-1-camera", `{"kind":"plate","plate":"12C-40001","confidence":0.96}`); ans.Action != "OPEN" {
		t.Fatalf("B1: %s %s", ans.Action, ans.ReasonEN)
	}
	var last sseEvent
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ans := c.a.reading(t, tc.token, tc.body)
			if ans.Action != tc.action {
				t.Fatalf("A answered %s, want %s", ans.Action, tc.action)
			}
			last = next(t, onB, "lane decision on B", laneDecisionFor(v.ID, tc.action))
		})
	}
	if t.Failed() {
		return
	}

	// The barrier loses its connection; meanwhile another truck is
	// declared and read on A.
	disconnect()
	v2 := c.a.submit(sample(t, withSerial("40002")))
	next(t, onA, "CLEARED decision on A", decisionFor(v2.ID, "CLEARED"))
	c.a.reading(t, "dev-HUUNGHI-GATE-1-camera", `{"kind":"plate","plate":"12C-40002","confidence":0.99}`)
	c.a.reading(t, "dev-HUUNGHI-EXP-1-camera", `{"kind":"plate","plate":"12C-40002","confidence":0.99}`)
	c.a.reading(t, "dev-HUUNGHI-EXP-1-scale", `{"kind":"weight","weightKg":38500}`)
	if ans := c.a.reading(t, "dev-HUUNGHI-EXP-1-qr", `{"kind":"qr","code":"`+v2.ID+`"}`); ans.Action != "OPEN" {
		t.Fatalf("second truck: %s %s", ans.Action, ans.ReasonEN)
	}

	// Reconnecting to B with Last-Event-ID replays what was missed, in order,
	// and nothing from before.
	resumed, _ := c.b.laneStream(t, "HUUNGHI", "EXP-1", barrier, last.ID)
	first := next(t, resumed, "first replayed event", func(sseEvent) bool { return true })
	if !idAfter(first.ID, last.ID) {
		t.Fatalf("replay started at %s, not after %s", first.ID, last.ID)
	}
	if first.Type != "decision" || !strings.Contains(string(first.Data), v2.ID) {
		t.Fatalf("first replayed event is %s %s, want a decision for %s", first.Type, first.Data, v2.ID)
	}
	if !decisionFor(v2.ID, "CLEARED")(first) {
		next(t, resumed, "missed CLEARED decision", decisionFor(v2.ID, "CLEARED"))
	}
	next(t, resumed, "missed lane decision", laneDecisionFor(v2.ID, "OPEN"))
}

// idAfter compares event ids of the form <ms>-<seq>.
func idAfter(a, b string) bool {
	parse := func(s string) (uint64, uint64) {
		ms, seq, _ := strings.Cut(s, "-")
		m, _ := strconv.ParseUint(ms, 10, 64)
		q, _ := strconv.ParseUint(seq, 10, 64)
		return m, q
	}
	am, as := parse(a)
	bm, bs := parse(b)
	return am > bm || (am == bm && as > bs)
}

// sharedHubKeys creates the hub's keys in keysDir, the directory every
// instance of a test cluster shares, and returns them for the simulators
// to trust: the RSA key of the default signature profile and the SM2 key
// the Guangxi single window's messages are signed with. An instance finds
// them there and creates none of its own.
func sharedHubKeys(t *testing.T, keysDir string, now time.Time) []*pki.Identity {
	t.Helper()
	rsaID, _, err := pki.LoadOrCreate(keysDir, hub.Participant, pki.RSA2048, now)
	if err != nil {
		t.Fatal(err)
	}
	sm2ID, _, err := pki.LoadOrCreateAs(keysDir, hub.Participant+".sm2", hub.Participant, pki.SM2, now)
	if err != nil {
		t.Fatal(err)
	}
	return []*pki.Identity{rsaID, sm2ID}
}
