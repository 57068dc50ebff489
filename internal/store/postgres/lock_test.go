package postgres_test

import (
	"context"
	"github.com/gatehub/gatehub/internal/message"
	"sync"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/storetest"
)

// An async ACK and the dispatcher's settle both read a message and write it
// back. Two hub instances (two pools) do so at READ COMMITTED; without a row
// lock the second reader saw the old row and its write undid the first (a
// message answered "acked" went back to "sent" for good). GetMessage must
// make the second transaction wait and then see the first one's write.
func TestGetMessageLocksForReadModifyWrite(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	err := a.WithTx(ctx, func(tx store.Tx) error {
		if err := tx.InsertDeclaration(ctx, &store.Declaration{ID: "D", Version: 1}); err != nil {
			return err
		}
		return tx.InsertMessage(ctx, &store.Message{ID: "M", DeclarationID: "D", Version: 1, Agency: "guangxi",
			State: message.Pending, LeaseOwner: "hub-1", LeaseUntil: now.Add(time.Minute)})
	})
	if err != nil {
		t.Fatal(err)
	}

	firstRead := make(chan struct{})
	secondStarted := make(chan struct{})
	secondSaw := make(chan message.State, 1)
	errs := make(chan error, 2)
	go func() {
		// The ACK: read, then write "acked" once the settle is on its way.
		errs <- a.WithTx(ctx, func(tx store.Tx) error {
			m, err := tx.GetMessage(ctx, "M")
			if err != nil {
				return err
			}
			close(firstRead)
			<-secondStarted
			m.State, m.LeaseOwner, m.LeaseUntil = message.Acked, "", time.Time{}
			return tx.UpdateMessage(ctx, m)
		})
	}()
	go func() {
		<-firstRead
		// The settle: what it reads decides what it writes.
		errs <- b.WithTx(ctx, func(tx store.Tx) error {
			select {
			case <-secondStarted:
			default:
				close(secondStarted)
			}
			m, err := tx.GetMessage(ctx, "M")
			if err != nil {
				return err
			}
			secondSaw <- m.State
			if m.LeaseOwner != "hub-1" || m.State != message.Pending {
				return nil // someone else settled it: their state wins
			}
			m.State = message.Sent
			return tx.UpdateMessage(ctx, m)
		})
	}()
	for range 2 {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second): // a guard against hanging, not a synchronisation
			t.Fatal("transactions did not finish")
		}
	}
	if saw := <-secondSaw; saw != message.Acked {
		t.Errorf("second transaction read %q while the first held the row, want it to wait and read %q", saw, message.Acked)
	}
	err = a.WithTx(ctx, func(tx store.Tx) error {
		m, err := tx.GetMessage(ctx, "M")
		if err == nil && m.State != message.Acked {
			t.Errorf("final state %q: an update was lost", m.State)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A deadlock is retried and counted: the metric the hub exports and the
// concurrency tests assert to be zero must see one when it happens. Two
// transactions lock two declarations in opposite orders (what one lock
// order rules out); Postgres aborts one, WithTx runs it again.
func TestDeadlockRetriedAndCounted(t *testing.T) {
	// A database of its own: this deadlock must not count against the
	// tests that assert pg_stat_database.deadlocks stays zero.
	dsn, name := storetest.PostgresDatabase(t)
	a := open(t, dsn)
	ctx := context.Background()
	if err := a.WithTx(ctx, func(tx store.Tx) error {
		for _, id := range []string{"D1", "D2"} {
			if err := tx.InsertDeclaration(ctx, &store.Declaration{ID: id, Version: 1}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var codes []string
	var mu sync.Mutex
	a.OnRetry(func(code string) { mu.Lock(); codes = append(codes, code); mu.Unlock() })
	var first [2]sync.Once
	holding := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	errs := make(chan error, 2)
	for i, order := range [][2]string{{"D1", "D2"}, {"D2", "D1"}} {
		go func() {
			errs <- a.WithTx(ctx, func(tx store.Tx) error {
				if err := tx.LockDeclaration(ctx, order[0]); err != nil {
					return err
				}
				// Only the first attempt waits for the other: the retry of
				// the victim must go through.
				first[i].Do(func() {
					close(holding[i])
					<-holding[1-i]
				})
				return tx.LockDeclaration(ctx, order[1])
			})
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("transaction: %v", err)
		}
	}
	// At least the one provoked; the victim's retry may collide once more
	// (a row lock released by an abort is not handed to the waiter, so the
	// retry can take it first). Each is counted on both sides alike.
	got := a.Deadlocks()
	if got < 1 {
		t.Errorf("Deadlocks() = %d, want at least 1", got)
	}
	mu.Lock()
	for _, c := range codes {
		if c != "40P01" {
			t.Errorf("OnRetry saw %s, want only 40P01", c)
		}
	}
	if int64(len(codes)) != got {
		t.Errorf("OnRetry called %d times, Deadlocks() = %d", len(codes), got)
	}
	mu.Unlock()
	// The server saw the same: the oracle the concurrency tests read.
	_ = a.Close()
	if server := storetest.ServerDeadlocks(t, name); server != got {
		t.Errorf("pg_stat_database.deadlocks = %d, the store counted %d", server, got)
	}
}
