package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/clearance"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/app/apptest"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/schema"
	"github.com/gatehub/gatehub/internal/sign"
	sim "github.com/gatehub/gatehub/internal/simulator"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/postgres"
	"github.com/gatehub/gatehub/internal/store/sqlite"
	"github.com/gatehub/gatehub/internal/store/storetest"
	"github.com/gatehub/gatehub/internal/views"
)

// The crash test kills the real gatehubd process with SIGKILL at random
// points of a delivery run, restarts it on the same store, and checks that
// the outbox neither loses nor corrupts anything: every message reaches its
// agency under its one id with its one body, every ACK is taken once, every
// truck gets its final decision and the audit chain still verifies.
//
// The agency simulators run in the test process, behind a tap that counts
// deliveries: kills are triggered by deliveries, not by timers, so each kill
// lands while the hub is mid-delivery. The seed (GATEHUB_CRASH_SEED) picks
// the kill points and the simulators' random failures, so a failing run can
// be replayed.

const (
	crashDeclarations = 20
	crashKills        = 5
	// Each kill fires after 4..11 further deliveries: at most 55 in all,
	// fewer than the 80 first deliveries the run must make anyway, so every
	// armed kill is reached without any timing assumption.
	crashMinGap, crashMaxGap = 4, 11
)

func TestCrashRecoverySQLite(t *testing.T) {
	runCrash(t, "")
}

func TestCrashRecoveryPostgres(t *testing.T) {
	runCrash(t, storetest.PostgresDSN(t))
}

// gatehubd builds the real server binary into a temporary directory; the
// build cache makes every build after the first a link.
func gatehubd(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and crashes the gatehubd binary; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build gatehubd: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "gatehubd")
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/gatehubd")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/gatehubd: %v\n%s", err, out)
	}
	return bin
}

func crashSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("GATEHUB_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("GATEHUB_CRASH_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with GATEHUB_CRASH_SEED=%d)", seed, seed)
	return seed
}

