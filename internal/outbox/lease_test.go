package outbox_test

import (
	"context"
	"github.com/gatehub/gatehub/internal/message"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/outbox"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/storetest"
)

// blockingSender stands for an agency that never answers: it returns only
// when its context ends, reporting how long that took.
type blockingSender struct{ waited chan time.Duration }

func (s blockingSender) Send(ctx context.Context, _ store.Message) outbox.Result {
	start := time.Now()
	<-ctx.Done()
	s.waited <- time.Since(start)
	return outbox.Result{Outcome: outbox.Temporary, Err: ctx.Err()}
}

// An attempt may not outlive its lease, whatever the transport's own
// timeouts: once the lease expires another instance may claim the message,
// and two sends of one attempt would race.
func TestSendEndsWithTheLease(t *testing.T) {
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	now := time.Now()
	err := st.WithTx(ctx, func(tx store.Tx) error {
		if err := tx.InsertDeclaration(ctx, &store.Declaration{ID: "D", Version: 1}); err != nil {
			return err
		}
		return tx.InsertMessage(ctx, &store.Message{ID: "M", DeclarationID: "D", Version: 1, Agency: "customs",
			State: message.Pending, NextAttemptAt: now.Add(-time.Second)})
	})
	if err != nil {
		t.Fatal(err)
	}
	sender := blockingSender{waited: make(chan time.Duration, 1)}
	d := &outbox.Dispatcher{Store: st, Sender: sender, Policy: outbox.DefaultPolicy(), Owner: "hub-1",
		Lease: 200 * time.Millisecond, Now: time.Now}
	done := make(chan error, 1)
	go func() { _, err := d.RunOnce(ctx); done <- err }()
	select {
	case waited := <-sender.waited:
		if waited > 2*time.Second {
			t.Errorf("send ran %s past a 200ms lease", waited)
		}
	case <-time.After(10 * time.Second): // a guard against hanging, not a synchronisation
		t.Fatal("send was not cut off when its lease ended")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	err = st.WithTx(ctx, func(tx store.Tx) error {
		m, err := tx.GetMessage(ctx, "M")
		if err == nil && (m.State != message.Pending || m.Attempts != 1) {
			t.Errorf("state %s after %d attempts, want a failed attempt to retry", m.State, m.Attempts)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
