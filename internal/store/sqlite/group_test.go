package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/sqlite"
)

// TestGroupCommitIsolatesMembers: many concurrent transactions share
// commits; the ones whose fn fails or panics leave nothing behind, all the
// others are durable (visible after reopening).
func TestGroupCommitIsolatesMembers(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 120
	errBoom := errors.New("boom")
	var wg sync.WaitGroup
	results := make([]error, n)
	panics := make([]any, n)
	for i := range n {
		wg.Go(func() {
			defer func() { panics[i] = recover() }()
			results[i] = s.WithTx(ctx, func(tx store.Tx) error {
				id := fmt.Sprintf("D%03d", i)
				if err := tx.InsertDeclaration(ctx, &store.Declaration{ID: id, Version: 1, CreatedAt: time.Now()}); err != nil {
					return err
				}
				switch i % 10 {
				case 3:
					return errBoom // written, then refused: must vanish
				case 7:
					panic("member panics")
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i := range n {
		switch i % 10 {
		case 3:
			if !errors.Is(results[i], errBoom) {
				t.Errorf("member %d: err = %v, want boom", i, results[i])
			}
		case 7:
			if panics[i] != "member panics" {
				t.Errorf("member %d: panic = %v, want it re-raised in the caller", i, panics[i])
			}
		default:
			if results[i] != nil || panics[i] != nil {
				t.Errorf("member %d: err = %v, panic = %v", i, results[i], panics[i])
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.WithTx(ctx, func(store.Tx) error { return nil }); err == nil {
		t.Error("WithTx after Close succeeded")
	}

	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.WithTx(ctx, func(tx store.Tx) error {
		for i := range n {
			_, err := tx.LatestDeclaration(ctx, fmt.Sprintf("D%03d", i))
			want := i%10 != 3 && i%10 != 7
			if got := err == nil; got != want {
				t.Errorf("declaration %d present = %v, want %v (err %v)", i, got, want, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitCancelledBeforeStart: a caller whose context ended before
// its fn ran gets the context error and fn never runs.
func TestGroupCommitCancelledBeforeStart(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	ran := false
	err = s.WithTx(cctx, func(store.Tx) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("err = %v, ran = %v", err, ran)
	}
}

// TestReadTx: a read transaction sees what was committed and refuses to
// write.
func TestReadTx(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.WithTx(ctx, func(tx store.Tx) error {
		return tx.InsertDeclaration(ctx, &store.Declaration{ID: "D1", Version: 1, CreatedAt: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	err = s.WithReadTx(ctx, func(tx store.Tx) error {
		if _, err := tx.LatestDeclaration(ctx, "D1"); err != nil {
			return fmt.Errorf("committed declaration not visible: %w", err)
		}
		if err := tx.InsertDeclaration(ctx, &store.Declaration{ID: "D2", Version: 1, CreatedAt: time.Now()}); err == nil {
			t.Error("a read transaction wrote")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