func runCrash(t *testing.T, dsn string) {
	bin := gatehubd(t)
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0xc2a5))
	dir := t.TempDir()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	keysDir, trustDir, dataDir := filepath.Join(dir, "keys"), filepath.Join(dir, "trust"), filepath.Join(dir, "data")

	hubID, hubSM2 := processHubKeys(t, keysDir)
	// A fixed port keeps the async callback URL valid across restarts.
	addr := reserveAddr(t)

	// A mix of everything the outbox must survive: slow, failing first,
	// failing at random, synchronous and asynchronous answers.
	sims := startTappedSims(t, root, []*pki.Identity{hubID, hubSM2}, "http://"+addr, func(c *sim.Config) {
		c.Seed = int64(rng.Uint64() >> 1)
		switch c.Agency {
		case "customs":
			c.Mode, c.Delay, c.FailRate = sim.ModeSync, 150*time.Millisecond, 0.2
		case "borderguard":
			c.Mode, c.FailFirst = sim.ModeAsync, 2
		case "vehicleregistry":
			c.Mode, c.FailFirst, c.FailRate = sim.ModeSync, 1, 0.15
		case "guangxi":
			c.Mode, c.Delay, c.FailRate = sim.ModeAsync, 100*time.Millisecond, 0.2
		}
	})
	hubTrust := pki.NewTrustStore()
	sims.trustAgencies(hubTrust)
	if err := hubTrust.Save(trustDir); err != nil {
		t.Fatal(err)
	}

	env := append(processEnv(root, addr, dataDir, keysDir, trustDir, sims),
		"GATEHUB_DELIVERY_MAX_ATTEMPTS=1000",
		// These agencies fail on purpose (every border-guard message
		// twice, others at random): the circuit breaker would hold an
		// agency back for up to 32 s, beyond the settle bound below. The
		// breaker has tests of its own (internal/outbox, delivery_test).
		"GATEHUB_DELIVERY_BREAKER_FAILURES=1000",
		// Checkpoints are written between crashes too.
		"GATEHUB_CHECKPOINT_EVERY=250ms",
	)
	if dsn != "" {
		env = append(env, "GATEHUB_DATABASE_URL="+dsn)
	}
	proc := &hubProcess{t: t, bin: bin, env: env, logDir: dir, url: "http://" + addr}
	t.Cleanup(proc.cleanup)
	proc.start()

	// Declarations go in while the hub is being killed: a POST cut off by a
	// kill is repeated after the restart under the same Idempotency-Key.
	bodies := make([][]byte, crashDeclarations)
	rejected := map[int]bool{}
	for i := range bodies {
		nack := i%7 == 3
		rejected[i] = nack
		bodies[i] = crashDeclaration(t, i, nack)
	}
	type submitted struct {
		ids []string
		err error
	}
	subDone := make(chan submitted, 1)
	go func() {
		var s submitted
		for i, body := range bodies {
			id, err := proc.submit(body, fmt.Sprintf("crash-%d-%d", seed, i))
			if err != nil {
				s.err = fmt.Errorf("declaration %d: %w", i, err)
				break
			}
			s.ids = append(s.ids, id)
		}
		subDone <- s
	}()

	for k := range crashKills {
		gap := crashMinGap + rng.IntN(crashMaxGap-crashMinGap+1)
		fired := sims.tap.after(gap)
		select {
		case <-fired:
		case <-time.After(60 * time.Second): // a guard against hanging, not a synchronisation
			t.Fatalf("kill %d: %d more deliveries never happened (%d so far)", k+1, gap, sims.tap.count())
		}
		proc.kill()
		t.Logf("kill %d after delivery %d", k+1, sims.tap.count())
		proc.start()
	}
	var sub submitted
	select {
	case sub = <-subDone:
	case <-time.After(60 * time.Second):
		t.Fatal("declarations were not all accepted within 60s")
	}
	if sub.err != nil {
		t.Fatal(sub.err)
	}
	if len(sub.ids) != crashDeclarations || len(distinctStrings(sub.ids)) != crashDeclarations {
		t.Fatalf("accepted ids %v: want %d distinct", sub.ids, crashDeclarations)
	}

	// After the last restart, every truck must reach its final decision.
	h := &harness{t: t, url: proc.url}
	views := waitFinal(h, h.events("HUUNGHI", "EXP-1"), sub.ids, 45*time.Second)

	// The cleared trucks cross the gate while the hub is killed, in the
	// middle of readings too; devices resend what got no answer.
	crossed := crashCrossings(t, proc, rng, views, sub.ids)

	// Stop gracefully so the store is closed before we read it directly.
	proc.stop()
	checkCrashOutcome(t, sims, views, sub.ids, rejected)
	checkAuditLog(t, dsn, dataDir, views)
	checkCrossings(t, dsn, dataDir, crossed)
	t.Logf("%d kills; simulators saw %d deliveries for %d messages", crashKills, sims.tap.count(), 4*crashDeclarations)
}

