package outbox

import (
	"testing"
	"time"
)

// The circuit's states step by step, on a clock the test moves.
func TestBreakerStates(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	b := newBreaker(BreakerPolicy{Failures: 2, Cooldown: time.Second, MaxCooldown: 3 * time.Second})
	type step struct {
		at       time.Duration
		record   Outcome // 0: ask allow(free=4) instead
		wantN    int
		wantWake time.Duration // -1: zero time
		want     BreakerState
	}
	steps := []step{
		{0, 0, 4, -1, BreakerClosed},
		{0, Temporary, 0, 0, BreakerClosed},
		{0, Permanent, 0, 0, BreakerClosed}, // the agency answered: failures reset
		{0, Temporary, 0, 0, BreakerClosed},
		{0, Temporary, 0, 0, BreakerOpen},
		{500 * time.Millisecond, 0, 0, time.Second, BreakerOpen},
		{time.Second, 0, 1, -1, BreakerHalfOpen}, // one probe
		{time.Second, 0, 0, -1, BreakerHalfOpen}, // no second one while it is out
		{1100 * time.Millisecond, Temporary, 0, 0, BreakerOpen},
		{2 * time.Second, 0, 0, 3100 * time.Millisecond, BreakerOpen}, // cooldown doubled
		{3100 * time.Millisecond, 0, 1, -1, BreakerHalfOpen},
		{3200 * time.Millisecond, Temporary, 0, 0, BreakerOpen},
		{5 * time.Second, 0, 0, 6200 * time.Millisecond, BreakerOpen}, // capped at 3 s
		{6200 * time.Millisecond, 0, 1, -1, BreakerHalfOpen},
		{6300 * time.Millisecond, Delivered, 0, 0, BreakerClosed},
		{6300 * time.Millisecond, 0, 4, -1, BreakerClosed},
	}
	for i, s := range steps {
		now := t0.Add(s.at)
		if s.record != 0 {
			b.record(now, s.record)
		} else {
			n, wake := b.allow(now, 4)
			wantWake := time.Time{}
			if s.wantWake >= 0 {
				wantWake = t0.Add(s.wantWake)
			}
			if n != s.wantN || !wake.Equal(wantWake) {
				t.Errorf("step %d: allow = %d, %v; want %d, %v", i, n, wake, s.wantN, wantWake)
			}
		}
		if got := b.current(); got != s.want {
			t.Errorf("step %d: state %s, want %s", i, got, s.want)
		}
	}
	b.record(t0, Temporary)
	b.record(t0, Temporary)
	if from := b.reset(); from != BreakerOpen || b.current() != BreakerClosed {
		t.Errorf("reset from %s to %s", from, b.current())
	}
}
