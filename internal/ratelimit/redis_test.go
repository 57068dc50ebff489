package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/redistest"
)

func TestRedisContract(t *testing.T) {
	runContract(t, func(t *testing.T, l Limit, now func() time.Time) Limiter {
		client, prefix := redistest.Client(t)
		return NewRedis(client, prefix, l, now)
	})
}

func TestRedisInstancesShareOneBudget(t *testing.T) {
	ctx := context.Background()
	client, prefix := redistest.Client(t)
	clock := newFakeClock()
	limit := Limit{Rate: 1, Burst: 4}
	a := NewRedis(client, prefix, limit, clock.Now)
	b := NewRedis(client, prefix, limit, clock.Now)

	// Alternating instances spend one bucket: 4 allowed in total, not 8.
	allowed := 0
	for i := range 8 {
		l := Limiter(a)
		if i%2 == 1 {
			l = b
		}
		res, err := l.Allow(ctx, "trader-1")
		if err != nil {
			t.Fatal(err)
		}
		if res.Allowed {
			allowed++
		}
	}
	if allowed != limit.Burst {
		t.Fatalf("allowed %d across two instances, want %d", allowed, limit.Burst)
	}
	clock.Advance(time.Second)
	if res, err := b.Allow(ctx, "trader-1"); err != nil || !res.Allowed {
		t.Fatalf("after refill on the other instance: %+v, %v", res, err)
	}
}

func TestRedisBucketExpires(t *testing.T) {
	ctx := context.Background()
	client, prefix := redistest.Client(t)
	l := NewRedis(client, prefix, Limit{Rate: 100, Burst: 1}, nil)
	if _, err := l.Allow(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	ttl, err := client.PTTL(ctx, prefix+"k").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > 10*time.Second {
		t.Fatalf("bucket ttl %v, want within (0, 10s]", ttl)
	}
}

func TestRedisErrorIsReported(t *testing.T) {
	client, prefix := redistest.Client(t)
	l := NewRedis(client, prefix, Limit{Rate: 1, Burst: 1}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Allow(ctx, "k"); err == nil {
		t.Fatal("Allow with a cancelled context succeeded")
	}
}
