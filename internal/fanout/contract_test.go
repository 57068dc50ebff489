package fanout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// newPair returns the Bus to publish on and the Bus to subscribe on. For
// Memory they are the same; for Redis they may be two instances sharing one
// Redis, which is the production shape behind a load balancer.
type newPair func(t *testing.T, retain int, opts ...Option) (pub, sub Bus)

// failsafe bounds waits so a broken implementation fails instead of hanging;
// nothing waits on it in a passing run.
const failsafe = 10 * time.Second

func recv(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed, want an event")
		}
		return ev
	case <-time.After(failsafe):
		t.Fatal("no event within failsafe")
	}
	return Event{}
}

func expectClosed(t *testing.T, ch <-chan Event) {
	t.Helper()
	deadline := time.After(failsafe)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("subscription not closed within failsafe")
		}
	}
}

func publishN(t *testing.T, b Bus, topic string, from, n int) []Event {
	t.Helper()
	out := make([]Event, 0, n)
	for i := from; i < from+n; i++ {
		ev, err := b.Publish(context.Background(), topic, "decision", fmt.Appendf(nil, "e%d", i))
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		out = append(out, ev)
	}
	return out
}

func sameEvent(t *testing.T, got, want Event) {
	t.Helper()
	if got.ID != want.ID || got.Topic != want.Topic || got.Type != want.Type || !bytes.Equal(got.Data, want.Data) {
		t.Fatalf("got event %s/%s/%s/%q, want %s/%s/%s/%q",
			got.Topic, got.ID, got.Type, got.Data, want.Topic, want.ID, want.Type, want.Data)
	}
	if !got.Time.Equal(want.Time) {
		t.Fatalf("event %s: time %v, want %v", got.ID, got.Time, want.Time)
	}
}

// drainUntil reads events up to and including the one with id stop.
func drainUntil(t *testing.T, ch <-chan Event, stop string) []Event {
	t.Helper()
	var got []Event
	for {
		ev := recv(t, ch)
		got = append(got, ev)
		if ev.ID == stop {
			return got
		}
	}
}