// processHubKeys creates the hub's keys (RSA, and SM2 for the Guangxi
// single window) before the simulators start, so they can trust them; a
// gatehubd process loads them instead of creating its own.
func processHubKeys(t *testing.T, keysDir string) (rsa, sm2 *pki.Identity) {
	t.Helper()
	rsa, _, err := pki.LoadOrCreate(keysDir, hub.Participant, pki.RSA2048, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sm2, _, err = pki.LoadOrCreateAs(keysDir, hub.Participant+".sm2", hub.Participant, pki.SM2, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return rsa, sm2
}

// processEnv configures a gatehubd process of the repository at root
// talking to sims: fast polling and backoff, leases that expire soon after
// a kill, every HTTP attempt an outbox attempt.
func processEnv(root, addr, dataDir, keysDir, trustDir string, sims *tappedSims) []string {
	env := []string{
		"GATEHUB_ADDR=" + addr,
		"GATEHUB_DATA_DIR=" + dataDir,
		"GATEHUB_KEYS_DIR=" + keysDir,
		"GATEHUB_TRUST_DIR=" + trustDir,
		"GATEHUB_SIMULATORS=false",
		"GATEHUB_TOKENS_FILE=" + filepath.Join(root, "deploy/tokens.dev.yaml"),
		"GATEHUB_GATES_DIR=" + filepath.Join(root, "deploy/gates"),
		"GATEHUB_AGENCIES_DIR=" + filepath.Join(root, "deploy/agencies"),
		"GATEHUB_MAPPINGS_DIR=" + filepath.Join(root, "mappings"),
		"GATEHUB_SCHEMAS_DIR=" + filepath.Join(root, "schemas"),
		"GATEHUB_DELIVERY_BASE_BACKOFF=20ms",
		"GATEHUB_DELIVERY_MAX_BACKOFF=200ms",
		"GATEHUB_DELIVERY_POLL=50ms",
		// Leases of a killed instance expire quickly; still longer than one
		// attempt, as configuration validation demands.
		"GATEHUB_DELIVERY_TIMEOUT=2s",
		"GATEHUB_DELIVERY_LEASE=3s",
		// Every HTTP attempt is an outbox attempt, so injected failures go
		// through the durable retry path that the crashes interrupt.
		"GATEHUB_DELIVERY_IN_CALL_RETRIES=-1",
		"GATEHUB_LOG_FORMAT=json",
	}
	for agency, url := range sims.endpoints() {
		env = append(env, "GATEHUB_AGENCY_"+strings.ToUpper(agency)+"_URL="+url)
	}
	return env
}

// waitFinal waits, driven by the lane's decision events (a stream that was
// already live when it is called), until every declaration is CLEARED or
// REJECTED with no agency still awaited, and returns their views.
func waitFinal(h *harness, events <-chan decisions.DecisionEvent, ids []string, guard time.Duration) map[string]views.DeclarationView {
	h.t.Helper()
	views := map[string]views.DeclarationView{}
	open := map[string]bool{}
	// The stream is live: anything decided from now on is an event, and
	// anything decided before is in the stored decision.
	for _, id := range ids {
		v := h.view(id)
		views[id] = v
		if !isFinalDecision(v.Decision.Status, len(v.Decision.Awaiting)) {
			open[id] = true
		}
	}
	deadline := time.After(guard) // a guard against hanging, not a synchronisation
	for len(open) > 0 {
		select {
		case ev, ok := <-events:
			if !ok {
				h.t.Fatal("decision stream closed")
			}
			if open[ev.DeclarationID] && isFinalDecision(ev.Decision.Status, len(ev.Decision.Awaiting)) {
				delete(open, ev.DeclarationID)
				views[ev.DeclarationID] = h.view(ev.DeclarationID)
			}
		case <-deadline:
			var stuck []string
			for id := range open {
				v := h.view(id)
				stuck = append(stuck, fmt.Sprintf("%s %s awaiting %v: %s", id, v.Decision.Status, v.Decision.Awaiting, messageStates(v)))
			}
			slices.Sort(stuck)
			h.t.Fatalf("%d declarations without a final decision after %s:\n%s", len(open), guard, strings.Join(stuck, "\n"))
		}
	}
	return views
}

func isFinalDecision(status clearance.Status, awaiting int) bool {
	return (status == "CLEARED" || status == "REJECTED") && awaiting == 0
}

func messageStates(v views.DeclarationView) string {
	var parts []string
	for _, m := range v.Messages {
		parts = append(parts, fmt.Sprintf("%s=%s(attempts %d, %s)", m.Agency, m.State, m.Attempts, m.LastError))
	}
	return strings.Join(parts, " ")
}

// checkCrashOutcome compares what the hub stored with what the agencies saw.
func checkCrashOutcome(t *testing.T, sims *tappedSims, views map[string]views.DeclarationView, ids []string, rejected map[int]bool) {
	t.Helper()
	known := map[string]string{} // message id → agency
	for i, id := range ids {
		v := views[id]
		want := "CLEARED"
		if rejected[i] {
			want = "REJECTED"
		}
		if string(v.Decision.Status) != want {
			t.Errorf("%s: decision %s, want %s (%+v)", id, v.Decision.Status, want, v.Decision.Reasons)
		}
		if len(v.Messages) != 4 {
			t.Errorf("%s: %d messages, want 4", id, len(v.Messages))
		}
		for _, m := range v.Messages {
			if prev, dup := known[m.ID]; dup {
				t.Errorf("message id %s used twice (%s and %s)", m.ID, prev, m.Agency)
			}
			known[m.ID] = m.Agency
			wantState, wantAck := "acked", "ACK"
			if rejected[i] && m.Agency == "vehicleregistry" {
				wantState, wantAck = "nacked", "NACK"
			}
			if string(m.State) != wantState || m.Ack == nil || m.Ack.Status != wantAck {
				t.Errorf("%s %s: state %s ack %+v, want %s/%s", id, m.Agency, m.State, m.Ack, wantState, wantAck)
				continue
			}
			st, seen := sims.server(m.Agency).Stats()[m.ID]
			switch {
			case !seen || st.Attempts < 1:
				t.Errorf("%s %s: message %s never reached the agency", id, m.Agency, m.ID)
			case st.Status != wantAck || st.AckID != m.Ack.AckID:
				t.Errorf("%s %s: agency answered %s %s, hub recorded %s %s", id, m.Agency, st.Status, st.AckID, m.Ack.Status, m.Ack.AckID)
			}
		}
	}
	// The agencies saw no message the hub does not know (a retry never mints
	// a new id), and refused nothing: a different body under a known id
	// would be a 409 MESSAGE-ID-REUSED here.
	for _, agency := range sims.agencies() {
		for id, st := range sims.server(agency).Stats() {
			if known[id] != agency {
				t.Errorf("%s saw message %s that the hub does not list for it", agency, id)
			}
			if st.Refused != "" {
				t.Errorf("%s refused message %s: %s", agency, id, st.Refused)
			}
		}
	}
	if errs := sims.callbackFailures(); len(errs) > 0 {
		t.Errorf("async answers the hub never took:\n%s", strings.Join(errs, "\n"))
	}
}

// checkAuditLog verifies the hash chain straight from the store and that
// each message's answer was logged exactly once, however often it arrived.
func checkAuditLog(t *testing.T, dsn, dataDir string, views map[string]views.DeclarationView) {
	t.Helper()
	ctx := context.Background()
	var st store.Store
	var err error
	if dsn != "" {
		st, err = postgres.Open(ctx, dsn)
	} else {
		st, err = sqlite.Open(ctx, filepath.Join(dataDir, "gatehub.db"))
	}
	if err != nil {
		t.Fatalf("open the hub's store: %v", err)
	}
	defer st.Close()
	var entries []store.AuditEntry
	var checkpoints []store.AuditCheckpoint
	err = st.WithTx(ctx, func(tx store.Tx) error {
		var err error
		if entries, err = tx.ListAudit(ctx, store.AuditFilter{}); err != nil {
			return err
		}
		checkpoints, err = tx.ListCheckpoints(ctx, 0, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.VerifyChain(nil, 1, entries); err != nil {
		t.Fatalf("audit chain: %v", err)
	}
	byHash := map[int64][]byte{}
	for _, e := range entries {
		byHash[e.Seq] = e.Hash
	}
	for _, cp := range checkpoints {
		if !bytes.Equal(byHash[cp.Seq], cp.Hash) {
			t.Errorf("checkpoint at seq %d does not match the chain", cp.Seq)
		}
	}
	acks := map[string]int{}
	for _, e := range entries {
		switch e.Kind {
		case audit.KindAckInbound:
			acks[e.MessageID]++
		case audit.KindAckRefused:
			t.Errorf("refused ACK logged for message %s: %s", e.MessageID, e.Payload)
		}
	}
	for _, v := range views {
		for _, m := range v.Messages {
			if acks[m.ID] != 1 {
				t.Errorf("message %s: %d ack.inbound entries, want 1", m.ID, acks[m.ID])
			}
		}
	}
	t.Logf("audit chain of %d entries and %d checkpoints verifies", len(entries), len(checkpoints))
}

// crashDeclaration is the sample truck number i, with dates relative to
// today so the test does not age; nack makes the vehicle registry refuse it.
func crashDeclaration(t *testing.T, i int, nack bool) []byte {
	now := time.Now().UTC()
	day := func(d time.Duration) string { return now.Add(d).Format("2006-01-02") }
	year := 365 * 24 * time.Hour
	return sample(t, func(m map[string]any) {
		m["plannedCrossing"] = now.Add(72 * time.Hour).Format(time.RFC3339)
		veh := m["vehicle"].(map[string]any)
		veh["plateVN"] = fmt.Sprintf("12C-%05d", 20000+i)
		veh["plateCN"] = fmt.Sprintf("桂A%05d", 20000+i) // one vehicle, one truck: plates are not shared
		veh["crossBorderPermit"].(map[string]any)["expiresOn"] = day(year)
		expires := day(year)
		if nack {
			expires = day(-30 * 24 * time.Hour)
		}
		veh["inspectionCertificate"].(map[string]any)["expiresOn"] = expires
		for _, d := range m["drivers"].([]any) {
			d.(map[string]any)["borderPass"].(map[string]any)["expiresOn"] = day(year)
		}
	})
}

func distinctStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

func reserveAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// hubProcess runs gatehubd generations on one store and one address.
type hubProcess struct {
	t      *testing.T
	bin    string
	env    []string
	logDir string
	url    string

	mu     sync.Mutex
	gen    int
	cmd    *exec.Cmd
	exited chan struct{}
	// up is closed when the current generation serves; kill replaces it
	// before killing, so a request cut off by the kill waits for the next.
	up chan struct{}
}

// start runs the next generation and returns once it logged that it
// serves.
func (p *hubProcess) start() {
	p.t.Helper()
	p.mu.Lock()
	p.gen++
	gen := p.gen
	if p.up == nil {
		p.up = make(chan struct{})
	}
	up := p.up
	p.mu.Unlock()

	logPath := filepath.Join(p.logDir, fmt.Sprintf("gatehubd-%d.log", gen))
	f, err := os.Create(logPath)
	if err != nil {
		p.t.Fatal(err)
	}
	ready := make(chan struct{})
	cmd := exec.Command(p.bin)
	cmd.Dir = p.logDir
	cmd.Env = append(cleanEnv(), p.env...)
	cmd.Stderr = &readyWriter{w: f, marker: []byte(`"msg":"gatehub serving"`), ready: ready}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start gatehubd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = f.Close()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	select {
	case <-ready:
	case <-exited:
		p.t.Fatalf("gatehubd generation %d exited before serving:\n%s", gen, logTail(logPath))
	case <-time.After(30 * time.Second): // a guard against hanging, not a synchronisation
		p.t.Fatalf("gatehubd generation %d did not serve within 30s:\n%s", gen, logTail(logPath))
	}
	close(up)
}

// kill sends SIGKILL: no deferred function, no graceful shutdown, no
// flushing — the closest a test gets to pulling the plug.
func (p *hubProcess) kill() {
	p.t.Helper()
	p.mu.Lock()
	p.up = make(chan struct{})
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("kill gatehubd: %v", err)
	}
	<-exited
}

// stop shuts the last generation down gracefully.
func (p *hubProcess) stop() {
	p.t.Helper()
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("stop gatehubd: %v", err)
	}
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		// Half the default shutdown grace: an open lane stream must not hold
		// the shutdown for the whole grace period.
		_ = cmd.Process.Kill()
		p.t.Fatal("gatehubd did not stop within 15s of SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Errorf("gatehubd exited with %d after SIGTERM", code)
	}
}

func (p *hubProcess) cleanup() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		<-exited
	}
	if p.t.Failed() {
		for g := 1; g <= p.gen; g++ {
			p.t.Logf("gatehubd generation %d, last log lines:\n%s", g, logTail(filepath.Join(p.logDir, fmt.Sprintf("gatehubd-%d.log", g))))
		}
	}
}

// submit posts one declaration under an Idempotency-Key. A POST cut off by
// a kill is repeated once the next generation serves: whether or not the
// first one committed, the key yields exactly one declaration.
func (p *hubProcess) submit(body []byte, key string) (string, error) {
	var last error
	for range 20 {
		p.mu.Lock()
		up := p.up
		p.mu.Unlock()
		<-up
		id, err := p.postDeclaration(body, key)
		if err == nil {
			return id, nil
		}
		var te transportError
		if !errors.As(err, &te) {
			return "", err
		}
		last = err
		p.mu.Lock()
		// Only a kill may cut a request off; wait for the restart it implies.
		again := p.up
		p.mu.Unlock()
		if again == up {
			return "", fmt.Errorf("request failed while the hub was up: %w", err)
		}
	}
	return "", fmt.Errorf("still failing after 20 restarts: %w", last)
}

type transportError struct{ error }

func (p *hubProcess) postDeclaration(body []byte, key string) (string, error) {
	req, err := http.NewRequest("POST", p.url+"/v1/declarations", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+traderToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", transportError{err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", transportError{err}
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, data)
	}
	var v views.DeclarationView
	if err := json.Unmarshal(data, &v); err != nil {
		return "", err
	}
	return v.ID, nil
}

