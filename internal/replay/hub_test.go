package replay_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/ack"
	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/app/apptest"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/outbox"
	"github.com/gatehub/gatehub/internal/replay"
	"github.com/gatehub/gatehub/internal/sign"
	sim "github.com/gatehub/gatehub/internal/simulator"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/storetest"
	"github.com/gatehub/gatehub/internal/views"
)

const (
	traderToken   = "dev-trader-0101234567"
	operatorToken = "dev-operator"
	repoRoot      = "../.."
	// workloadSeed fixes the random workload, so a failure can be replayed.
	workloadSeed = 20261125
)

// testClock starts at a fixed instant, so that sample dates stay valid, and
// then advances with real time, so that backoff behaves.
func testClock() func() time.Time {
	base := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	start := time.Now()
	return func() time.Time { return base.Add(time.Since(start)) }
}

// settledHooks passes every settled delivery on to the hub and then
// signals, so the test can wait for the outbox to go quiet without sleeping.
type settledHooks struct {
	outbox.Hooks
	settled chan struct{}
}

func (h *settledHooks) Committed(ctx context.Context, m *store.Message, r outbox.Result) {
	h.Hooks.Committed(ctx, m, r)
	select {
	case h.settled <- struct{}{}:
	default: // a signal is already pending; the waiter re-checks the store anyway
	}
}

// holdingSender keeps one agency's deliveries from starting until released,
// so that a cancel finds their messages never attempted (withdrawn) rather
// than racing the dispatcher.
type holdingSender struct {
	outbox.Sender
	mu      sync.Mutex
	agency  string
	release chan struct{}
}

func (s *holdingSender) hold(agency string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.agency, s.release = agency, make(chan struct{})
}

func (s *holdingSender) releaseAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.release != nil {
		close(s.release)
	}
	s.agency, s.release = "", nil
}

func (s *holdingSender) Send(ctx context.Context, m store.Message) outbox.Result {
	s.mu.Lock()
	var wait chan struct{}
	if m.Agency == s.agency {
		wait = s.release
	}
	s.mu.Unlock()
	if wait != nil {
		<-wait
	}
	return s.Sender.Send(ctx, m)
}

type harness struct {
	t       *testing.T
	app     *app.App
	url     string
	settled chan struct{}
	sender  *holdingSender
}

// start runs a complete embedded hub with in-process simulators: customs
// fails each message's first attempt (a retry), borderguard its first
// three (dead-lettered after two attempts, so operators must act), guangxi
// never answers, and the vehicle registry NACKs expired inspection
// certificates.
func start(t *testing.T) *harness {
	t.Helper()
	return startWith(t, func(c *sim.Config) {
		switch c.Agency {
		case "customs":
			c.FailFirst = 1
		case "borderguard":
			c.FailFirst = 3
		case "guangxi":
			c.Mode = sim.ModeSilent
		}
	})
}

// startWith runs the hub of start with the simulators set up by configure.
func startWith(t *testing.T, configure func(*sim.Config)) *harness {
	t.Helper()
	cfg := apptest.Config(t, repoRoot)
	cfg.Delivery.BaseBackoff = 10 * time.Millisecond
	cfg.Delivery.MaxBackoff = 50 * time.Millisecond
	cfg.Delivery.MaxAttempts = 2
	// One HTTP call per attempt (0 would mean the client's default of 3),
	// so the simulators' FailFirst counts the hub's attempts.
	cfg.Delivery.InCallRetries = -1
	// Borderguard fails on purpose so that messages dead-letter for the
	// operators to act on; its delivery circuit would hold them back
	// instead, as it should in a real outage.
	cfg.Delivery.BreakerFailures = 1000
	// One attempt in flight per agency: a held customs delivery then keeps
	// the next customs message unclaimed, so that cancelling it withdraws
	// it (see the held trucks below).
	cfg.Delivery.Workers = 1
	log := apptest.Log()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{Log: log, Now: testClock(), ConfigureSimulator: configure})
	if err != nil {
		cancel()
		t.Fatalf("assemble hub: %v", err)
	}
	h := &harness{t: t, app: a, url: a.URL(), settled: make(chan struct{}, 1)}
	a.Dispatcher.Hooks = &settledHooks{Hooks: a.Dispatcher.Hooks, settled: h.settled}
	h.sender = &holdingSender{Sender: a.Dispatcher.Sender}
	a.Dispatcher.Sender = h.sender
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub run: %v", err)
		}
	})
	// Registered last so it runs first: a held delivery would block shutdown.
	t.Cleanup(h.sender.releaseAll)
	return h
}

