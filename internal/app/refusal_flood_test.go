package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/config"
	"github.com/gatehub/gatehub/internal/refusal"
	"github.com/gatehub/gatehub/internal/store"
)

// storeBytes is the embedded store's size on disk, WAL included.
func storeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	for _, f := range []string{"gatehub.db", "gatehub.db-wal"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil {
			n += fi.Size()
		}
	}
	return n
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// clientFrom is an HTTP client whose connections come from the loopback
// address ip (127.0.0.0/8 is all loopback on Linux), so a test can be many
// sources.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	// Idle connections are dropped well before the hub's idle timeout, so
	// a slow run (race detector) never reuses one the hub just closed.
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4, IdleConnTimeout: 10 * time.Second}}
}

// TestRefusalFloodIsBounded floods every refusal path a client without
// credentials can reach — a 401 with a 900 KiB path, a refused ACK of
// 200 KiB, from one address and from 64 (64 KiB paths, 32 KiB ACKs) — and checks the stated bound:
// with the shipped limits, per window at most Detailed entries of their own
// per source and kind (plus one summary), at most Entries.Burst entries of
// all sources together (plus its refill) and one overflow summary per kind, each entry
// under refusal.MaxEntryBytes; the store (WAL included) grows by less than
// 6 MiB and the hub's heap by less than 64 MiB for ~100 MB of hostile requests. Valid
// credentials from the flooding address still get through.
func TestRefusalFloodIsBounded(t *testing.T) {
	var dataDir string
	limits := config.Default().Limits
	limits.AckPerSource.Rate, limits.AckPerAgency.Rate = 0, 0 // the refusal budget alone
	h := startWith(t, setup{config: func(c *config.Config) {
		c.Limits = limits
		dataDir = c.DataDir
	}})
	h.submit(sample(t, nil)) // a store with something in it
	countRefusals := func() (entries, payload int) {
		err := h.app.Store.WithTx(context.Background(), func(tx store.Tx) error {
			all, err := tx.ListAudit(context.Background(), store.AuditFilter{})
			for _, e := range all {
				if strings.HasSuffix(e.Kind, ".refused") {
					entries++
					payload += len(e.Payload)
					if len(e.Payload) > refusal.MaxEntryBytes {
						t.Errorf("%s entry %d of %d bytes, bound %d", e.Kind, e.Seq, len(e.Payload), refusal.MaxEntryBytes)
					}
				}
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return entries, payload
	}
	entries0, _ := countRefusals()
	disk0, heap0 := storeBytes(t, dataDir), heapInUse()
	began := time.Now()

	longPath := "/v1/declarations/" + strings.Repeat("A", 900<<10)
	junkAck := append([]byte(`<?xml version="1.0"?><RoadManifestResponse>`), bytes.Repeat([]byte("<x>junk</x>"), 200<<10/11)...)
	flood := func(c *http.Client, workers, n int, method, path string, body []byte) map[int]int {
		codes := map[int]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += workers {
					req, _ := http.NewRequest(method, h.url+path, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/xml")
					resp, err := c.Do(req)
					if err != nil {
						var ue *url.Error
						if errors.As(err, &ue) {
							err = ue.Err // not the 900 KiB URL
						}
						t.Errorf("%s %.40s…: %v", method, path, err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mu.Lock()
					codes[resp.StatusCode]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return codes
	}

	one := clientFrom("127.0.0.1")
	if codes := flood(one, 4, 80, "GET", longPath, nil); codes[401]+codes[429] != 80 || codes[429] == 0 {
		t.Fatalf("long-path 401 flood: %v", codes)
	}
	if codes := flood(one, 4, 60, "POST", "/v1/acks/customs", junkAck); codes[429] != 60 {
		t.Fatalf("ACK flood after the budget was spent: %v, want all 429", codes)
	}
	// 64 sources, 8 at a time, one request at a time each: enough to
	// spend the global budget, gentle enough that no header read times out
	// on a loaded machine.
	var wg sync.WaitGroup
	slots := make(chan struct{}, 8)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			c := clientFrom(fmt.Sprintf("127.0.1.%d", i+1))
			path, method, body := longPath[:64<<10], "GET", []byte(nil)
			if i%2 == 1 {
				path, method, body = "/v1/acks/customs", "POST", junkAck[:32<<10]
			}
			for code := range flood(c, 1, 8, method, path, body) {
				if code != http.StatusUnauthorized && code != http.StatusForbidden && code != http.StatusBadRequest && code != http.StatusTooManyRequests {
					t.Errorf("source %d: HTTP %d", i, code)
				}
			}
		}()
	}
	wg.Wait()

	// Credentials still work from the flooding address.
	if resp, data := h.do("GET", "/v1/declarations?limit=1", traderToken, nil, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("a trader from the flooding address: HTTP %d %s", resp.StatusCode, data)
	}

	h.app.RefusalLog.FlushRefusals(context.Background(), true)
	elapsed := time.Since(began)
	entries1, payload := countRefusals()
	added := entries1 - entries0
	r := limits.Refusals
	// One address: Detailed own entries for auth.refused + one summary;
	// 64 addresses: at most Entries.Burst plus its refill over the run, and
	// one overflow summary per kind.
	bound := r.Detailed + 1 + r.Entries.Burst + int(math.Ceil(r.Entries.Rate*elapsed.Seconds())) + 2
	if added < r.Detailed || added > bound {
		t.Fatalf("%d refusal entries added, want between %d and %d", added, r.Detailed, bound)
	}
	disk1, heap1 := storeBytes(t, dataDir), heapInUse()
	t.Logf("refusal entries +%d (bound %d, payload %d bytes) in %v, store +%d bytes, heap %d → %d", added, bound, payload, elapsed, disk1-disk0, heap0, heap1)
	// On disk, WAL included: each refusal entry is its own commit of a few
	// 4 KiB pages until the next checkpoint.
	if grown := disk1 - disk0; grown > 6<<20 {
		t.Errorf("store grew by %d bytes, bound 6 MiB", grown)
	}
	if heap1 > heap0+64<<20 {
		t.Errorf("heap grew from %d to %d bytes, bound +64 MiB", heap0, heap1)
	}

	// And the summaries say how many were refused.
	counted := 0
	for _, e := range h.audit("kind=auth.refused&limit=1000") {
		if bytes.Contains(e.Payload, []byte(`"aggregate"`)) {
			counted++
		}
	}
	if counted == 0 {
		t.Fatal("no aggregate auth.refused entry after the flood")
	}
}

// TestAuditPageBoundedInBytes: a page stops at AuditPageBytes and names
// the cursor of the next; following the cursors yields every entry once.
func TestAuditPageBoundedInBytes(t *testing.T) {
	h := start(t, nil)
	for i := range 3 {
		h.submit(sample(t, plate(43000+i)))
	}
	// Two signed messages: a submit logs its declaration and each agency's
	// built and signed message in a row, so the first page of 7 entries
	// holds three of them and is always cut by bytes, however the
	// deliveries after it interleave.
	h.app.Server.AuditPageBytes = 8 << 10
	seen := map[int64]bool{}
	pages, shortPages := 0, 0
	next := ""
	for {
		q := "limit=7"
		if next != "" {
			q += "&cursor=" + next
		}
		resp, data := h.do("GET", "/v1/audit?"+q, "dev-auditor", nil, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %d %s", resp.StatusCode, data)
		}
		page := decodeJSON[struct {
			Entries []struct {
				Seq int64 `json:"seq"`
			} `json:"entries"`
			NextCursor string `json:"nextCursor"`
		}](t, data)
		pages++
		for _, e := range page.Entries {
			if seen[e.Seq] {
				t.Fatalf("entry %d on two pages", e.Seq)
			}
			seen[e.Seq] = true
		}
		if (page.NextCursor != "") != (resp.Header.Get("Link") != "") {
			t.Fatalf("nextCursor %q but Link %q", page.NextCursor, resp.Header.Get("Link"))
		}
		if page.NextCursor == "" {
			break
		}
		if len(page.Entries) > 7 || len(data) > 2*h.app.Server.AuditPageBytes+64<<10 {
			t.Fatalf("a page of %d entries, %d bytes", len(page.Entries), len(data))
		}
		if len(page.Entries) < 7 {
			shortPages++
		}
		next = page.NextCursor
	}
	// The hub keeps logging (deliveries, decisions) while the pages are
	// read: compare with the log up to the last entry seen.
	var last int64
	for seq := range seen {
		last = max(last, seq)
	}
	var total int
	_ = h.app.Store.WithTx(context.Background(), func(tx store.Tx) error {
		all, err := tx.ListAudit(context.Background(), store.AuditFilter{ToSeq: last})
		total = len(all)
		return err
	})
	if len(seen) != total || pages < 2 || shortPages == 0 {
		t.Fatalf("%d entries over %d pages (%d cut by bytes), the log has %d", len(seen), pages, shortPages, total)
	}
}
