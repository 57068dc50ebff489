package replay_test

import (
	"context"
	"io"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/ack"
	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/app/apptest"
	"github.com/gatehub/gatehub/internal/bench"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/replay"
	"github.com/gatehub/gatehub/internal/sign"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/sqlite"
)

// storeSource pages through a store's log, one batch in memory.
type storeSource struct {
	st   store.Store
	next int64
	page []store.AuditEntry
}

func (s *storeSource) Next() (*store.AuditEntry, error) {
	if len(s.page) == 0 {
		err := s.st.WithTx(context.Background(), func(tx store.Tx) error {
			var err error
			s.page, err = tx.ListAudit(context.Background(), store.AuditFilter{FromSeq: s.next, Limit: 200})
			return err
		})
		if err != nil {
			return nil, err
		}
		if len(s.page) == 0 {
			return nil, io.EOF
		}
	}
	e := s.page[0]
	s.page = s.page[1:]
	s.next = e.Seq + 1
	return &e, nil
}

func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestRestoreStreamMemoryDoesNotGrowWithTheLog replays synthetic logs of
// 2,200 and 11,000 entries (real signed messages and ACKs) into a store and
// compares the peak live heap each needs: five times the log may not need
// more than 1.5 times the memory, plus 2 MiB of slack.
func TestRestoreStreamMemoryDoesNotGrowWithTheLog(t *testing.T) {
	if testing.Short() {
		t.Skip("builds logs of 11,000 entries")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	reg, err := mapping.Load(filepath.Join(repoRoot, "mappings"))
	if err != nil {
		t.Fatal(err)
	}
	measure := func(decls int) uint64 {
		ctx := context.Background()
		dir := t.TempDir()
		l, err := bench.SyntheticAuditLog(ctx, repoRoot, dir, decls)
		if err != nil {
			t.Fatal(err)
		}
		src, err := sqlite.Open(ctx, filepath.Join(dir, "gatehub.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		ts, err := pki.LoadTrustStore(filepath.Join(dir, "trust"))
		if err != nil {
			t.Fatal(err)
		}
		dst, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "replayed.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		// Each agency's ACKs under its own profile (Guangxi: SM2-SM3), as
		// audit replay reads them.
		acks := &ack.Reader{Verifier: sign.NewVerifier(ts, app.AuditorProfiles(apptest.Agencies(t, repoRoot))...), Mappings: reg}
		runtime.GC()
		base, peak, n := liveHeap(), uint64(0), 0
		read := func(agency string, xml []byte, at time.Time) (mapping.AckFields, error) {
			if n++; n%20 == 0 {
				if h := liveHeap(); h > base && h-base > peak {
					peak = h - base
				}
			}
			return acks.Read(agency, xml, at)
		}
		pos, err := replay.RestoreStream(ctx, dst, &storeSource{st: src, next: 1}, read, replay.RestoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pos.Entries != int64(l.Entries) {
			t.Fatalf("replayed %d entries of %d", pos.Entries, l.Entries)
		}
		return peak
	}
	largeN := 500
	if raceEnabled {
		largeN = 300
	}
	small, large := measure(100), measure(largeN)
	t.Logf("peak live heap above baseline: %d KiB for 2,200 entries, %d KiB for %d", small>>10, large>>10, largeN*bench.EntriesPerDeclaration)
	if large > small*3/2+2<<20 {
		t.Errorf("replay: %d bytes for %d entries, %d for 2,200", large, largeN*bench.EntriesPerDeclaration, small)
	}
}
