package fanout

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehub/gatehub/internal/redistest"
)

func TestRedisContract(t *testing.T) {
	t.Run("one instance", func(t *testing.T) {
		runContract(t, func(t *testing.T, retain int, opts ...Option) (Bus, Bus) {
			client, prefix := redistest.Client(t)
			b := NewRedis(client, prefix, retain, opts...)
			t.Cleanup(func() { _ = b.Close() })
			return b, b
		})
	})
	// Publisher and subscriber on different hub instances sharing one Redis:
	// the production shape behind the load balancer.
	t.Run("two instances", func(t *testing.T) {
		runContract(t, func(t *testing.T, retain int, opts ...Option) (Bus, Bus) {
			client, prefix := redistest.Client(t)
			a := NewRedis(client, prefix, retain, opts...)
			b := NewRedis(client, prefix, retain, opts...)
			t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
			return a, b
		})
	})
}

func TestRedisStreamIsCapped(t *testing.T) {
	ctx := context.Background()
	client, prefix := redistest.Client(t)
	b := NewRedis(client, prefix, 10)
	defer b.Close()
	publishN(t, b, "lane-1", 0, 1000)
	n, err := client.XLen(ctx, b.streamKey("lane-1")).Result()
	if err != nil {
		t.Fatal(err)
	}
	// MAXLEN ~ trims whole macro nodes (100 entries by default).
	if n < 10 || n > 200 {
		t.Fatalf("stream holds %d entries, want about 10", n)
	}
}

func TestRedisPrefixesAreIsolated(t *testing.T) {
	ctx := context.Background()
	client, prefix := redistest.Client(t)
	// A prefix with glob metacharacters must still match only itself.
	a := NewRedis(client, prefix+"a*:", 10)
	other := NewRedis(client, prefix+"ab:", 10)
	defer a.Close()
	defer other.Close()
	ch, err := a.Subscribe(ctx, "lane-1", "")
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, other, "lane-1", 0, 3)
	want := publishN(t, a, "lane-1", 0, 1)[0]
	sameEvent(t, recv(t, ch), want)
}

func TestRedisLostConnectionEndsSubscriptions(t *testing.T) {
	ctx := context.Background()
	shared, prefix := redistest.Client(t)
	// A client of our own, named, so only this bus's Pub/Sub connection is
	// killed and not those of tests running alongside on the same server.
	opts := *shared.Options()
	opts.ClientName = strings.ReplaceAll(prefix, ":", "-") + "bus"
	client := redis.NewClient(&opts)
	defer client.Close()
	b := NewRedis(client, prefix, 100)
	defer b.Close()
	ch, err := b.Subscribe(ctx, "lane-1", "")
	if err != nil {
		t.Fatal(err)
	}
	first := publishN(t, b, "lane-1", 0, 1)[0]
	sameEvent(t, recv(t, ch), first)

	killPubSub(t, shared, opts.ClientName)
	expectClosed(t, ch)

	// Events published meanwhile are recovered by resuming, once the bus
	// has resubscribed.
	missed := publishN(t, b, "lane-1", 1, 2)
	var again <-chan Event
	deadline := time.After(failsafe)
	for again == nil {
		again, err = b.Subscribe(ctx, "lane-1", first.ID)
		if err == nil {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("no resubscription: %v", err)
		default:
		}
		b.mu.Lock()
		changed := b.changed
		b.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no resubscription: %v", err)
		}
	}
	for _, w := range missed {
		sameEvent(t, recv(t, again), w)
	}
	live := publishN(t, b, "lane-1", 3, 1)[0]
	sameEvent(t, recv(t, again), live)
}

// killPubSub closes, from the server side, the pattern-subscribed
// connections carrying name.
func killPubSub(t *testing.T, admin *redis.Client, name string) {
	t.Helper()
	ctx := context.Background()
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for line := range strings.SplitSeq(list, "\n") {
		fields := map[string]string{}
		for f := range strings.FieldsSeq(line) {
			k, v, _ := strings.Cut(f, "=")
			fields[k] = v
		}
		if fields["name"] != name || fields["psub"] == "0" || fields["psub"] == "" {
			continue
		}
		if err := admin.Do(ctx, "CLIENT", "KILL", "ID", fields["id"]).Err(); err != nil {
			t.Fatal(err)
		}
		killed++
	}
	if killed == 0 {
		t.Fatalf("no pub/sub connection named %q", name)
	}
}

func TestRedisServeSSE(t *testing.T) {
	ctx := context.Background()
	client, prefix := redistest.Client(t)
	a := NewRedis(client, prefix, 100)
	b := NewRedis(client, prefix, 100)
	defer a.Close()
	defer b.Close()
	// The device is connected to instance B; decisions are made on A.
	srv := newSSEServer(t, b, 0)
	stream, _ := srv.connect(t, ctx, "", false)
	ev, err := a.Publish(ctx, "lane-1", "decision", []byte("OPEN\n29C-12345"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := stream.next()
	if err != nil {
		t.Fatal(err)
	}
	if want := (sseEvent{id: ev.ID, typ: "decision", data: "OPEN\n29C-12345"}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestRedisUnreachableFailsFast(t *testing.T) {
	// Port 1 on loopback refuses connections; no Redis needed.
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer client.Close()
	b := NewRedis(client, "unreachable:", 10)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), failsafe)
	defer cancel()
	if _, err := b.Subscribe(ctx, "lane-1", ""); err == nil || ctx.Err() != nil {
		t.Fatalf("subscribe: %v (ctx %v), want a connection error before the deadline", err, ctx.Err())
	}
	if _, err := b.Publish(ctx, "lane-1", "decision", nil); err == nil {
		t.Fatal("publish to unreachable Redis succeeded")
	}
}
