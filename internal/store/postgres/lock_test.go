package postgres_test

import (
	"context"
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
			State: store.StatePending, LeaseOwner: "hub-1", LeaseUntil: now.Add(time.Minute)})
	})
	if err != nil {
		t.Fatal(err)
	}

	firstRead := make(chan struct{})
	secondStarted := make(chan struct{})
	secondSaw := make(chan string, 1)
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
			m.State, m.LeaseOwner, m.LeaseUntil = store.StateAcked, "", time.Time{}
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
			if m.LeaseOwner != "hub-1" || m.State != store.StatePending {
				return nil // someone else settled it: their state wins
			}
			m.State = store.StateSent
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
	if saw := <-secondSaw; saw != store.StateAcked {
		t.Errorf("second transaction read %q while the first held the row, want it to wait and read %q", saw, store.StateAcked)
	}
	err = a.WithTx(ctx, func(tx store.Tx) error {
		m, err := tx.GetMessage(ctx, "M")
		if err == nil && m.State != store.StateAcked {
			t.Errorf("final state %q: an update was lost", m.State)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
