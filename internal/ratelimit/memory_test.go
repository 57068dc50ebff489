package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestMemoryContract(t *testing.T) {
	runContract(t, func(t *testing.T, l Limit, now func() time.Time) Limiter {
		return NewMemory(l, now)
	})
}

func TestMemoryBoundsKeys(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := NewMemoryMaxKeys(Limit{Rate: 1, Burst: 1}, clock.Now, 3)
	for i := range 10 {
		if _, err := m.Allow(ctx, fmt.Sprint("k", i)); err != nil {
			t.Fatal(err)
		}
		if m.Len() > 3 {
			t.Fatalf("after %d keys, tracking %d > 3", i+1, m.Len())
		}
	}
	// The most recent keys are the ones kept: k9 is still empty.
	if res, _ := m.Allow(ctx, "k9"); res.Allowed {
		t.Fatal("recently used key was evicted")
	}
}

func TestMemoryForgetsIdleKeys(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := NewMemory(Limit{Rate: 1, Burst: 2}, clock.Now)
	for i := range 5 {
		if _, err := m.Allow(ctx, fmt.Sprint("idle", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Once every bucket has refilled, use of other keys sweeps them out.
	clock.Advance(2 * time.Second)
	for range 5 {
		if _, err := m.Allow(ctx, "active"); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.Len(); n != 1 {
		t.Fatalf("tracking %d keys, want only the active one", n)
	}
}

func TestInvalidLimitPanics(t *testing.T) {
	for _, l := range []Limit{{Rate: 0, Burst: 1}, {Rate: -1, Burst: 1}, {Rate: 1, Burst: 0}} {
		t.Run(fmt.Sprintf("%+v", l), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			NewMemory(l, nil)
		})
	}
}
