package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/config"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/fanout"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/views"
)

// Development tokens (deploy/tokens.dev.yaml, listed in README.md).
const (
	TraderToken   = "dev-trader-0101234567"
	OperatorToken = "dev-operator"
)

// Hub is a complete embedded hub (the assembly gatehubd runs) with the
// in-process agency simulators answering synchronously, served on a
// loopback port.
type Hub struct {
	App    *app.App
	URL    string
	Client *http.Client
	sample []byte       // SampleDeclaration(root, 0): the body Submit varies
	next   atomic.Int64 // declarations submitted, for distinct plates

	cancel  context.CancelFunc
	done    chan error
	cleared *clearedWatch
	cleanup []func()
}

// Mode says how far a hub started for a benchmark processes a declaration.
type Mode int

const (
	// RoundTrip: the dispatcher delivers the messages to the in-process
	// simulators as soon as they are committed, and their signed ACKs come
	// back (the full round trip until CLEARED).
	RoundTrip Mode = iota
	// AcceptOnly: delivery is switched off, so only the accept path runs —
	// map, XSD-validate, sign the 4 messages and commit them durably with
	// the declaration and the audit entries. The hub's Wake hook is unset
	// and the dispatcher's poll interval is a day, so no committed message
	// is claimed, sent or settled during the run: the hub does no work
	// beyond the accept path (the idle simulators are never called).
	AcceptOnly
)

// StartHub starts a hub on dataDir that delivers (RoundTrip).
// databaseURL "" uses the embedded SQLite store; otherwise Postgres at that
// DSN.
func StartHub(root, dataDir, databaseURL string) (*Hub, error) {
	return StartHubMode(root, dataDir, databaseURL, RoundTrip)
}

// StartHubMode starts a hub on dataDir in mode.
func StartHubMode(root, dataDir, databaseURL string, mode Mode) (*Hub, error) {
	return startHub(root, dataDir, databaseURL, mode, filepath.Join(root, "deploy/gates"))
}

func startHub(root, dataDir, databaseURL string, mode Mode, gatesDir string) (*Hub, error) {
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.PublicURL = "http://127.0.0.1:0"
	cfg.DataDir = dataDir
	cfg.DatabaseURL = databaseURL
	cfg.KeysDir = filepath.Join(dataDir, "keys")
	cfg.TrustDir = filepath.Join(dataDir, "trust")
	cfg.GatesDir = gatesDir
	cfg.MappingsDir = filepath.Join(root, "mappings")
	cfg.SchemasDir = filepath.Join(root, "schemas")
	cfg.TokensFile = filepath.Join(root, "deploy/tokens.dev.yaml")
	cfg.AgenciesDir = filepath.Join(root, "deploy/agencies")
	cfg.SimulatorRulesDir = filepath.Join(root, "simulators")
	cfg.Simulators = true
	cfg.SimulatorMode = "sync"
	cfg.RateLimit.Rate = 0 // measure the hub, not the trader quota
	cfg.CheckpointEvery = 0
	cfg.Delivery.Poll = 50 * time.Millisecond
	cfg.Delivery.BaseBackoff = 20 * time.Millisecond
	cfg.Delivery.MaxBackoff = 200 * time.Millisecond
	cfg.Delivery.Timeout = 30 * time.Second
	if mode == AcceptOnly {
		cfg.Delivery.Poll = 24 * time.Hour
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{Log: log, Now: Clock()})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("assemble hub: %w", err)
	}
	if mode == AcceptOnly {
		a.Tx.Wake = nil
		// One claim round at start, then none for a day: per-agency
		// lanes would go on claiming for as long as they have work.
		a.Dispatcher.Agencies = nil
	}
	sample, err := SampleDeclaration(root, 0)
	if err == nil && bytes.Count(sample, []byte(Plate(0))) != 1 {
		err = fmt.Errorf("sample declaration: plate %s not found exactly once", Plate(0))
	}
	if err != nil {
		a.Close()
		cancel()
		return nil, err
	}
	h := &Hub{App: a, URL: a.URL(), sample: sample, cancel: cancel, done: make(chan error, 1),
		Client: &http.Client{Transport: &http.Transport{
			MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute,
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		}}}
	go func() { h.done <- a.Run(ctx) }()
	if mode == RoundTrip {
		// Not in AcceptOnly: following the decision stream is client work on
		// the cores the hub is measured on, and nothing is awaited there.
		h.cleared = watchCleared(ctx, a.Bus(), a.Views, hub.LaneTopic("HUUNGHI", "EXP-1"))
	}
	return h, nil
}