func runContract(t *testing.T, pair newPair) {
	ctx := context.Background()

	t.Run("live events in order with increasing ids", func(t *testing.T) {
		pub, sub := pair(t, 100)
		ch, err := sub.Subscribe(ctx, "lane-1", "")
		if err != nil {
			t.Fatal(err)
		}
		want := publishN(t, pub, "lane-1", 0, 20)
		var prev eventID
		for i, w := range want {
			got := recv(t, ch)
			sameEvent(t, got, w)
			id, err := parseID(got.ID)
			if err != nil {
				t.Fatal(err)
			}
			if i > 0 && !prev.less(id) {
				t.Fatalf("id %s not after %s", id, prev)
			}
			prev = id
		}
	})

	t.Run("topics are isolated", func(t *testing.T) {
		pub, sub := pair(t, 100)
		ch, err := sub.Subscribe(ctx, "lane-a", "")
		if err != nil {
			t.Fatal(err)
		}
		publishN(t, pub, "lane-b", 0, 3)
		want := publishN(t, pub, "lane-a", 0, 1)[0]
		sameEvent(t, recv(t, ch), want)
	})

	t.Run("resume replays after the id then continues live", func(t *testing.T) {
		pub, sub := pair(t, 100)
		first := publishN(t, pub, "lane-1", 0, 5)
		ch, err := sub.Subscribe(ctx, "lane-1", first[1].ID)
		if err != nil {
			t.Fatal(err)
		}
		more := publishN(t, pub, "lane-1", 5, 3)
		want := append(first[2:], more...)
		for _, w := range want {
			sameEvent(t, recv(t, ch), w)
		}
		// Nothing duplicated: the next event is exactly the next published.
		next := publishN(t, pub, "lane-1", 8, 1)[0]
		sameEvent(t, recv(t, ch), next)
	})

	t.Run("resume while publishing has no gap and no duplicate", func(t *testing.T) {
		const total = 300
		// The buffer holds every event so the test can read after the
		// publisher finishes; dropping is covered by its own case.
		pub, sub := pair(t, 1000, WithSubscriberBuffer(total))
		first := publishN(t, pub, "lane-1", 0, 10)
		done := make(chan []Event, 1)
		go func() {
			var evs []Event
			for i := 10; i < total; i++ {
				ev, err := pub.Publish(ctx, "lane-1", "decision", fmt.Appendf(nil, "e%d", i))
				if err != nil {
					t.Errorf("publish %d: %v", i, err)
					break
				}
				evs = append(evs, ev)
			}
			done <- evs
		}()
		// Subscribing races the publisher on purpose: wherever the
		// replay/live boundary falls, the sequence must be exact.
		ch, err := sub.Subscribe(ctx, "lane-1", first[4].ID)
		if err != nil {
			t.Fatal(err)
		}
		rest := <-done
		want := append(first[5:], rest...)
		got := drainUntil(t, ch, want[len(want)-1].ID)
		if len(got) != len(want) {
			t.Fatalf("got %d events, want %d", len(got), len(want))
		}
		for i := range want {
			sameEvent(t, got[i], want[i])
		}
	})

	t.Run("stale or invalid id replays everything retained", func(t *testing.T) {
		const retain = 5
		pub, sub := pair(t, retain)
		// Enough events that Redis, which trims whole 100-entry nodes
		// under MAXLEN ~, has certainly dropped the oldest.
		all := publishN(t, pub, "lane-1", 0, 250)
		for _, last := range []string{all[0].ID, "0-0", "1", "not-an-id"} {
			t.Run(last, func(t *testing.T) {
				ch, err := sub.Subscribe(ctx, "lane-1", last)
				if err != nil {
					t.Fatal(err)
				}
				got := drainUntil(t, ch, all[len(all)-1].ID)
				// Redis trims approximately, so at least retain events are
				// kept; whatever is kept must be the newest, contiguous.
				if len(got) < retain || len(got) >= len(all) {
					t.Fatalf("replayed %d events, want at least %d and fewer than the %d published", len(got), retain, len(all))
				}
				tail := all[len(all)-len(got):]
				for i := range tail {
					sameEvent(t, got[i], tail[i])
				}
			})
		}
	})

	t.Run("id beyond the newest replays nothing and stays live", func(t *testing.T) {
		pub, sub := pair(t, 100)
		publishN(t, pub, "lane-1", 0, 3)
		ch, err := sub.Subscribe(ctx, "lane-1", "99999999999999-0")
		if err != nil {
			t.Fatal(err)
		}
		// The device's id is not used to filter live events: a device
		// holding an id from a reset bus must not be starved.
		next := publishN(t, pub, "lane-1", 3, 1)[0]
		sameEvent(t, recv(t, ch), next)
	})

	t.Run("cancelling the context closes the channel", func(t *testing.T) {
		_, sub := pair(t, 100)
		cctx, cancel := context.WithCancel(ctx)
		ch, err := sub.Subscribe(cctx, "lane-1", "")
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		expectClosed(t, ch)
	})

	t.Run("closing the bus closes subscriptions and refuses use", func(t *testing.T) {
		_, sub := pair(t, 100)
		ch, err := sub.Subscribe(ctx, "lane-1", "")
		if err != nil {
			t.Fatal(err)
		}
		if err := sub.Close(); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, ch)
		if _, err := sub.Subscribe(ctx, "lane-1", ""); !errors.Is(err, ErrClosed) {
			t.Fatalf("subscribe after close: %v, want ErrClosed", err)
		}
		if _, err := sub.Publish(ctx, "lane-1", "decision", nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("publish after close: %v, want ErrClosed", err)
		}
	})

	t.Run("slow subscriber is dropped without blocking the publisher and resumes", func(t *testing.T) {
		pub, sub := pair(t, 1000, WithSubscriberBuffer(2))
		slow, err := sub.Subscribe(ctx, "lane-1", "")
		if err != nil {
			t.Fatal(err)
		}
		// The slow subscriber reads nothing while 100 events go out; if a
		// publisher waited for it this would never return.
		all := publishN(t, pub, "lane-1", 0, 100)
		var seen []Event
		deadline := time.After(failsafe)
	read:
		for {
			select {
			case ev, ok := <-slow:
				if !ok {
					break read
				}
				seen = append(seen, ev)
			case <-deadline:
				t.Fatal("slow subscriber not dropped")
			}
		}
		if len(seen) >= len(all) {
			t.Fatalf("slow subscriber got all %d events, expected to be dropped", len(seen))
		}
		for i := range seen {
			sameEvent(t, seen[i], all[i])
		}
		// Let every event still in flight to the subscribing side arrive
		// before resuming: the bus delivers in publish order, so once a
		// later fence event is through, none is left to land on the resumed
		// subscription's two-slot buffer and drop it again.
		fence, err := sub.Subscribe(ctx, "fence", "")
		if err != nil {
			t.Fatal(err)
		}
		publishN(t, pub, "fence", 0, 1)
		recv(t, fence)
		// What an SSE client does next: reconnect with its last id.
		last := ""
		if len(seen) > 0 {
			last = seen[len(seen)-1].ID
		} else {
			last = "0-0"
		}
		again, err := sub.Subscribe(ctx, "lane-1", last)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range all[len(seen):] {
			sameEvent(t, recv(t, again), w)
		}
	})

	t.Run("invalid input", func(t *testing.T) {
		pub, sub := pair(t, 100)
		if _, err := pub.Publish(ctx, "", "decision", nil); err == nil {
			t.Error("publish to empty topic accepted")
		}
		if _, err := pub.Publish(ctx, "lane-1", "a\nid: 1", nil); err == nil {
			t.Error("event type with a line break accepted")
		}
		if _, err := sub.Subscribe(ctx, "", ""); err == nil {
			t.Error("subscribe to empty topic accepted")
		}
	})
}
