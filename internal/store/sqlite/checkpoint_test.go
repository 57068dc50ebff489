package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// Commits no longer checkpoint (wal_autocheckpoint is off on the writer):
// what they write stays in the WAL until the checkpointer copies it, and
// what it copied is in the database file, readable with the WAL gone.
func TestCheckpointerCopiesCommittedFrames(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	// The checkpointer's own ticks must not interfere with what is counted.
	s, err := open(ctx, path, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Enough to cross SQLite's default threshold of 1000 pages.
	payload := make([]byte, 64<<10)
	for i := range 80 {
		err := s.WithTx(ctx, func(tx store.Tx) error {
			return tx.AppendAudit(ctx, &store.AuditEntry{Kind: "test", Actor: "test", Payload: payload, Seq: int64(i + 1)})
		})
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	frames, copied, err := s.checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if frames < 1000 || copied != frames {
		t.Fatalf("checkpoint: %d of %d frames copied; want all of more than 1000 (commits must not have checkpointed)", copied, frames)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = open(ctx, path, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	err = s.WithReadTx(ctx, func(tx store.Tx) error {
		seq, _, err := tx.AuditHead(ctx)
		if err == nil && seq != 80 {
			t.Errorf("after reopening, audit head %d, want 80", seq)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
