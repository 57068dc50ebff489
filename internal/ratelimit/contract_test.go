package ratelimit

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock is advanced by the test only.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type newLimiter func(t *testing.T, l Limit, now func() time.Time) Limiter

// step is one Allow call after advancing the clock.
type step struct {
	advance time.Duration
	key     string
	want    Result
}

func runContract(t *testing.T, newL newLimiter) {
	tests := []struct {
		name  string
		limit Limit
		steps []step
	}{
		{
			name:  "burst then refuse",
			limit: Limit{Rate: 1, Burst: 3},
			steps: []step{
				{0, "trader-1", Result{Allowed: true, Remaining: 2}},
				{0, "trader-1", Result{Allowed: true, Remaining: 1}},
				{0, "trader-1", Result{Allowed: true, Remaining: 0}},
				{0, "trader-1", Result{RetryAfter: time.Second}},
				{0, "trader-1", Result{RetryAfter: time.Second}},
			},
		},
		{
			name:  "refill follows the clock and caps at burst",
			limit: Limit{Rate: 2, Burst: 2},
			steps: []step{
				{0, "k", Result{Allowed: true, Remaining: 1}},
				{0, "k", Result{Allowed: true, Remaining: 0}},
				{0, "k", Result{RetryAfter: 500 * time.Millisecond}},
				{250 * time.Millisecond, "k", Result{RetryAfter: 250 * time.Millisecond}},
				{250 * time.Millisecond, "k", Result{Allowed: true, Remaining: 0}},
				{time.Hour, "k", Result{Allowed: true, Remaining: 1}},
				{0, "k", Result{Allowed: true, Remaining: 0}},
				{0, "k", Result{RetryAfter: 500 * time.Millisecond}},
			},
		},
		{
			name:  "slow rate",
			limit: Limit{Rate: 0.5, Burst: 1},
			steps: []step{
				{0, "k", Result{Allowed: true}},
				{0, "k", Result{RetryAfter: 2 * time.Second}},
				{time.Second, "k", Result{RetryAfter: time.Second}},
				{time.Second, "k", Result{Allowed: true}},
			},
		},
		{
			name:  "separate keys are independent",
			limit: Limit{Rate: 1, Burst: 1},
			steps: []step{
				{0, "agency-a", Result{Allowed: true}},
				{0, "agency-a", Result{RetryAfter: time.Second}},
				{0, "agency-b", Result{Allowed: true}},
				{0, "agency-b", Result{RetryAfter: time.Second}},
			},
		},
		{
			name:  "clock going back neither refills nor fails",
			limit: Limit{Rate: 1, Burst: 1},
			steps: []step{
				{0, "k", Result{Allowed: true}},
				{-time.Minute, "k", Result{RetryAfter: time.Second}},
				{time.Minute + time.Second, "k", Result{Allowed: true}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			l := newL(t, tt.limit, clock.Now)
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				got, err := l.Allow(context.Background(), s.key)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got != s.want {
					t.Fatalf("step %d (%s): got %+v, want %+v", i, s.key, got, s.want)
				}
			}
		})
	}
}
