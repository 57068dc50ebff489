package txn_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/hubtest"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/txn"
)

var start = time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)

// TestEffects: a transaction's events, audit entries and post-commit
// effects land together or not at all, in its own transaction (InTx) or
// in one somebody else opened (Join).
func TestEffects(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		name string
		join bool // Join inside an outer WithTx
		// failInner fails fn; failOuter fails the outer transaction after
		// Join succeeded.
		failInner, failOuter bool
		wantCommitted        bool
	}{
		{name: "InTx commits", wantCommitted: true},
		{name: "InTx fn fails", failInner: true},
		{name: "Join commits", join: true, wantCommitted: true},
		{name: "Join fn fails", join: true, failInner: true},
		{name: "Join's transaction rolls back later", join: true, failOuter: true},
	}
	for _, st := range hubtest.Stores {
		for _, tc := range cases {
			t.Run(st.Name+"/"+tc.name, func(t *testing.T) {
				ctx := t.Context()
				s := st.Open(t)
				var wakes, eventWakes, observed atomic.Int32
				r := &txn.Runner{Store: s, Now: func() time.Time { return start },
					Wake: func() { wakes.Add(1) }, WakeEvents: func() { eventWakes.Add(1) }}
				work := func(tx store.Tx, fx *txn.Effects) error {
					if err := r.AppendAudit(ctx, tx, store.AuditEntry{Kind: "test.entry", Actor: "test", Payload: txn.AuditJSON(map[string]int{"n": 1})}); err != nil {
						return err
					}
					if err := fx.Publish("lane/G/L1", "test", "k", map[string]string{"v": "1"}); err != nil {
						return err
					}
					fx.Wake()
					fx.Observe(func() { observed.Add(1) })
					if tc.failInner {
						return boom
					}
					return nil
				}
				var err error
				if tc.join {
					err = s.WithTx(ctx, func(tx store.Tx) error {
						if err := r.Join(ctx, tx, work); err != nil {
							return err
						}
						if tc.failOuter {
							return boom
						}
						return nil
					})
				} else {
					err = r.InTx(ctx, work)
				}
				if tc.wantCommitted != (err == nil) {
					t.Fatalf("err = %v", err)
				}
				want := int32(0)
				if tc.wantCommitted {
					want = 1
				}
				if wakes.Load() != want || eventWakes.Load() != want || observed.Load() != want {
					t.Errorf("wakes %d, event wakes %d, observed %d; want %d each", wakes.Load(), eventWakes.Load(), observed.Load(), want)
				}
				var (
					entries []store.AuditEntry
					events  []store.Event
				)
				if err := r.ReadTx(ctx, func(tx store.Tx) error {
					var err error
					if entries, err = tx.ListAudit(ctx, store.AuditFilter{Kind: "test.entry"}); err != nil {
						return err
					}
					events, err = tx.LatestEvents(ctx, "lane/G/L1", 10)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				if len(entries) != int(want) || len(events) != int(want) {
					t.Errorf("%d audit entries, %d events stored; want %d each", len(entries), len(events), want)
				}
				if len(entries) == 1 && (!entries[0].Time.Equal(start) || len(entries[0].Hash) == 0) {
					t.Errorf("entry time %v hash %x: want the runner's clock and a chained hash", entries[0].Time, entries[0].Hash)
				}
			})
		}
	}
}

// TestClock: the runner's clock is truncated to the store's precision, so
// what is stored reads back equal.
func TestClock(t *testing.T) {
	r := &txn.Runner{Now: func() time.Time { return start.Add(123456789) }}
	if got := r.Clock(); !got.Equal(store.Truncate(start.Add(123456789))) {
		t.Errorf("Clock() = %v", got)
	}
}
