package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/gatehub/gatehub/internal/testenv"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/app/apptest"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/redistest"
	"github.com/gatehub/gatehub/internal/schema"
	sim "github.com/gatehub/gatehub/internal/simulator"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/postgres"
	"github.com/gatehub/gatehub/internal/store/storetest"
	"github.com/gatehub/gatehub/internal/views"
)

// The production shape: two hub instances on one Postgres database and one
// Redis, two agencies answering in the delivery response (customs, vehicle
// registry) and two by asynchronous callback (border guard calls back to
// instance A, the Guangxi single window to B), so ACK transactions of one
// declaration race each other and the settle transactions on both
// instances.

// asyncAgencies answer by callback, each to its own instance.
var asyncAgencies = map[string]int{"borderguard": 0, "guangxi": 1}

type prodCluster struct {
	hubs   [2]*instance
	sims   *sim.Cluster
	dbName string
}

type prodSetup struct {
	dsn, redisURL, redisPrefix string
}

func startProduction(t *testing.T, su prodSetup) *prodCluster {
	t.Helper()
	now := testClock()
	shared := t.TempDir()
	keysDir, trustDir := filepath.Join(shared, "keys"), filepath.Join(shared, "trust")
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

	// The hubs' listeners first: the asynchronous agencies need their
	// callback URLs before the hubs exist.
	var lns [2]net.Listener
	for i := range lns {
		if lns[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sims, err := sim.StartAll(ctx, sim.Options{
		Definitions: apptest.SimDefinitions(t, repoRoot), Registry: maps, Validator: schemas, Trust: trust, Mode: sim.ModeSync, Now: now,
		Configure: func(c *sim.Config) {
			if i, ok := asyncAgencies[c.Agency]; ok {
				c.Mode, c.CallbackURL = sim.ModeAsync, "http://"+lns[i].Addr().String()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sims.Close() })
	sims.TrustAgencies(trust)
	if err := trust.Save(trustDir); err != nil {
		t.Fatal(err)
	}
	c := &prodCluster{sims: sims}
	for i := range c.hubs {
		cfg := baseConfig(t)
		cfg.InstanceID = []string{"hub-a", "hub-b"}[i]
		cfg.DatabaseURL = su.dsn
		cfg.RedisURL, cfg.RedisPrefix = su.redisURL, su.redisPrefix
		cfg.KeysDir, cfg.TrustDir = keysDir, trustDir
		cfg.Simulators = false
		cfg.AgencyURLs = sims.Endpoints()
		// Started one after the other: the first runs the migrations.
		c.hubs[i] = launch(t, cfg, app.Options{Now: now, Listener: lns[i]})
	}
	return c
}

// waitFor polls cond until it holds; the deadline guards against a hung
// test, it does not synchronise anything.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// laneEvent is one event of a lane stream; ID is empty for the lane's
// current state sent first on connect.
type laneEvent struct {
	ID, Type string
	Decision decisions.DecisionEvent
}

// laneWatch follows one lane stream and keeps every decision event.
type laneWatch struct {
	mu     sync.Mutex
	events []laneEvent
	closed chan struct{}
}

// watchLane opens the lane's stream on in (after lastID, if set). It
// returns nil while the hub answers 503 (its bus is down).
func watchLane(t *testing.T, in *instance, lastID string) *laneWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", in.url+"/v1/gates/HUUNGHI/lanes/EXP-1/events", nil)
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("open lane stream: %v", err)
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		resp.Body.Close()
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("lane stream: HTTP %d", resp.StatusCode)
	}
	w := &laneWatch{closed: make(chan struct{})}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	go func() {
		defer close(w.closed)
		defer resp.Body.Close()
		var ev laneEvent
		var data []byte
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Type == decisions.EventDecision && json.Unmarshal(data, &ev.Decision) == nil {
					w.mu.Lock()
					w.events = append(w.events, ev)
					w.mu.Unlock()
				}
				ev, data = laneEvent{}, nil
			case strings.HasPrefix(line, "id: "):
				ev.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.Type = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: ")...)
			}
		}
	}()
	return w
}