// Close stops the hub and waits for it to shut down.
func (h *Hub) Close() error {
	h.cancel()
	err := <-h.done
	h.Client.CloseIdleConnections()
	for _, f := range slices.Backward(h.cleanup) {
		f()
	}
	return err
}

// clearedWatch follows the lane's decision stream in process and wakes the
// waiter of each declaration that reached CLEARED.
type clearedWatch struct {
	views   *views.Service
	mu      sync.Mutex
	waiters map[string]chan struct{}
	done    map[string]bool
	// Resubscribes and Polls count how often the stream was dropped and how
	// often a waiter asked the hub directly: both should stay near zero.
	Resubscribes, Polls atomic.Int64
	// Cleared counts the declarations seen CLEARED (see Hub.Drain).
	Cleared atomic.Int64
}

func watchCleared(ctx context.Context, bus fanout.Bus, vs *views.Service, topic string) *clearedWatch {
	w := &clearedWatch{views: vs, waiters: map[string]chan struct{}{}, done: map[string]bool{}}
	ready := make(chan struct{})
	go func() {
		last := ""
		first := true
		for ctx.Err() == nil {
			ch, err := bus.Subscribe(ctx, topic, last)
			if first {
				close(ready)
				first = false
			}
			if err != nil {
				ctxSleep(ctx, 50*time.Millisecond)
				continue
			}
			w.Resubscribes.Add(1)
			// A subscriber that falls behind is dropped by the bus; resume
			// from the last event seen (retention replays the gap).
			for ev := range ch {
				last = ev.ID
				var de decisions.DecisionEvent
				if json.Unmarshal(ev.Data, &de) == nil && de.Decision.Status == clearance.Cleared {
					w.mark(de.DeclarationID)
				}
			}
		}
	}()
	<-ready
	return w
}

func (w *clearedWatch) mark(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done[id] {
		return
	}
	w.done[id] = true
	w.Cleared.Add(1)
	if ch, ok := w.waiters[id]; ok {
		close(ch)
		delete(w.waiters, id)
	}
}

// wait returns once declaration id is CLEARED. Besides the event stream it
// asks the hub directly now and then, so a missed event costs time, never
// a hang; a terminal non-CLEARED decision is an error.
func (w *clearedWatch) wait(ctx context.Context, id string) error {
	w.mu.Lock()
	if w.done[id] {
		delete(w.done, id)
		w.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	w.waiters[id] = ch
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.waiters, id)
		delete(w.done, id)
		w.mu.Unlock()
	}()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("declaration %s not cleared: %w", id, ctx.Err())
		case <-tick.C:
			w.Polls.Add(1)
			v, err := w.views.View(ctx, id)
			if err != nil {
				return err
			}
			switch v.Decision.Status {
			case clearance.Cleared:
				return nil
			case clearance.Rejected, clearance.Hold, clearance.Cancelled:
				return fmt.Errorf("declaration %s: decision %s", id, v.Decision.Status)
			}
		}
	}
}