func (h *harness) do(method, path, token string, body []byte) []byte {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	if resp.StatusCode/100 != 2 {
		h.t.Fatalf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, data)
	}
	return data
}

func (h *harness) messages(state message.State) []store.Message {
	h.t.Helper()
	var out []store.Message
	err := h.app.Store.WithTx(context.Background(), func(tx store.Tx) error {
		var err error
		out, err = tx.ListMessages(context.Background(), store.MessageFilter{State: state})
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// quiesce waits until no message is pending: every delivery has settled as
// sent, acked, nacked or dead. Each settle signals, and only a settle can
// take the last pending message out of pending, so checking after each
// signal cannot miss the moment.
func (h *harness) quiesce() {
	h.t.Helper()
	guard := time.After(60 * time.Second) // against hanging, not for synchronisation
	for len(h.messages(message.Pending)) > 0 {
		select {
		case <-h.settled:
		case <-guard:
			h.t.Fatalf("outbox still has pending messages after 60s: %+v", h.messages(message.Pending))
		}
	}
}

// declaration is one trader's declaration as a JSON object the workload
// edits; plate numbers keep trucks apart. Every other truck declares its
// goods as goods items (several consignments, reefers, a carrier), the
// others in the single-item form of earlier declarations, so replay covers
// both.
func declaration(t *testing.T, n int, expiredInspection bool) map[string]any {
	t.Helper()
	sample := "huu-nghi-export.json"
	if n%2 == 1 {
		sample = "export.json"
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot, "conformance-tests/declarations", sample))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	veh := m["vehicle"].(map[string]any)
	veh["plateVN"] = fmt.Sprintf("12C-%05d", 20000+n)
	veh["plateCN"] = fmt.Sprintf("桂A%05d", 20000+n)
	if expiredInspection {
		veh["inspectionCertificate"].(map[string]any)["expiresOn"] = "2026-10-31"
	}
	return m
}

func encode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type truck struct {
	id   string
	body map[string]any
}

func (h *harness) submit(tr *truck) {
	var v views.DeclarationView
	if err := json.Unmarshal(h.do("POST", "/v1/declarations", traderToken, encode(h.t, tr.body)), &v); err != nil {
		h.t.Fatal(err)
	}
	tr.id = v.ID
}

// amend changes one thing about the truck, chosen by rng: a different
// agency's content each time, so amendments supersede different messages.
func (h *harness) amend(tr *truck, rng *rand.Rand) {
	veh := tr.body["vehicle"].(map[string]any)
	switch rng.IntN(3) {
	case 0: // renewed inspection certificate: the registry's content
		veh["inspectionCertificate"].(map[string]any)["expiresOn"] = "2027-09-30"
	case 1: // more packages: customs and the Chinese side
		c := tr.body["consignments"].([]any)[0].(map[string]any)
		if items, ok := c["goodsItems"].([]any); ok {
			c = items[0].(map[string]any)
		}
		c["packages"] = 1200 + rng.IntN(100) + 1
	case 2: // another driver's border pass: the border guard
		d := tr.body["drivers"].([]any)[0].(map[string]any)
		d["borderPass"].(map[string]any)["number"] = fmt.Sprintf("GT-LS-%04d", rng.IntN(10000))
	}
	h.do("PUT", "/v1/declarations/"+tr.id, traderToken, encode(h.t, tr.body))
}

// cancel retries, as the API asks a client to, a cancellation that met a
// message being claimed for delivery meanwhile (409).
func (h *harness) cancel(tr *truck) {
	h.t.Helper()
	for range 100 {
		req, err := http.NewRequest("POST", h.url+"/v1/declarations/"+tr.id+"/cancel", strings.NewReader(`{"reason":"trip called off"}`))
		if err != nil {
			h.t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+traderToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			h.t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
			return
		case resp.StatusCode == http.StatusConflict && strings.Contains(string(data), "retry the cancellation"):
			time.Sleep(20 * time.Millisecond)
		default:
			h.t.Fatalf("cancel %s: HTTP %d: %s", tr.id, resp.StatusCode, data)
		}
	}
	h.t.Fatalf("cancel %s: still conflicting after 100 tries", tr.id)
}

// operate redrives or cancels dead-lettered messages; the first dead
// message is always redriven and the second always cancelled, so both paths
// run whatever the seed.
func (h *harness) operate(rng *rand.Rand) {
	for i, m := range h.messages(message.Dead) {
		switch {
		case i == 0 || (i > 1 && rng.IntN(2) == 0):
			h.do("POST", "/v1/admin/outbox/"+m.ID+"/redrive", operatorToken, nil)
		case i == 1 || rng.IntN(2) == 0:
			h.do("POST", "/v1/admin/outbox/"+m.ID+"/cancel", operatorToken, nil)
		}
	}
}

// TestReplayMatchesLiveHub runs a randomized workload through a real hub,
// exports and verifies its audit log, and checks that replaying the archive
// gives exactly the hub's live state, also once written into a fresh store,
// and that every signed outbound message rebuilds byte for byte.
func TestReplayMatchesLiveHub(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub with four agency simulators")
	}
	h := start(t)
	rng := rand.New(rand.NewPCG(workloadSeed, 0))
	ctx := context.Background()

	trucks := make([]*truck, 14)
	for i := range trucks {
		// The first truck's inspection certificate is always expired, so a
		// NACK happens whatever the seed.
		trucks[i] = &truck{body: declaration(t, i, i == 0 || rng.IntN(4) == 0)}
		h.submit(trucks[i])
	}
	h.quiesce()

	// Operators act on dead letters while traders amend and cancel, in a
	// random order and without waiting in between.
	h.operate(rng)
	for _, i := range rng.Perm(len(trucks)) {
		switch r := rng.IntN(10); {
		case i == 0 || r < 4:
			h.amend(trucks[i], rng)
		case i == 1 || r < 6:
			h.cancel(trucks[i])
		}
	}
	h.quiesce()
	h.operate(rng)
	h.quiesce()

	// Cancelled before any attempt: held customs deliveries make sure these
	// two trucks' customs messages are withdrawn, not sent a cancel.
	h.sender.hold("customs")
	held := []*truck{{body: declaration(t, 100, false)}, {body: declaration(t, 101, false)}}
	for _, tr := range held {
		h.submit(tr)
		h.cancel(tr)
	}
	h.sender.releaseAll()
	h.quiesce()

	a, err := audit.ReadArchive(bytes.NewReader(h.export()))
	if err != nil {
		t.Fatal(err)
	}
	verifyXML := archiveVerifier(a)
	rep := a.Verify(verifyXML)
	if !rep.OK() || rep.SignaturesChecked == 0 {
		t.Fatalf("archive does not verify: %+v", rep.Problems)
	}
	covered(t, a.Entries)

	reg, err := mapping.Load(filepath.Join(repoRoot, "mappings"))
	if err != nil {
		t.Fatal(err)
	}
	acks := &ack.Reader{Verifier: archiveSignVerifier(a), Mappings: reg}
	replayed, err := replay.FromEntries(a.Entries, acks.Read)
	if err != nil {
		t.Fatal(err)
	}
	live, err := replay.FromStore(ctx, h.app.Store)
	if err != nil {
		t.Fatal(err)
	}
	if len(live.Messages) == 0 || len(live.Declarations) != len(trucks)+len(held) {
		t.Fatalf("live state has %d declarations and %d messages", len(live.Declarations), len(live.Messages))
	}
	for _, d := range replay.Diff(replayed, live) {
		t.Errorf("replayed vs live: %s", d)
	}

	// Written into a fresh store of either kind and read back, the replay
	// is still the live state.
	restoreIntoBoth(t, a.Entries, acks.Read, live, "live")

	// Streamed in two runs, the second resuming where the first stopped
	// (as a replay of a chain of archives does), rebuilding as it goes.
	t.Run("restore streamed in two runs", func(t *testing.T) {
		st := storetest.OpenSQLite(t)
		half := len(a.Entries) / 2
		ropts := replay.RestoreOptions{Batch: 7, Rebuild: &replay.RebuildOptions{
			Registry: func(audit.MessageBuilt) (*mapping.Registry, error) { return reg, nil }, Verify: verifyXML,
		}}
		pos, err := replay.RestoreStream(ctx, st, replay.SliceSource(a.Entries[:half]), acks.Read, ropts)
		if err != nil {
			t.Fatal(err)
		}
		first := pos.Rebuilds
		ropts.From = pos
		if _, err := replay.RestoreStream(ctx, st, replay.SliceSource(a.Entries[half+1:]), acks.Read, ropts); err == nil {
			t.Fatal("a resumed replay skipping an entry was accepted")
		}
		pos2, err := replay.RestoreStream(ctx, st, replay.SliceSource(a.Entries[half:]), acks.Read, ropts)
		if err != nil {
			t.Fatal(err)
		}
		if pos2.Entries != int64(len(a.Entries)) || pos2.Seq != a.Entries[len(a.Entries)-1].Seq {
			t.Fatalf("position %+v", pos2)
		}
		got, err := replay.FromStore(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range replay.Diff(got, live) {
			t.Errorf("streamed restore vs live: %s", d)
		}
		outbound := 0
		for _, e := range a.Entries {
			if e.Kind == audit.KindMessageOutbound {
				outbound++
			}
		}
		if ok := first.OK + pos2.Rebuilds.OK; ok != outbound || first.Mismatched+pos2.Rebuilds.Mismatched+first.Skipped+pos2.Rebuilds.Skipped != 0 {
			t.Fatalf("rebuilt while replaying: %d of %d ok: %+v %+v", ok, outbound, first, pos2.Rebuilds)
		}
	})

	rb, err := replay.Rebuild(ctx, a.Entries, reg, verifyXML)
	if err != nil {
		t.Fatal(err)
	}
	outbound := 0
	for _, e := range a.Entries {
		if e.Kind == audit.KindMessageOutbound {
			outbound++
		}
	}
	if rb.OK != outbound || len(rb.Messages) != outbound {
		for _, m := range rb.Messages {
			if m.Outcome != replay.RebuildOK {
				t.Errorf("rebuild: %s", m)
			}
		}
		t.Fatalf("rebuild: %d of %d messages ok", rb.OK, outbound)
	}
}

// export writes the hub's whole audit log as an archive with the hub's
// trust store, as `gatehubctl audit export` does.
func (h *harness) export() []byte {
	h.t.Helper()
	certs := map[string][]*x509.Certificate{}
	for _, p := range h.app.Trust.Participants() {
		certs[p] = h.app.Trust.All(p)
	}
	var buf bytes.Buffer
	if _, err := audit.Export(context.Background(), h.app.Store, store.AuditFilter{}, certs, h.app.Tx.Clock(), &buf); err != nil {
		h.t.Fatal(err)
	}
	return buf.Bytes()
}

// restoreIntoBoth replays entries into a fresh store of either kind and
// checks that what it reads back is want.
func restoreIntoBoth(t *testing.T, entries []store.AuditEntry, acks replay.AckReader, want *replay.State, what string) {
	t.Helper()
	for _, fresh := range []struct {
		name string
		open func(testing.TB) store.Store
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}} {
		t.Run("restore into "+fresh.name, func(t *testing.T) {
			restored, err := replay.Restore(context.Background(), fresh.open(t), entries, acks)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range replay.Diff(restored, want) {
				t.Errorf("restored store vs %s: %s", what, d)
			}
		})
	}
}

// covered fails unless the workload reached every path the replay must
// handle; a change in the hub or the seed that skips one would otherwise
// let this test pass without proving much.
func covered(t *testing.T, entries []store.AuditEntry) {
	t.Helper()
	seen := map[string]int{}
	for _, e := range entries {
		seen[e.Kind]++
		if e.Kind == audit.KindDeliveryAttempt {
			var p struct{ State string }
			if json.Unmarshal(e.Payload, &p) == nil {
				seen["attempt->"+p.State]++
			}
		}
	}
	for _, k := range []string{
		audit.KindDeclarationAccepted, audit.KindDeclarationAmended, audit.KindDeclarationCancelled,
		audit.KindMessageSuperseded, audit.KindMessageWithdrawn, audit.KindAckInbound, audit.KindDecision,
		audit.KindOperatorRedrive, audit.KindOperatorCancel,
		"attempt->pending", "attempt->sent", "attempt->dead",
	} {
		if seen[k] == 0 {
			t.Errorf("workload never produced %s", k)
		}
	}
	t.Logf("audit entries by kind: %v", seen)
}

func archiveSignVerifier(a *audit.Archive) *sign.Verifier {
	known, err := agencies.LoadDir(filepath.Join(repoRoot, "deploy/agencies"))
	if err != nil {
		panic(err)
	}
	return app.ArchiveVerifier(known, a.Certs)
}

// archiveVerifier checks XML signatures with the archive's certificates.
func archiveVerifier(a *audit.Archive) audit.XMLVerifier {
	v := archiveSignVerifier(a)
	return func(participant string, xml []byte, at time.Time) error {
		_, err := v.Verify(participant, xml, at)
		return err
	}
}
