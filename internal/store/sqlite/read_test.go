package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// Read sessions are lent out again and again: each read transaction must
// start from what is committed now, never from a snapshot a previous
// borrower left open, however that borrower ended. (Rows left open are not
// among the endings: every query of this package closes its rows, as it
// must on a connection the store keeps.)
func TestReadSessionsSeeLaterCommits(t *testing.T) {
	ctx := context.Background()
	s := openQuiet(t)
	endings := []struct {
		name string
		fn   func(tx *tx) error
	}{
		{"returns", func(*tx) error { return nil }},
		{"fails", func(*tx) error { return errors.New("caller failed") }},
		{"fails a statement", func(t *tx) error {
			_, err := t.tx.QueryContext(ctx, `SELECT no_such_column FROM declarations`)
			return err
		}},
		{"reads with a context that has ended", func(t *tx) error {
			ended, cancel := context.WithCancel(ctx)
			cancel()
			_, err := t.LatestDeclaration(ended, "D")
			return err
		}},
		{"tries to write", func(t *tx) error {
			return t.InsertDeclaration(ctx, &store.Declaration{ID: "W", Version: 1})
		}},
	}
	version := 0
	// Enough rounds that every session is borrowed after every ending.
	for round := range 2 * readConns {
		for _, end := range endings {
			version++
			if err := s.WithTx(ctx, func(tx store.Tx) error {
				return tx.InsertDeclaration(ctx, &store.Declaration{ID: "D", Version: version})
			}); err != nil {
				t.Fatalf("round %d, insert v%d: %v", round, version, err)
			}
			_ = s.WithReadTx(ctx, func(t store.Tx) error { return end.fn(t.(*tx)) })
			err := s.WithReadTx(ctx, func(tx store.Tx) error {
				d, err := tx.LatestDeclaration(ctx, "D")
				if err != nil {
					return err
				}
				if d.Version != version {
					return errors.New("stale snapshot")
				}
				return nil
			})
			if err != nil {
				t.Fatalf("round %d, after a reader that %s: read v%d: %v", round, end.name, version, err)
			}
		}
	}
}

// A reader whose context ends while every session is lent out gives up
// instead of waiting for one.
func TestReadWaitEndsWithContext(t *testing.T) {
	ctx := context.Background()
	s := openQuiet(t)
	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, readConns)
	for range readConns {
		go func() {
			done <- s.WithReadTx(ctx, func(store.Tx) error {
				holding <- struct{}{}
				<-release
				return nil
			})
		}()
	}
	for range readConns {
		<-holding
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.WithReadTx(cctx, func(store.Tx) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("read with every session lent out and a cancelled context: %v, want context.Canceled", err)
	}
	close(release)
	for range readConns {
		if err := <-done; err != nil {
			t.Errorf("holder: %v", err)
		}
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("ping after the holders returned: %v", err)
	}
}

// openQuiet opens a store in a test directory whose checkpointer does not
// tick during the test; closed when the test ends.
func openQuiet(t *testing.T) *Store {
	t.Helper()
	s, err := open(context.Background(), filepath.Join(t.TempDir(), "hub.db"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Reads after Close fail at once instead of waiting for a session that
// will never come back.
func TestReadAfterClose(t *testing.T) {
	s, err := open(context.Background(), filepath.Join(t.TempDir(), "hub.db"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.WithReadTx(context.Background(), func(store.Tx) error { return nil }); err == nil {
		t.Error("read after Close: no error")
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Error("ping after Close: no error")
	}
}

// Readiness has a connection of its own: with every read session lent out
// and the writer inside a transaction, Ping still answers at once (through
// the read sessions it queued behind the load it was meant to judge).
func TestPingAnswersUnderLoad(t *testing.T) {
	ctx := context.Background()
	s := openQuiet(t)
	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, readConns+1)
	for range readConns {
		go func() {
			done <- s.WithReadTx(ctx, func(store.Tx) error {
				holding <- struct{}{}
				<-release
				return nil
			})
		}()
	}
	go func() {
		done <- s.WithTx(ctx, func(store.Tx) error {
			holding <- struct{}{}
			<-release
			return nil
		})
	}()
	for range readConns + 1 {
		<-holding
	}
	start := time.Now()
	err := s.Ping(ctx)
	took := time.Since(start)
	close(release)
	for range readConns + 1 {
		if err := <-done; err != nil {
			t.Errorf("holder: %v", err)
		}
	}
	if err != nil || took > 500*time.Millisecond {
		t.Errorf("ping with every connection busy: %v after %s", err, took)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("ping after Close: %v, want ErrUnavailable", err)
	}
	if err := s.WithTx(ctx, func(store.Tx) error { return nil }); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("transaction after Close: %v, want ErrUnavailable", err)
	}
}