// Submit POSTs the next sample declaration (a new plate each time) as the
// trader and returns its id once the hub answered 201: the declaration and
// its four signed messages are committed.
func (h *Hub) Submit(ctx context.Context) (string, error) {
	// The sample with its plate replaced, without a JSON round trip: the
	// client shares the cores with the hub it measures.
	i := int(h.next.Add(1))
	body := bytes.Replace(bytes.Replace(h.sample, []byte(Plate(0)), []byte(Plate(i)), 1), []byte(PlateCN(0)), []byte(PlateCN(i)), 1)
	req, err := http.NewRequestWithContext(ctx, "POST", h.URL+"/v1/declarations", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+TraderToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.Client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("submit: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(data))
	}
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(data, &v); err != nil || v.ID == "" {
		return "", fmt.Errorf("submit: answer without id: %s", data)
	}
	return v.ID, nil
}

// WatchStats reports how often the decision stream had to be resumed and
// how often a waiter fell back to asking the hub.
func (h *Hub) WatchStats() (resubscribes, polls int64) {
	if h.cleared == nil {
		return 0, 0
	}
	return h.cleared.Resubscribes.Load() - 1, h.cleared.Polls.Load()
}

// Submitted is how many declarations this hub has been sent.
func (h *Hub) Submitted() int { return int(h.next.Load()) }

// SubmitAndClear submits one declaration over HTTP and waits until the
// dispatcher delivered its four messages to the simulators, their signed
// ACKs were verified and the decision is CLEARED.
func (h *Hub) SubmitAndClear(ctx context.Context) error {
	if h.cleared == nil {
		return errors.New("SubmitAndClear on a hub that does not deliver (AcceptOnly)")
	}
	id, err := h.Submit(ctx)
	if err != nil {
		return err
	}
	return h.cleared.wait(ctx, id)
}

// EndToEndResult is one end-to-end run.
type EndToEndResult struct {
	N, Concurrency int
	Elapsed        time.Duration
	PerSecond      float64
	// CPU is the process's CPU time (user + system) during the run: with
	// Elapsed it tells how many cores the run kept busy, and per
	// declaration how much work one costs, which moves far less than the
	// rate when other jobs share the cores.
	CPU time.Duration
}

// CPUPerDeclaration is the process CPU time one declaration cost.
func (r EndToEndResult) CPUPerDeclaration() time.Duration {
	if r.N == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.N)
}

// Cores is how many cores the run kept busy on average.
func (r EndToEndResult) Cores() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return r.CPU.Seconds() / r.Elapsed.Seconds()
}

// RunEndToEnd submits n declarations over HTTP from conc concurrent
// clients, each waiting for CLEARED before it submits the next, and
// returns the rate of declarations accepted and fully processed.
func (h *Hub) RunEndToEnd(ctx context.Context, n, conc int) (EndToEndResult, error) {
	return run(ctx, n, conc, h.SubmitAndClear)
}

// RunAccept submits n declarations over HTTP from conc concurrent clients,
// each submitting the next as soon as the hub answered 201 for the previous
// one (the declaration, its 4 signed messages and the audit entries are
// durably committed), and returns the rate of declarations accepted. Run it
// on a hub started AcceptOnly, or delivery competes for the cores.
func (h *Hub) RunAccept(ctx context.Context, n, conc int) (EndToEndResult, error) {
	return run(ctx, n, conc, func(ctx context.Context) error {
		_, err := h.Submit(ctx)
		return err
	})
}

// run performs one declaration n times from conc concurrent clients and
// returns the rate; the first failure stops every client.
func run(ctx context.Context, n, conc int, one func(context.Context) error) (EndToEndResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var left atomic.Int64
	left.Store(int64(n))
	var g waitGroupErr
	start, cpu0 := time.Now(), ProcessCPU()
	for range conc {
		g.Go(func() error {
			for left.Add(-1) >= 0 {
				if err := one(ctx); err != nil {
					cancel()
					return err
				}
			}
			return nil
		})
	}
	err := g.Wait()
	el, cpu := time.Since(start), ProcessCPU()-cpu0
	return EndToEndResult{N: n, Concurrency: conc, Elapsed: el, PerSecond: float64(n) / el.Seconds(), CPU: cpu}, err
}

