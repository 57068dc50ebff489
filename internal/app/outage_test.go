package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/netfault"
	"github.com/gatehub/gatehub/internal/problem"
	"github.com/gatehub/gatehub/internal/redistest"
	"github.com/gatehub/gatehub/internal/store/storetest"
)

// throughProxy rewrites dsn (URL form) to reach Postgres through a proxy
// the test controls.
func throughProxy(t *testing.T, dsn string) (string, *netfault.Proxy) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		t.Fatalf("the Postgres test DSN must be a URL with a host: %q", dsn)
	}
	host := u.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "5432")
	}
	p, err := netfault.Listen(host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	u.Host = p.Addr()
	return u.String(), p
}

// outcome is one answer the load generator saw.
type outcome struct {
	status     int
	retryAfter string
	ctype      string
	ptype      string
	id         string
}

func post(client *http.Client, base, key string, body []byte) (outcome, error) {
	req, err := http.NewRequest("POST", base+"/v1/declarations", strings.NewReader(string(body)))
	if err != nil {
		return outcome{}, err
	}
	req.Header.Set("Authorization", "Bearer "+traderToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	return roundTrip(client, req)
}

func get(client *http.Client, base, path string) (outcome, error) {
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		return outcome{}, err
	}
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	return roundTrip(client, req)
}

func roundTrip(client *http.Client, req *http.Request) (outcome, error) {
	resp, err := client.Do(req)
	if err != nil {
		return outcome{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return outcome{}, err
	}
	o := outcome{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), ctype: resp.Header.Get("Content-Type")}
	var doc struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	_ = json.Unmarshal(data, &doc)
	o.ptype, o.id = doc.Type, doc.ID
	return o, nil
}

