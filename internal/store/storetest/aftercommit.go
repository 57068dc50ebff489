package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehub/gatehub/internal/store"
)

// testAfterCommit: what a transaction registers with AfterCommit runs
// exactly once after it committed, sees what it committed, and never runs
// after a rollback (error or panic), whichever kind of transaction.
func testAfterCommit(t *testing.T, s store.Store) {
	boom := errors.New("boom")
	cases := []struct {
		name    string
		read    bool  // WithReadTx instead of WithTx
		fail    error // fn's error
		panics  bool
		wantRun int
	}{
		{name: "commit", wantRun: 1},
		{name: "error", fail: boom},
		{name: "panic", panics: true},
		{name: "read", read: true, wantRun: 1},
		{name: "read error", read: true, fail: boom},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			id := fmt.Sprintf("after-%d", i)
			var runs atomic.Int32
			var seen error
			fn := func(tx store.Tx) error {
				if !tc.read {
					if err := tx.InsertDeclaration(ctx, decl(id, 1, "T", "", "", at(0))); err != nil {
						return err
					}
				}
				tx.AfterCommit(func() {
					runs.Add(1)
					if !tc.read {
						// The effect follows the commit: a new transaction sees it.
						seen = s.WithReadTx(context.WithoutCancel(ctx), func(tx store.Tx) error {
							_, err := tx.LatestDeclaration(ctx, id)
							return err
						})
					}
				})
				if tc.panics {
					panic("kaboom")
				}
				return tc.fail
			}
			run := s.WithTx
			if tc.read {
				run = s.WithReadTx
			}
			func() {
				defer func() {
					if p := recover(); (p != nil) != tc.panics {
						t.Errorf("recovered %v, panics %v", p, tc.panics)
					}
				}()
				if err := run(ctx, fn); !errors.Is(err, tc.fail) {
					t.Errorf("err = %v, want %v", err, tc.fail)
				}
			}()
			if got := int(runs.Load()); got != tc.wantRun {
				t.Errorf("effect ran %d times, want %d", got, tc.wantRun)
			}
			if seen != nil {
				t.Errorf("effect did not see the committed declaration: %v", seen)
			}
		})
	}
}

// testAfterCommitConcurrent: transactions committed side by side (one
// group commit on the embedded store) each run their own effects only, and
// a failing one among them runs none.
func testAfterCommitConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 16
	var runs [n]atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_ = s.WithTx(ctx, func(tx store.Tx) error {
				if err := tx.InsertDeclaration(ctx, decl(fmt.Sprintf("group-%d", i), 1, "T", "", "", at(0))); err != nil {
					return err
				}
				tx.AfterCommit(func() { runs[i].Add(1) })
				if i%2 == 1 {
					return errors.New("odd ones roll back")
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i := range n {
		want := int32(1 - i%2)
		if got := runs[i].Load(); got != want {
			t.Errorf("transaction %d: effect ran %d times, want %d", i, got, want)
		}
	}
}
