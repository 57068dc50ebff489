package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// walBoundCheck writes commits of 16 KiB while two readers keep read
// transactions open back to back (so that a PASSIVE checkpoint alone never
// sees a moment to restart the WAL) and returns the largest WAL size seen
// and the WAL size once the load stopped and a checkpoint ran.
func walBoundCheck(t *testing.T, walLimit int) (peak, after int64) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := openWith(ctx, path, 20*time.Millisecond, walLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				_ = s.WithReadTx(ctx, func(tx store.Tx) error {
					_, _, err := tx.AuditHead(ctx)
					return err
				})
			}
		}()
	}
	size := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	payload := make([]byte, 16<<10)
	const commits = 640 // 10 MiB of payload
	for i := range commits {
		err := s.WithTx(ctx, func(tx store.Tx) error {
			return tx.AppendAudit(ctx, &store.AuditEntry{Kind: "test", Actor: "test", Payload: payload, Seq: int64(i + 1)})
		})
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		peak = max(peak, size())
	}
	stop.Store(true)
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for size() > walSizeLimit && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return peak, size()
}

// Under sustained writes with readers always present, the WAL stays
// bounded: the checkpointer truncates it once it passes its limit (here
// 256 frames, 1 MiB), and the committer itself at twice the limit, instead
// of letting it grow with everything written (17.5 GB in five minutes of a
// burst, given back only at restart).
func TestWALStaysBoundedUnderLoad(t *testing.T) {
	const limit = 256
	peak, after := walBoundCheck(t, limit)
	t.Logf("WAL peak %.1f MiB, after the load %.1f MiB (10 MiB written)", float64(peak)/(1<<20), float64(after)/(1<<20))
	// The committer's hard bound (twice the limit) plus one commit group
	// (at most 64 commits of 16 KiB): whatever the load on the machine.
	if bound := 2*int64(limit)*walFrameBytes + 64*(16<<10+8*walFrameBytes); peak > bound {
		t.Errorf("WAL reached %d bytes under load, want at most %d", peak, bound)
	}
	if after > walSizeLimit {
		t.Errorf("WAL is %d bytes after the load, want at most %d", after, walSizeLimit)
	}
}