// Postgres goes away in the middle of a load and comes back: every submit
// and read meanwhile answers 503 with Retry-After and a problem document
// (never 500), readiness says not ready, and after the return every
// declaration a trader retried with its Idempotency-Key exists once, is
// decided, and each agency got one body per message id (the simulators
// refuse a reused id with other content, which would dead-letter it).
func TestPostgresOutageAnswers503ThenRecovers(t *testing.T) {
	dsn, proxy := throughProxy(t, storetest.PostgresDSN(t))
	cfg := baseConfig(t)
	cfg.DatabaseURL = dsn
	// An attempt whose settle failed during the outage is sent again when
	// its lease expires; keep that within the test's time.
	cfg.Delivery.Lease, cfg.Delivery.Timeout = 3*time.Second, 2*time.Second
	h := launch(t, cfg, app.Options{}).harness
	events := h.events("HUUNGHI", "EXP-1")

	const declarations, workers = 24, 3
	client := &http.Client{Timeout: 30 * time.Second}
	var (
		mu       sync.Mutex
		accepted = map[string]string{} // idempotency key -> declaration id
		answers  []outcome
		cut      = make(chan struct{})
		cutOnce  sync.Once
	)
	record := func(o outcome) {
		mu.Lock()
		defer mu.Unlock()
		answers = append(answers, o)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < declarations; i += workers {
				key := fmt.Sprintf("outage-%d", i)
				body := sample(t, plate(41000+i))
				for attempt := 0; ; attempt++ {
					if attempt > 400 {
						errs <- fmt.Errorf("%s: still refused after %d attempts", key, attempt)
						return
					}
					o, err := post(client, h.url, key, body)
					if err != nil {
						errs <- fmt.Errorf("%s: %w", key, err)
						return
					}
					record(o)
					if o.status == http.StatusCreated || o.status == http.StatusOK {
						mu.Lock()
						if prev, ok := accepted[key]; ok && prev != o.id {
							errs <- fmt.Errorf("%s: accepted as %s and as %s", key, prev, o.id)
						}
						accepted[key] = o.id
						n := len(accepted)
						mu.Unlock()
						if n == declarations/3 {
							cutOnce.Do(func() { close(cut) })
						}
						break
					}
					if o.status != http.StatusServiceUnavailable {
						errs <- fmt.Errorf("%s: HTTP %d (%s)", key, o.status, o.ptype)
						return
					}
					// A client that honours Retry-After waits longer; the
					// test only needs to keep the load on.
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}

	// A worker that fails stops before the cut: report it, not a hang.
	workersDone := make(chan struct{})
	go func() { wg.Wait(); close(workersDone) }()
	select {
	case <-cut:
	case <-workersDone:
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		t.Fatal("the submits ended before a third of them were accepted")
	}
	proxy.Cut()
	// While Postgres is away: a read answers 503 too, and readiness fails.
	deadline := time.Now().Add(20 * time.Second)
	var read, ready outcome
	for {
		var err error
		if read, err = get(client, h.url, "/v1/admin/outbox?limit=1"); err != nil {
			t.Fatal(err)
		}
		if ready, err = get(client, h.url, "/readyz"); err != nil {
			t.Fatal(err)
		}
		if read.status == http.StatusServiceUnavailable && ready.status == http.StatusServiceUnavailable {
			break
		}
		if read.status != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("with Postgres cut: read HTTP %d, readyz HTTP %d", read.status, ready.status)
		}
	}
	for _, o := range []outcome{read, ready} {
		if o.retryAfter == "" || o.ctype != problem.ContentType || o.ptype != problem.TypeUnavailable {
			t.Errorf("503 with Retry-After %q, Content-Type %q, type %q", o.retryAfter, o.ctype, o.ptype)
		}
	}
	// Let some submits meet the outage before Postgres returns.
	for {
		mu.Lock()
		refused := 0
		for _, o := range answers {
			if o.status == http.StatusServiceUnavailable {
				refused++
			}
		}
		mu.Unlock()
		if refused >= 2*workers {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no submit was refused while Postgres was cut")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	refused := 0
	for _, o := range answers {
		if o.status == http.StatusServiceUnavailable {
			refused++
			if o.retryAfter == "" || o.ptype != problem.TypeUnavailable || o.ctype != problem.ContentType {
				t.Errorf("submit 503 with Retry-After %q, Content-Type %q, type %q", o.retryAfter, o.ctype, o.ptype)
			}
		}
	}
	t.Logf("%d answers, %d of them 503 during the outage", len(answers), refused)
	if len(accepted) != declarations {
		t.Fatalf("%d declarations accepted, want %d", len(accepted), declarations)
	}
	ids := make([]string, 0, declarations)
	seen := map[string]bool{}
	for _, id := range accepted {
		if seen[id] {
			t.Errorf("declaration %s accepted for two keys", id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	views := waitFinal(h, events, ids, 90*time.Second)
	for _, id := range ids {
		v := views[id]
		if v.Decision.Status != "CLEARED" {
			t.Errorf("%s: %s %s", id, v.Decision.Status, messageStates(v))
		}
		for _, m := range v.Messages {
			if m.State != "acked" {
				t.Errorf("%s %s: message %s is %s (%s)", id, m.Agency, m.ID, m.State, m.LastError)
			}
		}
	}
}

// Redis is used fail-open, and one Redis outage is shared by every
// replica: readiness reports it degraded (200), never not ready, so a load
// balancer keeps every hub in rotation; it reads ready again once Redis is
// back.
func TestReadinessDegradedWithoutRedis(t *testing.T) {
	_, prefix := redistest.Client(t)
	u, err := url.Parse(os.Getenv(redistest.EnvURL))
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := netfault.Listen(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	u.Host = proxy.Addr()
	cfg := baseConfig(t)
	cfg.RedisURL, cfg.RedisPrefix = u.String(), prefix
	h := launch(t, cfg, app.Options{}).harness

	readiness := func() (int, map[string]any) {
		resp, body := h.do("GET", "/readyz", "", nil, "")
		var doc map[string]any
		_ = json.Unmarshal(body, &doc)
		return resp.StatusCode, doc
	}
	if code, doc := readiness(); code != http.StatusOK || doc["status"] != "ready" {
		t.Fatalf("with Redis up: HTTP %d %v", code, doc)
	}
	proxy.Cut()
	code, doc := readiness()
	checks, _ := doc["checks"].(map[string]any)
	if code != http.StatusOK || doc["status"] != "degraded" || checks["redis"] == "ok" || checks["store"] != "ok" {
		t.Fatalf("with Redis cut: HTTP %d %v, want 200 degraded naming redis", code, doc)
	}
	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, doc := readiness()
		if code == http.StatusOK && doc["status"] == "ready" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Redis returned: HTTP %d %v", code, doc)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