// LookupResult is one open-loop run of plate lookups.
type LookupResult struct {
	Offered   float64 // requests per second offered
	Sent, OK  int
	Errors    int
	Missed    int // sends skipped because the run's time bound was reached
	Elapsed   time.Duration
	PerSecond float64 // completed (2xx) per second
	P50, P99  time.Duration
	Max       time.Duration
	FirstErr  string
}

// RunPlateLookup offers GET /v1/decisions?plate=… at rate requests per
// second on a fixed schedule (open loop: a request is sent at its slot
// whether or not earlier ones finished, and latency counts from the slot,
// so a slow server cannot slow the offered load and hide its queueing),
// for count requests or until maxDur (plus 2 s to finish), over loopback with the operator
// token. plates are cycled.
func (h *Hub) RunPlateLookup(ctx context.Context, plates []string, rate float64, count int, maxDur time.Duration) LookupResult {
	// Requests still unanswered this long after the last send slot are
	// cancelled and counted as errors: the run is bounded in time too.
	ctx, cancel := context.WithTimeout(ctx, maxDur+2*time.Second)
	defer cancel()
	interval := time.Duration(float64(time.Second) / rate)
	lat := make([]time.Duration, count)
	okFlags := make([]bool, count)
	var errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(maxDur)
	sent := 0
	for i := range count {
		slot := start.Add(time.Duration(i) * interval)
		if slot.After(deadline) {
			break
		}
		if d := time.Until(slot); d > 0 {
			time.Sleep(d)
		}
		sent++
		wg.Go(func() {
			u := h.URL + "/v1/decisions?plate=" + url.QueryEscape(plates[i%len(plates)])
			req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
			req.Header.Set("Authorization", "Bearer "+OperatorToken)
			resp, err := h.Client.Do(req)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("HTTP %d", resp.StatusCode)
				}
			}
			lat[i] = time.Since(slot)
			if err != nil {
				errs.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			okFlags[i] = true
		})
	}
	wg.Wait()
	el := time.Since(start)
	var okLat []time.Duration
	for i := range sent {
		if okFlags[i] {
			okLat = append(okLat, lat[i])
		}
	}
	slices.Sort(okLat)
	r := LookupResult{Offered: rate, Sent: sent, OK: len(okLat), Errors: int(errs.Load()), Missed: count - sent,
		Elapsed: el, PerSecond: float64(len(okLat)) / el.Seconds(),
		P50: Percentile(okLat, 50), P99: Percentile(okLat, 99), Max: Percentile(okLat, 100)}
	if e, ok := firstErr.Load().(string); ok {
		r.FirstErr = e
	}
	return r
}

// Plates returns the plates of the first n declarations this hub was sent.
func (h *Hub) Plates(n int) []string {
	n = min(n, h.Submitted())
	out := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, Plate(i))
	}
	return out
}

// PostgresSchema creates a fresh, uniquely named schema in the database at
// base and returns a DSN that uses it, and a function that drops it.
func PostgresSchema(ctx context.Context, base string) (dsn string, drop func(), err error) {
	schema := fmt.Sprintf("gatehub_bench_%d", time.Now().UnixNano())
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("connect to postgres: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	drop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			_ = c.Close(ctx)
		}
	}
	u, err := url.Parse(base)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		drop()
		return "", nil, fmt.Errorf("database URL must be postgres://…")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

// StartPostgresHub starts a hub in mode on a fresh schema of the database
// at base; Close drops the schema.
func StartPostgresHub(root, dataDir, base string, mode Mode) (*Hub, error) {
	dsn, drop, err := PostgresSchema(context.Background(), base)
	if err != nil {
		return nil, err
	}
	h, err := StartHubMode(root, dataDir, dsn, mode)
	if err != nil {
		drop()
		return nil, err
	}
	h.cleanup = append(h.cleanup, drop)
	return h, nil
}
