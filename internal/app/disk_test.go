package app_test

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/testenv"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/diskspace"
	"github.com/gatehub/gatehub/internal/problem"
	sim "github.com/gatehub/gatehub/internal/simulator"
)

// readiness reads /readyz: status code, body status, the disk check.
func (h *harness) readiness() (int, string, string) {
	h.t.Helper()
	resp, body := h.do("GET", "/readyz", "", nil, "")
	var doc struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	_ = json.Unmarshal(body, &doc)
	return resp.StatusCode, doc.Status, doc.Checks["disk"]
}

// refusedForSpace checks that a submit answers 507 with Retry-After and
// the insufficient-storage problem type.
func refusedForSpace(t *testing.T, h *harness, body []byte) {
	t.Helper()
	resp, data := h.do("POST", "/v1/declarations", traderToken, body, "application/json")
	var p problem.Problem
	_ = json.Unmarshal(data, &p)
	if resp.StatusCode != http.StatusInsufficientStorage || resp.Header.Get("Retry-After") == "" ||
		p.Type != problem.TypeInsufficientStorage {
		t.Fatalf("submit with the disk low: HTTP %d, Retry-After %q, type %q: %s",
			resp.StatusCode, resp.Header.Get("Retry-After"), p.Type, data)
	}
}

// plate gives a declaration a VN and a CN plate of its own: one active
// crossing per vehicle and gate, so every truck of a test is another.
func plate(i int) func(map[string]any) {
	return func(m map[string]any) {
		v := m["vehicle"].(map[string]any)
		v["plateVN"], v["plateCN"] = fmt.Sprintf("12C-%05d", i), fmt.Sprintf("桂A%05d", i)
	}
}

// Below its disk reserve the embedded hub refuses new declarations with
// 507 + Retry-After while it goes on settling those it accepted (their
// agencies answer while the disk is low), reports the disk as degraded
// without leaving the load balancer, and admits again by itself once space
// returns. The free space is the test's to set (a probe the hub asks), so
// this runs on any machine; TestDiskFullOnSmallFileSystem fills a real one.
func TestDiskGuardRefusesNewWorkAndRecovers(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 30)
	probe := diskspace.ProbeFunc(func(string) (uint64, uint64, error) { return free.Load(), 2 << 30, nil })
	cfg := baseConfig(t)
	cfg.DiskReserveMB = 100
	in := launch(t, cfg, app.Options{
		DiskProbe:          probe,
		ConfigureSimulator: func(c *sim.Config) { c.Delay = 300 * time.Millisecond },
	})
	h := in.harness
	events := h.events("HUUNGHI", "EXP-1")
	var ids []string
	for i := range 3 {
		ids = append(ids, h.submit(sample(t, plate(42000+i))).ID)
	}
	free.Store(10 << 20) // below the reserve while the agencies are still answering
	refusedForSpace(t, h, sample(t, plate(42100)))
	resp, data := h.do("PUT", "/v1/declarations/"+ids[0], traderToken, sample(t, plate(42000)), "application/json")
	if resp.StatusCode != http.StatusInsufficientStorage {
		t.Errorf("amend with the disk low: HTTP %d: %s", resp.StatusCode, data)
	}
	if code, status, disk := h.readiness(); code != http.StatusOK || status != "degraded" || disk == "ok" {
		t.Errorf("readiness with the disk low: HTTP %d %s, disk %q; want 200 degraded", code, status, disk)
	}
	for id, v := range waitFinal(h, events, ids, 30*time.Second) {
		if v.Decision.Status != "CLEARED" {
			t.Errorf("%s accepted before the disk ran low: %s %s", id, v.Decision.Status, messageStates(v))
		}
	}
	free.Store(1 << 30)
	h.submit(sample(t, plate(42200)))
	if code, status, disk := h.readiness(); code != http.StatusOK || status != "ready" || disk != "ok" {
		t.Errorf("readiness after space returned: HTTP %d %s, disk %q", code, status, disk)
	}
}

