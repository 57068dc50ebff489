package eventrelay_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/eventrelay"
	"github.com/gatehub/gatehub/internal/fanout"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/storetest"
)

// flakyBus is a Memory bus that refuses publishes while down, and records
// what it accepted.
type flakyBus struct {
	*fanout.Memory
	down atomic.Bool
	mu   sync.Mutex
	got  []string // data of accepted events, in order
}

func (b *flakyBus) Publish(ctx context.Context, topic, typ string, data []byte) (fanout.Event, error) {
	if b.down.Load() {
		return fanout.Event{}, errors.New("bus down")
	}
	b.mu.Lock()
	b.got = append(b.got, string(data))
	b.mu.Unlock()
	return b.Memory.Publish(ctx, topic, typ, data)
}

func (b *flakyBus) accepted() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.got...)
}

func appendEvents(t *testing.T, st store.Store, from, n int) {
	t.Helper()
	err := st.WithTx(t.Context(), func(tx store.Tx) error {
		for i := from; i < from+n; i++ {
			if err := tx.AppendEvent(t.Context(), &store.Event{Topic: "lane/G/L1", Type: "decision", Key: fmt.Sprintf("D%d", i%3), Data: fmt.Appendf(nil, "%d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func newRelay(t *testing.T, st store.Store, bus fanout.Bus, owner string, batch int) *eventrelay.Relay {
	t.Helper()
	r, err := eventrelay.New(eventrelay.Config{Store: st, Bus: bus, Owner: owner, Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func unpublished(t *testing.T, st store.Store) int {
	t.Helper()
	var n int
	if err := st.WithTx(t.Context(), func(tx store.Tx) error {
		evs, err := tx.UnpublishedEvents(t.Context(), 0)
		n = len(evs)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRelay(t *testing.T) {
	for name, open := range map[string]func(testing.TB) store.Store{
		"sqlite": storetest.OpenSQLite, "postgres": storetest.OpenPostgres,
	} {
		t.Run(name, func(t *testing.T) {
			t.Run("BusDownDelaysNeverLoses", func(t *testing.T) { testBusDown(t, open(t)) })
			t.Run("OneRelayAtATime", func(t *testing.T) { testOneRelay(t, open(t)) })
		})
	}
}

// testBusDown: events appended while the bus refuses stay in the store and
// go out, in order and exactly once, when it is back.
func testBusDown(t *testing.T, st store.Store) {
	ctx := t.Context()
	bus := &flakyBus{Memory: fanout.NewMemory(100)}
	t.Cleanup(func() { _ = bus.Close() })
	r := newRelay(t, st, bus, "a", 4)
	appendEvents(t, st, 0, 3)
	bus.down.Store(true)
	if _, err := r.RunOnce(ctx); err == nil {
		t.Fatal("RunOnce with the bus down: no error")
	}
	if got := unpublished(t, st); got != 3 {
		t.Fatalf("unpublished after failed round = %d, want 3", got)
	}
	appendEvents(t, st, 3, 6)
	bus.down.Store(false)
	for i := 0; ; i++ {
		more, err := r.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
		if i > 10 {
			t.Fatal("relay never drained")
		}
	}
	got := bus.accepted()
	if len(got) != 9 {
		t.Fatalf("published %d events, want 9: %v", len(got), got)
	}
	for i, d := range got {
		if d != fmt.Sprint(i) {
			t.Fatalf("published out of order: %v", got)
		}
	}
	if n := unpublished(t, st); n != 0 {
		t.Fatalf("%d events left unpublished", n)
	}
	if r.Published() != 9 {
		t.Fatalf("Published() = %d", r.Published())
	}
}

// testOneRelayAtATime: of two instances' relays, only the lease holder
// publishes; the other takes over once the lease lapses.
func testOneRelay(t *testing.T, st store.Store) {
	ctx := t.Context()
	bus := &flakyBus{Memory: fanout.NewMemory(100)}
	t.Cleanup(func() { _ = bus.Close() })
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	mk := func(owner string) *eventrelay.Relay {
		r, err := eventrelay.New(eventrelay.Config{Store: st, Bus: bus, Owner: owner, Now: clock, Lease: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := mk("a"), mk("b")
	appendEvents(t, st, 0, 2)
	if _, err := a.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, st, 2, 2)
	if _, err := b.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if b.Published() != 0 || a.Published() != 2 {
		t.Fatalf("while a holds the lease: a published %d, b %d", a.Published(), b.Published())
	}
	now.Add(int64(11 * time.Second)) // a stops renewing (crashed)
	if _, err := b.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if b.Published() != 2 {
		t.Fatalf("after a's lease lapsed: b published %d, want 2", b.Published())
	}
	if got := bus.accepted(); fmt.Sprint(got) != "[0 1 2 3]" {
		t.Fatalf("bus got %v", got)
	}
}

func TestSnapshotIsNewestPerKey(t *testing.T) {
	st := storetest.OpenSQLite(t)
	appendEvents(t, st, 0, 7) // keys D0 D1 D2 D0 D1 D2 D0
	got, err := eventrelay.Snapshot(t.Context(), st, "lane/G/L1", 10)
	if err != nil {
		t.Fatal(err)
	}
	var data []string
	for _, e := range got {
		data = append(data, string(e.Data))
	}
	if fmt.Sprint(data) != "[4 5 6]" {
		t.Fatalf("snapshot %v, want [4 5 6]", data)
	}
}

func TestNewRefuses(t *testing.T) {
	st := storetest.OpenSQLite(t)
	bus := fanout.NewMemory(1)
	for name, cfg := range map[string]eventrelay.Config{
		"no store":         {Bus: bus, Owner: "a"},
		"no owner":         {Store: st, Bus: bus},
		"publish vs lease": {Store: st, Bus: bus, Owner: "a", Lease: time.Second, PublishTimeout: time.Second},
	} {
		if _, err := eventrelay.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}
