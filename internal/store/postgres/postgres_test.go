package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/postgres"
	"github.com/gatehub/gatehub/internal/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.OpenPostgres(t) })
}

func open(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Several hub instances starting at once on an empty schema must not race
// on the migrations, and reopening must not re-apply them.
func TestConcurrentOpen(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				errs <- err
				return
			}
			errs <- s.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent open: %v", err)
		}
	}
	s := open(t, dsn)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Two pools on one schema stand in for two hub processes: ClaimDue must
// never hand the same message to both while the lease holds.
func TestClaimDueAcrossInstances(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	const messages = 200
	err := a.WithTx(ctx, func(tx store.Tx) error {
		if err := tx.InsertDeclaration(ctx, &store.Declaration{ID: "D", Version: 1}); err != nil {
			return err
		}
		for i := range messages {
			err := tx.InsertMessage(ctx, &store.Message{ID: fmt.Sprintf("M%04d", i), DeclarationID: "D", Version: 1,
				Agency: "customs", State: message.Pending, NextAttemptAt: now.Add(-time.Second)})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	owners := storetest.ClaimAll(t, []store.Store{a, b}, 16, now, 4, now.Add(time.Minute))
	if len(owners) != messages {
		t.Errorf("claimed %d distinct messages, want %d", len(owners), messages)
	}
	// Both instances did share the work (not a correctness property, but a
	// claimer that serialized everything through one pool would hide bugs).
	perStore := map[int]int{}
	for _, owner := range owners {
		var w int
		fmt.Sscanf(owner, "worker-%d", &w)
		perStore[w%2]++
	}
	t.Logf("claims per instance: %v", perStore)
}

// Audit appends from two pools serialize on the head lock: the chain has no
// gaps and no forks.
func TestAuditAcrossInstances(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	stores := []*postgres.Store{open(t, dsn), open(t, dsn)}
	ctx := context.Background()
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		s := stores[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := s.WithTx(ctx, func(tx store.Tx) error {
					seq, prev, err := tx.AuditHead(ctx)
					if err != nil {
						return err
					}
					return tx.AppendAudit(ctx, &store.AuditEntry{Seq: seq + 1, Time: time.Now(), Kind: "x",
						PrevHash: prev, Hash: fmt.Appendf(nil, "h%d", seq+1)})
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	err := stores[0].WithTx(ctx, func(tx store.Tx) error {
		got, err := tx.ListAudit(ctx, store.AuditFilter{})
		if err != nil {
			return err
		}
		if len(got) != workers*each {
			t.Fatalf("%d entries, want %d", len(got), workers*each)
		}
		for i, e := range got {
			if e.Seq != int64(i+1) {
				t.Fatalf("entry %d has seq %d", i, e.Seq)
			}
			if i > 0 && string(e.PrevHash) != string(got[i-1].Hash) {
				t.Fatalf("seq %d forks from its predecessor", e.Seq)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWithTxRetries(t *testing.T) {
	s := storetest.OpenPostgres(t)
	ctx := context.Background()
	tests := []struct {
		name      string
		failFirst int
		code      string
		wantCalls int
		wantErr   bool
	}{
		{"serialization failure then success", 2, "40001", 3, false},
		{"deadlock then success", 1, "40P01", 2, false},
		{"always failing gives up", 100, "40001", 5, true},
		{"other errors are not retried", 100, "23505", 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := s.WithTx(ctx, func(tx store.Tx) error {
				calls++
				if calls <= tc.failFirst {
					return fmt.Errorf("step: %w", &pgconn.PgError{Code: tc.code})
				}
				return nil
			})
			if calls != tc.wantCalls {
				t.Errorf("fn ran %d times, want %d", calls, tc.wantCalls)
			}
			if (err != nil) != tc.wantErr {
				t.Errorf("err = %v, wantErr %v", err, tc.wantErr)
			}
			var pgErr *pgconn.PgError
			if err != nil && !errors.As(err, &pgErr) {
				t.Errorf("err %v does not wrap the Postgres error", err)
			}
		})
	}
}

func BenchmarkDeclarationTx(b *testing.B) {
	storetest.BenchDeclarationTx(b, storetest.OpenPostgres(b))
}