// mountSmallFS mounts a tmpfs of size bytes for the test, or skips (fails
// under CI) where mounting is impossible.
func mountSmallFS(t *testing.T, size int) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "gatehub-disk-")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		_ = os.Remove(dir)
		if testenv.CI() {
			t.Fatalf("mount a tmpfs for the full-disk test: %v: %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here (%v: %s); TestDiskGuardRefusesNewWorkAndRecovers covers the guard", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
			return
		}
		_ = os.Remove(dir)
	})
	return dir
}

// fill writes a ballast file until the file system has at most leave bytes
// free (0: until it is full).
func fill(t *testing.T, path string, leave uint64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 256<<10)
	for {
		var st syscall.Statfs_t
		if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
			t.Fatal(err)
		}
		avail := st.Bavail * uint64(st.Bsize)
		if avail <= leave {
			return
		}
		n := min(uint64(len(chunk)), avail-leave)
		if _, err := f.Write(chunk[:n]); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}

// The embedded store on a real small file system (a tmpfs the test
// mounts): below the reserve, submits answer 507 and what was accepted is
// settled; with the disk then completely full, settles fail without
// losing anything (the messages are sent again once their lease ends);
// once space returns, the hub recovers by itself, without a restart:
// every accepted declaration is decided, new ones are accepted, the WAL
// is given back and the database passes integrity_check.
func TestDiskFullOnSmallFileSystem(t *testing.T) {
	dir := mountSmallFS(t, 96<<20)
	cfg := baseConfig(t)
	cfg.DataDir = dir
	cfg.KeysDir, cfg.TrustDir = filepath.Join(dir, "keys"), filepath.Join(dir, "trust")
	cfg.DiskReserveMB = 16
	cfg.Delivery.Lease, cfg.Delivery.Timeout = 2*time.Second, time.Second
	in := launch(t, cfg, app.Options{ConfigureSimulator: func(c *sim.Config) { c.Delay = 400 * time.Millisecond }})
	h := in.harness
	events := h.events("HUUNGHI", "EXP-1")
	ballast := filepath.Join(dir, "ballast")

	var ids []string
	for i := range 3 {
		ids = append(ids, h.submit(sample(t, plate(43000+i))).ID)
	}
	fill(t, ballast, 8<<20) // below the 16 MiB reserve, the agencies still answering
	refusedForSpace(t, h, sample(t, plate(43100)))
	for id, v := range waitFinal(h, events, ids, 30*time.Second) {
		if v.Decision.Status != "CLEARED" {
			t.Errorf("%s accepted before the disk ran low: %s %s", id, v.Decision.Status, messageStates(v))
		}
	}

	// Room again, two more accepted; then the disk fills up completely
	// while their agencies answer.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	var late []string
	for i := range 2 {
		late = append(late, h.submit(sample(t, plate(43200+i))).ID)
	}
	fill(t, ballast, 0)
	refusedForSpace(t, h, sample(t, plate(43300)))
	if code, status, _ := h.readiness(); code != http.StatusOK || status != "degraded" {
		t.Errorf("readiness with the disk full: HTTP %d %s; want 200 degraded (ACKs must still come in)", code, status)
	}
	if v := h.view(ids[0]); v.Decision.Status != "CLEARED" {
		t.Errorf("read with the disk full: %s", v.Decision.Status)
	}
	// Hold the disk full until at least one settle met it.
	time.Sleep(time.Second) // the sims answer after 400 ms; this is the fault's duration, not a wait for a result
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, late...)
	for id, v := range waitFinal(h, events, late, 60*time.Second) {
		if v.Decision.Status != "CLEARED" {
			t.Errorf("%s accepted before the disk filled: %s %s", id, v.Decision.Status, messageStates(v))
		}
	}
	ids = append(ids, h.submit(sample(t, plate(43400))).ID)
	if code, status, disk := h.readiness(); code != http.StatusOK || status != "ready" {
		t.Errorf("readiness after space returned: HTTP %d %s, disk %q", code, status, disk)
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "gatehub.db")+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var integrity string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("integrity_check: %q %v", integrity, err)
	}
	var n int
	if err := db.QueryRow("SELECT count(DISTINCT id) FROM declarations").Scan(&n); err != nil || n != len(ids) {
		t.Errorf("%d declarations stored (%v), want the %d accepted", n, err, len(ids))
	}
}
