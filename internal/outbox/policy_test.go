package outbox_test

import (
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/outbox"
	"github.com/gatehub/gatehub/internal/store"
)

func fixedJitter(v float64) func() float64 { return func() float64 { return v } }

func TestBackoff(t *testing.T) {
	base := outbox.Policy{BaseBackoff: time.Second, MaxBackoff: time.Minute}
	withJitter := func(j float64) outbox.Policy {
		p := base
		p.Jitter = fixedJitter(j)
		return p
	}
	tests := []struct {
		name       string
		p          outbox.Policy
		attempts   int
		retryAfter time.Duration
		want       time.Duration
	}{
		{"first failure waits the base", base, 1, 0, time.Second},
		{"doubles per failure", base, 2, 0, 2 * time.Second},
		{"fifth failure", base, 5, 0, 16 * time.Second},
		{"capped at the ceiling", base, 7, 0, time.Minute},
		{"far past the ceiling stays capped", base, 60, 0, time.Minute},
		{"zero attempts counts as one", base, 0, 0, time.Second},
		{"no ceiling keeps growing", outbox.Policy{BaseBackoff: time.Second}, 11, 0, 1024 * time.Second},
		{"Retry-After longer wins", base, 1, 30 * time.Second, 30 * time.Second},
		{"Retry-After shorter is ignored", base, 5, 3 * time.Second, 16 * time.Second},
		{"Retry-After beyond the ceiling wins", base, 10, 5 * time.Minute, 5 * time.Minute},
		// Equal jitter: the delay stays within [d/2, d).
		{"jitter 0 is the lower bound", withJitter(0), 3, 0, 2 * time.Second},
		{"jitter 0.5", withJitter(0.5), 3, 0, 3 * time.Second},
		{"jitter near 1 approaches the full delay", withJitter(0.999), 3, 0, 3998 * time.Millisecond},
		{"jitter applies after the ceiling", withJitter(0), 30, 0, 30 * time.Second},
		{"Retry-After beats jittered delay", withJitter(0), 3, 3 * time.Second, 3 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Backoff(tc.attempts, tc.retryAfter); got != tc.want {
				t.Fatalf("Backoff(%d, %v) = %v, want %v", tc.attempts, tc.retryAfter, got, tc.want)
			}
		})
	}
}

// TestBackoffJitterBounds checks the promise to operators: however the
// jitter falls, a retry is never sooner than half the nominal delay nor
// later than the nominal delay.
func TestBackoffJitterBounds(t *testing.T) {
	for attempts := 1; attempts <= 12; attempts++ {
		nominal := outbox.Policy{BaseBackoff: time.Second, MaxBackoff: time.Minute}.Backoff(attempts, 0)
		for _, j := range []float64{0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999999} {
			p := outbox.Policy{BaseBackoff: time.Second, MaxBackoff: time.Minute, Jitter: fixedJitter(j)}
			got := p.Backoff(attempts, 0)
			if got < nominal/2 || got > nominal {
				t.Errorf("attempts %d jitter %v: %v outside [%v, %v]", attempts, j, got, nominal/2, nominal)
			}
		}
	}
}

func TestExhausted(t *testing.T) {
	created := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	p := outbox.Policy{MaxAttempts: 3, MaxAge: time.Hour}
	tests := []struct {
		name     string
		p        outbox.Policy
		attempts int
		age      time.Duration
		want     bool
	}{
		{"fresh, first failure", p, 1, 0, false},
		{"one below max attempts", p, 2, time.Minute, false},
		{"at max attempts", p, 3, time.Minute, true},
		{"beyond max attempts", p, 4, time.Minute, true},
		{"just younger than max age", p, 1, time.Hour - time.Microsecond, false},
		{"exactly max age", p, 1, time.Hour, true},
		{"older than max age", p, 1, 2 * time.Hour, true},
		{"no limits never give up", outbox.Policy{}, 1000, 1000 * time.Hour, false},
		{"attempts limit only", outbox.Policy{MaxAttempts: 2}, 2, 0, true},
		{"age limit only", outbox.Policy{MaxAge: time.Minute}, 1000, 59 * time.Second, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &store.Message{Attempts: tc.attempts, CreatedAt: created}
			if got := tc.p.Exhausted(m, created.Add(tc.age)); got != tc.want {
				t.Fatalf("Exhausted(attempts %d, age %v) = %v, want %v", tc.attempts, tc.age, got, tc.want)
			}
		})
	}
}