// cleanEnv is the test's environment without GATEHUB_* settings, so a
// developer's shell cannot change what the test runs.
func cleanEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GATEHUB_") })
}

// readyWriter copies the process's log and closes ready at the first line
// containing marker.
type readyWriter struct {
	w      io.Writer
	marker []byte
	ready  chan struct{}
	buf    []byte
	done   bool
}

func (r *readyWriter) Write(b []byte) (int, error) {
	if !r.done {
		r.buf = append(r.buf, b...)
		if bytes.Contains(r.buf, r.marker) {
			r.done, r.buf = true, nil
			close(r.ready)
		} else if i := bytes.LastIndexByte(r.buf, '\n'); i >= 0 {
			r.buf = r.buf[i+1:]
		}
	}
	return r.w.Write(b)
}

func logTail(path string) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

// tappedSims are the four agency simulators behind one test server whose
// handler counts every delivery before the simulator sees it.
type tappedSims struct {
	servers map[string]*sim.Server
	ids     map[string]*pki.Identity
	srv     *httptest.Server
	tap     *deliveryTap

	mu        sync.Mutex
	cbFailure map[string]string
}

func startTappedSims(t *testing.T, root string, hubIDs []*pki.Identity, callbackURL string, configure func(*sim.Config)) *tappedSims {
	t.Helper()
	reg, err := mapping.Load(filepath.Join(root, "mappings"))
	if err != nil {
		t.Fatal(err)
	}
	val, err := schema.Load(filepath.Join(root, "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(val.Close)
	trust := pki.NewTrustStore()
	for _, id := range hubIDs {
		trust.Add(sim.HubParticipant, id.Cert, time.Time{}, time.Time{})
	}
	s := &tappedSims{servers: map[string]*sim.Server{}, ids: map[string]*pki.Identity{}, tap: &deliveryTap{}, cbFailure: map[string]string{}}
	mux := http.NewServeMux()
	now := time.Now()
	for _, d := range apptest.SimDefinitions(t, repoRoot) {
		name := d.Spec.Name
		profile, alg := d.Spec.SignatureProfile(), pki.ECDSAP256
		if profile.Name == sign.SM2Profile.Name {
			alg = pki.SM2
		}
		id, err := pki.Generate(name, alg, now.Add(-time.Hour), now.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		signer, err := sign.NewProfileSigner(id, profile)
		if err != nil {
			t.Fatal(err)
		}
		verifier := sign.NewVerifier(trust, sign.WithProfile(sim.HubParticipant, profile))
		cfg := sim.Config{
			Agency: name, Spec: d.Spec, Rules: d.Rules, Envelope: d.Envelope, CallbackURL: callbackURL,
			// A real agency retries its callback for a while; these retries
			// outlast a hub restart (50ms doubling: ~25s over 10 attempts).
			CallbackAttempts: 10, CallbackBackoff: 50 * time.Millisecond,
			OnCallback: func(msgID string, err error) { s.callbackDone(name, msgID, err) },
		}
		configure(&cfg)
		srv, err := sim.New(cfg, reg, val, signer, verifier)
		if err != nil {
			t.Fatal(err)
		}
		s.servers[name], s.ids[name] = srv, id
		mux.Handle("/"+name+"/", http.StripPrefix("/"+name, s.tap.wrap(srv.Handler())))
	}
	s.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		s.srv.Close()
		for _, srv := range s.servers {
			_ = srv.Close()
		}
	})
	return s
}

func (s *tappedSims) callbackDone(agency, msgID string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.cbFailure[agency+" "+msgID] = err.Error()
	} else {
		delete(s.cbFailure, agency+" "+msgID)
	}
}