func (w *laneWatch) snapshot() []laneEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]laneEvent(nil), w.events...)
}

// last returns the status of the last decision event of declaration id
// ("" if none); busOnly skips the current state sent on connect.
func (w *laneWatch) last(id string, busOnly bool) string {
	status := ""
	for _, ev := range w.snapshot() {
		if ev.Decision.DeclarationID == id && (ev.ID != "" || !busOnly) {
			status = string(ev.Decision.Decision.Status)
		}
	}
	return status
}

func (w *laneWatch) lastID() string {
	id := ""
	for _, ev := range w.snapshot() {
		if ev.ID != "" {
			id = ev.ID
		}
	}
	return id
}

// storedDecision reads the decision row of the declaration's version.
func storedDecision(t *testing.T, st store.Store, id string, version int) *store.Decision {
	t.Helper()
	var d *store.Decision
	if err := st.WithTx(t.Context(), func(tx store.Tx) error {
		var err error
		d, err = tx.GetDecision(t.Context(), id, version)
		return err
	}); err != nil {
		t.Fatalf("stored decision of %s: %v", id, err)
	}
	return d
}

// submitLoad submits n declarations with plates from serial base, from
// workers clients at once, alternating between the instances.
func submitLoad(t *testing.T, c *prodCluster, base, n, workers int) []views.DeclarationView {
	t.Helper()
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = sample(t, withSerial(fmt.Sprintf("%05d", base+i)))
	}
	out := make([]views.DeclarationView, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	work := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				in := c.hubs[i%2]
				req, _ := http.NewRequest("POST", in.url+"/v1/declarations", strings.NewReader(string(bodies[i])))
				req.Header.Set("Authorization", "Bearer "+traderToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs[i] = err
					continue
				}
				var v views.DeclarationView
				err = json.NewDecoder(resp.Body).Decode(&v)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated || err != nil {
					errs[i] = fmt.Errorf("submit %d: HTTP %d (%v)", i, resp.StatusCode, err)
					continue
				}
				out[i] = v
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// derived is the decision the API derives afresh.
func derived(t *testing.T, in *instance, id string) views.DeclarationView {
	t.Helper()
	resp, data := in.call(t, "GET", "/v1/declarations/"+id, traderToken, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("get %s: HTTP %d: %s", id, resp.StatusCode, data)
	}
	var v views.DeclarationView
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// checkConsistent asserts, for every declaration, stored decision ==
// derived decision == the last decision entry of the audit log == the last
// decision event on every watch, and that all are CLEARED (every agency
// ACKs in these tests).
func checkConsistent(t *testing.T, c *prodCluster, decls []views.DeclarationView, watches []*laneWatch, busOnly bool) {
	t.Helper()
	for _, d := range decls {
		waitFor(t, "declaration "+d.ID+" to clear", func() bool {
			return derived(t, c.hubs[0], d.ID).Decision.Status == "CLEARED"
		})
		for i, w := range watches {
			waitFor(t, fmt.Sprintf("watch %d to see %s CLEARED", i, d.ID), func() bool { return w.last(d.ID, busOnly) == "CLEARED" })
		}
	}
	for _, d := range decls {
		v := derived(t, c.hubs[1], d.ID)
		st := storedDecision(t, c.hubs[0].app.Store, d.ID, v.Version)
		if st.Status != v.Decision.Status {
			t.Errorf("%s: stored decision %s, derived %s", d.ID, st.Status, v.Decision.Status)
		}
		want := v.Decision
		want.DecidedAt = time.Time{}
		wantDetail, _ := json.Marshal(want)
		if string(st.Detail) != string(wantDetail) {
			t.Errorf("%s: stored detail %s, derived %s", d.ID, st.Detail, wantDetail)
		}
		// The audit log agrees: its last decision entry is the stored one.
		entries := c.hubs[0].audit("kind=decision&declaration=" + d.ID)
		var logged struct {
			Version  int `json:"version"`
			Decision struct {
				Status string `json:"status"`
			} `json:"decision"`
		}
		if len(entries) == 0 || json.Unmarshal(entries[len(entries)-1].Payload, &logged) != nil {
			t.Errorf("%s: no readable decision entry in the audit log", d.ID)
		} else if logged.Decision.Status != string(st.Status) || logged.Version != v.Version {
			t.Errorf("%s: last audited decision v%d %s, stored v%d %s", d.ID, logged.Version, logged.Decision.Status, v.Version, st.Status)
		}
		for i, w := range watches {
			if got := w.last(d.ID, busOnly); got != string(v.Decision.Status) {
				t.Errorf("%s: last lane event on watch %d is %q, derived %s", d.ID, i, got, v.Decision.Status)
			}
		}
	}
}

func deadlocksSeen(c *prodCluster) int64 {
	var n int64
	for _, in := range c.hubs {
		if pg, ok := in.app.Store.(*postgres.Store); ok {
			n += pg.Deadlocks()
		}
	}
	return n
}

// TestProductionModeConsistent: under concurrent load on two instances
// with synchronous and asynchronous agencies, every declaration's stored
// decision equals the derived one and the last lane event on both
// instances, and Postgres detected no deadlock at all.
func TestProductionModeConsistent(t *testing.T) {
	dsn, dbName := storetest.PostgresDatabase(t)
	_, prefix := redistest.Client(t)
	c := startProduction(t, prodSetup{dsn: dsn, redisURL: os.Getenv(redistest.EnvURL), redisPrefix: prefix})
	c.dbName = dbName
	watches := []*laneWatch{watchLane(t, c.hubs[0], ""), watchLane(t, c.hubs[1], "")}
	if watches[0] == nil || watches[1] == nil {
		t.Fatal("lane stream unavailable")
	}
	decls := submitLoad(t, c, 50000, 40, 8)
	checkConsistent(t, c, decls, watches, false)
	if n := deadlocksSeen(c); n != 0 {
		t.Errorf("the hubs retried %d deadlocked transactions", n)
	}
	for _, in := range c.hubs {
		scrape := in.scrape()
		if !strings.Contains(scrape, `gatehub_store_tx_retries_total{sqlstate="40P01"} 0`) {
			t.Errorf("metric: deadlock retries not 0 on %s:\n%s", in.app.Config.InstanceID, grepLines(scrape, "gatehub_store_tx_retries_total"))
		}
	}
	for _, in := range c.hubs {
		if err := in.stop(); err != nil {
			t.Fatal(err)
		}
	}
	if n := storetest.ServerDeadlocks(t, dbName); n != 0 {
		t.Errorf("pg_stat_database.deadlocks = %d for the test database, want 0", n)
	}
}

func grepLines(s, substr string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// privateRedis runs a redis-server of the test's own on a free port, so
// that the test can stop and start it without touching the shared one.
type privateRedis struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if testenv.CI() {
			t.Fatalf("redis-server not installed: %v", err)
		}
		t.Skipf("redis-server not installed: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &privateRedis{t: t, port: port, dir: t.TempDir()}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *privateRedis) url() string { return "redis://127.0.0.1:" + strconv.Itoa(r.port) + "/0" }

func (r *privateRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	waitFor(r.t, "private redis to answer", func() bool {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(r.port), time.Second)
		if err != nil {
			return false
		}
		defer conn.Close()
		_, _ = conn.Write([]byte("PING\r\n"))
		buf := make([]byte, 7)
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		n, _ := conn.Read(buf)
		return strings.HasPrefix(string(buf[:n]), "+PONG")
	})
}

func (r *privateRedis) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

func unpublishedEvents(t *testing.T, st store.Store) int {
	t.Helper()
	var n int
	if err := st.WithTx(t.Context(), func(tx store.Tx) error {
		evs, err := tx.UnpublishedEvents(t.Context(), 0)
		n = len(evs)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRedisOutageLosesNoLaneEvent: Redis stops in the middle of the load;
// declarations keep being accepted and decided, their lane events wait in
// the store, and once Redis is back every one of them reaches the devices
// through the bus. A device reconnecting first gets the lane's current
// state.
func TestRedisOutageLosesNoLaneEvent(t *testing.T) {
	redisSrv := startPrivateRedis(t)
	c := startProduction(t, prodSetup{dsn: storetest.PostgresDSN(t), redisURL: redisSrv.url(), redisPrefix: "gatehub:"})
	device := watchLane(t, c.hubs[1], "")
	if device == nil {
		t.Fatal("lane stream unavailable")
	}
	before := submitLoad(t, c, 60000, 6, 3)
	checkConsistent(t, c, before, []*laneWatch{device}, true)
	lastID := device.lastID()

	redisSrv.stop()
	select {
	case <-device.closed: // the hub ends streams it can no longer feed
	case <-time.After(60 * time.Second):
		t.Fatal("lane stream still open after Redis stopped")
	}
	during := submitLoad(t, c, 61000, 10, 4)
	for _, d := range during {
		waitFor(t, d.ID+" to clear while Redis is down", func() bool {
			return derived(t, c.hubs[0], d.ID).Decision.Status == "CLEARED"
		})
	}
	if n := unpublishedEvents(t, c.hubs[0].app.Store); n == 0 {
		t.Fatal("no lane event waiting in the store while Redis is down")
	}
	waitFor(t, "the event backlog metric to show the delay", func() bool {
		return backlogSeconds(c.hubs[0]) > 0 || backlogSeconds(c.hubs[1]) > 0
	})

	redisSrv.start()
	var resumed *laneWatch
	waitFor(t, "the lane stream to reopen", func() bool {
		resumed = watchLane(t, c.hubs[1], lastID)
		return resumed != nil
	})
	waitFor(t, "the lane's current state", func() bool { return len(resumed.snapshot()) > 0 })
	if first := resumed.snapshot()[0]; first.ID != "" {
		t.Errorf("first event after reconnecting is bus event %s, want the lane's current state", first.ID)
	}
	// Through the bus, not only in the state sent on connect.
	checkConsistent(t, c, during, []*laneWatch{resumed}, true)
	waitFor(t, "the relay to drain", func() bool { return unpublishedEvents(t, c.hubs[0].app.Store) == 0 })
	waitFor(t, "the event backlog metric to return to 0", func() bool {
		return backlogSeconds(c.hubs[0]) == 0 && backlogSeconds(c.hubs[1]) == 0
	})
	if n := deadlocksSeen(c); n != 0 {
		t.Errorf("the hubs retried %d deadlocked transactions", n)
	}
}

// TestLaneStreamStartsWithCurrentState: a device connecting after its
// trucks were decided first receives each one's current decision (from the
// store, without a bus id), then live events (embedded store).
func TestLaneStreamStartsWithCurrentState(t *testing.T) {
	h := start(t, nil)
	in := &instance{harness: h, client: http.DefaultClient}
	live := watchLane(t, in, "")
	v1 := h.submit(sample(t, withSerial("70001")))
	v2 := h.submit(sample(t, withSerial("70002")))
	for _, id := range []string{v1.ID, v2.ID} {
		waitFor(t, id+" CLEARED on the lane", func() bool { return live.last(id, true) == "CLEARED" })
	}
	late := watchLane(t, in, "")
	waitFor(t, "the lane's current state", func() bool { return len(late.snapshot()) >= 2 })
	state := map[string]string{}
	for i, ev := range late.snapshot()[:2] {
		if ev.ID != "" {
			t.Errorf("state event %d carries bus id %q", i, ev.ID)
		}
		state[ev.Decision.DeclarationID] = string(ev.Decision.Decision.Status)
	}
	if state[v1.ID] != "CLEARED" || state[v2.ID] != "CLEARED" {
		t.Errorf("lane state on connect %v, want %s and %s CLEARED", state, v1.ID, v2.ID)
	}
	v3 := h.submit(sample(t, withSerial("70003")))
	waitFor(t, "a live event after the state", func() bool { return late.last(v3.ID, true) == "CLEARED" })
}

// backlogSeconds reads gatehub_event_backlog_seconds from the instance's
// /metrics (-1 when absent).
func backlogSeconds(in *instance) float64 {
	for line := range strings.SplitSeq(in.scrape(), "\n") {
		if v, ok := strings.CutPrefix(line, "gatehub_event_backlog_seconds "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}