// callbackFailures lists async answers whose last callback failed.
func (s *tappedSims) callbackFailures() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k, v := range s.cbFailure {
		out = append(out, k+": "+v)
	}
	slices.Sort(out)
	return out
}

func (s *tappedSims) server(agency string) *sim.Server { return s.servers[agency] }

func (s *tappedSims) agencies() []string {
	var out []string
	for a := range s.servers {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

func (s *tappedSims) endpoints() map[string]string {
	out := map[string]string{}
	for a := range s.servers {
		out[a] = s.srv.URL + "/" + a + "/messages"
	}
	return out
}

func (s *tappedSims) trustAgencies(ts *pki.TrustStore) {
	for a, id := range s.ids {
		ts.Add(a, id.Cert, time.Time{}, time.Time{})
	}
}

// deliveryTap counts agency deliveries and fires a channel after a given
// number of further ones.
type deliveryTap struct {
	mu   sync.Mutex
	n    int
	at   int
	fire chan struct{}
}

func (d *deliveryTap) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/messages" {
			d.mu.Lock()
			d.n++
			if d.fire != nil && d.n >= d.at {
				close(d.fire)
				d.fire = nil
			}
			d.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// after returns a channel closed once gap more deliveries arrived.
func (d *deliveryTap) after(gap int) <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.at = d.n + gap
	d.fire = make(chan struct{})
	return d.fire
}

func (d *deliveryTap) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}
